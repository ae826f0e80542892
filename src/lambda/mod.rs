//! keygate as a Lambda function (DESIGN §8, serverless): the same binary, started by the
//! Lambda runtime as `bootstrap`. One handler takes every event and chooses by its shape:
//! function-URL requests go to the same router `serve` uses, SQS batches run the work the
//! messages name, and the schedule's inputs run the sweep or the catch-up pass. After each
//! invocation the counters' growth goes to stdout as one CloudWatch EMF line.

mod http;
mod shape;
mod sqs;
mod start;

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::{Value, json};
use tower::ServiceExt;

pub use shape::{Pass, Shape, UnknownShape, classify};
pub use sqs::{Record, Settled, groups, run_batch};
pub use start::{PRIVATE_KEY_ARN_VAR, SecretArns, WEBHOOK_SECRET_ARN_VAR, fits_lambda};

use crate::ledger::now_ms;
use crate::lifecycle::LifecycleRules;
use crate::metrics::Metrics;
use crate::metrics::emf::{self, Figures};
use crate::queue::{SqsQueue, announce_overdue};
use crate::startup::{catch_up_pass, sweep_pass};
use crate::worker::Runner;
use crate::workflow::Workflow;

/// One Lambda instance's state, built at cold start and shared by its invocations.
pub struct Lambda {
    router: axum::Router,
    queue: SqsQueue,
    runner: Runner,
    workflow: Arc<Workflow>,
    rules: LifecycleRules,
    metrics: Metrics,
    /// The counters as last reported, so each report says what one invocation did.
    reported: Mutex<Figures>,
}

/// Why an invocation failed. Lambda records it; no message holds a value of the event.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    Shape(#[from] UnknownShape),
    #[error(transparent)]
    Http(#[from] http::HttpEventError),
    #[error("the SQS event does not have the fields of one (line {line}, column {column})")]
    Sqs { line: usize, column: usize },
    #[error("cannot read the router's response body")]
    Body,
    /// An AWS Health alert that could not be acted on now: Lambda invokes again.
    #[error("cannot act on the AWS Health alert now: {0}")]
    Alert(String),
}

impl From<InvokeError> for lambda_runtime::Diagnostic {
    fn from(e: InvokeError) -> Self {
        let kind = match e {
            InvokeError::Shape(_) => "UnknownEvent",
            InvokeError::Http(_) | InvokeError::Sqs { .. } => "MalformedEvent",
            InvokeError::Body => "Internal",
            InvokeError::Alert(_) => "AlertNotActedOn",
        };
        lambda_runtime::Diagnostic {
            error_type: format!("keygate.{kind}"),
            error_message: e.to_string(),
        }
    }
}

/// How long a scheduled pass holds its lease in the ledger: the function's timeout, so two
/// invocations of one schedule (a retry, a late one) never run it side by side.
const PASS_HOLD: std::time::Duration = std::time::Duration::from_secs(120);

