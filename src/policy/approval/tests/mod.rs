//! The approval decision, told as short stories: who opened, who reviewed what, who owns it.

use time::macros::datetime;

use super::*;
use crate::facts::{Account, Pusher, Review, ReviewState};

mod access;
mod explain;
mod rules;
mod timing;

// -- The cast and a tiny story DSL ---------------------------------------------------------

const HEAD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const OLDER: &str = "abc1234def5678abc1234def5678abc1234def56";
const PATH: &str = "requests/deploy-bot/ci.toml";
const OTHER: &str = "requests/reporting/etl.toml";
/// When the stories decide, unless they say otherwise.
const NOW: OffsetDateTime = datetime!(2025-06-02 12:00 UTC);
/// When reviews are submitted, unless the story says otherwise: recent enough to count.
const EARLIER: OffsetDateTime = datetime!(2025-06-02 11:00 UTC);

fn person(id: u64, login: &str) -> Account {
    Account {
        id,
        login: login.to_owned(),
        is_bot: false,
    }
}

/// The requester.
fn alice() -> Account {
    person(1, "alice")
}
fn bob() -> Account {
    person(2, "bob")
}
fn carol() -> Account {
    person(3, "carol")
}
fn dave() -> Account {
    person(4, "dave")
}
fn erin() -> Account {
    person(5, "erin")
}
fn dependabot() -> Account {
    Account {
        id: 49_699_333,
        login: "dependabot[bot]".to_owned(),
        is_bot: true,
    }
}

/// `"@org/team"`, `"@user"` or an e-mail address, as CODEOWNERS writes them.
fn owner(text: &str) -> Owner {
    match text.strip_prefix('@') {
        Some(name) => match name.split_once('/') {
            Some((org, slug)) => Owner::Team {
                org: org.to_owned(),
                slug: slug.to_owned(),
            },
            None => Owner::User(name.to_owned()),
        },
        None => Owner::Email(text.to_owned()),
    }
}

struct Story {
    files: Vec<FileOwnership>,
    facts: PullFacts,
    memberships: Memberships,
    /// Permissions the story states; every other owner named on a file (user or team) has
    /// write access unless `permissions_unanswered` says GitHub told nothing more.
    permissions: Permissions,
    permissions_unanswered: bool,
    rules: ApprovalRules,
    now: OffsetDateTime,
}

/// A pull request opened by `author` whose head is `HEAD` and base `main`, with no files or
/// reviews yet, judged at `NOW` under the default rules (approvals count for 168 hours).
fn pr_by(author: Account) -> Story {
    Story {
        files: Vec::new(),
        facts: PullFacts {
            base_ref: "main".to_owned(),
            ..PullFacts::new(author, HEAD)
        },
        memberships: Memberships::new(),
        permissions: Permissions::new(),
        permissions_unanswered: false,
        rules: ApprovalRules::default(),
        now: NOW,
    }
}

/// alice's pull request adding `PATH`, which CODEOWNERS gives to `owners`: the opening of
/// most stories.
fn owned_by(owners: &[&str]) -> Story {
    pr_by(alice()).file(PATH, owners)
}

