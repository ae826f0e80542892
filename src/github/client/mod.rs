//! A GitHub App client over octocrab at `github.api_url`. It returns our own small types;
//! it makes no business decisions.
//!
//! Authentication (DESIGN §4, [`auth`]): keygate signs an RS256 JWT (`iss` = App ID, `iat`
//! 60 s in the past, `exp` ten minutes after `iat`) on GitHub's clock as it knows it, and
//! exchanges it for an installation token, which it keeps until 30 s before `expires_at`. The
//! token is asked for the configured repository only (`"repositories": [name]`), so a leaked
//! token or a confused call cannot reach the installation's other repositories. We keep one
//! token per installation and repository for as long as the process lives.

mod alerts;
mod auth;
mod clock;
mod http;
mod listing;
mod repo;
mod setup;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::OffsetDateTime;

use crate::facts::{Account, EntryKind, Pusher};
use crate::ids::PrNumber;
use crate::metrics::Metrics;

pub use alerts::{AlertLocation, SecretAlert};
use auth::{AppAuth, InstallationToken};
use clock::GitHubClock;
use http::LazyHttp;
pub use listing::{ClockReading, PullState, PullsPage};
pub use repo::RepoClient;
pub use setup::{CodeownersError, RepoInstallation};

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
    /// Worth another attempt later: 5xx, throttling, timeouts, connection errors, and a
    /// JWT refused for its times ([`is_clock_skew`](Self::is_clock_skew)): a clock set
    /// right again (NTP) makes the next attempt succeed.
    pub fn is_transient(&self) -> bool {
        if self.is_clock_skew() {
            return true;
        }
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
            octocrab::Error::GitHub { source, .. } => {
                let mut e = GitHubError::Status {
                    what: what.to_string(),
                    status: source.status_code.as_u16(),
                    message: source.message.clone(),
                };
                if e.is_clock_skew()
                    && let GitHubError::Status { message, .. } = &mut e
                {
                    message.push_str(
                        " (clock skew: this host's clock is off from GitHub's; set it right, \
                         e.g. with NTP; keygate retries on its own)",
                    );
                }
                e
            }
            other => GitHubError::Unreachable {
                what: what.to_string(),
                message: short_error(&other),
            },
        }
    }

    /// GitHub refused the App's JWT for its `iat` or `exp` claim (`401`, with GitHub's
    /// message naming the claim): keygate's clock and GitHub's differ by more than the
    /// minute of leeway the token carries. Not a wrong key or App ID, which GitHub answers
    /// with another message.
    pub fn is_clock_skew(&self) -> bool {
        match self {
            GitHubError::Status {
                status: 401,
                message,
                ..
            } => message.contains("claim ('iat')") || message.contains("claim ('exp')"),
            _ => false,
        }
    }

    /// GitHub's rate limit (primary `403 … rate limit` or secondary `429`): worth waiting
    /// until it resets rather than backing off blindly.
    pub fn is_rate_limited(&self) -> bool {
        match self {
            GitHubError::Status {
                status, message, ..
            } => {
                *status == 429 || (*status == 403 && message.to_lowercase().contains("rate limit"))
            }
            _ => false,
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, GitHubError::Status { status: 404, .. })
    }
}

/// The `status` label of a call's result: `ok`, GitHub's HTTP status, or why there was none.
fn status_label<T>(result: &Result<T, GitHubError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(GitHubError::Status { status, .. }) => status.to_string(),
        Err(GitHubError::Unreachable { .. }) => "unreachable".into(),
        Err(GitHubError::Setup(_)) => "setup".into(),
    }
}

pub(crate) fn short_error(e: &octocrab::Error) -> String {
    // octocrab's Display of some variants appends a backtrace; keep the first line.
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// The App: creates per-installation clients.
#[derive(Clone)]
pub struct GitHubApp {
    auth: Arc<AppAuth>,
    /// One installation token per installation and repository (`owner/name`, lower case),
    /// shared by every client for that repository, so deliveries reuse it until it runs out.
    installations: Arc<Mutex<Tokens>>,
    /// `<slug>[bot]`, read once from `GET /app`: the author of keygate's own comments.
    bot_login: Arc<tokio::sync::OnceCell<String>>,
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
        let http = LazyHttp::new(api_url)?;
        Ok(GitHubApp {
            auth: Arc::new(AppAuth {
                http: Arc::new(http),
                key,
                app_id,
                clock: GitHubClock::default(),
                metrics: Metrics::default(),
            }),
            installations: Arc::new(Mutex::new(HashMap::new())),
            bot_login: Arc::default(),
        })
    }

    /// Counts this App's calls into `metrics` (by default into counters nobody reads).
    pub fn with_metrics(mut self, metrics: Metrics) -> GitHubApp {
        Arc::make_mut(&mut self.auth).metrics = metrics;
        self
    }

    /// The login of the App's bot account (`<slug>[bot]`): only comments by it are keygate's.
    pub async fn bot_login(&self) -> Result<String, GitHubError> {
        self.bot_login
            .get_or_try_init(|| async {
                let app: wire::WireApp = self
                    .auth
                    .call(Method::GET, "/app", None, "the App (GET /app)")
                    .await?;
                Ok(format!("{}[bot]", app.slug))
            })
            .await
            .cloned()
    }

    /// A client for one repository, acting as the installation with a token scoped to that
    /// repository alone.
    pub fn repo(&self, installation_id: u64, repository: &str) -> Result<RepoClient, GitHubError> {
        let mut cache = self
            .installations
            .lock()
            .map_err(|_| GitHubError::Setup("installation cache poisoned".into()))?;
        let key = (installation_id, repository.to_ascii_lowercase());
        let token = cache
            .entry(key)
            .or_insert_with(|| {
                Arc::new(InstallationToken::new(
                    self.auth.clone(),
                    installation_id,
                    repository_name(repository),
                ))
            })
            .clone();
        Ok(RepoClient::new(
            token,
            repository,
            self.auth.app_id,
            self.auth.metrics.clone(),
        ))
    }
}

