//! Catch-up's guard (DESIGN §5): a pull request merged before the watermark never issues a
//! key, whatever delivery names it.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::render::{Outcome, Report};
use super::{StepError, Workflow};
use crate::github::client::PullInfo;
use crate::ledger::Store;
use crate::lifecycle::{may_issue_merge, watermark};

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
