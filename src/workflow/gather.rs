//! Facts, then one decision (STYLE: decisions are pure, fetching is separate). Everything a
//! judgement of one pull request needs is read here, in as few sequential rounds as the data
//! allow, and handed to `policy::assess` once:
//!
//! 1. what needs only the pull request's number: the pull request, its files, reviews,
//!    commits and timeline, the base branch's head (before merge) or the merge commit's
//!    parents (at merge, when the delivery named the merge commit), and the pushes keygate
//!    recorded;
//! 2. what needs those: CODEOWNERS at the base (its three locations side by side), each
//!    request at the head, at the merge and on the base, and each commit's files;
//! 3. what needs the owners: team memberships and repository permissions.

use futures_util::future::try_join_all;
use time::OffsetDateTime;

use super::{StepError, Workflow};
use crate::event::Sender;
use crate::facts::{Blob, ChangedFile, CommitInfo, Pusher, Review};
use crate::github::client::{FileEntry, GitHubError, PullCommit, PullInfo, RepoClient};
use crate::ids::RequestPath;
use crate::ledger::{Job, Store};
use crate::policy::approval::{
    Access, Decision, FileOwnership, Memberships, Permission, Permissions, PullFacts, decide,
    membership_queries, permission_queries, pull_expired,
};
use crate::policy::changes::Changes;
use crate::policy::codeowners::{CodeOwners, LOCATIONS, MAX_SIZE};
use crate::policy::history::{self, CommitFacts, Landing, landing};
use crate::policy::integrity::{Integrity, RequestBlobs};
use crate::policy::problem::Problem;
use crate::policy::{Assessment, OwnersFile, assess, ownerships};
use crate::request::{Diagnostic, Request, parse_request};

/// Where the pull request stands for this judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moment {
    /// Open: the check run. Owners come from the base branch's current head.
    Open,
    /// Merged: owners come from the merge commit's first parent.
    Merged,
}

/// Round 1: what needs only the pull request's number.
pub(crate) struct Listing {
    pub pr: PullInfo,
    files: Vec<ChangedFile>,
    reviews: Vec<Review>,
    commits: Vec<PullCommit>,
    base_changes: Vec<OffsetDateTime>,
    senders: Vec<Sender>,
    /// Open: the configured branch's head.
    base_head: Option<String>,
    /// Merged: the merge commit the delivery named, as read.
    merge_commit: Option<CommitInfo>,
}

impl Listing {
    /// Whether the pull request adds, changes or deletes request files.
    pub(crate) fn touches_requests(&self, rules: &crate::request::RequestRules) -> bool {
        Changes::sort(&self.files, rules).touches_requests()
    }
}

/// Everything a decision about one pull request needs, and the decision.
pub(crate) struct Facts {
    pub pr: PullInfo,
    pub changes: Changes,
    pub requests: Vec<(RequestPath, Result<Request, Vec<Diagnostic>>)>,
    pub assessment: Assessment,
    /// The requests waited longer than `policy.request_ttl_hours` for their approvals: the
    /// pull request is rejected and can never issue (DESIGN §2.7).
    pub expired: bool,
    /// The §2 decision over the request files the pull request deletes (revocations), by
    /// the owners of those paths; `None` when it deletes none.
    pub revocation: Option<Decision>,
}

/// Round 1 failed: the error, and the pull request when it at least could be read (so the
/// failure can be announced on it).
pub(crate) struct Unlisted {
    pub pr: Option<PullInfo>,
    pub error: StepError,
}

impl From<Unlisted> for StepError {
    fn from(u: Unlisted) -> StepError {
        u.error
    }
}

/// Lifts a client error into the step's error type inside `try_join!`.
async fn step<T>(f: impl Future<Output = Result<T, GitHubError>>) -> Result<T, StepError> {
    Ok(f.await?)
}

impl Workflow {
    /// Round 1. Independent reads, side by side.
    pub(crate) async fn list(
        &self,
        gh: &RepoClient,
        job: &Job,
        moment: Moment,
    ) -> Result<Listing, Unlisted> {
        let n = job.event.pr.get();
        gh.warm().await.map_err(|e| Unlisted {
            pr: None,
            error: e.into(),
        })?;
        let base_head = async {
            match moment {
                Moment::Open => Ok(Some(gh.branch_head(self.settings.branch.as_str()).await?)),
                Moment::Merged => Ok::<_, StepError>(None),
            }
        };
        let merge_commit = async {
            match (moment, &job.event.merge_commit) {
                (Moment::Merged, Some(sha)) => Ok(Some(gh.commit(sha.as_str()).await?)),
                _ => Ok::<_, StepError>(None),
            }
        };
        let senders = async {
            Ok::<_, StepError>(
                self.ledger
                    .pushers(self.settings.repository.clone(), job.event.pr)
                    .await?,
            )
        };
        let (pr, rest) = tokio::join!(step(gh.pull(n)), async {
            tokio::try_join!(
                step(gh.pull_files(n)),
                step(gh.reviews(n)),
                step(gh.pull_commits(n)),
                step(gh.base_changes(n)),
                senders,
                base_head,
                merge_commit,
            )
        });
        let pr = pr.map_err(|error| Unlisted { pr: None, error })?;
        let (files, reviews, commits, base_changes, senders, base_head, merge_commit) = match rest {
            Ok(rest) => rest,
            Err(error) => {
                return Err(Unlisted {
                    pr: Some(pr),
                    error,
                });
            }
        };
        Ok(Listing {
            pr,
            files,
            reviews,
            commits,
            base_changes,
            senders,
            base_head,
            merge_commit,
        })
    }

