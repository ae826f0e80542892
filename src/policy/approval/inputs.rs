//! The decision's input: plain data, fetched by the caller beforehand.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::facts::{Account, Pusher, Review};
use crate::policy::codeowners::Owner;

/// What the pull request looks like, read fresh from the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullFacts {
    pub author: Account,
    pub head_sha: String,
    /// The branch the pull request targets now, for the reasons shown to people.
    pub base_ref: String,
    /// In the order GitHub lists them (chronological): the latest review decides.
    pub reviews: Vec<Review>,
    /// Everyone who authored or committed commits on the pull request (from the PR commits
    /// list); these never count as approvers.
    pub pushers: Vec<Pusher>,
    /// The `sender` of every `pull_request` `synchronize` delivery recorded for the pull
    /// request: GitHub authenticates who pushed, where commit authorship can be forged.
    /// These never count as approvers either.
    pub synchronize_senders: Vec<Pusher>,
    /// The last `base_ref_changed` event of the timeline: approvals submitted at or before it
    /// were given on another diff and do not count.
    #[serde(with = "time::serde::rfc3339::option")]
    pub base_changed_at: Option<OffsetDateTime>,
    /// When the pull request was merged; `None` before. Reviews submitted after it never
    /// count, and the approval window is measured at this moment.
    #[serde(with = "time::serde::rfc3339::option")]
    pub merged_at: Option<OffsetDateTime>,
}

impl PullFacts {
    /// A pull request by `author` at `head_sha`, with nothing else known yet.
    pub fn new(author: Account, head_sha: impl Into<String>) -> PullFacts {
        PullFacts {
            author,
            head_sha: head_sha.into(),
            base_ref: String::new(),
            reviews: Vec::new(),
            pushers: Vec::new(),
            synchronize_senders: Vec::new(),
            base_changed_at: None,
            merged_at: None,
        }
    }
}

/// The owners of one request file, as CODEOWNERS (read from the BASE commit, never the pull
/// request) decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOwnership {
    pub path: String,
    /// The CODEOWNERS line that matched (1-based), if any.
    pub rule_line: Option<usize>,
    pub pattern: Option<String>,
    #[serde(serialize_with = "owners_as_text")]
    pub owners: Vec<Owner>,
}

/// Active team memberships known at decision time, as `(org, team slug, login)`. Only
/// memberships whose `state` is `active` belong here; pending invitations do not count.
/// Compared without regard to ASCII case, as GitHub compares these names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    active: BTreeSet<(String, String, String)>,
}

impl Memberships {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `login` is an active member of `org/slug`.
    pub fn insert(&mut self, org: &str, slug: &str, login: &str) {
        self.active.insert(membership_key(org, slug, login));
    }

    pub fn contains(&self, org: &str, slug: &str, login: &str) -> bool {
        self.active.contains(&membership_key(org, slug, login))
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<(S, S, S)> for Memberships {
    fn from_iter<I: IntoIterator<Item = (S, S, S)>>(iter: I) -> Self {
        let mut memberships = Self::new();
        memberships.extend(iter);
        memberships
    }
}

impl<S: AsRef<str>> Extend<(S, S, S)> for Memberships {
    fn extend<I: IntoIterator<Item = (S, S, S)>>(&mut self, iter: I) {
        for (org, slug, login) in iter {
            self.insert(org.as_ref(), slug.as_ref(), login.as_ref());
        }
    }
}

pub(super) fn membership_key(org: &str, slug: &str, login: &str) -> (String, String, String) {
    (
        org.to_ascii_lowercase(),
        slug.to_ascii_lowercase(),
        login.to_ascii_lowercase(),
    )
}

/// A repository permission, in GitHub's order of power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// Reads GitHub's spelling: a collaborator's `role_name` or `permission` (`admin`,
    /// `maintain`, `write`, `triage`, `read`, `none`), or a team's (`push` for write, `pull`
    /// for read). Anything else is `None` here, so the caller treats it as unknown.
    pub fn from_github(name: &str) -> Option<Permission> {
        match name.to_ascii_lowercase().as_str() {
            "admin" => Some(Permission::Admin),
            "maintain" => Some(Permission::Maintain),
            "write" | "push" => Some(Permission::Write),
            "triage" => Some(Permission::Triage),
            "read" | "pull" => Some(Permission::Read),
            "none" => Some(Permission::None),
            _ => None,
        }
    }

    /// Write, maintain or admin: what GitHub requires of a code owner.
    pub fn can_write(self) -> bool {
        self >= Permission::Write
    }
}

/// Repository permissions known at decision time: of users (by login) and of teams (by
/// `org/slug`), compared without regard to ASCII case. A user or team not in here has an
/// unknown permission, and an unknown permission never lets an approval count.
/// `Default` knows nothing: nobody's approval counts until the answers are put in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    users: BTreeMap<String, Permission>,
    teams: BTreeMap<(String, String), Permission>,
}

impl Permissions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `login`'s permission on the repository (the collaborator permission API).
    pub fn insert_user(&mut self, login: &str, permission: Permission) {
        self.users.insert(login.to_ascii_lowercase(), permission);
    }

    /// Records the permission of team `org/slug` on the repository; a team the repository
    /// is not shared with has [`Permission::None`].
    pub fn insert_team(&mut self, org: &str, slug: &str, permission: Permission) {
        self.teams.insert(team_key(org, slug), permission);
    }

    pub fn user(&self, login: &str) -> Option<Permission> {
        self.users.get(&login.to_ascii_lowercase()).copied()
    }

    pub fn team(&self, org: &str, slug: &str) -> Option<Permission> {
        self.teams.get(&team_key(org, slug)).copied()
    }
}

pub(super) fn team_key(org: &str, slug: &str) -> (String, String) {
    (org.to_ascii_lowercase(), slug.to_ascii_lowercase())
}

/// What GitHub answered about the reviewers at decision time: the answers to
/// [`membership_queries`](super::membership_queries) and
/// [`permission_queries`](super::permission_queries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub memberships: Memberships,
    pub permissions: Permissions,
}

/// The approval policy (`[policy]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApprovalRules {
    pub min_approvals: u32,
    /// An approval older than this at the decision time does not count; 0 = no limit.
    pub approval_ttl_hours: u64,
    /// A pull request whose requests wait longer than this since it was opened, without
    /// being approved, is rejected; 0 = no limit. See [`request_expired`](super::request_expired).
    pub request_ttl_hours: u64,
    /// Every commit of a request pull request must carry a signature GitHub verified.
    pub require_verified_commits: bool,
}

impl Default for ApprovalRules {
    /// DESIGN §2: one approval, approvals count for a week, requests never expire, and
    /// signatures are not required.
    fn default() -> Self {
        ApprovalRules {
            min_approvals: 1,
            approval_ttl_hours: 168,
            request_ttl_hours: 0,
            require_verified_commits: false,
        }
    }
}

impl ApprovalRules {
    /// Approvals each file needs. A configured `0` (or less) means 1: keygate never issues a
    /// key that nobody approved, whatever the configuration says.
    pub fn needed(&self) -> u32 {
        self.min_approvals.max(1)
    }
}

pub(super) fn owners_as_text<S: Serializer>(
    owners: &[Owner],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(owners.iter().map(ToString::to_string))
}
