//! `keygate reconcile` (DESIGN §5): one catch-up pass from a shell, cron or a schedule, then
//! the worker runs what it queued until nothing is due, exactly as `serve` would.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::lifecycle::runtime;
use crate::aws::Aws;
use crate::config::Settings;
use crate::ledger::{DeliveryState, Role, Store, now_ms};
use crate::startup::{App, local_settings};
use crate::worker::LocalQueue;
use crate::workflow::catchup::{CatchUp, catch_up};

/// What `keygate reconcile` did: the pass, and how each delivery it queued ended.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub pass: CatchUp,
    /// Each queued delivery and where it stands after the run (`done`, `failed`, or
    /// `queued` when it waits for a retry that `serve` or the next run makes).
    pub outcomes: Vec<(String, DeliveryState)>,
}

/// One catch-up pass on the ledger at `store.path`, then the deliveries it queued are run.
pub async fn run_reconcile(settings: &Settings, aws: Aws) -> anyhow::Result<Reconciled> {
    // In SQS mode catch-up announces what it queues there too; this run works it off from
    // the ledger itself, and those messages find it done.
    let app = App::build(settings, aws, Role::Reconcile).await?;
    let pass = catch_up(&app.workflow)
        .await
        .context("catch-up cannot list the pull requests")?;
    let wake = app.queue.wake().unwrap_or_default();
    let source = LocalQueue {
        runner: app.runner.clone(),
        wake: wake.clone(),
        settings: local_settings(settings, Duration::from_millis(200)),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(source.run(stop_rx, settings.server.shutdown_timeout()));
    wake.notify_one();
    // Until nothing runs and nothing is due now: a delivery waiting for a retry is left to
    // `serve` (or the next run), which picks it up from the ledger.
    let ledger = &app.ledger;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stats = ledger.stats().await?;
        let due = ledger.next_due_ms().await?;
        if stats.running == 0 && due.is_none_or(|d| d > now_ms()) {
            break;
        }
    }
    let _ = stop_tx.send(true);
    let _ = running.await;
    let mut outcomes = Vec::new();
    for id in &pass.deliveries {
        let state = ledger
            .delivery(id.clone())
            .await?
            .map_or(DeliveryState::Queued, |d| d.state);
        outcomes.push((id.to_string(), state));
    }
    Ok(Reconciled { pass, outcomes })
}

/// `keygate reconcile`: exit 0 when everything it queued was done, 1 when something failed
/// or waits for a retry.
pub fn reconcile_command(settings: &Settings) -> anyhow::Result<ExitCode> {
    let done = runtime()?.block_on(async {
        let aws = crate::startup::aws().await;
        run_reconcile(settings, aws).await
    })?;
    let list = |v: &[u64]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|n| format!("#{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let p = &done.pass;
    println!(
        "merges keygate had missed, processed now: {}",
        list(&p.settled)
    );
    println!(
        "open pull requests whose check run was refreshed: {}",
        list(&p.refreshed)
    );
    println!(
        "merges the ledger knew already (left alone): {}",
        list(&p.known)
    );
    println!(
        "merged before the watermark (never issued): {}",
        list(&p.before_watermark)
    );
    let mut unfinished = false;
    for (id, state) in &done.outcomes {
        if *state != DeliveryState::Done {
            unfinished = true;
            let what = match state {
                DeliveryState::Failed => "failed; see the pull request's comment and the log",
                _ => "not finished; `keygate serve` or the next run retries it",
            };
            println!("delivery {id}: {what}");
        }
    }
    Ok(if unfinished {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
