//! What a pull request's commits, read one by one, say (DESIGN §2.1 and §2.4): who pushed
//! them, whether keygate can see them all, whether each is signed, and which paths the pull
//! request's own commits changed. The caller reads the commits; this module judges them, and
//! rendering phrases the refusals.

use serde::Serialize;

use crate::facts::{Authorship, CommitInfo, Pusher};
use crate::policy::approval::ApprovalRules;
use crate::policy::problem::Problem;
use crate::request::{PathKind, RequestRules, classify};

/// GitHub's pull-request commits list stops at 250.
pub const MAX_LISTED_COMMITS: usize = 250;

/// One commit of the pull request, as the commits list and the single-commit API report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitFacts {
    pub sha: String,
    /// Parent SHAs, first parent first (the commits list's `parents`).
    pub parents: Vec<String>,
    /// The GitHub accounts behind the author and committer e-mails; `None` for an address
    /// linked to no account (and for GitHub's `web-flow` committer, which is not a person).
    pub author: Option<Pusher>,
    pub committer: Option<Pusher>,
    /// GitHub verified the commit's signature (`commit.verification.verified`).
    pub verified: bool,
    /// Paths the commit changed against its first parent (renames give both names); empty
    /// when the caller did not read them.
    pub files: Vec<String>,
    /// Its message and author, which a rebase merge writes again.
    pub authorship: Option<Authorship>,
}

impl CommitFacts {
    /// A merge that brought the base branch in ("Update branch"): a commit with more than one
    /// parent whose other parents are none of the pull request's own commits. Every commit
    /// reachable from the head and not from the base is in the pull request's commit list,
    /// so a parent missing from it is already on the base. Its changes against its first
    /// parent are then the base's, not the pull request's.
    pub fn merges_base(&self, pull_commits: &[CommitFacts]) -> bool {
        self.parents.len() > 1
            && self.parents[1..]
                .iter()
                .all(|p| !pull_commits.iter().any(|c| c.sha.eq_ignore_ascii_case(p)))
    }
}

/// Where the base a merged pull request landed on is, from its merge commit (DESIGN §2.1:
/// "the base before the merge", whichever merge method made it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// The merge commit's first parent: a merge commit, a squash, or a rebase of one commit.
    FirstParent,
    /// A rebase merge wrote the pull request's own commits again on top of the base: the
    /// merge commit is the last of them. These are their authorships, newest first (the
    /// merge commit's included); the base is the first parent of the oldest.
    Rebased(Vec<Authorship>),
}

/// How the pull request landed. A rebase is told from a squash by its merge commit: one
/// parent, and the message and authorship (author date included) of the pull request's
/// last own commit, which a squash never keeps. A rebase drops merge commits.
pub fn landing(merge: &CommitInfo, commits: &[CommitFacts]) -> Landing {
    let rebased: Vec<Authorship> = commits
        .iter()
        .rev()
        .filter(|c| c.parents.len() <= 1)
        .filter_map(|c| c.authorship.clone())
        .collect();
    let own = commits.iter().filter(|c| c.parents.len() <= 1).count();
    let looks_rebased = merge.parents.len() == 1
        && rebased.len() == own
        && own > 1
        && merge.authorship.as_ref() == rebased.first();
    if looks_rebased {
        Landing::Rebased(rebased)
    } else {
        Landing::FirstParent
    }
}

/// What the commits showed that can refuse a pull request: plain facts, phrased by
/// [`History::refusals`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// Commits the commits list returned.
    pub commits_listed: usize,
    /// The pull request's `commits` count.
    pub commits_total: u64,
    /// SHAs of commits whose author and committer are both linked to no account.
    pub unlinked_commits: Vec<String>,
    /// SHAs of commits without a signature GitHub verified.
    pub unverified_commits: Vec<String>,
}

impl History {
    /// Reads the commits the list returned; `commits_total` is the pull request's count.
    pub fn read(commits: &[CommitFacts], commits_total: u64) -> History {
        History {
            commits_listed: commits.len(),
            commits_total,
            unlinked_commits: commits
                .iter()
                .filter(|c| c.author.is_none() && c.committer.is_none())
                .map(|c| c.sha.clone())
                .collect(),
            unverified_commits: commits
                .iter()
                .filter(|c| !c.verified)
                .map(|c| c.sha.clone())
                .collect(),
        }
    }

    /// Not every commit is listed: who pushed the rest is unknown.
    pub fn incomplete(&self) -> bool {
        self.commits_listed >= MAX_LISTED_COMMITS
            || self.commits_total > u64::try_from(self.commits_listed).unwrap_or(u64::MAX)
    }

    /// Every reason these commits refuse the pull request.
    pub fn refusals(&self, rules: &ApprovalRules) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.incomplete() {
            out.push(Problem::TooManyCommits {
                commits: self
                    .commits_total
                    .max(u64::try_from(self.commits_listed).unwrap_or(u64::MAX)),
            });
        }
        if !self.unlinked_commits.is_empty() {
            out.push(Problem::UnlinkedCommits {
                shas: self.unlinked_commits.clone(),
            });
        }
        if rules.require_verified_commits && !self.unverified_commits.is_empty() {
            out.push(Problem::UnverifiedCommits {
                shas: self.unverified_commits.clone(),
            });
        }
        out
    }
}

/// The account behind a commit's author or committer, if it is a person: GitHub's `web-flow`
/// account commits what people do in the web UI, and pushed nothing itself.
pub fn person(account: Option<Pusher>) -> Option<Pusher> {
    account.filter(|p| p.login.as_deref() != Some("web-flow"))
}

/// Everyone who authored or committed a listed commit, once each.
pub fn pushers(commits: &[CommitFacts]) -> Vec<Pusher> {
    let mut out: Vec<Pusher> = Vec::new();
    for p in commits
        .iter()
        .flat_map(|c| [&c.author, &c.committer])
        .flatten()
    {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// Paths outside the requests folder (CODEOWNERS included) that the pull request's own
/// commits changed, once each, in order. A commit that touched CODEOWNERS and a later one
/// that undid it leave no trace in the net diff, yet after a rebase merge the merge commit's
/// first parent is that commit: every own commit counts. Merges of the base branch are
/// skipped: what they bring is the base's ([`CommitFacts::merges_base`]).
pub fn own_outside_paths(commits: &[CommitFacts], rules: &RequestRules) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for commit in commits.iter().filter(|c| !c.merges_base(commits)) {
        for path in &commit.files {
            if matches!(classify(path, rules), PathKind::Outside) && !out.contains(path) {
                out.push(path.clone());
            }
        }
    }
    out
}

/// "`abc1234`", "`abc1234`, `def5678`", at most five then "and N more".
#[cfg(test)]
mod tests;