    /// Rounds 2 and 3, then the decision.
    pub(crate) async fn judge(
        &self,
        gh: &RepoClient,
        listing: Listing,
        moment: Moment,
    ) -> Result<Facts, StepError> {
        let pr = listing.pr.clone();
        let mut changes = Changes::sort(&listing.files, &self.settings.rules);
        let decided_at = match moment {
            Moment::Merged => pr.merged_at.unwrap_or_else(OffsetDateTime::now_utc),
            Moment::Open => OffsetDateTime::now_utc(),
        };
        let mut facts = pull_facts(&pr, &listing);
        if !changes.touches_requests() {
            return Ok(self.not_ours(pr, changes, &facts, decided_at));
        }
        let mut commits = commit_facts(listing.commits);
        let (owners_commit, content_commit) = self
            .commits_to_read(
                gh,
                &pr,
                moment,
                listing.base_head,
                listing.merge_commit,
                &commits,
            )
            .await?;
        changes.integrity = Integrity {
            files_listed: listing.files.len(),
            changed_files: pr.changed_files,
            requests_added: changes.added.len(),
            max_requests: self.settings.max_requests_per_pr,
            blobs: Vec::new(),
        };
        let (owners, requests) = self
            .read_contents(
                gh,
                &pr,
                &mut changes,
                &mut commits,
                &owners_commit,
                &content_commit,
            )
            .await?;
        changes.read_history(&commits, pr.commits, &self.settings.rules);
        facts.pushers = history::pushers(&commits);
        let paths: Vec<RequestPath> = requests.iter().map(|(p, _)| p.clone()).collect();
        let owned = ownerships(&paths, &owners);
        // Deleted request files are revocations, approved by the owners of their paths.
        let owned_removed = ownerships(&changes.removed, &owners);
        let all_owned: Vec<_> = owned.iter().chain(&owned_removed).cloned().collect();
        let access = self.access(gh, &all_owned, &facts).await?;
        let rules = &self.settings.approval;
        let mut assessment = assess(
            &changes, &owners, &requests, &facts, &access, rules, decided_at,
        );
        let revocation = (!owned_removed.is_empty())
            .then(|| decide(&owned_removed, &facts, &access, rules, decided_at));
        let expired = self.expired(&pr, &assessment, revocation.as_ref(), decided_at);
        if expired {
            assessment.pr_problems.push(Problem::Expired {
                request_ttl_hours: rules.request_ttl_hours,
            });
        }
        Ok(Facts {
            pr,
            changes,
            requests,
            assessment,
            expired,
            revocation,
        })
    }

    /// A pull request that touches no request file: nothing of keygate's to judge.
    fn not_ours(
        &self,
        pr: PullInfo,
        changes: Changes,
        facts: &PullFacts,
        at: OffsetDateTime,
    ) -> Facts {
        let none = Access::default();
        let rules = &self.settings.approval;
        let assessment = assess(&changes, &OwnersFile::Missing, &[], facts, &none, rules, at);
        Facts {
            pr,
            changes,
            requests: Vec::new(),
            assessment,
            expired: false,
            revocation: None,
        }
    }

    /// Which commits the owners and the contents come from: before merge, the base branch's
    /// head and the pull request's head; at merge, the base the pull request landed on and
    /// the merge commit.
    async fn commits_to_read(
        &self,
        gh: &RepoClient,
        pr: &PullInfo,
        moment: Moment,
        base_head: Option<String>,
        merge_commit: Option<CommitInfo>,
        commits: &[CommitFacts],
    ) -> Result<(String, String), StepError> {
        if moment == Moment::Open {
            let owners = base_head.unwrap_or_else(|| pr.base_sha.clone());
            return Ok((owners, pr.head_sha.clone()));
        }
        let merge = pr
            .merge_commit_sha
            .clone()
            .ok_or_else(|| unknown_merge("merged, but GitHub gives no merge commit"))?;
        // The delivery's merge commit is only a hint: used when it is the one the pull
        // request names, read again otherwise.
        let merge_commit = match merge_commit {
            Some(c) if c.sha == merge => c,
            _ => gh.commit(&merge).await?,
        };
        let base = landed_on(gh, merge_commit, commits).await?;
        Ok((base.unwrap_or_else(|| pr.base_sha.clone()), merge))
    }

