//! The durable record: webhook deliveries, issuance intents and the notes keygate keeps of
//! what it told people (DESIGN §3, §4).
//!
//! [`Store`] is the contract every backend keeps, in methods named for what they mean;
//! [`Ledger`] is the handle the rest of keygate holds. SQLite is the embedded backend,
//! DynamoDB the shared one (DESIGN §8); the tests (`tests.rs`) run through the trait, so every
//! backend passes the same suite.

mod care;
mod catchup;
pub mod dynamo;
mod handle;
#[cfg(test)]
mod moto;
mod note;
mod sqlite;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use time::OffsetDateTime;

use crate::event::{PrEvent, Sender};
use crate::ids::{
    AccessKeyId, AccountAlias, BranchName, DeliveryId, IamUser, InstallationId, PrNumber, RepoName,
    RequestPath, SecretName,
};
use crate::life::Progress;
use crate::life::request::RequestLife;

pub use care::{KeyCare, KeyOrigin, Leak, Rotation, RotationClaim, RotationState};
pub use catchup::{CatchUpProgress, Watermark};
pub use dynamo::DynamoLedger;
pub use handle::Ledger;
pub use note::NoteKey;
pub use sqlite::{BackupReport, LOCK_WAIT, Role, SqliteLedger, backup};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the ledger was created by a newer keygate (schema {found}, this one knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("cannot write to the ledger: {0}")]
    Write(String),
    #[error("the ledger is closed")]
    Closed,
    #[error("cannot create the ledger's folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    /// Another worker moved the intent since it was read: this one must not act on it.
    #[error(
        "the intent for {path} is `{found}`, not `{expected}` as read; another worker moved it"
    )]
    Conflict {
        path: RequestPath,
        expected: IntentState,
        found: String,
    },
    /// Another worker wrote the request's life since it was read: read it again.
    #[error("the life of request {path} moved since it was read; another worker acts on it")]
    LifeMoved { path: RequestPath },
    /// Another worker moved the rotation since it was read: this one must not act on it.
    #[error(
        "the rotation of key {access_key_id} is `{found}`, not `{expected}` as read; another worker moved it"
    )]
    RotationMoved {
        access_key_id: AccessKeyId,
        expected: RotationState,
        found: String,
    },
    /// Another worker moved the key's life since it was read: this one must not act on it.
    #[error(
        "the life of key {access_key_id} moved since it was read (now {found}); another worker acts on it"
    )]
    Moved {
        access_key_id: AccessKeyId,
        found: String,
    },
    #[error("DynamoDB {operation} on table `{table}` failed: {message}")]
    Dynamo {
        operation: &'static str,
        table: String,
        message: String,
    },
    #[error(
        "the DynamoDB table `{table}` (store.table) does not exist; create it with `keygate init`"
    )]
    MissingTable { table: String },
    #[error("the DynamoDB table `{table}` (store.table) cannot hold the ledger: {problem}")]
    NotALedger { table: String, problem: String },
    #[error("the ledger holds a value this keygate cannot read: {0}")]
    Corrupt(String),
    /// A ledger another keygate holds has an older schema than this keygate, which must not
    /// migrate it under that keygate.
    #[error(
        "the ledger's schema is version {found}, older than this keygate's ({known}), and another keygate has it open: upgrade that keygate first (it migrates the ledger when it starts), or run this command with the keygate that has it open"
    )]
    NotMigrated { found: i64, known: i64 },
    /// Another process holds the ledger: one process per SQLite ledger.
    #[error(
        "the ledger {path} is in use by another keygate ({holder}); stop it first, or give this one its own store.path"
    )]
    Locked { path: String, holder: String },
}

/// A scheduled pass (DESIGN §8): each runs on one replica at a time, under a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The expiry sweep (DESIGN §5).
    Sweep,
    /// Catch-up (DESIGN §5).
    Reconcile,
}

