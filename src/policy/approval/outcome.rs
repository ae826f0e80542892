//! The decision's output: where each file stands, and why, in words for people.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use super::inputs::owners_as_text;
use crate::facts::Account;
use crate::policy::codeowners::Owner;

/// The decision for a whole pull request: one entry per request file, in the given order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub files: Vec<FileDecision>,
}

impl Decision {
    /// When the last file got the approvals it needs (its `needed`-th counted approval), if
    /// every file has them: the moment the pull request became approved.
    pub fn approved_at(&self) -> Option<OffsetDateTime> {
        if !self.approved() {
            return None;
        }
        let mut last = None;
        for f in &self.files {
            let mut times: Vec<OffsetDateTime> =
                f.counted.iter().filter_map(|c| c.submitted_at).collect();
            times.sort();
            let at = *times.get(f.needed.max(1) as usize - 1)?;
            last = last.max(Some(at));
        }
        last
    }

    /// True only when there is at least one file and every file is approved.
    pub fn approved(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(|f| f.verdict == Verdict::Approved)
    }

    /// The first moment after which a counted approval stops counting (its
    /// [`CountedApproval::counts_until`]); `None` when none ever does. The check run can say
    /// until when the pull request is approved.
    pub fn counts_until(&self) -> Option<OffsetDateTime> {
        self.files
            .iter()
            .flat_map(|f| &f.counted)
            .filter_map(|c| c.counts_until)
            .min()
    }

    /// Everyone whose approval counted for at least one file, once each (by ID), in order of
    /// first appearance: what the secret's tags and the audit record as approvers.
    pub fn approvers(&self) -> Vec<Account> {
        let mut seen = BTreeSet::new();
        self.files
            .iter()
            .flat_map(|f| &f.approved_by)
            .filter(|a| seen.insert(a.id))
            .cloned()
            .collect()
    }
}

impl fmt::Display for Decision {
    /// One line per file (`path: headline`), each ignored approval indented below it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.files.is_empty() {
            return write!(
                f,
                "this pull request adds no request file, so there is nothing to approve"
            );
        }
        for (i, file) in self.files.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{file}")?;
            for ignored in &file.ignored {
                write!(f, "\n  - {ignored}")?;
            }
        }
        Ok(())
    }
}

/// The decision for one request file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDecision {
    pub path: String,
    /// Who can approve this file (from CODEOWNERS on the base branch).
    #[serde(serialize_with = "owners_as_text")]
    pub owners: Vec<Owner>,
    /// Owners whose approval counts, one entry per account ID.
    pub approved_by: Vec<Account>,
    /// The same approvals, each with when it was given and until when it counts.
    pub counted: Vec<CountedApproval>,
    /// Approvals this file needs: `min_approvals`, at least 1.
    pub needed: u32,
    /// Owners whose effective state is CHANGES_REQUESTED.
    pub blocked_by: Vec<Account>,
    /// Approvals that did not count, each with why.
    pub ignored: Vec<IgnoredReview>,
    pub verdict: Verdict,
}

impl FileDecision {
    /// One sentence saying where this file stands and, if it is not approved, what would
    /// change that.
    pub fn explain(&self) -> String {
        match &self.verdict {
            Verdict::Approved => format!("approved by {}", join(&self.approved_by, "and")),
            Verdict::Blocked => format!(
                "{} requested changes; this blocks the request until {} approve{} or the review \
                 is dismissed",
                join(&self.blocked_by, "and"),
                if self.blocked_by.len() == 1 {
                    "they"
                } else {
                    "each"
                },
                if self.blocked_by.len() == 1 { "" } else { "s" },
            ),
            Verdict::NoOwner => Verdict::NoOwner.to_string(),
            Verdict::Pending { missing } => {
                let approvable: Vec<&Owner> = self
                    .owners
                    .iter()
                    .filter(|o| !matches!(o, Owner::Email(_)))
                    .collect();
                if approvable.is_empty() {
                    format!(
                        "can never be approved: its only owners ({}) are e-mail addresses, which \
                         keygate cannot match to GitHub accounts; name a @user or @org/team for \
                         this path in CODEOWNERS on the base branch",
                        join(&self.owners, "and")
                    )
                } else {
                    format!(
                        "needs {missing} more {} from {}",
                        plural(*missing, "approval", "approvals"),
                        join(&approvable, "or")
                    )
                }
            }
        }
    }

    /// The headline ([`explain`](Self::explain)) followed by one sentence per ignored approval.
    pub fn reasons(&self) -> Vec<String> {
        std::iter::once(self.explain())
            .chain(self.ignored.iter().map(ToString::to_string))
            .collect()
    }
}

impl fmt::Display for FileDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.explain())
    }
}

/// An approval that counted, and for how long it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountedApproval {
    pub reviewer: Account,
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// The last moment the approval counts (`submitted_at` + `approval_ttl_hours`); `None`
    /// when approvals never grow too old.
    #[serde(with = "time::serde::rfc3339::option")]
    pub counts_until: Option<OffsetDateTime>,
}

/// Where one file stands. Blocked wins over Approved; NoOwner is never approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Pending { missing: u32 },
    Blocked,
    NoOwner,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Approved => write!(f, "approved"),
            Verdict::Pending { missing } => write!(
                f,
                "needs {missing} more {}",
                plural(*missing, "approval", "approvals")
            ),
            Verdict::Blocked => write!(f, "an owner requested changes"),
            Verdict::NoOwner => write!(
                f,
                "no owner in CODEOWNERS: add a line for this path on the base branch"
            ),
        }
    }
}

