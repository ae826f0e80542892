//! What an SQS message carries: the delivery it names, and the FIFO keys that keep one pull
//! request's work in order and a repeated announcement from becoming a second message.

use serde::{Deserialize, Serialize};

use crate::ids::{DeliveryId, PrNumber, RepoName};
use crate::ledger::Job;
use crate::work::PrEvent;

/// "Delivery `delivery` is queued in the ledger": the whole of a work message. The body
/// names the repository and pull request too, for the operator reading a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub delivery: DeliveryId,
    pub repository: RepoName,
    pub pr: PrNumber,
    /// Attempts so far: each retry is announced afresh under its own deduplication ID.
    pub attempts: u32,
    /// When the ledger accepted the delivery: a failed delivery that GitHub's Redeliver
    /// queues again is accepted anew, and its message must not be taken for the old one.
    pub received_at_ms: i64,
}

impl Announce {
    /// The span every line of the work a message names carries, with how many times the
    /// queue has handed the message out.
    pub fn span(&self, received: u32) -> tracing::Span {
        tracing::info_span!(
            "message",
            delivery = %self.delivery,
            repository = %self.repository,
            pr = %self.pr,
            received,
        )
    }

    pub fn new(
        delivery: &DeliveryId,
        event: &PrEvent,
        attempts: u32,
        received_at_ms: i64,
    ) -> Announce {
        Announce {
            delivery: delivery.clone(),
            repository: event.repository.clone(),
            pr: event.pr,
            attempts,
            received_at_ms,
        }
    }

    /// The announcement of `job` as the ledger holds it (attempts so far).
    pub fn of(job: &Job) -> Announce {
        Announce::new(&job.id, &job.event, job.attempts, job.received_at_ms)
    }

    pub fn body(&self) -> String {
        let wire = Wire {
            delivery: self.delivery.as_str().to_string(),
            repository: self.repository.to_string(),
            pr: self.pr.get(),
            attempts: self.attempts,
            received_at_ms: self.received_at_ms,
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// A message body read back; `None` when it is not one keygate wrote.
    pub fn parse(body: &str) -> Option<Announce> {
        let wire: Wire = serde_json::from_str(body).ok()?;
        Some(Announce {
            delivery: DeliveryId::new(wire.delivery),
            repository: RepoName::new(wire.repository),
            pr: PrNumber(wire.pr),
            attempts: wire.attempts,
            received_at_ms: wire.received_at_ms,
        })
    }

    /// `MessageGroupId`: the repository and pull request, so one pull request's work never
    /// runs twice at once and different ones run side by side.
    pub fn group(&self) -> String {
        fifo_id(&format!("{}#{}", self.repository.key(), self.pr.get()))
    }

    /// `MessageDeduplicationId`: the delivery ID with when it was accepted, and the attempt
    /// for a retry. The same announcement sent twice within SQS's five minutes is one
    /// message; a redelivery accepted anew, or a retry, is another.
    pub fn dedupe(&self) -> String {
        let id = self.delivery.as_str();
        let at = self.received_at_ms;
        match self.attempts {
            0 => fifo_id(&format!("{id}@{at}")),
            n => fifo_id(&format!("{id}@{at}#{n}")),
        }
    }
}

/// The body as JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    delivery: String,
    repository: String,
    pr: u64,
    attempts: u32,
    received_at_ms: i64,
}

/// A FIFO group or deduplication ID for `s`: `s` itself when SQS accepts it (1–128
/// printable ASCII characters, no spaces), otherwise its SHA-256 in hex.
pub fn fifo_id(s: &str) -> String {
    if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()) {
        return s.to_string();
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    format!("sha256-{}", hex::encode(digest.as_ref()))
}
