//! `POST /webhook` over a real socket: every status code, and what the ledger holds after.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate::github::webhook::SignatureKey;
use keygate::ids::{BranchName, RepoName};
use keygate::ledger::Ledger;
use keygate::server::{AppState, HttpLimits, UnverifiedBudget};
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::app::{TestApp, WEBHOOK_SECRET, post};
use crate::support::github::GitHub;
use crate::support::payloads::{self, Delivery};
use crate::support::world::world;

/// How many deliveries the ledger in `dir` holds.
fn deliveries_in(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("ledger.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
        .unwrap()
}

fn ledger_rows(app: &TestApp) -> i64 {
    deliveries_in(app.dir.path())
}

/// A `pull_request` delivery `id` whose `body` is signed with the webhook secret, whatever
/// the body holds.
fn signed_body(id: &str, body: Vec<u8>) -> Delivery {
    let signature = payloads::sign(WEBHOOK_SECRET.as_bytes(), &body);
    Delivery {
        event: "pull_request".into(),
        id: id.into(),
        headers: vec![
            ("x-github-event", "pull_request".into()),
            ("x-github-delivery", id.into()),
            ("x-hub-signature-256", signature),
        ],
        body,
    }
}

fn with_signature(mut d: Delivery, signature: Option<&str>) -> Delivery {
    d.headers.retain(|(k, _)| *k != "x-hub-signature-256");
    if let Some(s) = signature {
        d.headers.push(("x-hub-signature-256", s.to_string()));
    }
    d
}

#[tokio::test]
async fn a_valid_delivery_is_stored_before_202_and_a_repeat_is_200() {
    let app = world().await;
    let pr = app.gh.open_pr("bob", &[("requests/svc/ci.toml", "x")]);
    let d = app.pr_delivery(pr, "opened");
    assert_eq!(app.redeliver(&d).await, 202);
    assert_eq!(ledger_rows(&app), 1, "written before the answer");
    assert_eq!(app.redeliver(&d).await, 200);
    assert_eq!(ledger_rows(&app), 1);
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_401_and_store_nothing() {
    let app = world().await;
    let pr = app.gh.open_pr("bob", &[("requests/svc/ci.toml", "x")]);
    let unsigned = with_signature(app.pr_delivery(pr, "opened"), None);
    assert_eq!(app.redeliver(&unsigned).await, 401);
    let payload = payloads::pull_request_event(&app.gh, pr, "opened");
    let other_secret = payloads::delivery("pull_request", &payload, b"another secret");
    assert_eq!(app.redeliver(&other_secret).await, 401);
    let sha1_style = with_signature(app.pr_delivery(pr, "opened"), Some("sha1=0123"));
    assert_eq!(app.redeliver(&sha1_style).await, 401);
    assert_eq!(ledger_rows(&app), 0);
}

#[tokio::test]
async fn a_body_over_25_mib_is_413_whatever_its_signature() {
    let app = world().await;
    let d = signed_body("big", vec![b' '; 26_214_401]);
    assert_eq!(post(&reqwest::Client::new(), &app.url, &d).await, 413);
    assert_eq!(ledger_rows(&app), 0);
}

#[tokio::test]
async fn a_correctly_signed_but_unparsable_body_is_400() {
    // GitHub's documented HMAC example: the signature is right, the body is not JSON.
    let gh = GitHub::start().await;
    let app = TestApp::start(&gh).await;
    let d = signed_body("hello", b"Hello, World!".to_vec());
    assert_eq!(post(&reqwest::Client::new(), &app.url, &d).await, 400);
    assert_eq!(ledger_rows(&app), 0);
}

#[tokio::test]
async fn ping_and_events_keygate_ignores_are_200_and_not_stored() {
    let app = world().await;
    assert_eq!(
        app.deliver("ping", &payloads::ping_event(&app.gh)).await,
        200
    );
    let pr = app.gh.open_pr("bob", &[("requests/svc/ci.toml", "x")]);
    let mut payload = payloads::pull_request_event(&app.gh, pr, "labeled");
    assert_eq!(app.deliver("pull_request", &payload).await, 200);
    payload["action"] = "opened".into();
    payload["repository"]["full_name"] = "someone/else".into();
    assert_eq!(app.deliver("pull_request", &payload).await, 200);
    assert_eq!(
        app.deliver("issues", &payloads::ping_event(&app.gh)).await,
        200
    );
    assert_eq!(ledger_rows(&app), 0);
}

#[tokio::test]
async fn repository_names_are_compared_without_regard_to_case() {
    let app = world().await;
    let pr = app.gh.open_pr("bob", &[("requests/svc/ci.toml", "x")]);
    let mut payload = payloads::pull_request_event(&app.gh, pr, "opened");
    payload["repository"]["full_name"] = app.gh.repo().to_uppercase().into();
    assert_eq!(app.deliver("pull_request", &payload).await, 202);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = world().await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = app.readyz().await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["deliveries"]["queued"], 0);
}

#[tokio::test]
async fn work_survives_a_graceful_restart_and_runs_once() {
    let mut app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    app.restart().await;
    app.settle().await;
    app.expect_issued(&user).await;
}

// ---- Unauthenticated traffic (DESIGN §4): time limits and the unverified-bytes budget ----

/// The router served on its own, with the time limits and budget a test chooses.
struct Limited {
    url: String,
    addr: std::net::SocketAddr,
    budget: UnverifiedBudget,
    dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Limited {
    async fn start(gh: &GitHub, limits: HttpLimits, budget: usize) -> Limited {
        let dir = tempfile::tempdir().unwrap();
        let budget = UnverifiedBudget::new(budget);
        let state = AppState {
            key: Arc::new(SignatureKey::new(&SecretString::from(WEBHOOK_SECRET))),
            ledger: Ledger::open_sqlite(&dir.path().join("ledger.db")).unwrap(),
            repository: RepoName::new(gh.repo().to_string()),
            branch: BranchName::new("main".to_string()),
            queue: keygate::queue::WorkQueue::local(),
            unverified: budget.clone(),
            limits,
            metrics: Default::default(),
            metrics_access: keygate::server::MetricsAccess::Open,
            health_alerts: None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(keygate::server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Limited {
            url: format!("http://{addr}"),
            addr,
            budget,
            dir,
            _stop: stop,
        }
    }

    fn deliveries(&self) -> i64 {
        deliveries_in(self.dir.path())
    }
}

const FAST: HttpLimits = HttpLimits {
    header_timeout: Duration::from_secs(1),
    body_timeout: Duration::from_secs(1),
};

/// The head of an unsigned-looking webhook POST: a wrong signature, and either a declared
/// length or chunked transfer.
fn unsigned_head(length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("content-length: {n}"),
        None => "transfer-encoding: chunked".to_string(),
    };
    format!(
        "POST /webhook HTTP/1.1\r\nhost: keygate\r\nx-github-event: pull_request\r\n\
         x-github-delivery: flood\r\nx-hub-signature-256: sha256={}\r\n{framing}\r\n\r\n",
        "0".repeat(64)
    )
}

/// The status and headers of the answer, or None if the connection closed without one.
async fn answer<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u16, String)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("keygate neither answered nor closed within 10 s");
    let head = String::from_utf8_lossy(&got).to_lowercase();
    let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
    Some((status, head))
}

/// Declares `length` bytes and sends 10 every 100 ms until keygate answers or hangs up.
async fn slow_upload(addr: std::net::SocketAddr, length: usize) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    w.write_all(unsigned_head(Some(length)).as_bytes())
        .await
        .unwrap();
    let trickle = async {
        while w.write_all(&[b' '; 10]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let status = tokio::select! {
        a = answer(&mut r) => a,
        () = trickle => answer(&mut r).await,
    };
    (status.map(|(s, _)| s), started.elapsed())
}

/// Sends only the head declaring `length` bytes and reads the answer.
async fn declared_upload(addr: std::net::SocketAddr, length: usize) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(unsigned_head(Some(length)).as_bytes())
        .await
        .unwrap();
    answer(&mut stream).await
}

/// Streams `total` bytes in 256 KiB chunks as fast as keygate takes them.
async fn chunked_upload(addr: std::net::SocketAddr, total: usize) -> Option<u16> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let send = async {
        w.write_all(unsigned_head(None).as_bytes()).await?;
        let chunk = vec![b' '; 256 * 1024];
        for _ in 0..total / chunk.len() {
            w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            w.write_all(&chunk).await?;
            w.write_all(b"\r\n").await?;
        }
        w.write_all(b"0\r\n\r\n").await
    };
    let status = tokio::select! {
        a = answer(&mut r) => a,
        _ = send => answer(&mut r).await,
    };
    status.map(|(s, _)| s)
}

