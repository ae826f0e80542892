//! The only place that uses GitHub, AWS and the ledger together: fetch the facts, decide
//! with pure code (`policy`), act, and tell people (`render`).

pub mod catchup;
mod check;
mod gather;
mod issue;
pub mod leak;
pub(crate) mod life;
mod merge_group;
mod outage;
pub mod render;
mod revoke;
pub mod rotate;
pub mod sweep;

use std::sync::Arc;

use crate::aws::{Aws, AwsError};
use crate::event::{NoticeEvent, Work};
use crate::github::client::{GitHubApp, GitHubError, PullInfo, RepoClient};
use crate::ids::{AccountAlias, BranchName, CommitSha, PrNumber, RepoName, RequestPath};
use crate::ledger::{Job, Ledger, LedgerError, NoteKey, Store};
use crate::policy::approval::ApprovalRules;
use crate::request::CompiledRules;
use crate::runner::{Handler, JobError, RetryPolicy};

pub use issue::recover_intents;

/// What the workflow needs from the configuration.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub repository: RepoName,
    pub branch: BranchName,
    pub rules: CompiledRules,
    pub approval: ApprovalRules,
    pub sns_topic_arn: String,
    pub kms_key_id: Option<String>,
    /// The worker's retry policy: the workflow announces a failure only on the last attempt.
    pub retry: RetryPolicy,
    /// `policy.max_requests_per_pr`: more request files refuse the pull request unread.
    pub max_requests_per_pr: u32,
    /// `[lifecycle]`: how revoked and expired keys' secrets are deleted (DESIGN §5).
    pub lifecycle: crate::life::LifecycleRules,
}

pub struct Workflow {
    pub github: GitHubApp,
    pub aws: Aws,
    pub ledger: Ledger,
    /// Where catch-up puts the work it finds (the worker's wake-up, or SQS).
    pub queue: crate::queue::WorkQueue,
    /// The counters `GET /metrics` shows (issuances are counted as intents reach an end).
    pub metrics: crate::metrics::Metrics,
    pub settings: WorkflowSettings,
}

/// Errors of one attempt, classified for the retry decision.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Whether a step happened is not known yet (IAM is eventually consistent): look again.
    #[error("{0}")]
    Uncertain(String),
    /// A failure in one AWS account whose outcome the pull request's comment and notices
    /// tell already, beside the other accounts' work (DESIGN §9): the attempt ends as the
    /// inner error says, and nothing more is written about it.
    #[error(transparent)]
    Told(Box<StepError>),
}

impl From<crate::queue::AcceptError> for StepError {
    fn from(e: crate::queue::AcceptError) -> StepError {
        match e {
            crate::queue::AcceptError::Ledger(e) => StepError::Ledger(e),
            crate::queue::AcceptError::Queue(e) => StepError::Aws(e),
        }
    }
}

impl StepError {
    pub fn is_transient(&self) -> bool {
        match self {
            StepError::GitHub(e) => e.is_transient(),
            StepError::Aws(e) => e.is_transient(),
            StepError::Ledger(_) | StepError::Uncertain(_) => true,
            StepError::Told(e) => e.is_transient(),
        }
    }
}

impl From<StepError> for JobError {
    fn from(e: StepError) -> JobError {
        if matches!(&e, StepError::GitHub(g) if g.is_rate_limited()) {
            JobError::RateLimited(e.to_string())
        } else if e.is_transient() {
            JobError::Transient(e.to_string())
        } else {
            JobError::Permanent(e.to_string())
        }
    }
}

impl Workflow {
    /// The AWS clients that act in `account` (DESIGN §9): keygate's own for `None`, else
    /// that member's. Every IAM and Secrets Manager call about a key goes through here with
    /// the key's account (its intent's, its life's); SNS and the ledger stay in keygate's
    /// own account.
    pub(crate) fn aws_in(&self, account: Option<&AccountAlias>) -> Result<&Aws, StepError> {
        Ok(self.aws.in_account(account)?)
    }

    pub fn into_handler(self) -> Handler {
        let me = Arc::new(self);
        Arc::new(move |job: Job| {
            let me = me.clone();
            Box::pin(async move { me.handle(job).await })
        })
    }

    pub async fn handle(&self, job: Job) -> Result<(), JobError> {
        if job.event.activity.work() == Work::Contain {
            // A leak, from any repository the App is installed on (DESIGN §10).
            return leak::on_github_alert(self, &job)
                .await
                .map_err(JobError::from);
        }
        let gh = self
            .github
            .repo(
                job.event.installation.get(),
                self.settings.repository.as_str(),
            )
            .map_err(StepError::from)?;
        let result = match job.event.activity.work() {
            Work::Settle => issue::on_closed(self, &gh, &job).await,
            Work::Refresh => check::on_activity(self, &gh, &job)
                .await
                .map_err(JobError::from),
            Work::Group => merge_group::on_checks_requested(self, &gh, &job)
                .await
                .map_err(JobError::from),
            Work::Contain => Ok(()),
        };
        match result {
            // Wait for GitHub's rate limit to reset rather than spend retries against it.
            Err(JobError::RateLimited(message)) => match gh.rate_limit_reset().await {
                Ok(Some(reset)) => Err(JobError::NotBefore {
                    until_ms: reset.saturating_mul(1000),
                    message,
                }),
                _ => Err(JobError::Transient(message)),
            },
            other => other,
        }
    }

