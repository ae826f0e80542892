//! The subcommands and their output formats.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

#[cfg(feature = "service")]
pub mod audit;
#[cfg(feature = "service")]
pub mod backup;
pub mod init_repo;
#[cfg(feature = "service")]
pub mod keys;
#[cfg(feature = "service")]
pub mod reconcile;

use crate::config::Settings;
#[cfg(feature = "service")]
use crate::ids::AccessKeyId;
use crate::ids::AccountAlias;
use crate::policy::codeowners::{CodeOwners, LOCATIONS};
use crate::request::{CompiledRules, Diagnostic, PathKind, classify, parse_request};

#[derive(Parser, Debug)]
#[command(
    name = "keygate",
    version,
    about = "A GitOps approval gate for AWS IAM access keys"
)]
#[cfg_attr(
    not(feature = "service"),
    command(
        after_help = "This keygate was built without the `service` feature: it only \
        validates request files and shows owners. Build with default features for `serve`, \
        `sweep`, `revoke` and `rotate`."
    )
)]
pub struct Cli {
    /// Configuration file (else KEYGATE_CONFIG, else ./keygate.toml if present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `keygate owners` prints for people or for tools; it has no annotations to make.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OwnersFormat {
    /// `path: owners (CODEOWNERS:line: pattern)`
    Text,
    /// JSON for tools
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// `path:line:col: message`
    Text,
    /// GitHub Actions annotations
    Github,
    /// JSON for tools
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check request files (default: the configured requests folder) and their owners.
    Validate {
        /// Files or folders, relative to the repository root.
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        accounts: AccountsArg,
    },
    /// Show who owns each path, and which CODEOWNERS line decided it.
    Owners {
        #[arg(required = true)]
        paths: Vec<String>,
        /// A CODEOWNERS file to use instead of the repository's.
        #[arg(long, value_name = "FILE")]
        codeowners: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OwnersFormat::Text)]
        format: OwnersFormat,
        #[command(flatten)]
        accounts: AccountsArg,
    },
    /// Run the GitHub App webhook service.
    #[cfg(feature = "service")]
    Serve,
    /// Warn about, deactivate and delete expired keys once (`serve` does it on a timer).
    #[cfg(feature = "service")]
    Sweep {
        /// Print what would be done, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Revoke a key keygate issued at once, with your own AWS credentials (incidents).
    #[cfg(feature = "service")]
    Revoke {
        /// The access key ID (AKIA…).
        #[arg(long, value_name = "AKIA…")]
        key: AccessKeyId,
        /// The account alias the key must be in (`[accounts]`): a key keygate issued in
        /// another account is refused, so an incident never revokes the wrong key.
        #[arg(long, value_name = "ALIAS")]
        account: Option<String>,
        /// Why (at least 3 characters): recorded in the ledger and sent in the `revoked`
        /// notice.
        #[arg(long, value_parser = revoke_reason)]
        reason: String,
    },
    /// Rotate a key of a request that rotates now, in place (a suspected exposure): a new
    /// key in the same secret; the old one keeps working for the overlap.
    #[cfg(feature = "service")]
    Rotate {
        /// The access key ID (AKIA…) to replace.
        #[arg(long, value_name = "AKIA…")]
        key: AccessKeyId,
        /// Why: recorded in the ledger and sent in the `rotated` notice.
        #[arg(long)]
        reason: String,
    },
    #[cfg(feature = "service")]
    /// Create what the configuration names and does not find: the DynamoDB table (with
    /// point-in-time recovery and deletion protection), the SQS FIFO queue and its
    /// dead-letter queue; change nothing that exists.
    Init,
    #[cfg(feature = "service")]
    /// Check the deployment from where it runs: one line per check, with the fix.
    Doctor,
    #[cfg(feature = "service")]
    /// Process merges keygate missed while it was down, and refresh open pull requests'
    /// check runs (`serve` does it at start and on a timer).
    Reconcile,
    #[cfg(feature = "service")]
    /// Serve AWS Lambda invocations (function URL, SQS work queue, schedule); what the
    /// `bootstrap` of a Lambda function runs, also with no arguments under Lambda.
    Lambda,
    #[cfg(feature = "service")]
    /// For every request file in the history of the requests folder: who asked, who
    /// approved, the merge, the key, its expiry, state and last use.
    Audit(audit::AuditArgs),
    #[cfg(feature = "service")]
    /// Copy the SQLite ledger (store.path) to FILE with SQLite's online backup, safe while
    /// `serve` runs; FILE must not exist.
    Backup {
        /// Where the copy goes (a new file).
        file: PathBuf,
    },
    /// Write a requests repository's starting files into DIR: `requests/` with a README for
    /// requesters, a commented CODEOWNERS and a validate workflow that downloads the
    /// released validate-only keygate and checks its SHA-256 sum.
    InitRepo(init_repo::InitRepoArgs),
}

