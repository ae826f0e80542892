//! What only a shared ledger has to get right: several replicas on one table, the leases of
//! running work, and the table's shape. The contract every backend keeps is checked in
//! `ledger/tests.rs`, on DynamoDB too.

use super::*;
use crate::event::{Activity, PrEvent};
use crate::ids::InstallationId;
use crate::ledger::moto;

fn delivery(id: &str, pr: u64, activity: Activity, received_at_ms: i64) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::new(id),
        event: PrEvent {
            repository: RepoName::new("acme/access-requests"),
            installation: InstallationId(1),
            pr: PrNumber(pr),
            activity,
            sender: None,
            merge_commit: None,
        },
        received_at_ms,
    }
}

/// Two handles on one fresh table, as two replicas would hold it.
async fn two_replicas() -> (DynamoLedger, DynamoLedger) {
    let table = moto::unique_table();
    ensure_table(&moto::dynamodb(), &table).await.unwrap();
    let a = DynamoLedger::open(moto::dynamodb(), &table).await.unwrap();
    let b = DynamoLedger::open(moto::dynamodb(), &table).await.unwrap();
    (a, b)
}

async fn state(l: &DynamoLedger, id: &str) -> DeliveryState {
    l.delivery(DeliveryId::new(id))
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn a_second_replica_never_runs_a_pull_request_the_first_is_running() {
    let (a, b) = two_replicas().await;
    let now = now_ms();
    a.record_delivery(delivery("m", 7, Activity::Closed, now))
        .await
        .unwrap();
    let first = a.claim_work(now, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    // Another delivery of the same pull request arrives while replica A works on it.
    b.record_delivery(delivery("r", 7, Activity::ReviewSubmitted, now))
        .await
        .unwrap();
    b.record_delivery(delivery("o", 8, Activity::Opened, now))
        .await
        .unwrap();
    let second = b.claim_work(now, 10).await.unwrap();
    let prs: Vec<u64> = second.iter().map(|j| j.event.pr.get()).collect();
    assert_eq!(prs, [8], "pull request 7 waits for replica A");
    assert_eq!(b.next_due_ms().await.unwrap(), None, "nothing else can run");
    a.finish_work(DeliveryId::new("m"), Finish::Done, now)
        .await
        .unwrap();
    let third = b.claim_work(now, 10).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].id, DeliveryId::new("r"));
}

/// Claims one after another. moto applies concurrent transactions without isolating them
/// (its threaded server checks two transactions' conditions before either writes), so a
/// true race of two claims cannot be judged on moto; DynamoDB itself serialises them.
#[tokio::test]
async fn a_replica_takes_only_the_deliveries_another_has_not() {
    let (a, b) = two_replicas().await;
    let now = now_ms();
    for pr in 1..=6 {
        a.record_delivery(delivery(&format!("d{pr}"), pr, Activity::Closed, now))
            .await
            .unwrap();
    }
    let x = a.claim_work(now, 3).await;
    let y = b.claim_work(now, 10).await;
    let mut ids: Vec<String> = x
        .unwrap()
        .into_iter()
        .chain(y.unwrap())
        .map(|j| j.id.as_str().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["d1", "d2", "d3", "d4", "d5", "d6"]);
}

