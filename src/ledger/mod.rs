//! The durable record: webhook deliveries and issuance intents (DESIGN §3, §4).
//!
//! All writes go through one thread that owns the store. Deliveries arriving together are
//! committed in one transaction (group commit), so every accepted delivery is on disk
//! before its `202` without paying one fsync per request.

mod sqlite;

use std::path::Path;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::oneshot;

pub use sqlite::SqliteStore;

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
}

/// A delivery as the work needs it: converted at the edge, not the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub guid: String,
    pub event: String,
    pub action: String,
    pub repository: String,
    pub installation_id: u64,
    pub pr_number: u64,
    pub received_at_ms: i64,
}

impl NewDelivery {
    /// Which handler the delivery goes to: deliveries of one kind for one pull request do
    /// the same work, reading the pull request afresh.
    pub fn kind(&self) -> &'static str {
        if self.event == "pull_request" && self.action == "closed" {
            "closed"
        } else {
            "activity"
        }
    }
}

/// What writing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// New and queued (or a failed delivery queued again): the worker has work.
    Queued,
    /// New, stored, and covered by a queued delivery of the same work.
    Coalesced,
    /// The GUID was seen before.
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
    pub guid: String,
    pub event: String,
    pub action: String,
    pub repository: String,
    pub installation_id: u64,
    pub pr_number: u64,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub enum Finish {
    Done,
    Retry { at_ms: i64, error: String },
    Failed { error: String },
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

/// Identifies one request of one pull request: the idempotency key of DESIGN §3.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IntentKey {
    pub repository: String,
    pub pr_number: u64,
    pub path: String,
}

impl IntentKey {
    /// A stable token for AWS `ClientRequestToken` (32–64 characters).
    pub fn token(&self) -> String {
        use aws_lc_rs::digest;
        let d = digest::digest(
            &digest::SHA256,
            format!(
                "{}\n{}\n{}",
                self.repository.to_lowercase(),
                self.pr_number,
                self.path
            )
            .as_bytes(),
        );
        hex::encode(&d.as_ref()[..24])
    }
}

/// Where an issuance stands. Each step is written before the next AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentState {
    /// Claimed; no key created yet.
    Pending,
    /// `CreateAccessKey` may have run: a key may exist without its secret.
    Creating,
    /// Key and secret exist; people are being told.
    Stored,
    /// Done: key issued and announced.
    Issued,
    /// Nothing issued (refused, failed, rolled back).
    NotIssued,
    /// The key was deleted (expired or revoked).
    Retired,
}

impl IntentState {
    fn as_str(self) -> &'static str {
        match self {
            IntentState::Pending => "pending",
            IntentState::Creating => "creating",
            IntentState::Stored => "stored",
            IntentState::Issued => "issued",
            IntentState::NotIssued => "not_issued",
            IntentState::Retired => "retired",
        }
    }
    fn parse(s: &str) -> IntentState {
        match s {
            "pending" => IntentState::Pending,
            "creating" => IntentState::Creating,
            "stored" => IntentState::Stored,
            "issued" => IntentState::Issued,
            "retired" => IntentState::Retired,
            _ => IntentState::NotIssued,
        }
    }
}

/// The ledger row for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Intent {
    pub repository: String,
    pub pr_number: u64,
    pub path: String,
    pub state: Option<IntentState>,
    pub iam_user: String,
    pub requester: String,
    pub approvers: String,
    pub installation_id: u64,
    /// The user's access key IDs just before `CreateAccessKey`, comma-separated: after a
    /// crash, a key not among them is the one this intent created.
    pub keys_before: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_name: Option<String>,
    pub secret_arn: Option<String>,
    pub expires_at: Option<String>,
    pub outcome: Option<String>,
    pub updated_at_ms: i64,
}

impl Intent {
    pub fn key(&self) -> IntentKey {
        IntentKey {
            repository: self.repository.clone(),
            pr_number: self.pr_number,
            path: self.path.clone(),
        }
    }
    pub fn state(&self) -> IntentState {
        self.state.unwrap_or(IntentState::Pending)
    }
}

