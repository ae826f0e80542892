//! The ledger's one writer thread. Deliveries waiting together are committed in one
//! transaction (group commit): one fsync covers them all, and each is on disk before its
//! caller hears back. Everything else the ledger does runs on the same thread, between
//! commits, so nothing writes beside it.
//!
//! Each recorded delivery comes back with where its write spent its time ([`WriteTiming`]):
//! what explains a slow acknowledgement (`KEYGATE_LOG=keygate::ledger=debug`).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Conn;
use crate::ledger::{Inserted, NewDelivery};

/// Largest group commit.
const MAX_BATCH: usize = 512;

/// A write slower than this is logged with its timing (at debug level).
const SLOW_WRITE: Duration = Duration::from_millis(2);

pub(super) type Work = Box<dyn FnOnce(&mut Conn) + Send>;

pub(super) enum Cmd {
    Insert(Box<Pending>),
    Run(Work),
}

/// A delivery waiting for its commit.
pub(super) struct Pending {
    pub delivery: NewDelivery,
    pub reply: oneshot::Sender<Result<Written, String>>,
    /// When its caller sent it to the writer.
    pub sent: Instant,
}

/// A delivery on disk, and how its write went.
pub(super) struct Written {
    pub inserted: Inserted,
    pub timing: WriteTiming,
}

/// Where one delivery's write spent its time on the writer thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WriteTiming {
    /// From its send until the writer took its batch: behind the previous commit, and
    /// behind `other_work`.
    pub waited: Duration,
    /// The writer's other work (the worker's claims and outcomes, probes, lifecycle steps)
    /// run just before this batch was taken, and how many pieces.
    pub other_work: Duration,
    pub other_pieces: usize,
    /// Deliveries in its commit.
    pub batch: usize,
    /// Reading and inserting the batch's rows.
    pub statements: Duration,
    /// The commit: writing the WAL and its fsync.
    pub commit: Duration,
}

impl WriteTiming {
    /// A debug line for a write that took `total` (from its send until its caller heard
    /// back) when that is slow.
    pub(super) fn log_if_slow(&self, delivery: &str, total: Duration) {
        if total < SLOW_WRITE {
            return;
        }
        tracing::debug!(
            delivery,
            total_us = micros(total),
            waited_us = micros(self.waited),
            other_work_us = micros(self.other_work),
            other_pieces = self.other_pieces,
            batch = self.batch,
            statements_us = micros(self.statements),
            commit_us = micros(self.commit),
            "slow ledger write"
        );
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// How long the batch's statements and its commit took.
pub(super) struct BatchTiming {
    pub statements: Duration,
    pub commit: Duration,
}

/// Runs until every sender is gone.
pub(super) fn writer(conn: &mut Conn, rx: mpsc::Receiver<Cmd>) {
    let mut runs: Vec<Work> = Vec::new();
    // The other work of the round before: what the next batch may have waited behind.
    let mut before = (Duration::ZERO, 0);
    while let Ok(first) = rx.recv() {
        let mut inserts = Vec::new();
        sort(first, &mut inserts, &mut runs);
        // Whatever else is already waiting joins this commit.
        while inserts.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => sort(cmd, &mut inserts, &mut runs),
                Err(_) => break,
            }
        }
        if !inserts.is_empty() {
            commit(conn, inserts, before);
        }
        let started = Instant::now();
        let pieces = runs.len();
        for w in runs.drain(..) {
            w(conn);
        }
        before = (started.elapsed(), pieces);
    }
}

fn sort(cmd: Cmd, inserts: &mut Vec<Pending>, runs: &mut Vec<Work>) {
    match cmd {
        Cmd::Insert(p) => inserts.push(*p),
        Cmd::Run(w) => runs.push(w),
    }
}

/// Commits `inserts` in one transaction and answers each.
fn commit(conn: &mut Conn, inserts: Vec<Pending>, before: (Duration, usize)) {
    let taken = Instant::now();
    let batch: Vec<&NewDelivery> = inserts.iter().map(|p| &p.delivery).collect();
    let (written, size) = (conn.insert_deliveries(&batch), batch.len());
    drop(batch);
    match written {
        Ok((results, t)) => {
            for (p, inserted) in inserts.into_iter().zip(results) {
                let timing = WriteTiming {
                    waited: taken.saturating_duration_since(p.sent),
                    other_work: before.0,
                    other_pieces: before.1,
                    batch: size,
                    statements: t.statements,
                    commit: t.commit,
                };
                let _ = p.reply.send(Ok(Written { inserted, timing }));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for p in inserts {
                let _ = p.reply.send(Err(msg.clone()));
            }
        }
    }
}
