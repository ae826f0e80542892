//! Keys in many AWS accounts (DESIGN §9): one [`Aws`] per `[accounts]` member, whose IAM and
//! Secrets Manager calls are signed with the credentials of the issuer role keygate assumes
//! there. keygate caches those credentials itself, until shortly before they expire, rather
//! than leave it to the SDK: so every `AssumeRole` goes through [`Aws::call`] and is counted
//! like any call, and when it fails the error names the account and what to do, instead of a
//! credentials failure deep inside another call.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

use super::{Aws, AwsError};
use crate::config::Account;
use crate::ids::AccountAlias;

/// The session name keygate's assumed-role sessions carry: CloudTrail in a member account
/// shows `assumed-role/<issuer role>/keygate`.
pub const SESSION_NAME: &str = "keygate";

/// Cached credentials are used until this long before they expire, then assumed again; a call
/// signed with them has that long to finish.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// The issuer role of one member account, and its credentials while they last.
pub(super) struct RoleSession {
    alias: AccountAlias,
    role_arn: String,
    external_id: Option<String>,
    /// keygate's own clients (without members): `AssumeRole` is asked with keygate's own
    /// credentials, and counted as every call is.
    home: Aws,
    /// The credentials and when they expire; read without waiting.
    cached: std::sync::Mutex<Option<(Credentials, SystemTime)>>,
    /// Held while one caller assumes the role, so the others wait for its answer.
    assuming: tokio::sync::Mutex<()>,
}

impl RoleSession {
    pub(super) fn new(account: &Account, home: Aws) -> RoleSession {
        RoleSession {
            alias: account.alias.clone(),
            role_arn: account.role_arn.clone(),
            external_id: account.external_id.clone(),
            home,
            cached: std::sync::Mutex::new(None),
            assuming: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached credentials while they have more than [`REFRESH_BEFORE`] left.
    fn fresh(&self, now: SystemTime) -> Option<Credentials> {
        let cached = self.cached.lock().ok()?;
        cached
            .as_ref()
            .filter(|(_, expires)| fresh(*expires, now))
            .map(|(credentials, _)| credentials.clone())
    }

    /// The role's credentials: cached ones while they last, else a new `AssumeRole`.
    /// Callers that arrive while it runs wait for its answer rather than ask again. A
    /// failure names the account and is retried later, as an account that is unavailable
    /// for now.
    pub(super) async fn credentials(&self) -> Result<Credentials, AwsError> {
        if let Some(credentials) = self.fresh(SystemTime::now()) {
            return Ok(credentials);
        }
        let _assuming = self.assuming.lock().await;
        if let Some(credentials) = self.fresh(SystemTime::now()) {
            return Ok(credentials);
        }
        // Boxed: the SDK's future is large, and a cache hit should not carry its frame.
        let (credentials, expires) = Box::pin(self.assume_role()).await?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((credentials.clone(), expires));
        }
        Ok(credentials)
    }

    /// One `AssumeRole` with keygate's own credentials.
    async fn assume_role(&self) -> Result<(Credentials, SystemTime), AwsError> {
        let answer = self
            .home
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.external_id.clone())
            .send()
            .await;
        let out = self
            .home
            .finish("AssumeRole", answer)
            .map_err(|e| e.account_unavailable(&self.alias))?;
        let Some(c) = out.credentials() else {
            let e = AwsError::keygate("AssumeRole", "EmptyResponse", "no credentials".into());
            return Err(e.account_unavailable(&self.alias));
        };
        let now = SystemTime::now();
        let expires = SystemTime::try_from(*c.expiration()).unwrap_or(now);
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expires),
            "keygate-issuer-role",
        );
        tracing::info!(account = %self.alias, "assumed the account's issuer role");
        Ok((credentials, expires))
    }
}

/// Whether credentials that expire at `expires` may still be handed out at `now`.
fn fresh(expires: SystemTime, now: SystemTime) -> bool {
    expires
        .duration_since(now)
        .is_ok_and(|left| left > REFRESH_BEFORE)
}

