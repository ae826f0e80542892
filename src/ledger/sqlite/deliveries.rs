//! Deliveries in SQLite: recording them (with coalescing and redelivery), claiming due work
//! one pull request at a time, and recording each attempt's outcome.

use std::time::Instant;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Conn;
use super::writer::BatchTiming;
use crate::event::{Activity, PrEvent, Sender, Work};
use crate::ids::{CommitSha, DeliveryId, InstallationId, PrNumber, RepoName};
use crate::ledger::{DeliveryState, Finish, Inserted, Job, LedgerError, NewDelivery, Stats, Taken};

/// Stores a delivery seen for the first time. One that finds one of the same work queued
/// (not started) for the same pull request is stored, durable and deduplicated, as
/// `coalesced`: the queued one reads the pull request afresh when it runs, which covers this
/// one. If that one fails for good, so does this one, and a Redeliver of it runs it again.
/// Each merge group has its own head to report on: never coalesced.
fn insert_new(
    tx: &rusqlite::Connection,
    queued: &mut rusqlite::CachedStatement<'_>,
    d: &NewDelivery,
) -> Result<Inserted, LedgerError> {
    let e = &d.event;
    let kind = e.activity.work().as_str();
    let target: Option<String> = if e.activity.work() == Work::Group {
        None
    } else {
        queued
            .query_row(params![e.repository.key(), e.pr.get() as i64, kind], |r| {
                r.get(0)
            })
            .optional()?
    };
    let state = if target.is_some() {
        "coalesced"
    } else {
        "queued"
    };
    Ok(
        match (insert_row(tx, d, state, target.as_deref())?, target) {
            // Its ID is there after all.
            (false, _) => Inserted::Duplicate,
            (true, Some(_)) => Inserted::Coalesced,
            (true, None) => Inserted::Queued,
        },
    )
}

/// Inserts `d` as a new row in `state` (`coalesced` into `into`; a `done` one finished as it
/// arrived): `false` when a row has its ID already.
fn insert_row(
    conn: &rusqlite::Connection,
    d: &NewDelivery,
    state: &str,
    into: Option<&str>,
) -> Result<bool, LedgerError> {
    let e = &d.event;
    let finished = (state == "done").then_some(d.received_at_ms);
    let n = conn
        .prepare_cached(
            "INSERT INTO deliveries (guid, event, action, repository, installation_id, \
             pr_number, kind, received_at, next_attempt_at, state, coalesced_into, \
             finished_at, sender_id, sender_login, merge_sha) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             ON CONFLICT (guid) DO NOTHING",
        )?
        .execute(params![
            d.id.as_str(),
            e.activity.event(),
            e.activity.action(),
            e.repository.key(),
            e.installation.get() as i64,
            e.pr.get() as i64,
            e.activity.work().as_str(),
            d.received_at_ms,
            state,
            into,
            finished,
            e.sender.as_ref().map(|s| s.id as i64),
            e.sender.as_ref().map(|s| s.login.as_str()),
            e.merge_commit.as_ref().map(CommitSha::as_str),
        ])?;
    Ok(n == 1)
}

