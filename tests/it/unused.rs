//! Unused keys (DESIGN §10): a key AWS has not seen used for `lifecycle.unused_days` (a key
//! never used counts from its creation) is warned about with `event=unused` and a comment,
//! and deactivated `lifecycle.warn_days` later unless it was used meanwhile. Time is the
//! sweep's parameter; the keys' creation is moved back in the ledger, as if issued long ago.

use keygate::cli::keys::run_sweep;
use keygate::ledger::Store;
use keygate::life::Step;
use time::{Duration, OffsetDateTime};

use crate::support::app::TestApp;
use crate::support::github::ReviewState::Approve;
use crate::support::moto::{sdk_config, sdk_config_as};
use crate::support::world::world_with;

/// An issued key: (pull request, IAM user, access key ID, secret name).
async fn issued(app: &TestApp) -> (u64, String, String, String) {
    let (pr, user) = app.request_pr("bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    (pr, user, key, secret)
}

/// The consumer reads the secret and makes one AWS call with the key: AWS (moto) records
/// the key's last use.
async fn use_key(app: &TestApp, secret: &str) {
    let v = app.aws.secret(secret).await.unwrap();
    let (id, key) = (
        v["AccessKeyId"].as_str().unwrap(),
        v["SecretAccessKey"].as_str().unwrap(),
    );
    let sdk = sdk_config_as(&app.aws.proxy.url, id, key).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.list_access_keys().send().await.unwrap();
}

/// Moves the creation of every key the pull requests issued `days` back in the ledger.
async fn issued_days_ago(app: &TestApp, prs: &[u64], days: i64) {
    let ledger = app.ledger().await;
    for pr in prs {
        let repo = keygate::ids::RepoName::new(app.gh.repo());
        let intents = ledger
            .intents_of_pr(repo, keygate::ids::PrNumber(*pr))
            .await
            .unwrap();
        for mut i in intents {
            let at = i.origin.issued_at.unwrap() - Duration::days(days);
            i.origin.issued_at = Some(at);
            let state = i.state;
            ledger.advance_intent(i, state).await.unwrap();
        }
    }
}

/// One sweep at `now` on the stopped app's ledger: the steps it took, each done.
async fn sweep_at(app: &TestApp, now: OffsetDateTime) -> Vec<(Step, String)> {
    let aws = keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await);
    let lines = run_sweep(&app.settings(), aws, now, false).await.unwrap();
    for l in &lines {
        assert!(matches!(l.result, Some(Ok(()))), "{l:?}");
    }
    lines
        .into_iter()
        .filter_map(|l| Some((l.step?, l.access_key_id.to_string())))
        .collect()
}

#[tokio::test]
async fn an_unused_key_is_warned_then_deactivated_and_used_ones_are_left_alone() {
    let config = "[lifecycle]\nunused_days = 30\nwarn_days = 7\n";
    let mut app = world_with(config).await;
    let (idle_pr, idle_user, idle, _) = issued(&app).await;
    let (busy_pr, busy_user, busy, busy_secret) = issued(&app).await;
    let (late_pr, late_user, late, late_secret) = issued(&app).await;
    use_key(&app, &busy_secret).await;
    app.aws.notices().await;
    app.shutdown().await;
    issued_days_ago(&app, &[idle_pr, busy_pr, late_pr], 40).await;

    // Never used in 40 days: warned. Used just now: left alone.
    // Two seconds back, so the use below is seen strictly after the warning even where AWS
    // (moto) and the ledger keep times to the second.
    let now = OffsetDateTime::now_utc() - Duration::seconds(2);
    let warned = sweep_at(&app, now).await;
    assert_eq!(warned.len(), 2, "{warned:?}");
    for key in [&idle, &late] {
        assert!(
            warned.contains(&(Step::WarnUnused, key.clone())),
            "{warned:?}"
        );
    }
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["unused", "unused"]
    );
    let users: Vec<&str> = notices
        .iter()
        .map(|n| n.attributes["iam_user"].as_str())
        .collect();
    assert!(users.contains(&idle_user.as_str()) && users.contains(&late_user.as_str()));
    let comment = app.gh.comments(idle_pr).last().cloned().unwrap();
    assert!(
        comment.contains("has not been used for") && comment.contains("in 7 days"),
        "{comment}"
    );
    assert!(
        !app.gh
            .comments(busy_pr)
            .last()
            .unwrap()
            .contains("not been used")
    );
    assert!(sweep_at(&app, now).await.is_empty(), "warned once");

    // One of the warned keys is used after the warning; a week later only the other goes.
    use_key(&app, &late_secret).await;
    let week = now + Duration::days(8);
    assert_eq!(
        sweep_at(&app, week).await,
        [(Step::DeactivateUnused, idle.clone())]
    );
    assert!(app.aws.active(&idle_user, &idle).await != Some(true));
    assert!(
        app.aws.active(&late_user, &late).await == Some(true),
        "used meanwhile"
    );
    assert!(
        app.aws.active(&busy_user, &busy).await == Some(true),
        "used recently"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["unused"]
    );
    assert!(
        notices[0].message.contains("deactivated"),
        "{}",
        notices[0].message
    );
    let comment = app.gh.comments(idle_pr).last().cloned().unwrap();
    assert!(comment.contains("was deactivated"), "{comment}");
    assert!(sweep_at(&app, week).await.is_empty());
}
