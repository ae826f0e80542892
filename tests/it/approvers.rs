//! Approvers see what they approve (DESIGN §4): the reason in the check run, and a new
//! `requested` notice when a push changes what a request asks.

use crate::support::world::{open_request, path, request, world};

#[tokio::test]
async fn a_push_that_changes_the_reason_asks_approvers_again_saying_what_changed() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    assert_eq!(app.pr_event(pr, "opened").await, 202);
    app.settle().await;
    assert_eq!(app.notice_events().await, ["requested"]);
    let summary = app.check(&app.gh.head_sha(pr)).summary.unwrap_or_default();
    assert!(
        summary.contains("Reason: Nightly backups copy to S3"),
        "{summary}"
    );

    let changed = request(&user, "Weekly exports to a partner bucket");
    app.gh.push(pr, "bob", &[(&path(&user), &changed)]);
    assert_eq!(app.pr_event(pr, "synchronize").await, 202);
    app.settle().await;
    let notices = app.aws.notices().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].event(), "requested");
    let message = &notices[0].message;
    assert!(
        message.contains("changed since approvers were last asked")
            && message.contains("Nightly backups copy to S3")
            && message.contains("Weekly exports to a partner bucket"),
        "{message}"
    );

    // A push that changes nothing approvers are asked about asks nothing.
    app.gh
        .push(pr, "bob", &[("requests/zz-notes.md", "notes\n")]);
    assert_eq!(app.pr_event(pr, "synchronize").await, 202);
    app.settle().await;
    assert!(app.notice_events().await.is_empty());
}