/// The member clients' credentials provider: the session's cache.
#[derive(Clone)]
struct SessionCredentials(Arc<RoleSession>);

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionCredentials({})", self.0.alias)
    }
}

impl ProvideCredentials for SessionCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        // Every call made sure of the credentials before it was sent (`Aws::call`): the
        // cache answers, without entering the SDK again from inside one of its calls.
        if let Some(credentials) = self.0.fresh(SystemTime::now()) {
            return future::ProvideCredentials::ready(Ok(credentials));
        }
        future::ProvideCredentials::new(async move {
            Box::pin(self.0.credentials())
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

impl Aws {
    /// keygate's own clients with one member per account of `[accounts]`. Members act in
    /// their account's region (default: this one), through this configuration's endpoint.
    pub fn with_accounts(mut self, accounts: &crate::config::Accounts) -> Aws {
        let home = self.without_members();
        let members = accounts
            .iter()
            .map(|a| (a.alias.clone(), member(&home, a)))
            .collect();
        self.members = Arc::new(members);
        self.accounts = accounts.clone();
        self
    }

    /// These clients without their members (what a member's session asks STS with).
    pub(super) fn without_members(&self) -> Aws {
        Aws {
            members: Arc::default(),
            accounts: Default::default(),
            ..self.clone()
        }
    }

    /// The clients that act in `account`: these for `None` (keygate's own account), else
    /// the member of that alias. An alias keygate's configuration no longer names is an
    /// error that says so.
    pub fn in_account(&self, account: Option<&AccountAlias>) -> Result<&Aws, AwsError> {
        let Some(alias) = account else {
            return Ok(self);
        };
        if self.account.as_ref() == Some(alias) {
            return Ok(self);
        }
        self.members.get(alias).ok_or_else(|| {
            AwsError::keygate(
                "AssumeRole",
                "UnknownAccount",
                format!("no [accounts.{alias}] in keygate's configuration"),
            )
            .unconfigured(alias)
        })
    }

    /// The account these clients act in: `None` for keygate's own.
    pub fn account(&self) -> Option<&AccountAlias> {
        self.account.as_ref()
    }

    /// The members, one per account of `[accounts]`, by alias.
    pub fn members(&self) -> impl Iterator<Item = &Aws> {
        self.members.values()
    }

    /// For a member: assumes its issuer role now unless credentials are cached (what
    /// `keygate doctor` checks, and what the cold and warm measurements time). Nothing to do
    /// in keygate's own account.
    pub async fn assume(&self) -> Result<(), AwsError> {
        match &self.session {
            Some(session) => Box::pin(session.credentials()).await.map(drop),
            None => Ok(()),
        }
    }
}

/// The clients of one member account, from keygate's own configuration: its endpoint and
/// retry settings, the member's region, and the role session's credentials, cached by the
/// session alone (the SDK's own identity cache is off, so there is one cache to reason
/// about).
fn member(home: &Aws, account: &Account) -> Aws {
    let session = Arc::new(RoleSession::new(account, home.clone()));
    let mut config = home
        .config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(SessionCredentials(
            session.clone(),
        )))
        .identity_cache(aws_config::identity::IdentityCache::no_cache());
    if let Some(region) = &account.region {
        config.set_region(aws_config::Region::new(region.clone()));
    }
    let mut aws = Aws::from_config(&config.build());
    aws.metrics = home.metrics.clone();
    aws.account = Some(account.alias.clone());
    aws.session = Some(session);
    aws
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_used_until_five_minutes_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(fresh(now + Duration::from_secs(3600), now));
        assert!(fresh(now + REFRESH_BEFORE + Duration::from_secs(1), now));
        assert!(!fresh(now + REFRESH_BEFORE, now), "assumed again");
        assert!(!fresh(now - Duration::from_secs(1), now), "expired");
    }
}
