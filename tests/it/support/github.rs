#![allow(dead_code)]
//! A stateful GitHub stand-in: a real HTTP server on 127.0.0.1 that speaks the
//! REST shapes keygate uses, backed by an in-memory model of GitHub (users,
//! repository contents per commit, pull requests, reviews, teams, comments,
//! check runs, the App and its installation tokens).
//!
//! Tests arrange the world through [`GitHub`] (`open_pr`, `review`, `merge`, …),
//! keygate's real client talks to [`GitHub::url`], and tests assert on what
//! GitHub now holds (`comments`, `check_runs`, `requests`). A catch-all answers
//! unknown calls with GitHub's 404 and records them; the last [`GitHub`] handle
//! to be dropped fails the test if any were made (like rust-lang/bors's mock).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngExt as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A throwaway RSA key for the test GitHub App. It protects nothing: it exists
/// so keygate's real JWT code signs and the stand-in verifies, as GitHub would.
pub const TEST_APP_PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEAzV4mOTUyZRrkggPKWCQ9M738Udb5HC3z8bPTmYOdcAZwn+S1
OUzDnhnbQl0VzXMSQaUcCOuNVmSNtuHXGJJdeDQP1g9loNeCtXE+Q6xXis24Pipo
VFb4ql8p0miGHLjPN+m2KVTPf9P5kaSVC25aJau34wa9BooF7RlCJuPNPerYZ3ON
WjvjssUNKalk+AJa3OdOXxu64+D4tORVjPNd0vjcaOYpn15ySeaTYEqb8mYIQ781
uu7BBSrqEIQIRnmZScUWOJgC8JeUgHbd3q91uHP034xsXq2nj6zDh+oV3jOhaJxW
K4+Ybf6HmX2fX3OrtBVd9YjhwmCos0146echhQIDAQABAoIBACc3mm8ERJpgF1Do
rmREj1dpKVzrg2ipMdNvNrIzGwaAhFNUVnMZwKVZZLB4nCg+mDbm88KUUMo1q4ZH
/E5Z7PV+Y6PKDus3HGPPu0crCxCbllpwuLmaXiQSxibDBRFJDXEs9TdRVcqgTSFN
35RuP1LARv5YlBJCmz0avLI2gEQZU+06lBZl138crPFQCkr3+/GlImhruS1rTENW
q7N8+fohgcgTQtAUVb5/7hxBPKeLfqCceU4USKmryH4UJS7BFSlFLeoA9lhOIDn7
OUA6n2RKHPLEgIBsTgjREHMB5nwRxPHQ2sE7JE+t8KkI8VWoSOGUPty4isTSc+4+
1ln4YOECgYEA9hyq58zy4cpxaSnWrcFWlUbPCBmCCMR9orEQMwexvHXsKidqlWmQ
+K8rSMo3lejFurg8w26dBNW1jWTLBev3yAwiheZN9/0ij35X/I3pLZSzK1zjPrKb
EECTFmJ8hQuzmfLSCNoAOtgFruG13sh5aX9e6PeeJg8CkPkEGe+6wq0CgYEA1Z5q
cV7aTgC0wxJGNxnSuIXaAcvOUMBxzfPlLGWzQDfkgM2UzYT2VAK72gQeF4LSWpfn
SyfQkG6doqwT7aeZKKPDGsfZaG1M9PgRWrWaIFCPhoqrkPGqgRzB5YUciBahzQHF
YYwbC3X5foKFvCi6/9Sr+Ys8QjVRBtZwJHALDTkCgYAYuZiR4Q0lkekC36kpm5rP
NGXoMmfV6aeViKRP/B3nCRHIylzy1cAyu6Zlkasz7EaxE4FHQP2VVsL+iXm8BpDG
EDIHsbNzjoLCV7cPMFKUubOmT5ak3dymLVaZkRthYmOQu8xOB1iukLVBdHuI/ir0
Zk9qqDXDLQ7c8adv0523oQKBgCeLX+EE0hzGfK/v3hetLBkEjkru046XUXnywGXr
nbcxoZdGd1lkV8VNjEDbqkZn7VDf9e0vvag/EedfO4EvGWcwiZmXjWOLeEeQ9IV6
QMHip+8cFI6MbifgjvRSI+n9Zo5w2X0pVohUmo8U0nT2hUd+sydK4yjOfeVqJPBZ
3XHhAoGAPlp2Fu8cwmpFH5jAjrfQSS+x845GseE0ByVwTAaZaEOT+of0Y2m1Q4IM
0JYSSQE4a9bdjPDJO5hNBRo7tHt9VxvLsUp6Gs7QDrjBP09Km1aBFvx9NJqPb/+q
dwUbaXmceRInyqfhN1imrsAKGCXXIAcCHMyYEqHHhwS2nkcpw+c=
-----END RSA PRIVATE KEY-----
";

/// The public half of [`TEST_APP_PRIVATE_KEY`], what GitHub keeps for the App.
pub const TEST_APP_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzV4mOTUyZRrkggPKWCQ9
M738Udb5HC3z8bPTmYOdcAZwn+S1OUzDnhnbQl0VzXMSQaUcCOuNVmSNtuHXGJJd
eDQP1g9loNeCtXE+Q6xXis24PipoVFb4ql8p0miGHLjPN+m2KVTPf9P5kaSVC25a
Jau34wa9BooF7RlCJuPNPerYZ3ONWjvjssUNKalk+AJa3OdOXxu64+D4tORVjPNd
0vjcaOYpn15ySeaTYEqb8mYIQ781uu7BBSrqEIQIRnmZScUWOJgC8JeUgHbd3q91
uHP034xsXq2nj6zDh+oV3jOhaJxWK4+Ybf6HmX2fX3OrtBVd9YjhwmCos0146ech
hQIDAQAB
-----END PUBLIC KEY-----
";

/// The test App's ID, slug and default repository.
pub const APP_ID: u64 = 424_242;
pub const APP_SLUG: &str = "keygate";
pub const DEFAULT_REPO: &str = "acme/access-requests";
pub const INSTALLATION_ID: u64 = 1;

/// GitHub allows `exp - iat` of at most 10 minutes; this much slack on top.
const JWT_LEEWAY_SECS: i64 = 10;
/// How far in the future `iat` may be (clock drift GitHub tolerates).
const JWT_FUTURE_IAT_SECS: i64 = 60;
/// A merged commit made through the web UI is committed by this account.
const WEB_FLOW: &str = "web-flow";
/// The account that makes direct commits to the default branch.
const ADMIN: &str = "acme-admin";

// ---------------------------------------------------------------------------
// Test-facing types
// ---------------------------------------------------------------------------

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
    fn api_state(self) -> &'static str {
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

// ---------------------------------------------------------------------------
// The handle tests hold
// ---------------------------------------------------------------------------

/// The stand-in server and its world. Cheap to clone; clones share the world.
/// Story methods act on `self.repo` (see [`GitHub::for_repo`]).
#[derive(Clone)]
pub struct GitHub {
    /// `http://127.0.0.1:PORT`: give it to keygate as `github.api_url`.
    pub url: String,
    pub app_id: u64,
    pub private_key_pem: &'static str,
    repo: String,
    state: Arc<Mutex<World>>,
    _guard: Arc<UnknownCallGuard>,
}

