//! `keygate serve` from configuration to a running service: settings → clients → ledger →
//! workflow → worker → router, then signals and a graceful stop. No rules and no routes here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::aws::Aws;
use crate::config::{QueueBackend, Settings, StoreBackend};
use crate::github::client::GitHubApp;
use crate::github::webhook::SignatureKey;
use crate::ids::{BranchName, RepoName};
use crate::ledger::{Ledger, Store, now_ms};
use crate::lifecycle::{LifecycleRules, SecretDeletion, Timing};
use crate::metrics::Metrics;
use crate::policy::approval::ApprovalRules;
use crate::queue::{Consumer, ConsumerSettings, SqsQueue, Taker, WorkQueue};
use crate::server::{AppState, HttpLimits, MetricsAccess, UnverifiedBudget, serve};
use crate::worker::{Handler, RetryPolicy, Worker, WorkerSettings};
use crate::workflow::catchup::catch_up;
use crate::workflow::sweep::sweep;
use crate::workflow::{Workflow, WorkflowSettings, recover_intents};

/// `keygate serve`: open the ledger, roll back interrupted issuances, start the worker and
/// the HTTP server; on SIGTERM/SIGINT stop accepting, let in-flight work finish within
/// `server.shutdown_timeout_secs`, and exit.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", settings.listen))?;
    let aws = Aws::from_env().await;
    run_with(settings, aws, listener, shutdown).await
}

