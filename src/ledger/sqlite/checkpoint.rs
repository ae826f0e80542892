//! WAL checkpoints off the writer's thread.
//!
//! SQLite copies the write-ahead log back into the database (a checkpoint) on the commit that
//! takes the log past 1,000 pages, inside that commit: random page writes and an fsync of the
//! database file, several milliseconds during which every delivery waiting for the writer
//! waits too (`scripts/ack-tail` shows how long a load run's commits took). Here the
//! writer's commits only signal when the log is that long, and a thread of its own, with its
//! own connection, checkpoints without holding the writer (`PASSIVE`).
//!
//! The log starts over from its beginning only once a checkpoint copied all of it, which a
//! pass that commits overtake never does: passes follow each other, each copying what was
//! committed during the one before, until one finds nothing left. A log that still grows
//! past [`RESTART_AT`] pages is copied and started over while the writer waits (`RESTART`),
//! a short wait since the passes copied nearly all of it already.

use std::ffi::c_int;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::ledger::LedgerError;

/// Pages (of 4 KiB) in the log from which a commit asks for a checkpoint: four times SQLite's
/// default. A checkpoint copies each page once however often the commits since the last one
/// wrote it, and the ledger's commits write the same few pages again and again (the newest
/// leaves of the deliveries and their indexes, the counts): fewer, longer checkpoints cost
/// less CPU per delivery (at 8 connections 122–138 µs against 147–155 µs at SQLite's 1,000,
/// four runs each, `docs/src/performance.md`).
const CHECKPOINT_AT: c_int = 4_000;

/// Pages past which the log is started over even if the writer waits for it (256 MiB).
const RESTART_AT: i64 = 65_536;

/// Passes after one signal: each copies what the commits during the one before added.
const PASSES: usize = 8;

/// The checkpoint thread; dropping the writer's connection (which holds the other end of
/// its signal) and then [`Checkpoints::finish`] stops it.
pub(super) struct Checkpoints {
    thread: JoinHandle<()>,
}

impl Checkpoints {
    /// Takes checkpoints over from `writer`'s commits, with a connection of its own to the
    /// ledger at `path`. On error the writer keeps checkpointing itself, as SQLite does.
    pub(super) fn start(path: &Path, writer: &mut Connection) -> Result<Checkpoints, LedgerError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let own = Connection::open_with_flags(path, flags)?;
        own.busy_timeout(Duration::from_secs(5))?;
        let (signal, signals) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("keygate-checkpoint".into())
            .spawn(move || run(&own, &signals))
            .map_err(|e| LedgerError::Write(format!("cannot start the checkpoint thread: {e}")))?;
        // Replaces SQLite's automatic checkpoint, which is itself this hook.
        writer.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: c_int| {
            if pages >= CHECKPOINT_AT {
                // Full: a signal is pending already, and the thread will see this commit.
                let _ = signal.try_send(());
            }
            Ok(())
        }))?;
        Ok(Checkpoints { thread })
    }

    /// Waits for the thread to end: once the writer's connection is closed.
    pub(super) fn finish(self) {
        let _ = self.thread.join();
    }
}

fn run(conn: &Connection, signals: &Receiver<()>) {
    while signals.recv().is_ok() {
        if let Err(e) = catch_up(conn) {
            // Nothing is lost: the log only grows until the next signal's passes.
            tracing::warn!(error = %e, "a WAL checkpoint failed; the next commit asks again");
        }
    }
}

/// Passes until the whole log is in the database, or restarts a log grown too long.
fn catch_up(conn: &Connection) -> Result<(), rusqlite::Error> {
    for _ in 0..PASSES {
        let (log, copied) = checkpoint(conn, "PASSIVE")?;
        if copied >= log {
            return Ok(());
        }
        if log >= RESTART_AT {
            checkpoint(conn, "RESTART")?;
            return Ok(());
        }
    }
    Ok(())
}

/// One checkpoint in `mode`: the pages in the log, and how many of them are copied.
fn checkpoint(conn: &Connection, mode: &str) -> Result<(i64, i64), rusqlite::Error> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
}

#[cfg(test)]
mod tests {
    use crate::event::{Activity, PrEvent};
    use crate::ids::{DeliveryId, InstallationId, PrNumber, RepoName};
    use crate::ledger::{Ledger, NewDelivery, Store, now_ms};

    fn delivery(i: u64) -> NewDelivery {
        NewDelivery {
            id: DeliveryId::new(format!("d-{i}")),
            event: PrEvent {
                repository: RepoName::new("acme/access-requests"),
                installation: InstallationId(1),
                // A pull request each: every delivery is queued, none coalesced.
                pr: PrNumber(i),
                activity: Activity::Closed,
                sender: None,
                merge_commit: None,
            },
            received_at_ms: now_ms(),
        }
    }

    #[tokio::test]
    async fn the_log_is_copied_back_and_started_over_while_deliveries_keep_coming() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let ledger = Ledger::open_sqlite(&path).unwrap();
        // Each commit adds at least four pages: a log never copied back would pass the
        // checkpoint's trigger twelve times.
        let deliveries = 3 * super::CHECKPOINT_AT as u64;
        for i in 0..deliveries {
            ledger.record_delivery(delivery(i)).await.unwrap();
        }
        let wal = std::fs::read(dir.path().join("ledger.db-wal")).unwrap();
        // The WAL header's checkpoint sequence number (bytes 12..16) counts the times the
        // log was started over from its beginning: never, were no checkpoint taken.
        let restarts = u32::from_be_bytes(wal[12..16].try_into().unwrap());
        let pages = (wal.len() / 4096) as u64;
        eprintln!("WAL: {} bytes, started over {restarts} times", wal.len());
        assert!(restarts >= 2, "the log was started over {restarts} times");
        // A log never copied back would be 12 times the trigger by now. Started over near
        // the trigger it stays there while the thread keeps up; a thread slowed by a busy
        // machine lets it grow further, never to this.
        let most = 5 * super::CHECKPOINT_AT as u64;
        assert!(pages < most, "the log grew to {} bytes", wal.len());
        assert_eq!(ledger.stats().await.unwrap().queued, deliveries);
    }
}
