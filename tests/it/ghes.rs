//! GitHub Enterprise Server (DESIGN §11): `github.api_url = "https://HOST/api/v3"` works. The
//! stand-in serves its API under `/api/v3` only, so a call that forgets the prefix is an
//! unknown call and fails the story.

use crate::support::app::TestApp;
use crate::support::world::enterprise_repository;

#[tokio::test]
async fn a_key_is_issued_against_an_enterprise_server_api_under_api_v3() {
    let gh = enterprise_repository().await;
    let app = TestApp::start_with(&gh, "").await;
    assert!(
        app.settings().github.api_url.ends_with("/api/v3"),
        "{}",
        app.settings().github.api_url
    );
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;

    let issued = app.expect_issued_and_announced(pr, &user).await;
    assert!(
        issued.comment.contains("access key issued"),
        "{}",
        issued.comment
    );
    let calls = gh.requests();
    assert!(calls.len() > 10, "{calls:?}");
    let outside: Vec<_> = calls
        .iter()
        .filter(|(_, path, _)| !path.starts_with("/api/v3/"))
        .collect();
    assert!(outside.is_empty(), "calls outside /api/v3: {outside:?}");
    assert!(
        gh.unknown_requests().is_empty(),
        "{:?}",
        gh.unknown_requests()
    );
}
