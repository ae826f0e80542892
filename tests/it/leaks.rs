//! Leaked keys (DESIGN §10): GitHub's secret scanning (the `secret_scanning_alert` webhook,
//! the alert read through the API with a token scoped to its repository) and AWS Health's
//! `AWS_RISK_CREDENTIALS_EXPOSED` (to `serve`'s authenticated endpoint, and to the Lambda
//! function from EventBridge). A key keygate issued is deactivated within one delivery, the
//! request's pull request is told where it leaked, SNS gets `event=leaked`, the ledger
//! records it; a key keygate did not issue is only logged.

use std::time::Instant;

use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::github::ReviewState::Approve;
use crate::support::lambda::{LambdaWorld, function_url_event};
use crate::support::payloads;
use crate::support::world::{repository, world, world_with};

/// AWS's documented Health event (`tests/fixtures`), naming `key`.
fn health_event(key: &str) -> Value {
    let text = include_str!("../fixtures/aws_health.risk_credentials_exposed.json");
    let mut v: Value = serde_json::from_str(text).unwrap();
    v["detail"]["affectedEntities"][0]["entityValue"] = key.into();
    v
}

/// An issued key: (pull request, IAM user, access key ID, secret name).
async fn issued(app: &TestApp) -> (u64, String, String, String) {
    let (pr, user) = app.request_pr("bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    app.aws.notices().await;
    (pr, user, key, secret)
}

#[tokio::test]
async fn a_key_pushed_to_another_repository_is_inactive_within_one_delivery() {
    let mut app = world().await;
    let (pr, user, key, _) = issued(&app).await;
    let elsewhere = app.gh.for_repo("acme/app");
    let alert = elsewhere.leak("aws_access_key_id", &key, "deploy/env.sh", 3);
    let scopes_before = app.gh.token_scopes().len();

    let started = Instant::now();
    let event = elsewhere.secret_alert_event(alert, "created");
    assert_eq!(app.deliver("secret_scanning_alert", &event).await, 202);
    app.settle().await;
    let took = started.elapsed();
    assert!(
        app.aws.active(&user, &key).await != Some(true),
        "deactivated"
    );
    eprintln!("secret scanning alert delivery to inactive key: {took:?}");

    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["leaked"]
    );
    assert_eq!(notices[0].attributes["iam_user"], user);
    for part in ["acme/app", "deploy/env.sh", &key] {
        assert!(notices[0].message.contains(part), "{}", notices[0].message);
    }
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(
        comment.contains("reported leaked") && comment.contains("deploy/env.sh"),
        "{comment}"
    );
    assert!(
        comment.contains(&format!("secret-scanning/{alert}")),
        "{comment}"
    );
    let scopes = app.gh.token_scopes();
    assert!(
        scopes[scopes_before..].contains(&Some(vec!["app".to_string()])),
        "the alert is read with a token scoped to its repository alone: {scopes:?}"
    );

    // The alert reopened: nothing new to do, nothing said twice.
    let again = elsewhere.secret_alert_event(alert, "reopened");
    assert_eq!(app.deliver("secret_scanning_alert", &again).await, 202);
    app.settle().await;
    assert!(app.aws.notices().await.is_empty());

    app.shutdown().await;
    let life = app.key_life(&key).await;
    let leak = life.care.leak.unwrap();
    assert_eq!(leak.source, "GitHub secret scanning");
    assert!(leak.location.contains("acme/app"), "{}", leak.location);
}

#[tokio::test]
async fn a_secret_access_key_alone_is_matched_by_its_fingerprint() {
    let app = world().await;
    let (pr, user, key, secret) = issued(&app).await;
    let value = app.aws.secret(&secret).await.unwrap();
    let secret_access_key = value["SecretAccessKey"].as_str().unwrap().to_string();
    let elsewhere = app.gh.for_repo("acme/website");
    let alert = elsewhere.leak("aws_secret_access_key", &secret_access_key, "config.js", 12);

    let event = elsewhere.secret_alert_event(alert, "created");
    assert_eq!(app.deliver("secret_scanning_alert", &event).await, 202);
    app.settle().await;
    assert!(app.aws.active(&user, &key).await != Some(true));
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["leaked"]
    );
    assert!(
        !notices[0].message.contains(&secret_access_key),
        "never the secret"
    );
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(!comment.contains(&secret_access_key), "never the secret");
    assert!(comment.contains("config.js"), "{comment}");
}

