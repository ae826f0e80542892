//! The ledger keygate holds: one of the backends behind [`Store`], cheap to clone.

use std::path::Path;

use super::{
    CatchUpProgress, Claim, DeliveryStatus, DynamoLedger, Finish, Inserted, Intent, IntentState,
    Job, KeyLife, LOCK_WAIT, LedgerError, NewDelivery, NoteKey, Pass, Role, Rotation,
    RotationClaim, RotationState, SqliteLedger, Stats, Store, Taken, Watermark,
};
use crate::event::Sender;
use crate::ids::{AccessKeyId, BranchName, DeliveryId, PrNumber, RepoName, RequestPath};
use crate::life::Progress;
use crate::life::request::RequestLife;

/// The ledger keygate holds: one of the backends, cheap to clone.
#[derive(Clone)]
pub enum Ledger {
    Sqlite(SqliteLedger),
    Dynamo(DynamoLedger),
}

impl Ledger {
    /// Opens (creating and migrating) the SQLite ledger at `path`, as `keygate serve`.
    pub fn open_sqlite(path: &Path) -> Result<Ledger, LedgerError> {
        Ok(Ledger::Sqlite(SqliteLedger::open(path)?))
    }

    /// Opens the SQLite ledger at `path` for `role` ([`SqliteLedger::open_as`]).
    pub fn open_sqlite_as(path: &Path, role: Role) -> Result<Ledger, LedgerError> {
        Ok(Ledger::Sqlite(SqliteLedger::open_as(
            path, role, LOCK_WAIT,
        )?))
    }

    /// Opens the DynamoDB ledger in `table`, which `keygate init` created.
    /// Leases of `lease` on running work (DynamoDB; one process holds a SQLite ledger).
    pub fn with_lease(self, lease: std::time::Duration) -> Ledger {
        match self {
            Ledger::Dynamo(d) => Ledger::Dynamo(d.with_lease(lease)),
            other => other,
        }
    }

