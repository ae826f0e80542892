//! Handlers of the routes an installation token may call.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::super::git::{Entry, Tree};
use super::super::model::{CheckRun, Commit, IssueComment, Pull, Repo, World};
use super::route::ApiRoute;
use super::writes::{annotation_json, apply_check_run_fields, comment_body};
use super::{Answer, Call, Query, Reply};

/// What the API lists by repository and ID.
pub(crate) trait Listed {
    fn repo(&self) -> &str;
    fn id(&self) -> u64;
}

impl Listed for IssueComment {
    fn repo(&self) -> &str {
        &self.repo
    }
    fn id(&self) -> u64 {
        self.id
    }
}

impl Listed for CheckRun {
    fn repo(&self) -> &str {
        &self.repo
    }
    fn id(&self) -> u64 {
        self.id
    }
}

impl World {
    /// The repository, if it exists and the installation covers it (GitHub
    /// answers 404 for repositories a token cannot see).
    pub(crate) fn repo_for(
        &self,
        installation: u64,
        full_name: &str,
        docs: &str,
    ) -> Result<&Repo, Reply> {
        let repo = self
            .find_repo(full_name)
            .map(|i| &self.repos[i])
            .ok_or_else(|| Reply::not_found(docs))?;
        let covered = self
            .installations
            .get(&installation)
            .is_some_and(|i| i.account.login.eq_ignore_ascii_case(&repo.owner.login));
        if covered {
            Ok(repo)
        } else {
            Err(Reply::not_found(docs))
        }
    }

    pub(crate) fn pull_for(
        &self,
        installation: u64,
        repo: &str,
        n: &str,
        docs: &str,
    ) -> Result<(&Repo, &Pull), Reply> {
        let r = self.repo_for(installation, repo, docs)?;
        let p = n.parse().ok().and_then(|n| r.pulls.get(&n));
        Ok((r, p.ok_or_else(|| Reply::not_found(docs))?))
    }

    /// Where item `id` of `repo` stands in `items` (the comments or the check runs), if
    /// the installation can see `repo`.
    pub(crate) fn index_in<T: Listed>(
        &self,
        items: &[T],
        installation: u64,
        repo: &str,
        id: &str,
        docs: &str,
    ) -> Result<usize, Reply> {
        let full = self.repo_for(installation, repo, docs)?.full_name();
        items
            .iter()
            .position(|item| item.repo() == full && item.id().to_string() == id)
            .ok_or_else(|| Reply::not_found(docs))
    }