/// `run` with its parts given: the AWS clients, a bound listener and the stop signal.
pub async fn run_with(
    settings: Settings,
    aws: Aws,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let service = settings.service()?;
    let repository = RepoName::new(service.repository.to_string());
    let branch = BranchName::new(settings.github.branch.clone());
    let ledger = open_ledger(&settings, &aws).await?;
    let retry = RetryPolicy {
        retry_for: Duration::from_secs(settings.server.retry_for_secs),
        max_attempts: settings.server.max_attempts,
    };
    let queue = open_queue(&settings, &aws).await?;
    let workflow = Arc::new(build_workflow(
        &settings,
        aws,
        ledger.clone(),
        queue.clone(),
    )?);
    let metrics = workflow.metrics.clone();
    let rules = lifecycle_rules(&settings);
    // On a shared DynamoDB ledger a `creating` intent may be another live replica's work in
    // progress: its own delivery rolls it back when it runs again.
    let recovered = if rolls_back_at_start(settings.store.backend) {
        recover_intents(&workflow).await
    } else {
        Ok(0)
    };
    match recovered {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rolled_back = n,
            "rolled back interrupted issuances; their deliveries will run again"
        ),
        // Not fatal: the delivery that owns the intent rolls it back before retrying.
        Err(e) => tracing::error!(error = %e, "cannot roll back interrupted issuances now"),
    }
    // The first expiry pass before the first delivery: a key past its end never waits
    // for a timer.
    sweep_pass(
        &workflow,
        &rules,
        pass_hold(settings.lifecycle.sweep_interval_secs),
    )
    .await;
    // Queued work whose message was lost is announced again before catch-up, which may take
    // a while (the consumer's upkeep does it from then on).
    if let WorkQueue::Sqs(sqs) = &queue {
        crate::queue::announce_overdue(&ledger, sqs).await;
    }
    // The first catch-up before the first delivery too (DESIGN §5), bounded so a GitHub that
    // does not answer delays the start by seconds, not minutes; the timer tries again.
    if tokio::time::timeout(
        FIRST_CATCH_UP_LIMIT,
        catch_up_pass(
            &workflow,
            pass_hold(settings.lifecycle.reconcile_interval_secs),
        ),
    )
    .await
    .is_err()
    {
        tracing::error!(
            limit_secs = FIRST_CATCH_UP_LIMIT.as_secs(),
            "catch-up at start took too long; the next pass tries again"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grace = Duration::from_secs(settings.server.shutdown_timeout_secs);
    let worker_settings = WorkerSettings {
        concurrency: settings.server.concurrency as usize,
        retry,
        first_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(settings.server.max_backoff_secs),
        poll: Duration::from_secs(1),
        orphan_sweep: Duration::from_secs(30),
    };
    let work = handler(workflow.clone());
    let lifecycle = tokio::spawn(lifecycle_timers(
        workflow,
        rules,
        Timers {
            sweep_every: Duration::from_secs(settings.lifecycle.sweep_interval_secs),
            reconcile_every: Duration::from_secs(settings.lifecycle.reconcile_interval_secs),
        },
        stop_rx.clone(),
    ));
    let worker = match &queue {
        WorkQueue::Local(wake) => {
            let worker = Worker {
                ledger: ledger.clone(),
                handler: work,
                wake: wake.clone(),
                settings: worker_settings,
            };
            tokio::spawn(worker.run(stop_rx, grace))
        }
        WorkQueue::Sqs(sqs) => {
            let consumer = Consumer {
                queue: (**sqs).clone(),
                settings: ConsumerSettings {
                    concurrency: worker_settings.concurrency,
                    lease: Duration::from_secs(settings.queue.lease_secs),
                    receive_wait: Duration::from_secs(settings.queue.receive_wait_secs),
                },
                taker: Taker {
                    ledger: ledger.clone(),
                    handler: work,
                    settings: worker_settings,
                },
            };
            tokio::spawn(consumer.run(stop_rx, grace))
        }
    };

    let state = AppState {
        key: Arc::new(SignatureKey::new(service.webhook_secret)),
        ledger: ledger.clone(),
        repository,
        branch,
        queue,
        unverified: UnverifiedBudget::new(settings.server.max_unverified_bytes as usize),
        limits: HttpLimits::default(),
        metrics,
        metrics_access: MetricsAccess::for_serve(settings.metrics_token.clone()),
    };
    let addr = listener
        .local_addr()
        .context("the listener has no address")?;
    tracing::info!(listen = %addr, repository = %state.repository, branch = %state.branch, "keygate is serving");
    serve(listener, state, shutdown)
        .await
        .context("the HTTP server failed")?;
    tracing::info!("no longer accepting deliveries; finishing in-flight work");
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = lifecycle.await;
    // Hand the scheduled passes on at once rather than when their leases lapse.
    for pass in ["sweep", "reconcile"] {
        let now = now_ms();
        let _ = ledger.lease_pass(pass, now, now).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The workflow as `serve` and the lifecycle commands use it, with its own [`Metrics`] that
/// its GitHub and AWS clients count into.
pub fn build_workflow(
    settings: &Settings,
    aws: Aws,
    ledger: Ledger,
    queue: WorkQueue,
) -> anyhow::Result<Workflow> {
    let metrics = Metrics::new();
    let service = settings.service()?;
    let retry = RetryPolicy {
        retry_for: Duration::from_secs(settings.server.retry_for_secs),
        max_attempts: settings.server.max_attempts,
    };
    let github = GitHubApp::new(
        &settings.github.api_url,
        service.app_id,
        service.private_key,
    )?
    .with_metrics(metrics.clone());
    Ok(Workflow {
        github,
        aws: aws
            .with_metrics(metrics.clone())
            .with_chat_notices(settings.aws.chat_notices),
        metrics,
        ledger,
        queue,
        settings: WorkflowSettings {
            repository: RepoName::new(service.repository.to_string()),
            branch: BranchName::new(settings.github.branch.clone()),
            rules: settings
                .request_rules()
                .compile()
                .map_err(anyhow::Error::msg)?,
            approval: ApprovalRules {
                min_approvals: settings.policy.min_approvals,
                approval_ttl_hours: u64::from(settings.policy.approval_ttl_hours),
                request_ttl_hours: u64::from(settings.policy.request_ttl_hours),
                require_verified_commits: settings.policy.require_verified_commits,
            },
            sns_topic_arn: service.sns_topic_arn.to_string(),
            kms_key_id: settings.aws.kms_key_id.clone(),
            retry,
            max_requests_per_pr: settings.policy.max_requests_per_pr,
            lifecycle: lifecycle_rules(settings),
        },
    })
}

/// `[lifecycle]` as the lifecycle steps use it.
pub fn lifecycle_rules(settings: &Settings) -> LifecycleRules {
    LifecycleRules {
        timing: Timing {
            warn_days: settings.lifecycle.warn_days,
            delete_after_days: settings.lifecycle.delete_after_days,
        },
        deletion: SecretDeletion::from_days(settings.lifecycle.secret_recovery_days),
        reconcile_since: settings.lifecycle.reconcile_since,
    }
}

/// The worker's handler: each delivery runs on the shared workflow (Lambda's too).
pub(crate) fn handler(workflow: Arc<Workflow>) -> Handler {
    Arc::new(move |job| {
        let wf = workflow.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = wf.handle(job).await;
            wf.metrics.work_done(started.elapsed());
            result
        })
    })
}

/// How much longer than its interval a replica holds a scheduled pass: its next tick renews
/// the lease before it lapses, and another replica takes the pass over only when it stops.
const PASS_SLACK: Duration = Duration::from_secs(30);

fn pass_hold(interval_secs: u64) -> Duration {
    Duration::from_secs(interval_secs) + PASS_SLACK
}

/// Whether this process runs the scheduled pass `pass` now (DESIGN §8: one replica at a
/// time), holding it for `hold`. A lease that cannot be read skips the pass: the next tick,
/// or another replica, runs it.
async fn runs_pass(workflow: &Workflow, pass: &'static str, hold: Duration) -> bool {
    let now = now_ms();
    let until = now + hold.as_millis() as i64;
    match workflow.ledger.lease_pass(pass, now, until).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::debug!(pass, "another replica runs this pass now");
            false
        }
        Err(e) => {
            tracing::error!(pass, error = %e, "cannot take the pass's lease; skipping it this time");
            false
        }
    }
}

