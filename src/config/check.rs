//! The meaning checks: values of the right type that keygate still cannot work with.
//! Each error names the key and where its value came from, and says what would be right.

use std::net::IpAddr;

use super::sections::{QueueBackend, StoreBackend};
use super::{ConfigError, Settings};

impl Settings {
    /// Checks every value that has one, whatever the command.
    pub(super) fn check(&mut self) -> Result<(), ConfigError> {
        self.check_server()?;
        self.check_github()?;
        self.check_policy()?;
        self.check_lifecycle()?;
        self.check_aws()?;
        self.check_store_and_queue()
    }

    fn check_server(&mut self) -> Result<(), ConfigError> {
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
        if self.server.max_attempts == Some(0) {
            return Err(self.invalid("server.max_attempts", "must be at least 1"));
        }
        if self.server.max_unverified_bytes == 0 {
            return Err(self.invalid(
                "server.max_unverified_bytes",
                "must be at least 1: with 0 every delivery would be refused",
            ));
        }
        Ok(())
    }

    fn check_github(&mut self) -> Result<(), ConfigError> {
        self.github.api_url = self.github.api_url.trim_end_matches('/').to_string();
        if let Err(message) = check_api_url(&self.github.api_url) {
            return Err(self.invalid("github.api_url", message));
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
        for (key, path) in [
            ("github.private_key_file", &self.github.private_key_file),
            (
                "github.webhook_secret_file",
                &self.github.webhook_secret_file,
            ),
            ("server.metrics_token_file", &self.server.metrics_token_file),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(self.invalid(key, NOT_EMPTY));
            }
        }
        for (key, arn) in [
            (
                "github.private_key_secret_arn",
                &self.github.private_key_secret_arn,
            ),
            ("github.webhook_secret_arn", &self.github.webhook_secret_arn),
        ] {
            if let Some(arn) = arn
                && !is_secret_arn(arn)
            {
                return Err(self.invalid(
                    key,
                    format!(
                        "`{arn}` is not a Secrets Manager secret ARN \
                         (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_policy(&mut self) -> Result<(), ConfigError> {
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
        if p.max_requests_per_pr == 0 {
            return Err(self.invalid("policy.max_requests_per_pr", "must be at least 1"));
        }
        if p.approval_ttl_hours == 0 {
            return Err(self.invalid(
                "policy.approval_ttl_hours",
                "must be at least 1: with 0 no approval would ever count",
            ));
        }
        for glob in &p.allowed_readers {
            if let Err(e) = globset::Glob::new(glob) {
                return Err(self.invalid(
                    "policy.allowed_readers",
                    format!("invalid glob `{glob}`: {}", e.kind()),
                ));
            }
        }
        if let Err(message) = crate::request::check_requests_dir(&self.policy.requests_dir) {
            return Err(self.invalid("policy.requests_dir", message));
        }
        if let Err(message) = self.request_rules().check() {
            let key = ["policy.denied_users", "policy.allowed_readers"]
                .into_iter()
                .find(|k| message.starts_with(k))
                .unwrap_or("policy.allowed_users");
            return Err(self.invalid(key, message));
        }
        Ok(())
    }

    fn check_lifecycle(&self) -> Result<(), ConfigError> {
        let l = &self.lifecycle;
        if !(l.secret_recovery_days == 0 || (7..=30).contains(&l.secret_recovery_days)) {
            return Err(self.invalid(
                "lifecycle.secret_recovery_days",
                format!(
                    "{} is not allowed: Secrets Manager keeps a deleted secret 7 to 30 days; \
                     0 deletes it without recovery",
                    l.secret_recovery_days
                ),
            ));
        }
        if l.sweep_interval_secs == 0 {
            return Err(self.invalid("lifecycle.sweep_interval_secs", "must be at least 1"));
        }
        if l.reconcile_interval_secs == 0 {
            return Err(self.invalid("lifecycle.reconcile_interval_secs", "must be at least 1"));
        }
        Ok(())
    }

    fn check_aws(&self) -> Result<(), ConfigError> {
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
        if self
            .aws
            .kms_key_id
            .as_ref()
            .is_some_and(|k| k.trim().is_empty())
        {
            return Err(self.invalid(
                "aws.kms_key_id",
                "must not be empty: name a key (such as alias/keygate), or remove the key to \
                 use the account's aws/secretsmanager key",
            ));
        }
        Ok(())
    }

    fn check_store_and_queue(&self) -> Result<(), ConfigError> {
        if !(1..=20).contains(&self.queue.receive_wait_secs) {
            return Err(self.invalid(
                "queue.receive_wait_secs",
                "must be between 1 and 20 (SQS's longest long poll)",
            ));
        }
        if !(4..=43_200).contains(&self.queue.lease_secs) {
            return Err(self.invalid(
                "queue.lease_secs",
                "must be between 4 and 43200 (SQS's longest visibility, 12 hours)",
            ));
        }
        match (&self.store.table, self.store.backend) {
            (Some(t), _) if t.trim().is_empty() => {
                return Err(self.invalid("store.table", NOT_EMPTY));
            }
            (None, StoreBackend::Dynamodb) => {
                return Err(ConfigError::invalid(
                    "store.table",
                    &self.source("store.backend"),
                    "is required when store.backend = \"dynamodb\"",
                ));
            }
            _ => {}
        }
        match (&self.queue.url, self.queue.backend) {
            (Some(url), _) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                Err(self.invalid(
                    "queue.url",
                    format!(
                        "`{url}` is not a queue URL such as \
                         https://sqs.us-east-1.amazonaws.com/123456789012/keygate.fifo"
                    ),
                ))
            }
            (Some(url), QueueBackend::Sqs) if !url.trim_end_matches('/').ends_with(".fifo") => {
                Err(self.invalid(
                    "queue.url",
                    format!(
                        "`{url}` is not a FIFO queue (its name must end in .fifo): keygate \
                         needs one so that one pull request's work runs in order"
                    ),
                ))
            }
            (None, QueueBackend::Sqs) => Err(ConfigError::invalid(
                "queue.url",
                &self.source("queue.backend"),
                "is required when queue.backend = \"sqs\"",
            )),
            (_, QueueBackend::Sqs) if self.store.backend == StoreBackend::Sqlite => {
                Err(ConfigError::invalid(
                    "queue.backend",
                    &self.source("queue.backend"),
                    "= \"sqs\" shares work between replicas, which needs a ledger they share: \
                     set store.backend = \"dynamodb\" and store.table, or use queue.backend = \"local\"",
                ))
            }
            _ => Ok(()),
        }
    }
}

const NOT_EMPTY: &str = "must not be empty; remove the key to leave it unset";

/// `https://` anywhere; plain `http://` only to this machine, since the App's JWT and
/// installation tokens travel on every request (a local stand-in or proxy is fine).
pub(super) fn check_api_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err("must be an http(s) URL such as https://api.github.com".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "`{url}` uses plain http:// to another machine, which would send the App's tokens \
             unencrypted; use https://, or http:// only to 127.0.0.1, ::1 or localhost"
        ))
    }
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

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`.
fn is_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "secretsmanager"
        && !parts[3].is_empty()
        && !parts[4].is_empty()
        && parts[5] == "secret"
        && !parts[6].is_empty()
}
