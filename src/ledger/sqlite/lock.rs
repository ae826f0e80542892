//! Who may open a SQLite ledger beside whom (DESIGN §5, beside a running service).
//!
//! The processes that run work and scheduled passes (`serve`, `sweep`, `reconcile`, and
//! `doctor`'s check of them) hold an exclusive lock file that names the holder and its kind:
//! two of them on one ledger (a rolling restart on a shared volume, a cron `sweep` beside
//! `serve`) could both run one intent, since SQLite serialises writes, not the steps between
//! them. `revoke` writes beside whichever holds it (each of its steps moves a key's life only
//! from the progress it read, and SQLite serialises the writes), and `audit` only reads.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::LedgerError;

/// The keygate command that opens a SQLite ledger, and so how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Serve,
    Sweep,
    Reconcile,
    /// `keygate doctor`'s check that the ledger opens.
    Doctor,
    /// `keygate revoke`: writes beside a running holder.
    Revoke,
    /// `keygate rotate`: writes beside a running holder, under the IAM user's lease.
    Rotate,
    /// `keygate audit`: reads only.
    Audit,
}

/// How a [`Role`] opens the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Holds the lock for as long as the ledger is open; migrates.
    Exclusive,
    /// No lock held; migrates only when no holder runs.
    Beside,
    /// Read-only, no lock, no migration.
    ReadOnly,
}

impl Role {
    /// As the lock file and a refusal name it: `keygate serve`.
    pub fn label(self) -> &'static str {
        match self {
            Role::Serve => "keygate serve",
            Role::Sweep => "keygate sweep",
            Role::Reconcile => "keygate reconcile",
            Role::Doctor => "keygate doctor",
            Role::Revoke => "keygate revoke",
            Role::Rotate => "keygate rotate",
            Role::Audit => "keygate audit",
        }
    }

    pub(super) fn access(self) -> Access {
        match self {
            Role::Serve | Role::Sweep | Role::Reconcile | Role::Doctor => Access::Exclusive,
            Role::Revoke | Role::Rotate => Access::Beside,
            Role::Audit => Access::ReadOnly,
        }
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    PathBuf::from(lock_path)
}

fn open_lock_file(path: &Path) -> Result<(File, PathBuf), LedgerError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| LedgerError::Folder {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let lock_path = lock_path(path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| LedgerError::Write(format!("cannot open {}: {e}", lock_path.display())))?;
    Ok((file, lock_path))
}

/// Takes the exclusive lock on `<ledger>.lock` for `role` and writes what holds it (the
/// command, its process ID and host) into it, so a second holder is refused naming the
/// first. Waits up to `wait` for another holder to let go (a rolling restart's old process
/// is still stopping).
pub(super) fn lock_exclusively(
    path: &Path,
    wait: Duration,
    role: Role,
) -> Result<File, LedgerError> {
    let (mut file, lock_path) = open_lock_file(path)?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
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
    let me = format!(
        "{}, pid {} on {}",
        role.label(),
        std::process::id(),
        hostname()
    );
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(me.as_bytes());
    let _ = file.sync_all();
    Ok(file)
}

/// The exclusive lock, when no holder has it now: `None` while one runs. Taken by a command
/// beside a holder for a moment (to migrate), never waited for, and not written to, so a
/// holder's name stays in the file.
pub(super) fn lock_if_free(path: &Path) -> Result<Option<File>, LedgerError> {
    let (file, lock_path) = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(LedgerError::Write(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
