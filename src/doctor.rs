//! `keygate doctor` (DESIGN §8): checks a deployment from where it runs and says, one line
//! per check, what is wrong and what to do about it. The checks only read, with one
//! exception: a probe file beside the ledger, written and removed, to prove the folder is
//! writable.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::aws::Aws;
use crate::config::{QueueBackend, Settings, StoreBackend};
use crate::github::client::{GitHubApp, GitHubError, RepoClient, RepoInstallation};
use crate::ledger::{Ledger, LedgerError, Role, SqliteLedger};
use crate::queue::{QueueError, SqsQueue};

mod accounts;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Fine, with something worth knowing.
    Note,
    /// Could not tell, or not as recommended: does not fail the run.
    Warn,
    /// Broken: keygate will not work until it is fixed.
    Fail,
    /// Not run because a check it depends on failed.
    Skipped,
}

impl Verdict {
    fn tag(self) -> &'static str {
        match self {
            Verdict::Ok => "ok  ",
            Verdict::Note => "note",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skip",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do, for a failure or a warning.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn with(
        name: &'static str,
        verdict: Verdict,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name,
            verdict,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::with(name, Verdict::Fail, detail, fix)
    }
    fn skipped(name: &'static str, because: &str) -> Check {
        Check {
            name,
            verdict: Verdict::Skipped,
            detail: format!("not checked: {because} failed"),
            fix: None,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.verdict.tag(), self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, " (fix: {fix})")?;
        }
        Ok(())
    }
}

/// Whether the run failed: any check failed.
pub fn failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.verdict == Verdict::Fail)
}

/// The permissions DESIGN §8 names, as the App manifest asks for them.
pub const REQUIRED_PERMISSIONS: [(&str, &str); 5] = [
    ("contents", "read"),
    ("pull_requests", "write"),
    ("checks", "write"),
    ("members", "read"),
    ("metadata", "read"),
];

/// The permissions the manifest also asks for, which only some deployments use: what each
/// gives. Without them keygate works, and the doctor warns.
pub const RECOMMENDED_PERMISSIONS: [(&str, &str, &str); 2] = [
    (
        "merge_queues",
        "read",
        "the `keygate` check on a merge queue's groups (a queue that requires it stalls without)",
    ),
    (
        "secret_scanning_alerts",
        "read",
        "GitHub's secret scanning alerts, which deactivate a leaked key at once",
    ),
];

