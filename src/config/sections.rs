//! The typed sections of the configuration file, with their defaults (DESIGN §6).
//!
//! These structs are the single list of keys: the file is deserialized into them, and the
//! `KEYGATE_<SECTION>_<KEY>` variables keygate knows are derived from them (see `env`).
//! Every key has a default, so a file written for an earlier keygate keeps working.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address `keygate serve` listens on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Deliveries processed at the same time by the background worker.
    pub concurrency: u32,
    /// Seconds in-flight work may take to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Seconds a delivery that keeps failing with transient errors is retried (DESIGN §3).
    pub retry_for_secs: u64,
    /// Deprecated attempt cap from earlier keygate versions; `retry_for_secs` replaces it.
    /// Still honoured when set (with a warning at start), so old files keep working.
    pub max_attempts: Option<u32>,
    /// Upper bound, in seconds, of the wait between two attempts.
    pub max_backoff_secs: u64,
    /// Bytes of request bodies held at once before their signature is checked (DESIGN §4).
    pub max_unverified_bytes: u64,
    /// A file holding the bearer token `GET /metrics` then asks for (or
    /// `KEYGATE_SERVER_METRICS_TOKEN`). Without one, `/metrics` is open under `serve` and off
    /// on a Lambda function URL, which anyone can reach (DESIGN §4).
    pub metrics_token_file: Option<PathBuf>,
    /// File holding the token that `POST /alerts/aws-health` requires (`Authorization:
    /// Bearer <token>`), or `KEYGATE_SERVER_ALERTS_TOKEN`; without one the endpoint is off.
    pub alerts_token_file: Option<PathBuf>,
}

impl ServerSection {
    /// `shutdown_timeout_secs`.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
    /// `retry_for_secs`.
    pub fn retry_for(&self) -> Duration {
        Duration::from_secs(self.retry_for_secs)
    }
    /// `max_backoff_secs`.
    pub fn max_backoff(&self) -> Duration {
        Duration::from_secs(self.max_backoff_secs)
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8080".into(),
            concurrency: 4,
            shutdown_timeout_secs: 20,
            retry_for_secs: 86_400,
            max_attempts: None,
            max_backoff_secs: 300,
            max_unverified_bytes: 268_435_456,
            metrics_token_file: None,
            alerts_token_file: None,
        }
    }
}

/// `[github]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitHubSection {
    /// REST API base URL (GitHub Enterprise Server: `https://HOST/api/v3`). Plain `http://`
    /// only to loopback, since the App's tokens travel on it.
    pub api_url: String,
    /// The GitHub App's numeric ID.
    pub app_id: Option<u64>,
    /// File holding the App's private key (PEM). Or `KEYGATE_GITHUB_PRIVATE_KEY`.
    pub private_key_file: Option<PathBuf>,
    /// File holding the webhook secret. Or `KEYGATE_GITHUB_WEBHOOK_SECRET`.
    pub webhook_secret_file: Option<PathBuf>,
    /// ARN of a Secrets Manager secret holding the App's private key (PEM, as text), read
    /// at start instead of `private_key_file`, in every mode (DESIGN §11).
    pub private_key_secret_arn: Option<String>,
    /// ARN of a Secrets Manager secret holding the webhook secret (text), read at start
    /// instead of `webhook_secret_file`.
    pub webhook_secret_arn: Option<String>,
    /// `owner/name` of the repository holding the requests.
    pub repository: Option<String>,
    /// Branch whose merges issue keys.
    pub branch: String,
}

impl Default for GitHubSection {
    fn default() -> Self {
        GitHubSection {
            api_url: "https://api.github.com".into(),
            app_id: None,
            private_key_file: None,
            webhook_secret_file: None,
            private_key_secret_arn: None,
            webhook_secret_arn: None,
            repository: None,
            branch: "main".into(),
        }
    }
}

/// `[policy]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// Folder holding `<iam_user>/<name>.toml` request files.
    pub requests_dir: String,
    /// Distinct owners who must approve each request file.
    pub min_approvals: u32,
    /// Expiry when a request gives none.
    pub default_expiry_days: u32,
    /// Longest expiry a request may ask for.
    pub max_expiry_days: u32,
    /// IAM users keygate may issue keys for (globs).
    pub allowed_users: Vec<String>,
    /// IAM users keygate never issues keys for (globs; deny wins).
    pub denied_users: Vec<String>,
    /// Most request files one pull request may add or change.
    pub max_requests_per_pr: u32,
    /// Whether every commit of a pull request must carry a verified signature.
    pub require_verified_commits: bool,
    /// Hours an approval stays valid; an older one no longer counts.
    pub approval_ttl_hours: u32,
    /// Hours a request may wait between opening and merge; 0 = no limit.
    pub request_ttl_hours: u32,
    /// Globs of IAM principal ARNs a request may name as `readers` of its secret.
    pub allowed_readers: Vec<String>,
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection {
            requests_dir: "requests".into(),
            min_approvals: 1,
            default_expiry_days: 90,
            max_expiry_days: 365,
            allowed_users: vec!["*".into()],
            denied_users: Vec::new(),
            max_requests_per_pr: 10,
            require_verified_commits: false,
            approval_ttl_hours: 168,
            request_ttl_hours: 0,
            allowed_readers: Vec::new(),
        }
    }
}

