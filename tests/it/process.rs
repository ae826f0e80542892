//! The real binary: configuration refused at start, a crash mid-issuance, signals, and what
//! it writes to a log file.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::app::{AwsWorld, WEBHOOK_SECRET, post, settle, wait_healthy, write_config};
use crate::support::faults::Fault;
use crate::support::github::{GitHub, ReviewState::Approve};
use crate::support::payloads;
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

/// Everything keygate can log, the AWS SDK's and hyper's internals included.
const TRACE: &str = "trace,aws_smithy_runtime::client::orchestrator=trace,hyper=trace";

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `keygate` in `dir` with no environment but AWS at `aws_endpoint` (moto's credentials) and
/// the webhook secret.
pub(crate) fn keygate(dir: &std::path::Path, aws_endpoint: &str) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYGATE_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET);
    c
}

/// A directory holding the configuration for `gh` and `aws` and the App's private key.
pub(crate) fn configured(gh: &GitHub, aws: &AwsWorld) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = "[github]\nprivate_key_file = \"app.pem\"\n";
    write_config(dir.path(), gh, aws, key);
    dir
}

/// Runs `keygate serve` in `dir` with `config` as its configuration file; returns the exit
/// code and what it wrote to stderr.
fn serve_with(dir: &TempDir, config: &str) -> (Option<i32>, String) {
    std::fs::write(dir.path().join("keygate.toml"), config).unwrap();
    let out = keygate(dir.path(), "http://127.0.0.1:9")
        .arg("serve")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

#[tokio::test]
async fn a_bad_configuration_is_refused_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = serve_with(&dir, "[policy]\nmin_approvals = 0\n");
    assert_eq!(code, Some(2));
    let named = err.contains("policy.min_approvals") && err.contains("keygate.toml");
    assert!(named, "{err}");

    let (code, err) = serve_with(&dir, "[github]\nrepository = \"acme/r\"\n");
    assert_eq!(code, Some(2));
    let named = err.contains("github.app_id") && err.contains("aws.sns_topic_arn");
    assert!(named, "{err}");
    assert!(
        !err.contains(WEBHOOK_SECRET),
        "a secret in an error message"
    );
}