impl Pass {
    pub const ALL: [Pass; 2] = [Pass::Sweep, Pass::Reconcile];

    /// Its name, as the schedule and the ledger's lease spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Sweep => "sweep",
            Pass::Reconcile => "reconcile",
        }
    }
}

/// A delivery as the work needs it: converted at the edge, not the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub event: PrEvent,
    pub received_at_ms: i64,
}

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// New and queued (or a failed delivery queued again): the worker has work.
    Queued,
    /// New, stored, and covered by a queued delivery of the same work.
    Coalesced,
    /// The delivery ID was seen before.
    Duplicate,
}

impl Inserted {
    /// Accepted now (202), as opposed to seen before (200).
    pub fn is_new(self) -> bool {
        self != Inserted::Duplicate
    }
}

/// A delivery claimed for work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: DeliveryId,
    pub event: PrEvent,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// When the delivery was accepted: transient errors are retried for a time from here.
    pub received_at_ms: i64,
}

/// What asking for one named delivery found: a queue message names the delivery, and the
/// ledger, not the queue, says whether it is this process's to run now (DESIGN §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Claimed by this process: run it and record its outcome.
    Job(Job),
    /// Queued, but a retry waits until `at_ms`.
    NotDue { at_ms: i64 },
    /// It, or another delivery of its pull request, is running on a live lease: look again
    /// about `until_ms`.
    Busy { until_ms: i64 },
    /// Nothing to run: done, failed, covered by another delivery, or unknown.
    Over,
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub enum Finish {
    Done,
    Retry { at_ms: i64, error: String },
    Failed { error: String },
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    /// Stored, and covered by a queued delivery of the same work.
    Coalesced,
    Running,
    Done,
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Coalesced => "coalesced",
            DeliveryState::Running => "running",
            DeliveryState::Done => "done",
            DeliveryState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Result<DeliveryState, LedgerError> {
        [
            DeliveryState::Queued,
            DeliveryState::Coalesced,
            DeliveryState::Running,
            DeliveryState::Done,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| LedgerError::Corrupt(format!("delivery state `{s}`")))
    }
}

/// One delivery's record, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When it was accepted (again, for a failed delivery redelivered).
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

/// Identifies one request of one pull request: the idempotency key of DESIGN §3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntentKey {
    pub repository: RepoName,
    pub pr: PrNumber,
    pub path: RequestPath,
}

/// Where an issuance stands. Each step is written before the next AWS call, and an intent
/// moves only from the state it was read in ([`Store::advance_intent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentState {
    /// Claimed; no key created yet.
    #[default]
    Pending,
    /// `CreateAccessKey` may have run: a key may exist without its secret.
    Creating,
    /// Key and secret exist; people are being told.
    Stored,
    /// Done: key issued and announced.
    Issued,
    /// Nothing issued (refused, failed, rolled back).
    NotIssued,
}

impl IntentState {
    fn as_str(self) -> &'static str {
        match self {
            IntentState::Pending => "pending",
            IntentState::Creating => "creating",
            IntentState::Stored => "stored",
            IntentState::Issued => "issued",
            IntentState::NotIssued => "not_issued",
        }
    }
    fn parse(s: &str) -> Result<IntentState, LedgerError> {
        [
            IntentState::Pending,
            IntentState::Creating,
            IntentState::Stored,
            IntentState::Issued,
            IntentState::NotIssued,
        ]
        .into_iter()
        .find(|i| i.as_str() == s)
        .ok_or_else(|| LedgerError::Corrupt(format!("intent state `{s}`")))
    }
}

