//! The life of a key after it is issued (DESIGN §5): when it is warned about, when it goes
//! inactive, when it and its secret are deleted. Pure: "now" and every fact are parameters,
//! so `serve`, `keygate sweep` and the tests compute the same plan from the same table.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ids::{AccessKeyId, IamUser};

pub mod request;
pub mod rotation;
pub mod usage;

#[cfg(test)]
mod tests;

/// How far along its life a key is. Each stage is reached by one [`Step`]; the expiry
/// stages come in this order, and `Revoked` ends a life whatever stage it was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Issued and in use.
    Active,
    /// `event=expiring` and the renewal comment went out.
    Warned,
    /// Deactivated at expiry (`event=expired`).
    Inactive,
    /// Key and secret deleted after expiry.
    Deleted,
    /// Deactivated, deleted and its secret deleted at once, by a person's decision.
    Revoked,
}

/// Stages in the order a life moves through them.
const STAGES: [Stage; 5] = [
    Stage::Active,
    Stage::Warned,
    Stage::Inactive,
    Stage::Deleted,
    Stage::Revoked,
];

/// Steps by their stored names.
const STEPS: [Step; 9] = [
    Step::Warn,
    Step::Deactivate,
    Step::Delete,
    Step::Revoke,
    Step::Retire,
    Step::WarnUnused,
    Step::DeactivateUnused,
    Step::Contain,
    Step::Rotate,
];

/// One thing done to a key, recorded in the ledger before its AWS calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// `event=expiring` and a comment on the request's pull request.
    Warn,
    /// `UpdateAccessKey` `Inactive`, `event=expired` and a comment.
    Deactivate,
    /// `DeleteAccessKey`, then `DeleteSecret`.
    Delete,
    /// `UpdateAccessKey` `Inactive`, `DeleteAccessKey`, `DeleteSecret`, `event=revoked`.
    Revoke,
    /// A rotated key's predecessor, once the overlap is over: `UpdateAccessKey` `Inactive`
    /// (DESIGN §10). Its secret holds the new key now, so it is never deleted with it.
    Retire,
    /// `event=unused` and a comment: AWS has not seen the key used for `unused_days`.
    WarnUnused,
    /// `UpdateAccessKey` `Inactive` for a key still unused `warn_days` after its warning.
    DeactivateUnused,
    /// A leaked key (DESIGN §10): `UpdateAccessKey` `Inactive` at once, `event=leaked`.
    Contain,
    /// Rotation in place (DESIGN §10): a new key as a new version of the same secret. It
    /// is a record of its own in the ledger, never a key's pending step.
    Rotate,
}

impl Step {
    /// The stage a key is in once this step is done.
    pub fn target(self) -> Stage {
        match self {
            Step::Warn => Stage::Warned,
            Step::Deactivate => Stage::Inactive,
            Step::Delete => Stage::Deleted,
            Step::Revoke => Stage::Revoked,
            Step::Retire | Step::DeactivateUnused | Step::Contain => Stage::Inactive,
            // A warning about use, or a successor, changes no stage of this key.
            Step::WarnUnused | Step::Rotate => Stage::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Warn => "warn",
            Step::Deactivate => "deactivate",
            Step::Delete => "delete",
            Step::Revoke => "revoke",
            Step::Retire => "retire",
            Step::WarnUnused => "warn-unused",
            Step::DeactivateUnused => "deactivate-unused",
            Step::Contain => "contain",
            Step::Rotate => "rotate",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        STEPS.into_iter().find(|x| x.as_str() == s)
    }
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Active => "active",
            Stage::Warned => "warned",
            Stage::Inactive => "inactive",
            Stage::Deleted => "deleted",
            Stage::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        STAGES.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a key's life stands: the last stage reached, and the step begun (recorded) whose
/// AWS calls are not confirmed yet. A crash leaves `pending` set; the next pass finishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Progress {
    pub stage: Stage,
    pub pending: Option<Step>,
}

impl Progress {
    /// A key just issued.
    pub const ACTIVE: Progress = Progress {
        stage: Stage::Active,
        pending: None,
    };

