//! The approval decision (DESIGN §2, points 3–5), as a pure function over plain data.
//!
//! The caller fetches everything first — the pull request's reviews, head and commits, the
//! owners of each request file from the base branch's CODEOWNERS, and the answers to
//! [`membership_queries`] — then calls [`decide`]. Nothing here does I/O, so every rule is
//! tested with plain structs and the same code serves the check run and the merge.
//!
//! Everything fails closed: a file without owners, an approval not given on the head commit,
//! an approver we cannot tie to an owner, or `min_approvals = 0` never lets a request through.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use crate::policy::codeowners::Owner;

// ---------------------------------------------------------------------------------------------
// Input: plain data, fetched by the caller.

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
}

/// Someone who authored or committed a commit on the pull request. Either field may be
/// missing (a commit whose e-mail is linked to no account has neither). A reviewer matching
/// the ID or the login (without regard to case) is a pusher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pusher {
    pub id: Option<u64>,
    pub login: Option<String>,
}

/// What the pull request looks like, read fresh from the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullFacts {
    pub author: Account,
    pub head_sha: String,
    /// In the order GitHub lists them (chronological): the latest review decides.
    pub reviews: Vec<Review>,
    /// Everyone who authored or committed commits on the pull request (from the PR commits
    /// list); these never count as approvers.
    pub pushers: Vec<Pusher>,
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

fn membership_key(org: &str, slug: &str, login: &str) -> (String, String, String) {
    (
        org.to_ascii_lowercase(),
        slug.to_ascii_lowercase(),
        login.to_ascii_lowercase(),
    )
}

/// The approval policy (`[policy]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApprovalRules {
    pub min_approvals: u32,
}