    /// Round 2: CODEOWNERS at the base, each request at the head, at the merge and on the
    /// base, and each commit's files; the requests parsed, their blobs noted in `changes`.
    /// Once the pull request is refused for its shape, reading more changes nothing.
    async fn read_contents(
        &self,
        gh: &RepoClient,
        pr: &PullInfo,
        changes: &mut Changes,
        commits: &mut [CommitFacts],
        owners_commit: &str,
        content_commit: &str,
    ) -> Result<(OwnersFile, ParsedRequests), StepError> {
        let refused = !changes.problems(&self.settings.approval).is_empty();
        let read_requests = !changes.integrity.too_many_requests();
        let read_commits = !refused && commits.len() > 1;
        let head = pr.head_sha.as_str();
        let owners = self.codeowners(gh, owners_commit);
        let entries = async {
            if !read_requests {
                return Ok(Vec::new());
            }
            try_join_all(changes.added.iter().map(|path| {
                self.request_entries(gh, path.as_str(), head, content_commit, owners_commit)
            }))
            .await
        };
        let commit_files = async {
            if !read_commits {
                return Ok(Vec::new());
            }
            try_join_all(commits.iter().map(|c| step(gh.commit_files(&c.sha)))).await
        };
        let (owners, entries, commit_files) = tokio::try_join!(owners, entries, commit_files)?;
        for (c, files) in commits.iter_mut().zip(commit_files) {
            c.files = files;
        }
        let mut requests = Vec::with_capacity(entries.len());
        for (path, (at_head, at_merge, on_base)) in changes.added.iter().zip(entries) {
            let parsed = match at_merge.as_ref().and_then(|e| e.content.as_deref()) {
                Some(bytes) => parse_request(path.as_str(), bytes, &self.settings.rules),
                None => Err(vec![Diagnostic {
                    path: path.to_string(),
                    line: None,
                    column: None,
                    message: format!(
                        "the file is not a regular file in commit {}; push it again",
                        super::short(content_commit)
                    ),
                }]),
            };
            requests.push((path.clone(), parsed));
            changes.integrity.blobs.push(RequestBlobs {
                path: path.to_string(),
                at_head: at_head.map(blob),
                at_merge: at_merge.map(blob),
                on_base: on_base.is_some(),
            });
        }
        Ok((owners, requests))
    }

    /// Round 3: who of the reviewers belongs to an owning team, and who may write. Both are
    /// asked side by side: a team's permission is asked for every team a reviewer might
    /// belong to, before the membership answer says whether they do.
    async fn access(
        &self,
        gh: &RepoClient,
        owned: &[FileOwnership],
        facts: &PullFacts,
    ) -> Result<Access, StepError> {
        let asked = membership_queries(owned, facts);
        let might: Memberships = asked.iter().cloned().collect();
        let perms = permission_queries(owned, facts, &might);
        let memberships = try_join_all(asked.iter().map(|(org, slug, login)| async move {
            let active = gh.team_membership(org, slug, login).await? == Some(true);
            Ok::<_, StepError>(active.then(|| (org.clone(), slug.clone(), login.clone())))
        }));
        let users = try_join_all(perms.users.iter().map(|login| async move {
            Ok::<_, StepError>((login.clone(), gh.user_permission(login).await?))
        }));
        let teams = try_join_all(perms.teams.iter().map(|(org, slug)| async move {
            let p = gh.team_permission(org, slug).await?;
            Ok::<_, StepError>((org.clone(), slug.clone(), p))
        }));
        let (memberships, users, teams) = tokio::try_join!(memberships, users, teams)?;
        let mut permissions = Permissions::new();
        // An account GitHub does not know has no access.
        let known =
            |p: Option<String>| p.map_or(Some(Permission::None), |p| Permission::from_github(&p));
        for (login, p) in users {
            if let Some(p) = known(p) {
                permissions.insert_user(&login, p);
            }
        }
        for (org, slug, p) in teams {
            if let Some(p) = known(p) {
                permissions.insert_team(&org, &slug, p);
            }
        }
        Ok(Access {
            memberships: memberships.into_iter().flatten().collect(),
            permissions,
        })
    }

    /// Did the pull request wait too long for its approvals (DESIGN §2.7)? Both halves
    /// count: what it adds and what it deletes.
    fn expired(
        &self,
        pr: &PullInfo,
        a: &Assessment,
        revocation: Option<&Decision>,
        at: OffsetDateTime,
    ) -> bool {
        let Some(opened) = pr.created_at else {
            return false;
        };
        let ttl = self.settings.approval.request_ttl_hours;
        pull_expired(opened, &[a.decision.as_ref(), revocation], at, ttl)
    }