/// One expiry pass, on one replica at a time (held for `hold`): failures are logged, the
/// next pass tries again.
pub async fn sweep_pass(workflow: &Workflow, rules: &LifecycleRules, hold: Duration) {
    if !runs_pass(workflow, "sweep", hold).await {
        return;
    }
    match sweep(workflow, rules, time::OffsetDateTime::now_utc(), false).await {
        Ok(lines) => {
            let failed = lines
                .iter()
                .filter(|l| matches!(l.result, Some(Err(_))))
                .count();
            if !lines.is_empty() {
                tracing::info!(steps = lines.len(), failed, "expiry sweep done");
            }
        }
        Err(e) => tracing::error!(error = %e, "the expiry sweep cannot list keys now"),
    }
}

/// One catch-up pass inside `serve` (DESIGN §5): failures are logged, the next pass tries
/// again; what it queued is announced on the work queue as it is recorded.
pub async fn catch_up_pass(workflow: &Workflow, hold: Duration) {
    if !runs_pass(workflow, "reconcile", hold).await {
        return;
    }
    match catch_up(workflow).await {
        Ok(done) => {
            if done.queued_work() {
                tracing::info!(
                    merges = done.settled.len(),
                    refreshes = done.refreshed.len(),
                    "catch-up queued missed deliveries"
                );
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "catch-up cannot ask GitHub now; the next pass tries again")
        }
    }
}

/// How long `serve` waits for the first catch-up pass before it takes deliveries.
const FIRST_CATCH_UP_LIMIT: Duration = Duration::from_secs(15);

/// What the in-process schedule runs, and how often.
struct Timers {
    sweep_every: Duration,
    reconcile_every: Duration,
}

/// The in-process schedule (DESIGN §8): the sweep every `sweep_every` and catch-up every
/// `reconcile_every` (their first passes ran at start), until stopped.
async fn lifecycle_timers(
    workflow: Arc<Workflow>,
    rules: LifecycleRules,
    timers: Timers,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = timers.sweep_every;
    let mut sweep_tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every = timers.reconcile_every.max(Duration::from_secs(1));
    let mut reconcile_tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    reconcile_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sweep_tick.tick() => sweep_pass(&workflow, &rules, timers.sweep_every + PASS_SLACK).await,
            _ = reconcile_tick.tick() => catch_up_pass(&workflow, timers.reconcile_every + PASS_SLACK).await,
            _ = stop.changed() => return,
        }
    }
}

/// Whether `serve` rolls back interrupted issuances when it starts: only on a ledger this
/// process holds alone. On a shared (DynamoDB) ledger an intent left `creating` may be another
/// live replica's issuance in progress; there the delivery that owns it rolls it back when it
/// runs again, once its lease lapses.
fn rolls_back_at_start(backend: StoreBackend) -> bool {
    match backend {
        StoreBackend::Sqlite => true,
        StoreBackend::Dynamodb => false,
    }
}

/// The DynamoDB table `store.table` names (the configuration check already requires it
/// with `store.backend = "dynamodb"`).
pub fn dynamo_table(settings: &Settings) -> anyhow::Result<&str> {
    settings
        .store
        .table
        .as_deref()
        .context("store.table is required when store.backend = \"dynamodb\"")
}

/// The configured work queue: in process, or the SQS FIFO queue `queue.url` names,
/// checked to exist (never created here, DESIGN §8).
pub async fn open_queue(settings: &Settings, aws: &Aws) -> anyhow::Result<WorkQueue> {
    match (settings.queue.backend, settings.queue.url.as_deref()) {
        (QueueBackend::Local, _) => Ok(WorkQueue::local()),
        (QueueBackend::Sqs, Some(url)) => Ok(WorkQueue::Sqs(Box::new(
            SqsQueue::open(aws.clone(), url).await?,
        ))),
        (QueueBackend::Sqs, None) => {
            anyhow::bail!("queue.url is required when queue.backend = \"sqs\"")
        }
    }
}

/// Opens the configured ledger and puts back in the queue what a stop interrupted.
pub async fn open_ledger(settings: &Settings, aws: &Aws) -> anyhow::Result<Ledger> {
    let ledger = match settings.store.backend {
        StoreBackend::Sqlite => Ledger::open_sqlite(&settings.store.path).with_context(|| {
            format!(
                "cannot open the ledger at {}",
                settings.store.path.display()
            )
        })?,
        StoreBackend::Dynamodb => {
            let table = dynamo_table(settings)?;
            // Never created here (DESIGN §8): a missing table is a start-up error.
            Ledger::open_dynamo(aws.dynamodb(), table)
                .await
                .context("cannot open the ledger")?
                .with_lease(Duration::from_secs(settings.queue.lease_secs))
        }
    };
    let requeued = ledger.resume_interrupted().await?;
    if requeued > 0 {
        tracing::warn!(
            requeued,
            "resuming deliveries that were in flight when keygate stopped"
        );
    }
    Ok(ledger)
}

/// SIGTERM or SIGINT. The handlers are registered now, not when the future is first
/// polled: a signal that arrives as soon as the server answers must already be caught.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ledger_held_alone_rolls_back_interrupted_issuances_at_start() {
        assert!(rolls_back_at_start(StoreBackend::Sqlite));
        assert!(
            !rolls_back_at_start(StoreBackend::Dynamodb),
            "another replica may be mid-issuance"
        );
    }
}
