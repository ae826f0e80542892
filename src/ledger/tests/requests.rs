//! One life per request and the leases behind one issuance per IAM user (DESIGN §3, §5).

use super::*;
use crate::life::request::{Admission, MergeMark, RequestLife};

fn mark(pr: u64, merged_at_s: i64) -> MergeMark {
    MergeMark {
        pr: PrNumber(pr),
        merged_at: time::OffsetDateTime::from_unix_timestamp(merged_at_s).unwrap(),
    }
}

pub(super) async fn a_request_life_is_written_only_from_the_version_read(l: Ledger) {
    let repo = RepoName::new("Acme/R");
    let path = RequestPath::new("requests/alice/ci.toml");
    assert_eq!(
        l.request_life(repo.clone(), path.clone()).await.unwrap(),
        None
    );

    let mut life = RequestLife::new(repo.clone(), path.clone());
    assert_eq!(life.admit(mark(7, 1_000)), Admission::Issue);
    let stale = life.clone();
    l.put_request_life(life).await.unwrap();
    assert!(
        matches!(
            l.put_request_life(stale).await,
            Err(LedgerError::LifeMoved { .. })
        ),
        "a second first write loses"
    );

    let mut read = l
        .request_life(RepoName::new("acme/r"), path.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.added, read.deleted, read.version),
        (Some(mark(7, 1_000)), None, 1)
    );
    let behind = read.clone();
    read.delete(mark(8, 2_000));
    l.put_request_life(read).await.unwrap();
    assert!(matches!(
        l.put_request_life(behind).await,
        Err(LedgerError::LifeMoved { .. })
    ));
    let now = l.request_life(repo, path).await.unwrap().unwrap();
    assert_eq!(now.deleted, Some(mark(8, 2_000)));
    assert_eq!(now.version, 2);
}

pub(super) async fn a_lease_has_one_holder_until_it_lapses_or_is_given_back(l: Ledger) {
    let name = "user#alice".to_string();
    let take =
        |holder: &str, now: i64| l.take_lease(name.clone(), holder.to_string(), now, now + 1_000);
    assert_eq!(take("a", 10_000).await.unwrap(), Some(None), "free");
    assert_eq!(take("b", 10_500).await.unwrap(), None, "held by a");
    assert_eq!(
        take("a", 10_600).await.unwrap(),
        Some(None),
        "a renews its own"
    );
    l.release_lease(name.clone(), "a".into(), Some("20261201000000".into()))
        .await
        .unwrap();
    assert_eq!(
        take("b", 10_700).await.unwrap(),
        Some(Some("20261201000000".into())),
        "given back, with what a left for the next holder"
    );
    l.release_lease(name.clone(), "a".into(), Some("stale".into()))
        .await
        .unwrap();
    assert_eq!(
        take("c", 11_000).await.unwrap(),
        None,
        "a cannot give back b's lease"
    );
    assert_eq!(
        take("c", 12_000).await.unwrap(),
        Some(Some("20261201000000".into())),
        "b's lease lapsed"
    );
}

pub(super) async fn an_intent_keeps_when_its_merge_happened_and_its_secret_token(l: Ledger) {
    let mut i = l.claim_intent(alice_intent()).await.unwrap().into_intent();
    i.merged_at = Some(time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap());
    i.secret_token = Some("f".repeat(64));
    l.advance_intent(i.clone(), IntentState::Pending)
        .await
        .unwrap();
    let read = l.intents_of_pr(i.repository.clone(), i.pr).await.unwrap();
    assert_eq!(read[0].merged_at, i.merged_at);
    assert_eq!(read[0].secret_token, i.secret_token);
}
