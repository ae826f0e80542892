//! The shared ledger: one DynamoDB table, for several replicas and Lambda (DESIGN §8).
//!
//! Correctness rests on conditional writes, never on reading first: every write that must
//! happen at most once is a `TransactWriteItems` with a condition and a client request token
//! (so the SDK's own retry of a write whose answer was lost cannot apply it twice).
//!
//! # Key schema
//!
//! Table key: `pk` (partition, string) and `sk` (sort, string), on-demand billing, no TTL.
//!
//! | item | `pk` | `sk` | what it holds |
//! | --- | --- | --- | --- |
//! | delivery | `DELIVERY#<delivery id>` | `DELIVERY` | the event, `state`, `attempts`, `next_attempt_at`, `owner` and `lease_until` while running; created once forever (`attribute_not_exists(pk)`) |
//! | pull-request lock | `PR#<repo>#<number>` | `LOCK` | `running` = the one delivery of this pull request that is running |
//! | intent | `INTENT#<repo>#<number>` | `PATH#<path>` | one request's issuance, with the `account` alias it is issued in (absent: keygate's own account); moved only from the state it was read in |
//! | key life | `KEY#<access key id>` | `LIFE` | an issued key's `stage`, `pending` step and revocation after its first lifecycle step, its identity (with its `account`) and `created_at` written once; moved only from the progress it was read in (no item = active) |
//! | note | `NOTE#<note key>` | `NOTE` | `value`: a comment or check-run ID, a notice sent |
//! | request life | `REQUEST#<repo>#<path>` | `LIFE` | the latest merges that added and deleted the file (`added_pr`, `added_at`, `deleted_pr`, `deleted_at`), its `account` written once; written only from the `version` read |
//! | rotation | `ROTATION#<access key id>` | `ROTATION` | one rotation in place of that key (DESIGN §10): `state`, who asked and why, `keys_before`, `token`, the new key's ID and fingerprint, `rotated_at`, `blocked`; moved only from the state read |
//! | lease | `LEASE#<name>` (`user#<iam user>`, or `user#<account>#<iam user>` in a member account) | `LEASE` | `holder`, `until`, and the `value` its last holder left (the last secret-name timestamp) |
//! | meta | `META` | `created_at` | `value`: when the ledger was first opened (ms, the watermark); `clock` = `host` while that time is still the host's, removed when it is put on GitHub's clock |
//! | catch-up progress | `CATCHUP#<repo>#<branch>` | `PROGRESS` | `from_ms`, `through_ms`: the pull requests updated in between (GitHub's clock) were looked at; moved only forward |
//! | merges without requests | `NOREQ#<repo>#<number / 1000>` | `PULLS` | `prs`: a number set of the merged pull requests (a thousand numbers per item) catch-up found to touch no request file, never read again; added to, never removed from |
//!
//! `<repo>` is the lower-case `owner/name`. Two global secondary indexes, both projecting all
//! attributes:
//!
//! - `by_state` (`by_state_pk`, `by_state_sk`): `delivery#<state>` ordered by
//!   `<next attempt>#<received>#<id>` (zero-padded milliseconds) — the work queue is the
//!   `delivery#queued` partition read up to now; `intent#<state>` ordered by creation; and
//!   `key#live` / `key#over` (key lives whose life is not over / is over) ordered by creation;
//!   `rotation#<state>` ordered by creation.
//!
//! Intents and key lives also carry a key's origin (`issued_at`, `rotate_every_days`,
//! `key_fingerprint`, written once) and a life's care (`superseded_by`, `retires_at`,
//! `unused_warned_at`, `leak_source`, `leak_location`, `leaked_at`).
//! - `by_pr` (`by_pr_pk` = `<repo>#<number>`, `by_pr_sk` = `<state>#<work>#<id>`): one pull
//!   request's deliveries, for coalescing, the failure cascade and the pushers.
//!
//! Index reads are eventually consistent, so they only nominate: the conditional write that
//! follows decides. A delivery is `running` together with its pull request's lock item, in
//! one transaction, and leaves `running` together with it: two deliveries of one pull
//! request never run at once, whichever replica claims them.
//!
//! A running delivery carries its owner (one ID per opened ledger) and a lease of
//! [`LEASE_MS`], renewed by the worker's orphan sweep. Crash recovery puts back this owner's
//! running deliveries and any whose lease lapsed, never another live replica's.
//!
//! Known cost: `stats` (the readiness probe) counts the `by_state` partitions with
//! `Select=COUNT` queries, whose read cost grows with the deliveries kept, and `done` ones are
//! kept forever (a delivery ID is recorded once forever). Likewise the key sweep reads every
//! `stored` and `issued` intent (a key issued and never stepped has no life item), and the
//! `key#over` partition whenever one of those keys is not live.

