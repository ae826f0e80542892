//! Plain facts GitHub reports about a pull request and the people on it: accounts, reviews,
//! pushers and changed files. The client (`github`) produces them and `policy` judges them;
//! neither owns them, so both import them from here and neither depends on the other.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A GitHub account as it appears on a review or a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// GitHub's numeric user ID: the identity (logins can be renamed).
    pub id: u64,
    pub login: String,
    /// GitHub's `type == "Bot"`.
    pub is_bot: bool,
}

impl Account {
    /// A bot by GitHub's account type, or by the `[bot]` suffix every App account carries
    /// (in case a caller built the account from a source without `type`).
    pub fn is_bot_account(&self) -> bool {
        self.is_bot || self.login.to_ascii_lowercase().ends_with("[bot]")
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.login)
    }
}

/// A review's `state` as GitHub's REST API spells it (`"APPROVED"`, `"CHANGES_REQUESTED"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Dismissed,
    Commented,
    Pending,
}

/// One pull-request review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub id: u64,
    pub author: Account,
    pub state: ReviewState,
    /// The commit the review was given on; `None` never matches the head.
    pub commit_id: Option<String>,
    /// GitHub's `submitted_at`. `None` (a pending review, or a caller that did not read it)
    /// never proves an approval recent enough, early enough or late enough to count.
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
}

/// Someone who authored or committed a commit on the pull request, or pushed to it. Either
/// field may be missing (a commit whose e-mail is linked to no account has neither). A
/// reviewer matching the ID or the login (without regard to case) is a pusher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pusher {
    pub id: Option<u64>,
    pub login: Option<String>,
}

/// What happened to one file in a pull request's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Added,
    Modified,
    Removed,
    Renamed { from: String },
    Other(String),
}

/// One file of a pull request's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    pub status: FileStatus,
}

/// What a path is in git at some commit: only a regular file can be a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Submodule,
    Other,
}

/// A path at a commit: what it is and its git object ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blob {
    pub kind: EntryKind,
    pub sha: String,
}

/// What git keeps of a commit when it is rebased: its message and its author's name, e-mail
/// and date. GitHub's "Rebase and merge" writes new commits with the same authorship, which
/// is how the commits it wrote are told from a squash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorship {
    pub message: String,
    /// `name <email> date`, as the commit object records them.
    pub author: String,
}

/// A commit as the single-commit API shows it: its parents (first parent first) and its
/// authorship when GitHub gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub parents: Vec<String>,
    pub authorship: Option<Authorship>,
}
