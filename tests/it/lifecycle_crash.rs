//! Crash safety of the key lifecycle (DESIGN §5), like the issuing crash test: the real
//! `keygate serve` sweeps an expired key, one AWS call of the sweep never answers, keygate is
//! killed while it waits, and a restart ends in the state an uninterrupted run ends in: the
//! key deactivated and deleted, its secret deleted, one `expired` notice and one comment, and
//! the key's life over in the ledger.

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use keygate::ids::AccessKeyId;
use keygate::ledger::{Ledger, Store};
use keygate::life::{Progress, Stage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::process::{Serving, eventually};
use crate::support::app::{AwsWorld, WEBHOOK_SECRET, post, settle, write_config};
use crate::support::faults::Fault;
use crate::support::github::ReviewState::Approve;
use crate::support::payloads;
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

/// The events of the notices published since the last look.
async fn events(aws: &AwsWorld) -> Vec<String> {
    let notices = aws.notices().await;
    notices.iter().map(|n| n.event().to_string()).collect()
}

/// The key's progress as the ledger in `dir` holds it; only while no keygate holds it.
async fn progress(dir: &tempfile::TempDir, key: &str) -> Progress {
    let ledger = Ledger::open_sqlite(&dir.path().join("ledger.db")).unwrap();
    let life = ledger.key_life(AccessKeyId::new(key)).await.unwrap();
    life.expect("the ledger knows the key it issued").progress
}

/// Writes the secret's expiry tag a minute ago: how an operator ends a key's life now.
async fn expire_now(aws: &AwsWorld, secret: &str) {
    let at = (OffsetDateTime::now_utc() - time::Duration::minutes(1))
        .replace_nanosecond(0)
        .unwrap();
    let tag = Tag::builder()
        .key("keygate:expires-at")
        .value(at.format(&Rfc3339).unwrap())
        .build();
    let tagged = aws.secrets.tag_resource().secret_id(secret).tags(tag);
    tagged.send().await.unwrap();
}

/// Whether the secret is deleted as `recovery_days` says: gone at once with 0, else
/// scheduled for deletion (still recoverable, no longer readable).
async fn secret_deleted(aws: &AwsWorld, user: &str, secret: &str, recovery_days: u32) -> bool {
    if recovery_days == 0 {
        return aws.secrets_named(&format!("{user}/")).await.is_empty();
    }
    let described = aws.secrets.describe_secret().secret_id(secret).send().await;
    described.is_ok_and(|d| d.deleted_date.is_some())
}

/// Issues a key with `keygate serve` running, expires it, makes the sweep's next
/// `operation` meet `fault`, kills keygate while that call waits, restarts it, and asserts
/// the end state of an uninterrupted run.
async fn killed_mid_sweep_ends_as_an_uninterrupted_run(
    operation: &str,
    fault: Fault,
    recovery_days: u32,
) {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[github]\nprivate_key_file = \"app.pem\"\n[lifecycle]\ndelete_after_days = 0\n\
         secret_recovery_days = {recovery_days}\nsweep_interval_secs = 1\n"
    );
    write_config(dir.path(), &gh, &aws, &config);
    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);

    // keygate runs (its ledger exists) before the merge: a merge older than the ledger
    // never issues.
    let http = reqwest::Client::new();
    let mut first = Serving::start(&dir, &aws, "first.log", &[], &[]).await;
    // Catch-up at start refreshes the open pull request (its `requested` notice) as queued
    // work: done before the merge, so the merge alone decides what follows.
    settle(&http, &first.url).await;
    gh.merge(pr);
    let merged = payloads::pull_request_event(&gh, pr, "closed");
    let d = payloads::delivery("pull_request", &merged, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &first.url, &d).await, 202);
    settle(&http, &first.url).await;
    let (key, secret) = aws.one_key_held_by_its_secret(&user, "issued").await;
    let told = events(&aws).await;
    assert_eq!(told.last().map(String::as_str), Some("issued"), "{told:?}");
    assert_eq!(
        told.iter().filter(|e| *e == "issued").count(),
        1,
        "{told:?}"
    );
    let comments_at_issue = gh.comments(pr).len();

    // The next sweep (one a second) finds the key expired; its `operation` never answers.
    let before = aws.proxy.count(operation);
    aws.proxy.inject(operation, fault, 1);
    expire_now(&aws, &secret).await;
    let tried = || aws.proxy.count(operation) > before;
    eventually(tried, &format!("the sweep never called {operation}")).await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let interrupted = progress(&dir, &key).await;
    assert!(
        interrupted.pending.is_some(),
        "the kill interrupted a step recorded as begun: {interrupted:?}"
    );

    // The restart's first sweep (before it serves) finishes what the kill interrupted.
    let mut second = Serving::start(&dir, &aws, "second.log", &[], &[]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(aws.access_keys(&user).await.is_empty()
        && secret_deleted(&aws, &user, &secret, recovery_days).await)
    {
        assert!(
            Instant::now() < deadline,
            "the restart never deleted the key and its secret ({operation})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Further sweeps have nothing left to do, and say nothing again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = second.terminate().await;
    assert!(status.success(), "exit status {status}");

    let ended = progress(&dir, &key).await;
    assert_eq!(
        (ended.stage, ended.pending),
        (Stage::Deleted, None),
        "the ledger's life of the key is over"
    );
    assert_eq!(events(&aws).await, ["expired"], "one notice, not repeated");
    let comments = gh.comments(pr);
    assert_eq!(comments.len(), comments_at_issue + 1, "{comments:#?}");
    let last = comments.last().unwrap();
    assert!(last.contains("expired") && last.contains(&key), "{last}");
}

#[tokio::test]
async fn a_kill_while_deactivating_an_expired_key_ends_deleted_with_one_expired_notice() {
    killed_mid_sweep_ends_as_an_uninterrupted_run("UpdateAccessKey", Fault::Hang, 0).await;
}

#[tokio::test]
async fn a_kill_while_announcing_the_expiry_ends_deleted_with_one_expired_notice() {
    killed_mid_sweep_ends_as_an_uninterrupted_run("Publish", Fault::Hang, 0).await;
}

#[tokio::test]
async fn a_kill_while_deleting_an_expired_key_ends_deleted_with_one_expired_notice() {
    killed_mid_sweep_ends_as_an_uninterrupted_run("DeleteAccessKey", Fault::Hang, 0).await;
}

#[tokio::test]
async fn a_kill_while_deleting_the_secret_ends_with_it_scheduled_for_deletion() {
    killed_mid_sweep_ends_as_an_uninterrupted_run("DeleteSecret", Fault::Hang, 7).await;
}

#[tokio::test]
async fn a_kill_after_aws_deleted_the_secret_but_before_keygate_heard_ends_the_same() {
    let fault = Fault::HangAfterForward;
    killed_mid_sweep_ends_as_an_uninterrupted_run("DeleteSecret", fault, 0).await;
}
