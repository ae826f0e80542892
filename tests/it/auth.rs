//! How keygate authenticates to GitHub (DESIGN §4): installation tokens narrowed to the
//! configured repository.

use crate::support::github::ReviewState::Approve;
use crate::support::world::{open_request, world};

#[tokio::test]
async fn installation_tokens_are_asked_for_the_configured_repository_only() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    assert_eq!(app.pr_event(pr, "opened").await, 202);
    app.settle().await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1, "issued as usual");

    let name = app.gh.repo().split_once('/').unwrap().1.to_string();
    let scopes = app.gh.token_scopes();
    assert!(!scopes.is_empty(), "keygate asked for a token");
    assert!(
        scopes
            .iter()
            .all(|s| s.as_deref() == Some(std::slice::from_ref(&name))),
        "every token names exactly {name:?}: {scopes:?}"
    );
}

#[tokio::test]
async fn a_clock_off_from_githubs_is_retried_not_a_lasting_failure_and_issues_once_right() {
    let mut app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    // keygate's clock is 15 minutes behind GitHub's: its JWT has expired on arrival. Started
    // again, it holds no installation token (catch-up at start mints one when it can).
    app.gh.set_jwt_clock_offset(15 * 60);
    app.restart().await;
    app.merge(pr).await;

    assert!(app.aws.access_keys(&user).await.is_empty());
    let refused = app
        .gh
        .requests()
        .iter()
        .filter(|(method, path, status)| {
            method == "POST" && path.ends_with("/access_tokens") && *status == 401
        })
        .count();
    assert!(
        refused >= 2,
        "a JWT refused for its times is retried, not a permanent failure: {refused}"
    );
    // Once the clock is right, the same pull request issues.
    app.gh.set_jwt_clock_offset(0);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    app.settle().await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
}
