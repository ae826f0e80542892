//! Catch-up (DESIGN §5): GitHub does not redeliver a failed delivery by itself, so keygate
//! asks GitHub what happened since its watermark. A merged pull request with request changes
//! that the ledger does not know gets the delivery it missed, recorded in the ledger like any
//! other, so the worker processes it exactly as if GitHub had sent it; an open one with
//! request changes gets a refresh of its check run.
//!
//! Each synthetic delivery has a deterministic ID (repository, pull request, commit), so
//! catch-up records it at most once, however often it runs and however many replicas run it.

use time::OffsetDateTime;

use time::format_description::well_known::Rfc3339;

use super::render::{Outcome, Report};
use super::{StepError, Workflow};
use crate::facts::{ChangedFile, FileStatus};
use crate::github::client::ListedPull;
use crate::github::client::PullInfo;
use crate::ids::{CommitSha, DeliveryId, InstallationId, PrNumber, RepoName};
use crate::ledger::{NewDelivery, Store, now_ms};
use crate::lifecycle::{may_issue_merge, watermark};
use crate::request::{PathKind, RequestRules, classify};
use crate::work::{Activity, PrEvent};

/// What one catch-up pass did, by pull request number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Merges the ledger did not know: their `closed` delivery is now queued.
    pub settled: Vec<u64>,
    /// Open pull requests whose check run refresh is now queued.
    pub refreshed: Vec<u64>,
    /// Merges the ledger knew already: left alone.
    pub known: Vec<u64>,
    /// Merged before the watermark: history, never issued.
    pub before_watermark: Vec<u64>,
    /// The deliveries this pass recorded, for the worker.
    pub deliveries: Vec<DeliveryId>,
}

impl CatchUp {
    /// Whether the pass gave the worker something to do.
    pub fn queued_work(&self) -> bool {
        !self.deliveries.is_empty()
    }
}

/// What catch-up does about one closed pull request, from the list alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Merged at or after the watermark and unknown to the ledger: look at its files, and
    /// settle it at this merge commit if it changes requests.
    Settle { merge_commit: CommitSha },
    /// The ledger knows this merge (a `closed` delivery or an intent): its delivery arrived.
    Known,
    /// Merged before the watermark: never issues, whatever delivery names it.
    BeforeWatermark,
    /// Closed without merge, or a merge GitHub gives no commit or time for: nothing to issue.
    Ignore,
}

/// The decision for one closed pull request. Pure: the list entry, the watermark, and
/// whether the ledger knows the merge.
pub fn judge_closed(pull: &ListedPull, mark: OffsetDateTime, known: bool) -> Closed {
    if pull.merged_at.is_none() {
        return Closed::Ignore;
    }
    if !may_issue_merge(pull.merged_at, mark) {
        return Closed::BeforeWatermark;
    }
    if known {
        return Closed::Known;
    }
    match &pull.merge_commit_sha {
        Some(sha) if !sha.is_empty() => Closed::Settle {
            merge_commit: CommitSha::new(sha.clone()),
        },
        _ => Closed::Ignore,
    }
}

/// Whether a pull request changes anything keygate acts on: a path in the requests folder
/// that is not documentation (either name of a rename counts).
pub fn touches_requests(files: &[ChangedFile], rules: &RequestRules) -> bool {
    let counts = |path: &str| {
        !matches!(
            classify(path, rules),
            PathKind::Outside | PathKind::Documentation
        )
    };
    files.iter().any(|f| {
        counts(&f.path) || matches!(&f.status, FileStatus::Renamed { from } if counts(from))
    })
}

/// The synthetic delivery's ID: one per repository, pull request and commit (the merge
/// commit for a merge, the head for a refresh), so a second pass finds it recorded.
pub fn delivery_id(repository: &RepoName, pr: u64, commit: &str) -> DeliveryId {
    DeliveryId::new(format!(
        "keygate-reconcile-{}-{pr}-{commit}",
        repository.key()
    ))
}

/// One catch-up pass: lists what GitHub closed since the watermark and what is open, and
/// records the deliveries keygate missed. The worker does the rest.
pub async fn catch_up(wf: &Workflow) -> Result<CatchUp, StepError> {
    let repository = wf.settings.repository.clone();
    let branch = wf.settings.branch.as_str();
    let installation = wf.github.repo_installation(repository.as_str()).await?.id;
    let gh = wf.github.repo(installation, repository.as_str())?;
    let mark = watermark(
        wf.settings.lifecycle.reconcile_since,
        wf.ledger.watermark().await?,
    );
    let record = |id: DeliveryId, pr: u64, commit: &CommitSha, activity: Activity| {
        let event = PrEvent {
            repository: repository.clone(),
            installation: InstallationId(installation),
            pr: PrNumber(pr),
            activity,
            sender: None,
            merge_commit: (activity == Activity::Closed).then(|| commit.clone()),
        };
        crate::queue::accept(
            &wf.ledger,
            &wf.queue,
            NewDelivery {
                id,
                event,
                received_at_ms: now_ms(),
            },
        )
    };
    let mut done = CatchUp::default();
    for pull in gh.closed_pulls_since(branch, mark).await? {
        let known = wf
            .ledger
            .knows_merge(repository.clone(), PrNumber(pull.number))
            .await?;
        match judge_closed(&pull, mark, known) {
            Closed::Settle { merge_commit } => {
                if !touches_requests(&gh.pull_files(pull.number).await?, &wf.settings.rules) {
                    continue;
                }
                let id = delivery_id(&repository, pull.number, merge_commit.as_str());
                if record(id.clone(), pull.number, &merge_commit, Activity::Closed)
                    .await?
                    .is_new()
                {
                    done.deliveries.push(id);
                    tracing::warn!(pr = pull.number, merge_commit = %merge_commit, "catch-up: a merge keygate missed is processed now");
                    done.settled.push(pull.number);
                } else {
                    done.known.push(pull.number);
                }
            }
            Closed::Known => done.known.push(pull.number),
            Closed::BeforeWatermark => done.before_watermark.push(pull.number),
            Closed::Ignore => {}
        }
    }
    for pull in gh.open_pulls(branch).await? {
        if pull.base_ref != branch
            || !touches_requests(&gh.pull_files(pull.number).await?, &wf.settings.rules)
        {
            continue;
        }
        let head = CommitSha::new(pull.head_sha.clone());
        let id = delivery_id(&repository, pull.number, head.as_str());
        if record(id.clone(), pull.number, &head, Activity::Reopened)
            .await?
            .is_new()
        {
            done.deliveries.push(id);
            done.refreshed.push(pull.number);
        }
    }
    Ok(done)
}