impl fmt::Display for IntentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ledger row for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub repository: RepoName,
    pub pr: PrNumber,
    pub path: RequestPath,
    pub state: IntentState,
    pub iam_user: IamUser,
    pub requester: String,
    pub approvers: Vec<String>,
    pub installation: InstallationId,
    /// The user's access key IDs just before `CreateAccessKey`: after a crash, a key not
    /// among them is the one this intent created.
    pub keys_before: Option<Vec<AccessKeyId>>,
    pub access_key_id: Option<AccessKeyId>,
    pub secret_name: Option<SecretName>,
    pub secret_arn: Option<String>,
    /// When the key expires, decided at issue.
    pub expires_at: Option<OffsetDateTime>,
    pub outcome: Option<String>,
    /// When the pull request merged (GitHub's clock): a deletion merged at or after it ends
    /// this request's key (DESIGN §5, one life per request). `None` in earlier ledgers.
    pub merged_at: Option<OffsetDateTime>,
    /// The `ClientRequestToken` of the secret's first version: random, recorded before
    /// `CreateSecret`, so nobody can plant a secret keygate would take for its own (§3).
    pub secret_token: Option<String>,
    /// When its key was made, how often it rotates, its fingerprint (DESIGN §10).
    pub origin: KeyOrigin,
    /// The AWS account the key is issued in (DESIGN §9), written when the intent is
    /// claimed; `None`: keygate's own account.
    pub account: Option<AccountAlias>,
    pub updated_at_ms: i64,
}

impl Intent {
    /// A fresh, pending intent for one request file.
    pub fn new(key: IntentKey, installation: InstallationId) -> Intent {
        Intent {
            repository: key.repository,
            pr: key.pr,
            path: key.path,
            state: IntentState::Pending,
            iam_user: IamUser::new(String::new()),
            requester: String::new(),
            approvers: Vec::new(),
            installation,
            keys_before: None,
            access_key_id: None,
            secret_name: None,
            secret_arn: None,
            expires_at: None,
            outcome: None,
            merged_at: None,
            secret_token: None,
            origin: KeyOrigin::default(),
            account: None,
            updated_at_ms: 0,
        }
    }

    pub fn key(&self) -> IntentKey {
        IntentKey {
            repository: self.repository.clone(),
            pr: self.pr,
            path: self.path.clone(),
        }
    }
}

/// What claiming an intent found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had claimed this request: the caller owns it now, in `Pending`.
    New(Intent),
    /// Claimed before (by an earlier attempt or delivery), as it stands now.
    Existing(Intent),
}

impl Claim {
    pub fn into_intent(self) -> Intent {
        match self {
            Claim::New(i) | Claim::Existing(i) => i,
        }
    }
}

/// Who ended a key's life early, and why (DESIGN §5, revocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The operator (AWS caller identity, else the local user) or the merger's pull request.
    pub by: String,
    pub reason: String,
    /// The pull request whose merge revoked it, when one did.
    pub pr: Option<PrNumber>,
}

/// An issued key's life after issuing (DESIGN §5), as the ledger keeps it. Keyed by the
/// access key ID: a key found only through its secret's `keygate:access-key-id` tag (its
/// intent lost) has a life too, without `installation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLife {
    pub access_key_id: AccessKeyId,
    /// The AWS account the key lives in (DESIGN §9); `None`: keygate's own account. Every
    /// step of its life acts there.
    pub account: Option<AccountAlias>,
    pub iam_user: IamUser,
    pub secret_name: Option<SecretName>,
    /// The expiry recorded at issue.
    pub expires_at: Option<OffsetDateTime>,
    /// The request that issued it.
    pub request: IntentKey,
    /// When that request's pull request merged, if the ledger knows.
    pub request_merged_at: Option<OffsetDateTime>,
    pub requester: String,
    /// The installation that issued it: needed to comment on its pull request.
    pub installation: Option<InstallationId>,
    pub progress: Progress,
    pub revocation: Option<Revocation>,
    /// Written once with its first record: when it was made, its rotation, its fingerprint.
    pub origin: KeyOrigin,
    /// Its successor, its unused warning, a leak (DESIGN §10); written with each step.
    pub care: KeyCare,
    pub updated_at_ms: i64,
}

