//! Catch-up (DESIGN §5): GitHub does not redeliver a failed delivery by itself, so keygate
//! asks GitHub what happened since its previous pass. A merged pull request with request
//! changes that the ledger does not know gets the delivery it missed, recorded in the ledger
//! like any other, so the worker processes it exactly as if GitHub had sent it; an open one
//! with request changes gets a refresh of its check run.
//!
//! A pass costs what changed, not the history: GitHub lists pull requests most recently
//! updated first, and a pass reads only until it reaches back to where the previous one
//! ended (less an overlap), which the ledger keeps on GitHub's clock. A merge found to touch
//! no request file is recorded and never read again.
//!
//! Each synthetic delivery has a deterministic ID (repository, pull request, commit), so
//! catch-up records it at most once, however often it runs and however many replicas run it.

mod judge;
#[cfg(test)]
mod tests;
mod watermark;

use futures_util::stream::{self, StreamExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::render::{Outcome, Report};
use super::{StepError, Workflow};
use crate::github::client::{ListedPull, PullInfo, PullState, RepoClient};
use crate::ids::{CommitSha, DeliveryId, InstallationId, PrNumber};
use crate::ledger::{NewDelivery, Store, now_ms};
use crate::lifecycle::may_issue_merge;
use crate::work::{Activity, PrEvent};

pub use judge::{
    Closed, MOST_FILES_LISTED, OVERLAP, Window, delivery_id, judge_closed, progress_after,
    proves_no_requests, touches_requests, window, within,
};
pub use watermark::created_on_githubs_clock;
pub(crate) use watermark::watermark_now;

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
    /// Merges that touch no request file: found so now (their files were read), or known so
    /// to the ledger from an earlier pass (not read again).
    pub without_requests: Vec<u64>,
    /// The deliveries this pass recorded, for the worker.
    pub deliveries: Vec<DeliveryId>,
}

impl CatchUp {
    /// Whether the pass gave the worker something to do.
    pub fn queued_work(&self) -> bool {
        !self.deliveries.is_empty()
    }
}

/// How many merges of a page a pass looks at side by side: GitHub answers each in a few
/// hundred milliseconds, and asks integrations not to send many requests at once.
const LOOKS_AT_ONCE: usize = 8;

/// What a merge after the watermark, unknown to the ledger as one without requests, is.
enum Found {
    /// It touches no request file.
    WithoutRequests,
    /// The ledger knows this merge (a `closed` delivery or an intent): left alone.
    Known,
    /// Unknown to the ledger, and it changes requests: its delivery was missed.
    Requests,
}

/// What a pass works with.
struct Pass<'a> {
    wf: &'a Workflow,
    gh: RepoClient,
    installation: InstallationId,
    /// The watermark, on GitHub's clock.
    mark: OffsetDateTime,
}

/// One catch-up pass: lists what GitHub closed since the previous pass and what is open, and
/// records the deliveries keygate missed; then how far it got. The worker does the rest.
pub async fn catch_up(wf: &Workflow) -> Result<CatchUp, StepError> {
    let repository = wf.settings.repository.clone();
    let branch = wf.settings.branch.clone();
    let installation = wf.github.repo_installation(repository.as_str()).await?.id;
    let gh = wf.github.repo(installation, repository.as_str())?;
    let mark = watermark_now(wf, &gh).await?;
    let progress = wf
        .ledger
        .catch_up_progress(repository.clone(), branch.clone())
        .await?;
    let window = window(mark, progress);
    let pass = Pass {
        wf,
        gh,
        installation: InstallationId(installation),
        mark,
    };
    let mut done = CatchUp::default();
    let (listed_at, latest) = pass.closed(window.since, &mut done).await?;
    pass.open((!window.fresh).then_some(window.since), &mut done)
        .await?;
    if let Some(p) = progress_after(window, listed_at, latest) {
        wf.ledger
            .record_catch_up_progress(repository, branch, p)
            .await?;
    }
    Ok(done)
}

