//! Two member AWS accounts besides keygate's own (DESIGN §9). moto keeps resources per
//! account, and `AssumeRole` into `arn:aws:iam::<id>:role/<name>` returns credentials that
//! act in account `<id>` (the role need not exist there): keygate reaches each member
//! through its issuer role, as it would in AWS, and a test sees each member straight on moto
//! with credentials of that account.

use std::collections::BTreeMap;

use serde_json::Value;

use super::app::{TestApp, unique};
use super::github::GitHub;
use super::moto::{moto, sdk_config};
use super::story::REASON;
use super::world::request;

/// The issuer role keygate assumes in each member (`deploy/keygate-member.yaml`'s default).
pub const ISSUER_ROLE: &str = "keygate-issuer";
/// The external ID both members' roles require.
pub const EXTERNAL_ID: &str = "keygate-tests";

/// Production: its requests are approved by `@acme/prod-admins` (paula).
pub const PROD: (&str, &str) = ("prod", "111111111111");
/// Development: its requests are approved by `@acme/developers` (dan).
pub const DEV: (&str, &str) = ("dev", "222222222222");

/// Each account's folder to its own team.
pub const CODEOWNERS: &str = "\
/requests/prod/ @acme/prod-admins
/requests/dev/ @acme/developers
";

/// A member account as a test sees it: IAM and Secrets Manager there, straight on moto.
pub struct Member {
    pub alias: &'static str,
    pub id: &'static str,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Member {
    /// `(alias, account ID)` seen with credentials of that account (a test administrator's
    /// assumed role there).
    pub async fn at(account: (&'static str, &'static str)) -> Member {
        let sts = aws_sdk_sts::Client::new(&sdk_config(&moto().url).await);
        Member::assumed(&moto().url, &sts, account).await
    }

    /// `(alias, account ID)` on the moto server at `url`, through the role `test-admin`
    /// that `sts` (a client of that server) assumes there.
    pub async fn assumed(
        url: &str,
        sts: &aws_sdk_sts::Client,
        (alias, id): (&'static str, &'static str),
    ) -> Member {
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{id}:role/test-admin"))
            .role_session_name("keygate-tests")
            .send()
            .await
            .unwrap();
        let c = out.credentials.unwrap();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "keygate-tests",
            ))
            .load()
            .await;
        Member {
            alias,
            id,
            iam: aws_sdk_iam::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        }
    }

    /// The issuer role's ARN, as `[accounts.<alias>]` names it.
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{ISSUER_ROLE}", self.id)
    }

    /// The request path of `user` in this account's folder.
    pub fn path(&self, user: &str) -> String {
        format!("requests/{}/{user}/ci.toml", self.alias)
    }

    /// Creates the IAM user `name` in this account.
    pub async fn create_user(&self, name: &str) {
        self.iam.create_user().user_name(name).send().await.unwrap();
    }

    /// A fresh IAM user in this account.
    pub async fn iam_user(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.create_user(&name).await;
        name
    }

    pub async fn access_keys(&self, user: &str) -> Vec<String> {
        self.iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap()
            .access_key_metadata
            .into_iter()
            .filter_map(|m| m.access_key_id)
            .collect()
    }

    /// Whether `key` of `user` is active (`None`: no such key).
    pub async fn active(&self, user: &str, key: &str) -> Option<bool> {
        let out = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap();
        out.access_key_metadata()
            .iter()
            .find(|m| m.access_key_id() == Some(key))
            .map(|m| m.status() == Some(&aws_sdk_iam::types::StatusType::Active))
    }

    /// Names of the secrets in this account that start with `prefix`.
    pub async fn secrets_named(&self, prefix: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .secrets
                .list_secrets()
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(
                out.secret_list()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_string)),
            );
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        names.retain(|n| n.starts_with(prefix));
        names
    }

    /// The secret's value, parsed; `None` when it is gone.
    pub async fn secret(&self, name: &str) -> Option<Value> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .ok()?;
        serde_json::from_str(out.secret_string()?).ok()
    }

    /// The secret's tags.
    pub async fn secret_tags(&self, name: &str) -> BTreeMap<String, String> {
        let out = self
            .secrets
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect()
    }

    /// DESIGN §3's invariant, in this account: `user` holds exactly one key, held by the one
    /// secret stored for it. Returns (key ID, secret name).
    pub async fn one_key_held_by_its_secret(&self, user: &str, why: &str) -> (String, String) {
        let keys = self.access_keys(user).await;
        assert_eq!(keys.len(), 1, "{why} in {}: {keys:?}", self.alias);
        let secrets = self.secrets_named(&format!("{user}/")).await;
        assert_eq!(secrets.len(), 1, "{why} in {}: {secrets:?}", self.alias);
        let value = self.secret(&secrets[0]).await.unwrap();
        assert_eq!(value["AccessKeyId"], keys[0].as_str(), "{why}: another key");
        (keys[0].clone(), secrets[0].clone())
    }
}

/// `[accounts]` for the two members.
pub fn accounts_config(members: &[&Member]) -> String {
    members
        .iter()
        .map(|m| {
            format!(
                "[accounts.{}]\nrole_arn = \"{}\"\nexternal_id = \"{EXTERNAL_ID}\"\n",
                m.alias,
                m.role_arn()
            )
        })
        .collect()
}

/// keygate serving two member accounts, each with its own owners; `extra` is more
/// configuration. Returns the app and the members (production, development).
pub async fn accounts_world_with(extra: &str) -> (TestApp, Member, Member) {
    let gh = GitHub::start().await;
    gh.team("acme/prod-admins", &["paula"]);
    gh.team("acme/developers", &["dan"]);
    gh.commit_to_main(&[(".github/CODEOWNERS", CODEOWNERS)]);
    let (prod, dev) = (Member::at(PROD).await, Member::at(DEV).await);
    let config = format!("{}{extra}", accounts_config(&[&prod, &dev]));
    (TestApp::start_with(&gh, &config).await, prod, dev)
}

pub async fn accounts_world() -> (TestApp, Member, Member) {
    accounts_world_with("").await
}

impl TestApp {
    /// Opens a pull request by `author` adding a valid request for `user` in `member`.
    pub fn request_in(&self, member: &Member, author: &str, user: &str) -> u64 {
        self.gh
            .open_pr(author, &[(&member.path(user), &request(user, REASON))])
    }
}
