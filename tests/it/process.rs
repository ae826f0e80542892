//! The real binary: configuration refused at start, and a crash mid-issuance.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::app::{AwsWorld, WEBHOOK_SECRET, settle, wait_healthy, write_config};
use crate::support::faults::Fault;
use crate::support::github::{GitHub, ReviewState::Approve};
use crate::support::payloads;
use crate::support::world::{CODEOWNERS, path, request};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygate(dir: &std::path::Path, aws_endpoint: &str) -> Command {
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

#[tokio::test]
async fn a_bad_configuration_is_refused_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let serve_with = |config: &str| {
        std::fs::write(dir.path().join("keygate.toml"), config).unwrap();
        let out = keygate(dir.path(), "http://127.0.0.1:9")
            .arg("serve")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = serve_with("[policy]\nmin_approvals = 0\n");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("policy.min_approvals") && err.contains("keygate.toml"),
        "{err}"
    );

    let (code, err) = serve_with("[github]\nrepository = \"acme/r\"\n");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("github.app_id") && err.contains("aws.sns_topic_arn"),
        "{err}"
    );
    assert!(
        !err.contains(WEBHOOK_SECRET),
        "a secret in an error message"
    );
}

struct Serving {
    child: Child,
    url: String,
}

impl Serving {
    /// Starts `keygate serve` logging everything it will log (trace) to `log`.
    fn start(dir: &std::path::Path, aws: &AwsWorld, log: &str) -> Serving {
        let port = free_port();
        let log = std::fs::File::create(dir.join(log)).unwrap();
        let child = keygate(dir, &aws.proxy.url)
            .env("KEYGATE_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "KEYGATE_LOG",
                "trace,aws_smithy_runtime::client::orchestrator=trace,hyper=trace",
            )
            .args(["serve", "--log-format", "json"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Serving {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
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
    let gh = GitHub::start().await;
    gh.team("acme/security", &["carol"]);
    gh.commit_to_main(&[(".github/CODEOWNERS", CODEOWNERS)]);
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &gh,
        &aws,
        "[github]\nprivate_key_file = \"app.pem\"\n",
    );
    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr(
        "bob",
        &[(&path(&user), &request(&user, "Nightly backups copy to S3"))],
    );
    gh.review(pr, "carol", Approve);
    gh.merge(pr);

    // The first CreateSecret never answers; keygate is killed while it waits.
    aws.proxy.inject("CreateSecret", Fault::Hang, 1);
    let http = reqwest::Client::new();
    let mut first = Serving::start(dir.path(), &aws, "first.log");
    wait_healthy(&http, &first.url).await;
    let d = payloads::delivery(
        "pull_request",
        &payloads::pull_request_event(&gh, pr, "closed"),
        WEBHOOK_SECRET.as_bytes(),
    );
    assert_eq!(crate::support::app::post(&http, &first.url, &d).await, 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while aws.proxy.count("CreateSecret") == 0 {
        assert!(
            Instant::now() < deadline,
            "keygate never tried to store the secret"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        aws.access_keys(&user).await.len(),
        1,
        "the key exists, its secret does not"
    );
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let second = Serving::start(dir.path(), &aws, "second.log");
    wait_healthy(&http, &second.url).await;
    settle(&http, &second.url).await;

    let (_, secret_name) = aws
        .one_key_held_by_its_secret(&user, "the orphaned key was deleted and one new key issued")
        .await;
    let events: Vec<String> = aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["issued"]);

    // Never leak: not even trace-level logs, SDK internals included, hold the secret key.
    let value = aws.secret(&secret_name).await.unwrap();
    let secret_key = value["SecretAccessKey"].as_str().unwrap().to_string();
    assert!(
        secret_key.len() >= 20,
        "moto returned a real-looking secret key"
    );
    for log in ["first.log", "second.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        assert!(
            text.contains("access key created"),
            "{log} was written at trace level"
        );
        assert!(
            !text.contains(&secret_key),
            "{log} contains the secret access key"
        );
    }
}

#[tokio::test]
async fn sigterm_stops_serving_and_exits_cleanly() {
    let gh = GitHub::start().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &gh,
        &aws,
        "[github]\nprivate_key_file = \"app.pem\"\n",
    );
    let mut serving = Serving::start(dir.path(), &aws, "serve.log");
    let http = reqwest::Client::new();
    wait_healthy(&http, &serving.url).await;
    let pid = serving.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = serving.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keygate did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn a_second_serve_on_the_same_ledger_is_refused_naming_the_holder() {
    let gh = GitHub::start().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &gh,
        &aws,
        "[github]\nprivate_key_file = \"app.pem\"\n",
    );
    let http = reqwest::Client::new();
    let first = Serving::start(dir.path(), &aws, "first.log");
    wait_healthy(&http, &first.url).await;

    let out = keygate(dir.path(), &aws.proxy.url)
        .env(
            "KEYGATE_SERVER_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
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
    wait_healthy(&http, &first.url).await;
}

#[tokio::test]
async fn init_creates_the_dynamodb_ledger_that_serve_then_issues_on() {
    let gh = GitHub::start().await;
    gh.team("acme/security", &["carol"]);
    gh.commit_to_main(&[(".github/CODEOWNERS", CODEOWNERS)]);
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
    let (code, out, err) = run(&["init"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("exists; left as it is"), "{out}");

    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr(
        "bob",
        &[(&path(&user), &request(&user, "Nightly backups copy to S3"))],
    );
    gh.review(pr, "carol", Approve);
    gh.merge(pr);
    let http = reqwest::Client::new();
    let serving = Serving::start(dir.path(), &aws, "serve.log");
    wait_healthy(&http, &serving.url).await;
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
    assert_eq!(events, ["issued"]);
    assert!(
        !dir.path().join("ledger.db").exists(),
        "no SQLite file on the DynamoDB backend"
    );
}

/// Runs `c` to its end and returns its exit code, stdout and stderr. Waits without blocking
/// the test's runtime (the AWS proxy serves on it), and never for more than 30 s: a command
/// that kept running would hang the test.
async fn run_to_end(
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
