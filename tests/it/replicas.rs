//! Several replicas (DESIGN §8): two `keygate serve` processes on one DynamoDB table and one
//! SQS FIFO queue. Killing the one that holds the work loses nothing and issues nothing twice.

use std::time::{Duration, Instant};

use crate::process::{Serving, keygate, run_to_end};
use crate::support::app::{
    AwsWorld, WEBHOOK_SECRET, post, settle, shared_backend_config, write_config,
};
use crate::support::faults::Fault;
use crate::support::github::ReviewState::Approve;
use crate::support::payloads;
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

/// Which of `logs` (in `dir`) says it took `delivery`'s work, waiting up to 30 s.
async fn holder(dir: &std::path::Path, logs: &[&str], delivery: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (i, log) in logs.iter().enumerate() {
            let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.contains("work taken") && l.contains(delivery))
            {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no replica took {delivery}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn killing_the_replica_that_holds_the_work_loses_nothing_and_issues_nothing_twice() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    // A short lease, so the survivor takes the work over within the test's patience.
    let shared = format!("{}lease_secs = 4\n", shared_backend_config(&aws));
    write_config(
        dir.path(),
        &gh,
        &aws,
        &format!("[github]\nprivate_key_file = \"app.pem\"\n{shared}"),
    );
    let mut init = keygate(dir.path(), &aws.proxy.url);
    init.arg("init");
    let (code, out, err) = run_to_end(init, dir.path(), "init".into()).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("created SQS FIFO queue"), "{out}");

    let user = aws.iam_user("svc").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    gh.review(pr, "carol", Approve);
    let logs = ["a.log", "b.log"];
    let mut replicas = [
        Serving::start(&dir, &aws, logs[0], &[], &[]).await,
        Serving::start(&dir, &aws, logs[1], &[], &[]).await,
    ];
    let http = reqwest::Client::new();
    settle(&http, &replicas[0].url).await;
    assert_eq!(
        aws.notices()
            .await
            .iter()
            .map(|n| n.event().to_string())
            .collect::<Vec<_>>(),
        ["requested"],
        "both replicas caught up at start; the request was announced once"
    );

    // Each GitHub call takes a while, so the work is still running when its holder dies.
    gh.set_latency(Duration::from_millis(250));
    gh.merge(pr);
    let d = payloads::delivery(
        "pull_request",
        &payloads::pull_request_event(&gh, pr, "closed"),
        WEBHOOK_SECRET.as_bytes(),
    );
    // GitHub sends once; a load balancer that retries sends the same delivery to both.
    let answers = (
        post(&http, &replicas[0].url, &d).await,
        post(&http, &replicas[1].url, &d).await,
    );
    assert_eq!(answers, (202, 200), "accepted once, then known");
    let held_by = holder(dir.path(), &logs, &d.id).await;
    replicas[held_by].child.kill().unwrap();
    replicas[held_by].child.wait().unwrap();
    let survivor = &replicas[1 - held_by];

    // The survivor takes the work over once the dead replica's lease lapses, and finishes it.
    gh.set_latency(Duration::ZERO);
    settle(&http, &survivor.url).await;
    aws.one_key_held_by_its_secret(&user, "issued once, by the survivor")
        .await;
    let survivor_log = std::fs::read_to_string(dir.path().join(logs[1 - held_by])).unwrap();
    assert!(
        survivor_log
            .lines()
            .any(|l| l.contains("work taken") && l.contains(&d.id) && l.contains("attempt=2")),
        "the survivor ran the interrupted delivery's second attempt:\n{survivor_log}"
    );
    let events: Vec<String> = aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["issued"], "every notice exactly once");
    let comment = gh.comments(pr).last().cloned().unwrap_or_default();
    assert!(
        comment.contains("issued") || comment.contains("Issued"),
        "{comment}"
    );
}

#[tokio::test]
async fn serve_never_creates_the_queue_and_names_the_missing_one() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_backend_config(&aws);
    write_config(
        dir.path(),
        &gh,
        &aws,
        &format!("[github]\nprivate_key_file = \"app.pem\"\n{shared}"),
    );
    // The table is there (made by hand); the queue is not.
    let table = shared
        .lines()
        .find_map(|l| l.strip_prefix("table = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let sdk = crate::support::moto::sdk_config(&aws.proxy.url).await;
    keygate::ledger::dynamo::ensure_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
        .await
        .unwrap();
    let mut serve = keygate(dir.path(), &aws.proxy.url);
    serve.arg("serve");
    let (code, _, err) = run_to_end(serve, dir.path(), "serve".into()).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("queue.url") && err.contains("does not exist") && err.contains("keygate init"),
        "{err}"
    );
}

