//! Rotations in place (DESIGN §10) in SQLite: one `rotations` row per rotated key, claimed
//! by insert and moved only from the state it was read in.

use rusqlite::params;
use time::OffsetDateTime;

use super::Conn;
use super::intents::request_of;
use crate::ids::AccessKeyId;
use crate::ledger::{LedgerError, Rotation, RotationClaim, RotationState, now_ms, seconds};

impl Conn {
    pub(super) fn claim_rotation(&mut self, r: Rotation) -> Result<RotationClaim, LedgerError> {
        let now = now_ms();
        let n = self.0.execute(
            "INSERT INTO rotations (access_key_id, iam_user, secret_name, repository, pr_number, \
             path, state, requested_by, reason, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?9) ON CONFLICT DO NOTHING",
            params![
                r.access_key_id,
                r.iam_user,
                r.secret_name,
                r.request.repository.key(),
                r.request.pr.get() as i64,
                r.request.path,
                r.requested_by,
                r.reason,
                now
            ],
        )?;
        if n == 1 {
            return Ok(RotationClaim::New(Rotation {
                state: RotationState::Pending,
                updated_at_ms: now,
                ..r
            }));
        }
        let existing = self.rotations(Some(&r.access_key_id), false)?;
        existing
            .into_iter()
            .next()
            .map(RotationClaim::Existing)
            .ok_or_else(|| {
                LedgerError::Corrupt(format!("the rotation of {} vanished", r.access_key_id))
            })
    }

    pub(super) fn advance_rotation(
        &mut self,
        r: &Rotation,
        from: RotationState,
    ) -> Result<(), LedgerError> {
        let n = self.0.execute(
            "UPDATE rotations SET state = ?2, keys_before = ?3, token = ?4, \
             new_access_key_id = ?5, new_fingerprint = ?6, rotated_at = ?7, blocked = ?8, \
             updated_at = ?9 WHERE access_key_id = ?1 AND state = ?10",
            params![
                r.access_key_id,
                r.state.as_str(),
                r.keys_before.as_deref().map(crate::ledger::joined),
                r.token,
                r.new_access_key_id,
                r.new_fingerprint,
                r.rotated_at.map(OffsetDateTime::unix_timestamp),
                r.blocked,
                now_ms(),
                from.as_str(),
            ],
        )?;
        if n == 1 {
            return Ok(());
        }
        Err(LedgerError::RotationMoved {
            access_key_id: r.access_key_id.clone(),
            expected: from,
            found: self.state_now(
                "SELECT state FROM rotations WHERE access_key_id = ?1",
                params![r.access_key_id],
            )?,
        })
    }

    /// Rotations, oldest first: of one key, or every one (`unfinished`: not `done`).
    pub(super) fn rotations(
        &mut self,
        only: Option<&AccessKeyId>,
        unfinished: bool,
    ) -> Result<Vec<Rotation>, LedgerError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT * FROM rotations WHERE (?1 IS NULL OR access_key_id = ?1) \
             AND (?2 = 0 OR state != 'done') ORDER BY created_at, access_key_id",
        )?;
        let rows = stmt.query_map(params![only, unfinished], |row| {
            Ok((
                row.get::<_, String>("state")?,
                Rotation {
                    access_key_id: row.get("access_key_id")?,
                    iam_user: row.get("iam_user")?,
                    secret_name: row.get("secret_name")?,
                    request: request_of(row)?,
                    state: RotationState::Pending,
                    requested_by: row.get("requested_by")?,
                    reason: row.get("reason")?,
                    keys_before: row
                        .get::<_, Option<String>>("keys_before")?
                        .map(|k| crate::ledger::split_keys(&k)),
                    token: row.get("token")?,
                    new_access_key_id: row.get("new_access_key_id")?,
                    new_fingerprint: row.get("new_fingerprint")?,
                    rotated_at: seconds(row.get("rotated_at")?),
                    blocked: row.get("blocked")?,
                    updated_at_ms: row.get("updated_at")?,
                },
            ))
        })?;
        rows.map(|row| {
            let (state, r) = row?;
            Ok(Rotation {
                state: RotationState::parse(&state)?,
                ..r
            })
        })
        .collect()
    }
}
