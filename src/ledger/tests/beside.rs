//! Who opens a SQLite ledger beside whom (DESIGN §5): one holder of `serve`'s kind; `revoke`
//! writes beside it, `audit` reads beside it.

use super::*;

const WAIT: std::time::Duration = std::time::Duration::ZERO;

#[tokio::test]
async fn a_held_ledger_is_read_and_written_beside_but_never_held_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let serve = Ledger::open_sqlite(&path).unwrap();
    assert!(serve.record_delivery(closed("a")).await.unwrap().is_new());

    for role in [Role::Serve, Role::Sweep, Role::Reconcile, Role::Doctor] {
        let Err(LedgerError::Locked { holder, .. }) = SqliteLedger::open_as(&path, role, WAIT)
        else {
            panic!("{role:?} opened a held ledger");
        };
        let me = format!("keygate serve, pid {}", std::process::id());
        assert!(holder.starts_with(&me), "{role:?}: {holder}");
    }

    let revoke = Ledger::open_sqlite_as(&path, Role::Revoke).unwrap();
    let key = NoteKey::Comment {
        repository: RepoName::new("acme/access-requests"),
        pr: PrNumber(7),
    };
    revoke.set_note(key.clone(), "42".into()).await.unwrap();
    assert_eq!(
        serve.note(key.clone()).await.unwrap().as_deref(),
        Some("42")
    );
    assert!(serve.record_delivery(closed("b")).await.unwrap().is_new());

    let audit = Ledger::open_sqlite_as(&path, Role::Audit).unwrap();
    assert_eq!(
        audit.stats().await.unwrap().queued,
        1,
        "reads what serve wrote"
    );
    assert_eq!(
        audit.note(key.clone()).await.unwrap().as_deref(),
        Some("42")
    );
    assert!(
        audit.set_note(key, "43".into()).await.is_err(),
        "and writes nothing"
    );
}

#[tokio::test]
async fn audit_and_revoke_create_no_ledger_and_never_migrate_a_held_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    for role in [Role::Revoke, Role::Audit] {
        assert!(SqliteLedger::open_as(&missing, role, WAIT).is_err());
        assert!(!missing.exists(), "{role:?} created a ledger");
    }
    let path = dir.path().join("l.db");
    let _serve = Ledger::open_sqlite(&path).unwrap();
    let older = rusqlite::Connection::open(&path).unwrap();
    older.pragma_update(None, "user_version", 1).unwrap();
    for role in [Role::Revoke, Role::Audit] {
        let Err(e) = SqliteLedger::open_as(&path, role, WAIT) else {
            panic!("{role:?} opened a schema it does not know");
        };
        assert!(
            matches!(e, LedgerError::NotMigrated { found: 1, .. }),
            "{e}"
        );
    }
}
