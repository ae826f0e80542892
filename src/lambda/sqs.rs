//! A batch from the SQS work queue: each message's work taken as `serve`'s consumer takes it
//! (`Runner::take`), with Lambda's partial batch response instead of deleting messages
//! itself. Lambda deletes what is not reported in `batchItemFailures`.
//!
//! FIFO: one pull request's messages share a group and must run in order, so after a
//! group's first message that did not finish, the rest of that group in the batch are
//! reported unprocessed (AWS requires it). Different groups run side by side.

use std::collections::HashMap;
use std::future::Future;

use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::queue::{Announce, Disposition, SqsQueue};
use crate::worker::Runner;

/// One message of the batch, as the batch needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `messageId`: what `batchItemFailures` names.
    pub id: String,
    /// `MessageGroupId` (FIFO queues); `None` on a standard queue.
    pub group: Option<String>,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

/// The SQS event's fields keygate reads. Its own few lines rather than `aws_lambda_events`'
/// `sqs` types, which bring `serde_with` and its proc-macros (some twenty crates to build).
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Records")]
    records: Vec<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    message_id: String,
    receipt_handle: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    attributes: HashMap<String, String>,
}

impl Record {
    fn from_message(m: Message) -> Record {
        Record {
            id: m.message_id,
            group: m.attributes.get("MessageGroupId").cloned(),
            receipt: m.receipt_handle,
            body: m.body,
            receive_count: m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Lambda may delete it.
    Done,
    /// It comes back: report it in `batchItemFailures`.
    Again,
}

/// The batch's records, read from the event.
pub fn records(event: Value) -> Result<Vec<Record>, serde_json::Error> {
    let event: Event = serde_json::from_value(event)?;
    Ok(event
        .records
        .into_iter()
        .map(Record::from_message)
        .collect())
}

/// Indexes of `records` by group, each group in batch order, groups in order of first
/// appearance. A record without a group is a group of its own.
pub fn groups(records: &[Record]) -> Vec<Vec<usize>> {
    let mut out: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let group = r.group.as_deref();
        match out.iter_mut().find(|(g, _)| group.is_some() && *g == group) {
            Some((_, members)) => members.push(i),
            None => out.push((group, vec![i])),
        }
    }
    out.into_iter().map(|(_, members)| members).collect()
}

/// Settles every record with `settle`: a group's records one after another, groups side by
/// side. After a group's first record that comes back, the rest of the group is not
/// settled and comes back too. Returns the IDs of the records that come back, in batch
/// order.
pub async fn run_batch<'a, F, Fut>(records: &'a [Record], settle: F) -> Vec<String>
where
    F: Fn(&'a Record) -> Fut,
    Fut: Future<Output = Settled>,
{
    let settle = &settle;
    let runs = groups(records).into_iter().map(|members| async move {
        let mut again = Vec::new();
        for (n, &i) in members.iter().enumerate() {
            if settle(&records[i]).await == Settled::Again {
                again.extend_from_slice(&members[n..]);
                break;
            }
        }
        again
    });
    let mut again: Vec<usize> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    again.sort_unstable();
    again.into_iter().map(|i| records[i].id.clone()).collect()
}

/// Lambda's partial batch response: the records that come back.
pub fn batch_response(again: &[String]) -> Value {
    let failures: Vec<Value> = again
        .iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    json!({ "batchItemFailures": failures })
}

/// Takes the work one message names, and carries out what `take` decided: a retry is
/// announced afresh and a failure goes to the dead-letter queue (Lambda then deletes the
/// message); work that must wait hides its message that long and reports it.
pub async fn settle(queue: &SqsQueue, runner: &Runner, record: &Record) -> Settled {
    let Some(announce) = Announce::parse(&record.body) else {
        tracing::error!(
            message = %record.id,
            "a message on the work queue is not keygate's; moving it to the dead-letter queue"
        );
        return match queue
            .dead_letter(&record.body, "not a keygate work message")
            .await
        {
            Ok(()) => Settled::Done,
            Err(e) => {
                tracing::error!(error = %e, "cannot move the message; it comes back");
                Settled::Again
            }
        };
    };
    let span = announce.span(record.receive_count);
    async {
        let d = runner.take(&announce.delivery).await;
        let done = match &d {
            Disposition::Delete => Ok(Settled::Done),
            Disposition::Replace(next) => queue.announce(next).await.map(|()| Settled::Done),
            Disposition::DeadLetter { error } => queue
                .dead_letter(&record.body, error)
                .await
                .map(|()| Settled::Done),
            Disposition::Hide(wait) => {
                let secs = i32::try_from(wait.as_secs()).unwrap_or(i32::MAX);
                if let Err(e) = queue
                    .aws()
                    .hide_message(queue.url(), &record.receipt, secs)
                    .await
                {
                    // It comes back when the queue's visibility timeout lapses instead.
                    tracing::warn!(error = %e, "cannot hide the message until its work is due");
                }
                Ok(Settled::Again)
            }
        };
        done.unwrap_or_else(|e| {
            // The ledger holds the outcome: the message that comes back finds it there.
            tracing::warn!(error = %e, disposition = ?d, "cannot carry out the message's disposition; it comes back");
            Settled::Again
        })
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn record(id: &str, group: Option<&str>) -> Record {
        Record {
            id: id.into(),
            group: group.map(str::to_string),
            receipt: format!("receipt-{id}"),
            body: String::new(),
            receive_count: 1,
        }
    }

    /// Settles records from a script: the IDs in `again` come back; records every ID settled.
    async fn run(records: &[Record], again: &[&str]) -> (Vec<String>, Vec<String>) {
        let settled = Mutex::new(Vec::new());
        let failed = run_batch(records, |r| {
            settled.lock().unwrap().push(r.id.clone());
            let out = if again.contains(&r.id.as_str()) {
                Settled::Again
            } else {
                Settled::Done
            };
            async move { out }
        })
        .await;
        (failed, settled.into_inner().unwrap())
    }

    #[test]
    fn records_group_by_pull_request_in_batch_order() {
        let batch = [
            record("a1", Some("acme/r#1")),
            record("b1", Some("acme/r#2")),
            record("a2", Some("acme/r#1")),
            record("s1", None),
            record("s2", None),
        ];
        assert_eq!(groups(&batch), vec![vec![0, 2], vec![1], vec![3], vec![4]]);
    }

    #[tokio::test]
    async fn a_batch_that_all_finishes_reports_nothing() {
        let batch = [record("a1", Some("g1")), record("b1", Some("g2"))];
        let (failed, settled) = run(&batch, &[]).await;
        assert!(failed.is_empty());
        assert_eq!(settled.len(), 2);
    }

    #[tokio::test]
    async fn after_a_groups_first_failure_its_later_records_come_back_unprocessed() {
        let batch = [
            record("a1", Some("pr-1")),
            record("a2", Some("pr-1")),
            record("b1", Some("pr-2")),
            record("a3", Some("pr-1")),
            record("b2", Some("pr-2")),
        ];
        let (failed, settled) = run(&batch, &["a2"]).await;
        assert_eq!(failed, ["a2", "a3"], "a2 failed, a3 waits behind it");
        assert!(!settled.contains(&"a3".to_string()), "a3 never ran");
        for other in ["a1", "b1", "b2"] {
            assert!(settled.contains(&other.to_string()), "{other} ran");
        }
    }

    #[tokio::test]
    async fn without_groups_one_failure_holds_back_nothing_else() {
        let batch = [record("s1", None), record("s2", None), record("s3", None)];
        let (failed, settled) = run(&batch, &["s1"]).await;
        assert_eq!(failed, ["s1"]);
        assert_eq!(settled.len(), 3);
    }

    #[test]
    fn a_fifo_record_reads_its_group_and_receive_count() {
        let event = serde_json::from_str(include_str!("fixtures/sqs-fifo-event.json")).unwrap();
        let got = records(event).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5");
        assert_eq!(got[0].group.as_deref(), Some("1"));
        assert_eq!(got[0].body, "Test message.");
        assert_eq!(got[0].receive_count, 1);
    }

    #[test]
    fn the_partial_batch_response_names_the_records_that_come_back() {
        assert_eq!(
            batch_response(&["m2".into()]),
            json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
        );
    }
}
