//! `keygate serve` once the app is built: roll back interrupted issuances, run the first
//! expiry and catch-up passes, start the source of work and the timers, serve the router;
//! on SIGTERM/SIGINT stop accepting, let in-flight work finish, and hand the passes on.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{App, aws, local_settings};
use crate::aws::Aws;
use crate::config::{Settings, StoreBackend};
use crate::github::webhook::SignatureKey;
use crate::ids::{BranchName, RepoName};
use crate::ledger::{Pass, Role, Store, now_ms};
use crate::lifecycle::LifecycleRules;
use crate::queue::{Consumer, ConsumerSettings, WorkQueue};
use crate::server::{AppState, HealthAlerts, HttpLimits, MetricsAccess, UnverifiedBudget, serve};
use crate::worker::LocalQueue;
use crate::workflow::catchup::catch_up;
use crate::workflow::sweep::sweep;
use crate::workflow::{Workflow, recover_intents};

/// `keygate serve`: bind, build the app, and serve until SIGTERM or SIGINT.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", settings.listen))?;
    run_with(settings, aws().await, listener, shutdown).await
}

/// `run` with its parts given: the AWS clients, a bound listener and the stop signal.
pub async fn run_with(
    settings: Settings,
    aws: Aws,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let service = settings.service()?;
    let app = App::build(&settings, aws, Role::Serve).await?;
    let rules = super::lifecycle_rules(&settings);
    start(&settings, &app.workflow, &rules).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let timers = tokio::spawn(lifecycle_timers(
        app.workflow.clone(),
        rules,
        Timers {
            sweep_every: settings.lifecycle.sweep_interval(),
            reconcile_every: settings.lifecycle.reconcile_interval(),
        },
        stop_rx.clone(),
    ));
    let work = tokio::spawn(source_of_work(&settings, &app, stop_rx));
    let state = AppState {
        key: Arc::new(SignatureKey::new(service.webhook_secret)),
        ledger: app.ledger.clone(),
        repository: RepoName::new(service.repository.to_string()),
        branch: BranchName::new(settings.github.branch.clone()),
        queue: app.queue.clone(),
        unverified: UnverifiedBudget::new(settings.server.max_unverified_bytes as usize),
        limits: HttpLimits::default(),
        metrics: app.workflow.metrics.clone(),
        metrics_access: MetricsAccess::for_serve(settings.metrics_token.clone()),
        // AWS Health's exposed credentials (DESIGN §10), only with `server.alerts_token`.
        health_alerts: settings.alerts_token.clone().map(|token| HealthAlerts {
            token: Arc::new(token),
            workflow: app.workflow.clone(),
            rules,
        }),
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
    let _ = work.await;
    let _ = timers.await;
    // Hand the scheduled passes on at once rather than when their leases lapse.
    for pass in Pass::ALL {
        let now = now_ms();
        let _ = app.ledger.lease_pass(pass, now, now).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Before the first delivery: interrupted issuances rolled back (on a ledger held alone),
/// then the first expiry pass (a key past its end never waits for a timer), lost work
/// announced again (with SQS), and the first catch-up (DESIGN §5), bounded so a GitHub that
/// does not answer delays the start by seconds, not minutes; the timers try again.
async fn start(settings: &Settings, workflow: &Workflow, rules: &LifecycleRules) {
    // On a shared DynamoDB ledger a `creating` intent may be another live replica's work in
    // progress: its own delivery rolls it back when it runs again.
    if rolls_back_at_start(settings.store.backend) {
        match recover_intents(workflow).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                rolled_back = n,
                "rolled back interrupted issuances; their deliveries will run again"
            ),
            // Not fatal: the delivery that owns the intent rolls it back before retrying.
            Err(e) => tracing::error!(error = %e, "cannot roll back interrupted issuances now"),
        }
    }
    let hold = settings.lifecycle.sweep_interval() + PASS_SLACK;
    sweep_pass(workflow, rules, hold).await;
    // Queued work whose message was lost is announced again before catch-up, which may take
    // a while; the consumer's upkeep does it from then on.
    if let WorkQueue::Sqs(sqs) = &workflow.queue {
        crate::queue::announce_overdue(&workflow.ledger, sqs).await;
    }
    let hold = settings.lifecycle.reconcile_interval() + PASS_SLACK;
    if tokio::time::timeout(FIRST_CATCH_UP_LIMIT, catch_up_pass(workflow, hold))
        .await
        .is_err()
    {
        tracing::error!(
            limit_secs = FIRST_CATCH_UP_LIMIT.as_secs(),
            "catch-up at start took too long; the next pass tries again"
        );
    }
}

/// The source that hands deliveries to the runner: the ledger itself in one process, the
/// SQS FIFO queue with replicas. Runs until `stop`, then lets in-flight work finish.
fn source_of_work(
    settings: &Settings,
    app: &App,
    stop: tokio::sync::watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let grace = settings.server.shutdown_timeout();
    let runner = app.runner.clone();
    let local = local_settings(settings, Duration::from_secs(1));
    let consumer = ConsumerSettings {
        concurrency: local.concurrency,
        lease: settings.queue.lease(),
        receive_wait: settings.queue.receive_wait(),
    };
    let queue = app.queue.clone();
    async move {
        match queue {
            WorkQueue::Local(wake) => {
                let source = LocalQueue {
                    runner,
                    wake,
                    settings: local,
                };
                source.run(stop, grace).await
            }
            WorkQueue::Sqs(sqs) => {
                let source = Consumer {
                    queue: *sqs,
                    runner,
                    settings: consumer,
                };
                source.run(stop, grace).await
            }
        }
    }
}

/// How much longer than its interval a replica holds a scheduled pass: its next tick renews
/// the lease before it lapses, and another replica takes the pass over only when it stops.
const PASS_SLACK: Duration = Duration::from_secs(30);

/// Whether this process runs the scheduled pass `pass` now (DESIGN §8: one replica at a
/// time), holding it for `hold`. A lease that cannot be read skips the pass: the next tick,
/// or another replica, runs it.
async fn runs_pass(workflow: &Workflow, pass: Pass, hold: Duration) -> bool {
    let now = now_ms();
    let until = now + hold.as_millis() as i64;
    match workflow.ledger.lease_pass(pass, now, until).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::debug!(pass = pass.as_str(), "another replica runs this pass now");
            false
        }
        Err(e) => {
            tracing::error!(pass = pass.as_str(), error = %e, "cannot take the pass's lease; skipping it this time");
            false
        }
    }
}

/// One expiry pass, on one replica at a time (held for `hold`): failures are logged, the
/// next pass tries again.
pub async fn sweep_pass(workflow: &Workflow, rules: &LifecycleRules, hold: Duration) {
    if !runs_pass(workflow, Pass::Sweep, hold).await {
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
    if !runs_pass(workflow, Pass::Reconcile, hold).await {
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
