//! `keygate doctor` (DESIGN §8), the real binary against the GitHub stand-in and moto: a
//! healthy setup passes, and each broken part fails and names its fix.

use serde_json::json;

use crate::support::app::{AwsWorld, WEBHOOK_SECRET, write_config};
use crate::support::github::GitHub;
use crate::support::moto::moto;
use crate::support::world::repository;

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

/// `keygate doctor` with the configuration for `gh` and `aws` plus `extra`; returns its
/// exit code and what it printed.
async fn doctor(gh: &GitHub, aws: &AwsWorld, extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    doctor_in(dir.path(), gh, aws, extra).await
}

async fn doctor_in(
    dir: &std::path::Path,
    gh: &GitHub,
    aws: &AwsWorld,
    extra: &str,
) -> (i32, String) {
    write_config(
        dir,
        gh,
        aws,
        &format!("[github]\nprivate_key_file = \"app.pem\"\n{extra}"),
    );
    keygate_in(dir, "doctor").await
}

/// `keygate <command>` in `dir` (configured there) against moto; its exit code and output.
async fn keygate_in(dir: &std::path::Path, command: &str) -> (i32, String) {
    let out = tokio::process::Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("AWS_ENDPOINT_URL", &moto().url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYGATE_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .arg(command)
        .output()
        .await
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.stderr.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code().unwrap_or(-1), text)
}

/// The line of check `name`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| {
            l.split_once("] ")
                .is_some_and(|(_, rest)| rest.starts_with(&format!("{name}:")))
        })
        .unwrap_or_else(|| panic!("no `{name}` line in\n{text}"))
}

#[tokio::test]
async fn a_healthy_setup_passes_every_check_and_warns_it_cannot_see_the_required_check() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 0, "{text}");
    for name in [
        "configuration",
        "github app",
        "github installation",
        "codeowners",
        "aws identity",
        "sns topic",
        "work queue",
        "dead-letter queue",
    ] {
        assert!(line(&text, name).starts_with("[ok  ]"), "{text}");
    }
    assert!(
        line(&text, "dead-letter queue").contains("not used"),
        "{text}"
    );
    let required = line(&text, "required check");
    assert!(
        required.starts_with("[warn]") && required.contains("fix:"),
        "{text}"
    );
    assert!(
        line(&text, "ledger").contains("keygate serve creates it"),
        "{text}"
    );
    let report = text.split("--- stderr ---").next().unwrap_or_default();
    assert_eq!(report.lines().count(), 10, "one line per check:\n{text}");
}

#[tokio::test]
async fn the_required_check_is_confirmed_when_the_app_may_read_branch_protection() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let mut permissions = json!({
        "contents": "read", "pull_requests": "write", "checks": "write",
        "members": "read", "metadata": "read", "administration": "read",
    });
    gh.set_installation_permissions(permissions.clone());
    gh.require_checks(&["build"]);
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 1, "{text}");
    assert!(
        line(&text, "required check").contains("add `keygate`"),
        "{text}"
    );

    gh.require_checks(&["build", "keygate"]);
    permissions["issues"] = json!("write");
    gh.set_installation_permissions(permissions);
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 0, "{text}");
    assert!(
        line(&text, "required check").starts_with("[ok  ]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_wrong_app_id_fails_and_points_at_github_app_id() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let (code, text) = doctor(&gh, &aws, "app_id = 4242\n").await;
    assert_eq!(code, 1, "{text}");
    let app = line(&text, "github app");
    assert!(
        app.starts_with("[FAIL]") && app.contains("github.app_id (4242)"),
        "{text}"
    );
    assert!(
        line(&text, "github installation").starts_with("[skip]"),
        "{text}"
    );
}

#[tokio::test]
async fn an_app_not_installed_on_the_repository_fails_and_says_to_install_it() {
    let gh = repository().await.for_repo("elsewhere/requests");
    let aws = AwsWorld::new().await;
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 1, "{text}");
    let installed = line(&text, "github installation");
    assert!(installed.starts_with("[FAIL]"), "{text}");
    assert!(
        installed.contains("install the App on elsewhere/requests"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_permission_fails_naming_it_and_how_to_grant_it() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    gh.set_installation_permissions(json!({
        "contents": "read", "pull_requests": "read", "checks": "write", "metadata": "read",
    }));
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 1, "{text}");
    let installed = line(&text, "github installation");
    assert!(installed.starts_with("[FAIL]"), "{text}");
    assert!(
        installed.contains("pull_requests: write (has read)"),
        "{text}"
    );
    assert!(installed.contains("members: read (has none)"), "{text}");
    assert!(
        installed.contains("grant these in the App's settings"),
        "{text}"
    );
}

#[tokio::test]
async fn an_installation_without_merge_queues_or_secret_scanning_warns_what_is_lost() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    gh.set_installation_permissions(json!({
        "contents": "read", "pull_requests": "write", "checks": "write",
        "members": "read", "metadata": "read",
    }));
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 0, "keygate works without them:\n{text}");
    let installed = line(&text, "github installation");
    assert!(installed.starts_with("[warn]"), "{text}");
    assert!(
        installed.contains(
            "merge_queues: read (has none) for the `keygate` check on a merge queue's groups"
        ) && installed.contains(
            "secret_scanning_alerts: read (has none) for GitHub's secret scanning alerts"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_codeowners_github_rejects_fails_naming_the_line() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    gh.commit_to_main(&[(".github/CODEOWNERS", "# owners\n/requests/ security-team\n")]);
    let (code, text) = doctor(&gh, &aws, "").await;
    assert_eq!(code, 1, "{text}");
    let owners = line(&text, "codeowners");
    assert!(owners.starts_with("[FAIL]"), "{text}");
    assert!(
        owners.contains(".github/CODEOWNERS:2: Invalid owner"),
        "{text}"
    );
    assert!(owners.contains("correct those lines"), "{text}");
}

#[tokio::test]
async fn a_missing_sns_topic_fails_and_says_to_create_it() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let gone = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let (code, text) = doctor(&gh, &aws, &format!("[aws]\nsns_topic_arn = \"{gone}\"\n")).await;
    assert_eq!(code, 1, "{text}");
    let topic = line(&text, "sns topic");
    assert!(
        topic.starts_with("[FAIL]") && topic.contains(gone),
        "{text}"
    );
    assert!(topic.contains("create it"), "{text}");
}