mod care;
mod catchup;
mod counts;
mod deliveries;
mod io;
mod item;
mod lives;
mod requests;
pub mod schema;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;

use self::io::{Query, dynamo_error};
use self::item::*;
use super::{
    CatchUpProgress, Claim, DeliveryState, DeliveryStatus, Finish, Inserted, Intent, IntentState,
    Job, KeyLife, LedgerError, NewDelivery, NoteKey, Stats, Store, Taken, Watermark, now_ms,
};
use crate::event::Sender;
use crate::ids::{AccessKeyId, BranchName, DeliveryId, PrNumber, RepoName, RequestPath};
use crate::life::Progress;

pub use schema::{TableOutcome, ensure_table};

/// How long a running delivery stays its owner's without renewal. The worker renews every
/// orphan sweep (30 s); a replica that stops renewing loses its work to the others after this.
pub const LEASE_MS: i64 = 120_000;

/// How often a write that lost a race is tried again before the caller hears of it.
const TRIES: usize = 8;

/// Handle to the DynamoDB ledger; cheap to clone.
#[derive(Clone)]
pub struct DynamoLedger {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    table: String,
    /// Names this handle on the deliveries it runs.
    owner: String,
    /// How long a delivery this handle runs stays its own without renewal.
    lease_ms: i64,
}

/// Which first-start records a start found in the table.
#[derive(Debug, Clone, Copy)]
struct FirstStart {
    began: bool,
    counted: bool,
}

impl DynamoLedger {
    /// Opens the ledger in `table`, which must exist with the ledger's shape (`keygate init`
    /// creates it): a missing table is an error that names it. The shape check goes in one
    /// round with the reads of the first-start records, which harm no table whatever its
    /// shape; the records found missing are made after the check passed. A wrong table is
    /// reported by the check, not by whichever read failed first.
    pub async fn open(
        client: Client,
        table: impl Into<String>,
    ) -> Result<DynamoLedger, LedgerError> {
        let ledger = DynamoLedger::unchecked(client, table.into());
        let found = ledger
            .beside_the_check(ledger.first_start_records())
            .await?;
        ledger.first_start(found).await?;
        Ok(ledger)
    }

    /// [`DynamoLedger::open`], and what a stop interrupted put back in the queue (how many):
    /// the running deliveries are read in the same round, and put back after the check. A
    /// warm start with nothing in flight is that one round (a Lambda instance's cold start
    /// waited for two before, three before that).
    pub async fn open_resuming(
        client: Client,
        table: impl Into<String>,
    ) -> Result<(DynamoLedger, usize), LedgerError> {
        let ledger = DynamoLedger::unchecked(client, table.into());
        let reads = async { tokio::try_join!(ledger.first_start_records(), ledger.running()) };
        let (found, running) = ledger.beside_the_check(reads).await?;
        let keep = HashSet::new();
        let resume = ledger.requeue_rows(running, &keep, now_ms());
        let ((), requeued) =
            tokio::try_join!(Box::pin(ledger.first_start(found)), Box::pin(resume))?;
        Ok((ledger, requeued))
    }

    /// `reads`, side by side with the check of the table's shape; the check's error first.
    async fn beside_the_check<T>(
        &self,
        reads: impl std::future::Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        let check = schema::check(self.client(), self.table());
        let (shape, found) = tokio::join!(Box::pin(check), Box::pin(reads));
        shape?;
        found
    }

    /// A handle on `table`, its shape not yet checked: nothing may write through it before.
    fn unchecked(client: Client, table: String) -> DynamoLedger {
        DynamoLedger {
            inner: Arc::new(Inner {
                client,
                table,
                owner: uuid::Uuid::new_v4().to_string(),
                lease_ms: LEASE_MS,
            }),
        }
    }

