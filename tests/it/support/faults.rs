//! A loopback proxy in front of the real moto server that can fail or hold one AWS
//! operation, and counts the operations keygate called. Every other call reaches moto
//! untouched; nothing here imitates an AWS answer except the injected failure (and, for a moto
//! server that enforces IAM, its authorization errors in AWS's own shape: see `moto_auth`).

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

use super::moto_auth::{self, Signer};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and AWS error body.
    Fail { status: u16, code: &'static str },
    /// Never answer (the caller is killed meanwhile).
    Hang,
    /// Let moto do the work, then never answer: the caller is killed after AWS acted and
    /// before it heard so.
    HangAfterForward,
    /// Let moto do the work, then answer with this error: the answer was lost.
    FailAfterForward { status: u16, code: &'static str },
    /// Hold the call this long, then let moto do it: a slow answer.
    Hold(std::time::Duration),
    /// Let moto do the work, hold the answer this long, then answer with this error: an
    /// answer lost slowly, so other work runs meanwhile.
    FailAfterForwardHeld {
        hold: std::time::Duration,
        status: u16,
        code: &'static str,
    },
}

/// A fault for the next `left` calls of `operation` whose body holds `needle` (any body
/// when `None`).
struct Rule {
    operation: String,
    needle: Option<String>,
    fault: Fault,
    left: usize,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    seen: Vec<String>,
    /// Each DynamoDB read and the items it read (`ScannedCount`; 1 for an item found).
    reads: Vec<(String, u64)>,
    /// Set for a moto server that enforces IAM: see [`moto_auth`].
    enforcing: Option<Signer>,
}

#[derive(Clone)]
pub struct AwsProxy {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    upstream: String,
    client: reqwest::Client,
}

impl AwsProxy {
    pub async fn start(upstream: &str) -> AwsProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = AwsProxy {
            url,
            inner: Arc::default(),
            upstream: upstream.to_string(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        proxy
    }

    /// Applies `fault` to the next `times` calls of `operation` (e.g. `CreateSecret`).
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.inject_where(operation, None, fault, times);
    }

    /// Applies `fault` to the next `times` calls of `operation` whose request body holds
    /// `needle` (e.g. `AssumeRole` of one account's role: its account ID).
    pub fn inject_where(&self, operation: &str, needle: Option<&str>, fault: Fault, times: usize) {
        self.inner.lock().unwrap().rules.push(Rule {
            operation: operation.to_string(),
            needle: needle.map(str::to_string),
            fault,
            left: times,
        });
    }

    /// Every call of `operation` whose body holds `needle` is answered `status` with AWS
    /// error `code` until [`AwsProxy::heal`].
    pub fn fail_where(&self, operation: &str, needle: &str, status: u16, code: &'static str) {
        self.inject_where(
            operation,
            Some(needle),
            Fault::Fail { status, code },
            usize::MAX,
        );
    }

    /// Takes back every fault not yet used up.
    pub fn heal(&self) {
        self.inner.lock().unwrap().rules.clear();
    }

    /// The next `times` calls of `operation` are answered `status` with AWS error `code`,
    /// and never reach moto.
    pub fn fail(&self, operation: &str, status: u16, code: &'static str, times: usize) {
        self.inject(operation, Fault::Fail { status, code }, times);
    }

    /// The next call of `operation` is done by moto, and its answer lost: keygate is told
    /// `status` with AWS error `code`.
    pub fn lose_answer(&self, operation: &str, status: u16, code: &'static str) {
        self.inject(operation, Fault::FailAfterForward { status, code }, 1);
    }

    /// For a moto server that enforces IAM, with keygate signing as `signer`: evens out
    /// moto's form signatures and error shapes (see [`moto_auth`]).
    pub fn enforce_as(&self, signer: Signer) {
        self.inner.lock().unwrap().enforcing = Some(signer);
    }

    /// Operations called so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// DynamoDB reads so far, in order: each read operation and the items it read (what
    /// DynamoDB bills: a query's `ScannedCount`, one for each item `GetItem` found).
    pub fn dynamo_reads(&self) -> Vec<(String, u64)> {
        self.inner.lock().unwrap().reads.clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.operations().iter().filter(|o| *o == operation).count()
    }
}

/// The AWS operation of a request: JSON protocols name it in `X-Amz-Target`, query
/// protocols in the `Action` form field.
fn operation(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    let body = String::from_utf8_lossy(body);
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("Unknown")
        .to_string()
}

async fn forward(
    State(p): State<AwsProxy>,
    method: Method,
    uri: Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers, &body);
    let json_protocol = headers.contains_key("x-amz-target");
    let (fault, enforcing) = {
        let mut inner = p.inner.lock().unwrap();
        inner.seen.push(op.clone());
        let text = String::from_utf8_lossy(&body);
        let hit = inner.rules.iter_mut().find(|r| {
            r.operation == op && r.left > 0 && r.needle.as_deref().is_none_or(|n| text.contains(n))
        });
        let fault = hit.map(|r| {
            r.left -= 1;
            r.fault.clone()
        });
        (fault, inner.enforcing.clone())
    };
    if let Some(signer) = &enforcing {
        moto_auth::resign_form(signer, method.as_str(), uri.path(), &mut headers, &body);
    }
    match fault {
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
            return Response::default();
        }
        Some(Fault::Fail { status, code }) => return error(status, code, json_protocol),
        Some(Fault::Hold(wait)) => tokio::time::sleep(wait).await,
        Some(
            Fault::FailAfterForward { .. }
            | Fault::HangAfterForward
            | Fault::FailAfterForwardHeld { .. },
        )
        | None => {}
    }
    let url = format!(
        "{}{}",
        p.upstream,
        uri.path_and_query().map(|x| x.as_str()).unwrap_or("/")
    );
    let mut req = p.client.request(method, url).body(body);
    // The Host header goes through as keygate sent it: it is part of the SigV4 signature,
    // which a moto server enforcing IAM checks.
    for (k, v) in &headers {
        if k != "content-length" {
            req = req.header(k, v);
        }
    }
    let sent = req.send().await;
    if let Some(Fault::HangAfterForward) = fault {
        std::future::pending::<()>().await;
    }
    if let (Some(Fault::FailAfterForward { status, code }), Ok(_)) = (&fault, &sent) {
        return error(*status, code, json_protocol);
    }
    if let (Some(Fault::FailAfterForwardHeld { hold, status, code }), Ok(_)) = (&fault, &sent) {
        tokio::time::sleep(*hold).await;
        return error(*status, code, json_protocol);
    }
    match sent {
        Ok(resp) => {
            let status = resp.status();
            let mut b = Response::builder().status(status);
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap_or_default();
            if let Some(read) = items_read(&op, status, &bytes) {
                p.inner.lock().unwrap().reads.push((op.clone(), read));
            }
            let reshaped = enforcing
                .as_ref()
                .filter(|_| status == StatusCode::FORBIDDEN)
                .and_then(|_| moto_auth::aws_shaped_error(json_protocol, &bytes));
            if let Some((content_type, body)) = reshaped {
                return b
                    .header("content-type", content_type)
                    .body(Body::from(body))
                    .unwrap();
            }
            for (k, v) in &headers {
                if k != "transfer-encoding" && k != "content-length" {
                    b = b.header(k, v);
                }
            }
            b.body(Body::from(bytes)).unwrap()
        }
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

/// The items a successful DynamoDB read read, from its answer; `None` for anything else.
fn items_read(op: &str, status: StatusCode, body: &[u8]) -> Option<u64> {
    if !status.is_success() || !matches!(op, "Query" | "Scan" | "GetItem" | "BatchGetItem") {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(match op {
        "GetItem" => u64::from(answer.get("Item").is_some()),
        "BatchGetItem" => answer["Responses"].as_object().map_or(0, |t| {
            t.values()
                .filter_map(|v| v.as_array())
                .map(|a| a.len() as u64)
                .sum()
        }),
        _ => answer["ScannedCount"].as_u64().unwrap_or(0),
    })
}

/// An AWS error in the request's protocol's shape: JSON for the JSON protocols, AWS's XML
/// error response for the query protocol (IAM, STS, SNS), so the SDK reads the code.
fn error(status: u16, code: &str, json_protocol: bool) -> Response {
    if !json_protocol {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>injected by the test</Message></Error>\
             <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        );
        return Response::builder()
            .status(status)
            .header("content-type", "text/xml")
            .body(Body::from(body))
            .unwrap();
    }
    let body = format!("{{\"__type\":\"{code}\",\"message\":\"injected by the test\"}}");
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-errortype", code)
        .body(Body::from(body))
        .unwrap()
}
