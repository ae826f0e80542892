//! Pull requests and branches: what happens on GitHub when people open,
//! push, review, retarget, update and merge.

use super::*;

impl World {
    /// Opens a pull request against `base` from a new branch off its head.
    pub(crate) fn open_pr(
        &mut self,
        repo: &str,
        base: &str,
        author: &str,
        changes: &[Change<'_>],
        draft: bool,
    ) -> u64 {
        let author = self.account(author, AccountKind::User);
        let base_sha = self.branch_head(repo, base);
        let (number, base_ref) = (self.repo(repo).next_number, base.to_string());
        let head_ref = format!("{}-patch-{number}", author.login.to_ascii_lowercase());
        let tree = apply_changes(&self.commits[&base_sha].tree, changes);
        let message = describe(changes);
        let head = self.make_commit(vec![base_sha.clone()], tree, &author, &author, &message);
        let id = self.id();
        let now = self.stamp();
        let r = self.repo_mut(repo);
        r.next_number += 1;
        r.branches.insert(head_ref.clone(), head.clone());
        r.pulls.insert(
            number,
            Pull {
                id,
                number,
                author,
                title: message,
                body: String::new(),
                open: true,
                draft,
                merged: false,
                merged_at: None,
                merged_by: None,
                closed_at: None,
                closed_by: None,
                merge_commit_sha: None,
                head_ref,
                head_sha: head.clone(),
                previous_head: None,
                pushed_by: None,
                base_ref,
                base_sha: base_sha.clone(),
                merge_base: base_sha,
                commits: vec![head.clone()],
                reviews: Vec::new(),
                created_at: now,
                updated_at: now,
                timeline: vec![TimelineItem::Committed(head)],
                files_cap: None,
            },
        );
        number
    }

    pub(crate) fn push(
        &mut self,
        repo: &str,
        pr: u64,
        pusher: &str,
        changes: &[Change<'_>],
    ) -> String {
        self.push_authored(repo, pr, pusher, pusher, changes)
    }

    /// A push by `pusher` of a commit whose author and committer say `author`: git lets
    /// anyone write any name there; GitHub's `synchronize` names the pusher.
    pub(crate) fn push_authored(
        &mut self,
        repo: &str,
        pr: u64,
        pusher: &str,
        author: &str,
        changes: &[Change<'_>],
    ) -> String {
        let pushed_by = self.person(pusher);
        let pusher = self.person(author);
        let (head, base_sha) = {
            let r = self.repo(repo);
            let p = r.pull(pr);
            assert!(p.open, "PR #{pr} is closed; reopen it before pushing");
            (p.head_sha.clone(), r.branches[&p.base_ref].clone())
        };
        let tree = apply_changes(&self.commits[&head].tree, changes);
        let message = describe(changes);
        let sha = self.make_commit(vec![head], tree, &pusher, &pusher, &message);
        self.set_head(repo, pr, &sha, base_sha);
        self.repo_mut(repo).pull_mut(pr).pushed_by = Some(pushed_by);
        sha
    }

    /// Moves the pull request's branch to `sha`, a new commit on its head.
    fn set_head(&mut self, repo: &str, pr: u64, sha: &str, base_sha: String) {
        let now = self.stamp();
        let r = self.repo_mut(repo);
        let p = r.pull_mut(pr);
        p.previous_head = Some(std::mem::replace(&mut p.head_sha, sha.to_string()));
        p.pushed_by = None;
        p.base_sha = base_sha;
        p.commits.push(sha.to_string());
        p.timeline.push(TimelineItem::Committed(sha.to_string()));
        p.updated_at = now;
        let head_ref = p.head_ref.clone();
        r.branches.insert(head_ref, sha.to_string());
    }

    /// GitHub's "Update branch" button: a merge commit of the base head into
    /// the head (parents: head, base head), made by `by` and committed (and
    /// signed) by GitHub. The base's changes become part of the branch, so
    /// the files list no longer shows them.
    pub(crate) fn update_branch(&mut self, repo: &str, pr: u64, by: Option<&str>) -> String {
        let (head, merge_base, base_ref, head_ref, author) = {
            let p = self.repo(repo).pull(pr);
            assert!(p.open, "PR #{pr} is closed; GitHub offers no Update branch");
            let (h, m, b) = (p.head_sha.clone(), p.merge_base.clone(), p.base_ref.clone());
            (h, m, b, p.head_ref.clone(), p.author.login.clone())
        };
        let by = self.person(by.unwrap_or(&author));
        let web_flow = self.account(WEB_FLOW, AccountKind::User);
        let base_head = self.branch_head(repo, &base_ref);
        assert_ne!(base_head, merge_base, "PR #{pr} is not behind {base_ref}");
        let base_changes = diff_trees(
            &self.commits[&merge_base].tree,
            &self.commits[&base_head].tree,
        );
        let tree = apply_diff(&self.commits[&head].tree, &base_changes);
        let message = format!("Merge branch '{base_ref}' into {head_ref}");
        let parents = vec![head, base_head.clone()];
        let sha = self.make_commit(parents, tree, &by, &web_flow, &message);
        self.set_head(repo, pr, &sha, base_head.clone());
        self.repo_mut(repo).pull_mut(pr).merge_base = base_head;
        sha
    }

    /// Changes the base branch as GitHub's "Edit" does (`PATCH .../pulls/n`
    /// with `base`): the base SHA follows the new branch, the diff is taken
    /// from the new merge base, and the timeline gets `base_ref_changed`.
    pub(crate) fn retarget(&mut self, repo: &str, pr: u64, new_base: &str, by: Option<&str>) {
        let (head, author, old_base) = {
            let p = self.repo(repo).pull(pr);
            assert!(p.open, "PR #{pr} is not open");
            (
                p.head_sha.clone(),
                p.author.login.clone(),
                p.base_ref.clone(),
            )
        };
        assert_ne!(old_base, new_base, "PR #{pr} already targets {new_base}");
        let actor = self.person(by.unwrap_or(&author));
        let base_sha = self.branch_head(repo, new_base);
        let merge_base = self
            .merge_base(&head, &base_sha)
            .unwrap_or_else(|| panic!("{new_base} shares no history with PR #{pr}"));
        self.record_event(repo, pr, "base_ref_changed", actor, None);
        let p = self.repo_mut(repo).pull_mut(pr);
        p.base_ref = new_base.to_string();
        p.base_sha = base_sha;
        p.merge_base = merge_base;
    }

    /// Appends an issue event to the pull request's timeline.
    pub(crate) fn record_event(
        &mut self,
        repo: &str,
        pr: u64,
        event: &'static str,
        actor: Account,
        commit_id: Option<String>,
    ) {
        let id = self.id();
        let now = self.stamp();
        let p = self.repo_mut(repo).pull_mut(pr);
        p.timeline.push(TimelineItem::Event(IssueEvent {
            id,
            event,
            actor,
            commit_id,
            created_at: now,
        }));
        p.updated_at = now;
    }

    pub(crate) fn add_review(
        &mut self,
        repo: &str,
        pr: u64,
        reviewer: &str,
        state: ReviewState,
        commit: &str,
        body: &str,
    ) -> u64 {
        let user = self.account(reviewer, AccountKind::User);
        let id = self.id();
        let now = self.stamp();
        let p = self.repo_mut(repo).pull_mut(pr);
        p.reviews.push(Review {
            id,
            user,
            state: state.api_state(),
            commit_id: commit.to_string(),
            body: body.to_string(),
            submitted_at: now,
            dismissed_by: None,
        });
        p.timeline.push(TimelineItem::Reviewed(id));
        p.updated_at = now;
        id
    }

    pub(crate) fn merge(
        &mut self,
        repo: &str,
        pr: u64,
        method: MergeMethod,
        merger: Option<&str>,
    ) -> String {
        let (p_author, head, merge_base, base_ref, title, commits) = {
            let p = self.repo(repo).pull(pr);
            assert!(p.open, "PR #{pr} is not open");
            (
                p.author.clone(),
                p.head_sha.clone(),
                p.merge_base.clone(),
                p.base_ref.clone(),
                p.title.clone(),
                p.commits.clone(),
            )
        };
        let merger = match merger {
            Some(m) => self.account(m, AccountKind::User),
            None => p_author,
        };
        let web_flow = self.account(WEB_FLOW, AccountKind::User);
        let base_head = self.branch_head(repo, &base_ref);
        let sha = match method {
            MergeMethod::Merge | MergeMethod::Squash => {
                let changes =
                    diff_trees(&self.commits[&merge_base].tree, &self.commits[&head].tree);
                let tree = apply_diff(&self.commits[&base_head].tree, &changes);
                let (parents, message) = if method == MergeMethod::Merge {
                    let head_ref = &self.repo(repo).pull(pr).head_ref;
                    let owner = &self.repo(repo).owner.login;
                    (
                        vec![base_head.clone(), head.clone()],
                        format!("Merge pull request #{pr} from {owner}/{head_ref}\n\n{title}"),
                    )
                } else {
                    (vec![base_head.clone()], format!("{title} (#{pr})"))
                };
                self.make_commit(parents, tree, &merger, &web_flow, &message)
            }
            MergeMethod::Rebase => {
                let mut tip = base_head.clone();
                let mut parent_in_pr = merge_base;
                for c in &commits {
                    let changes =
                        diff_trees(&self.commits[&parent_in_pr].tree, &self.commits[c].tree);
                    let tree = apply_diff(&self.commits[&tip].tree, &changes);
                    let (author, message, authored) = {
                        let orig = &self.commits[c];
                        (orig.author.clone(), orig.message.clone(), orig.author_date)
                    };
                    tip = self.make_commit_authored(
                        vec![tip],
                        tree,
                        &author,
                        &web_flow,
                        &message,
                        Some(authored),
                    );
                    parent_in_pr = c.clone();
                }
                tip
            }
        };
        // GitHub records both: `merged` (with the commit), then `closed`.
        let merged = Some(sha.clone());
        self.record_event(repo, pr, "merged", merger.clone(), merged.clone());
        self.record_event(repo, pr, "closed", merger.clone(), merged);
        let now = self.stamp();
        let r = self.repo_mut(repo);
        r.branches.insert(base_ref, sha.clone());
        let p = r.pull_mut(pr);
        p.open = false;
        p.merged = true;
        p.merged_at = Some(now);
        p.closed_at = Some(now);
        p.merged_by = Some(merger);
        p.merge_commit_sha = Some(sha.clone());
        p.base_sha = base_head;
        p.updated_at = now;
        sha
    }

    /// A merge queue's group of `prs` into the base of the first: GitHub's merge commit of
    /// each on top of the one before, starting at the base's head, on a branch
    /// `gh-readonly-queue/<base>/pr-<last>-<base sha>`. Nothing is merged yet. Returns the
    /// group's head commit, its branch and the base's head it started from.
    pub(crate) fn queue_merge_group(
        &mut self,
        repo: &str,
        prs: &[u64],
    ) -> (String, String, String) {
        let base_ref = self.repo(repo).pull(prs[0]).base_ref.clone();
        let base_sha = self.branch_head(repo, &base_ref);
        let web_flow = self.account(WEB_FLOW, AccountKind::User);
        let owner = self.repo(repo).owner.login.clone();
        let mut tip = base_sha.clone();
        for pr in prs {
            let (head, merge_base, head_ref, title) = {
                let p = self.repo(repo).pull(*pr);
                assert!(p.open, "PR #{pr} is not open");
                (
                    p.head_sha.clone(),
                    p.merge_base.clone(),
                    p.head_ref.clone(),
                    p.title.clone(),
                )
            };
            let changes = diff_trees(&self.commits[&merge_base].tree, &self.commits[&head].tree);
            let tree = apply_diff(&self.commits[&tip].tree, &changes);
            let message = format!("Merge pull request #{pr} from {owner}/{head_ref}\n\n{title}");
            tip = self.make_commit(vec![tip, head], tree, &web_flow, &web_flow, &message);
        }
        let last = prs[prs.len() - 1];
        let branch = format!("gh-readonly-queue/{base_ref}/pr-{last}-{base_sha}");
        self.repo_mut(repo)
            .branches
            .insert(branch.clone(), tip.clone());
        (tip, format!("refs/heads/{branch}"), base_sha)
    }

    pub(crate) fn set_open(&mut self, repo: &str, pr: u64, open: bool) {
        let author = self.repo(repo).pull(pr).author.clone();
        let event = if open { "reopened" } else { "closed" };
        self.record_event(repo, pr, event, author, None);
        let now = self.stamp();
        let p = self.repo_mut(repo).pull_mut(pr);
        assert!(!p.merged, "PR #{pr} is merged");
        p.open = open;
        p.closed_at = (!open).then_some(now);
        p.closed_by = (!open).then(|| p.author.clone());
        p.updated_at = now;
    }

    /// Every file the pull request changes (`changed_files` counts these).
    pub(crate) fn pull_files(&self, p: &Pull) -> Vec<FileChange> {
        diff_trees(
            &self.commits[&p.merge_base].tree,
            &self.commits[&p.head_sha].tree,
        )
    }
}