/// The storage behind the ledger. SQLite implements it; a shared store for several
/// replicas (DynamoDB with conditional writes) implements the same calls.
pub trait Store: Send {
    /// Inserts each new delivery; `true` where it was new (or had failed and is queued again,
    /// as GitHub's "Redeliver" sends the same GUID), `false` for a repeated GUID.
    fn insert_deliveries(&mut self, batch: &[NewDelivery]) -> Result<Vec<Inserted>, LedgerError>;
    /// Puts deliveries that were running when the process stopped back in the queue.
    fn requeue_running(&mut self) -> Result<usize, LedgerError>;
    /// Puts `running` deliveries back in the queue except those in `keep` (the ones this
    /// process is working on): a row whose outcome could not be written must not stay
    /// `running`, which would block its pull request until a restart.
    fn requeue_orphans(&mut self, keep: &[String]) -> Result<usize, LedgerError>;
    fn claim_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<Job>, LedgerError>;
    fn finish(&mut self, guid: &str, finish: &Finish, now_ms: i64) -> Result<(), LedgerError>;
    fn next_due_ms(&mut self) -> Result<Option<i64>, LedgerError>;
    fn stats(&mut self) -> Result<Stats, LedgerError>;
    fn delivery_state(
        &mut self,
        guid: &str,
    ) -> Result<Option<(String, u32, Option<String>)>, LedgerError>;
    /// Claims an intent: `Ok(None)` when newly claimed, `Ok(Some(existing))` otherwise.
    fn claim_intent(&mut self, intent: &Intent) -> Result<Option<Intent>, LedgerError>;
    fn save_intent(&mut self, intent: &Intent) -> Result<(), LedgerError>;
    fn intents(&mut self, filter: IntentFilter) -> Result<Vec<Intent>, LedgerError>;
    /// A remembered value (comment and check-run ids).
    fn get_note(&mut self, key: &str) -> Result<Option<String>, LedgerError>;
    fn set_note(&mut self, key: &str, value: &str) -> Result<(), LedgerError>;
}

#[derive(Debug, Clone)]
pub enum IntentFilter {
    Pr { repository: String, pr_number: u64 },
    Unfinished,
}

type Work = Box<dyn FnOnce(&mut dyn Store) + Send>;

enum Cmd {
    Insert(NewDelivery, oneshot::Sender<Result<Inserted, String>>),
    Run(Work),
}

/// Handle to the ledger; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Cmd>,
}

/// Largest group commit.
const MAX_BATCH: usize = 512;

impl Ledger {
    /// Opens (creating and migrating) the SQLite ledger at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Ledger, LedgerError> {
        let store = SqliteStore::open(path)?;
        Ok(Ledger::with_store(Box::new(store)))
    }

    /// Starts the writer thread over any store.
    pub fn with_store(mut store: Box<dyn Store>) -> Ledger {
        let (tx, rx) = mpsc::channel::<Cmd>();
        std::thread::Builder::new()
            .name("keygate-ledger".into())
            .spawn(move || writer(&mut *store, rx))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the ledger thread"));
        Ledger { tx }
    }

    /// Writes a delivery durably.
    pub async fn insert(&self, d: NewDelivery) -> Result<Inserted, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Insert(d, reply))
            .map_err(|_| LedgerError::Closed)?;
        match rx.await {
            Ok(Ok(new)) => Ok(new),
            Ok(Err(e)) => Err(LedgerError::Write(e)),
            Err(_) => Err(LedgerError::Closed),
        }
    }

    /// Runs `f` on the writer thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (reply, rx) = oneshot::channel();
        let work: Work = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        self.tx
            .send(Cmd::Run(work))
            .map_err(|_| LedgerError::Closed)?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    pub async fn stats(&self) -> Result<Stats, LedgerError> {
        self.run(|s| s.stats()).await
    }
}

