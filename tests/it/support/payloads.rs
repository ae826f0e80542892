#![allow(dead_code)]
//! Webhook deliveries in GitHub's shapes, built from the stand-in's world, so
//! a payload always agrees with what the API then serves for the same pull
//! request. Sign them with [`sign`] and post them to keygate's `/webhook`.

use rand::RngExt as _;
use serde_json::{Value, json};

use super::github::{APP_ID, GitHub};

/// A `pull_request` event: `opened`, `synchronize`, `reopened`, `edited`, `closed`.
pub fn pull_request_event(gh: &GitHub, pr: u64, action: &str) -> Value {
    let sender = gh.pull_actor(pr, action);
    let mut event = envelope(gh, gh.account_json(&sender));
    event["action"] = json!(action);
    event["number"] = json!(pr);
    event["pull_request"] = gh.pull_json(pr);
    match action {
        "synchronize" => {
            event["before"] = json!(gh.previous_head_sha(pr));
            event["after"] = json!(gh.head_sha(pr));
        }
        "edited" => event["changes"] = json!({}),
        _ => {}
    }
    event
}

/// A `pull_request_review` event: `submitted` or `dismissed`. As GitHub does,
/// the review's `state` is lower-case here (`approved`), unlike the REST API.
pub fn pull_request_review_event(gh: &GitHub, pr: u64, review_id: u64, action: &str) -> Value {
    let sender = gh.review_actor(pr, review_id, action);
    let mut review = gh.review_json(pr, review_id);
    let state = review["state"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    review["state"] = json!(state);
    let mut event = envelope(gh, gh.account_json(&sender));
    event["action"] = json!(action);
    event["review"] = review;
    event["pull_request"] = gh.pull_json(pr);
    event
}

/// A `merge_group` `checks_requested` for a group `GitHub::queue_merge_group` built (its
/// head commit, branch and base commit), into `base` and enqueued by `pr`'s author.
pub fn merge_group_event(
    gh: &GitHub,
    pr: u64,
    group: &(String, String, String),
    base: &str,
) -> Value {
    let (head_sha, head_ref, base_sha) = group;
    let sender = gh.pull_actor(pr, "opened");
    let mut event = envelope(gh, gh.account_json(&sender));
    event["action"] = json!("checks_requested");
    event["merge_group"] = json!({
        "head_sha": head_sha,
        "head_ref": head_ref,
        "base_sha": base_sha,
        "base_ref": format!("refs/heads/{base}"),
        "head_commit": {
            "id": head_sha,
            "tree_id": head_sha,
            "message": format!("Merge pull request #{pr}"),
            "timestamp": "2026-01-01T00:00:00Z",
            "author": {"name": "GitHub", "email": "noreply@github.com"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        },
    });
    event
}

/// The `ping` GitHub sends when the App's webhook is set up.
pub fn ping_event(gh: &GitHub) -> Value {
    let hook_id = 480_000_001_u64;
    json!({
        "zen": "Keep it logically awesome.",
        "hook_id": hook_id,
        "hook": {
            "type": "App",
            "id": hook_id,
            "name": "web",
            "active": true,
            "events": ["pull_request", "pull_request_review"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://keygate.example.com/webhook",
            },
            "updated_at": "2024-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "app_id": gh.app_id,
            "deliveries_url": format!("{}/app/hook/deliveries", gh.url),
        },
    })
}

/// `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the body.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(aws_lc_rs::hmac::sign(&key, body)))
}

/// A delivery ready to post: the body and the headers GitHub sends with it.
pub struct Delivery {
    pub event: String,
    /// `X-GitHub-Delivery`, a fresh GUID.
    pub id: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// Serializes `payload` and signs it with `secret` as GitHub would.
pub fn delivery(event: &str, payload: &Value, secret: &[u8]) -> Delivery {
    let body = serde_json::to_vec(payload).expect("payload JSON");
    let id = guid();
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", "GitHub-Hookshot/0f6e4e2".to_string()),
        ("x-github-event", event.to_string()),
        ("x-github-delivery", id.clone()),
        ("x-github-hook-id", "480000001".to_string()),
        (
            "x-github-hook-installation-target-type",
            "integration".to_string(),
        ),
        ("x-github-hook-installation-target-id", APP_ID.to_string()),
        ("x-hub-signature-256", sign(secret, &body)),
    ];
    Delivery {
        event: event.to_string(),
        id,
        body,
        headers,
    }
}

/// The parts every repository event carries.
fn envelope(gh: &GitHub, sender: Value) -> Value {
    let mut event = json!({
        "repository": gh.repo_json(),
        "installation": {
            "id": gh.installation_id(),
            "node_id": format!("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{}", gh.installation_id()),
        },
        "sender": sender,
    });
    if let Some(org) = gh.org_json() {
        event["organization"] = org;
    }
    event
}

fn guid() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_githubs_documented_example() {
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[tokio::test]
    async fn payloads_parse_as_octocrab_webhook_events() {
        use super::super::github::ReviewState;
        use octocrab::models::webhook_events::{WebhookEvent, WebhookEventPayload as P};
        let gh = GitHub::start().await;
        let pr = gh.open_pr("alice", &[("requests/alice/a.toml", "x\n")]);
        let review = gh.review(pr, "carol", ReviewState::Approve);
        let parse = |event: &str, payload: Value| {
            WebhookEvent::try_from_header_and_body(event, &serde_json::to_vec(&payload).unwrap())
                .unwrap()
        };
        for action in ["opened", "synchronize", "reopened", "edited"] {
            let event = parse("pull_request", pull_request_event(&gh, pr, action));
            let P::PullRequest(p) = event.specific else {
                panic!("{action}")
            };
            assert_eq!(p.number, pr);
        }
        let event = parse(
            "pull_request_review",
            pull_request_review_event(&gh, pr, review, "submitted"),
        );
        assert_eq!(event.sender.unwrap().login, "carol");
        gh.merge(pr);
        let event = parse("pull_request", pull_request_event(&gh, pr, "closed"));
        let P::PullRequest(p) = event.specific else {
            panic!("closed")
        };
        assert_eq!(p.pull_request.merged, Some(true));
        assert_eq!(event.installation.unwrap().id().0, gh.installation_id());
        assert!(matches!(
            parse("ping", ping_event(&gh)).specific,
            P::Ping(_)
        ));
    }
}