    /// Nothing is left to do: deleted or revoked, with no step half done.
    pub fn is_over(self) -> bool {
        self.pending.is_none() && matches!(self.stage, Stage::Deleted | Stage::Revoked)
    }

    /// `step` begun from here.
    pub fn begin(self, step: Step) -> Progress {
        Progress {
            stage: self.stage,
            pending: Some(step),
        }
    }

    /// `step` confirmed done.
    pub fn finish(self, step: Step) -> Progress {
        Progress {
            stage: self.stage.max(step.target()),
            pending: None,
        }
    }
}

/// The lifecycle settings the plan needs (`[lifecycle]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Days before expiry that the warning goes out; 0 = no warning.
    pub warn_days: u32,
    /// Days after expiry before key and secret are deleted; 0 = at once.
    pub delete_after_days: u32,
    /// `lifecycle.unused_days`: days without use before the unused warning; 0 = off.
    pub unused_days: u32,
}

/// How a secret is deleted: with Secrets Manager's recovery window, or at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretDeletion {
    /// Recoverable for this many days (7–30, as AWS allows).
    Recoverable(u32),
    /// `ForceDeleteWithoutRecovery`.
    Immediately,
}

impl SecretDeletion {
    /// From `lifecycle.secret_recovery_days` (checked at load: 0 or 7–30).
    pub fn from_days(days: u32) -> SecretDeletion {
        if days == 0 {
            SecretDeletion::Immediately
        } else {
            SecretDeletion::Recoverable(days)
        }
    }
}

/// One key as the plan sees it: what the ledger says and what its secret's tag says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub access_key_id: AccessKeyId,
    /// The expiry recorded at issue (`None`: unreadable or absent).
    pub ledger_expires_at: Option<OffsetDateTime>,
    /// The secret's `keygate:expires-at` tag now (`None`: no secret, no tag, or unreadable).
    pub tag_expires_at: Option<OffsetDateTime>,
    pub progress: Progress,
    /// What rotation and use say about it (DESIGN §10); all `None` for a key that neither
    /// rotates nor is watched for use.
    pub care: Care,
}

/// The facts of DESIGN §10 the plan weighs beside the expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Care {
    /// Rotated out: when its overlap ends. It is then retired (deactivated, never warned
    /// about nor announced as expired), and deleted `delete_after_days` later without its
    /// secret, which holds its successor.
    pub retires_at: Option<OffsetDateTime>,
    /// The next rotation in place, for a key of a request that rotates
    /// ([`rotation::next_rotation`]).
    pub rotates_at: Option<OffsetDateTime>,
    /// Its last use as AWS reports it, else its creation; `None` when not asked (use is
    /// not watched) or unknown.
    pub last_active: Option<OffsetDateTime>,
    /// When the unused warning went out, if it did.
    pub unused_warned_at: Option<OffsetDateTime>,
}

/// A step due now for one key, in the order it must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub access_key_id: AccessKeyId,
    pub step: Step,
    /// The key's effective expiry (`None` only for a half-done step of a key without one).
    pub expires_at: Option<OffsetDateTime>,
    /// The time the plan was made for: what the step records as its time (an unused
    /// warning's), so a pass at a chosen time is consistent with itself.
    pub now: OffsetDateTime,
}

/// The earlier of the two: a tag can shorten a key's life, never extend it.
pub fn effective_expiry(
    ledger: Option<OffsetDateTime>,
    tag: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    match (ledger, tag) {
        (Some(l), Some(t)) => Some(l.min(t)),
        (l, t) => l.or(t),
    }
}

/// An RFC 3339 time as keygate writes expiries; anything else is `None`.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

