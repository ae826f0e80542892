//! GitHub's state: accounts, repositories with their branches and commits,
//! pull requests and reviews, teams, comments, check runs, installations and
//! tokens, plus the request log. Pure data and the story operations on it.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::git::{
    Entry, FileChange, Tree, apply_changes, apply_diff, describe, diff_trees, sha1_hex,
};
use super::{ADMIN, APP_SLUG, WEB_FLOW};

mod bulk;
mod pulls;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    User,
    Bot,
    Organization,
}

impl AccountKind {
    /// The `type` field GitHub puts on an account.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "User",
            AccountKind::Bot => "Bot",
            AccountKind::Organization => "Organization",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: u64,
    pub login: String,
    pub kind: AccountKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewState {
    Approve,
    RequestChanges,
    Comment,
}

impl ReviewState {
    pub(crate) fn api_state(self) -> &'static str {
        match self {
            ReviewState::Approve => "APPROVED",
            ReviewState::RequestChanges => "CHANGES_REQUESTED",
            ReviewState::Comment => "COMMENTED",
        }
    }
}

/// One change in a commit made by a test.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    Write(&'a str, &'a str),
    Delete(&'a str),
    Rename(&'a str, &'a str),
    /// `Symlink(path, target)`: a symbolic link (git mode 120000).
    Symlink(&'a str, &'a str),
    /// `Submodule(path, commit_sha)`: a gitlink (git mode 160000).
    Submodule(&'a str, &'a str),
}

/// A commit's signature as GitHub judges it (`commit.verification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// No signature: `verified: false, reason: "unsigned"` (GitHub's default
    /// for pushed commits).
    Unsigned,
    /// Signed with a key GitHub knows for the committer: `verified: true,
    /// reason: "valid"`. GitHub signs what it commits itself (web-flow).
    Valid,
    /// Signed, but GitHub could not verify it; the reason is one of GitHub's,
    /// e.g. `"unknown_key"`, `"bad_email"`, `"unverified_email"`, `"invalid"`.
    Unverified(&'static str),
}

/// A repository role (`role_name`), lowest first: the order decides what a
/// role includes.
pub(crate) const ROLES: [&str; 5] = ["read", "triage", "write", "maintain", "admin"];

/// How [`GitHub::merge_with`] merges a pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub path: String,
    pub start_line: u64,
    pub end_line: u64,
    pub level: String,
    pub message: String,
    pub title: Option<String>,
    pub raw_details: Option<String>,
}

/// What a test sees of a check run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRunView {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub annotations: Vec<Annotation>,
    /// How many times it was updated after creation.
    pub updates: usize,
}

/// What a test sees of an issue comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentView {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub edits: usize,
}

pub(crate) struct World {
    pub(crate) base_url: String,
    /// The path the REST API is served under: empty as on github.com, `/api/v3` as on
    /// GitHub Enterprise Server. `base_url` ends with it.
    pub(crate) prefix: String,
    /// One counter for every numeric ID, so IDs of different kinds never collide.
    pub(crate) next_id: u64,
    pub(crate) next_commit: u64,
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) app_bot: Account,
    pub(crate) repos: Vec<Repo>,
    pub(crate) commits: HashMap<String, Commit>,
    pub(crate) teams: BTreeMap<(String, String), Team>,
    pub(crate) comments: Vec<IssueComment>,
    pub(crate) check_runs: Vec<CheckRun>,
    pub(crate) installations: BTreeMap<u64, Installation>,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) tokens_issued: usize,
    /// The `repositories` each token request named (`None`: the whole installation).
    pub(crate) token_scopes: Vec<Option<Vec<String>>>,
    /// How far GitHub's clock is ahead of keygate's (negative: behind). GitHub checks JWTs
    /// and tokens, and dates its answers (`Date`), on its own clock.
    pub(crate) skew: time::Duration,
    /// GitHub's clock stopped at this instant (it and its `Date` header), when a test set one.
    pub(crate) stopped_at: Option<OffsetDateTime>,
    pub(crate) token_lifetime: time::Duration,
    pub(crate) requests: Vec<Logged>,
    /// Added to every answer (benchmarks: GitHub is not on loopback).
    pub(crate) latency: std::time::Duration,
    pub(crate) unknown: Vec<String>,
    pub(crate) failures: Vec<Failure>,
    pub(crate) page_size_cap: Option<usize>,
    /// Added to the time of everything the world records (not to tokens).
    pub(crate) clock_offset: time::Duration,
    /// The installations' permissions when a test changed them (else GitHub's as the
    /// App manifest asks).
    pub(crate) permissions: Option<serde_json::Value>,
    /// The required status checks of the protected default branch (`None`: unprotected).
    pub(crate) required_checks: Option<Vec<String>>,
    /// Secret scanning alerts, in every repository.
    pub(crate) secret_alerts: Vec<super::secret_scanning::SecretAlert>,
}

pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) owner: Account,
    pub(crate) name: String,
    pub(crate) default_branch: String,
    pub(crate) branches: BTreeMap<String, String>,
    pub(crate) pulls: BTreeMap<u64, Pull>,
    pub(crate) next_number: u64,
    pub(crate) created_at: OffsetDateTime,
    /// Lower-case login → role (`ROLES` or `none`); others have `write`.
    pub(crate) user_roles: BTreeMap<String, &'static str>,
    /// (org, slug) lower-case → team permission (`pull` … `admin`) or none;
    /// others have `push`.
    pub(crate) team_roles: BTreeMap<(String, String), Option<&'static str>>,
}

impl Repo {
    pub(crate) fn full_name(&self) -> String {
        format!("{}/{}", self.owner.login, self.name)
    }

    pub(crate) fn pull(&self, n: u64) -> &Pull {
        self.pulls
            .get(&n)
            .unwrap_or_else(|| panic!("{} has no PR #{n}", self.full_name()))
    }

    pub(crate) fn pull_mut(&mut self, n: u64) -> &mut Pull {
        let name = self.full_name();
        self.pulls
            .get_mut(&n)
            .unwrap_or_else(|| panic!("{name} has no PR #{n}"))
    }
}

pub(crate) struct Commit {
    pub(crate) sha: String,
    pub(crate) seq: u64,
    pub(crate) parents: Vec<String>,
    pub(crate) tree: Tree,
    pub(crate) author: Account,
    pub(crate) committer: Account,
    pub(crate) message: String,
    /// When it was committed.
    pub(crate) date: OffsetDateTime,
    /// When it was authored: a rebase keeps the original's, as git does.
    pub(crate) author_date: OffsetDateTime,
    pub(crate) signature: Signature,
}

pub(crate) struct Pull {
    pub(crate) id: u64,
    pub(crate) number: u64,
    pub(crate) author: Account,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) open: bool,
    pub(crate) draft: bool,
    pub(crate) merged: bool,
    pub(crate) merged_at: Option<OffsetDateTime>,
    pub(crate) merged_by: Option<Account>,
    pub(crate) closed_at: Option<OffsetDateTime>,
    pub(crate) closed_by: Option<Account>,
    pub(crate) merge_commit_sha: Option<String>,
    pub(crate) head_ref: String,
    pub(crate) head_sha: String,
    pub(crate) previous_head: Option<String>,
    /// Who pushed the head last, when a push made it: the `synchronize` delivery's sender,
    /// whoever the commit names as its author.
    pub(crate) pushed_by: Option<Account>,
    pub(crate) base_ref: String,
    pub(crate) base_sha: String,
    /// Where the branch left the base: files are diffed from here (three-dot).
    pub(crate) merge_base: String,
    pub(crate) commits: Vec<String>,
    pub(crate) reviews: Vec<Review>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    /// What the timeline lists, in the order it happened.
    pub(crate) timeline: Vec<TimelineItem>,
    /// A test's stand-in for GitHub's 3,000-file cap on the files list.
    pub(crate) files_cap: Option<usize>,
}

/// One entry of a pull request's timeline; commits, reviews and comments
/// are rendered from their own records so they stay current.
pub(crate) enum TimelineItem {
    Committed(String),
    Reviewed(u64),
    Commented(u64),
    Event(IssueEvent),
}

/// An issue event (`closed`, `merged`, `base_ref_changed`, …).
pub(crate) struct IssueEvent {
    pub(crate) id: u64,
    pub(crate) event: &'static str,
    pub(crate) actor: Account,
    pub(crate) commit_id: Option<String>,
    pub(crate) created_at: OffsetDateTime,
}

