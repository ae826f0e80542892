//! `keygate backup FILE`: a consistent copy of the SQLite ledger with SQLite's online backup
//! API, safe while `serve` writes to it (no lock taken, nothing migrated), checked before it
//! is reported good.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::super::LedgerError;

/// What a backup holds, read from the copy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy's schema version (`PRAGMA user_version`).
    pub schema: i64,
    pub deliveries: i64,
    pub intents: i64,
    /// Issued keys whose life was recorded after issuing (0 in schemas before 4).
    pub key_lives: i64,
}

/// Pages copied per step; between steps a writer gets the file, so `serve` is never held
/// up for longer than one step.
const PAGES_PER_STEP: std::ffi::c_int = 256;
const PAUSE: Duration = Duration::from_millis(5);

/// Copies the ledger at `from` to `to`, which must not exist yet, and checks the copy
/// (`PRAGMA integrity_check`). Writers may go on meanwhile: SQLite restarts the copy when
/// the source changes under it, so the copy is the ledger as of one commit.
pub fn backup(from: &Path, to: &Path) -> Result<BackupReport, LedgerError> {
    if !from.is_file() {
        return Err(LedgerError::Write(format!(
            "there is no ledger at {} (store.path)",
            from.display()
        )));
    }
    if to.exists() {
        return Err(LedgerError::Write(format!(
            "{} exists already: a backup never overwrites a file; name a new one",
            to.display()
        )));
    }
    let source = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(Duration::from_secs(5))?;
    let mut copy = Connection::open(to)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        backup.run_to_completion(PAGES_PER_STEP, PAUSE, None)?;
    }
    // A copy of a WAL ledger is a complete file on its own: no -wal beside it to lose.
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let verdict: String = copy.pragma_query_value(None, "integrity_check", |r| r.get(0))?;
    if verdict != "ok" {
        return Err(LedgerError::Corrupt(format!(
            "the copy at {} fails SQLite's integrity check: {verdict}",
            to.display()
        )));
    }
    report(&copy)
}

fn report(copy: &Connection) -> Result<BackupReport, LedgerError> {
    let schema: i64 = copy.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let count = |table: &str| -> Result<i64, LedgerError> {
        let exists: i64 = copy.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(0);
        }
        Ok(copy.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(BackupReport {
        schema,
        deliveries: count("deliveries")?,
        intents: count("intents")?,
        key_lives: count("key_lives")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{SqliteLedger, Store};

    #[tokio::test]
    async fn a_backup_taken_while_another_connection_writes_opens_and_holds_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keygate.db");
        // The ledger as serve holds it: open, locked, migrated.
        let ledger = SqliteLedger::open(&path).unwrap();
        let writer_path = path.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let (first, first_rx) = std::sync::mpsc::channel();
        // Another connection writes all along, as serve's writer thread would.
        let writer = std::thread::spawn(move || {
            let conn = Connection::open(&writer_path).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let mut n = 0u32;
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) || n < 50 {
                conn.execute(
                    "INSERT INTO notes (key, value) VALUES (?1, ?2)",
                    (format!("comment:acme/requests#{n}"), n.to_string()),
                )
                .unwrap();
                if n == 50 {
                    let _ = first.send(());
                }
                n += 1;
            }
            n
        });
        first_rx.recv().unwrap();
        let copy = dir.path().join("backup.db");
        let report = backup(&path, &copy).unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let written = writer.join().unwrap();
        assert_eq!(report.schema, super::super::schema::MIGRATIONS.len() as i64);

        assert!(
            !dir.path().join("backup.db-wal").exists(),
            "the copy is one file"
        );
        // The copy opens as a ledger of its own and holds what was written before it.
        let restored = SqliteLedger::open(&copy).unwrap();
        let held = Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM notes", [], |r| r.get::<_, i64>(0))
            .unwrap();
        assert!(
            held >= 51 && held <= i64::from(written),
            "{held} of {written}"
        );
        let note = restored
            .note(crate::ledger::NoteKey::Comment {
                repository: crate::ids::RepoName::new("acme/requests"),
                pr: crate::ids::PrNumber(7),
            })
            .await
            .unwrap();
        assert_eq!(note.as_deref(), Some("7"));
        assert_eq!(
            restored.watermark().await.unwrap(),
            ledger.watermark().await.unwrap(),
            "the copy keeps the ledger's creation time, so catch-up reaches back no further"
        );
    }

    #[test]
    fn a_backup_never_overwrites_and_needs_a_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keygate.db");
        let e = backup(&path, &dir.path().join("b.db")).unwrap_err();
        assert!(e.to_string().contains("no ledger"), "{e}");
        drop(SqliteLedger::open(&path).unwrap());
        std::fs::write(dir.path().join("b.db"), "precious").unwrap();
        let e = backup(&path, &dir.path().join("b.db")).unwrap_err();
        assert!(e.to_string().contains("never overwrites"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.db")).unwrap(),
            "precious"
        );
    }
}