/// An approval that did not count for a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredReview {
    pub reviewer: Account,
    #[serde(flatten)]
    pub why: IgnoredWhy,
}

/// Why an approval did not count. When several apply, the one shown is the one a new
/// approval cannot fix (author, bot, pusher, not an owner, no write access, after the merge)
/// before the ones it can (stale, before the retarget, unknown time, expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum IgnoredWhy {
    /// Given on another commit than the head (or on none).
    Stale {
        commit_id: Option<String>,
    },
    NotOwner,
    Author,
    Bot,
    /// Authored or committed a commit, or sent a `synchronize` push.
    Pusher,
    /// An owner without write access to the repository, by name or through any owning team.
    NoWriteAccess,
    /// An owner whose write access (or their owning teams') GitHub did not tell.
    WriteAccessUnknown,
    /// Submitted after the merge: it was not there when the pull request merged.
    AfterMerge,
    /// Submitted at or before the pull request was retargeted to `base_ref`.
    BeforeRetarget {
        base_ref: String,
    },
    /// Without a submission time, where the decision needs one.
    UnknownTime,
    /// Older than `approval_ttl_hours` at the decision time.
    Expired {
        ttl_hours: u64,
        #[serde(with = "time::serde::rfc3339")]
        counted_until: OffsetDateTime,
    },
}

impl fmt::Display for IgnoredWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoredWhy::Stale {
                commit_id: Some(sha),
            } => write!(f, "given on an older commit ({})", short_sha(sha)),
            IgnoredWhy::Stale { commit_id: None } => write!(f, "not given on any commit"),
            IgnoredWhy::NotOwner => write!(f, "not an owner of this file"),
            IgnoredWhy::Author => write!(f, "the author of this pull request"),
            IgnoredWhy::Bot => write!(f, "a bot"),
            IgnoredWhy::Pusher => write!(f, "pushed commits to this pull request"),
            IgnoredWhy::NoWriteAccess => write!(f, "no write access to the repository"),
            IgnoredWhy::WriteAccessUnknown => write!(f, "write access to the repository unknown"),
            IgnoredWhy::AfterMerge => write!(f, "given after the merge"),
            IgnoredWhy::BeforeRetarget { base_ref } => write!(
                f,
                "given before the pull request was retargeted{}",
                to_branch(base_ref)
            ),
            IgnoredWhy::UnknownTime => write!(f, "given at an unknown time"),
            IgnoredWhy::Expired { ttl_hours, .. } => write!(f, "older than {ttl_hours} hours"),
        }
    }
}

impl fmt::Display for IgnoredReview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = &self.reviewer;
        match &self.why {
            IgnoredWhy::Stale {
                commit_id: Some(sha),
            } => write!(
                f,
                "{who}'s approval was given on an older commit ({}); approve again on the \
                 current head",
                short_sha(sha)
            ),
            IgnoredWhy::Stale { commit_id: None } => write!(
                f,
                "{who}'s approval is not tied to a commit; approve again on the current head"
            ),
            IgnoredWhy::NotOwner => write!(
                f,
                "{who} is not an owner of this file, so their approval does not count"
            ),
            IgnoredWhy::Author => write!(
                f,
                "{who} opened this pull request, so their own approval does not count"
            ),
            IgnoredWhy::Bot => write!(f, "{who} is a bot, so its approval does not count"),
            IgnoredWhy::Pusher => write!(
                f,
                "{who} pushed commits to this pull request, so their approval does not count"
            ),
            IgnoredWhy::NoWriteAccess => write!(
                f,
                "{who} has no write access to this repository (GitHub requires it of code \
                 owners, directly or through an owning team), so their approval does not count"
            ),
            IgnoredWhy::WriteAccessUnknown => write!(
                f,
                "keygate could not confirm that {who} has write access to this repository, so \
                 their approval does not count"
            ),
            IgnoredWhy::AfterMerge => write!(
                f,
                "{who} approved after the pull request was merged, so the approval does not count"
            ),
            IgnoredWhy::BeforeRetarget { base_ref } => write!(
                f,
                "{who} approved before the pull request was retargeted{}; approve again",
                to_branch(base_ref)
            ),
            IgnoredWhy::UnknownTime => write!(
                f,
                "{who}'s approval has no submission time, so keygate cannot tell whether it \
                 still counts; approve again"
            ),
            IgnoredWhy::Expired {
                ttl_hours,
                counted_until,
            } => write!(
                f,
                "{who}'s approval is older than {ttl_hours} hours (it counted until {}); \
                 approve again",
                timestamp(*counted_until)
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers.

fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

fn plural<'a>(n: u32, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// "a", "a or b", "a, b or c".
fn join<T: fmt::Display>(items: &[T], last: &str) -> String {
    let names: Vec<String> = items.iter().map(ToString::to_string).collect();
    match names.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((tail, init)) => format!("{} {last} {tail}", init.join(", ")),
    }
}

/// " to main", or nothing when the branch is not known.
fn to_branch(base_ref: &str) -> String {
    if base_ref.is_empty() {
        String::new()
    } else {
        format!(" to {base_ref}")
    }
}

/// RFC 3339 in UTC, as people and the check run read times.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}
