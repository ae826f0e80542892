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

//!
//! Layout: [`model`] holds the state, [`git`] trees and diffs, [`json`] the
//! REST shapes, [`http`] the server (routing, auth, pagination, failure
//! injection, request-body validation); this file is the tester API.

mod actions;
mod git;
mod http;
mod json;
mod model;
pub(crate) mod secret_scanning;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use serde_json::Value;

use git::Entry;
#[allow(unused_imports)] // part of the API even where no test names it yet
pub use model::{
    Account, AccountKind, Annotation, Change, CheckRunView, CommentView, MergeMethod, ReviewState,
    Signature,
};
use model::{CheckRun, Failure, ROLES, World};

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

/// Another throwaway RSA key, which GitHub does not know for the App: a key mixed up with
/// another App's.
pub const NOT_THE_APPS_PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAnwumCOuhtmazcTI96ECWQMUIuOLkRGzEDiykv+/K4af85RT+
I07YEGWgg9TKhtcg1e1jf0y+Ire1q4GrD4+FKh7cVuKVf1sIVOWNicrIrWyj1VPy
CgK0oc4wSwYT/35NXv7kn87BB1kvKW7Unp4EMjLeEvrBe4Q7WYEeSOXaY7opKWKJ
anAEV0TLQer5zfRAgqev21zbWYOldXXkhr/OXd5B2xXe5pInXeU8g8M2m+x7wWSD
bGNVWOLt0zuD+ZJVsler0e6DKF9lOJuMontoGDLSf61DaVLg1twgOhCMIl+uNQgd
BMgh1sSvO0pPc4Pf0qkz1Je5TnTL+jTcvEb8JwIDAQABAoIBABVY7mm/Gt8NLOOy
Ly4H0UMTT0blqWbnxG70ng5nJK+iKSckaLIbiJO22FMpkh+EK5ObP+Ibzl+BkgBZ
sLivdlu/daqx0ggck2M1xogqsEHa1aiyEkg2scEQGFpRkAiYjtED3HL4wN74IQTq
K964be7A9h7NCoBGMOMkGgkF1QjSgvcEyeQqXtLNUvnBPi8Ohtb1QRlFZtT9dE7z
qgf/nW1NKNnM9CYRqC7l1bhIJNkd6fK9PWsJ5WRPpIqmO4VCR4Vy8qwvxomvjyEf
5IOJDUKONnRRU6zYenwZTK9v/6EPv69HEmdM2fYpSTlJFi0jtyqfuXS9nx/SCGq9
y1l3M60CgYEA3z5WOsOjoeKqvgS54vHTDG2V2njb2rpRIKXG52WRQU2N3nDbnXCJ
B227I3CHglC3WjXv/byrSrDuREYpaUSuhU8BhgFsXs5QLdRDq5l53ExGCu0GHtcb
ltIJ4FRBMcXED0fTNDEHnSSFUB4S8kAh1UWgTKrqjH1hs/sepPc6GQMCgYEAtmHa
AZbqVNSbR84z/J2Cc9EzLu6wySQhECvWXWzM5lpCywVdMdjQrFOxxTLIxlgizyL4
xhx3O3+iGlRIpuh3H2UGfZzeFbMnZDCc67BUMEQiLq6cuXCc2OF0GESMOeVsFttu
oQU/eGZtqZIcpisqJ9FxfrcKHiaWcN4QWd7KPQ0CgYEAvvKa3vin5bfzQ0TXmn4t
ftvc6Vmm85eZ/MrPLu15KNolFraBolC3ZFs/TjjaL2TK76Zi+C2AdgqQQmWg1iGh
BPVm4DAneZAOlKSSnRxRV1UGNCI4sfhb6M0PFYn7mY8G++r7hBDL6mVqgfS3T+37
Amjji7BFnpVAFKoetAui7fECgYAwOBi6WNsliHxxdJwcCszFsCa3HtZQp6OyMdTg
KHbX5D9Ki+WC2074cLxMZcvdXMn/N8DMKBSB/5GtImF+93EfNMeNiF7TH+WnQI8M
ZTcs96aN7w5ynMprMNhP3jewyu5T8LoECm4od/RAY+f9KuZfVqmKFfyv0gXuW1e5
WwTfNQKBgDVRaCHu5F70Vg/2cPQ3N8rSLL70Z4p0Nw8TJ45/V85sGMQi77WrdkSP
na2b16i3O8hF4Fr62eGdT8ka92Rhu5GeZ090u1PxwqR7nYyJnTkGA4c8RVQ2kn2P
AJFkijU4G9TsetPPg2w7WkHAxAhaJ5ctUq7MmoEy93nKwl0vqsQq
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

