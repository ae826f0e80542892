//! A loopback proxy in front of the real moto server that can fail or hold one AWS
//! operation, and counts the operations keygate called. Every other call reaches moto
//! untouched; nothing here imitates an AWS answer except the injected failure.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and AWS error body.
    Fail { status: u16, code: &'static str },
    /// Never answer (the caller is killed meanwhile).
    Hang,
    /// Let moto do the work, then answer with this error: the answer was lost.
    FailAfterForward { status: u16, code: &'static str },
}

#[derive(Default)]
struct Inner {
    rules: Vec<(String, Fault, usize)>,
    seen: Vec<String>,
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
        self.inner
            .lock()
            .unwrap()
            .rules
            .push((operation.to_string(), fault, times));
    }

    /// Operations called so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.inner.lock().unwrap().seen.clone()
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
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers, &body);
    let fault = {
        let mut inner = p.inner.lock().unwrap();
        inner.seen.push(op.clone());
        let hit = inner.rules.iter_mut().find(|(o, _, n)| *o == op && *n > 0);
        hit.map(|(_, f, n)| {
            *n -= 1;
            f.clone()
        })
    };
    match fault {
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
            return Response::default();
        }
        Some(Fault::Fail { status, code }) => return error(status, code),
        Some(Fault::FailAfterForward { .. }) | None => {}
    }
    let url = format!(
        "{}{}",
        p.upstream,
        uri.path_and_query().map(|x| x.as_str()).unwrap_or("/")
    );
    let mut req = p.client.request(method, url).body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let sent = req.send().await;
    if let (Some(Fault::FailAfterForward { status, code }), Ok(_)) = (&fault, &sent) {
        return error(*status, code);
    }
    match sent {
        Ok(resp) => {
            let mut b = Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                if k != "transfer-encoding" && k != "content-length" {
                    b = b.header(k, v);
                }
            }
            b.body(Body::from(resp.bytes().await.unwrap_or_default()))
                .unwrap()
        }
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

fn error(status: u16, code: &str) -> Response {
    let body = format!("{{\"__type\":\"{code}\",\"message\":\"injected by the test\"}}");
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-errortype", code)
        .body(Body::from(body))
        .unwrap()
}
