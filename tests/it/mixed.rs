//! Pull requests that add some requests and delete others (DESIGN §2.1): each half is
//! judged by its own paths' owners, the check is green only when both would act, and on
//! merge the additions issue, then the deletions revoke.

use crate::support::app::TestApp;
use crate::support::github::Change;
use crate::support::github::ReviewState::Approve;
use crate::support::story::valid_request;
use crate::support::world::{CODEOWNERS, path, world};

/// A key issued for a fresh IAM user whose folder CODEOWNERS then gives to billing (erin):
/// its deletion needs billing's approval, a new request the security team's.
async fn issued_to_billing(app: &TestApp) -> (String, String) {
    let (pr, user) = app.request_pr("bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, _) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    app.gh.commit_to_main(&[(
        ".github/CODEOWNERS",
        &format!("{CODEOWNERS}/requests/{user}/ @acme/billing\n"),
    )]);
    app.aws.notices().await;
    (user, key)
}

/// A pull request by bob that deletes `old`'s request and adds one for a fresh user.
async fn replacing(app: &TestApp, old: &str) -> (u64, String) {
    let new = app.aws.iam_user("svc").await;
    let pr = app.gh.open_pr_with_changes(
        "bob",
        &[
            Change::Delete(&path(old)),
            Change::Write(&path(&new), &valid_request(&new)),
        ],
    );
    (pr, new)
}

#[tokio::test]
async fn a_pull_request_that_replaces_a_request_issues_the_new_key_and_revokes_the_old() {
    let app = world().await;
    let (old, old_key) = issued_to_billing(&app).await;
    let (pr, new) = replacing(&app, &old).await;

    app.submit_review(pr, "carol", Approve).await;
    let run = app.head_check(pr);
    assert_eq!(
        run.status, "in_progress",
        "the deletion still waits for billing: {run:?}"
    );
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains(&old_key) && summary.contains("@acme/billing"),
        "{summary}"
    );

    app.submit_review(pr, "erin", Approve).await;
    assert_eq!(app.head_check(pr).conclusion.as_deref(), Some("success"));
    assert_eq!(
        app.notice_events().await,
        ["requested"],
        "approvers were asked"
    );

    app.merge(pr).await;
    app.expect_issued(&new).await;
    assert!(
        app.aws.access_keys(&old).await.is_empty(),
        "the old key is revoked"
    );
    let comment = app.comment(pr);
    assert!(
        comment.contains("issued") && comment.contains("revoked") && comment.contains(&old_key),
        "{comment}"
    );
    let mut events = app.notice_events().await;
    events.sort();
    assert_eq!(events, ["issued", "revoked"]);
}

#[tokio::test]
async fn a_replacement_whose_deletion_nobody_approved_is_never_green_and_refuses_the_deletion() {
    let app = world().await;
    let (old, old_key) = issued_to_billing(&app).await;
    let (pr, new) = replacing(&app, &old).await;

    app.submit_review(pr, "carol", Approve).await;
    assert_ne!(app.head_check(pr).conclusion.as_deref(), Some("success"));
    assert_eq!(app.notice_events().await, ["requested"]);

    // Merged anyway (an administrator bypassing branch protection): the approved half acts,
    // the other is refused and announced.
    app.merge(pr).await;
    app.expect_issued(&new).await;
    assert_eq!(app.aws.access_keys(&old).await, [old_key], "not revoked");
    let comment = app.comment(pr);
    assert!(
        comment.contains("refused") && comment.contains("@acme/billing"),
        "{comment}"
    );
    assert_eq!(app.notice_events().await, ["issued", "refused"]);
}
