//! Chat-friendly notices (DESIGN §11): with `aws.chat_notices`, every notice is published
//! with SNS's per-protocol message structure. The chat integration (Amazon Q Developer in
//! chat applications) subscribes over HTTPS: here an HTTP endpoint of the test stands in for
//! it (moto delivers to it as SNS would), beside the SQS queue every story reads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::world::world_with;

/// What SNS posted to the chat subscription: each notification's `Message`.
#[derive(Clone, Default)]
struct ChatEndpoint {
    posted: Arc<Mutex<Vec<String>>>,
}

impl ChatEndpoint {
    async fn start() -> (ChatEndpoint, String) {
        let endpoint = ChatEndpoint::default();
        let posted = endpoint.posted.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |body: String| {
                let posted = posted.clone();
                async move {
                    let envelope: Value = serde_json::from_str(&body).unwrap_or_default();
                    if envelope["Type"] == "Notification" {
                        let message = envelope["Message"].as_str().unwrap_or("").to_string();
                        posted.lock().unwrap().push(message);
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (endpoint, url)
    }

    /// The custom notification of `event`, waiting for it a little.
    async fn notification(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.posted.lock().unwrap().iter().find_map(|m| {
                let v: Value = serde_json::from_str(m).ok()?;
                (v["metadata"]["eventType"] == format!("keygate.{event}")).then_some(v)
            });
            if let Some(v) = found {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no {event} chat notification; posted: {:?}",
                self.posted.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn with_chat_notices_chat_gets_a_custom_notification_and_sqs_the_text() {
    let app = world_with("[aws]\nchat_notices = true\n").await;
    let (chat, url) = ChatEndpoint::start().await;
    let sns = aws_sdk_sns::Client::new(
        &crate::support::moto::sdk_config(&crate::support::moto::moto().url).await,
    );
    // As the chat integration subscribes: protocol https (moto posts to the test's http URL).
    sns.subscribe()
        .topic_arn(&app.aws.topic_arn)
        .protocol("https")
        .endpoint(&url)
        .send()
        .await
        .unwrap();
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    let issued = app.expect_issued_and_announced(pr, &user).await;

    // E-mail and SQS subscribers get today's text, attributes and all.
    assert!(
        issued
            .notice
            .message
            .starts_with(&format!("keygate: access key issued for {user}.")),
        "{}",
        issued.notice.message
    );
    assert_eq!(issued.notice.attributes["event"], "issued");

    // The chat subscription gets the custom-notification format.
    let n = chat.notification("issued").await;
    assert_eq!(n["version"], "1.0");
    assert_eq!(n["source"], "custom");
    assert_eq!(n["content"]["textType"], "client-markdown");
    let title = n["content"]["title"].as_str().unwrap();
    assert!(
        title.contains(&format!("access key issued for {user}")),
        "{title}"
    );
    let description = n["content"]["description"].as_str().unwrap();
    let link = format!(
        "*Pull request:* https://github.com/{}/pull/{pr}",
        app.gh.repo()
    );
    assert!(description.contains(&link), "{description}");
    assert!(
        description.contains(&format!("*Secret:* `{}`", issued.secret)),
        "{description}"
    );
    assert!(
        !description.contains(&issued.key) || description.contains(&format!("`{}`", issued.key)),
        "the key ID, like every value, in a code span"
    );
    assert!(
        n["content"]["nextSteps"][0]
            .as_str()
            .unwrap()
            .contains("Secrets Manager"),
        "{n}"
    );
    assert_eq!(n["metadata"]["threadId"], format!("{}#{pr}", app.gh.repo()));
    assert_eq!(
        n["metadata"]["additionalContext"]["iam_user"],
        user.as_str()
    );
    assert!(!n.to_string().contains("SecretAccessKey"));
}

#[tokio::test]
async fn without_chat_notices_every_subscriber_gets_the_text() {
    let app = world_with("").await;
    let (chat, url) = ChatEndpoint::start().await;
    let sns = aws_sdk_sns::Client::new(
        &crate::support::moto::sdk_config(&crate::support::moto::moto().url).await,
    );
    sns.subscribe()
        .topic_arn(&app.aws.topic_arn)
        .protocol("https")
        .endpoint(&url)
        .send()
        .await
        .unwrap();
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    let issued = app.expect_issued_and_announced(pr, &user).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while chat.posted.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing posted to the https subscriber"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posted = chat.posted.lock().unwrap().clone();
    assert!(posted.contains(&issued.notice.message), "{posted:?}");
}
