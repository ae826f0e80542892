//! Storing a key's secret (DESIGN §3): created under a name with a random token recorded
//! beforehand, never adopted when someone else made it, and for a request with readers
//! created empty, guarded by its resource policy, and only then given its value.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use aws_sdk_secretsmanager::types::Tag;

use super::{Aws, AwsError, NewKey, gone_is_done, tag_key, tag_value};
use crate::ids::{AccountAlias, SecretName};

/// The tag that marks a secret created for a request with `readers`: set with the secret by
/// `CreateSecret`, so after a crash keygate can tell that the secret is complete only with
/// its resource policy. Its value lists the readers.
pub const READERS_TAG: &str = "keygate:readers";

/// The account alias a secret's key was issued in, in a keygate with `[accounts]` (DESIGN
/// §9): from a secret in a member account back to keygate's configuration.
pub const ACCOUNT_TAG: &str = "keygate:account";

/// The tag that proves a secret is keygate's own: the SHA-256 of the random token keygate
/// recorded in its ledger before it created the secret. Nobody can compute it beforehand, so
/// nobody can plant a secret keygate would take for its own.
pub const TOKEN_TAG: &str = "keygate:token-sha256";

/// What makes a secret this intent's own: its recorded token, and the tags that name the
/// request it was made for.
#[derive(Debug, Clone)]
pub struct Ownership<'a> {
    pub token: &'a str,
    pub repository: &'a str,
    pub pr: u64,
    pub path: &'a str,
    /// The account the intent issues in: its secret carries it as [`ACCOUNT_TAG`] (and a
    /// secret in keygate's own account carries none).
    pub account: Option<&'a AccountAlias>,
}

impl Ownership<'_> {
    /// The [`TOKEN_TAG`] value for this token.
    pub fn token_tag(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, self.token.as_bytes()).as_ref())
    }

    /// Whether a secret's tags say it is this intent's.
    fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        let is = |k: &str, v: &str| tags.get(k).is_some_and(|t| t == v);
        is(TOKEN_TAG, &self.token_tag())
            && tags
                .get("keygate:repository")
                .is_some_and(|r| r.eq_ignore_ascii_case(self.repository))
            && is("keygate:pr", &self.pr.to_string())
            && is("keygate:request", self.path)
            && tags.get(ACCOUNT_TAG).map(String::as_str) == self.account.map(AccountAlias::as_str)
    }
}

/// A secret keygate made for an intent.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub name: SecretName,
    pub arn: String,
    /// Made for a request that names readers ([`READERS_TAG`]): complete only once its
    /// resource policy is on.
    pub for_readers: bool,
    /// It holds the key: a version made with the intent's token.
    pub has_value: bool,
}

