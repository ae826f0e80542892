//! Refusals from the pull request's commits, and which paths are its own.

use super::*;
use crate::policy::changes::Changes;
use crate::policy::problem::Problem;
use crate::request::test_support::settings as rules;

const A: &str = "aaaaaaa1111111111111111111111111111111111";
const B: &str = "bbbbbbb2222222222222222222222222222222222";
const C: &str = "ccccccc3333333333333333333333333333333333";
const BASE: &str = "9999999000000000000000000000000000000000";

fn by(id: u64, login: &str) -> Option<Pusher> {
    Some(Pusher {
        id: Some(id),
        login: Some(login.into()),
    })
}

/// A signed commit by alice on `parents`, changing `files`.
fn commit(sha: &str, parents: &[&str], files: &[&str]) -> CommitFacts {
    CommitFacts {
        sha: sha.into(),
        parents: parents.iter().map(|p| p.to_string()).collect(),
        author: by(1, "alice"),
        committer: by(1, "alice"),
        verified: true,
        files: files.iter().map(|f| f.to_string()).collect(),
        authorship: Some(authored(sha)),
    }
}

/// The authorship of the commit `sha`: alice, at a time of its own.
fn authored(sha: &str) -> Authorship {
    Authorship {
        message: format!("commit {sha}"),
        author: format!(
            "alice <alice@example.com> 2026-01-01T00:00:0{}Z",
            sha.len() % 10
        ),
    }
}

fn merge_commit(parents: &[&str], authorship: Option<Authorship>) -> CommitInfo {
    CommitInfo {
        sha: "m".into(),
        parents: parents.iter().map(|p| p.to_string()).collect(),
        authorship,
    }
}

fn refusals(commits: &[CommitFacts], total: u64, rules: &ApprovalRules) -> Vec<Problem> {
    History::read(commits, total).refusals(rules)
}

#[test]
fn signed_linked_and_fully_listed_commits_refuse_nothing() {
    let commits = [commit(A, &[BASE], &[]), commit(B, &[A], &[])];
    let required = ApprovalRules {
        require_verified_commits: true,
        ..ApprovalRules::default()
    };
    assert!(refusals(&commits, 2, &required).is_empty());
}

#[test]
fn more_commits_than_github_lists_refuses() {
    let commits: Vec<CommitFacts> = (0..MAX_LISTED_COMMITS)
        .map(|i| commit(&format!("{i:040x}"), &[], &[]))
        .collect();
    assert_eq!(
        refusals(&commits, 300, &ApprovalRules::default()),
        [Problem::TooManyCommits { commits: 300 }]
    );
    // Fewer listed than the pull request says it has: some are unseen.
    let few = [commit(A, &[BASE], &[])];
    assert_eq!(refusals(&few, 2, &ApprovalRules::default()).len(), 1);
    assert!(refusals(&few, 1, &ApprovalRules::default()).is_empty());
}

#[test]
fn commits_by_unlinked_addresses_refuse_naming_each_short_sha() {
    let mut unlinked = commit(B, &[A], &[]);
    unlinked.author = None;
    unlinked.committer = None;
    let mut half_linked = commit(C, &[B], &[]);
    half_linked.author = None;
    let commits = [commit(A, &[BASE], &[]), unlinked, half_linked];

    assert_eq!(
        refusals(&commits, 3, &ApprovalRules::default()),
        [Problem::UnlinkedCommits {
            shas: vec![B.into()]
        }]
    );
}

#[test]
fn unverified_commit_refuses_only_when_signatures_are_required() {
    let mut unsigned = commit(B, &[A], &[]);
    unsigned.verified = false;
    let commits = [commit(A, &[BASE], &[]), unsigned];

    assert!(refusals(&commits, 2, &ApprovalRules::default()).is_empty());
    let required = ApprovalRules {
        require_verified_commits: true,
        ..ApprovalRules::default()
    };
    assert_eq!(
        refusals(&commits, 2, &required),
        [Problem::UnverifiedCommits {
            shas: vec![B.into()]
        }]
    );
}

#[test]
fn pushers_are_every_author_and_committer_once() {
    let mut b = commit(B, &[A], &[]);
    b.committer = by(2, "bob");
    let mut c = commit(C, &[B], &[]);
    c.author = None;
    let got = pushers(&[commit(A, &[BASE], &[]), b, c]);
    assert_eq!(got, [by(1, "alice").unwrap(), by(2, "bob").unwrap()]);
}

// -- The pull request's own changes and "Update branch" merges -------------------------------