impl Conn {
    pub(super) fn insert_deliveries(
        &mut self,
        batch: &[&NewDelivery],
    ) -> Result<(Vec<Inserted>, BatchTiming), LedgerError> {
        let started = Instant::now();
        // Immediate: the write lock from the start, waiting for a writer beside (`keygate
        // revoke`) through the busy timeout. A deferred transaction that read first could not
        // write once that one had, and its deliveries would be refused.
        let tx = self
            .0
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut seen = tx.prepare_cached("SELECT state FROM deliveries WHERE guid = ?1")?;
            // GitHub's "Redeliver" sends a failed delivery's ID again: run it again.
            let mut requeue = tx.prepare_cached(
                "UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?2, \
                 received_at = ?2, last_error = NULL WHERE guid = ?1",
            )?;
            let mut queued = tx.prepare_cached(
                "SELECT guid FROM deliveries WHERE repository = ?1 AND pr_number = ?2 \
                 AND state = 'queued' AND kind = ?3 LIMIT 1",
            )?;
            for d in batch {
                let state: Option<String> = seen
                    .query_row(params![d.id.as_str()], |r| r.get(0))
                    .optional()?;
                match state.as_deref() {
                    Some("failed") => {
                        requeue.execute(params![d.id.as_str(), d.received_at_ms])?;
                        out.push(Inserted::Queued);
                    }
                    Some(_) => out.push(Inserted::Duplicate),
                    None => out.push(insert_new(&tx, &mut queued, d)?),
                }
            }
        }
        let wrote = Instant::now();
        tx.commit()?;
        let timing = BatchTiming {
            statements: wrote - started,
            commit: wrote.elapsed(),
        };
        Ok((out, timing))
    }

    /// A push to a pull request into another branch: recorded `done`, for its sender alone.
    pub(super) fn record_push(&mut self, d: &NewDelivery) -> Result<bool, LedgerError> {
        insert_row(&self.0, d, "done", None)
    }

    pub(super) fn claim_due(&mut self, now: i64, limit: usize) -> Result<Vec<Job>, LedgerError> {
        let mut stmt = self.0.prepare_cached(
            // One delivery per pull request at a time, the oldest due first: two deliveries
            // of one merge must never issue side by side.
            "UPDATE deliveries SET state = 'running', attempts = attempts + 1 \
             WHERE guid IN ( \
               SELECT d.guid FROM deliveries d \
               WHERE d.state = 'queued' AND d.next_attempt_at <= ?1 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries r WHERE r.state = 'running' \
                                 AND r.repository = d.repository AND r.pr_number = d.pr_number) \
                 AND d.guid = (SELECT f.guid FROM deliveries f WHERE f.state = 'queued' \
                               AND f.next_attempt_at <= ?1 AND f.repository = d.repository \
                               AND f.pr_number = d.pr_number \
                               ORDER BY f.next_attempt_at, f.received_at, f.guid LIMIT 1) \
               ORDER BY d.next_attempt_at LIMIT ?2) \
             RETURNING guid, event, action, repository, installation_id, pr_number, attempts, \
               received_at, sender_id, sender_login, merge_sha",
        )?;
        let rows = stmt
            .query_map(params![now, limit as i64], JobRow::read)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(JobRow::job).collect()
    }

    /// One named delivery, claimed when it is queued, due and alone on its pull request.
    /// One process holds a SQLite ledger, so nothing runs on a lapsed lease here.
    pub(super) fn claim_named(&mut self, id: &str, now: i64) -> Result<Taken, LedgerError> {
        let found: Option<(String, i64)> = self
            .0
            .query_row(
                "SELECT state, next_attempt_at FROM deliveries WHERE guid = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((state, next)) = found else {
            return Ok(Taken::Over);
        };
        let busy = Taken::Busy {
            until_ms: now + 1_000,
        };
        match DeliveryState::parse(&state)? {
            DeliveryState::Queued if next > now => return Ok(Taken::NotDue { at_ms: next }),
            DeliveryState::Queued => {}
            DeliveryState::Running => return Ok(busy),
            _ => return Ok(Taken::Over),
        }
        let mut stmt = self.0.prepare_cached(
            "UPDATE deliveries SET state = 'running', attempts = attempts + 1 \
             WHERE guid = ?1 AND state = 'queued' \
               AND NOT EXISTS (SELECT 1 FROM deliveries r WHERE r.state = 'running' \
                               AND r.repository = deliveries.repository \
                               AND r.pr_number = deliveries.pr_number) \
             RETURNING guid, event, action, repository, installation_id, pr_number, attempts, \
               received_at, sender_id, sender_login, merge_sha",
        )?;
        let row = stmt.query_row(params![id], JobRow::read).optional()?;
        match row {
            Some(row) => Ok(Taken::Job(row.job()?)),
            None => Ok(busy),
        }
    }

    pub(super) fn overdue(&mut self, before: i64) -> Result<Vec<Job>, LedgerError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT guid, event, action, repository, installation_id, pr_number, attempts, \
               received_at, sender_id, sender_login, merge_sha FROM deliveries \
             WHERE state = 'queued' AND next_attempt_at <= ?1 \
             ORDER BY next_attempt_at, received_at, guid",
        )?;
        let rows = stmt
            .query_map(params![before], JobRow::read)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(JobRow::job).collect()
    }

    pub(super) fn finish(
        &mut self,
        guid: &str,
        finish: &Finish,
        now: i64,
    ) -> Result<(), LedgerError> {
        match finish {
            Finish::Done => self.0.execute(
                "UPDATE deliveries SET state = 'done', finished_at = ?2, last_error = NULL WHERE guid = ?1",
                params![guid, now],
            )?,
            Finish::Retry { at_ms, error } => self.0.execute(
                "UPDATE deliveries SET state = 'queued', next_attempt_at = ?2, last_error = ?3 WHERE guid = ?1",
                params![guid, at_ms, error],
            )?,
            Finish::Failed { error } => self.0.execute(
                "UPDATE deliveries SET state = 'failed', finished_at = ?2, last_error = ?3 \
                 WHERE guid = ?1 OR (coalesced_into = ?1 AND state = 'coalesced')",
                params![guid, now, error],
            )?,
        };
        Ok(())
    }

    /// The deliveries by state, as the `counts` table keeps them (schema 5): five rows read,
    /// whatever the history.
    pub(super) fn stats(&mut self) -> Result<Stats, LedgerError> {
        let mut stats = Stats::default();
        let mut stmt = self.0.prepare_cached(
            "SELECT substr(name, 10), value FROM counts WHERE name >= 'delivery:' \
             AND name < 'delivery;'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let n = u64::try_from(n).unwrap_or(0);
            match DeliveryState::parse(&state)? {
                DeliveryState::Queued => stats.queued = n,
                DeliveryState::Running => stats.running = n,
                DeliveryState::Done | DeliveryState::Coalesced => stats.done += n,
                DeliveryState::Failed => stats.failed += n,
            }
        }
        Ok(stats)
    }
}

