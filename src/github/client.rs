//! A GitHub App client over octocrab at `github.api_url`. It returns our own small types;
//! it makes no business decisions.
//!
//! Authentication (DESIGN §4): octocrab signs an RS256 JWT with jsonwebtoken (`iss` = App ID,
//! `iat` 60 s in the past, `exp` 9 minutes ahead) and exchanges it for an installation
//! token, which it caches until 30 s before `expires_at`. We keep one client per
//! installation so that cache lives as long as the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use octocrab::models::{AppId, InstallationId};
use octocrab::{Octocrab, Page};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::facts::{Account, ChangedFile, FileStatus, Pusher, Review, ReviewState};

/// An API failure, classified for the retry decision.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered {status} to {what}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("GitHub could not be reached for {what}: {message}")]
    Unreachable { what: String, message: String },
    #[error("the GitHub App cannot be set up: {0}")]
    Setup(String),
}

impl GitHubError {
    /// Worth another attempt later: 5xx, throttling, timeouts, connection errors.
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Status {
                status, message, ..
            } => {
                *status >= 500
                    || *status == 429
                    || (*status == 403 && message.to_lowercase().contains("rate limit"))
            }
            GitHubError::Unreachable { .. } => true,
            GitHubError::Setup(_) => false,
        }
    }

    fn from_octocrab(what: &str, e: octocrab::Error) -> GitHubError {
        match e {
            octocrab::Error::GitHub { source, .. } => GitHubError::Status {
                what: what.to_string(),
                status: source.status_code.as_u16(),
                message: source.message.clone(),
            },
            other => GitHubError::Unreachable {
                what: what.to_string(),
                message: short_error(&other),
            },
        }
    }

    fn is_not_found(&self) -> bool {
        matches!(self, GitHubError::Status { status: 404, .. })
    }
}

