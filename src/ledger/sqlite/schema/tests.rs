//! Upgrades: a ledger written by each earlier keygate opens with today's code, migrates
//! forward, and still says what it said; a ledger from a newer keygate is refused.

use rusqlite::{Connection, params};

use super::{MIGRATIONS, migrate};
use crate::ids::{AccessKeyId, DeliveryId, InstallationId, PrNumber, RepoName};
use crate::ledger::{
    CatchUpProgress, DeliveryState, IntentState, LedgerError, NoteKey, SqliteLedger, Store,
};
use crate::life::Stage;

const CREATED_AT: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A ledger file as keygate with schema `version` left it, holding one merge that issued
/// a key, the comment that said so, and (from version 2) a push by someone.
fn ledger_at(version: usize, path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    for sql in &MIGRATIONS[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
        params![CREATED_AT.to_string()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO deliveries (guid, event, action, repository, installation_id, pr_number, \
         kind, received_at, state, attempts, next_attempt_at, finished_at) \
         VALUES ('d-closed', 'pull_request', 'closed', 'acme/requests', 7, 3, 'closed', ?1, \
         'done', 1, ?1, ?1)",
        params![CREATED_AT + 1000],
    )
    .unwrap();
    if version >= 2 {
        conn.execute(
            "INSERT INTO deliveries (guid, event, action, repository, installation_id, \
             pr_number, kind, received_at, state, attempts, next_attempt_at, sender_id, \
             sender_login) VALUES ('d-push', 'pull_request', 'synchronize', 'acme/requests', \
             7, 3, 'activity', ?1, 'done', 1, ?1, 42, 'mallory')",
            params![CREATED_AT + 500],
        )
        .unwrap();
    }
    if version >= 3 {
        conn.execute(
            "UPDATE deliveries SET merge_sha = 'abc1234' WHERE guid = 'd-closed'",
            [],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO intents (repository, pr_number, path, state, iam_user, requester, \
         approvers, installation_id, keys_before, access_key_id, secret_name, secret_arn, \
         expires_at, outcome, created_at, updated_at) VALUES ('acme/requests', 3, \
         'requests/svc/ci.toml', 'issued', 'svc', 'bob', 'carol,dave', 7, 'AKIAOLD', \
         'AKIAEXAMPLE', 'keygate/svc/access-key-20260101000001', \
         'arn:aws:secretsmanager:us-east-1:123456789012:secret:keygate/svc/x', \
         '2026-04-01T00:00:00Z', NULL, ?1, ?1)",
        params![CREATED_AT + 2000],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO notes (key, value) VALUES ('comment:acme/requests#3', '9001')",
        [],
    )
    .unwrap();
}

#[tokio::test]
async fn a_ledger_from_every_earlier_schema_opens_and_reads_back() {
    assert_eq!(MIGRATIONS.len(), 9, "a new schema: add its rows above");
    for version in 1..MIGRATIONS.len() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keygate.db");
        ledger_at(version, &path);
        let ledger = SqliteLedger::open(&path)
            .unwrap_or_else(|e| panic!("schema {version} does not open: {e}"));
        let now: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(now, MIGRATIONS.len() as i64, "schema {version} migrated");

        let repo = RepoName::new("acme/requests");
        let closed = ledger.delivery(DeliveryId::new("d-closed")).await.unwrap();
        assert_eq!(
            closed.map(|d| d.state),
            Some(DeliveryState::Done),
            "{version}"
        );
        // Schema 9: an earlier ledger keeps the watermark it has; catch-up starts afresh.
        let mark = ledger.watermark().await.unwrap();
        assert_eq!(
            (mark.at_ms, mark.on_host_clock),
            (CREATED_AT, false),
            "{version}"
        );
        let branch = crate::ids::BranchName::new("main");
        let progress = ledger.catch_up_progress(repo.clone(), branch.clone()).await;
        assert_eq!(progress.unwrap(), None, "{version}");
        let plain = ledger
            .without_requests(repo.clone(), vec![PrNumber(3)])
            .await;
        assert!(plain.unwrap().is_empty(), "{version}");
        // The migrated ledger keeps catch-up's progress and its merges without requests.
        let got = CatchUpProgress {
            from_ms: CREATED_AT,
            through_ms: CREATED_AT + 60_000,
        };
        ledger
            .record_catch_up_progress(repo.clone(), branch.clone(), got)
            .await
            .unwrap();
        let progress = ledger.catch_up_progress(repo.clone(), branch).await;
        assert_eq!(progress.unwrap(), Some(got), "{version}");
        ledger
            .record_without_requests(repo.clone(), vec![PrNumber(4)])
            .await
            .unwrap();
        let plain = ledger
            .without_requests(repo.clone(), vec![PrNumber(3), PrNumber(4)])
            .await;
        assert_eq!(plain.unwrap(), vec![PrNumber(4)], "{version}");
        assert!(
            ledger.knows_merge(repo.clone(), PrNumber(3)).await.unwrap(),
            "{version}"
        );
        let intents = ledger
            .intents_of_pr(repo.clone(), PrNumber(3))
            .await
            .unwrap();
        assert_eq!(intents.len(), 1, "{version}");
        let i = &intents[0];
        assert_eq!(
            (
                i.state,
                i.iam_user.as_str(),
                i.access_key_id.as_ref().map(AccessKeyId::as_str)
            ),
            (IntentState::Issued, "svc", Some("AKIAEXAMPLE")),
            "{version}"
        );
        assert_eq!(i.approvers, vec!["carol", "dave"], "{version}");
        assert_eq!(i.installation, InstallationId(7), "{version}");
        // Schema 5: what earlier ledgers did not record is unknown, never guessed.
        assert_eq!(
            (i.merged_at, i.secret_token.as_deref()),
            (None, None),
            "{version}"
        );
        let life = ledger
            .request_life(repo.clone(), "requests/svc/ci.toml".into())
            .await
            .unwrap();
        assert_eq!(life, None, "{version}");
        // Schema 6: the deliveries already recorded are counted from the start.
        let stats = ledger.stats().await.unwrap();
        let expected_done = if version >= 2 { 2 } else { 1 };
        assert_eq!(
            (stats.done, stats.queued, stats.running),
            (expected_done, 0, 0),
            "{version}"
        );
        let comment = NoteKey::Comment {
            repository: repo.clone(),
            pr: PrNumber(3),
        };
        assert_eq!(ledger.note(comment).await.unwrap().as_deref(), Some("9001"));
        // The key issued before key lives were recorded is still swept: active, from its
        // intent.
        let life = ledger
            .key_life("AKIAEXAMPLE".into())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("schema {version}: the issued key has no life"));
        assert_eq!(life.progress.stage, Stage::Active, "{version}");
        // Schema 7: when the key was made, its rotation and fingerprint are unknown (never
        // rotated, never matched by a secret), nothing happened to it since, no rotation.
        assert_eq!(
            life.origin,
            crate::ledger::KeyOrigin::default(),
            "{version}"
        );
        assert_eq!(life.care, crate::ledger::KeyCare::default(), "{version}");
        assert!(
            ledger.all_rotations().await.unwrap().is_empty(),
            "{version}"
        );
        // Schema 8: every key issued before accounts is in keygate's own account.
        assert_eq!(
            (i.account.as_ref(), life.account.as_ref()),
            (None, None),
            "{version}"
        );
        assert_eq!(ledger.keys_to_sweep().await.unwrap().len(), 1, "{version}");
        let pushers = ledger.pushers(repo, PrNumber(3)).await.unwrap();
        let logins: Vec<&str> = pushers.iter().map(|p| p.login.as_str()).collect();
        assert_eq!(
            logins,
            if version >= 2 {
                vec!["mallory"]
            } else {
                vec![]
            }
        );
    }
}

#[test]
fn a_ledger_from_a_newer_keygate_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keygate.db");
    ledger_at(MIGRATIONS.len(), &path);
    let newer = MIGRATIONS.len() as i64 + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let mut conn = Connection::open(&path).unwrap();
    match migrate(&mut conn) {
        Err(LedgerError::TooNew { found, known }) => {
            assert_eq!((found, known), (newer, MIGRATIONS.len() as i64));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let e = SqliteLedger::open(&path).err().unwrap().to_string();
    assert!(e.contains("newer keygate"), "{e}");
    let still: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(still, newer, "nothing was rewritten");
}
