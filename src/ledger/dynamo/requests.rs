//! One life per request (DESIGN §5) and leases (§3) on DynamoDB: a `REQUEST#<repo>#<path>`
//! item written only from the version read, and `LEASE#<name>` items taken with a condition
//! on their holder and time.

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoLedger;
use super::item::*;
use crate::ids::{AccountAlias, RepoName, RequestPath};
use crate::ledger::{LedgerError, now_ms, stored_mark};
use crate::life::request::{MergeMark, RequestLife};

impl DynamoLedger {
    pub(super) async fn read_request_life(
        &self,
        repository: &RepoName,
        path: &RequestPath,
    ) -> Result<Option<RequestLife>, LedgerError> {
        let Some(item) = self.get(request_key(repository, path)).await? else {
            return Ok(None);
        };
        Ok(Some(RequestLife {
            repository: RepoName::new(repository.key().to_string()),
            path: path.clone(),
            account: opt_s(&item, "account")?.map(AccountAlias::new),
            added: stored_mark(opt_n(&item, "added_pr")?, opt_n(&item, "added_at")?),
            deleted: stored_mark(opt_n(&item, "deleted_pr")?, opt_n(&item, "deleted_at")?),
            version: get_n(&item, "version")?.max(0) as u64,
        }))
    }

    pub(super) async fn write_request_life(&self, life: &RequestLife) -> Result<(), LedgerError> {
        let at = |m: Option<MergeMark>| m.map(|m| n(m.merged_at.unix_timestamp()));
        let pr = |m: Option<MergeMark>| m.map(|m| n(m.pr.get() as i64));
        let change = Change::default()
            .set_or_remove("added_pr", pr(life.added))
            .set_or_remove("added_at", at(life.added))
            .set_or_remove("deleted_pr", pr(life.deleted))
            .set_or_remove("deleted_at", at(life.deleted))
            .set("version", n(life.version as i64 + 1))
            .set("updated_at", n(now_ms()));
        let change = match &life.account {
            Some(a) => change.set_if_absent("account", s(a.as_str())),
            None => change,
        };
        let change = if life.version == 0 {
            change.when("attribute_not_exists(#version)", &["version"], vec![])
        } else {
            change.when(
                "#version = :read",
                &["version"],
                vec![(":read", n(life.version as i64))],
            )
        };
        let key = request_key(&life.repository, &life.path);
        match self.transact(vec![self.update(key, change)?]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(LedgerError::LifeMoved {
                path: life.path.clone(),
            }),
        }
    }

    pub(super) async fn take(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Option<String>>, LedgerError> {
        let take = Change::default()
            .set("holder", s(holder))
            .set("until", n(until))
            .when(
                "attribute_not_exists(#holder) OR #until < :now OR #holder = :me",
                &["holder", "until"],
                vec![(":now", n(now)), (":me", s(holder))],
            );
        // Taken and read in one call: the value left by the last holder comes back with it.
        match self.update_read(lease_key(name), take).await? {
            Some(item) => Ok(Some(opt_s(&item, "value")?)),
            None => Ok(None),
        }
    }

    pub(super) async fn give_back(
        &self,
        name: &str,
        holder: &str,
        value: Option<String>,
    ) -> Result<(), LedgerError> {
        let mut give = Change::default().set("until", n(0));
        if let Some(v) = value {
            give = give.set("value", AttributeValue::S(v));
        }
        let give = give.when("#holder = :me", &["holder"], vec![(":me", s(holder))]);
        // A lease this holder no longer holds is another's now: left alone.
        let _ = self
            .transact(vec![self.update(lease_key(name), give)?])
            .await?;
        Ok(())
    }
}