    /// Whether the two first-start records are there: when the ledger began, and the
    /// delivery counts.
    async fn first_start_records(&self) -> Result<FirstStart, LedgerError> {
        let began = async { Ok(self.get(meta_key()).await?.is_some()) };
        let (began, counted) = tokio::try_join!(began, self.counted_before())?;
        Ok(FirstStart { began, counted })
    }

    /// The first-start records `found` missing (each a no-op when another replica made it
    /// meanwhile).
    async fn first_start(&self, found: FirstStart) -> Result<(), LedgerError> {
        let creation = async {
            if found.began {
                return Ok(());
            }
            self.remember_creation().await
        };
        let counts = async {
            if found.counted {
                return Ok(());
            }
            self.count_first().await
        };
        tokio::try_join!(creation, counts)?;
        Ok(())
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    fn table(&self) -> &str {
        &self.inner.table
    }

    fn me(&self) -> &str {
        &self.inner.owner
    }

    fn lease_ms(&self) -> i64 {
        self.inner.lease_ms
    }

    /// The same ledger with leases of `lease` (`queue.lease_secs`) instead of [`LEASE_MS`].
    pub fn with_lease(self, lease: std::time::Duration) -> DynamoLedger {
        DynamoLedger {
            inner: Arc::new(Inner {
                client: self.inner.client.clone(),
                table: self.inner.table.clone(),
                owner: self.inner.owner.clone(),
                lease_ms: lease.as_millis() as i64,
            }),
        }
    }

    /// The intents in `states`, each with its place in its state's index (creation order).
    async fn intents_in(
        &self,
        states: &[IntentState],
    ) -> Result<Vec<(String, Intent)>, LedgerError> {
        let mut found = Vec::new();
        for state in states {
            for item in self
                .query_all(&Query::list(intent_list(*state), None))
                .await?
            {
                found.push((get_s(&item, BY_STATE_SK)?.to_string(), read_intent(&item)?));
            }
        }
        Ok(found)
    }

    /// The ledger's creation time, written once: catch-up must never reach back before it.
    /// Taken on this host's clock, and marked so until it is put on GitHub's (DESIGN §5).
    async fn remember_creation(&self) -> Result<(), LedgerError> {
        let mut item = meta_key();
        item.insert("value".into(), s(now_ms().to_string()));
        item.insert("clock".into(), s("host"));
        // Already there when the ledger was opened before: kept as it is.
        self.put_new(item).await?;
        Ok(())
    }
}

impl Store for DynamoLedger {
    async fn record_delivery(&self, d: NewDelivery) -> Result<Inserted, LedgerError> {
        self.record(d).await
    }

    async fn record_push(&self, d: NewDelivery) -> Result<bool, LedgerError> {
        let mut create = vec![self.create(new_delivery(&d, DeliveryState::Done, None))?];
        create.extend(self.count_move(None, DeliveryState::Done)?);
        Ok(self.transact(create).await?.is_ok())
    }

    async fn resume_interrupted(&self) -> Result<usize, LedgerError> {
        self.requeue_at(&HashSet::new(), now_ms()).await
    }

    async fn requeue_orphans(&self, keep: Vec<DeliveryId>) -> Result<usize, LedgerError> {
        self.requeue_at(&keep.into_iter().collect(), now_ms()).await
    }

    async fn claim_work(&self, now: i64, limit: usize) -> Result<Vec<Job>, LedgerError> {
        self.claim(now, limit).await
    }

    async fn claim_delivery(&self, id: DeliveryId, now: i64) -> Result<Taken, LedgerError> {
        self.claim_one(&id, now).await
    }

    async fn request_life(
        &self,
        repository: RepoName,
        path: RequestPath,
    ) -> Result<Option<crate::life::request::RequestLife>, LedgerError> {
        self.read_request_life(&repository, &path).await
    }

    async fn put_request_life(
        &self,
        life: crate::life::request::RequestLife,
    ) -> Result<(), LedgerError> {
        self.write_request_life(&life).await
    }

    async fn take_lease(
        &self,
        name: String,
        holder: String,
        now: i64,
        until: i64,
    ) -> Result<Option<Option<String>>, LedgerError> {
        self.take(&name, &holder, now, until).await
    }

    async fn release_lease(
        &self,
        name: String,
        holder: String,
        value: Option<String>,
    ) -> Result<(), LedgerError> {
        self.give_back(&name, &holder, value).await
    }

