//! The HTTP surface: `POST /webhook`, `GET /healthz`, `GET /readyz` (DESIGN §4) and
//! `GET /metrics` (DESIGN §8): routes and
//! handlers only. The router is a function of its state, so tests can mount it or bind it to
//! port 0; `startup` builds the state. `listen` serves it with the time limits, `unverified`
//! reads webhook bodies within the memory budget.

mod alerts;
mod listen;
mod unverified;

pub use alerts::HealthAlerts;
pub use listen::{HttpLimits, serve};
pub use unverified::{MAX_BODY, UnverifiedBudget};

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::event::PrEvent;
use crate::github::webhook::{SignatureKey, Triage, triage};
use crate::ids::{BranchName, DeliveryId, RepoName};
use crate::ledger::{Inserted, Ledger, NewDelivery, NoteKey, Store, now_ms};
use crate::metrics::{DeliveryOutcome, LedgerFigures, Metrics, parse_key_census};
use crate::queue::{AcceptError, WorkQueue, accept};

#[derive(Clone)]
pub struct AppState {
    pub key: Arc<SignatureKey>,
    pub ledger: Ledger,
    pub repository: RepoName,
    pub branch: BranchName,
    /// Where accepted work goes: the in-process worker's wake-up, or SQS.
    pub queue: WorkQueue,
    /// Bytes of webhook bodies held before their signature is checked, shared by all requests.
    pub unverified: UnverifiedBudget,
    pub limits: HttpLimits,
    /// The counters `GET /metrics` shows; the same ones the workflow and clients count into.
    pub metrics: Metrics,
    /// Who may read `GET /metrics`.
    pub metrics_access: MetricsAccess,
    /// `POST /alerts/aws-health` (DESIGN §10), on only with `server.alerts_token`.
    pub health_alerts: Option<HealthAlerts>,
}

/// Who may read `GET /metrics` (DESIGN §4).
#[derive(Clone)]
pub enum MetricsAccess {
    /// Anyone who reaches the listener: `serve` without `server.metrics_token`.
    Open,
    /// Only `Authorization: Bearer <token>`; anything else is `401`.
    Token(Arc<SecretString>),
    /// Nobody (`404`): a Lambda function URL, which anyone can reach, without a token.
    Off,
}

impl MetricsAccess {
    /// `serve`: behind the operator's own network, open unless a token is set.
    pub fn for_serve(token: Option<SecretString>) -> MetricsAccess {
        token.map_or(MetricsAccess::Open, |t| MetricsAccess::Token(Arc::new(t)))
    }

    /// A Lambda function URL: off unless a token is set.
    pub fn for_function_url(token: Option<SecretString>) -> MetricsAccess {
        token.map_or(MetricsAccess::Off, |t| MetricsAccess::Token(Arc::new(t)))
    }

