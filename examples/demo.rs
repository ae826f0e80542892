//! The whole flow on one machine, with no GitHub or AWS account: moto stands in for AWS,
//! the test suite's GitHub stand-in for GitHub, and the real `keygate serve` (with its
//! embedded SQLite ledger) runs between them. One request goes from pull request through
//! review to merge; the demo prints what keygate told people.
//!
//! Run it with `./scripts/demo` (which installs moto and builds keygate first).

#[path = "../tests/it/support/github/mod.rs"]
mod github;
#[path = "../tests/it/support/payloads.rs"]
mod payloads;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use github::{GitHub, ReviewState};

const SECRET: &str = "demo-webhook-secret";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keygate = std::env::var("KEYGATE_BIN").unwrap_or_else(|_| "target/debug/keygate".into());
    let moto_server =
        std::env::var("MOTO_SERVER").unwrap_or_else(|_| ".venv/bin/moto_server".into());
    let dir = tempfile::tempdir()?;

    // AWS: moto on a free loopback port.
    let moto_port = free_port();
    let mut moto = Command::new(&moto_server)
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {moto_server}: {e}; run ./scripts/demo"))?;
    let moto_url = format!("http://127.0.0.1:{moto_port}");
    wait_port(moto_port).await?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto_url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "demo", "demo", None, None, "demo",
        ))
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    iam.create_user()
        .user_name("example-ci-deployer")
        .send()
        .await?;
    let topic = sns
        .create_topic()
        .name("keygate")
        .send()
        .await?
        .topic_arn
        .unwrap_or_default();
    let queue = sqs
        .create_queue()
        .queue_name("approvers-inbox")
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:approvers-inbox".to_string();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await?;

    // GitHub: the stand-in, with this repository's own CODEOWNERS and example request.
    let gh = GitHub::start().await;
    gh.team("acme/release-engineering", &["carol"]);
    gh.commit_to_main(&[("CODEOWNERS", include_str!("../CODEOWNERS"))]);

    // keygate serve, configured from the embedded defaults plus what this demo must name.
    let port = free_port();
    // Written as any secret file should be (mode 600), so keygate has nothing to warn about.
    write_private(&dir.path().join("app.pem"), gh.private_key_pem)?;
    std::fs::write(
        dir.path().join("keygate.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[github]\napi_url = \"{}\"\napp_id = {}\nprivate_key_file = \"app.pem\"\nrepository = \"{}\"\n[aws]\nsns_topic_arn = \"{topic}\"\n",
            gh.url,
            gh.app_id,
            gh.repo()
        ),
    )?;
    let mut serve = Command::new(&keygate)
        .arg("serve")
        .current_dir(dir.path())
        .env("KEYGATE_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("AWS_ENDPOINT_URL", &moto_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "demo")
        .env("AWS_SECRET_ACCESS_KEY", "demo")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYGATE_LOG", "warn")
        .spawn()?;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Some(status) = serve.try_wait()? {
            let _ = moto.kill();
            anyhow::bail!("keygate serve exited ({status}) before it listened");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("http://127.0.0.1:{port}/webhook");
    let http = reqwest::Client::new();

    println!(
        "== bob opens a pull request adding requests/example-ci-deployer/deploy-pipeline.toml"
    );
    let pr = gh.open_pr(
        "bob",
        &[(
            "requests/example-ci-deployer/deploy-pipeline.toml",
            include_str!("../requests/example-ci-deployer/deploy-pipeline.toml"),
        )],
    );
    deliver(
        &http,
        &url,
        "pull_request",
        &payloads::pull_request_event(&gh, pr, "opened"),
    )
    .await?;
    settle(&http, port).await?;
    print_check(&gh, pr);

    println!("\n== carol (@acme/release-engineering) approves");
    let review = gh.review(pr, "carol", ReviewState::Approve);
    deliver(
        &http,
        &url,
        "pull_request_review",
        &payloads::pull_request_review_event(&gh, pr, review, "submitted"),
    )
    .await?;
    settle(&http, port).await?;
    print_check(&gh, pr);

    println!("\n== the pull request is merged");
    gh.merge(pr);
    deliver(
        &http,
        &url,
        "pull_request",
        &payloads::pull_request_event(&gh, pr, "closed"),
    )
    .await?;
    settle(&http, port).await?;

    println!("\n== keygate's comment on pull request #{pr}\n");
    for c in gh.comments(pr) {
        println!("{c}");
    }
    println!("== SNS notices (read from an SQS queue subscribed to the topic)\n");
    let msgs = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await?;
    for m in msgs.messages.unwrap_or_default() {
        let env: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}"))?;
        let attrs: Vec<String> = env["MessageAttributes"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}={}", v["Value"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "Subject: {}\nAttributes: {}\n{}",
            env["Subject"].as_str().unwrap_or(""),
            attrs.join(" "),
            env["Message"].as_str().unwrap_or("")
        );
    }
    let keys = iam
        .list_access_keys()
        .user_name("example-ci-deployer")
        .send()
        .await?;
    println!(
        "== IAM now holds {} access key(s) for example-ci-deployer",
        keys.access_key_metadata.len()
    );

    let _ = serve.kill();
    let _ = moto.kill();
    Ok(())
}

fn print_check(gh: &GitHub, pr: u64) {
    for run in gh.check_runs(&gh.head_sha(pr)) {
        println!(
            "check run `{}`: {} {} — {}",
            run.name,
            run.status,
            run.conclusion.unwrap_or_default(),
            run.title.unwrap_or_default()
        );
    }
}

async fn deliver(
    http: &reqwest::Client,
    url: &str,
    event: &str,
    payload: &serde_json::Value,
) -> anyhow::Result<()> {
    let d = payloads::delivery(event, payload, SECRET.as_bytes());
    let mut req = http.post(url).body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(*k, v);
    }
    let status = req.send().await?.status();
    println!("   delivered `{event}`: HTTP {status}");
    Ok(())
}

async fn settle(http: &reqwest::Client, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let r: serde_json::Value = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await?
            .json()
            .await?;
        if r["deliveries"]["queued"] == 0 && r["deliveries"]["running"] == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("keygate did not finish its work within 30 s")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

async fn wait_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("nothing listened on port {port} within 30 s")
}

/// Writes a file only its owner may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}
