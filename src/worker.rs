//! Background processing of queued deliveries: bounded concurrency, retries with
//! exponential backoff and jitter, permanent failures recorded with their reason, and
//! unfinished work resumed at start. One delivery's failure never blocks the others.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::ledger::{Finish, Job, Ledger, now_ms};

/// Why one attempt did not finish the work.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (5xx, throttling, timeouts, connection errors).
    #[error("{0}")]
    Transient(String),
    /// Another attempt would fail the same way.
    #[error("{0}")]
    Permanent(String),
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
pub type Handler = Arc<dyn Fn(Job) -> JobFuture + Send + Sync>;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How often due retries are looked for when nothing wakes the worker.
    pub poll: Duration,
    /// How often `running` rows this process is not working on are queued again.
    pub orphan_sweep: Duration,
}

pub struct Worker {
    pub ledger: Ledger,
    pub handler: Handler,
    pub wake: Arc<Notify>,
    pub settings: WorkerSettings,
}

/// Wait before attempt `attempts + 1`: exponential, capped, with jitter (50–100%).
pub fn backoff(attempts: u32, first: Duration, max: Duration) -> Duration {
    let exp = first.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let jitter = 0.5 + rand::random::<f64>() * 0.5;
    capped.mul_f64(jitter)
}

impl Worker {
    /// Runs until `stop` turns true, then lets in-flight work finish within `grace`.
    pub async fn run(self, mut stop: watch::Receiver<bool>, grace: Duration) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut tasks = JoinSet::new();
        let in_flight: Arc<std::sync::Mutex<HashSet<String>>> = Arc::default();
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            if last_sweep.elapsed() >= self.settings.orphan_sweep {
                last_sweep = tokio::time::Instant::now();
                let keep: Vec<String> = lock(&in_flight).iter().cloned().collect();
                match self.ledger.run(move |s| s.requeue_orphans(&keep)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(
                        requeued = n,
                        "queued again deliveries whose outcome was never recorded"
                    ),
                    Err(e) => tracing::error!(error = %e, "cannot look for orphaned deliveries"),
                }
            }
            while tasks.try_join_next().is_some() {}
            let free = permits.available_permits();
            let jobs = if free > 0 {
                match self.ledger.run(move |s| s.claim_due(now_ms(), free)).await {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the work queue");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let claimed = jobs.len();
            for job in jobs {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                lock(&in_flight).insert(job.guid.clone());
                let in_flight = in_flight.clone();
                let ledger = self.ledger.clone();
                let handler = self.handler.clone();
                let settings = self.settings.clone();
                let wake = self.wake.clone();
                let span = tracing::info_span!(
                    "delivery",
                    delivery = %job.guid,
                    event = %job.event,
                    action = %job.action,
                    repository = %job.repository,
                    pr = job.pr_number,
                    attempt = job.attempts,
                );
                tasks.spawn(
                    async move {
                        let finish = attempt(&handler, job.clone(), &settings).await;
                        let guid = job.guid.clone();
                        if let Err(e) = ledger.run(move |s| s.finish(&guid, &finish, now_ms())).await {
                            tracing::error!(error = %e, "cannot record the outcome; the delivery will run again");
                        }
                        lock(&in_flight).remove(&job.guid);
                        drop(permit);
                        wake.notify_one();
                    }
                    .instrument(span),
                );
            }
            if claimed > 0 && claimed == free {
                continue;
            }
            // Sleep until woken by a new delivery or a finished task, the next claimable
            // retry, or stop. Never a zero wait: that would spin.
            let wait = if permits.available_permits() == 0 {
                // Every slot is busy: a finishing task wakes the loop.
                self.settings.poll
            } else {
                match self.ledger.run(|s| s.next_due_ms()).await {
                    Ok(Some(due)) => {
                        Duration::from_millis((due - now_ms()).clamp(0, i64::MAX) as u64)
                            .min(self.settings.poll)
                    }
                    _ => self.settings.poll,
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!(in_flight = tasks.len(), "worker stopping");
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                "in-flight work did not finish within {grace:?}; it resumes at the next start"
            );
            tasks.abort_all();
        }
    }
}

fn lock(m: &std::sync::Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn attempt(handler: &Handler, job: Job, settings: &WorkerSettings) -> Finish {
    let attempts = job.attempts;
    // A panic in the work is caught here, so the delivery is retried, not left running.
    let result = match tokio::spawn(handler(job)).await {
        Ok(r) => r,
        Err(e) => Err(JobError::Transient(format!(
            "the work stopped unexpectedly: {e}"
        ))),
    };
    match result {
        Ok(()) => {
            tracing::info!(outcome = "done", "delivery processed");
            Finish::Done
        }
        Err(JobError::Transient(error)) if attempts < settings.max_attempts => {
            let wait = backoff(attempts, settings.first_backoff, settings.max_backoff);
            tracing::warn!(outcome = "retry", %error, retry_in_ms = wait.as_millis() as u64, "delivery will be retried");
            Finish::Retry {
                at_ms: now_ms() + wait.as_millis() as i64,
                error,
            }
        }
        Err(e) => {
            let error = match e {
                JobError::Transient(m) => format!("gave up after {attempts} attempts: {m}"),
                JobError::Permanent(m) => m,
            };
            tracing::error!(outcome = "failed", %error, "delivery failed");
            Finish::Failed { error }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::NewDelivery;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for _ in 0..50 {
            let b1 = backoff(1, first, max);
            assert!(b1 >= Duration::from_millis(500) && b1 <= first);
            let b4 = backoff(4, first, max);
            assert!(b4 >= Duration::from_secs(4) && b4 <= Duration::from_secs(8));
            assert!(backoff(30, first, max) <= max);
        }
    }

    fn delivery(guid: &str) -> NewDelivery {
        NewDelivery {
            guid: guid.into(),
            event: "pull_request".into(),
            action: "closed".into(),
            repository: "acme/r".into(),
            installation_id: 1,
            // One pull request each: independent work.
            pr_number: guid.len() as u64 * 100 + u64::from(guid.as_bytes()[0]),
            received_at_ms: now_ms(),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_a_failing_delivery_does_not_block_others() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open_sqlite(&dir.path().join("l.db")).unwrap();
        ledger.insert(delivery("flaky")).await.unwrap();
        ledger.insert(delivery("broken")).await.unwrap();
        ledger.insert(delivery("fine")).await.unwrap();
        let flaky_calls = Arc::new(AtomicU32::new(0));
        let calls = flaky_calls.clone();
        let handler: Handler = Arc::new(move |job: Job| {
            let calls = calls.clone();
            Box::pin(async move {
                match job.guid.as_str() {
                    "flaky" if calls.fetch_add(1, Ordering::SeqCst) < 2 => {
                        Err(JobError::Transient("502 Bad Gateway".into()))
                    }
                    "broken" => Err(JobError::Permanent("no such pull request".into())),
                    _ => Ok(()),
                }
            })
        });
        let (stop_tx, stop) = watch::channel(false);
        let worker = Worker {
            ledger: ledger.clone(),
            handler,
            wake: Arc::new(Notify::new()),
            settings: WorkerSettings {
                concurrency: 2,
                max_attempts: 5,
                first_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
                poll: Duration::from_millis(10),
                orphan_sweep: Duration::from_secs(30),
            },
        };
        let run = tokio::spawn(worker.run(stop, Duration::from_secs(1)));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = ledger.stats().await.unwrap();
            if s.queued == 0 && s.running == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "worker never drained: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop_tx.send(true).unwrap();
        run.await.unwrap();
        let state = |g: &'static str| {
            let l = ledger.clone();
            async move { l.run(move |s| s.delivery_state(g)).await.unwrap().unwrap() }
        };
        assert_eq!(state("flaky").await.0, "done");
        assert_eq!(state("flaky").await.1, 3);
        assert_eq!(state("fine").await.0, "done");
        let broken = state("broken").await;
        assert_eq!(broken.0, "failed");
        assert_eq!(broken.2.as_deref(), Some("no such pull request"));
    }
}
