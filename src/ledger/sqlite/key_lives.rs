//! The life of issued keys (DESIGN §5) in SQLite: `key_lives`, joined with the intents
//! that issued them.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Conn;
use super::intents::{origin_of, request_of};
use crate::ids::{AccessKeyId, AccountAlias, InstallationId, PrNumber};
use crate::ledger::{KeyCare, KeyLife, Leak, LedgerError, Revocation, now_ms, seconds};
use crate::life::{Progress, Stage, Step};

/// Issued keys with their life (active when none was recorded), then lives whose intent
/// is gone; `?1` narrows to one key.
const LIVES: &str = "\
    SELECT i.access_key_id AS access_key_id, i.iam_user AS iam_user, \
      i.secret_name AS secret_name, i.expires_at AS expires_at, i.repository AS repository, \
      i.pr_number AS pr_number, i.path AS path, i.requester AS requester, \
      i.installation_id AS installation_id, i.merged_at AS merged_at, i.account AS account, \
      k.stage AS stage, k.pending AS pending, \
      k.revoked_by AS revoked_by, k.revoked_reason AS revoked_reason, \
      k.revoked_in_pr AS revoked_in_pr, COALESCE(k.updated_at, i.updated_at) AS updated_at, \
      i.created_at AS created_at, i.issued_at AS issued_at, \
      i.rotate_every_days AS rotate_every_days, i.key_fingerprint AS key_fingerprint, \
      k.superseded_by AS superseded_by, k.retires_at AS retires_at, \
      k.unused_warned_at AS unused_warned_at, k.leak_source AS leak_source, \
      k.leak_location AS leak_location, k.leaked_at AS leaked_at \
    FROM intents i LEFT JOIN key_lives k ON k.access_key_id = i.access_key_id \
    WHERE i.state IN ('stored', 'issued') AND i.access_key_id IS NOT NULL \
      AND (?1 IS NULL OR i.access_key_id = ?1) \
    UNION ALL \
    SELECT k.access_key_id, k.iam_user, k.secret_name, k.expires_at, k.repository, \
      k.pr_number, k.path, k.requester, k.installation_id, \
      (SELECT i.merged_at FROM intents i WHERE i.repository = k.repository \
       AND i.pr_number = k.pr_number AND i.path = k.path), k.account, k.stage, k.pending, \
      k.revoked_by, k.revoked_reason, k.revoked_in_pr, k.updated_at, k.created_at, \
      k.issued_at, k.rotate_every_days, k.key_fingerprint, k.superseded_by, k.retires_at, \
      k.unused_warned_at, k.leak_source, k.leak_location, k.leaked_at \
    FROM key_lives k WHERE (?1 IS NULL OR k.access_key_id = ?1) \
      AND NOT EXISTS (SELECT 1 FROM intents i WHERE i.access_key_id = k.access_key_id \
                      AND i.state IN ('stored', 'issued')) \
    ORDER BY created_at, access_key_id";

impl Conn {
    pub(super) fn key_lives(
        &mut self,
        only: Option<&AccessKeyId>,
    ) -> Result<Vec<KeyLife>, LedgerError> {
        let mut stmt = self.0.prepare_cached(LIVES)?;
        let rows = stmt.query_map(params![only], |r| {
            Ok((
                KeyLife {
                    access_key_id: r.get("access_key_id")?,
                    account: r
                        .get::<_, Option<String>>("account")?
                        .map(AccountAlias::new),
                    iam_user: r.get("iam_user")?,
                    secret_name: r.get("secret_name")?,
                    expires_at: crate::ledger::stored_time(r.get("expires_at")?),
                    request: request_of(r)?,
                    requester: r.get("requester")?,
                    request_merged_at: seconds(r.get("merged_at")?),
                    installation: r
                        .get::<_, Option<i64>>("installation_id")?
                        .map(|i| InstallationId(i as u64)),
                    progress: Progress::ACTIVE,
                    revocation: match r.get::<_, Option<String>>("revoked_by")? {
                        Some(by) => Some(Revocation {
                            by,
                            reason: r
                                .get::<_, Option<String>>("revoked_reason")?
                                .unwrap_or_default(),
                            pr: r
                                .get::<_, Option<i64>>("revoked_in_pr")?
                                .map(|p| PrNumber(p as u64)),
                        }),
                        None => None,
                    },
                    origin: origin_of(r)?,
                    care: care(r)?,
                    updated_at_ms: r.get("updated_at")?,
                },
                r.get::<_, Option<String>>("stage")?,
                r.get::<_, Option<String>>("pending")?,
            ))
        })?;
        rows.map(|row| {
            let (life, stage, pending) = row?;
            Ok(KeyLife {
                progress: progress(stage.as_deref(), pending.as_deref())?,
                ..life
            })
        })
        .collect()
    }