impl Lambda {
    /// Serves one event, whatever its shape.
    pub async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let shape = classify(&event)?;
        self.invoke_as(shape, event).await
    }

    async fn invoke_as(&self, shape: Shape, event: Value) -> Result<Value, InvokeError> {
        match shape {
            Shape::Http => self.http(event).await,
            Shape::Sqs => self.batch(event).await,
            Shape::Scheduled(Pass::Sweep) => {
                sweep_pass(&self.workflow, &self.rules, PASS_HOLD).await;
                Ok(json!({"keygate": "sweep", "done": true}))
            }
            Shape::Scheduled(Pass::Reconcile) => {
                // Lost messages first: a long catch-up (or the function's timeout during
                // one) never keeps queued work waiting.
                let announced = announce_overdue(&self.runner.ledger, &self.queue).await;
                catch_up_pass(&self.workflow, PASS_HOLD).await;
                Ok(json!({"keygate": "reconcile", "done": true, "announced": announced}))
            }
            Shape::HealthAlert => self.health_alert(&event).await,
        }
    }

    /// AWS Health's exposed credentials (DESIGN §10): every key keygate issued that it names
    /// is deactivated before the invocation returns; a failure makes Lambda try again.
    async fn health_alert(&self, event: &Value) -> Result<Value, InvokeError> {
        let report =
            crate::leak::from_health_event(event).map_err(|e| InvokeError::Alert(e.to_string()))?;
        let done = crate::workflow::leak::contain(&self.workflow, &self.rules, &report)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot act on an AWS Health alert now");
                InvokeError::Alert(crate::workflow::render::public_reason(&e))
            })?;
        Ok(
            json!({"keygate": "health_alert", "keys": report.access_key_ids.len(), "acted_on": done.len()}),
        )
    }

    async fn http(&self, event: Value) -> Result<Value, InvokeError> {
        let request = http::request(event)?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|_| InvokeError::Body)?;
        Ok(http::response(parts.status, &parts.headers, &bytes))
    }

    async fn batch(&self, event: Value) -> Result<Value, InvokeError> {
        let records = sqs::records(event).map_err(|e| InvokeError::Sqs {
            line: e.line(),
            column: e.column(),
        })?;
        let again = run_batch(&records, |r| sqs::settle(&self.queue, &self.runner, r)).await;
        if !again.is_empty() {
            tracing::info!(
                messages = records.len(),
                again = again.len(),
                "some messages come back later"
            );
        }
        Ok(sqs::batch_response(&again))
    }

    /// The EMF lines for what the counters did since the last report.
    pub fn report(&self, function: &str, invocation: &str) -> Vec<String> {
        let now = self.metrics.figures();
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let mut grew = emf::growth(&reported, &now);
        *reported = now;
        grew.insert(format!("invocations.{invocation}"), 1.0);
        emf::documents(&grew, function, invocation, now_ms())
    }

    /// One invocation as the runtime hands it over: served, then reported.
    async fn serve(&self, event: lambda_runtime::LambdaEvent<Value>) -> Result<Value, InvokeError> {
        let shape = classify(&event.payload);
        let label = shape.as_ref().map(|s| s.label()).unwrap_or("unknown");
        let result = match shape {
            Ok(shape) => self.invoke_as(shape, event.payload).await,
            Err(e) => {
                tracing::error!(error = %e, "an event keygate does not serve");
                Err(e.into())
            }
        };
        let function = &event.context.env_config.function_name;
        let lines = self.report(function, label);
        let mut out = std::io::stdout().lock();
        for line in lines {
            use std::io::Write;
            // EMF is read from the log stream; a line that cannot be written is a lost figure.
            let _ = writeln!(out, "{line}");
        }
        result
    }
}

/// The variables the Lambda runtime sets for a function, which `lambda_runtime` needs.
const RUNTIME_VARS: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// The runtime variables missing from `env`: run outside Lambda, `keygate lambda` says so
/// instead of panicking inside the runtime crate.
pub fn missing_runtime_vars(env: &[(String, String)]) -> Vec<&'static str> {
    RUNTIME_VARS
        .into_iter()
        .filter(|name| !env.iter().any(|(k, v)| k == name && !v.is_empty()))
        .collect()
}

/// `keygate lambda`: cold start, then serve invocations until the runtime stops the
/// process. A cold start that fails exits non-zero, which Lambda reports as an init error.
pub fn run(config: Option<&Path>, env: Vec<(String, String)>) -> anyhow::Result<ExitCode> {
    let missing = missing_runtime_vars(&env);
    if !missing.is_empty() {
        anyhow::bail!(
            "`keygate lambda` runs inside AWS Lambda, which sets {}; they are not set",
            missing.join(", ")
        );
    }
    // One thread: a Lambda instance serves one invocation at a time, and a function of
    // keygate's size gets a fraction of a vCPU.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let lambda = Arc::new(Lambda::start(config, env, &sdk).await?);
        let handler = lambda_runtime::service_fn(move |event| {
            let lambda = lambda.clone();
            async move { lambda.serve(event).await }
        });
        lambda_runtime::run(handler)
            .await
            .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_lambda_the_missing_runtime_variables_are_named() {
        let env = vec![(
            "AWS_LAMBDA_RUNTIME_API".to_string(),
            "127.0.0.1:9001".to_string(),
        )];
        assert_eq!(
            missing_runtime_vars(&env),
            [
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_FUNCTION_VERSION"
            ]
        );
        let all: Vec<(String, String)> = RUNTIME_VARS
            .iter()
            .map(|k| (k.to_string(), "x".to_string()))
            .collect();
        assert!(missing_runtime_vars(&all).is_empty());
    }

    #[test]
    fn an_unknown_event_is_reported_to_lambda_by_kind_and_shape() {
        let err = InvokeError::from(classify(&json!({"action": "opened"})).unwrap_err());
        let d = lambda_runtime::Diagnostic::from(err);
        assert_eq!(d.error_type, "keygate.UnknownEvent");
        assert!(
            d.error_message.contains("\"action\""),
            "{}",
            d.error_message
        );
        assert!(!d.error_message.contains("opened"), "{}", d.error_message);
    }
}
