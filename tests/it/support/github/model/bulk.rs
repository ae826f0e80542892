//! History in bulk: many closed pull requests made in one step, as a busy repository has
//! them, without a story for each (catch-up's cost is measured against them).

use super::*;

impl World {
    /// `n` pull requests by `author` into `base`, closed one after another from `from` to
    /// `to` (their `updated_at`): every `merge_every`-th merged (a merge commit on `base`),
    /// the others closed without merge. None touches a request: they share one head commit,
    /// which changes `docs/notes.md`. Returns their numbers, oldest first.
    pub(crate) fn closed_pulls_in_bulk(
        &mut self,
        (repo, base, author): (&str, &str, &str),
        n: usize,
        merge_every: usize,
        (from, to): (OffsetDateTime, OffsetDateTime),
    ) -> Vec<u64> {
        let author = self.account(author, AccountKind::User);
        let web_flow = self.account(WEB_FLOW, AccountKind::User);
        let base_sha = self.branch_head(repo, base);
        let tree = apply_changes(
            &self.commits[&base_sha].tree,
            &[Change::Write("docs/notes.md", "Notes on the process.\n")],
        );
        let message = "Notes on the process";
        let head = self.make_commit(
            vec![base_sha.clone()],
            tree.clone(),
            &author,
            &author,
            message,
        );
        let step = (to - from) / (n.max(2) - 1) as f64;
        let mut tip = base_sha.clone();
        let mut numbers = Vec::with_capacity(n);
        for i in 0..n {
            let at = (from + step * i as f64).replace_nanosecond(0).expect("ns");
            let number = self.repo(repo).next_number;
            let merged = i % merge_every.max(1) == 0;
            let merge_commit = merged.then(|| {
                let text = format!("Merge pull request #{number}\n\n{message}");
                let parents = vec![tip.clone(), head.clone()];
                tip = self.make_commit(parents, tree.clone(), &author, &web_flow, &text);
                tip.clone()
            });
            let pull = self.closed_pull(number, &author, &head, &base_sha, base, at, merge_commit);
            let r = self.repo_mut(repo);
            r.next_number += 1;
            r.pulls.insert(number, pull);
            numbers.push(number);
        }
        self.repo_mut(repo).branches.insert(base.to_string(), tip);
        numbers
    }

    /// One pull request of [`Self::closed_pulls_in_bulk`], closed (and merged at
    /// `merge_commit`, if any) at `at`, opened an hour before.
    #[allow(clippy::too_many_arguments)]
    fn closed_pull(
        &mut self,
        number: u64,
        author: &Account,
        head: &str,
        base_sha: &str,
        base: &str,
        at: OffsetDateTime,
        merge_commit: Option<String>,
    ) -> Pull {
        let mut timeline = vec![TimelineItem::Committed(head.to_string())];
        let events: &[&'static str] = if merge_commit.is_some() {
            &["merged", "closed"]
        } else {
            &["closed"]
        };
        for event in events {
            timeline.push(TimelineItem::Event(IssueEvent {
                id: self.id(),
                event,
                actor: author.clone(),
                commit_id: merge_commit.clone(),
                created_at: at,
            }));
        }
        let merged = merge_commit.is_some();
        Pull {
            id: self.id(),
            number,
            author: author.clone(),
            title: "Notes on the process".into(),
            body: String::new(),
            open: false,
            draft: false,
            merged,
            merged_at: merged.then_some(at),
            merged_by: merged.then(|| author.clone()),
            closed_at: Some(at),
            closed_by: Some(author.clone()),
            merge_commit_sha: merge_commit,
            head_ref: format!("notes-{number}"),
            head_sha: head.to_string(),
            previous_head: None,
            pushed_by: None,
            base_ref: base.to_string(),
            base_sha: base_sha.to_string(),
            merge_base: base_sha.to_string(),
            commits: vec![head.to_string()],
            reviews: Vec::new(),
            created_at: at - time::Duration::hours(1),
            updated_at: at,
            timeline,
            files_cap: None,
        }
    }
}