    pub(super) fn record_step(
        &mut self,
        life: &KeyLife,
        from: Progress,
    ) -> Result<(), LedgerError> {
        // Immediate: it reads, then writes, and another process may write beside (DESIGN §5).
        let tx = self
            .0
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT stage, pending FROM key_lives WHERE access_key_id = ?1",
                params![life.access_key_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let now_stored = match &stored {
            Some((stage, pending)) => progress(Some(stage), pending.as_deref())?,
            None => Progress::ACTIVE,
        };
        if now_stored != from {
            return Err(LedgerError::Moved {
                access_key_id: life.access_key_id.clone(),
                found: describe(now_stored),
            });
        }
        let now = now_ms();
        let r = life.revocation.as_ref();
        let (c, leak) = (&life.care, life.care.leak.as_ref());
        let at = |t: Option<time::OffsetDateTime>| t.map(time::OffsetDateTime::unix_timestamp);
        tx.execute(
            "INSERT INTO key_lives (access_key_id, iam_user, secret_name, expires_at, repository, \
             pr_number, path, requester, installation_id, stage, pending, revoked_by, \
             revoked_reason, revoked_in_pr, created_at, updated_at, issued_at, \
             rotate_every_days, key_fingerprint, superseded_by, retires_at, unused_warned_at, \
             leak_source, leak_location, leaked_at, account) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, \
             ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) \
             ON CONFLICT (access_key_id) DO UPDATE SET stage = excluded.stage, \
             pending = excluded.pending, revoked_by = excluded.revoked_by, \
             revoked_reason = excluded.revoked_reason, revoked_in_pr = excluded.revoked_in_pr, \
             updated_at = excluded.updated_at, superseded_by = excluded.superseded_by, \
             retires_at = excluded.retires_at, unused_warned_at = excluded.unused_warned_at, \
             leak_source = excluded.leak_source, leak_location = excluded.leak_location, \
             leaked_at = excluded.leaked_at",
            params![
                life.access_key_id,
                life.iam_user,
                life.secret_name,
                life.expires_at.map(crate::ledger::time_text),
                life.request.repository.key(),
                life.request.pr.get() as i64,
                life.request.path,
                life.requester,
                life.installation.map(|i| i.get() as i64),
                life.progress.stage.as_str(),
                life.progress.pending.map(Step::as_str),
                r.map(|r| r.by.as_str()),
                r.map(|r| r.reason.as_str()),
                r.and_then(|r| r.pr).map(|p| p.get() as i64),
                now,
                at(life.origin.issued_at),
                life.origin.rotate_every_days,
                life.origin.fingerprint,
                c.superseded_by,
                at(c.retires_at),
                at(c.unused_warned_at),
                leak.map(|l| l.source.as_str()),
                leak.map(|l| l.location.as_str()),
                at(leak.map(|l| l.reported_at)),
                life.account.as_ref().map(AccountAlias::as_str),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// What a row says about the key's care (DESIGN §10).
fn care(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyCare> {
    let leak = match (
        r.get::<_, Option<String>>("leak_source")?,
        seconds(r.get("leaked_at")?),
    ) {
        (Some(source), Some(reported_at)) => Some(Leak {
            source,
            location: r
                .get::<_, Option<String>>("leak_location")?
                .unwrap_or_default(),
            reported_at,
        }),
        _ => None,
    };
    Ok(KeyCare {
        superseded_by: r.get("superseded_by")?,
        retires_at: seconds(r.get("retires_at")?),
        unused_warned_at: seconds(r.get("unused_warned_at")?),
        leak,
    })
}

fn progress(stage: Option<&str>, pending: Option<&str>) -> Result<Progress, LedgerError> {
    let stage = match stage {
        None => Stage::Active,
        Some(s) => {
            Stage::parse(s).ok_or_else(|| LedgerError::Corrupt(format!("key stage `{s}`")))?
        }
    };
    let pending = match pending {
        None => None,
        Some(s) => {
            Some(Step::parse(s).ok_or_else(|| LedgerError::Corrupt(format!("key step `{s}`")))?)
        }
    };
    Ok(Progress { stage, pending })
}

fn describe(p: Progress) -> String {
    match p.pending {
        Some(step) => format!("{}, {step} begun", p.stage),
        None => p.stage.to_string(),
    }
}