/// A revocation's reason: it goes to the ledger and the notice, so it must say something.
/// Refused by the argument parser, so a short one is a usage error (exit 2), not the exit 1
/// that means "not a key keygate issued".
#[cfg(feature = "service")]
fn revoke_reason(raw: &str) -> Result<String, String> {
    let reason = raw.trim();
    if reason.chars().count() < 3 {
        return Err(
            "say why the key is revoked (at least 3 characters); it goes to the \
                    ledger and the notice"
                .into(),
        );
    }
    Ok(reason.to_string())
}

/// `--accounts`: the layout of a keygate that serves several AWS accounts, for a machine
/// without its configuration (the requesters' CI runs the validate-only build there).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AccountsArg {
    /// The account aliases of keygate's `[accounts]`, comma-separated (e.g. `prod,dev`):
    /// request files then live at <requests_dir>/<account>/<iam_user>/<name>.toml. Replaces
    /// the configuration's list; without it, the configuration's `[accounts]` (if any).
    #[arg(long, value_name = "ALIAS,…", value_delimiter = ',', value_parser = account_alias)]
    pub accounts: Option<Vec<AccountAlias>>,
}

/// An alias on the command line: a bad one is a usage error (exit 2).
fn account_alias(s: &str) -> Result<AccountAlias, String> {
    AccountAlias::parse(s.trim())
}

/// The rules request files are judged by: the configuration's, with `--accounts` in place
/// of its `[accounts]` when given. Compiled once, so every file of a run is judged by the
/// same globs.
fn judging_rules(
    config: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
    accounts: &AccountsArg,
) -> anyhow::Result<CompiledRules> {
    let settings = Settings::load(config, env)?;
    let mut rules = settings.request_rules();
    if let Some(list) = &accounts.accounts {
        // As the configuration lists them: sorted, each once.
        rules.accounts = list.clone();
        rules.accounts.sort();
        rules.accounts.dedup();
    }
    rules.compile().map_err(anyhow::Error::msg)
}

/// The command line as given, or `keygate lambda` when there is none and the Lambda
/// runtime started the process (`AWS_LAMBDA_RUNTIME_API` is set): a custom runtime's
/// `bootstrap` is run without arguments.
pub fn arguments(args: Vec<OsString>, lambda_runtime_api: Option<OsString>) -> Vec<OsString> {
    let started_by_lambda = lambda_runtime_api.is_some_and(|v| !v.is_empty());
    if args.len() == 1 && started_by_lambda && cfg!(feature = "service") {
        let program = args.into_iter().next().unwrap_or_else(|| "keygate".into());
        return vec![program, "lambda".into()];
    }
    args
}