    pub async fn open_dynamo(
        client: aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<Ledger, LedgerError> {
        Ok(Ledger::Dynamo(DynamoLedger::open(client, table).await?))
    }
}

/// Forwards each call to the backend in use.
/// Calls the backend. DynamoDB's futures hold the SDK's and are large: boxed, so a caller's
/// future (and the stack that polls it) stays small however many ledger steps it awaits.
macro_rules! delegate {
    ($self:ident, $b:ident => $call:expr) => {
        match $self {
            Ledger::Sqlite($b) => $call.await,
            Ledger::Dynamo($b) => Box::pin($call).await,
        }
    };
}

impl Store for Ledger {
    async fn record_delivery(&self, d: NewDelivery) -> Result<Inserted, LedgerError> {
        delegate!(self, b => b.record_delivery(d))
    }
    async fn record_push(&self, d: NewDelivery) -> Result<bool, LedgerError> {
        delegate!(self, b => b.record_push(d))
    }
    async fn resume_interrupted(&self) -> Result<usize, LedgerError> {
        delegate!(self, b => b.resume_interrupted())
    }
    async fn requeue_orphans(&self, keep: Vec<DeliveryId>) -> Result<usize, LedgerError> {
        delegate!(self, b => b.requeue_orphans(keep))
    }
    async fn claim_work(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, LedgerError> {
        delegate!(self, b => b.claim_work(now_ms, limit))
    }
    async fn claim_delivery(&self, id: DeliveryId, now_ms: i64) -> Result<Taken, LedgerError> {
        delegate!(self, b => b.claim_delivery(id, now_ms))
    }
    async fn overdue(&self, before_ms: i64) -> Result<Vec<Job>, LedgerError> {
        delegate!(self, b => b.overdue(before_ms))
    }
    async fn lease_pass(
        &self,
        pass: Pass,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, LedgerError> {
        delegate!(self, b => b.lease_pass(pass, now_ms, until_ms))
    }
    async fn finish_work(
        &self,
        id: DeliveryId,
        finish: Finish,
        now_ms: i64,
    ) -> Result<(), LedgerError> {
        delegate!(self, b => b.finish_work(id, finish, now_ms))
    }
    async fn next_due_ms(&self) -> Result<Option<i64>, LedgerError> {
        delegate!(self, b => b.next_due_ms())
    }
    async fn stats(&self) -> Result<Stats, LedgerError> {
        delegate!(self, b => b.stats())
    }
    async fn oldest_queued_ms(&self) -> Result<Option<i64>, LedgerError> {
        delegate!(self, b => b.oldest_queued_ms())
    }
    async fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryStatus>, LedgerError> {
        delegate!(self, b => b.delivery(id))
    }
    async fn pushers(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Sender>, LedgerError> {
        delegate!(self, b => b.pushers(repository, pr))
    }
    async fn claim_intent(&self, intent: Intent) -> Result<Claim, LedgerError> {
        delegate!(self, b => b.claim_intent(intent))
    }
    async fn advance_intent(&self, intent: Intent, from: IntentState) -> Result<(), LedgerError> {
        delegate!(self, b => b.advance_intent(intent, from))
    }
    async fn intents_of_pr(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> Result<Vec<Intent>, LedgerError> {
        delegate!(self, b => b.intents_of_pr(repository, pr))
    }
    async fn unfinished_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        delegate!(self, b => b.unfinished_intents())
    }
    async fn all_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        delegate!(self, b => b.all_intents())
    }
    async fn note(&self, key: NoteKey) -> Result<Option<String>, LedgerError> {
        delegate!(self, b => b.note(key))
    }
    async fn set_note(&self, key: NoteKey, value: String) -> Result<(), LedgerError> {
        delegate!(self, b => b.set_note(key, value))
    }
    async fn keys_to_sweep(&self) -> Result<Vec<KeyLife>, LedgerError> {
        delegate!(self, b => b.keys_to_sweep())
    }
    async fn key_life(&self, access_key_id: AccessKeyId) -> Result<Option<KeyLife>, LedgerError> {
        delegate!(self, b => b.key_life(access_key_id))
    }
    async fn record_lifecycle_step(
        &self,
        life: KeyLife,
        from: Progress,
    ) -> Result<(), LedgerError> {
        delegate!(self, b => b.record_lifecycle_step(life, from))
    }
    async fn claim_rotation(&self, rotation: Rotation) -> Result<RotationClaim, LedgerError> {
        delegate!(self, b => b.claim_rotation(rotation))
    }
    async fn advance_rotation(
        &self,
        rotation: Rotation,
        from: RotationState,
    ) -> Result<(), LedgerError> {
        delegate!(self, b => b.advance_rotation(rotation, from))
    }
    async fn unfinished_rotations(&self) -> Result<Vec<Rotation>, LedgerError> {
        delegate!(self, b => b.unfinished_rotations())
    }
    async fn all_rotations(&self) -> Result<Vec<Rotation>, LedgerError> {
        delegate!(self, b => b.all_rotations())
    }
    async fn request_life(
        &self,
        repository: RepoName,
        path: RequestPath,
    ) -> Result<Option<RequestLife>, LedgerError> {
        delegate!(self, b => b.request_life(repository, path))
    }
    async fn put_request_life(&self, life: RequestLife) -> Result<(), LedgerError> {
        delegate!(self, b => b.put_request_life(life))
    }
    async fn take_lease(
        &self,
        name: String,
        holder: String,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<Option<String>>, LedgerError> {
        delegate!(self, b => b.take_lease(name, holder, now_ms, until_ms))
    }
    async fn release_lease(
        &self,
        name: String,
        holder: String,
        value: Option<String>,
    ) -> Result<(), LedgerError> {
        delegate!(self, b => b.release_lease(name, holder, value))
    }
    async fn watermark(&self) -> Result<Watermark, LedgerError> {
        delegate!(self, b => b.watermark())
    }
    async fn settle_watermark(&self, at_ms: i64) -> Result<Watermark, LedgerError> {
        delegate!(self, b => b.settle_watermark(at_ms))
    }
    async fn catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
    ) -> Result<Option<CatchUpProgress>, LedgerError> {
        delegate!(self, b => b.catch_up_progress(repository, branch))
    }
    async fn record_catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
        progress: CatchUpProgress,
    ) -> Result<(), LedgerError> {
        delegate!(self, b => b.record_catch_up_progress(repository, branch, progress))
    }
    async fn without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> Result<Vec<PrNumber>, LedgerError> {
        delegate!(self, b => b.without_requests(repository, prs))
    }
    async fn record_without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> Result<(), LedgerError> {
        delegate!(self, b => b.record_without_requests(repository, prs))
    }
    async fn knows_merge(&self, repository: RepoName, pr: PrNumber) -> Result<bool, LedgerError> {
        delegate!(self, b => b.knows_merge(repository, pr))
    }
}
