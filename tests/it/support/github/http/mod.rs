//! The HTTP side: one fallback handler that logs every request, injects the
//! failures tests asked for, routes, authenticates and answers in GitHub's
//! shapes (errors, pagination by `Link` header).

mod auth;
mod codeowners;
mod handlers;
mod route;
mod validate;
mod writes;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::model::{Logged, World};
use route::{AppRoute, Route, route};

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(
            status,
            json!({
                "message": message,
                "documentation_url": format!("https://docs.github.com/rest{docs}"),
                "status": status.to_string(),
            }),
        )
    }

    pub(crate) fn not_found(docs: &str) -> Reply {
        Reply::error(404, "Not Found", docs)
    }

    /// GitHub's 422 with one validation error.
    pub(crate) fn invalid(resource: &str, field: &str, message: &str, docs: &str) -> Reply {
        Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "code": "custom", "field": field, "message": message }],
                "documentation_url": format!("https://docs.github.com/rest{docs}"),
                "status": "422",
            }),
        )
    }
}

pub(crate) type Shared = Arc<Mutex<World>>;

pub(crate) async fn serve(State(state): State<Shared>, request: Request) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().unwrap_or("").to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let path_query = if raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{raw_query}")
    };

    let reply = {
        let mut world = state.lock().unwrap_or_else(|e| e.into_inner());
        // A bug in the stand-in answers 500 and fails the test, rather than
        // dropping the connection.
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            world.handle(&method, &path, &raw_query, &headers, &body)
        }));
        handled.unwrap_or_else(|_| {
            world
                .unknown
                .push(format!("{method} {path_query} (the stand-in panicked)"));
            Reply::error(500, "the GitHub stand-in panicked", "")
        })
    };
    // A round trip as far away as GitHub is, when a benchmark asks for one.
    let (latency, date) = {
        let world = state.lock().unwrap_or_else(|e| e.into_inner());
        (world.latency, world.date_header())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push(Logged {
            method: method.clone(),
            path_query,
            status: reply.status,
            started,
            finished: std::time::Instant::now(),
        });

    let mut response = Response::new(match &reply.body {
        Some(v) => Body::from(serde_json::to_vec(v).expect("JSON")),
        None => Body::empty(),
    });
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("status");
    let h = response.headers_mut();
    if reply.body.is_some() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    h.insert("x-github-media-type", HeaderValue::from_static("github.v3"));
    h.insert(header::DATE, HeaderValue::from_str(&date).expect("date"));
    for (name, value) in reply.headers {
        h.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    response
}

/// Query parameters, decoded, plus the raw string for building `Link`s.
pub(crate) struct Query {
    pub(crate) raw: String,
    pub(crate) pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect();
        Query {
            raw: raw.to_string(),
            pairs,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) const DOCS_TOKEN: &str = "/apps/apps#create-an-installation-access-token-for-an-app";

/// What a handler reads of the request besides its route.
pub(crate) struct Call<'a> {
    pub(crate) q: &'a Query,
    pub(crate) path: &'a str,
    pub(crate) body: &'a Value,
    pub(crate) accept: &'a str,
}

/// A handler's outcome: the error side is already GitHub's error reply.
pub(crate) type Answer = Result<Reply, Reply>;

/// RFC 7231's IMF-fixdate, as GitHub's `Date` header has it.
const IMF_FIXDATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

impl World {
    /// The `Date` header of an answer sent now: GitHub's own clock.
    pub(crate) fn date_header(&self) -> String {
        self.github_now().format(IMF_FIXDATE).expect("IMF-fixdate")
    }

    pub(crate) fn handle(
        &mut self,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        if let Some(i) = self
            .failures
            .iter()
            .position(|f| f.method == method && path.starts_with(&f.path_prefix))
        {
            let failure = self.failures.remove(i);
            return injected_failure(failure.status);
        }
        // GitHub Enterprise Server serves the REST API under `/api/v3`: a call outside the
        // world's prefix is unknown.
        let Some(path) = path
            .strip_prefix(self.prefix.as_str())
            .filter(|p| p.starts_with('/'))
        else {
            self.unknown
                .push(format!("{method} {path} (outside {})", self.prefix));
            return Reply::not_found("");
        };
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect();
        let Some(route) = route(method, &segments) else {
            let call = if raw_query.is_empty() {
                format!("{method} {path}")
            } else {
                format!("{method} {path}?{raw_query}")
            };
            self.unknown.push(call);
            return Reply::not_found("");
        };
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return Reply::error(400, "Problems parsing JSON", ""),
            }
        };
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let query = Query::parse(raw_query);
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // GitHub checks the body once the caller is known (401 first).
        let operation = route.body_operation();
        let valid = |body: &Value| match operation {
            Some(op) => validate::check_body(op, body),
            None => Ok(()),
        };
        let answer = match route {
            Route::CreateToken(id) => self
                .check_jwt(auth, DOCS_TOKEN)
                .and_then(|()| valid(&body))
                .and_then(|()| self.create_token(&id, &body)),
            Route::App(app) => self
                .check_jwt(auth, "/apps/apps")
                .and_then(|()| self.app_route(app)),
            Route::Api(api) => self
                .check_token(auth)
                .and_then(|inst| valid(&body).map(|()| inst))
                .and_then(|inst| {
                    let call = Call {
                        q: &query,
                        path,
                        body: &body,
                        accept,
                    };
                    self.api_route(api, inst, &call)
                }),
        };
        answer.unwrap_or_else(|error| error)
    }

    /// One page of `items` per `per_page` (default 30, max 100, capped by
    /// the test) and `page`, with GitHub's `Link` header.
    pub(crate) fn page(&self, items: Vec<Value>, q: &Query, path: &str) -> Reply {
        let (range, link) = self.window(items.len(), q, path, 30, 100);
        let slice: Vec<Value> = items
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .collect();
        let mut reply = Reply::json(200, Value::from(slice));
        reply.headers.extend(link.map(|l| ("link", l)));
        reply
    }

    /// Which of `len` items the requested page holds (`per_page` defaults to
    /// `default`, at most `max`, capped by the test) and GitHub's `Link`
    /// header for the others.
    pub(crate) fn window(
        &self,
        len: usize,
        q: &Query,
        path: &str,
        default: usize,
        max: usize,
    ) -> (std::ops::Range<usize>, Option<String>) {
        let number = |key: &str| q.get(key).and_then(|v| v.parse::<usize>().ok());
        let mut per_page = number("per_page").unwrap_or(default).clamp(1, max);
        if let Some(cap) = self.page_size_cap {
            per_page = per_page.min(cap);
        }
        let page = number("page").unwrap_or(1).max(1);
        let last = len.div_ceil(per_page).max(1);
        let start = ((page - 1) * per_page).min(len);
        let range = start..(start + per_page).min(len);
        let link = |n: usize, rel: &str| {
            let params = q
                .raw
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("page="));
            let mut params: Vec<String> = params.map(str::to_string).collect();
            params.push(format!("page={n}"));
            let url = format!("{}{path}?{}", self.base_url, params.join("&"));
            format!("<{url}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link((page - 1).min(last), "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }
        (range, (!links.is_empty()).then(|| links.join(", ")))
    }
}
pub(crate) fn injected_failure(status: u16) -> Reply {
    let message = match status {
        403 => "API rate limit exceeded for installation ID 1.",
        429 => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        502 => "Server Error",
        503 => "Service Unavailable",
        _ => "Injected failure",
    };
    let mut reply = Reply::error(status, message, "");
    if matches!(status, 403 | 429) {
        let reset = OffsetDateTime::now_utc().unix_timestamp() + 1;
        reply.headers.push(("retry-after", "1".to_string()));
        reply
            .headers
            .push(("x-ratelimit-remaining", "0".to_string()));
        reply.headers.push(("x-ratelimit-reset", reset.to_string()));
    }
    reply
}
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' && plus_is_space {
                    b' '
                } else {
                    bytes[i]
                });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Scheme credentials` with a case-insensitive scheme.
pub(crate) fn strip_scheme<'a>(auth: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = auth.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}
