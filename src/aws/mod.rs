//! Thin typed AWS calls, all from one SDK configuration: the default credential chain and
//! region resolution, and `AWS_ENDPOINT_URL` honoured so that moto can stand in for AWS.
//! No policy lives here.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_sns::types::MessageAttributeValue;
use zeroize::Zeroizing;

mod error;
pub mod tags;

pub use error::AwsError;
use error::classify;
pub use tags::{tag_key, tag_value};

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
    pub access_key_id: String,
    secret: SecretAccessKey,
}

impl NewKey {
    /// `{"AccessKeyId": ..., "SecretAccessKey": ...}`, as the original Lambda stored it.
    fn secret_json(&self) -> Zeroizing<String> {
        let v = serde_json::json!({
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret.0.as_str(),
        });
        Zeroizing::new(v.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub name: String,
    pub arn: String,
}

/// A notice for SNS.
#[derive(Debug, Clone)]
pub struct Notice {
    pub subject: String,
    pub message: String,
    pub attributes: BTreeMap<&'static str, String>,
}

#[derive(Clone)]
pub struct Aws {
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sns: aws_sdk_sns::Client,
    /// The configuration the clients were made from: the ledger's DynamoDB client is made
    /// from it too, so one endpoint and one credential chain serve every AWS call.
    config: aws_config::SdkConfig,
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
            config: config.clone(),
        }
    }

    /// A DynamoDB client on the same configuration, for the shared ledger (DESIGN §8).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// The user's name as IAM spells it (`None`: no such user). IAM names are unique
    /// without regard to case, and lookups ignore case.
    pub async fn canonical_user_name(&self, user: &str) -> Result<Option<String>, AwsError> {
        match self.iam.get_user().user_name(user).send().await {
            Ok(out) => Ok(out.user().map(|u| u.user_name().to_string())),
            Err(e) => {
                let e = classify("GetUser", e);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    /// Access key IDs the user holds now.
    pub async fn list_access_keys(&self, user: &str) -> Result<Vec<String>, AwsError> {
        let out = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| classify("ListAccessKeys", e))?;
        Ok(out
            .access_key_metadata()
            .iter()
            .filter_map(|m| m.access_key_id().map(str::to_string))
            .collect())
    }

    pub async fn create_access_key(&self, user: &str) -> Result<NewKey, AwsError> {
        // Never retried by the SDK: a retry after a lost answer would create a second key
        // that nobody records. The caller rolls back against the keys listed before.
        let out = self
            .iam
            .create_access_key()
            .user_name(user)
            .customize()
            .config_override(
                aws_sdk_iam::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| classify("CreateAccessKey", e))?;
        let key = out.access_key().ok_or_else(|| {
            AwsError::keygate(
                "CreateAccessKey",
                "EmptyResponse",
                "no key in the answer".into(),
            )
        })?;
        Ok(NewKey {
            access_key_id: key.access_key_id().to_string(),
            secret: SecretAccessKey(Zeroizing::new(key.secret_access_key().to_string())),
        })
    }

    pub async fn delete_access_key(&self, user: &str, access_key_id: &str) -> Result<(), AwsError> {
        match self
            .iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(access_key_id)
            .send()
            .await
            .map_err(|e| classify("DeleteAccessKey", e))
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Stores the key. `token` makes a retried call idempotent.
    pub async fn create_secret(
        &self,
        name: &str,
        key: &NewKey,
        token: &str,
        kms_key_id: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<StoredSecret, AwsError> {
        let value = key.secret_json();
        let mut req = self
            .secrets
            .create_secret()
            .name(name)
            .client_request_token(token)
            .description("AWS access key issued by keygate")
            .secret_string(value.as_str());
        if let Some(kms) = kms_key_id {
            req = req.kms_key_id(kms);
        }
        for (k, v) in tags {
            let (key, key_changed) = tag_key(k);
            let (value, value_changed) = tag_value(v);
            if key_changed || value_changed {
                tracing::warn!(tag = %key, "a tag was changed to fit Secrets Manager's rules");
            }
            req = req.tags(Tag::builder().key(key).value(value).build());
        }
        let out = req.send().await.map_err(|e| classify("CreateSecret", e))?;
        Ok(StoredSecret {
            name: out.name().unwrap_or(name).to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
        })
    }

    /// The secret `name` if it exists and was created with `token` (its version ID): a
    /// secret of the same name that someone else made is not ours to claim.
    pub async fn find_own_secret(
        &self,
        name: &str,
        token: &str,
    ) -> Result<Option<StoredSecret>, AwsError> {
        match self.secrets.describe_secret().secret_id(name).send().await {
            Ok(out) => {
                let ours = out
                    .version_ids_to_stages()
                    .is_some_and(|v| v.contains_key(token));
                Ok(ours.then(|| StoredSecret {
                    name: out.name().unwrap_or(name).to_string(),
                    arn: out.arn().unwrap_or_default().to_string(),
                }))
            }
            Err(e) => {
                let e = classify("DescribeSecret", e);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    pub async fn publish(&self, topic_arn: &str, notice: &Notice) -> Result<String, AwsError> {
        let mut req = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(&notice.subject)
            .message(&notice.message);
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
        let out = req.send().await.map_err(|e| classify("Publish", e))?;
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
    }
}
