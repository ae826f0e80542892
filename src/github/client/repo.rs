//! The calls keygate makes for one repository, as one installation. Each returns keygate's
//! own small types.

use std::future::Future;
use std::sync::Arc;

use octocrab::{Octocrab, Page};
use time::OffsetDateTime;

use super::auth::InstallationToken;
use super::wire::*;
use super::{
    CheckOutput, CheckState, CommentInfo, Comparison, FileEntry, GitHubError, PullCommit, PullInfo,
    encode_path,
};
use crate::facts::{ChangedFile, CommitInfo, EntryKind, FileStatus, Pusher, Review, ReviewState};
use crate::metrics::Metrics;

/// GitHub lists at most 3,000 files of one commit.
const MAX_COMMIT_FILE_PAGES: usize = 30;

/// The path and query of a `Link` header's `rel="next"` URL: pages are followed by path
/// through the configured base URL, because octocrab sends no credentials to a full URL.
pub(super) fn next_link(headers: &axum::http::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        if !rel.contains("rel=\"next\"") {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let uri: axum::http::Uri = url.parse().ok()?;
        uri.path_and_query().map(|p| p.as_str().to_string())
    })
}

/// Calls for one repository, as one installation.
#[derive(Clone)]
pub struct RepoClient {
    token: Arc<InstallationToken>,
    repo: String,
    app_id: u64,
    metrics: Metrics,
}

/// GitHub answered `401`: it does not take the credentials the request carried.
fn unauthorized(e: &octocrab::Error) -> bool {
    matches!(e, octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 401)
}

impl RepoClient {
    pub(super) fn new(
        token: Arc<InstallationToken>,
        repository: &str,
        app_id: u64,
        metrics: Metrics,
    ) -> RepoClient {
        RepoClient {
            token,
            repo: repository.to_string(),
            app_id,
            metrics,
        }
    }

    /// Sends `request` with the installation's token: the outer error is a token that could
    /// not be had (the request never went out), the inner one GitHub's answer. A `401` means
    /// GitHub stopped taking the token before it said it would (revoked, the installation
    /// changed): one new token, one more try.
    pub(super) async fn send<T, F, Fut>(
        &self,
        what: &str,
        request: F,
    ) -> Result<Result<T, GitHubError>, GitHubError>
    where
        F: Fn(Arc<Octocrab>) -> Fut,
        Fut: Future<Output = Result<T, octocrab::Error>>,
    {
        let crab = self.token.client().await?;
        let answer = match request(crab.clone()).await {
            Err(e) if unauthorized(&e) => {
                self.token.forget(&crab).await;
                request(self.token.client().await?).await
            }
            answer => answer,
        };
        Ok(answer.map_err(|e| GitHubError::from_octocrab(what, e)))
    }

    /// Counts one call by its route's shape and answer, and hands its result back: every
    /// request below goes through here once.
    pub(super) fn counted<T>(
        &self,
        method: &str,
        route: &str,
        result: Result<T, GitHubError>,
    ) -> Result<T, GitHubError> {
        self.metrics
            .github_call(method, route, super::status_label(&result));
        result
    }

    /// Makes sure the installation token is fresh before requests go out side by side: one
    /// refresh, under a lock, instead of one per request.
    pub async fn warm(&self) -> Result<(), GitHubError> {
        self.token.client().await.map(|_| ())
    }

    pub fn repository(&self) -> &str {
        &self.repo
    }

