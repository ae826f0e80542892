//! `keygate audit` (DESIGN §5): reads `git log` of the requests folder in the clone it runs
//! in, the ledger (when one is at `store.path`) and AWS (read-only calls), and prints one
//! row per request file. The joining and printing are pure ([`crate::audit`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::lifecycle::runtime;
use crate::audit::{
    AwsKey, Filter, GIT_LOG_FORMAT, Joined, KeyFacts, Row, State, TaggedSecret, match_intents,
    no_request_file, parse_git_log, request_files, row,
};
use crate::aws::Aws;
use crate::aws::EXPIRES_TAG;
use crate::config::Settings;
use crate::ledger::{Intent, Ledger, Store};
use crate::request::{PathKind, classify};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuditFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
    /// Only the request that issued this access key ID (e.g. one seen in CloudTrail).
    #[arg(long, value_name = "AKIA…")]
    pub key: Option<String>,
    /// Only requests for this IAM user, or by this requester.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only requests merged on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
}

/// `--since` as a time: a date is its midnight UTC.
pub fn parse_since(s: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date = time::Date::parse(s, format_description!("[year]-[month]-[day]")).map_err(|_| {
        anyhow::anyhow!("--since `{s}` is not a date: write YYYY-MM-DD or an RFC 3339 time")
    })?;
    Ok(date.midnight().assume_utc())
}

