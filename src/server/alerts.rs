//! `POST /alerts/aws-health` (DESIGN §10): AWS Health's `AWS_RISK_CREDENTIALS_EXPOSED`, for
//! `serve`. An EventBridge rule sends it through an API destination whose connection adds
//! `Authorization: Bearer <server.alerts_token>`: no request without that token is read,
//! and without a configured token the endpoint does not exist. The key is deactivated
//! before the answer; a `5xx` makes EventBridge deliver the event again.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};

use super::AppState;
use crate::leak::from_health_event;
use crate::lifecycle::LifecycleRules;
use crate::workflow::Workflow;
use crate::workflow::leak::{Contained, contain};

/// EventBridge's largest event.
const MAX_EVENT: usize = 256 * 1024;

/// What the endpoint needs: its token and the workflow that deactivates keys.
#[derive(Clone)]
pub struct HealthAlerts {
    pub token: Arc<SecretString>,
    pub workflow: Arc<Workflow>,
    pub rules: LifecycleRules,
}

/// Whether `header` is `Bearer <token>`, compared in constant time.
fn authorized(header: Option<&[u8]>, token: &SecretString) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    let expected = token.expose_secret().as_bytes();
    !expected.is_empty()
        && aws_lc_rs::constant_time::verify_slices_are_equal(given, expected).is_ok()
}

pub(super) async fn aws_health(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(alerts) = state.health_alerts.clone() else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let header = headers.get("authorization").map(|v| v.as_bytes());
    if !authorized(header, &alerts.token) {
        tracing::warn!("refused an AWS Health alert without the alerts token");
        return (StatusCode::UNAUTHORIZED, "token missing or wrong\n").into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_EVENT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "event too large\n").into_response();
    };
    let report = match serde_json::from_slice(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|v| from_health_event(&v).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(why) => {
            tracing::warn!(why = %why, "an alert that is not AWS Health's exposed credentials");
            return (
                StatusCode::BAD_REQUEST,
                "not an AWS_RISK_CREDENTIALS_EXPOSED event\n",
            )
                .into_response();
        }
    };
    match contain(&alerts.workflow, &alerts.rules, &report).await {
        Ok(done) => {
            let deactivated = done
                .iter()
                .filter(|c| matches!(c, Contained::Deactivated { .. }))
                .count();
            let body = serde_json::json!({ "keys": report.access_key_ids.len(), "deactivated": deactivated });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot act on an AWS Health alert now; EventBridge delivers it again");
            (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let token = SecretString::from("s3cret-token".to_string());
        assert!(authorized(Some(b"Bearer s3cret-token"), &token));
        assert!(!authorized(Some(b"Bearer s3cret-toke"), &token));
        assert!(!authorized(Some(b"bearer s3cret-token"), &token));
        assert!(!authorized(Some(b"s3cret-token"), &token));
        assert!(!authorized(None, &token));
        let empty = SecretString::from(String::new());
        assert!(
            !authorized(Some(b"Bearer "), &empty),
            "an empty token is no token"
        );
    }
}
