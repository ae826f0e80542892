//! `serve`'s worker with an SQS queue: receives messages, takes the work they name, and
//! keeps its leases alive. The visibility timeout is the lease on the message, the ledger's
//! lease the one on the work; both are renewed while the work runs, and a replica that dies
//! loses both to the others once they lapse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{Announce, Disposition, SqsQueue};
use crate::aws::sqs::Received;
use crate::ids::DeliveryId;
use crate::ledger::Store;
use crate::worker::Runner;

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub concurrency: usize,
    /// How long one `ReceiveMessage` waits for a message (`queue.receive_wait_secs`).
    pub receive_wait: Duration,
    /// How long a received message stays hidden (`queue.lease_secs`, as the ledger's lease
    /// on the work); both are renewed every quarter of it while the work runs.
    pub lease: Duration,
}

pub struct Consumer {
    pub queue: SqsQueue,
    pub runner: Runner,
    pub settings: ConsumerSettings,
}

/// The messages this process holds: delivery → receipt handle.
type Held = Arc<Mutex<HashMap<DeliveryId, String>>>;

fn held(h: &Held) -> MutexGuard<'_, HashMap<DeliveryId, String>> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

impl Consumer {
    /// Runs until `stop` turns true, then lets in-flight work finish within `grace`. Work
    /// not finished by then is left to its lapsing leases.
    pub async fn run(self, mut stop: watch::Receiver<bool>, grace: Duration) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let holding: Held = Arc::default();
        let mut tasks = JoinSet::new();
        let upkeep = tokio::spawn(upkeep(
            self.queue.clone(),
            self.runner.clone(),
            self.settings.clone(),
            holding.clone(),
            stop.clone(),
        ));
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            // Receive only what there are hands for: a message received and left waiting
            // would hold its pull request's group for nothing.
            let Ok(first) = permits.clone().acquire_owned().await else {
                break;
            };
            let free = 1 + permits.available_permits();
            let receive = self.queue.aws().receive_messages(
                self.queue.url(),
                free.min(10) as i32,
                self.settings.receive_wait.as_secs() as i32,
                self.settings.lease.as_secs() as i32,
            );
            let messages = tokio::select! {
                r = receive => r,
                _ = stop.changed() => break,
            };
            let messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "cannot receive from the work queue");
                    drop(first);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            let mut first = Some(first);
            for message in messages {
                let permit = match first.take() {
                    Some(p) => p,
                    None => match permits.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let queue = self.queue.clone();
                let runner = self.runner.clone();
                let holding = holding.clone();
                tasks.spawn(async move {
                    work_on(&queue, &runner, &holding, message).await;
                    drop(permit);
                });
            }
        }
        tracing::info!(in_flight = tasks.len(), "worker stopping");
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                "in-flight work did not finish within {grace:?}; its messages come back when their leases lapse"
            );
            tasks.abort_all();
        }
        upkeep.abort();
    }
}

/// Takes the work one message names and disposes of the message.
async fn work_on(queue: &SqsQueue, runner: &Runner, holding: &Held, message: Received) {
    let Some(announce) = Announce::parse(&message.body) else {
        tracing::error!(
            "a message on the work queue is not keygate's; moving it to the dead-letter queue"
        );
        let d = Disposition::DeadLetter {
            error: "not a keygate work message".into(),
        };
        if let Err(e) = queue.dispose(&message.receipt, &message.body, &d).await {
            tracing::error!(error = %e, "cannot move the message; it comes back");
        }
        return;
    };
    let span = announce.span(message.receive_count);
    async {
        held(holding).insert(announce.delivery.clone(), message.receipt.clone());
        let d = runner.take(&announce.delivery).await;
        held(holding).remove(&announce.delivery);
        if let Err(e) = queue.dispose(&message.receipt, &message.body, &d).await {
            // The message comes back when its visibility lapses; the ledger knows the outcome.
            tracing::warn!(error = %e, disposition = ?d, "cannot dispose of the message; it comes back and finds its outcome recorded");
        }
    }
    .instrument(span)
    .await
}

/// Every `renew_every`: renews the leases (message visibility and ledger) of held work, and
/// announces again queued work whose message was lost.
async fn upkeep(
    queue: SqsQueue,
    runner: Runner,
    settings: ConsumerSettings,
    holding: Held,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(settings.lease / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now_held: Vec<(DeliveryId, String)> = held(&holding)
            .iter()
            .map(|(d, r)| (d.clone(), r.clone()))
            .collect();
        let secs = settings.lease.as_secs() as i32;
        for (delivery, receipt) in &now_held {
            if let Err(e) = queue.aws().hide_message(queue.url(), receipt, secs).await {
                tracing::warn!(%delivery, error = %e, "cannot extend the message's lease");
            }
        }
        // Renews the ledger leases of held work, and puts back work whose runner (this
        // replica or another) stopped renewing.
        let keep = now_held.into_iter().map(|(d, _)| d).collect();
        if let Err(e) = runner.ledger.requeue_orphans(keep).await {
            tracing::error!(error = %e, "cannot renew the work's leases");
        }
        super::announce_overdue(&runner.ledger, &queue).await;
    }
}
