//! The ledger's contract, checked through [`Store`] only, so every backend runs the same
//! suite: add a backend to `suite!` at the bottom.

use super::*;
use crate::work::Activity;

fn event(pr: u64, activity: Activity) -> PrEvent {
    PrEvent {
        repository: RepoName::new("acme/access-requests"),
        installation: InstallationId(1),
        pr: PrNumber(pr),
        activity,
        sender: None,
    }
}

/// A merge delivery of pull request 7.
fn closed(id: &str) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::new(id),
        event: event(7, Activity::Closed),
        received_at_ms: now_ms(),
    }
}

/// A review delivery: the same pull request as `closed`, other work.
fn review(id: &str) -> NewDelivery {
    NewDelivery {
        event: event(7, Activity::ReviewSubmitted),
        ..closed(id)
    }
}

fn on_pr(mut d: NewDelivery, pr: u64) -> NewDelivery {
    d.event.pr = PrNumber(pr);
    d
}

async fn state(l: &Ledger, id: &str) -> DeliveryState {
    l.delivery(DeliveryId::new(id))
        .await
        .unwrap()
        .unwrap()
        .state
}

async fn fail(l: &Ledger, id: &str, at: i64) {
    let error = "404".to_string();
    l.finish_work(DeliveryId::new(id), Finish::Failed { error }, at)
        .await
        .unwrap();
}

async fn retry(l: &Ledger, id: &str, at_ms: i64, now: i64) {
    let error = "502".to_string();
    l.finish_work(DeliveryId::new(id), Finish::Retry { at_ms, error }, now)
        .await
        .unwrap();
}

fn alice_intent() -> Intent {
    let key = IntentKey {
        repository: RepoName::new("Acme/R"),
        pr: PrNumber(3),
        path: "requests/alice/ci.toml".into(),
    };
    Intent {
        iam_user: "alice".into(),
        ..Intent::new(key, InstallationId(1))
    }
}

async fn a_repeated_delivery_id_is_stored_once(l: Ledger) {
    assert!(l.record_delivery(closed("a")).await.unwrap().is_new());
    assert!(!l.record_delivery(closed("a")).await.unwrap().is_new());
    assert_eq!(l.stats().await.unwrap().queued, 1);
}

async fn a_failed_delivery_sent_again_is_queued_again(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    let now = now_ms();
    l.claim_work(now, 1).await.unwrap();
    fail(&l, "a", now).await;
    assert!(l.record_delivery(closed("a")).await.unwrap().is_new());
    let status = l.delivery(DeliveryId::new("a")).await.unwrap().unwrap();
    assert_eq!((status.state, status.attempts), (DeliveryState::Queued, 0));
}