    async fn lease_pass(
        &self,
        pass: super::Pass,
        now: i64,
        until: i64,
    ) -> Result<bool, LedgerError> {
        let take = Change::default()
            .set("holder", s(self.me()))
            .set("until", n(until))
            .when(
                "attribute_not_exists(#holder) OR #until < :now OR #holder = :me",
                &["holder", "until"],
                vec![(":now", n(now)), (":me", s(self.me()))],
            );
        let key = key(format!("PASS#{}", pass.as_str()), "LEASE");
        Ok(self.transact(vec![self.update(key, take)?]).await?.is_ok())
    }

    async fn overdue(&self, before: i64) -> Result<Vec<Job>, LedgerError> {
        let q = Query::list(delivery_list(DeliveryState::Queued), Some(due_by(before)));
        self.query_all(&q)
            .await?
            .iter()
            .map(|item| {
                let row = DeliveryRow::read(item)?;
                Ok(Job {
                    id: row.id,
                    event: row.event,
                    attempts: row.attempts,
                    received_at_ms: row.received_at,
                })
            })
            .collect()
    }

    async fn finish_work(
        &self,
        id: DeliveryId,
        finish: Finish,
        now: i64,
    ) -> Result<(), LedgerError> {
        self.finish(id, finish, now).await
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, LedgerError> {
        self.next_due().await
    }

    async fn stats(&self) -> Result<Stats, LedgerError> {
        self.counted().await
    }

    async fn oldest_queued_ms(&self) -> Result<Option<i64>, LedgerError> {
        let q = Query::list(delivery_list(DeliveryState::Queued), None);
        let mut oldest: Option<i64> = None;
        for item in self.query_all(&q).await? {
            let received = DeliveryRow::read(&item)?.received_at;
            oldest = Some(oldest.map_or(received, |o| o.min(received)));
        }
        Ok(oldest)
    }

    async fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryStatus>, LedgerError> {
        let Some(item) = self.get(delivery_key(&id)).await? else {
            return Ok(None);
        };
        let row = DeliveryRow::read(&item)?;
        Ok(Some(DeliveryStatus {
            state: row.state,
            attempts: row.attempts,
            last_error: row.last_error,
            received_at_ms: row.received_at,
        }))
    }

    async fn pushers(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Sender>, LedgerError> {
        let q = Query {
            index: Some(BY_PR),
            condition: "#ppk = :pr",
            names: &[
                ("#ppk", BY_PR_PK),
                ("#event", "event"),
                ("#action", "action"),
                ("#sid", "sender_id"),
            ],
            values: vec![
                (":pr", s(pr_list(&repository, pr))),
                (":event", s("pull_request")),
                (":action", s("synchronize")),
            ],
            filter: Some("#event = :event AND #action = :action AND attribute_exists(#sid)"),
        };
        let mut senders = Vec::new();
        for item in self.query_all(&q).await? {
            if let Some(sender) = DeliveryRow::read(&item)?.event.sender {
                senders.push((sender.id, sender.login));
            }
        }
        senders.sort();
        senders.dedup();
        Ok(senders
            .into_iter()
            .map(|(id, login)| Sender { id, login })
            .collect())
    }

    async fn claim_intent(&self, intent: Intent) -> Result<Claim, LedgerError> {
        let now = now_ms();
        let what = || format!("the intent for {}", intent.path);
        match self.create_or_get(new_intent(&intent, now), what).await? {
            None => Ok(Claim::New(Intent {
                state: IntentState::Pending,
                updated_at_ms: now,
                ..intent
            })),
            Some(item) => Ok(Claim::Existing(read_intent(&item)?)),
        }
    }

    async fn advance_intent(&self, intent: Intent, from: IntentState) -> Result<(), LedgerError> {
        let key = intent_key(&intent.repository, intent.pr, &intent.path);
        let stamped = Intent {
            updated_at_ms: now_ms(),
            ..intent
        };
        let mut change = Change::default();
        for (attr, value) in intent_fields(&stamped) {
            change = change.set_or_remove(attr, value);
        }
        self.move_from(key, change, from.as_str())
            .await?
            .map_err(|found| LedgerError::Conflict {
                path: stamped.path,
                expected: from,
                found,
            })
    }

    async fn intents_of_pr(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Intent>, LedgerError> {
        let q = Query {
            index: None,
            condition: "#pk = :pk",
            names: &[("#pk", PK)],
            values: vec![(":pk", intents_pk(&repository, pr))],
            filter: None,
        };
        self.query_all(&q).await?.iter().map(read_intent).collect()
    }

    async fn all_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        use IntentState::*;
        let mut found = self
            .intents_in(&[Pending, Creating, Stored, Issued, NotIssued])
            .await?;
        // Least recently changed first, then by path (the table keeps no creation time).
        found.sort_by(|(_, a), (_, b)| (a.updated_at_ms, &a.path).cmp(&(b.updated_at_ms, &b.path)));
        Ok(found.into_iter().map(|(_, i)| i).collect())
    }

    async fn unfinished_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        use IntentState::*;
        let mut found = self.intents_in(&[Pending, Creating, Stored]).await?;
        // Oldest first: the index orders each state by creation time.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found.into_iter().map(|(_, i)| i).collect())
    }

    async fn note(&self, key: NoteKey) -> Result<Option<String>, LedgerError> {
        match self.get(note_key(&key)).await? {
            Some(item) => Ok(Some(get_s(&item, "value")?.to_string())),
            None => Ok(None),
        }
    }

    async fn set_note(&self, key: NoteKey, value: String) -> Result<(), LedgerError> {
        let mut item = note_key(&key);
        item.insert("value".into(), s(value));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| dynamo_error("PutItem", self.table(), &e))?;
        Ok(())
    }

