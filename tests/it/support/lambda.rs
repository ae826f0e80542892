//! keygate as a Lambda function for a test: the serverless mode's AWS (a DynamoDB ledger,
//! an SQS FIFO work queue with its dead-letter queue, the App's secrets in Secrets Manager)
//! in moto, and the events Lambda would hand the function, in AWS's shapes.

use std::collections::HashMap;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use base64::Engine;
use serde_json::{Value, json};

use super::app::{AwsWorld, WEBHOOK_SECRET, unique};
use super::github::GitHub;
use super::moto::{moto, sdk_config};
use super::payloads::Delivery;

/// The AWS side of the serverless mode, and the environment the function gets (as the
/// CloudFormation template sets it).
pub struct LambdaWorld {
    pub gh: GitHub,
    pub aws: AwsWorld,
    pub work_queue: String,
    pub dead_letters: String,
    pub env: Vec<(String, String)>,
}

impl LambdaWorld {
    /// Everything the function needs, created as the template would, for `gh`'s repository.
    pub async fn new(gh: &GitHub) -> LambdaWorld {
        let aws = AwsWorld::new().await;
        let sdk = sdk_config(&moto().url).await;
        let table = unique("ledger");
        keygate::ledger::dynamo::ensure_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .unwrap();
        // The work queue and its dead-letter queue, made as `keygate init` makes them.
        let name = unique("work");
        let work_queue = format!("{}/123456789012/{name}-work.fifo", moto().url);
        keygate::init::ensure_queues(&keygate::aws::Aws::from_config(&sdk), &work_queue)
            .await
            .unwrap();
        let dead_letters = work_queue.replace("-work.fifo", "-dead.fifo");
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret = |name: String, value: &str| {
            let secrets = secrets.clone();
            let value = value.to_string();
            async move {
                let out = secrets
                    .create_secret()
                    .name(name)
                    .secret_string(value)
                    .send()
                    .await
                    .unwrap();
                out.arn.unwrap()
            }
        };
        let key_arn = secret(unique("keygate/app-key"), gh.private_key_pem).await;
        let webhook_arn = secret(unique("keygate/webhook"), &format!("{WEBHOOK_SECRET}\n")).await;
        let env = [
            ("KEYGATE_GITHUB_API_URL", gh.url.clone()),
            ("KEYGATE_GITHUB_APP_ID", gh.app_id.to_string()),
            ("KEYGATE_GITHUB_REPOSITORY", gh.repo().to_string()),
            ("KEYGATE_GITHUB_BRANCH", "main".into()),
            ("KEYGATE_AWS_SNS_TOPIC_ARN", aws.topic_arn.clone()),
            ("KEYGATE_STORE_BACKEND", "dynamodb".into()),
            ("KEYGATE_STORE_TABLE", table),
            ("KEYGATE_QUEUE_BACKEND", "sqs".into()),
            ("KEYGATE_QUEUE_URL", work_queue.clone()),
            ("KEYGATE_SERVER_MAX_BACKOFF_SECS", "1".into()),
            ("KEYGATE_SERVER_MAX_ATTEMPTS", "3".into()),
            ("KEYGATE_LAMBDA_PRIVATE_KEY_SECRET_ARN", key_arn),
            ("KEYGATE_LAMBDA_WEBHOOK_SECRET_ARN", webhook_arn),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        LambdaWorld {
            gh: gh.clone(),
            aws,
            work_queue,
            dead_letters,
            env,
        }
    }

    /// The function's cold start, in this process, its AWS calls through the fault proxy.
    pub async fn start(&self) -> keygate::lambda::Lambda {
        let sdk = sdk_config(&self.aws.proxy.url).await;
        keygate::lambda::Lambda::start(None, self.env.clone(), &sdk)
            .await
            .unwrap()
    }

    /// The function's ledger, as another handle on its table would see it.
    pub async fn ledger(&self) -> keygate::ledger::Ledger {
        let table = self
            .env
            .iter()
            .find(|(k, _)| k == "KEYGATE_STORE_TABLE")
            .map(|(_, v)| v.clone())
            .unwrap();
        let sdk = sdk_config(&moto().url).await;
        keygate::ledger::Ledger::open_dynamo(aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .unwrap()
    }

    /// The messages visible on the work queue now, received (and so hidden for 30 s) as
    /// Lambda's event source mapping receives them.
    pub async fn receive_work(&self) -> Vec<Message> {
        self.receive(&self.work_queue).await
    }

    /// The bodies waiting on the dead-letter queue.
    pub async fn dead_letters(&self) -> Vec<Value> {
        self.receive(&self.dead_letters)
            .await
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or("null")).unwrap())
            .collect()
    }

    async fn receive(&self, url: &str) -> Vec<Message> {
        let mut all = Vec::new();
        loop {
            let got = self
                .aws
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return all;
            }
            all.extend(got);
        }
    }

    /// What the event source mapping does with the function's answer to a batch of
    /// `messages`: deletes those not named in `batchItemFailures` (they are done). Returns
    /// the IDs named there.
    pub async fn acknowledge(&self, messages: &[Message], answer: &Value) -> Vec<String> {
        let again: Vec<String> = answer["batchItemFailures"]
            .as_array()
            .unwrap_or_else(|| panic!("no batchItemFailures: {answer}"))
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
            .collect();
        for m in messages {
            if !again.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                self.aws
                    .sqs
                    .delete_message()
                    .queue_url(&self.work_queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        again
    }

    /// `messages` handed to `lambda` as one SQS event, and acknowledged as Lambda does;
    /// returns the IDs that come back.
    pub async fn deliver(
        &self,
        lambda: &keygate::lambda::Lambda,
        messages: &[Message],
    ) -> Vec<String> {
        let answer = lambda.invoke(self.sqs_event(messages)).await.unwrap();
        self.acknowledge(messages, &answer).await
    }

    /// An SQS event carrying `messages`, as the event source mapping hands it over.
    pub fn sqs_event(&self, messages: &[Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: HashMap<String, String> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                sqs_record(
                    m.message_id().unwrap(),
                    m.receipt_handle().unwrap(),
                    m.body().unwrap(),
                    attributes,
                    &self.work_queue,
                )
            })
            .collect();
        json!({ "Records": records })
    }
}

/// One SQS record as Lambda hands it over (AWS's documented FIFO example's fields).
pub fn sqs_record(
    id: &str,
    receipt: &str,
    body: &str,
    attributes: HashMap<String, String>,
    queue_url: &str,
) -> Value {
    let name = queue_url.rsplit('/').next().unwrap();
    json!({
        "messageId": id,
        "receiptHandle": receipt,
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
        "awsRegion": "us-east-1",
    })
}

/// A signed webhook delivery as a function-URL request (payload format 2.0), its body
/// base64-encoded when `base64` (as Lambda does for bodies it does not take for text).
pub fn function_url_event(d: &Delivery, base64: bool) -> Value {
    let mut headers = serde_json::Map::new();
    for (k, v) in &d.headers {
        headers.insert(k.to_string(), json!(v));
    }
    headers.insert("host".into(), json!("abc123.lambda-url.us-east-1.on.aws"));
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(&d.body)
    } else {
        String::from_utf8(d.body.clone()).unwrap()
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "140.82.115.1",
                "userAgent": "GitHub-Hookshot/0f6e4e2",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2026:19:03:58 +0000",
            "timeEpoch": 1_773_342_238_390_i64,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// A function-URL `GET` of `path` with no body.
pub fn function_url_get(path: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc123.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1"},
            "requestId": "1",
            "timeEpoch": 0,
        },
        "isBase64Encoded": false,
    })
}
