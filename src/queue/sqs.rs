//! The SQS FIFO work queue (`queue.backend = "sqs"`): announcing work, and carrying out a
//! [`Disposition`] on a received message. `serve`'s consumer and Lambda share it.

use crate::aws::sqs::{Outgoing, is_no_queue};
use crate::aws::{Aws, AwsError};

use super::{Announce, Disposition};

/// Why the configured queue cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "the SQS queue {url} (queue.url) does not exist; create it with `keygate init` or the CloudFormation template"
    )]
    Missing { url: String },
    #[error(
        "the SQS queue {url} (queue.url) is not a FIFO queue; keygate needs one (its name ends in .fifo) so that one pull request's work runs in order"
    )]
    NotFifo { url: String },
    #[error("cannot read the SQS queue {url} (queue.url): {source}")]
    Unreadable {
        url: String,
        #[source]
        source: AwsError,
    },
}

/// The work queue and its dead-letter queue.
#[derive(Clone)]
pub struct SqsQueue {
    aws: Aws,
    url: String,
    /// Where work that failed for good goes (the queue's redrive target), if it has one.
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    /// The queue `url` names, checked: it exists and is FIFO. Its redrive policy names the
    /// dead-letter queue. Nothing is created here (DESIGN §8).
    pub async fn open(aws: Aws, url: &str) -> Result<SqsQueue, QueueError> {
        let facts = match aws.queue_facts(url).await {
            Ok(f) => f,
            Err(e) if is_no_queue(&e) => {
                return Err(QueueError::Missing {
                    url: url.to_string(),
                });
            }
            Err(source) => {
                return Err(QueueError::Unreadable {
                    url: url.to_string(),
                    source,
                });
            }
        };
        if !facts.fifo {
            return Err(QueueError::NotFifo {
                url: url.to_string(),
            });
        }
        let dead_letter_url = facts
            .dead_letter_arn
            .as_deref()
            .and_then(|arn| sibling_url(url, arn));
        Ok(SqsQueue {
            aws,
            url: url.to_string(),
            dead_letter_url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dead_letter_url(&self) -> Option<&str> {
        self.dead_letter_url.as_deref()
    }

    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// Sends the message that names a queued delivery.
    pub async fn announce(&self, a: &Announce) -> Result<(), AwsError> {
        let message = Outgoing {
            body: a.body(),
            group: a.group(),
            dedupe: a.dedupe(),
        };
        self.aws.send_message(&self.url, message).await
    }

    /// Carries out `d` on the message `receipt` names, which carried `body`.
    pub async fn dispose(
        &self,
        receipt: &str,
        body: &str,
        d: &Disposition,
    ) -> Result<(), AwsError> {
        match d {
            Disposition::Delete => self.aws.delete_message(&self.url, receipt).await,
            Disposition::Hide(wait) => {
                let secs = i32::try_from(wait.as_secs()).unwrap_or(i32::MAX);
                self.aws.hide_message(&self.url, receipt, secs).await
            }
            Disposition::Replace(next) => {
                // Sent before the old one is deleted: a crash in between leaves two messages,
                // and the ledger runs the delivery once.
                self.announce(next).await?;
                self.aws.delete_message(&self.url, receipt).await
            }
            Disposition::DeadLetter { error } => {
                self.dead_letter(body, error).await?;
                self.aws.delete_message(&self.url, receipt).await
            }
        }
    }

    /// Puts a failed message's body on the dead-letter queue with the reason, for an
    /// operator (and `keygate doctor`). Without one, the ledger's `failed` record is all.
    pub async fn dead_letter(&self, body: &str, error: &str) -> Result<(), AwsError> {
        let Some(dlq) = &self.dead_letter_url else {
            return Ok(());
        };
        let announce = Announce::parse(body);
        let record = serde_json::json!({
            "message": body,
            "error": error,
        });
        let (group, dedupe) = match &announce {
            Some(a) => (a.group(), format!("{}#failed", a.dedupe())),
            None => ("unreadable".to_string(), format!("unreadable#{body}")),
        };
        let message = Outgoing {
            body: record.to_string(),
            group: super::fifo_id(&group),
            dedupe: super::fifo_id(&dedupe),
        };
        self.aws.send_message(dlq, message).await
    }
}

/// The URL of the queue `arn` names, beside the queue at `url`: a redrive target is in the
/// same account and region, so only the last path segment differs.
pub(super) fn sibling_url(url: &str, arn: &str) -> Option<String> {
    let name = arn.rsplit(':').next().filter(|n| !n.is_empty())?;
    let (base, _) = url.trim_end_matches('/').rsplit_once('/')?;
    Some(format!("{base}/{name}"))
}