/// A delivery row as the work reads it back (the columns `claim_due` returns).
struct JobRow {
    guid: String,
    event: String,
    action: String,
    repository: String,
    installation: i64,
    pr: i64,
    attempts: i64,
    received_at: i64,
    sender_id: Option<i64>,
    sender_login: Option<String>,
    merge_sha: Option<String>,
}

impl JobRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
        Ok(JobRow {
            guid: r.get(0)?,
            event: r.get(1)?,
            action: r.get(2)?,
            repository: r.get(3)?,
            installation: r.get(4)?,
            pr: r.get(5)?,
            attempts: r.get(6)?,
            received_at: r.get(7)?,
            sender_id: r.get(8)?,
            sender_login: r.get(9)?,
            merge_sha: r.get(10)?,
        })
    }

    fn job(self) -> Result<Job, LedgerError> {
        let activity = Activity::from_event(&self.event, &self.action).ok_or_else(|| {
            LedgerError::Corrupt(format!(
                "delivery {} is `{}.{}`",
                self.guid, self.event, self.action
            ))
        })?;
        Ok(Job {
            id: DeliveryId::new(self.guid),
            event: PrEvent {
                repository: RepoName::new(self.repository),
                installation: InstallationId(self.installation as u64),
                pr: PrNumber(self.pr as u64),
                activity,
                sender: self
                    .sender_id
                    .zip(self.sender_login)
                    .map(|(id, login)| Sender {
                        id: id as u64,
                        login,
                    }),
                merge_commit: self.merge_sha.map(CommitSha::new),
            },
            attempts: self.attempts as u32,
            received_at_ms: self.received_at,
        })
    }
}
