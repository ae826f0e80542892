//! Pushes to pull requests into another branch (DESIGN §2.4): recorded for their sender.

use super::*;

fn push_elsewhere(id: &str, pr: u64, login: &str, uid: u64) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::new(id),
        event: PrEvent {
            sender: Some(Sender {
                id: uid,
                login: login.into(),
            }),
            ..event(pr, Activity::Synchronize)
        },
        received_at_ms: now_ms(),
    }
}

pub(super) async fn a_push_into_another_branch_names_its_sender_and_queues_nothing(l: Ledger) {
    assert!(
        l.record_push(push_elsewhere("p", 7, "carol", 3))
            .await
            .unwrap()
    );
    assert!(
        !l.record_push(push_elsewhere("p", 7, "carol", 3))
            .await
            .unwrap(),
        "a repeated delivery ID is recorded once"
    );
    let pushers = l
        .pushers(RepoName::new("acme/access-requests"), PrNumber(7))
        .await
        .unwrap();
    let carol = Sender {
        id: 3,
        login: "carol".into(),
    };
    assert_eq!(pushers, [carol]);
    assert!(l.claim_work(now_ms() + 1, 10).await.unwrap().is_empty());
    assert_eq!(l.next_due_ms().await.unwrap(), None, "no work");
    assert_eq!(state(&l, "p").await, DeliveryState::Done);
    assert!(
        l.record_delivery(push_elsewhere("p", 7, "carol", 3))
            .await
            .unwrap()
            == Inserted::Duplicate,
        "nor runs when its ID comes back as work"
    );
}
