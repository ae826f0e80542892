//! keygate running for a test: the real `serve` wiring (in-process, or as the real binary
//! for crash tests) against the GitHub stand-in and moto, with SNS notices read back
//! through an SQS queue subscribed to the topic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use tokio::sync::oneshot;

use super::faults::AwsProxy;
use super::github::GitHub;
use super::moto::{moto, sdk_config, sdk_config_as};
use super::payloads;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// A name no other test uses, for IAM users, topics and queues.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// An SNS notice as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Notice {
    pub subject: String,
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

impl Notice {
    pub fn event(&self) -> &str {
        self.attributes
            .get("event")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// AWS as the test sees it: straight to moto, not through keygate.
pub struct AwsWorld {
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    pub queue_url: String,
    /// keygate's AWS endpoint: a proxy in front of moto that can inject faults.
    pub proxy: AwsProxy,
}

impl AwsWorld {
    pub async fn new() -> AwsWorld {
        let moto = moto();
        AwsWorld::on(&moto.url, &sdk_config(&moto.url).await).await
    }

    /// AWS on the moto server at `moto_url`, seen with `sdk`'s credentials; keygate's proxy
    /// forwards to that server.
    pub async fn on(moto_url: &str, sdk: &aws_config::SdkConfig) -> AwsWorld {
        let proxy = AwsProxy::start(moto_url).await;
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic_arn = sns
            .create_topic()
            .name(unique("keygate"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("notices"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()
            .remove(&QueueAttributeName::QueueArn)
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        AwsWorld {
            iam: aws_sdk_iam::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            sqs,
            topic_arn,
            queue_url,
            proxy,
        }
    }

    /// Creates an IAM user with a unique name and returns it.
    pub async fn iam_user(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.iam
            .create_user()
            .user_name(&name)
            .send()
            .await
            .unwrap();
        name
    }

    pub async fn access_keys(&self, user: &str) -> Vec<String> {
        self.iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap()
            .access_key_metadata
            .into_iter()
            .filter_map(|m| m.access_key_id)
            .collect()
    }

    /// The secret's value, parsed.
    pub async fn secret(&self, name: &str) -> Option<Value> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .ok()?;
        serde_json::from_str(out.secret_string()?).ok()
    }

    /// Names of every secret whose name starts with `prefix`.
    pub async fn secrets_named(&self, prefix: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .secrets
                .list_secrets()
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(
                out.secret_list()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_string)),
            );
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        names.retain(|n| n.starts_with(prefix));
        names
    }

    /// DESIGN §3's invariant after an issuance: `user` holds exactly one key, exactly one
    /// secret was stored for it, and that secret holds that key. Returns (key ID, secret name).
    pub async fn one_key_held_by_its_secret(&self, user: &str, why: &str) -> (String, String) {
        let keys = self.access_keys(user).await;
        assert_eq!(keys.len(), 1, "{why}: {keys:?}");
        let secrets = self.secrets_named(&format!("{user}/")).await;
        assert_eq!(secrets.len(), 1, "{why}: {secrets:?}");
        let value = self.secret(&secrets[0]).await.unwrap();
        assert_eq!(
            value["AccessKeyId"],
            keys[0].as_str(),
            "{why}: the secret holds another key"
        );
        (keys[0].clone(), secrets[0].clone())
    }

    /// Every notice published since the last call.
    pub async fn notices(&self) -> Vec<Notice> {
        let mut out = Vec::new();
        loop {
            let msgs = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                let env: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap();
                let attributes = env["MessageAttributes"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                (k.clone(), v["Value"].as_str().unwrap_or("").to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Notice {
                    subject: env["Subject"].as_str().unwrap_or("").to_string(),
                    message: env["Message"].as_str().unwrap_or("").to_string(),
                    attributes,
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }
}

/// The configuration file a test's keygate runs with. `extra` is appended TOML (e.g.
/// `[policy]\nmin_approvals = 2`); sections it names replace the defaults written here.
pub fn write_config(dir: &Path, gh: &GitHub, aws: &AwsWorld, extra: &str) -> PathBuf {
    let mut sections: BTreeMap<&str, String> = BTreeMap::new();
    sections.insert(
        "server",
        "listen = \"127.0.0.1:0\"\nmax_backoff_secs = 1\nmax_attempts = 3\n".into(),
    );
    sections.insert(
        "github",
        format!(
            "api_url = \"{}\"\napp_id = {}\nrepository = \"{}\"\nbranch = \"main\"\n",
            gh.url,
            gh.app_id,
            gh.repo()
        ),
    );
    sections.insert("aws", format!("sns_topic_arn = \"{}\"\n", aws.topic_arn));
    sections.insert("store", "path = \"ledger.db\"\n".into());
    let mut text = String::new();
    let mut current = String::new();
    let mut overrides: BTreeMap<String, String> = BTreeMap::new();
    for line in extra.lines() {
        if let Some(name) = line
            .trim()
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
        {
            current = name.to_string();
            continue;
        }
        overrides
            .entry(current.clone())
            .or_default()
            .push_str(&format!("{line}\n"));
    }
    for (name, body) in &sections {
        text.push_str(&format!("[{name}]\n"));
        let keys: Vec<String> = overrides
            .get(*name)
            .map(|o| {
                o.lines()
                    .filter_map(|l| l.split('=').next())
                    .map(|k| k.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        for line in body.lines() {
            let key = line.split('=').next().unwrap_or("").trim();
            if !keys.iter().any(|k| k == key) {
                text.push_str(line);
                text.push('\n');
            }
        }
        if let Some(o) = overrides.get(*name) {
            text.push_str(o);
        }
    }
    for (name, body) in &overrides {
        if !sections.contains_key(name.as_str()) && !name.is_empty() {
            text.push_str(&format!("[{name}]\n{body}"));
        }
    }
    let path = dir.join("keygate.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::write(dir.join("app.pem"), gh.private_key_pem).unwrap();
    path
}

/// Whether the stories run on the shared backends: `KEYGATE_TEST_BACKEND=aws` is DynamoDB
/// with an SQS FIFO queue (on moto), made by `keygate init` as an operator would; unset or
/// `local` is SQLite with the in-process queue. `./scripts/test` runs the stories both ways.
pub fn on_shared_backend() -> bool {
    std::env::var("KEYGATE_TEST_BACKEND").as_deref() == Ok("aws")
}

/// The `[store]` and `[queue]` of a fresh DynamoDB table and SQS queue pair on `aws`'s
/// moto.
pub fn shared_backend_config(aws: &AwsWorld) -> String {
    let name = unique("kg");
    format!(
        "[store]\nbackend = \"dynamodb\"\ntable = \"{name}\"\n\
         [queue]\nbackend = \"sqs\"\nurl = \"{}/123456789012/{name}-work.fifo\"\n",
        aws.proxy.url
    )
}

fn settings_env() -> Vec<(String, String)> {
    vec![(
        "KEYGATE_GITHUB_WEBHOOK_SECRET".into(),
        WEBHOOK_SECRET.into(),
    )]
}

/// keygate serving in this process, wired exactly as `keygate serve` wires it.
pub struct TestApp {
    pub url: String,
    pub gh: GitHub,
    pub aws: AwsWorld,
    pub dir: tempfile::TempDir,
    extra: String,
    /// The access key keygate's AWS calls are signed with.
    credentials: (String, String),
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    http: reqwest::Client,
}

impl TestApp {
    pub async fn start(gh: &GitHub) -> TestApp {
        TestApp::start_with(gh, "").await
    }

    pub async fn start_with(gh: &GitHub, extra: &str) -> TestApp {
        TestApp::start_on(gh, extra, AwsWorld::new().await, ("testing", "testing")).await
    }

    /// keygate on `aws`'s moto server, its calls signed with `credentials` (access key ID,
    /// secret access key).
    pub async fn start_on(
        gh: &GitHub,
        extra: &str,
        aws: AwsWorld,
        credentials: (&str, &str),
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let extra = if on_shared_backend() && !extra.contains("[store]") {
            format!("{}{extra}", shared_backend_config(&aws))
        } else {
            extra.to_string()
        };
        let mut app = TestApp {
            url: String::new(),
            gh: gh.clone(),
            aws,
            dir,
            extra,
            credentials: (credentials.0.to_string(), credentials.1.to_string()),
            stop: None,
            task: None,
            http: reqwest::Client::new(),
        };
        app.boot().await;
        app
    }

    /// The settings this app runs with, as `keygate` commands in its folder load them.
    pub fn settings(&self) -> keygate::config::Settings {
        let path = self.dir.path().join("keygate.toml");
        keygate::config::Settings::load(Some(&path), settings_env()).unwrap()
    }

    /// AWS as this app's keygate sees it: its proxy, signed with its own credentials.
    pub async fn keygate_aws(&self) -> keygate::aws::Aws {
        let (id, secret) = &self.credentials;
        keygate::aws::Aws::from_config(&sdk_config_as(&self.aws.proxy.url, id, secret).await)
    }

    /// What the ledger holds of `key`'s life, read through a second handle (which is
    /// dropped again, so a SQLite ledger is free for the app's next start).
    pub async fn key_life(&self, key: &str) -> keygate::ledger::KeyLife {
        let ledger = self.ledger().await;
        let id = keygate::ids::AccessKeyId::new(key);
        let life = keygate::ledger::Store::key_life(&ledger, id).await.unwrap();
        life.unwrap_or_else(|| panic!("the ledger holds no life of key {key}"))
    }

    /// The ledger this app runs on, as a second handle (as another replica would hold it).
    pub async fn ledger(&self) -> keygate::ledger::Ledger {
        let settings = self.settings();
        match settings.store.backend {
            keygate::config::StoreBackend::Sqlite => {
                keygate::ledger::Ledger::open_sqlite(&self.dir.path().join(&settings.store.path))
                    .unwrap()
            }
            keygate::config::StoreBackend::Dynamodb => {
                let sdk = sdk_config_as(&self.aws.proxy.url, "testing", "testing").await;
                let table = settings.store.table.unwrap();
                keygate::ledger::Ledger::open_dynamo(aws_sdk_dynamodb::Client::new(&sdk), &table)
                    .await
                    .unwrap()
            }
        }
    }

    async fn boot(&mut self) {
        if std::env::var_os("KEYGATE_TEST_LOG").is_some() {
            // For reading a failing story: keygate's log among the test's output.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_env("KEYGATE_TEST_LOG"))
                .with_test_writer()
                .try_init();
        }
        let path = write_config(
            self.dir.path(),
            &self.gh,
            &self.aws,
            &format!("[github]\nprivate_key_file = \"app.pem\"\n{}", self.extra),
        );
        let settings = keygate::config::Settings::load(Some(&path), settings_env()).unwrap();
        let sdk = sdk_config_as(
            &self.aws.proxy.url,
            &self.credentials.0,
            &self.credentials.1,
        )
        .await;
        let aws = keygate::aws::Aws::from_config(&sdk);
        if settings.store.backend == keygate::config::StoreBackend::Dynamodb {
            // What `keygate init` makes; a restart finds it there and leaves it.
            keygate::init::run(&settings, &aws).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(keygate::startup::run_with(
            settings,
            aws,
            listener,
            async {
                let _ = rx.await;
            },
        )));
        wait_healthy(&self.http, &self.url).await;
    }

    /// Stops gracefully and starts again on the same ledger.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        self.boot().await;
    }

    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Posts a signed delivery and returns the status keygate answered.
    pub async fn deliver(&self, event: &str, payload: &Value) -> u16 {
        let d = payloads::delivery(event, payload, WEBHOOK_SECRET.as_bytes());
        post(&self.http, &self.url, &d).await
    }

    /// Posts the same delivery again (same GUID).
    pub async fn redeliver(&self, d: &payloads::Delivery) -> u16 {
        post(&self.http, &self.url, d).await
    }

    pub async fn pr_event(&self, pr: u64, action: &str) -> u16 {
        self.deliver(
            "pull_request",
            &payloads::pull_request_event(&self.gh, pr, action),
        )
        .await
    }

    pub async fn review_event(&self, pr: u64, review: u64) -> u16 {
        self.deliver(
            "pull_request_review",
            &payloads::pull_request_review_event(&self.gh, pr, review, "submitted"),
        )
        .await
    }

    /// Merges the pull request on GitHub and delivers the `closed` event, then waits.
    pub async fn merge(&self, pr: u64) {
        self.gh.merge(pr);
        assert_eq!(self.pr_event(pr, "closed").await, 202);
        self.settle().await;
    }

    /// Waits until no delivery is queued or running: the explicit drain.
    pub async fn settle(&self) {
        settle(&self.http, &self.url).await
    }

    /// The story's end when a key was issued: one key, held by its one secret, and the
    /// events announced. Returns (key ID, secret name).
    pub async fn expect_issued(&self, user: &str) -> (String, String) {
        self.aws.one_key_held_by_its_secret(user, "issued").await
    }

    /// The story's end when nothing may be issued: no key for `user`, and keygate's comment
    /// says why, naming each of `reasons`.
    pub async fn expect_refused(&self, pr: u64, user: &str, reasons: &[&str]) -> String {
        assert!(
            self.aws.access_keys(user).await.is_empty(),
            "a key was issued"
        );
        let comment = self.comment(pr);
        for r in reasons {
            assert!(
                comment.contains(r),
                "the comment does not say {r:?}:\n{comment}"
            );
        }
        comment
    }

    /// The `event` attribute of every notice published since the last call.
    pub async fn notice_events(&self) -> Vec<String> {
        self.aws
            .notices()
            .await
            .iter()
            .map(|n| n.event().to_string())
            .collect()
    }

    /// keygate's check run on a commit: (status, conclusion, title, summary).
    pub fn check(&self, sha: &str) -> crate::support::github::CheckRunView {
        let runs = self.gh.check_runs(sha);
        assert_eq!(runs.len(), 1, "one keygate check run: {runs:#?}");
        runs.into_iter().next().unwrap()
    }

    /// keygate's comment on the pull request (the last one it wrote).
    pub fn comment(&self, pr: u64) -> String {
        let views = self.gh.comment_views(pr);
        assert!(
            views.len() <= 1,
            "keygate wrote more than one comment: {views:#?}"
        );
        views.last().map(|c| c.body.clone()).unwrap_or_default()
    }

    pub async fn readyz(&self) -> Value {
        self.http
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn post(http: &reqwest::Client, url: &str, d: &payloads::Delivery) -> u16 {
    let mut req = http.post(format!("{url}/webhook")).body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(*k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

pub async fn wait_healthy(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("keygate did not become healthy at {url}");
}

/// Waits until the server at `url` has no delivery queued or running. Patience, not a
/// timing: a replica taking over a dead one's work waits out its lease and the queue's
/// visibility timeout, which on a loaded 2-core machine (moto is one Python process) took
/// longer than 30 s.
pub async fn settle(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r: Value = http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let d = &r["deliveries"];
        if d["queued"] == 0 && d["running"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "deliveries never settled: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
