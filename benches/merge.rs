//! Merge latency, measured (not asserted): the time from a merged pull request's `202` to
//! its issued key (the delivery's work settled), and how many sequential rounds of GitHub
//! calls the merge path made. The GitHub stand-in adds a round-trip latency to every answer,
//! as a GitHub that is not on loopback would; moto is AWS.
//!
//!   MOTO_SERVER_BIN=.venv/bin/moto_server cargo bench --bench merge
//!   KEYGATE_BENCH_LATENCY_MS [30]   KEYGATE_BENCH_RUNS [12]

// The stand-ins' async bodies (the Lambda one above all) nest deeper than the default limit.
#![recursion_limit = "256"]

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::github::ReviewState::Approve;
use support::world::{open_request, world};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let latency = Duration::from_millis(env_u64("KEYGATE_BENCH_LATENCY_MS", 30));
    let runs = env_u64("KEYGATE_BENCH_RUNS", 12).max(2) as usize;
    let rt = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    rt.block_on(async move {
        let app = world().await;
        app.gh.set_latency(latency);
        let mut times = Vec::new();
        let mut rounds = Vec::new();
        let mut calls = Vec::new();
        for run in 0..runs {
            let (pr, user) = open_request(&app, "bob").await;
            app.gh.review(pr, "carol", Approve);
            app.settle().await;
            let from = app.gh.requests().len();
            app.gh.merge(pr);
            let started = Instant::now();
            assert_eq!(app.pr_event(pr, "closed").await, 202);
            wait_settled(&app).await;
            let took = started.elapsed();
            assert_eq!(app.aws.access_keys(&user).await.len(), 1, "issued");
            // The first merge also fetches the installation token and the App: warm-up.
            if run > 0 {
                times.push(took);
                rounds.push(app.gh.rounds_since(from));
                calls.push(app.gh.requests().len() - from);
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "merge: 202 -> issued, GitHub latency {} ms, {} runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
            latency.as_millis(),
            times.len(),
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1]),
        );
        rounds.sort();
        calls.sort();
        println!(
            "merge: sequential GitHub rounds median {} (min {}, max {}); GitHub calls median {}",
            rounds[rounds.len() / 2],
            rounds[0],
            rounds[rounds.len() - 1],
            calls[calls.len() / 2],
        );
    });
}

/// The work is done when no delivery is queued or running; polled finely so the figure is
/// the work's, not the poll's.
async fn wait_settled(app: &support::app::TestApp) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.readyz().await;
        let d = &r["deliveries"];
        if d["queued"] == 0 && d["running"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "never settled: {r}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
