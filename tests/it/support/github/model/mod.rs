//! GitHub's state: accounts, repositories with their branches and commits,
//! pull requests and reviews, teams, comments, check runs, installations and
//! tokens, plus the request log. Pure data and the story operations on it.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::git::{FileChange, Tree, apply_changes, apply_diff, describe, diff_trees, sha1_hex};
use super::{ADMIN, APP_SLUG, WEB_FLOW};

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
}

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
    pub(crate) token_lifetime: time::Duration,
    pub(crate) requests: Vec<Logged>,
    pub(crate) unknown: Vec<String>,
    pub(crate) failures: Vec<Failure>,
    pub(crate) page_size_cap: Option<usize>,
    /// Added to the time of everything the world records (not to tokens).
    pub(crate) clock_offset: time::Duration,
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
    pub(crate) date: OffsetDateTime,
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
    pub(crate) base_ref: String,
    pub(crate) base_sha: String,
    /// Where the branch left the base: files are diffed from here (three-dot).
    pub(crate) merge_base: String,
    pub(crate) commits: Vec<String>,
    pub(crate) reviews: Vec<Review>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
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
}

pub(crate) struct Failure {
    pub(crate) method: String,
    pub(crate) path_prefix: String,
    pub(crate) status: u16,
}

impl World {
    pub(crate) fn new(base_url: String) -> World {
        let mut world = World {
            base_url,
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
            token_lifetime: time::Duration::hours(1),
            requests: Vec::new(),
            unknown: Vec::new(),
            failures: Vec::new(),
            page_size_cap: None,
            clock_offset: time::Duration::ZERO,
        };
        world.app_bot = world.account(&format!("{APP_SLUG}[bot]"), AccountKind::Bot);
        world
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
        tree.insert(
            "README.md".to_string(),
            format!("# {name}\n\nAccess-key requests, approved by pull request.\n").into_bytes(),
        );
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
        self.next_commit += 1;
        let seq = self.next_commit;
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
                date: self.stamp(),
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

    pub(crate) fn commit_to_default(
        &mut self,
        repo: &str,
        author: &str,
        changes: &[Change<'_>],
    ) -> String {
        let author = self.account(author, AccountKind::User);
        let (branch, head) = {
            let r = self.repo(repo);
            (
                r.default_branch.clone(),
                r.branches[&r.default_branch].clone(),
            )
        };
        let tree = apply_changes(&self.commits[&head].tree, changes);
        let message = describe(changes);
        let sha = self.make_commit(vec![head], tree, &author, &author, &message);
        self.repo_mut(repo).branches.insert(branch, sha.clone());
        sha
    }

    // --- pull requests ---

    pub(crate) fn open_pr(
        &mut self,
        repo: &str,
        author: &str,
        changes: &[Change<'_>],
        draft: bool,
    ) -> u64 {
        let author = self.account(author, AccountKind::User);
        let (number, base_ref, base_sha) = {
            let r = self.repo(repo);
            (
                r.next_number,
                r.default_branch.clone(),
                r.branches[&r.default_branch].clone(),
            )
        };
        let head_ref = format!("{}-patch-{number}", author.login.to_ascii_lowercase());
        let tree = apply_changes(&self.commits[&base_sha].tree, changes);
        let message = describe(changes);
        let head = self.make_commit(vec![base_sha.clone()], tree, &author, &author, &message);
        let id = self.id();
        let now = self.stamp();
        let r = self.repo_mut(repo);
        r.next_number += 1;
        r.branches.insert(head_ref.clone(), head.clone());
        r.pulls.insert(
            number,
            Pull {
                id,
                number,
                author,
                title: message,
                body: String::new(),
                open: true,
                draft,
                merged: false,
                merged_at: None,
                merged_by: None,
                closed_at: None,
                closed_by: None,
                merge_commit_sha: None,
                head_ref,
                head_sha: head.clone(),
                previous_head: None,
                base_ref,
                base_sha: base_sha.clone(),
                merge_base: base_sha,
                commits: vec![head],
                reviews: Vec::new(),
                created_at: now,
                updated_at: now,
            },
        );
        number
    }

    pub(crate) fn push(
        &mut self,
        repo: &str,
        pr: u64,
        pusher: &str,
        changes: &[Change<'_>],
    ) -> String {
        let pusher = self.account(pusher, AccountKind::User);
        let (head, base_sha) = {
            let r = self.repo(repo);
            let p = r.pull(pr);
            assert!(p.open, "PR #{pr} is closed; reopen it before pushing");
            (p.head_sha.clone(), r.branches[&p.base_ref].clone())
        };
        let tree = apply_changes(&self.commits[&head].tree, changes);
        let message = describe(changes);
        let sha = self.make_commit(vec![head.clone()], tree, &pusher, &pusher, &message);
        let now = self.stamp();
        let r = self.repo_mut(repo);
        let head_ref = {
            let p = r.pull_mut(pr);
            p.previous_head = Some(head);
            p.head_sha = sha.clone();
            p.base_sha = base_sha;
            p.commits.push(sha.clone());
            p.updated_at = now;
            p.head_ref.clone()
        };
        r.branches.insert(head_ref, sha.clone());
        sha
    }

    pub(crate) fn add_review(
        &mut self,
        repo: &str,
        pr: u64,
        reviewer: &str,
        state: ReviewState,
        commit: &str,
        body: &str,
    ) -> u64 {
        let user = self.account(reviewer, AccountKind::User);
        let id = self.id();
        let now = self.stamp();
        let p = self.repo_mut(repo).pull_mut(pr);
        p.reviews.push(Review {
            id,
            user,
            state: state.api_state(),
            commit_id: commit.to_string(),
            body: body.to_string(),
            submitted_at: now,
            dismissed_by: None,
        });
        p.updated_at = now;
        id
    }

    pub(crate) fn merge(
        &mut self,
        repo: &str,
        pr: u64,
        method: MergeMethod,
        merger: Option<&str>,
    ) -> String {
        let (p_author, head, merge_base, base_ref, title, commits) = {
            let p = self.repo(repo).pull(pr);
            assert!(p.open, "PR #{pr} is not open");
            (
                p.author.clone(),
                p.head_sha.clone(),
                p.merge_base.clone(),
                p.base_ref.clone(),
                p.title.clone(),
                p.commits.clone(),
            )
        };
        let merger = match merger {
            Some(m) => self.account(m, AccountKind::User),
            None => p_author,
        };
        let web_flow = self.account(WEB_FLOW, AccountKind::User);
        let base_head = self.repo(repo).branches[&base_ref].clone();
        let sha = match method {
            MergeMethod::Merge | MergeMethod::Squash => {
                let changes =
                    diff_trees(&self.commits[&merge_base].tree, &self.commits[&head].tree);
                let tree = apply_diff(&self.commits[&base_head].tree, &changes);
                let (parents, message) = if method == MergeMethod::Merge {
                    let head_ref = &self.repo(repo).pull(pr).head_ref;
                    let owner = &self.repo(repo).owner.login;
                    (
                        vec![base_head.clone(), head.clone()],
                        format!("Merge pull request #{pr} from {owner}/{head_ref}\n\n{title}"),
                    )
                } else {
                    (vec![base_head.clone()], format!("{title} (#{pr})"))
                };
                self.make_commit(parents, tree, &merger, &web_flow, &message)
            }
            MergeMethod::Rebase => {
                let mut tip = base_head.clone();
                let mut parent_in_pr = merge_base;
                for c in &commits {
                    let changes =
                        diff_trees(&self.commits[&parent_in_pr].tree, &self.commits[c].tree);
                    let tree = apply_diff(&self.commits[&tip].tree, &changes);
                    let (author, message) = {
                        let orig = &self.commits[c];
                        (orig.author.clone(), orig.message.clone())
                    };
                    tip = self.make_commit(vec![tip], tree, &author, &web_flow, &message);
                    parent_in_pr = c.clone();
                }
                tip
            }
        };
        let now = self.stamp();
        let r = self.repo_mut(repo);
        r.branches.insert(base_ref, sha.clone());
        let p = r.pull_mut(pr);
        p.open = false;
        p.merged = true;
        p.merged_at = Some(now);
        p.closed_at = Some(now);
        p.merged_by = Some(merger);
        p.merge_commit_sha = Some(sha.clone());
        p.base_sha = base_head;
        p.updated_at = now;
        sha
    }

    pub(crate) fn set_open(&mut self, repo: &str, pr: u64, open: bool) {
        let now = self.stamp();
        let p = self.repo_mut(repo).pull_mut(pr);
        assert!(!p.merged, "PR #{pr} is merged");
        p.open = open;
        p.closed_at = (!open).then_some(now);
        p.closed_by = (!open).then(|| p.author.clone());
        p.updated_at = now;
    }

    pub(crate) fn pull_files(&self, p: &Pull) -> Vec<FileChange> {
        diff_trees(
            &self.commits[&p.merge_base].tree,
            &self.commits[&p.head_sha].tree,
        )
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
        r.pull_mut(pr).updated_at = now;
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
