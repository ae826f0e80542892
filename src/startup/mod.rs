//! The one builder (STYLE): settings → AWS clients → ledger → work queue → workflow →
//! runner, the same for every command that runs keygate's work (`serve`, `lambda`,
//! `reconcile`, `sweep`, `revoke`), and the same [`aws`] and ledger openers for those that
//! only read or check (`audit`, `doctor`, `init`). `serve`'s own start (recovery, the first
//! passes, timers, the source of work, the router, signals) is in [`serve`]. No rules and no
//! routes here.

mod serve;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::aws::Aws;
use crate::config::{QueueBackend, Settings, StoreBackend};
use crate::github::client::GitHubApp;
use crate::ids::{BranchName, RepoName};
use crate::ledger::{Ledger, Role, Store};
use crate::life::{LifecycleRules, SecretDeletion, Timing};
use crate::metrics::Metrics;
use crate::policy::approval::ApprovalRules;
use crate::queue::{SqsQueue, WorkQueue};
use crate::runner::{Handler, LocalSettings, RetryPolicy, RunSettings, Runner};
use crate::workflow::{Workflow, WorkflowSettings};

pub use serve::{catch_up_pass, run, run_with, sweep_pass};

/// What a command that runs keygate's work is made of, built once from its settings.
pub struct App {
    pub ledger: Ledger,
    pub queue: WorkQueue,
    pub workflow: Arc<Workflow>,
    /// The one runner every source of work hands deliveries to.
    pub runner: Runner,
}

impl App {
    /// Builds the app for `role`: `serve` (and Lambda) open the ledger, creating a SQLite
    /// one, resume what a stop interrupted and check the configured queue; `reconcile` opens
    /// an existing ledger, resumes, and announces on the configured queue; `sweep` and
    /// `revoke` open an existing ledger (`revoke` beside a running `serve`) and run in
    /// process. A missing table, queue or ledger is an error that names it.
    pub async fn build(settings: &Settings, aws: Aws, role: Role) -> anyhow::Result<App> {
        let (ledger, queue) = App::open(settings, &aws, role).await?;
        App::assemble(settings, aws, ledger, queue)
    }

    /// The ledger and the queue for `role`, as [`App::build`] opens them: a caller with
    /// other round trips to make (Lambda reads the App's secrets) makes them meanwhile.
    pub async fn open(
        settings: &Settings,
        aws: &Aws,
        role: Role,
    ) -> anyhow::Result<(Ledger, WorkQueue)> {
        Ok(match role {
            Role::Serve => tokio::try_join!(open_ledger(settings, aws), open_queue(settings, aws))?,
            Role::Reconcile => {
                let ledger = open_existing_ledger(settings, aws, role).await?;
                resume(&ledger).await?;
                (ledger, open_queue(settings, aws).await?)
            }
            _ => (
                open_existing_ledger(settings, aws, role).await?,
                WorkQueue::local(),
            ),
        })
    }

    /// The workflow and the runner over an opened `ledger` and `queue` ([`App::open`]);
    /// the settings' secrets must be in place by now.
    pub fn assemble(
        settings: &Settings,
        aws: Aws,
        ledger: Ledger,
        queue: WorkQueue,
    ) -> anyhow::Result<App> {
        let workflow = Arc::new(build_workflow(
            settings,
            aws,
            ledger.clone(),
            queue.clone(),
        )?);
        let runner = Runner {
            ledger: ledger.clone(),
            handler: handler(workflow.clone()),
            settings: run_settings(settings),
        };
        Ok(App {
            ledger,
            queue,
            workflow,
            runner,
        })
    }
}

/// AWS as the environment says (the SDK's credential chain and region, `AWS_ENDPOINT_URL`):
/// the one place a command loads it.
pub async fn aws() -> Aws {
    Aws::from_env().await
}

/// How transient errors are retried (DESIGN §3.4).
pub fn retry(settings: &Settings) -> RetryPolicy {
    RetryPolicy {
        retry_for: settings.server.retry_for(),
        max_attempts: settings.server.max_attempts,
    }
}

/// How the runner runs and retries an attempt.
pub fn run_settings(settings: &Settings) -> RunSettings {
    RunSettings {
        retry: retry(settings),
        first_backoff: Duration::from_secs(1),
        max_backoff: settings.server.max_backoff(),
    }
}

/// How the in-process queue looks for work; `poll` for due retries.
pub fn local_settings(settings: &Settings, poll: Duration) -> LocalSettings {
    LocalSettings {
        concurrency: settings.server.concurrency as usize,
        poll,
        orphan_sweep: Duration::from_secs(30),
    }
}