fn writer(store: &mut dyn Store, rx: mpsc::Receiver<Cmd>) {
    let mut pending_runs: Vec<Work> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut inserts = Vec::new();
        match first {
            Cmd::Insert(d, r) => inserts.push((d, r)),
            Cmd::Run(w) => pending_runs.push(w),
        }
        // Whatever else is already waiting joins this commit.
        while inserts.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Cmd::Insert(d, r)) => inserts.push((d, r)),
                Ok(Cmd::Run(w)) => pending_runs.push(w),
                Err(_) => break,
            }
        }
        if !inserts.is_empty() {
            let (batch, replies): (Vec<_>, Vec<_>) = inserts.into_iter().unzip();
            match store.insert_deliveries(&batch) {
                Ok(results) => {
                    for (reply, new) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(new));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(msg.clone()));
                    }
                }
            }
        }
        for w in pending_runs.drain(..) {
            w(store);
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open_sqlite(&dir.path().join("l.db")).unwrap();
        (dir, ledger)
    }

    async fn claim(ledger: &Ledger, at_ms: i64, limit: usize) -> Vec<Job> {
        ledger
            .run(move |s| s.claim_due(at_ms, limit))
            .await
            .unwrap()
    }

    /// A review delivery: the same pull request as `delivery`, other work.
    fn review(guid: &str) -> NewDelivery {
        NewDelivery {
            event: "pull_request_review".into(),
            action: "submitted".into(),
            ..delivery(guid)
        }
    }

    fn delivery(guid: &str) -> NewDelivery {
        NewDelivery {
            guid: guid.into(),
            event: "pull_request".into(),
            action: "closed".into(),
            repository: "acme/access-requests".into(),
            installation_id: 1,
            pr_number: 7,
            received_at_ms: now_ms(),
        }
    }

    #[tokio::test]
    async fn a_repeated_delivery_guid_is_stored_once() {
        let (_dir, ledger) = fresh();
        assert!(ledger.insert(delivery("a")).await.unwrap().is_new());
        assert!(!ledger.insert(delivery("a")).await.unwrap().is_new());
        assert_eq!(ledger.stats().await.unwrap().queued, 1);
    }

    #[tokio::test]
    async fn a_failed_delivery_sent_again_is_queued_again() {
        let (_dir, ledger) = fresh();
        ledger.insert(delivery("a")).await.unwrap();
        let now = now_ms();
        claim(&ledger, now, 1).await;
        ledger
            .run(move |s| {
                s.finish(
                    "a",
                    &Finish::Failed {
                        error: "403".into(),
                    },
                    now,
                )
            })
            .await
            .unwrap();
        assert!(
            ledger.insert(delivery("a")).await.unwrap().is_new(),
            "queued again"
        );
        let state = ledger
            .run(|s| s.delivery_state("a"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((state.0.as_str(), state.1), ("queued", 0));
    }

    #[tokio::test]
    async fn concurrent_inserts_are_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let ledger = Ledger::open_sqlite(&path).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let l = ledger.clone();
            let mut d = delivery(&format!("g{i}"));
            d.pr_number = i;
            tasks.push(tokio::spawn(async move { l.insert(d).await }));
        }
        for t in tasks {
            assert!(t.await.unwrap().unwrap().is_new());
        }
        drop(ledger);
        let reopened = Ledger::open_sqlite(&path).unwrap();
        assert_eq!(reopened.stats().await.unwrap().queued, 200);
    }

    #[tokio::test]
    async fn claimed_work_that_was_running_at_a_crash_is_queued_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let ledger = Ledger::open_sqlite(&path).unwrap();
        ledger.insert(delivery("a")).await.unwrap();
        let jobs = ledger.run(|s| s.claim_due(now_ms(), 10)).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].attempts, 1);
        // Nothing else is due while it runs.
        assert!(
            ledger
                .run(|s| s.claim_due(now_ms(), 10))
                .await
                .unwrap()
                .is_empty()
        );
        drop(ledger);
        let ledger = Ledger::open_sqlite(&path).unwrap();
        assert_eq!(ledger.run(|s| s.requeue_running()).await.unwrap(), 1);
        let again = ledger.run(|s| s.claim_due(now_ms(), 10)).await.unwrap();
        assert_eq!(again[0].attempts, 2);
    }

    #[tokio::test]
    async fn deliveries_of_one_pull_request_never_run_side_by_side() {
        let (_dir, ledger) = fresh();
        ledger.insert(delivery("a")).await.unwrap();
        let review = review("b");
        ledger.insert(review).await.unwrap();
        let mut other = delivery("c");
        other.pr_number = 8;
        ledger.insert(other).await.unwrap();
        let now = now_ms();
        let first = claim(&ledger, now, 10).await;
        let mut prs: Vec<u64> = first.iter().map(|j| j.pr_number).collect();
        prs.sort();
        assert_eq!(prs, [7, 8], "one per pull request");
        assert!(claim(&ledger, now, 10).await.is_empty());
        let guid = first
            .iter()
            .find(|j| j.pr_number == 7)
            .unwrap()
            .guid
            .clone();
        ledger
            .run(move |s| s.finish(&guid, &Finish::Done, now))
            .await
            .unwrap();
        assert_eq!(claim(&ledger, now, 10).await.len(), 1);
    }

    #[tokio::test]
    async fn a_delivery_behind_an_unstarted_one_for_the_same_work_is_coalesced() {
        let (_dir, ledger) = fresh();
        assert!(ledger.insert(delivery("a")).await.unwrap().is_new());
        assert!(
            ledger.insert(delivery("b")).await.unwrap().is_new(),
            "stored and answered 202"
        );
        let review = review("c");
        assert!(ledger.insert(review).await.unwrap().is_new());
        let state = |g: &'static str| {
            let l = ledger.clone();
            async move {
                l.run(move |s| s.delivery_state(g))
                    .await
                    .unwrap()
                    .unwrap()
                    .0
            }
        };
        assert_eq!(state("b").await, "coalesced", "a's work covers b");
        assert_eq!(state("c").await, "queued", "other work is not coalesced");
        assert!(
            !ledger.insert(delivery("b")).await.unwrap().is_new(),
            "still deduplicated"
        );
        // Once a has started, a new delivery queues behind it; a retry waiting in the queue
        // takes later ones in and starts its attempts over.
        let now = now_ms();
        claim(&ledger, now, 10).await;
        assert!(ledger.insert(delivery("d")).await.unwrap().is_new());
        assert_eq!(state("d").await, "queued");
        let later = now + 60_000;
        ledger
            .run(move |s| {
                s.finish(
                    "a",
                    &Finish::Retry {
                        at_ms: later,
                        error: "502".into(),
                    },
                    now,
                )
            })
            .await
            .unwrap();
        assert!(ledger.insert(delivery("e")).await.unwrap().is_new());
        assert_eq!(state("e").await, "coalesced");
        // If the work it joined fails for good, so does it, and GitHub's Redeliver of it
        // (the same GUID) queues it again.
        let due = now + 120_000;
        claim(&ledger, due, 10).await;
        ledger
            .run(move |s| {
                s.finish(
                    "a",
                    &Finish::Failed {
                        error: "404".into(),
                    },
                    due,
                )
            })
            .await
            .unwrap();
        assert_eq!(state("e").await, "failed");
        assert!(ledger.insert(delivery("e")).await.unwrap().is_new());
        assert_eq!(state("e").await, "queued");
    }

    #[tokio::test]
    async fn orphaned_running_deliveries_are_queued_again_but_live_ones_are_kept() {
        let (_dir, ledger) = fresh();
        let mut other = delivery("b");
        other.pr_number = 8;
        ledger.insert(delivery("a")).await.unwrap();
        ledger.insert(other).await.unwrap();
        let now = now_ms();
        assert_eq!(claim(&ledger, now, 10).await.len(), 2);
        let n = ledger
            .run(|s| s.requeue_orphans(&["a".to_string()]))
            .await
            .unwrap();
        assert_eq!(n, 1);
        let state = ledger
            .run(|s| s.delivery_state("b"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.0, "queued");
        let state = ledger
            .run(|s| s.delivery_state("a"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.0, "running");
    }

    #[tokio::test]
    async fn a_retry_waits_until_its_time() {
        let (_dir, ledger) = fresh();
        ledger.insert(delivery("a")).await.unwrap();
        let now = now_ms();
        claim(&ledger, now, 1).await;
        let later = now + 60_000;
        ledger
            .run(move |s| {
                s.finish(
                    "a",
                    &Finish::Retry {
                        at_ms: later,
                        error: "502".into(),
                    },
                    now,
                )
            })
            .await
            .unwrap();
        assert!(claim(&ledger, now, 1).await.is_empty());
        assert_eq!(ledger.run(|s| s.next_due_ms()).await.unwrap(), Some(later));
        assert_eq!(claim(&ledger, later, 1).await.len(), 1);
    }

    #[tokio::test]
    async fn an_intent_is_claimed_once() {
        let (_dir, ledger) = fresh();
        let intent = Intent {
            repository: "acme/r".into(),
            pr_number: 3,
            path: "requests/alice/ci.toml".into(),
            iam_user: "alice".into(),
            ..Intent::default()
        };
        let i2 = intent.clone();
        assert!(
            ledger
                .run(move |s| s.claim_intent(&i2))
                .await
                .unwrap()
                .is_none()
        );
        let i3 = intent.clone();
        let existing = ledger
            .run(move |s| s.claim_intent(&i3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(existing.state(), IntentState::Pending);
        assert_eq!(existing.iam_user, "alice");
    }

    #[test]
    fn the_idempotency_token_is_stable_and_fits_aws_limits() {
        let k = IntentKey {
            repository: "Acme/R".into(),
            pr_number: 3,
            path: "requests/a/b.toml".into(),
        };
        let t = k.token();
        assert_eq!(t.len(), 48);
        let lower = IntentKey {
            repository: "acme/r".into(),
            ..k.clone()
        };
        assert_eq!(t, lower.token());
    }
}
