//! `POST /webhook` over a real socket: every status code, and what the ledger holds after.

use crate::support::app::{TestApp, WEBHOOK_SECRET, post};
use crate::support::github::GitHub;
use crate::support::payloads::{self, Delivery};
use crate::support::world::world;

fn ledger_rows(app: &TestApp) -> i64 {
    let conn = rusqlite::Connection::open(app.dir.path().join("ledger.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
        .unwrap()
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
    let d = payloads::delivery(
        "pull_request",
        &payloads::pull_request_event(&app.gh, pr, "opened"),
        WEBHOOK_SECRET.as_bytes(),
    );
    assert_eq!(app.redeliver(&d).await, 202);
    assert_eq!(ledger_rows(&app), 1, "written before the answer");
    assert_eq!(app.redeliver(&d).await, 200);
    assert_eq!(ledger_rows(&app), 1);
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_401_and_store_nothing() {
    let app = world().await;
    let pr = app.gh.open_pr("bob", &[("requests/svc/ci.toml", "x")]);
    let payload = payloads::pull_request_event(&app.gh, pr, "opened");
    let http = reqwest::Client::new();
    let d = payloads::delivery("pull_request", &payload, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &app.url, &with_signature(d, None)).await, 401);
    let d = payloads::delivery("pull_request", &payload, b"another secret");
    assert_eq!(post(&http, &app.url, &d).await, 401);
    let d = payloads::delivery("pull_request", &payload, WEBHOOK_SECRET.as_bytes());
    let sha1_style = with_signature(d, Some("sha1=0123"));
    assert_eq!(post(&http, &app.url, &sha1_style).await, 401);
    assert_eq!(ledger_rows(&app), 0);
}

#[tokio::test]
async fn a_body_over_25_mib_is_413_whatever_its_signature() {
    let app = world().await;
    let body = vec![b' '; 26_214_401];
    let signature = payloads::sign(WEBHOOK_SECRET.as_bytes(), &body);
    let d = Delivery {
        event: "pull_request".into(),
        id: "big".into(),
        headers: vec![
            ("x-github-event", "pull_request".into()),
            ("x-github-delivery", "big".into()),
            ("x-hub-signature-256", signature),
        ],
        body,
    };
    assert_eq!(post(&reqwest::Client::new(), &app.url, &d).await, 413);
    assert_eq!(ledger_rows(&app), 0);
}

#[tokio::test]
async fn a_correctly_signed_but_unparsable_body_is_400() {
    // GitHub's documented HMAC example: the signature is right, the body is not JSON.
    let gh = GitHub::start().await;
    let app = TestApp::start(&gh).await;
    let body = b"Hello, World!".to_vec();
    let d = Delivery {
        event: "pull_request".into(),
        id: "hello".into(),
        headers: vec![
            ("x-github-event", "pull_request".into()),
            ("x-github-delivery", "hello".into()),
            (
                "x-hub-signature-256",
                payloads::sign(WEBHOOK_SECRET.as_bytes(), &body),
            ),
        ],
        body,
    };
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
    let (pr, user) = crate::support::world::open_request(&app, "bob").await;
    app.gh
        .review(pr, "carol", crate::support::github::ReviewState::Approve);
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    app.restart().await;
    app.settle().await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
}
