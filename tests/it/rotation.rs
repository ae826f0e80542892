//! Rotation in place (DESIGN §10): a request with `rotate_every_days` gets a new key written
//! as a new version of the same secret, so a consumer that reads the secret by name gets the
//! new key each time with nothing to change; the replaced key works through the overlap,
//! then is retired and deleted while the secret lives on.

use aws_sdk_secretsmanager::types::Tag;
use keygate::cli::keys::{run_rotate, run_sweep};
use keygate::ids::AccessKeyId;
use keygate::life::Step;
use keygate::workflow::rotate::Rotated;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::app::TestApp;
use crate::support::github::ReviewState::Approve;
use crate::support::moto::sdk_config;
use crate::support::world::world_with;

/// A request that rotates every ten days.
fn rotating(user: &str) -> String {
    format!(
        "iam_user = \"{user}\"\nreason = \"The nightly export reads this key by name\"\n\
         expires_in_days = 30\nrotate_every_days = 10\n"
    )
}

async fn aws(app: &TestApp) -> keygate::aws::Aws {
    keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await)
}

/// One `keygate sweep` now, on the stopped app's ledger: the steps it took, each done.
async fn sweep(app: &mut TestApp) -> Vec<(Step, String)> {
    app.shutdown().await;
    let lines = run_sweep(
        &app.settings(),
        aws(app).await,
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    for l in &lines {
        assert!(matches!(l.result, Some(Ok(()))), "{l:?}");
    }
    lines
        .into_iter()
        .filter_map(|l| Some((l.step?, l.access_key_id.to_string())))
        .collect()
}

/// What a consumer reading the secret by name gets: the access key ID at `stage`.
async fn read_by_name(app: &TestApp, secret: &str, stage: &str) -> String {
    let out = app
        .aws
        .secrets
        .get_secret_value()
        .secret_id(secret)
        .version_stage(stage)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
    v["AccessKeyId"].as_str().unwrap().to_string()
}

/// Brings the next rotation forward to now, as an operator may with the secret's tag.
async fn rotate_now_by_tag(app: &TestApp, secret: &str) {
    // A tag counts only when it is later than the current key's creation (to the second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let tag = Tag::builder()
        .key("keygate:rotates-at")
        .value(now.format(&Rfc3339).unwrap())
        .build();
    let tagged = app.aws.secrets.tag_resource().secret_id(secret).tags(tag);
    tagged.send().await.unwrap();
}

async fn tag(app: &TestApp, secret: &str, key: &str) -> Option<String> {
    let d = app.aws.secrets.describe_secret().secret_id(secret);
    let d = d.send().await.unwrap();
    d.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_string))
}

#[tokio::test]
async fn a_key_rotated_twice_is_read_by_the_same_secret_name_each_time() {
    let config = "[lifecycle]\nrotation_overlap_hours = 0\ndelete_after_days = 0\n";
    let mut app = world_with(config).await;
    let (pr, user) = app.request_pr_with("bob", rotating, &[]).await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (first, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    assert_eq!(app.notice_events().await, ["issued"]);
    assert_eq!(read_by_name(&app, &secret, "AWSCURRENT").await, first);
    let scheduled = tag(&app, &secret, "keygate:rotates-at").await.unwrap();
    assert!(
        scheduled.as_str() > OffsetDateTime::now_utc().format(&Rfc3339).unwrap().as_str(),
        "the next rotation is ten days out: {scheduled}"
    );

    // The schedule, brought forward by the tag: a new key in the same secret.
    rotate_now_by_tag(&app, &secret).await;
    assert_eq!(sweep(&mut app).await, [(Step::Rotate, first.clone())]);
    let second = read_by_name(&app, &secret, "AWSCURRENT").await;
    assert_ne!(second, first);
    assert_eq!(read_by_name(&app, &secret, "AWSPREVIOUS").await, first);
    let mut keys = app.aws.access_keys(&user).await;
    keys.sort();
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(keys, both, "both work through the overlap");
    assert_eq!(
        app.aws.secrets_named(&format!("{user}/")).await,
        [secret.as_str()],
        "still one secret, under the same name"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["rotated"]
    );
    assert!(
        notices[0].message.contains(&second),
        "{}",
        notices[0].message
    );
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(
        comment.contains("was rotated") && comment.contains(&second) && comment.contains(&first),
        "{comment}"
    );
    assert!(!comment.contains("SecretAccessKey"), "{comment}");
    assert_eq!(
        tag(&app, &secret, "keygate:access-key-id").await.as_deref(),
        Some(second.as_str())
    );

    // The overlap (0 hours here) is over: the first key is retired and deleted, the secret
    // stays; nothing is announced for that.
    assert_eq!(
        sweep(&mut app).await,
        [(Step::Retire, first.clone()), (Step::Delete, first.clone())]
    );
    assert_eq!(app.aws.access_keys(&user).await, [second.as_str()]);
    assert_eq!(read_by_name(&app, &secret, "AWSCURRENT").await, second);
    assert!(app.aws.notices().await.is_empty());

    // An operator rotates again now: the consumer reads the third key by the same name.
    let done = run_rotate(
        &app.settings(),
        aws(&app).await,
        &AccessKeyId::new(&second),
        "suspected exposure",
    )
    .await
    .unwrap();
    let Rotated::Done { new_key: third } = done else {
        panic!("{done:?}")
    };
    assert_eq!(third, read_by_name(&app, &secret, "AWSCURRENT").await);
    assert_eq!(read_by_name(&app, &secret, "AWSPREVIOUS").await, second);
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["rotated"]
    );
    assert!(
        notices[0].message.contains("suspected exposure"),
        "{}",
        notices[0].message
    );
}

