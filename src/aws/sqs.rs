//! The SQS FIFO work queue's calls (DESIGN §8), counted like every other AWS call. What a
//! message means and what to do with it is `queue`'s; this only talks to SQS.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::{Aws, AwsError};

/// A message as `ReceiveMessage` hands it over.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub receipt: String,
    /// How often SQS handed this message out, this time included.
    pub receive_count: u32,
}

/// What keygate reads of a queue: enough to check it is the queue it needs.
#[derive(Debug, Clone, Default)]
pub struct QueueFacts {
    pub arn: Option<String>,
    pub fifo: bool,
    pub visibility_timeout_secs: Option<u32>,
    /// The redrive policy's dead-letter queue, if the queue has one.
    pub dead_letter_arn: Option<String>,
    pub max_receive_count: Option<u32>,
    /// Messages waiting (`ApproximateNumberOfMessages`).
    pub waiting: u64,
    /// Messages received and not yet deleted (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
}

/// One message to send: its body and the FIFO keys.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: String,
    pub group: String,
    pub dedupe: String,
}

impl Aws {
    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    /// Reads the queue's attributes; `NotFound` (code `AWS.SimpleQueueService.NonExistentQueue`
    /// or `QueueDoesNotExist`) when there is no such queue.
    pub async fn queue_facts(&self, url: &str) -> Result<QueueFacts, AwsError> {
        let ask = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send();
        let out = self.call("GetQueueAttributes", ask).await?;
        let attrs = out.attributes().cloned().unwrap_or_default();
        let get = |name: QueueAttributeName| attrs.get(&name).cloned();
        let number = |name| get(name).and_then(|v| v.parse::<u64>().ok());
        let redrive: Option<serde_json::Value> =
            get(QueueAttributeName::RedrivePolicy).and_then(|v| serde_json::from_str(&v).ok());
        Ok(QueueFacts {
            arn: get(QueueAttributeName::QueueArn),
            fifo: get(QueueAttributeName::FifoQueue).as_deref() == Some("true"),
            visibility_timeout_secs: number(QueueAttributeName::VisibilityTimeout)
                .map(|v| v as u32),
            dead_letter_arn: redrive
                .as_ref()
                .and_then(|r| r.get("deadLetterTargetArn"))
                .and_then(|v| v.as_str())
                .map(str::to_string),
            max_receive_count: redrive
                .as_ref()
                .and_then(|r| r.get("maxReceiveCount"))
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                .map(|v| v as u32),
            waiting: number(QueueAttributeName::ApproximateNumberOfMessages).unwrap_or(0),
            in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .unwrap_or(0),
        })
    }

    /// The URL of the queue called `name` in this account and region, `None` if there is none.
    pub async fn queue_url(&self, name: &str) -> Result<Option<String>, AwsError> {
        let ask = self.sqs().get_queue_url().queue_name(name).send();
        match self.call("GetQueueUrl", ask).await {
            Ok(out) => Ok(out.queue_url().map(str::to_string)),
            Err(e) if is_no_queue(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a FIFO queue with `attributes` (for `keygate init`); an existing queue with the
    /// same attributes is returned as it is.
    pub async fn create_fifo_queue(
        &self,
        name: &str,
        attributes: HashMap<QueueAttributeName, String>,
    ) -> Result<String, AwsError> {
        let mut attrs = attributes;
        attrs.insert(QueueAttributeName::FifoQueue, "true".into());
        let ask = self
            .sqs()
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attrs))
            .send();
        let out = self.call("CreateQueue", ask).await?;
        out.queue_url()
            .map(str::to_string)
            .ok_or_else(|| AwsError::keygate("CreateQueue", "EmptyResponse", "no queue URL".into()))
    }

    pub async fn send_message(&self, url: &str, m: Outgoing) -> Result<(), AwsError> {
        let ask = self
            .sqs()
            .send_message()
            .queue_url(url)
            .message_body(m.body)
            .message_group_id(m.group)
            .message_deduplication_id(m.dedupe)
            .send();
        self.call("SendMessage", ask).await.map(|_| ())
    }

    /// Up to `max` messages (1–10), waiting up to `wait_secs` for the first; each is hidden
    /// from other receivers for `visibility_secs`.
    pub async fn receive_messages(
        &self,
        url: &str,
        max: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Received>, AwsError> {
        let ask = self
            .sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs)
            .visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        let out = self.call("ReceiveMessage", ask).await?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    body: m.body()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    receive_count,
                })
            })
            .collect())
    }

    pub async fn delete_message(&self, url: &str, receipt: &str) -> Result<(), AwsError> {
        let ask = self
            .sqs()
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send();
        self.call("DeleteMessage", ask).await.map(|_| ())
    }

    /// Hides a received message for `secs` from now (0: visible again at once); SQS allows
    /// at most 12 hours.
    pub async fn hide_message(&self, url: &str, receipt: &str, secs: i32) -> Result<(), AwsError> {
        let ask = self
            .sqs()
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(secs.clamp(0, MAX_VISIBILITY_SECS))
            .send();
        self.call("ChangeMessageVisibility", ask).await.map(|_| ())
    }
}

/// SQS's ceiling on a message's visibility timeout: 12 hours.
pub const MAX_VISIBILITY_SECS: i32 = 43_200;

/// Whether SQS said the queue does not exist.
pub fn is_no_queue(e: &AwsError) -> bool {
    matches!(
        e.code(),
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}