/// The steps due at `now`, key by key, each key's in the order they must run.
///
/// A step begun and not confirmed (a crash, an AWS error) comes first, whatever the time:
/// every step is safe to repeat. Then, by the effective expiry: the warning from
/// `warn_days` before it until it (a warning after the fact would be noise: `expired`
/// says it), deactivation from it, deletion from `delete_after_days` after it. A key
/// keygate was down for goes through every step it missed in one pass. A key without a
/// known expiry is never touched by time: keygate does not guess an end.
///
/// A rotated key's predecessor ends at its retirement instead (DESIGN §10); a live key is
/// rotated when its rotation is due, else warned about and deactivated when unused.
pub fn plan(keys: &[KeyFacts], now: OffsetDateTime, timing: Timing) -> Vec<Planned> {
    let mut out = Vec::new();
    for k in keys {
        let expires_at = effective_expiry(k.ledger_expires_at, k.tag_expires_at);
        let mut push = |step| {
            out.push(Planned {
                access_key_id: k.access_key_id.clone(),
                step,
                expires_at,
                now,
            })
        };
        let mut reached = k.progress.stage;
        if let Some(p) = k.progress.pending {
            push(p);
            reached = reached.max(p.target());
        }
        if reached >= Stage::Deleted {
            continue;
        }
        let end = match k.care.retires_at {
            Some(retires) => Some(expires_at.map_or(retires, |e| e.min(retires))),
            None => expires_at,
        };
        let Some(end) = end else { continue };
        let delete_from = end + time::Duration::days(i64::from(timing.delete_after_days));
        if k.care.retires_at.is_some() {
            if reached < Stage::Inactive && now >= end {
                push(Step::Retire);
            }
        } else {
            let warn_from = end - time::Duration::days(i64::from(timing.warn_days));
            if reached < Stage::Warned && now >= warn_from && now < end {
                push(Step::Warn);
            }
            if reached < Stage::Inactive && now >= end {
                push(Step::Deactivate);
            }
            if reached < Stage::Inactive
                && k.progress.pending.is_none()
                && now < end
                && let Some(step) = care_due(&k.care, end, now, timing)
            {
                push(step);
            }
        }
        if now >= delete_from {
            push(Step::Delete);
        }
    }
    out
}

/// For a live key before its end: a rotation when one is due, else what its use asks for.
fn care_due(care: &Care, end: OffsetDateTime, now: OffsetDateTime, timing: Timing) -> Option<Step> {
    if care.rotates_at.is_some_and(|r| rotation::due(r, end, now)) {
        return Some(Step::Rotate);
    }
    usage::due(care, now, timing)
}

/// Everything `[lifecycle]` says about acting on keys and on old merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleRules {
    pub timing: Timing,
    pub deletion: SecretDeletion,
    /// `lifecycle.reconcile_since`: the watermark when set, else the ledger's creation.
    pub reconcile_since: Option<OffsetDateTime>,
    /// `lifecycle.rotation_overlap_hours`: how long a rotated key's predecessor stays active.
    pub rotation_overlap_hours: u32,
}

/// The watermark (DESIGN §5, catch-up): `lifecycle.reconcile_since` when set, else when the
/// ledger was created (ms since the epoch), to the whole second: GitHub gives merge times in
/// seconds, so a merge in the second the ledger was created counts as after it.
pub fn watermark(
    reconcile_since: Option<OffsetDateTime>,
    ledger_created_ms: i64,
) -> OffsetDateTime {
    reconcile_since.unwrap_or_else(|| {
        OffsetDateTime::from_unix_timestamp(ledger_created_ms.div_euclid(1000))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

/// Whether a merge may issue: only one at or after the watermark, so installing keygate on a
/// repository with years of merged requests issues nothing old. A merge without a time
/// (GitHub always gives one) may not: keygate does not guess.
pub fn may_issue_merge(merged_at: Option<OffsetDateTime>, watermark: OffsetDateTime) -> bool {
    merged_at.is_some_and(|m| m >= watermark)
}

/// The IAM user a request path names: `<requests_dir>/<iam_user>/<name>.toml`.
pub fn iam_user_of(path: &str) -> Option<IamUser> {
    let mut parts = path.rsplit('/');
    parts.next()?;
    parts.next().filter(|u| !u.is_empty()).map(IamUser::new)
}
