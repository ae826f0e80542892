//! One process per SQLite ledger: an exclusive lock file that names its holder.

use std::path::Path;

use super::LedgerError;

/// Takes the exclusive lock on `<ledger>.lock` and writes this process's ID into it, so a
/// second process can name the holder. Two processes on one SQLite ledger (a rolling restart
/// on a shared volume) could both run one intent: SQLite's own locking serialises writes,
/// not the steps between them.
pub(super) fn lock_exclusively(
    path: &Path,
    wait: std::time::Duration,
) -> Result<std::fs::File, LedgerError> {
    use std::io::{Read, Seek, Write};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| LedgerError::Folder {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| LedgerError::Write(format!("cannot open {}: {e}", lock_path.display())))?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LedgerError::Locked {
                    path: path.display().to_string(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LedgerError::Write(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )));
            }
        }
    }
    let me = format!("pid {} on {}", std::process::id(), hostname());
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(me.as_bytes());
    let _ = file.sync_all();
    Ok(file)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