/// `None` when the merge may issue; otherwise the report that says why it issues nothing.
pub(super) async fn before_watermark(
    wf: &Workflow,
    pr: &PullInfo,
) -> Result<Option<Report>, StepError> {
    let created = wf.ledger.watermark().await?;
    let mark = watermark(wf.settings.lifecycle.reconcile_since, created);
    if may_issue_merge(pr.merged_at, mark) {
        return Ok(None);
    }
    let at = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "an unknown time".into())
    };
    tracing::warn!(merged_at = %at(pr.merged_at), watermark = %at(Some(mark)), "merged before the watermark; nothing is issued");
    Ok(Some(Report {
        path: "(this pull request)".into(),
        iam_user: None,
        account: None,
        outcome: Outcome::Refused {
            reasons: vec![format!(
                "this pull request was merged at {}, before keygate's watermark {} (when its ledger was created, or `lifecycle.reconcile_since`): keygate never issues a key for a merge older than that. Open a new pull request with a new request file.",
                at(pr.merged_at),
                at(Some(mark))
            )],
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn pull(merged_at: Option<OffsetDateTime>) -> ListedPull {
        ListedPull {
            number: 7,
            state: "closed".into(),
            merged_at,
            updated_at: merged_at,
            merge_commit_sha: Some("a".repeat(40)),
            head_sha: "b".repeat(40),
            base_ref: "main".into(),
        }
    }

    const MARK: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn an_unknown_merge_after_the_watermark_is_settled_at_its_merge_commit() {
        let p = pull(Some(datetime!(2026-01-02 00:00 UTC)));
        assert_eq!(
            judge_closed(&p, MARK, false),
            Closed::Settle {
                merge_commit: CommitSha::new("a".repeat(40))
            }
        );
    }

    #[test]
    fn a_merge_the_ledger_knows_is_left_alone() {
        let p = pull(Some(datetime!(2026-01-02 00:00 UTC)));
        assert_eq!(judge_closed(&p, MARK, true), Closed::Known);
    }

    #[test]
    fn a_merge_before_the_watermark_never_settles_even_when_unknown() {
        let p = pull(Some(datetime!(2025-12-31 23:59 UTC)));
        assert_eq!(judge_closed(&p, MARK, false), Closed::BeforeWatermark);
    }

    #[test]
    fn a_pull_request_closed_without_merge_or_without_a_merge_commit_is_ignored() {
        assert_eq!(judge_closed(&pull(None), MARK, false), Closed::Ignore);
        let mut p = pull(Some(datetime!(2026-01-02 00:00 UTC)));
        p.merge_commit_sha = None;
        assert_eq!(judge_closed(&p, MARK, false), Closed::Ignore);
    }

    #[test]
    fn the_synthetic_delivery_id_is_the_same_on_every_pass_and_differs_by_commit() {
        let repo = RepoName::new("Acme/Requests".to_string());
        let a = delivery_id(&repo, 7, "abc");
        assert_eq!(a, delivery_id(&repo, 7, "abc"));
        assert_ne!(a, delivery_id(&repo, 7, "abd"));
        assert_ne!(a, delivery_id(&repo, 8, "abc"));
        assert!(a.as_str().starts_with("keygate-reconcile-"), "{a:?}");
    }

    #[test]
    fn only_request_files_make_a_pull_request_worth_catching_up_on() {
        let rules = RequestRules {
            requests_dir: "requests".into(),
            default_expiry_days: 90,
            max_expiry_days: 365,
            allowed_users: vec!["*".into()],
            denied_users: vec![],
            allowed_readers: vec![],
            secret_name_template: "{iam_user}/access-key-{timestamp}".into(),
            accounts: vec![],
        };
        let file = |path: &str, status: FileStatus| ChangedFile {
            path: path.into(),
            status,
        };
        assert!(!touches_requests(
            &[file("README.md", FileStatus::Modified)],
            &rules
        ));
        assert!(!touches_requests(
            &[file("requests/README.md", FileStatus::Modified)],
            &rules
        ));
        assert!(touches_requests(
            &[file("requests/bob/ci.toml", FileStatus::Removed)],
            &rules
        ));
        assert!(touches_requests(
            &[file(
                "elsewhere/ci.toml",
                FileStatus::Renamed {
                    from: "requests/bob/ci.toml".into()
                }
            )],
            &rules
        ));
    }
}