#[test]
fn a_merge_of_the_base_is_recognised_by_a_parent_outside_the_pull_request() {
    let own = commit(A, &[BASE], &[]);
    let update = commit(B, &[A, BASE], &[]);
    let side = commit(C, &[BASE], &[]);
    let merge_own_work = commit("d", &[A, C], &[]);
    let all = [own.clone(), update.clone(), side, merge_own_work.clone()];

    assert!(update.merges_base(&all));
    assert!(!own.merges_base(&all));
    assert!(!merge_own_work.merges_base(&all));
}

#[test]
fn outside_paths_brought_by_a_base_merge_are_not_the_pull_requests_own() {
    let commits = [
        commit(A, &[BASE], &["requests/alice/ci.toml"]),
        commit(B, &[A, BASE], &[".github/CODEOWNERS", "src/main.rs"]),
    ];
    assert!(own_outside_paths(&commits, &rules()).is_empty());
}

#[test]
fn codeowners_changed_by_an_own_commit_counts_even_when_undone_and_merged_with_the_base() {
    let commits = [
        commit(A, &[BASE], &["requests/alice/ci.toml", "CODEOWNERS"]),
        commit(B, &[A], &["CODEOWNERS"]),
        commit(C, &[B, BASE], &["CODEOWNERS", "README.md"]),
    ];
    assert_eq!(own_outside_paths(&commits, &rules()), ["CODEOWNERS"]);
}

#[test]
fn a_merge_whose_other_parent_is_the_pull_requests_own_work_is_judged_like_any_commit() {
    let commits = [
        commit(A, &[BASE], &["requests/alice/ci.toml"]),
        commit(C, &[BASE], &["docs/CODEOWNERS"]),
        commit(B, &[A, C], &["docs/CODEOWNERS"]),
    ];
    assert_eq!(own_outside_paths(&commits, &rules()), ["docs/CODEOWNERS"]);
}

#[test]
fn changes_take_in_the_history_as_facts_and_policy_names_the_refusals() {
    let mut unlinked = commit(B, &[A, BASE], &[".github/CODEOWNERS"]);
    unlinked.author = None;
    unlinked.committer = None;
    let commits = [
        commit(A, &[BASE], &["requests/alice/ci.toml", "CODEOWNERS"]),
        unlinked,
    ];
    let mut changes = Changes {
        added: vec!["requests/alice/ci.toml".into()],
        ..Changes::default()
    };

    changes.read_history(&commits, 2, &rules());

    assert_eq!(changes.outside, ["CODEOWNERS"]);
    assert_eq!(changes.history.unlinked_commits, [B]);
    assert_eq!(
        changes.problems(&ApprovalRules::default()),
        [
            Problem::UnlinkedCommits {
                shas: vec![B.into()]
            },
            Problem::Outside {
                paths: vec!["CODEOWNERS".into()]
            },
        ]
    );
}

#[test]
fn a_merge_commit_or_a_squash_landed_on_its_first_parent() {
    let commits = [commit("a1", &["base"], &[]), commit("a22", &["a1"], &[])];
    let merge = merge_commit(&["base", "a22"], Some(authored("a22")));
    assert_eq!(landing(&merge, &commits), Landing::FirstParent);
    let squash = merge_commit(&["base"], Some(authored("squashed")));
    assert_eq!(landing(&squash, &commits), Landing::FirstParent);
}

#[test]
fn a_rebase_of_two_commits_landed_two_commits_back() {
    let commits = [commit("a1", &["base"], &[]), commit("a22", &["a1"], &[])];
    let tip = merge_commit(&["rebased-a1"], Some(authored("a22")));
    assert_eq!(
        landing(&tip, &commits),
        Landing::Rebased(vec![authored("a22"), authored("a1")])
    );
}

#[test]
fn a_rebase_leaves_out_the_base_merged_into_the_pull_request() {
    let commits = [
        commit("a1", &["base"], &[]),
        commit("up", &["a1", "newer-base"], &[]),
        commit("a333", &["up"], &[]),
    ];
    let tip = merge_commit(&["rebased-a1"], Some(authored("a333")));
    assert_eq!(
        landing(&tip, &commits),
        Landing::Rebased(vec![authored("a333"), authored("a1")])
    );
}

#[test]
fn one_commit_or_an_unknown_authorship_lands_on_the_first_parent() {
    let one = [commit("a1", &["base"], &[])];
    let tip = merge_commit(&["base"], Some(authored("a1")));
    assert_eq!(landing(&tip, &one), Landing::FirstParent);
    let two = [commit("a1", &["base"], &[]), commit("a22", &["a1"], &[])];
    assert_eq!(
        landing(&merge_commit(&["x"], None), &two),
        Landing::FirstParent
    );
}
