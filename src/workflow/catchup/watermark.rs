//! The watermark on GitHub's clock (DESIGN §5). Merge times are GitHub's, so the watermark
//! they are compared with must be too: a host whose clock is fast would refuse merges made
//! just after keygate was installed, and one whose clock is slow would issue for merges made
//! just before. A new ledger is created on the host's clock, marked so; the first step that
//! needs the watermark (a catch-up pass, a merge) asks GitHub for its clock and moves the
//! creation time by the offset between the two, once. Until GitHub has answered, nothing is
//! judged against the watermark: the step fails and is tried again.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::{StepError, Workflow};
use crate::github::client::{ClockReading, RepoClient};
use crate::ledger::Store;
use crate::lifecycle::watermark;

/// The watermark as decisions use it: `lifecycle.reconcile_since` when set, else the ledger's
/// creation on GitHub's clock (put there first if it is still on this host's).
pub(crate) async fn watermark_now(
    wf: &Workflow,
    gh: &RepoClient,
) -> Result<OffsetDateTime, StepError> {
    if let Some(since) = wf.settings.lifecycle.reconcile_since {
        return Ok(since);
    }
    let mut mark = wf.ledger.watermark().await?;
    if mark.on_host_clock {
        let reading = gh.clock_reading().await?;
        let host_ms = mark.at_ms;
        let at_ms = created_on_githubs_clock(host_ms, reading)?;
        mark = wf.ledger.settle_watermark(at_ms).await?;
        let shown = watermark(None, mark.at_ms)
            .format(&Rfc3339)
            .unwrap_or_default();
        tracing::info!(
            watermark = %shown,
            moved_secs = (mark.at_ms - host_ms) / 1000,
            "the watermark is on GitHub's clock now"
        );
    }
    Ok(watermark(None, mark.at_ms))
}

/// When a ledger created at `created_host_ms` on this host's clock was created on GitHub's,
/// by the offset `reading` shows between the two clocks now. Clocks more than a day apart
/// are not trusted: the step is tried again once a clock is set right.
pub fn created_on_githubs_clock(
    created_host_ms: i64,
    reading: ClockReading,
) -> Result<i64, StepError> {
    match reading.offset_secs() {
        Ok(offset) => Ok(created_host_ms.saturating_add(offset.saturating_mul(1000))),
        Err(apart) => Err(StepError::Uncertain(format!(
            "GitHub's Date header is {apart} s from this host's clock, more than a day: the \
             watermark cannot be put on GitHub's clock until this host's clock (or a proxy \
             rewriting GitHub's Date) is set right"
        ))),
    }
}