/// The contract of a ledger backend. Every method is one durable step: when it returns `Ok`,
/// what it wrote survives a crash.
pub trait Store: Send + Sync {
    /// Records a delivery before it is answered `202`. A repeated delivery ID is
    /// `Duplicate`, except that a delivery that had failed for good is queued again (GitHub's
    /// "Redeliver" sends the same ID).
    fn record_delivery(
        &self,
        delivery: NewDelivery,
    ) -> impl Future<Output = Result<Inserted, LedgerError>> + Send;

    /// At start: puts the deliveries that were running when the process stopped back in the
    /// queue, and (on a ledger one process holds) ends the leases it held. Returns how many
    /// deliveries.
    fn resume_interrupted(&self) -> impl Future<Output = Result<usize, LedgerError>> + Send;

    /// Puts `running` deliveries back in the queue except those in `keep` (the ones this
    /// process is working on): a delivery whose outcome could not be written must not stay
    /// `running`, which would block its pull request until a restart.
    fn requeue_orphans(
        &self,
        keep: Vec<DeliveryId>,
    ) -> impl Future<Output = Result<usize, LedgerError>> + Send;

    /// Claims up to `limit` due deliveries, never two of one pull request at once, nor one
    /// whose pull request already has a delivery running.
    fn claim_work(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Job>, LedgerError>> + Send;

    /// Claims the delivery `id` when it is queued, due and its pull request has nothing
    /// running; a running delivery whose lease lapsed is taken over. What a queue message
    /// asks for, so a message that comes twice or late runs nothing twice.
    fn claim_delivery(
        &self,
        id: DeliveryId,
        now_ms: i64,
    ) -> impl Future<Output = Result<Taken, LedgerError>> + Send;

    /// Queued deliveries that were due by `before_ms`, oldest first, with their attempts so
    /// far: with an external queue, work whose message was lost or never sent.
    fn overdue(&self, before_ms: i64)
    -> impl Future<Output = Result<Vec<Job>, LedgerError>> + Send;

    /// Takes the lease on the scheduled pass `pass` (the expiry sweep, catch-up) for this
    /// handle until `until_ms`: `true` when it is this handle's now (it was free, had lapsed,
    /// or was already this handle's), `false` while another handle holds it. So each pass
    /// runs on one replica at a time, and on another once its runner dies.
    fn lease_pass(
        &self,
        pass: Pass,
        now_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

    /// Records what became of an attempt. A delivery that fails for good takes the
    /// deliveries coalesced into it along.
    fn finish_work(
        &self,
        id: DeliveryId,
        finish: Finish,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// When the next claimable delivery is due, if any.
    fn next_due_ms(&self) -> impl Future<Output = Result<Option<i64>, LedgerError>> + Send;

    fn stats(&self) -> impl Future<Output = Result<Stats, LedgerError>> + Send;
    /// When the oldest delivery still queued (new or waiting for a retry) was received (ms
    /// since the epoch); `None` when nothing is queued. Its age tells an operator the worker
    /// is stuck before the queue's depth does.
    fn oldest_queued_ms(&self) -> impl Future<Output = Result<Option<i64>, LedgerError>> + Send;

    fn delivery(
        &self,
        id: DeliveryId,
    ) -> impl Future<Output = Result<Option<DeliveryStatus>, LedgerError>> + Send;

    /// Records a `synchronize` of a pull request of the repository whose base is another
    /// branch (DESIGN §2.4): done at once, no work queued; its sender is among the
    /// [`Store::pushers`] of the pull request from then on, so a pull request retargeted to
    /// the configured branch later still knows who pushed while it pointed elsewhere. One
    /// write. `false` when the delivery ID was recorded before.
    fn record_push(
        &self,
        delivery: NewDelivery,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

    /// The senders of the `synchronize` deliveries recorded for a pull request: accounts
    /// GitHub says pushed to it.
    fn pushers(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> impl Future<Output = Result<Vec<Sender>, LedgerError>> + Send;

    /// Claims the request `intent` names, by insert: whoever inserted owns it.
    fn claim_intent(
        &self,
        intent: Intent,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send;

    /// Writes `intent` (its new state and fields) only if the stored intent is still in
    /// `from`, the state it was read in; otherwise [`LedgerError::Conflict`].
    fn advance_intent(
        &self,
        intent: Intent,
        from: IntentState,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// The intents of one pull request, by path.
    fn intents_of_pr(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> impl Future<Output = Result<Vec<Intent>, LedgerError>> + Send;

    /// Every intent, oldest first: what `keygate audit` joins with the history of the
    /// requests folder.
    fn all_intents(&self) -> impl Future<Output = Result<Vec<Intent>, LedgerError>> + Send;

    /// Intents a crash may have left mid-way (`pending`, `creating`, `stored`), oldest first.
    fn unfinished_intents(&self) -> impl Future<Output = Result<Vec<Intent>, LedgerError>> + Send;

    fn note(
        &self,
        key: NoteKey,
    ) -> impl Future<Output = Result<Option<String>, LedgerError>> + Send;

    fn set_note(
        &self,
        key: NoteKey,
        value: String,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    // --- DESIGN §5: the life of issued keys, and catch-up ---

    /// Every key keygate issued whose life is not over ([`Progress::is_over`]), the keys
    /// rotations made included: the access
    /// key of each `stored` or `issued` intent, joined with its life (active when none was
    /// recorded yet), and every recorded life whose intent is gone. Oldest first.
    fn keys_to_sweep(&self) -> impl Future<Output = Result<Vec<KeyLife>, LedgerError>> + Send;

    /// One key's life as [`Store::keys_to_sweep`] builds it, whatever its stage (also over);
    /// `None` when keygate has no record of the key.
    fn key_life(
        &self,
        access_key_id: AccessKeyId,
    ) -> impl Future<Output = Result<Option<KeyLife>, LedgerError>> + Send;

    /// Writes `life` (its progress, revocation and care; its identity and origin when the
    /// key has no record yet) only if the stored progress is still `from`, as read. A key with no
    /// record counts as [`Progress::ACTIVE`]. Otherwise [`LedgerError::Moved`]. A step is
    /// written begun (`pending`) before its AWS calls and finished after them.
    fn record_lifecycle_step(
        &self,
        life: KeyLife,
        from: Progress,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    // --- DESIGN §10: rotations in place ---

    /// Claims the rotation of `rotation.access_key_id`, by insert: whoever inserted owns it.
    fn claim_rotation(
        &self,
        rotation: Rotation,
    ) -> impl Future<Output = Result<RotationClaim, LedgerError>> + Send;

    /// Writes `rotation` only if the stored one is still in `from`, the state it was read
    /// in; otherwise [`LedgerError::RotationMoved`].
    fn advance_rotation(
        &self,
        rotation: Rotation,
        from: RotationState,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Rotations not `done`, oldest first: what a pass resumes.
    fn unfinished_rotations(
        &self,
    ) -> impl Future<Output = Result<Vec<Rotation>, LedgerError>> + Send;

    /// Every rotation, oldest first: what `keygate audit` shows.
    fn all_rotations(&self) -> impl Future<Output = Result<Vec<Rotation>, LedgerError>> + Send;

    // --- DESIGN §5: one life per request, §3: one issuance per IAM user ---

    /// The life of the request file at `path`, or `None` before its first write.
    fn request_life(
        &self,
        repository: RepoName,
        path: RequestPath,
    ) -> impl Future<Output = Result<Option<RequestLife>, LedgerError>> + Send;

    /// Writes `life` only if the stored version is still `life.version` (0: none stored);
    /// the stored version becomes one more. Otherwise [`LedgerError::LifeMoved`].
    fn put_request_life(
        &self,
        life: RequestLife,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Takes the lease `name` for `holder` until `until_ms` when it is free, lapsed or
    /// already `holder`'s: `Some` with the value its last holder left, else `None`.
    fn take_lease(
        &self,
        name: String,
        holder: String,
        now_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<Option<Option<String>>, LedgerError>> + Send;

    /// Gives the lease `name` up, leaving `value` for its next holder; a lease `holder` no
    /// longer holds is left alone.
    fn release_lease(
        &self,
        name: String,
        holder: String,
        value: Option<String>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// When this ledger was created: catch-up never reaches back before it, and no pull
    /// request merged before it issues a key. It never moves, but once from this host's
    /// clock to GitHub's ([`Store::settle_watermark`]).
    fn watermark(&self) -> impl Future<Output = Result<Watermark, LedgerError>> + Send;

    /// Puts a watermark still on this host's clock on GitHub's: `at_ms` (the creation time
    /// GitHub's clock gives) becomes the watermark, once; a watermark on GitHub's clock is
    /// left as it is. Returns the watermark as it stands after.
    fn settle_watermark(
        &self,
        at_ms: i64,
    ) -> impl Future<Output = Result<Watermark, LedgerError>> + Send;

    /// How far catch-up got for `branch` of `repository`, if a pass ever finished.
    fn catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
    ) -> impl Future<Output = Result<Option<CatchUpProgress>, LedgerError>> + Send;

    /// Records how far a finished pass got. Progress only moves forward: a `through_ms` at or
    /// before the one recorded (another pass got further) is left alone.
    fn record_catch_up_progress(
        &self,
        repository: RepoName,
        branch: BranchName,
        progress: CatchUpProgress,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Which of `prs` catch-up found to touch no request file (merged pull requests, which
    /// never change again): they are not read again.
    fn without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> impl Future<Output = Result<Vec<PrNumber>, LedgerError>> + Send;

    /// Records merged pull requests found to touch no request file, in one write or a few.
    /// Recording one again changes nothing.
    fn record_without_requests(
        &self,
        repository: RepoName,
        prs: Vec<PrNumber>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Whether the ledger knows the merge of this pull request: a `closed` delivery was
    /// recorded for it (in any state), or an intent. Catch-up leaves such a one alone.
    fn knows_merge(
        &self,
        repository: RepoName,
        pr: PrNumber,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A time as both backends store it: RFC 3339, to the second, in UTC.
pub(crate) fn time_text(t: OffsetDateTime) -> String {
    use time::format_description::well_known::Rfc3339;
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A stored time read back. One that does not parse (an edit by hand) is logged and read as
/// unknown, as the sweep always treated it: the secret's expiry tag still applies.
pub(crate) fn stored_time(text: Option<String>) -> Option<OffsetDateTime> {
    let text = text?;
    let parsed = crate::life::parse_time(&text);
    if parsed.is_none() {
        tracing::warn!(stored = %text, "a time in the ledger is not RFC 3339; read as unknown");
    }
    parsed
}

/// A time both backends store as seconds since the epoch, read back.
pub(crate) fn seconds(v: Option<i64>) -> Option<OffsetDateTime> {
    v.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}

/// A list both backends store comma-separated, read back.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A merge both backends store as its pull request and time (seconds), read back.
pub(crate) fn stored_mark(
    pr: Option<i64>,
    at: Option<i64>,
) -> Option<crate::life::request::MergeMark> {
    Some(crate::life::request::MergeMark {
        pr: PrNumber(pr? as u64),
        merged_at: seconds(at)?,
    })
}

/// Access key IDs as both backends store a list of them (`keys_before`): joined by commas
/// (an access key ID holds none).
pub(crate) fn joined(keys: &[AccessKeyId]) -> String {
    crate::ids::joined(keys, ",")
}

/// Access key IDs stored by [`joined`], read back.
pub(crate) fn split_keys(s: &str) -> Vec<AccessKeyId> {
    split_list(s).into_iter().map(AccessKeyId::new).collect()
}