#[tokio::test]
async fn a_leaked_key_keygate_did_not_issue_is_only_logged() {
    let mut app = world().await;
    let (pr, _, key, _) = issued(&app).await;
    let stranger = app.aws.iam_user("hand-made").await;
    let made = app.aws.iam.create_access_key().user_name(&stranger);
    let theirs = made.send().await.unwrap().access_key.unwrap().access_key_id;
    let comments = app.gh.comments(pr).len();
    let elsewhere = app.gh.for_repo("acme/app");
    let alert = elsewhere.leak("aws_access_key_id", &theirs, "notes.txt", 1);

    let event = elsewhere.secret_alert_event(alert, "created");
    assert_eq!(app.deliver("secret_scanning_alert", &event).await, 202);
    app.settle().await;
    assert!(
        app.aws.active(&stranger, &theirs).await == Some(true),
        "not keygate's to touch"
    );
    assert!(app.aws.notices().await.is_empty());
    assert_eq!(app.gh.comments(pr).len(), comments);
    app.shutdown().await;
    let status = app.key_life(&key).await;
    assert!(status.care.leak.is_none());
}

#[tokio::test]
async fn aws_healths_alert_reaches_serve_only_with_the_alerts_token() {
    let tokens = tempfile::tempdir().unwrap();
    let file = tokens.path().join("alerts-token");
    std::fs::write(&file, "t0ken-for-eventbridge\n").unwrap();
    let app = world_with(&format!(
        "[server]\nalerts_token_file = \"{}\"\n",
        file.display()
    ))
    .await;
    let (pr, user, key, _) = issued(&app).await;
    let http = reqwest::Client::new();
    let url = format!("{}/alerts/aws-health", app.url);
    let post = |auth: Option<&'static str>| {
        let mut req = http.post(&url).json(&health_event(&key));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { req.send().await.unwrap() }
    };
    assert_eq!(post(None).await.status(), 401);
    assert_eq!(post(Some("Bearer guessed")).await.status(), 401);
    assert!(
        app.aws.active(&user, &key).await == Some(true),
        "nothing read without the token"
    );

    let started = Instant::now();
    let answer = post(Some("Bearer t0ken-for-eventbridge")).await;
    let took = started.elapsed();
    assert_eq!(answer.status(), 200);
    assert!(app.aws.active(&user, &key).await != Some(true));
    eprintln!("AWS Health alert to inactive key (serve): {took:?}");
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["leaked"]
    );
    assert!(
        notices[0].message.contains("AWS Health"),
        "{}",
        notices[0].message
    );
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(
        comment.contains("AWS_RISK_CREDENTIALS_EXPOSED"),
        "{comment}"
    );
}

#[tokio::test]
async fn without_an_alerts_token_the_endpoint_does_not_exist() {
    let app = world().await;
    let answer = reqwest::Client::new()
        .post(format!("{}/alerts/aws-health", app.url))
        .header("authorization", "Bearer anything")
        .json(&health_event("AKIAIOSFODNN7EXAMPLE"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}

#[tokio::test]
async fn in_lambda_eventbridge_delivers_aws_healths_alert_and_github_alerts_come_through_the_queue()
{
    let world = LambdaWorld::new(&repository().await).await;
    let user = world.aws.iam_user("svc").await;
    let path = crate::support::world::path(&user);
    let pr = world.gh.open_pr(
        "bob",
        &[(&path, &crate::support::story::valid_request(&user))],
    );
    world.gh.review(pr, "carol", Approve);
    let lambda = world.start().await;
    world.gh.merge(pr);
    let merged = payloads::pull_request_event(&world.gh, pr, "closed");
    let d = payloads::delivery(
        "pull_request",
        &merged,
        crate::support::app::WEBHOOK_SECRET.as_bytes(),
    );
    lambda.invoke(function_url_event(&d, false)).await.unwrap();
    let messages = world.receive_work().await;
    world.deliver(&lambda, &messages).await;
    let (key, _) = world.aws.one_key_held_by_its_secret(&user, "issued").await;
    world.aws.notices().await;

    let answer = lambda.invoke(health_event(&key)).await.unwrap();
    assert_eq!(answer["keygate"], "health_alert", "{answer}");
    let listed = world.aws.iam.list_access_keys().user_name(&user);
    let listed = listed.send().await.unwrap();
    assert_eq!(
        listed.access_key_metadata()[0].status().cloned(),
        Some(aws_sdk_iam::types::StatusType::Inactive)
    );
    let events: Vec<String> = world
        .aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["leaked"]);

    // GitHub's alert through the function URL and the queue: acted on before, so nothing
    // more is said.
    let elsewhere = world.gh.for_repo("acme/app");
    let alert = elsewhere.leak("aws_access_key_id", &key, "ci.yml", 7);
    let event = elsewhere.secret_alert_event(alert, "created");
    let d = payloads::delivery(
        "secret_scanning_alert",
        &event,
        crate::support::app::WEBHOOK_SECRET.as_bytes(),
    );
    let answer = lambda.invoke(function_url_event(&d, false)).await.unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let messages = world.receive_work().await;
    assert_eq!(messages.len(), 1);
    assert!(world.deliver(&lambda, &messages).await.is_empty());
    assert!(world.aws.notices().await.is_empty());
}
