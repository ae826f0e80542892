//! Payload tolerance: every `pull_request` and `pull_request_review` example GitHub
//! publishes, for github.com and for each GitHub Enterprise Server release
//! (`tests/fixtures/webhook-examples.json`, from @octokit/webhooks-examples by
//! `scripts/extract-webhook-examples.sh`), converts to keygate's small event, or is a delivery
//! keygate ignores: never a payload error.

use keygate::github::webhook::{SignatureKey, Triage, triage};
use keygate::ids::{BranchName, RepoName};
use keygate::work::Activity;
use serde_json::Value;

const EXAMPLES: &str = include_str!("../fixtures/webhook-examples.json");

/// Each example as the App would receive it: a delivery through an installation carries
/// `installation`, which repository webhooks' examples may lack.
fn examples() -> Vec<(String, String, Value)> {
    let all: Value = serde_json::from_str(EXAMPLES).unwrap();
    let mut out = Vec::new();
    for (source, events) in all["sources"].as_object().unwrap() {
        for (event, list) in events.as_object().unwrap() {
            for example in list.as_array().unwrap() {
                let mut example = example.clone();
                if example.get("installation").is_none() {
                    example["installation"] = serde_json::json!({"id": 1, "node_id": "x"});
                }
                out.push((source.clone(), event.clone(), example));
            }
        }
    }
    out
}

fn convert(source: &str, event: &str, example: &Value) -> Triage {
    let repo = example["repository"]["full_name"].as_str().unwrap();
    let base = example["pull_request"]["base"]["ref"].as_str().unwrap();
    let body = serde_json::to_vec(example).unwrap();
    let action = example["action"].as_str().unwrap_or("");
    // Signed as GitHub signs it: only a verified body reaches the parser.
    let key = SignatureKey::new(&secrecy::SecretString::from("example-secret"));
    let header = crate::support::payloads::sign(b"example-secret", &body);
    let verified = key
        .verified(Some(header.as_bytes()), &body)
        .expect("the example's own signature");
    triage(
        event,
        verified,
        &RepoName::new(repo),
        &BranchName::new(base.to_string()),
    )
    .unwrap_or_else(|e| panic!("{source} {event}.{action}: {e}"))
}

#[test]
fn every_published_example_converts_or_is_ignored_never_an_error() {
    let examples = examples();
    assert!(examples.len() > 40, "{} examples", examples.len());
    let mut handled = 0;
    for (source, event, example) in &examples {
        let action = example["action"].as_str().unwrap_or("");
        let triaged = convert(source, event, example);
        let wanted = Activity::from_event(event, action).is_some();
        match triaged {
            Triage::Work(e) => {
                assert!(wanted, "{source} {event}.{action} is not keygate's work");
                assert_eq!(
                    e.pr.get(),
                    example["pull_request"]["number"].as_u64().unwrap()
                );
                assert_eq!(e.activity.action(), action);
                handled += 1;
            }
            // Only a push to a pull request into another branch is recorded without work.
            Triage::Pusher(e) => {
                assert_eq!(
                    e.activity.action(),
                    "synchronize",
                    "{source} {event}.{action}"
                );
            }
            Triage::Ignore(why) => {
                assert!(!wanted, "{source} {event}.{action} ignored: {why}")
            }
        }
    }
    assert!(handled >= 20, "only {handled} examples were keygate's work");
}

#[test]
fn every_enterprise_server_release_published_converts_its_pull_requests_and_reviews() {
    let examples = examples();
    let releases: std::collections::BTreeSet<&str> = examples
        .iter()
        .map(|(s, _, _)| s.as_str())
        .filter(|s| s.starts_with("ghes-"))
        .collect();
    assert!(releases.len() >= 5, "{releases:?}");
    for release in releases {
        for event in ["pull_request", "pull_request_review"] {
            let converted = examples
                .iter()
                .filter(|(s, e, _)| s == release && e == event)
                .filter(|(s, e, x)| matches!(convert(s, e, x), Triage::Work(_)))
                .count();
            assert!(converted > 0, "{release}: no {event} example converted");
        }
    }
}