/// `n` tasks, each running one `upload`.
fn spawn_each<F>(n: usize, upload: impl Fn() -> F) -> Vec<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    (0..n).map(|_| tokio::spawn(upload())).collect()
}

/// What each task came to, in order.
async fn outcomes<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

/// The status and head of each answer, which came before any body was sent.
async fn answered_early(tasks: Vec<JoinHandle<Option<(u16, String)>>>) -> Vec<(u16, String)> {
    let answers = outcomes(tasks).await.into_iter();
    answers
        .map(|a| a.expect("an answer before any body is sent"))
        .collect()
}

/// Waits (5 s at most) until every byte charged to `budget` is given back.
async fn given_back(budget: &UnverifiedBudget) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while budget.held() > 0 {
        let held = budget.held();
        assert!(Instant::now() < deadline, "{held} bytes never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn floods_of_slow_and_large_unsigned_uploads_are_refused_and_a_signed_delivery_still_gets_in()
{
    let gh = GitHub::start().await;
    let server = Limited::start(&gh, FAST, 1 << 20).await;
    let addr = server.addr;
    let flooding_until = Instant::now() + Duration::from_millis(2500);

    // Slow uploads keep coming for the whole test, each declaring 400 KiB (20 of them declare
    // far more than the budget) and trickling it.
    let slow = spawn_each(20, move || async move {
        let mut rounds = Vec::new();
        while Instant::now() < flooding_until {
            rounds.push(slow_upload(addr, 400 * 1024).await);
        }
        rounds
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Large uploads: over 25 MiB, over the budget, and streamed past the budget.
    let over_cap = spawn_each(10, || declared_upload(addr, 30 << 20));
    let over_budget = spawn_each(10, || declared_upload(addr, 2 << 20));
    let streamed = spawn_each(8, || chunked_upload(addr, 4 << 20));
    for (status, _) in answered_early(over_cap).await {
        assert_eq!(status, 413);
    }
    for (status, head) in answered_early(over_budget).await {
        assert_eq!(status, 503);
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
    }
    for status in outcomes(streamed).await {
        // Refused mid-stream: the 503 may be lost to the reset of a socket closed unread.
        let refused = matches!(status, None | Some(503));
        assert!(
            refused,
            "an upload over the budget was read to its end: {status:?}"
        );
    }

    // The slow uploads are still going on; a signed delivery gets in.
    assert!(Instant::now() < flooding_until, "the flood ended too soon");
    let pr = gh.open_pr("bob", &[("requests/svc/ci.toml", "x")]);
    let opened = payloads::pull_request_event(&gh, pr, "opened");
    let d = payloads::delivery("pull_request", &opened, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&reqwest::Client::new(), &server.url, &d).await, 202);
    assert_eq!(server.deliveries(), 1);

    let slow: Vec<(Option<u16>, Duration)> = outcomes(slow).await.concat();
    for (status, took) in &slow {
        assert!(matches!(status, None | Some(408)), "{status:?}");
        assert!(*took < Duration::from_secs(4), "a slow body ran {took:?}");
    }
    let answered = slow.iter().any(|(status, _)| status.is_some());
    assert!(answered, "no slow upload was answered 408");
    let peak = server.budget.peak();
    assert!(
        peak <= 1 << 20,
        "unverified bodies held {peak} bytes at once"
    );
    assert!(
        peak > 256 * 1024,
        "the streamed uploads were charged to the budget"
    );
    given_back(&server.budget).await;
}

#[tokio::test]
async fn a_client_that_stops_in_the_middle_of_its_headers_is_disconnected() {
    let gh = GitHub::start().await;
    let server = Limited::start(&gh, FAST, 1 << 20).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /webhook HTTP/1.1\r\nhost: keygate\r\n")
        .await
        .unwrap();
    let _ = answer(&mut stream).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection is still open after 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let gh = GitHub::start().await;
    let server = Limited::start(&gh, FAST, 1 << 20).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: keygate\r\n\r\n")
        .await
        .unwrap();
    let (status, head) = answer(&mut stream).await.unwrap();
    assert_eq!(status, 200);
    assert!(!head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection is still open after 5 s");
}
