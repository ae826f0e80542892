//! The one life of a request (DESIGN §5) and one issuance per IAM user at a time (§3), as
//! the ledger keeps them across replicas and Lambda instances. Every path that adds or
//! deletes a request's key goes through here: the merge that adds it asks to be admitted,
//! the merge that deletes it records the deletion, and both read the life again before
//! they act, so merge order decides whatever order the deliveries came in.

use std::time::Duration;

use time::OffsetDateTime;

use super::{StepError, Workflow};
use crate::ids::{AccountAlias, IamUser, RequestPath};
use crate::ledger::{LedgerError, Store, now_ms};
use crate::life::request::{Admission, MergeMark, RequestLife};

/// How often a write that lost a race with another worker reads the life again.
const TRIES: usize = 8;

/// Records that the merge `mark` added `path` (a request in `account`), and says whether it
/// may issue.
pub(crate) async fn admit_addition(
    wf: &Workflow,
    path: &RequestPath,
    account: Option<&AccountAlias>,
    mark: MergeMark,
) -> Result<Admission, StepError> {
    change_life(wf, path, account, |life| life.admit(mark)).await
}

/// Records that the merge `mark` deleted `path` (a request in `account`): from now on no key
/// of an earlier addition may live, and no earlier addition may issue.
pub(crate) async fn record_deletion(
    wf: &Workflow,
    path: &RequestPath,
    account: Option<&AccountAlias>,
    mark: MergeMark,
) -> Result<(), StepError> {
    change_life(wf, path, account, |life| {
        life.delete(mark);
    })
    .await
}

/// The deletion that ends a key issued for the addition of `path` merged at `added_at`, if
/// the life records one.
pub(crate) async fn deleted_since(
    wf: &Workflow,
    path: &RequestPath,
    added_at: Option<OffsetDateTime>,
) -> Result<Option<MergeMark>, StepError> {
    let life = wf
        .ledger
        .request_life(wf.settings.repository.clone(), path.clone())
        .await?;
    Ok(life.and_then(|l| l.deleted_since(added_at)))
}