    async fn watermark(&self) -> Result<Watermark, LedgerError> {
        self.read_watermark().await
    }

    async fn settle_watermark(&self, at_ms: i64) -> Result<Watermark, LedgerError> {
        self.settle(at_ms).await
    }

    async fn catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
    ) -> Result<Option<CatchUpProgress>, LedgerError> {
        self.progress(&repository, &branch).await
    }

    async fn record_catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
        progress: CatchUpProgress,
    ) -> Result<(), LedgerError> {
        self.move_progress(&repository, &branch, progress).await
    }

    async fn without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> Result<Vec<PrNumber>, LedgerError> {
        self.which_without_requests(&repository, &prs).await
    }

    async fn record_without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> Result<(), LedgerError> {
        self.add_without_requests(&repository, &prs).await
    }

    async fn knows_merge(&self, repository: RepoName, pr: PrNumber) -> Result<bool, LedgerError> {
        if !self.intents_of_pr(repository.clone(), pr).await?.is_empty() {
            return Ok(true);
        }
        let q = Query {
            index: Some(BY_PR),
            condition: "#ppk = :pr",
            names: &[("#ppk", BY_PR_PK), ("#work", "work")],
            values: vec![
                (":pr", s(pr_list(&repository, pr))),
                (":closed", s(crate::event::Work::Settle.as_str())),
            ],
            filter: Some("#work = :closed"),
        };
        Ok(!self.query_all(&q).await?.is_empty())
    }

    async fn claim_rotation(
        &self,
        rotation: crate::ledger::Rotation,
    ) -> Result<crate::ledger::RotationClaim, LedgerError> {
        self.claim_rotation_item(rotation).await
    }

    async fn advance_rotation(
        &self,
        rotation: crate::ledger::Rotation,
        from: crate::ledger::RotationState,
    ) -> Result<(), LedgerError> {
        self.advance_rotation_item(rotation, from).await
    }

    async fn unfinished_rotations(&self) -> Result<Vec<crate::ledger::Rotation>, LedgerError> {
        use crate::ledger::RotationState::*;
        self.rotations_in(&[Pending, Creating, Stored]).await
    }

    async fn all_rotations(&self) -> Result<Vec<crate::ledger::Rotation>, LedgerError> {
        use crate::ledger::RotationState::*;
        self.rotations_in(&[Pending, Creating, Stored, Done]).await
    }

    async fn keys_to_sweep(&self) -> Result<Vec<KeyLife>, LedgerError> {
        self.lives_to_sweep().await
    }

    async fn key_life(&self, access_key_id: AccessKeyId) -> Result<Option<KeyLife>, LedgerError> {
        self.life(&access_key_id).await
    }

    async fn record_lifecycle_step(
        &self,
        life: KeyLife,
        from: Progress,
    ) -> Result<(), LedgerError> {
        self.record_step(life, from).await
    }
}
