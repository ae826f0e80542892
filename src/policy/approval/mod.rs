//! The approval decision (DESIGN §2, points 3–5 and 7), as a pure function over plain data.
//!
//! The caller fetches everything first — the pull request's reviews, head, commits and
//! timeline, the owners of each request file from the base branch's CODEOWNERS, and the
//! answers to [`membership_queries`] and then [`permission_queries`] — then calls [`decide`]
//! with the current time. Nothing here does I/O or reads the clock, so every rule is tested
//! with plain structs and the same code serves the check run and the merge.
//!
//! Everything fails closed: a file without owners, an approval not given on the head commit,
//! an approver we cannot tie to an owner with write access, an approval whose time we cannot
//! place, or `min_approvals = 0` never lets a request through.

mod inputs;
mod outcome;

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use crate::facts::{Account, Pusher, Review, ReviewState};
use crate::policy::codeowners::Owner;
pub use inputs::{
    Access, ApprovalRules, FileOwnership, Memberships, Permission, Permissions, PullFacts,
};
use inputs::{membership_key, team_key};
pub use outcome::{CountedApproval, Decision, FileDecision, IgnoredReview, IgnoredWhy, Verdict};

/// Decides, for every request file, whether its owners approved the pull request's head.
///
/// The decision time is `facts.merged_at` once merged (what counted when it merged), else
/// `now` (the check run): the approval window is measured there.
pub fn decide(
    files: &[FileOwnership],
    facts: &PullFacts,
    access: &Access,
    rules: &ApprovalRules,
    now: OffsetDateTime,
) -> Decision {
    let reviewers = effective_states(&facts.reviews, facts.merged_at);
    let judge = Judge {
        facts,
        access,
        rules,
        decided_at: facts.merged_at.unwrap_or(now),
    };
    Decision {
        files: files
            .iter()
            .map(|file| judge.file(file, &reviewers))
            .collect(),
    }
}

/// The `(org, team slug, login)` memberships [`decide`] may need, lowercased and without
/// duplicates: each team among the files' owners, paired with each reviewer whose effective
/// state is APPROVED or CHANGES_REQUESTED (or who approved after the merge) and who is not
/// already named on that file as a user. Approvals that can never count (author, bot,
/// pusher) are left out; stale approvals are kept, so a stale owner is told to approve again
/// and a non-owner is not.
///
/// Put each pair the API reports as an `active` membership into [`Memberships`]; nothing
/// else is needed.
pub fn membership_queries(
    files: &[FileOwnership],
    facts: &PullFacts,
) -> Vec<(String, String, String)> {
    let reviewers = effective_states(&facts.reviews, facts.merged_at);
    let mut queries = BTreeSet::new();
    for file in files {
        for reviewer in &reviewers {
            let relevant = match reviewer.state {
                Some(ReviewState::ChangesRequested) => true,
                Some(ReviewState::Approved) => exclusion(facts, reviewer.account).is_none(),
                _ => reviewer.approved_late && exclusion(facts, reviewer.account).is_none(),
            };
            if !relevant || named_as_user(&file.owners, reviewer.account) {
                continue;
            }
            for owner in &file.owners {
                if let Owner::Team { org, slug } = owner {
                    queries.insert(membership_key(org, slug, &reviewer.account.login));
                }
            }
        }
    }
    queries.into_iter().collect()
}

/// Whose repository permission [`decide`] needs, once the memberships are known: the
/// accounts and teams through which an approval could count. Objections, late approvals
/// and approvals that can never count are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionQueries {
    /// Logins (lowercased) of approvers named on a file as `@user`: ask the collaborator
    /// permission of each, and put the answers in [`Permissions::insert_user`].
    pub users: Vec<String>,
    /// `(org, slug)` (lowercased) of owning teams an approver is an active member of: ask
    /// each team's permission on the repository ([`Permissions::insert_team`]; a team the
    /// repository is not shared with has [`Permission::None`]).
    pub teams: Vec<(String, String)>,
}

