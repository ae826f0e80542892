//! `keygate audit` (DESIGN §5): reads `git log` of the requests folder in the clone it runs
//! in, the ledger (when one is at `store.path`) and AWS (read-only calls), and prints one
//! row per request file. Without a ledger (none at `store.path`, or `--no-ledger`) it
//! rebuilds the issued keys from the tags of keygate's secrets and asks GitHub (read-only,
//! as the App) for each pull request's merge. The joining and printing are pure
//! ([`crate::audit`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::keys::runtime;
use crate::audit::{
    AwsKey, Filter, GIT_LOG_FORMAT, Joined, KeyFacts, Lineage, PullMerge, RequestFile, Row, State,
    TaggedSecret, follow_rotations, match_intents, match_tagged, no_request_file, parse_git_log,
    request_files, row,
};
use crate::aws::ACCESS_KEY_TAG;
use crate::aws::Aws;
use crate::config::Settings;
use crate::github::client::{GitHubApp, RepoClient};
use crate::ids::{AccessKeyId, IamUser, SecretName};
use crate::ledger::{Intent, Ledger, Role, Store};
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
    pub key: Option<AccessKeyId>,
    /// Only requests for this IAM user, or by this requester.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only requests merged on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Do not read the ledger even if one is at store.path: rebuild from the secrets' tags,
    /// the GitHub API and git log (what an auditor's clone has).
    #[arg(long)]
    pub no_ledger: bool,
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

/// What AWS says of `key`, the request's key now (its rotations followed), in the key's
/// account: read-only calls, each unknown when it fails. The expiry tag comes from the secrets
/// already listed (`ListSecrets` returns their tags), so the audit needs no `DescribeSecret`; a
/// secret not among them (deleted) has no tag to shorten the expiry.
async fn key_facts(
    aws: &Aws,
    intent: &Intent,
    key: Option<&AccessKeyId>,
    secrets: &[TaggedSecret],
) -> KeyFacts {
    let Some(key) = key else {
        return KeyFacts::UNKNOWN;
    };
    let aws = match aws.in_account(intent.account.as_ref()) {
        Ok(aws) => aws,
        Err(e) => {
            tracing::warn!(error = %e, access_key_id = %key, "cannot read the key's account");
            return KeyFacts::UNKNOWN;
        }
    };
    let tag_expiry = secrets
        .iter()
        .find(|s| {
            &s.access_key_id == key
                || (s.account == intent.account && Some(&s.name) == intent.secret_name.as_ref())
        })
        .and_then(|s| s.expires_at);
    KeyFacts {
        tag_expiry,
        ..iam_facts(aws, &intent.iam_user, key).await
    }
}

/// IAM's word on `key` of `user` (`ListAccessKeys`, `GetAccessKeyLastUsed`), unknown where a
/// call fails.
async fn iam_facts(aws: &Aws, user: &IamUser, key: &AccessKeyId) -> KeyFacts {
    let aws_key = match aws.access_key_statuses(user).await {
        Ok(None) => AwsKey::Absent,
        Ok(Some(keys)) => match keys.iter().find(|k| &k.access_key_id == key) {
            Some(k) if k.active => AwsKey::Active,
            Some(_) => AwsKey::Inactive,
            None => AwsKey::Absent,
        },
        Err(e) => {
            tracing::warn!(error = %e, access_key_id = %key, "cannot list the user's keys");
            AwsKey::Unknown
        }
    };
    let last_used = match aws_key {
        AwsKey::Active | AwsKey::Inactive => aws.access_key_last_used(key).await.ok(),
        AwsKey::Absent | AwsKey::Unknown => None,
    };
    KeyFacts {
        aws: aws_key,
        tag_expiry: None,
        last_used,
    }
}

