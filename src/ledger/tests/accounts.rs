//! Keys in many AWS accounts (DESIGN §9): the account an intent was claimed for stays with
//! it, with the key life that follows it, and with the request's life.

use super::*;
use crate::life::Step;
use crate::life::request::{Admission, MergeMark, RequestLife};

fn prod() -> AccountAlias {
    AccountAlias::new("prod")
}

/// Alice's request in account `prod`, at the accounts layout's path.
fn prod_intent() -> Intent {
    Intent {
        path: "requests/prod/alice/ci.toml".into(),
        account: Some(prod()),
        ..alice_intent()
    }
}

pub(super) async fn an_account_stays_with_the_intent_and_the_life_of_its_key(l: Ledger) {
    // The same IAM user's request in keygate's own account is another request.
    l.claim_intent(alice_intent()).await.unwrap();
    let mut i = l.claim_intent(prod_intent()).await.unwrap().into_intent();
    assert_eq!(i.account, Some(prod()));
    i.access_key_id = Some("AKIAPRODALICE".into());
    i.secret_name = Some("alice/access-key-2".into());
    for (from, to) in [
        (IntentState::Pending, IntentState::Creating),
        (IntentState::Creating, IntentState::Stored),
    ] {
        i.state = to;
        l.advance_intent(i.clone(), from).await.unwrap();
    }
    let read = l.intents_of_pr(i.repository.clone(), i.pr).await.unwrap();
    let accounts: Vec<_> = read.iter().map(|i| i.account.clone()).collect();
    assert_eq!(
        accounts,
        [None, Some(prod())],
        "by path: own account, then prod"
    );

    let life = l.key_life("AKIAPRODALICE".into()).await.unwrap().unwrap();
    assert_eq!(life.account, Some(prod()));
    let begun = KeyLife {
        progress: Progress::ACTIVE.begin(Step::Deactivate),
        ..life
    };
    l.record_lifecycle_step(begun, Progress::ACTIVE)
        .await
        .unwrap();
    let swept = l.keys_to_sweep().await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].account, Some(prod()), "after a step, too");
}

pub(super) async fn a_key_known_only_from_its_tags_keeps_its_account(l: Ledger) {
    let life = KeyLife {
        access_key_id: "AKIATAGGEDPROD".into(),
        account: Some(prod()),
        iam_user: "carol".into(),
        secret_name: Some("carol/access-key-1".into()),
        expires_at: None,
        request: IntentKey {
            repository: RepoName::new("acme/r"),
            pr: PrNumber(9),
            path: "requests/prod/carol/ci.toml".into(),
        },
        requester: "dan".into(),
        request_merged_at: None,
        installation: None,
        progress: Progress::ACTIVE.begin(Step::Revoke),
        revocation: None,
        origin: Default::default(),
        care: Default::default(),
        updated_at_ms: 0,
    };
    l.record_lifecycle_step(life, Progress::ACTIVE)
        .await
        .unwrap();
    let read = l.key_life("AKIATAGGEDPROD".into()).await.unwrap().unwrap();
    assert_eq!(read.account, Some(prod()));
}

pub(super) async fn a_request_life_keeps_its_account(l: Ledger) {
    let repo = RepoName::new("acme/r");
    let path = RequestPath::new("requests/prod/alice/ci.toml");
    let mut life = RequestLife {
        account: Some(prod()),
        ..RequestLife::new(repo.clone(), path.clone())
    };
    let mark = MergeMark {
        pr: PrNumber(7),
        merged_at: time::OffsetDateTime::from_unix_timestamp(1_000).unwrap(),
    };
    assert_eq!(life.admit(mark), Admission::Issue);
    l.put_request_life(life).await.unwrap();
    let mut read = l
        .request_life(repo.clone(), path.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.account, Some(prod()));
    read.delete(MergeMark {
        pr: PrNumber(8),
        ..mark
    });
    l.put_request_life(read).await.unwrap();
    let read = l.request_life(repo, path).await.unwrap().unwrap();
    assert_eq!(read.account, Some(prod()), "kept by later writes");
}