    pub(super) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        route: String,
        what: &str,
    ) -> Result<T, GitHubError> {
        let path = route.as_str();
        let result = self
            .send(
                what,
                |crab| async move { crab.get(path, None::<&()>).await },
            )
            .await?;
        self.counted("GET", &route, result)
    }

    /// Every page of a list. The `Link` URLs are absolute, and octocrab sends no
    /// credentials to a host it does not recognise, so each next page is requested by its
    /// path through the configured base URL.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        route: String,
        what: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let path = route.as_str();
        let first = self
            .send(what, |crab| async move {
                crab.get(path, Some(&[("per_page", "100")])).await
            })
            .await?;
        let mut page: Page<T> = self.counted("GET", &route, first)?;
        let mut items = page.take_items();
        while let Some(next) = page.next.take() {
            let path = next
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let path = path.as_str();
            let next = self
                .send(
                    what,
                    |crab| async move { crab.get(path, None::<&()>).await },
                )
                .await?;
            page = self.counted("GET", path, next)?;
            items.extend(page.take_items());
        }
        Ok(items)
    }

    /// When the installation's core rate limit resets (Unix seconds), if it is spent. Reading
    /// it does not count against the limit.
    pub async fn rate_limit_reset(&self) -> Result<Option<i64>, GitHubError> {
        let r: WireRateLimit = self.get("/rate_limit".into(), "the rate limit").await?;
        Ok((r.resources.core.remaining == 0).then_some(r.resources.core.reset))
    }

    pub async fn pull(&self, number: u64) -> Result<PullInfo, GitHubError> {
        let p: WirePull = self
            .get(
                format!("/repos/{}/pulls/{number}", self.repo),
                "the pull request",
            )
            .await?;
        Ok(PullInfo {
            number: crate::ids::PrNumber(p.number),
            title: p.title.unwrap_or_default(),
            html_url: p.html_url,
            author: p.user.into(),
            state: super::PullState::from_github(&p.state),
            merged: p.merged.unwrap_or(p.merged_at.is_some()),
            merged_at: p.merged_at,
            created_at: p.created_at,
            changed_files: p.changed_files,
            merge_commit_sha: p.merge_commit_sha,
            head_sha: p.head.sha,
            base_ref: p.base.ref_,
            base_sha: p.base.sha,
            commits: p.commits,
        })
    }

    pub async fn pull_files(&self, number: u64) -> Result<Vec<ChangedFile>, GitHubError> {
        let files: Vec<WireFile> = self
            .all(
                format!("/repos/{}/pulls/{number}/files", self.repo),
                "the pull request's files",
            )
            .await?;
        Ok(files
            .into_iter()
            .map(|f| ChangedFile {
                status: match f.status.as_str() {
                    "added" => FileStatus::Added,
                    "modified" | "changed" => FileStatus::Modified,
                    "removed" => FileStatus::Removed,
                    "renamed" => FileStatus::Renamed {
                        from: f.previous_filename.unwrap_or_default(),
                    },
                    other => FileStatus::Other(other.to_string()),
                },
                path: f.filename,
            })
            .collect())
    }

    pub async fn reviews(&self, number: u64) -> Result<Vec<Review>, GitHubError> {
        let reviews: Vec<WireReview> = self
            .all(
                format!("/repos/{}/pulls/{number}/reviews", self.repo),
                "the reviews",
            )
            .await?;
        Ok(reviews
            .into_iter()
            .filter_map(|r| {
                let author = r.user?.into();
                let state = match r.state.as_str() {
                    "APPROVED" => ReviewState::Approved,
                    "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
                    "DISMISSED" => ReviewState::Dismissed,
                    "COMMENTED" => ReviewState::Commented,
                    _ => ReviewState::Pending,
                };
                Some(Review {
                    id: r.id,
                    author,
                    state,
                    commit_id: r.commit_id,
                    submitted_at: r.submitted_at,
                })
            })
            .collect())
    }

    /// The pull request's commits (GitHub lists at most 250).
    pub async fn pull_commits(&self, number: u64) -> Result<Vec<PullCommit>, GitHubError> {
        let commits: Vec<WirePullCommit> = self
            .all(
                format!("/repos/{}/pulls/{number}/commits", self.repo),
                "the pull request's commits",
            )
            .await?;
        Ok(commits
            .into_iter()
            .map(|c| {
                let person = |u: Option<WireCommitUser>| {
                    u.map(|u| Pusher {
                        id: Some(u.id),
                        login: Some(u.login),
                    })
                };
                PullCommit {
                    sha: c.sha,
                    author: person(c.author),
                    committer: person(c.committer),
                    parents: c.parents.into_iter().map(|p| p.sha).collect(),
                    authorship: c.commit.as_ref().and_then(|g| g.authorship()),
                    verified: c
                        .commit
                        .and_then(|g| g.verification)
                        .is_some_and(|v| v.verified),
                }
            })
            .collect())
    }

    /// Paths a single commit changed (renames give both names), every page of them: GitHub
    /// pages a commit's `files` and says so only in the `Link` header.
    pub async fn commit_files(&self, sha: &str) -> Result<Vec<String>, GitHubError> {
        let what = "a commit's files";
        let mut route = format!("/repos/{}/commits/{sha}?per_page=100", self.repo);
        let mut paths = Vec::new();
        // GitHub lists at most 3,000 files of a commit: 30 pages of 100.
        for _ in 0..MAX_COMMIT_FILE_PAGES {
            let path = route.as_str();
            let body = self
                .send(what, |crab| async move {
                    let response = crab._get(path).await?;
                    let response = octocrab::map_github_error(response).await?;
                    let next = next_link(response.headers());
                    Ok((next, crab.body_to_string(response).await?))
                })
                .await?;
            let (next, body) = self.counted("GET", &route, body)?;
            let c: WireCommitFiles =
                serde_json::from_str(&body).map_err(|e| GitHubError::Status {
                    what: what.into(),
                    status: 200,
                    message: format!("unreadable answer: {e}"),
                })?;
            paths.extend(
                c.files
                    .into_iter()
                    .flat_map(|f| std::iter::once(f.filename).chain(f.previous_filename)),
            );
            match next {
                Some(path) => route = path,
                None => return Ok(paths),
            }
        }
        Err(GitHubError::Status {
            what: what.into(),
            status: 200,
            message: "more files than GitHub lists for one commit".into(),
        })
    }

    /// What `path` is at `commit`, with its blob ID and (for a regular file) its bytes;
    /// `None` when nothing is there. GitHub follows a symlink to a file and answers with the
    /// target's path, so an entry whose path differs from the one asked for is a symlink.
    pub async fn entry_at(
        &self,
        path: &str,
        commit: &str,
    ) -> Result<Option<FileEntry>, GitHubError> {
        let what = format!("{path} at {}", &commit[..commit.len().min(7)]);
        let route = format!(
            "/repos/{}/contents/{}?ref={commit}",
            self.repo,
            encode_path(path)
        );
        let c = match self.get::<WireContent>(route, &what).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let kind = match c.kind.as_str() {
            "file" if c.path.as_deref().is_none_or(|p| p == path) => EntryKind::File,
            "file" | "symlink" => EntryKind::Symlink,
            "submodule" => EntryKind::Submodule,
            "dir" => EntryKind::Dir,
            _ => EntryKind::Other,
        };
        let content = match kind {
            EntryKind::File => Some(decode_content(c.content, c.encoding.as_deref(), &what)?),
            _ => None,
        };
        Ok(Some(FileEntry {
            kind,
            sha: c.sha.unwrap_or_default(),
            content,
        }))
    }

    /// When the pull request's base branch was last changed (`base_ref_changed` events of its
    /// timeline), oldest first.
    pub async fn base_changes(&self, number: u64) -> Result<Vec<OffsetDateTime>, GitHubError> {
        let events: Vec<WireTimelineEvent> = self
            .all(
                format!("/repos/{}/issues/{number}/timeline", self.repo),
                "the pull request's timeline",
            )
            .await?;
        Ok(events
            .into_iter()
            .filter(|e| e.event.as_deref() == Some("base_ref_changed"))
            .filter_map(|e| e.created_at)
            .collect())
    }

    /// A user's permission on the repository (`admin`, `write`, `read`, `none`), as GitHub's
    /// collaborator-permission call reports it; `None` when GitHub knows no such user.
    pub async fn user_permission(&self, login: &str) -> Result<Option<String>, GitHubError> {
        let route = format!(
            "/repos/{}/collaborators/{}/permission",
            self.repo,
            encode_path(login)
        );
        match self
            .get::<WirePermission>(route, "a collaborator's permission")
            .await
        {
            Ok(p) => Ok(Some(p.permission)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A team's highest permission on the repository (`admin`, `maintain`, `push`, `triage`,
    /// `pull`); `None` when the team has no access.
    pub async fn team_permission(
        &self,
        org: &str,
        slug: &str,
    ) -> Result<Option<String>, GitHubError> {
        let route = format!(
            "/orgs/{}/teams/{}/repos/{}",
            encode_path(org),
            encode_path(slug),
            self.repo
        );
        // Without this media type GitHub answers 204 with no body.
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::ACCEPT,
            axum::http::HeaderValue::from_static("application/vnd.github.v3.repository+json"),
        );
        let (route, headers) = (&route, &headers);
        let answer: Result<WireTeamRepo, _> = self
            .send("a team's permission", |crab| async move {
                crab.get_with_headers(route, None::<&()>, Some(headers.clone()))
                    .await
            })
            .await?;
        match answer {
            Ok(t) => {
                let p = t.permissions.unwrap_or_default();
                let level = [
                    (p.admin, "admin"),
                    (p.maintain, "maintain"),
                    (p.push, "push"),
                    (p.triage, "triage"),
                    (p.pull, "pull"),
                ]
                .into_iter()
                .find(|(has, _)| *has)
                .map(|(_, name)| name.to_string());
                Ok(level)
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One commit: its parents and authorship (the merge commit, or one a rebase wrote).
    pub async fn commit(&self, sha: &str) -> Result<CommitInfo, GitHubError> {
        let c: WireCommit = self
            .get(
                format!("/repos/{}/commits/{sha}", self.repo),
                "the merge commit",
            )
            .await?;
        Ok(CommitInfo {
            authorship: c.commit.as_ref().and_then(|g| g.authorship()),
            sha: c.sha,
            parents: c.parents.into_iter().map(|p| p.sha).collect(),
        })
    }

    /// What `head` adds to `base` (GitHub's compare, `base...head`): its commits, oldest
    /// first, with their messages, and the paths they change. `complete` is false when
    /// GitHub listed fewer than all (it lists at most 250 commits and 300 files).
    pub async fn compare(&self, base: &str, head: &str) -> Result<Comparison, GitHubError> {
        let c: WireCompare = self
            .get(
                format!("/repos/{}/compare/{base}...{head}", self.repo),
                "the merge group's commits",
            )
            .await?;
        let complete = c.commits.len() as u64 == c.total_commits && c.files.len() < 300;
        Ok(Comparison {
            commits: c
                .commits
                .into_iter()
                .map(|x| (x.sha, x.commit.message))
                .collect(),
            files: c.files.into_iter().map(|f| f.filename).collect(),
            complete,
        })
    }

    pub async fn branch_head(&self, branch: &str) -> Result<String, GitHubError> {
        let b: WireBranch = self
            .get(
                format!("/repos/{}/branches/{branch}", self.repo),
                "the base branch",
            )
            .await?;
        Ok(b.commit.sha)
    }

    /// A file's bytes at a commit; `None` when no regular file is there.
    pub async fn file_at(&self, path: &str, commit: &str) -> Result<Option<Vec<u8>>, GitHubError> {
        Ok(self.entry_at(path, commit).await?.and_then(|e| e.content))
    }

    /// `Some(true)` for an active member, `Some(false)` pending, `None` not a member.
    pub async fn team_membership(
        &self,
        org: &str,
        slug: &str,
        login: &str,
    ) -> Result<Option<bool>, GitHubError> {
        let route = format!("/orgs/{org}/teams/{slug}/memberships/{login}");
        match self.get::<WireMembership>(route, "a team membership").await {
            Ok(m) => Ok(Some(m.state == "active")),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn comments(&self, number: u64) -> Result<Vec<CommentInfo>, GitHubError> {
        let comments: Vec<WireComment> = self
            .all(
                format!("/repos/{}/issues/{number}/comments", self.repo),
                "the comments",
            )
            .await?;
        Ok(comments
            .into_iter()
            .map(|c| CommentInfo {
                id: c.id,
                body: c.body.unwrap_or_default(),
                author: c.user.login,
            })
            .collect())
    }

    pub async fn create_comment(&self, number: u64, body: &str) -> Result<u64, GitHubError> {
        let route = format!("/repos/{}/issues/{number}/comments", self.repo);
        let body = &serde_json::json!({ "body": body });
        let route = route.as_str();
        let c = self
            .send("a new comment", |crab| async move {
                crab.post(route, Some(body)).await
            })
            .await?;
        let c: WireId = self.counted("POST", route, c)?;
        Ok(c.id)
    }

    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), GitHubError> {
        let route = format!("/repos/{}/issues/comments/{id}", self.repo);
        let body = &serde_json::json!({ "body": body });
        let route = route.as_str();
        let c = self
            .send("the comment update", |crab| async move {
                crab.patch(route, Some(body)).await
            })
            .await?;
        let _: WireId = self.counted("PATCH", route, c)?;
        Ok(())
    }

    pub async fn find_check_run(&self, sha: &str, name: &str) -> Result<Option<u64>, GitHubError> {
        let runs: WireCheckRuns = self
            .get(
                format!(
                    "/repos/{}/commits/{sha}/check-runs?check_name={name}",
                    self.repo
                ),
                "the check runs",
            )
            .await?;
        // Only the run this App created: another App may use the same name.
        Ok(runs
            .check_runs
            .iter()
            .find(|r| r.app.as_ref().is_some_and(|a| a.id == self.app_id))
            .map(|r| r.id))
    }

    /// Creates or updates the check run `id`; returns its id.
    pub async fn put_check_run(
        &self,
        id: Option<u64>,
        name: &str,
        head_sha: &str,
        state: CheckState,
        output: &CheckOutput,
    ) -> Result<u64, GitHubError> {
        let mut body = serde_json::json!({
            "name": name,
            "status": state.status(),
            "output": output,
        });
        // `head_sha` names the commit of a new run; an update may not send it.
        if id.is_none() {
            body["head_sha"] = serde_json::Value::from(head_sha);
        }
        if let Some(c) = state.conclusion() {
            body["conclusion"] = serde_json::Value::from(c);
        }
        let run: WireId = match id {
            Some(id) => {
                let route = format!("/repos/{}/check-runs/{id}", self.repo);
                let (route, body) = (route.as_str(), &body);
                let run = self
                    .send("the check run update", |crab| async move {
                        crab.patch(route, Some(body)).await
                    })
                    .await?;
                self.counted("PATCH", route, run)?
            }
            None => {
                let route = format!("/repos/{}/check-runs", self.repo);
                let (route, body) = (route.as_str(), &body);
                let run = self
                    .send("a new check run", |crab| async move {
                        crab.post(route, Some(body)).await
                    })
                    .await?;
                self.counted("POST", route, run)?
            }
        };
        Ok(run.id)
    }
}

/// The bytes of a contents-API answer (base64; GitHub gives no content over 1 MB).
fn decode_content(
    content: Option<String>,
    encoding: Option<&str>,
    what: &str,
) -> Result<Vec<u8>, GitHubError> {
    use base64::Engine;
    if encoding != Some("base64") {
        return Err(GitHubError::Status {
            what: what.to_string(),
            status: 200,
            message: "the file is too large for the contents API (over 1 MB)".into(),
        });
    }
    let raw: String = content.unwrap_or_default().split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| GitHubError::Status {
            what: what.to_string(),
            status: 200,
            message: format!("undecodable content: {e}"),
        })
}