/// The workflow with its own [`Metrics`] that its GitHub and AWS clients count into.
pub fn build_workflow(
    settings: &Settings,
    aws: Aws,
    ledger: Ledger,
    queue: WorkQueue,
) -> anyhow::Result<Workflow> {
    let metrics = Metrics::new();
    let service = settings.service()?;
    let github = GitHubApp::new(
        &settings.github.api_url,
        service.app_id,
        service.private_key,
    )?
    .with_metrics(metrics.clone());
    Ok(Workflow {
        github,
        // One member per account of `[accounts]` (DESIGN §9), counted with the rest.
        aws: aws
            .with_metrics(metrics.clone())
            .with_chat_notices(settings.aws.chat_notices)
            .with_accounts(&settings.accounts),
        metrics,
        ledger,
        queue,
        settings: WorkflowSettings {
            repository: RepoName::new(service.repository.to_string()),
            branch: BranchName::new(settings.github.branch.clone()),
            rules: settings
                .request_rules()
                .compile()
                .map_err(anyhow::Error::msg)?,
            approval: ApprovalRules {
                min_approvals: settings.policy.min_approvals,
                approval_ttl_hours: u64::from(settings.policy.approval_ttl_hours),
                request_ttl_hours: u64::from(settings.policy.request_ttl_hours),
                require_verified_commits: settings.policy.require_verified_commits,
            },
            sns_topic_arn: service.sns_topic_arn.to_string(),
            kms_key_id: settings.aws.kms_key_id.clone(),
            retry: retry(settings),
            max_requests_per_pr: settings.policy.max_requests_per_pr,
            lifecycle: lifecycle_rules(settings),
        },
    })
}

/// `[lifecycle]` as the lifecycle steps use it.
pub fn lifecycle_rules(settings: &Settings) -> LifecycleRules {
    LifecycleRules {
        timing: Timing {
            warn_days: settings.lifecycle.warn_days,
            delete_after_days: settings.lifecycle.delete_after_days,
            unused_days: settings.lifecycle.unused_days,
        },
        deletion: SecretDeletion::from_days(settings.lifecycle.secret_recovery_days),
        reconcile_since: settings.lifecycle.reconcile_since,
        rotation_overlap_hours: settings.lifecycle.rotation_overlap_hours,
    }
}

/// The runner's handler: each delivery runs on the shared workflow.
fn handler(workflow: Arc<Workflow>) -> Handler {
    Arc::new(move |job| {
        let wf = workflow.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = wf.handle(job).await;
            wf.metrics.work_done(started.elapsed());
            result
        })
    })
}

/// The DynamoDB table `store.table` names (the configuration check already requires it
/// with `store.backend = "dynamodb"`).
pub fn dynamo_table(settings: &Settings) -> anyhow::Result<&str> {
    settings
        .store
        .table
        .as_deref()
        .context("store.table is required when store.backend = \"dynamodb\"")
}

/// The configured work queue: in process, or the SQS FIFO queue `queue.url` names,
/// checked to exist (never created here, DESIGN §8).
pub async fn open_queue(settings: &Settings, aws: &Aws) -> anyhow::Result<WorkQueue> {
    match (settings.queue.backend, settings.queue.url.as_deref()) {
        (QueueBackend::Local, _) => Ok(WorkQueue::local()),
        (QueueBackend::Sqs, Some(url)) => Ok(WorkQueue::Sqs(Box::new(
            SqsQueue::open(aws.clone(), url).await?,
        ))),
        (QueueBackend::Sqs, None) => {
            anyhow::bail!("queue.url is required when queue.backend = \"sqs\"")
        }
    }
}

/// Opens (and creates, when SQLite) the configured ledger for `serve`, and puts back in the
/// queue what a stop interrupted.
pub async fn open_ledger(settings: &Settings, aws: &Aws) -> anyhow::Result<Ledger> {
    let (ledger, requeued) = match settings.store.backend {
        StoreBackend::Sqlite => {
            let ledger = Ledger::open_sqlite(&settings.store.path).with_context(|| {
                format!(
                    "cannot open the ledger at {}",
                    settings.store.path.display()
                )
            })?;
            let requeued = ledger.resume_interrupted().await?;
            (ledger, requeued)
        }
        StoreBackend::Dynamodb => {
            let table = dynamo_table(settings)?;
            // Never created here (DESIGN §8): a missing table is a start-up error.
            let (ledger, requeued) = Ledger::open_dynamo_resuming(aws.dynamodb(), table)
                .await
                .context("cannot open the ledger")?;
            (ledger.with_lease(settings.queue.lease()), requeued)
        }
    };
    resumed(requeued);
    Ok(ledger)
}

/// Puts back in the queue what a stop interrupted.
async fn resume(ledger: &Ledger) -> anyhow::Result<()> {
    resumed(ledger.resume_interrupted().await?);
    Ok(())
}

/// Says how many deliveries a stop had interrupted, if any.
fn resumed(requeued: usize) {
    if requeued > 0 {
        tracing::warn!(
            requeued,
            "resuming deliveries that were in flight when keygate stopped"
        );
    }
}

/// The ledger a command works on: it must exist (`serve` creates the SQLite file, `keygate
/// init` the DynamoDB table), so a mistyped `store.path` or `store.table` never starts an
/// empty ledger whose creation time would move the watermark. `role` says how a SQLite
/// ledger is opened beside a running `serve` (DESIGN §5).
pub async fn open_existing_ledger(
    settings: &Settings,
    aws: &Aws,
    role: Role,
) -> anyhow::Result<Ledger> {
    if settings.store.backend == StoreBackend::Dynamodb {
        let table = dynamo_table(settings)?;
        // A missing table is an error that names it and `keygate init`.
        return Ledger::open_dynamo(aws.dynamodb(), table)
            .await
            .context("cannot open the ledger");
    }
    let path = &settings.store.path;
    if !path.exists() {
        anyhow::bail!(
            "there is no ledger at {} (store.path): keygate serve creates it; check the configuration",
            path.display()
        );
    }
    Ledger::open_sqlite_as(path, role)
        .with_context(|| format!("cannot open the ledger at {}", path.display()))
}
