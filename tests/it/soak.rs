//! A soak with a kill (issue 22): deliveries at a fixed rate for a while against the real
//! `keygate serve`, `kill -9` of it in the middle, a restart on the same ledger, and then
//! every delivery that got a `202` was processed exactly once, with the effects of one
//! processing of each merged request, while memory stayed flat.
//!
//! `#[ignore]`d: `scripts/soak` runs it (`--short` for a quick one). Parameters come from the
//! environment: `SOAK_RATE` (deliveries/s, default 1000), `SOAK_SECS` (60), `SOAK_KILL_AT`
//! (seconds into the load, default half of it), `SOAK_MERGES` (merged request pull requests
//! in the world, 300), `SOAK_BACKEND` (`sqlite`, or `aws` for DynamoDB + SQS on moto with two
//! replicas), `SOAK_REPORT` (a file the figures are appended to, as one JSON line).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::process::{Serving, free_port, keygate, run_to_end};
use crate::support::app::{AwsWorld, Notice, WEBHOOK_SECRET, shared_backend_config, write_config};
use crate::support::github::{GitHub, ReviewState::Approve};
use crate::support::payloads;
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

/// What one run does, from the environment.
#[derive(Debug, Clone)]
struct Params {
    rate: u64,
    secs: u64,
    kill_at: f64,
    merges: usize,
    open: usize,
    rejected: usize,
    shared: bool,
}

impl Params {
    fn from_env() -> Params {
        let number = |name: &str, default: f64| -> f64 {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{name}={v} is no number"))
                })
                .unwrap_or(default)
        };
        let secs = number("SOAK_SECS", 60.0) as u64;
        let merges = number("SOAK_MERGES", 300.0) as usize;
        Params {
            rate: number("SOAK_RATE", 1000.0) as u64,
            secs,
            kill_at: number("SOAK_KILL_AT", secs as f64 / 2.0),
            merges,
            open: (merges / 10).clamp(2, 20),
            rejected: (merges / 10).clamp(2, 20),
            shared: std::env::var("SOAK_BACKEND").as_deref() == Ok("aws"),
        }
    }
}

/// What a delivery is, and so what keygate must make of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Acknowledged and ignored (`200`): pings, other repositories, actions keygate skips.
    Ignored,
    /// A check-run refresh of an open pull request (`202`, mostly coalesced).
    Refresh,
    /// The `closed` delivery of a merged request pull request.
    Merged,
    /// The `closed` delivery of a request pull request closed without merge.
    Rejected,
}

/// A delivery body, signed once: only its `X-GitHub-Delivery` changes from send to send.
struct Template {
    event: &'static str,
    body: Bytes,
    signature: String,
    kind: Kind,
}

impl Template {
    fn new(event: &'static str, payload: &Value, kind: Kind) -> Template {
        let body = serde_json::to_vec(payload).unwrap();
        let signature = payloads::sign(WEBHOOK_SECRET.as_bytes(), &body);
        Template {
            event,
            body: Bytes::from(body),
            signature,
            kind,
        }
    }
}

/// The repository's pull requests: each merged one adds a request for its own IAM user.
struct World {
    gh: GitHub,
    aws: AwsWorld,
    merged: Vec<(u64, String)>,
    open: Vec<(u64, String)>,
    rejected: Vec<(u64, String)>,
}

async fn request_pr(gh: &GitHub, aws: &AwsWorld) -> (u64, String) {
    let user = aws.iam_user("soak").await;
    let pr = gh.open_pr("bob", &[(&path(&user), &valid_request(&user))]);
    (pr, user)
}

/// Arranged after keygate first started: a merge older than its ledger never issues.
async fn arrange(gh: GitHub, aws: AwsWorld, p: &Params) -> World {
    let mut w = World {
        gh,
        aws,
        merged: Vec::new(),
        open: Vec::new(),
        rejected: Vec::new(),
    };
    for _ in 0..p.merges {
        let (pr, user) = request_pr(&w.gh, &w.aws).await;
        w.gh.review(pr, "carol", Approve);
        w.gh.merge(pr);
        w.merged.push((pr, user));
    }
    for _ in 0..p.open {
        let (pr, user) = request_pr(&w.gh, &w.aws).await;
        w.open.push((pr, user));
    }
    for _ in 0..p.rejected {
        let (pr, user) = request_pr(&w.gh, &w.aws).await;
        w.gh.close(pr);
        w.rejected.push((pr, user));
    }
    w
}

