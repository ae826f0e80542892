//! A Lambda instance's cold start: settings from the environment, the App's two secrets
//! from Secrets Manager, the ledger and the queue opened with `serve`'s checks, and the
//! workflow built once for every invocation the instance serves.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::Lambda;
use crate::aws::Aws;
use crate::config::{ConfigError, QueueBackend, Settings, StoreBackend};
use crate::github::webhook::SignatureKey;
use crate::ids::{BranchName, RepoName};
use crate::ledger::Role;
use crate::queue::WorkQueue;
use crate::server::{AppState, HttpLimits, MetricsAccess, UnverifiedBudget, router};
use crate::startup::{App, lifecycle_rules};

/// The variable naming the Secrets Manager secret that holds the App's private key (PEM).
pub const PRIVATE_KEY_ARN_VAR: &str = "KEYGATE_LAMBDA_PRIVATE_KEY_SECRET_ARN";
/// The variable naming the Secrets Manager secret that holds the webhook secret.
pub const WEBHOOK_SECRET_ARN_VAR: &str = "KEYGATE_LAMBDA_WEBHOOK_SECRET_ARN";

/// Where the two secrets are kept, as the environment names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretArns {
    pub private_key: Option<String>,
    pub webhook_secret: Option<String>,
}

impl SecretArns {
    /// Puts the ARNs the Lambda variables name into the settings' `github.*_secret_arn`.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(arn) = &self.private_key {
            settings.github.private_key_secret_arn = Some(arn.clone());
        }
        if let Some(arn) = &self.webhook_secret {
            settings.github.webhook_secret_arn = Some(arn.clone());
        }
    }

    pub fn from_env(env: &[(String, String)]) -> SecretArns {
        let get = |name: &str| {
            env.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        SecretArns {
            private_key: get(PRIVATE_KEY_ARN_VAR),
            webhook_secret: get(WEBHOOK_SECRET_ARN_VAR),
        }
    }
}

/// Lambda keeps nothing between instances but what is in AWS: a shared DynamoDB ledger and
/// the SQS queue that invokes it. A SQLite file would vanish with the instance, and an
/// in-process queue would have no worker between invocations.
pub fn fits_lambda(store: StoreBackend, queue: QueueBackend) -> Result<(), ConfigError> {
    let mut wrong = Vec::new();
    if store != StoreBackend::Dynamodb {
        wrong.push("store.backend = \"dynamodb\" (KEYGATE_STORE_BACKEND): a SQLite ledger would vanish with the Lambda instance");
    }
    if queue != QueueBackend::Sqs {
        wrong.push("queue.backend = \"sqs\" (KEYGATE_QUEUE_BACKEND): nothing runs in-process work between invocations");
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Missing(format!(
        "in Lambda keygate needs {}",
        wrong.join(", and ")
    )))
}

impl Lambda {
    /// Builds the instance's state from `env` (the process environment; a configuration
    /// file only when `config` or `KEYGATE_CONFIG` names one) and AWS as `sdk` describes it. Anything missing (settings, a secret, the table, the queue) is an error
    /// naming it; `main` exits non-zero and Lambda reports the failed start.
    pub async fn start(
        config: Option<&Path>,
        env: Vec<(String, String)>,
        sdk: &aws_config::SdkConfig,
    ) -> anyhow::Result<Lambda> {
        let arns = SecretArns::from_env(&env);
        let mut settings = Settings::load(config, env)?;
        fits_lambda(settings.store.backend, settings.queue.backend)?;
        // The Lambda variables name the secrets as the template sets them; they win over
        // github.*_secret_arn, and without them the settings' own stand.
        arns.apply(&mut settings);
        // The secrets, the ledger and the queue side by side: each is a round trip to AWS,
        // and none needs another (the ledger and the queue take no secret).
        let aws = Aws::from_config(sdk);
        let remote = settings.remote_secrets();
        let ((private_key, webhook_secret), (ledger, queue)) = tokio::try_join!(
            crate::aws::app_secrets::read_named(&remote, sdk),
            App::open(&settings, &aws, Role::Serve),
        )?;
        settings.set_remote_secrets(private_key, webhook_secret);
        let service = settings.service().with_context(|| {
            format!(
                "in Lambda the two secrets come from Secrets Manager: set {PRIVATE_KEY_ARN_VAR} \
                 and {WEBHOOK_SECRET_ARN_VAR} to their ARNs"
            )
        })?;
        let key = Arc::new(SignatureKey::new(service.webhook_secret));
        let repository = RepoName::new(service.repository.to_string());
        let app = App::assemble(&settings, aws, ledger, queue)?;
        let WorkQueue::Sqs(sqs) = &app.queue else {
            anyhow::bail!("in Lambda the work queue must be SQS (queue.backend = \"sqs\")");
        };
        let sqs = (**sqs).clone();
        let metrics = app.workflow.metrics.clone();
        let state = AppState {
            key,
            ledger: app.ledger.clone(),
            repository,
            branch: BranchName::new(settings.github.branch.clone()),
            queue: app.queue.clone(),
            unverified: UnverifiedBudget::new(settings.server.max_unverified_bytes as usize),
            limits: HttpLimits::default(),
            metrics: metrics.clone(),
            metrics_access: MetricsAccess::for_function_url(settings.metrics_token.clone()),
            // EventBridge invokes the function with AWS Health's alerts directly.
            health_alerts: None,
        };
        tracing::info!(
            repository = %state.repository,
            branch = %state.branch,
            queue = sqs.url(),
            "keygate is ready for Lambda invocations"
        );
        Ok(Lambda {
            router: router(state),
            runner: app.runner,
            queue: sqs,
            rules: lifecycle_rules(&settings),
            workflow: app.workflow,
            reported: Mutex::new(metrics.figures()),
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_secrets_arns_come_from_their_variables_and_an_empty_one_is_none() {
        let arns = SecretArns::from_env(&env(&[
            (
                PRIVATE_KEY_ARN_VAR,
                "arn:aws:secretsmanager:eu-west-1:1:secret:pem",
            ),
            (WEBHOOK_SECRET_ARN_VAR, ""),
            ("KEYGATE_GITHUB_APP_ID", "7"),
        ]));
        assert_eq!(
            arns.private_key.as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:1:secret:pem")
        );
        assert_eq!(arns.webhook_secret, None);
    }

    #[test]
    fn lambda_takes_only_the_shared_ledger_and_the_sqs_queue() {
        assert!(fits_lambda(StoreBackend::Dynamodb, QueueBackend::Sqs).is_ok());
        let err = fits_lambda(StoreBackend::Sqlite, QueueBackend::Local)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("store.backend = \"dynamodb\"") && err.contains("queue.backend = \"sqs\""),
            "{err}"
        );
        let err = fits_lambda(StoreBackend::Dynamodb, QueueBackend::Local)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("store.backend"), "{err}");
    }

    #[test]
    fn the_lambda_variables_are_not_taken_for_settings() {
        // KEYGATE_LAMBDA_* has no section in the settings: loading them is no typo error.
        let settings = Settings::load(
            None,
            env(&[
                (PRIVATE_KEY_ARN_VAR, "arn:x"),
                (WEBHOOK_SECRET_ARN_VAR, "arn:y"),
            ]),
        );
        assert!(settings.is_ok());
    }
}