#[tokio::test]
async fn a_ledger_path_keygate_cannot_write_fails_and_names_store_path() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = tempfile::tempdir().unwrap();
    // A file where the ledger's folder should be: no permission bits to trust under root.
    std::fs::write(dir.path().join("blocker"), "not a folder").unwrap();
    let extra = "[store]\npath = \"blocker/ledger.db\"\n";
    let (code, text) = doctor_in(dir.path(), &gh, &aws, extra).await;
    assert_eq!(code, 1, "{text}");
    let ledger = line(&text, "ledger");
    assert!(
        ledger.starts_with("[FAIL]") && ledger.contains("store.path"),
        "{text}"
    );
}

#[tokio::test]
async fn a_ledger_held_by_a_running_keygate_passes_with_its_holder_named() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = tempfile::tempdir().unwrap();
    let _held = keygate::ledger::Ledger::open_sqlite(&dir.path().join("ledger.db")).unwrap();
    let (code, text) = doctor_in(dir.path(), &gh, &aws, "").await;
    assert_eq!(code, 0, "{text}");
    let ledger = line(&text, "ledger");
    assert!(
        ledger.starts_with("[note]") && ledger.contains("in use by keygate serve, pid"),
        "{text}"
    );
}

#[tokio::test]
async fn a_configuration_that_does_not_load_is_a_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keygate.toml"),
        "[policy]\nmin_approvals = 0\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .arg("doctor")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let config = line(&text, "configuration");
    assert!(
        config.starts_with("[FAIL]") && config.contains("policy.min_approvals"),
        "{text}"
    );
}

#[tokio::test]
async fn on_dynamodb_and_sqs_doctor_sends_to_init_then_to_the_dead_letters() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = tempfile::tempdir().unwrap();
    let name = crate::support::app::unique("kg");
    let queue = format!("{}/123456789012/{name}-work.fifo", moto().url);
    let extra = format!(
        "[store]\nbackend = \"dynamodb\"\ntable = \"{name}\"\n[queue]\nbackend = \"sqs\"\nurl = \"{queue}\"\n"
    );
    let (code, text) = doctor_in(dir.path(), &gh, &aws, &extra).await;
    assert_eq!(code, 1, "{text}");
    for name in ["ledger", "work queue"] {
        let l = line(&text, name);
        assert!(
            l.starts_with("[FAIL]") && l.contains("keygate init"),
            "{text}"
        );
    }
    assert!(
        line(&text, "dead-letter queue").starts_with("[skip]"),
        "{text}"
    );

    let (code, out) = keygate_in(dir.path(), "init").await;
    assert_eq!(code, 0, "{out}");
    let (code, text) = doctor_in(dir.path(), &gh, &aws, &extra).await;
    assert_eq!(code, 0, "{text}");
    assert!(line(&text, "ledger").starts_with("[ok  ]"), "{text}");
    assert!(line(&text, "work queue").contains(&queue), "{text}");
    assert!(
        line(&text, "dead-letter queue").contains("is empty"),
        "{text}"
    );

    // Work that failed for good lands in the dead-letter queue: doctor says so, and how to act.
    let dead = queue.replace("-work.fifo", "-dead.fifo");
    aws.sqs
        .send_message()
        .queue_url(&dead)
        .message_body(r#"{"message":"{}","error":"gave up"}"#)
        .message_group_id("g")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap();
    let (code, text) = doctor_in(dir.path(), &gh, &aws, &extra).await;
    assert_eq!(code, 1, "{text}");
    let l = line(&text, "dead-letter queue");
    assert!(
        l.starts_with("[FAIL]") && l.contains("1 message") && l.contains("redeliver"),
        "{text}"
    );
}
