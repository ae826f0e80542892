//! GitHub's JSON as it arrives: only the fields keygate reads. Converted to keygate's own
//! types in `repo.rs`; nothing else sees these.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::facts::Account;

#[derive(Deserialize)]
pub(super) struct WireUser {
    pub id: u64,
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
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
pub(super) struct WireRef {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub sha: String,
}

#[derive(Deserialize)]
pub(super) struct WirePull {
    pub number: u64,
    #[serde(default)]
    pub title: Option<String>,
    pub html_url: String,
    pub user: WireUser,
    pub state: String,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub merged_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub commits: u64,
    #[serde(default)]
    pub changed_files: u64,
    pub head: WireRef,
    pub base: WireRef,
}

#[derive(Deserialize)]
pub(super) struct WireFile {
    pub filename: String,
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireReview {
    pub id: u64,
    pub user: Option<WireUser>,
    pub state: String,
    pub commit_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
pub(super) struct WireCommitUser {
    pub id: u64,
    pub login: String,
}

#[derive(Deserialize)]
pub(super) struct WireVerification {
    #[serde(default)]
    pub verified: bool,
}

#[derive(Deserialize)]
pub(super) struct WireGitCommit {
    #[serde(default)]
    pub verification: Option<WireVerification>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub author: Option<WireGitPerson>,
}

/// A commit object's author or committer as git records it.
#[derive(Deserialize)]
pub(super) struct WireGitPerson {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub date: String,
}

impl WireGitCommit {
    /// Its authorship, when GitHub gave the message and the author.
    pub fn authorship(&self) -> Option<crate::facts::Authorship> {
        let (message, a) = (self.message.as_ref()?, self.author.as_ref()?);
        Some(crate::facts::Authorship {
            message: message.clone(),
            author: format!("{} <{}> {}", a.name, a.email, a.date),
        })
    }
}

#[derive(Deserialize)]
pub(super) struct WirePullCommit {
    pub sha: String,
    pub author: Option<WireCommitUser>,
    pub committer: Option<WireCommitUser>,
    #[serde(default)]
    pub parents: Vec<WireParent>,
    #[serde(default)]
    pub commit: Option<WireGitCommit>,
}

#[derive(Deserialize)]
pub(super) struct WireCommitFiles {
    #[serde(default)]
    pub files: Vec<WireFile>,
}

#[derive(Deserialize)]
pub(super) struct WireParent {
    pub sha: String,
}

#[derive(Deserialize)]
pub(super) struct WireCommit {
    pub sha: String,
    pub parents: Vec<WireParent>,
    #[serde(default)]
    pub commit: Option<WireGitCommit>,
}

#[derive(Deserialize)]
pub(super) struct WireContent {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Deserialize)]
pub(super) struct WireBranch {
    pub commit: WireSha,
}

#[derive(Deserialize)]
pub(super) struct WireSha {
    pub sha: String,
}

#[derive(Deserialize)]
pub(super) struct WireMembership {
    pub state: String,
}

#[derive(Deserialize)]
pub(super) struct WirePermission {
    pub permission: String,
}

#[derive(Deserialize, Default)]
pub(super) struct WireRepoPermissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub maintain: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub triage: bool,
    #[serde(default)]
    pub pull: bool,
}

#[derive(Deserialize)]
pub(super) struct WireTeamRepo {
    #[serde(default)]
    pub permissions: Option<WireRepoPermissions>,
}

#[derive(Deserialize)]
pub(super) struct WireTimelineEvent {
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
pub(super) struct WireComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: WireUser,
}

#[derive(Deserialize)]
pub(super) struct WireApp {
    pub slug: String,
}

#[derive(Deserialize)]
pub(super) struct WireCheckRuns {
    pub check_runs: Vec<WireCheckRun>,
}

#[derive(Deserialize)]
pub(super) struct WireCheckRun {
    pub id: u64,
    #[serde(default)]
    pub app: Option<WireId>,
}

#[derive(Deserialize)]
pub(super) struct WireId {
    pub id: u64,
}

#[derive(Deserialize)]
pub(super) struct WireRateLimit {
    pub resources: WireRateResources,
}

#[derive(Deserialize)]
pub(super) struct WireRateResources {
    pub core: WireRate,
}

#[derive(Deserialize)]
pub(super) struct WireRate {
    pub remaining: u64,
    pub reset: i64,
}

/// A pull request as a list (`GET /repos/{o}/{r}/pulls`) shows it: catch-up reads only these.
#[derive(Deserialize)]
pub(super) struct WireListedPull {
    pub number: u64,
    pub state: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub merged_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub head: WireRef,
    pub base: WireRef,
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`, the parts keygate reads.
#[derive(Deserialize)]
pub(super) struct WireCompare {
    pub total_commits: u64,
    #[serde(default)]
    pub commits: Vec<WireCompareCommit>,
    #[serde(default)]
    pub files: Vec<WireCompareFile>,
}

#[derive(Deserialize)]
pub(super) struct WireCompareCommit {
    pub sha: String,
    pub commit: WireCommitMessage,
}

#[derive(Deserialize)]
pub(super) struct WireCommitMessage {
    pub message: String,
}

#[derive(Deserialize)]
pub(super) struct WireCompareFile {
    pub filename: String,
}
