//! Catch-up (DESIGN §5): a merge made while keygate was down is issued once when it comes
//! back, by `keygate reconcile` or at `serve`'s start; nothing merged before the ledger is,
//! by GitHub's clock; and a pass costs what changed since the previous one, not the history.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use keygate::cli::reconcile::{Reconciled, run_reconcile};
use keygate::ledger::DeliveryState;

use crate::support::app::{AwsWorld, TestApp};
use crate::support::github::ReviewState::Approve;
use crate::support::moto::sdk_config;
use crate::support::story::valid_request;
use crate::support::world::{open_request, path, repository, world};

/// `keygate reconcile` on the stopped app's ledger.
async fn reconcile(app: &TestApp) -> Reconciled {
    let aws = keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await);
    run_reconcile(&app.settings(), aws).await.unwrap()
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

/// The paths of the calls made to GitHub since `from`.
fn calls_since(gh: &crate::support::github::GitHub, from: usize) -> Vec<String> {
    gh.requests()[from..]
        .iter()
        .map(|(_, path, _)| path.clone())
        .collect()
}

#[tokio::test]
async fn a_pass_over_two_thousand_closed_pull_requests_asks_github_only_what_changed_since_the_last()
 {
    let gh = repository().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let days_ago = |d: i64| now - time::Duration::days(d);
    // A busy repository's last days: 2,000 closed pull requests, none of them a request,
    // every fifth merged.
    let history = gh.closed_pulls_in_bulk(2_000, 5, (days_ago(2), days_ago(1)));
    // keygate starts while GitHub fails its list, so its catch-up at start does nothing.
    gh.fail_next("GET", &format!("/repos/{}/pulls", gh.repo()), 502);
    let since = days_ago(3).format(&Rfc3339).unwrap();
    let config = format!("[lifecycle]\nreconcile_since = \"{since}\"\n");
    let mut app = TestApp::start_with(&gh, &config).await;
    app.shutdown().await;
    let lists = |calls: &[String]| {
        let list = format!("/repos/{}/pulls?", gh.repo());
        calls.iter().filter(|p| p.starts_with(&list)).count()
    };
    let files = |calls: &[String]| -> Vec<String> {
        calls
            .iter()
            .filter(|p| p.ends_with("/files") || p.contains("/files?"))
            .cloned()
            .collect()
    };

    // The first pass reads the history once: every page of the list, every merge's files.
    let from = gh.requests().len();
    let first = reconcile(&app).await;
    assert_eq!(first.pass.without_requests.len(), 400);
    assert!(first.pass.deliveries.is_empty() && first.pass.before_watermark.is_empty());
    let calls = calls_since(&gh, from);
    assert_eq!((lists(&calls), files(&calls).len()), (20 + 1, 400));

    // While keygate is down, a request is approved and merged.
    let (pr, user) = open_request(&app, "bob").await;
    gh.review(pr, "carol", Approve);
    gh.merge(pr);
    let from = gh.requests().len();
    let second = reconcile(&app).await;
    assert_eq!(
        second.pass.settled,
        [pr],
        "the merge between the passes is caught up"
    );
    app.aws
        .one_key_held_by_its_secret(&user, "issued by the second pass")
        .await;
    let calls = calls_since(&gh, from);
    assert_eq!(
        lists(&calls),
        2,
        "one page of closed, one of open pull requests: {calls:#?}"
    );
    let read = files(&calls);
    assert!(
        read.iter()
            .all(|p| p.contains(&format!("/pulls/{pr}/files"))),
        "none of the history is read again: {read:?}"
    );
    // The pass and the issuing together: what one merge costs, whatever the history.
    assert!(calls.len() <= 40, "{} calls: {calls:#?}", calls.len());
    assert!(history.iter().all(|n| gh.comments(*n).is_empty()));
}

#[tokio::test]
async fn a_merge_just_after_keygate_started_on_a_host_whose_clock_is_an_hour_fast_is_issued() {
    let gh = repository().await;
    // GitHub's clock, and every time it records, is an hour behind this host's.
    gh.set_clock_ahead_of_keygates(-3600);
    gh.set_clock_offset(-3600);
    let app = TestApp::start(&gh).await;
    let (pr, user) = open_request(&app, "bob").await;
    gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    app.expect_issued(&user).await;
}

#[tokio::test]
async fn a_merge_just_before_keygate_started_on_a_host_whose_clock_is_an_hour_slow_issues_nothing()
{
    let gh = repository().await;
    // GitHub's clock, and every time it records, is an hour ahead of this host's.
    // The request merged ten seconds before keygate was installed, on GitHub's clock.
    gh.set_clock_ahead_of_keygates(3600);
    gh.set_clock_offset(3600 - 10);
    let aws = AwsWorld::new().await;
    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);
    gh.merge(pr);
    gh.set_clock_offset(3600);
    let mut app = TestApp::start_on(&gh, "", aws, ("testing", "testing")).await;
    app.shutdown().await;

    let done = reconcile(&app).await;
    assert!(done.pass.settled.is_empty(), "{:?}", done.pass);
    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "history issues nothing"
    );
    assert!(app.notice_events().await.is_empty());
}