async fn concurrent_deliveries_are_all_recorded(l: Ledger) {
    let mut tasks = Vec::new();
    for i in 0..200 {
        let l = l.clone();
        let d = on_pr(closed(&format!("g{i}")), i);
        tasks.push(tokio::spawn(async move { l.record_delivery(d).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_new());
    }
    assert_eq!(l.stats().await.unwrap().queued, 200);
}

async fn work_running_at_a_crash_is_resumed(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    let jobs = l.claim_work(now_ms(), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 1);
    assert_eq!(
        jobs[0].event,
        closed("a").event,
        "the event comes back whole"
    );
    assert!(
        l.claim_work(now_ms(), 10).await.unwrap().is_empty(),
        "nothing else is due"
    );
    assert_eq!(l.resume_interrupted().await.unwrap(), 1);
    let again = l.claim_work(now_ms(), 10).await.unwrap();
    assert_eq!(again[0].attempts, 2);
}

async fn deliveries_of_one_pull_request_never_run_side_by_side(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    l.record_delivery(review("b")).await.unwrap();
    l.record_delivery(on_pr(closed("c"), 8)).await.unwrap();
    let now = now_ms();
    let first = l.claim_work(now, 10).await.unwrap();
    let mut prs: Vec<u64> = first.iter().map(|j| j.event.pr.get()).collect();
    prs.sort();
    assert_eq!(prs, [7, 8], "one per pull request");
    assert!(l.claim_work(now, 10).await.unwrap().is_empty());
    let seven = first.iter().find(|j| j.event.pr == PrNumber(7)).unwrap();
    l.finish_work(seven.id.clone(), Finish::Done, now)
        .await
        .unwrap();
    assert_eq!(l.claim_work(now, 10).await.unwrap().len(), 1);
}

async fn a_delivery_behind_an_unstarted_one_for_the_same_work_is_coalesced(l: Ledger) {
    assert!(l.record_delivery(closed("a")).await.unwrap().is_new());
    assert_eq!(
        l.record_delivery(closed("b")).await.unwrap(),
        Inserted::Coalesced,
        "stored and answered 202"
    );
    assert_eq!(
        l.record_delivery(review("c")).await.unwrap(),
        Inserted::Queued
    );
    assert_eq!(
        state(&l, "b").await,
        DeliveryState::Coalesced,
        "a's work covers b"
    );
    assert_eq!(
        state(&l, "c").await,
        DeliveryState::Queued,
        "other work is not coalesced"
    );
    assert!(
        !l.record_delivery(closed("b")).await.unwrap().is_new(),
        "still deduplicated"
    );
    // Once a has started, a new delivery queues behind it; a retry waiting in the queue
    // takes later ones in.
    let now = now_ms();
    l.claim_work(now, 10).await.unwrap();
    assert!(l.record_delivery(closed("d")).await.unwrap().is_new());
    assert_eq!(state(&l, "d").await, DeliveryState::Queued);
    retry(&l, "a", now + 60_000, now).await;
    assert!(l.record_delivery(closed("e")).await.unwrap().is_new());
    assert_eq!(state(&l, "e").await, DeliveryState::Coalesced);
    // If the work it joined fails for good, so does it, and GitHub's Redeliver of it
    // (the same ID) queues it again.
    let due = now + 120_000;
    l.claim_work(due, 10).await.unwrap();
    fail(&l, "a", due).await;
    assert_eq!(state(&l, "e").await, DeliveryState::Failed);
    assert!(l.record_delivery(closed("e")).await.unwrap().is_new());
    assert_eq!(state(&l, "e").await, DeliveryState::Queued);
}

async fn orphaned_running_deliveries_are_queued_again_but_live_ones_are_kept(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    l.record_delivery(on_pr(closed("b"), 8)).await.unwrap();
    assert_eq!(l.claim_work(now_ms(), 10).await.unwrap().len(), 2);
    let n = l.requeue_orphans(vec![DeliveryId::new("a")]).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(state(&l, "b").await, DeliveryState::Queued);
    assert_eq!(state(&l, "a").await, DeliveryState::Running);
}

async fn a_retry_waits_until_its_time(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    let now = now_ms();
    l.claim_work(now, 1).await.unwrap();
    let later = now + 60_000;
    retry(&l, "a", later, now).await;
    assert!(l.claim_work(now, 1).await.unwrap().is_empty());
    assert_eq!(l.next_due_ms().await.unwrap(), Some(later));
    assert_eq!(l.claim_work(later, 1).await.unwrap().len(), 1);
}

async fn the_senders_of_pushes_are_remembered_per_pull_request(l: Ledger) {
    let push = |id: &str, pr: u64, login: &str, uid: u64| NewDelivery {
        id: DeliveryId::new(id),
        event: PrEvent {
            sender: Some(Sender {
                id: uid,
                login: login.into(),
            }),
            ..event(pr, Activity::Synchronize)
        },
        received_at_ms: now_ms(),
    };
    l.record_delivery(push("a", 7, "mallory", 66))
        .await
        .unwrap();
    l.record_delivery(push("b", 7, "mallory", 66))
        .await
        .unwrap();
    l.record_delivery(push("c", 8, "trent", 77)).await.unwrap();
    let mut opened = closed("d");
    opened.event.activity = Activity::Opened;
    opened.event.sender = Some(Sender {
        id: 5,
        login: "bob".into(),
    });
    l.record_delivery(opened).await.unwrap();
    let pushers = l
        .pushers(RepoName::new("ACME/access-requests"), PrNumber(7))
        .await
        .unwrap();
    assert_eq!(
        pushers,
        [Sender {
            id: 66,
            login: "mallory".into()
        }],
        "only pushes, only this pull request, once each"
    );
}

async fn an_intent_is_claimed_once(l: Ledger) {
    let first = l.claim_intent(alice_intent()).await.unwrap();
    assert!(matches!(first, Claim::New(ref i) if i.state == IntentState::Pending));
    let Claim::Existing(existing) = l.claim_intent(alice_intent()).await.unwrap() else {
        panic!("claimed twice");
    };
    assert_eq!(existing.state, IntentState::Pending);
    assert_eq!(existing.iam_user, "alice");
    assert_eq!(existing.repository, RepoName::new("acme/r"));
}

async fn an_intent_moves_only_from_the_state_it_was_read_in(l: Ledger) {
    let mut intent = l.claim_intent(alice_intent()).await.unwrap().into_intent();
    intent.state = IntentState::Creating;
    intent.keys_before = Some(vec!["AKIA1".into(), "AKIA2".into()]);
    l.advance_intent(intent.clone(), IntentState::Pending)
        .await
        .unwrap();
    // A second worker that read it as pending loses.
    let mut stale = intent.clone();
    stale.state = IntentState::NotIssued;
    let err = l
        .advance_intent(stale, IntentState::Pending)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::Conflict { ref found, .. } if found == "creating"),
        "{err}"
    );
    let stored = l
        .intents_of_pr(RepoName::new("acme/r"), PrNumber(3))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, IntentState::Creating);
    assert_eq!(stored[0].keys_before, intent.keys_before);
    assert_eq!(l.unfinished_intents().await.unwrap().len(), 1);
}

