//! `GET /metrics` (DESIGN §8): after a real issuance the operator's figures show it, in a
//! text Prometheus can read, and with no user names, paths or pull request numbers in it.

use keygate::event::{Activity, PrEvent, Sender};
use keygate::ids::{DeliveryId, InstallationId, PrNumber, RepoName};
use keygate::ledger::{Ledger, NewDelivery, Role, Store, now_ms};

use crate::support::app::TestApp;
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

#[tokio::test]
async fn the_keys_are_shown_as_the_last_sweep_counted_them() {
    let mut app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_issued(&user).await;
    let text = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&text, "keygate_keys{state=\"active\"}"),
        0.0,
        "no sweep since the key was issued"
    );
    // `serve` sweeps when it starts.
    app.restart().await;
    let text = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sample(&text, "keygate_keys{state=\"active\"}"), 1.0);
}

/// `n` more finished deliveries in `app`'s ledger. On SQLite through a second handle beside
/// `serve` (as `keygate revoke` writes), recorded as pushes to pull requests into another
/// branch. On DynamoDB written straight into the table in the ledger's documented layout,
/// 25 to a `BatchWriteItem`: moto copies a whole table for each transaction, so 2,000
/// through the ledger would take minutes; such items are not counted, but a scan of the
/// history reads them all the same.
async fn finish(app: &TestApp, from: usize, n: usize) {
    let settings = app.settings();
    let Some(table) = settings.store.table.clone() else {
        let path = app.dir.path().join(&settings.store.path);
        let ledger = Ledger::open_sqlite_as(&path, Role::Revoke).unwrap();
        for i in from..from + n {
            let d = NewDelivery {
                id: DeliveryId::new(format!("history-{i}")),
                event: PrEvent {
                    repository: RepoName::new("acme/elsewhere"),
                    installation: InstallationId(1),
                    pr: PrNumber(i as u64 + 1),
                    activity: Activity::Synchronize,
                    sender: Some(Sender {
                        id: 7,
                        login: "dave".into(),
                    }),
                    merge_commit: None,
                },
                received_at_ms: now_ms(),
            };
            assert!(ledger.record_push(d).await.unwrap());
        }
        return;
    };
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let sdk = crate::support::moto::sdk_config(&app.aws.proxy.url).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let s = |v: String| AttributeValue::S(v);
    let ids: Vec<usize> = (from..from + n).collect();
    for chunk in ids.chunks(25) {
        let writes = chunk.iter().map(|i| {
            let id = format!("history-{i}");
            let at = format!("{:020}", now_ms());
            let item = [
                ("pk", s(format!("DELIVERY#{id}"))),
                ("sk", s("DELIVERY".into())),
                ("id", s(id.clone())),
                ("event", s("pull_request".into())),
                ("action", s("synchronize".into())),
                ("repository", s("acme/elsewhere".into())),
                ("installation_id", AttributeValue::N("1".into())),
                ("pr_number", AttributeValue::N((i + 1).to_string())),
                ("work", s("activity".into())),
                ("received_at", AttributeValue::N(now_ms().to_string())),
                ("next_attempt_at", AttributeValue::N(now_ms().to_string())),
                ("attempts", AttributeValue::N("0".into())),
                ("state", s("done".into())),
                ("by_state_pk", s("delivery#done".into())),
                ("by_state_sk", s(format!("{at}#{at}#{id}"))),
                ("by_pr_pk", s(format!("acme/elsewhere#{}", i + 1))),
                ("by_pr_sk", s(format!("done#activity#{id}"))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        });
        let out = client
            .batch_write_item()
            .request_items(&table, writes.collect())
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
}

/// The DynamoDB reads (operation, items read) of one `GET /readyz` and one `GET /metrics`;
/// none on SQLite, which the ledger's own tests count in steps. The fewest of three probes,
/// so that a background read that happens to fall inside one is left out.
async fn probe(app: &TestApp) -> Vec<(String, u64)> {
    let mut fewest: Option<Vec<(String, u64)>> = None;
    for _ in 0..3 {
        let before = app.aws.proxy.dynamo_reads().len();
        assert_eq!(
            reqwest::get(format!("{}/readyz", app.url))
                .await
                .unwrap()
                .status(),
            200
        );
        let metrics = reqwest::get(format!("{}/metrics", app.url)).await.unwrap();
        assert_eq!(metrics.status(), 200);
        let reads = app.aws.proxy.dynamo_reads().split_off(before);
        if fewest.as_ref().is_none_or(|f| reads.len() < f.len()) {
            fewest = Some(reads);
        }
    }
    fewest.unwrap_or_default()
}

/// What `/readyz` and `/metrics` read does not grow with the ledger's history (DESIGN §4):
/// counted at 10 and at 2,000 finished deliveries, with `KEYGATE_TEST_BACKEND=aws` as the
/// DynamoDB reads and the items they read (the SQLite steps are counted by the ledger's own
/// tests). On SQLite the counts stay right through a history written beside `serve`.
#[tokio::test]
async fn a_probe_reads_the_same_at_10_and_at_2000_finished_deliveries() {
    let app = world().await;
    app.settle().await;
    let done = |v: serde_json::Value| v["deliveries"]["done"].as_u64().unwrap();
    let base = done(app.readyz().await);
    finish(&app, 0, 10).await;
    let at_ten = probe(&app).await;
    finish(&app, 10, 1_990).await;
    let at_two_thousand = probe(&app).await;
    if !crate::support::app::on_shared_backend() {
        assert_eq!(done(app.readyz().await), base + 2_000);
    }
    println!("one probe's DynamoDB reads: {at_two_thousand:?}");
    assert_eq!(
        at_ten, at_two_thousand,
        "reads per probe at 10 and at 2,000"
    );
}

#[tokio::test]
async fn with_a_metrics_token_metrics_answer_only_its_bearer() {
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("metrics-token");
    std::fs::write(&file, "scrape-me-if-you-can\n").unwrap();
    let config = format!("[server]\nmetrics_token_file = \"{}\"\n", file.display());
    let app = crate::support::world::world_with(&config).await;
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", app.url);
    for refused in [
        "",
        "Bearer nope",
        "Bearer scrape-me-if-you-ca",
        "Bearer scrape-me-if-you-can-too",
        "scrape-me-if-you-can",
    ] {
        let mut request = http.get(&url);
        if !refused.is_empty() {
            request = request.header("authorization", refused);
        }
        let status = request.send().await.unwrap().status();
        assert_eq!(status, 401, "{refused:?}");
    }
    let answer = http
        .get(&url)
        .bearer_auth("scrape-me-if-you-can")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_exposition(&answer.text().await.unwrap());
    // The rest stays as it was.
    let ready = http.get(format!("{}/readyz", app.url)).send().await;
    assert_eq!(ready.unwrap().status(), 200);
}
