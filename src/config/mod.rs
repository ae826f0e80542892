//! One typed `Settings`, loaded once from the TOML file and `KEYGATE_*` variables (DESIGN §6).
//!
//! Lookup order for the file: `--config PATH`, else `KEYGATE_CONFIG`, else `./keygate.toml`
//! (which may be absent: every key then takes its default, and commands that need a
//! GitHub App or AWS say which keys are missing). Every key can be overridden by
//! `KEYGATE_<SECTION>_<KEY>`; the variable wins over the file. Secrets come from the
//! environment or from files, never from the command line or the TOML text itself.
//!
//! Loading is one pipeline: the file is read into a TOML document, the variables are put
//! into it (`env`), the document is deserialized into the typed sections (`sections`), the
//! secrets are resolved (`secrets`) and every value is checked (`check`). Each error names
//! the key and where its value came from.

mod accounts;
mod check;
mod env;
mod secrets;
mod sections;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::request::RequestRules;

pub use accounts::{Account, AccountSection, Accounts, parse_role_arn};
pub use sections::{
    AwsSection, GitHubSection, LifecycleSection, PolicySection, QueueBackend, QueueSection,
    ServerSection, StoreBackend, StoreSection,
};

/// Where a value came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No file or variable set it.
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
    /// The Secrets Manager secret of this ARN.
    SecretsManager(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(v) => write!(f, "the environment variable {v}"),
            Source::SecretsManager(arn) => write!(f, "the Secrets Manager secret {arn}"),
        }
    }
}

/// Why the configuration cannot be used. `main` exits 2 on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` or `KEYGATE_CONFIG` (or `./keygate.toml`) is unreadable.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is no valid TOML, or holds a key or value keygate does not take.
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A value keygate refuses, with the key and where the value came from.
    #[error("`{key}` (from {origin}): {message}")]
    Invalid {
        key: String,
        origin: Source,
        message: String,
    },
    /// Settings a command needs are absent.
    #[error("{0}")]
    Missing(String),
    /// keygate's own settings types could not be listed: a bug, not a user's mistake.
    #[error("internal error in the configuration loader: {0}")]
    Internal(String),
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

/// Everything keygate is configured with: the file's sections, deserialized (with the
/// variables put over them), then what loading checks and reads beside them. Serializing
/// the defaults gives every known `section.key` (absent optional keys as null), which is how
/// the environment overrides know what exists.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`
    #[serde(default)]
    pub server: ServerSection,
    /// `[github]`
    #[serde(default)]
    pub github: GitHubSection,
    /// `[policy]`
    #[serde(default)]
    pub policy: PolicySection,
    /// `[lifecycle]`
    #[serde(default)]
    pub lifecycle: LifecycleSection,
    /// `[aws]`
    #[serde(default)]
    pub aws: AwsSection,
    /// `[store]`
    #[serde(default)]
    pub store: StoreSection,
    /// `[queue]`
    #[serde(default)]
    pub queue: QueueSection,
    /// `[accounts.<alias>]` as written: the AWS accounts keys are issued in (DESIGN §9); none
    /// by default, and then keygate issues in the account of its own credentials. Loading
    /// checks them into `accounts` and leaves this empty.
    #[serde(default, rename = "accounts")]
    account_sections: BTreeMap<String, AccountSection>,
    /// `[accounts.<alias>]`, checked; empty without the section (DESIGN §9).
    #[serde(skip)]
    pub accounts: Accounts,
    /// The address `server.listen` parsed.
    #[serde(skip, default = "unparsed_listen")]
    pub listen: SocketAddr,
    /// The App's private key (PEM), from `KEYGATE_GITHUB_PRIVATE_KEY` or its file.
    #[serde(skip)]
    pub private_key: Option<SecretString>,
    /// The webhook secret, from `KEYGATE_GITHUB_WEBHOOK_SECRET` or its file.
    #[serde(skip)]
    pub webhook_secret: Option<SecretString>,
    /// The token `/metrics` asks for, from `KEYGATE_SERVER_METRICS_TOKEN` or its file.
    #[serde(skip)]
    pub metrics_token: Option<SecretString>,
    /// The token of `POST /alerts/aws-health`, from `KEYGATE_SERVER_ALERTS_TOKEN` or its file.
    #[serde(skip)]
    pub alerts_token: Option<SecretString>,
    /// The file the settings came from, if any.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// Where each key that was set got its value.
    #[serde(skip)]
    sources: BTreeMap<String, Source>,
    /// Things that work but deserve the operator's attention; logged when loading.
    #[serde(skip)]
    warnings: Vec<String>,
}