    /// Creates or edits keygate's one comment on the pull request.
    pub(crate) async fn put_comment(
        &self,
        gh: &RepoClient,
        pr: PrNumber,
        body: &str,
    ) -> Result<(), StepError> {
        let id = self.find_comment(gh, pr).await?;
        self.write_comment(gh, pr, body, id).await
    }

    /// keygate's comment on the pull request, if it has one: the ledger's note of it, or
    /// else the App's own comment among the pull request's (a GitHub round, which a caller
    /// that knows it will comment can run beside its other reads).
    pub(crate) async fn find_comment(
        &self,
        gh: &RepoClient,
        pr: PrNumber,
    ) -> Result<Option<u64>, StepError> {
        let known = self.ledger.note(self.comment_note(pr)).await?;
        if let Some(id) = known.and_then(|v| v.parse::<u64>().ok()) {
            return Ok(Some(id));
        }
        // Only the App's own bot account writes keygate's comment: a marker in a comment by
        // anyone else (e.g. `github-actions[bot]`) is not ours.
        let (me, comments) = tokio::try_join!(
            async { Ok::<_, StepError>(self.github.bot_login().await?) },
            async { Ok::<_, StepError>(gh.comments(pr.get()).await?) },
        )?;
        Ok(comments
            .into_iter()
            .find(|c| c.author == me && c.body.starts_with(render::COMMENT_MARKER))
            .map(|c| c.id))
    }

    /// Edits keygate's comment `id` as [`Workflow::find_comment`] found it, or creates one
    /// (and notes it) when there is none or it was deleted. Only while nothing else wrote
    /// keygate's comment since it was looked for: one job of a pull request at a time.
    pub(crate) async fn write_comment(
        &self,
        gh: &RepoClient,
        pr: PrNumber,
        body: &str,
        id: Option<u64>,
    ) -> Result<(), StepError> {
        let needs_new = match id {
            Some(id) => match gh.update_comment(id, body).await {
                Ok(()) => false,
                // Someone deleted it: write a new one rather than lose the message.
                Err(e) if e.is_not_found() => true,
                Err(e) => return Err(e.into()),
            },
            None => true,
        };
        if needs_new {
            let id = gh.create_comment(pr.get(), body).await?;
            self.ledger
                .set_note(self.comment_note(pr), id.to_string())
                .await?;
        }
        Ok(())
    }

    fn comment_note(&self, pr: PrNumber) -> NoteKey {
        NoteKey::Comment {
            repository: self.settings.repository.clone(),
            pr,
        }
    }

    /// Who and what a notice is about.
    pub(crate) fn pr_ref<'a>(
        &'a self,
        pr: &'a PullInfo,
        approvers: &'a [String],
    ) -> render::PrRef<'a> {
        render::PrRef {
            repository: self.settings.repository.as_str(),
            number: pr.number.get(),
            url: &pr.html_url,
            requester: &pr.author.login,
            approvers,
        }
    }

    /// The key under which a notice about `path` of pull request `pr` is sent only once;
    /// `revision` when the same event may rightly be sent again for a later state.
    pub(crate) fn notice_key(
        &self,
        event: NoticeEvent,
        pr: PrNumber,
        path: &RequestPath,
        revision: Option<&CommitSha>,
    ) -> NoteKey {
        NoteKey::Notice {
            event,
            repository: self.settings.repository.clone(),
            pr,
            path: path.to_string(),
            revision: revision.map(|r| r.short().to_string()),
        }
    }

    /// Publishes `notice` once for `key`: a redelivery does not repeat it.
    pub(crate) async fn publish_once(
        &self,
        note: NoteKey,
        notice: &crate::aws::Notice,
    ) -> Result<(), StepError> {
        let seen = self.ledger.note(note.clone()).await?;
        // A crash between Publish and recording it sends the notice again (at least once);
        // the same `notice_id` on both lets a subscriber drop the repeat.
        let mut notice = notice.clone();
        notice.attributes.insert("notice_id", note.id());
        let notice = &notice;
        if seen.is_some() {
            return Ok(());
        }
        let id = self
            .aws
            .publish(&self.settings.sns_topic_arn, notice)
            .await?;
        tracing::info!(sns_message = %id, event = %notice.attributes.get("event").map(String::as_str).unwrap_or(""), "notice published");
        self.ledger.set_note(note, id).await?;
        Ok(())
    }
}

pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