/// Exit codes: 0 all good, 1 problems found, 2 usage or configuration error.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = std::env::vars();
    match cli.command {
        command @ (Command::Validate { .. } | Command::Owners { .. }) => {
            request_files_command(command, cli.config.as_deref(), env)
        }
        #[cfg(feature = "service")]
        Command::Serve => {
            let settings = with_remote_secrets(Settings::load(cli.config.as_deref(), env)?)?;
            settings.service()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(crate::startup::run(settings))?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "service")]
        Command::Sweep { dry_run } => {
            let settings = with_remote_secrets(Settings::load(cli.config.as_deref(), env)?)?;
            keys::sweep_command(&settings, dry_run)
        }
        #[cfg(feature = "service")]
        Command::Revoke {
            key,
            account,
            reason,
        } => {
            let settings = with_remote_secrets(Settings::load(cli.config.as_deref(), env)?)?;
            keys::revoke_command(&settings, &key, account.as_deref(), &reason)
        }
        #[cfg(feature = "service")]
        Command::Rotate { key, reason } => {
            let settings = Settings::load(cli.config.as_deref(), env)?;
            keys::rotate_command(&settings, &key, &reason)
        }
        #[cfg(feature = "service")]
        Command::Init => {
            let settings = Settings::load(cli.config.as_deref(), env)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let done = rt.block_on(async {
                let aws = crate::startup::aws().await;
                crate::init::run(&settings, &aws).await
            })?;
            for line in done {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "service")]
        Command::Doctor => doctor_command(cli.config.as_deref(), env),
        #[cfg(feature = "service")]
        Command::Reconcile => {
            let settings = with_remote_secrets(Settings::load(cli.config.as_deref(), env)?)?;
            reconcile::reconcile_command(&settings)
        }
        #[cfg(feature = "service")]
        Command::Lambda => crate::lambda::run(cli.config.as_deref(), env.collect()),
        #[cfg(feature = "service")]
        Command::Backup { file } => {
            let settings = Settings::load(cli.config.as_deref(), env)?;
            backup::backup_command(&settings, &file)
        }
        Command::InitRepo(args) => init_repo::init_repo_command(&args),
        #[cfg(feature = "service")]
        Command::Audit(args) => {
            let settings = with_remote_secrets(Settings::load(cli.config.as_deref(), env)?)?;
            audit::audit_command(&settings, &args)
        }
    }
}

/// `keygate validate` and `keygate owners`: what the requesters' CI runs, judged by the
/// configuration's rules (or `--accounts`).
fn request_files_command(
    command: Command,
    config: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate {
            paths,
            format,
            accounts,
        } => validate(&judging_rules(config, env, &accounts)?, &paths, format),
        Command::Owners {
            paths,
            codeowners,
            format,
            accounts,
        } => {
            let rules = judging_rules(config, env, &accounts)?;
            owners(&paths, codeowners.as_deref(), format, &rules)
        }
        _ => Ok(ExitCode::from(2)),
    }
}

/// The settings with the App's secrets read from Secrets Manager, when they name ARNs there
/// (`github.private_key_secret_arn`, `github.webhook_secret_arn`); as loaded otherwise.
#[cfg(feature = "service")]
fn with_remote_secrets(mut settings: Settings) -> anyhow::Result<Settings> {
    if settings.remote_secrets().any() {
        keys::runtime()?.block_on(crate::aws::app_secrets::load_from_env(&mut settings))?;
    }
    Ok(settings)
}

