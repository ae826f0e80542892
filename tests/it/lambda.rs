//! keygate as a Lambda function (DESIGN §8, serverless): webhooks through the function URL,
//! work through SQS batches with partial failures, the schedule's passes, and the real
//! binary under a Lambda Runtime API.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncReadExt;

use aws_sdk_sqs::types::Message;
use keygate::ledger::Store;

use crate::support::app::WEBHOOK_SECRET;
use crate::support::faults::Fault;
use crate::support::github::ReviewState::Approve;
use crate::support::lambda::{LambdaWorld, function_url_event, function_url_get, sqs_record};
use crate::support::payloads;
use crate::support::runtime_api::{Answer, RuntimeApi};
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

/// The merge of `pr`, its delivery sent through the function URL of the function serving
/// `api`, and accepted; returns the delivery.
async fn merged_through(world: &LambdaWorld, api: &RuntimeApi, pr: u64) -> payloads::Delivery {
    let d = merged(world, pr);
    let Answer::Response(answer) = api.call(function_url_event(&d, false)).await else {
        panic!("the webhook failed")
    };
    assert_eq!(answer["statusCode"], 202, "{answer}");
    d
}

/// `messages` as one SQS batch to the function serving `api`; its answer.
async fn batch(world: &LambdaWorld, api: &RuntimeApi, messages: &[Message]) -> Value {
    let Answer::Response(answer) = api.call(world.sqs_event(messages)).await else {
        panic!("a batch failed")
    };
    answer
}

/// An approved request for a new IAM user, waiting for its merge: (user, pull request).
async fn requested(world: &LambdaWorld) -> (String, u64) {
    let user = world.aws.iam_user("svc").await;
    let pr = world
        .gh
        .open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    world.gh.review(pr, "carol", Approve);
    (user, pr)
}

/// A world with an approved request waiting for its merge, and the function started (its
/// ledger exists before the merge: a merge older than the ledger never issues).
async fn approved() -> (LambdaWorld, keygate::lambda::Lambda, u64, String) {
    let world = LambdaWorld::new(&repository().await).await;
    let (user, pr) = requested(&world).await;
    let lambda = world.start().await;
    (world, lambda, pr, user)
}

/// The `closed` delivery of the merged pull request, signed.
fn merged(world: &LambdaWorld, pr: u64) -> payloads::Delivery {
    world.gh.merge(pr);
    let event = payloads::pull_request_event(&world.gh, pr, "closed");
    payloads::delivery("pull_request", &event, WEBHOOK_SECRET.as_bytes())
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_merge_through_the_function_url_issues_once_from_its_sqs_message() {
    let (world, lambda, pr, user) = approved().await;
    let d = merged(&world, pr);

    let answer = lambda.invoke(function_url_event(&d, false)).await.unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    assert_eq!(answer["body"], "queued\n");
    let messages = world.receive_work().await;
    assert_eq!(messages.len(), 1, "one message for the delivery");
    assert!(
        messages[0].body().unwrap().contains(&d.id),
        "it names the delivery"
    );

    let batch = world.sqs_event(&messages);
    assert_eq!(
        world.deliver(&lambda, &messages).await,
        Vec::<String>::new()
    );
    world
        .aws
        .one_key_held_by_its_secret(&user, "issued from the message")
        .await;
    let events: Vec<String> = world
        .aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["issued"]);

    // SQS delivers at least once: the same message again issues nothing new.
    let answer = lambda.invoke(batch).await.unwrap();
    assert_eq!(failures(&answer), Vec::<String>::new());
    world
        .aws
        .one_key_held_by_its_secret(&user, "still the one key")
        .await;
    assert!(world.aws.notices().await.is_empty(), "announced once");
    assert!(world.receive_work().await.is_empty(), "nothing more queued");
}

#[tokio::test]
async fn a_base64_encoded_webhook_body_is_verified_as_the_bytes_github_signed() {
    let (world, lambda, pr, _) = approved().await;
    let d = merged(&world, pr);
    let answer = lambda.invoke(function_url_event(&d, true)).await.unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");

    let mut forged = function_url_event(&d, false);
    forged["body"] = json!(
        String::from_utf8(d.body.clone())
            .unwrap()
            .replace("closed", "opened")
    );
    let answer = lambda.invoke(forged).await.unwrap();
    assert_eq!(
        answer["statusCode"], 401,
        "a changed body fails the signature"
    );
}

