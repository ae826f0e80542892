//! The pure parts of the queue: message bodies, FIFO keys, waits.

use super::sqs::sibling_url;
use super::*;
use crate::ids::{DeliveryId, InstallationId, PrNumber, RepoName};
use crate::work::{Activity, PrEvent};

fn merge_of(pr: u64) -> PrEvent {
    PrEvent {
        repository: RepoName::new("Acme/Access-Requests"),
        installation: InstallationId(1),
        pr: PrNumber(pr),
        activity: Activity::Closed,
        sender: None,
        merge_commit: None,
    }
}

#[test]
fn a_message_names_its_delivery_and_reads_back_as_written() {
    let a = Announce::new(&DeliveryId::new("72d3162e-cc78"), &merge_of(7), 0, 1_700);
    assert_eq!(
        a.body(),
        r#"{"delivery":"72d3162e-cc78","repository":"Acme/Access-Requests","pr":7,"attempts":0,"received_at_ms":1700}"#
    );
    assert_eq!(Announce::parse(&a.body()), Some(a));
    assert_eq!(Announce::parse("hello"), None, "not keygate's");
    assert_eq!(
        Announce::parse(
            r#"{"delivery":"x","repository":"a/b","pr":1,"attempts":0,"received_at_ms":1,"run":"rm"}"#
        ),
        None,
        "nothing unknown is taken"
    );
}

#[test]
fn one_pull_request_is_one_group_whatever_the_spelling_and_each_retry_its_own_message() {
    let first = Announce::new(&DeliveryId::new("d1"), &merge_of(7), 0, 1_700);
    let mut other_spelling = merge_of(7);
    other_spelling.repository = RepoName::new("acme/access-requests");
    let second = Announce::new(&DeliveryId::new("d2"), &other_spelling, 0, 1_700);
    assert_eq!(first.group(), "acme/access-requests#7");
    assert_eq!(first.group(), second.group());
    assert_ne!(
        first.group(),
        Announce::new(&DeliveryId::new("d3"), &merge_of(8), 0, 1_700).group()
    );
    assert_eq!(
        first.dedupe(),
        "d1@1700",
        "the delivery ID as accepted: a repeat is one message"
    );
    let retry = Announce {
        attempts: 2,
        ..first.clone()
    };
    assert_eq!(retry.dedupe(), "d1@1700#2");
    let redelivered = Announce {
        received_at_ms: 9_000,
        ..first.clone()
    };
    assert_ne!(
        redelivered.dedupe(),
        first.dedupe(),
        "GitHub's Redeliver of a failed delivery is new work, not a repeat SQS may drop"
    );
}

#[test]
fn ids_sqs_would_refuse_are_hashed_into_ones_it_accepts() {
    assert_eq!(fifo_id("abc-123"), "abc-123");
    for odd in ["with space", "", &"x".repeat(129), "tab\there", "ünïcode"] {
        let id = fifo_id(odd);
        assert!(
            id.starts_with("sha256-") && id.len() == 71,
            "{odd:?} → {id}"
        );
        assert!(id.bytes().all(|b| b.is_ascii_graphic()));
    }
    assert_ne!(fifo_id("a b"), fifo_id("a  b"));
}

#[test]
fn the_dead_letter_queue_is_found_beside_the_work_queue() {
    assert_eq!(
        sibling_url(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/kg-work.fifo",
            "arn:aws:sqs:eu-west-1:123456789012:kg-dead.fifo"
        )
        .as_deref(),
        Some("https://sqs.eu-west-1.amazonaws.com/123456789012/kg-dead.fifo")
    );
    assert_eq!(sibling_url("no-slashes", "arn:aws:sqs:r:1:x"), None);
}
