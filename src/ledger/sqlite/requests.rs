//! One life per request (DESIGN §5) and the leases that keep one issuance per IAM user at a
//! time (§3), in SQLite.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Conn;
use crate::ids::{AccountAlias, RepoName, RequestPath};
use crate::ledger::{LedgerError, now_ms, stored_mark};
use crate::life::request::{MergeMark, RequestLife};

impl Conn {
    pub(super) fn request_life(
        &mut self,
        repository: &RepoName,
        path: &RequestPath,
    ) -> Result<Option<RequestLife>, LedgerError> {
        let row = self
            .0
            .query_row(
                "SELECT added_pr, added_at, deleted_pr, deleted_at, version, account \
                 FROM request_lives WHERE repository = ?1 AND path = ?2",
                params![repository.key(), path],
                |r| {
                    Ok((
                        stored_mark(r.get(0)?, r.get(1)?),
                        stored_mark(r.get(2)?, r.get(3)?),
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.map(|(added, deleted, version, account)| RequestLife {
            repository: RepoName::new(repository.key().to_string()),
            path: path.clone(),
            account: account.map(AccountAlias::new),
            added,
            deleted,
            version: version.max(0) as u64,
        }))
    }

    pub(super) fn put_request_life(&mut self, life: &RequestLife) -> Result<(), LedgerError> {
        let at = |m: Option<MergeMark>| m.map(|m| m.merged_at.unix_timestamp());
        let pr = |m: Option<MergeMark>| m.map(|m| m.pr.get() as i64);
        // One statement for both: a first write inserts (and finds no row of version 0 to
        // update), a later one updates only the version it read; the account is written once.
        let n = self.0.execute(
            "INSERT INTO request_lives (repository, path, added_pr, added_at, deleted_pr, \
             deleted_at, version, updated_at, account) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9 + 1, ?7, ?10) \
             ON CONFLICT (repository, path) DO UPDATE SET added_pr = excluded.added_pr, \
             added_at = excluded.added_at, deleted_pr = excluded.deleted_pr, \
             deleted_at = excluded.deleted_at, version = excluded.version, \
             updated_at = excluded.updated_at WHERE request_lives.version = ?8",
            params![
                life.repository.key(),
                life.path,
                pr(life.added),
                at(life.added),
                pr(life.deleted),
                at(life.deleted),
                now_ms(),
                // A first write (version 0) must find no row: no stored version is -1.
                if life.version == 0 {
                    -1
                } else {
                    life.version as i64
                },
                life.version as i64,
                life.account.as_ref().map(AccountAlias::as_str),
            ],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(LedgerError::LifeMoved {
                path: life.path.clone(),
            })
        }
    }

    pub(super) fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Option<String>>, LedgerError> {
        // Immediate: it reads, then writes, and another process may write beside.
        let tx = self
            .0
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held: Option<(String, i64, Option<String>)> = tx
            .query_row(
                "SELECT holder, until, value FROM leases WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let value = match held {
            Some((h, u, _)) if h != holder && u >= now => return Ok(None),
            Some((_, _, value)) => value,
            None => None,
        };
        tx.execute(
            "INSERT INTO leases (name, holder, until, value) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until",
            params![name, holder, until, value],
        )?;
        tx.commit()?;
        Ok(Some(value))
    }

    pub(super) fn release_lease(
        &mut self,
        name: &str,
        holder: &str,
        value: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.0.execute(
            "UPDATE leases SET until = 0, value = COALESCE(?3, value) \
             WHERE name = ?1 AND holder = ?2",
            params![name, holder, value],
        )?;
        Ok(())
    }
}