impl GitHub {
    /// Binds 127.0.0.1:0 and serves on the current tokio runtime. The world
    /// starts with org `acme`, repository `acme/access-requests` (branch `main`
    /// holding `README.md`) and installation 1 of the App on `acme`.
    pub async fn start() -> GitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GitHub stand-in");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(World::new(url.clone())));
        {
            let mut world = state.lock().unwrap();
            world.create_repo(DEFAULT_REPO, "main");
            world.install(INSTALLATION_ID, "acme");
        }
        let app = Router::new().fallback(serve).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("GitHub stand-in");
        });
        GitHub {
            url,
            app_id: APP_ID,
            private_key_pem: TEST_APP_PRIVATE_KEY,
            repo: DEFAULT_REPO.to_string(),
            _guard: Arc::new(UnknownCallGuard(state.clone())),
            state,
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The repository story methods act on: `"acme/access-requests"`.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    pub fn installation_id(&self) -> u64 {
        INSTALLATION_ID
    }

    /// The App's bot account, `keygate[bot]`: the author of its comments.
    pub fn app_bot(&self) -> Account {
        self.world().app_bot.clone()
    }

    /// A handle on another repository of the same world, created (with a
    /// default branch `main` holding `README.md`) if it does not exist.
    /// Installation 1 covers it when its owner is `acme`.
    pub fn for_repo(&self, full_name: &str) -> GitHub {
        let mut world = self.world();
        if world.find_repo(full_name).is_none() {
            world.create_repo(full_name, "main");
        }
        let canonical = world.repo(full_name).full_name();
        drop(world);
        GitHub {
            repo: canonical,
            ..self.clone()
        }
    }

    /// Installs the App on `owner` (all its repositories) under `id`.
    pub fn install(&self, id: u64, owner: &str) {
        self.world().install(id, owner);
    }

    // --- accounts and teams ---

    /// The user `login`, created on first use with a stable numeric ID.
    pub fn user(&self, login: &str) -> Account {
        self.world().account(login, AccountKind::User)
    }

    /// A bot account (`type: "Bot"`); pass GitHub's form, e.g. `"renovate[bot]"`.
    pub fn bot(&self, login: &str) -> Account {
        self.world().account(login, AccountKind::Bot)
    }

    /// Creates team `org/slug` if needed and makes `members` active members.
    pub fn team(&self, org_team: &str, members: &[&str]) {
        let mut world = self.world();
        for m in members {
            world.set_membership(org_team, m, Some("active"));
        }
        if members.is_empty() {
            world.team_mut(org_team);
        }
    }

    /// Invites `login` to the team: membership `state: "pending"`.
    pub fn add_pending_member(&self, org_team: &str, login: &str) {
        self.world()
            .set_membership(org_team, login, Some("pending"));
    }

    pub fn remove_member(&self, org_team: &str, login: &str) {
        self.world().set_membership(org_team, login, None);
    }

    // --- contents ---

    /// A direct commit to the default branch by `acme-admin`; returns its SHA.
    pub fn commit_to_main(&self, files: &[(&str, &str)]) -> String {
        self.commit_changes_to_main(ADMIN, &writes(files))
    }

    /// Deletes `path` on the default branch in a direct commit.
    pub fn delete_on_main(&self, path: &str) -> String {
        self.commit_changes_to_main(ADMIN, &[Change::Delete(path)])
    }

    pub fn commit_changes_to_main(&self, author: &str, changes: &[Change<'_>]) -> String {
        self.world().commit_to_default(&self.repo, author, changes)
    }

    pub fn main_head(&self) -> String {
        let world = self.world();
        let repo = world.repo(&self.repo);
        repo.branches[&repo.default_branch].clone()
    }

    /// The file at `path` as of `reference` (branch or SHA), if any.
    pub fn file_at(&self, reference: &str, path: &str) -> Option<String> {
        let world = self.world();
        let sha = world.resolve(world.repo(&self.repo), reference)?;
        let blob = world.commits[&sha].tree.get(path)?;
        Some(String::from_utf8_lossy(blob).into_owned())
    }

    // --- pull requests ---

    /// Opens a pull request from a new branch off the default branch's head,
    /// with one commit by `author` writing `files`. Returns its number.
    pub fn open_pr(&self, author: &str, files: &[(&str, &str)]) -> u64 {
        self.open_pr_with_changes(author, &writes(files))
    }

    pub fn open_pr_with_changes(&self, author: &str, changes: &[Change<'_>]) -> u64 {
        self.world().open_pr(&self.repo, author, changes, false)
    }

    /// Like [`GitHub::open_pr`], as a draft.
    pub fn open_draft_pr(&self, author: &str, files: &[(&str, &str)]) -> u64 {
        self.world()
            .open_pr(&self.repo, author, &writes(files), true)
    }

    pub fn set_title_and_body(&self, pr: u64, title: &str, body: &str) {
        let mut world = self.world();
        let now = world.stamp();
        let p = world.repo_mut(&self.repo).pull_mut(pr);
        p.title = title.to_string();
        p.body = body.to_string();
        p.updated_at = now;
    }

    /// A new head commit by `pusher`; returns the new head SHA.
    pub fn push(&self, pr: u64, pusher: &str, files: &[(&str, &str)]) -> String {
        self.push_changes(pr, pusher, &writes(files))
    }

    pub fn push_changes(&self, pr: u64, pusher: &str, changes: &[Change<'_>]) -> String {
        self.world().push(&self.repo, pr, pusher, changes)
    }

    /// A review on the pull request's current head commit; returns its ID.
    pub fn review(&self, pr: u64, reviewer: &str, state: ReviewState) -> u64 {
        let head = self.head_sha(pr);
        self.review_on(pr, reviewer, state, &head)
    }

    pub fn review_on(&self, pr: u64, reviewer: &str, state: ReviewState, commit: &str) -> u64 {
        self.world()
            .add_review(&self.repo, pr, reviewer, state, commit, "")
    }

    pub fn review_with_body(&self, pr: u64, reviewer: &str, state: ReviewState, body: &str) -> u64 {
        let head = self.head_sha(pr);
        self.world()
            .add_review(&self.repo, pr, reviewer, state, &head, body)
    }

    /// Dismisses a review as GitHub does: its state becomes `DISMISSED`.
    pub fn dismiss(&self, pr: u64, review_id: u64) {
        self.dismiss_as(pr, review_id, ADMIN);
    }

    pub fn dismiss_as(&self, pr: u64, review_id: u64, by: &str) {
        let mut world = self.world();
        let by = world.account(by, AccountKind::User);
        let now = world.stamp();
        let p = world.repo_mut(&self.repo).pull_mut(pr);
        let review = p
            .reviews
            .iter_mut()
            .find(|r| r.id == review_id)
            .unwrap_or_else(|| panic!("PR #{pr} has no review {review_id}"));
        assert!(
            matches!(review.state, "APPROVED" | "CHANGES_REQUESTED"),
            "GitHub can only dismiss an approval or a change request, not {}",
            review.state
        );
        review.state = "DISMISSED";
        review.dismissed_by = Some(by);
        p.updated_at = now;
    }

    /// Merges with a merge commit (parents: base head, PR head) by the PR's
    /// author; returns the merge commit's SHA.
    pub fn merge(&self, pr: u64) -> String {
        self.merge_with(pr, MergeMethod::Merge, None)
    }

    /// Squash-merges: one commit whose only parent is the base head.
    pub fn squash_merge(&self, pr: u64) -> String {
        self.merge_with(pr, MergeMethod::Squash, None)
    }

    /// Rebase-merges: the PR's commits replayed on the base head.
    pub fn rebase_merge(&self, pr: u64) -> String {
        self.merge_with(pr, MergeMethod::Rebase, None)
    }

    /// Merges as `merger` (default: the PR's author).
    pub fn merge_with(&self, pr: u64, method: MergeMethod, merger: Option<&str>) -> String {
        self.world().merge(&self.repo, pr, method, merger)
    }

    pub fn close(&self, pr: u64) {
        self.world().set_open(&self.repo, pr, false);
    }

    pub fn reopen(&self, pr: u64) {
        self.world().set_open(&self.repo, pr, true);
    }

    pub fn head_sha(&self, pr: u64) -> String {
        self.world().repo(&self.repo).pull(pr).head_sha.clone()
    }

    /// The head SHA before the latest push (a `synchronize` event's `before`).
    pub fn previous_head_sha(&self, pr: u64) -> Option<String> {
        self.world().repo(&self.repo).pull(pr).previous_head.clone()
    }

    pub fn merge_commit_sha(&self, pr: u64) -> Option<String> {
        self.world()
            .repo(&self.repo)
            .pull(pr)
            .merge_commit_sha
            .clone()
    }

    // --- what keygate did ---

    /// Bodies of the comments on the pull request, oldest first.
    pub fn comments(&self, pr: u64) -> Vec<String> {
        self.comment_views(pr).into_iter().map(|c| c.body).collect()
    }

    pub fn comment_views(&self, pr: u64) -> Vec<CommentView> {
        let world = self.world();
        let repo = world.repo(&self.repo).full_name();
        world
            .comments
            .iter()
            .filter(|c| c.repo == repo && c.issue == pr)
            .map(|c| CommentView {
                id: c.id,
                author: c.user.login.clone(),
                body: c.body.clone(),
                edits: c.edits,
            })
            .collect()
    }

    /// A comment by a person (not through the API), e.g. to test that
    /// keygate leaves others' comments alone.
    pub fn comment_as(&self, pr: u64, login: &str, body: &str) -> u64 {
        let mut world = self.world();
        let user = world.account(login, AccountKind::User);
        world.add_comment(&self.repo, pr, user, body)
    }

    /// Check runs on `sha`, oldest first.
    pub fn check_runs(&self, sha: &str) -> Vec<CheckRunView> {
        let world = self.world();
        let repo = world.repo(&self.repo).full_name();
        world
            .check_runs
            .iter()
            .filter(|c| c.repo == repo && c.head_sha == sha)
            .map(CheckRun::view)
            .collect()
    }

    /// Every request served: (method, path?query, status), in order.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.world()
            .requests
            .iter()
            .map(|r| (r.method.clone(), r.path_query.clone(), r.status))
            .collect()
    }

    /// Requests the stand-in does not know: `"METHOD /path?query"`.
    pub fn unknown_requests(&self) -> Vec<String> {
        self.world().unknown.clone()
    }

    /// Takes the unknown requests, so a test that expects them does not fail.
    pub fn take_unknown_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.world().unknown)
    }

    pub fn tokens_issued(&self) -> usize {
        self.world().tokens_issued
    }

    /// Makes every installation token issued so far invalid (GitHub answers
    /// `401 Bad credentials`), so the next call must get a new one.
    pub fn expire_tokens(&self) {
        let past = now() - time::Duration::seconds(1);
        for t in self.world().tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// Lifetime of tokens issued from now on (GitHub: one hour).
    pub fn set_token_lifetime(&self, lifetime: std::time::Duration) {
        self.world().token_lifetime = time::Duration::try_from(lifetime).expect("lifetime");
    }

    /// The next request whose method matches and whose path starts with
    /// `path_prefix` is answered with `status` (e.g. 502) and changes nothing.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16) {
        self.world().failures.push(Failure {
            method: method.to_ascii_uppercase(),
            path_prefix: path_prefix.to_string(),
            status,
        });
    }

    /// Shifts the timestamps of everything recorded from now on (commits,
    /// pull requests, reviews, comments, check runs) by `seconds`; negative
    /// is the past, e.g. a merge before keygate was installed. Tokens and
    /// JWT checks keep the real clock.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.world().clock_offset = time::Duration::seconds(seconds);
    }

    /// Caps `per_page` on every list, so pagination is exercised.
    pub fn set_page_size_cap(&self, n: usize) {
        assert!(n > 0, "a page holds at least one item");
        self.world().page_size_cap = Some(n);
    }

    // --- JSON for webhook payloads (same shapes the API serves) ---

    pub fn pull_json(&self, pr: u64) -> Value {
        let world = self.world();
        let repo = world.repo(&self.repo);
        world.pull_json(repo, repo.pull(pr))
    }

    pub fn review_json(&self, pr: u64, review_id: u64) -> Value {
        let world = self.world();
        let repo = world.repo(&self.repo);
        let p = repo.pull(pr);
        let r = p
            .reviews
            .iter()
            .find(|r| r.id == review_id)
            .unwrap_or_else(|| panic!("PR #{pr} has no review {review_id}"));
        world.review_json(repo, p, r)
    }

    pub fn repo_json(&self) -> Value {
        let world = self.world();
        world.repo_json(world.repo(&self.repo))
    }

    /// The repository owner as an organization object, when it is one.
    pub fn org_json(&self) -> Option<Value> {
        let world = self.world();
        let owner = world.repo(&self.repo).owner.clone();
        (owner.kind == AccountKind::Organization).then(|| world.org_json(&owner))
    }

    pub fn account_json(&self, account: &Account) -> Value {
        self.world().account_json(account)
    }

    /// Who triggered a `pull_request` event with this action: the author,
    /// the last pusher (`synchronize`), the merger or closer (`closed`).
    pub fn pull_actor(&self, pr: u64, action: &str) -> Account {
        let world = self.world();
        let p = world.repo(&self.repo).pull(pr);
        match action {
            "synchronize" => world.commits[&p.head_sha].author.clone(),
            "closed" => p
                .merged_by
                .clone()
                .or_else(|| p.closed_by.clone())
                .unwrap_or_else(|| p.author.clone()),
            _ => p.author.clone(),
        }
    }

    /// Who triggered a `pull_request_review` event: the reviewer, or whoever
    /// dismissed the review.
    pub fn review_actor(&self, pr: u64, review_id: u64, action: &str) -> Account {
        let world = self.world();
        let p = world.repo(&self.repo).pull(pr);
        let r = p
            .reviews
            .iter()
            .find(|r| r.id == review_id)
            .unwrap_or_else(|| panic!("PR #{pr} has no review {review_id}"));
        match (action, &r.dismissed_by) {
            ("dismissed", Some(by)) => by.clone(),
            _ => r.user.clone(),
        }
    }
}

fn writes<'a>(files: &[(&'a str, &'a str)]) -> Vec<Change<'a>> {
    files.iter().map(|(p, c)| Change::Write(p, c)).collect()
}

/// Fails the test when the last handle goes and unknown calls were made.
struct UnknownCallGuard(Arc<Mutex<World>>);

