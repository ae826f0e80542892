//! The secrets: the App's private key, the webhook secret, and the token of the AWS Health
//! alerts endpoint.
//!
//! Each comes from its environment variable or from the file its key names, never from the
//! TOML text or the command line. A non-empty variable wins over the file, as every
//! variable wins over the file. An empty one is an error, never a quiet fall-back to the
//! file or to no secret: an operator who set it meant something, and an empty webhook
//! secret would let anyone sign deliveries.

use std::path::Path;

use secrecy::SecretString;

use super::{ConfigError, Source};

/// The App's private key (the PEM itself).
pub(super) const PRIVATE_KEY_VAR: &str = "KEYGATE_GITHUB_PRIVATE_KEY";
/// The webhook secret.
pub(super) const WEBHOOK_SECRET_VAR: &str = "KEYGATE_GITHUB_WEBHOOK_SECRET";
/// The bearer token `/metrics` asks for (DESIGN §4).
pub(super) const METRICS_TOKEN_VAR: &str = "KEYGATE_SERVER_METRICS_TOKEN";

/// The token `POST /alerts/aws-health` requires (DESIGN §10).
pub(super) const ALERTS_TOKEN_VAR: &str = "KEYGATE_SERVER_ALERTS_TOKEN";

/// One secret: where it may come from and what to call it in messages.
pub(super) struct Secret {
    /// `github.private_key`: the name `Settings::source` knows it by.
    pub key: &'static str,
    /// The variable that may hold it.
    pub var: &'static str,
    /// The file key that may point at it.
    pub file_key: &'static str,
    /// "App private key", for messages.
    pub what: &'static str,
}

pub(super) const PRIVATE_KEY: Secret = Secret {
    key: "github.private_key",
    var: PRIVATE_KEY_VAR,
    file_key: "github.private_key_file",
    what: "GitHub App private key",
};

pub(super) const METRICS_TOKEN: Secret = Secret {
    key: "server.metrics_token",
    var: METRICS_TOKEN_VAR,
    file_key: "server.metrics_token_file",
    what: "metrics token",
};

pub(super) const ALERTS_TOKEN: Secret = Secret {
    key: "server.alerts_token",
    var: ALERTS_TOKEN_VAR,
    file_key: "server.alerts_token_file",
    what: "alerts token",
};

pub(super) const WEBHOOK_SECRET: Secret = Secret {
    key: "github.webhook_secret",
    var: WEBHOOK_SECRET_VAR,
    file_key: "github.webhook_secret_file",
    what: "webhook secret",
};

/// The secret and where it came from, or `None` when neither the variable nor the file
/// is set. `file` is the configured path with the source of its key. Warnings (the file is
/// open to other users, the variable hides a file) are pushed to `warnings`.
pub(super) fn resolve(
    secret: &Secret,
    var_value: Option<&str>,
    file: Option<(&Path, &Source)>,
    warnings: &mut Vec<String>,
) -> Result<Option<(SecretString, Source)>, ConfigError> {
    let env_source = Source::Env(secret.var.to_string());
    match (var_value, file) {
        (Some(value), file) => {
            let value = value.trim_end();
            if value.trim().is_empty() {
                let hidden = file
                    .map(|(path, from)| {
                        format!(
                            "; it would also hide {} = {} (from {from}): unset the variable to \
                             use that file",
                            secret.file_key,
                            path.display()
                        )
                    })
                    .unwrap_or_default();
                return Err(ConfigError::invalid(
                    secret.key,
                    &env_source,
                    format!(
                        "the variable is set but empty: an empty {} is no secret{hidden}",
                        secret.what
                    ),
                ));
            }
            if let Some((path, from)) = file {
                warnings.push(format!(
                    "{} is set, so {} = {} (from {from}) is not read",
                    secret.var,
                    secret.file_key,
                    path.display()
                ));
            }
            Ok(Some((SecretString::from(value.to_string()), env_source)))
        }
        (None, Some((path, from))) => {
            let text = read_file(secret, path, from, warnings)?;
            Ok(Some((text, from.clone())))
        }
        (None, None) => Ok(None),
    }
}

/// Reads a secret file, trimmed of trailing whitespace; an empty or whitespace-only file
/// is an error naming the key and the file.
fn read_file(
    secret: &Secret,
    path: &Path,
    from: &Source,
    warnings: &mut Vec<String>,
) -> Result<SecretString, ConfigError> {
    let fail = |message: String| ConfigError::invalid(secret.file_key, from, message);
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if let Some(mode) = file_mode(path)
        && open_to_others(mode)
    {
        warnings.push(format!(
            "{} ({}) is open to its group or other users (mode {:03o}); run `chmod 600 {}`",
            path.display(),
            secret.file_key,
            mode & 0o777,
            path.display()
        ));
    }
    let trimmed = text.trim_end();
    if trimmed.trim().is_empty() {
        return Err(fail(format!(
            "{} is empty or only whitespace: an empty {} is no secret",
            path.display(),
            secret.what
        )));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// Whether a file's permission bits give its group or anyone else any access.
pub(super) fn open_to_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}