async fn notes_are_kept_per_key(l: Ledger) {
    let comment = NoteKey::Comment {
        repository: RepoName::new("Acme/R"),
        pr: PrNumber(3),
    };
    assert_eq!(l.note(comment.clone()).await.unwrap(), None);
    l.set_note(comment.clone(), "11".into()).await.unwrap();
    l.set_note(comment.clone(), "12".into()).await.unwrap();
    let same = NoteKey::Comment {
        repository: RepoName::new("acme/r"),
        pr: PrNumber(3),
    };
    assert_eq!(l.note(same).await.unwrap().as_deref(), Some("12"));
    let other = NoteKey::Comment {
        repository: RepoName::new("acme/r"),
        pr: PrNumber(4),
    };
    assert_eq!(l.note(other).await.unwrap(), None);
}

#[test]
fn the_idempotency_token_is_stable_and_fits_aws_limits() {
    let k = IntentKey {
        repository: RepoName::new("Acme/R"),
        pr: PrNumber(3),
        path: "requests/a/b.toml".into(),
    };
    let t = k.token();
    assert_eq!(t.len(), 48);
    let lower = IntentKey {
        repository: RepoName::new("acme/r"),
        ..k.clone()
    };
    assert_eq!(t, lower.token());
}

#[test]
fn note_keys_keep_the_spelling_of_earlier_ledgers() {
    let repository = RepoName::new("Acme/R");
    let notice = NoteKey::Notice {
        event: NoticeEvent::Rejected,
        repository: repository.clone(),
        pr: PrNumber(3),
        path: "requests/a/b.toml".into(),
        revision: Some("abc1234".into()),
    };
    assert_eq!(
        notice.stored(),
        "sns:rejected:acme/r#3:requests/a/b.toml@abc1234"
    );
    let check = NoteKey::CheckRun {
        repository,
        head: CommitSha::new("f00"),
    };
    assert_eq!(check.stored(), "check:acme/r:f00");
}