impl ApprovalRules {
    /// Approvals each file needs. A configured `0` (or less) means 1: keygate never issues a
    /// key that nobody approved, whatever the configuration says.
    pub fn needed(&self) -> u32 {
        self.min_approvals.max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Output: the decision with its reasons.

/// The decision for a whole pull request: one entry per request file, in the given order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub files: Vec<FileDecision>,
}

impl Decision {
    /// True only when there is at least one file and every file is approved.
    pub fn approved(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(|f| f.verdict == Verdict::Approved)
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
/// approval cannot fix (author, bot, pusher, not an owner) before the one it can (stale).
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
    Pusher,
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
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The decision.

/// Decides, for every request file, whether its owners approved the pull request's head.
pub fn decide(
    files: &[FileOwnership],
    facts: &PullFacts,
    memberships: &Memberships,
    rules: &ApprovalRules,
) -> Decision {
    let reviewers = effective_states(&facts.reviews);
    Decision {
        files: files
            .iter()
            .map(|file| decide_file(file, facts, &reviewers, memberships, rules.needed()))
            .collect(),
    }
}

/// The `(org, team slug, login)` memberships [`decide`] may need, lowercased and without
/// duplicates: each team among the files' owners, paired with each reviewer whose effective
/// state is APPROVED or CHANGES_REQUESTED and who is not already named on that file as a user.
/// Approvals that can never count (author, bot, pusher) are left out; stale approvals are
/// kept, so a stale owner is told to approve again and a non-owner is not.
///
/// Put each pair the API reports as an `active` membership into [`Memberships`]; nothing
/// else is needed.
pub fn membership_queries(
    files: &[FileOwnership],
    facts: &PullFacts,
) -> Vec<(String, String, String)> {
    let reviewers = effective_states(&facts.reviews);
    let mut queries = BTreeSet::new();
    for file in files {
        for reviewer in &reviewers {
            let relevant = match reviewer.state {
                ReviewState::ChangesRequested => true,
                ReviewState::Approved => exclusion(facts, reviewer.account).is_none(),
                _ => false,
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

/// A reviewer's effective state: their latest review that changes it.
struct Effective<'a> {
    account: &'a Account,
    /// APPROVED, CHANGES_REQUESTED or DISMISSED.
    state: ReviewState,
    commit_id: Option<&'a str>,
}

/// One entry per reviewer (by ID), in order of their first state-changing review; COMMENTED
/// and PENDING reviews change nothing.
fn effective_states(reviews: &[Review]) -> Vec<Effective<'_>> {
    let mut states: Vec<Effective<'_>> = Vec::new();
    for review in reviews {
        if !matches!(
            review.state,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        ) {
            continue;
        }
        let effective = Effective {
            account: &review.author,
            state: review.state,
            commit_id: review.commit_id.as_deref(),
        };
        match states.iter_mut().find(|s| s.account.id == review.author.id) {
            Some(slot) => *slot = effective,
            None => states.push(effective),
        }
    }
    states
}

fn decide_file(
    file: &FileOwnership,
    facts: &PullFacts,
    reviewers: &[Effective<'_>],
    memberships: &Memberships,
    needed: u32,
) -> FileDecision {
    let mut approved_by = Vec::new();
    let mut blocked_by = Vec::new();
    let mut ignored = Vec::new();

    for reviewer in reviewers {
        let account = reviewer.account;
        let is_owner = owns(&file.owners, account, memberships);
        match reviewer.state {
            // An owner's objection blocks whoever they are and whichever commit it was on:
            // it stays until they approve or the review is dismissed.
            ReviewState::ChangesRequested if is_owner => blocked_by.push(account.clone()),
            ReviewState::Approved => {
                let why = exclusion(facts, account)
                    .or_else(|| (!is_owner).then_some(IgnoredWhy::NotOwner))
                    .or_else(|| {
                        (!on_head(reviewer.commit_id, &facts.head_sha)).then(|| IgnoredWhy::Stale {
                            commit_id: reviewer.commit_id.map(str::to_owned),
                        })
                    });
                match why {
                    Some(why) => ignored.push(IgnoredReview {
                        reviewer: account.clone(),
                        why,
                    }),
                    None => approved_by.push(account.clone()),
                }
            }
            _ => {}
        }
    }

    let approvals = u32::try_from(approved_by.len()).unwrap_or(u32::MAX);
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
        approved_by,
        needed,
        blocked_by,
        ignored,
        verdict,
    }
}

/// Why this account's approval can never count on this pull request, whatever the file.
fn exclusion(facts: &PullFacts, account: &Account) -> Option<IgnoredWhy> {
    if account.id == facts.author.id {
        Some(IgnoredWhy::Author)
    } else if account.is_bot_account() {
        Some(IgnoredWhy::Bot)
    } else if is_pusher(&facts.pushers, account) {
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

fn on_head(commit_id: Option<&str>, head_sha: &str) -> bool {
    !head_sha.is_empty() && commit_id.is_some_and(|c| c.eq_ignore_ascii_case(head_sha))
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

fn owners_as_text<S: Serializer>(owners: &[Owner], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(owners.iter().map(ToString::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- The cast and a tiny story DSL ---------------------------------------------------------

    const HEAD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    const OLDER: &str = "abc1234def5678abc1234def5678abc1234def56";
    const PATH: &str = "requests/deploy-bot/ci.toml";
    const OTHER: &str = "requests/reporting/etl.toml";

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
        rules: ApprovalRules,
    }

    /// A pull request opened by `author` whose head is `HEAD`, with no files or reviews yet.
    fn pr_by(author: Account) -> Story {
        Story {
            files: Vec::new(),
            facts: PullFacts {
                author,
                head_sha: HEAD.to_owned(),
                reviews: Vec::new(),
                pushers: Vec::new(),
            },
            memberships: Memberships::new(),
            rules: ApprovalRules { min_approvals: 1 },
        }
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
            });
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
        fn decide(&self) -> Decision {
            decide(&self.files, &self.facts, &self.memberships, &self.rules)
        }
        fn queries(&self) -> Vec<(String, String, String)> {
            membership_queries(&self.files, &self.facts)
        }
    }

    fn file<'d>(decision: &'d Decision, path: &str) -> &'d FileDecision {
        decision.files.iter().find(|f| f.path == path).unwrap()
    }

    fn only(decision: &Decision) -> &FileDecision {
        assert_eq!(decision.files.len(), 1, "{decision:?}");
        &decision.files[0]
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
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves(&bob())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Approved);
        assert_eq!(logins(&f.approved_by), ["bob"]);
        assert!(f.ignored.is_empty());
        assert!(decision.approved());
    }

    // -- Rule 2: only approvals on the head count ------------------------------------------------

    #[test]
    fn approval_on_older_commit_does_not_count() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves_on(&bob(), Some(OLDER))
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert_eq!(
            f.ignored,
            [ignored(
                bob(),
                IgnoredWhy::Stale {
                    commit_id: Some(OLDER.to_owned())
                }
            )]
        );
        assert!(!decision.approved());
    }

    #[test]
    fn approval_without_a_commit_is_stale() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves_on(&bob(), None)
            .decide();

        let f = only(&decision);
        assert_eq!(
            f.ignored,
            [ignored(bob(), IgnoredWhy::Stale { commit_id: None })]
        );
        assert!(!decision.approved());
    }

    #[test]
    fn approval_again_on_head_replaces_a_stale_one() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves_on(&bob(), Some(OLDER))
            .approves(&bob())
            .decide();

        assert!(decision.approved());
        assert!(only(&decision).ignored.is_empty());
    }

