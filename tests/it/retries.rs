//! Retries by time (DESIGN §3.4): rate limits wait for their reset, the pull request says
//! when issuing is being retried, and a stored key is always announced.

use std::time::{Duration, Instant};

use crate::support::faults::Fault;
use crate::support::github::ReviewState::Approve;
use crate::support::world::{open_request, world};

#[tokio::test]
async fn a_rate_limited_read_waits_for_the_reset_and_then_issues() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    let reviews = format!("/repos/{}/pulls/{pr}/reviews", app.gh.repo());
    app.gh.fail_next("GET", &reviews, 403);
    app.merge(pr).await;

    app.expect_issued(&user).await;
    assert!(
        app.gh.requests().iter().any(|(_, p, _)| p == "/rate_limit"),
        "keygate asked when the limit resets"
    );
}

#[tokio::test]
async fn the_pull_request_says_while_issuing_is_being_retried() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    let code = "ServiceUnavailable";
    app.aws
        .proxy
        .inject("CreateSecret", Fault::Fail { status: 503, code }, 3);
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);

    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.comment(pr).contains("Issuing is being retried") {
        assert!(Instant::now() < deadline, "never said: {}", app.comment(pr));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.comment(pr).contains(code),
        "names the AWS error by its code"
    );
    app.settle().await;
    app.expect_issued(&user).await;
    assert!(app.comment(pr).contains("issued"), "{}", app.comment(pr));
}

#[tokio::test]
async fn a_stored_key_is_announced_even_when_the_comment_is_refused() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    // GitHub refuses keygate's comment for good (e.g. too long).
    let comments = format!("/repos/{}/issues/{pr}/comments", app.gh.repo());
    app.gh.fail_next("POST", &comments, 422);
    app.gh.fail_next("POST", &comments, 422);
    app.merge(pr).await;

    let (_, secret) = app.expect_issued(&user).await;
    let notices = app.aws.notices().await;
    let events: Vec<&str> = notices.iter().map(|n| n.event()).collect();
    assert_eq!(events, ["issued", "failed"], "the key is announced on SNS");
    let failed = &notices[1].message;
    assert!(
        !failed.contains("Nothing more was issued") && failed.contains(&secret),
        "the failure notice names the live key rather than saying nothing was issued: {failed}"
    );
}