#[tokio::test]
async fn a_replica_leaves_work_another_holds_until_its_lease_lapses() {
    let (a, b) = two_replicas().await;
    let now = now_ms();
    a.record_delivery(delivery("m", 7, Activity::Closed, now))
        .await
        .unwrap();
    a.claim_work(now, 10).await.unwrap();
    // B starting, and B's orphan sweep, leave A's live work alone.
    assert_eq!(b.resume_interrupted().await.unwrap(), 0);
    assert_eq!(b.requeue_orphans(vec![]).await.unwrap(), 0);
    assert_eq!(state(&a, "m").await, DeliveryState::Running);
    // A stopped renewing: once the lease lapses, B takes the work over.
    let lapsed = now + LEASE_MS + 1;
    assert_eq!(b.requeue_at(&HashSet::new(), lapsed).await.unwrap(), 1);
    let taken = b.claim_work(lapsed, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    // A's late outcome does not overwrite B's attempt.
    let late = a
        .finish_work(DeliveryId::new("m"), Finish::Done, lapsed)
        .await;
    assert!(matches!(late, Err(LedgerError::Write(_))), "{late:?}");
    assert_eq!(state(&a, "m").await, DeliveryState::Running);
    b.finish_work(DeliveryId::new("m"), Finish::Done, lapsed)
        .await
        .unwrap();
    assert_eq!(state(&a, "m").await, DeliveryState::Done);
}

#[tokio::test]
async fn the_orphan_sweep_renews_the_lease_of_work_in_hand() {
    let (a, b) = two_replicas().await;
    let received = now_ms() - 5_000;
    a.record_delivery(delivery("m", 7, Activity::Closed, received))
        .await
        .unwrap();
    let claimed_at = received + 1_000;
    a.claim_work(claimed_at, 10).await.unwrap();
    // The sweep runs later (now), with "m" in hand: its lease now runs from now.
    assert_eq!(
        a.requeue_orphans(vec![DeliveryId::new("m")]).await.unwrap(),
        0
    );
    let first_lease_over = claimed_at + LEASE_MS + 1;
    assert_eq!(
        b.requeue_at(&HashSet::new(), first_lease_over)
            .await
            .unwrap(),
        0,
        "renewed, so still A's"
    );
    assert_eq!(state(&a, "m").await, DeliveryState::Running);
}

#[tokio::test]
async fn a_coalesced_delivery_whose_work_failed_runs_again_when_redelivered() {
    let (l, _) = two_replicas().await;
    let now = now_ms();
    l.record_delivery(delivery("a", 7, Activity::Closed, now))
        .await
        .unwrap();
    let b = delivery("b", 7, Activity::Closed, now);
    assert_eq!(
        l.record_delivery(b.clone()).await.unwrap(),
        Inserted::Coalesced
    );
    // "a" fails without taking "b" along (a crash between the two writes).
    let item = l.get(delivery_key(&DeliveryId::new("a"))).await.unwrap();
    let row = DeliveryRow::read(&item.unwrap()).unwrap();
    let failed = DynamoLedger::to_state(&row, DeliveryState::Failed);
    let write = vec![l.update(delivery_key(&row.id), failed).unwrap()];
    assert!(l.transact(write).await.unwrap().is_ok());
    assert_eq!(state(&l, "b").await, DeliveryState::Coalesced);
    assert_eq!(l.record_delivery(b).await.unwrap(), Inserted::Queued);
    assert_eq!(state(&l, "b").await, DeliveryState::Queued);
}

#[tokio::test]
async fn opening_a_missing_table_names_it_and_says_how_to_create_it() {
    let table = moto::unique_table();
    let Err(err) = DynamoLedger::open(moto::dynamodb(), &table).await else {
        panic!("opened a table that does not exist");
    };
    let text = err.to_string();
    assert!(matches!(err, LedgerError::MissingTable { .. }), "{text}");
    assert!(
        text.contains(&table) && text.contains("keygate init"),
        "{text}"
    );
    // A start reads beside the shape check; the check's answer is the one reported.
    let Err(err) = DynamoLedger::open_resuming(moto::dynamodb(), &table).await else {
        panic!("a start opened a table that does not exist");
    };
    assert!(matches!(err, LedgerError::MissingTable { .. }), "{err}");
}

#[tokio::test]
async fn creating_the_table_twice_leaves_the_first_as_it_is() {
    let client = moto::dynamodb();
    let table = moto::unique_table();
    assert_eq!(
        ensure_table(&client, &table).await.unwrap(),
        TableOutcome::Created
    );
    let ledger = DynamoLedger::open(client.clone(), &table).await.unwrap();
    ledger
        .record_delivery(delivery("a", 7, Activity::Closed, now_ms()))
        .await
        .unwrap();
    assert_eq!(
        ensure_table(&client, &table).await.unwrap(),
        TableOutcome::Existed
    );
    assert_eq!(ledger.stats().await.unwrap().queued, 1, "nothing was lost");
}

#[tokio::test]
async fn a_table_of_another_shape_is_refused_and_left_untouched() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let client = moto::dynamodb();
    let table = moto::unique_table();
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        ensure_table(&client, &table).await.unwrap(),
        TableOutcome::Existed
    );
    let Err(err) = DynamoLedger::open(client.clone(), &table).await else {
        panic!("opened a table that cannot hold the ledger");
    };
    let text = err.to_string();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{text}");
    assert!(text.contains("`pk`") && text.contains("by_state"), "{text}");
    // A start reads beside the shape check, and writes nothing when it fails.
    let Err(err) = DynamoLedger::open_resuming(client.clone(), &table).await else {
        panic!("a start opened a table that cannot hold the ledger");
    };
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
    let items = client.scan().table_name(&table).send().await.unwrap().count;
    assert_eq!(items, 0, "nothing was written");
    let described = client.describe_table().table_name(&table).send().await;
    let indexes = described.unwrap().table.unwrap().global_secondary_indexes;
    assert!(indexes.unwrap_or_default().is_empty(), "left untouched");
}