/// Every delivery the load picks from, by kind.
fn templates(w: &World) -> Vec<Template> {
    let gh = &w.gh;
    let (first_open, _) = w.open[0];
    let mut out = vec![Template::new(
        "ping",
        &payloads::ping_event(gh),
        Kind::Ignored,
    )];
    let mut elsewhere = payloads::pull_request_event(gh, first_open, "opened");
    elsewhere["repository"]["full_name"] = json!("acme/another-repository");
    out.push(Template::new("pull_request", &elsewhere, Kind::Ignored));
    let mut labeled = payloads::pull_request_event(gh, first_open, "opened");
    labeled["action"] = json!("labeled");
    out.push(Template::new("pull_request", &labeled, Kind::Ignored));
    let issue = json!({
        "action": "opened",
        "issue": { "number": 9999, "title": "not a pull request" },
        "repository": gh.repo_json(),
        "sender": { "id": 7, "login": "bob" },
    });
    out.push(Template::new("issues", &issue, Kind::Ignored));
    for (pr, _) in &w.open {
        for action in ["opened", "synchronize", "reopened", "edited"] {
            let payload = payloads::pull_request_event(gh, *pr, action);
            out.push(Template::new("pull_request", &payload, Kind::Refresh));
        }
        let review = gh.review(*pr, "dave", Approve);
        let payload = payloads::pull_request_review_event(gh, *pr, review, "submitted");
        out.push(Template::new(
            "pull_request_review",
            &payload,
            Kind::Refresh,
        ));
    }
    for (pr, _) in &w.merged {
        let payload = payloads::pull_request_event(gh, *pr, "closed");
        out.push(Template::new("pull_request", &payload, Kind::Merged));
    }
    for (pr, _) in &w.rejected {
        let payload = payloads::pull_request_event(gh, *pr, "closed");
        out.push(Template::new("pull_request", &payload, Kind::Rejected));
    }
    out
}

/// One send: which template, under which delivery ID, and what came back (`None`: no
/// answer, e.g. while `serve` was down).
#[derive(Debug, Clone)]
struct Sent {
    template: usize,
    guid: String,
    at: f64,
    status: Option<u16>,
}

/// A small deterministic generator, so two runs send the same mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, from: &'a [usize]) -> Option<&'a usize> {
        if from.is_empty() {
            return None;
        }
        from.get(self.next() as usize % from.len())
    }
}

/// Picks the next delivery: 40 % ignored, 15 % refreshes, 30 % merged pull requests under a
/// new ID, 10 % a merged one sent again under an ID already used (GitHub's Redeliver), 5 %
/// closed without merge.
fn next_delivery(
    mix: &mut Mix,
    by_kind: &BTreeMap<&'static str, Vec<usize>>,
    sent_merged: &[(usize, String)],
    n: u64,
) -> (usize, String) {
    let roll = mix.next() % 100;
    let from = |name: &str| by_kind.get(name).map(Vec::as_slice).unwrap_or_default();
    let fresh = || format!("soak-{n:08}-{:08x}", n.wrapping_mul(2654435761) as u32);
    let pick = match roll {
        0..40 => mix.pick(from("ignored")),
        40..55 => mix.pick(from("refresh")),
        55..85 => mix.pick(from("merged")),
        85..95 => {
            if !sent_merged.is_empty() {
                let again = &sent_merged[mix.next() as usize % sent_merged.len()];
                return again.clone();
            }
            mix.pick(from("merged"))
        }
        _ => mix.pick(from("rejected")),
    };
    (*pick.unwrap_or(&0), fresh())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Ignored => "ignored",
        Kind::Refresh => "refresh",
        Kind::Merged => "merged",
        Kind::Rejected => "rejected",
    }
}

/// The replicas: `keygate serve` processes with fixed ports, so a restart takes its address
/// back and the load goes on at the same URLs.
struct Replicas {
    dir: TempDir,
    aws_endpoint: String,
    ports: Vec<u16>,
    serving: tokio::sync::Mutex<Vec<Serving>>,
    /// The process ID of each replica now, for the memory sampler.
    pids: Vec<AtomicU32>,
}

