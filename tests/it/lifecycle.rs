//! The life of a key after issuing (DESIGN §5): expiry moved by writing the secret's
//! `keygate:expires-at` tag, sweeps run in-process on the stopped app's ledger, and
//! revocation by an operator.

use aws_sdk_secretsmanager::types::Tag;
use keygate::cli::keys::{Revoked, run_revoke, run_sweep};
use keygate::ids::AccessKeyId;
use keygate::ledger::Store;
use keygate::life::{Stage, Step};
use keygate::workflow::sweep::SweepLine;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::app::TestApp;
use crate::support::github::Change;
use crate::support::github::ReviewState::Approve;
use crate::support::moto::sdk_config;
use crate::support::world::{open_request, path, request, world, world_with};

/// An issued key: (pull request, IAM user, access key ID, secret name).
async fn issued(app: &TestApp) -> (u64, String, String, String) {
    let (pr, user) = open_request(app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["issued"]
    );
    (pr, user, key, secret)
}

/// Writes the secret's expiry tag `offset` from now: how an operator shortens a key's life.
async fn expire_in(app: &TestApp, secret: &str, offset: time::Duration) {
    let at = (OffsetDateTime::now_utc() + offset)
        .replace_nanosecond(0)
        .unwrap();
    app.aws
        .secrets
        .tag_resource()
        .secret_id(secret)
        .tags(
            Tag::builder()
                .key("keygate:expires-at")
                .value(at.format(&Rfc3339).unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn aws(app: &TestApp) -> keygate::aws::Aws {
    keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await)
}

/// `keygate sweep` on the stopped app's ledger, now.
async fn sweep(app: &mut TestApp, dry_run: bool) -> Vec<(Step, String)> {
    app.shutdown().await;
    let lines: Vec<SweepLine> = run_sweep(
        &app.settings(),
        aws(app).await,
        OffsetDateTime::now_utc(),
        dry_run,
    )
    .await
    .unwrap();
    for l in &lines {
        assert!(!matches!(l.result, Some(Err(_))), "{l:?}");
    }
    lines
        .into_iter()
        .filter_map(|l| Some((l.step?, l.access_key_id.to_string())))
        .collect()
}

async fn stage(app: &TestApp, key: &str) -> Stage {
    let ledger = app.ledger().await;
    ledger
        .key_life(key.into())
        .await
        .unwrap()
        .unwrap()
        .progress
        .stage
}

#[tokio::test]
async fn a_key_past_its_expiry_is_deactivated_announced_and_not_yet_deleted() {
    let mut app = world().await;
    let (pr, user, key, secret) = issued(&app).await;
    expire_in(&app, &secret, -time::Duration::hours(1)).await;

    assert_eq!(
        sweep(&mut app, false).await,
        [(Step::Deactivate, key.clone())]
    );
    assert_eq!(
        app.aws.active(&user, &key).await,
        Some(false),
        "deactivated, still there"
    );
    assert!(
        app.aws.secret(&secret).await.is_some(),
        "the secret waits for delete_after_days"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["expired"]
    );
    assert_eq!(notices[0].attributes["iam_user"], user);
    assert!(notices[0].message.contains(&key), "{}", notices[0].message);
    let comments = app.gh.comments(pr);
    let last = comments.last().unwrap();
    assert!(last.contains("expired") && last.contains(&key), "{last}");
    assert_eq!(
        comments.len(),
        2,
        "the result comment, then a new one that notifies"
    );
    assert_eq!(stage(&app, &key).await, Stage::Inactive);

    assert!(
        sweep(&mut app, false).await.is_empty(),
        "a second pass has nothing to do"
    );
    assert!(app.aws.notices().await.is_empty(), "and says nothing again");
    assert_eq!(app.gh.comments(pr).len(), 2);
}

#[tokio::test]
async fn with_no_grace_an_expired_key_and_its_secret_are_deleted_in_one_pass() {
    let mut app =
        world_with("[lifecycle]\ndelete_after_days = 0\nsecret_recovery_days = 0\n").await;
    let (_, user, key, secret) = issued(&app).await;
    expire_in(&app, &secret, -time::Duration::minutes(1)).await;

    assert_eq!(
        sweep(&mut app, false).await,
        [(Step::Deactivate, key.clone()), (Step::Delete, key.clone())]
    );
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.aws.secrets_named(&format!("{user}/")).await.is_empty(),
        "deleted without recovery"
    );
    assert_eq!(stage(&app, &key).await, Stage::Deleted);
}

#[tokio::test]
async fn a_key_nearing_its_expiry_is_warned_about_once() {
    let mut app = world().await;
    let (pr, user, key, secret) = issued(&app).await;
    expire_in(&app, &secret, time::Duration::days(2)).await;

    assert_eq!(sweep(&mut app, false).await, [(Step::Warn, key.clone())]);
    assert_eq!(
        app.aws.active(&user, &key).await,
        Some(true),
        "still works until expiry"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["expiring"]
    );
    let last = app.gh.comments(pr).last().cloned().unwrap();
    assert!(last.contains("add a new request file"), "{last}");

    assert!(sweep(&mut app, false).await.is_empty());
    assert!(app.aws.notices().await.is_empty());
}

#[tokio::test]
async fn a_dry_run_says_what_is_due_and_changes_nothing() {
    let mut app = world().await;
    let (pr, user, key, secret) = issued(&app).await;
    expire_in(&app, &secret, -time::Duration::hours(1)).await;

    assert_eq!(
        sweep(&mut app, true).await,
        [(Step::Deactivate, key.clone())]
    );
    assert_eq!(app.aws.active(&user, &key).await, Some(true));
    assert!(app.aws.notices().await.is_empty());
    assert_eq!(app.gh.comments(pr).len(), 1);
    assert_eq!(stage(&app, &key).await, Stage::Active);
}

#[tokio::test]
async fn serve_sweeps_when_it_starts() {
    let mut app = world().await;
    let (_, user, key, secret) = issued(&app).await;
    expire_in(&app, &secret, -time::Duration::hours(1)).await;
    app.restart().await;
    assert_eq!(
        app.aws.active(&user, &key).await,
        Some(false),
        "before the first delivery"
    );
}

#[tokio::test]
async fn a_key_keygate_did_not_issue_is_never_touched_whatever_its_tags_say() {
    let mut app = world().await;
    let (_, user, key, _) = issued(&app).await;
    // Someone's own key, and a secret that claims it with keygate's tags.
    let other = app
        .aws
        .iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let past = (OffsetDateTime::now_utc() - time::Duration::days(30))
        .format(&Rfc3339)
        .unwrap();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    app.aws
        .secrets
        .create_secret()
        .name(format!("{user}/forged"))
        .secret_string("{}")
        .tags(tag("keygate:expires-at", &past))
        .tags(tag("keygate:access-key-id", &other))
        .tags(tag("keygate:repository", app.gh.repo()))
        .tags(tag("keygate:pr", "1"))
        .tags(tag("keygate:request", &format!("requests/{user}/ci.toml")))
        .send()
        .await
        .unwrap();

    assert!(sweep(&mut app, false).await.is_empty());
    assert_eq!(app.aws.active(&user, &other).await, Some(true));
    assert_eq!(app.aws.active(&user, &key).await, Some(true));
}

#[tokio::test]
async fn an_operator_revokes_a_key_at_once_and_the_ledger_says_who_and_why() {
    let mut app = world().await;
    let (pr, user, key, secret) = issued(&app).await;
    app.shutdown().await;
    let done = run_revoke(
        &app.settings(),
        aws(&app).await,
        &AccessKeyId::new(&key),
        "pasted into a public gist",
    )
    .await
    .unwrap();
    let Revoked::Now { by, .. } = done else {
        panic!("{done:?}")
    };

    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "deactivated and deleted"
    );
    assert!(
        app.aws.secret(&secret).await.is_none(),
        "its secret is deleted"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["revoked"]
    );
    assert!(
        notices[0].message.contains("pasted into a public gist"),
        "{}",
        notices[0].message
    );
    let last = app.gh.comments(pr).last().cloned().unwrap();
    assert!(last.contains("revoked") && last.contains(&key), "{last}");

    let life = app.key_life(&key).await;
    assert_eq!(life.progress.stage, Stage::Revoked);
    let r = life.revocation.unwrap();
    assert_eq!((r.by, r.reason.as_str()), (by, "pasted into a public gist"));

    let again = run_revoke(
        &app.settings(),
        aws(&app).await,
        &AccessKeyId::new(&key),
        "again",
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        Revoked::AlreadyOver {
            stage: "revoked".into()
        }
    );
    assert!(app.aws.notices().await.is_empty());
    let err = run_revoke(
        &app.settings(),
        aws(&app).await,
        &"AKIANOTKEYGATES".into(),
        "x y z",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("only keys it issued"), "{err}");
}

