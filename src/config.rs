//! One typed `Settings`, loaded once from the TOML file and `KEYGATE_*` variables (DESIGN §6).
//!
//! Lookup order for the file: `--config PATH`, else `KEYGATE_CONFIG`, else `./keygate.toml`
//! (which may be absent: every key then takes its default, and commands that need a
//! GitHub App or AWS say which keys are missing). Every key can be overridden by
//! `KEYGATE_<SECTION>_<KEY>`. Secrets come from the environment or from files, never
//! from the command line or the TOML text itself.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::request::RequestRules;

/// Where a value came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(v) => write!(f, "the environment variable {v}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("`{key}` (from {origin}): {message}")]
    Invalid {
        key: String,
        origin: Source,
        message: String,
    },
    #[error("{0}")]
    Missing(String),
}

impl ConfigError {
    fn invalid(key: &str, source: &Source, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            origin: source.clone(),
            message: message.into(),
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address `keygate serve` listens on.
    pub listen: String,
    /// Deliveries processed at the same time by the background worker.
    pub concurrency: u32,
    /// Seconds in-flight work may take to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Attempts for one delivery before it is recorded as failed.
    pub max_attempts: u32,
    /// Upper bound, in seconds, of the wait between two attempts.
    pub max_backoff_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8080".into(),
            concurrency: 4,
            shutdown_timeout_secs: 20,
            max_attempts: 8,
            max_backoff_secs: 300,
        }
    }
}

/// `[github]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitHubSection {
    /// REST API base URL (GitHub Enterprise Server: `https://HOST/api/v3`).
    pub api_url: String,
    /// The GitHub App's numeric ID.
    pub app_id: Option<u64>,
    /// File holding the App's private key (PEM). Or `KEYGATE_GITHUB_PRIVATE_KEY`.
    pub private_key_file: Option<PathBuf>,
    /// File holding the webhook secret. Or `KEYGATE_GITHUB_WEBHOOK_SECRET`.
    pub webhook_secret_file: Option<PathBuf>,
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
            repository: None,
            branch: "main".into(),
        }
    }
}

/// `[policy]`
#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

/// `[aws]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSection {
    /// SNS topic every notice is published to.
    pub sns_topic_arn: Option<String>,
    /// Secret name template: `{iam_user}`, `{timestamp}`, `{pr}`, `{request}`.
    pub secret_name: String,
    /// KMS key for the secrets (default: the account's `aws/secretsmanager` key).
    pub kms_key_id: Option<String>,
}

