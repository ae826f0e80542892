//! How keygate authenticates to GitHub (DESIGN §4): installation tokens narrowed to the
//! configured repository, and an App JWT signed on GitHub's clock when the two clocks differ.

use std::time::Duration;

use keygate::github::client::GitHubApp;
use secrecy::SecretString;

use crate::support::app::TestApp;
use crate::support::github::NOT_THE_APPS_PRIVATE_KEY;
use crate::support::github::ReviewState::Approve;
use crate::support::world::{open_request, repository, world};

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
async fn a_github_clock_ahead_of_ours_is_measured_at_one_token_exchange_and_issues_once() {
    merge_after_githubs_clock_moved(15 * 60).await;
}

#[tokio::test]
async fn a_github_clock_behind_ours_is_measured_at_one_token_exchange_and_issues_once() {
    merge_after_githubs_clock_moved(-15 * 60).await;
}

/// GitHub's clock moves `skew` seconds ahead of keygate's (negative: behind) while keygate
/// runs, and the token keygate holds is no longer taken. The next token exchange is refused
/// for its JWT; GitHub's `Date` header tells keygate by how much, and from then on it signs
/// on GitHub's clock. Tokens now last 20 s, so nearly every call needs a new exchange: each
/// shows the correction kept.
async fn merge_after_githubs_clock_moved(skew: i64) {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.set_clock_ahead_of_keygates(skew);
    app.gh.set_token_lifetime(Duration::from_secs(20));
    app.gh.expire_tokens();
    let (jwt_calls, exchanges) = (
        app.gh.app_jwt_answers().len(),
        app.gh.token_exchanges().len(),
    );
    app.merge(pr).await;

    assert_eq!(app.aws.access_keys(&user).await.len(), 1, "issued, once");
    let exchanges = app.gh.token_exchanges().split_off(exchanges);
    assert!(
        exchanges.len() > 2,
        "tokens were exchanged again: {exchanges:?}"
    );
    assert_eq!(exchanges[0], 401, "the first JWT is on keygate's clock");
    assert!(
        exchanges[1..].iter().all(|s| *s == 201),
        "every later one is on GitHub's: {exchanges:?}"
    );
    assert_eq!(refusals_since(&app, jwt_calls), 1, "not one per call");
    let measured = metric(&app, "keygate_github_clock_skew_seconds").await;
    assert!((measured - skew as f64).abs() <= 2.0, "measured {measured}");
}

#[tokio::test]
async fn keygate_started_on_a_clock_off_from_githubs_is_refused_once_and_issues() {
    let mut app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.set_clock_ahead_of_keygates(15 * 60);
    let jwt_calls = app.gh.app_jwt_answers().len();
    app.restart().await;
    app.merge(pr).await;

    assert_eq!(app.aws.access_keys(&user).await.len(), 1, "issued, once");
    assert_eq!(app.gh.app_jwt_answers()[jwt_calls], 401, "its first JWT");
    assert_eq!(refusals_since(&app, jwt_calls), 1, "and no other");
    let measured = metric(&app, "keygate_github_clock_skew_seconds").await;
    assert!((measured - 900.0).abs() <= 2.0, "measured {measured}");
}

/// How many requests made with the App's JWT GitHub refused after the first `skip`.
fn refusals_since(app: &TestApp, skip: usize) -> usize {
    let answers = app.gh.app_jwt_answers();
    answers[skip..].iter().filter(|s| **s == 401).count()
}

#[tokio::test]
async fn a_private_key_github_does_not_know_fails_for_good_after_one_refusal() {
    let mut gh = repository().await;
    gh.private_key_pem = NOT_THE_APPS_PRIVATE_KEY;
    let app = TestApp::start(&gh).await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    let exchanges = app.gh.token_exchanges().len();
    app.merge(pr).await;

    assert!(app.aws.access_keys(&user).await.is_empty());
    let exchanges = app.gh.token_exchanges().split_off(exchanges);
    assert_eq!(exchanges, [401], "refused, and not tried again");
    assert_eq!(app.readyz().await["deliveries"]["failed"], 1);
    let measured = metric(&app, "keygate_github_clock_skew_seconds").await;
    assert_eq!(
        measured, 0.0,
        "GitHub's Date agreed with keygate's clock: not skew"
    );
}

#[tokio::test]
async fn a_wrong_private_key_is_named_even_when_the_clocks_also_differ() {
    let gh = repository().await;
    let key = SecretString::from(NOT_THE_APPS_PRIVATE_KEY);
    let github = GitHubApp::new(&gh.url, gh.app_id, &key).unwrap();

    let agreeing = github.bot_login().await.unwrap_err().to_string();
    assert_eq!(
        gh.app_jwt_answers(),
        [401],
        "no second try on the same clock"
    );
    gh.set_clock_ahead_of_keygates(15 * 60);
    let apart = github.bot_login().await.unwrap_err();
    assert_eq!(
        gh.app_jwt_answers(),
        [401, 401, 401],
        "once on keygate's clock, once on GitHub's, then no more"
    );
    assert!(!apart.is_transient() && !apart.is_clock_skew(), "{apart}");
    for message in [agreeing, apart.to_string()] {
        assert!(
            message.contains("github.app_id (424242) and the private key must be the same App's"),
            "{message}"
        );
    }
}

/// GitHub's `Date` is data from the network (a broken clock, a proxy that rewrites it). One
/// from the year 9999 is not learned: signing on it would leave the calendar two seconds
/// later, in every JWT and token check from then on.
#[tokio::test]
async fn a_date_from_the_year_9999_is_not_learned_and_later_calls_work() {
    let gh = repository().await;
    let key = SecretString::from(gh.private_key_pem);
    let github = GitHubApp::new(&gh.url, gh.app_id, &key).unwrap();
    gh.stop_clock_at(Some(time::macros::datetime!(9999-12-31 23:59:59 UTC)));

    let refused = github.bot_login().await.unwrap_err();
    assert_eq!(
        gh.app_jwt_answers(),
        [401],
        "not signed again on a clock from the year 9999"
    );
    let message = refused.to_string();
    assert!(
        message.contains("more than a day: this host's clock or GitHub's is wrong"),
        "{message}"
    );
    assert!(
        refused.is_transient(),
        "a clock set right lets a retry pass"
    );

    gh.stop_clock_at(None);
    // Past the second in which `now + offset` would have left the calendar.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(github.bot_login().await.is_ok(), "the App's JWT");
    let repo = github.repo(gh.installation_id(), gh.repo()).unwrap();
    let head = repo.branch_head("main").await.unwrap();
    assert_eq!(head.len(), 40, "an installation token and a call with it");
    assert_eq!(gh.app_jwt_answers()[1..], [200, 201]);
}

/// The value `GET /metrics` shows for the sample `series`.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
        .parse()
        .unwrap()
}
