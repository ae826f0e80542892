//! The approval window (DESIGN §2.7): an approval cannot be banked for later, and a request
//! nobody approved in time ends as the original's approval step did.

use crate::support::github::Change;
use crate::support::github::ReviewState::Approve;
use crate::support::world::{open_request, path, world_with};

#[tokio::test]
async fn an_approval_older_than_the_window_does_not_count_at_merge() {
    let app = world_with("[policy]\napproval_ttl_hours = 24\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    // Approved two days ago, merged now.
    app.gh.set_clock_offset(-2 * 24 * 3600);
    app.gh.review(pr, "carol", Approve);
    app.gh.set_clock_offset(0);
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["older than 24 hours"])
        .await;
}

#[tokio::test]
async fn the_check_run_says_until_when_an_approval_counts() {
    let app = world_with("[policy]\napproval_ttl_hours = 24\n").await;
    let (pr, _) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    assert_eq!(app.pr_event(pr, "opened").await, 202);
    app.settle().await;
    let summary = app.check(&app.gh.head_sha(pr)).summary.unwrap_or_default();
    assert!(summary.contains("approval counts until"), "{summary}");
}

#[tokio::test]
async fn a_request_nobody_approved_in_time_is_rejected_and_never_issues() {
    let app = world_with("[policy]\nrequest_ttl_hours = 24\n").await;
    // Opened two days ago; nobody approved it.
    app.gh.set_clock_offset(-2 * 24 * 3600);
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.set_clock_offset(0);
    assert_eq!(app.pr_event(pr, "opened").await, 202);
    app.settle().await;

    let run = app.check(&app.gh.head_sha(pr));
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.summary.unwrap_or_default().contains("expired") && app.comment(pr).contains("rejected"),
        "{}",
        app.comment(pr)
    );
    assert_eq!(app.notice_events().await, ["rejected"]);

    // Approving and merging it later issues nothing, and says why.
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["expired"]).await;
}

#[tokio::test]
async fn a_revocation_approved_in_time_revokes_when_merged_however_late() {
    let app = world_with("[policy]\nrequest_ttl_hours = 24\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, _) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    app.aws.notices().await;

    // Opened and approved two days ago, merged only now.
    app.gh.set_clock_offset(-2 * 24 * 3600);
    let revoking = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&path(&user))]);
    app.gh.review(revoking, "dave", Approve);
    app.gh.set_clock_offset(0);
    app.merge(revoking).await;

    assert!(app.aws.access_keys(&user).await.is_empty(), "revoked");
    let comment = app.comment(revoking);
    assert!(
        comment.contains("revoked") && comment.contains(&key),
        "{comment}"
    );
    assert_eq!(app.notice_events().await, ["revoked"]);
}

#[tokio::test]
async fn a_revocation_nobody_approved_in_time_is_refused_as_expired() {
    let app = world_with("[policy]\nrequest_ttl_hours = 24\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, _) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    app.aws.notices().await;

    app.gh.set_clock_offset(-2 * 24 * 3600);
    let revoking = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&path(&user))]);
    app.gh.set_clock_offset(0);
    app.gh.review(revoking, "dave", Approve);
    app.merge(revoking).await;

    assert_eq!(app.aws.access_keys(&user).await, [key], "not revoked");
    assert!(
        app.comment(revoking).contains("expired"),
        "{}",
        app.comment(revoking)
    );
}