/// A function URL answers anyone on the internet: `/metrics` is off there unless the
/// operator set a token, and then it answers only that bearer (DESIGN §4).
#[tokio::test]
async fn health_is_served_through_the_function_url_and_metrics_only_with_a_token() {
    let (mut world, lambda, _, _) = approved().await;
    let answer = lambda.invoke(function_url_get("/healthz")).await.unwrap();
    assert_eq!(
        (answer["statusCode"].as_u64(), answer["body"].as_str()),
        (Some(200), Some("ok\n"))
    );
    let answer = lambda.invoke(function_url_get("/metrics")).await.unwrap();
    assert_eq!(answer["statusCode"], 404, "off without a token: {answer}");

    let token = "s3cr3t-scrape-token-for-prometheus";
    world
        .env
        .push(("KEYGATE_SERVER_METRICS_TOKEN".into(), token.into()));
    let lambda = world.start().await;
    let with = |auth: Option<&str>| {
        let mut event = function_url_get("/metrics");
        if let Some(auth) = auth {
            event["headers"]["authorization"] = auth.into();
        }
        event
    };
    for refused in [
        None,
        Some("Bearer wrong"),
        Some(token),
        Some("Basic s3cr3t"),
    ] {
        let answer = lambda.invoke(with(refused)).await.unwrap();
        assert_eq!(answer["statusCode"], 401, "{refused:?}: {answer}");
    }
    let answer = lambda
        .invoke(with(Some(&format!("Bearer {token}"))))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body = answer["body"].as_str().unwrap();
    assert!(body.contains("keygate_queue_depth"), "{answer}");
}