/// Every secret keygate tagged (`keygate:access-key-id`) in this repository, read from its
/// tags, in keygate's own account and in each account of `[accounts]` (each secret with the
/// account it was found in). Listing them is required: an audit that could not look must not
/// read as all clear (exit 2).
async fn keygate_secrets(settings: &Settings, aws: &Aws) -> anyhow::Result<Vec<TaggedSecret>> {
    let repository = settings.github.repository.as_deref();
    let mut out = Vec::new();
    for aws in std::iter::once(aws).chain(aws.members()) {
        let place = match aws.account() {
            Some(a) => format!("AWS account `{a}`, through the role accounts.{a}.role_arn names"),
            None => "with the operator's read-only credentials".to_string(),
        };
        let listed = aws.secrets_tagged(ACCESS_KEY_TAG).await.with_context(|| {
            format!(
                "cannot list the secrets tagged {ACCESS_KEY_TAG} (secretsmanager:ListSecrets in {place}): the audit needs them to find keys without a ledger record or a request file"
            )
        })?;
        out.extend(
            listed
                .iter()
                .filter_map(|s| TaggedSecret::from_tags(&s.name, &s.arn, s.created, &s.tags))
                .filter(|t| t.of_repository(repository))
                .map(|t| TaggedSecret {
                    account: aws.account().cloned(),
                    ..t
                }),
        );
    }
    Ok(out)
}

/// IAM's word on a tagged secret's key, in the secret's account.
async fn tagged_facts(aws: &Aws, secret: &TaggedSecret, user: &IamUser) -> KeyFacts {
    match aws.in_account(secret.account.as_ref()) {
        Ok(aws) => iam_facts(aws, user, &secret.access_key_id).await,
        Err(e) => {
            tracing::warn!(error = %e, access_key_id = %secret.access_key_id, "cannot read the key's account");
            KeyFacts::UNKNOWN
        }
    }
}

/// Drift rows for keys keygate tagged that are active without a request file in `files`
/// (DESIGN §5), asking IAM only of keys whose request path is not in the history.
async fn untracked_keys(
    settings: &Settings,
    aws: &Aws,
    secrets: &[TaggedSecret],
    files: &[RequestFile],
) -> Vec<Row> {
    let repository = settings.github.repository.as_deref();
    let mut rows = Vec::new();
    for secret in secrets {
        let Some(user) = secret.iam_user() else {
            continue;
        };
        if secret
            .path
            .as_deref()
            .is_some_and(|p| files.iter().any(|f| f.path == p))
        {
            continue;
        }
        let facts = KeyFacts {
            tag_expiry: secret.expires_at,
            ..tagged_facts(aws, secret, &user).await
        };
        rows.extend(no_request_file(secret, &facts, files, repository));
    }
    rows
}

/// Adds the drift rows of [`untracked_keys`]: a key that already has a row (a ledger intent,
/// or a tagged secret, whose file is not in the history) is marked; any other gets its own.
fn mark_untracked(rows: &mut Vec<Row>, untracked: Vec<Row>) {
    for drift in untracked {
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
}

/// Fills in what the ledger and AWS say of the key a request's secret holds now (its
/// rotations followed, DESIGN §10), and of a leak of any of its keys.
async fn follow(
    ledger: &Ledger,
    aws: &Aws,
    rotations: &[crate::ledger::Rotation],
    secrets: &[TaggedSecret],
    j: &mut Joined<'_>,
) -> anyhow::Result<()> {
    let Some(intent) = j.intent else {
        return Ok(());
    };
    let Some(first) = intent.access_key_id.clone() else {
        j.key = key_facts(aws, intent, None, secrets).await;
        return Ok(());
    };
    let (current, replaced) = follow_rotations(&first, rotations);
    let mut leaked = None;
    for key in replaced.iter().chain(std::iter::once(&current)) {
        let life = ledger.key_life(key.clone()).await?;
        if let Some(leak) = life.as_ref().and_then(|l| l.care.leak.as_ref()) {
            leaked = Some(format!("{key}: {} ({})", leak.source, leak.location));
        }
        if *key == current {
            j.stage = life.map(|l| l.progress.stage);
        }
    }
    j.key = key_facts(aws, intent, Some(&current), secrets).await;
    j.lineage = Lineage {
        current_key: (!replaced.is_empty()).then_some(current),
        replaced_keys: replaced,
        leaked,
    };
    Ok(())
}

/// Whether `run_audit_with` may read the ledger at `store.path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerUse {
    /// The ledger when one is there (the default).
    IfPresent,
    /// Never (`--no-ledger`): rebuild from the secrets' tags.
    Never,
}