fn short_error(e: &octocrab::Error) -> String {
    // octocrab's Display of some variants appends a backtrace; keep the first line.
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// The App: creates per-installation clients.
#[derive(Clone)]
pub struct GitHubApp {
    app: Octocrab,
    installations: Arc<Mutex<HashMap<u64, Octocrab>>>,
}

impl GitHubApp {
    pub fn new(
        api_url: &str,
        app_id: u64,
        private_key: &SecretString,
    ) -> Result<GitHubApp, GitHubError> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes())
            .map_err(|e| {
                GitHubError::Setup(format!(
                    "the private key is not an RSA key in PEM form ({e}); use the .pem file GitHub generated for the App"
                ))
            })?;
        let app = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| {
                GitHubError::Setup(format!("github.api_url `{api_url}`: {}", short_error(&e)))
            })?
            .app(AppId(app_id), key)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| GitHubError::Setup(short_error(&e)))?;
        Ok(GitHubApp {
            app,
            installations: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// A client for one repository, acting as the installation.
    pub fn repo(&self, installation_id: u64, repository: &str) -> Result<RepoClient, GitHubError> {
        let mut cache = self
            .installations
            .lock()
            .map_err(|_| GitHubError::Setup("installation cache poisoned".into()))?;
        let crab = match cache.get(&installation_id) {
            Some(c) => c.clone(),
            None => {
                let c = self
                    .app
                    .installation(InstallationId(installation_id))
                    .map_err(|e| GitHubError::Setup(short_error(&e)))?;
                cache.insert(installation_id, c.clone());
                c
            }
        };
        Ok(RepoClient {
            crab,
            repo: repository.to_string(),
        })
    }
}

/// A pull request as the workflow needs it.
#[derive(Debug, Clone)]
pub struct PullInfo {
    pub number: u64,
    pub title: String,
    pub html_url: String,
    pub author: Account,
    pub state: String,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    /// How many commits the pull request has.
    pub commits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentInfo {
    pub id: u64,
    pub body: String,
    pub author_is_bot: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub annotation_level: &'static str,
    pub message: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
    pub annotations: Vec<Annotation>,
}

// Wire shapes: only the fields read.
#[derive(Deserialize)]
struct WireUser {
    id: u64,
    login: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl From<WireUser> for Account {
    fn from(u: WireUser) -> Account {
        let is_bot = u.kind.as_deref() == Some("Bot") || u.login.ends_with("[bot]");
        Account {
            id: u.id,
            login: u.login,
            is_bot,
        }
    }
}

#[derive(Deserialize)]
struct WireRef {
    #[serde(rename = "ref")]
    ref_: String,
    sha: String,
}

#[derive(Deserialize)]
struct WirePull {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    html_url: String,
    user: WireUser,
    state: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    merge_commit_sha: Option<String>,
    #[serde(default)]
    commits: u64,
    head: WireRef,
    base: WireRef,
}

#[derive(Deserialize)]
struct WireFile {
    filename: String,
    status: String,
    #[serde(default)]
    previous_filename: Option<String>,
}

#[derive(Deserialize)]
struct WireReview {
    id: u64,
    user: Option<WireUser>,
    state: String,
    commit_id: Option<String>,
}

#[derive(Deserialize)]
struct WireCommitUser {
    id: u64,
    login: String,
}

#[derive(Deserialize)]
struct WirePullCommit {
    sha: String,
    author: Option<WireCommitUser>,
    committer: Option<WireCommitUser>,
}

#[derive(Deserialize)]
struct WireCommitFiles {
    #[serde(default)]
    files: Vec<WireFile>,
}

/// One commit of a pull request and the GitHub accounts behind it (`None`: an e-mail
/// address linked to no account).
#[derive(Debug, Clone)]
pub struct PullCommit {
    pub sha: String,
    pub author: Option<Pusher>,
    pub committer: Option<Pusher>,
}

#[derive(Deserialize)]
struct WireParent {
    sha: String,
}

#[derive(Deserialize)]
struct WireCommit {
    parents: Vec<WireParent>,
}

#[derive(Deserialize)]
struct WireContent {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct WireBranch {
    commit: WireSha,
}

#[derive(Deserialize)]
struct WireSha {
    sha: String,
}

#[derive(Deserialize)]
struct WireMembership {
    state: String,
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: WireUser,
}

#[derive(Deserialize)]
struct WireCheckRuns {
    check_runs: Vec<WireId>,
}

#[derive(Deserialize)]
struct WireId {
    id: u64,
}

/// Calls for one repository, as one installation.
#[derive(Clone)]
pub struct RepoClient {
    crab: Octocrab,
    repo: String,
}

impl RepoClient {
    pub fn repository(&self) -> &str {
        &self.repo
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        route: String,
        what: &str,
    ) -> Result<T, GitHubError> {
        self.crab
            .get(route, None::<&()>)
            .await
            .map_err(|e| GitHubError::from_octocrab(what, e))
    }

    /// Every page of a list. The `Link` URLs are absolute, and octocrab sends no
    /// credentials to a host it does not recognise, so each next page is requested by its
    /// path through the configured base URL.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        route: String,
        what: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let mut page: Page<T> = self
            .crab
            .get(route, Some(&[("per_page", "100")]))
            .await
            .map_err(|e| GitHubError::from_octocrab(what, e))?;
        let mut items = page.take_items();
        while let Some(next) = page.next.take() {
            let path = next
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            page = self
                .crab
                .get(path, None::<&()>)
                .await
                .map_err(|e| GitHubError::from_octocrab(what, e))?;
            items.extend(page.take_items());
        }
        Ok(items)
    }

    pub async fn pull(&self, number: u64) -> Result<PullInfo, GitHubError> {
        let p: WirePull = self
            .get(
                format!("/repos/{}/pulls/{number}", self.repo),
                "the pull request",
            )
            .await?;
        Ok(PullInfo {
            number: p.number,
            title: p.title.unwrap_or_default(),
            html_url: p.html_url,
            author: p.user.into(),
            state: p.state,
            merged: p.merged.unwrap_or(p.merged_at.is_some()),
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
                    submitted_at: None,
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
                // GitHub's web-flow committer signs commits made in the web UI; it is not a person.
                let person = |u: Option<WireCommitUser>| {
                    u.filter(|u| u.login != "web-flow").map(|u| Pusher {
                        id: Some(u.id),
                        login: Some(u.login),
                    })
                };
                PullCommit {
                    sha: c.sha,
                    author: person(c.author),
                    committer: person(c.committer),
                }
            })
            .collect())
    }

    /// Paths a single commit changed (renames give both names).
    pub async fn commit_files(&self, sha: &str) -> Result<Vec<String>, GitHubError> {
        let c: WireCommitFiles = self
            .get(
                format!("/repos/{}/commits/{sha}", self.repo),
                "a commit's files",
            )
            .await?;
        Ok(c.files
            .into_iter()
            .flat_map(|f| std::iter::once(f.filename).chain(f.previous_filename))
            .collect())
    }

    pub async fn commit_parents(&self, sha: &str) -> Result<Vec<String>, GitHubError> {
        let c: WireCommit = self
            .get(
                format!("/repos/{}/commits/{sha}", self.repo),
                "the merge commit",
            )
            .await?;
        Ok(c.parents.into_iter().map(|p| p.sha).collect())
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

    /// A file's bytes at a commit; `None` when it does not exist there.
    pub async fn file_at(&self, path: &str, commit: &str) -> Result<Option<Vec<u8>>, GitHubError> {
        let what = format!("{path} at {}", &commit[..commit.len().min(7)]);
        let route = format!(
            "/repos/{}/contents/{}?ref={commit}",
            self.repo,
            encode_path(path)
        );
        match self.get::<WireContent>(route, &what).await {
            Ok(c) if c.kind == "file" => {
                use base64::Engine;
                let raw: String = c.content.unwrap_or_default().split_whitespace().collect();
                if c.encoding.as_deref() != Some("base64") {
                    return Err(GitHubError::Status {
                        what,
                        status: 200,
                        message: "the file is too large for the contents API (over 1 MB)".into(),
                    });
                }
                base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map(Some)
                    .map_err(|e| GitHubError::Status {
                        what,
                        status: 200,
                        message: format!("undecodable content: {e}"),
                    })
            }
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
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
                author_is_bot: Account::from(c.user).is_bot,
            })
            .collect())
    }

    pub async fn create_comment(&self, number: u64, body: &str) -> Result<u64, GitHubError> {
        let c: WireId = self
            .crab
            .post(
                format!("/repos/{}/issues/{number}/comments", self.repo),
                Some(&serde_json::json!({ "body": body })),
            )
            .await
            .map_err(|e| GitHubError::from_octocrab("a new comment", e))?;
        Ok(c.id)
    }

    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), GitHubError> {
        let _: WireId = self
            .crab
            .patch(
                format!("/repos/{}/issues/comments/{id}", self.repo),
                Some(&serde_json::json!({ "body": body })),
            )
            .await
            .map_err(|e| GitHubError::from_octocrab("the comment update", e))?;
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
        Ok(runs.check_runs.first().map(|r| r.id))
    }

    /// Creates or updates the check run `id`; returns its id.
    pub async fn put_check_run(
        &self,
        id: Option<u64>,
        name: &str,
        head_sha: &str,
        status: &str,
        conclusion: Option<&str>,
        output: &CheckOutput,
    ) -> Result<u64, GitHubError> {
        let mut body = serde_json::json!({
            "name": name,
            "head_sha": head_sha,
            "status": status,
            "output": output,
        });
        if let Some(c) = conclusion {
            body["conclusion"] = serde_json::Value::from(c);
        }
        let run: WireId = match id {
            Some(id) => self
                .crab
                .patch(format!("/repos/{}/check-runs/{id}", self.repo), Some(&body))
                .await
                .map_err(|e| GitHubError::from_octocrab("the check run update", e))?,
            None => self
                .crab
                .post(format!("/repos/{}/check-runs", self.repo), Some(&body))
                .await
                .map_err(|e| GitHubError::from_octocrab("a new check run", e))?,
        };
        Ok(run.id)
    }
}

/// Percent-encodes a repository path for the contents API, keeping `/`.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_for_the_contents_api() {
        assert_eq!(
            encode_path("requests/alice/ci key.toml"),
            "requests/alice/ci%20key.toml"
        );
        assert_eq!(encode_path(".github/CODEOWNERS"), ".github/CODEOWNERS");
        assert_eq!(encode_path("requests/ü/a.toml"), "requests/%C3%BC/a.toml");
    }

    #[test]
    fn server_errors_and_throttling_are_transient_but_not_found_is_not() {
        let s = |status: u16, message: &str| GitHubError::Status {
            what: "x".into(),
            status,
            message: message.into(),
        };
        assert!(s(502, "Bad Gateway").is_transient());
        assert!(s(429, "").is_transient());
        assert!(s(403, "API rate limit exceeded").is_transient());
        assert!(!s(403, "Resource not accessible by integration").is_transient());
        assert!(!s(404, "Not Found").is_transient());
    }
}
