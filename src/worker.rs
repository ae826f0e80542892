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

use crate::ids::DeliveryId;
use crate::ledger::{Finish, Job, Ledger, Store, now_ms};

/// Why one attempt did not finish the work.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (5xx, throttling, timeouts, connection errors).
    #[error("{0}")]
    Transient(String),
    /// GitHub's rate limit: the workflow turns it into `NotBefore` its reset time.
    #[error("{0}")]
    RateLimited(String),
    /// Worth another attempt, but not before `until_ms` (GitHub's rate limit resets then).
    #[error("{message}")]
    NotBefore { until_ms: i64, message: String },
    /// Another attempt would fail the same way.
    #[error("{0}")]
    Permanent(String),
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
pub type Handler = Arc<dyn Fn(Job) -> JobFuture + Send + Sync>;

/// How long a delivery's transient errors are retried (DESIGN §3.4): by time since it
/// arrived, not by count, so a day-long outage is ridden out whatever the backoff did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `server.retry_for_secs`.
    pub retry_for: Duration,
    /// `server.max_attempts` from older configuration files: a cap on top of the time.
    pub max_attempts: Option<u32>,
}

impl RetryPolicy {
    /// Whether a transient failure of this attempt of `job` gets another one.
    pub fn allows_another(&self, job: &Job, now_ms: i64) -> bool {
        let waited = Duration::from_millis((now_ms - job.received_at_ms).max(0) as u64);
        waited < self.retry_for && self.max_attempts.is_none_or(|cap| job.attempts < cap)
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub retry: RetryPolicy,
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
        let in_flight: Arc<std::sync::Mutex<HashSet<DeliveryId>>> = Arc::default();
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            if last_sweep.elapsed() >= self.settings.orphan_sweep {
                last_sweep = tokio::time::Instant::now();
                let keep: Vec<DeliveryId> = lock(&in_flight).iter().cloned().collect();
                match self.ledger.requeue_orphans(keep).await {
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
                match self.ledger.claim_work(now_ms(), free).await {
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
                lock(&in_flight).insert(job.id.clone());
                let in_flight = in_flight.clone();
                let ledger = self.ledger.clone();
                let handler = self.handler.clone();
                let settings = self.settings.clone();
                let wake = self.wake.clone();
                let span = tracing::info_span!(
                    "delivery",
                    delivery = %job.id,
                    event = %job.event.activity,
                    repository = %job.event.repository,
                    pr = %job.event.pr,
                    attempt = job.attempts,
                );
                tasks.spawn(
                    async move {
                        let finish = attempt(&handler, job.clone(), &settings).await;
                        if let Err(e) = ledger.finish_work(job.id.clone(), finish, now_ms()).await {
                            tracing::error!(error = %e, "cannot record the outcome; the delivery will run again");
                        }
                        lock(&in_flight).remove(&job.id);
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
                match self.ledger.next_due_ms().await {
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

fn lock(
    m: &std::sync::Mutex<HashSet<DeliveryId>>,
) -> std::sync::MutexGuard<'_, HashSet<DeliveryId>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) async fn attempt(handler: &Handler, job: Job, settings: &WorkerSettings) -> Finish {
    let attempts = job.attempts;
    let again = settings.retry.allows_another(&job, now_ms());
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
        Err(JobError::Transient(error) | JobError::RateLimited(error)) if again => {
            let wait = backoff(attempts, settings.first_backoff, settings.max_backoff);
            tracing::warn!(outcome = "retry", %error, retry_in_ms = wait.as_millis() as u64, "delivery will be retried");
            Finish::Retry {
                at_ms: now_ms() + wait.as_millis() as i64,
                error,
            }
        }
        Err(JobError::NotBefore { until_ms, message }) if again => {
            let wait = backoff(attempts, settings.first_backoff, settings.max_backoff);
            let at_ms = (now_ms() + wait.as_millis() as i64).max(until_ms);
            tracing::warn!(outcome = "retry", error = %message, retry_at_ms = at_ms, "delivery will be retried after the rate limit resets");
            Finish::Retry {
                at_ms,
                error: message,
            }
        }
        Err(e) => {
            let error = match e {
                JobError::Transient(m)
                | JobError::RateLimited(m)
                | JobError::NotBefore { message: m, .. } => {
                    format!("gave up after {attempts} attempts: {m}")
                }
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
    use crate::ids::{InstallationId, PrNumber, RepoName};
    use crate::ledger::{DeliveryState, NewDelivery};
    use crate::work::{Activity, PrEvent};
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

    fn delivery(id: &str) -> NewDelivery {
        NewDelivery {
            id: DeliveryId::new(id),
            event: PrEvent {
                repository: RepoName::new("acme/r"),
                installation: InstallationId(1),
                // One pull request each: independent work.
                pr: PrNumber(id.len() as u64 * 100 + u64::from(id.as_bytes()[0])),
                activity: Activity::Closed,
                sender: None,
                merge_commit: None,
            },
            received_at_ms: now_ms(),
        }
    }

    fn job(attempts: u32, received_ms_ago: i64) -> Job {
        let d = delivery("a");
        Job {
            id: d.id,
            event: d.event,
            attempts,
            received_at_ms: now_ms() - received_ms_ago,
        }
    }

    #[test]
    fn transient_errors_are_retried_for_a_time_not_a_count() {
        let day = RetryPolicy {
            retry_for: Duration::from_secs(86_400),
            max_attempts: None,
        };
        assert!(
            day.allows_another(&job(500, 3_600_000), now_ms()),
            "an hour in"
        );
        assert!(
            !day.allows_another(&job(3, 86_401_000), now_ms()),
            "a day is up"
        );
        let capped = RetryPolicy {
            max_attempts: Some(5),
            ..day
        };
        assert!(capped.allows_another(&job(4, 0), now_ms()));
        assert!(
            !capped.allows_another(&job(5, 0), now_ms()),
            "old max_attempts caps it"
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_a_failing_delivery_does_not_block_others() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open_sqlite(&dir.path().join("l.db")).unwrap();
        for id in ["flaky", "broken", "fine"] {
            ledger.record_delivery(delivery(id)).await.unwrap();
        }
        let flaky_calls = Arc::new(AtomicU32::new(0));
        let calls = flaky_calls.clone();
        let handler: Handler = Arc::new(move |job: Job| {
            let calls = calls.clone();
            Box::pin(async move {
                match job.id.as_str() {
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
                retry: RetryPolicy {
                    retry_for: Duration::from_secs(60),
                    max_attempts: None,
                },
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
        let state = |id: &'static str| {
            let l = ledger.clone();
            async move { l.delivery(DeliveryId::new(id)).await.unwrap().unwrap() }
        };
        let flaky = state("flaky").await;
        assert_eq!((flaky.state, flaky.attempts), (DeliveryState::Done, 3));
        assert_eq!(state("fine").await.state, DeliveryState::Done);
        let broken = state("broken").await;
        assert_eq!(broken.state, DeliveryState::Failed);
        assert_eq!(broken.last_error.as_deref(), Some("no such pull request"));
    }
}