/// Installation tokens by installation ID and repository.
type Tokens = HashMap<(u64, String), Arc<InstallationToken>>;

/// A pull request as the workflow needs it.
#[derive(Debug, Clone)]
pub struct PullInfo {
    pub number: PrNumber,
    pub title: String,
    pub html_url: String,
    pub author: Account,
    pub state: PullState,
    pub merged: bool,
    pub merged_at: Option<OffsetDateTime>,
    pub created_at: Option<OffsetDateTime>,
    pub merge_commit_sha: Option<String>,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    /// How many commits the pull request has.
    pub commits: u64,
    /// How many files GitHub says the pull request changes: the files list must be as long.
    pub changed_files: u64,
}

/// A check run's state as GitHub takes it: `in_progress`, or `completed` with a conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    InProgress,
    Success,
    Failure,
}

impl CheckState {
    /// GitHub's `status`.
    pub fn status(self) -> &'static str {
        match self {
            CheckState::InProgress => "in_progress",
            CheckState::Success | CheckState::Failure => "completed",
        }
    }

    /// GitHub's `conclusion`, for a completed run.
    pub fn conclusion(self) -> Option<&'static str> {
        match self {
            CheckState::InProgress => None,
            CheckState::Success => Some("success"),
            CheckState::Failure => Some("failure"),
        }
    }
}

/// A pull request as a list shows it: enough for catch-up to choose what to look at closer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPull {
    pub number: u64,
    pub state: PullState,
    pub merged_at: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
    pub merge_commit_sha: Option<String>,
    pub head_sha: String,
    pub base_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentInfo {
    pub id: u64,
    pub body: String,
    pub author: String,
}

/// One commit of a pull request and the GitHub accounts behind it (`None`: an e-mail
/// address linked to no account).
#[derive(Debug, Clone)]
pub struct PullCommit {
    pub sha: String,
    pub author: Option<Pusher>,
    pub committer: Option<Pusher>,
    /// The commits it was made on: two for a merge (e.g. GitHub's "Update branch").
    pub parents: Vec<String>,
    /// GitHub verified its signature.
    pub verified: bool,
    /// Its message and author, which a rebase merge keeps.
    pub authorship: Option<crate::facts::Authorship>,
}

/// What a head adds to a base (GitHub's compare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// `(sha, message)` of each commit, oldest first.
    pub commits: Vec<(String, String)>,
    /// Every path the commits change.
    pub files: Vec<String>,
    /// GitHub listed every commit and file (at most 250 and 300).
    pub complete: bool,
}

/// A path at a commit: what it is, its git object ID, and a regular file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub kind: EntryKind,
    pub sha: String,
    pub content: Option<Vec<u8>>,
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

/// The repository's name without its owner, as the access-token request wants it
/// (`acme/requests` → `requests`).
fn repository_name(full_name: &str) -> &str {
    full_name
        .split_once('/')
        .map_or(full_name, |(_, name)| name)
}

/// Percent-encodes a repository path for the contents API, keeping `/`.
pub(crate) fn encode_path(path: &str) -> String {
    percent_encode(path, b"/")
}

/// Percent-encodes `text`, keeping RFC 3986's unreserved characters and the bytes of `keep`.
pub(crate) fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
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
    fn installation_tokens_are_asked_for_the_repository_by_its_name_alone() {
        assert_eq!(repository_name("acme/access-requests"), "access-requests");
        assert_eq!(repository_name("access-requests"), "access-requests");
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

    #[test]
    fn a_jwt_refused_for_its_times_is_clock_skew_and_retried_but_bad_credentials_are_not() {
        let s = |status: u16, message: &str| GitHubError::Status {
            what: "x".into(),
            status,
            message: message.into(),
        };
        for skew in [
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
            "'Expiration time' claim ('exp') is too far in the future",
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
        ] {
            assert!(s(401, skew).is_clock_skew(), "{skew}");
            assert!(s(401, skew).is_transient(), "{skew}");
        }
        for not in [
            s(401, "A JSON web token could not be decoded"),
            s(401, "Bad credentials"),
            s(
                422,
                "'Expiration time' claim ('exp') is too far in the future",
            ),
        ] {
            assert!(!not.is_clock_skew(), "{not}");
            assert!(!not.is_transient(), "{not}");
        }
    }
}
