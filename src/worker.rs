//! The one runner of keygate's work (STYLE): an attempt, retries with exponential backoff
//! and jitter, permanent failures recorded with their reason. The in-process queue, the SQS
//! consumer and a Lambda batch are three sources that hand it deliveries; one delivery's
//! failure never blocks the others.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::ids::DeliveryId;
use crate::ledger::{Finish, Job, Ledger, Store, Taken, now_ms};
use crate::queue::{Announce, Disposition};

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

/// How one attempt is run and retried: the same for every source of work.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub retry: RetryPolicy,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

/// The one runner (STYLE): runs a delivery's attempt, retries it with backoff, and records
/// its outcome. Every source of work hands it deliveries: the in-process queue
/// ([`LocalQueue`]) claims due ones from the ledger, and the SQS consumer and a Lambda batch
/// name one each ([`Runner::take`]).
#[derive(Clone)]
pub struct Runner {
    pub ledger: Ledger,
    pub handler: Handler,
    pub settings: RunSettings,
}

impl Runner {
    /// One attempt of `job`, its outcome recorded in the ledger: the outcome, or `None` when
    /// it could not be recorded (the delivery then runs again once its lease lapses).
    pub async fn run(&self, job: Job) -> Option<Finish> {
        let id = job.id.clone();
        let finish = attempt(&self.handler, job, &self.settings).await;
        match self.ledger.finish_work(id, finish.clone(), now_ms()).await {
            Ok(()) => Some(finish),
            Err(e) => {
                tracing::error!(error = %e, "cannot record the outcome; the delivery will run again");
                None
            }
        }
    }

    /// Runs the delivery a message names, if the ledger says it may run now, and says what
    /// to do with the message: a message that comes twice, late or out of order runs nothing
    /// twice (DESIGN §8).
    pub async fn take(&self, delivery: &DeliveryId) -> Disposition {
        let now = now_ms();
        let job = match self.ledger.claim_delivery(delivery.clone(), now).await {
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
        let next = Announce::of(&job);
        match self.run(job).await {
            Some(Finish::Done) => Disposition::Delete,
            Some(Finish::Retry { .. }) => Disposition::Replace(next),
            Some(Finish::Failed { error }) => Disposition::DeadLetter { error },
            // Still `running` on this process's lease: once the lease lapses, the message
            // that comes back takes it over.
            None => Disposition::Hide(LEDGER_BACKOFF),
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

/// How the in-process queue looks for work.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub concurrency: usize,
    /// How often due retries are looked for when nothing wakes the queue.
    pub poll: Duration,
    /// How often `running` rows this process is not working on are queued again.
    pub orphan_sweep: Duration,
}

/// The in-process source of work (one process, SQLite): the ledger is the queue; a new
/// delivery wakes it, and it claims due deliveries for the runner with bounded concurrency.
pub struct LocalQueue {
    pub runner: Runner,
    pub wake: Arc<Notify>,
    pub settings: LocalSettings,
}

/// Wait before attempt `attempts + 1`: exponential, capped, with jitter (50–100%).
pub fn backoff(attempts: u32, first: Duration, max: Duration) -> Duration {
    let exp = first.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let jitter = 0.5 + rand::random::<f64>() * 0.5;
    capped.mul_f64(jitter)
}

impl LocalQueue {
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
                self.requeue_orphans(&in_flight).await;
            }
            while tasks.try_join_next().is_some() {}
            let free = permits.available_permits();
            let jobs = self.claim(free).await;
            let claimed = jobs.len();
            for job in jobs {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                lock(&in_flight).insert(job.id.clone());
                let in_flight = in_flight.clone();
                let runner = self.runner.clone();
                let wake = self.wake.clone();
                let span = delivery_span(&job);
                tasks.spawn(
                    async move {
                        let id = job.id.clone();
                        runner.run(job).await;
                        lock(&in_flight).remove(&id);
                        drop(permit);
                        wake.notify_one();
                    }
                    .instrument(span),
                );
            }
            if claimed > 0 && claimed == free {
                continue;
            }
            let wait = self.wait(&permits).await;
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

    /// Puts back `running` deliveries this process is not working on.
    async fn requeue_orphans(&self, in_flight: &std::sync::Mutex<HashSet<DeliveryId>>) {
        let keep: Vec<DeliveryId> = lock(in_flight).iter().cloned().collect();
        match self.runner.ledger.requeue_orphans(keep).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                requeued = n,
                "queued again deliveries whose outcome was never recorded"
            ),
            Err(e) => tracing::error!(error = %e, "cannot look for orphaned deliveries"),
        }
    }

    /// Up to `free` due deliveries, claimed.
    async fn claim(&self, free: usize) -> Vec<Job> {
        if free == 0 {
            return Vec::new();
        }
        match self.runner.ledger.claim_work(now_ms(), free).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the work queue");
                Vec::new()
            }
        }
    }

    /// How long to sleep until woken by a new delivery or a finished task, the next
    /// claimable retry, or stop. Never a zero wait: that would spin.
    async fn wait(&self, permits: &Semaphore) -> Duration {
        if permits.available_permits() == 0 {
            // Every slot is busy: a finishing task wakes the loop.
            return self.settings.poll;
        }
        match self.runner.ledger.next_due_ms().await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(0, i64::MAX) as u64)
                .min(self.settings.poll),
            _ => self.settings.poll,
        }
    }
}

/// The span every line of a delivery's work carries.
pub(crate) fn delivery_span(job: &Job) -> tracing::Span {
    tracing::info_span!(
        "delivery",
        delivery = %job.id,
        event = %job.event.activity,
        repository = %job.event.repository,
        pr = %job.event.pr,
        attempt = job.attempts,
    )
}

fn lock(
    m: &std::sync::Mutex<HashSet<DeliveryId>>,
) -> std::sync::MutexGuard<'_, HashSet<DeliveryId>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn attempt(handler: &Handler, job: Job, settings: &RunSettings) -> Finish {
    let attempts = job.attempts;
    let again = settings.retry.allows_another(&job, now_ms());
    // A panic in the work is caught here, so the delivery is retried, not left running.
    let result = match tokio::spawn(handler(job)).await {
        Ok(r) => r,
        Err(e) => Err(JobError::Transient(format!(
            "the work stopped unexpectedly: {e}"
        ))),
    };
    finish(result, attempts, again, settings)
}

/// What an attempt's result means for the delivery.
fn finish(
    result: Result<(), JobError>,
    attempts: u32,
    again: bool,
    settings: &RunSettings,
) -> Finish {
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
        let worker = LocalQueue {
            runner: Runner {
                ledger: ledger.clone(),
                handler,
                settings: RunSettings {
                    retry: RetryPolicy {
                        retry_for: Duration::from_secs(60),
                        max_attempts: None,
                    },
                    first_backoff: Duration::from_millis(10),
                    max_backoff: Duration::from_millis(20),
                },
            },
            wake: Arc::new(Notify::new()),
            settings: LocalSettings {
                concurrency: 2,
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

    #[test]
    fn a_wait_is_whole_seconds_and_never_zero() {
        assert_eq!(wait_until(10_500, 10_000), Duration::from_secs(1));
        assert_eq!(wait_until(12_001, 10_000), Duration::from_secs(3));
        assert_eq!(
            wait_until(5_000, 10_000),
            Duration::from_secs(1),
            "past: look soon, not in a spin"
        );
    }
}
