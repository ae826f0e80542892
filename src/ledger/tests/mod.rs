//! The ledger's contract, checked through [`Store`] only, so every backend runs the same
//! suite: add a backend to `suite!` at the bottom.

mod accounts;
mod care;
mod requests;

use super::*;
use crate::event::{Activity, NoticeEvent};
use crate::ids::CommitSha;
use crate::life::Progress;
use accounts::*;
use care::*;
use requests::*;

mod beside;
mod catchup;
mod counts;
mod pushes;
use catchup::*;
use counts::*;
use pushes::*;

fn event(pr: u64, activity: Activity) -> PrEvent {
    PrEvent {
        repository: RepoName::new("acme/access-requests"),
        installation: InstallationId(1),
        pr: PrNumber(pr),
        activity,
        sender: None,
        merge_commit: None,
    }
}

/// A merge delivery of pull request 7.
fn closed(id: &str) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::new(id),
        event: PrEvent {
            merge_commit: Some(CommitSha::new("1234567890abcdef1234567890abcdef12345678")),
            ..event(7, Activity::Closed)
        },
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

pub(super) fn alice_intent() -> Intent {
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

async fn the_oldest_queued_delivery_is_dated_until_it_runs_and_again_while_it_waits_to_retry(
    l: Ledger,
) {
    assert_eq!(l.oldest_queued_ms().await.unwrap(), None);
    let at = |mut d: NewDelivery, ms| {
        d.received_at_ms = ms;
        d
    };
    l.record_delivery(at(on_pr(closed("old"), 1), 1_000))
        .await
        .unwrap();
    l.record_delivery(at(on_pr(closed("new"), 2), 2_000))
        .await
        .unwrap();
    assert_eq!(l.oldest_queued_ms().await.unwrap(), Some(1_000));
    let now = now_ms();
    assert_eq!(l.claim_work(now, 10).await.unwrap().len(), 2);
    assert_eq!(l.oldest_queued_ms().await.unwrap(), None);
    retry(&l, "new", now + 60_000, now).await;
    assert_eq!(l.oldest_queued_ms().await.unwrap(), Some(2_000));
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

async fn taken(l: &Ledger, id: &str, now: i64) -> Taken {
    l.claim_delivery(DeliveryId::new(id), now).await.unwrap()
}

async fn a_message_claims_only_the_delivery_it_names_and_only_when_it_may_run(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    l.record_delivery(review("b")).await.unwrap();
    let now = now_ms();
    assert_eq!(taken(&l, "nobody", now).await, Taken::Over, "unknown");
    let Taken::Job(job) = taken(&l, "a", now).await else {
        panic!("a is queued and due");
    };
    assert_eq!((job.id.as_str(), job.attempts), ("a", 1));
    assert!(
        matches!(taken(&l, "a", now).await, Taken::Busy { .. }),
        "a message that comes twice runs nothing twice"
    );
    assert!(
        matches!(taken(&l, "b", now).await, Taken::Busy { .. }),
        "b's pull request is busy with a"
    );
    let later = now + 60_000;
    retry(&l, "a", later, now).await;
    assert_eq!(taken(&l, "a", now).await, Taken::NotDue { at_ms: later });
    let Taken::Job(b) = taken(&l, "b", now).await else {
        panic!("a waits for its retry, so b may run");
    };
    l.finish_work(b.id, Finish::Done, now).await.unwrap();
    assert_eq!(taken(&l, "b", now).await, Taken::Over, "done");
    assert!(matches!(taken(&l, "a", later).await, Taken::Job(j) if j.attempts == 2));
}

async fn queued_work_past_its_time_is_listed_as_overdue(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    l.record_delivery(on_pr(closed("b"), 8)).await.unwrap();
    let now = now_ms();
    assert!(l.overdue(now - 60_000).await.unwrap().is_empty(), "not yet");
    let mut ids: Vec<String> = l
        .overdue(now + 1)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id.as_str().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"]);
    let Taken::Job(_) = taken(&l, "a", now).await else {
        panic!("a is due");
    };
    let left = l.overdue(now + 1).await.unwrap();
    assert_eq!(left.len(), 1, "running work is not overdue");
    assert_eq!((left[0].id.as_str(), left[0].attempts), ("b", 0));
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

/// Alice's intent, issued with key `AKIAALICE`.
async fn issue_alice(l: &Ledger) -> Intent {
    let mut i = l.claim_intent(alice_intent()).await.unwrap().into_intent();
    i.access_key_id = Some("AKIAALICE".into());
    i.secret_name = Some("alice/access-key-1".into());
    i.expires_at = Some(time::macros::datetime!(2026-06-30 12:00 UTC));
    i.requester = "bob".into();
    for (from, to) in [
        (IntentState::Pending, IntentState::Creating),
        (IntentState::Creating, IntentState::Stored),
        (IntentState::Stored, IntentState::Issued),
    ] {
        i.state = to;
        l.advance_intent(i.clone(), from).await.unwrap();
    }
    i
}

async fn an_issued_key_is_swept_until_its_life_is_over(l: Ledger) {
    use crate::life::{Stage, Step};
    assert!(
        l.keys_to_sweep().await.unwrap().is_empty(),
        "nothing issued yet"
    );
    // A refused request has no key: nothing to sweep.
    let mut refused = l
        .claim_intent(Intent {
            path: "requests/alice/other.toml".into(),
            ..alice_intent()
        })
        .await
        .unwrap()
        .into_intent();
    refused.state = IntentState::NotIssued;
    l.advance_intent(refused, IntentState::Pending)
        .await
        .unwrap();
    issue_alice(&l).await;

    let lives = l.keys_to_sweep().await.unwrap();
    assert_eq!(lives.len(), 1, "{lives:?}");
    let life = lives[0].clone();
    assert_eq!(life.access_key_id, "AKIAALICE");
    assert_eq!(life.iam_user, "alice");
    assert_eq!(life.requester, "bob");
    assert_eq!(
        life.expires_at,
        Some(time::macros::datetime!(2026-06-30 12:00 UTC))
    );
    assert_eq!(life.request, alice_intent().key());
    assert_eq!(life.installation, Some(InstallationId(1)));
    assert_eq!(life.progress, Progress::ACTIVE);

    let mut step = life.clone();
    step.progress = Progress::ACTIVE.begin(Step::Deactivate);
    l.record_lifecycle_step(step.clone(), Progress::ACTIVE)
        .await
        .unwrap();
    let begun = l.key_life("AKIAALICE".into()).await.unwrap().unwrap();
    assert_eq!(
        begun.progress.pending,
        Some(Step::Deactivate),
        "a crash here is seen"
    );
    let from = step.progress;
    step.progress = from.finish(Step::Deactivate);
    l.record_lifecycle_step(step.clone(), from).await.unwrap();
    assert_eq!(
        l.keys_to_sweep().await.unwrap()[0].progress.stage,
        Stage::Inactive
    );
    let from = step.progress;
    step.progress = from.finish(Step::Delete);
    l.record_lifecycle_step(step, from).await.unwrap();
    assert!(l.keys_to_sweep().await.unwrap().is_empty(), "deleted: over");
    let over = l.key_life("AKIAALICE".into()).await.unwrap().unwrap();
    assert_eq!(
        over.progress.stage,
        Stage::Deleted,
        "still known, for audit"
    );
    assert_eq!(l.key_life("AKIAOTHER".into()).await.unwrap(), None);
}

async fn a_lifecycle_step_moves_only_from_the_progress_it_was_read_in(l: Ledger) {
    use crate::life::Step;
    let life = {
        issue_alice(&l).await;
        l.key_life("AKIAALICE".into()).await.unwrap().unwrap()
    };
    let warn = KeyLife {
        progress: Progress::ACTIVE.begin(Step::Warn),
        ..life.clone()
    };
    l.record_lifecycle_step(warn, Progress::ACTIVE)
        .await
        .unwrap();
    // A second worker that read it as active loses.
    let revoke = KeyLife {
        progress: Progress::ACTIVE.begin(Step::Revoke),
        revocation: Some(Revocation {
            by: "ops".into(),
            reason: "leaked".into(),
            pr: None,
        }),
        ..life
    };
    let err = l
        .record_lifecycle_step(revoke.clone(), Progress::ACTIVE)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Moved { .. }), "{err}");
    // Read again, it may go on: a revocation takes over a half-done warning.
    let read = l.key_life("AKIAALICE".into()).await.unwrap().unwrap();
    l.record_lifecycle_step(revoke, read.progress)
        .await
        .unwrap();
    let now = l.key_life("AKIAALICE".into()).await.unwrap().unwrap();
    assert_eq!(now.progress.pending, Some(Step::Revoke));
    let r = now.revocation.unwrap();
    assert_eq!((r.by.as_str(), r.reason.as_str()), ("ops", "leaked"));
}

async fn a_key_known_only_from_its_secret_tags_gets_a_life_of_its_own(l: Ledger) {
    use crate::life::Step;
    let life = KeyLife {
        access_key_id: "AKIATAGGED".into(),
        account: None,
        iam_user: "carol".into(),
        secret_name: Some("carol/access-key-1".into()),
        expires_at: Some(time::macros::datetime!(2026-01-01 00:00 UTC)),
        request: IntentKey {
            repository: RepoName::new("acme/r"),
            pr: PrNumber(9),
            path: "requests/carol/ci.toml".into(),
        },
        requester: "dan".into(),
        request_merged_at: None,
        installation: None,
        progress: Progress::ACTIVE.begin(Step::Deactivate),
        revocation: None,
        origin: crate::ledger::KeyOrigin {
            issued_at: Some(time::macros::datetime!(2025-10-01 12:00 UTC)),
            rotate_every_days: Some(30),
            fingerprint: Some("ab".repeat(32)),
        },
        care: crate::ledger::KeyCare {
            superseded_by: Some("AKIANEXT".into()),
            retires_at: Some(time::macros::datetime!(2025-11-01 12:00 UTC)),
            unused_warned_at: Some(time::macros::datetime!(2025-10-20 12:00 UTC)),
            leak: Some(crate::ledger::Leak {
                source: "GitHub secret scanning".into(),
                location: "acme/app alert #3".into(),
                reported_at: time::macros::datetime!(2025-10-21 12:00 UTC),
            }),
        },
        updated_at_ms: 0,
    };
    l.record_lifecycle_step(life.clone(), Progress::ACTIVE)
        .await
        .unwrap();
    let swept = l.keys_to_sweep().await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(
        KeyLife {
            updated_at_ms: 0,
            ..swept[0].clone()
        },
        life
    );
}

async fn a_merge_is_known_by_its_delivery_or_its_intents(l: Ledger) {
    let repo = RepoName::new("acme/access-requests");
    assert!(!l.knows_merge(repo.clone(), PrNumber(7)).await.unwrap());
    l.record_delivery(review("r")).await.unwrap();
    assert!(
        !l.knows_merge(repo.clone(), PrNumber(7)).await.unwrap(),
        "a review is not the merge"
    );
    l.record_delivery(closed("a")).await.unwrap();
    assert!(l.knows_merge(repo.clone(), PrNumber(7)).await.unwrap());
    assert!(!l.knows_merge(repo, PrNumber(8)).await.unwrap());
    l.claim_intent(alice_intent()).await.unwrap();
    assert!(
        l.knows_merge(RepoName::new("ACME/r"), PrNumber(3))
            .await
            .unwrap()
    );
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
        the_oldest_queued_delivery_is_dated_until_it_runs_and_again_while_it_waits_to_retry,
        work_running_at_a_crash_is_resumed,
        deliveries_of_one_pull_request_never_run_side_by_side,
        a_delivery_behind_an_unstarted_one_for_the_same_work_is_coalesced,
        orphaned_running_deliveries_are_queued_again_but_live_ones_are_kept,
        a_retry_waits_until_its_time,
        a_message_claims_only_the_delivery_it_names_and_only_when_it_may_run,
        queued_work_past_its_time_is_listed_as_overdue,
        the_senders_of_pushes_are_remembered_per_pull_request,
        a_push_into_another_branch_names_its_sender_and_queues_nothing,
        the_counts_follow_every_move_of_a_delivery,
        an_intent_is_claimed_once,
        an_intent_moves_only_from_the_state_it_was_read_in,
        notes_are_kept_per_key,
        an_issued_key_is_swept_until_its_life_is_over,
        a_lifecycle_step_moves_only_from_the_progress_it_was_read_in,
        a_key_known_only_from_its_secret_tags_gets_a_life_of_its_own,
        a_new_ledgers_watermark_is_put_on_githubs_clock_once,
        catch_up_progress_is_kept_per_branch_and_only_moves_forward,
        merges_without_request_files_are_remembered,
        a_merge_is_known_by_its_delivery_or_its_intents,
        a_request_life_is_written_only_from_the_version_read,
        a_lease_has_one_holder_until_it_lapses_or_is_given_back,
        an_intent_keeps_when_its_merge_happened_and_its_secret_token,
        a_keys_origin_is_kept_from_its_intent_and_a_successor_is_swept_beside_it,
        a_rotation_is_claimed_once_and_moves_only_from_the_state_read,
        an_account_stays_with_the_intent_and_the_life_of_its_key,
        a_key_known_only_from_its_tags_keeps_its_account,
        a_request_life_keeps_its_account,
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
        a_message_claims_only_the_delivery_it_names_and_only_when_it_may_run,
        queued_work_past_its_time_is_listed_as_overdue,
        the_senders_of_pushes_are_remembered_per_pull_request,
        a_push_into_another_branch_names_its_sender_and_queues_nothing,
        the_counts_follow_every_move_of_a_delivery,
        an_intent_is_claimed_once,
        an_intent_moves_only_from_the_state_it_was_read_in,
        notes_are_kept_per_key,
        an_issued_key_is_swept_until_its_life_is_over,
        a_lifecycle_step_moves_only_from_the_progress_it_was_read_in,
        a_key_known_only_from_its_secret_tags_gets_a_life_of_its_own,
        a_request_life_is_written_only_from_the_version_read,
        a_lease_has_one_holder_until_it_lapses_or_is_given_back,
        an_intent_keeps_when_its_merge_happened_and_its_secret_token,
        a_merge_is_known_by_its_delivery_or_its_intents,
        a_new_ledgers_watermark_is_put_on_githubs_clock_once,
        catch_up_progress_is_kept_per_branch_and_only_moves_forward,
        merges_without_request_files_are_remembered,
        a_keys_origin_is_kept_from_its_intent_and_a_successor_is_swept_beside_it,
        a_rotation_is_claimed_once_and_moves_only_from_the_state_read,
        an_account_stays_with_the_intent_and_the_life_of_its_key,
        a_key_known_only_from_its_tags_keeps_its_account,
        a_request_life_keeps_its_account,
    ]
);