pub(crate) struct Review {
    pub(crate) id: u64,
    pub(crate) user: Account,
    pub(crate) state: &'static str,
    pub(crate) commit_id: String,
    pub(crate) body: String,
    pub(crate) submitted_at: OffsetDateTime,
    pub(crate) dismissed_by: Option<Account>,
}

pub(crate) struct Team {
    pub(crate) id: u64,
    pub(crate) org: String,
    pub(crate) slug: String,
    /// Lower-case login → `active` | `pending`.
    pub(crate) members: BTreeMap<String, &'static str>,
}

pub(crate) struct IssueComment {
    pub(crate) id: u64,
    pub(crate) repo: String,
    pub(crate) issue: u64,
    pub(crate) body: String,
    pub(crate) user: Account,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) edits: usize,
}

#[derive(Clone)]
pub(crate) struct CheckRun {
    pub(crate) id: u64,
    pub(crate) repo: String,
    pub(crate) name: String,
    pub(crate) head_sha: String,
    pub(crate) status: String,
    pub(crate) conclusion: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) details_url: Option<String>,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) completed_at: Option<OffsetDateTime>,
    pub(crate) title: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) annotations: Vec<Annotation>,
    pub(crate) updates: usize,
}

impl CheckRun {
    pub(crate) fn view(&self) -> CheckRunView {
        CheckRunView {
            id: self.id,
            name: self.name.clone(),
            head_sha: self.head_sha.clone(),
            status: self.status.clone(),
            conclusion: self.conclusion.clone(),
            title: self.title.clone(),
            summary: self.summary.clone(),
            text: self.text.clone(),
            annotations: self.annotations.clone(),
            updates: self.updates,
        }
    }
}

pub(crate) struct Installation {
    pub(crate) id: u64,
    pub(crate) account: Account,
    pub(crate) created_at: OffsetDateTime,
}

pub(crate) struct Token {
    pub(crate) installation: u64,
    pub(crate) expires_at: OffsetDateTime,
}

pub(crate) struct Logged {
    pub(crate) method: String,
    pub(crate) path_query: String,
    pub(crate) status: u16,
    pub(crate) started: std::time::Instant,
    pub(crate) finished: std::time::Instant,
}

pub(crate) struct Failure {
    pub(crate) method: String,
    pub(crate) path_prefix: String,
    pub(crate) status: u16,
}

impl World {
    pub(crate) fn new(base_url: String, prefix: &str) -> World {
        let mut world = World {
            base_url: format!("{base_url}{prefix}"),
            prefix: prefix.to_string(),
            next_id: 1000,
            next_commit: 0,
            accounts: BTreeMap::new(),
            app_bot: Account {
                id: 0,
                login: String::new(),
                kind: AccountKind::Bot,
            },
            repos: Vec::new(),
            commits: HashMap::new(),
            teams: BTreeMap::new(),
            comments: Vec::new(),
            check_runs: Vec::new(),
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            tokens_issued: 0,
            token_scopes: Vec::new(),
            skew: time::Duration::ZERO,
            stopped_at: None,
            token_lifetime: time::Duration::hours(1),
            requests: Vec::new(),
            latency: std::time::Duration::ZERO,
            unknown: Vec::new(),
            failures: Vec::new(),
            page_size_cap: None,
            clock_offset: time::Duration::ZERO,
            permissions: None,
            required_checks: None,
            secret_alerts: Vec::new(),
        };
        world.app_bot = world.account(&format!("{APP_SLUG}[bot]"), AccountKind::Bot);
        world
    }

    /// What time it is on GitHub's own clock.
    pub(crate) fn github_now(&self) -> OffsetDateTime {
        self.stopped_at.unwrap_or_else(|| now() + self.skew)
    }

    /// The time GitHub records for what happens now.
    pub(crate) fn stamp(&self) -> OffsetDateTime {
        now() + self.clock_offset
    }

    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn account(&mut self, login: &str, kind: AccountKind) -> Account {
        let key = login.to_ascii_lowercase();
        if let Some(a) = self.accounts.get(&key) {
            return a.clone();
        }
        let account = Account {
            id: self.id(),
            login: login.to_string(),
            kind,
        };
        self.accounts.insert(key, account.clone());
        account
    }

