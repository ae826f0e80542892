//! Catch-up's decisions, pure: what a closed pull request needs, which pull requests a pass
//! looks at, and how far a finished pass got (DESIGN §5).

use time::{Duration, OffsetDateTime};

use crate::facts::{ChangedFile, FileStatus};
use crate::github::client::ListedPull;
use crate::ids::{CommitSha, DeliveryId, RepoName};
use crate::ledger::CatchUpProgress;
use crate::lifecycle::may_issue_merge;
use crate::request::{PathKind, RequestRules, classify};

/// How far before the previous pass's end a pass looks again. GitHub's list is not a log:
/// a pull request updated just before GitHub dated the previous pass's answer may have been
/// missing from it (eventual consistency), and GitHub's servers' clocks differ by a little.
/// What the overlap lists again is known to the ledger and costs no further call.
pub const OVERLAP: Duration = Duration::minutes(10);

/// GitHub lists at most this many files of a pull request: a list this long may be
/// missing request files, so it never proves that a pull request touches none.
pub const MOST_FILES_LISTED: usize = 3000;

/// What catch-up does about one closed pull request, from the list alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Merged at or after the watermark: what the ledger knows of it decides; settled at this
    /// merge commit if it knows nothing and the pull request changes requests.
    Merged { merge_commit: CommitSha },
    /// Merged before the watermark: never issues, whatever delivery names it.
    BeforeWatermark,
    /// Closed without merge, or a merge GitHub gives no commit for: nothing to issue.
    Ignore,
}

/// The decision for one closed pull request: the list entry and the watermark.
pub fn judge_closed(pull: &ListedPull, mark: OffsetDateTime) -> Closed {
    if pull.merged_at.is_none() {
        return Closed::Ignore;
    }
    if !may_issue_merge(pull.merged_at, mark) {
        return Closed::BeforeWatermark;
    }
    match &pull.merge_commit_sha {
        Some(sha) if !sha.is_empty() => Closed::Merged {
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

/// Whether a merge's files prove it touches no request file, so it may be recorded as such
/// and never read again: none of them is a request, and GitHub listed them all.
pub fn proves_no_requests(files: &[ChangedFile], rules: &RequestRules) -> bool {
    files.len() < MOST_FILES_LISTED && !touches_requests(files, rules)
}

/// The synthetic delivery's ID: one per repository, pull request and commit (the merge
/// commit for a merge, the head for a refresh), so a second pass finds it recorded.
pub fn delivery_id(repository: &RepoName, pr: u64, commit: &str) -> DeliveryId {
    DeliveryId::new(format!(
        "keygate-reconcile-{}-{pr}-{commit}",
        repository.key()
    ))
}

/// Which pull requests a pass looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Those updated at or after this time (GitHub's clock).
    pub since: OffsetDateTime,
    /// Where the covered span begins, recorded with the pass's progress.
    pub from_ms: i64,
    /// No earlier pass covers this span: the open pull requests are all looked at, since
    /// one opened before the watermark and not updated since still wants its check run.
    pub fresh: bool,
}

/// The window of a pass: from the previous pass's end less [`OVERLAP`], when an earlier pass
/// covered everything from the watermark `mark` on; else from the watermark. Never before
/// the watermark.
pub fn window(mark: OffsetDateTime, progress: Option<CatchUpProgress>) -> Window {
    let mark_ms = ms(mark);
    match progress {
        Some(p) if p.from_ms <= mark_ms => {
            let resume = at_ms(p.through_ms) - OVERLAP;
            Window {
                since: resume.max(mark),
                from_ms: p.from_ms,
                fresh: false,
            }
        }
        _ => Window {
            since: mark,
            from_ms: mark_ms,
            fresh: true,
        },
    }
}

/// The pull requests of one page (newest update first) that the window holds, and whether
/// the page reached back before it: the next pages hold only older ones. `since: None`
/// holds every one.
pub fn within(pulls: Vec<ListedPull>, since: Option<OffsetDateTime>) -> (Vec<ListedPull>, bool) {
    let Some(since) = since else {
        return (pulls, false);
    };
    let older = |p: &ListedPull| p.updated_at.is_some_and(|u| u < since);
    let reached = pulls.iter().any(older);
    (pulls.into_iter().filter(|p| !older(p)).collect(), reached)
}

/// How far a finished pass got: to GitHub's clock when it answered the pass's first list
/// (`listed_at`), else to the latest update it saw; `None` when it learnt neither.
pub fn progress_after(
    window: Window,
    listed_at: Option<OffsetDateTime>,
    latest_update: Option<OffsetDateTime>,
) -> Option<CatchUpProgress> {
    listed_at.or(latest_update).map(|through| CatchUpProgress {
        from_ms: window.from_ms,
        through_ms: ms(through),
    })
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
