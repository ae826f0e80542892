use super::*;

#[test]
fn due_order_sorts_by_time_then_arrival_and_stays_below_the_due_bound() {
    let a = DeliveryId::new("a");
    let early = due_order(9, 50, &a);
    let later = due_order(10, 1, &a);
    assert!(early < later, "{early} < {later}");
    assert!(due_order(10, 2, &a) > later, "arrival breaks ties");
    assert!(later <= due_by(10), "due at its own time");
    assert!(due_order(11, 0, &a) > due_by(10), "not due before its time");
}

#[test]
fn a_delivery_reads_back_as_it_was_recorded() {
    let d = NewDelivery {
        id: DeliveryId::new("g-1"),
        event: PrEvent {
            repository: RepoName::new("Acme/R"),
            installation: InstallationId(9),
            pr: PrNumber(4),
            activity: Activity::Synchronize,
            sender: Some(Sender {
                id: 66,
                login: "mallory".into(),
            }),
            merge_commit: Some(CommitSha::new("abc123")),
        },
        received_at_ms: 1234,
    };
    let row = DeliveryRow::read(&new_delivery(&d, DeliveryState::Coalesced, Some("g-0"))).unwrap();
    assert_eq!(row.event, d.event);
    assert_eq!(row.state, DeliveryState::Coalesced);
    assert_eq!(row.coalesced_into.as_deref(), Some("g-0"));
    assert_eq!(
        (row.attempts, row.received_at, row.next_attempt_at),
        (0, 1234, 1234)
    );
}

#[test]
fn an_intent_keeps_an_empty_key_list_apart_from_none() {
    let key = crate::ledger::IntentKey {
        repository: RepoName::new("acme/r"),
        pr: PrNumber(3),
        path: "requests/a.toml".into(),
    };
    let mut i = Intent::new(key, InstallationId(1));
    i.keys_before = Some(vec![]);
    i.approvers = vec!["bob".into(), "carol".into()];
    let back = read_intent(&new_intent(&i, 7)).unwrap();
    assert_eq!(back.keys_before, Some(vec![]));
    assert_eq!(back.approvers, i.approvers);
    assert_eq!(back.updated_at_ms, 7);
}

#[test]
fn a_malformed_item_is_reported_with_its_key_and_attribute() {
    let mut item = delivery_key(&DeliveryId::new("x"));
    item.insert("attempts".into(), s("many"));
    let err = get_n(&item, "attempts").unwrap_err().to_string();
    assert!(
        err.contains("DELIVERY#x") && err.contains("attempts"),
        "{err}"
    );
}

#[test]
fn a_change_names_every_attribute_through_a_placeholder() {
    let c = Change::default()
        .set("state", s("queued"))
        .remove("owner")
        .when("#state = :from", &["state"], vec![(":from", s("running"))]);
    assert_eq!(c.expression(), "SET #state = :set_state REMOVE #owner");
    assert_eq!(c.condition(), Some("#state = :from"));
    assert_eq!(c.names.get("#owner").map(String::as_str), Some("owner"));
}

fn life() -> KeyLife {
    KeyLife {
        access_key_id: "AKIAX".into(),
        account: None,
        iam_user: "alice".into(),
        secret_name: None,
        expires_at: None,
        request: crate::ledger::IntentKey {
            repository: RepoName::new("acme/r"),
            pr: PrNumber(3),
            path: "requests/a.toml".into(),
        },
        requester: "bob".into(),
        request_merged_at: None,
        installation: None,
        progress: Progress::ACTIVE.begin(Step::Deactivate),
        revocation: None,
        origin: crate::ledger::KeyOrigin::default(),
        care: crate::ledger::KeyCare::default(),
        updated_at_ms: 0,
    }
}

#[test]
fn a_life_step_keeps_the_first_identity_and_moves_only_from_what_was_read() {
    let first = life_step(&life(), Progress::ACTIVE, 5);
    assert!(
        first
            .expression()
            .contains("#iam_user = if_not_exists(#iam_user, :set_iam_user)"),
        "{}",
        first.expression()
    );
    assert!(
        first
            .condition()
            .is_some_and(|c| c.contains("attribute_not_exists(#pk)")),
        "no item yet counts as active"
    );
    let begun = life().progress;
    let next = life_step(&life(), begun, 6);
    assert_eq!(
        next.condition(),
        Some("#stage = :from_stage AND #pending = :from_pending"),
        "a begun step is only finished by whoever read it begun"
    );
    assert_eq!(next.values.get(":from_pending"), Some(&s("deactivate")));
}

#[test]
fn a_key_over_leaves_the_live_partition() {
    assert_eq!(life_list(Progress::ACTIVE.begin(Step::Delete)), LIVE_KEYS);
    let deleted = Progress::ACTIVE
        .begin(Step::Deactivate)
        .finish(Step::Deactivate);
    let deleted = deleted.begin(Step::Delete).finish(Step::Delete);
    assert!(deleted.is_over(), "{deleted:?}");
    assert_eq!(life_list(deleted), OVER_KEYS);
}
