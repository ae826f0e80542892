//! Thin typed AWS calls, all from one SDK configuration: the default credential chain and
//! region resolution, and `AWS_ENDPOINT_URL` honoured so that moto can stand in for AWS.
//! With `[accounts]`, one member [`Aws`] per account acts there through its issuer role
//! (`accounts`). No policy lives here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aws_sdk_sns::types::MessageAttributeValue;
use zeroize::Zeroizing;

pub mod accounts;
pub mod app_secrets;
mod error;
mod keys;
pub mod policy;
mod secrets;
pub mod sqs;
pub mod tags;

pub use accounts::SESSION_NAME;
pub use error::{AwsError, Unreachable, found};

/// A removal of something already gone (a deleted key, a missing user) is done, not failed:
/// every lifecycle and rollback step may run twice.
fn gone_is_done<T>(result: Result<T, AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
use error::classify;
pub use keys::{ACCESS_KEY_TAG, EXPIRES_TAG, KeyStatus, ListedSecret, ROTATES_TAG, SecretFacts};
pub use secrets::{ACCOUNT_TAG, Ownership, READERS_TAG, StoredSecret, TOKEN_TAG};
pub use tags::{tag_key, tag_value};

use crate::ids::{AccessKeyId, AccountAlias, IamUser};
use crate::metrics::Metrics;

/// A secret access key: zeroized on drop, never formatted.
pub struct SecretAccessKey(Zeroizing<String>);

impl fmt::Debug for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretAccessKey([redacted])")
    }
}

/// A key just created. Only `secret_json` lets the secret out, and only into Secrets Manager.
#[derive(Debug)]
pub struct NewKey {
    pub access_key_id: AccessKeyId,
    secret: SecretAccessKey,
}

impl NewKey {
    /// `{"AccessKeyId": ..., "SecretAccessKey": ...}`, as the original Lambda stored it.
    pub(crate) fn secret_json(&self) -> Zeroizing<String> {
        let v = serde_json::json!({
            "AccessKeyId": self.access_key_id.as_str(),
            "SecretAccessKey": self.secret.0.as_str(),
        });
        Zeroizing::new(v.to_string())
    }

    /// The SHA-256 of its secret access key, in hex: recorded so that a leak report that
    /// shows only the secret finds its key (DESIGN §10). The secret cannot be recovered from it.
    pub fn fingerprint(&self) -> String {
        secret_fingerprint(self.secret.0.as_str())
    }
}

/// The fingerprint of a secret access key, as [`NewKey::fingerprint`] records it.
pub fn secret_fingerprint(secret_access_key: &str) -> String {
    use aws_lc_rs::digest;
    hex::encode(digest::digest(&digest::SHA256, secret_access_key.trim().as_bytes()).as_ref())
}

/// A notice for SNS.
#[derive(Debug, Clone)]
pub struct Notice {
    pub subject: String,
    pub message: String,
    pub attributes: BTreeMap<&'static str, String>,
    /// The same notice for chat (a custom notification of Amazon Q Developer in chat
    /// applications), sent to HTTPS subscribers when `aws.chat_notices` is on.
    pub chat: Option<serde_json::Value>,
}

/// SNS's per-protocol message (`MessageStructure=json`): the text for every protocol but
/// HTTPS, which the chat integration subscribes with and which gets `chat`.
pub fn per_protocol_message(text: &str, chat: &serde_json::Value) -> String {
    serde_json::json!({
        "default": text,
        "email": text,
        "sqs": text,
        "https": chat.to_string(),
    })
    .to_string()
}

#[derive(Clone)]
pub struct Aws {
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sns: aws_sdk_sns::Client,
    sts: aws_sdk_sts::Client,
    /// The ARN keygate runs as, asked once: it does not change while the process runs.
    caller_arn: Arc<tokio::sync::OnceCell<String>>,
    /// `aws.chat_notices`: publish notices per protocol, with the chat form for HTTPS.
    chat_notices: bool,
    /// The configuration the clients were made from: the ledger's DynamoDB client is made
    /// from it too, so one endpoint and one credential chain serve every AWS call.
    config: aws_config::SdkConfig,
    metrics: Metrics,
    /// The account these clients act in (DESIGN §9): `None` for keygate's own.
    account: Option<AccountAlias>,
    /// A member's issuer role, whose cached credentials sign its calls.
    session: Option<Arc<accounts::RoleSession>>,
    /// keygate's own clients hold one member per account of `[accounts]`.
    members: Arc<BTreeMap<AccountAlias, Aws>>,
    /// The accounts the members were made from, to make them again (`with_metrics`).
    accounts: crate::config::Accounts,
}