impl Aws {
    /// Creates the secret `name` with `tags`, holding `key` when given (else empty: a
    /// request with readers gets its value only after its resource policy). `token` makes a
    /// retried call idempotent, and names the value's version.
    pub async fn create_secret(
        &self,
        name: &SecretName,
        key: Option<&NewKey>,
        token: &str,
        kms_key_id: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<StoredSecret, AwsError> {
        let value = key.map(NewKey::secret_json);
        let mut req = self
            .secrets
            .create_secret()
            .name(name.as_str())
            .client_request_token(token)
            .description("AWS access key issued by keygate")
            .set_secret_string(value.as_ref().map(|v| v.to_string()));
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
        let out = self.call("CreateSecret", req.send()).await?;
        Ok(StoredSecret {
            name: out.name().map_or_else(|| name.clone(), SecretName::new),
            arn: out.arn().unwrap_or_default().to_string(),
            for_readers: tags.contains_key(READERS_TAG),
            has_value: key.is_some(),
        })
    }

    /// Gives an empty secret its value, as the version `token`: idempotent.
    pub async fn put_secret_value(
        &self,
        name: &SecretName,
        key: &NewKey,
        token: &str,
    ) -> Result<(), AwsError> {
        let value = key.secret_json();
        self.call(
            "PutSecretValue",
            self.secrets
                .put_secret_value()
                .secret_id(name.as_str())
                .client_request_token(token)
                .secret_string(value.as_str())
                .send(),
        )
        .await?;
        Ok(())
    }

    /// The secret `name` when it is `owner`'s: its tags carry the owner's token and request,
    /// and it is not scheduled for deletion. A secret of that name someone else made is not
    /// keygate's to claim, whatever it holds.
    pub async fn own_secret(
        &self,
        name: &SecretName,
        owner: &Ownership<'_>,
    ) -> Result<Option<StoredSecret>, AwsError> {
        let Some(facts) = self.describe_secret(name).await? else {
            return Ok(None);
        };
        if facts.scheduled_for_deletion || !owner.owns(&facts.tags) {
            return Ok(None);
        }
        Ok(Some(StoredSecret {
            for_readers: facts.tags.contains_key(READERS_TAG),
            has_value: facts.version_ids.iter().any(|v| v == owner.token),
            name: facts.name,
            arn: facts.arn,
        }))
    }

    pub async fn put_resource_policy(
        &self,
        name: &SecretName,
        document: &str,
    ) -> Result<(), AwsError> {
        self.call(
            "PutResourcePolicy",
            self.secrets
                .put_resource_policy()
                .secret_id(name.as_str())
                .resource_policy(document)
                .block_public_policy(true)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// The secret's resource policy, `None` when it has none.
    pub async fn resource_policy(&self, name: &SecretName) -> Result<Option<String>, AwsError> {
        let out = self
            .call(
                "GetResourcePolicy",
                self.secrets
                    .get_resource_policy()
                    .secret_id(name.as_str())
                    .send(),
            )
            .await?;
        Ok(out
            .resource_policy()
            .filter(|p| !p.trim().is_empty())
            .map(str::to_string))
    }

    /// Deletes the secret at once, without the recovery window: used only for a secret
    /// keygate just created whose key is being deleted too. Gone already is fine.
    pub async fn delete_secret_now(&self, name: &SecretName) -> Result<(), AwsError> {
        gone_is_done(
            self.call(
                "DeleteSecret",
                self.secrets
                    .delete_secret()
                    .secret_id(name.as_str())
                    .force_delete_without_recovery(true)
                    .send(),
            )
            .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_secret_is_an_intents_own_only_with_its_token_and_its_request() {
        let owner = Ownership {
            token: "0123456789abcdef0123456789abcdef",
            repository: "Acme/Requests",
            pr: 7,
            path: "requests/ci/x.toml",
            account: None,
        };
        let mine = tags(&[
            (TOKEN_TAG, &owner.token_tag()),
            ("keygate:repository", "acme/requests"),
            ("keygate:pr", "7"),
            ("keygate:request", "requests/ci/x.toml"),
        ]);
        assert!(owner.owns(&mine));
        let mut planted = mine.clone();
        planted.insert(TOKEN_TAG.into(), "guessed".into());
        assert!(!owner.owns(&planted), "the token cannot be guessed");
        let mut other_pr = mine.clone();
        other_pr.insert("keygate:pr".into(), "8".into());
        assert!(!owner.owns(&other_pr));
        let mut other_account = mine.clone();
        other_account.insert(ACCOUNT_TAG.into(), "prod".into());
        assert!(
            !owner.owns(&other_account),
            "an intent of keygate's own account"
        );
        let prod = AccountAlias::new("prod");
        let in_prod = Ownership {
            account: Some(&prod),
            ..owner.clone()
        };
        assert!(in_prod.owns(&other_account));
        assert!(!in_prod.owns(&mine), "a secret without the account tag");
        let mut untagged = mine;
        untagged.remove(TOKEN_TAG);
        assert!(!owner.owns(&untagged));
    }
}
