//! Why a pull request as a whole cannot act (DESIGN §2), as data: policy decides, and only
//! rendering (`workflow::render::problem`) turns a problem into words for people.

use serde::Serialize;

use crate::facts::EntryKind;
use crate::request::Diagnostic;

/// One reason a pull request is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// A merged request file was modified or renamed (`what` says which, as GitHub listed it).
    Rewritten { path: String, what: Rewrite },
    /// A file in the requests folder that cannot be a request.
    Misplaced { diagnostic: Diagnostic },
    /// The pull request changes more files than GitHub lists.
    TooManyFiles { changed: u64 },
    /// GitHub listed fewer files than the pull request changes.
    FilesUnlisted { listed: usize, changed: u64 },
    /// More request files than `policy.max_requests_per_pr`.
    TooManyRequests { added: usize, max: u32 },
    /// The request is already on the base: this pull request does not add it.
    AlreadyOnBase { path: String },
    /// The request is missing from the head or the merge commit.
    NotAt { path: String, at: Moment },
    /// The request is not a regular file at the head or the merge.
    NotAFile {
        path: String,
        at: Moment,
        kind: EntryKind,
    },
    /// The request at the merge is not the blob approved at the head.
    ChangedSinceApproval {
        path: String,
        head: String,
        merge: String,
    },
    /// More commits than GitHub lists: who pushed them all is unknown.
    TooManyCommits { commits: u64 },
    /// Commits whose author and committer are linked to no account.
    UnlinkedCommits { shas: Vec<String> },
    /// Commits without a verified signature, when `policy.require_verified_commits` asks.
    UnverifiedCommits { shas: Vec<String> },
    /// Files outside the requests folder changed beside requests.
    Outside { paths: Vec<String> },
    /// The base branch's CODEOWNERS has an invalid line.
    InvalidOwners {
        location: String,
        line: usize,
        message: String,
    },
    /// The base branch has no CODEOWNERS.
    NoOwnersFile,
    /// The base branch's CODEOWNERS cannot be used.
    UnreadableOwners { location: String, why: String },
    /// The requests waited longer than `policy.request_ttl_hours` for their approvals.
    Expired { request_ttl_hours: u64 },
}

/// How a merged request file was rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewrite {
    Modified,
    RenamedTo(String),
    /// Another status GitHub reported (`changed`, `copied`, …).
    Other(String),
}

/// Where a request blob was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    Head,
    Merge,
}
