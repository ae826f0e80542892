//! The HTTP surface: `POST /webhook`, `GET /healthz`, `GET /readyz` (DESIGN §4).
//! The router is a function of its state, so tests can mount it or bind it to port 0.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

use crate::github::webhook::{SignatureKey, Triage, triage};
use crate::ledger::{Inserted, Ledger, NewDelivery, now_ms};

/// GitHub caps payloads at 25 MB; anything larger is refused before its signature is read.
pub const MAX_BODY: usize = 26_214_400;

#[derive(Clone)]
pub struct AppState {
    pub key: Arc<SignatureKey>,
    pub ledger: Ledger,
    pub repository: String,
    pub branch: String,
    /// Wakes the worker when a delivery is queued.
    pub wake: Arc<Notify>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

fn reply(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    if !state.key.verify(signature, &body) {
        tracing::warn!(
            delivery = header(&headers, "x-github-delivery"),
            "refused a delivery with a missing or wrong signature"
        );
        return reply(StatusCode::UNAUTHORIZED, "signature missing or wrong\n");
    }
    let (Some(event), Some(guid)) = (
        header(&headers, "x-github-event"),
        header(&headers, "x-github-delivery"),
    ) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery are required\n",
        );
    };
    if guid.is_empty() || guid.len() > 100 {
        return reply(
            StatusCode::BAD_REQUEST,
            "X-GitHub-Delivery is not a delivery ID\n",
        );
    }
    let event_ = match triage(event, &body, &state.repository, &state.branch) {
        Ok(Triage::Work(e)) => e,
        Ok(Triage::Ignore(why)) => {
            tracing::info!(
                delivery = guid,
                event,
                outcome = "ignored",
                why,
                "delivery ignored"
            );
            return reply(StatusCode::OK, "ignored\n");
        }
        Err(e) => {
            tracing::warn!(delivery = guid, event, error = %e, "unparsable delivery");
            return reply(StatusCode::BAD_REQUEST, "unparsable payload\n");
        }
    };
    let d = NewDelivery {
        guid: guid.to_string(),
        event: event_.event,
        action: event_.action,
        // One spelling, so case variants are one pull request to the queue.
        repository: event_.repository.to_lowercase(),
        installation_id: event_.installation_id,
        pr_number: event_.pr_number,
        received_at_ms: now_ms(),
    };
    let (action, pr) = (d.action.clone(), d.pr_number);
    match state.ledger.insert(d).await {
        Ok(Inserted::Queued) => {
            tracing::info!(
                delivery = guid,
                event,
                action,
                pr,
                outcome = "queued",
                "delivery accepted"
            );
            state.wake.notify_one();
            reply(StatusCode::ACCEPTED, "queued\n")
        }
        Ok(Inserted::Coalesced) => {
            // The queued delivery it joined is already on the worker's schedule.
            tracing::info!(
                delivery = guid,
                event,
                action,
                pr,
                outcome = "coalesced",
                "delivery accepted"
            );
            reply(StatusCode::ACCEPTED, "queued\n")
        }
        Ok(Inserted::Duplicate) => {
            tracing::info!(
                delivery = guid,
                event,
                action,
                pr,
                outcome = "duplicate",
                "delivery seen before"
            );
            reply(StatusCode::OK, "already received\n")
        }
        Err(e) => {
            // Not written, so not accepted: GitHub marks the delivery failed and it can be redelivered.
            tracing::error!(delivery = guid, error = %e, "cannot record the delivery");
            reply(StatusCode::SERVICE_UNAVAILABLE, "ledger unavailable\n")
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.ledger.stats().await {
        Ok(stats) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ready", "deliveries": stats })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "not ready", "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// `keygate serve`: open the ledger, roll back interrupted issuances, start the worker and
/// the HTTP server; on SIGTERM/SIGINT stop accepting, let in-flight work finish within
/// `server.shutdown_timeout_secs`, and exit.
pub async fn run(settings: crate::config::Settings) -> anyhow::Result<()> {
    use anyhow::Context;
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", settings.listen))?;
    let aws = crate::aws::Aws::from_env().await;
    run_with(settings, aws, listener, shutdown).await
}

/// `run` with its parts given: the AWS clients, a bound listener and the stop signal.
pub async fn run_with(
    settings: crate::config::Settings,
    aws: crate::aws::Aws,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::time::Duration;

    let service = settings.service()?;
    let ledger = Ledger::open_sqlite(&settings.store.path).with_context(|| {
        format!(
            "cannot open the ledger at {}",
            settings.store.path.display()
        )
    })?;
    let requeued = ledger.run(|s| s.requeue_running()).await?;
    if requeued > 0 {
        tracing::warn!(
            requeued,
            "resuming deliveries that were in flight when keygate stopped"
        );
    }
    let github = crate::github::client::GitHubApp::new(
        &settings.github.api_url,
        service.app_id,
        service.private_key,
    )?;
    let workflow = crate::workflow::Workflow {
        github,
        aws,
        ledger: ledger.clone(),
        settings: crate::workflow::WorkflowSettings {
            repository: service.repository.to_string(),
            branch: settings.github.branch.clone(),
            rules: settings.request_rules(),
            approval: crate::policy::approval::ApprovalRules {
                min_approvals: settings.policy.min_approvals,
                // Reviews carry no submission time until the workflow reads it, and an
                // approval without one never passes an age limit.
                approval_ttl_hours: 0,
                ..Default::default()
            },
            sns_topic_arn: service.sns_topic_arn.to_string(),
            kms_key_id: settings.aws.kms_key_id.clone(),
            max_attempts: settings.server.max_attempts,
        },
        user_locks: Default::default(),
    };
    match crate::workflow::recover_intents(&workflow).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rolled_back = n,
            "rolled back interrupted issuances; their deliveries will run again"
        ),
        // Not fatal: the delivery that owns the intent rolls it back before retrying.
        Err(e) => tracing::error!(error = %e, "cannot roll back interrupted issuances now"),
    }
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grace = Duration::from_secs(settings.server.shutdown_timeout_secs);
    let worker = crate::worker::Worker {
        ledger: ledger.clone(),
        handler: workflow.into_handler(),
        wake: wake.clone(),
        settings: crate::worker::WorkerSettings {
            concurrency: settings.server.concurrency as usize,
            max_attempts: settings.server.max_attempts,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(settings.server.max_backoff_secs),
            poll: Duration::from_secs(1),
            orphan_sweep: Duration::from_secs(30),
        },
    };
    let worker = tokio::spawn(worker.run(stop_rx, grace));

    let state = AppState {
        key: Arc::new(SignatureKey::new(service.webhook_secret)),
        ledger,
        repository: service.repository.to_string(),
        branch: settings.github.branch.clone(),
        wake,
    };
    let addr = listener
        .local_addr()
        .context("the listener has no address")?;
    tracing::info!(listen = %addr, repository = %state.repository, branch = %state.branch, "keygate is serving");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    tracing::info!("no longer accepting deliveries; finishing in-flight work");
    let _ = stop_tx.send(true);
    let _ = worker.await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM or SIGINT. The handlers are registered now, not when the future is first
/// polled: a signal that arrives as soon as the server answers must already be caught.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use anyhow::Context;
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
