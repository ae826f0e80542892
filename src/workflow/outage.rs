//! One account's failure stops that account's work only (DESIGN §9). A merged pull request
//! may carry requests for several accounts: when a call in one member account fails (its
//! issuer role is gone, a permission is missing, its region does not answer), the other
//! requests are still issued and announced, the comment says what waits and why, and the
//! attempt ends as the held error says: retried when it may pass, failed when it cannot.

use super::render::public_reason;
use super::{StepError, Workflow};
use crate::ledger::{Job, now_ms};

/// Whether `e` is a failure in one member account, which must not stop another account's
/// work.
pub(super) fn in_one_account(e: &StepError) -> bool {
    matches!(e, StepError::Aws(a) if a.account().is_some())
}

/// What one attempt held back: the first failure that is retried, and the first that is
/// not.
#[derive(Default)]
pub(super) struct Held {
    retried: Option<StepError>,
    failed: Option<StepError>,
}

/// A held failure, for the comment: whether keygate retries it, and why (public words).
pub(super) struct Kept {
    pub retried: bool,
    pub why: String,
}

impl Held {
    /// Keeps `e` (a failure in one account) for the attempt's end, and says it in public
    /// words: retried while `server.retry_for_secs` allows, else failed for good.
    pub(super) fn keep(&mut self, wf: &Workflow, job: &Job, e: StepError) -> Kept {
        let why = public_reason(&e);
        tracing::warn!(error = %e, "one AWS account failed; the other accounts' work goes on");
        let retried = e.is_transient() && wf.settings.retry.allows_another(job, now_ms());
        if retried {
            self.retried.get_or_insert(e);
        } else {
            self.failed.get_or_insert(e);
        }
        Kept { retried, why }
    }

    /// The attempt's end: retried when anything it held is, failed when something failed
    /// for good, else done. The comment and notices told people already.
    pub(super) fn end(self) -> Result<(), StepError> {
        match self.retried.or(self.failed) {
            Some(e) => Err(StepError::Told(Box::new(e))),
            None => Ok(()),
        }
    }
}

/// Until when the delivery of `job` is retried, as the comment says it (UTC, RFC 3339).
pub(super) fn retried_until(wf: &Workflow, job: &Job) -> String {
    let until = job.received_at_ms + wf.settings.retry.retry_for.as_millis() as i64;
    time::OffsetDateTime::from_unix_timestamp(until / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "a day after the merge".into())
}