/// The audit's rows for the clone at `repo`, at `now`, filtered; the ledger when one is at
/// `store.path`.
pub async fn run_audit(
    settings: &Settings,
    aws: &Aws,
    repo: &Path,
    filter: &Filter,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Row>> {
    run_audit_with(settings, aws, repo, filter, now, LedgerUse::IfPresent).await
}

/// [`run_audit`], choosing whether the ledger may be read.
pub async fn run_audit_with(
    settings: &Settings,
    aws: &Aws,
    repo: &Path,
    filter: &Filter,
    now: OffsetDateTime,
    ledger_use: LedgerUse,
) -> anyhow::Result<Vec<Row>> {
    // Each account of `[accounts]` is read through its role (DESIGN §9).
    let aws = &aws.clone().with_accounts(&settings.accounts);
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
    if ledger_use == LedgerUse::Never || !settings.store.path.exists() {
        if ledger_use == LedgerUse::IfPresent {
            eprintln!(
                "keygate audit: no ledger at {} (store.path): rebuilding from the secrets' tags, GitHub and git log",
                settings.store.path.display()
            );
        }
        return audit_without_ledger(settings, aws, &files, filter, now).await;
    }
    // Read-only, beside a running `serve` (DESIGN §5): no lock, no migration.
    let ledger = Ledger::open_sqlite_as(&settings.store.path, Role::Audit).with_context(|| {
        format!(
            "cannot open the ledger at {}",
            settings.store.path.display()
        )
    })?;
    let intents = ledger.all_intents().await?;
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
            tagged: None,
            pull: None,
            lineage: Default::default(),
        })
        .collect();
    joined.extend(unmatched.iter().map(|&i| Joined {
        file: None,
        path: intents[i].path.to_string(),
        intent: Some(&intents[i]),
        stage: None,
        key: KeyFacts::UNKNOWN,
        tagged: None,
        pull: None,
        lineage: Default::default(),
    }));
    let secrets = keygate_secrets(settings, aws).await?;
    let rotations = ledger.all_rotations().await?;
    for j in &mut joined {
        follow(&ledger, aws, &rotations, &secrets, j).await?;
    }
    let warn_days = settings.lifecycle.warn_days;
    let mut rows: Vec<Row> = joined
        .iter()
        .map(|j| row(j, true, now, warn_days))
        .collect();
    mark_untracked(
        &mut rows,
        untracked_keys(settings, aws, &secrets, &files).await,
    );
    Ok(rows.into_iter().filter(|r| filter.keeps(r)).collect())
}

/// The rows with no ledger: the issued keys rebuilt from the tags of keygate's secrets in
/// this repository, their state from IAM, each pull request's merge from GitHub. A secret
/// listing that fails ends the audit (exit 2): without it no key could be found, and a
/// table of unknowns must not pass for all clear.
async fn audit_without_ledger(
    settings: &Settings,
    aws: &Aws,
    files: &[RequestFile],
    filter: &Filter,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Row>> {
    let secrets = keygate_secrets(settings, aws).await?;
    let (of_file, unmatched) = match_tagged(files, &secrets);
    let mut joined: Vec<Joined<'_>> = files
        .iter()
        .zip(&of_file)
        .map(|(f, t)| Joined {
            file: Some(f),
            path: f.path.clone(),
            intent: None,
            stage: None,
            key: KeyFacts::UNKNOWN,
            tagged: t.map(|t| &secrets[t]),
            pull: None,
            lineage: Default::default(),
        })
        .collect();
    joined.extend(unmatched.iter().map(|&t| {
        Joined {
            file: None,
            path: secrets[t]
                .path
                .clone()
                .unwrap_or_else(|| "unknown".to_string()),
            intent: None,
            stage: None,
            key: KeyFacts::UNKNOWN,
            tagged: Some(&secrets[t]),
            pull: None,
            lineage: Default::default(),
        }
    }));
    let mut github = PullReader::new(settings);
    for j in &mut joined {
        let Some(t) = j.tagged else { continue };
        if let Some(user) = crate::life::iam_user_of(&j.path) {
            j.key = tagged_facts(aws, t, &user).await;
        }
        if let Some(pr) = t.pr {
            j.pull = github.merge_of(pr).await;
        }
    }
    let warn_days = settings.lifecycle.warn_days;
    let mut rows: Vec<Row> = joined
        .iter()
        .map(|j| row(j, false, now, warn_days))
        .collect();
    mark_untracked(
        &mut rows,
        untracked_keys(settings, aws, &secrets, files).await,
    );
    Ok(rows.into_iter().filter(|r| filter.keeps(r)).collect())
}

/// Reads pull requests' merges from GitHub as the App, read-only. When GitHub is not
/// configured or cannot be reached it says so once and answers `None` (unknown) from then on.
struct PullReader<'s> {
    settings: &'s Settings,
    client: Option<Option<RepoClient>>,
}