/// A start's first round asks for the table's shape and, beside it, reads what a start needs
/// (the first-start records, the work a stop interrupted): a Lambda cold start waits for one
/// round on a warm table. Nothing is written before the shape is known.
#[tokio::test]
async fn a_start_reads_the_ledger_beside_its_shape_check_and_writes_nothing_before_it() {
    let aws = AwsWorld::new().await;
    let sdk = crate::support::moto::sdk_config(&aws.proxy.url).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("keygate-start-{}", std::process::id());
    keygate::ledger::dynamo::ensure_table(&client, &table)
        .await
        .unwrap();
    let from = aws.proxy.operations().len();
    // The shape check is never answered.
    aws.proxy.inject("DescribeTable", Fault::Hang, 1);
    let opening = tokio::spawn(async move {
        let opened = keygate::ledger::Ledger::open_dynamo_resuming(client, &table).await;
        opened.map(|_| ())
    });
    let asked = || aws.proxy.operations()[from..].to_vec();
    let deadline = Instant::now() + Duration::from_secs(30);
    let count = |ops: &[String], op: &str| ops.iter().filter(|o| *o == op).count();
    while !(count(&asked(), "GetItem") == 2 && count(&asked(), "Query") == 1) {
        assert!(
            Instant::now() < deadline,
            "with the shape check unanswered, only {:?} were asked",
            asked()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for a write that would not wait for the check: it would follow the reads at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ops = asked();
    let writes = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
    ];
    assert!(!ops.iter().any(|o| writes.contains(&o.as_str())), "{ops:?}");
    assert!(!opening.is_finished(), "opened without the shape check");
    opening.abort();
}

#[tokio::test]
async fn a_delivery_the_queue_refused_is_not_accepted_and_its_redelivery_issues_once() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let shared = shared_backend_config(&aws);
    let app =
        crate::support::app::TestApp::start_on(&gh, &shared, aws, ("testing", "testing")).await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.settle().await;
    app.gh.merge(pr);
    let d = payloads::delivery(
        "pull_request",
        &payloads::pull_request_event(&app.gh, pr, "closed"),
        WEBHOOK_SECRET.as_bytes(),
    );
    // SQS refuses the message, the SDK's retries included: the delivery is in the ledger but
    // not on the queue, so it is not accepted.
    app.aws.proxy.fail("SendMessage", 500, "InternalError", 3);
    assert_eq!(
        app.redeliver(&d).await,
        503,
        "not durable everywhere: not accepted"
    );
    app.expect_no_key(&user).await;
    // GitHub's Redeliver sends the same ID: known, announced again, and worked off once.
    assert_eq!(app.redeliver(&d).await, 200);
    app.settle().await;
    app.aws
        .one_key_held_by_its_secret(&user, "issued once, after the redelivery")
        .await;
}

#[tokio::test]
async fn two_replicas_issuing_for_one_user_never_delete_each_others_keys() {
    let gh = repository().await;
    let aws = AwsWorld::new().await;
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_backend_config(&aws);
    write_config(
        dir.path(),
        &gh,
        &aws,
        &format!("[github]\nprivate_key_file = \"app.pem\"\n{shared}"),
    );
    let mut init = keygate(dir.path(), &aws.proxy.url);
    init.arg("init");
    let (code, out, err) = run_to_end(init, dir.path(), "init".into()).await;
    assert_eq!(code, Some(0), "{out}{err}");

    // Two pull requests ask for keys for one IAM user; both are approved and merged.
    let user = aws.iam_user("svc").await;
    let files = [
        format!("requests/{user}/a.toml"),
        format!("requests/{user}/b.toml"),
    ];
    let prs: Vec<u64> = files
        .iter()
        .map(|f| gh.open_pr("bob", &[(f.as_str(), &valid_request(&user))]))
        .collect();
    let replicas = [
        Serving::start(&dir, &aws, "a.log", &[], &[]).await,
        Serving::start(&dir, &aws, "b.log", &[], &[]).await,
    ];
    let http = reqwest::Client::new();
    settle(&http, &replicas[0].url).await;
    for pr in &prs {
        gh.review(*pr, "carol", Approve);
        gh.merge(*pr);
    }
    // The first CreateAccessKey makes its key, but its answer is lost, slowly: the other
    // replica works meanwhile.
    aws.proxy.inject(
        "CreateAccessKey",
        Fault::FailAfterForwardHeld {
            hold: Duration::from_secs(3),
            status: 500,
            code: "InternalFailure",
        },
        1,
    );
    for (pr, replica) in prs.iter().zip(&replicas) {
        let d = payloads::delivery(
            "pull_request",
            &payloads::pull_request_event(&gh, *pr, "closed"),
            WEBHOOK_SECRET.as_bytes(),
        );
        assert_eq!(post(&http, &replica.url, &d).await, 202);
    }
    settle(&http, &replicas[0].url).await;
    settle(&http, &replicas[1].url).await;

    // Both keys issued and each held by its secret: no rollback deleted the other's key.
    let mut keys = aws.access_keys(&user).await;
    keys.sort();
    let mut held = Vec::new();
    for name in aws.secrets_named(&format!("{user}/")).await {
        let value = aws
            .secret(&name)
            .await
            .expect("a stored secret holds its key");
        held.push(value["AccessKeyId"].as_str().unwrap().to_string());
    }
    held.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(
        keys, held,
        "every key is held by a secret, every secret by a live key"
    );
    for pr in &prs {
        let comment = gh.comments(*pr).last().cloned().unwrap_or_default();
        assert!(comment.contains("access key issued"), "#{pr}: {comment}");
    }
}