/// The `git log` of the requests folder in `repo` (the branch checked out), as text.
pub fn git_history(repo: &Path, requests_dir: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.quotePath=false", "log", "-m", "--first-parent"])
        .args(["--diff-filter=AD", "--name-status", GIT_LOG_FORMAT, "--"])
        .arg(requests_dir)
        .output()
        .context(
            "cannot run git: keygate audit reads the history of the requests folder with it",
        )?;
    if !out.status.success() {
        anyhow::bail!(
            "git log failed in {}: {}; run keygate audit inside a clone of the requests repository",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What AWS says of `key` of `user` (`ListAccessKeys`): unknown when it cannot be asked.
async fn aws_key(aws: &Aws, user: &str, key: &str) -> AwsKey {
    match aws.access_key_statuses(user).await {
        Ok(None) => AwsKey::Absent,
        Ok(Some(keys)) => match keys.iter().find(|k| k.access_key_id == key) {
            Some(k) if k.active => AwsKey::Active,
            Some(_) => AwsKey::Inactive,
            None => AwsKey::Absent,
        },
        Err(e) => {
            tracing::warn!(error = %e, access_key_id = key, "cannot list the user's keys");
            AwsKey::Unknown
        }
    }
}

/// When AWS last saw a key it holds used; unknown for a key it does not hold.
async fn last_used(aws: &Aws, aws_key: AwsKey, key: &str) -> Option<Option<OffsetDateTime>> {
    match aws_key {
        AwsKey::Active | AwsKey::Inactive => aws.access_key_last_used(key).await.ok(),
        AwsKey::Absent | AwsKey::Unknown => None,
    }
}

/// What AWS says of one key: read-only calls, each unknown when it fails.
async fn key_facts(aws: &Aws, intent: &Intent) -> KeyFacts {
    let Some(key) = intent.access_key_id.as_deref() else {
        return KeyFacts::UNKNOWN;
    };
    let aws_key = aws_key(aws, &intent.iam_user, key).await;
    let tag_expiry = match intent.secret_name.as_deref() {
        Some(name) => match aws.describe_secret(name).await {
            Ok(facts) => facts
                .and_then(|f| f.tags.get(EXPIRES_TAG).cloned())
                .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok()),
            Err(e) => {
                tracing::warn!(error = %e, secret = name, "cannot read the secret's tags");
                None
            }
        },
        None => None,
    };
    KeyFacts {
        aws: aws_key,
        tag_expiry,
        last_used: last_used(aws, aws_key, key).await,
    }
}

/// Drift rows for keys keygate tagged that are active without a request file in `files`
/// (DESIGN §5). Listing the secrets is required: an audit that could not look must not
/// read as all clear.
async fn untracked_keys(
    settings: &Settings,
    aws: &Aws,
    files: &[crate::audit::RequestFile],
) -> anyhow::Result<Vec<Row>> {
    let secrets = aws.keygate_secrets().await.context(
        "cannot list the secrets keygate tagged (secretsmanager:ListSecrets with the operator's read-only credentials): the audit needs them to find active keys without a request file",
    )?;
    let repository = settings.github.repository.as_deref();
    let mut rows = Vec::new();
    for s in secrets {
        let secret = TaggedSecret {
            name: s.name,
            tags: s.tags,
        };
        let (Some(key), Some(user)) = (secret.access_key_id(), secret.iam_user()) else {
            continue;
        };
        if !secret.of_repository(repository)
            || secret
                .request()
                .is_some_and(|p| files.iter().any(|f| f.path == p))
        {
            continue;
        }
        let state = aws_key(aws, &user, &key).await;
        let facts = KeyFacts {
            aws: state,
            tag_expiry: secret
                .tags
                .get(EXPIRES_TAG)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
            last_used: last_used(aws, state, &key).await,
        };
        rows.extend(no_request_file(&secret, &facts, files, repository));
    }
    Ok(rows)
}

/// The audit's rows for the clone at `repo`, at `now`, filtered.
pub async fn run_audit(
    settings: &Settings,
    aws: &Aws,
    repo: &Path,
    filter: &Filter,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Row>> {
    let rules = settings
        .request_rules()
        .compile()
        .map_err(anyhow::Error::msg)?;
    let history = git_history(repo, &rules.requests_dir)?;
    let changes: Vec<_> = parse_git_log(&history)
        .into_iter()
        .filter(|c| matches!(classify(&c.path, &rules), PathKind::Request { .. }))
        .collect();
    let files = request_files(&changes);
    // The ledger when one is here; otherwise every ledger fact is unknown.
    let ledger = if settings.store.path.exists() {
        Some(Ledger::open_sqlite(&settings.store.path).with_context(|| {
            format!(
                "cannot open the ledger at {}",
                settings.store.path.display()
            )
        })?)
    } else {
        eprintln!(
            "keygate audit: no ledger at {} (store.path): requesters, approvers, keys and states are unknown",
            settings.store.path.display()
        );
        None
    };
    let intents = match &ledger {
        Some(l) => l.all_intents().await?,
        None => Vec::new(),
    };
    let (of_file, unmatched) = match_intents(&files, &intents);
    let mut joined: Vec<Joined<'_>> = files
        .iter()
        .zip(&of_file)
        .map(|(f, i)| Joined {
            file: Some(f),
            path: f.path.clone(),
            intent: i.map(|i| &intents[i]),
            stage: None,
            key: KeyFacts::UNKNOWN,
        })
        .collect();
    joined.extend(unmatched.iter().map(|&i| Joined {
        file: None,
        path: intents[i].path.clone(),
        intent: Some(&intents[i]),
        stage: None,
        key: KeyFacts::UNKNOWN,
    }));
    for j in &mut joined {
        let Some(intent) = j.intent else { continue };
        if let (Some(l), Some(key)) = (&ledger, intent.access_key_id.clone()) {
            j.stage = l.key_life(key).await?.map(|life| life.progress.stage);
        }
        j.key = key_facts(aws, intent).await;
    }
    let warn_days = settings.lifecycle.warn_days;
    let mut rows: Vec<Row> = joined
        .iter()
        .map(|j| row(j, ledger.is_some(), now, warn_days))
        .collect();
    for drift in untracked_keys(settings, aws, &files).await? {
        // A ledger intent whose file is not in the history already has a row: mark it.
        match rows
            .iter_mut()
            .find(|r| r.access_key_id.is_some() && r.access_key_id == drift.access_key_id)
        {
            Some(r) => {
                r.state = drift.state;
                r.drift = true;
            }
            None => rows.push(drift),
        }
    }
    Ok(rows.into_iter().filter(|r| filter.keeps(r)).collect())
}

/// `keygate audit`: exit 0, 1 when a key keygate issued is past its expiry yet active or a
/// key keygate tagged is active without a request file, and 2
/// when it cannot audit at all (not a clone, a bad option, a ledger it cannot read), so a
/// schedule never mistakes "could not look" for drift or for all clear.
pub fn audit_command(settings: &Settings, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    match audit(settings, args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("keygate audit: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn audit(settings: &Settings, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let filter = Filter {
        key: args.key.clone(),
        user: args.user.clone(),
        since: args.since.as_deref().map(parse_since).transpose()?,
    };
    let rows = runtime()?.block_on(async {
        let aws = Aws::from_env().await;
        run_audit(
            settings,
            &aws,
            Path::new("."),
            &filter,
            OffsetDateTime::now_utc(),
        )
        .await
    })?;
    match args.format {
        AuditFormat::Table => print!("{}", crate::audit::table(&rows)),
        AuditFormat::Json => println!("{}", crate::audit::json(&rows)),
        AuditFormat::Csv => print!("{}", crate::audit::csv(&rows)),
    }
    let drift: Vec<&Row> = rows.iter().filter(|r| r.drift).collect();
    for r in &drift {
        if r.state == State::ActiveNoRequestFile {
            eprintln!(
                "keygate audit: {} of IAM user {} is active, but no request file in the history is {} (secret {})",
                r.access_key_id.as_deref().unwrap_or("a key"),
                r.iam_user,
                r.path,
                r.secret.as_deref().unwrap_or("unknown")
            );
            continue;
        }
        eprintln!(
            "keygate audit: {} of IAM user {} is past its expiry ({}) yet active",
            r.access_key_id.as_deref().unwrap_or("a key"),
            r.iam_user,
            r.expires_at.as_deref().unwrap_or("unknown")
        );
    }
    Ok(if drift.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