/// A merged commit made through the web UI is committed by this account.
pub(crate) const WEB_FLOW: &str = "web-flow";
/// The account that makes direct commits to the default branch.
pub(crate) const ADMIN: &str = "acme-admin";
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
        GitHub::start_under("").await
    }

    /// [`GitHub::start`], with the REST API served under `prefix` (GitHub Enterprise
    /// Server's `/api/v3`): `url` ends with it, and a call outside it is unknown.
    pub async fn start_under(prefix: &str) -> GitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GitHub stand-in");
        let host = format!("http://{}", listener.local_addr().expect("local addr"));
        let url = format!("{host}{prefix}");
        let state = Arc::new(Mutex::new(World::new(host, prefix)));
        {
            let mut world = state.lock().unwrap();
            world.create_repo(DEFAULT_REPO, "main");
            world.install(INSTALLATION_ID, "acme");
        }
        let app = Router::new()
            .fallback(http::serve)
            .with_state(state.clone());
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

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
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

    /// Replaces the permissions the installations hold (GitHub's `permissions` object,
    /// e.g. `{"contents": "read"}`).
    pub fn set_installation_permissions(&self, permissions: Value) {
        self.world().permissions = Some(permissions);
    }

    /// Protects the branch with these required status checks (readable only with the
    /// `administration` permission, as on GitHub).
    pub fn require_checks(&self, contexts: &[&str]) {
        self.world().required_checks = Some(contexts.iter().map(|c| c.to_string()).collect());
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

    /// Sets `login`'s permission on the repository as GitHub calculates it
    /// from every grant: `read`, `triage`, `write`, `maintain`, `admin` or
    /// `none`. Unless set, every user has `write`.
    pub fn set_permission(&self, login: &str, role: &str) {
        let role = ROLES
            .into_iter()
            .chain(["none"])
            .find(|r| *r == role)
            .unwrap_or_else(|| panic!("no repository role {role:?}"));
        let mut world = self.world();
        world.account(login, AccountKind::User);
        let repo = world.repo_mut(&self.repo);
        repo.user_roles.insert(login.to_ascii_lowercase(), role);
    }

    /// Sets team `org/slug`'s permission on the repository: `pull`, `triage`,
    /// `push`, `maintain` or `admin` (`read`/`write` also name pull/push), or
    /// `None` for no access. Unless set, every team has `push`.
    pub fn set_team_permission(&self, org_team: &str, permission: Option<&str>) {
        let permission = permission.map(|p| match p {
            "pull" | "read" => "pull",
            "push" | "write" => "push",
            "triage" => "triage",
            "maintain" => "maintain",
            "admin" => "admin",
            other => panic!("no team permission {other:?}"),
        });
        let mut world = self.world();
        let team = world.team_mut(org_team);
        let key = (
            team.org.to_ascii_lowercase(),
            team.slug.to_ascii_lowercase(),
        );
        world
            .repo_mut(&self.repo)
            .team_roles
            .insert(key, permission);
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
        let branch = self.default_branch();
        self.commit_changes_to(&branch, author, changes)
    }

    pub fn main_head(&self) -> String {
        self.branch_head(&self.default_branch())
    }

    /// The file at `path` as of `reference` (branch or SHA), if any; a
    /// symlink gives its target, a submodule its commit.
    pub fn file_at(&self, reference: &str, path: &str) -> Option<String> {
        let world = self.world();
        let sha = world.resolve(world.repo(&self.repo), reference)?;
        Some(match world.commits[&sha].tree.get(path)? {
            Entry::File(blob) => String::from_utf8_lossy(blob).into_owned(),
            Entry::Symlink(target) => target.clone(),
            Entry::Submodule(sha) => sha.clone(),
        })
    }

    // --- branches ---

    fn default_branch(&self) -> String {
        self.world().repo(&self.repo).default_branch.clone()
    }

    /// Creates branch `name` (exact: `Main` and `main` are two branches) at
    /// `from`, a branch or a SHA; returns its head SHA.
    pub fn create_branch(&self, name: &str, from: &str) -> String {
        self.world().create_branch(&self.repo, name, from)
    }

    /// A direct commit to `branch` by `acme-admin`; returns its SHA.
    pub fn commit_to(&self, branch: &str, files: &[(&str, &str)]) -> String {
        self.commit_changes_to(branch, ADMIN, &writes(files))
    }

    pub fn commit_changes_to(&self, branch: &str, author: &str, changes: &[Change<'_>]) -> String {
        self.world().commit_to(&self.repo, branch, author, changes)
    }

    pub fn branch_head(&self, branch: &str) -> String {
        self.world().branch_head(&self.repo, branch)
    }

    // --- pull requests ---

    /// Opens a pull request from a new branch off the default branch's head,
    /// with one commit by `author` writing `files`. Returns its number.
    pub fn open_pr(&self, author: &str, files: &[(&str, &str)]) -> u64 {
        self.open_pr_with_changes(author, &writes(files))
    }

    pub fn open_pr_with_changes(&self, author: &str, changes: &[Change<'_>]) -> u64 {
        self.open_pr_on_with_changes(&self.default_branch(), author, changes)
    }

    /// Like [`GitHub::open_pr`], against branch `base`.
    pub fn open_pr_on(&self, base: &str, author: &str, files: &[(&str, &str)]) -> u64 {
        self.open_pr_on_with_changes(base, author, &writes(files))
    }

    pub fn open_pr_on_with_changes(&self, base: &str, author: &str, changes: &[Change<'_>]) -> u64 {
        self.world()
            .open_pr(&self.repo, base, author, changes, false)
    }

    /// Like [`GitHub::open_pr`], as a draft.
    pub fn open_draft_pr(&self, author: &str, files: &[(&str, &str)]) -> u64 {
        let base = self.default_branch();
        self.world()
            .open_pr(&self.repo, &base, author, &writes(files), true)
    }

    /// Changes the pull request's base branch, by its author: the base SHA
    /// follows `new_base`, and the timeline gets a `base_ref_changed` event.
    pub fn retarget(&self, pr: u64, new_base: &str) {
        self.world().retarget(&self.repo, pr, new_base, None);
    }

    pub fn retarget_as(&self, pr: u64, new_base: &str, by: &str) {
        self.world().retarget(&self.repo, pr, new_base, Some(by));
    }

    /// GitHub's "Update branch" (by the author): a merge commit of the base
    /// head into the head, parents (head, base head), committed and signed by
    /// GitHub; listed in the PR's commits. Returns the new head SHA.
    pub fn update_branch(&self, pr: u64) -> String {
        self.world().update_branch(&self.repo, pr, None)
    }

    pub fn update_branch_as(&self, pr: u64, by: &str) -> String {
        self.world().update_branch(&self.repo, pr, Some(by))
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

    /// Like [`GitHub::push`], with a signature GitHub verified.
    pub fn push_signed(&self, pr: u64, pusher: &str, files: &[(&str, &str)]) -> String {
        let sha = self.push(pr, pusher, files);
        self.set_signature(&sha, Signature::Valid);
        sha
    }

    /// Sets how GitHub judges the signature of commit `sha`. Pushed commits
    /// start [`Signature::Unsigned`]; those GitHub makes (merges, "Update
    /// branch") [`Signature::Valid`].
    pub fn set_signature(&self, sha: &str, signature: Signature) {
        let mut world = self.world();
        let commit = world.commits.get_mut(sha);
        commit
            .unwrap_or_else(|| panic!("no commit {sha}"))
            .signature = signature;
    }

    /// A commit by the author making `path` a symlink to `target`.
    pub fn push_symlink(&self, pr: u64, path: &str, target: &str) -> String {
        let author = self.world().repo(&self.repo).pull(pr).author.login.clone();
        self.push_changes(pr, &author, &[Change::Symlink(path, target)])
    }

    /// A commit by the author making `path` a submodule pinned at `commit`.
    pub fn push_submodule(&self, pr: u64, path: &str, commit: &str) -> String {
        let author = self.world().repo(&self.repo).pull(pr).author.login.clone();
        self.push_changes(pr, &author, &[Change::Submodule(path, commit)])
    }

    /// Lists at most `n` files of the pull request, as GitHub does past
    /// 3,000: `changed_files` still counts them all.
    pub fn truncate_files_list(&self, pr: u64, n: usize) {
        self.world().repo_mut(&self.repo).pull_mut(pr).files_cap = Some(n);
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
    /// A login ending in `[bot]` (e.g. `github-actions[bot]`) is a bot.
    pub fn comment_as(&self, pr: u64, login: &str, body: &str) -> u64 {
        let mut world = self.world();
        let user = world.person(login);
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

    /// Makes every answer take `latency` longer, as a distant GitHub would.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.world().latency = latency;
    }

    /// How many sequential rounds the requests from index `from` on took: the longest chain
    /// of requests each started after the one before it had been answered. Requests sent
    /// side by side share a round.
    pub fn rounds_since(&self, from: usize) -> usize {
        let world = self.world();
        let log = &world.requests[from.min(world.requests.len())..];
        let mut order: Vec<&_> = log.iter().collect();
        order.sort_by_key(|r| r.started);
        let mut depth: Vec<usize> = Vec::with_capacity(order.len());
        for (i, r) in order.iter().enumerate() {
            let before = (0..i)
                .filter(|&j| order[j].finished <= r.started)
                .map(|j| depth[j])
                .max()
                .unwrap_or(0);
            depth.push(before + 1);
        }
        depth.into_iter().max().unwrap_or(0)
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

    /// What each installation-token request asked for: the `repositories` it named, or
    /// `None` for a token over the whole installation.
    pub fn token_scopes(&self) -> Vec<Option<Vec<String>>> {
        self.world().token_scopes.clone()
    }

    /// Makes every installation token issued so far invalid (GitHub answers
    /// `401 Bad credentials`), so the next call must get a new one.
    pub fn expire_tokens(&self) {
        let mut world = self.world();
        let past = world.github_now() - time::Duration::seconds(1);
        for t in world.tokens.values_mut() {
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

    /// The status of each request made with the App's JWT (token exchanges, `/app…`, a
    /// repository's installation), in order.
    pub fn app_jwt_answers(&self) -> Vec<u16> {
        let world = self.world();
        let with_jwt = world.requests.iter().filter(|r| {
            let path = r.path_query.split('?').next().unwrap_or_default();
            path.starts_with("/app") || path.ends_with("/installation")
        });
        with_jwt.map(|r| r.status).collect()
    }

    /// The status of each installation-token exchange
    /// (`POST /app/installations/{id}/access_tokens`), in order.
    pub fn token_exchanges(&self) -> Vec<u16> {
        let world = self.world();
        let exchanges = world
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path_query.ends_with("/access_tokens"));
        exchanges.map(|r| r.status).collect()
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
            "synchronize" => p
                .pushed_by
                .clone()
                .unwrap_or_else(|| world.commits[&p.head_sha].author.clone()),
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
