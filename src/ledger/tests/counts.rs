//! Deliveries counted as they are written (DESIGN §4): what `/readyz` and `/metrics` read
//! follows every move, and costs the same whatever the history.

use super::*;

fn pushed(id: &str) -> NewDelivery {
    NewDelivery {
        event: PrEvent {
            sender: Some(Sender {
                id: 3,
                login: "carol".into(),
            }),
            ..event(9, Activity::Synchronize)
        },
        ..closed(id)
    }
}

fn counted(queued: u64, running: u64, done: u64, failed: u64) -> Stats {
    Stats {
        queued,
        running,
        done,
        failed,
    }
}

pub(super) async fn the_counts_follow_every_move_of_a_delivery(l: Ledger) {
    l.record_delivery(closed("a")).await.unwrap();
    l.record_delivery(review("b")).await.unwrap();
    assert_eq!(
        l.record_delivery(closed("c")).await.unwrap(),
        Inserted::Coalesced
    );
    assert_eq!(
        l.stats().await.unwrap(),
        counted(2, 0, 1, 0),
        "a coalesced is done"
    );

    let now = now_ms() + 1_000;
    let jobs = l.claim_work(now, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "one at a time per pull request");
    assert_eq!(jobs[0].id.as_str(), "a");
    assert_eq!(l.stats().await.unwrap(), counted(1, 1, 1, 0));
    retry(&l, "a", now + 60_000, now).await;
    assert_eq!(l.stats().await.unwrap(), counted(2, 0, 1, 0));

    let jobs = l.claim_work(now, 10).await.unwrap();
    assert_eq!(jobs[0].id.as_str(), "b");
    l.finish_work(DeliveryId::new("b"), Finish::Done, now)
        .await
        .unwrap();
    assert_eq!(l.stats().await.unwrap(), counted(1, 0, 2, 0));

    let later = now + 120_000;
    assert_eq!(l.claim_work(later, 10).await.unwrap()[0].id.as_str(), "a");
    fail(&l, "a", later).await;
    assert_eq!(
        l.stats().await.unwrap(),
        counted(0, 0, 1, 2),
        "the coalesced one fails with it"
    );

    assert!(l.record_delivery(closed("a")).await.unwrap().is_new());
    assert_eq!(l.stats().await.unwrap(), counted(1, 0, 1, 1), "redelivered");
    assert_eq!(l.claim_work(later, 10).await.unwrap().len(), 1);
    assert_eq!(l.resume_interrupted().await.unwrap(), 1);
    assert_eq!(l.stats().await.unwrap(), counted(1, 0, 1, 1), "resumed");

    assert!(l.record_push(pushed("p")).await.unwrap());
    assert!(!l.record_push(pushed("p")).await.unwrap());
    assert_eq!(
        l.stats().await.unwrap(),
        counted(1, 0, 2, 1),
        "a push, once"
    );
}

/// `n` more finished deliveries.
async fn finished(l: &Ledger, from: usize, n: usize) {
    for i in from..from + n {
        assert!(l.record_push(pushed(&format!("h{i}"))).await.unwrap());
    }
}

#[tokio::test]
async fn counting_deliveries_reads_the_same_at_10_and_2000() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let l = Ledger::Sqlite(sqlite.clone());
    let steps = sqlite.count_steps().await.unwrap();
    let probe = || async {
        let before = steps.load(std::sync::atomic::Ordering::Relaxed);
        let stats = l.stats().await.unwrap();
        (
            stats,
            steps.load(std::sync::atomic::Ordering::Relaxed) - before,
        )
    };
    finished(&l, 0, 10).await;
    let (ten, at_ten) = probe().await;
    finished(&l, 10, 1_990).await;
    let (two_thousand, at_two_thousand) = probe().await;
    assert_eq!((ten.done, two_thousand.done), (10, 2_000));
    assert_eq!(
        at_ten, at_two_thousand,
        "SQLite steps per count at 10 and at 2,000 deliveries"
    );
}
