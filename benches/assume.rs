//! The time `AssumeRole` adds to a call in a member account (DESIGN §9), measured (not
//! asserted): the same IAM call (`ListAccessKeys` of a user in the member account) with a
//! cold credential cache (a fresh member: `AssumeRole` first, then the call) and with a warm
//! one (the call alone), and the same call in keygate's own account for reference. On moto
//! over loopback: what carries over to AWS is the one extra round trip when cold, none when
//! warm; AWS STS answers in tens of milliseconds where moto answers in a few.
//!
//!   MOTO_SERVER_BIN=.venv/bin/moto_server cargo bench --bench assume
//!   KEYGATE_BENCH_RUNS [40]

// The stand-ins' async bodies (the Lambda one above all) nest deeper than the default limit.
#![recursion_limit = "256"]

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use keygate::config::{AccountSection, Accounts};
use keygate::ids::{AccountAlias, IamUser};
use support::accounts::{EXTERNAL_ID, ISSUER_ROLE, Member, PROD};
use support::moto::{moto, sdk_config};

fn runs() -> usize {
    std::env::var("KEYGATE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40usize)
        .max(3)
}

fn summary(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    println!(
        "assume: {name}: {} runs, min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1])
    );
    median
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    rt.block_on(async {
        let url = &moto().url;
        let home = keygate::aws::Aws::from_config(&sdk_config(url).await);
        let raw = BTreeMap::from([(
            PROD.0.to_string(),
            AccountSection {
                role_arn: format!("arn:aws:iam::{}:role/{ISSUER_ROLE}", PROD.1),
                external_id: Some(EXTERNAL_ID.to_string()),
                region: None,
            },
        )]);
        let accounts = Accounts::check(&raw).expect("a valid account");
        let alias = AccountAlias::new(PROD.0);
        let member_user = IamUser::new(Member::at(PROD).await.iam_user("bench").await);
        let home_iam = aws_sdk_iam::Client::new(&sdk_config(url).await);
        let home_user = support::app::unique("bench");
        home_iam
            .create_user()
            .user_name(&home_user)
            .send()
            .await
            .expect("a user at home");

        let (mut cold, mut warm, mut own) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs() {
            let aws = home.clone().with_accounts(&accounts);
            let member = aws.in_account(Some(&alias)).expect("the member");
            let started = Instant::now();
            member.list_access_keys(&member_user).await.expect("cold");
            cold.push(started.elapsed());
            let started = Instant::now();
            member.list_access_keys(&member_user).await.expect("warm");
            warm.push(started.elapsed());
            let started = Instant::now();
            home.list_access_keys(&IamUser::new(&home_user))
                .await
                .expect("at home");
            own.push(started.elapsed());
        }
        let cold = summary(
            "member account, cold cache (AssumeRole + ListAccessKeys)",
            cold,
        );
        let warm = summary("member account, warm cache (ListAccessKeys)", warm);
        summary("keygate's own account (ListAccessKeys)", own);
        println!(
            "assume: AssumeRole adds {:.1} ms (median cold minus median warm) once per account \
             and hour; a warm cache adds nothing",
            (cold.saturating_sub(warm)).as_secs_f64() * 1000.0
        );
    });
}
