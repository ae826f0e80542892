//! The embedded ledger: SQLite in WAL mode with `synchronous=FULL`, so a committed
//! delivery survives power loss. Migrations are versioned in code.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Finish, Inserted, Intent, IntentFilter, IntentState, Job, LedgerError, NewDelivery, Stats,
    Store, now_ms,
};

/// Each entry moves the schema one version up. Never edit a released entry; append.
const MIGRATIONS: &[&str] = &[
    // 1: deliveries, intents, remembered values (comment and check-run ids, notices sent),
    //    and the ledger's creation time, which catch-up must never reach back before.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE deliveries (
        guid TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        action TEXT NOT NULL,
        repository TEXT NOT NULL,
        installation_id INTEGER NOT NULL,
        pr_number INTEGER NOT NULL,
        kind TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        coalesced_into TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        finished_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
    CREATE INDEX deliveries_pr ON deliveries (repository, pr_number, state, kind);
    CREATE TABLE intents (
        repository TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        path TEXT NOT NULL,
        state TEXT NOT NULL,
        iam_user TEXT NOT NULL,
        requester TEXT NOT NULL,
        approvers TEXT NOT NULL,
        installation_id INTEGER NOT NULL,
        keys_before TEXT,
        access_key_id TEXT,
        secret_name TEXT,
        secret_arn TEXT,
        expires_at TEXT,
        outcome TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository, pr_number, path)
    );
    CREATE TABLE notes (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    "#,
];

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn })
    }
}

fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(LedgerError::TooNew {
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if i == 0 {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
                params![now_ms().to_string()],
            )?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn intent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Intent> {
    Ok(Intent {
        repository: r.get("repository")?,
        pr_number: r.get::<_, i64>("pr_number")? as u64,
        path: r.get("path")?,
        state: Some(IntentState::parse(&r.get::<_, String>("state")?)),
        iam_user: r.get("iam_user")?,
        requester: r.get("requester")?,
        approvers: r.get("approvers")?,
        installation_id: r.get::<_, i64>("installation_id")? as u64,
        keys_before: r.get("keys_before")?,
        access_key_id: r.get("access_key_id")?,
        secret_name: r.get("secret_name")?,
        secret_arn: r.get("secret_arn")?,
        expires_at: r.get("expires_at")?,
        outcome: r.get("outcome")?,
        updated_at_ms: r.get("updated_at")?,
    })
}

impl Store for SqliteStore {
    fn insert_deliveries(&mut self, batch: &[NewDelivery]) -> Result<Vec<Inserted>, LedgerError> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut seen = tx.prepare_cached("SELECT state FROM deliveries WHERE guid = ?1")?;
            // GitHub's "Redeliver" sends a failed delivery's GUID again: run it again.
            let mut requeue = tx.prepare_cached(
                "UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?2, \
                 last_error = NULL WHERE guid = ?1",
            )?;
            let mut queued = tx.prepare_cached(
                "SELECT guid FROM deliveries WHERE repository = ?1 AND pr_number = ?2 \
                 AND state = 'queued' AND kind = ?3 LIMIT 1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO deliveries (guid, event, action, repository, installation_id, \
                 pr_number, kind, received_at, next_attempt_at, state, coalesced_into) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
            )?;
            for d in batch {
                let state: Option<String> =
                    seen.query_row(params![d.guid], |r| r.get(0)).optional()?;
                match state.as_deref() {
                    Some("failed") => {
                        requeue.execute(params![d.guid, d.received_at_ms])?;
                        out.push(Inserted::Queued);
                    }
                    Some(_) => out.push(Inserted::Duplicate),
                    None => {
                        // A delivery that finds one of the same kind queued (not started) for
                        // the same pull request is stored, durable and deduplicated, as
                        // `coalesced`: the queued one reads the pull request afresh when it
                        // runs, which covers this one. If that one fails for good, so does
                        // this one, and a Redeliver of it runs it again.
                        let target: Option<String> = queued
                            .query_row(params![d.repository, d.pr_number as i64, d.kind()], |r| {
                                r.get(0)
                            })
                            .optional()?;
                        let state = if target.is_some() {
                            "coalesced"
                        } else {
                            "queued"
                        };
                        insert.execute(params![
                            d.guid,
                            d.event,
                            d.action,
                            d.repository,
                            d.installation_id as i64,
                            d.pr_number as i64,
                            d.kind(),
                            d.received_at_ms,
                            state,
                            target,
                        ])?;
                        out.push(if target.is_some() {
                            Inserted::Coalesced
                        } else {
                            Inserted::Queued
                        });
                    }
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn requeue_running(&mut self) -> Result<usize, LedgerError> {
        Ok(self.conn.execute(
            "UPDATE deliveries SET state = 'queued' WHERE state = 'running'",
            [],
        )?)
    }

    fn requeue_orphans(&mut self, keep: &[String]) -> Result<usize, LedgerError> {
        let marks = vec!["?"; keep.len()].join(", ");
        let sql = format!(
            "UPDATE deliveries SET state = 'queued' WHERE state = 'running' AND guid NOT IN ({marks})"
        );
        Ok(self
            .conn
            .execute(&sql, rusqlite::params_from_iter(keep.iter()))?)
    }

    fn claim_due(&mut self, now: i64, limit: usize) -> Result<Vec<Job>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
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
             RETURNING guid, event, action, repository, installation_id, pr_number, attempts",
        )?;
        let jobs = stmt
            .query_map(params![now, limit as i64], |r| {
                Ok(Job {
                    guid: r.get(0)?,
                    event: r.get(1)?,
                    action: r.get(2)?,
                    repository: r.get(3)?,
                    installation_id: r.get::<_, i64>(4)? as u64,
                    pr_number: r.get::<_, i64>(5)? as u64,
                    attempts: r.get::<_, i64>(6)? as u32,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    fn finish(&mut self, guid: &str, finish: &Finish, now: i64) -> Result<(), LedgerError> {
        match finish {
            Finish::Done => self.conn.execute(
                "UPDATE deliveries SET state = 'done', finished_at = ?2, last_error = NULL WHERE guid = ?1",
                params![guid, now],
            )?,
            Finish::Retry { at_ms, error } => self.conn.execute(
                "UPDATE deliveries SET state = 'queued', next_attempt_at = ?2, last_error = ?3 WHERE guid = ?1",
                params![guid, at_ms, error],
            )?,
            Finish::Failed { error } => self.conn.execute(
                "UPDATE deliveries SET state = 'failed', finished_at = ?2, last_error = ?3 \
                 WHERE guid = ?1 OR (coalesced_into = ?1 AND state = 'coalesced')",
                params![guid, now, error],
            )?,
        };
        Ok(())
    }

    fn next_due_ms(&mut self) -> Result<Option<i64>, LedgerError> {
        Ok(self.conn.query_row(
            // Only deliveries that could be claimed: one whose pull request is running waits
            // for that to finish (which wakes the worker), not for its own time.
            "SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE d.state = 'queued' \
             AND NOT EXISTS (SELECT 1 FROM deliveries r WHERE r.state = 'running' \
                             AND r.repository = d.repository AND r.pr_number = d.pr_number)",
            [],
            |r| r.get(0),
        )?)
    }

    fn stats(&mut self) -> Result<Stats, LedgerError> {
        let mut stats = Stats::default();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, COUNT(*) FROM deliveries GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let n = n as u64;
            match state.as_str() {
                "queued" => stats.queued = n,
                "running" => stats.running = n,
                "done" | "coalesced" => stats.done += n,
                _ => stats.failed += n,
            }
        }
        Ok(stats)
    }

    fn delivery_state(
        &mut self,
        guid: &str,
    ) -> Result<Option<(String, u32, Option<String>)>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT state, attempts, last_error FROM deliveries WHERE guid = ?1",
                params![guid],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u32, r.get(2)?)),
            )
            .optional()?)
    }

    fn claim_intent(&mut self, i: &Intent) -> Result<Option<Intent>, LedgerError> {
        let now = now_ms();
        let n = self.conn.execute(
            "INSERT INTO intents (repository, pr_number, path, state, iam_user, requester, approvers, \
             installation_id, created_at, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?8) \
             ON CONFLICT DO NOTHING",
            params![
                i.repository.to_lowercase(),
                i.pr_number as i64,
                i.path,
                i.iam_user,
                i.requester,
                i.approvers,
                i.installation_id as i64,
                now
            ],
        )?;
        if n == 1 {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT * FROM intents WHERE repository = ?1 AND pr_number = ?2 AND path = ?3",
                params![i.repository.to_lowercase(), i.pr_number as i64, i.path],
                intent_from_row,
            )
            .optional()?)
    }

    fn save_intent(&mut self, i: &Intent) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE intents SET state = ?4, iam_user = ?5, requester = ?6, approvers = ?7, \
             access_key_id = ?8, secret_name = ?9, secret_arn = ?10, expires_at = ?11, outcome = ?12, \
             updated_at = ?13, keys_before = ?14 WHERE repository = ?1 AND pr_number = ?2 AND path = ?3",
            params![
                i.repository.to_lowercase(),
                i.pr_number as i64,
                i.path,
                i.state().as_str(),
                i.iam_user,
                i.requester,
                i.approvers,
                i.access_key_id,
                i.secret_name,
                i.secret_arn,
                i.expires_at,
                i.outcome,
                now_ms(),
                i.keys_before
            ],
        )?;
        Ok(())
    }

    fn intents(&mut self, filter: IntentFilter) -> Result<Vec<Intent>, LedgerError> {
        let (sql, args): (&str, Vec<rusqlite::types::Value>) = match filter {
            IntentFilter::Pr {
                repository,
                pr_number,
            } => (
                "SELECT * FROM intents WHERE repository = ?1 AND pr_number = ?2 ORDER BY path",
                vec![repository.to_lowercase().into(), (pr_number as i64).into()],
            ),
            IntentFilter::Unfinished => (
                "SELECT * FROM intents WHERE state IN ('pending', 'creating', 'stored') ORDER BY created_at",
                vec![],
            ),
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), intent_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn get_note(&mut self, key: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM notes WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_note(&mut self, key: &str, value: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO notes (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}