/// See [`PermissionQueries`]. Stale approvals are kept, so an owner without write access is
/// told so rather than asked to approve again.
pub fn permission_queries(
    files: &[FileOwnership],
    facts: &PullFacts,
    memberships: &Memberships,
) -> PermissionQueries {
    let reviewers = effective_states(&facts.reviews, facts.merged_at);
    let mut users = BTreeSet::new();
    let mut teams = BTreeSet::new();
    for file in files {
        for reviewer in &reviewers {
            let account = reviewer.account;
            if reviewer.state != Some(ReviewState::Approved) || exclusion(facts, account).is_some()
            {
                continue;
            }
            if named_as_user(&file.owners, account) {
                users.insert(account.login.to_ascii_lowercase());
            }
            for owner in &file.owners {
                if let Owner::Team { org, slug } = owner
                    && memberships.contains(org, slug, &account.login)
                {
                    teams.insert(team_key(org, slug));
                }
            }
        }
    }
    PermissionQueries {
        users: users.into_iter().collect(),
        teams: teams.into_iter().collect(),
    }
}

/// Has a pull request whose requests still wait for approval waited too long? `false` when
/// approved, or when `request_ttl_hours` is 0 (no limit). Measured at `now`, which the caller
/// passes, so the check run and its tests agree on the moment.
pub fn request_expired(
    opened_at: OffsetDateTime,
    now: OffsetDateTime,
    request_ttl_hours: u64,
    approved: bool,
) -> bool {
    !approved
        && request_ttl_hours > 0
        && after_hours(opened_at, request_ttl_hours).is_some_and(|deadline| deadline < now)
}

/// Has a pull request waited longer than `request_ttl_hours` for the approvals it needs
/// (DESIGN §2.7)? `halves` are the decisions over what it adds and what it deletes; a half
/// with no files is not there. The pull request was completed by the approval that
/// completed its last half: one completed in time is never expired, however late it merges.
/// `at` is the merge, or now before it.
pub fn pull_expired(
    opened_at: OffsetDateTime,
    halves: &[Option<&Decision>],
    at: OffsetDateTime,
    request_ttl_hours: u64,
) -> bool {
    let present: Vec<&Decision> = halves
        .iter()
        .flatten()
        .copied()
        .filter(|d| !d.files.is_empty())
        .collect();
    let completed = present
        .iter()
        .map(|d| d.approved_at())
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().max());
    let in_time =
        completed.is_some_and(|t| !request_expired(opened_at, t, request_ttl_hours, false));
    request_expired(opened_at, at, request_ttl_hours, in_time)
}

/// `at` plus `hours`; `None` when that is beyond any date (so: never).
fn after_hours(at: OffsetDateTime, hours: u64) -> Option<OffsetDateTime> {
    let seconds = i64::try_from(hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    at.checked_add(Duration::seconds(seconds))
}

/// A reviewer's effective state: their latest review that changes it.
struct Effective<'a> {
    account: &'a Account,
    /// APPROVED, CHANGES_REQUESTED or DISMISSED, from the reviews submitted by the merge;
    /// `None` when all of theirs came after it.
    state: Option<ReviewState>,
    commit_id: Option<&'a str>,
    submitted_at: Option<OffsetDateTime>,
    /// Their latest review submitted after the merge approved (only shown, never counted).
    approved_late: bool,
}