    /// The refusal for a request with these headers, if it is refused.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let token = match self {
            MetricsAccess::Open => return None,
            MetricsAccess::Off => return Some(reply(StatusCode::NOT_FOUND, "not found\n")),
            MetricsAccess::Token(token) => token,
        };
        let offered = header(headers, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let expected = token.expose_secret().as_bytes();
        match aws_lc_rs::constant_time::verify_slices_are_equal(offered.as_bytes(), expected) {
            Ok(()) => None,
            Err(_) => Some(
                (
                    StatusCode::UNAUTHORIZED,
                    [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                    "a bearer token is required\n",
                )
                    .into_response(),
            ),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/alerts/aws-health", post(alerts::aws_health))
        .with_state(state)
}

fn reply(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let event = header(&headers, "x-github-event");
    let (response, outcome) = receive(&state, &headers, body, Instant::now()).await;
    state.metrics.delivery(event, outcome);
    response
}

async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> (Response, DeliveryOutcome) {
    // Held, and charged to the budget, until this handler returns.
    let held = match read_body(state, body).await {
        Ok(held) => held,
        Err(refusal) => return (refusal.into_response(), DeliveryOutcome::RefusedBody),
    };
    let read = Instant::now();
    let body = held.bytes.as_slice();
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    let verified = state.key.verified(signature, body);
    let checked = Instant::now();
    let Some(body) = verified else {
        tracing::warn!(
            delivery = header(headers, "x-github-delivery"),
            "refused a delivery with a missing or wrong signature"
        );
        return (
            reply(StatusCode::UNAUTHORIZED, "signature missing or wrong\n"),
            DeliveryOutcome::RefusedSignature,
        );
    };
    let (event, guid) = match delivery_headers(headers) {
        Ok(named) => named,
        Err(text) => {
            let answer = reply(StatusCode::BAD_REQUEST, text);
            return (answer, DeliveryOutcome::Malformed);
        }
    };
    let triaged = triage(event, body, &state.repository, &state.branch);
    let timing = AckTiming {
        started,
        read,
        checked,
        triaged: Instant::now(),
    };
    match triaged {
        Ok(Triage::Work(work)) => {
            let answer = accept_work(state, guid, event, work).await;
            timing.log_if_slow(guid);
            answer
        }
        Ok(Triage::Pusher(push)) => record_pusher(state, guid, push).await,
        Ok(Triage::Ignore(why)) => {
            tracing::info!(
                delivery = guid,
                event,
                outcome = "ignored",
                why,
                "delivery ignored"
            );
            (reply(StatusCode::OK, "ignored\n"), DeliveryOutcome::Ignored)
        }
        Err(e) => {
            tracing::warn!(delivery = guid, event, error = %e, "unparsable delivery");
            (
                reply(StatusCode::BAD_REQUEST, "unparsable payload\n"),
                DeliveryOutcome::Malformed,
            )
        }
    }
}

/// The body, read within the unverified-upload budget and the body timeout.
async fn read_body(
    state: &AppState,
    body: Body,
) -> Result<unverified::Unverified, unverified::Refusal> {
    unverified::read(body, &state.unverified, state.limits.body_timeout)
        .await
        .inspect_err(|refusal| {
            if let unverified::Refusal::Busy { .. } = refusal {
                tracing::warn!(
                    held = state.unverified.held(),
                    limit = state.unverified.limit(),
                    "refused a body: unverified uploads hold the whole budget"
                );
            }
        })
}

/// The event's name and the delivery's ID, both required (an ID is at most 100
/// characters); else what to answer.
fn delivery_headers(headers: &HeaderMap) -> Result<(&str, &str), &'static str> {
    let (Some(event), Some(guid)) = (
        header(headers, "x-github-event"),
        header(headers, "x-github-delivery"),
    ) else {
        return Err("X-GitHub-Event and X-GitHub-Delivery are required\n");
    };
    if guid.is_empty() || guid.len() > 100 {
        return Err("X-GitHub-Delivery is not a delivery ID\n");
    }
    Ok((event, guid))
}

/// A delivery's way through the handler: when it started, had its body, had checked the
/// signature and had read the payload. The rest, until the answer, is the ledger's (and the
/// queue's); `keygate::ledger` explains a slow write in its own line.
struct AckTiming {
    started: Instant,
    read: Instant,
    checked: Instant,
    triaged: Instant,
}

/// An acknowledgement slower than this is logged with its timing (at debug level).
const SLOW_ACK: Duration = Duration::from_millis(2);

impl AckTiming {
    fn log_if_slow(&self, delivery: &str) {
        let total = self.started.elapsed();
        if total < SLOW_ACK {
            return;
        }
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(
            delivery,
            total_us = us(total),
            body_us = us(self.read - self.started),
            verify_us = us(self.checked - self.read),
            triage_us = us(self.triaged - self.checked),
            accept_us = us(self.triaged.elapsed()),
            "slow acknowledgement"
        );
    }
}

/// A delivery with work to do: in the ledger (and the queue) before its `202`.
async fn accept_work(
    state: &AppState,
    guid: &str,
    event: &str,
    work: PrEvent,
) -> (Response, DeliveryOutcome) {
    let (action, pr) = (work.activity.action(), work.pr);
    let d = NewDelivery {
        id: DeliveryId::new(guid),
        event: work,
        received_at_ms: now_ms(),
    };
    let (outcome, status, text) = match accept(&state.ledger, &state.queue, d).await {
        // A coalesced delivery's queued twin is already on the worker's schedule.
        Ok(Inserted::Queued) => (DeliveryOutcome::Queued, StatusCode::ACCEPTED, "queued\n"),
        Ok(Inserted::Coalesced) => (DeliveryOutcome::Coalesced, StatusCode::ACCEPTED, "queued\n"),
        Ok(Inserted::Duplicate) => (
            DeliveryOutcome::Duplicate,
            StatusCode::OK,
            "already received\n",
        ),
        Err(e) => {
            // Not durable everywhere, so not accepted: GitHub marks the delivery failed and
            // it can be redelivered (a recorded one is announced again then).
            tracing::error!(delivery = guid, error = %e, "cannot accept the delivery");
            let text = match e {
                AcceptError::Ledger(_) => "ledger unavailable\n",
                AcceptError::Queue(_) => "work queue unavailable\n",
            };
            return unavailable(text);
        }
    };
    tracing::info!(
        delivery = guid,
        event,
        action,
        %pr,
        outcome = outcome.as_str(),
        "delivery accepted"
    );
    (reply(status, text), outcome)
}

/// A push to a pull request into another branch: its sender in the ledger before the `202`,
/// no work queued (DESIGN §2.4).
async fn record_pusher(state: &AppState, guid: &str, push: PrEvent) -> (Response, DeliveryOutcome) {
    let pr = push.pr;
    let d = NewDelivery {
        id: DeliveryId::new(guid),
        event: push,
        received_at_ms: now_ms(),
    };
    match state.ledger.record_push(d).await {
        Ok(new) => {
            let outcome = if new {
                DeliveryOutcome::Recorded
            } else {
                DeliveryOutcome::Duplicate
            };
            tracing::info!(
                delivery = guid,
                %pr,
                outcome = outcome.as_str(),
                "a push to a pull request into another branch: its sender recorded"
            );
            let status = if new {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (reply(status, "recorded\n"), outcome)
        }
        Err(e) => {
            tracing::error!(delivery = guid, error = %e, "cannot record the push");
            unavailable("ledger unavailable\n")
        }
    }
}

fn unavailable(text: &'static str) -> (Response, DeliveryOutcome) {
    (
        reply(StatusCode::SERVICE_UNAVAILABLE, text),
        DeliveryOutcome::Unavailable,
    )
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
        Err(e) => {
            // The cause goes to the log; unauthenticated callers learn only that it is not ready.
            tracing::error!(error = %e, "not ready: the ledger cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "not ready" })),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: the counters, with the ledger's figures read now. Like `/readyz`, a
/// ledger that cannot be read is a 503 whose cause goes to the log only.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = state.metrics_access.refusal(&headers) {
        return refused;
    }
    let figures = async {
        // Counts kept as work is written, never a scan of the history (DESIGN §4).
        let stats = state.ledger.stats().await?;
        let oldest = state.ledger.oldest_queued_ms().await?;
        let census = state.ledger.note(NoteKey::KeyCensus).await?;
        Ok::<_, crate::ledger::LedgerError>(LedgerFigures {
            queued: stats.queued,
            running: stats.running,
            failed: stats.failed,
            oldest_queued_age_secs: oldest.map(|at| (now_ms() - at) as f64 / 1000.0),
            keys: census.as_deref().and_then(parse_key_census),
        })
    };
    let text = match figures.await {
        Ok(f) => state.metrics.render(&f),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the ledger for /metrics");
            return reply(StatusCode::SERVICE_UNAVAILABLE, "ledger unavailable\n");
        }
    };
    match text {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n"),
    }
}
