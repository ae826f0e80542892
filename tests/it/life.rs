//! One life per request (DESIGN §5): the order of merges on the branch decides, never the
//! order in which their deliveries arrive. No key stays live after its request file was
//! deleted by an approved merge.

use std::time::{Duration, Instant};

use crate::support::app::TestApp;
use crate::support::faults::Fault;
use crate::support::github::Change;
use crate::support::github::ReviewState::Approve;
use crate::support::world::{path, world};

/// An approved request for a fresh user, merged on GitHub; its delivery has not come yet.
async fn merged_unheard(app: &TestApp) -> (u64, String) {
    let (add, user) = app.request_pr("bob").await;
    app.gh.review(add, "carol", Approve);
    app.settle().await;
    app.gh.merge(add);
    (add, user)
}

/// An approved pull request deleting `user`'s request, merged; returns its number.
fn deletion_merged(app: &TestApp, user: &str) -> u64 {
    let del = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&path(user))]);
    app.gh.review(del, "dave", Approve);
    app.gh.merge(del);
    del
}

#[tokio::test]
async fn a_deletion_merged_after_the_addition_wins_when_its_delivery_comes_first() {
    let app = world().await;
    let (add, user) = merged_unheard(&app).await;
    let del = deletion_merged(&app, &user);

    // keygate was down for the addition: the deletion's delivery comes first...
    app.pr_action(del, "closed").await;
    assert!(
        app.comment(del).contains("no live key"),
        "{}",
        app.comment(del)
    );
    // ...then the addition's, late.
    app.pr_action(add, "closed").await;

    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "no key lives without its request file"
    );
    assert!(app.aws.secrets_named(&format!("{user}/")).await.is_empty());
    let comment = app.comment(add);
    assert!(
        comment.contains("deleted by the merge of") && comment.contains(&format!("#{del}")),
        "the requester is told why: {comment}"
    );
    let mut events = app.notice_events().await;
    events.sort();
    assert_eq!(events, ["failed", "revoked"]);
}

#[tokio::test]
async fn a_deletion_heard_while_its_addition_is_being_issued_revokes_the_key_made_meanwhile() {
    let app = world().await;
    let (add, user) = merged_unheard(&app).await;
    let del = deletion_merged(&app, &user);

    // The addition's secret is slow to store; the deletion is delivered meanwhile.
    let hold = Duration::from_secs(3);
    app.aws.proxy.inject("CreateSecret", Fault::Hold(hold), 1);
    assert_eq!(app.pr_event(add, "closed").await, 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.aws.proxy.count("CreateSecret") == 0 {
        assert!(
            Instant::now() < deadline,
            "the addition never stored its secret"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.pr_action(del, "closed").await;
    app.settle().await;

    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "whichever saw the other, the key made meanwhile is gone"
    );
    let told = app.gh.comments(add).join("\n");
    assert!(
        told.contains("revoked") && told.contains(&format!("#{del}")),
        "{told}"
    );
}

#[tokio::test]
async fn merged_in_order_and_delivered_in_order_the_deletion_still_revokes() {
    let app = world().await;
    let (add, user) = merged_unheard(&app).await;
    app.pr_action(add, "closed").await;
    let (key, _) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    let del = deletion_merged(&app, &user);
    app.pr_action(del, "closed").await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(app.comment(del).contains(&key));
}
