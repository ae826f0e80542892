//! The SQLite ledger's schema, versioned in code: each migration moves it one version up,
//! and a ledger made by a newer keygate is refused rather than misread.

use rusqlite::{Connection, params};

use super::super::{LedgerError, now_ms};

#[cfg(test)]
mod tests;

/// Each entry moves the schema one version up. Never edit a released entry; append.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 2: who sent each delivery: the sender of a `synchronize` pushed to the pull request.
    r#"
    ALTER TABLE deliveries ADD COLUMN sender_id INTEGER;
    ALTER TABLE deliveries ADD COLUMN sender_login TEXT;
    "#,
    // 3: the merge commit a `closed` delivery names (a hint, checked when the work runs).
    r#"
    ALTER TABLE deliveries ADD COLUMN merge_sha TEXT;
    "#,
    // 4: the life of each issued key after issuing (DESIGN §5): the stage reached, the step
    //    begun and not yet confirmed, who revoked it and why. Keyed by access key ID, so a
    //    key known only from its secret's tags has a record too.
    r#"
    CREATE TABLE key_lives (
        access_key_id TEXT PRIMARY KEY,
        iam_user TEXT NOT NULL,
        secret_name TEXT,
        expires_at TEXT,
        repository TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        path TEXT NOT NULL,
        requester TEXT NOT NULL,
        installation_id INTEGER,
        stage TEXT NOT NULL,
        pending TEXT,
        revoked_by TEXT,
        revoked_reason TEXT,
        revoked_in_pr INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX intents_access_key ON intents (access_key_id);
    "#,
    // 5: one life per request (DESIGN §5): the merges that added and deleted each request
    //    file, so merge order decides; when each intent's pull request merged; the random
    //    token of its secret (§3); and leases, so one issuance per IAM user runs at a time
    //    across processes.
    r#"
    ALTER TABLE intents ADD COLUMN merged_at INTEGER;
    ALTER TABLE intents ADD COLUMN secret_token TEXT;
    CREATE TABLE request_lives (
        repository TEXT NOT NULL,
        path TEXT NOT NULL,
        added_pr INTEGER,
        added_at INTEGER,
        deleted_pr INTEGER,
        deleted_at INTEGER,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository, path)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until INTEGER NOT NULL,
        value TEXT
    );
    "#,
    // 6: deliveries counted by state as they are written (DESIGN §4): `/readyz` and
    //    `/metrics` read five rows, whatever the history. Triggers keep them in the same
    //    transaction as every change of a delivery's state, so they cannot drift; the
    //    counts start from the deliveries already recorded.
    r#"
    CREATE TABLE counts (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO counts (name, value)
        SELECT 'delivery:' || s.state, (SELECT COUNT(*) FROM deliveries d WHERE d.state = s.state)
        FROM (SELECT 'queued' AS state UNION ALL SELECT 'coalesced' UNION ALL SELECT 'running'
              UNION ALL SELECT 'done' UNION ALL SELECT 'failed') s;
    CREATE TRIGGER deliveries_counted_in AFTER INSERT ON deliveries BEGIN
        UPDATE counts SET value = value + 1 WHERE name = 'delivery:' || new.state;
    END;
    CREATE TRIGGER deliveries_counted_moving AFTER UPDATE OF state ON deliveries
        WHEN old.state IS NOT new.state BEGIN
        UPDATE counts SET value = value - 1 WHERE name = 'delivery:' || old.state;
        UPDATE counts SET value = value + 1 WHERE name = 'delivery:' || new.state;
    END;
    CREATE TRIGGER deliveries_counted_out AFTER DELETE ON deliveries BEGIN
        UPDATE counts SET value = value - 1 WHERE name = 'delivery:' || old.state;
    END;
    "#,
    // 7: keys that look after themselves (DESIGN §10): when each key was made, how often its
    //    request rotates and its secret's fingerprint (intents and key lives); a rotated key's
    //    successor and retirement, its unused warning and a leak (key lives); and one record
    //    per rotation, keyed by the key it replaces.
    r#"
    ALTER TABLE intents ADD COLUMN issued_at INTEGER;
    ALTER TABLE intents ADD COLUMN rotate_every_days INTEGER;
    ALTER TABLE intents ADD COLUMN key_fingerprint TEXT;
    ALTER TABLE key_lives ADD COLUMN issued_at INTEGER;
    ALTER TABLE key_lives ADD COLUMN rotate_every_days INTEGER;
    ALTER TABLE key_lives ADD COLUMN key_fingerprint TEXT;
    ALTER TABLE key_lives ADD COLUMN superseded_by TEXT;
    ALTER TABLE key_lives ADD COLUMN retires_at INTEGER;
    ALTER TABLE key_lives ADD COLUMN unused_warned_at INTEGER;
    ALTER TABLE key_lives ADD COLUMN leak_source TEXT;
    ALTER TABLE key_lives ADD COLUMN leak_location TEXT;
    ALTER TABLE key_lives ADD COLUMN leaked_at INTEGER;
    CREATE TABLE rotations (
        access_key_id TEXT PRIMARY KEY,
        iam_user TEXT NOT NULL,
        secret_name TEXT NOT NULL,
        repository TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        path TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        keys_before TEXT,
        token TEXT,
        new_access_key_id TEXT,
        new_fingerprint TEXT,
        rotated_at INTEGER,
        blocked TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX rotations_state ON rotations (state, created_at);
    "#,
    // 8: keys in many AWS accounts (DESIGN §9): the account alias of each intent, key life
    //    and request life; NULL is keygate's own account, as every earlier row was.
    r#"
    ALTER TABLE intents ADD COLUMN account TEXT;
    ALTER TABLE key_lives ADD COLUMN account TEXT;
    ALTER TABLE request_lives ADD COLUMN account TEXT;
    "#,
    // 9: catch-up costs what changed (DESIGN §5): how far it got for each repository and
    //    branch (on GitHub's clock), and the merged pull requests it found to touch no request
    //    file, never read again. A new ledger also records that its watermark was taken on
    //    the host's clock (`meta` `watermark_clock`) until GitHub's clock is known; an earlier
    //    ledger keeps the watermark it has.
    r#"
    CREATE TABLE catch_up (
        repository TEXT NOT NULL,
        branch TEXT NOT NULL,
        from_ms INTEGER NOT NULL,
        through_ms INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository, branch)
    ) WITHOUT ROWID;
    CREATE TABLE pulls_without_requests (
        repository TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (repository, pr_number)
    ) WITHOUT ROWID;
    "#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
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
            // A new ledger: created now on this host's clock, put on GitHub's by the first
            // step that asks GitHub (DESIGN §5).
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('created_at', ?1), \
                 ('watermark_clock', 'host')",
                params![now_ms().to_string()],
            )?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// For a ledger another keygate holds, which this one must neither migrate nor misread: its
/// schema must be exactly this keygate's.
pub(super) fn check_current(conn: &Connection) -> Result<(), LedgerError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(LedgerError::TooNew {
            found: version,
            known,
        });
    }
    if version < known {
        return Err(LedgerError::NotMigrated {
            found: version,
            known,
        });
    }
    Ok(())
}
