//! The work keygate does, as the webhook edge names it and as the ledger and the workflow use
//! it. A delivery says which pull request and what happened to it; nothing else from the
//! payload is trusted later (the pull request is read again when the work runs). A secret
//! scanning alert (DESIGN §10) travels the same way: its repository (any the App is
//! installed on) and its alert number in place of a pull request's, read again through the
//! API when the work runs.

use std::fmt;

use crate::ids::{CommitSha, InstallationId, PrNumber, RepoName};

/// What happened to a pull request, as one delivery tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    Opened,
    Synchronize,
    Reopened,
    Edited,
    Closed,
    ReviewSubmitted,
    ReviewDismissed,
    /// A merge queue asks for the checks of a merge group (`merge_group` `checks_requested`).
    MergeGroupChecks,
    /// GitHub's secret scanning found a secret (DESIGN §10).
    SecretAlertCreated,
    /// A secret scanning alert was reopened.
    SecretAlertReopened,
    /// A secret scanning alert's secret was found in a public place.
    SecretAlertPublic,
}

/// What keygate does about an activity. Deliveries of one kind for one pull request do the
/// same work (each reads the pull request afresh), so a burst of them can be coalesced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// Refresh the check run (and send a `requested` notice for a new request).
    Refresh,
    /// The pull request was closed: issue on merge, announce a rejection otherwise.
    Settle,
    /// Judge a merge group for its check run (DESIGN §4, merge queues). Never coalesced:
    /// each group has its own head commit to report on.
    Group,
    /// A secret scanning alert: deactivate the key it names, if keygate issued it.
    Contain,
}

const ACTIVITIES: [(Activity, &str, &str); 11] = [
    (Activity::Opened, "pull_request", "opened"),
    (Activity::Synchronize, "pull_request", "synchronize"),
    (Activity::Reopened, "pull_request", "reopened"),
    (Activity::Edited, "pull_request", "edited"),
    (Activity::Closed, "pull_request", "closed"),
    (
        Activity::ReviewSubmitted,
        "pull_request_review",
        "submitted",
    ),
    (
        Activity::ReviewDismissed,
        "pull_request_review",
        "dismissed",
    ),
    (
        Activity::MergeGroupChecks,
        "merge_group",
        "checks_requested",
    ),
    (
        Activity::SecretAlertCreated,
        "secret_scanning_alert",
        "created",
    ),
    (
        Activity::SecretAlertReopened,
        "secret_scanning_alert",
        "reopened",
    ),
    (
        Activity::SecretAlertPublic,
        "secret_scanning_alert",
        "publicly_leaked",
    ),
];

impl Activity {
    /// The activity a delivery's `X-GitHub-Event` and `action` name, if keygate handles it.
    pub fn from_event(event: &str, action: &str) -> Option<Activity> {
        ACTIVITIES
            .iter()
            .find(|(_, e, a)| *e == event && *a == action)
            .map(|(activity, _, _)| *activity)
    }

    fn names(self) -> (&'static str, &'static str) {
        ACTIVITIES
            .iter()
            .find(|(activity, _, _)| *activity == self)
            .map(|(_, e, a)| (*e, *a))
            .unwrap_or(("pull_request", "opened"))
    }

    /// GitHub's event name (`pull_request`, `pull_request_review`).
    pub fn event(self) -> &'static str {
        self.names().0
    }

    /// GitHub's action name (`opened`, `submitted`, …).
    pub fn action(self) -> &'static str {
        self.names().1
    }

    pub fn work(self) -> Work {
        match self {
            Activity::Closed => Work::Settle,
            Activity::MergeGroupChecks => Work::Group,
            Activity::SecretAlertCreated
            | Activity::SecretAlertReopened
            | Activity::SecretAlertPublic => Work::Contain,
            _ => Work::Refresh,
        }
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.event(), self.action())
    }
}

impl Work {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Work::Refresh => "activity",
            Work::Settle => "closed",
            Work::Group => "group",
            Work::Contain => "leak",
        }
    }
}

/// What an SNS notice announces: its `event` message attribute (DESIGN §3.6), on which
/// subscribers filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeEvent {
    Requested,
    Issued,
    Failed,
    Refused,
    Rejected,
    /// A key's expiry is `lifecycle.warn_days` away (DESIGN §5).
    Expiring,
    /// A key reached its expiry and was deactivated.
    Expired,
    /// A key was revoked: by a merged deletion of its request file, or by an operator.
    Revoked,
    /// A key was rotated in place: its secret holds a new key (DESIGN §10).
    Rotated,
    /// A key AWS has not seen used for `lifecycle.unused_days`: warned, or deactivated.
    Unused,
    /// A key was reported leaked and deactivated at once.
    Leaked,
}

impl NoticeEvent {
    /// Every event, in the order the documentation lists them.
    pub const ALL: [NoticeEvent; 8] = [
        NoticeEvent::Requested,
        NoticeEvent::Issued,
        NoticeEvent::Failed,
        NoticeEvent::Refused,
        NoticeEvent::Rejected,
        NoticeEvent::Expiring,
        NoticeEvent::Expired,
        NoticeEvent::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Requested => "requested",
            NoticeEvent::Issued => "issued",
            NoticeEvent::Failed => "failed",
            NoticeEvent::Refused => "refused",
            NoticeEvent::Rejected => "rejected",
            NoticeEvent::Expiring => "expiring",
            NoticeEvent::Expired => "expired",
            NoticeEvent::Revoked => "revoked",
            NoticeEvent::Rotated => "rotated",
            NoticeEvent::Unused => "unused",
            NoticeEvent::Leaked => "leaked",
        }
    }
}

impl fmt::Display for NoticeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sent a delivery. GitHub authenticates it, unlike a commit's author: the sender of a
/// `synchronize` pushed to the pull request, so their approval must never count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub id: u64,
    pub login: String,
}

/// One delivery's meaning: which pull request, through which installation, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrEvent {
    pub repository: RepoName,
    pub installation: InstallationId,
    pub pr: PrNumber,
    pub activity: Activity,
    pub sender: Option<Sender>,
    /// For a merged pull request, the merge commit the delivery names: a hint that lets the
    /// work read the merge commit alongside the pull request, checked against the pull
    /// request as read again (never trusted on its own).
    pub merge_commit: Option<CommitSha>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_activity_round_trips_through_githubs_names() {
        for (activity, event, action) in ACTIVITIES {
            assert_eq!(Activity::from_event(event, action), Some(activity));
            assert_eq!((activity.event(), activity.action()), (event, action));
        }
        assert_eq!(Activity::from_event("pull_request", "labeled"), None);
        assert_eq!(Activity::from_event("issues", "opened"), None);
    }

    #[test]
    fn only_a_closed_pull_request_settles() {
        assert_eq!(Activity::Closed.work(), Work::Settle);
        assert_eq!(Activity::ReviewSubmitted.work(), Work::Refresh);
    }
}