#[tokio::test]
async fn work_that_must_wait_comes_back_with_the_rest_of_its_pull_requests_messages() {
    let (world, lambda, pr, user) = approved().await;
    let d = merged(&world, pr);
    assert_eq!(
        lambda.invoke(function_url_event(&d, false)).await.unwrap()["statusCode"],
        202
    );
    // The first attempt fails on a transient error (three times: the SDK retries too): a
    // retry is announced, the message done.
    let code = "ServiceUnavailable";
    world
        .aws
        .proxy
        .inject("CreateSecret", Fault::Fail { status: 503, code }, 3);
    let first = world.receive_work().await;
    let again = world.deliver(&lambda, &first).await;
    assert_eq!(again, Vec::<String>::new(), "the retry is a new message");

    // The retry's message comes at once, before its backoff is over. Behind it in its group:
    // a later message of the same pull request. In another group: a stranger's message.
    let retry = world.receive_work().await;
    assert_eq!(retry.len(), 1, "the retry's message");
    let mut batch = world.sqs_event(&retry);
    let group = batch["Records"][0]["attributes"]["MessageGroupId"].clone();
    let later_body =
        json!({"delivery": "later", "repository": world.gh.repo(), "pr": pr, "attempts": 0});
    let later = HashMap::from([(
        "MessageGroupId".to_string(),
        group.as_str().unwrap().to_string(),
    )]);
    let stranger = HashMap::from([("MessageGroupId".to_string(), "elsewhere".to_string())]);
    let records = batch["Records"].as_array_mut().unwrap();
    records.push(sqs_record(
        "later-id",
        "later-receipt",
        &later_body.to_string(),
        later,
        &world.work_queue,
    ));
    records.push(sqs_record(
        "stranger-id",
        "stranger-receipt",
        "hello",
        stranger,
        &world.work_queue,
    ));
    let answer = lambda.invoke(batch).await.unwrap();

    let retry_id = retry[0].message_id().unwrap().to_string();
    let again = world.acknowledge(&retry, &answer).await;
    assert_eq!(again, [retry_id, "later-id".to_string()]);
    assert!(
        world.aws.access_keys(&user).await.len() <= 1,
        "no second key"
    );
    let dead = world.dead_letters().await;
    assert_eq!(
        dead.len(),
        1,
        "the stranger's message, dead-lettered: {dead:?}"
    );
    assert_eq!(dead[0]["message"], "hello");
    assert_eq!(dead[0]["error"], "not a keygate work message");

    // Hidden until its retry is due, the message comes back and the work finishes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let again = loop {
        let got = world.receive_work().await;
        if !got.is_empty() {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "the retry's message never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(world.deliver(&lambda, &again).await, Vec::<String>::new());
    world
        .aws
        .one_key_held_by_its_secret(&user, "issued on the retry")
        .await;
}

#[tokio::test]
async fn the_scheduled_sweep_deactivates_a_key_past_its_end() {
    let (world, lambda, pr, user) = approved().await;
    let d = merged(&world, pr);
    lambda.invoke(function_url_event(&d, false)).await.unwrap();
    let messages = world.receive_work().await;
    world.deliver(&lambda, &messages).await;
    let (key, secret) = world.aws.one_key_held_by_its_secret(&user, "issued").await;
    world.aws.notices().await;

    let ended = (OffsetDateTime::now_utc() - time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    let tag = Tag::builder()
        .key("keygate:expires-at")
        .value(ended.format(&Rfc3339).unwrap())
        .build();
    world
        .aws
        .secrets
        .tag_resource()
        .secret_id(&secret)
        .tags(tag)
        .send()
        .await
        .unwrap();
    let answer = lambda.invoke(json!({"keygate": "sweep"})).await.unwrap();
    assert_eq!(answer["done"], true);

    let listed = world
        .aws
        .iam
        .list_access_keys()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    let status = listed.access_key_metadata()[0].status().cloned();
    assert_eq!(
        status,
        Some(aws_sdk_iam::types::StatusType::Inactive),
        "{key} deactivated"
    );
    let events: Vec<String> = world
        .aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["expired"]);
}

#[tokio::test]
async fn the_scheduled_reconcile_announces_lost_work_before_a_catch_up_that_outlives_it() {
    let world = LambdaWorld::new(&repository().await).await;
    let lambda = world.start().await;
    // Work queued two minutes ago whose message was lost.
    let lost = keygate::ledger::NewDelivery {
        id: keygate::ids::DeliveryId::new(crate::support::app::unique("lost")),
        event: keygate::event::PrEvent {
            repository: keygate::ids::RepoName::new(world.gh.repo()),
            installation: keygate::ids::InstallationId(world.gh.installation_id()),
            pr: keygate::ids::PrNumber(7),
            activity: keygate::event::Activity::ReviewSubmitted,
            sender: None,
            merge_commit: None,
        },
        received_at_ms: keygate::ledger::now_ms() - 120_000,
    };
    let ledger = world.ledger().await;
    assert!(ledger.record_delivery(lost.clone()).await.unwrap().is_new());
    // GitHub answers slowly: catch-up takes longer than the function may run.
    world.gh.set_latency(Duration::from_secs(2));
    let reconcile = lambda.invoke(json!({"keygate": "reconcile"}));
    let cut = tokio::time::timeout(Duration::from_secs(3), reconcile).await;
    assert!(cut.is_err(), "the pass outlived the function's time");
    world.gh.set_latency(Duration::ZERO);

    let bodies: Vec<String> = world
        .receive_work()
        .await
        .iter()
        .filter_map(|m| m.body().map(str::to_string))
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains(lost.id.as_str())),
        "the lost work is announced again first: {bodies:?}"
    );
}

#[tokio::test]
async fn an_event_of_unknown_shape_fails_naming_its_shape_not_its_content() {
    let (world, lambda, pr, _) = approved().await;
    // A webhook body invoked directly, not through the function URL.
    let body: Value = serde_json::from_slice(&merged(&world, pr).body).unwrap();
    let err = lambda.invoke(body).await.unwrap_err().to_string();
    assert!(
        err.contains("\"action\"") && err.contains("\"pull_request\""),
        "{err}"
    );
    assert!(
        !err.contains("closed") && !err.contains(world.gh.repo()),
        "{err}"
    );
}

/// Environment of the real binary as Lambda starts it: no arguments, the runtime's
/// variables, moto for AWS, and the function's settings.
fn bootstrap(world: &LambdaWorld, api: &RuntimeApi) -> tokio::process::Command {
    bootstrap_of(env!("CARGO_BIN_EXE_keygate"), world, api)
}