    /// A request path at the approved head, at the content commit (the merge, or the head
    /// again before it) and on the base.
    async fn request_entries(
        &self,
        gh: &RepoClient,
        path: &str,
        head: &str,
        content: &str,
        base: &str,
    ) -> Result<(Option<FileEntry>, Option<FileEntry>, Option<FileEntry>), StepError> {
        let at_content = step(gh.entry_at(path, content));
        let on_base = step(gh.entry_at(path, base));
        if head == content {
            let (at_head, on_base) = tokio::try_join!(at_content, on_base)?;
            return Ok((at_head.clone(), at_head, on_base));
        }
        let at_head = step(gh.entry_at(path, head));
        Ok(tokio::try_join!(at_head, at_content, on_base)?)
    }

    /// The CODEOWNERS GitHub would use at `commit`: the first location that exists. All
    /// three are read side by side.
    async fn codeowners(&self, gh: &RepoClient, commit: &str) -> Result<OwnersFile, StepError> {
        let found = try_join_all(LOCATIONS.iter().map(|l| step(gh.entry_at(l, commit)))).await?;
        for (location, entry) in LOCATIONS.iter().zip(found) {
            let Some(entry) = entry else { continue };
            let location = location.to_string();
            let Some(bytes) = entry.content else {
                return Ok(OwnersFile::Unreadable {
                    location,
                    why: "it is not a regular file".into(),
                });
            };
            if bytes.len() > MAX_SIZE {
                return Ok(OwnersFile::Unreadable {
                    location,
                    why: "it is larger than 3 MB, which GitHub ignores".into(),
                });
            }
            return Ok(match String::from_utf8(bytes) {
                Ok(text) => OwnersFile::Found {
                    location,
                    parsed: CodeOwners::parse(&text),
                },
                Err(_) => OwnersFile::Unreadable {
                    location,
                    why: "it is not UTF-8 text".into(),
                },
            });
        }
        Ok(OwnersFile::Missing)
    }
}

fn blob(e: FileEntry) -> Blob {
    Blob {
        kind: e.kind,
        sha: e.sha,
    }
}

/// Each added request file's parse result, by path.
type ParsedRequests = Vec<(RequestPath, Result<Request, Vec<Diagnostic>>)>;

/// What the decision needs of the pull request itself and its reviews and pushes.
fn pull_facts(pr: &PullInfo, listing: &Listing) -> PullFacts {
    PullFacts {
        base_ref: pr.base_ref.clone(),
        reviews: listing.reviews.clone(),
        synchronize_senders: listing
            .senders
            .iter()
            .map(|s| Pusher {
                id: Some(s.id),
                login: Some(s.login.clone()),
            })
            .collect(),
        base_changed_at: listing.base_changes.iter().max().copied(),
        merged_at: pr.merged_at,
        ..PullFacts::new(pr.author.clone(), pr.head_sha.clone())
    }
}

/// The pull request's commits as policy reads them (their files are read in round 2).
fn commit_facts(commits: Vec<PullCommit>) -> Vec<CommitFacts> {
    commits
        .into_iter()
        .map(|c| CommitFacts {
            author: history::person(c.author),
            committer: history::person(c.committer),
            parents: c.parents,
            verified: c.verified,
            sha: c.sha,
            files: Vec::new(),
            authorship: c.authorship,
        })
        .collect()
}

/// The base commit a merged pull request landed on (DESIGN §2.1), whichever merge method
/// made it: for a rebase merge, the commits it wrote are walked back, each checked to be
/// the pull request's own commit written again; `None` when the merge commit has no parent.
async fn landed_on(
    gh: &RepoClient,
    merge: CommitInfo,
    commits: &[CommitFacts],
) -> Result<Option<String>, StepError> {
    let Landing::Rebased(written) = landing(&merge, commits) else {
        return Ok(merge.parents.first().cloned());
    };
    let mut at = merge;
    for expected in written.iter().skip(1) {
        let Some(parent) = at.parents.first() else {
            return Err(unknown_merge("a rebased commit has no parent"));
        };
        at = gh.commit(parent).await?;
        if at.authorship.as_ref() != Some(expected) {
            return Err(unknown_merge(
                "the commits the rebase merge wrote are not the pull request's own; keygate cannot tell which base commit it landed on",
            ));
        }
    }
    Ok(at.parents.first().cloned())
}

/// A merge keygate cannot place on the base branch: permanent, so nothing is issued.
fn unknown_merge(why: &str) -> StepError {
    StepError::GitHub(GitHubError::Status {
        what: "the pull request".into(),
        status: 200,
        message: why.into(),
    })
}