    pub(crate) fn find_account(&self, login: &str) -> Option<&Account> {
        self.accounts.get(&login.to_ascii_lowercase())
    }

    // --- repositories and commits ---

    pub(crate) fn create_repo(&mut self, full_name: &str, default_branch: &str) {
        let (owner, name) = full_name
            .split_once('/')
            .unwrap_or_else(|| panic!("a repository is owner/name, not {full_name:?}"));
        let owner = match self.find_account(owner) {
            Some(a) => a.clone(),
            None => self.account(owner, AccountKind::Organization),
        };
        let admin = self.account(ADMIN, AccountKind::User);
        let mut tree = Tree::new();
        let readme = format!("# {name}\n\nAccess-key requests, approved by pull request.\n");
        tree.insert("README.md".to_string(), Entry::File(readme.into_bytes()));
        let sha = self.make_commit(vec![], tree, &admin, &admin, "Initial commit");
        let id = self.id();
        self.repos.push(Repo {
            id,
            owner,
            name: name.to_string(),
            default_branch: default_branch.to_string(),
            branches: BTreeMap::from([(default_branch.to_string(), sha)]),
            pulls: BTreeMap::new(),
            next_number: 1,
            created_at: self.stamp(),
            user_roles: BTreeMap::new(),
            team_roles: BTreeMap::new(),
        });
    }

    pub(crate) fn install(&mut self, id: u64, owner: &str) {
        let account = match self.find_account(owner) {
            Some(a) => a.clone(),
            None => self.account(owner, AccountKind::Organization),
        };
        self.installations.insert(
            id,
            Installation {
                id,
                account,
                created_at: self.stamp(),
            },
        );
    }