/// Reads the life of `path`, applies `change`, and writes it back from the version read;
/// another worker's write in between means reading again. A life written first here gets
/// `account`.
async fn change_life<T>(
    wf: &Workflow,
    path: &RequestPath,
    account: Option<&AccountAlias>,
    change: impl Fn(&mut RequestLife) -> T,
) -> Result<T, StepError> {
    let repository = wf.settings.repository.clone();
    for _ in 0..TRIES {
        let mut life = wf
            .ledger
            .request_life(repository.clone(), path.clone())
            .await?
            .unwrap_or_else(|| RequestLife {
                account: account.cloned(),
                ..RequestLife::new(repository.clone(), path.clone())
            });
        let before = life.clone();
        let out = change(&mut life);
        if life == before {
            return Ok(out);
        }
        match wf.ledger.put_request_life(life).await {
            Ok(()) => return Ok(out),
            Err(LedgerError::LifeMoved { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StepError::Uncertain(format!(
        "the life of `{path}` kept moving under other workers; keygate tries again"
    )))
}

/// How long an IAM user's lease lasts unless its holder renews it: a holder that died
/// leaves it to the others this soon.
const USER_LEASE: Duration = Duration::from_secs(60);
/// How often a holder renews the lease while it works.
const USER_LEASE_RENEWAL: Duration = Duration::from_secs(15);
/// How long a worker waits for another's lease before it retries its work later.
const USER_LEASE_WAIT: Duration = Duration::from_secs(30);
const USER_LEASE_POLL: Duration = Duration::from_millis(200);

/// The right to create keys for one IAM user of one account (DESIGN §3, §9): at most one
/// issuance per user at a time, across every process, so that a rollback that compares the
/// user's keys with those listed before never mistakes another issuance's key for its own.
/// `ci/deploy` in two accounts are two users, with two leases. It carries the `{timestamp}`
/// the last holder rendered into a secret name, so two issuances never render the same one.
/// Renewed in the background while held.
pub(crate) struct UserLease {
    name: String,
    holder: String,
    /// The last `{timestamp}` a holder of this lease used; set it to the one used now.
    pub last_timestamp: Option<String>,
    renewal: tokio::task::JoinHandle<()>,
}

impl UserLease {
    /// Takes the lease of `iam_user` in `account` (names compare without regard to case, as
    /// IAM's do), waiting a while for another holder; past that, a transient error retries
    /// the work.
    pub(crate) async fn take(
        wf: &Workflow,
        account: Option<&AccountAlias>,
        iam_user: &IamUser,
    ) -> Result<UserLease, StepError> {
        let name = lease_name(account, iam_user);
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + USER_LEASE_WAIT;
        loop {
            let now = now_ms();
            let until = now + USER_LEASE.as_millis() as i64;
            let taken = wf
                .ledger
                .take_lease(name.clone(), holder.clone(), now, until)
                .await?;
            if let Some(last_timestamp) = taken {
                let renewal = tokio::spawn(renew(wf.ledger.clone(), name.clone(), holder.clone()));
                return Ok(UserLease {
                    name,
                    holder,
                    last_timestamp,
                    renewal,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepError::Uncertain(format!(
                    "another issuance for IAM user `{iam_user}` is running; keygate tries again"
                )));
            }
            tokio::time::sleep(USER_LEASE_POLL).await;
        }
    }

    /// Gives the lease back with the timestamp last used. A lease that cannot be given
    /// back lapses on its own.
    pub(crate) async fn release(mut self, wf: &Workflow) {
        self.renewal.abort();
        if let Err(e) = wf
            .ledger
            .release_lease(
                std::mem::take(&mut self.name),
                std::mem::take(&mut self.holder),
                self.last_timestamp.take(),
            )
            .await
        {
            tracing::warn!(error = %e, "cannot give an IAM user's lease back; it lapses on its own");
        }
    }
}

impl Drop for UserLease {
    /// A holder that stops without giving the lease back (its task was cancelled) stops
    /// renewing it: it lapses.
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// The ledger's name of a user's lease: `user#<iam user>` in keygate's own account (as
/// before accounts), `user#<account>#<iam user>` in a member account. Neither an alias nor
/// an IAM user name holds `#`, so no two users share a name.
fn lease_name(account: Option<&AccountAlias>, iam_user: &IamUser) -> String {
    let user = iam_user.as_str().to_lowercase();
    match account {
        None => format!("user#{user}"),
        Some(a) => format!("user#{a}#{user}"),
    }
}

/// Renews the lease `name` for `holder` until aborted.
async fn renew(ledger: crate::ledger::Ledger, name: String, holder: String) {
    loop {
        tokio::time::sleep(USER_LEASE_RENEWAL).await;
        let now = now_ms();
        let until = now + USER_LEASE.as_millis() as i64;
        match ledger
            .take_lease(name.clone(), holder.clone(), now, until)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::error!(lease = %name, "an IAM user's lease was taken over while held");
                return;
            }
            Err(e) => tracing::warn!(error = %e, lease = %name, "cannot renew an IAM user's lease"),
        }
    }
}

/// The merge of a pull request as the life records it; `None` when GitHub gives no time.
pub(crate) fn merge_mark(pr: &crate::github::client::PullInfo) -> Option<MergeMark> {
    Some(MergeMark {
        pr: pr.number,
        merged_at: pr.merged_at?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_name_in_two_accounts_is_two_leases() {
        let prod = AccountAlias::new("prod");
        let dev = AccountAlias::new("dev");
        assert_eq!(
            lease_name(None, &"CI-Deploy".into()),
            "user#ci-deploy",
            "as before accounts"
        );
        assert_eq!(
            lease_name(Some(&prod), &"ci-deploy".into()),
            "user#prod#ci-deploy"
        );
        assert_ne!(
            lease_name(Some(&prod), &"ci-deploy".into()),
            lease_name(Some(&dev), &"ci-deploy".into())
        );
        assert_ne!(
            lease_name(Some(&prod), &"ci-deploy".into()),
            lease_name(None, &"ci-deploy".into())
        );
    }
}