    pub(crate) fn api_route(&mut self, route: ApiRoute, inst: u64, call: &Call<'_>) -> Answer {
        let (q, path, body) = (call.q, call.path, call.body);
        match route {
            ApiRoute::Repo(repo) => {
                let r = self.repo_for(inst, &repo, "/repos/repos#get-a-repository")?;
                Ok(Reply::json(200, self.repo_json(r)))
            }
            ApiRoute::Branch(repo, branch) => self.get_branch(inst, &repo, &branch),
            ApiRoute::SecretAlert(repo, n) => self.secret_alert(inst, &repo, &n),
            ApiRoute::SecretAlertLocations(repo, n) => {
                self.secret_alert_locations(inst, &repo, &n, q, path)
            }
            ApiRoute::CodeownersErrors(repo) => self.codeowners_errors(inst, &repo, call),
            ApiRoute::RequiredStatusChecks(repo, branch) => {
                self.required_status_checks(inst, &repo, &branch)
            }
            ApiRoute::Pulls(repo) => self.list_pulls(inst, &repo, q, path),
            ApiRoute::Pull(repo, n) => {
                let (r, p) = self.pull_for(inst, &repo, &n, "/pulls/pulls#get-a-pull-request")?;
                Ok(Reply::json(200, self.pull_json(r, p)))
            }
            ApiRoute::PullFiles(repo, n) => {
                let docs = "/pulls/pulls#list-pull-requests-files";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                // GitHub lists at most 3,000 files; `changed_files` counts all.
                let cap = p
                    .files_cap
                    .unwrap_or(MAX_LISTED_FILES)
                    .min(MAX_LISTED_FILES);
                let files = self.pull_files(p);
                let items = files.iter().take(cap);
                let items = items.map(|f| self.file_json(r, &p.head_sha, f));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::PullCommits(repo, n) => {
                let docs = "/pulls/pulls#list-commits-on-a-pull-request";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let items = p.commits.iter();
                let items = items.map(|c| self.commit_json(r, &self.commits[c]));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::Reviews(repo, n) => {
                let docs = "/pulls/reviews#list-reviews-for-a-pull-request";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let items = p.reviews.iter().map(|rv| self.review_json(r, p, rv));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::Review(repo, n, id) => {
                let docs = "/pulls/reviews#get-a-review-for-a-pull-request";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let review = p.reviews.iter().find(|rv| rv.id.to_string() == id);
                let review = review.ok_or_else(|| Reply::not_found(docs))?;
                Ok(Reply::json(200, self.review_json(r, p, review)))
            }
            ApiRoute::Contents(repo, file) => self.get_contents(inst, &repo, &file, q),
            ApiRoute::Commits(repo) => self.list_commits(inst, &repo, q, path),
            ApiRoute::Commit(repo, reference) => {
                let docs = "/commits/commits#get-a-commit";
                let r = self.repo_for(inst, &repo, docs)?;
                let sha = self.resolve_or_422(r, &reference, docs)?;
                Ok(self.commit_with_files(r, &self.commits[&sha], q, path))
            }
            ApiRoute::Compare(repo, basehead) => {
                let docs = "/commits/commits#compare-two-commits";
                let r = self.repo_for(inst, &repo, docs)?;
                let (base, head) = basehead
                    .split_once("...")
                    .ok_or_else(|| Reply::not_found(docs))?;
                let base = self.resolve_or_422(r, base, docs)?;
                let head = self.resolve_or_422(r, head, docs)?;
                Ok(Reply::json(200, self.compare_json(r, &base, &head)))
            }
            ApiRoute::CommitPulls(repo, reference) => {
                let docs = "/commits/commits#list-pull-requests-associated-with-a-commit";
                let r = self.repo_for(inst, &repo, docs)?;
                let sha = self.resolve_or_422(r, &reference, docs)?;
                let pulls = r.pulls.values().filter(|p| {
                    p.merge_commit_sha.as_ref() == Some(&sha) || p.commits.contains(&sha)
                });
                let items = pulls.map(|p| self.pull_json(r, p));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::CommitCheckRuns(repo, reference) => {
                self.list_check_runs(inst, &repo, &reference, q, path)
            }
            ApiRoute::Membership(org, team, user) => self.team_membership(inst, &org, &team, &user),
            ApiRoute::Comments(repo, n) => {
                let docs = "/issues/comments#list-issue-comments";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let full = r.full_name();
                let mine = self
                    .comments
                    .iter()
                    .filter(|c| c.repo == full && c.issue == p.number);
                let items = mine.map(|c| self.comment_json(c));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::CreateComment(repo, n) => {
                let docs = "/issues/comments#create-an-issue-comment";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let (full, number) = (r.full_name(), p.number);
                let text = comment_body(body, docs)?;
                let bot = self.app_bot.clone();
                let id = self.add_comment(&full, number, bot, &text);
                let c = self
                    .comments
                    .iter()
                    .find(|c| c.id == id)
                    .expect("just added");
                Ok(Reply::json(201, self.comment_json(c)))
            }
            ApiRoute::Comment(repo, id) => {
                let docs = "/issues/comments#get-an-issue-comment";
                let i = self.index_in(&self.comments, inst, &repo, &id, docs)?;
                Ok(Reply::json(200, self.comment_json(&self.comments[i])))
            }
            ApiRoute::UpdateComment(repo, id) => {
                let docs = "/issues/comments#update-an-issue-comment";
                let i = self.own_comment(inst, &repo, &id, docs)?;
                let text = comment_body(body, docs)?;
                let now = self.stamp();
                let c = &mut self.comments[i];
                c.body = text;
                c.updated_at = now;
                c.edits += 1;
                Ok(Reply::json(200, self.comment_json(&self.comments[i])))
            }
            ApiRoute::DeleteComment(repo, id) => {
                let docs = "/issues/comments#delete-an-issue-comment";
                let i = self.own_comment(inst, &repo, &id, docs)?;
                self.comments.remove(i);
                Ok(Reply::empty(204))
            }
            ApiRoute::CreateCheckRun(repo) => self.create_check_run(inst, &repo, body),
            ApiRoute::CheckRun(repo, id) => {
                let docs = "/checks/runs#get-a-check-run";
                let i = self.index_in(&self.check_runs, inst, &repo, &id, docs)?;
                Ok(Reply::json(200, self.check_run_json(&self.check_runs[i])))
            }
            ApiRoute::UpdateCheckRun(repo, id) => {
                let docs = "/checks/runs#update-a-check-run";
                let i = self.index_in(&self.check_runs, inst, &repo, &id, docs)?;
                let mut run = self.check_runs[i].clone();
                if let Some(name) = body["name"].as_str() {
                    run.name = name.to_string();
                }
                apply_check_run_fields(&mut run, body, self.stamp(), docs)?;
                run.updates += 1;
                self.check_runs[i] = run;
                Ok(Reply::json(200, self.check_run_json(&self.check_runs[i])))
            }
            ApiRoute::Timeline(repo, n) => {
                let docs = "/issues/timeline#list-timeline-events-for-an-issue";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let exclude = q.get("exclude").unwrap_or("");
                let excluded: BTreeSet<&str> = exclude.split(',').map(str::trim).collect();
                let mut items = self.timeline_json(r, p);
                items.retain(|e| !excluded.contains(e["event"].as_str().unwrap_or_default()));
                Ok(self.page(items, q, path))
            }
            ApiRoute::RateLimit => {
                // The stand-in's rate limit is the injected one (`fail_next` with 403): spent
                // now, reset a second later.
                let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
                let core = serde_json::json!({
                    "limit": 5000, "used": 5000, "remaining": 0, "reset": reset
                });
                Ok(Reply::json(
                    200,
                    serde_json::json!({ "resources": { "core": core }, "rate": core }),
                ))
            }
            ApiRoute::CollaboratorPermission(repo, user) => {
                let docs = "/collaborators/collaborators#get-repository-permissions-for-a-user";
                let r = self.repo_for(inst, &repo, docs)?;
                let user = self.find_account(&user);
                let user = user.ok_or_else(|| Reply::not_found(docs))?;
                Ok(Reply::json(200, self.collaborator_permission_json(r, user)))
            }
            ApiRoute::TeamRepo(org, slug, repo) => self.team_repo(inst, &org, &slug, &repo, call),
            ApiRoute::Annotations(repo, id) => {
                let docs = "/checks/runs#list-check-run-annotations";
                let c =
                    &self.check_runs[self.index_in(&self.check_runs, inst, &repo, &id, docs)?];
                let items = c.annotations.iter().map(|a| annotation_json(c, a));
                Ok(self.page(items.collect(), q, path))
            }
        }
    }

    /// A comment the App wrote: others' comments are not its to change.
    pub(crate) fn own_comment(
        &self,
        inst: u64,
        repo: &str,
        id: &str,
        docs: &str,
    ) -> Result<usize, Reply> {
        let i = self.index_in(&self.comments, inst, repo, id, docs)?;
        if self.comments[i].user == self.app_bot {
            Ok(i)
        } else {
            Err(Reply::error(
                403,
                "Resource not accessible by integration",
                docs,
            ))
        }
    }

    pub(crate) fn resolve_or_422(
        &self,
        r: &Repo,
        reference: &str,
        docs: &str,
    ) -> Result<String, Reply> {
        self.resolve(r, reference).ok_or_else(|| {
            Reply::error(422, &format!("No commit found for SHA: {reference}"), docs)
        })
    }

    pub(crate) fn get_branch(&self, inst: u64, repo: &str, branch: &str) -> Answer {
        let docs = "/branches/branches#get-a-branch";
        let r = self.repo_for(inst, repo, docs)?;
        let sha = r
            .branches
            .get(branch)
            .ok_or_else(|| Reply::error(404, "Branch not found", docs))?;
        let full = r.full_name();
        Ok(Reply::json(
            200,
            json!({
                "name": branch,
                "commit": self.commit_json(r, &self.commits[sha]),
                "_links": {
                    "self": self.api(&format!("/repos/{full}/branches/{branch}")),
                    "html": format!("https://github.com/{full}/tree/{branch}"),
                },
                "protected": *branch == r.default_branch,
                "protection_url": self.api(&format!("/repos/{full}/branches/{branch}/protection")),
            }),
        ))
    }

    pub(crate) fn list_pulls(&self, inst: u64, repo: &str, q: &Query, path: &str) -> Answer {
        let docs = "/pulls/pulls#list-pull-requests";
        let r = self.repo_for(inst, repo, docs)?;
        let state = q.get("state").unwrap_or("open");
        if !matches!(state, "open" | "closed" | "all") {
            let message = "state is not included in the list";
            return Err(Reply::invalid("PullRequest", "state", message, docs));
        }
        let head_matches =
            |p: &Pull, h: &str| h == p.head_ref || h == format!("{}:{}", r.owner.login, p.head_ref);
        let mut pulls: Vec<&Pull> = r
            .pulls
            .values()
            .filter(|p| state == "all" || p.open == (state == "open"))
            .filter(|p| q.get("base").is_none_or(|b| b == p.base_ref))
            .filter(|p| q.get("head").is_none_or(|h| head_matches(p, h)))
            .collect();
        let sort = q.get("sort").unwrap_or("created");
        match sort {
            "updated" => pulls.sort_by_key(|p| (p.updated_at, p.number)),
            _ => pulls.sort_by_key(|p| (p.created_at, p.number)),
        }
        let default_direction = if sort == "created" { "desc" } else { "asc" };
        if q.get("direction").unwrap_or(default_direction) == "desc" {
            pulls.reverse();
        }
        // Only the requested page is rendered: a repository may hold thousands.
        let (range, link) = self.window(pulls.len(), q, path, 30, 100);
        let items: Vec<Value> = pulls[range].iter().map(|p| self.pull_json(r, p)).collect();
        let mut reply = Reply::json(200, Value::from(items));
        reply.headers.extend(link.map(|l| ("link", l)));
        Ok(reply)
    }

    pub(crate) fn get_contents(&self, inst: u64, repo: &str, file: &str, q: &Query) -> Answer {
        let docs = "/repos/contents#get-repository-content";
        let r = self.repo_for(inst, repo, docs)?;
        let reference = q.get("ref").unwrap_or(&r.default_branch).to_string();
        let sha = self.resolve(r, &reference).ok_or_else(|| {
            Reply::error(
                404,
                &format!("No commit found for the ref {reference}"),
                docs,
            )
        })?;
        let tree = &self.commits[&sha].tree;
        let file = file.trim_end_matches('/');
        if let Some(entry) = tree.get(file) {
            return Ok(Reply::json(
                200,
                self.content_json(r, &reference, tree, file, entry),
            ));
        }
        let prefix = if file.is_empty() {
            String::new()
        } else {
            format!("{file}/")
        };
        let children: BTreeSet<String> = tree
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| format!("{prefix}{}", rest.split('/').next().unwrap_or(rest)))
            .collect();
        if children.is_empty() {
            return Err(Reply::not_found(docs));
        }
        let entries = children
            .iter()
            .map(|p| self.dir_entry_json(r, &reference, p, tree));
        Ok(Reply::json(200, Value::from(entries.collect::<Vec<_>>())))
    }

    /// Commits reachable from `sha` (default branch by default), newest
    /// first; with `path`, only those that changed something under it.
    pub(crate) fn list_commits(&self, inst: u64, repo: &str, q: &Query, path: &str) -> Answer {
        let docs = "/commits/commits#list-commits";
        let r = self.repo_for(inst, repo, docs)?;
        let start = q.get("sha").unwrap_or(&r.default_branch);
        let start = self
            .resolve(r, start)
            .ok_or_else(|| Reply::not_found(docs))?;
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        let mut found: Vec<&Commit> = Vec::new();
        while let Some(sha) = stack.pop() {
            if seen.insert(sha.clone()) {
                let c = &self.commits[&sha];
                found.push(c);
                stack.extend(c.parents.iter().cloned());
            }
        }
        found.sort_by_key(|c| std::cmp::Reverse(c.seq));
        let filter = q.get("path").map(|p| p.trim_matches('/').to_string());
        let under = |t: &Tree| -> Vec<(String, Entry)> {
            let Some(f) = &filter else { return Vec::new() };
            let prefix = format!("{f}/");
            let inside = t.iter().filter(|(p, _)| *p == f || p.starts_with(&prefix));
            inside.map(|(p, b)| (p.clone(), b.clone())).collect()
        };
        // GitHub's history simplification: a commit shows when it differs
        // from every parent (a root commit: when it has something there).
        let touches = |c: &Commit| {
            filter.is_none() || {
                let mine = under(&c.tree);
                match c.parents.is_empty() {
                    true => !mine.is_empty(),
                    false => c
                        .parents
                        .iter()
                        .all(|p| under(&self.commits[p].tree) != mine),
                }
            }
        };
        let items = found.into_iter().filter(|c| touches(c));
        let items = items.map(|c| self.commit_json(r, c));
        Ok(self.page(items.collect(), q, path))
    }

    pub(crate) fn team_membership(&self, inst: u64, org: &str, team: &str, user: &str) -> Answer {
        let docs = "/teams/members#get-team-membership-for-a-user";
        let covered = self
            .installations
            .get(&inst)
            .is_some_and(|i| i.account.login.eq_ignore_ascii_case(org));
        let key = (org.to_ascii_lowercase(), team.to_ascii_lowercase());
        let team = self.teams.get(&key).filter(|_| covered);
        let team = team.ok_or_else(|| Reply::not_found(docs))?;
        let state = team.members.get(&user.to_ascii_lowercase());
        let state = state.ok_or_else(|| Reply::not_found(docs))?;
        let org_id = self.find_account(org).map_or(0, |a| a.id);
        let url = format!(
            "/organizations/{org_id}/team/{}/memberships/{user}",
            team.id
        );
        Ok(Reply::json(
            200,
            json!({ "url": self.api(&url), "role": "member", "state": state }),
        ))
    }

    pub(crate) fn create_check_run(&mut self, inst: u64, repo: &str, body: &Value) -> Answer {
        let docs = "/checks/runs#create-a-check-run";
        let full = self.repo_for(inst, repo, docs)?.full_name();
        let missing = |field: &str| {
            let message = format!("{field} wasn't supplied.");
            Reply::invalid("CheckRun", field, &message, docs)
        };
        let name = body["name"].as_str().filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| missing("name"))?;
        let head_sha = body["head_sha"]
            .as_str()
            .ok_or_else(|| missing("head_sha"))?;
        if !self.commits.contains_key(head_sha) {
            let message = format!("No commit found for SHA: {head_sha}");
            return Err(Reply::error(422, &message, docs));
        }
        let mut run = CheckRun {
            id: 0,
            repo: full,
            name: name.to_string(),
            head_sha: head_sha.to_string(),
            status: "queued".to_string(),
            conclusion: None,
            external_id: None,
            details_url: None,
            started_at: self.stamp(),
            completed_at: None,
            title: None,
            summary: None,
            text: None,
            annotations: Vec::new(),
            updates: 0,
        };
        apply_check_run_fields(&mut run, body, self.stamp(), docs)?;
        run.id = self.id();
        let json = self.check_run_json(&run);
        self.check_runs.push(run);
        Ok(Reply::json(201, json))
    }

    /// Newest first; `filter=latest` (the default) keeps one run per name.
    pub(crate) fn list_check_runs(
        &self,
        inst: u64,
        repo: &str,
        reference: &str,
        q: &Query,
        path: &str,
    ) -> Answer {
        let docs = "/checks/runs#list-check-runs-for-a-git-reference";
        let r = self.repo_for(inst, repo, docs)?;
        let sha = self.resolve_or_422(r, reference, docs)?;
        let full = r.full_name();
        let mut runs: Vec<&CheckRun> = self
            .check_runs
            .iter()
            .rev()
            .filter(|c| c.repo == full && c.head_sha == sha)
            .filter(|c| q.get("check_name").is_none_or(|n| n == c.name))
            .filter(|c| q.get("status").is_none_or(|s| s == c.status))
            .collect();
        if q.get("filter").unwrap_or("latest") == "latest" {
            let mut names = BTreeSet::new();
            runs.retain(|c| names.insert(c.name.clone()));
        }
        let items: Vec<Value> = runs.iter().map(|c| self.check_run_json(c)).collect();
        let total = items.len();
        let mut reply = self.page(items, q, path);
        let page = reply.body.take().unwrap_or_default();
        reply.body = Some(json!({ "total_count": total, "check_runs": page }));
        Ok(reply)
    }

    /// `GET /repos/{o}/{r}/commits/{sha}`: the commit with its files, which
    /// GitHub pages (300 a page, at most 3,000 in all) with `Link` headers;
    /// every page repeats the commit and its whole `stats`.
    fn commit_with_files(&self, r: &Repo, c: &Commit, q: &Query, path: &str) -> Reply {
        let changes = self.commit_changes(c);
        let (mut additions, mut deletions) = (0, 0);
        for f in &changes {
            let (_, a, d) = f.patch();
            additions += a;
            deletions += d;
        }
        let listed = changes.len().min(MAX_LISTED_FILES);
        let (range, link) = self.window(listed, q, path, 300, 300);
        let files: Vec<Value> = changes[range]
            .iter()
            .map(|f| self.file_json(r, &c.sha, f))
            .collect();
        let mut v = self.commit_json(r, c);
        v["stats"] = json!({ "total": additions + deletions, "additions": additions, "deletions": deletions });
        v["files"] = Value::from(files);
        let mut reply = Reply::json(200, v);
        reply.headers.extend(link.map(|l| ("link", l)));
        reply
    }

    /// `GET /orgs/{org}/teams/{slug}/repos/{owner}/{repo}`: 404 when the team
    /// has no access; otherwise 204, or the repository with the team's
    /// permissions when asked for `application/vnd.github.v3.repository+json`.
    fn team_repo(&self, inst: u64, org: &str, slug: &str, repo: &str, call: &Call<'_>) -> Answer {
        let docs = "/teams/teams#check-team-permissions-for-a-repository";
        let covered = self
            .installations
            .get(&inst)
            .is_some_and(|i| i.account.login.eq_ignore_ascii_case(org));
        let key = (org.to_ascii_lowercase(), slug.to_ascii_lowercase());
        let team = self.teams.get(&key).filter(|_| covered);
        let team = team.ok_or_else(|| Reply::not_found(docs))?;
        let r = self.repo_for(inst, repo, docs)?;
        if !r.owner.login.eq_ignore_ascii_case(&team.org) {
            return Err(Reply::not_found(docs));
        }
        let permission = self.team_permission(r, &team.org, &team.slug);
        let permission = permission.ok_or_else(|| Reply::not_found(docs))?;
        if call
            .accept
            .contains("application/vnd.github.v3.repository+json")
        {
            Ok(Reply::json(200, self.team_repository_json(r, permission)))
        } else {
            Ok(Reply::empty(204))
        }
    }
}

/// GitHub lists at most this many files of a pull request or a commit.
pub(crate) const MAX_LISTED_FILES: usize = 3000;