/// Waits (20 s at most) until `done` holds; `what` says what never happened.
pub(crate) async fn eventually(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `keygate serve` running as its own process; killed if a test ends before it stops.
pub(crate) struct Serving {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Serving {
    /// Starts `keygate serve` with `args` and `env` in `dir`, everything it prints going to
    /// the file `log`; it answers `/healthz` when this returns.
    pub(crate) async fn start(
        dir: &TempDir,
        aws: &AwsWorld,
        log: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Serving {
        Serving::start_at(free_port(), dir, &aws.proxy.url, log, args, env).await
    }

    /// [`Serving::start`] on `port`: a restart after a crash takes the address back.
    pub(crate) async fn start_at(
        port: u16,
        dir: &TempDir,
        aws_endpoint: &str,
        log: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Serving {
        let log = std::fs::File::create(dir.path().join(log)).unwrap();
        let child = keygate(dir.path(), aws_endpoint)
            .env("KEYGATE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .arg("serve")
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let serving = Serving {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_healthy(&reqwest::Client::new(), &serving.url).await;
        serving
    }

    /// Starts `keygate serve` logging everything it will log, as JSON, to the file `log`.
    async fn traced(dir: &TempDir, aws: &AwsWorld, log: &str) -> Serving {
        let env = [("KEYGATE_LOG", TRACE)];
        Serving::start(dir, aws, log, &["--log-format", "json"], &env).await
    }

    /// Sends SIGTERM and waits (20 s at most) for the process to exit.
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let term = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(term.unwrap().success());
        let mut status = None;
        let stopped = || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        };
        eventually(stopped, "keygate did not stop after SIGTERM").await;
        status.expect("stopped")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_crash_between_creating_the_key_and_storing_it_leaves_one_key_and_one_secret() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = configured(&gh, &aws);
    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);

    // The first CreateSecret never answers; keygate is killed while it waits. keygate runs
    // (its ledger exists) before the merge: a merge older than the ledger never issues.
    aws.proxy.inject("CreateSecret", Fault::Hang, 1);
    let mut first = Serving::traced(&dir, &aws, "first.log").await;
    let http = reqwest::Client::new();
    // Catch-up at start refreshes the open pull request (its `requested` notice) as queued
    // work: done before the merge, so the merge alone decides what follows.
    settle(&http, &first.url).await;
    gh.merge(pr);
    let merged = payloads::pull_request_event(&gh, pr, "closed");
    let d = payloads::delivery("pull_request", &merged, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &first.url, &d).await, 202);
    let tried = || aws.proxy.count("CreateSecret") > 0;
    eventually(tried, "keygate never tried to store the secret").await;
    let why = "the key exists, its secret does not";
    assert_eq!(aws.access_keys(&user).await.len(), 1, "{why}");
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let second = Serving::traced(&dir, &aws, "second.log").await;
    settle(&http, &second.url).await;
    let why = "the orphaned key was deleted and one new key issued";
    let (_, secret_name) = aws.one_key_held_by_its_secret(&user, why).await;
    aws.expect_notices(&["requested", "issued"]).await;
    assert_logs_never_hold_the_secret_key(&dir, &aws, &secret_name).await;
}

/// Never leak: not even trace-level logs, SDK internals included, hold the secret key kept
/// in `secret_name`.
async fn assert_logs_never_hold_the_secret_key(dir: &TempDir, aws: &AwsWorld, secret_name: &str) {
    let value = aws.secret(secret_name).await.unwrap();
    let secret_key = value["SecretAccessKey"].as_str().unwrap().to_string();
    let real_looking = secret_key.len() >= 20;
    assert!(real_looking, "moto returned a real-looking secret key");
    for log in ["first.log", "second.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        let traced = text.contains("access key created");
        assert!(traced, "{log} was written at trace level");
        let leaked = text.contains(&secret_key);
        assert!(!leaked, "{log} contains the secret access key");
    }
}

#[tokio::test]
async fn sigterm_stops_serving_and_exits_cleanly() {
    let aws = AwsWorld::new().await;
    let dir = configured(&GitHub::start().await, &aws);
    let mut serving = Serving::traced(&dir, &aws, "serve.log").await;

    let status = serving.terminate().await;
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn a_log_written_to_a_file_holds_no_colour_codes() {
    let aws = AwsWorld::new().await;
    let dir = configured(&GitHub::start().await, &aws);
    let mut serving = Serving::start(&dir, &aws, "serve.log", &[], &[]).await;

    serving.terminate().await;
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("keygate is serving"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
}

#[tokio::test]
async fn a_second_serve_on_the_same_ledger_is_refused_naming_the_holder() {
    let aws = AwsWorld::new().await;
    let dir = configured(&GitHub::start().await, &aws);
    let first = Serving::traced(&dir, &aws, "first.log").await;

    let listen = format!("127.0.0.1:{}", free_port());
    let out = keygate(dir.path(), &aws.proxy.url)
        .env("KEYGATE_SERVER_LISTEN", listen)
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("in use by another keygate")
            && err.contains(&format!("pid {}", first.child.id())),
        "names the holder: {err}"
    );
    // The first one still serves.
    wait_healthy(&reqwest::Client::new(), &first.url).await;
}

#[tokio::test]
async fn init_creates_the_dynamodb_ledger_that_serve_issues_on_and_revoke_revokes_on() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    let table = crate::support::app::unique("ledger");
    write_config(
        dir.path(),
        &gh,
        &aws,
        &format!(
            "[github]\nprivate_key_file = \"app.pem\"\n[store]\nbackend = \"dynamodb\"\ntable = \"{table}\"\n"
        ),
    );
    let run = |args: &[&str]| {
        let mut c = keygate(dir.path(), &aws.proxy.url);
        c.env(
            "KEYGATE_SERVER_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .args(args);
        run_to_end(c, dir.path(), args.join(" "))
    };

    // serve never creates the table: it names the missing one and what to run.
    let (code, _, err) = run(&["serve"]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("`{table}`")) && err.contains("keygate init"),
        "{err}"
    );
    let (code, out, err) = run(&["init"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("created DynamoDB table `{table}`")),
        "{out}"
    );
    // Protected as the template protects its table: read back from DynamoDB itself.
    let dynamo = aws_sdk_dynamodb::Client::new(
        &crate::support::moto::sdk_config(&crate::support::moto::moto().url).await,
    );
    let described = dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.table().unwrap().deletion_protection_enabled(),
        Some(true),
        "deletion protection"
    );
    let backups = dynamo
        .describe_continuous_backups()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status()),
        Some(&aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled),
        "point-in-time recovery"
    );
    let (code, out, err) = run(&["init"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("exists; left as it is"), "{out}");

    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);
    let http = reqwest::Client::new();
    // Serving first: the ledger's watermark is when serve first opened it, and a merge
    // older than that never issues.
    let serving = Serving::start(&dir, &aws, "serve.log", &[], &[]).await;
    settle(&http, &serving.url).await;
    gh.merge(pr);
    let d = payloads::delivery(
        "pull_request",
        &payloads::pull_request_event(&gh, pr, "closed"),
        WEBHOOK_SECRET.as_bytes(),
    );
    assert_eq!(
        crate::support::app::post(&http, &serving.url, &d).await,
        202
    );
    assert_eq!(
        crate::support::app::post(&http, &serving.url, &d).await,
        200,
        "the same delivery ID again is recorded once"
    );
    settle(&http, &serving.url).await;
    aws.one_key_held_by_its_secret(&user, "issued once on the DynamoDB ledger")
        .await;
    let events: Vec<String> = aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["requested", "issued"]);
    assert!(
        !dir.path().join("ledger.db").exists(),
        "no SQLite file on the DynamoDB backend"
    );

    // The key's life is on the DynamoDB ledger too: an operator revokes it at once.
    drop(serving);
    let keys = aws.access_keys(&user).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let revoke = [
        "revoke",
        "--key",
        &keys[0],
        "--reason",
        "pasted in a public gist",
    ];
    let (code, out, err) = run(&revoke).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("deactivated, deleted"), "{out}");
    assert!(
        aws.access_keys(&user).await.is_empty(),
        "deactivated and deleted"
    );
    let events: Vec<String> = aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["revoked"]);
    let (code, out, err) = run(&revoke).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("already revoked"),
        "the ledger remembers: {out}"
    );
}

/// Runs `c` to its end and returns its exit code, stdout and stderr. Waits without blocking
/// the test's runtime (the AWS proxy serves on it), and never for more than 30 s: a command
/// that kept running would hang the test.
pub(crate) async fn run_to_end(
    mut c: Command,
    dir: &std::path::Path,
    label: String,
) -> (Option<i32>, String, String) {
    let (out, err) = (dir.join("run.out"), dir.join("run.err"));
    let mut child = c
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&err).unwrap_or_default();
            panic!("`keygate {label}` did not exit within 30 s:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (
        status.code(),
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(err).unwrap(),
    )
}