impl Replicas {
    async fn start(dir: TempDir, aws: &AwsWorld, count: usize) -> Replicas {
        let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let mut serving = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let log = format!("serve-{i}-first.log");
            let started = Serving::start_at(*port, &dir, &aws.proxy.url, &log, &[], &[]).await;
            serving.push(started);
        }
        let pids = serving
            .iter()
            .map(|s| AtomicU32::new(s.child.id()))
            .collect();
        Replicas {
            dir,
            aws_endpoint: aws.proxy.url.clone(),
            ports,
            serving: tokio::sync::Mutex::new(serving),
            pids,
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i % self.ports.len()])
    }

    /// `kill -9` of replica `i`, then a new `serve` on the same ledger and port; returns the
    /// seconds it answered nothing (until its `/healthz` answered again).
    async fn kill_and_restart(&self, i: usize) -> f64 {
        let mut serving = self.serving.lock().await;
        let killed = Instant::now();
        serving[i].child.kill().unwrap();
        serving[i].child.wait().unwrap();
        let log = format!("serve-{i}-restarted.log");
        let (port, dir) = (self.ports[i], &self.dir);
        let again = Serving::start_at(port, dir, &self.aws_endpoint, &log, &[], &[]).await;
        self.pids[i].store(again.child.id(), Ordering::SeqCst);
        serving[i] = again;
        killed.elapsed().as_secs_f64()
    }
}

/// `VmRSS` of each replica, in KiB, every second: (seconds since the load began, replica,
/// KiB).
fn sample_memory(
    replicas: Arc<Replicas>,
    began: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(f64, usize, u64)>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            for (i, pid) in replicas.pids.iter().enumerate() {
                let pid = pid.load(Ordering::SeqCst);
                let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
                let rss = status.ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                });
                if let Some(kib) = rss {
                    samples.push((began.elapsed().as_secs_f64(), i, kib));
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        samples
    })
}

/// What the load did.
struct Load {
    sent: Vec<Sent>,
    /// Seconds into the load when replica 0 was killed.
    kill_at: f64,
    /// Seconds from the kill until the restarted `serve` answered.
    down_for: f64,
}

/// Sends at `p.rate` per second for `p.secs`, open loop (each send at its own time, whatever
/// the answers before it), and kills replica 0 at `p.kill_at`, beside the load.
async fn load(
    p: &Params,
    templates: Arc<Vec<Template>>,
    replicas: Arc<Replicas>,
    began: Instant,
) -> Load {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mut by_kind: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, t) in templates.iter().enumerate() {
        by_kind.entry(kind_name(t.kind)).or_default().push(i);
    }
    let results: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(512));
    let mut mix = Mix(22);
    let mut sent_merged: Vec<(usize, String)> = Vec::new();
    let mut kill: Option<(f64, tokio::task::JoinHandle<f64>)> = None;
    for n in 0..p.rate * p.secs {
        let due = began + Duration::from_secs_f64(n as f64 / p.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        if kill.is_none() && began.elapsed().as_secs_f64() >= p.kill_at {
            let replicas = replicas.clone();
            let restart = tokio::spawn(async move { replicas.kill_and_restart(0).await });
            kill = Some((began.elapsed().as_secs_f64(), restart));
        }
        let (template, guid) = next_delivery(&mut mix, &by_kind, &sent_merged, n);
        if templates[template].kind == Kind::Merged {
            sent_merged.push((template, guid.clone()));
        }
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let (http, templates, results) = (http.clone(), templates.clone(), results.clone());
        let url = format!("{}/webhook", replicas.url(n as usize));
        tokio::spawn(async move {
            let t = &templates[template];
            let at = began.elapsed().as_secs_f64();
            let answer = http
                .post(url)
                .header("content-type", "application/json")
                .header("user-agent", "GitHub-Hookshot/soak")
                .header("x-github-event", t.event)
                .header("x-github-delivery", &guid)
                .header("x-hub-signature-256", &t.signature)
                .body(t.body.clone())
                .send()
                .await;
            let status = answer.ok().map(|r| r.status().as_u16());
            let sent = Sent {
                template,
                guid,
                at,
                status,
            };
            results.lock().unwrap().push(sent);
            drop(permit);
        });
    }
    drop(in_flight.acquire_many(512).await.unwrap());
    let (kill_at, restart) = kill.expect("the load lasts past the kill");
    let down_for = restart.await.unwrap();
    let sent = std::mem::take(&mut *results.lock().unwrap());
    Load {
        sent,
        kill_at,
        down_for,
    }
}