/// `listen` until `check` parses `server.listen`.
fn unparsed_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("server", &self.server)
            .field("github", &self.github)
            .field("policy", &self.policy)
            .field("lifecycle", &self.lifecycle)
            .field("aws", &self.aws)
            .field("store", &self.store)
            .field("queue", &self.queue)
            .field("accounts", &self.accounts)
            .field("private_key", &redacted(&self.private_key))
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("metrics_token", &redacted(&self.metrics_token))
            .field("alerts_token", &redacted(&self.alerts_token))
            .finish()
    }
}

/// A secret as `Debug` shows it: whether it is there, never what it is.
fn redacted(secret: &Option<SecretString>) -> Option<&'static str> {
    secret.as_ref().map(|_| "[redacted]")
}

impl Settings {
    /// Loads from the explicit path, `KEYGATE_CONFIG`, or `./keygate.toml`, then applies
    /// the given environment (pass `std::env::vars()`; tests pass their own). Warnings are
    /// logged with `tracing::warn!` and kept in [`Settings::warnings`].
    pub fn load(
        explicit: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("KEYGATE_"))
            .collect();
        let (path, required) = match (explicit, env.get("KEYGATE_CONFIG")) {
            (Some(p), _) => (p.to_path_buf(), true),
            (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (PathBuf::from("keygate.toml"), false),
        };
        let file = if required || path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            Some((path, text))
        } else {
            None
        };

