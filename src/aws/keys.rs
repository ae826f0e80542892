//! The AWS calls of a key's life after issuing (DESIGN §5). Each is safe to repeat:
//! deactivating an inactive key, deleting a key or secret that is gone, is a no-op.

use std::collections::BTreeMap;

use aws_sdk_iam::types::StatusType;
use time::OffsetDateTime;

use super::{Aws, AwsError, found, gone_is_done};
use crate::ids::{AccessKeyId, IamUser, SecretName};
use crate::life::SecretDeletion;

/// Every secret keygate creates carries this tag (DESIGN §3.3): listing by it finds them.
pub const EXPIRES_TAG: &str = "keygate:expires-at";
/// The access key a secret holds, tagged since keygate tags it (DESIGN §3.3); a rotation
/// moves it to the new key.
pub const ACCESS_KEY_TAG: &str = "keygate:access-key-id";
/// The next rotation in place of a secret whose request rotates (DESIGN §10): written by
/// keygate, and like `keygate:expires-at` it can bring the rotation forward, never back.
pub const ROTATES_TAG: &str = "keygate:rotates-at";

/// A secret as its metadata shows it: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFacts {
    pub name: SecretName,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// Its version IDs: keygate's `ClientRequestToken` is one of them when keygate made it.
    pub version_ids: Vec<String>,
    /// Deletion is scheduled (it is in its recovery window).
    pub scheduled_for_deletion: bool,
}

/// A secret as `ListSecrets` shows it: metadata and tags, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSecret {
    pub name: SecretName,
    pub arn: String,
    pub created: Option<OffsetDateTime>,
    pub tags: BTreeMap<String, String>,
}

/// An access key as IAM lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub access_key_id: AccessKeyId,
    pub active: bool,
}

impl Aws {
    /// `UpdateAccessKey` to `Inactive`. A key (or user) that is gone is as inactive as can be.
    pub async fn deactivate_access_key(
        &self,
        user: &IamUser,
        access_key_id: &AccessKeyId,
    ) -> Result<(), AwsError> {
        let ask = self
            .iam
            .update_access_key()
            .user_name(user.as_str())
            .access_key_id(access_key_id.as_str())
            .status(StatusType::Inactive)
            .send();
        gone_is_done(self.call("UpdateAccessKey", ask).await)
    }

    /// `DeleteSecret` with the recovery window asked for. A secret that is gone, or whose
    /// deletion is already scheduled, is left as it is.
    pub async fn delete_secret(
        &self,
        name: &SecretName,
        how: SecretDeletion,
    ) -> Result<(), AwsError> {
        match self.describe_secret(name).await? {
            None => return Ok(()),
            Some(s) if s.scheduled_for_deletion => return Ok(()),
            Some(_) => {}
        }
        let mut req = self.secrets.delete_secret().secret_id(name.as_str());
        req = match how {
            SecretDeletion::Immediately => req.force_delete_without_recovery(true),
            SecretDeletion::Recoverable(days) => req.recovery_window_in_days(i64::from(days)),
        };
        match self.call("DeleteSecret", req.send()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // Scheduled by someone else since it was described.
            Err(e) if e.code() == Some("InvalidRequestException") => {
                match self.describe_secret(name).await? {
                    Some(s) if !s.scheduled_for_deletion => Err(e),
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Sets `tags` on the secret (`TagResource`), the others left as they are.
    pub async fn tag_secret(
        &self,
        name: &SecretName,
        tags: &[(&str, &str)],
    ) -> Result<(), AwsError> {
        let mut req = self.secrets.tag_resource().secret_id(name.as_str());
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build(),
            );
        }
        self.call("TagResource", req.send()).await.map(|_| ())
    }

    /// A secret's tags and versions (`None`: no such secret).
    pub async fn describe_secret(
        &self,
        name: &SecretName,
    ) -> Result<Option<SecretFacts>, AwsError> {
        let ask = self
            .secrets
            .describe_secret()
            .secret_id(name.as_str())
            .send();
        let out = found(self.call("DescribeSecret", ask).await)?;
        Ok(out.map(|out| SecretFacts {
            name: out.name().map_or_else(|| name.clone(), SecretName::new),
            arn: out.arn().unwrap_or_default().to_string(),
            tags: tags(out.tags()),
            version_ids: out
                .version_ids_to_stages()
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default(),
            scheduled_for_deletion: out.deleted_date().is_some(),
        }))
    }

    /// Every secret with a tag whose key is `tag_key` (`ListSecrets`, all pages), those
    /// scheduled for deletion included: their tags still say whose key they held. For
    /// `keygate audit`, which runs with the operator's read-only credentials: keygate's own
    /// role is never granted `ListSecrets` (DESIGN §5 acts on keys it recorded; only the audit
    /// looks for keys it did not).
    pub async fn secrets_tagged(&self, tag_key: &str) -> Result<Vec<ListedSecret>, AwsError> {
        let filter = aws_sdk_secretsmanager::types::Filter::builder()
            .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagKey)
            .values(tag_key)
            .build();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(
                    "ListSecrets",
                    self.secrets
                        .list_secrets()
                        .filters(filter.clone())
                        .include_planned_deletion(true)
                        .set_next_token(token.take())
                        .send(),
                )
                .await?;
            for s in page.secret_list() {
                let tags = tags(s.tags());
                // The filter matches tag keys by prefix: keep the exact key only.
                if !tags.contains_key(tag_key) {
                    continue;
                }
                out.push(ListedSecret {
                    name: SecretName::new(s.name().unwrap_or_default()),
                    arn: s.arn().unwrap_or_default().to_string(),
                    created: s
                        .created_date()
                        .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok()),
                    tags,
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// The user's access keys and whether each is active (`None`: no such user).
    pub async fn access_key_statuses(
        &self,
        user: &IamUser,
    ) -> Result<Option<Vec<KeyStatus>>, AwsError> {
        let ask = self.iam.list_access_keys().user_name(user.as_str()).send();
        let out = found(self.call("ListAccessKeys", ask).await)?;
        Ok(out.map(|out| {
            out.access_key_metadata()
                .iter()
                .filter_map(|m| {
                    Some(KeyStatus {
                        access_key_id: AccessKeyId::new(m.access_key_id()?),
                        active: m.status() == Some(&StatusType::Active),
                    })
                })
                .collect()
        }))
    }

    /// When AWS last saw the key used (`None`: never, or the key is gone).
    pub async fn access_key_last_used(
        &self,
        access_key_id: &AccessKeyId,
    ) -> Result<Option<OffsetDateTime>, AwsError> {
        let ask = self
            .iam
            .get_access_key_last_used()
            .access_key_id(access_key_id.as_str())
            .send();
        let out = found(self.call("GetAccessKeyLastUsed", ask).await)?;
        Ok(out
            .as_ref()
            .and_then(|out| out.access_key_last_used())
            .and_then(|u| u.last_used_date())
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok()))
    }
}

fn tags(list: &[aws_sdk_secretsmanager::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}