/// Waits until no delivery is queued or running (the work after the load is done).
async fn drain(url: &str, patience: Duration) -> f64 {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let ready = http.get(format!("{url}/readyz")).send().await;
        if let Ok(r) = ready
            && let Ok(r) = r.json::<Value>().await
        {
            let d = &r["deliveries"];
            if d["queued"] == 0 && d["running"] == 0 {
                return started.elapsed().as_secs_f64();
            }
        }
        let waited = started.elapsed();
        assert!(
            waited < patience,
            "deliveries still queued after {waited:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the ledger holds for each delivery: its state and, when coalesced, what it joined.
type LedgerRows = HashMap<String, (String, Option<String>)>;

fn sqlite_rows(dir: &std::path::Path) -> LedgerRows {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(dir.join("ledger.db"), flags).unwrap();
    let mut stmt = conn
        .prepare("SELECT guid, state, coalesced_into FROM deliveries")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

async fn dynamo_rows(aws: &AwsWorld, table: &str, guids: &BTreeSet<&str>) -> LedgerRows {
    use keygate::ledger::{Ledger, Store};
    let sdk = crate::support::moto::sdk_config(&aws.proxy.url).await;
    let ledger = Ledger::open_dynamo(aws_sdk_dynamodb::Client::new(&sdk), table)
        .await
        .unwrap();
    let mut rows = LedgerRows::new();
    for guid in guids {
        let id = keygate::ids::DeliveryId::new(*guid);
        if let Some(status) = ledger.delivery(id).await.unwrap() {
            let state = format!("{:?}", status.state).to_lowercase();
            rows.insert(guid.to_string(), (state, None));
        }
    }
    rows
}

/// The ledger's side of "exactly once": every delivery answered `202` has one row, in a
/// final state (done or failed, or coalesced into one that is). Returns the count per state.
fn check_ledger(accepted: &BTreeSet<&str>, rows: &LedgerRows) -> BTreeMap<String, usize> {
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for guid in accepted {
        let (state, into) = rows
            .get(*guid)
            .unwrap_or_else(|| panic!("delivery {guid} was answered 202 but is not in the ledger"));
        match state.as_str() {
            "done" | "failed" => {}
            "coalesced" => {
                if let Some(into) = into {
                    let (target, _) = rows.get(into).expect("a coalesced delivery's target");
                    let final_state = target == "done" || target == "failed";
                    assert!(final_state, "{guid} joined {into}, which is {target}");
                }
            }
            other => panic!("delivery {guid} answered 202 is still {other}"),
        }
        *states.entry(state.clone()).or_default() += 1;
    }
    states
}

/// Distinct notices (by `notice_id`) and all notices received, per (event, IAM user).
fn notices_by_user(notices: &[Notice]) -> BTreeMap<(String, String), (BTreeSet<String>, usize)> {
    let mut out: BTreeMap<(String, String), (BTreeSet<String>, usize)> = BTreeMap::new();
    for n in notices {
        let user = n.attributes.get("iam_user").cloned().unwrap_or_default();
        let entry = out.entry((n.event().to_string(), user)).or_default();
        entry
            .0
            .insert(n.attributes.get("notice_id").cloned().unwrap_or_default());
        entry.1 += 1;
    }
    out
}

/// The effects side: each merged request issued exactly one key, held by exactly one secret,
/// announced by one comment and one `issued` notice (a notice may repeat under its own
/// `notice_id`: at least once, DESIGN §3); each rejected one, one `rejected` notice and no
/// key. Returns how many notices came more than once.
async fn check_effects(w: &World) -> usize {
    let notices = w.aws.notices().await;
    let by_user = notices_by_user(&notices);
    let secrets = w.aws.secrets_named("soak-").await;
    let bot = w.gh.app_bot().login;
    let once = |event: &str, user: &str| {
        let key = (event.to_string(), user.to_string());
        by_user.get(&key).map_or(0, |(ids, _)| ids.len())
    };
    for (pr, user) in &w.merged {
        let keys = w.aws.access_keys(user).await;
        assert_eq!(keys.len(), 1, "{user} (PR #{pr}) holds {keys:?}");
        let own: Vec<&String> = secrets
            .iter()
            .filter(|s| s.starts_with(&format!("{user}/")))
            .collect();
        assert_eq!(own.len(), 1, "{user} (PR #{pr}) has secrets {own:?}");
        let value = w.aws.secret(own[0]).await.expect("the secret's value");
        assert_eq!(
            value["AccessKeyId"],
            keys[0].as_str(),
            "{user}: the secret holds another key"
        );
        let comments: Vec<_> =
            w.gh.comment_views(*pr)
                .into_iter()
                .filter(|c| c.author == bot)
                .collect();
        assert_eq!(
            comments.len(),
            1,
            "PR #{pr}: keygate's comments {comments:?}"
        );
        assert!(
            comments[0].body.contains(own[0].as_str()),
            "PR #{pr}: {}",
            comments[0].body
        );
        assert_eq!(once("issued", user), 1, "{user}: `issued` notices");
        for event in ["failed", "refused", "rejected"] {
            assert_eq!(
                once(event, user),
                0,
                "{user} (PR #{pr}): a `{event}` notice"
            );
        }
    }
    for (pr, user) in &w.rejected {
        assert_eq!(
            once("rejected", user),
            1,
            "{user} (PR #{pr}): `rejected` notices"
        );
        assert!(
            w.aws.access_keys(user).await.is_empty(),
            "{user}: a key for a rejected PR"
        );
    }
    by_user.values().map(|(ids, all)| all - ids.len()).sum()
}

/// RSS of one `serve` process over its part of the run, in MiB: (first, peak, last) among
/// the samples in `from..to` seconds, and the value 5 s after `from` (warmed up).
fn memory_curve(samples: &[(f64, usize, u64)], replica: usize, from: f64, to: f64) -> [f64; 4] {
    let mine: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, r, _)| *r == replica && *t >= from && *t <= to)
        .map(|(t, _, kib)| (*t, *kib as f64 / 1024.0))
        .collect();
    assert!(
        !mine.is_empty(),
        "no memory samples for replica {replica} in {from}..{to}"
    );
    let first = mine[0].1;
    let warm = mine
        .iter()
        .find(|(t, _)| *t >= from + 5.0)
        .map_or(first, |s| s.1);
    let peak = mine.iter().map(|s| s.1).fold(0.0, f64::max);
    [first, warm, peak, mine[mine.len() - 1].1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of a minute or more: run by scripts/soak"]
async fn soak_every_accepted_delivery_is_processed_once_across_a_kill() {
    let p = Params::from_env();
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let mut dir = tempfile::tempdir().unwrap();
    // SOAK_KEEP=1 keeps the folder (configuration, ledger, every serve's log) to look into.
    if std::env::var_os("SOAK_KEEP").is_some() {
        dir.disable_cleanup(true);
        println!("soak: keeping {}", dir.path().display());
    }
    let mut extra = "[github]\nprivate_key_file = \"app.pem\"\n\
                     [server]\nmax_attempts = 1000\nconcurrency = 8\n"
        .to_string();
    let table = p.shared.then(|| {
        let shared = shared_backend_config(&aws);
        extra.push_str(&format!("{shared}lease_secs = 10\n"));
        // `[store]\nbackend = "dynamodb"\ntable = "NAME"…`: the fourth piece between quotes.
        shared
            .split('"')
            .nth(3)
            .expect("the table's name")
            .to_string()
    });
    write_config(dir.path(), &gh, &aws, &extra);
    if p.shared {
        let mut init = keygate(dir.path(), &aws.proxy.url);
        init.arg("init");
        let (code, out, err) = run_to_end(init, dir.path(), "init".into()).await;
        assert_eq!(code, Some(0), "{out}{err}");
    }
    let replicas = Arc::new(Replicas::start(dir, &aws, if p.shared { 2 } else { 1 }).await);
    // The ledger's watermark is on GitHub's clock, to the second: merge after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let w = arrange(gh, aws, &p).await;
    let templates = Arc::new(templates(&w));

    let began = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_memory(replicas.clone(), began, stop.clone());
    let done = load(&p, templates.clone(), replicas.clone(), began).await;
    let load_secs = began.elapsed().as_secs_f64();
    let drained_in = drain(&replicas.url(0), Duration::from_secs(900)).await;
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();

    let accepted: BTreeSet<&str> = done
        .sent
        .iter()
        .filter(|s| s.status == Some(202))
        .map(|s| s.guid.as_str())
        .collect();
    let rows = match &table {
        Some(table) => dynamo_rows(&w.aws, table, &accepted).await,
        None => sqlite_rows(replicas.dir.path()),
    };
    let missing: Vec<&Sent> = done
        .sent
        .iter()
        .filter(|s| s.status == Some(202) && !rows.contains_key(&s.guid))
        .collect();
    for s in &missing {
        let kind = kind_name(templates[s.template].kind);
        println!(
            "soak: {} ({kind}) answered 202 at {:.2}s, not in the ledger",
            s.guid, s.at
        );
    }
    let states = check_ledger(&accepted, &rows);
    let repeats = check_effects(&w).await;
    let report = Report::new(
        &p, &done, &templates, load_secs, drained_in, &states, repeats, &samples,
    );
    report.print_and_save();
    report.assert_memory_flat();
}

/// The figures of a run, as `scripts/soak` prints them and the README records them.
struct Report {
    json: Value,
    /// (name, [first, warm, peak, last]) per `serve` process, in MiB.
    memory: Vec<(String, [f64; 4])>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &Params,
        done: &Load,
        templates: &[Template],
        load_secs: f64,
        drained_in: f64,
        states: &BTreeMap<String, usize>,
        notice_repeats: usize,
        samples: &[(f64, usize, u64)],
    ) -> Report {
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        let mut accepted_by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let (mut redelivered, mut redelivered_202) = (0, 0);
        let (mut before_kill, mut after_restart) = (0, 0);
        let restarted_at = done.kill_at + done.down_for;
        for s in &done.sent {
            let status = s.status.map_or("no answer".to_string(), |c| c.to_string());
            *statuses.entry(status).or_default() += 1;
            let again = !seen.insert(s.guid.as_str());
            if again {
                redelivered += 1;
            }
            if s.status == Some(202) {
                *accepted_by_kind
                    .entry(kind_name(templates[s.template].kind))
                    .or_default() += 1;
                redelivered_202 += usize::from(again);
                before_kill += usize::from(s.at < done.kill_at);
                after_restart += usize::from(s.at > restarted_at);
            }
        }
        let last_send = done.sent.iter().map(|s| s.at).fold(0.0, f64::max);
        let end = load_secs + drained_in;
        let mut memory = vec![
            (
                "serve before the kill".to_string(),
                memory_curve(samples, 0, 0.0, done.kill_at),
            ),
            (
                "serve after the restart".to_string(),
                memory_curve(samples, 0, restarted_at, end),
            ),
        ];
        if p.shared {
            memory.push((
                "second replica".to_string(),
                memory_curve(samples, 1, 0.0, end),
            ));
        }
        let json = json!({
            "backend": if p.shared { "dynamodb+sqs (moto), 2 replicas" } else { "sqlite" },
            "rate_asked": p.rate,
            "seconds": p.secs,
            "sent": done.sent.len(),
            "rate_achieved": (done.sent.len() as f64 / last_send.max(1e-9)).round(),
            "statuses": statuses,
            "accepted_202": accepted_by_kind.values().sum::<usize>(),
            "accepted_by_kind": accepted_by_kind,
            "redelivered_same_id": redelivered,
            "redelivered_accepted_again": redelivered_202,
            "ledger_states_of_accepted": states,
            "merged_prs": p.merges,
            "open_prs": p.open,
            "rejected_prs": p.rejected,
            "kill_at_secs": (done.kill_at * 10.0).round() / 10.0,
            "down_for_secs": (done.down_for * 100.0).round() / 100.0,
            "accepted_before_kill": before_kill,
            "accepted_after_restart": after_restart,
            "drained_in_secs": (drained_in * 10.0).round() / 10.0,
            "notice_repeats": notice_repeats,
            "rss_mib": memory.iter().map(|(name, [first, warm, peak, last])| json!({
                "process": name, "start": first, "warm": warm, "peak": peak, "end": last,
            })).collect::<Vec<_>>(),
        });
        Report { json, memory }
    }

    fn print_and_save(&self) {
        println!("SOAK_RESULT {}", self.json);
        if let Ok(file) = std::env::var("SOAK_REPORT") {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .unwrap();
            writeln!(f, "{}", self.json).unwrap();
        }
        let j = &self.json;
        assert!(
            j["accepted_before_kill"].as_u64() > Some(0),
            "nothing accepted before the kill"
        );
        assert!(
            j["accepted_after_restart"].as_u64() > Some(0),
            "nothing accepted after it"
        );
    }

    /// Flat: at the end, each process holds at most half as much again as it did warmed up
    /// (5 s into its load), or 32 MiB more, whichever is larger.
    fn assert_memory_flat(&self) {
        for (name, [_, warm, _, last]) in &self.memory {
            let allowed = warm + (warm / 2.0).max(32.0);
            assert!(
                *last <= allowed,
                "{name}: RSS {warm:.1} MiB warm, {last:.1} MiB at the end"
            );
        }
    }
}