impl Story {
    fn file(mut self, path: &str, owners: &[&str]) -> Self {
        self.files.push(FileOwnership {
            path: path.to_owned(),
            rule_line: (!owners.is_empty()).then_some(1),
            pattern: Some("/requests/**".to_owned()),
            owners: owners.iter().map(|o| owner(o)).collect(),
        });
        self
    }
    fn review(mut self, who: &Account, state: ReviewState, commit: Option<&str>) -> Self {
        let id = 100 + self.facts.reviews.len() as u64;
        self.facts.reviews.push(Review {
            id,
            author: who.clone(),
            state,
            commit_id: commit.map(str::to_owned),
            submitted_at: Some(EARLIER),
        });
        self
    }
    /// The last review was submitted at `at` instead.
    fn submitted(mut self, at: Option<OffsetDateTime>) -> Self {
        if let Some(review) = self.facts.reviews.last_mut() {
            review.submitted_at = at;
        }
        self
    }
    fn approves(self, who: &Account) -> Self {
        self.review(who, ReviewState::Approved, Some(HEAD))
    }
    fn approves_on(self, who: &Account, commit: Option<&str>) -> Self {
        self.review(who, ReviewState::Approved, commit)
    }
    fn requests_changes(self, who: &Account) -> Self {
        self.review(who, ReviewState::ChangesRequested, Some(HEAD))
    }
    fn requests_changes_on(self, who: &Account, commit: &str) -> Self {
        self.review(who, ReviewState::ChangesRequested, Some(commit))
    }
    fn comments(self, who: &Account) -> Self {
        self.review(who, ReviewState::Commented, Some(HEAD))
    }
    fn starts_pending_review(self, who: &Account) -> Self {
        self.review(who, ReviewState::Pending, None)
    }
    fn review_dismissed(self, who: &Account) -> Self {
        self.review(who, ReviewState::Dismissed, Some(HEAD))
    }
    fn pushed_by(mut self, who: &Account) -> Self {
        self.facts.pushers.push(Pusher {
            id: Some(who.id),
            login: Some(who.login.clone()),
        });
        self
    }
    fn pushed_by_login_only(mut self, login: &str) -> Self {
        self.facts.pushers.push(Pusher {
            id: None,
            login: Some(login.to_owned()),
        });
        self
    }
    /// `team` is `"org/slug"`; the membership is active.
    fn member_of(mut self, team: &str, who: &Account) -> Self {
        let (org, slug) = team.split_once('/').unwrap();
        self.memberships.insert(org, slug, &who.login);
        self
    }
    fn needing(mut self, min_approvals: u32) -> Self {
        self.rules.min_approvals = min_approvals;
        self
    }
    fn sent_synchronize(mut self, who: &Account) -> Self {
        self.facts.synchronize_senders.push(Pusher {
            id: Some(who.id),
            login: Some(who.login.clone()),
        });
        self
    }
    fn merged_at(mut self, at: OffsetDateTime) -> Self {
        self.facts.merged_at = Some(at);
        self
    }
    fn retargeted(mut self, at: OffsetDateTime, branch: &str) -> Self {
        self.facts.base_changed_at = Some(at);
        self.facts.base_ref = branch.to_owned();
        self
    }
    fn approvals_last_hours(mut self, hours: u64) -> Self {
        self.rules.approval_ttl_hours = hours;
        self
    }
    fn judged_at(mut self, now: OffsetDateTime) -> Self {
        self.now = now;
        self
    }
    fn user_can(mut self, who: &Account, permission: Permission) -> Self {
        self.permissions.insert_user(&who.login, permission);
        self
    }
    /// `team` is `"org/slug"`.
    fn team_can(mut self, team: &str, permission: Permission) -> Self {
        let (org, slug) = team.split_once('/').unwrap();
        self.permissions.insert_team(org, slug, permission);
        self
    }
    /// GitHub told only the permissions the story stated.
    fn permissions_unanswered(mut self) -> Self {
        self.permissions_unanswered = true;
        self
    }
    fn access(&self) -> Access {
        let mut permissions = self.permissions.clone();
        if !self.permissions_unanswered {
            for owner in self.files.iter().flat_map(|f| &f.owners) {
                match owner {
                    Owner::User(login) if permissions.user(login).is_none() => {
                        permissions.insert_user(login, Permission::Write)
                    }
                    Owner::Team { org, slug } if permissions.team(org, slug).is_none() => {
                        permissions.insert_team(org, slug, Permission::Write)
                    }
                    _ => {}
                }
            }
        }
        Access {
            memberships: self.memberships.clone(),
            permissions,
        }
    }
    fn decide(&self) -> Decision {
        decide(
            &self.files,
            &self.facts,
            &self.access(),
            &self.rules,
            self.now,
        )
    }
    fn queries(&self) -> Vec<(String, String, String)> {
        membership_queries(&self.files, &self.facts)
    }
    fn permission_queries(&self) -> PermissionQueries {
        permission_queries(&self.files, &self.facts, &self.memberships)
    }
}

fn file<'d>(decision: &'d Decision, path: &str) -> &'d FileDecision {
    decision.files.iter().find(|f| f.path == path).unwrap()
}

fn only(decision: &Decision) -> &FileDecision {
    assert_eq!(decision.files.len(), 1, "{decision:?}");
    &decision.files[0]
}

/// The one file still waits for one approval, and exactly `ignoring` did not count.
fn pending_one_ignoring(decision: &Decision, ignoring: &[IgnoredReview]) {
    let f = only(decision);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 }, "{decision:?}");
    assert_eq!(f.ignored, ignoring);
}

fn logins(accounts: &[Account]) -> Vec<&str> {
    accounts.iter().map(|a| a.login.as_str()).collect()
}

fn ignored(who: Account, why: IgnoredWhy) -> IgnoredReview {
    IgnoredReview { reviewer: who, why }
}

fn query(org: &str, slug: &str, login: &str) -> (String, String, String) {
    (org.to_owned(), slug.to_owned(), login.to_owned())
}

// -- The happy path ------------------------------------------------------------------------

#[test]
fn owner_approval_on_head_approves_the_file() {
    let decision = owned_by(&["@bob"]).approves(&bob()).decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Approved);
    assert_eq!(logins(&f.approved_by), ["bob"]);
    assert!(f.ignored.is_empty());
    assert!(decision.approved());
}