/// `keygate doctor`: exit 0, or 1 when a check failed. A configuration that does not load
/// is a failed check here, not a usage error: the doctor's job is to say what is wrong.
#[cfg(feature = "service")]
fn doctor_command(
    config: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let checks = match Settings::load(config, env).map(with_remote_secrets) {
        Ok(Ok(settings)) => keys::runtime()?.block_on(async {
            let aws = crate::startup::aws().await;
            crate::doctor::run(&settings, &aws).await
        }),
        Ok(Err(e)) => crate::doctor::config_failure_report(&format!("{e:#}")),
        Err(e) => crate::doctor::config_failure_report(&e),
    };
    let mut out = std::io::stdout().lock();
    for check in &checks {
        writeln!(out, "{check}")?;
    }
    Ok(if crate::doctor::failed(&checks) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Finds the repository's CODEOWNERS in GitHub's location order.
fn find_codeowners(root: &Path) -> Option<PathBuf> {
    LOCATIONS.iter().map(|l| root.join(l)).find(|p| p.is_file())
}

fn read_codeowners(path: &Path) -> anyhow::Result<CodeOwners> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(CodeOwners::parse(&text))
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            collect_files(&e.path(), out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn repo_relative(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

fn validate(rules: &CompiledRules, paths: &[PathBuf], format: Format) -> anyhow::Result<ExitCode> {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(&rules.requests_dir)]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for root in &roots {
        if !root.exists() {
            eprintln!("keygate: {} does not exist", root.display());
            return Ok(ExitCode::from(2));
        }
        collect_files(root, &mut files)
            .with_context(|| format!("cannot list {}", root.display()))?;
    }
    let codeowners = match find_codeowners(Path::new(".")) {
        Some(p) => Some((repo_relative(&p), read_codeowners(&p)?)),
        None => None,
    };
    let mut problems: Vec<Diagnostic> = Vec::new();
    if let Some((loc, co)) = &codeowners {
        for e in co.errors() {
            problems.push(Diagnostic {
                path: loc.clone(),
                line: Some(e.line),
                column: Some(e.column),
                message: format!(
                    "{} (keygate issues nothing while CODEOWNERS has an invalid line)",
                    e.message
                ),
            });
        }
    }
    let mut checked = 0usize;
    for file in &files {
        let path = repo_relative(file);
        match classify(&path, rules) {
            PathKind::Documentation => continue,
            PathKind::Outside => {
                problems.push(Diagnostic::new(
                    &path,
                    format!(
                        "not in the requests folder `{}/`: request files live at {}/{}<name>.toml",
                        rules.requests_dir,
                        rules.requests_dir,
                        folders(rules)
                    ),
                ));
                continue;
            }
            PathKind::Misplaced(_) | PathKind::Request { .. } => {}
        }
        checked += 1;
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                problems.push(Diagnostic::new(&path, format!("cannot read the file: {e}")));
                continue;
            }
        };
        if let Err(d) = parse_request(&path, &bytes, rules) {
            problems.extend(d);
        }
        if let Some((loc, co)) = &codeowners {
            problems.extend(owner_problem(rules, loc, co, &path));
        }
    }
    print_diagnostics(&problems, format, checked);
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What is wrong with the owners of the request at `path`, if anything: no line of the
/// CODEOWNERS at `loc` matches it, or the line that does names nobody.
fn owner_problem(
    rules: &CompiledRules,
    loc: &str,
    co: &CodeOwners,
    path: &str,
) -> Option<Diagnostic> {
    match co.rule_for(path) {
        None => Some(Diagnostic::new(
            path,
            format!(
                "no line of {loc} matches this path, so nobody can approve it: add an owner for {}/{}",
                rules.requests_dir,
                folders(rules)
            ),
        )),
        Some(r) if r.owners.is_empty() => Some(Diagnostic::new(
            path,
            format!(
                "{loc} line {} (`{}`) gives this path no owner, so nobody can approve it",
                r.line, r.pattern
            ),
        )),
        Some(_) => None,
    }
}

/// The folders of a request path under `rules`: `<iam_user>/`, or with accounts
/// `<account>/<iam_user>/`.
fn folders(rules: &CompiledRules) -> &'static str {
    if rules.accounts.is_empty() {
        "<iam_user>/"
    } else {
        "<account>/<iam_user>/"
    }
}

/// Escapes GitHub Actions workflow-command data and property values.
fn gh_escape(s: &str, property: bool) -> String {
    let s = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        s.replace(':', "%3A").replace(',', "%2C")
    } else {
        s
    }
}

fn print_diagnostics(problems: &[Diagnostic], format: Format, checked: usize) {
    match format {
        Format::Text => {
            for d in problems {
                println!("{d}");
            }
            eprintln!(
                "keygate: checked {checked} request file{}: {}",
                if checked == 1 { "" } else { "s" },
                if problems.is_empty() {
                    "all valid".to_string()
                } else {
                    format!("{} problem(s)", problems.len())
                }
            );
        }
        Format::Github => {
            for d in problems {
                let mut props = format!("file={}", gh_escape(&d.path, true));
                if let Some(l) = d.line {
                    props.push_str(&format!(",line={l}"));
                }
                if let Some(c) = d.column {
                    props.push_str(&format!(",col={c}"));
                }
                println!(
                    "::error {props},title=keygate::{}",
                    gh_escape(&d.message, false)
                );
            }
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                checked: usize,
                problems: &'a [Diagnostic],
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&Out { checked, problems }).unwrap_or_default()
            );
        }
    }
}