impl Drop for UnknownCallGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let unknown = match self.0.lock() {
            Ok(w) => w.unknown.clone(),
            Err(_) => return,
        };
        assert!(
            unknown.is_empty(),
            "the GitHub stand-in got calls it does not serve: {unknown:#?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------

type Tree = BTreeMap<String, Vec<u8>>;

struct World {
    base_url: String,
    /// One counter for every numeric ID, so IDs of different kinds never collide.
    next_id: u64,
    next_commit: u64,
    accounts: BTreeMap<String, Account>,
    app_bot: Account,
    repos: Vec<Repo>,
    commits: HashMap<String, Commit>,
    teams: BTreeMap<(String, String), Team>,
    comments: Vec<IssueComment>,
    check_runs: Vec<CheckRun>,
    installations: BTreeMap<u64, Installation>,
    tokens: HashMap<String, Token>,
    tokens_issued: usize,
    token_lifetime: time::Duration,
    requests: Vec<Logged>,
    unknown: Vec<String>,
    failures: Vec<Failure>,
    page_size_cap: Option<usize>,
    /// Added to the time of everything the world records (not to tokens).
    clock_offset: time::Duration,
}

struct Repo {
    id: u64,
    owner: Account,
    name: String,
    default_branch: String,
    branches: BTreeMap<String, String>,
    pulls: BTreeMap<u64, Pull>,
    next_number: u64,
    created_at: OffsetDateTime,
}

impl Repo {
    fn full_name(&self) -> String {
        format!("{}/{}", self.owner.login, self.name)
    }

    fn pull(&self, n: u64) -> &Pull {
        self.pulls
            .get(&n)
            .unwrap_or_else(|| panic!("{} has no PR #{n}", self.full_name()))
    }

    fn pull_mut(&mut self, n: u64) -> &mut Pull {
        let name = self.full_name();
        self.pulls
            .get_mut(&n)
            .unwrap_or_else(|| panic!("{name} has no PR #{n}"))
    }
}

struct Commit {
    sha: String,
    seq: u64,
    parents: Vec<String>,
    tree: Tree,
    author: Account,
    committer: Account,
    message: String,
    date: OffsetDateTime,
}

struct Pull {
    id: u64,
    number: u64,
    author: Account,
    title: String,
    body: String,
    open: bool,
    draft: bool,
    merged: bool,
    merged_at: Option<OffsetDateTime>,
    merged_by: Option<Account>,
    closed_at: Option<OffsetDateTime>,
    closed_by: Option<Account>,
    merge_commit_sha: Option<String>,
    head_ref: String,
    head_sha: String,
    previous_head: Option<String>,
    base_ref: String,
    base_sha: String,
    /// Where the branch left the base: files are diffed from here (three-dot).
    merge_base: String,
    commits: Vec<String>,
    reviews: Vec<Review>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

struct Review {
    id: u64,
    user: Account,
    state: &'static str,
    commit_id: String,
    body: String,
    submitted_at: OffsetDateTime,
    dismissed_by: Option<Account>,
}

struct Team {
    id: u64,
    org: String,
    slug: String,
    /// Lower-case login → `active` | `pending`.
    members: BTreeMap<String, &'static str>,
}

struct IssueComment {
    id: u64,
    repo: String,
    issue: u64,
    body: String,
    user: Account,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    edits: usize,
}

#[derive(Clone)]
struct CheckRun {
    id: u64,
    repo: String,
    name: String,
    head_sha: String,
    status: String,
    conclusion: Option<String>,
    external_id: Option<String>,
    details_url: Option<String>,
    started_at: OffsetDateTime,
    completed_at: Option<OffsetDateTime>,
    title: Option<String>,
    summary: Option<String>,
    text: Option<String>,
    annotations: Vec<Annotation>,
    updates: usize,
}

impl CheckRun {
    fn view(&self) -> CheckRunView {
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

struct Installation {
    id: u64,
    account: Account,
    created_at: OffsetDateTime,
}

struct Token {
    installation: u64,
    expires_at: OffsetDateTime,
}

struct Logged {
    method: String,
    path_query: String,
    status: u16,
}

struct Failure {
    method: String,
    path_prefix: String,
    status: u16,
}

impl World {
    fn new(base_url: String) -> World {
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
    fn stamp(&self) -> OffsetDateTime {
        now() + self.clock_offset
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn account(&mut self, login: &str, kind: AccountKind) -> Account {
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

    fn find_account(&self, login: &str) -> Option<&Account> {
        self.accounts.get(&login.to_ascii_lowercase())
    }

    // --- repositories and commits ---

    fn create_repo(&mut self, full_name: &str, default_branch: &str) {
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

    fn install(&mut self, id: u64, owner: &str) {
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

    fn find_repo(&self, full_name: &str) -> Option<usize> {
        let (owner, name) = full_name.split_once('/')?;
        self.repos.iter().position(|r| {
            r.owner.login.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name)
        })
    }

    fn repo(&self, full_name: &str) -> &Repo {
        let i = self
            .find_repo(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name}"));
        &self.repos[i]
    }

    fn repo_mut(&mut self, full_name: &str) -> &mut Repo {
        let i = self
            .find_repo(full_name)
            .unwrap_or_else(|| panic!("no repository {full_name}"));
        &mut self.repos[i]
    }

    fn make_commit(
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
    fn resolve(&self, repo: &Repo, reference: &str) -> Option<String> {
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

    fn commit_to_default(&mut self, repo: &str, author: &str, changes: &[Change<'_>]) -> String {
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

    fn open_pr(&mut self, repo: &str, author: &str, changes: &[Change<'_>], draft: bool) -> u64 {
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

    fn push(&mut self, repo: &str, pr: u64, pusher: &str, changes: &[Change<'_>]) -> String {
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

    fn add_review(
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

    fn merge(&mut self, repo: &str, pr: u64, method: MergeMethod, merger: Option<&str>) -> String {
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

    fn set_open(&mut self, repo: &str, pr: u64, open: bool) {
        let now = self.stamp();
        let p = self.repo_mut(repo).pull_mut(pr);
        assert!(!p.merged, "PR #{pr} is merged");
        p.open = open;
        p.closed_at = (!open).then_some(now);
        p.closed_by = (!open).then(|| p.author.clone());
        p.updated_at = now;
    }

    fn pull_files(&self, p: &Pull) -> Vec<FileChange> {
        diff_trees(
            &self.commits[&p.merge_base].tree,
            &self.commits[&p.head_sha].tree,
        )
    }

    // --- teams and comments ---

    fn team_mut(&mut self, org_team: &str) -> &mut Team {
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

    fn set_membership(&mut self, org_team: &str, login: &str, state: Option<&'static str>) {
        self.account(login, AccountKind::User);
        let team = self.team_mut(org_team);
        let key = login.to_ascii_lowercase();
        match state {
            Some(s) => team.members.insert(key, s),
            None => team.members.remove(&key),
        };
    }

    fn add_comment(&mut self, repo: &str, pr: u64, user: Account, body: &str) -> u64 {
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

    fn is_org_member(&self, org: &str, login: &str) -> bool {
        let login = login.to_ascii_lowercase();
        self.teams
            .values()
            .any(|t| t.org.eq_ignore_ascii_case(org) && t.members.get(&login) == Some(&"active"))
    }
}

// ---------------------------------------------------------------------------
// Trees and diffs
// ---------------------------------------------------------------------------

fn apply_changes(base: &Tree, changes: &[Change<'_>]) -> Tree {
    let mut tree = base.clone();
    for change in changes {
        match *change {
            Change::Write(path, content) => {
                tree.insert(path.to_string(), content.as_bytes().to_vec());
            }
            Change::Delete(path) => {
                tree.remove(path)
                    .unwrap_or_else(|| panic!("cannot delete {path}: no such file"));
            }
            Change::Rename(from, to) => {
                let content = tree
                    .remove(from)
                    .unwrap_or_else(|| panic!("cannot rename {from}: no such file"));
                tree.insert(to.to_string(), content);
            }
        }
    }
    tree
}

fn describe(changes: &[Change<'_>]) -> String {
    match changes {
        [Change::Write(path, _)] => format!("Update {path}"),
        [Change::Delete(path)] => format!("Delete {path}"),
        [Change::Rename(from, to)] => format!("Rename {from} to {to}"),
        _ => format!("Change {} files", changes.len()),
    }
}

struct FileChange {
    filename: String,
    status: &'static str,
    previous_filename: Option<String>,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
}

/// GitHub's file statuses between two trees; a path whose exact content
/// disappears and reappears elsewhere is a rename.
fn diff_trees(old: &Tree, new: &Tree) -> Vec<FileChange> {
    let mut changes = Vec::new();
    let mut removed: Vec<(&String, &Vec<u8>)> = old
        .iter()
        .filter(|(path, _)| !new.contains_key(*path))
        .collect();
    for (path, content) in new {
        match old.get(path) {
            Some(before) if before == content => {}
            Some(before) => changes.push(FileChange {
                filename: path.clone(),
                status: "modified",
                previous_filename: None,
                old: Some(before.clone()),
                new: Some(content.clone()),
            }),
            None => {
                let renamed_from = removed.iter().position(|(_, c)| *c == content);
                match renamed_from {
                    Some(i) => {
                        let (from, c) = removed.remove(i);
                        changes.push(FileChange {
                            filename: path.clone(),
                            status: "renamed",
                            previous_filename: Some(from.clone()),
                            old: Some(c.clone()),
                            new: Some(content.clone()),
                        });
                    }
                    None => changes.push(FileChange {
                        filename: path.clone(),
                        status: "added",
                        previous_filename: None,
                        old: None,
                        new: Some(content.clone()),
                    }),
                }
            }
        }
    }
    for (path, content) in removed {
        changes.push(FileChange {
            filename: path.clone(),
            status: "removed",
            previous_filename: None,
            old: Some(content.clone()),
            new: None,
        });
    }
    changes.sort_by(|a, b| a.filename.cmp(&b.filename));
    changes
}

fn apply_diff(base: &Tree, changes: &[FileChange]) -> Tree {
    let mut tree = base.clone();
    for c in changes {
        if let Some(prev) = &c.previous_filename {
            tree.remove(prev);
        }
        match &c.new {
            Some(content) => tree.insert(c.filename.clone(), content.clone()),
            None => tree.remove(&c.filename),
        };
    }
    tree
}

/// A unified diff of the whole file as one hunk, with its line counts.
fn patch(old: &[u8], new: &[u8]) -> (Option<String>, u64, u64) {
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return (None, 0, 0);
    };
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lines = Vec::new();
    if a.len() * b.len() > 4_000_000 {
        lines.extend(a.iter().map(|l| format!("-{l}")));
        lines.extend(b.iter().map(|l| format!("+{l}")));
    } else {
        // Longest common subsequence, walked from the start.
        let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                lines.push(format!(" {}", a[i]));
                i += 1;
                j += 1;
            } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                lines.push(format!("-{}", a[i]));
                i += 1;
            } else {
                lines.push(format!("+{}", b[j]));
                j += 1;
            }
        }
    }
    let additions = lines.iter().filter(|l| l.starts_with('+')).count() as u64;
    let deletions = lines.iter().filter(|l| l.starts_with('-')).count() as u64;
    if additions + deletions == 0 {
        return (None, 0, 0);
    }
    let range = |n: usize| {
        if n == 0 {
            "0,0".to_string()
        } else {
            format!("1,{n}")
        }
    };
    let header = format!("@@ -{} +{} @@", range(a.len()), range(b.len()));
    (
        Some(format!("{header}\n{}", lines.join("\n"))),
        additions,
        deletions,
    )
}

// ---------------------------------------------------------------------------
// JSON in GitHub's shapes
// ---------------------------------------------------------------------------

impl World {
    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn account_json(&self, a: &Account) -> Value {
        let api = &self.base_url;
        let login = &a.login;
        let escaped = login.replace('[', "%5B").replace(']', "%5D");
        let html_url = match a.kind {
            AccountKind::Bot => format!(
                "https://github.com/apps/{}",
                login.trim_end_matches("[bot]")
            ),
            _ => format!("https://github.com/{login}"),
        };
        let user = format!("{api}/users/{escaped}");
        json!({
            "login": login,
            "id": a.id,
            "node_id": node_id(if a.kind == AccountKind::Bot { "BOT" } else { "U" }, a.id),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", a.id),
            "gravatar_id": "",
            "url": user,
            "html_url": html_url,
            "followers_url": format!("{user}/followers"),
            "following_url": format!("{user}/following{{/other_user}}"),
            "gists_url": format!("{user}/gists{{/gist_id}}"),
            "starred_url": format!("{user}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{user}/subscriptions"),
            "organizations_url": format!("{user}/orgs"),
            "repos_url": format!("{user}/repos"),
            "events_url": format!("{user}/events{{/privacy}}"),
            "received_events_url": format!("{user}/received_events"),
            "type": a.kind.as_str(),
            "user_view_type": "public",
            "site_admin": false,
        })
    }

    fn org_json(&self, org: &Account) -> Value {
        let o = format!("{}/orgs/{}", self.base_url, org.login);
        json!({
            "login": org.login,
            "id": org.id,
            "node_id": node_id("O", org.id),
            "url": o,
            "repos_url": format!("{o}/repos"),
            "events_url": format!("{o}/events"),
            "hooks_url": format!("{o}/hooks"),
            "issues_url": format!("{o}/issues"),
            "members_url": format!("{o}/members{{/member}}"),
            "public_members_url": format!("{o}/public_members{{/member}}"),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", org.id),
            "description": null,
        })
    }

    fn repo_json(&self, r: &Repo) -> Value {
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}"));
        let ts = ts(r.created_at);
        let open = r.pulls.values().filter(|p| p.open).count();
        let mut v = json!({
            "id": r.id,
            "node_id": node_id("R", r.id),
            "name": r.name,
            "full_name": full,
            "private": true,
            "owner": self.account_json(&r.owner),
            "html_url": format!("https://github.com/{full}"),
            "description": null,
            "fork": false,
            "url": u,
            "git_url": format!("git://github.com/{full}.git"),
            "ssh_url": format!("git@github.com:{full}.git"),
            "clone_url": format!("https://github.com/{full}.git"),
            "svn_url": format!("https://github.com/{full}"),
        });
        // Split in two: one literal would pass serde_json's macro recursion limit.
        let counts = json!({
            "homepage": null,
            "size": 1,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": null,
            "has_issues": true,
            "has_projects": false,
            "has_downloads": true,
            "has_wiki": false,
            "has_pages": false,
            "forks_count": 0,
            "mirror_url": null,
            "archived": false,
            "disabled": false,
            "open_issues_count": open,
            "license": null,
            "allow_forking": false,
            "is_template": false,
            "web_commit_signoff_required": false,
            "topics": [],
            "visibility": "private",
            "forks": 0,
            "open_issues": open,
            "watchers": 0,
            "default_branch": r.default_branch,
            "custom_properties": {},
            "created_at": ts,
            "updated_at": ts,
            "pushed_at": ts,
        });
        merge_objects(&mut v, counts);
        if let Some(map) = v.as_object_mut() {
            for (key, suffix) in REPO_URLS {
                map.insert(key.to_string(), Value::from(format!("{u}{suffix}")));
            }
        }
        v
    }

    fn author_association(&self, r: &Repo, a: &Account) -> &'static str {
        if r.owner.kind == AccountKind::Organization && self.is_org_member(&r.owner.login, &a.login)
        {
            "MEMBER"
        } else {
            "CONTRIBUTOR"
        }
    }

    fn pull_json(&self, r: &Repo, p: &Pull) -> Value {
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/pulls/{}", p.number));
        let issue = self.api(&format!("/repos/{full}/issues/{}", p.number));
        let html = format!("https://github.com/{full}/pull/{}", p.number);
        let files = self.pull_files(p);
        let (mut additions, mut deletions) = (0, 0);
        for f in &files {
            let (_, a, d) = patch(
                f.old.as_deref().unwrap_or_default(),
                f.new.as_deref().unwrap_or_default(),
            );
            additions += a;
            deletions += d;
        }
        let branch = |ref_: &str, sha: &str| {
            json!({
                "label": format!("{}:{ref_}", r.owner.login),
                "ref": ref_,
                "sha": sha,
                "user": self.account_json(&r.owner),
                "repo": self.repo_json(r),
            })
        };
        let comments = self
            .comments
            .iter()
            .filter(|c| c.repo == full && c.issue == p.number)
            .count();
        let review_comment = self.api(&format!("/repos/{full}/pulls/comments{{/number}}"));
        let statuses = self.api(&format!("/repos/{full}/statuses/{}", p.head_sha));
        let links = json!({
            "self": { "href": u },
            "html": { "href": html },
            "issue": { "href": issue },
            "comments": { "href": format!("{issue}/comments") },
            "review_comments": { "href": format!("{u}/comments") },
            "review_comment": { "href": review_comment },
            "commits": { "href": format!("{u}/commits") },
            "statuses": { "href": statuses },
        });
        let mut v = json!({
            "url": u,
            "id": p.id,
            "node_id": node_id("PR", p.id),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "issue_url": issue,
            "commits_url": format!("{u}/commits"),
            "review_comments_url": format!("{u}/comments"),
            "review_comment_url": review_comment,
            "comments_url": format!("{issue}/comments"),
            "statuses_url": statuses,
            "number": p.number,
            "state": if p.open { "open" } else { "closed" },
            "locked": false,
            "title": p.title,
            "user": self.account_json(&p.author),
            "body": if p.body.is_empty() { Value::Null } else { Value::from(p.body.clone()) },
            "labels": [],
            "milestone": null,
            "active_lock_reason": null,
            "created_at": ts(p.created_at),
            "updated_at": ts(p.updated_at),
            "closed_at": p.closed_at.map(ts),
            "merged_at": p.merged_at.map(ts),
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": branch(&p.head_ref, &p.head_sha),
            "base": branch(&p.base_ref, &p.base_sha),
            "_links": links,
        });
        let more = json!({
            "author_association": self.author_association(r, &p.author),
            "auto_merge": null,
            "draft": p.draft,
            "merged": p.merged,
            "mergeable": if p.open { Value::Bool(true) } else { Value::Null },
            "rebaseable": if p.open { Value::Bool(true) } else { Value::Null },
            "mergeable_state": if p.open { "clean" } else { "unknown" },
            "merged_by": p.merged_by.as_ref().map(|a| self.account_json(a)),
            "comments": comments,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": p.commits.len(),
            "additions": additions,
            "deletions": deletions,
            "changed_files": files.len(),
        });
        merge_objects(&mut v, more);
        v
    }

    /// The short form GitHub embeds in check runs.
    fn pull_minimal_json(&self, r: &Repo, p: &Pull) -> Value {
        let repo = json!({ "id": r.id, "url": self.api(&format!("/repos/{}", r.full_name())), "name": r.name });
        json!({
            "url": self.api(&format!("/repos/{}/pulls/{}", r.full_name(), p.number)),
            "id": p.id,
            "number": p.number,
            "head": { "ref": p.head_ref, "sha": p.head_sha, "repo": repo },
            "base": { "ref": p.base_ref, "sha": p.base_sha, "repo": repo },
        })
    }

    fn review_json(&self, r: &Repo, p: &Pull, review: &Review) -> Value {
        let full = r.full_name();
        let html = format!(
            "https://github.com/{full}/pull/{}#pullrequestreview-{}",
            p.number, review.id
        );
        let pr_url = self.api(&format!("/repos/{full}/pulls/{}", p.number));
        json!({
            "id": review.id,
            "node_id": node_id("PRR", review.id),
            "user": self.account_json(&review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.author_association(r, &review.user),
            "_links": {
                "html": { "href": html },
                "pull_request": { "href": pr_url },
            },
            "submitted_at": ts(review.submitted_at),
            "commit_id": review.commit_id,
        })
    }

    fn file_json(&self, r: &Repo, head: &str, f: &FileChange) -> Value {
        let full = r.full_name();
        let (patch, additions, deletions) = patch(
            f.old.as_deref().unwrap_or_default(),
            f.new.as_deref().unwrap_or_default(),
        );
        let blob = f.new.as_deref().or(f.old.as_deref()).unwrap_or_default();
        let path = url_path(&f.filename);
        let mut v = json!({
            "sha": git_blob_sha(blob),
            "filename": f.filename,
            "status": f.status,
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "blob_url": format!("https://github.com/{full}/blob/{head}/{path}"),
            "raw_url": format!("https://github.com/{full}/raw/{head}/{path}"),
            "contents_url": self.api(&format!("/repos/{full}/contents/{path}?ref={head}")),
        });
        if let Some(patch) = patch {
            v["patch"] = Value::from(patch);
        }
        if let Some(prev) = &f.previous_filename {
            v["previous_filename"] = Value::from(prev.clone());
        }
        v
    }

    fn commit_json(&self, r: &Repo, c: &Commit, with_files: bool) -> Value {
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/commits/{}", c.sha));
        let git_user = |a: &Account| {
            let name = if a.login == WEB_FLOW {
                "GitHub"
            } else {
                a.login.as_str()
            };
            let email = if a.login == WEB_FLOW {
                "noreply@github.com".to_string()
            } else {
                format!("{}+{}@users.noreply.github.com", a.id, a.login)
            };
            json!({ "name": name, "email": email, "date": ts(c.date) })
        };
        let tree_sha = tree_sha(&c.tree);
        let mut v = json!({
            "sha": c.sha,
            "node_id": node_id("C", c.seq),
            "commit": {
                "author": git_user(&c.author),
                "committer": git_user(&c.committer),
                "message": c.message,
                "tree": { "sha": tree_sha, "url": self.api(&format!("/repos/{full}/git/trees/{tree_sha}")) },
                "url": self.api(&format!("/repos/{full}/git/commits/{}", c.sha)),
                "comment_count": 0,
                "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
            },
            "url": u,
            "html_url": format!("https://github.com/{full}/commit/{}", c.sha),
            "comments_url": format!("{u}/comments"),
            "author": self.account_json(&c.author),
            "committer": self.account_json(&c.committer),
            "parents": c.parents.iter().map(|p| json!({
                "sha": p,
                "url": self.api(&format!("/repos/{full}/commits/{p}")),
                "html_url": format!("https://github.com/{full}/commit/{p}"),
            })).collect::<Vec<_>>(),
        });
        if with_files {
            let empty = Tree::new();
            let parent_tree = c
                .parents
                .first()
                .map(|p| &self.commits[p].tree)
                .unwrap_or(&empty);
            let files: Vec<Value> = diff_trees(parent_tree, &c.tree)
                .iter()
                .map(|f| self.file_json(r, &c.sha, f))
                .collect();
            let additions: u64 = files
                .iter()
                .map(|f| f["additions"].as_u64().unwrap_or(0))
                .sum();
            let deletions: u64 = files
                .iter()
                .map(|f| f["deletions"].as_u64().unwrap_or(0))
                .sum();
            v["stats"] = json!({ "total": additions + deletions, "additions": additions, "deletions": deletions });
            v["files"] = Value::from(files);
        }
        v
    }

    fn comment_json(&self, c: &IssueComment) -> Value {
        let r = self.repo(&c.repo);
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/issues/comments/{}", c.id));
        json!({
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "url": u,
            "html_url": format!("https://github.com/{full}/pull/{}#issuecomment-{}", c.issue, c.id),
            "body": c.body,
            "user": self.account_json(&c.user),
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
            "issue_url": self.api(&format!("/repos/{full}/issues/{}", c.issue)),
            "author_association": if c.user.kind == AccountKind::Bot { "NONE" } else { self.author_association(r, &c.user) },
            "performed_via_github_app": null,
            "reactions": {
                "url": format!("{u}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
            },
        })
    }

    fn check_run_json(&self, c: &CheckRun) -> Value {
        let r = self.repo(&c.repo);
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/check-runs/{}", c.id));
        let pulls: Vec<Value> = r
            .pulls
            .values()
            .filter(|p| p.open && p.head_sha == c.head_sha)
            .map(|p| self.pull_minimal_json(r, p))
            .collect();
        json!({
            "id": c.id,
            "node_id": node_id("CR", c.id),
            "head_sha": c.head_sha,
            "external_id": c.external_id.clone().unwrap_or_default(),
            "url": u,
            "html_url": format!("https://github.com/{full}/runs/{}", c.id),
            "details_url": c.details_url.clone().unwrap_or_else(|| format!("https://github.com/apps/{APP_SLUG}")),
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": ts(c.started_at),
            "completed_at": c.completed_at.map(ts),
            "output": {
                "title": c.title,
                "summary": c.summary,
                "text": c.text,
                "annotations_count": c.annotations.len(),
                "annotations_url": format!("{u}/annotations"),
            },
            "name": c.name,
            "check_suite": { "id": c.id + 1_000_000 },
            "app": self.app_json(),
            "pull_requests": pulls,
        })
    }

    fn app_json(&self) -> Value {
        let owner = self.installations.values().next();
        json!({
            "id": APP_ID,
            "slug": APP_SLUG,
            "node_id": node_id("A", APP_ID),
            "name": APP_SLUG,
            "owner": owner.map(|i| self.account_json(&i.account)),
            "description": "Issues AWS access keys for approved pull requests.",
            "external_url": "https://keygate.example.com",
            "html_url": format!("https://github.com/apps/{APP_SLUG}"),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": permissions(),
            "events": ["pull_request", "pull_request_review"],
        })
    }

    fn installation_json(&self, i: &Installation) -> Value {
        json!({
            "id": i.id,
            "account": self.account_json(&i.account),
            "access_tokens_url": self.api(&format!("/app/installations/{}/access_tokens", i.id)),
            "repositories_url": self.api("/installation/repositories"),
            "html_url": format!("https://github.com/organizations/{}/settings/installations/{}", i.account.login, i.id),
            "app_id": APP_ID,
            "app_slug": APP_SLUG,
            "target_id": i.account.id,
            "target_type": i.account.kind.as_str(),
            "permissions": permissions(),
            "events": ["pull_request", "pull_request_review"],
            "created_at": ts(i.created_at),
            "updated_at": ts(i.created_at),
            "single_file_name": null,
            "repository_selection": "all",
            "suspended_at": null,
            "suspended_by": null,
        })
    }

    fn content_json(&self, r: &Repo, reference: &str, path: &str, blob: &[u8]) -> Value {
        let full = r.full_name();
        let sha = git_blob_sha(blob);
        let p = url_path(path);
        let u = self.api(&format!("/repos/{full}/contents/{p}?ref={reference}"));
        let git = self.api(&format!("/repos/{full}/git/blobs/{sha}"));
        let html = format!("https://github.com/{full}/blob/{reference}/{p}");
        json!({
            "type": "file",
            "encoding": "base64",
            "size": blob.len(),
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "content": github_base64(blob),
            "sha": sha,
            "url": u,
            "git_url": git,
            "html_url": html,
            "download_url": format!("https://raw.githubusercontent.com/{full}/{reference}/{p}"),
            "_links": { "self": u, "git": git, "html": html },
        })
    }

    fn dir_entry_json(&self, r: &Repo, reference: &str, path: &str, tree: &Tree) -> Value {
        let full = r.full_name();
        let p = url_path(path);
        let u = self.api(&format!("/repos/{full}/contents/{p}?ref={reference}"));
        let (kind, sha, size, download) = match tree.get(path) {
            Some(blob) => (
                "file",
                git_blob_sha(blob),
                blob.len(),
                Value::from(format!(
                    "https://raw.githubusercontent.com/{full}/{reference}/{p}"
                )),
            ),
            None => ("dir", sub_tree_sha(tree, path), 0, Value::Null),
        };
        let git = self.api(&format!(
            "/repos/{full}/git/{}/{sha}",
            if kind == "file" { "blobs" } else { "trees" }
        ));
        let html = format!(
            "https://github.com/{full}/{}/{reference}/{p}",
            if kind == "file" { "blob" } else { "tree" }
        );
        json!({
            "type": kind,
            "size": size,
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "sha": sha,
            "url": u,
            "git_url": git,
            "html_url": html,
            "download_url": download,
            "_links": { "self": u, "git": git, "html": html },
        })
    }
}

/// The hypermedia URLs of a repository object, relative to its API URL.
const REPO_URLS: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
];

fn merge_objects(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn permissions() -> Value {
    json!({
        "checks": "write",
        "contents": "read",
        "issues": "write",
        "members": "read",
        "metadata": "read",
        "pull_requests": "write",
    })
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(
            status,
            json!({
                "message": message,
                "documentation_url": format!("https://docs.github.com/rest{docs}"),
                "status": status.to_string(),
            }),
        )
    }

    fn not_found(docs: &str) -> Reply {
        Reply::error(404, "Not Found", docs)
    }

    /// GitHub's 422 with one validation error.
    fn invalid(resource: &str, field: &str, message: &str, docs: &str) -> Reply {
        Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "code": "custom", "field": field, "message": message }],
                "documentation_url": format!("https://docs.github.com/rest{docs}"),
                "status": "422",
            }),
        )
    }
}

type Shared = Arc<Mutex<World>>;

async fn serve(State(state): State<Shared>, request: Request) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().unwrap_or("").to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let path_query = if raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{raw_query}")
    };

    let reply = {
        let mut world = state.lock().unwrap_or_else(|e| e.into_inner());
        // A bug in the stand-in answers 500 and fails the test, rather than
        // dropping the connection.
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            world.handle(&method, &path, &raw_query, &headers, &body)
        }));
        let reply = handled.unwrap_or_else(|_| {
            world
                .unknown
                .push(format!("{method} {path_query} (the stand-in panicked)"));
            Reply::error(500, "the GitHub stand-in panicked", "")
        });
        world.requests.push(Logged {
            method: method.clone(),
            path_query,
            status: reply.status,
        });
        reply
    };

    let mut response = Response::new(match &reply.body {
        Some(v) => Body::from(serde_json::to_vec(v).expect("JSON")),
        None => Body::empty(),
    });
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("status");
    let h = response.headers_mut();
    if reply.body.is_some() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    h.insert("x-github-media-type", HeaderValue::from_static("github.v3"));
    for (name, value) in reply.headers {
        h.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    response
}

/// A request that names a route of GitHub's REST API the stand-in serves.
enum Route {
    CreateToken(String),
    /// Authenticated with the App's JWT.
    App(AppRoute),
    /// Authenticated with an installation token.
    Api(ApiRoute),
}

enum AppRoute {
    Get,
    Installations,
    Installation(String),
    RepoInstallation(String),
}

/// Routes on a repository carry its `owner/name` first.
enum ApiRoute {
    Repo(String),
    Branch(String, String),
    Pulls(String),
    Pull(String, String),
    PullFiles(String, String),
    PullCommits(String, String),
    Reviews(String, String),
    Review(String, String, String),
    Contents(String, String),
    Commits(String),
    Commit(String, String),
    CommitPulls(String, String),
    CommitCheckRuns(String, String),
    Membership(String, String, String),
    Comments(String, String),
    CreateComment(String, String),
    Comment(String, String),
    UpdateComment(String, String),
    DeleteComment(String, String),
    CreateCheckRun(String),
    CheckRun(String, String),
    UpdateCheckRun(String, String),
    Annotations(String, String),
}

fn route(method: &str, segments: &[String]) -> Option<Route> {
    use ApiRoute as A;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let app = |r| Some(Route::App(r));
    let (owner, name, rest) = match (method, s.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            return Some(Route::CreateToken(id.to_string()));
        }
        ("GET", ["app"]) => return app(AppRoute::Get),
        ("GET", ["app", "installations"]) => return app(AppRoute::Installations),
        ("GET", ["app", "installations", id]) => {
            return app(AppRoute::Installation(id.to_string()));
        }
        ("GET", ["orgs", org, "teams", team, "memberships", user]) => {
            let (o, t, u) = (org.to_string(), team.to_string(), user.to_string());
            return Some(Route::Api(A::Membership(o, t, u)));
        }
        (_, ["repos", owner, name, rest @ ..]) => (*owner, *name, rest),
        _ => return None,
    };
    let repo = format!("{owner}/{name}");
    let join = |parts: &[&str]| parts.join("/");
    let api = match (method, rest) {
        ("GET", ["installation"]) => return app(AppRoute::RepoInstallation(repo)),
        ("GET", []) => A::Repo(repo),
        ("GET", ["branches", branch @ ..]) if !branch.is_empty() => A::Branch(repo, join(branch)),
        ("GET", ["pulls"]) => A::Pulls(repo),
        ("GET", ["pulls", n]) => A::Pull(repo, n.to_string()),
        ("GET", ["pulls", n, "files"]) => A::PullFiles(repo, n.to_string()),
        ("GET", ["pulls", n, "commits"]) => A::PullCommits(repo, n.to_string()),
        ("GET", ["pulls", n, "reviews"]) => A::Reviews(repo, n.to_string()),
        ("GET", ["pulls", n, "reviews", id]) => A::Review(repo, n.to_string(), id.to_string()),
        ("GET", ["contents", path @ ..]) => A::Contents(repo, join(path)),
        ("GET", ["commits"]) => A::Commits(repo),
        ("GET", ["commits", r @ .., "check-runs"]) if !r.is_empty() => {
            A::CommitCheckRuns(repo, join(r))
        }
        ("GET", ["commits", sha, "pulls"]) => A::CommitPulls(repo, sha.to_string()),
        ("GET", ["commits", r @ ..]) if !r.is_empty() => A::Commit(repo, join(r)),
        ("GET", ["issues", n, "comments"]) => A::Comments(repo, n.to_string()),
        ("POST", ["issues", n, "comments"]) => A::CreateComment(repo, n.to_string()),
        ("GET", ["issues", "comments", id]) => A::Comment(repo, id.to_string()),
        // GitHub takes POST wherever it takes PATCH (octocrab's
        // `update_comment` uses POST).
        ("PATCH" | "POST", ["issues", "comments", id]) => A::UpdateComment(repo, id.to_string()),
        ("DELETE", ["issues", "comments", id]) => A::DeleteComment(repo, id.to_string()),
        ("POST", ["check-runs"]) => A::CreateCheckRun(repo),
        ("GET", ["check-runs", id]) => A::CheckRun(repo, id.to_string()),
        ("PATCH" | "POST", ["check-runs", id]) => A::UpdateCheckRun(repo, id.to_string()),
        ("GET", ["check-runs", id, "annotations"]) => A::Annotations(repo, id.to_string()),
        _ => return None,
    };
    Some(Route::Api(api))
}

/// Query parameters, decoded, plus the raw string for building `Link`s.
struct Query {
    raw: String,
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect();
        Query {
            raw: raw.to_string(),
            pairs,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

const DOCS_TOKEN: &str = "/apps/apps#create-an-installation-access-token-for-an-app";

/// A handler's outcome: the error side is already GitHub's error reply.
type Answer = Result<Reply, Reply>;

impl World {
    fn handle(
        &mut self,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        if let Some(i) = self
            .failures
            .iter()
            .position(|f| f.method == method && path.starts_with(&f.path_prefix))
        {
            let failure = self.failures.remove(i);
            return injected_failure(failure.status);
        }
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect();
        let Some(route) = route(method, &segments) else {
            let call = if raw_query.is_empty() {
                format!("{method} {path}")
            } else {
                format!("{method} {path}?{raw_query}")
            };
            self.unknown.push(call);
            return Reply::not_found("");
        };
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return Reply::error(400, "Problems parsing JSON", ""),
            }
        };
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let query = Query::parse(raw_query);
        let answer = match route {
            Route::CreateToken(id) => self
                .check_jwt(auth, DOCS_TOKEN)
                .and_then(|()| self.create_token(&id)),
            Route::App(app) => self
                .check_jwt(auth, "/apps/apps")
                .and_then(|()| self.app_route(app)),
            Route::Api(api) => self
                .check_token(auth)
                .and_then(|installation| self.api_route(api, installation, &query, path, &body)),
        };
        answer.unwrap_or_else(|error| error)
    }

    // --- authentication ---

    fn check_jwt(&self, auth: &str, docs: &str) -> Result<(), Reply> {
        let fail = |message: &str| Err(Reply::error(401, message, docs));
        let undecodable = "A JSON web token could not be decoded";
        let Some(jwt) = strip_scheme(auth, "bearer") else {
            return fail(undecodable);
        };
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_APP_PUBLIC_KEY.as_bytes())
            .expect("test public key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let Ok(token) = jsonwebtoken::decode::<Value>(jwt, &key, &validation) else {
            return fail(undecodable);
        };
        let claims = token.claims;
        let iss = match &claims["iss"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse::<u64>().ok(),
            _ => None,
        };
        match iss {
            None => return fail("'Issuer' claim ('iss') must be an Integer"),
            Some(id) if id != APP_ID => return fail(undecodable),
            Some(_) => {}
        }
        let bad_iat = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
        let bad_exp = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return fail(if claims["iat"].is_i64() {
                bad_exp
            } else {
                bad_iat
            });
        };
        if iat > now + JWT_FUTURE_IAT_SECS {
            return fail(bad_iat);
        }
        if exp <= now {
            return fail(bad_exp);
        }
        if exp - iat > 600 + JWT_LEEWAY_SECS || exp > now + 600 + JWT_LEEWAY_SECS {
            return fail("'Expiration time' claim ('exp') is too far in the future");
        }
        Ok(())
    }

    fn check_token(&self, auth: &str) -> Result<u64, Reply> {
        if auth.is_empty() {
            return Err(Reply::error(401, "Requires authentication", ""));
        }
        let token = strip_scheme(auth, "token").or_else(|| strip_scheme(auth, "bearer"));
        match token.and_then(|t| self.tokens.get(t)) {
            Some(t) if t.expires_at > OffsetDateTime::now_utc() => Ok(t.installation),
            _ => Err(Reply::error(401, "Bad credentials", "")),
        }
    }

    fn create_token(&mut self, id: &str) -> Answer {
        let installation = id
            .parse::<u64>()
            .ok()
            .filter(|id| self.installations.contains_key(id))
            .ok_or_else(|| Reply::not_found(DOCS_TOKEN))?;
        let random: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(36)
            .map(char::from)
            .collect();
        let token = format!("ghs_{random}");
        let expires_at = now() + self.token_lifetime;
        let issued = Token {
            installation,
            expires_at,
        };
        self.tokens.insert(token.clone(), issued);
        self.tokens_issued += 1;
        Ok(Reply::json(
            201,
            json!({
                "token": token,
                "expires_at": ts(expires_at),
                "permissions": permissions(),
                "repository_selection": "all",
            }),
        ))
    }

    fn app_route(&self, route: AppRoute) -> Answer {
        let docs = "/apps/apps";
        let installation = |i: Option<&Installation>| match i {
            Some(i) => Ok(Reply::json(200, self.installation_json(i))),
            None => Err(Reply::not_found(docs)),
        };
        match route {
            AppRoute::Get => Ok(Reply::json(200, self.app_json())),
            AppRoute::Installations => {
                let all = self.installations.values();
                let list: Vec<Value> = all.map(|i| self.installation_json(i)).collect();
                Ok(Reply::json(200, Value::from(list)))
            }
            AppRoute::Installation(id) => {
                installation(id.parse().ok().and_then(|id| self.installations.get(&id)))
            }
            AppRoute::RepoInstallation(repo) => {
                let owner = self.find_repo(&repo).map(|i| &self.repos[i].owner.login);
                installation(owner.and_then(|o| {
                    let mut all = self.installations.values();
                    all.find(|i| i.account.login.eq_ignore_ascii_case(o))
                }))
            }
        }
    }

    /// The repository, if it exists and the installation covers it (GitHub
    /// answers 404 for repositories a token cannot see).
    fn repo_for(&self, installation: u64, full_name: &str, docs: &str) -> Result<&Repo, Reply> {
        let repo = self
            .find_repo(full_name)
            .map(|i| &self.repos[i])
            .ok_or_else(|| Reply::not_found(docs))?;
        let covered = self
            .installations
            .get(&installation)
            .is_some_and(|i| i.account.login.eq_ignore_ascii_case(&repo.owner.login));
        if covered {
            Ok(repo)
        } else {
            Err(Reply::not_found(docs))
        }
    }

    fn pull_for(
        &self,
        installation: u64,
        repo: &str,
        n: &str,
        docs: &str,
    ) -> Result<(&Repo, &Pull), Reply> {
        let r = self.repo_for(installation, repo, docs)?;
        let p = n.parse().ok().and_then(|n| r.pulls.get(&n));
        Ok((r, p.ok_or_else(|| Reply::not_found(docs))?))
    }

    fn comment_index(
        &self,
        installation: u64,
        repo: &str,
        id: &str,
        docs: &str,
    ) -> Result<usize, Reply> {
        let full = self.repo_for(installation, repo, docs)?.full_name();
        self.comments
            .iter()
            .position(|c| c.repo == full && c.id.to_string() == id)
            .ok_or_else(|| Reply::not_found(docs))
    }

    fn check_run_index(
        &self,
        installation: u64,
        repo: &str,
        id: &str,
        docs: &str,
    ) -> Result<usize, Reply> {
        let full = self.repo_for(installation, repo, docs)?.full_name();
        self.check_runs
            .iter()
            .position(|c| c.repo == full && c.id.to_string() == id)
            .ok_or_else(|| Reply::not_found(docs))
    }

    fn api_route(
        &mut self,
        route: ApiRoute,
        inst: u64,
        q: &Query,
        path: &str,
        body: &Value,
    ) -> Answer {
        match route {
            ApiRoute::Repo(repo) => {
                let r = self.repo_for(inst, &repo, "/repos/repos#get-a-repository")?;
                Ok(Reply::json(200, self.repo_json(r)))
            }
            ApiRoute::Branch(repo, branch) => self.get_branch(inst, &repo, &branch),
            ApiRoute::Pulls(repo) => self.list_pulls(inst, &repo, q, path),
            ApiRoute::Pull(repo, n) => {
                let (r, p) = self.pull_for(inst, &repo, &n, "/pulls/pulls#get-a-pull-request")?;
                Ok(Reply::json(200, self.pull_json(r, p)))
            }
            ApiRoute::PullFiles(repo, n) => {
                let docs = "/pulls/pulls#list-pull-requests-files";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let files = self.pull_files(p);
                let items = files.iter().map(|f| self.file_json(r, &p.head_sha, f));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::PullCommits(repo, n) => {
                let docs = "/pulls/pulls#list-commits-on-a-pull-request";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let items = p.commits.iter();
                let items = items.map(|c| self.commit_json(r, &self.commits[c], false));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::Reviews(repo, n) => {
                let docs = "/pulls/reviews#list-reviews-for-a-pull-request";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let items = p.reviews.iter().map(|rv| self.review_json(r, p, rv));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::Review(repo, n, id) => {
                let docs = "/pulls/reviews#get-a-review-for-a-pull-request";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let review = p.reviews.iter().find(|rv| rv.id.to_string() == id);
                let review = review.ok_or_else(|| Reply::not_found(docs))?;
                Ok(Reply::json(200, self.review_json(r, p, review)))
            }
            ApiRoute::Contents(repo, file) => self.get_contents(inst, &repo, &file, q),
            ApiRoute::Commits(repo) => self.list_commits(inst, &repo, q, path),
            ApiRoute::Commit(repo, reference) => {
                let docs = "/commits/commits#get-a-commit";
                let r = self.repo_for(inst, &repo, docs)?;
                let sha = self.resolve_or_422(r, &reference, docs)?;
                Ok(Reply::json(
                    200,
                    self.commit_json(r, &self.commits[&sha], true),
                ))
            }
            ApiRoute::CommitPulls(repo, reference) => {
                let docs = "/commits/commits#list-pull-requests-associated-with-a-commit";
                let r = self.repo_for(inst, &repo, docs)?;
                let sha = self.resolve_or_422(r, &reference, docs)?;
                let pulls = r.pulls.values().filter(|p| {
                    p.merge_commit_sha.as_ref() == Some(&sha) || p.commits.contains(&sha)
                });
                let items = pulls.map(|p| self.pull_json(r, p));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::CommitCheckRuns(repo, reference) => {
                self.list_check_runs(inst, &repo, &reference, q, path)
            }
            ApiRoute::Membership(org, team, user) => self.team_membership(inst, &org, &team, &user),
            ApiRoute::Comments(repo, n) => {
                let docs = "/issues/comments#list-issue-comments";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let full = r.full_name();
                let mine = self
                    .comments
                    .iter()
                    .filter(|c| c.repo == full && c.issue == p.number);
                let items = mine.map(|c| self.comment_json(c));
                Ok(self.page(items.collect(), q, path))
            }
            ApiRoute::CreateComment(repo, n) => {
                let docs = "/issues/comments#create-an-issue-comment";
                let (r, p) = self.pull_for(inst, &repo, &n, docs)?;
                let (full, number) = (r.full_name(), p.number);
                let text = comment_body(body, docs)?;
                let bot = self.app_bot.clone();
                let id = self.add_comment(&full, number, bot, &text);
                let c = self
                    .comments
                    .iter()
                    .find(|c| c.id == id)
                    .expect("just added");
                Ok(Reply::json(201, self.comment_json(c)))
            }
            ApiRoute::Comment(repo, id) => {
                let docs = "/issues/comments#get-an-issue-comment";
                let i = self.comment_index(inst, &repo, &id, docs)?;
                Ok(Reply::json(200, self.comment_json(&self.comments[i])))
            }
            ApiRoute::UpdateComment(repo, id) => {
                let docs = "/issues/comments#update-an-issue-comment";
                let i = self.own_comment(inst, &repo, &id, docs)?;
                let text = comment_body(body, docs)?;
                let now = self.stamp();
                let c = &mut self.comments[i];
                c.body = text;
                c.updated_at = now;
                c.edits += 1;
                Ok(Reply::json(200, self.comment_json(&self.comments[i])))
            }
            ApiRoute::DeleteComment(repo, id) => {
                let docs = "/issues/comments#delete-an-issue-comment";
                let i = self.own_comment(inst, &repo, &id, docs)?;
                self.comments.remove(i);
                Ok(Reply::empty(204))
            }
            ApiRoute::CreateCheckRun(repo) => self.create_check_run(inst, &repo, body),
            ApiRoute::CheckRun(repo, id) => {
                let docs = "/checks/runs#get-a-check-run";
                let i = self.check_run_index(inst, &repo, &id, docs)?;
                Ok(Reply::json(200, self.check_run_json(&self.check_runs[i])))
            }
            ApiRoute::UpdateCheckRun(repo, id) => {
                let docs = "/checks/runs#update-a-check-run";
                let i = self.check_run_index(inst, &repo, &id, docs)?;
                let mut run = self.check_runs[i].clone();
                if let Some(name) = body["name"].as_str() {
                    run.name = name.to_string();
                }
                apply_check_run_fields(&mut run, body, self.stamp(), docs)?;
                run.updates += 1;
                self.check_runs[i] = run;
                Ok(Reply::json(200, self.check_run_json(&self.check_runs[i])))
            }
            ApiRoute::Annotations(repo, id) => {
                let docs = "/checks/runs#list-check-run-annotations";
                let c = &self.check_runs[self.check_run_index(inst, &repo, &id, docs)?];
                let items = c.annotations.iter().map(|a| annotation_json(c, a));
                Ok(self.page(items.collect(), q, path))
            }
        }
    }

    /// A comment the App wrote: others' comments are not its to change.
    fn own_comment(&self, inst: u64, repo: &str, id: &str, docs: &str) -> Result<usize, Reply> {
        let i = self.comment_index(inst, repo, id, docs)?;
        if self.comments[i].user == self.app_bot {
            Ok(i)
        } else {
            Err(Reply::error(
                403,
                "Resource not accessible by integration",
                docs,
            ))
        }
    }

    fn resolve_or_422(&self, r: &Repo, reference: &str, docs: &str) -> Result<String, Reply> {
        self.resolve(r, reference).ok_or_else(|| {
            Reply::error(422, &format!("No commit found for SHA: {reference}"), docs)
        })
    }

    fn get_branch(&self, inst: u64, repo: &str, branch: &str) -> Answer {
        let docs = "/branches/branches#get-a-branch";
        let r = self.repo_for(inst, repo, docs)?;
        let sha = r
            .branches
            .get(branch)
            .ok_or_else(|| Reply::error(404, "Branch not found", docs))?;
        let full = r.full_name();
        Ok(Reply::json(
            200,
            json!({
                "name": branch,
                "commit": self.commit_json(r, &self.commits[sha], false),
                "_links": {
                    "self": self.api(&format!("/repos/{full}/branches/{branch}")),
                    "html": format!("https://github.com/{full}/tree/{branch}"),
                },
                "protected": *branch == r.default_branch,
                "protection_url": self.api(&format!("/repos/{full}/branches/{branch}/protection")),
            }),
        ))
    }

    fn list_pulls(&self, inst: u64, repo: &str, q: &Query, path: &str) -> Answer {
        let docs = "/pulls/pulls#list-pull-requests";
        let r = self.repo_for(inst, repo, docs)?;
        let state = q.get("state").unwrap_or("open");
        if !matches!(state, "open" | "closed" | "all") {
            let message = "state is not included in the list";
            return Err(Reply::invalid("PullRequest", "state", message, docs));
        }
        let head_matches =
            |p: &Pull, h: &str| h == p.head_ref || h == format!("{}:{}", r.owner.login, p.head_ref);
        let mut pulls: Vec<&Pull> = r
            .pulls
            .values()
            .filter(|p| state == "all" || p.open == (state == "open"))
            .filter(|p| q.get("base").is_none_or(|b| b == p.base_ref))
            .filter(|p| q.get("head").is_none_or(|h| head_matches(p, h)))
            .collect();
        let sort = q.get("sort").unwrap_or("created");
        match sort {
            "updated" => pulls.sort_by_key(|p| (p.updated_at, p.number)),
            _ => pulls.sort_by_key(|p| (p.created_at, p.number)),
        }
        let default_direction = if sort == "created" { "desc" } else { "asc" };
        if q.get("direction").unwrap_or(default_direction) == "desc" {
            pulls.reverse();
        }
        let items = pulls.iter().map(|p| self.pull_json(r, p));
        Ok(self.page(items.collect(), q, path))
    }

    fn get_contents(&self, inst: u64, repo: &str, file: &str, q: &Query) -> Answer {
        let docs = "/repos/contents#get-repository-content";
        let r = self.repo_for(inst, repo, docs)?;
        let reference = q.get("ref").unwrap_or(&r.default_branch).to_string();
        let sha = self.resolve(r, &reference).ok_or_else(|| {
            Reply::error(
                404,
                &format!("No commit found for the ref {reference}"),
                docs,
            )
        })?;
        let tree = &self.commits[&sha].tree;
        let file = file.trim_end_matches('/');
        if let Some(blob) = tree.get(file) {
            return Ok(Reply::json(
                200,
                self.content_json(r, &reference, file, blob),
            ));
        }
        let prefix = if file.is_empty() {
            String::new()
        } else {
            format!("{file}/")
        };
        let children: BTreeSet<String> = tree
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| format!("{prefix}{}", rest.split('/').next().unwrap_or(rest)))
            .collect();
        if children.is_empty() {
            return Err(Reply::not_found(docs));
        }
        let entries = children
            .iter()
            .map(|p| self.dir_entry_json(r, &reference, p, tree));
        Ok(Reply::json(200, Value::from(entries.collect::<Vec<_>>())))
    }

    /// Commits reachable from `sha` (default branch by default), newest
    /// first; with `path`, only those that changed something under it.
    fn list_commits(&self, inst: u64, repo: &str, q: &Query, path: &str) -> Answer {
        let docs = "/commits/commits#list-commits";
        let r = self.repo_for(inst, repo, docs)?;
        let start = q.get("sha").unwrap_or(&r.default_branch);
        let start = self
            .resolve(r, start)
            .ok_or_else(|| Reply::not_found(docs))?;
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        let mut found: Vec<&Commit> = Vec::new();
        while let Some(sha) = stack.pop() {
            if seen.insert(sha.clone()) {
                let c = &self.commits[&sha];
                found.push(c);
                stack.extend(c.parents.iter().cloned());
            }
        }
        found.sort_by_key(|c| std::cmp::Reverse(c.seq));
        let filter = q.get("path").map(|p| p.trim_matches('/').to_string());
        let under = |t: &Tree| -> Vec<(String, Vec<u8>)> {
            let Some(f) = &filter else { return Vec::new() };
            let prefix = format!("{f}/");
            let inside = t.iter().filter(|(p, _)| *p == f || p.starts_with(&prefix));
            inside.map(|(p, b)| (p.clone(), b.clone())).collect()
        };
        // GitHub's history simplification: a commit shows when it differs
        // from every parent (a root commit: when it has something there).
        let touches = |c: &Commit| {
            filter.is_none() || {
                let mine = under(&c.tree);
                match c.parents.is_empty() {
                    true => !mine.is_empty(),
                    false => c
                        .parents
                        .iter()
                        .all(|p| under(&self.commits[p].tree) != mine),
                }
            }
        };
        let items = found.into_iter().filter(|c| touches(c));
        let items = items.map(|c| self.commit_json(r, c, false));
        Ok(self.page(items.collect(), q, path))
    }

    fn team_membership(&self, inst: u64, org: &str, team: &str, user: &str) -> Answer {
        let docs = "/teams/members#get-team-membership-for-a-user";
        let covered = self
            .installations
            .get(&inst)
            .is_some_and(|i| i.account.login.eq_ignore_ascii_case(org));
        let key = (org.to_ascii_lowercase(), team.to_ascii_lowercase());
        let team = self.teams.get(&key).filter(|_| covered);
        let team = team.ok_or_else(|| Reply::not_found(docs))?;
        let state = team.members.get(&user.to_ascii_lowercase());
        let state = state.ok_or_else(|| Reply::not_found(docs))?;
        let org_id = self.find_account(org).map_or(0, |a| a.id);
        let url = format!(
            "/organizations/{org_id}/team/{}/memberships/{user}",
            team.id
        );
        Ok(Reply::json(
            200,
            json!({ "url": self.api(&url), "role": "member", "state": state }),
        ))
    }

    fn create_check_run(&mut self, inst: u64, repo: &str, body: &Value) -> Answer {
        let docs = "/checks/runs#create-a-check-run";
        let full = self.repo_for(inst, repo, docs)?.full_name();
        let missing = |field: &str| {
            let message = format!("{field} wasn't supplied.");
            Reply::invalid("CheckRun", field, &message, docs)
        };
        let name = body["name"].as_str().filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| missing("name"))?;
        let head_sha = body["head_sha"]
            .as_str()
            .ok_or_else(|| missing("head_sha"))?;
        if !self.commits.contains_key(head_sha) {
            let message = format!("No commit found for SHA: {head_sha}");
            return Err(Reply::error(422, &message, docs));
        }
        let mut run = CheckRun {
            id: 0,
            repo: full,
            name: name.to_string(),
            head_sha: head_sha.to_string(),
            status: "queued".to_string(),
            conclusion: None,
            external_id: None,
            details_url: None,
            started_at: self.stamp(),
            completed_at: None,
            title: None,
            summary: None,
            text: None,
            annotations: Vec::new(),
            updates: 0,
        };
        apply_check_run_fields(&mut run, body, self.stamp(), docs)?;
        run.id = self.id();
        let json = self.check_run_json(&run);
        self.check_runs.push(run);
        Ok(Reply::json(201, json))
    }

    /// Newest first; `filter=latest` (the default) keeps one run per name.
    fn list_check_runs(
        &self,
        inst: u64,
        repo: &str,
        reference: &str,
        q: &Query,
        path: &str,
    ) -> Answer {
        let docs = "/checks/runs#list-check-runs-for-a-git-reference";
        let r = self.repo_for(inst, repo, docs)?;
        let sha = self.resolve_or_422(r, reference, docs)?;
        let full = r.full_name();
        let mut runs: Vec<&CheckRun> = self
            .check_runs
            .iter()
            .rev()
            .filter(|c| c.repo == full && c.head_sha == sha)
            .filter(|c| q.get("check_name").is_none_or(|n| n == c.name))
            .filter(|c| q.get("status").is_none_or(|s| s == c.status))
            .collect();
        if q.get("filter").unwrap_or("latest") == "latest" {
            let mut names = BTreeSet::new();
            runs.retain(|c| names.insert(c.name.clone()));
        }
        let items: Vec<Value> = runs.iter().map(|c| self.check_run_json(c)).collect();
        let total = items.len();
        let mut reply = self.page(items, q, path);
        let page = reply.body.take().unwrap_or_default();
        reply.body = Some(json!({ "total_count": total, "check_runs": page }));
        Ok(reply)
    }

    /// One page of `items` per `per_page` (default 30, max 100, capped by
    /// the test) and `page`, with GitHub's `Link` header.
    fn page(&self, items: Vec<Value>, q: &Query, path: &str) -> Reply {
        let number = |key: &str| q.get(key).and_then(|v| v.parse::<usize>().ok());
        let mut per_page = number("per_page").unwrap_or(30).clamp(1, 100);
        if let Some(cap) = self.page_size_cap {
            per_page = per_page.min(cap);
        }
        let page = number("page").unwrap_or(1).max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let start = (page - 1) * per_page;
        let slice: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();
        let mut reply = Reply::json(200, Value::from(slice));
        let link = |n: usize, rel: &str| {
            let params = q
                .raw
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("page="));
            let mut params: Vec<String> = params.map(str::to_string).collect();
            params.push(format!("page={n}"));
            let url = format!("{}{path}?{}", self.base_url, params.join("&"));
            format!("<{url}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link((page - 1).min(last), "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }
        if !links.is_empty() {
            reply.headers.push(("link", links.join(", ")));
        }
        reply
    }
}

fn annotation_json(c: &CheckRun, a: &Annotation) -> Value {
    let path = url_path(&a.path);
    json!({
        "path": a.path,
        "start_line": a.start_line,
        "end_line": a.end_line,
        "start_column": null,
        "end_column": null,
        "annotation_level": a.level,
        "title": a.title,
        "message": a.message,
        "raw_details": a.raw_details,
        "blob_href": format!("https://github.com/{}/blob/{}/{path}", c.repo, c.head_sha),
    })
}

/// Applies the writable fields of a create/update body as GitHub does:
/// a conclusion completes the run; annotations are appended.
fn apply_check_run_fields(
    run: &mut CheckRun,
    body: &Value,
    at: OffsetDateTime,
    docs: &str,
) -> Result<(), Reply> {
    let invalid = |field: &str, message: &str| Reply::invalid("CheckRun", field, message, docs);
    if let Some(s) = body["external_id"].as_str() {
        run.external_id = Some(s.to_string());
    }
    if let Some(s) = body["details_url"].as_str() {
        run.details_url = Some(s.to_string());
    }
    if let Some(s) = body["started_at"].as_str() {
        run.started_at = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| invalid("started_at", "started_at is not a timestamp"))?;
    }
    if let Some(status) = body["status"].as_str() {
        if !matches!(status, "queued" | "in_progress" | "completed") {
            return Err(invalid("status", "status is not included in the list"));
        }
        run.status = status.to_string();
    }
    if let Some(conclusion) = body["conclusion"].as_str() {
        if !matches!(
            conclusion,
            "action_required"
                | "cancelled"
                | "failure"
                | "neutral"
                | "success"
                | "skipped"
                | "stale"
                | "timed_out"
        ) {
            return Err(invalid(
                "conclusion",
                "conclusion is not included in the list",
            ));
        }
        run.conclusion = Some(conclusion.to_string());
        run.status = "completed".to_string();
    } else if body["status"].as_str().is_some_and(|s| s != "completed") {
        run.conclusion = None;
        run.completed_at = None;
    }
    if run.status == "completed" {
        if run.conclusion.is_none() {
            return Err(invalid(
                "conclusion",
                "conclusion must be specified when status is completed",
            ));
        }
        run.completed_at = match body["completed_at"].as_str() {
            Some(s) => Some(
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| invalid("completed_at", "completed_at is not a timestamp"))?,
            ),
            None => Some(run.completed_at.unwrap_or(at)),
        };
    }
    let output = &body["output"];
    if output.is_object() {
        let (Some(title), Some(summary)) = (output["title"].as_str(), output["summary"].as_str())
        else {
            return Err(invalid("output", "output must have a title and a summary"));
        };
        for (field, value) in [
            ("title", Some(title)),
            ("summary", Some(summary)),
            ("text", output["text"].as_str()),
        ] {
            if value.is_some_and(|v| v.chars().count() > 65_535) {
                return Err(invalid(
                    field,
                    &format!("output.{field} is too long (maximum is 65535 characters)"),
                ));
            }
        }
        run.title = Some(title.to_string());
        run.summary = Some(summary.to_string());
        if let Some(text) = output["text"].as_str() {
            run.text = Some(text.to_string());
        }
        if let Some(list) = output["annotations"].as_array() {
            if list.len() > 50 {
                return Err(invalid("annotations", "at most 50 annotations per request"));
            }
            for a in list {
                let (Some(path), Some(start), Some(end), Some(level), Some(message)) = (
                    a["path"].as_str(),
                    a["start_line"].as_u64(),
                    a["end_line"].as_u64(),
                    a["annotation_level"].as_str(),
                    a["message"].as_str(),
                ) else {
                    return Err(invalid(
                        "annotations",
                        "an annotation needs path, start_line, end_line, annotation_level and message",
                    ));
                };
                if !matches!(level, "notice" | "warning" | "failure") {
                    return Err(invalid(
                        "annotation_level",
                        "annotation_level is not included in the list",
                    ));
                }
                run.annotations.push(Annotation {
                    path: path.to_string(),
                    start_line: start,
                    end_line: end,
                    level: level.to_string(),
                    message: message.to_string(),
                    title: a["title"].as_str().map(str::to_string),
                    raw_details: a["raw_details"].as_str().map(str::to_string),
                });
            }
        }
    }
    Ok(())
}

fn comment_body(body: &Value, docs: &str) -> Result<String, Reply> {
    let Some(text) = body["body"].as_str() else {
        return Err(Reply::invalid(
            "IssueComment",
            "body",
            "body wasn't supplied.",
            docs,
        ));
    };
    if text.chars().count() > 65_536 {
        return Err(Reply::invalid(
            "IssueComment",
            "body",
            "body is too long (maximum is 65536 characters)",
            docs,
        ));
    }
    Ok(text.to_string())
}

fn injected_failure(status: u16) -> Reply {
    let message = match status {
        403 => "API rate limit exceeded for installation ID 1.",
        429 => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        502 => "Server Error",
        503 => "Service Unavailable",
        _ => "Injected failure",
    };
    let mut reply = Reply::error(status, message, "");
    if matches!(status, 403 | 429) {
        let reset = OffsetDateTime::now_utc().unix_timestamp() + 1;
        reply.headers.push(("retry-after", "1".to_string()));
        reply
            .headers
            .push(("x-ratelimit-remaining", "0".to_string()));
        reply.headers.push(("x-ratelimit-reset", reset.to_string()));
    }
    reply
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// Now, to the second, as GitHub's timestamps are.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("RFC 3339")
}

fn node_id(prefix: &str, id: u64) -> String {
    format!(
        "{prefix}_kwDO{}",
        BASE64.encode(id.to_be_bytes()).trim_end_matches('=')
    )
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        data,
    ))
}

/// The SHA git gives a blob: what GitHub reports as a file's `sha`.
fn git_blob_sha(content: &[u8]) -> String {
    let mut data = format!("blob {}\0", content.len()).into_bytes();
    data.extend_from_slice(content);
    sha1_hex(&data)
}

fn tree_sha(tree: &Tree) -> String {
    sub_tree_sha(tree, "")
}

fn sub_tree_sha(tree: &Tree, dir: &str) -> String {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let listing: String = tree
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .map(|(p, b)| format!("{p} {}\n", git_blob_sha(b)))
        .collect();
    sha1_hex(format!("tree {listing}").as_bytes())
}

/// Base64 with a newline after every 60 characters, as the contents API sends.
fn github_base64(content: &[u8]) -> String {
    let encoded = BASE64.encode(content);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

fn url_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' && plus_is_space {
                    b' '
                } else {
                    bytes[i]
                });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Scheme credentials` with a case-insensitive scheme.
fn strip_scheme<'a>(auth: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = auth.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use octocrab::models::{AppId, InstallationId, repos::DiffEntryStatus};

    fn jwt(claims: Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY.as_bytes()).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        )
    }

    fn jwt_message(world: &World, auth: &str) -> Option<String> {
        let reply = world.check_jwt(auth, "").err()?;
        Some(reply.body.unwrap()["message"].as_str().unwrap().to_string())
    }

    #[test]
    fn jwts_are_checked_as_github_checks_them() {
        let world = World::new("http://127.0.0.1:1".into());
        let n = OffsetDateTime::now_utc().unix_timestamp();
        let ok = jwt(json!({ "iss": APP_ID, "iat": n - 60, "exp": n + 540 }));
        assert_eq!(jwt_message(&world, &ok), None);
        let as_string = jwt(json!({ "iss": APP_ID.to_string(), "iat": n - 60, "exp": n + 540 }));
        assert_eq!(jwt_message(&world, &as_string), None);
        let cases = [
            (
                json!({ "iss": APP_ID, "iat": n - 60, "exp": n + 600 }),
                "is too far in the future",
            ),
            (
                json!({ "iss": APP_ID, "iat": n - 700, "exp": n - 100 }),
                "future time at which",
            ),
            (
                json!({ "iss": APP_ID, "iat": n + 120, "exp": n + 500 }),
                "'Issued at' claim",
            ),
            (
                json!({ "iss": APP_ID, "exp": n + 500 }),
                "'Issued at' claim",
            ),
            (
                json!({ "iss": 7, "iat": n - 60, "exp": n + 540 }),
                "could not be decoded",
            ),
        ];
        for (claims, message) in cases {
            let got = jwt_message(&world, &jwt(claims.clone())).unwrap_or_default();
            assert!(got.contains(message), "{claims}: {got}");
        }
        let tampered = format!("{}AAAA", &ok[..ok.len() - 4]);
        for auth in [tampered.as_str(), "token ghs_x", ""] {
            let got = jwt_message(&world, auth).unwrap_or_default();
            assert_eq!(got, "A JSON web token could not be decoded", "{auth}");
        }
    }

    #[test]
    fn pages_carry_githubs_link_header() {
        let world = World::new("http://gh".into());
        let items: Vec<Value> = (0..7).map(Value::from).collect();
        let link = |raw: &str| {
            let reply = world.page(items.clone(), &Query::parse(raw), "/x");
            let link = reply.headers.iter().find(|(k, _)| *k == "link");
            (reply.body.unwrap(), link.map(|(_, v)| v.clone()))
        };
        let (body, first) = link("per_page=3");
        assert_eq!(body, json!([0, 1, 2]));
        assert_eq!(
            first.unwrap(),
            "<http://gh/x?per_page=3&page=2>; rel=\"next\", <http://gh/x?per_page=3&page=3>; rel=\"last\""
        );
        let (body, last) = link("per_page=3&page=3");
        assert_eq!(body, json!([6]));
        assert_eq!(
            last.unwrap(),
            "<http://gh/x?per_page=3&page=2>; rel=\"prev\", <http://gh/x?per_page=3&page=1>; rel=\"first\""
        );
        assert_eq!(link("").1, None);
    }

    #[tokio::test]
    async fn octocrab_reads_what_the_stand_in_serves() {
        let gh = GitHub::start().await;
        gh.team("acme/security", &["carol"]);
        gh.commit_to_main(&[
            ("requests/bob/old.toml", "old\n"),
            ("requests/bob/k.toml", "k\n"),
        ]);
        let pr = gh.open_pr_with_changes(
            "alice",
            &[
                Change::Write("requests/alice/ci.toml", "reason = \"CI\"\n"),
                Change::Delete("requests/bob/old.toml"),
                Change::Rename("requests/bob/k.toml", "requests/carol/k.toml"),
            ],
        );
        let head = gh.push(
            pr,
            "mallory",
            &[("requests/alice/ci.toml", "reason = \"CI!\"\n")],
        );
        let review = gh.review(pr, "carol", ReviewState::Approve);

        let key = jsonwebtoken::EncodingKey::from_rsa_pem(gh.private_key_pem.as_bytes()).unwrap();
        let app = octocrab::Octocrab::builder()
            .base_uri(gh.url.as_str())
            .unwrap()
            .app(AppId(gh.app_id), key)
            .build()
            .unwrap();
        let octo = app
            .installation(InstallationId(gh.installation_id()))
            .unwrap();
        let pulls = octo.pulls("acme", "access-requests");

        let p = pulls.get(pr).await.unwrap();
        assert_eq!(
            (p.head.sha.as_str(), p.merged),
            (head.as_str(), Some(false))
        );
        let files = pulls.list_files(pr).await.unwrap().items;
        let statuses: Vec<_> = files.iter().map(|f| f.status.clone()).collect();
        use DiffEntryStatus::{Added, Removed, Renamed};
        assert_eq!(statuses, vec![Added, Removed, Renamed]);
        assert_eq!(
            files[2].previous_filename.as_deref(),
            Some("requests/bob/k.toml")
        );
        let reviews = pulls.list_reviews(pr).send().await.unwrap().items;
        assert_eq!(
            (reviews[0].id.0, reviews[0].commit_id.as_deref()),
            (review, Some(head.as_str()))
        );
        let commits = pulls.pr_commits(pr).send().await.unwrap().items;
        assert_eq!(commits[1].author.as_ref().unwrap().login, "mallory");
        let membership = octo
            .teams("acme")
            .memberships("security")
            .get("carol")
            .await
            .unwrap();
        assert_eq!(
            membership.state,
            octocrab::models::memberships::State::Active
        );

        let issues = octo.issues("acme", "access-requests");
        let comment = issues.create_comment(pr, "hello").await.unwrap();
        assert_eq!(
            (comment.user.login.as_str(), comment.user.r#type.as_str()),
            ("keygate[bot]", "Bot")
        );
        issues.update_comment(comment.id, "edited").await.unwrap();
        assert_eq!(gh.comments(pr), vec!["edited"]);

        let merge = gh.merge(pr);
        let commit = octo
            .commits("acme", "access-requests")
            .get(merge.clone())
            .await
            .unwrap();
        let parents: Vec<_> = commit
            .parents
            .iter()
            .map(|c| c.sha.clone().unwrap())
            .collect();
        assert_eq!(parents[1], head);
        let mut content = octo
            .repos("acme", "access-requests")
            .get_content()
            .path("requests/carol/k.toml")
            .r#ref(merge)
            .send()
            .await
            .unwrap();
        assert_eq!(content.take_items()[0].decoded_content().unwrap(), "k\n");
        assert_eq!(gh.tokens_issued(), 1);
        gh.expire_tokens();
        pulls.get(pr).await.unwrap();
        assert_eq!(gh.tokens_issued(), 2);

        assert!(
            octo.repos("acme", "access-requests")
                .list_tags()
                .send()
                .await
                .is_err()
        );
        let unknown = gh.take_unknown_requests();
        assert_eq!(unknown, vec!["GET /repos/acme/access-requests/tags"]);
    }
}
