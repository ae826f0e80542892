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