#[derive(Serialize)]
struct OwnerLine {
    path: String,
    owners: Vec<String>,
    line: Option<usize>,
    pattern: Option<String>,
    /// With `[accounts]`: the account a request path's folder names.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountAlias>,
}

/// One path's owners as `keygate owners` prints them: the path (and its account), then the
/// owners and the deciding line of `file`, or why nobody owns it.
fn owner_text(l: &OwnerLine, file: &Path) -> String {
    let account = l
        .account
        .as_ref()
        .map(|a| format!(" [account {a}]"))
        .unwrap_or_default();
    let file = file.display();
    match (&l.line, &l.pattern) {
        (Some(line), Some(pattern)) if !l.owners.is_empty() => format!(
            "{}{account}: {} ({file}:{line}: {pattern})",
            l.path,
            l.owners.join(" ")
        ),
        (Some(line), Some(pattern)) => format!(
            "{}{account}: no owner ({file}:{line}: `{pattern}` names no owner)",
            l.path
        ),
        _ => format!("{}{account}: no owner (no line of {file} matches)", l.path),
    }
}

fn owners(
    paths: &[String],
    file: Option<&Path>,
    format: OwnersFormat,
    rules: &CompiledRules,
) -> anyhow::Result<ExitCode> {
    let file = match file
        .map(Path::to_path_buf)
        .or_else(|| find_codeowners(Path::new(".")))
    {
        Some(f) => f,
        None => {
            eprintln!(
                "keygate: no CODEOWNERS found (looked for {}); pass --codeowners FILE",
                LOCATIONS.join(", ")
            );
            return Ok(ExitCode::from(2));
        }
    };
    let co = read_codeowners(&file)?;
    let mut problem = !co.errors().is_empty();
    for e in co.errors() {
        eprintln!(
            "{}:{}:{}: {} (this line is ignored, as GitHub ignores it)",
            file.display(),
            e.line,
            e.column,
            e.message
        );
    }
    let lines: Vec<OwnerLine> = paths
        .iter()
        .map(|p| {
            let path = p
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string();
            let rule = co.rule_for(&path);
            OwnerLine {
                owners: rule
                    .map(|r| r.owners.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                line: rule.map(|r| r.line),
                pattern: rule.map(|r| r.pattern.clone()),
                account: crate::request::account_of(&path, rules),
                path,
            }
        })
        .collect();
    problem |= lines.iter().any(|l| l.owners.is_empty());
    match format {
        OwnersFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&lines).unwrap_or_default()
        ),
        OwnersFormat::Text => {
            for l in &lines {
                println!("{}", owner_text(l, &file));
            }
        }
    }
    Ok(if problem {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    #[cfg(feature = "service")]
    fn bootstrap_without_arguments_under_the_lambda_runtime_serves_lambda() {
        let api = Some(OsString::from("127.0.0.1:9001"));
        assert_eq!(
            arguments(args(&["/var/task/bootstrap"]), api.clone()),
            args(&["/var/task/bootstrap", "lambda"])
        );
        assert_eq!(
            arguments(args(&["keygate", "doctor"]), api),
            args(&["keygate", "doctor"]),
            "a command given is the command run"
        );
    }

    #[test]
    fn without_the_lambda_runtime_no_arguments_stay_no_arguments() {
        assert_eq!(arguments(args(&["keygate"]), None), args(&["keygate"]));
        let empty = Some(OsString::new());
        assert_eq!(arguments(args(&["keygate"]), empty), args(&["keygate"]));
    }

    #[test]
    fn github_annotations_escape_what_would_break_them() {
        assert_eq!(gh_escape("a:b,c%\n", true), "a%3Ab%2Cc%25%0A");
        assert_eq!(gh_escape("a:b,c", false), "a:b,c");
    }
}