impl Pass<'_> {
    /// The closed pull requests updated since `since`, page by page until one reaches back
    /// before it. Returns GitHub's clock at the first answer and the latest update listed.
    async fn closed(
        &self,
        since: OffsetDateTime,
        done: &mut CatchUp,
    ) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), StepError> {
        let branch = self.wf.settings.branch.as_str();
        let mut page = self.gh.pulls_by_update(PullState::Closed, branch).await?;
        let listed_at = page.date;
        let mut latest = None;
        loop {
            let (pulls, reached) = within(std::mem::take(&mut page.pulls), Some(since));
            latest = latest.max(pulls.iter().filter_map(|p| p.updated_at).max());
            let mut plain = Vec::new();
            let looked = self.closed_page(&pulls, done, &mut plain).await;
            // What was found before a failure is kept: the next pass does not read it again.
            if !plain.is_empty() {
                self.wf
                    .ledger
                    .record_without_requests(self.wf.settings.repository.clone(), plain)
                    .await?;
            }
            looked?;
            match page.next.take().filter(|_| !reached) {
                Some(next) => page = self.gh.next_pulls(&next).await?,
                None => return Ok((listed_at, latest)),
            }
        }
    }

    /// One page of closed pull requests; merges found to touch no request file are added to
    /// `plain`, for the ledger. What the ledger knows of the page's merges is read first;
    /// the others are looked at a few at a time, then acted on in the page's order.
    async fn closed_page(
        &self,
        pulls: &[ListedPull],
        done: &mut CatchUp,
        plain: &mut Vec<PrNumber>,
    ) -> Result<(), StepError> {
        let mut merged = Vec::new();
        for pull in pulls {
            match judge_closed(pull, self.mark) {
                Closed::Merged { merge_commit } => merged.push((pull.number, merge_commit)),
                Closed::BeforeWatermark => done.before_watermark.push(pull.number),
                Closed::Ignore => {}
            }
        }
        // Found to touch no request file by an earlier pass: not read again.
        let numbers = merged.iter().map(|(pr, _)| PrNumber(*pr)).collect();
        let recorded = self
            .wf
            .ledger
            .without_requests(self.wf.settings.repository.clone(), numbers)
            .await?;
        let (skipped, merged): (Vec<_>, Vec<_>) = merged
            .into_iter()
            .partition(|(pr, _)| recorded.contains(&PrNumber(*pr)));
        done.without_requests
            .extend(skipped.into_iter().map(|(pr, _)| pr));
        let looks: Vec<_> = merged.iter().map(|(pr, _)| self.look(*pr)).collect();
        let found: Vec<Result<Found, StepError>> =
            stream::iter(looks).buffered(LOOKS_AT_ONCE).collect().await;
        for ((pr, merge_commit), found) in merged.into_iter().zip(found) {
            match found? {
                Found::WithoutRequests => {
                    done.without_requests.push(pr);
                    plain.push(PrNumber(pr));
                }
                Found::Known => done.known.push(pr),
                Found::Requests => self.settle(pr, merge_commit, done).await?,
            }
        }
        Ok(())
    }

    /// What the ledger, and if it knows nothing the files, say about a merge after the
    /// watermark.
    async fn look(&self, pr: u64) -> Result<Found, StepError> {
        let repository = self.wf.settings.repository.clone();
        if self.wf.ledger.knows_merge(repository, PrNumber(pr)).await? {
            return Ok(Found::Known);
        }
        let files = self.gh.pull_files(pr).await?;
        Ok(if proves_no_requests(&files, &self.wf.settings.rules) {
            Found::WithoutRequests
        } else {
            Found::Requests
        })
    }

    /// Records the `closed` delivery keygate missed for a merge.
    async fn settle(
        &self,
        pr: u64,
        merge_commit: CommitSha,
        done: &mut CatchUp,
    ) -> Result<(), StepError> {
        let id = delivery_id(&self.wf.settings.repository, pr, merge_commit.as_str());
        if self
            .record(id.clone(), pr, &merge_commit, Activity::Closed)
            .await?
        {
            tracing::warn!(pr, merge_commit = %merge_commit, "catch-up: a merge keygate missed is processed now");
            done.deliveries.push(id);
            done.settled.push(pr);
        } else {
            done.known.push(pr);
        }
        Ok(())
    }

    /// The open pull requests updated since `since` (every one when `None`): those with
    /// request changes whose head has no refresh recorded get one.
    async fn open(
        &self,
        since: Option<OffsetDateTime>,
        done: &mut CatchUp,
    ) -> Result<(), StepError> {
        let branch = self.wf.settings.branch.as_str();
        let mut page = self.gh.pulls_by_update(PullState::Open, branch).await?;
        loop {
            let (pulls, reached) = within(std::mem::take(&mut page.pulls), since);
            for pull in pulls.iter().filter(|p| p.base_ref == branch) {
                self.refresh(pull, done).await?;
            }
            match page.next.take().filter(|_| !reached) {
                Some(next) => page = self.gh.next_pulls(&next).await?,
                None => return Ok(()),
            }
        }
    }

    async fn refresh(&self, pull: &ListedPull, done: &mut CatchUp) -> Result<(), StepError> {
        let head = CommitSha::new(pull.head_sha.clone());
        let id = delivery_id(&self.wf.settings.repository, pull.number, head.as_str());
        // This head's refresh was recorded by an earlier pass: its files need no reading.
        if self.wf.ledger.delivery(id.clone()).await?.is_some() {
            return Ok(());
        }
        let files = self.gh.pull_files(pull.number).await?;
        if !touches_requests(&files, &self.wf.settings.rules) {
            return Ok(());
        }
        if self
            .record(id.clone(), pull.number, &head, Activity::Reopened)
            .await?
        {
            done.deliveries.push(id);
            done.refreshed.push(pull.number);
        }
        Ok(())
    }

    /// Records a synthetic delivery; `true` when it is new.
    async fn record(
        &self,
        id: DeliveryId,
        pr: u64,
        commit: &CommitSha,
        activity: Activity,
    ) -> Result<bool, StepError> {
        let event = PrEvent {
            repository: self.wf.settings.repository.clone(),
            installation: self.installation,
            pr: PrNumber(pr),
            activity,
            sender: None,
            merge_commit: (activity == Activity::Closed).then(|| commit.clone()),
        };
        let delivery = NewDelivery {
            id,
            event,
            received_at_ms: now_ms(),
        };
        Ok(
            crate::queue::accept(&self.wf.ledger, &self.wf.queue, delivery)
                .await?
                .is_new(),
        )
    }
}

/// `None` when the merge may issue; otherwise the report that says why it issues nothing.
pub(super) async fn before_watermark(
    wf: &Workflow,
    gh: &RepoClient,
    pr: &PullInfo,
) -> Result<Option<Report>, StepError> {
    let mark = watermark_now(wf, gh).await?;
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