    pub(crate) fn find_repo(&self, full_name: &str) -> Option<usize> {
        let (owner, name) = full_name.split_once('/')?;
        self.repos.iter().position(|r| {
            r.owner.login.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name)
        })
    }

    pub(crate) fn repo(&self, full_name: &str) -> &Repo {
        let i = self
            .find_repo(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name}"));
        &self.repos[i]
    }

    pub(crate) fn repo_mut(&mut self, full_name: &str) -> &mut Repo {
        let i = self
            .find_repo(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name}"));
        &mut self.repos[i]
    }

    pub(crate) fn make_commit(
        &mut self,
        parents: Vec<String>,
        tree: Tree,
        author: &Account,
        committer: &Account,
        message: &str,
    ) -> String {
        self.make_commit_authored(parents, tree, author, committer, message, None)
    }

    /// [`Self::make_commit`], keeping an earlier author date (`authored`) as a rebase does.
    pub(crate) fn make_commit_authored(
        &mut self,
        parents: Vec<String>,
        tree: Tree,
        author: &Account,
        committer: &Account,
        message: &str,
        authored: Option<OffsetDateTime>,
    ) -> String {
        self.next_commit += 1;
        let seq = self.next_commit;
        let now = self.stamp();
        let sha = sha1_hex(format!("commit {seq}\n{}\n{message}", parents.join(" ")).as_bytes());
        self.commits.insert(
            sha.clone(),
            Commit {
                sha: sha.clone(),
                seq,
                parents,
                tree,
                author: author.clone(),
                committer: committer.clone(),
                message: message.to_string(),
                date: now,
                author_date: authored.unwrap_or(now),
                // GitHub signs the commits it makes itself.
                signature: if committer.login == WEB_FLOW {
                    Signature::Valid
                } else {
                    Signature::Unsigned
                },
            },
        );
        sha
    }

    /// A branch name, a full SHA or an unambiguous SHA prefix (7+) → SHA.
    pub(crate) fn resolve(&self, repo: &Repo, reference: &str) -> Option<String> {
        let reference = reference.strip_prefix("refs/heads/").unwrap_or(reference);
        if let Some(sha) = repo.branches.get(reference) {
            return Some(sha.clone());
        }
        if self.commits.contains_key(reference) {
            return Some(reference.to_string());
        }
        if reference.len() >= 7 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = self.commits.keys().filter(|s| s.starts_with(reference));
            if let (Some(sha), None) = (found.next(), found.next()) {
                return Some(sha.clone());
            }
        }
        None
    }

    /// A direct commit on `branch` (exact name; git refs are case-sensitive).
    pub(crate) fn commit_to(
        &mut self,
        repo: &str,
        branch: &str,
        author: &str,
        changes: &[Change<'_>],
    ) -> String {
        let author = self.account(author, AccountKind::User);
        let head = self.branch_head(repo, branch);
        let branch = branch.to_string();
        let tree = apply_changes(&self.commits[&head].tree, changes);
        let message = describe(changes);
        let sha = self.make_commit(vec![head], tree, &author, &author, &message);
        self.repo_mut(repo).branches.insert(branch, sha.clone());
        sha
    }

    pub(crate) fn branch_head(&self, repo: &str, branch: &str) -> String {
        let r = self.repo(repo);
        r.branches.get(branch).cloned().unwrap_or_else(|| {
            panic!(
                "{} has no branch {branch:?} (create_branch first)",
                r.full_name()
            )
        })
    }

    /// Creates `name` at `from` (a branch or a SHA); returns its head.
    pub(crate) fn create_branch(&mut self, repo: &str, name: &str, from: &str) -> String {
        let r = self.repo(repo);
        assert!(!r.branches.contains_key(name), "branch {name:?} exists");
        let sha = self
            .resolve(r, from)
            .unwrap_or_else(|| panic!("no branch or commit {from:?}"));
        self.repo_mut(repo)
            .branches
            .insert(name.to_string(), sha.clone());
        sha
    }

    /// The best common ancestor of two commits (what a three-dot diff starts at).
    pub(crate) fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        super::git::merge_base(a, b, |sha| {
            let c = &self.commits[sha];
            (c.seq, c.parents.clone())
        })
    }

    /// The account a login names: `…[bot]` logins are GitHub Apps' bots.
    pub(crate) fn person(&mut self, login: &str) -> Account {
        let kind = if login.ends_with("[bot]") {
            AccountKind::Bot
        } else {
            AccountKind::User
        };
        self.account(login, kind)
    }

    // --- teams and comments ---

    pub(crate) fn team_mut(&mut self, org_team: &str) -> &mut Team {
        let (org, slug) = org_team
            .split_once('/')
            .unwrap_or_else(|| panic!("a team is org/slug, not {org_team:?}"));
        if self.find_account(org).is_none() {
            self.account(org, AccountKind::Organization);
        }
        let key = (org.to_ascii_lowercase(), slug.to_ascii_lowercase());
        if !self.teams.contains_key(&key) {
            let id = self.id();
            self.teams.insert(
                key.clone(),
                Team {
                    id,
                    org: org.to_string(),
                    slug: slug.to_string(),
                    members: BTreeMap::new(),
                },
            );
        }
        self.teams.get_mut(&key).expect("just inserted")
    }

    pub(crate) fn set_membership(
        &mut self,
        org_team: &str,
        login: &str,
        state: Option<&'static str>,
    ) {
        self.account(login, AccountKind::User);
        let team = self.team_mut(org_team);
        let key = login.to_ascii_lowercase();
        match state {
            Some(s) => team.members.insert(key, s),
            None => team.members.remove(&key),
        };
    }

    pub(crate) fn add_comment(&mut self, repo: &str, pr: u64, user: Account, body: &str) -> u64 {
        let id = self.id();
        let now = self.stamp();
        let r = self.repo_mut(repo);
        let full_name = r.full_name();
        let p = r.pull_mut(pr);
        p.updated_at = now;
        p.timeline.push(TimelineItem::Commented(id));
        self.comments.push(IssueComment {
            id,
            repo: full_name,
            issue: pr,
            body: body.to_string(),
            user,
            created_at: now,
            updated_at: now,
            edits: 0,
        });
        id
    }

    pub(crate) fn is_org_member(&self, org: &str, login: &str) -> bool {
        let login = login.to_ascii_lowercase();
        self.teams
            .values()
            .any(|t| t.org.eq_ignore_ascii_case(org) && t.members.get(&login) == Some(&"active"))
    }
}
/// Now, to the second, as GitHub's timestamps are.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
}

pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("RFC 3339")
}