fn level(access: &str) -> u8 {
    match access {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

/// Each required permission the installation lacks or holds too weakly, as
/// `name: read (has none)`.
pub fn missing_permissions(have: &BTreeMap<String, String>) -> Vec<String> {
    REQUIRED_PERMISSIONS
        .iter()
        .filter_map(|(name, want)| lacking(have, name, want))
        .collect()
}

/// Each recommended permission the installation lacks, with what it would give.
pub fn missing_recommended(have: &BTreeMap<String, String>) -> Vec<String> {
    RECOMMENDED_PERMISSIONS
        .iter()
        .filter_map(|(name, want, gives)| {
            Some(format!("{} for {gives}", lacking(have, name, want)?))
        })
        .collect()
}

fn lacking(have: &BTreeMap<String, String>, name: &str, want: &str) -> Option<String> {
    let has = have.get(name).map(String::as_str).unwrap_or("none");
    (level(has) < level(want)).then(|| format!("{name}: {want} (has {has})"))
}

/// The configuration failed to load: the one line the report holds.
pub fn config_failure(error: &dyn fmt::Display) -> Check {
    Check::fail(
        "configuration",
        format!("{error:#}"),
        "correct the key named above in the file or its KEYGATE_* variable",
    )
}

/// The checks after the configuration, in the order [`run`] makes them.
pub const AFTER_CONFIGURATION: [&str; 9] = [
    "github app",
    "github installation",
    "codeowners",
    "required check",
    "aws identity",
    "sns topic",
    "ledger",
    "work queue",
    "dead-letter queue",
];

/// The report when the configuration cannot be used: its failure, then every other check
/// as skipped, so the operator sees what was not looked at.
pub fn config_failure_report(error: &dyn fmt::Display) -> Vec<Check> {
    let mut checks = vec![config_failure(error)];
    checks.extend(
        AFTER_CONFIGURATION
            .iter()
            .map(|name| Check::skipped(name, "configuration")),
    );
    checks
}

/// Every check after the configuration, in the order an operator fixes things.
pub async fn run(settings: &Settings, aws: &Aws) -> Vec<Check> {
    let mut checks = Vec::new();
    let service = match settings.service() {
        Ok(s) => s,
        Err(e) => return config_failure_report(&e),
    };
    let place = settings
        .file
        .as_ref()
        .map(|f| format!("loaded from {}", f.display()))
        .unwrap_or_else(|| "loaded from the environment".into());
    checks.push(Check::ok("configuration", place));
    checks.extend(
        github(
            settings,
            service.app_id,
            service.private_key,
            service.repository,
        )
        .await,
    );
    checks.extend(aws_checks(aws, service.sns_topic_arn).await);
    checks.extend(accounts::checks(settings, aws).await);
    checks.push(ledger(settings, aws).await);
    checks.extend(queue(settings, aws).await);
    checks
}

const JWT: &str = "github app";
const INSTALLED: &str = "github installation";
const OWNERS: &str = "codeowners";
const REQUIRED: &str = "required check";

async fn github(
    settings: &Settings,
    app_id: u64,
    key: &secrecy::SecretString,
    repository: &str,
) -> Vec<Check> {
    let branch = &settings.github.branch;
    let skipped = |after: &'static str, names: &[&'static str]| -> Vec<Check> {
        names.iter().map(|n| Check::skipped(n, after)).collect()
    };
    let app = match GitHubApp::new(&settings.github.api_url, app_id, key) {
        Ok(app) => app,
        Err(e) => {
            let fix = "set github.private_key_file to the App's .pem";
            let mut out = vec![Check::fail(JWT, e.to_string(), fix)];
            out.extend(skipped(JWT, &[INSTALLED, OWNERS, REQUIRED]));
            return out;
        }
    };
    let mut out = vec![sign_in(settings, &app, app_id).await];
    if out[0].verdict == Verdict::Fail {
        out.extend(skipped(JWT, &[INSTALLED, OWNERS, REQUIRED]));
        return out;
    }
    let installation = match app.repo_installation(repository).await {
        Ok(i) => i,
        Err(e) => {
            let fix = if e.is_not_found() {
                format!(
                    "install the App on {repository} (the App's settings page → Install App), or correct github.repository"
                )
            } else {
                "retry; if it persists, check GitHub's status".into()
            };
            out.push(Check::fail(INSTALLED, e.to_string(), fix));
            out.extend(skipped(INSTALLED, &[OWNERS, REQUIRED]));
            return out;
        }
    };
    out.push(permissions(&installation, repository));
    let repo = match app.repo(installation.id, repository) {
        Ok(r) => r,
        Err(e) => {
            out.push(Check::fail(
                OWNERS,
                e.to_string(),
                "report this as a keygate bug",
            ));
            out.extend(skipped(OWNERS, &[REQUIRED]));
            return out;
        }
    };
    out.push(codeowners(&repo, branch).await);
    out.push(required_check(&repo, branch).await);
    out
}

/// The App's JWT: `GET /app` answers as its bot.
async fn sign_in(settings: &Settings, app: &GitHubApp, app_id: u64) -> Check {
    match app.bot_login().await {
        Ok(login) => Check::ok(JWT, format!("App {app_id} signs in as {login}")),
        Err(e) => {
            let fix = if e.is_clock_skew() {
                "set this host's clock right (NTP)".to_string()
            } else if matches!(e, GitHubError::Status { status: 401, .. }) {
                format!(
                    "github.app_id ({app_id}) and the private key must be the same App's: compare the App ID on the App's settings page, or generate a new key there"
                )
            } else {
                format!("check github.api_url ({})", settings.github.api_url)
            };
            Check::fail(JWT, e.to_string(), fix)
        }
    }
}

/// The installation on the repository has every permission keygate needs.
fn permissions(installation: &RepoInstallation, repository: &str) -> Check {
    let missing = missing_permissions(&installation.permissions);
    let recommended = missing_recommended(&installation.permissions);
    if missing.is_empty() && !recommended.is_empty() {
        return Check::with(
            INSTALLED,
            Verdict::Warn,
            format!(
                "installation {} on {repository} has the permissions keygate needs, but not {}",
                installation.id,
                recommended.join("; ")
            ),
            "grant these in the App's settings (Permissions & events) if you want what they give, then accept the new permissions on the installation",
        );
    }
    if missing.is_empty() {
        return Check::ok(
            INSTALLED,
            format!(
                "installation {} on {repository} with the permissions keygate needs",
                installation.id
            ),
        );
    }
    Check::fail(
        INSTALLED,
        format!(
            "installation {} on {repository} lacks {}",
            installation.id,
            missing.join(", ")
        ),
        "grant these in the App's settings (Permissions & events), then accept the new permissions on the installation",
    )
}

/// GitHub finds no error in the base branch's CODEOWNERS.
async fn codeowners(repo: &RepoClient, branch: &str) -> Check {
    match repo.codeowners_errors(branch).await {
        Ok(errors) if errors.is_empty() => Check::ok(
            OWNERS,
            format!("GitHub finds no errors in CODEOWNERS on {branch}"),
        ),
        Ok(errors) => {
            let list: Vec<String> = errors
                .iter()
                .map(|e| format!("{}:{}: {}", e.path, e.line, e.kind))
                .collect();
            Check::fail(
                OWNERS,
                format!("GitHub rejects CODEOWNERS on {branch}: {}", list.join("; ")),
                "correct those lines on the base branch; a line GitHub rejects assigns no owner, so nobody can approve those requests",
            )
        }
        Err(e) if e.is_not_found() => Check::fail(
            OWNERS,
            format!("no CODEOWNERS on {branch}"),
            "commit a CODEOWNERS (in .github/, the root or docs/) that names owners for the requests folder",
        ),
        Err(e) => Check::fail(
            OWNERS,
            e.to_string(),
            "the App needs contents: read; retry if GitHub was unavailable",
        ),
    }
}

/// `keygate` is a required status check of the branch (a warning when it cannot tell).
async fn required_check(repo: &RepoClient, branch: &str) -> Check {
    match repo.required_status_checks(branch).await {
        Ok(checks) if checks.iter().any(|c| c == "keygate") => Check::ok(
            REQUIRED,
            format!("`keygate` is a required status check of {branch}"),
        ),
        Ok(_) => Check::fail(
            REQUIRED,
            format!("`keygate` is not a required status check of {branch}"),
            format!(
                "add `keygate` to the required status checks of {branch}'s protection rule, or an unapproved request can be merged (nothing is issued, but the merge stands)"
            ),
        ),
        Err(e) => Check::with(
            REQUIRED,
            Verdict::Warn,
            format!("cannot tell whether `keygate` is a required status check of {branch} ({e})"),
            format!(
                "make sure {branch}'s protection rule requires the `keygate` check (reading it needs the administration permission, which keygate does not ask for)"
            ),
        ),
    }
}

async fn aws_checks(aws: &Aws, topic: &str) -> Vec<Check> {
    const IDENTITY: &str = "aws identity";
    const TOPIC: &str = "sns topic";
    let mut out = Vec::new();
    match aws.caller_arn().await {
        Ok(arn) => out.push(Check::ok(IDENTITY, format!("running as {arn}"))),
        Err(e) => {
            out.push(Check::fail(
                IDENTITY,
                e.to_string(),
                identity_fix(e.unreachable()),
            ));
            out.push(Check::skipped(TOPIC, IDENTITY));
            return out;
        }
    }
    out.push(match aws.topic_exists(topic).await {
        Ok(()) => Check::ok(TOPIC, format!("{topic} exists")),
        Err(e) if e.is_not_found() || e.code() == Some("NotFound") => Check::fail(
            TOPIC,
            format!("no topic {topic}"),
            "create it (the CloudFormation template does) or correct aws.sns_topic_arn",
        ),
        Err(e) => Check::fail(
            TOPIC,
            e.to_string(),
            "allow sns:GetTopicAttributes and sns:Publish on the topic to keygate's role",
        ),
    });
    out
}

/// What to do when `sts:GetCallerIdentity` failed: a DNS or network failure is not a
/// credentials problem, and saying so sends the operator the wrong way.
pub fn identity_fix(cause: Option<crate::aws::Unreachable>) -> String {
    use crate::aws::Unreachable;
    let endpoint = "AWS's endpoint (or AWS_ENDPOINT_URL, when set)";
    match cause {
        Some(Unreachable::Dns) => format!(
            "this host cannot resolve the name of {endpoint}: check its DNS resolver and network, and the region"
        ),
        Some(Unreachable::Connection | Unreachable::Timeout) => format!(
            "this host cannot connect to {endpoint}: check the network, a proxy (HTTPS_PROXY) or a firewall"
        ),
        Some(Unreachable::Credentials) | None | Some(Unreachable::Other) => {
            "give keygate AWS credentials (environment, profile, or an instance/task role) and a region"
                .into()
        }
    }
}

/// Opens the ledger without waiting; another keygate holding it is a healthy sign, not a
/// failure. Its folder must take new files (SQLite writes its journal beside it).
async fn ledger(settings: &Settings, aws: &Aws) -> Check {
    const NAME: &str = "ledger";
    if settings.store.backend == StoreBackend::Dynamodb {
        let table = settings.store.table.as_deref().unwrap_or_default();
        // Opening reads the table's shape and writes its creation mark conditionally: IAM
        // judges the write before the condition, so a ledger that opens is writable.
        return match Ledger::open_dynamo(aws.dynamodb(), table).await {
            Ok(_) => Check::ok(
                NAME,
                format!("DynamoDB table `{table}` has the ledger's shape and is writable"),
            ),
            Err(e @ LedgerError::MissingTable { .. }) => Check::fail(
                NAME,
                e.to_string(),
                "run `keygate init`, or deploy the CloudFormation template",
            ),
            Err(e) => Check::fail(
                NAME,
                e.to_string(),
                "keygate's role needs dynamodb:DescribeTable, GetItem, PutItem, UpdateItem, \
                 Query and TransactWriteItems on the table and its indexes",
            ),
        };
    }
    let path = &settings.store.path;
    let fix = format!(
        "make store.path ({}) a file in a folder keygate's user can write, e.g. on a persistent volume",
        path.display()
    );
    if let Err(e) = probe_folder(path) {
        return Check::fail(NAME, e, fix);
    }
    if !path.exists() {
        return Check {
            name: NAME,
            verdict: Verdict::Note,
            detail: format!(
                "{} does not exist yet; its folder is writable, and keygate serve creates it",
                path.display()
            ),
            fix: None,
        };
    }
    match SqliteLedger::open_as(path, Role::Doctor, std::time::Duration::ZERO) {
        Ok(_) => Check::ok(
            NAME,
            format!("{} opens and its folder is writable", path.display()),
        ),
        Err(LedgerError::Locked { holder, .. }) => Check {
            name: NAME,
            verdict: Verdict::Note,
            detail: format!("{} is in use by {holder}", path.display()),
            fix: None,
        },
        Err(e) => Check::fail(NAME, e.to_string(), fix),
    }
}

/// Writes and removes a file beside `ledger`: the folder exists (or can be made) and takes
/// new files.
fn probe_folder(ledger: &Path) -> Result<(), String> {
    let dir = match ledger.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the ledger's folder {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".keygate-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .map_err(|e| format!("cannot write in the ledger's folder {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

async fn queue(settings: &Settings, aws: &Aws) -> Vec<Check> {
    const QUEUE: &str = "work queue";
    const DEAD: &str = "dead-letter queue";
    let url = match (settings.queue.backend, settings.queue.url.as_deref()) {
        (QueueBackend::Sqs, Some(url)) => url,
        _ => {
            return vec![
                Check::ok(QUEUE, "in process (queue.backend = \"local\")"),
                Check::ok(DEAD, "not used (queue.backend = \"local\")"),
            ];
        }
    };
    let sqs = match SqsQueue::open(aws.clone(), url).await {
        Ok(q) => q,
        Err(e) => {
            let fix = match &e {
                QueueError::Missing { .. } => {
                    "run `keygate init`, or deploy the CloudFormation template".to_string()
                }
                QueueError::NotFifo { .. } => {
                    "point queue.url at a FIFO queue (keygate init creates one)".to_string()
                }
                QueueError::Unreadable { source, .. } => format!(
                    "{}; keygate's role needs sqs:GetQueueAttributes on the queue",
                    source.public_summary()
                ),
            };
            return vec![
                Check::fail(QUEUE, e.to_string(), fix),
                Check::skipped(DEAD, QUEUE),
            ];
        }
    };
    let mut out = vec![Check::ok(QUEUE, format!("SQS FIFO queue {url}"))];
    let Some(dead) = sqs.dead_letter_url() else {
        out.push(Check::with(
            DEAD,
            Verdict::Warn,
            "the work queue has no redrive policy: work that fails for good is recorded in the ledger only",
            "give the queue a dead-letter queue (keygate init and the template do)",
        ));
        return out;
    };
    out.push(match aws.queue_facts(dead).await {
        Ok(f) if f.waiting + f.in_flight == 0 => Check::ok(DEAD, format!("{dead} is empty")),
        Ok(f) => Check::fail(
            DEAD,
            format!(
                "{dead} holds {} message(s): work that failed for good",
                f.waiting + f.in_flight
            ),
            "read each message's error (aws sqs receive-message), fix the cause, then \
             redeliver the delivery from the App's advanced settings and delete the message",
        ),
        Err(e) => Check::fail(
            DEAD,
            format!("cannot read {dead}: {}", e.public_summary()),
            "keygate's role needs sqs:GetQueueAttributes on the dead-letter queue",
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_manifests_permissions_are_enough_and_more_is_fine() {
        let exact = perms(&REQUIRED_PERMISSIONS);
        assert!(missing_permissions(&exact).is_empty());
        let mut more = exact.clone();
        more.insert("contents".into(), "write".into());
        more.insert("issues".into(), "write".into());
        assert!(missing_permissions(&more).is_empty());
    }

    #[test]
    fn the_doctor_checks_exactly_what_the_app_manifest_asks_for() {
        let manifest = include_str!("../deploy/github-app.yml");
        let section = manifest
            .split("default_permissions:\n")
            .nth(1)
            .expect("the manifest has default_permissions");
        let asked: BTreeMap<String, String> = section
            .lines()
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| {
                let (name, rest) = l.trim().split_once(':')?;
                let access = rest.split('#').next()?.trim();
                Some((name.to_string(), access.to_string()))
            })
            .collect();
        let mut checked = perms(&REQUIRED_PERMISSIONS);
        for (name, access, _) in RECOMMENDED_PERMISSIONS {
            checked.insert(name.into(), access.into());
        }
        assert_eq!(asked, checked);
    }

    #[test]
    fn a_missing_recommended_permission_warns_with_what_it_would_give() {
        let required_only = perms(&REQUIRED_PERMISSIONS);
        let lacking = missing_recommended(&required_only);
        assert_eq!(lacking.len(), 2, "{lacking:?}");
        assert!(
            lacking[0].starts_with("merge_queues: read (has none) for")
                && lacking[0].contains("merge queue"),
            "{lacking:?}"
        );
        assert!(lacking[1].contains("leaked key"), "{lacking:?}");
        let installation = RepoInstallation {
            id: 7,
            permissions: required_only,
        };
        let check = permissions(&installation, "acme/requests");
        assert_eq!(check.verdict, Verdict::Warn, "{check:?}");
        assert!(!failed(&[check]));
    }

    #[test]
    fn a_missing_or_weaker_permission_is_named_with_what_it_has() {
        let mut have = perms(&REQUIRED_PERMISSIONS);
        have.insert("pull_requests".into(), "read".into());
        have.remove("members");
        assert_eq!(
            missing_permissions(&have),
            vec![
                "pull_requests: write (has read)".to_string(),
                "members: read (has none)".to_string()
            ]
        );
    }

    #[test]
    fn only_a_failure_fails_the_run() {
        let warn = Check::with("x", Verdict::Warn, "cannot tell", "look");
        let note = Check::with("y", Verdict::Note, "in use", "none");
        assert!(!failed(&[Check::ok("a", "fine"), warn.clone(), note]));
        assert!(failed(&[warn, Check::fail("b", "broken", "mend it")]));
    }

    #[test]
    fn a_network_failure_is_not_blamed_on_credentials() {
        use crate::aws::Unreachable;
        let dns = identity_fix(Some(Unreachable::Dns));
        assert!(
            dns.contains("resolve") && !dns.contains("credentials"),
            "{dns}"
        );
        let refused = identity_fix(Some(Unreachable::Connection));
        assert!(refused.contains("connect") && !refused.contains("credentials"));
        assert!(identity_fix(Some(Unreachable::Credentials)).contains("credentials"));
        assert!(
            identity_fix(None).contains("credentials"),
            "AWS refused them"
        );
    }

    #[test]
    fn a_configuration_that_does_not_load_skips_every_other_check_by_name() {
        let report = config_failure_report(&"`github.private_key_file`: cannot read x");
        assert_eq!(report.len(), 1 + AFTER_CONFIGURATION.len());
        assert_eq!(report[0].verdict, Verdict::Fail);
        for (check, name) in report[1..].iter().zip(AFTER_CONFIGURATION) {
            assert_eq!((check.name, check.verdict), (name, Verdict::Skipped));
            assert_eq!(
                check.to_string(),
                format!("[skip] {name}: not checked: configuration failed")
            );
        }
    }

    #[test]
    fn a_line_names_the_check_what_was_found_and_the_fix() {
        let c = Check::fail("sns topic", "no topic arn:x", "create it");
        assert_eq!(
            c.to_string(),
            "[FAIL] sns topic: no topic arn:x (fix: create it)"
        );
    }
}
