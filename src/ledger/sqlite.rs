//! The embedded ledger: SQLite in WAL mode with `synchronous=FULL`, so a committed delivery
//! survives power loss. Migrations are versioned in code.
//!
//! One thread owns the connection. Deliveries arriving together are committed in one
//! transaction (group commit), so every accepted delivery is on disk before its `202`
//! without paying one fsync per request.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{
    CatchUpProgress, Claim, DeliveryState, DeliveryStatus, Finish, Inserted, Intent, IntentState,
    Job, KeyLife, LedgerError, NewDelivery, NoteKey, Rotation, RotationClaim, RotationState, Stats,
    Store, Taken, Watermark, now_ms,
};
use crate::event::Sender;
use crate::ids::{
    AccessKeyId, AccountAlias, BranchName, DeliveryId, PrNumber, RepoName, RequestPath,
};
use crate::life::Progress;
use crate::life::request::RequestLife;
use time::OffsetDateTime;

mod backup;
mod catchup;
mod checkpoint;
mod deliveries;
mod ids;
mod intents;
mod key_lives;
mod lock;
mod requests;
mod rotations;
mod schema;
mod writer;

pub use backup::{BackupReport, backup};
use intents::{IntentRow, intent_row};

use schema::{check_current, migrate};

use checkpoint::Checkpoints;
pub use lock::Role;
use lock::{Access, lock_exclusively, lock_if_free};
use writer::{Cmd, Pending, Work, writer};

/// How long opening waits for another process to let go of the ledger.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Handle to the SQLite ledger's writer thread; cheap to clone.
#[derive(Clone)]
pub struct SqliteLedger {
    tx: mpsc::Sender<Cmd>,
}

impl SqliteLedger {
    /// Opens (creating and migrating) the ledger at `path` as `keygate serve` and starts its
    /// writer thread. One holder at a time: while another holds the ledger's lock, this
    /// waits up to [`LOCK_WAIT`] (a rolling restart's old process is still stopping), then
    /// refuses.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        SqliteLedger::open_as(path, Role::Serve, LOCK_WAIT)
    }

    /// Opens the ledger at `path` for `role`: its holders ([`Role::Serve`], `Sweep`,
    /// `Reconcile`, `Doctor`) create, migrate and lock it, waiting at most `wait` for
    /// another holder; [`Role::Revoke`] writes beside a holder without its lock;
    /// [`Role::Audit`] reads it read-only. Neither of the last two creates a ledger, nor
    /// migrates one a holder has open.
    pub fn open_as(
        path: &Path,
        role: Role,
        wait: std::time::Duration,
    ) -> Result<SqliteLedger, LedgerError> {
        let (conn, lock) = match role.access() {
            Access::Exclusive => {
                let lock = lock_exclusively(path, wait, role)?;
                (Conn::open(path)?, Some(lock))
            }
            Access::Beside => (Conn::open_beside(path)?, None),
            Access::ReadOnly => (Conn::open_read_only(path)?, None),
        };
        // The one writer of a ledger it holds checkpoints on a thread of its own.
        let checkpoints = lock.as_ref().map(|_| path);
        SqliteLedger::start(conn, lock, checkpoints)
    }

    /// [`SqliteLedger::open`], waiting at most `wait` for the lock.
    pub fn open_waiting(
        path: &Path,
        wait: std::time::Duration,
    ) -> Result<SqliteLedger, LedgerError> {
        SqliteLedger::open_as(path, Role::Serve, wait)
    }

    fn start(
        mut conn: Conn,
        lock: Option<std::fs::File>,
        checkpoints_for: Option<&Path>,
    ) -> Result<SqliteLedger, LedgerError> {
        let (tx, rx) = mpsc::channel::<Cmd>();
        let checkpoints = checkpoints_for.and_then(|path| {
            Checkpoints::start(path, &mut conn.0)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "WAL checkpoints stay on the ledger's writer thread")
                })
                .ok()
        });
        std::thread::Builder::new()
            .name("keygate-ledger".into())
            .spawn(move || {
                // The lock lives exactly as long as the threads that write.
                let _lock = lock;
                writer(&mut conn, rx);
                // Closing the connection ends the checkpoint thread's signals.
                drop(conn);
                if let Some(c) = checkpoints {
                    c.finish();
                }
            })
            .map_err(|e| LedgerError::Write(format!("cannot start the ledger thread: {e}")))?;
        Ok(SqliteLedger { tx })
    }

    /// Counts the SQLite virtual-machine steps the ledger's connection takes from now on:
    /// what the tests compare to tell a read of a few rows from a scan of the history.
    #[cfg(test)]
    pub(crate) async fn count_steps(
        &self,
    ) -> Result<std::sync::Arc<std::sync::atomic::AtomicU64>, LedgerError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        let steps = std::sync::Arc::new(AtomicU64::new(0));
        let counter = steps.clone();
        self.run(move |c| {
            let handler = move || {
                counter.fetch_add(1, Ordering::Relaxed);
                false
            };
            Ok(c.0.progress_handler(1, Some(handler))?)
        })
        .await?;
        Ok(steps)
    }

    /// Runs `f` on the writer thread and returns its result.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (reply, rx) = oneshot::channel();
        let work: Work = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.tx
            .send(Cmd::Run(work))
            .map_err(|_| LedgerError::Closed)?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }
}

