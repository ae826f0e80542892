//! Catch-up (DESIGN §5): a merge made while keygate was down is issued once when it comes
//! back, by `keygate reconcile` or at `serve`'s start; nothing merged before the ledger is.

use std::time::Duration;

use keygate::cli::reconcile::{Reconciled, run_reconcile};
use keygate::ledger::DeliveryState;

use crate::support::app::{AwsWorld, TestApp, WEBHOOK_SECRET};
use crate::support::github::ReviewState::Approve;
use crate::support::moto::sdk_config;
use crate::support::story::valid_request;
use crate::support::world::{open_request, path, repository, world};

fn settings(app: &TestApp) -> keygate::config::Settings {
    let env = vec![(
        "KEYGATE_GITHUB_WEBHOOK_SECRET".to_string(),
        WEBHOOK_SECRET.to_string(),
    )];
    keygate::config::Settings::load(Some(&app.dir.path().join("keygate.toml")), env).unwrap()
}

/// `keygate reconcile` on the stopped app's ledger.
async fn reconcile(app: &TestApp) -> Reconciled {
    let aws = keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await);
    run_reconcile(&settings(app), aws).await.unwrap()
}

#[tokio::test]
async fn a_merge_made_while_keygate_was_down_is_issued_once_when_reconcile_runs() {
    let mut app = world().await;
    app.shutdown().await;
    // While keygate is down: no delivery reaches it.
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.merge(pr);
    let (open_pr, _) = open_request(&app, "erin").await;

    let done = reconcile(&app).await;
    assert_eq!(done.pass.settled, [pr]);
    assert_eq!(done.pass.refreshed, [open_pr]);
    assert!(
        done.outcomes.iter().all(|(_, s)| *s == DeliveryState::Done),
        "{:?}",
        done.outcomes
    );
    app.aws
        .one_key_held_by_its_secret(&user, "issued by catch-up")
        .await;
    let mut events = app.notice_events().await;
    events.sort();
    assert_eq!(events, ["issued", "requested"]);
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(comment.contains(&user), "{comment}");
    let head = app.gh.head_sha(open_pr);
    assert_eq!(
        app.gh.check_runs(&head).len(),
        1,
        "the open pull request's check run is refreshed"
    );

    let again = reconcile(&app).await;
    assert!(again.pass.settled.is_empty() && again.pass.refreshed.is_empty());
    assert_eq!(again.pass.known, [pr]);
    assert_eq!(app.aws.access_keys(&user).await.len(), 1, "nothing twice");
    assert!(
        app.notice_events().await.is_empty(),
        "and nothing said twice"
    );
}

#[tokio::test]
async fn serve_catches_up_at_start_and_not_again_at_the_next_start() {
    let mut app = world().await;
    app.shutdown().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.merge(pr);

    app.restart().await;
    let mut keys = Vec::new();
    for _ in 0..100 {
        app.settle().await;
        keys = app.aws.access_keys(&user).await;
        if !keys.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(keys.len(), 1, "issued at start");
    app.settle().await;
    assert_eq!(app.notice_events().await, ["issued"]);

    app.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.settle().await;
    assert_eq!(app.aws.access_keys(&user).await, keys, "nothing twice");
    assert!(app.notice_events().await.is_empty());
}

#[tokio::test]
async fn a_pull_request_merged_before_the_watermark_issues_nothing() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);
    gh.merge(pr);
    // The ledger is created in a later second than the merge.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut app = TestApp::start_on(&gh, "", aws, ("testing", "testing")).await;
    app.shutdown().await;

    let done = reconcile(&app).await;
    assert_eq!(
        done.pass,
        Default::default(),
        "not even listed: it was last updated before the watermark"
    );
    // A late review moves its `updated_at` past the watermark: listed now, still history.
    gh.review(pr, "dave", Approve);
    let done = reconcile(&app).await;
    assert_eq!(done.pass.before_watermark, [pr]);
    assert!(done.pass.deliveries.is_empty());
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.gh.comments(pr).is_empty(),
        "history is not commented on"
    );
    assert!(app.notice_events().await.is_empty());
}
