//! `keygate sweep` and `keygate revoke` (DESIGN §5): the same steps `serve` runs, once,
//! from a shell, cron or a schedule.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::Aws;
use crate::config::Settings;
use crate::ledger::{Revocation, Role, Store};
use crate::startup::{App, lifecycle_rules};
use crate::workflow::sweep::{SweepLine, revoke_key, sweep};

/// A runtime for one command.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// One expiry pass at `now`, as `keygate sweep` runs it; returns what it did.
pub async fn run_sweep(
    settings: &Settings,
    aws: Aws,
    now: OffsetDateTime,
    dry_run: bool,
) -> anyhow::Result<Vec<SweepLine>> {
    let app = App::build(settings, aws, Role::Sweep).await?;
    let rules = lifecycle_rules(settings);
    Ok(sweep(&app.workflow, &rules, now, dry_run).await?)
}

/// `keygate sweep [--dry-run]`: exit 0, or 1 when a step failed.
pub fn sweep_command(settings: &Settings, dry_run: bool) -> anyhow::Result<ExitCode> {
    let lines = runtime()?.block_on(async {
        let aws = crate::startup::aws().await;
        run_sweep(settings, aws, OffsetDateTime::now_utc(), dry_run).await
    })?;
    let mut out = std::io::stdout().lock();
    let failed = print_sweep(&mut out, &lines, dry_run)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One line per step; returns whether any failed.
pub fn print_sweep(
    out: &mut impl Write,
    lines: &[SweepLine],
    dry_run: bool,
) -> anyhow::Result<bool> {
    let mut failed = false;
    for l in lines {
        let expires = l
            .expires_at
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "unknown".into());
        let result = match &l.result {
            None => "would run".to_string(),
            Some(Ok(())) => "done".to_string(),
            Some(Err(why)) => {
                failed = true;
                format!("FAILED: {why}")
            }
        };
        let step = l.step.map_or("read-secret", |s| s.as_str());
        writeln!(
            out,
            "{step} {} {} (IAM user {}, request {}, expires {expires})",
            l.access_key_id, result, l.iam_user, l.request
        )?;
    }
    let what = if dry_run { "due" } else { "taken" };
    writeln!(out, "keygate sweep: {} step(s) {what}", lines.len())?;
    Ok(failed)
}

/// Who is revoking: the AWS caller (an IAM user's ARN) when IAM can say, else `$USER`.
async fn operator(aws: &Aws) -> String {
    if let Ok(arn) = aws.caller_arn().await {
        return arn;
    }
    match std::env::var("USER") {
        Ok(u) if !u.trim().is_empty() => format!("local user {}", u.trim()),
        _ => "an unknown operator".into(),
    }
}

/// What `keygate revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now, by this operator.
    Now { by: String, iam_user: String },
    /// Its life was over already (deleted or revoked): nothing to do.
    AlreadyOver { stage: String },
}

/// Revokes `access_key_id` if keygate issued it (its ledger knows it); refuses any other.
pub async fn run_revoke(
    settings: &Settings,
    aws: Aws,
    access_key_id: &str,
    reason: &str,
) -> anyhow::Result<Revoked> {
    let by = operator(&aws).await;
    let app = App::build(settings, aws, Role::Revoke).await?;
    let Some(mut life) = app.ledger.key_life(access_key_id.to_string()).await? else {
        anyhow::bail!(
            "keygate's ledger has no key {access_key_id}: keygate revokes only keys it issued. \
             Deactivate other keys with `aws iam update-access-key --status Inactive`."
        );
    };
    let rules = lifecycle_rules(settings);
    let revocation = Revocation {
        by: by.clone(),
        reason: reason.to_string(),
        pr: None,
    };
    if revoke_key(&app.workflow, &rules, &mut life, revocation).await? {
        Ok(Revoked::Now {
            by,
            iam_user: life.iam_user,
        })
    } else {
        Ok(Revoked::AlreadyOver {
            stage: life.progress.stage.to_string(),
        })
    }
}

/// `keygate revoke --key AKIA… --reason "…"`.
pub fn revoke_command(settings: &Settings, key: &str, reason: &str) -> anyhow::Result<ExitCode> {
    // The argument parser refused a reason too short to say anything (exit 2).
    let reason = reason.trim();
    let done = runtime()?.block_on(async {
        let aws = crate::startup::aws().await;
        run_revoke(settings, aws, key, reason).await
    })?;
    match done {
        Revoked::Now { by, iam_user } => println!(
            "keygate revoke: {key} of IAM user {iam_user} deactivated, deleted and its secret deleted; recorded as revoked by {by}"
        ),
        Revoked::AlreadyOver { stage } => {
            println!("keygate revoke: {key} is already {stage}; nothing to do")
        }
    }
    Ok(ExitCode::SUCCESS)
}
