//! The App's private key and webhook secret, read from Secrets Manager at start when the
//! settings name their ARNs (`github.private_key_secret_arn`, `github.webhook_secret_arn`).
//! Every mode reads them here: `serve`, the commands that talk to GitHub, and Lambda's cold
//! start. A running process keeps what it read; a rotated secret takes effect at the next
//! start (a restart, or a new Lambda instance).

use secrecy::SecretString;

use crate::config::{RemoteSecrets, Settings};

/// Reads the secrets `settings` names in Secrets Manager (both side by side) and puts them
/// in place. Does nothing, and loads no AWS configuration, when none is named.
pub async fn load(settings: &mut Settings, sdk: &aws_config::SdkConfig) -> anyhow::Result<()> {
    let arns = settings.remote_secrets();
    if !arns.any() {
        return Ok(());
    }
    let (private_key, webhook_secret) = read(&arns, sdk).await?;
    settings.set_remote_secrets(private_key, webhook_secret);
    Ok(())
}

/// The secrets `arns` names, read side by side, for [`Settings::set_remote_secrets`]: what
/// [`load`] does, for a caller that reads them while it does other things (Lambda's cold
/// start opens the ledger and the queue meanwhile).
pub async fn read_named(
    arns: &RemoteSecrets,
    sdk: &aws_config::SdkConfig,
) -> anyhow::Result<(Read, Read)> {
    if !arns.any() {
        return Ok((None, None));
    }
    read(arns, sdk).await
}

/// [`load`] with the SDK's default configuration (environment, profile, instance role).
pub async fn load_from_env(settings: &mut Settings) -> anyhow::Result<()> {
    if !settings.remote_secrets().any() {
        return Ok(());
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    load(settings, &sdk).await
}

/// A secret as read: its ARN and its text.
pub type Read = Option<(String, SecretString)>;

async fn read(arns: &RemoteSecrets, sdk: &aws_config::SdkConfig) -> anyhow::Result<(Read, Read)> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let (private_key, webhook_secret) = tokio::try_join!(
        fetch(
            &client,
            "github.private_key_secret_arn",
            arns.private_key.as_deref()
        ),
        fetch(
            &client,
            "github.webhook_secret_arn",
            arns.webhook_secret.as_deref()
        ),
    )?;
    Ok((private_key, webhook_secret))
}

/// The secret `arn` names (the setting `key` named it), as Secrets Manager's
/// `SecretString`, trailing whitespace trimmed as for every secret keygate reads. `None`
/// when no ARN is set. Neither the value nor AWS's message about it is ever printed.
async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    key: &str,
    arn: Option<&str>,
) -> anyhow::Result<Read> {
    let Some(arn) = arn else { return Ok(None) };
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            let code = aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("unreachable")
                .to_string();
            anyhow::anyhow!("cannot read the secret {arn} ({key}) from Secrets Manager: {code}")
        })?;
    let value = out.secret_string().map(str::trim_end).unwrap_or_default();
    if value.trim().is_empty() {
        anyhow::bail!(
            "the secret {arn} ({key}) holds no text (SecretString): store the value as text"
        );
    }
    Ok(Some((
        arn.to_string(),
        SecretString::from(value.to_string()),
    )))
}