/// `[lifecycle]` (DESIGN §5)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSection {
    /// Days before expiry that `event=expiring` and the renewal comment go out.
    pub warn_days: u32,
    /// Days after expiry before the key and its secret are deleted; 0 = at once.
    pub delete_after_days: u32,
    /// Secrets Manager recovery window for deleted secrets: 7–30 days, or 0 to delete
    /// without recovery.
    pub secret_recovery_days: u32,
    /// Seconds between two expiry sweeps inside `serve`.
    pub sweep_interval_secs: u64,
    /// Seconds between two catch-up passes over closed pull requests.
    pub reconcile_interval_secs: u64,
    /// Pull requests merged before this time (RFC 3339) never issue a key; default: when the
    /// ledger was created.
    #[serde(with = "rfc3339")]
    pub reconcile_since: Option<time::OffsetDateTime>,
    /// Days an active key may go unused (AWS's last use, or its creation when never used)
    /// before `event=unused` and a comment; `warn_days` later it is deactivated unless it
    /// was used meanwhile. 0 = off (DESIGN §10).
    pub unused_days: u32,
    /// Hours a rotated key's predecessor stays active, so consumers that read the secret
    /// before the rotation keep working (DESIGN §10).
    pub rotation_overlap_hours: u32,
}

impl LifecycleSection {
    /// `sweep_interval_secs`.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs)
    }
    /// `reconcile_interval_secs`, at least a second.
    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs(self.reconcile_interval_secs).max(Duration::from_secs(1))
    }
}

impl Default for LifecycleSection {
    fn default() -> Self {
        LifecycleSection {
            warn_days: 7,
            delete_after_days: 7,
            secret_recovery_days: 7,
            sweep_interval_secs: 300,
            reconcile_interval_secs: 600,
            reconcile_since: None,
            unused_days: 0,
            rotation_overlap_hours: 24,
        }
    }
}

/// `[aws]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSection {
    /// SNS topic every notice is published to.
    pub sns_topic_arn: Option<String>,
    /// Secret name template: `{iam_user}`, `{timestamp}`, `{pr}`, `{request}`.
    pub secret_name: String,
    /// KMS key for the secrets (absent: the account's `aws/secretsmanager` key).
    pub kms_key_id: Option<String>,
    /// Publish every notice with SNS's per-protocol message structure: e-mail and SQS get
    /// the text, HTTPS subscriptions (Amazon Q Developer in chat applications) a custom
    /// notification for chat (DESIGN §11).
    pub chat_notices: bool,
}

impl Default for AwsSection {
    fn default() -> Self {
        AwsSection {
            sns_topic_arn: None,
            secret_name: "{iam_user}/access-key-{timestamp}".into(),
            kms_key_id: None,
            chat_notices: false,
        }
    }
}

/// Where the ledger lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// An embedded SQLite file (`store.path`): one process.
    Sqlite,
    /// A DynamoDB table (`store.table`): replicas and Lambda (DESIGN §8).
    Dynamodb,
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Which ledger to use.
    pub backend: StoreBackend,
    /// The SQLite ledger file (backend `sqlite`).
    pub path: PathBuf,
    /// The DynamoDB table (required with backend `dynamodb`).
    pub table: Option<String>,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            backend: StoreBackend::Sqlite,
            path: PathBuf::from("keygate.db"),
            table: None,
        }
    }
}

/// Where accepted deliveries wait for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// In process, backed by the ledger.
    Local,
    /// An SQS FIFO queue (`queue.url`): replicas and Lambda (DESIGN §8).
    Sqs,
}

/// `[queue]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSection {
    /// Which queue to use.
    pub backend: QueueBackend,
    /// The SQS FIFO queue URL (required with backend `sqs`).
    pub url: Option<String>,
    /// How long a replica's hold on work (the message's visibility and the ledger's lease)
    /// lasts without renewal; renewed every quarter of it while the work runs. A replica
    /// that dies loses its work to the others after this.
    pub lease_secs: u64,
    /// How long one `ReceiveMessage` waits for work (SQS long polling, 1–20 s): longer means
    /// fewer calls from an idle replica.
    pub receive_wait_secs: u64,
}

impl QueueSection {
    /// `lease_secs`.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
    /// `receive_wait_secs`.
    pub fn receive_wait(&self) -> Duration {
        Duration::from_secs(self.receive_wait_secs)
    }
}

impl Default for QueueSection {
    fn default() -> Self {
        QueueSection {
            backend: QueueBackend::Local,
            url: None,
            lease_secs: 120,
            receive_wait_secs: 5,
        }
    }
}

/// `lifecycle.reconcile_since`: written as a quoted RFC 3339 string or as a bare TOML
/// datetime; either way it must carry an offset, so the instant is unambiguous.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => s.serialize_str(&t.format(&Rfc3339).map_err(serde::ser::Error::custom)?),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) => dt.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected an RFC 3339 time such as 2026-01-01T00:00:00Z, found a {}",
                    other.type_str()
                )));
            }
        };
        OffsetDateTime::parse(text.trim(), &Rfc3339)
            .map(Some)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{text}` is not an RFC 3339 time with an offset, such as 2026-01-01T00:00:00Z"
                ))
            })
    }
}