/// One entry per reviewer (by ID), in order of their first state-changing review; COMMENTED
/// and PENDING reviews change nothing, nor does anything submitted after `merged_at`.
fn effective_states(reviews: &[Review], merged_at: Option<OffsetDateTime>) -> Vec<Effective<'_>> {
    let mut states: Vec<Effective<'_>> = Vec::new();
    for review in reviews {
        if !matches!(
            review.state,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        ) {
            continue;
        }
        let index = match states.iter().position(|s| s.account.id == review.author.id) {
            Some(index) => index,
            None => {
                states.push(Effective {
                    account: &review.author,
                    state: None,
                    commit_id: None,
                    submitted_at: None,
                    approved_late: false,
                });
                states.len() - 1
            }
        };
        let slot = &mut states[index];
        let late = merged_at.is_some_and(|m| review.submitted_at.is_some_and(|t| t > m));
        if late {
            slot.approved_late = review.state == ReviewState::Approved;
        } else {
            slot.account = &review.author;
            slot.state = Some(review.state);
            slot.commit_id = review.commit_id.as_deref();
            slot.submitted_at = review.submitted_at;
        }
    }
    states
}

/// Everything one decision shares across files.
struct Judge<'a> {
    facts: &'a PullFacts,
    access: &'a Access,
    rules: &'a ApprovalRules,
    decided_at: OffsetDateTime,
}

impl Judge<'_> {
    fn file(&self, file: &FileOwnership, reviewers: &[Effective<'_>]) -> FileDecision {
        let mut counted: Vec<CountedApproval> = Vec::new();
        let mut blocked_by = Vec::new();
        let mut ignored = Vec::new();

        for reviewer in reviewers {
            let account = reviewer.account;
            let is_owner = owns(&file.owners, account, &self.access.memberships);
            match reviewer.state {
                // An owner's objection blocks whoever they are and whichever commit it was
                // on: it stays until they approve or the review is dismissed.
                Some(ReviewState::ChangesRequested) if is_owner => blocked_by.push(account.clone()),
                Some(ReviewState::Approved) => {
                    match self.why_not_counted(file, reviewer, is_owner) {
                        Some(why) => ignored.push(IgnoredReview {
                            reviewer: account.clone(),
                            why,
                        }),
                        None => counted.push(CountedApproval {
                            reviewer: account.clone(),
                            submitted_at: reviewer.submitted_at,
                            counts_until: self.counts_until(reviewer.submitted_at),
                        }),
                    }
                    continue;
                }
                _ => {}
            }
            if reviewer.approved_late {
                let why = exclusion(self.facts, account)
                    .or_else(|| (!is_owner).then_some(IgnoredWhy::NotOwner))
                    .unwrap_or(IgnoredWhy::AfterMerge);
                ignored.push(IgnoredReview {
                    reviewer: account.clone(),
                    why,
                });
            }
        }

        let needed = self.rules.needed();
        let approvals = u32::try_from(counted.len()).unwrap_or(u32::MAX);
        let verdict = if file.owners.is_empty() {
            Verdict::NoOwner
        } else if !blocked_by.is_empty() {
            Verdict::Blocked
        } else if approvals >= needed {
            Verdict::Approved
        } else {
            Verdict::Pending {
                missing: needed - approvals,
            }
        };

        FileDecision {
            path: file.path.clone(),
            owners: file.owners.clone(),
            approved_by: counted.iter().map(|c| c.reviewer.clone()).collect(),
            counted,
            needed,
            blocked_by,
            ignored,
            verdict,
        }
    }

    /// Why an approval given by the merge does not count for this file, in the order of
    /// [`IgnoredWhy`]: what approving again cannot fix first.
    fn why_not_counted(
        &self,
        file: &FileOwnership,
        reviewer: &Effective<'_>,
        is_owner: bool,
    ) -> Option<IgnoredWhy> {
        let facts = self.facts;
        if let Some(why) = exclusion(facts, reviewer.account) {
            return Some(why);
        }
        if !is_owner {
            return Some(IgnoredWhy::NotOwner);
        }
        match write_access(&file.owners, reviewer.account, self.access) {
            WriteAccess::Granted => {}
            WriteAccess::Denied => return Some(IgnoredWhy::NoWriteAccess),
            WriteAccess::Unknown => return Some(IgnoredWhy::WriteAccessUnknown),
        }
        if !on_head(reviewer.commit_id, &facts.head_sha) {
            return Some(IgnoredWhy::Stale {
                commit_id: reviewer.commit_id.map(str::to_owned),
            });
        }
        let needs_time = facts.merged_at.is_some()
            || facts.base_changed_at.is_some()
            || self.rules.approval_ttl_hours > 0;
        let Some(submitted_at) = reviewer.submitted_at else {
            return needs_time.then_some(IgnoredWhy::UnknownTime);
        };
        if facts.base_changed_at.is_some_and(|b| submitted_at <= b) {
            return Some(IgnoredWhy::BeforeRetarget {
                base_ref: facts.base_ref.clone(),
            });
        }
        match self.counts_until(Some(submitted_at)) {
            Some(until) if until < self.decided_at => Some(IgnoredWhy::Expired {
                ttl_hours: self.rules.approval_ttl_hours,
                counted_until: until,
            }),
            _ => None,
        }
    }

    /// The last moment an approval submitted at `submitted_at` counts; `None` without a limit.
    fn counts_until(&self, submitted_at: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
        match self.rules.approval_ttl_hours {
            0 => None,
            ttl => submitted_at.and_then(|at| after_hours(at, ttl)),
        }
    }
}

