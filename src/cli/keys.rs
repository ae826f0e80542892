//! `keygate sweep`, `keygate revoke` (DESIGN §5) and `keygate rotate` (§10): the same steps
//! `serve` runs, once, from a shell, cron or a schedule.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::Aws;
use crate::config::Settings;
use crate::ids::{AccessKeyId, AccountAlias, IamUser};
use crate::ledger::{Revocation, Role, Store};
use crate::startup::{App, lifecycle_rules};
use crate::workflow::rotate::{Rotated, RotationAsk, rotate_key};
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
    /// Revoked now, by this operator, in `account` (`None`: keygate's own).
    Now {
        by: String,
        iam_user: IamUser,
        account: Option<AccountAlias>,
    },
    /// Its life was over already (deleted or revoked): nothing to do.
    AlreadyOver { stage: String },
}

/// Revokes `access_key_id` if keygate issued it (its ledger knows it); refuses any other.
pub async fn run_revoke(
    settings: &Settings,
    aws: Aws,
    access_key_id: &AccessKeyId,
    reason: &str,
) -> anyhow::Result<Revoked> {
    run_revoke_in(settings, aws, access_key_id, None, reason).await
}

/// [`run_revoke`], refusing a key that is not in `account` when one is named (`--account`).
/// The key's own account comes from the ledger; the revocation acts there, through its
/// issuer role (DESIGN §9).
pub async fn run_revoke_in(
    settings: &Settings,
    aws: Aws,
    access_key_id: &AccessKeyId,
    account: Option<&str>,
    reason: &str,
) -> anyhow::Result<Revoked> {
    let account = account.map(|a| named_account(settings, a)).transpose()?;
    let by = operator(&aws).await;
    let app = App::build(settings, aws, Role::Revoke).await?;
    let Some(mut life) = app.ledger.key_life(access_key_id.clone()).await? else {
        anyhow::bail!(
            "keygate's ledger has no key {access_key_id}: keygate revokes only keys it issued. \
             Deactivate other keys with `aws iam update-access-key --status Inactive`."
        );
    };
    if let Some(named) = &account
        && life.account.as_ref() != Some(named)
    {
        anyhow::bail!(
            "keygate issued {access_key_id} in {}, not in AWS account `{named}`: nothing was \
             revoked. Check the key ID, or name its account.",
            where_issued(life.account.as_ref())
        );
    }
    let rules = lifecycle_rules(settings);
    let revocation = Revocation {
        by: by.clone(),
        reason: reason.to_string(),
        pr: None,
    };
    let revoked = revoke_key(&app.workflow, &rules, &mut life, revocation)
        .await
        .map_err(|e| revocation_error(e, life.account.as_ref()))?;
    if revoked {
        Ok(Revoked::Now {
            by,
            iam_user: life.iam_user,
            account: life.account,
        })
    } else {
        Ok(Revoked::AlreadyOver {
            stage: life.progress.stage.to_string(),
        })
    }
}

/// An alias `--account` names, which `[accounts]` must know.
fn named_account(settings: &Settings, alias: &str) -> anyhow::Result<AccountAlias> {
    let alias = AccountAlias::parse(alias).map_err(|why| anyhow::anyhow!("--account: {why}"))?;
    if settings.accounts.get(&alias).is_none() {
        let known: Vec<String> = settings
            .accounts
            .aliases()
            .iter()
            .map(|a| format!("`{a}`"))
            .collect();
        anyhow::bail!(
            "--account: keygate's configuration names no AWS account `{alias}` ([accounts]: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(alias)
}

/// "AWS account `prod`", or "keygate's own AWS account".
fn where_issued(account: Option<&AccountAlias>) -> String {
    match account {
        Some(a) => format!("AWS account `{a}`"),
        None => "keygate's own AWS account".into(),
    }
}

/// A revocation that failed, with what to do. In a member account the issuer role trusts
/// keygate's role alone: an operator's own credentials cannot assume it.
fn revocation_error(
    e: crate::workflow::StepError,
    account: Option<&AccountAlias>,
) -> anyhow::Error {
    let unavailable =
        matches!(&e, crate::workflow::StepError::Aws(a) if a.is_account_unavailable());
    match account {
        Some(a) if unavailable => anyhow::Error::new(e).context(format!(
            "cannot act in AWS account `{a}`: its issuer role trusts keygate's role only, so run \
             `keygate revoke` with keygate's role's credentials (or deactivate the key with \
             `aws iam update-access-key --status Inactive` as an administrator of that account, \
             and run `keygate revoke` later); the revocation is recorded and the expiry sweep \
             finishes it"
        )),
        _ => anyhow::Error::new(e),
    }
}

/// `keygate revoke --key AKIA… [--account ALIAS] --reason "…"`.
pub fn revoke_command(
    settings: &Settings,
    key: &AccessKeyId,
    account: Option<&str>,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    // The argument parser refused a reason too short to say anything (exit 2).
    let reason = reason.trim();
    let done = runtime()?.block_on(async {
        let aws = crate::startup::aws().await;
        run_revoke_in(settings, aws, key, account, reason).await
    })?;
    match done {
        Revoked::Now {
            by,
            iam_user,
            account,
        } => println!(
            "keygate revoke: {key} of IAM user {iam_user}{} deactivated, deleted and its secret deleted; recorded as revoked by {by}",
            account
                .map(|a| format!(" in AWS account {a}"))
                .unwrap_or_default()
        ),
        Revoked::AlreadyOver { stage } => {
            println!("keygate revoke: {key} is already {stage}; nothing to do")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Rotates `access_key_id` now if keygate issued it for a request that rotates: recorded
/// with who (the operator's AWS identity) and why, announced as a scheduled rotation is.
pub async fn run_rotate(
    settings: &Settings,
    aws: Aws,
    access_key_id: &AccessKeyId,
    reason: &str,
) -> anyhow::Result<Rotated> {
    let by = operator(&aws).await;
    let app = App::build(settings, aws, Role::Rotate).await?;
    let Some(life) = app.ledger.key_life(access_key_id.clone()).await? else {
        anyhow::bail!(
            "keygate's ledger has no key {access_key_id}: keygate rotates only keys it issued"
        );
    };
    let rules = lifecycle_rules(settings);
    let ask = RotationAsk {
        by,
        reason: reason.to_string(),
    };
    Ok(rotate_key(&app.workflow, &rules, &life, ask).await?)
}

/// `keygate rotate --key AKIA… --reason "…"`: exit 0 once rotated, 1 when it waits or may
/// not be rotated (the line says why).
pub fn rotate_command(
    settings: &Settings,
    key: &AccessKeyId,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let reason = reason.trim();
    if reason.len() < 3 {
        anyhow::bail!(
            "--reason must say why the key is rotated; it goes to the ledger and the notice"
        );
    }
    let done = runtime()?.block_on(async {
        let aws = Aws::from_env().await;
        run_rotate(settings, aws, key, reason).await
    })?;
    match done {
        Rotated::Done { new_key } => {
            println!(
                "keygate rotate: {key} replaced by {new_key} in the same secret; {key} keeps working for lifecycle.rotation_overlap_hours"
            );
            Ok(ExitCode::SUCCESS)
        }
        Rotated::Waiting { why } => {
            println!("keygate rotate: {key} not rotated yet: {why} (every sweep tries again)");
            Ok(ExitCode::from(1))
        }
        Rotated::Refused { why } => {
            println!("keygate rotate: {key} cannot be rotated: {why}");
            Ok(ExitCode::from(1))
        }
    }
}
