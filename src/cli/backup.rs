//! `keygate backup FILE`: a consistent copy of the SQLite ledger, safe while `serve` runs.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{ConfigError, Settings, StoreBackend};

/// Copies the ledger at `store.path` to `file` (which must not exist) and says what the copy
/// holds. Exit 0; a DynamoDB ledger is a usage error (exit 2): AWS backs it up.
pub fn backup_command(settings: &Settings, file: &Path) -> anyhow::Result<ExitCode> {
    if settings.store.backend == StoreBackend::Dynamodb {
        return Err(ConfigError::Missing(format!(
            "keygate backup copies a SQLite ledger; the DynamoDB table `{}` is backed up by AWS: \
             point-in-time recovery (keygate init and the template turn it on), or \
             `aws dynamodb create-backup --table-name {} --backup-name NAME`",
            settings.store.table.as_deref().unwrap_or("?"),
            settings.store.table.as_deref().unwrap_or("TABLE"),
        ))
        .into());
    }
    let from = &settings.store.path;
    let report = crate::ledger::backup(from, file).map_err(|e| {
        anyhow::anyhow!(
            "cannot back up the ledger {} to {}: {e}",
            from.display(),
            file.display()
        )
    })?;
    println!(
        "keygate backup: copied {} to {} (schema {}: {} deliveries, {} requests, {} key lives); integrity check ok",
        from.display(),
        file.display(),
        report.schema,
        report.deliveries,
        report.intents,
        report.key_lives
    );
    println!(
        "to restore: stop keygate, copy this file to store.path ({}) and remove any {}-wal and {}-shm beside it, then start keygate",
        from.display(),
        from.display(),
        from.display()
    );
    Ok(ExitCode::SUCCESS)
}