        let mut sources = BTreeMap::new();
        let mut doc = toml::Table::new();
        if let Some((path, text)) = &file {
            doc = toml::from_str(text).map_err(|e| ConfigError::Syntax {
                path: path.clone(),
                message: describe_toml_error(text, &e),
            })?;
            for (section, fields) in &doc {
                if let toml::Value::Table(fields) = fields {
                    for name in fields.keys() {
                        sources.insert(format!("{section}.{name}"), Source::File(path.clone()));
                    }
                }
            }
        }
        env::overlay(&mut doc, &env, &mut sources)?;
        let mut s = match Settings::deserialize(toml::Value::Table(doc)) {
            Ok(s) => s,
            // Each variable was checked on its own, so what is left is the file's: read it
            // again for the line and column.
            Err(e) => return Err(typed_file_error(file.as_ref(), &e)),
        };
        s.file = file.map(|(path, _)| path);
        s.sources = sources;
        s.resolve_relative_paths();
        let account_sections = std::mem::take(&mut s.account_sections);
        s.accounts = s.check_accounts(&account_sections)?;
        s.check()?;
        s.load_secrets(&env)?;
        if s.server.max_attempts.is_some() {
            s.warnings.push(format!(
                "server.max_attempts (from {}) is deprecated: deliveries are retried for \
                 server.retry_for_secs; remove max_attempts and set retry_for_secs instead",
                s.source("server.max_attempts")
            ));
        }
        for warning in &s.warnings {
            tracing::warn!("configuration: {warning}");
        }
        Ok(s)
    }

    /// `[accounts]` checked; an error names the key and where its table came from.
    fn check_accounts(
        &self,
        raw: &BTreeMap<String, AccountSection>,
    ) -> Result<Accounts, ConfigError> {
        Accounts::check(raw).map_err(|(key, message)| {
            let alias = key.split('.').take(2).collect::<Vec<_>>().join(".");
            ConfigError::invalid(&key, &self.source(&alias), message)
        })
    }

    /// Where `key` (`section.name`, or `github.private_key` / `github.webhook_secret`) got
    /// its value.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Every key of the file as `section.key`, from the typed sections' defaults (the
    /// reference documentation is checked against this list).
    pub fn keys() -> Result<Vec<String>, ConfigError> {
        Ok(env::known_keys()?.iter().map(|k| k.dotted()).collect())
    }

    /// The secrets kept in Secrets Manager, as `(ARN, what it holds)`, for the commands that
    /// read them at start.
    pub fn remote_secrets(&self) -> RemoteSecrets {
        RemoteSecrets {
            private_key: self.github.private_key_secret_arn.clone(),
            webhook_secret: self.github.webhook_secret_arn.clone(),
        }
    }

    /// Puts secrets read from Secrets Manager in place; `None` leaves a secret as loaded.
    pub fn set_remote_secrets(
        &mut self,
        private_key: Option<(String, SecretString)>,
        webhook_secret: Option<(String, SecretString)>,
    ) {
        if let Some((arn, key)) = private_key {
            self.private_key = Some(key);
            self.sources
                .insert("github.private_key".into(), Source::SecretsManager(arn));
        }
        if let Some((arn, secret)) = webhook_secret {
            self.webhook_secret = Some(secret);
            self.sources
                .insert("github.webhook_secret".into(), Source::SecretsManager(arn));
        }
    }

    /// What loading found worth a warning (each was also logged).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::invalid(key, &self.source(key), message)
    }

    /// Relative paths written in the file are resolved against the file's own folder, never
    /// against whatever the working directory is; paths from variables are taken as given.
    fn resolve_relative_paths(&mut self) {
        let Some(base) = self
            .file
            .as_ref()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
        else {
            return;
        };
        let from_file = |key: &str| matches!(self.sources.get(key), Some(Source::File(_)));
        let (pk, ws, mt, db, at) = (
            from_file("github.private_key_file"),
            from_file("github.webhook_secret_file"),
            from_file("server.metrics_token_file"),
            from_file("store.path"),
            from_file("server.alerts_token_file"),
        );
        for (p, in_file) in [
            (self.github.private_key_file.as_mut(), pk),
            (self.github.webhook_secret_file.as_mut(), ws),
            (self.server.metrics_token_file.as_mut(), mt),
            (Some(&mut self.store.path), db),
            (self.server.alerts_token_file.as_mut(), at),
        ] {
            if let Some(p) = p
                && in_file
                && p.is_relative()
                && !p.as_os_str().is_empty()
            {
                *p = base.join(&*p);
            }
        }
    }

    /// Reads the private key, the webhook secret and the metrics token (see `secrets` for
    /// which source wins). A secret kept in Secrets Manager (`*_secret_arn`) is read later,
    /// by the commands that need it ([`Settings::remote_secrets`]); naming it there and in a
    /// file or variable too is refused, since keygate could not tell which one is meant.
    fn load_secrets(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (secret, arn) in [
            (&secrets::PRIVATE_KEY, "github.private_key_secret_arn"),
            (&secrets::WEBHOOK_SECRET, "github.webhook_secret_arn"),
        ] {
            if !self.sources.contains_key(arn) {
                continue;
            }
            let other = if env.contains_key(secret.var) {
                Some(secret.var.to_string())
            } else if self.sources.contains_key(secret.file_key) {
                Some(format!(
                    "{} (from {})",
                    secret.file_key,
                    self.source(secret.file_key)
                ))
            } else {
                None
            };
            if let Some(other) = other {
                return Err(self.invalid(
                    arn,
                    format!(
                        "the {} is also set by {other}: keep one of the two",
                        secret.what
                    ),
                ));
            }
        }
        let path = self.github.private_key_file.clone();
        self.private_key = self.load_secret(&secrets::PRIVATE_KEY, path.as_deref(), env)?;
        let path = self.github.webhook_secret_file.clone();
        self.webhook_secret = self.load_secret(&secrets::WEBHOOK_SECRET, path.as_deref(), env)?;
        let path = self.server.metrics_token_file.clone();
        self.metrics_token = self.load_secret(&secrets::METRICS_TOKEN, path.as_deref(), env)?;
        let path = self.server.alerts_token_file.clone();
        self.alerts_token = self.load_secret(&secrets::ALERTS_TOKEN, path.as_deref(), env)?;
        Ok(())
    }

    /// One secret from its variable or `path`, recording where it came from.
    fn load_secret(
        &mut self,
        secret: &secrets::Secret,
        path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Option<SecretString>, ConfigError> {
        let from = self.source(secret.file_key);
        let found = secrets::resolve(
            secret,
            env.get(secret.var).map(String::as_str),
            path.map(|p| (p, &from)),
            &mut self.warnings,
        )?;
        Ok(found.map(|(value, source)| {
            self.sources.insert(secret.key.to_string(), source);
            value
        }))
    }

    /// The parts of the settings that judge a request file.
    pub fn request_rules(&self) -> RequestRules {
        RequestRules {
            requests_dir: self.policy.requests_dir.clone(),
            default_expiry_days: self.policy.default_expiry_days,
            max_expiry_days: self.policy.max_expiry_days,
            allowed_users: self.policy.allowed_users.clone(),
            denied_users: self.policy.denied_users.clone(),
            allowed_readers: self.policy.allowed_readers.clone(),
            secret_name_template: self.aws.secret_name.clone(),
            accounts: self.accounts.aliases(),
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
            missing.push(if self.github.private_key_secret_arn.is_some() {
                "the App's private key (github.private_key_secret_arn is set, but this command \
                 did not read it from Secrets Manager)"
            } else {
                "github.private_key_file (or KEYGATE_GITHUB_PRIVATE_KEY, or \
                 github.private_key_secret_arn)"
            });
        }
        if self.webhook_secret.is_none() {
            missing.push(if self.github.webhook_secret_arn.is_some() {
                "the webhook secret (github.webhook_secret_arn is set, but this command did \
                 not read it from Secrets Manager)"
            } else {
                "github.webhook_secret_file (or KEYGATE_GITHUB_WEBHOOK_SECRET, or \
                 github.webhook_secret_arn)"
            });
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

/// Where the App's secrets are kept in Secrets Manager, when they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSecrets {
    /// `github.private_key_secret_arn`
    pub private_key: Option<String>,
    /// `github.webhook_secret_arn`
    pub webhook_secret: Option<String>,
}

impl RemoteSecrets {
    /// Whether any secret is to be read from Secrets Manager.
    pub fn any(&self) -> bool {
        self.private_key.is_some() || self.webhook_secret.is_some()
    }
}

/// The required service settings, present.
pub struct Service<'a> {
    /// `github.app_id`
    pub app_id: u64,
    /// `github.repository`
    pub repository: &'a str,
    /// The App's private key (PEM).
    pub private_key: &'a SecretString,
    /// The webhook secret, never empty.
    pub webhook_secret: &'a SecretString,
    /// `aws.sns_topic_arn`
    pub sns_topic_arn: &'a str,
}

/// A typed error from the merged document, located in the file when it is the file's.
fn typed_file_error(file: Option<&(PathBuf, String)>, merged: &toml::de::Error) -> ConfigError {
    match file {
        Some((path, text)) => ConfigError::Syntax {
            path: path.clone(),
            message: match toml::from_str::<Settings>(text) {
                Err(e) => describe_toml_error(text, &e),
                Ok(_) => merged.message().trim().replace('\n', " "),
            },
        },
        None => ConfigError::Internal(merged.message().trim().replace('\n', " ")),
    }
}

/// "line L, column C: `section.key`: message" from a toml error; the key is named when the
/// error is about one (a value of the wrong type, say), which toml's message alone does not.
pub fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let mut message = e.message().trim().replace('\n', " ");
    if let Some(key) = toml_error_key(e)
        && !message.contains(&format!("`{key}`"))
    {
        message = format!("`{key}`: {message}");
    }
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("line {line}, column {col}: {message}")
        }
        None => message,
    }
}

/// The dotted key a toml error is about, if any. toml keeps it private and shows it only
/// when the error is displayed without its input, as a line "in `server.concurrency`".
fn toml_error_key(e: &toml::de::Error) -> Option<String> {
    let mut bare = e.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    shown
        .lines()
        .find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
        .filter(|key| !key.is_empty())
        .map(str::to_owned)
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
