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

    /// Opens the DynamoDB ledger and puts back in the queue what a stop interrupted (how
    /// many): one round on a warm table ([`DynamoLedger::open_resuming`]).
    pub async fn open_dynamo_resuming(
        client: aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(Ledger, usize), LedgerError> {
        // Boxed, as every DynamoDB call is here: the SDK's futures are large.
        let (ledger, requeued) = Box::pin(DynamoLedger::open_resuming(client, table)).await?;
        Ok((Ledger::Dynamo(ledger), requeued))
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

/// Implements [`Store`] for [`Ledger`]: each method, written once here as its name, its
/// arguments and what it returns, calls the same method of the backend in use.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl Store for Ledger {
            $(
                async fn $method(&self, $($arg: $ty),*) -> Result<$out, LedgerError> {
                    delegate!(self, b => b.$method($($arg),*))
                }
            )*
        }
    };
}

forward! {
    record_delivery(d: NewDelivery) -> Inserted;
    record_push(d: NewDelivery) -> bool;
    resume_interrupted() -> usize;
    requeue_orphans(keep: Vec<DeliveryId>) -> usize;
    claim_work(now_ms: i64, limit: usize) -> Vec<Job>;
    claim_delivery(id: DeliveryId, now_ms: i64) -> Taken;
    overdue(before_ms: i64) -> Vec<Job>;
    lease_pass(pass: Pass, now_ms: i64, until_ms: i64) -> bool;
    finish_work(id: DeliveryId, finish: Finish, now_ms: i64) -> ();
    next_due_ms() -> Option<i64>;
    stats() -> Stats;
    oldest_queued_ms() -> Option<i64>;
    delivery(id: DeliveryId) -> Option<DeliveryStatus>;
    pushers(repository: RepoName, pr: PrNumber) -> Vec<Sender>;
    claim_intent(intent: Intent) -> Claim;
    advance_intent(intent: Intent, from: IntentState) -> ();
    intents_of_pr(repository: RepoName, pr: PrNumber) -> Vec<Intent>;
    unfinished_intents() -> Vec<Intent>;
    all_intents() -> Vec<Intent>;
    note(key: NoteKey) -> Option<String>;
    set_note(key: NoteKey, value: String) -> ();
    keys_to_sweep() -> Vec<KeyLife>;
    key_life(access_key_id: AccessKeyId) -> Option<KeyLife>;
    record_lifecycle_step(life: KeyLife, from: Progress) -> ();
    claim_rotation(rotation: Rotation) -> RotationClaim;
    advance_rotation(rotation: Rotation, from: RotationState) -> ();
    unfinished_rotations() -> Vec<Rotation>;
    all_rotations() -> Vec<Rotation>;
    request_life(repository: RepoName, path: RequestPath) -> Option<RequestLife>;
    put_request_life(life: RequestLife) -> ();
    take_lease(name: String, holder: String, now_ms: i64, until_ms: i64) -> Option<Option<String>>;
    release_lease(name: String, holder: String, value: Option<String>) -> ();
    watermark() -> Watermark;
    settle_watermark(at_ms: i64) -> Watermark;
    catch_up_progress(repository: RepoName, branch: BranchName) -> Option<CatchUpProgress>;
    record_catch_up_progress(repository: RepoName, branch: BranchName, progress: CatchUpProgress)
        -> ();
    without_requests(repository: RepoName, prs: Vec<PrNumber>) -> Vec<PrNumber>;
    record_without_requests(repository: RepoName, prs: Vec<PrNumber>) -> ();
    knows_merge(repository: RepoName, pr: PrNumber) -> bool;
}