    #[test]
    fn unknown_head_matches_no_approval() {
        let mut story = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves_on(&bob(), Some(""));
        story.facts.head_sha = String::new();

        assert!(!story.decide().approved());
    }

    // -- Rule 1: effective state -----------------------------------------------------------------

    #[test]
    fn later_dismissal_removes_earlier_approval() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves(&bob())
            .review_dismissed(&bob())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert!(f.approved_by.is_empty());
        assert!(
            f.ignored.is_empty(),
            "a dismissed review is no approval at all"
        );
    }

    #[test]
    fn dismissal_lifts_a_request_for_changes() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .requests_changes(&carol())
            .review_dismissed(&carol())
            .approves(&bob())
            .decide();

        assert!(decision.approved());
        assert!(only(&decision).blocked_by.is_empty());
    }

    #[test]
    fn commented_review_after_approval_keeps_approval() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves(&bob())
            .comments(&bob())
            .decide();

        assert!(decision.approved());
    }

    #[test]
    fn pending_review_after_approval_keeps_approval() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves(&bob())
            .starts_pending_review(&bob())
            .decide();

        assert!(decision.approved());
    }

    #[test]
    fn commented_review_after_changes_requested_still_blocks() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .requests_changes(&carol())
            .comments(&carol())
            .approves(&bob())
            .decide();

        assert_eq!(only(&decision).verdict, Verdict::Blocked);
    }

    #[test]
    fn only_commenting_is_not_approving() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .comments(&bob())
            .decide();

        assert_eq!(only(&decision).verdict, Verdict::Pending { missing: 1 });
        assert!(only(&decision).ignored.is_empty());
    }

    #[test]
    fn reviewer_is_identified_by_id_not_login() {
        // bob renamed himself to "robert" after approving, then requested changes.
        let robert = person(bob().id, "robert");
        let decision = pr_by(alice())
            .file(PATH, &["@robert", "@carol"])
            .approves(&bob())
            .requests_changes(&robert)
            .approves(&carol())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Blocked);
        assert_eq!(logins(&f.blocked_by), ["robert"]);
        assert_eq!(logins(&f.approved_by), ["carol"]);
    }

    // -- Rule 3: approvers must own the file -----------------------------------------------------

    #[test]
    fn approval_by_someone_who_is_not_an_owner_does_not_count() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves(&erin())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert_eq!(f.ignored, [ignored(erin(), IgnoredWhy::NotOwner)]);
    }

    #[test]
    fn user_owner_is_matched_without_regard_to_case() {
        let decision = pr_by(alice())
            .file(PATH, &["@Bob"])
            .approves(&person(2, "BOB"))
            .decide();

        assert!(decision.approved());
    }

    #[test]
    fn team_member_approval_counts_only_when_membership_active() {
        let without = pr_by(alice())
            .file(PATH, &["@acme/security"])
            .approves(&bob());
        // The caller puts only `active` memberships in; a pending invitation is absent.
        assert_eq!(
            only(&without.decide()).ignored,
            [ignored(bob(), IgnoredWhy::NotOwner)]
        );
        assert!(!without.decide().approved());

        let with = without.member_of("acme/security", &bob());
        assert!(with.decide().approved());
    }

    #[test]
    fn team_membership_is_compared_without_regard_to_case() {
        let decision = pr_by(alice())
            .file(PATH, &["@ACME/Security"])
            .member_of("acme/security", &person(2, "BOB"))
            .approves(&bob())
            .decide();

        assert!(decision.approved());
    }

    #[test]
    fn membership_of_another_team_does_not_count() {
        let decision = pr_by(alice())
            .file(PATH, &["@acme/security"])
            .member_of("acme/platform", &bob())
            .member_of("other/security", &bob())
            .approves(&bob())
            .decide();

        assert!(!decision.approved());
    }

    #[test]
    fn email_owners_never_match_an_account() {
        let decision = pr_by(alice())
            .file(PATH, &["bob@example.com"])
            .approves(&bob())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert_eq!(f.ignored, [ignored(bob(), IgnoredWhy::NotOwner)]);
    }

    // -- Rule 4: who never counts ----------------------------------------------------------------

    #[test]
    fn author_approving_own_request_does_not_count() {
        let decision = pr_by(alice())
            .file(PATH, &["@alice"])
            .approves(&alice())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert_eq!(f.ignored, [ignored(alice(), IgnoredWhy::Author)]);
    }

    #[test]
    fn author_is_recognised_by_id_even_after_a_rename() {
        let decision = pr_by(alice())
            .file(PATH, &["@alicia"])
            .approves(&person(alice().id, "alicia"))
            .decide();

        assert!(!decision.approved());
    }

    #[test]
    fn bot_approval_does_not_count() {
        let decision = pr_by(alice())
            .file(PATH, &["@dependabot[bot]"])
            .approves(&dependabot())
            .decide();

        assert_eq!(
            only(&decision).ignored,
            [ignored(dependabot(), IgnoredWhy::Bot)]
        );
        assert!(!decision.approved());
    }

    #[test]
    fn login_ending_in_bot_suffix_is_a_bot_even_without_the_type() {
        let sneaky = person(77, "Release-Helper[BOT]");
        let decision = pr_by(alice())
            .file(PATH, &["@release-helper[bot]"])
            .approves(&sneaky)
            .decide();

        assert_eq!(only(&decision).ignored, [ignored(sneaky, IgnoredWhy::Bot)]);
    }

    #[test]
    fn pusher_approval_does_not_count() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@dave"])
            .pushed_by(&alice())
            .pushed_by(&dave())
            .approves(&dave())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert_eq!(f.ignored, [ignored(dave(), IgnoredWhy::Pusher)]);
    }

    #[test]
    fn pusher_known_only_by_login_is_matched_without_regard_to_case() {
        let decision = pr_by(alice())
            .file(PATH, &["@dave"])
            .pushed_by_login_only("DAVE")
            .approves(&dave())
            .decide();

        assert_eq!(
            only(&decision).ignored,
            [ignored(dave(), IgnoredWhy::Pusher)]
        );
    }

    #[test]
    fn pusher_known_only_by_id_is_matched() {
        let mut story = pr_by(alice()).file(PATH, &["@dave"]).approves(&dave());
        story.facts.pushers.push(Pusher {
            id: Some(dave().id),
            login: None,
        });

        assert_eq!(
            only(&story.decide()).ignored,
            [ignored(dave(), IgnoredWhy::Pusher)]
        );
    }

    #[test]
    fn reason_shown_is_the_one_a_new_approval_cannot_fix() {
        // dave pushed and approved an older commit: approving again would not help.
        let decision = pr_by(alice())
            .file(PATH, &["@dave"])
            .pushed_by(&dave())
            .approves_on(&dave(), Some(OLDER))
            .decide();

        assert_eq!(
            only(&decision).ignored,
            [ignored(dave(), IgnoredWhy::Pusher)]
        );
    }

    // -- Rule 5: enough distinct owners, and no owner objecting ----------------------------------

    #[test]
    fn two_approvals_from_same_user_count_once() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .needing(2)
            .approves(&bob())
            .approves(&bob())
            .decide();

        let f = only(&decision);
        assert_eq!(logins(&f.approved_by), ["bob"]);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
    }

    #[test]
    fn min_approvals_two_needs_two_distinct_owners() {
        let story = pr_by(alice())
            .file(PATH, &["@acme/security", "@bob"])
            .member_of("acme/security", &carol())
            .needing(2)
            .approves(&bob())
            .approves(&erin());
        assert_eq!(
            only(&story.decide()).verdict,
            Verdict::Pending { missing: 1 }
        );

        let decision = story.approves(&carol()).decide();
        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Approved);
        assert_eq!(f.needed, 2);
        assert_eq!(logins(&f.approved_by), ["bob", "carol"]);
    }

    #[test]
    fn owner_named_directly_and_through_a_team_counts_once() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@acme/security"])
            .member_of("acme/security", &bob())
            .needing(2)
            .approves(&bob())
            .decide();

        assert_eq!(only(&decision).verdict, Verdict::Pending { missing: 1 });
    }

    #[test]
    fn changes_requested_by_owner_blocks_even_with_enough_approvals() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .approves(&bob())
            .requests_changes(&carol())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Blocked);
        assert_eq!(logins(&f.approved_by), ["bob"]);
        assert_eq!(logins(&f.blocked_by), ["carol"]);
        assert!(!decision.approved());
    }

    #[test]
    fn changes_requested_by_team_member_blocks() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@acme/security"])
            .member_of("acme/security", &carol())
            .approves(&bob())
            .requests_changes(&carol())
            .decide();

        assert_eq!(only(&decision).verdict, Verdict::Blocked);
    }

    #[test]
    fn changes_requested_by_non_owner_does_not_block() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .approves(&bob())
            .requests_changes(&erin())
            .decide();

        assert!(decision.approved());
        assert!(only(&decision).blocked_by.is_empty());
    }

    #[test]
    fn changes_requested_on_older_commit_still_blocks() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .requests_changes_on(&carol(), OLDER)
            .approves(&bob())
            .decide();

        assert_eq!(only(&decision).verdict, Verdict::Blocked);
    }

    #[test]
    fn changes_requested_by_an_owner_who_also_pushed_still_blocks() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@dave"])
            .pushed_by(&dave())
            .requests_changes(&dave())
            .approves(&bob())
            .decide();

        assert_eq!(only(&decision).verdict, Verdict::Blocked);
    }

    #[test]
    fn owner_who_approves_after_requesting_changes_unblocks() {
        let decision = pr_by(alice())
            .file(PATH, &["@carol"])
            .requests_changes(&carol())
            .approves(&carol())
            .decide();

        assert!(decision.approved());
    }

    #[test]
    fn owner_who_requests_changes_after_approving_blocks() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .approves(&bob())
            .approves(&carol())
            .requests_changes(&carol())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Blocked);
        assert_eq!(logins(&f.approved_by), ["bob"]);
    }

    // -- Rules 6 and 7: fail closed --------------------------------------------------------------

    #[test]
    fn no_owner_is_never_approved() {
        let decision = pr_by(alice())
            .file(PATH, &[])
            .approves(&bob())
            .approves(&carol())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::NoOwner);
        assert!(f.approved_by.is_empty());
        assert!(!decision.approved());
    }

    #[test]
    fn min_approvals_zero_is_treated_as_one() {
        let story = pr_by(alice()).file(PATH, &["@bob"]).needing(0);

        let f = only(&story.decide()).clone();
        assert_eq!(f.needed, 1);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
        assert!(story.approves(&bob()).decide().approved());
    }

    #[test]
    fn decision_without_files_is_not_approved() {
        let decision = pr_by(alice()).approves(&bob()).decide();

        assert!(decision.files.is_empty());
        assert!(!decision.approved());
    }

    // -- Several files ---------------------------------------------------------------------------

    #[test]
    fn each_file_judged_by_its_own_owners() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .file(OTHER, &["@carol"])
            .approves(&bob())
            .decide();

        assert_eq!(file(&decision, PATH).verdict, Verdict::Approved);
        let other = file(&decision, OTHER);
        assert_eq!(other.verdict, Verdict::Pending { missing: 1 });
        assert_eq!(other.ignored, [ignored(bob(), IgnoredWhy::NotOwner)]);
        assert!(!decision.approved());
    }

    #[test]
    fn changes_requested_blocks_only_the_files_the_reviewer_owns() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .file(OTHER, &["@bob"])
            .approves(&bob())
            .requests_changes(&carol())
            .decide();

        assert_eq!(file(&decision, PATH).verdict, Verdict::Blocked);
        assert_eq!(file(&decision, OTHER).verdict, Verdict::Approved);
        assert!(!decision.approved());
    }

    #[test]
    fn all_files_approved_approves_the_decision_and_lists_approvers_once() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .file(OTHER, &["@carol", "@acme/security"])
            .member_of("acme/security", &bob())
            .needing(2)
            .approves(&bob())
            .approves(&carol())
            .decide();

        assert_eq!(file(&decision, PATH).verdict, Verdict::Approved);
        assert_eq!(file(&decision, OTHER).verdict, Verdict::Approved);
        assert!(decision.approved());
        assert_eq!(logins(&decision.approvers()), ["bob", "carol"]);
    }

    // -- membership_queries ----------------------------------------------------------------------

    #[test]
    fn membership_queries_ask_only_about_teams_and_reviewers_who_decide() {
        let story = pr_by(alice())
            .file(PATH, &["@acme/security", "@zed", "ops@example.com"])
            .pushed_by(&dave())
            .approves(&bob()) // asked
            .requests_changes(&carol()) // asked: may block
            .comments(&erin()) // no state
            .approves(&person(6, "frank"))
            .review_dismissed(&person(6, "frank")) // dismissed
            .approves(&alice()) // author: never counts
            .approves(&dependabot()) // bot: never counts
            .approves(&dave()); // pusher: never counts

        assert_eq!(
            story.queries(),
            [
                query("acme", "security", "bob"),
                query("acme", "security", "carol")
            ]
        );
    }

    #[test]
    fn membership_queries_include_stale_approvals_and_owners_who_pushed_but_object() {
        let story = pr_by(alice())
            .file(PATH, &["@acme/security"])
            .pushed_by(&dave())
            .approves_on(&bob(), Some(OLDER))
            .requests_changes(&dave());

        assert_eq!(
            story.queries(),
            [
                query("acme", "security", "bob"),
                query("acme", "security", "dave")
            ]
        );
    }

    #[test]
    fn membership_queries_are_lowercased_and_deduplicated_across_files() {
        let story = pr_by(alice())
            .file(PATH, &["@Acme/Security", "@acme/platform"])
            .file(OTHER, &["@acme/security"])
            .approves(&person(2, "Bob"));

        assert_eq!(
            story.queries(),
            [
                query("acme", "platform", "bob"),
                query("acme", "security", "bob")
            ]
        );
    }

    #[test]
    fn membership_queries_skip_reviewers_named_directly_on_that_file() {
        let story = pr_by(alice())
            .file(PATH, &["@bob", "@acme/security"])
            .file(OTHER, &["@acme/platform"])
            .approves(&bob());

        assert_eq!(story.queries(), [query("acme", "platform", "bob")]);
    }

    #[test]
    fn membership_queries_are_empty_without_team_owners() {
        let story = pr_by(alice())
            .file(PATH, &["@bob", "ops@example.com"])
            .file(OTHER, &[])
            .approves(&bob())
            .approves(&carol());

        assert!(story.queries().is_empty());
    }

    #[test]
    fn answering_only_the_queries_decides_as_knowing_every_membership_would() {
        let everything = pr_by(alice())
            .file(PATH, &["@acme/security", "@bob"])
            .file(OTHER, &["@acme/platform"])
            .needing(2)
            .member_of("acme/security", &carol())
            .member_of("acme/security", &dave())
            .member_of("acme/platform", &erin())
            .member_of("acme/platform", &bob())
            .member_of("acme/platform", &alice())
            .approves(&bob())
            .approves(&carol())
            .approves(&alice())
            .approves(&erin())
            .approves_on(&dave(), Some(OLDER));

        let answered: Memberships = everything
            .queries()
            .into_iter()
            .filter(|(org, slug, login)| everything.memberships.contains(org, slug, login))
            .collect();
        assert!(answered.len() < everything.memberships.len());

        let from_answers = decide(
            &everything.files,
            &everything.facts,
            &answered,
            &everything.rules,
        );
        assert_eq!(from_answers, everything.decide());
    }

    // -- Explanations ----------------------------------------------------------------------------

    #[test]
    fn pending_explains_how_many_approvals_and_from_whom() {
        let decision = pr_by(alice())
            .file(PATH, &["@acme/security", "@alice"])
            .decide();
        assert_eq!(
            only(&decision).explain(),
            "needs 1 more approval from @acme/security or @alice"
        );

        let decision = pr_by(alice())
            .file(
                PATH,
                &["@bob", "@carol", "@acme/security", "ops@example.com"],
            )
            .needing(2)
            .decide();
        assert_eq!(
            only(&decision).explain(),
            "needs 2 more approvals from @bob, @carol or @acme/security"
        );
    }

    #[test]
    fn email_only_owners_explain_that_nobody_can_approve() {
        let decision = pr_by(alice())
            .file(PATH, &["ops@example.com", "sec@example.com"])
            .decide();

        assert_eq!(
            only(&decision).explain(),
            "can never be approved: its only owners (ops@example.com and sec@example.com) are \
             e-mail addresses, which keygate cannot match to GitHub accounts; name a @user or \
             @org/team for this path in CODEOWNERS on the base branch"
        );
    }

    #[test]
    fn approved_blocked_and_no_owner_explain_themselves() {
        let approved = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .needing(2)
            .approves(&bob())
            .approves(&carol())
            .decide();
        assert_eq!(only(&approved).explain(), "approved by @bob and @carol");

        let blocked = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .approves(&bob())
            .requests_changes(&carol())
            .decide();
        assert_eq!(
            only(&blocked).explain(),
            "@carol requested changes; this blocks the request until they approve or the review \
             is dismissed"
        );

        let two_blocking = pr_by(alice())
            .file(PATH, &["@bob", "@carol"])
            .requests_changes(&bob())
            .requests_changes(&carol())
            .decide();
        assert_eq!(
            only(&two_blocking).explain(),
            "@bob and @carol requested changes; this blocks the request until each approves or \
             the review is dismissed"
        );

        let no_owner = pr_by(alice()).file(PATH, &[]).decide();
        assert_eq!(
            only(&no_owner).explain(),
            "no owner in CODEOWNERS: add a line for this path on the base branch"
        );
    }

    #[test]
    fn ignored_approvals_explain_why_they_did_not_count() {
        let sentence = |who: Account, why: IgnoredWhy| ignored(who, why).to_string();

        assert_eq!(
            sentence(
                bob(),
                IgnoredWhy::Stale {
                    commit_id: Some(OLDER.to_owned())
                }
            ),
            "@bob's approval was given on an older commit (abc1234); approve again on the \
             current head"
        );
        assert_eq!(
            sentence(bob(), IgnoredWhy::Stale { commit_id: None }),
            "@bob's approval is not tied to a commit; approve again on the current head"
        );
        assert_eq!(
            sentence(dave(), IgnoredWhy::Pusher),
            "@dave pushed commits to this pull request, so their approval does not count"
        );
        assert_eq!(
            sentence(alice(), IgnoredWhy::Author),
            "@alice opened this pull request, so their own approval does not count"
        );
        assert_eq!(
            sentence(dependabot(), IgnoredWhy::Bot),
            "@dependabot[bot] is a bot, so its approval does not count"
        );
        assert_eq!(
            sentence(erin(), IgnoredWhy::NotOwner),
            "@erin is not an owner of this file, so their approval does not count"
        );
    }

    #[test]
    fn verdicts_and_reasons_read_as_short_phrases() {
        assert_eq!(Verdict::Approved.to_string(), "approved");
        assert_eq!(
            Verdict::Pending { missing: 2 }.to_string(),
            "needs 2 more approvals"
        );
        assert_eq!(Verdict::Blocked.to_string(), "an owner requested changes");
        assert_eq!(
            IgnoredWhy::Stale {
                commit_id: Some(OLDER.to_owned())
            }
            .to_string(),
            "given on an older commit (abc1234)"
        );
        assert_eq!(
            IgnoredWhy::Pusher.to_string(),
            "pushed commits to this pull request"
        );
    }

    #[test]
    fn decision_text_lists_each_file_and_its_ignored_approvals() {
        let decision = pr_by(alice())
            .file(PATH, &["@bob"])
            .file(OTHER, &["@carol"])
            .approves(&bob())
            .approves_on(&carol(), Some(OLDER))
            .decide();

        assert_eq!(
            decision.to_string(),
            "requests/deploy-bot/ci.toml: approved by @bob\n  \
             - @carol is not an owner of this file, so their approval does not count\n\
             requests/reporting/etl.toml: needs 1 more approval from @carol\n  \
             - @bob is not an owner of this file, so their approval does not count\n  \
             - @carol's approval was given on an older commit (abc1234); approve again on the \
             current head"
        );
        assert_eq!(
            file(&decision, OTHER).reasons(),
            [
                "needs 1 more approval from @carol",
                "@bob is not an owner of this file, so their approval does not count",
                "@carol's approval was given on an older commit (abc1234); approve again on the \
                 current head",
            ]
        );
        assert_eq!(
            Decision { files: Vec::new() }.to_string(),
            "this pull request adds no request file, so there is nothing to approve"
        );
    }

    #[test]
    fn decision_serializes_with_owners_as_text_and_tagged_verdicts() {
        let decision = pr_by(alice())
            .file(PATH, &["@acme/security", "ops@example.com"])
            .approves(&person(9, "zed"))
            .decide();

        let json = serde_json::to_value(&decision).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "files": [{
                "path": PATH,
                "owners": ["@acme/security", "ops@example.com"],
                "approved_by": [],
                "needed": 1,
                "blocked_by": [],
                "ignored": [{
                    "reviewer": { "id": 9, "login": "zed", "is_bot": false },
                    "why": "not_owner"
                }],
                "verdict": { "state": "pending", "missing": 1 }
            }]})
        );
    }

    #[test]
    fn review_state_reads_github_spelling() {
        let states: Vec<ReviewState> = serde_json::from_str(
            r#"["APPROVED","CHANGES_REQUESTED","DISMISSED","COMMENTED","PENDING"]"#,
        )
        .unwrap();
        assert_eq!(
            states,
            [
                ReviewState::Approved,
                ReviewState::ChangesRequested,
                ReviewState::Dismissed,
                ReviewState::Commented,
                ReviewState::Pending
            ]
        );
    }
}