impl<'s> PullReader<'s> {
    fn new(settings: &'s Settings) -> PullReader<'s> {
        PullReader {
            settings,
            client: None,
        }
    }

    async fn client(&mut self) -> Option<&RepoClient> {
        if self.client.is_none() {
            self.client = Some(match self.connect().await {
                Ok(c) => Some(c),
                Err(why) => {
                    eprintln!(
                        "keygate audit: GitHub cannot be asked ({why}): merges not in this clone's history print as unknown"
                    );
                    None
                }
            });
        }
        self.client.as_ref().and_then(Option::as_ref)
    }

    async fn connect(&self) -> Result<RepoClient, String> {
        let s = self.settings;
        let (Some(app_id), Some(repository), Some(key)) = (
            s.github.app_id,
            s.github.repository.as_deref(),
            s.private_key.as_ref(),
        ) else {
            return Err(
                "github.app_id, github.repository and the App's private key are not all configured"
                    .into(),
            );
        };
        let app = GitHubApp::new(&s.github.api_url, app_id, key).map_err(|e| e.to_string())?;
        let installation = app
            .repo_installation(repository)
            .await
            .map_err(|e| e.to_string())?;
        app.repo(installation.id, repository)
            .map_err(|e| e.to_string())
    }

    /// The merge of pull request `number`; `None` when GitHub did not answer.
    async fn merge_of(&mut self, number: u64) -> Option<PullMerge> {
        let client = self.client().await?;
        match client.pull(number).await {
            Ok(p) => Some(PullMerge {
                merge_commit: p.merge_commit_sha.filter(|_| p.merged),
                merged_at: p.merged_at,
            }),
            Err(e) => {
                tracing::warn!(error = %e, pr = number, "cannot read the pull request");
                None
            }
        }
    }
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
        let aws = crate::startup::aws().await;
        let ledger_use = if args.no_ledger {
            LedgerUse::Never
        } else {
            LedgerUse::IfPresent
        };
        run_audit_with(
            settings,
            &aws,
            Path::new("."),
            &filter,
            OffsetDateTime::now_utc(),
            ledger_use,
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
                r.access_key_id
                    .as_ref()
                    .map_or("a key", AccessKeyId::as_str),
                r.iam_user,
                r.path,
                r.secret.as_ref().map_or("unknown", SecretName::as_str)
            );
            continue;
        }
        eprintln!(
            "keygate audit: {} of IAM user {} is past its expiry ({}) yet active",
            r.access_key_id
                .as_ref()
                .map_or("a key", AccessKeyId::as_str),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn drift_row(key: &str) -> Row {
        let tags = BTreeMap::from([
            (ACCESS_KEY_TAG.to_string(), key.to_string()),
            (
                "keygate:request".to_string(),
                "requests/svc-x/ci.toml".to_string(),
            ),
        ]);
        let secret =
            TaggedSecret::from_tags(&"svc-x/access-key-1".into(), "", None, &tags).unwrap();
        let active = KeyFacts {
            aws: AwsKey::Active,
            ..KeyFacts::UNKNOWN
        };
        no_request_file(&secret, &active, &[], None).unwrap()
    }

    #[test]
    fn an_untracked_key_marks_the_row_it_already_has_and_adds_one_for_any_other() {
        // The row the ledger or the tags already gave the key: active, not yet drift.
        let mut known = drift_row("AKIAKNOWN");
        known.state = State::Active;
        known.drift = false;
        let mut rows = vec![known];

        mark_untracked(
            &mut rows,
            vec![drift_row("AKIAKNOWN"), drift_row("AKIAOTHER")],
        );

        assert_eq!(rows.len(), 2, "one row per key: {rows:#?}");
        assert_eq!(rows[0].state, State::ActiveNoRequestFile);
        assert!(rows[0].drift);
        assert_eq!(rows[1].access_key_id, Some("AKIAOTHER".into()));
        assert!(rows[1].drift);
    }
}