#[test]
fn a_notice_id_is_stable_and_tells_notices_apart() {
    let notice = |event| NoteKey::Notice {
        event,
        repository: RepoName::new("Acme/R"),
        pr: PrNumber(3),
        path: "requests/a/b.toml".into(),
        revision: None,
    };
    let issued = notice(NoticeEvent::Issued).id();
    assert_eq!(issued.len(), 24);
    assert_eq!(
        issued,
        notice(NoticeEvent::Issued).id(),
        "same notice, same ID"
    );
    assert_ne!(issued, notice(NoticeEvent::Failed).id());
}

#[tokio::test]
async fn a_recorded_delivery_survives_reopening_the_sqlite_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let l = Ledger::open_sqlite(&path).unwrap();
    l.record_delivery(closed("a")).await.unwrap();
    drop(l);
    let reopened = Ledger::open_sqlite(&path).unwrap();
    assert_eq!(reopened.stats().await.unwrap().queued, 1);
}

#[tokio::test]
async fn a_second_opener_of_a_sqlite_ledger_waits_then_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let first = Ledger::open_sqlite(&path).unwrap();
    first.record_delivery(closed("a")).await.unwrap();
    let started = std::time::Instant::now();
    let wait = std::time::Duration::from_millis(300);
    let Err(err) = SqliteLedger::open_waiting(&path, wait) else {
        panic!("two openers share one ledger");
    };
    assert!(started.elapsed() >= wait, "it waited for the holder first");
    let text = err.to_string();
    assert!(matches!(err, LedgerError::Locked { .. }), "{text}");
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    // Once the holder lets go, the next opener gets the ledger.
    drop(first);
    let second = Ledger::open_sqlite(&path).unwrap();
    assert_eq!(second.stats().await.unwrap().queued, 1);
}

/// A fresh DynamoDB ledger on moto, in a table of its own.
async fn fresh_dynamo() -> ((), Ledger) {
    let client = super::moto::dynamodb();
    let table = super::moto::unique_table();
    super::dynamo::ensure_table(&client, &table).await.unwrap();
    ((), Ledger::open_dynamo(client, &table).await.unwrap())
}

/// Runs each contract test against each backend, on a fresh ledger.
macro_rules! suite {
    ($backend:ident, $fresh:expr, [$($test:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    let (_keep, ledger) = $fresh;
                    super::$test(ledger).await;
                }
            )*
        }
    };
}

suite!(
    sqlite,
    {
        let dir = tempfile::tempdir().unwrap();
        let ledger = super::Ledger::open_sqlite(&dir.path().join("l.db")).unwrap();
        (dir, ledger)
    },
    [
        a_repeated_delivery_id_is_stored_once,
        a_failed_delivery_sent_again_is_queued_again,
        concurrent_deliveries_are_all_recorded,
        work_running_at_a_crash_is_resumed,
        deliveries_of_one_pull_request_never_run_side_by_side,
        a_delivery_behind_an_unstarted_one_for_the_same_work_is_coalesced,
        orphaned_running_deliveries_are_queued_again_but_live_ones_are_kept,
        a_retry_waits_until_its_time,
        the_senders_of_pushes_are_remembered_per_pull_request,
        an_intent_is_claimed_once,
        an_intent_moves_only_from_the_state_it_was_read_in,
        notes_are_kept_per_key,
    ]
);

suite!(
    dynamo,
    super::fresh_dynamo().await,
    [
        a_repeated_delivery_id_is_stored_once,
        a_failed_delivery_sent_again_is_queued_again,
        concurrent_deliveries_are_all_recorded,
        work_running_at_a_crash_is_resumed,
        deliveries_of_one_pull_request_never_run_side_by_side,
        a_delivery_behind_an_unstarted_one_for_the_same_work_is_coalesced,
        orphaned_running_deliveries_are_queued_again_but_live_ones_are_kept,
        a_retry_waits_until_its_time,
        the_senders_of_pushes_are_remembered_per_pull_request,
        an_intent_is_claimed_once,
        an_intent_moves_only_from_the_state_it_was_read_in,
        notes_are_kept_per_key,
    ]
);
