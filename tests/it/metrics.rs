//! `GET /metrics` (DESIGN §8): after a real issuance the operator's figures show it, in a
//! text Prometheus can read, and with no user names, paths or pull request numbers in it.

use crate::support::payloads;
use crate::support::world::{path, world};

/// Every line is a comment Prometheus knows (`# HELP`/`# TYPE`/`# UNIT`/`# EOF`) or a sample
/// `name{label="value",…} number`, and `# EOF` ends the text.
fn assert_exposition(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no `# EOF` at the end:\n{text}");
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap_or_default();
            assert!(
                ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                "unknown comment `{line}`"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or(("", ""));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "`{line}`: no number at the end"
        );
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("labels end with }")),
            None => (series, ""),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "`{line}`: bad metric name"
        );
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "`{line}`: bad label name `{key}`"
            );
            let end = after.find('"').expect("a closing quote");
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
    }
}

/// The value of the sample `series` (name and labels exactly as printed).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn after_one_issuance_metrics_show_the_delivery_the_issuance_and_the_calls() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_issued(&user).await;

    let response = reqwest::get(format!("{}/metrics", app.url)).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_exposition(&text);
    let closed = "keygate_deliveries_total{event=\"pull_request\",outcome=\"queued\"}";
    assert!(sample(&text, closed) >= 1.0);
    assert_eq!(
        sample(&text, "keygate_issuances_total{outcome=\"issued\"}"),
        1.0
    );
    let create = "keygate_aws_calls_total{operation=\"CreateAccessKey\",status=\"ok\"}";
    assert_eq!(sample(&text, create), 1.0);
    assert!(
        sample(
            &text,
            "keygate_aws_calls_total{operation=\"Publish\",status=\"ok\"}"
        ) >= 1.0
    );
    let pull = "keygate_github_calls_total{operation=\"GET /repos/*/*/pulls/*\",status=\"ok\"}";
    assert!(sample(&text, pull) >= 1.0);
    assert_eq!(sample(&text, "keygate_keys{state=\"active\"}"), 1.0);
    assert_eq!(sample(&text, "keygate_queue_depth{state=\"queued\"}"), 0.0);
    assert_eq!(sample(&text, "keygate_queue_oldest_age_seconds"), 0.0);
    assert!(sample(&text, "keygate_work_duration_seconds_count") >= 1.0);
    for private in [user.as_str(), "bob", "carol", &path(&user), app.gh.repo()] {
        assert!(
            !text.contains(private),
            "`{private}` in the metrics:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_forged_delivery_is_counted_as_refused_without_its_made_up_event_name() {
    let app = world().await;
    let forged = payloads::delivery("made-up-event-1", &serde_json::json!({}), b"not the secret");
    assert_eq!(app.redeliver(&forged).await, 401);

    let text = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_exposition(&text);
    let refused = "keygate_deliveries_total{event=\"other\",outcome=\"refused_signature\"}";
    assert_eq!(sample(&text, refused), 1.0);
    assert!(!text.contains("made-up-event-1"), "{text}");
}
