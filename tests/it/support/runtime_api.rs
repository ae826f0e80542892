//! A stand-in for the Lambda Runtime API (2018-06-01) that a custom runtime's `bootstrap`
//! polls: `GET …/invocation/next` hands out the events a test queued, with the request ID
//! and deadline headers; `POST …/invocation/{id}/response` and `…/error` record what the
//! function answered. It also notes when the first `next` arrived: the end of a cold start.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::Notify;

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    /// The error document: `errorType`, `errorMessage`.
    Error(Value),
}

#[derive(Default)]
struct Inner {
    queued: VecDeque<(String, Value)>,
    answers: HashMap<String, Answer>,
    first_next: Option<Instant>,
    next_id: u64,
}

#[derive(Clone, Default)]
pub struct RuntimeApi {
    inner: Arc<Mutex<Inner>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
    /// `host:port`, what `AWS_LAMBDA_RUNTIME_API` holds.
    pub address: String,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = RuntimeApi {
            address: listener.local_addr().unwrap().to_string(),
            ..RuntimeApi::default()
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(api.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        api
    }

    /// Queues an invocation of `event`; returns its request ID.
    pub fn invoke(&self, event: Value) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        let id = format!("req-{}", inner.next_id);
        inner.queued.push_back((id.clone(), event));
        drop(inner);
        self.queued.notify_waiters();
        self.queued.notify_one();
        id
    }

    /// The function's answer to invocation `id`, waited for (30 s at most).
    pub async fn answer(&self, id: &str) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answered = self.answered.notified();
            if let Some(a) = self.inner.lock().unwrap().answers.get(id) {
                return a.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the function never answered {id}");
            let _ = tokio::time::timeout(left, answered).await;
        }
    }

    /// Queues `event` and waits for the answer.
    pub async fn call(&self, event: Value) -> Answer {
        let id = self.invoke(event);
        self.answer(&id).await
    }

    /// When the function first asked for an invocation: its cold start was over.
    pub fn first_next(&self) -> Option<Instant> {
        self.inner.lock().unwrap().first_next
    }
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    loop {
        let queued = api.queued.notified();
        {
            let mut inner = api.inner.lock().unwrap();
            inner.first_next.get_or_insert_with(Instant::now);
            if let Some((id, event)) = inner.queued.pop_front() {
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 120_000;
                let mut headers = HeaderMap::new();
                headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
                headers.insert(
                    "lambda-runtime-deadline-ms",
                    deadline.to_string().parse().unwrap(),
                );
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:keygate-test"
                        .parse()
                        .unwrap(),
                );
                headers.insert(
                    "lambda-runtime-trace-id",
                    "Root=1-0-0;Parent=0;Sampled=0".parse().unwrap(),
                );
                return (StatusCode::OK, headers, event.to_string()).into_response();
            }
        }
        queued.await;
    }
}

fn record(api: &RuntimeApi, id: String, answer: Answer) -> StatusCode {
    api.inner.lock().unwrap().answers.insert(id, answer);
    api.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&api, id, Answer::Response(value))
}

async fn error(State(api): State<RuntimeApi>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&api, id, Answer::Error(value))
}