impl Store for SqliteLedger {
    async fn record_delivery(&self, d: NewDelivery) -> Result<Inserted, LedgerError> {
        let (reply, rx) = oneshot::channel();
        let id = d.id.clone();
        let sent = std::time::Instant::now();
        let pending = Pending {
            delivery: d,
            reply,
            sent,
        };
        self.tx
            .send(Cmd::Insert(Box::new(pending)))
            .map_err(|_| LedgerError::Closed)?;
        match rx.await {
            Ok(Ok(w)) => {
                w.timing.log_if_slow(id.as_str(), sent.elapsed());
                Ok(w.inserted)
            }
            Ok(Err(e)) => Err(LedgerError::Write(e)),
            Err(_) => Err(LedgerError::Closed),
        }
    }

    async fn record_push(&self, d: NewDelivery) -> Result<bool, LedgerError> {
        self.run(move |c| c.record_push(&d)).await
    }

    async fn resume_interrupted(&self) -> Result<usize, LedgerError> {
        self.run(|c| {
            // The process that held this ledger stopped: its leases end with it, rather
            // than block the next issuance for an IAM user until they lapse.
            c.0.execute("DELETE FROM leases WHERE name LIKE 'user#%'", [])?;
            Ok(c.0.execute(
                "UPDATE deliveries SET state = 'queued' WHERE state = 'running'",
                [],
            )?)
        })
        .await
    }

    async fn requeue_orphans(&self, keep: Vec<DeliveryId>) -> Result<usize, LedgerError> {
        self.run(move |c| {
            let marks = vec!["?"; keep.len()].join(", ");
            let sql = format!(
                "UPDATE deliveries SET state = 'queued' WHERE state = 'running' AND guid NOT IN ({marks})"
            );
            Ok(c.0.execute(
                &sql,
                rusqlite::params_from_iter(keep.iter().map(DeliveryId::as_str)),
            )?)
        })
        .await
    }

    async fn claim_work(&self, now: i64, limit: usize) -> Result<Vec<Job>, LedgerError> {
        self.run(move |c| c.claim_due(now, limit)).await
    }

    async fn claim_delivery(&self, id: DeliveryId, now: i64) -> Result<Taken, LedgerError> {
        self.run(move |c| c.claim_named(id.as_str(), now)).await
    }

    async fn overdue(&self, before: i64) -> Result<Vec<Job>, LedgerError> {
        self.run(move |c| c.overdue(before)).await
    }

    /// One process holds a SQLite ledger (its file lock): every pass is its own.
    async fn lease_pass(
        &self,
        _pass: super::Pass,
        _now: i64,
        _until: i64,
    ) -> Result<bool, LedgerError> {
        Ok(true)
    }