impl Aws {
    /// Loads the SDK configuration the standard way (environment, profile, IMDS).
    pub async fn from_env() -> Aws {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Aws::from_config(&config)
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Aws {
        Aws {
            iam: aws_sdk_iam::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            caller_arn: Arc::default(),
            chat_notices: false,
            config: config.clone(),
            metrics: Metrics::default(),
            account: None,
            session: None,
            members: Arc::default(),
            accounts: Default::default(),
        }
    }

    /// The region these clients call (a member's own, when `[accounts]` sets one).
    pub fn region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    /// A DynamoDB client on the same configuration, for the shared ledger (DESIGN §8).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// Publishes every notice with SNS's per-protocol message structure, the chat form to
    /// HTTPS subscribers (`aws.chat_notices`).
    pub fn with_chat_notices(mut self, on: bool) -> Aws {
        self.chat_notices = on;
        self
    }

    /// Counts these clients' calls, and their members', into `metrics` (by default into
    /// counters nobody reads).
    pub fn with_metrics(mut self, metrics: Metrics) -> Aws {
        self.metrics = metrics;
        if self.members.is_empty() {
            return self;
        }
        let accounts = self.accounts.clone();
        self.without_members().with_accounts(&accounts)
    }

    /// Sends one request, classifies its failure and counts it by operation and answer
    /// (`ok` or the error code): every AWS call keygate makes goes through here. In a member
    /// account the issuer role's credentials are made sure of first (`AssumeRole`, counted
    /// here too, when none are cached): a failure to assume it names the account, and the
    /// request is never sent. Every failure in a member account names it.
    async fn call<T, E>(
        &self,
        operation: &'static str,
        send: impl std::future::Future<
            Output = Result<
                T,
                aws_sdk_iam::error::SdkError<E, aws_sdk_iam::config::http::HttpResponse>,
            >,
        >,
    ) -> Result<T, AwsError>
    where
        E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        if let Some(session) = &self.session {
            // Boxed: an AssumeRole's future is large, and every call would carry it inline.
            Box::pin(session.credentials()).await?;
        }
        self.finish(operation, send.await)
    }