#[tokio::test]
async fn a_merged_approved_deletion_of_a_request_file_revokes_its_key() {
    let app = world().await;
    let (pr, user, key, secret) = issued(&app).await;
    let revoking = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&path(&user))]);
    app.gh.review(revoking, "dave", Approve);
    app.merge(revoking).await;

    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "deactivated and deleted"
    );
    assert!(
        app.aws.secret(&secret).await.is_none(),
        "its secret is deleted"
    );
    let comment = app.comment(revoking);
    assert!(
        comment.contains("revoked") && comment.contains(&key),
        "{comment}"
    );
    let original = app.gh.comments(pr).last().cloned().unwrap();
    assert!(
        original.contains(&format!("by the merge of #{revoking}")),
        "the original pull request is told too: {original}"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["revoked"],
        "once, though both the step and the result could announce it"
    );
}

#[tokio::test]
async fn the_check_run_on_a_deletion_says_merging_revokes_the_key_and_turns_green_once_an_owner_approves()
 {
    let app = world().await;
    let (_, user, key, _) = issued(&app).await;
    let revoking = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&path(&user))]);
    app.pr_action(revoking, "opened").await;

    let run = app.head_check(revoking);
    assert_eq!(run.status, "in_progress", "no owner approved yet");
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains(&format!("Merging revokes this request's live key: `{key}`")),
        "{summary}"
    );
    assert!(
        summary.contains("Still needed") && summary.contains("@acme/security"),
        "{summary}"
    );

    app.submit_review(revoking, "dave", Approve).await;
    let run = app.head_check(revoking);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let title = run.title.clone().unwrap_or_default();
    assert!(title.contains("merging now revokes"), "{title}");
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains(&key) && summary.contains("@dave"),
        "{summary}"
    );
    assert!(!summary.contains("Still needed"), "{summary}");
    // The check run only says so: the key lives until the merge.
    assert_eq!(app.aws.access_keys(&user).await, [key]);
}

