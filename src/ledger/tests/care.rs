//! Keys that look after themselves (DESIGN §10): a key's origin kept from its intent, the
//! successor a rotation made swept beside the key it replaced, and rotations claimed once
//! and moved only from the state they were read in.

use super::*;
use crate::ledger::{KeyOrigin, Rotation, RotationClaim, RotationState};
use crate::life::Stage;
use time::macros::datetime;

fn origin() -> KeyOrigin {
    KeyOrigin {
        issued_at: Some(datetime!(2026-06-01 12:00 UTC)),
        rotate_every_days: Some(30),
        fingerprint: Some("cd".repeat(32)),
    }
}

/// Alice's key issued with a rotating request.
async fn issue_rotating(l: &Ledger) -> Intent {
    let mut i = l.claim_intent(alice_intent()).await.unwrap().into_intent();
    i.access_key_id = Some("AKIAALICE".into());
    i.secret_name = Some("alice/access-key-1".into());
    i.expires_at = Some(time::macros::datetime!(2026-08-30 12:00 UTC));
    i.requester = "bob".into();
    i.origin = origin();
    for (from, to) in [
        (IntentState::Pending, IntentState::Creating),
        (IntentState::Creating, IntentState::Stored),
    ] {
        i.state = to;
        l.advance_intent(i.clone(), from).await.unwrap();
    }
    i
}

pub(super) async fn a_keys_origin_is_kept_from_its_intent_and_a_successor_is_swept_beside_it(
    l: Ledger,
) {
    let intent = issue_rotating(&l).await;
    let read = l.intents_of_pr(intent.repository.clone(), intent.pr).await;
    assert_eq!(read.unwrap()[0].origin, origin());
    let first = l.key_life("AKIAALICE".into()).await.unwrap().unwrap();
    assert_eq!(first.origin, origin(), "joined from the intent");

    // A rotation: the successor has a life of its own (no intent names it), the replaced
    // key is superseded and retires later.
    let successor = KeyLife {
        access_key_id: "AKIANEXT".into(),
        origin: KeyOrigin {
            issued_at: Some(datetime!(2026-07-01 12:00 UTC)),
            fingerprint: Some("ef".repeat(32)),
            ..origin()
        },
        ..first.clone()
    };
    l.record_lifecycle_step(successor.clone(), Progress::ACTIVE)
        .await
        .unwrap();
    let mut replaced = first.clone();
    replaced.care.superseded_by = Some("AKIANEXT".into());
    replaced.care.retires_at = Some(datetime!(2026-07-02 12:00 UTC));
    l.record_lifecycle_step(replaced.clone(), Progress::ACTIVE)
        .await
        .unwrap();

    let swept = l.keys_to_sweep().await.unwrap();
    let ids: Vec<&str> = swept.iter().map(|k| k.access_key_id.as_str()).collect();
    assert_eq!(ids, ["AKIAALICE", "AKIANEXT"], "oldest first");
    assert_eq!(swept[0].care, replaced.care);
    assert_eq!(
        swept[0].origin,
        origin(),
        "the first record keeps the origin"
    );
    assert_eq!(swept[1].origin, successor.origin);
    assert_eq!(
        swept[1].request,
        intent.key(),
        "the successor serves the same request"
    );
    assert_eq!(swept[1].secret_name, Some("alice/access-key-1".into()));
    assert_eq!(
        swept[1].request_merged_at, intent.merged_at,
        "joined with its request's merge"
    );

    // Retired and deleted: the replaced key leaves the sweep, its successor stays.
    let mut over = replaced.clone();
    over.progress = Progress {
        stage: Stage::Deleted,
        pending: None,
    };
    l.record_lifecycle_step(over, Progress::ACTIVE)
        .await
        .unwrap();
    let ids: Vec<AccessKeyId> = l
        .keys_to_sweep()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.access_key_id)
        .collect();
    assert_eq!(ids, ["AKIANEXT"]);
}

pub(super) async fn a_rotation_is_claimed_once_and_moves_only_from_the_state_read(l: Ledger) {
    let ask = Rotation {
        requested_by: "arn:aws:iam::123456789012:user/ops".into(),
        reason: "suspected exposure".into(),
        ..Rotation::new(
            "AKIAALICE".into(),
            "alice".into(),
            "alice/access-key-1".into(),
            alice_intent().key(),
        )
    };
    let RotationClaim::New(mut r) = l.claim_rotation(ask.clone()).await.unwrap() else {
        panic!("the first claim is new");
    };
    assert_eq!(r.state, RotationState::Pending);
    let RotationClaim::Existing(again) = l.claim_rotation(ask.clone()).await.unwrap() else {
        panic!("a second claim finds the first");
    };
    assert_eq!(again.requested_by, ask.requested_by);
    assert_eq!(again.reason, "suspected exposure");

    r.state = RotationState::Creating;
    r.keys_before = Some(vec!["AKIAALICE".into()]);
    r.token = Some("t".repeat(64));
    r.rotated_at = Some(datetime!(2026-07-01 12:00 UTC));
    r.blocked = Some("no slot".into());
    l.advance_rotation(r.clone(), RotationState::Pending)
        .await
        .unwrap();
    let stale = Rotation {
        state: RotationState::Creating,
        ..again.clone()
    };
    assert!(matches!(
        l.advance_rotation(stale, RotationState::Pending).await,
        Err(LedgerError::RotationMoved { .. })
    ));
    r.new_access_key_id = Some("AKIANEXT".into());
    r.new_fingerprint = Some("ef".repeat(32));
    l.advance_rotation(r.clone(), RotationState::Creating)
        .await
        .unwrap();

    let unfinished = l.unfinished_rotations().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    let read = &unfinished[0];
    assert_eq!(
        Rotation {
            updated_at_ms: 0,
            ..read.clone()
        },
        Rotation {
            updated_at_ms: 0,
            ..r.clone()
        }
    );
    r.state = RotationState::Done;
    l.advance_rotation(r.clone(), RotationState::Creating)
        .await
        .unwrap();
    assert!(l.unfinished_rotations().await.unwrap().is_empty());
    let all = l.all_rotations().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, RotationState::Done);
    assert_eq!(all[0].new_access_key_id, Some("AKIANEXT".into()));
}