    async fn finish_work(
        &self,
        id: DeliveryId,
        finish: Finish,
        now: i64,
    ) -> Result<(), LedgerError> {
        self.run(move |c| c.finish(id.as_str(), &finish, now)).await
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, LedgerError> {
        self.run(|c| {
            Ok(c.0.query_row(
                // Only deliveries that could be claimed: one whose pull request is running
                // waits for that to finish (which wakes the worker), not for its own time.
                "SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE d.state = 'queued' \
                 AND NOT EXISTS (SELECT 1 FROM deliveries r WHERE r.state = 'running' \
                                 AND r.repository = d.repository AND r.pr_number = d.pr_number)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn stats(&self) -> Result<Stats, LedgerError> {
        self.run(|c| c.stats()).await
    }

    async fn oldest_queued_ms(&self) -> Result<Option<i64>, LedgerError> {
        self.run(|c| {
            Ok(c.0.query_row(
                "SELECT MIN(received_at) FROM deliveries WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryStatus>, LedgerError> {
        self.run(move |c| {
            let row: Option<(String, i64, Option<String>, i64)> =
                c.0.query_row(
                    "SELECT state, attempts, last_error, received_at FROM deliveries WHERE guid = ?1",
                    params![id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.map(|(state, attempts, last_error, received_at_ms)| {
                Ok(DeliveryStatus {
                    state: DeliveryState::parse(&state)?,
                    attempts: attempts as u32,
                    last_error,
                    received_at_ms,
                })
            })
            .transpose()
        })
        .await
    }

    async fn pushers(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Sender>, LedgerError> {
        self.run(move |c| {
            let mut stmt = c.0.prepare_cached(
                "SELECT DISTINCT sender_id, sender_login FROM deliveries \
                 WHERE repository = ?1 AND pr_number = ?2 AND event = 'pull_request' \
                 AND action = 'synchronize' AND sender_id IS NOT NULL ORDER BY sender_id",
            )?;
            let rows = stmt.query_map(params![repository.key(), pr.get() as i64], |r| {
                Ok(Sender {
                    id: r.get::<_, i64>(0)? as u64,
                    login: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn claim_intent(&self, intent: Intent) -> Result<Claim, LedgerError> {
        self.run(move |c| c.claim_intent(intent)).await
    }

    async fn advance_intent(&self, intent: Intent, from: IntentState) -> Result<(), LedgerError> {
        self.run(move |c| c.advance_intent(&intent, from)).await
    }

    async fn intents_of_pr(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Intent>, LedgerError> {
        self.run(move |c| {
            c.intents(
                "SELECT * FROM intents WHERE repository = ?1 AND pr_number = ?2 ORDER BY path",
                vec![
                    repository.key().to_string().into(),
                    (pr.get() as i64).into(),
                ],
            )
        })
        .await
    }

    async fn all_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        self.run(|c| c.intents("SELECT * FROM intents ORDER BY created_at, path", vec![]))
            .await
    }

    async fn unfinished_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        self.run(|c| {
            c.intents(
                "SELECT * FROM intents WHERE state IN ('pending', 'creating', 'stored') ORDER BY created_at",
                vec![],
            )
        })
        .await
    }

    async fn note(&self, key: NoteKey) -> Result<Option<String>, LedgerError> {
        self.run(move |c| {
            Ok(c.0
                .query_row(
                    "SELECT value FROM notes WHERE key = ?1",
                    params![key.stored()],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    async fn set_note(&self, key: NoteKey, value: String) -> Result<(), LedgerError> {
        self.run(move |c| {
            c.0.execute(
                "INSERT INTO notes (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key.stored(), value],
            )?;
            Ok(())
        })
        .await
    }

    async fn keys_to_sweep(&self) -> Result<Vec<KeyLife>, LedgerError> {
        self.run(|c| {
            let all = c.key_lives(None)?;
            Ok(all.into_iter().filter(|l| !l.progress.is_over()).collect())
        })
        .await
    }

    async fn key_life(&self, access_key_id: AccessKeyId) -> Result<Option<KeyLife>, LedgerError> {
        self.run(move |c| Ok(c.key_lives(Some(&access_key_id))?.into_iter().next()))
            .await
    }

    async fn record_lifecycle_step(
        &self,
        life: KeyLife,
        from: Progress,
    ) -> Result<(), LedgerError> {
        self.run(move |c| c.record_step(&life, from)).await
    }

    async fn claim_rotation(&self, rotation: Rotation) -> Result<RotationClaim, LedgerError> {
        self.run(move |c| c.claim_rotation(rotation)).await
    }

    async fn advance_rotation(
        &self,
        rotation: Rotation,
        from: RotationState,
    ) -> Result<(), LedgerError> {
        self.run(move |c| c.advance_rotation(&rotation, from)).await
    }

    async fn unfinished_rotations(&self) -> Result<Vec<Rotation>, LedgerError> {
        self.run(|c| c.rotations(None, true)).await
    }

    async fn all_rotations(&self) -> Result<Vec<Rotation>, LedgerError> {
        self.run(|c| c.rotations(None, false)).await
    }

    async fn request_life(
        &self,
        repository: RepoName,
        path: RequestPath,
    ) -> Result<Option<RequestLife>, LedgerError> {
        self.run(move |c| c.request_life(&repository, &path)).await
    }

    async fn put_request_life(&self, life: RequestLife) -> Result<(), LedgerError> {
        self.run(move |c| c.put_request_life(&life)).await
    }

    async fn take_lease(
        &self,
        name: String,
        holder: String,
        now: i64,
        until: i64,
    ) -> Result<Option<Option<String>>, LedgerError> {
        self.run(move |c| c.take_lease(&name, &holder, now, until))
            .await
    }

    async fn release_lease(
        &self,
        name: String,
        holder: String,
        value: Option<String>,
    ) -> Result<(), LedgerError> {
        self.run(move |c| c.release_lease(&name, &holder, value.as_deref()))
            .await
    }

    async fn watermark(&self) -> Result<Watermark, LedgerError> {
        self.run(|c| c.watermark()).await
    }

    async fn settle_watermark(&self, at_ms: i64) -> Result<Watermark, LedgerError> {
        self.run(move |c| c.settle_watermark(at_ms)).await
    }

    async fn catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
    ) -> Result<Option<CatchUpProgress>, LedgerError> {
        self.run(move |c| c.catch_up_progress(&repository, &branch))
            .await
    }

    async fn record_catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
        progress: CatchUpProgress,
    ) -> Result<(), LedgerError> {
        self.run(move |c| c.record_catch_up_progress(&repository, &branch, progress))
            .await
    }

    async fn without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> Result<Vec<PrNumber>, LedgerError> {
        self.run(move |c| c.without_requests(&repository, &prs))
            .await
    }

    async fn record_without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> Result<(), LedgerError> {
        self.run(move |c| c.record_without_requests(&repository, &prs))
            .await
    }

    async fn knows_merge(&self, repository: RepoName, pr: PrNumber) -> Result<bool, LedgerError> {
        self.run(move |c| {
            Ok(c.0.query_row(
                "SELECT EXISTS (SELECT 1 FROM deliveries WHERE repository = ?1 AND pr_number = ?2 \
                 AND kind = 'closed') OR EXISTS (SELECT 1 FROM intents WHERE repository = ?1 \
                 AND pr_number = ?2)",
                params![repository.key(), pr.get() as i64],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

/// The connection, owned by the writer thread.
struct Conn(Connection);

impl Conn {
    fn open(path: &Path) -> Result<Conn, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        Conn::configure(&conn)?;
        migrate(&mut conn)?;
        Ok(Conn(conn))
    }

    fn configure(conn: &Connection) -> Result<(), LedgerError> {
        // Long enough for a writer beside (`keygate revoke`) to finish its step.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    /// An existing ledger, written beside its holder: migrated only when no holder runs
    /// (taking the lock for that moment); otherwise its schema must be this keygate's.
    fn open_beside(path: &Path) -> Result<Conn, LedgerError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        Conn::configure(&conn)?;
        match lock_if_free(path)? {
            Some(_free) => migrate(&mut conn)?,
            None => check_current(&conn)?,
        }
        Ok(Conn(conn))
    }

    /// An existing ledger, read only: no lock, no migration. WAL readers never block the
    /// writer, nor it them.
    fn open_read_only(path: &Path) -> Result<Conn, LedgerError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        check_current(&conn)?;
        Ok(Conn(conn))
    }

    fn claim_intent(&mut self, i: Intent) -> Result<Claim, LedgerError> {
        let now = now_ms();
        let n = self.0.execute(
            "INSERT INTO intents (repository, pr_number, path, state, iam_user, requester, approvers, \
             installation_id, created_at, updated_at, account) \
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?8, ?9) \
             ON CONFLICT DO NOTHING",
            params![
                i.repository.key(),
                i.pr.get() as i64,
                i.path,
                i.iam_user,
                i.requester,
                i.approvers.join(","),
                i.installation.get() as i64,
                now,
                i.account.as_ref().map(AccountAlias::as_str),
            ],
        )?;
        if n == 1 {
            return Ok(Claim::New(Intent {
                state: IntentState::Pending,
                updated_at_ms: now,
                ..i
            }));
        }
        let existing = self.intents(
            "SELECT * FROM intents WHERE repository = ?1 AND pr_number = ?2 AND path = ?3",
            vec![
                i.repository.key().to_string().into(),
                (i.pr.get() as i64).into(),
                i.path.to_string().into(),
            ],
        )?;
        existing
            .into_iter()
            .next()
            .map(Claim::Existing)
            .ok_or_else(|| LedgerError::Corrupt(format!("the intent for {} vanished", i.path)))
    }

    fn advance_intent(&mut self, i: &Intent, from: IntentState) -> Result<(), LedgerError> {
        let n = self.0.execute(
            "UPDATE intents SET state = ?4, iam_user = ?5, requester = ?6, approvers = ?7, \
             access_key_id = ?8, secret_name = ?9, secret_arn = ?10, expires_at = ?11, outcome = ?12, \
             updated_at = ?13, keys_before = ?14, merged_at = ?16, secret_token = ?17, \
             issued_at = ?18, rotate_every_days = ?19, key_fingerprint = ?20 WHERE repository = ?1 AND pr_number = ?2 AND path = ?3 AND state = ?15",
            params![
                i.repository.key(),
                i.pr.get() as i64,
                i.path,
                i.state.as_str(),
                i.iam_user,
                i.requester,
                i.approvers.join(","),
                i.access_key_id,
                i.secret_name,
                i.secret_arn,
                i.expires_at.map(crate::ledger::time_text),
                i.outcome,
                now_ms(),
                i.keys_before.as_deref().map(super::joined),
                from.as_str(),
                i.merged_at.map(OffsetDateTime::unix_timestamp),
                i.secret_token,
                i.origin.issued_at.map(OffsetDateTime::unix_timestamp),
                i.origin.rotate_every_days,
                i.origin.fingerprint,
            ],
        )?;
        if n == 1 {
            return Ok(());
        }
        Err(LedgerError::Conflict {
            path: i.path.clone(),
            expected: from,
            found: self.state_now(
                "SELECT state FROM intents WHERE repository = ?1 AND pr_number = ?2 AND path = ?3",
                params![i.repository.key(), i.pr.get() as i64, i.path],
            )?,
        })
    }

    /// The state a row is in now (`missing` when there is none), read by `sql`, for a move
    /// that found it moved.
    fn state_now(&self, sql: &str, params: impl rusqlite::Params) -> Result<String, LedgerError> {
        let found: Option<String> = self.0.query_row(sql, params, |r| r.get(0)).optional()?;
        Ok(found.unwrap_or_else(|| "missing".into()))
    }

    fn intents(
        &mut self,
        sql: &str,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<Intent>, LedgerError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), intent_row)?;
        rows.map(|r| {
            r.map_err(LedgerError::from)
                .and_then(IntentRow::into_intent)
        })
        .collect()
    }
}
