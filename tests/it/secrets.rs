//! The App's secrets from Secrets Manager (DESIGN §11): `serve` and the other commands read
//! the private key and the webhook secret by ARN at start, with no file to fall back on.

use std::process::Stdio;

use crate::process::keygate;
use crate::support::app::{
    AwsWorld, WEBHOOK_SECRET, post, settle, unique, wait_healthy, write_config,
};
use crate::support::github::ReviewState::Approve;
use crate::support::payloads;
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn stored(aws: &AwsWorld, name: &str, value: &str) -> String {
    aws.secrets
        .create_secret()
        .name(unique(name))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// Kills the process when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_reads_the_apps_key_and_webhook_secret_from_secrets_manager_by_arn() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let key_arn = stored(&aws, "github/keygate-app-key", gh.private_key_pem).await;
    // Stored with a trailing newline, as `--secret-string file://…` stores a file.
    let hook_arn = stored(
        &aws,
        "github/keygate-webhook",
        &format!("{WEBHOOK_SECRET}\n"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &gh,
        &aws,
        &format!(
            "[github]\nprivate_key_secret_arn = \"{key_arn}\"\nwebhook_secret_arn = \"{hook_arn}\"\n"
        ),
    );
    std::fs::remove_file(dir.path().join("app.pem")).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let _serve = Killed(
        keygate(dir.path(), &aws.proxy.url)
            .env_remove("KEYGATE_GITHUB_WEBHOOK_SECRET")
            .env("KEYGATE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let (http, url) = (reqwest::Client::new(), format!("http://127.0.0.1:{port}"));
    wait_healthy(&http, &url).await;

    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);
    gh.merge(pr);
    let closed = payloads::pull_request_event(&gh, pr, "closed");
    let forged = payloads::delivery("pull_request", &closed, b"not-the-stored-secret");
    assert_eq!(
        post(&http, &url, &forged).await,
        401,
        "only the stored secret signs"
    );
    let signed = payloads::delivery("pull_request", &closed, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &url, &signed).await, 202);
    settle(&http, &url).await;
    // The App's token came from the key in Secrets Manager: the key is issued.
    aws.one_key_held_by_its_secret(&user, "issued with the App key from Secrets Manager")
        .await;
    let logged = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!logged.contains("BEGIN RSA PRIVATE KEY") && !logged.contains(WEBHOOK_SECRET));
}

#[tokio::test]
async fn doctor_names_a_secret_it_cannot_read_and_skips_the_rest() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github/nowhere-AbCdEf";
    write_config(
        dir.path(),
        &gh,
        &aws,
        &format!("[github]\nprivate_key_file = \"app.pem\"\nwebhook_secret_arn = \"{missing}\"\n"),
    );
    let mut doctor = keygate(dir.path(), &aws.proxy.url);
    doctor
        .env_remove("KEYGATE_GITHUB_WEBHOOK_SECRET")
        .arg("doctor");
    // Waited for without blocking: AWS's proxy runs on this test's runtime.
    let out = tokio::process::Command::from(doctor)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("[FAIL] configuration:")
            && first.contains(missing)
            && first.contains("github.webhook_secret_arn")
            && first.contains("ResourceNotFoundException"),
        "{stdout}"
    );
    assert!(stdout.contains("[skip] github app:"), "{stdout}");
}
