//! Crash safety of rotation in place (DESIGN §10), like the sweep's: the real `keygate serve`
//! rotates a key whose `keygate:rotates-at` tag says now, one AWS call of the rotation never
//! answers (or is done by AWS and its answer never arrives), keygate is killed while it
//! waits, and a restart ends as one uninterrupted rotation: one new key, the secret's
//! current version holding it and its previous version the old key, the old key active
//! until its overlap ends, one `rotated` notice and one comment, the rotation done.

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use keygate::ids::AccessKeyId;
use keygate::ledger::{Ledger, RotationState, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::process::{Serving, eventually};
use crate::support::app::{AwsWorld, WEBHOOK_SECRET, post, settle, write_config};
use crate::support::faults::Fault;
use crate::support::github::ReviewState::Approve;
use crate::support::payloads;
use crate::support::world::{path, repository};

fn rotating(user: &str) -> String {
    format!(
        "iam_user = \"{user}\"\nreason = \"The nightly export reads this key by name\"\n\
         expires_in_days = 30\nrotate_every_days = 10\n"
    )
}

async fn events(aws: &AwsWorld) -> Vec<String> {
    let notices = aws.notices().await;
    notices.iter().map(|n| n.event().to_string()).collect()
}

async fn current(aws: &AwsWorld, secret: &str, stage: &str) -> Option<String> {
    let get = aws.secrets.get_secret_value().secret_id(secret);
    let out = get.version_stage(stage).send().await.ok()?;
    let v: serde_json::Value = serde_json::from_str(out.secret_string()?).ok()?;
    v["AccessKeyId"].as_str().map(str::to_string)
}

async fn versions(aws: &AwsWorld, secret: &str) -> usize {
    let list = aws.secrets.list_secret_version_ids().secret_id(secret);
    list.send().await.unwrap().versions().len()
}

/// Issues a rotating key with `keygate serve` running, brings its rotation forward to now,
/// makes the rotation's next `operation` meet `fault`, kills keygate while that call waits,
/// restarts it, and asserts the end state of an uninterrupted rotation.
async fn killed_mid_rotation_ends_as_one_rotation(operation: &str, fault: Fault) {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = tempfile::tempdir().unwrap();
    let config = "[github]\nprivate_key_file = \"app.pem\"\n[lifecycle]\nsweep_interval_secs = 1\n";
    write_config(dir.path(), &gh, &aws, config);
    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &rotating(&user))]);
    gh.review(pr, "carol", Approve);
    let http = reqwest::Client::new();
    let mut first = Serving::start(&dir, &aws, "first.log", &[], &[]).await;
    settle(&http, &first.url).await;
    gh.merge(pr);
    let merged = payloads::pull_request_event(&gh, pr, "closed");
    let d = payloads::delivery("pull_request", &merged, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &first.url, &d).await, 202);
    settle(&http, &first.url).await;
    let (old, secret) = aws.one_key_held_by_its_secret(&user, "issued").await;
    assert_eq!(
        events(&aws).await.last().map(String::as_str),
        Some("issued")
    );
    let comments_at_issue = gh.comments(pr).len();

    // The next sweep (one a second) rotates; its `operation` meets the fault.
    let before = aws.proxy.count(operation);
    aws.proxy.inject(operation, fault, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let tag = Tag::builder()
        .key("keygate:rotates-at")
        .value(now.format(&Rfc3339).unwrap())
        .build();
    aws.secrets
        .tag_resource()
        .secret_id(&secret)
        .tags(tag)
        .send()
        .await
        .unwrap();
    let tried = || aws.proxy.count(operation) > before;
    eventually(tried, &format!("the rotation never called {operation}")).await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // The restart's first sweep (before it serves) finishes the rotation.
    let mut second = Serving::start(&dir, &aws, "second.log", &[], &[]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now_current = current(&aws, &secret, "AWSCURRENT").await;
        let told = gh.comments(pr).len() > comments_at_issue;
        if now_current.is_some_and(|k| k != old) && told {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restart never finished the rotation ({operation})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = second.terminate().await;
    assert!(status.success(), "exit status {status}");

    let new = current(&aws, &secret, "AWSCURRENT").await.unwrap();
    assert_eq!(
        current(&aws, &secret, "AWSPREVIOUS").await,
        Some(old.clone())
    );
    assert_eq!(versions(&aws, &secret).await, 2, "no stray version");
    let mut keys = aws.access_keys(&user).await;
    keys.sort();
    let mut expected = vec![old.clone(), new.clone()];
    expected.sort();
    assert_eq!(
        keys, expected,
        "one new key; the old one works through the overlap"
    );
    assert_eq!(events(&aws).await, ["rotated"], "one notice");
    let comments = gh.comments(pr);
    assert_eq!(comments.len(), comments_at_issue + 1, "{comments:#?}");
    assert!(comments.last().unwrap().contains(&new));

    let ledger = Ledger::open_sqlite(&dir.path().join("ledger.db")).unwrap();
    let rotations = ledger.all_rotations().await.unwrap();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].state, RotationState::Done);
    assert_eq!(rotations[0].new_access_key_id, Some(AccessKeyId::new(&new)));
    let replaced = ledger
        .key_life(AccessKeyId::new(&old))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.care.superseded_by, Some(AccessKeyId::new(&new)));
    let retires = replaced.care.retires_at.unwrap();
    let overlap = retires - rotations[0].rotated_at.unwrap();
    assert_eq!(overlap, time::Duration::hours(24), "retired on time");
    let successor = ledger
        .key_life(AccessKeyId::new(&new))
        .await
        .unwrap()
        .unwrap();
    assert!(successor.care.superseded_by.is_none() && !successor.progress.is_over());
}

#[tokio::test]
async fn a_kill_while_looking_for_a_free_key_slot_ends_as_one_rotation() {
    killed_mid_rotation_ends_as_one_rotation("ListAccessKeys", Fault::Hang).await;
}

#[tokio::test]
async fn a_kill_after_aws_made_the_new_key_but_before_keygate_heard_ends_as_one_rotation() {
    killed_mid_rotation_ends_as_one_rotation("CreateAccessKey", Fault::HangAfterForward).await;
}

#[tokio::test]
async fn a_kill_while_writing_the_new_version_ends_as_one_rotation() {
    killed_mid_rotation_ends_as_one_rotation("PutSecretValue", Fault::Hang).await;
}

#[tokio::test]
async fn a_kill_after_the_new_version_went_in_but_before_keygate_heard_ends_as_one_rotation() {
    killed_mid_rotation_ends_as_one_rotation("PutSecretValue", Fault::HangAfterForward).await;
}

#[tokio::test]
async fn a_kill_while_moving_the_secrets_tags_ends_as_one_rotation() {
    killed_mid_rotation_ends_as_one_rotation("TagResource", Fault::Hang).await;
}

#[tokio::test]
async fn a_kill_while_announcing_the_rotation_ends_as_one_rotation() {
    killed_mid_rotation_ends_as_one_rotation("Publish", Fault::Hang).await;
}