#[tokio::test]
async fn a_rotation_without_a_free_key_slot_says_so_once_and_goes_through_when_one_frees() {
    let mut app = world_with("").await;
    let (pr, user) = app.request_pr_with("bob", rotating, &[]).await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (first, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    rotate_now_by_tag(&app, &secret).await;
    sweep(&mut app).await;
    let second = read_by_name(&app, &secret, "AWSCURRENT").await;
    app.aws.notices().await;

    // The first key works for 24 hours more: the user holds two keys, the most IAM allows.
    rotate_now_by_tag(&app, &secret).await;
    let blocked = || async {
        let lines = run_sweep(
            &app.settings(),
            aws(&app).await,
            OffsetDateTime::now_utc(),
            false,
        )
        .await
        .unwrap();
        let line = lines
            .iter()
            .find(|l| l.step == Some(Step::Rotate))
            .unwrap()
            .clone();
        assert_eq!(line.access_key_id, second);
        line.result.unwrap().unwrap_err()
    };
    let why = blocked().await;
    assert!(why.contains("already has 2 access keys"), "{why}");
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["failed"]
    );
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(
        comment.contains("cannot rotate it yet") && comment.contains("2 access keys"),
        "{comment}"
    );
    let comments = app.gh.comments(pr).len();
    blocked().await;
    assert!(app.aws.notices().await.is_empty(), "said once");
    assert_eq!(app.gh.comments(pr).len(), comments);
    assert_eq!(read_by_name(&app, &secret, "AWSCURRENT").await, second);

    // Someone deletes the first key early: the next pass goes through.
    app.aws
        .iam
        .delete_access_key()
        .user_name(&user)
        .access_key_id(&first)
        .send()
        .await
        .unwrap();
    let steps = sweep(&mut app).await;
    assert!(steps.contains(&(Step::Rotate, second.clone())), "{steps:?}");
    let third = read_by_name(&app, &secret, "AWSCURRENT").await;
    assert_ne!(third, second);
    assert_eq!(read_by_name(&app, &secret, "AWSPREVIOUS").await, second);
    let events: Vec<String> = app
        .aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["rotated"]);
}

#[tokio::test]
async fn audit_walks_back_from_a_replaced_key_to_the_key_its_secret_holds_and_its_leak() {
    if crate::support::app::on_shared_backend() {
        // `keygate audit` reads a SQLite ledger file; with DynamoDB it rebuilds each key from
        // its secret's tags, which name the key the secret holds now (tested with SQLite).
        return;
    }
    let mut app = world_with("").await;
    let (pr, user) = app.request_pr_with("bob", rotating, &[]).await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (first, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    rotate_now_by_tag(&app, &secret).await;
    sweep(&mut app).await;
    let second = read_by_name(&app, &secret, "AWSCURRENT").await;
    // The new key leaks: the audit shows where, on the request's row.
    app.restart().await;
    let elsewhere = app.gh.for_repo("acme/app");
    let alert = elsewhere.leak("aws_access_key_id", &second, "deploy.sh", 2);
    let event = elsewhere.secret_alert_event(alert, "created");
    assert_eq!(app.deliver("secret_scanning_alert", &event).await, 202);
    app.settle().await;
    app.shutdown().await;

    let clone = crate::audit::clone_with(&[(crate::support::world::path(&user), rotating(&user))]);
    let filter = keygate::audit::Filter {
        key: Some(AccessKeyId::new(&first)),
        ..Default::default()
    };
    let rows = keygate::cli::audit::run_audit(
        &app.settings(),
        &aws(&app).await,
        clone.path(),
        &filter,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(r.access_key_id, Some(AccessKeyId::new(&second)));
    assert_eq!(r.replaced_keys, [first.as_str()]);
    assert_eq!(
        r.state,
        keygate::audit::State::Inactive,
        "deactivated for the leak"
    );
    let leaked = r.leaked.as_deref().unwrap();
    assert!(
        leaked.contains(&second) && leaked.contains("acme/app") && leaked.contains("deploy.sh"),
        "{leaked}"
    );
    println!("{}", keygate::audit::table(&rows));
}

#[tokio::test]
async fn a_rotation_waiting_for_a_slot_is_dropped_when_its_key_is_revoked_meanwhile() {
    let mut app = world_with("").await;
    let (pr, user) = app.request_pr_with("bob", rotating, &[]).await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (first, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    // Someone else's key takes the second slot: the rotation waits.
    let made = app.aws.iam.create_access_key().user_name(&user);
    let theirs = made.send().await.unwrap().access_key.unwrap().access_key_id;
    rotate_now_by_tag(&app, &secret).await;
    app.shutdown().await;
    let lines = run_sweep(
        &app.settings(),
        aws(&app).await,
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.step == Some(Step::Rotate) && matches!(l.result, Some(Err(_)))),
        "{lines:?}"
    );

    // The key is revoked in an incident; the slot frees; nothing rotates any more.
    keygate::cli::keys::run_revoke(
        &app.settings(),
        aws(&app).await,
        &AccessKeyId::new(&first),
        "incident",
    )
    .await
    .unwrap();
    let done = sweep(&mut app).await;
    assert!(!done.iter().any(|(s, _)| *s == Step::Rotate), "{done:?}");
    assert_eq!(
        app.aws.access_keys(&user).await,
        [theirs.as_str()],
        "no new key for a revoked request"
    );
    let again = sweep(&mut app).await;
    assert!(
        again.is_empty(),
        "the dropped rotation is not tried again: {again:?}"
    );
}