#[tokio::test]
async fn a_deletion_without_an_owner_approval_revokes_nothing_and_says_why() {
    let app = world().await;
    let (_, user, key, _) = issued(&app).await;
    let revoking = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&path(&user))]);
    app.gh.review(revoking, "mallory", Approve);
    app.merge(revoking).await;

    assert_eq!(app.aws.access_keys(&user).await, [key]);
    let comment = app.comment(revoking);
    assert!(
        comment.contains("refused") && comment.contains("@acme/security"),
        "{comment}"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["refused"]
    );
}

#[tokio::test]
async fn a_deletion_beside_a_new_request_revokes_while_the_new_one_issues() {
    let app = world().await;
    let (_, user, key, _) = issued(&app).await;
    let other = app.aws.iam_user("svc").await;
    let replacing = app.gh.open_pr_with_changes(
        "bob",
        &[
            Change::Delete(&path(&user)),
            Change::Write(
                &path(&other),
                &request(&other, "Nightly backups copy to S3"),
            ),
        ],
    );
    // dave is an owner of both paths: both halves are approved.
    app.gh.review(replacing, "dave", Approve);
    app.merge(replacing).await;

    assert!(app.aws.access_keys(&user).await.is_empty(), "revoked");
    app.expect_issued(&other).await;
    let comment = app.comment(replacing);
    assert!(
        comment.contains("revoked") && comment.contains(&key),
        "{comment}"
    );
}

#[tokio::test]
async fn a_pull_request_merged_before_keygate_was_installed_never_issues() {
    let app = world().await;
    // A repository with history: everything on GitHub happened a day before the ledger.
    app.gh.set_clock_offset(-86_400);
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;

    assert!(app.aws.access_keys(&user).await.is_empty());
    let comment = app.comment(pr);
    assert!(
        comment.contains("watermark") && comment.contains("refused"),
        "{comment}"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["refused"]
    );
}

#[tokio::test]
async fn reconcile_since_moves_the_watermark_back() {
    let app = world_with("[lifecycle]\nreconcile_since = \"2020-01-01T00:00:00Z\"\n").await;
    app.gh.set_clock_offset(-86_400);
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
}

#[tokio::test]
async fn one_secret_that_cannot_be_read_does_not_stop_the_sweep_for_every_other_key() {
    let mut app = world().await;
    let (first_pr, first_user) = open_request(&app, "bob").await;
    app.gh.review(first_pr, "carol", Approve);
    app.merge(first_pr).await;
    let (first_key, first_secret) = app
        .aws
        .one_key_held_by_its_secret(&first_user, "issued")
        .await;
    let (second_pr, second_user) = open_request(&app, "bob").await;
    app.gh.review(second_pr, "carol", Approve);
    app.merge(second_pr).await;
    let (second_key, second_secret) = app
        .aws
        .one_key_held_by_its_secret(&second_user, "issued")
        .await;
    expire_in(&app, &first_secret, -time::Duration::hours(1)).await;
    expire_in(&app, &second_secret, -time::Duration::hours(1)).await;
    app.aws.notices().await;
    app.shutdown().await;

    // The first key's secret is described first (oldest first), and AWS refuses it.
    app.aws
        .proxy
        .fail("DescribeSecret", 400, "AccessDeniedException", 1);
    let lines = run_sweep(
        &app.settings(),
        aws(&app).await,
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    let failed: Vec<_> = lines
        .iter()
        .filter(|l| matches!(l.result, Some(Err(_))))
        .map(|l| l.access_key_id.clone())
        .collect();
    assert_eq!(
        failed,
        std::slice::from_ref(&first_key),
        "reported: {lines:?}"
    );
    assert_eq!(
        app.aws.active(&second_user, &second_key).await,
        Some(false),
        "the pass went on with the other key"
    );
    assert_eq!(app.aws.active(&first_user, &first_key).await, Some(true));

    // The next pass, AWS answering again, catches up with the first key.
    let lines = run_sweep(
        &app.settings(),
        aws(&app).await,
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    assert!(
        lines.iter().all(|l| matches!(l.result, Some(Ok(())))),
        "{lines:?}"
    );
    assert_eq!(app.aws.active(&first_user, &first_key).await, Some(false));
}