impl Default for AwsSection {
    fn default() -> Self {
        AwsSection {
            sns_topic_arn: None,
            secret_name: "{iam_user}/access-key-{timestamp}".into(),
            kms_key_id: None,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The SQLite ledger.
    pub path: PathBuf,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            path: PathBuf::from("keygate.db"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileSettings {
    server: ServerSection,
    github: GitHubSection,
    policy: PolicySection,
    aws: AwsSection,
    store: StoreSection,
}

/// Everything keygate is configured with.
pub struct Settings {
    pub server: ServerSection,
    pub github: GitHubSection,
    pub policy: PolicySection,
    pub aws: AwsSection,
    pub store: StoreSection,
    /// The address `server.listen` parsed.
    pub listen: SocketAddr,
    pub private_key: Option<SecretString>,
    pub webhook_secret: Option<SecretString>,
    /// The file the settings came from, if any.
    pub file: Option<PathBuf>,
    sources: BTreeMap<String, Source>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("server", &self.server)
            .field("github", &self.github)
            .field("policy", &self.policy)
            .field("aws", &self.aws)
            .field("store", &self.store)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Keys that name secret values; they may come only from the environment.
const SECRET_VARS: [(&str, &str); 2] = [
    ("KEYGATE_GITHUB_PRIVATE_KEY", "github.private_key"),
    ("KEYGATE_GITHUB_WEBHOOK_SECRET", "github.webhook_secret"),
];

/// Variables that are not keys of the file.
const OTHER_VARS: [&str; 2] = ["KEYGATE_CONFIG", "KEYGATE_LOG"];

impl Settings {
    /// Loads from the explicit path, `KEYGATE_CONFIG`, or `./keygate.toml`, then applies
    /// the given environment (pass `std::env::vars()`; tests pass their own).
    pub fn load(
        explicit: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("KEYGATE_"))
            .collect();
        let (path, required) = match (explicit, env.get("KEYGATE_CONFIG")) {
            (Some(p), _) => (Some(p.to_path_buf()), true),
            (None, Some(p)) if !p.is_empty() => (Some(PathBuf::from(p)), true),
            _ => (Some(PathBuf::from("keygate.toml")), false),
        };
        let (file_settings, file) = match path {
            Some(p) if required || p.exists() => {
                let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                let parsed: FileSettings =
                    toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                        path: p.clone(),
                        message: describe_toml_error(&text, &e),
                    })?;
                (parsed, Some(p))
            }
            _ => (FileSettings::default(), None),
        };
        let file_source = file
            .as_ref()
            .map(|p| Source::File(p.clone()))
            .unwrap_or(Source::Default);
        let base_dir = file
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();

        let mut s = Settings {
            server: file_settings.server,
            github: file_settings.github,
            policy: file_settings.policy,
            aws: file_settings.aws,
            store: file_settings.store,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            private_key: None,
            webhook_secret: None,
            file: file.clone(),
            sources: BTreeMap::new(),
        };
        // Relative paths in the file are resolved against the file's own folder.
        for p in [
            s.github.private_key_file.as_mut(),
            s.github.webhook_secret_file.as_mut(),
            Some(&mut s.store.path),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() && file.is_some() {
                *p = base_dir.join(&*p);
            }
        }
        if file.is_some() {
            for key in KEYS {
                s.sources.insert(key.name.to_string(), file_source.clone());
            }
        }

        for (var, value) in &env {
            if OTHER_VARS.contains(&var.as_str()) {
                continue;
            }
            if let Some((_, key)) = SECRET_VARS.iter().find(|(v, _)| v == var) {
                let secret = SecretString::from(value.trim_end().to_string());
                if *key == "github.private_key" {
                    s.private_key = Some(secret);
                } else {
                    s.webhook_secret = Some(secret);
                }
                s.sources
                    .insert((*key).to_string(), Source::Env(var.clone()));
                continue;
            }
            let Some(key) = KEYS.iter().find(|k| k.env_var() == *var) else {
                // Inside a section of ours an unknown name is a typo; elsewhere the variable
                // belongs to someone else (a wrapper script's KEYGATE_BIN, say).
                let ours = ["SERVER", "GITHUB", "POLICY", "AWS", "STORE"]
                    .iter()
                    .any(|sec| var.starts_with(&format!("KEYGATE_{sec}_")));
                if !ours {
                    continue;
                }
                return Err(ConfigError::invalid(
                    var,
                    &Source::Env(var.clone()),
                    format!(
                        "keygate has no such setting; known variables are {}",
                        KEYS.iter()
                            .map(|k| k.env_var())
                            .chain(SECRET_VARS.iter().map(|(v, _)| v.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let source = Source::Env(var.clone());
            (key.set)(&mut s, value)
                .map_err(|message| ConfigError::invalid(key.name, &source, message))?;
            s.sources.insert(key.name.to_string(), source);
        }

        if s.private_key.is_none()
            && let Some(path) = &s.github.private_key_file
        {
            s.private_key = Some(read_secret_file(path, "github.private_key_file", &s)?);
        }
        if s.webhook_secret.is_none()
            && let Some(path) = &s.github.webhook_secret_file
        {
            s.webhook_secret = Some(read_secret_file(path, "github.webhook_secret_file", &s)?);
        }
        s.check()?;
        Ok(s)
    }

    /// Where `key` (`section.name`) got its value.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::invalid(key, &self.source(key), message)
    }

    /// Checks every value that has one, whatever the command.
    fn check(&mut self) -> Result<(), ConfigError> {
        self.listen = self.server.listen.parse().map_err(|_| {
            self.invalid(
                "server.listen",
                format!(
                    "`{}` is not an address with a port, such as 127.0.0.1:8080",
                    self.server.listen
                ),
            )
        })?;
        if self.server.concurrency == 0 {
            return Err(self.invalid("server.concurrency", "must be at least 1"));
        }
        if self.server.max_attempts == 0 {
            return Err(self.invalid("server.max_attempts", "must be at least 1"));
        }
        if !(self.github.api_url.starts_with("https://")
            || self.github.api_url.starts_with("http://"))
        {
            return Err(self.invalid(
                "github.api_url",
                "must be an http(s) URL such as https://api.github.com",
            ));
        }
        if let Some(repo) = &self.github.repository
            && !is_repo_name(repo)
        {
            return Err(self.invalid(
                "github.repository",
                format!("`{repo}` is not of the form owner/name"),
            ));
        }
        if self.github.branch.trim().is_empty() {
            return Err(self.invalid("github.branch", "must not be empty"));
        }
        let p = &self.policy;
        if p.requests_dir.trim_matches('/').is_empty() || p.requests_dir.contains("..") {
            return Err(self.invalid(
                "policy.requests_dir",
                "must name a folder inside the repository, such as \"requests\"",
            ));
        }
        self.policy.requests_dir = self.policy.requests_dir.trim_matches('/').to_string();
        let p = &self.policy;
        if p.min_approvals == 0 {
            return Err(self.invalid(
                "policy.min_approvals",
                "must be at least 1: keygate never issues without an owner's approval",
            ));
        }
        if p.max_expiry_days == 0 {
            return Err(self.invalid("policy.max_expiry_days", "must be at least 1"));
        }
        if p.default_expiry_days == 0 || p.default_expiry_days > p.max_expiry_days {
            return Err(self.invalid(
                "policy.default_expiry_days",
                format!(
                    "must be between 1 and policy.max_expiry_days ({})",
                    p.max_expiry_days
                ),
            ));
        }
        if let Err(message) = crate::request::check_requests_dir(&self.policy.requests_dir) {
            return Err(self.invalid("policy.requests_dir", message));
        }
        if let Err(message) = self.request_rules().check() {
            let key = if message.starts_with("policy.denied_users") {
                "policy.denied_users"
            } else {
                "policy.allowed_users"
            };
            return Err(self.invalid(key, message));
        }
        let sample = crate::request::SecretNameInputs {
            iam_user: "alice",
            timestamp: "20260101000000",
            pr: 1,
            request: "ci",
        };
        if let Err(message) = crate::request::render_secret_name(&self.aws.secret_name, &sample) {
            return Err(self.invalid("aws.secret_name", message));
        }
        if let Some(arn) = &self.aws.sns_topic_arn
            && !arn.starts_with("arn:")
        {
            return Err(self.invalid(
                "aws.sns_topic_arn",
                format!("`{arn}` is not an ARN such as arn:aws:sns:us-east-1:123456789012:keygate"),
            ));
        }
        Ok(())
    }

    /// The parts of the settings that judge a request file.
    pub fn request_rules(&self) -> RequestRules {
        RequestRules {
            requests_dir: self.policy.requests_dir.clone(),
            default_expiry_days: self.policy.default_expiry_days,
            max_expiry_days: self.policy.max_expiry_days,
            allowed_users: self.policy.allowed_users.clone(),
            denied_users: self.policy.denied_users.clone(),
            allowed_readers: Vec::new(),
            secret_name_template: self.aws.secret_name.clone(),
        }
    }

    /// What `serve` (and every command that talks to GitHub and AWS) needs on top.
    pub fn service(&self) -> Result<Service<'_>, ConfigError> {
        let mut missing = Vec::new();
        if self.github.app_id.is_none() {
            missing.push("github.app_id (or KEYGATE_GITHUB_APP_ID)");
        }
        if self.github.repository.is_none() {
            missing.push("github.repository (or KEYGATE_GITHUB_REPOSITORY)");
        }
        if self.private_key.is_none() {
            missing.push("github.private_key_file (or KEYGATE_GITHUB_PRIVATE_KEY)");
        }
        if self.webhook_secret.is_none() {
            missing.push("github.webhook_secret_file (or KEYGATE_GITHUB_WEBHOOK_SECRET)");
        }
        if self.aws.sns_topic_arn.is_none() {
            missing.push("aws.sns_topic_arn (or KEYGATE_AWS_SNS_TOPIC_ARN)");
        }
        match (
            self.github.app_id,
            &self.github.repository,
            &self.private_key,
            &self.webhook_secret,
            &self.aws.sns_topic_arn,
        ) {
            (
                Some(app_id),
                Some(repository),
                Some(private_key),
                Some(webhook_secret),
                Some(topic),
            ) => Ok(Service {
                app_id,
                repository,
                private_key,
                webhook_secret,
                sns_topic_arn: topic,
            }),
            _ => Err(ConfigError::Missing(format!(
                "the configuration{} lacks settings that keygate needs to run: {}",
                self.file
                    .as_ref()
                    .map(|p| format!(" ({})", p.display()))
                    .unwrap_or_else(|| " (no file found; looked for ./keygate.toml)".into()),
                missing.join(", ")
            ))),
        }
    }
}

/// The required service settings, present.
pub struct Service<'a> {
    pub app_id: u64,
    pub repository: &'a str,
    pub private_key: &'a SecretString,
    pub webhook_secret: &'a SecretString,
    pub sns_topic_arn: &'a str,
}

fn read_secret_file(path: &Path, key: &str, s: &Settings) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| s.invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let trimmed = text.trim_end();
    if trimmed.is_empty() {
        return Err(s.invalid(key, format!("{} is empty", path.display())));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

fn is_repo_name(s: &str) -> bool {
    let mut parts = s.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// "line L, column C: message" from a toml error.
pub fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("line {line}, column {col}: {message}")
        }
        None => message,
    }
}

/// 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// One overridable key: its dotted name and how to set it from a string.
struct Key {
    name: &'static str,
    set: fn(&mut Settings, &str) -> Result<(), String>,
}

impl Key {
    fn env_var(&self) -> String {
        format!("KEYGATE_{}", self.name.replace('.', "_").to_uppercase())
    }
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a whole number in range"))
}

fn parse_list(v: &str) -> Vec<String> {
    let v = v.trim();
    let inner = v
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(v);
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn opt(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

const KEYS: &[Key] = &[
    Key {
        name: "server.listen",
        set: |s, v| {
            s.server.listen = v.trim().into();
            Ok(())
        },
    },
    Key {
        name: "server.concurrency",
        set: |s, v| {
            s.server.concurrency = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "server.shutdown_timeout_secs",
        set: |s, v| {
            s.server.shutdown_timeout_secs = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "server.max_attempts",
        set: |s, v| {
            s.server.max_attempts = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "server.max_backoff_secs",
        set: |s, v| {
            s.server.max_backoff_secs = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "github.api_url",
        set: |s, v| {
            s.github.api_url = v.trim().trim_end_matches('/').into();
            Ok(())
        },
    },
    Key {
        name: "github.app_id",
        set: |s, v| {
            s.github.app_id = Some(parse_num(v)?);
            Ok(())
        },
    },
    Key {
        name: "github.private_key_file",
        set: |s, v| {
            s.github.private_key_file = opt(v).map(PathBuf::from);
            Ok(())
        },
    },
    Key {
        name: "github.webhook_secret_file",
        set: |s, v| {
            s.github.webhook_secret_file = opt(v).map(PathBuf::from);
            Ok(())
        },
    },
    Key {
        name: "github.repository",
        set: |s, v| {
            s.github.repository = opt(v);
            Ok(())
        },
    },
    Key {
        name: "github.branch",
        set: |s, v| {
            s.github.branch = v.trim().into();
            Ok(())
        },
    },
    Key {
        name: "policy.requests_dir",
        set: |s, v| {
            s.policy.requests_dir = v.trim().into();
            Ok(())
        },
    },
    Key {
        name: "policy.min_approvals",
        set: |s, v| {
            s.policy.min_approvals = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "policy.default_expiry_days",
        set: |s, v| {
            s.policy.default_expiry_days = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "policy.max_expiry_days",
        set: |s, v| {
            s.policy.max_expiry_days = parse_num(v)?;
            Ok(())
        },
    },
    Key {
        name: "policy.allowed_users",
        set: |s, v| {
            s.policy.allowed_users = parse_list(v);
            Ok(())
        },
    },
    Key {
        name: "policy.denied_users",
        set: |s, v| {
            s.policy.denied_users = parse_list(v);
            Ok(())
        },
    },
    Key {
        name: "aws.sns_topic_arn",
        set: |s, v| {
            s.aws.sns_topic_arn = opt(v);
            Ok(())
        },
    },
    Key {
        name: "aws.secret_name",
        set: |s, v| {
            s.aws.secret_name = v.trim().into();
            Ok(())
        },
    },
    Key {
        name: "aws.kms_key_id",
        set: |s, v| {
            s.aws.kms_key_id = opt(v);
            Ok(())
        },
    },
    Key {
        name: "store.path",
        set: |s, v| {
            s.store.path = PathBuf::from(v.trim());
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keygate.toml");
        std::fs::write(&path, text).unwrap();
        let pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n\n";
        std::fs::write(dir.path().join("pk.pem"), pem).unwrap();
        std::fs::write(dir.path().join("keygate.private-key.pem"), pem).unwrap();
        std::fs::write(dir.path().join("webhook-secret"), "from-file\n").unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load(Some(&path), env)
    }

    const EXAMPLE: &str = include_str!("../keygate.example.toml");

    #[test]
    fn the_documented_example_is_complete_and_valid() {
        let s = load(EXAMPLE, &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "s3cret")]).unwrap();
        assert_eq!(s.github.repository.as_deref(), Some("acme/access-requests"));
        assert_eq!(s.policy.max_expiry_days, 365);
        assert_eq!(s.aws.secret_name, "{iam_user}/access-key-{timestamp}");
        assert!(s.store.path.ends_with("keygate.db"));
    }

    #[test]
    fn environment_overrides_the_file_and_is_named_in_errors() {
        let s = load(
            "[policy]\nmin_approvals = 1\n",
            &[("KEYGATE_POLICY_MIN_APPROVALS", "2")],
        )
        .unwrap();
        assert_eq!(s.policy.min_approvals, 2);
        let e = load("", &[("KEYGATE_POLICY_MIN_APPROVALS", "two")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.min_approvals"), "{e}");
        assert!(e.contains("KEYGATE_POLICY_MIN_APPROVALS"), "{e}");
    }

    #[test]
    fn unknown_key_in_file_is_refused_with_its_position() {
        let e = load("[github]\nrepo = \"a/b\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("repo"), "{e}");
    }

    #[test]
    fn unknown_keygate_variable_is_refused() {
        let e = load("", &[("KEYGATE_GITHUB_REPO", "a/b")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("KEYGATE_GITHUB_REPOSITORY"), "{e}");
    }

    #[test]
    fn secret_files_are_trimmed_and_resolved_next_to_the_config_file() {
        let s = load("[github]\nprivate_key_file = \"pk.pem\"\n", &[]).unwrap();
        let pem = s.private_key.unwrap();
        assert!(pem.expose_secret().ends_with("-----END KEY-----"));
    }

    #[test]
    fn a_bad_value_names_key_and_file() {
        let e = load("[policy]\ndefault_expiry_days = 400\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.default_expiry_days"), "{e}");
        assert!(e.contains("keygate.toml"), "{e}");
        let e = load("[server]\nlisten = \"8080\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.listen"), "{e}");
    }

    #[test]
    fn service_lists_every_missing_key() {
        let s = load("", &[]).unwrap();
        let e = s.service().err().unwrap().to_string();
        for key in [
            "github.app_id",
            "github.repository",
            "private_key",
            "webhook_secret",
            "sns_topic_arn",
        ] {
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = load("", &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "hunter2-secret")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn list_variables_accept_commas_or_toml_arrays() {
        assert_eq!(parse_list("a, b*"), vec!["a", "b*"]);
        assert_eq!(parse_list("[\"a\", \"b\"]"), vec!["a", "b"]);
    }
}
