//! Where accepted work waits, and how one piece of it is taken (DESIGN §8).
//!
//! The ledger is the truth about every delivery; the queue only says when and where to look.
//! In one process the ledger is the queue and a new delivery wakes the worker. With SQS a
//! message names a delivery, and [`take`] asks the ledger whether it may run now, so a
//! message that comes twice, late or out of order runs nothing twice.

mod consumer;
mod message;
mod sqs;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub use consumer::{Consumer, ConsumerSettings};
pub use message::{Announce, fifo_id};
pub use sqs::{QueueError, SqsQueue};

use crate::aws::AwsError;
use crate::ids::DeliveryId;
use crate::ledger::{Finish, Inserted, Ledger, LedgerError, NewDelivery, Store, Taken, now_ms};
use crate::worker::{Handler, WorkerSettings, attempt};

/// Where `serve`, catch-up and Lambda put accepted work.
#[derive(Clone)]
pub enum WorkQueue {
    /// In process: the ledger is the queue; a new delivery wakes the worker.
    Local(Arc<Notify>),
    /// An SQS FIFO queue shared by replicas and Lambda.
    Sqs(Box<SqsQueue>),
}

/// Why a delivery could not be accepted: nothing is promised to GitHub then (`503`).
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("the ledger cannot record the delivery: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the work queue cannot take the delivery: {0}")]
    Queue(#[from] AwsError),
}

impl WorkQueue {
    /// A local queue with a fresh wake-up, for commands that run their own worker.
    pub fn local() -> WorkQueue {
        WorkQueue::Local(Arc::new(Notify::new()))
    }

    /// Tells whoever runs work that `a` is queued in the ledger.
    pub async fn announce(&self, a: &Announce) -> Result<(), AwsError> {
        match self {
            WorkQueue::Local(wake) => {
                wake.notify_one();
                Ok(())
            }
            WorkQueue::Sqs(q) => q.announce(a).await,
        }
    }

    /// What wakes the in-process worker (a local queue's; SQS has its own consumers).
    pub fn wake(&self) -> Option<Arc<Notify>> {
        match self {
            WorkQueue::Local(wake) => Some(wake.clone()),
            WorkQueue::Sqs(_) => None,
        }
    }
}

/// Records a delivery and puts it on the queue. `Ok` only when both are durable, which is
/// when the webhook may answer `202`. A repeated delivery that is still queued is announced
/// again: its first announcement may be the one that failed.
pub async fn accept(
    ledger: &Ledger,
    queue: &WorkQueue,
    d: NewDelivery,
) -> Result<Inserted, AcceptError> {
    let announce = Announce::new(&d.id, &d.event, 0, d.received_at_ms);
    let inserted = ledger.record_delivery(d).await?;
    match inserted {
        Inserted::Queued => queue.announce(&announce).await?,
        // The queued delivery it joined is announced already; its work covers this one.
        Inserted::Coalesced => {}
        Inserted::Duplicate => {
            if let WorkQueue::Sqs(_) = queue {
                let status = ledger.delivery(announce.delivery.clone()).await?;
                if let Some(s) = status.filter(|s| s.state == crate::ledger::DeliveryState::Queued)
                {
                    queue
                        .announce(&Announce {
                            attempts: s.attempts,
                            received_at_ms: s.received_at_ms,
                            ..announce
                        })
                        .await?;
                }
            }
        }
    }
    Ok(inserted)
}

/// How long queued work may wait past its time before it is announced again: its message
/// was lost, or never sent (the queue refused it and GitHub was answered `503`).
pub const OVERDUE_AFTER: Duration = Duration::from_secs(60);

/// Announces again the queued work that waited [`OVERDUE_AFTER`] past its time; returns
/// how many. `serve`'s consumers do it every renewal (and `serve` before its first catch-up),
/// Lambda at each scheduled catch-up, before the pass.
pub async fn announce_overdue(ledger: &Ledger, queue: &SqsQueue) -> usize {
    let before = now_ms() - OVERDUE_AFTER.as_millis() as i64;
    let jobs = match ledger.overdue(before).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "cannot look for overdue work");
            return 0;
        }
    };
    let mut announced = 0;
    for job in &jobs {
        match queue.announce(&Announce::of(job)).await {
            Ok(()) => {
                announced += 1;
                tracing::info!(delivery = %job.id, "announced overdue work again");
            }
            Err(e) => {
                tracing::error!(delivery = %job.id, error = %e, "cannot announce overdue work")
            }
        }
    }
    announced
}

/// What to do with a message once its delivery was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Finished, or nothing to run: delete the message.
    Delete,
    /// Look again later: hide the message this long.
    Hide(Duration),
    /// A retry waits: send `Announce` afresh and delete this message, so the receive count
    /// that moves messages to the dead-letter queue counts lost attempts, not retries.
    Replace(Announce),
    /// Failed for good: to the dead-letter queue with the reason, then delete.
    DeadLetter { error: String },
}

/// What taking work needs: the ledger, the work itself, and the retry rules.
#[derive(Clone)]
pub struct Taker {
    pub ledger: Ledger,
    pub handler: Handler,
    pub settings: WorkerSettings,
}

/// Runs the delivery a message names, if the ledger says it may run now, and says what to
/// do with the message.
pub async fn take(taker: &Taker, delivery: &DeliveryId) -> Disposition {
    let now = now_ms();
    let job = match taker.ledger.claim_delivery(delivery.clone(), now).await {
        Ok(Taken::Job(job)) => job,
        Ok(Taken::Over) => return Disposition::Delete,
        Ok(Taken::NotDue { at_ms }) => return Disposition::Hide(wait_until(at_ms, now)),
        // The work that holds the pull request usually ends long before its lease does.
        Ok(Taken::Busy { until_ms }) => {
            return Disposition::Hide(wait_until(until_ms, now).min(BUSY_LOOK_AGAIN));
        }
        Err(e) => {
            tracing::error!(%delivery, error = %e, "cannot read the ledger; the message comes back");
            return Disposition::Hide(LEDGER_BACKOFF);
        }
    };
    tracing::info!(%delivery, attempt = job.attempts, "work taken");
    let (id, next) = (job.id.clone(), Announce::of(&job));
    let finish = attempt(&taker.handler, job, &taker.settings).await;
    let disposition = match &finish {
        Finish::Done => Disposition::Delete,
        Finish::Retry { .. } => Disposition::Replace(next),
        Finish::Failed { error } => Disposition::DeadLetter {
            error: error.clone(),
        },
    };
    match taker.ledger.finish_work(id.clone(), finish, now_ms()).await {
        Ok(()) => disposition,
        Err(e) => {
            // Still `running` on this process's lease: once the lease lapses, the message
            // that comes back takes it over.
            tracing::error!(delivery = %id, error = %e, "cannot record the outcome; the delivery will run again");
            Disposition::Hide(LEDGER_BACKOFF)
        }
    }
}

/// How soon a message whose pull request is busy looks again.
const BUSY_LOOK_AGAIN: Duration = Duration::from_secs(2);

/// How long a message hides when the ledger could not be read or written.
const LEDGER_BACKOFF: Duration = Duration::from_secs(30);

/// From `now_ms` until `at_ms`, at least a second (SQS counts whole seconds; a message
/// shown again at once would spin).
fn wait_until(at_ms: i64, now_ms: i64) -> Duration {
    let ms = (at_ms - now_ms).max(0) as u64;
    Duration::from_secs(ms.div_ceil(1000).max(1))
}
