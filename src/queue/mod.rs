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
use crate::ledger::{Inserted, Ledger, LedgerError, NewDelivery, Store, now_ms};

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