/// Why this account's approval can never count on this pull request, whatever the file.
fn exclusion(facts: &PullFacts, account: &Account) -> Option<IgnoredWhy> {
    if account.id == facts.author.id {
        Some(IgnoredWhy::Author)
    } else if account.is_bot_account() {
        Some(IgnoredWhy::Bot)
    } else if is_pusher(&facts.pushers, account) || is_pusher(&facts.synchronize_senders, account) {
        Some(IgnoredWhy::Pusher)
    } else {
        None
    }
}

/// A match on either the ID or the login is enough, so missing data excludes rather than
/// admits.
fn is_pusher(pushers: &[Pusher], account: &Account) -> bool {
    pushers.iter().any(|p| {
        p.id == Some(account.id)
            || p.login
                .as_deref()
                .is_some_and(|login| login.eq_ignore_ascii_case(&account.login))
    })
}

fn named_as_user(owners: &[Owner], account: &Account) -> bool {
    owners
        .iter()
        .any(|o| matches!(o, Owner::User(login) if login.eq_ignore_ascii_case(&account.login)))
}

/// E-mail owners cannot be tied to an account, so they never match.
fn owns(owners: &[Owner], account: &Account, memberships: &Memberships) -> bool {
    named_as_user(owners, account)
        || owners.iter().any(|o| match o {
            Owner::Team { org, slug } => memberships.contains(org, slug, &account.login),
            Owner::User(_) | Owner::Email(_) => false,
        })
}

enum WriteAccess {
    Granted,
    Denied,
    Unknown,
}

/// As on GitHub, an owner counts only with write access: a user named on the file with
/// write (or more) on the repository, or an active member of an owning team that has push
/// (or more). Any route that grants it is enough; an unanswered route that could have
/// granted it makes the answer unknown rather than "no".
fn write_access(owners: &[Owner], account: &Account, access: &Access) -> WriteAccess {
    let permissions = &access.permissions;
    let mut routes: Vec<Option<Permission>> = Vec::new();
    if named_as_user(owners, account) {
        routes.push(permissions.user(&account.login));
    }
    for owner in owners {
        if let Owner::Team { org, slug } = owner
            && access.memberships.contains(org, slug, &account.login)
        {
            routes.push(permissions.team(org, slug));
        }
    }
    if routes.iter().flatten().any(|p| p.can_write()) {
        WriteAccess::Granted
    } else if routes.iter().any(Option::is_none) {
        WriteAccess::Unknown
    } else {
        WriteAccess::Denied
    }
}

fn on_head(commit_id: Option<&str>, head_sha: &str) -> bool {
    !head_sha.is_empty() && commit_id.is_some_and(|c| c.eq_ignore_ascii_case(head_sha))
}

#[cfg(test)]
mod tests;