    /// An answer of `operation`: its failure classified (and named by this account), and
    /// counted. Not an `async fn` wrapping the request: debug builds would give every call
    /// a second copy of the SDK's large future on the stack.
    fn finish<T, E>(
        &self,
        operation: &'static str,
        answer: Result<T, aws_sdk_iam::error::SdkError<E, aws_sdk_iam::config::http::HttpResponse>>,
    ) -> Result<T, AwsError>
    where
        E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let result = answer.map_err(|e| classify(operation, e).in_account(self.account.as_ref()));
        let status = match &result {
            Ok(_) => "ok",
            Err(e) => e.code().unwrap_or("Unreachable"),
        };
        self.metrics.aws_call(operation, status);
        result
    }

    /// The ARN of the principal keygate runs as (`sts:GetCallerIdentity`, which needs no
    /// permission): for a role, the assumed-role session's ARN.
    pub async fn caller_arn(&self) -> Result<String, AwsError> {
        self.caller_arn
            .get_or_try_init(|| async {
                let out = self
                    .call("GetCallerIdentity", self.sts.get_caller_identity().send())
                    .await?;
                out.arn().map(str::to_string).ok_or_else(|| {
                    AwsError::keygate("GetCallerIdentity", "EmptyResponse", "no ARN".into())
                })
            })
            .await
            .cloned()
    }

    /// Reads the SNS topic's attributes (`GetTopicAttributes`): the topic exists and
    /// keygate may see it. Used by `keygate doctor`.
    pub async fn topic_exists(&self, arn: &str) -> Result<(), AwsError> {
        let ask = self.sns.get_topic_attributes().topic_arn(arn).send();
        self.call("GetTopicAttributes", ask).await.map(|_| ())
    }

    /// The user's name as IAM spells it (`None`: no such user). IAM names are unique
    /// without regard to case, and lookups ignore case.
    pub async fn canonical_user_name(&self, user: &IamUser) -> Result<Option<IamUser>, AwsError> {
        let ask = self.iam.get_user().user_name(user.as_str()).send();
        let out = found(self.call("GetUser", ask).await)?;
        Ok(out.and_then(|out| out.user().map(|u| IamUser::new(u.user_name()))))
    }

    /// Access key IDs the user holds now.
    pub async fn list_access_keys(&self, user: &IamUser) -> Result<Vec<AccessKeyId>, AwsError> {
        let keys = self.list_access_keys_dated(user).await?;
        Ok(keys.into_iter().map(|(id, _)| id).collect())
    }

    /// The user's access key IDs with when each was created (milliseconds since the epoch).
    pub async fn list_access_keys_dated(
        &self,
        user: &IamUser,
    ) -> Result<Vec<(AccessKeyId, Option<i64>)>, AwsError> {
        let out = self
            .call(
                "ListAccessKeys",
                self.iam.list_access_keys().user_name(user.as_str()).send(),
            )
            .await?;
        Ok(out
            .access_key_metadata()
            .iter()
            .filter_map(|m| {
                let created = m.create_date().and_then(|d| d.to_millis().ok());
                m.access_key_id().map(|id| (AccessKeyId::new(id), created))
            })
            .collect())
    }

    pub async fn create_access_key(&self, user: &IamUser) -> Result<NewKey, AwsError> {
        // Never retried by the SDK: a retry after a lost answer would create a second key
        // that nobody records. The caller rolls back against the keys listed before.
        let out = self
            .call(
                "CreateAccessKey",
                self.iam
                    .create_access_key()
                    .user_name(user.as_str())
                    .customize()
                    .config_override(
                        aws_sdk_iam::config::Builder::default()
                            .retry_config(aws_config::retry::RetryConfig::disabled()),
                    )
                    .send(),
            )
            .await?;
        let key = out.access_key().ok_or_else(|| {
            AwsError::keygate(
                "CreateAccessKey",
                "EmptyResponse",
                "no key in the answer".into(),
            )
        })?;
        Ok(NewKey {
            access_key_id: AccessKeyId::new(key.access_key_id()),
            secret: SecretAccessKey(Zeroizing::new(key.secret_access_key().to_string())),
        })
    }

    pub async fn delete_access_key(
        &self,
        user: &IamUser,
        access_key_id: &AccessKeyId,
    ) -> Result<(), AwsError> {
        let ask = self
            .iam
            .delete_access_key()
            .user_name(user.as_str())
            .access_key_id(access_key_id.as_str())
            .send();
        gone_is_done(self.call("DeleteAccessKey", ask).await)
    }

    /// The `aws:PrincipalArn` patterns that name keygate itself, for a readers policy
    /// ([`policy::own_principal_patterns`]).
    pub async fn own_principal_patterns(&self) -> Result<Vec<String>, AwsError> {
        let arn = self.caller_arn().await?;
        policy::own_principal_patterns(&arn).map_err(|why| {
            AwsError::keygate("GetCallerIdentity", "UnusableArn", format!("{why}: {arn}"))
        })
    }

    /// Puts `document` as the secret's resource policy, with `BlockPublicPolicy`: AWS refuses
    /// a document that would let anyone outside the account read the secret.
    pub async fn publish(&self, topic_arn: &str, notice: &Notice) -> Result<String, AwsError> {
        let mut req = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(&notice.subject);
        req = match (&notice.chat, self.chat_notices) {
            (Some(chat), true) => req
                .message(per_protocol_message(&notice.message, chat))
                .message_structure("json"),
            _ => req.message(&notice.message),
        };
        for (k, v) in &notice.attributes {
            req = req.message_attributes(
                *k,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(|e| AwsError::keygate("Publish", "BadAttribute", e.to_string()))?,
            );
        }
        let out = self.call("Publish", req.send()).await?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_access_keys_never_format() {
        let k = NewKey {
            access_key_id: "AKIAEXAMPLE".into(),
            secret: SecretAccessKey(Zeroizing::new("wJalrXUtnFEMI/K7MDENG".into())),
        };
        let shown = format!("{k:?}");
        assert!(shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("wJalrXUtnFEMI"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&k.secret_json()).unwrap()["SecretAccessKey"],
            "wJalrXUtnFEMI/K7MDENG"
        );
        let fp = k.fingerprint();
        assert_eq!(fp, secret_fingerprint("wJalrXUtnFEMI/K7MDENG"));
        assert_eq!(fp.len(), 64);
        assert!(!fp.contains("wJalr"), "a fingerprint is not the secret");
        assert_ne!(fp, secret_fingerprint("wJalrXUtnFEMI/K7MDENH"));
    }
}