fn bootstrap_of(bin: &str, world: &LambdaWorld, api: &RuntimeApi) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "keygate-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", &world.aws.proxy.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(world.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn the_bootstrap_binary_serves_a_webhook_and_its_work_through_the_runtime_api() {
    let world = LambdaWorld::new(&repository().await).await;
    let (user, pr) = requested(&world).await;
    let api = RuntimeApi::start().await;
    let mut function = bootstrap(&world, &api).spawn().unwrap();
    // The merge comes after the function's cold start, which created the ledger: a merge
    // older than its ledger never issues (on a loaded machine the start takes a while).
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.first_next().is_none() {
        assert!(Instant::now() < deadline, "the function never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    merged_through(&world, &api, pr).await;
    let messages = world.receive_work().await;
    let answer = batch(&world, &api, &messages).await;
    let again = world.acknowledge(&messages, &answer).await;
    assert_eq!(again, Vec::<String>::new());
    // An attempt that failed for a while (a slow moment on a loaded machine) announced its
    // retry as a fresh message: later batches carry it, as the event source mapping would.
    let mut batches = 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.aws.access_keys(&user).await.is_empty() {
        if Instant::now() >= deadline {
            // Say why: what the function logged is the only account of its attempts.
            function.start_kill().unwrap();
            function.wait().await.unwrap();
            let mut err = String::new();
            let stderr = function.stderr.take().unwrap();
            let mut stderr = stderr;
            stderr.read_to_string(&mut err).await.unwrap();
            panic!("never issued after {batches} batches; the function's log:\n{err}");
        }
        let messages = world.receive_work().await;
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let answer = batch(&world, &api, &messages).await;
        world.acknowledge(&messages, &answer).await;
        batches += 1;
    }
    world
        .aws
        .one_key_held_by_its_secret(&user, "issued by the binary")
        .await;
    let Answer::Error(error) = api.call(json!({"hello": "world"})).await else {
        panic!("an unknown event succeeded")
    };
    assert_eq!(error["errorType"], "keygate.UnknownEvent", "{error}");

    function.start_kill().unwrap();
    function.wait().await.unwrap();
    let mut out = String::new();
    function
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let emf: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut err = String::new();
    function
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    if batches > 1 {
        println!("the work took {batches} batches; the function's log:\n{err}");
    }
    assert_eq!(
        emf.len(),
        batches + 2,
        "one EMF line per invocation:\n{out}"
    );
    assert_eq!(emf[0]["deliveries.pull_request.queued"], 1.0, "{}", emf[0]);
    let issued: f64 = emf[1..=batches]
        .iter()
        .filter_map(|e| e["issuances.issued"].as_f64())
        .sum();
    assert_eq!(issued, 1.0, "one issuance over the batches:\n{out}");
    assert_eq!(
        emf[1]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "keygate"
    );
    assert_eq!(emf[batches + 1]["invocation"], "unknown");
    assert!(
        !err.contains(WEBHOOK_SECRET),
        "the webhook secret was logged"
    );
    assert!(!err.contains("PRIVATE KEY"), "the App's key was logged");
}

#[tokio::test]
async fn a_cold_start_without_its_queue_exits_naming_it() {
    let mut world = LambdaWorld::new(&repository().await).await;
    let missing = format!("{}-gone.fifo", world.work_queue.trim_end_matches(".fifo"));
    for (k, v) in &mut world.env {
        if k == "KEYGATE_QUEUE_URL" {
            *v = missing.clone();
        }
    }
    let api = RuntimeApi::start().await;
    let out = tokio::time::timeout(Duration::from_secs(30), bootstrap(&world, &api).output())
        .await
        .expect("the cold start did not end")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&missing) && err.contains("keygate init"),
        "{err}"
    );
    assert!(api.first_next().is_none(), "no invocation was asked for");
}

/// Not a check but a measurement, run by `scripts/measure-lambda`: the cold start (process
/// start to its first `GET …/invocation/next`), the CPU time used by then, and the peak memory
/// (`VmHWM`) of the binary `KEYGATE_MEASURE_BIN` names (a release build) after one webhook
/// and one SQS batch.
#[tokio::test]
#[ignore = "a measurement: run by scripts/measure-lambda"]
async fn measure_cold_start_and_peak_memory() {
    let bin =
        std::env::var("KEYGATE_MEASURE_BIN").expect("KEYGATE_MEASURE_BIN: the binary to measure");
    let runs: usize = std::env::var("KEYGATE_MEASURE_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let world = LambdaWorld::new(&repository().await).await;
    let (user, pr) = requested(&world).await;

    let mut cold = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..runs {
        let api = RuntimeApi::start().await;
        let mut command = bootstrap_of(&bin, &world, &api);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let started = Instant::now();
        let mut function = command.spawn().unwrap();
        let deadline = started + Duration::from_secs(30);
        let ready = loop {
            if let Some(at) = api.first_next() {
                break at;
            }
            assert!(
                Instant::now() < deadline,
                "no GET /invocation/next within 30 s"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        cold.push(ready - started);
        cpu.push(cpu_time(function.id().unwrap()));
        if run == 0 {
            merged_through(&world, &api, pr).await;
            let messages = world.receive_work().await;
            let answer = batch(&world, &api, &messages).await;
            assert_eq!(
                world.acknowledge(&messages, &answer).await,
                Vec::<String>::new()
            );
            world.aws.one_key_held_by_its_secret(&user, "issued").await;
            let pid = function.id().unwrap();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            for line in status
                .lines()
                .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
            {
                println!("measure: after one webhook and one SQS batch: {line}");
            }
        }
        function.start_kill().unwrap();
        function.wait().await.unwrap();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (what, mut times) in [("cold start", cold), ("CPU until ready", cpu)] {
        times.sort();
        println!(
            "measure: {what} over {runs} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
}

/// The CPU time process `pid`'s threads have had so far (`/proc/<pid>/task/*/schedstat`,
/// whose first field is nanoseconds on a CPU): what a cold start costs apart from its waits.
fn cpu_time(pid: u32) -> Duration {
    let mut ns = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("schedstat")).unwrap();
        ns += stat.split(' ').next().unwrap().parse::<u64>().unwrap();
    }
    Duration::from_nanos(ns)
}

#[tokio::test]
async fn an_invocation_killed_mid_work_loses_nothing_and_the_next_one_issues_once() {
    let mut world = LambdaWorld::new(&repository().await).await;
    // A short lease on running work, so the next invocation takes it over within the test.
    world
        .env
        .push(("KEYGATE_QUEUE_LEASE_SECS".into(), "4".into()));
    let (user, pr) = requested(&world).await;
    let table = world
        .env
        .iter()
        .find(|(k, _)| k == "KEYGATE_STORE_TABLE")
        .map(|(_, v)| v.clone())
        .unwrap();
    let sdk = crate::support::moto::sdk_config(&crate::support::moto::moto().url).await;
    let ledger = keygate::ledger::Ledger::open_dynamo(aws_sdk_dynamodb::Client::new(&sdk), &table)
        .await
        .unwrap();
    let api = RuntimeApi::start().await;
    let mut first = bootstrap(&world, &api).spawn().unwrap();
    let d = merged_through(&world, &api, pr).await;

    // The batch goes to the first instance, whose GitHub calls are slow; it dies mid-work.
    let messages = world.receive_work().await;
    assert_eq!(messages.len(), 1);
    world.gh.set_latency(Duration::from_millis(300));
    api.invoke(world.sqs_event(&messages));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.stats().await.unwrap().running == 0 {
        assert!(
            Instant::now() < deadline,
            "the first instance never took the work"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    world.gh.set_latency(Duration::ZERO);
    // Its invocation never answered: SQS shows the message again once its time is up.
    for m in &messages {
        world
            .aws
            .sqs
            .change_message_visibility()
            .queue_url(&world.work_queue)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }

    // A new instance takes the batches that follow until the work is done.
    let _second = bootstrap(&world, &api).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let messages = world.receive_work().await;
        if messages.is_empty() {
            let s = ledger.stats().await.unwrap();
            if s.queued == 0 && s.running == 0 {
                break;
            }
        } else {
            let answer = batch(&world, &api, &messages).await;
            world.acknowledge(&messages, &answer).await;
        }
        assert!(Instant::now() < deadline, "the work was never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    world
        .aws
        .one_key_held_by_its_secret(&user, "issued once, by the next instance")
        .await;
    let status = ledger
        .delivery(keygate::ids::DeliveryId::new(d.id.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status.attempts, 2,
        "the killed attempt, then the one that finished"
    );
    let issued = world
        .aws
        .notices()
        .await
        .iter()
        .filter(|n| n.event() == "issued")
        .count();
    assert_eq!(issued, 1, "announced once");
}