#[tokio::test]
async fn a_message_for_work_whose_replica_stopped_renewing_is_taken_over_after_the_lease() {
    let (a, b) = two_replicas().await;
    let now = now_ms();
    a.record_delivery(delivery("m", 7, Activity::Closed, now))
        .await
        .unwrap();
    a.record_delivery(delivery("r", 7, Activity::ReviewSubmitted, now))
        .await
        .unwrap();
    let Taken::Job(_) = a.claim_delivery(DeliveryId::new("m"), now).await.unwrap() else {
        panic!("m is due");
    };
    // Replica A dies holding m. Until its lease lapses, B's messages wait.
    let within = now + LEASE_MS / 2;
    assert_eq!(
        b.claim_delivery(DeliveryId::new("m"), within)
            .await
            .unwrap(),
        Taken::Busy {
            until_ms: now + LEASE_MS
        }
    );
    assert_eq!(
        b.claim_delivery(DeliveryId::new("r"), within)
            .await
            .unwrap(),
        Taken::Busy {
            until_ms: now + LEASE_MS
        },
        "the pull request is A's until then"
    );
    // After it, the redelivered message of either delivery finds the pull request free.
    let after = now + LEASE_MS + 1;
    let Taken::Job(job) = b.claim_delivery(DeliveryId::new("r"), after).await.unwrap() else {
        panic!("A's lease lapsed");
    };
    assert_eq!(job.id, DeliveryId::new("r"));
    assert_eq!(
        state(&b, "m").await,
        DeliveryState::Queued,
        "m waits its turn"
    );
    b.finish_work(job.id, Finish::Done, after).await.unwrap();
    let Taken::Job(m) = b.claim_delivery(DeliveryId::new("m"), after).await.unwrap() else {
        panic!("m is B's now");
    };
    assert_eq!(m.attempts, 2, "the interrupted attempt counts");
}

#[tokio::test]
async fn a_scheduled_pass_runs_on_one_replica_at_a_time_and_moves_on_when_its_runner_dies() {
    let (a, b) = two_replicas().await;
    let now = now_ms();
    let minute = 60_000;
    assert!(
        a.lease_pass(super::super::Pass::Sweep, now, now + minute)
            .await
            .unwrap()
    );
    assert!(
        !b.lease_pass(super::super::Pass::Sweep, now + 1, now + minute)
            .await
            .unwrap(),
        "A is sweeping"
    );
    assert!(
        b.lease_pass(super::super::Pass::Reconcile, now, now + minute)
            .await
            .unwrap(),
        "another pass is another lease"
    );
    assert!(
        a.lease_pass(super::super::Pass::Sweep, now + 10, now + 2 * minute)
            .await
            .unwrap(),
        "A renews its own"
    );
    assert!(
        !b.lease_pass(
            super::super::Pass::Sweep,
            now + minute + 1,
            now + 2 * minute
        )
        .await
        .unwrap()
    );
    // A stops renewing: once its lease lapses, B takes the pass over.
    let later = now + 2 * minute + 1;
    assert!(
        b.lease_pass(super::super::Pass::Sweep, later, later + minute)
            .await
            .unwrap()
    );
    assert!(
        !a.lease_pass(super::super::Pass::Sweep, later + 1, later + minute)
            .await
            .unwrap()
    );
}
