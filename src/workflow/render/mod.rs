//! Texts people read: the pull-request comment, SNS notices, the check run. Pure.
//! None of these ever receives a secret access key: the types that reach here hold none.
//!
//! Text that came from a pull request (paths, names, reasons, diagnostics that echo a file)
//! goes through [`md`] on its way into Markdown, so it can neither mention people nor make
//! links, and through [`plain`] into notices, so it cannot forge a line (DESIGN §2, last
//! paragraph).

pub mod chat;
pub mod key_event;
pub mod md;
pub mod plain;
pub mod problem;
pub mod revocation;

use std::collections::BTreeMap;
use std::fmt::Write;

use super::StepError;
use crate::aws::Notice;
use crate::event::NoticeEvent;
use crate::github::client::GitHubError;
use crate::ids::{AccessKeyId, AccountAlias, IamUser, RequestPath, SecretName};
use crate::policy::Assessment;
use crate::policy::approval::Verdict;
use crate::policy::changes::Changes;
use crate::request::{Diagnostic, Request};

/// Marks keygate's own comment so it is edited, not duplicated.
pub const COMMENT_MARKER: &str = "<!-- keygate:result -->";

/// What happened to one request file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Issued {
        secret_name: SecretName,
        secret_arn: String,
        access_key_id: AccessKeyId,
        expires_at: String,
        days: u32,
        /// The request's `readers`: only they (and keygate) may read the secret. Empty when
        /// the request names none.
        readers: Vec<String>,
    },
    /// Nothing was issued. `why` is shown in the public comment and notice, so it is built
    /// from public forms only: an AWS error as [`AwsError::public_summary`], any step error
    /// as [`public_reason`], never an error's `Display` (AWS's message can hold account IDs
    /// and ARNs; it belongs in the log).
    ///
    /// [`AwsError::public_summary`]: crate::aws::AwsError::public_summary
    Failed {
        why: String,
    },
    Refused {
        reasons: Vec<String>,
    },
    /// Closed without merge (`why: None`), or expired while waiting for approval.
    Rejected {
        why: Option<String>,
    },
    /// A merged deletion of the request file revoked its keys (DESIGN §5); `note` says
    /// why there was nothing to revoke when `access_key_ids` is empty.
    Revoked {
        access_key_ids: Vec<AccessKeyId>,
        note: Option<String>,
    },
    /// Not done yet: its AWS account is unavailable for now (DESIGN §9), and keygate
    /// retries on its own while the other accounts' work goes on. Said in the comment, never
    /// announced: the notice goes out once it is done or has failed for good. `why` is
    /// public text, as for `Failed`.
    Retrying {
        why: String,
    },
}

impl Outcome {
    pub fn event(&self) -> NoticeEvent {
        match self {
            Outcome::Issued { .. } => NoticeEvent::Issued,
            Outcome::Failed { .. } => NoticeEvent::Failed,
            Outcome::Refused { .. } => NoticeEvent::Refused,
            Outcome::Rejected { .. } => NoticeEvent::Rejected,
            Outcome::Revoked { .. } => NoticeEvent::Revoked,
            Outcome::Retrying { .. } => NoticeEvent::Failed,
        }
    }

    /// Whether this outcome is announced (SNS): every one but an attempt still being
    /// retried.
    pub fn is_announced(&self) -> bool {
        !matches!(self, Outcome::Retrying { .. })
    }
}

/// What went wrong in a step, for a comment or a notice: an AWS error by its code and what to
/// do, a GitHub error by its status, never a raw message; the details are in the log.
pub fn public_reason(e: &StepError) -> String {
    match e {
        StepError::Aws(e) => e.public_summary(),
        StepError::GitHub(e) if e.is_clock_skew() => {
            "GitHub refused keygate's App token because keygate's clock is off from GitHub's \
             (clock skew); an operator must set the clock of keygate's host right (NTP), and \
             keygate retries on its own"
                .into()
        }
        StepError::GitHub(GitHubError::Status { what, status, .. }) => {
            format!(
                "GitHub answered {status} to the request for {what}; keygate's log has GitHub's message"
            )
        }
        StepError::GitHub(GitHubError::Unreachable { what, .. }) => {
            format!("GitHub could not be reached for {what}; keygate's log says why")
        }
        StepError::GitHub(GitHubError::Setup(_)) => {
            "the GitHub App cannot be set up; an operator must read keygate's log".into()
        }
        StepError::Ledger(_) => {
            "keygate's ledger could not be read or written; an operator must read keygate's log"
                .into()
        }
        // keygate's own sentence, with no message from AWS or GitHub in it.
        StepError::Uncertain(why) => why.clone(),
        StepError::Told(e) => public_reason(e),
    }
}

/// One request file and its outcome, with who was involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: RequestPath,
    pub iam_user: Option<IamUser>,
    /// The AWS account of the request (DESIGN §9); `None`: keygate's own, and no text says
    /// an account.
    pub account: Option<AccountAlias>,
    pub outcome: Outcome,
}

/// The pull request the notices are about.
#[derive(Debug, Clone)]
pub struct PrRef<'a> {
    pub repository: &'a str,
    pub number: u64,
    pub url: &'a str,
    pub requester: &'a str,
    pub approvers: &'a [String],
}

pub fn comment(reports: &[Report]) -> String {
    let mut s = format!("{COMMENT_MARKER}\n### keygate\n");
    for r in reports {
        let path = md::code(r.path.as_str());
        let mut user = r
            .iam_user
            .as_ref()
            .map(|u| format!(" for IAM user {}", md::code(u.as_str())))
            .unwrap_or_default();
        if let Some(a) = &r.account {
            let _ = write!(user, " in AWS account {}", md::code(a.as_str()));
        }
        comment_outcome(&mut s, &path, &user, &r.outcome);
    }
    s
}

/// One request's outcome in keygate's comment (Markdown); `path` and `user` are escaped.
fn comment_outcome(s: &mut String, path: &str, user: &str, outcome: &Outcome) {
    let _ = match outcome {
        Outcome::Issued { .. } => {
            issued_comment(s, path, user, outcome);
            Ok(())
        }
        Outcome::Failed { why } => write!(
            s,
            "\n**{path}**: no key was issued{user}. {}\n",
            md::prose(why)
        ),
        Outcome::Refused { reasons } => {
            let _ = write!(s, "\n**{path}**: refused{user}; nothing was issued.\n\n");
            for reason in reasons {
                let _ = writeln!(s, "- {}", md::prose(reason));
            }
            Ok(())
        }
        Outcome::Rejected { why: None } => write!(
            s,
            "\n**{path}**: the pull request was closed without merge; nothing was issued{user}.\n"
        ),
        Outcome::Rejected { why: Some(why) } => write!(
            s,
            "\n**{path}**: rejected{user}; nothing will be issued, even if it is merged. {}\n",
            md::prose(why)
        ),
        Outcome::Revoked {
            access_key_ids,
            note,
        } => {
            let keys: Vec<String> = access_key_ids
                .iter()
                .map(|k| md::code(k.as_str()))
                .collect();
            match (keys.is_empty(), note) {
                (false, _) => write!(
                    s,
                    "\n**{path}**: revoked{user}. Access key {} deactivated and deleted, and its secret deleted.\n",
                    keys.join(", ")
                ),
                (true, Some(note)) => write!(
                    s,
                    "\n**{path}**: nothing to revoke{user}: {}\n",
                    md::prose(note)
                ),
                (true, None) => write!(s, "\n**{path}**: nothing to revoke{user}.\n"),
            }
        }
        Outcome::Retrying { why } => write!(
            s,
            "\n**{path}**: not done yet{user}, and keygate retries on its own: {}\n",
            md::prose(why)
        ),
    };
}

/// An issued key in keygate's comment: where to read it, never the key itself.
fn issued_comment(s: &mut String, path: &str, user: &str, outcome: &Outcome) {
    let Outcome::Issued {
        secret_name,
        secret_arn,
        access_key_id,
        expires_at,
        days,
        readers,
    } = outcome
    else {
        return;
    };
    let _ = write!(
        s,
        "\n**{path}**: access key issued{user}.\n\n\
         - Secret: {}\n\
         - Secret ARN: {}\n\
         - Access key ID: {}\n\
         - Expires: {} ({days} days)\n",
        md::code(secret_name.as_str()),
        md::code(secret_arn),
        md::code(access_key_id.as_str()),
        md::text(expires_at),
    );
    if !readers.is_empty() {
        let _ = writeln!(
            s,
            "- Readable only by: {} (the secret's resource policy denies every other \
             principal but keygate)",
            code_list(readers)
        );
    }
    s.push_str(
        "\nRead the key from Secrets Manager. A new key can take a few seconds to work \
         everywhere: IAM is eventually consistent.\n",
    );
}

/// SNS subjects: ASCII, no line breaks, under 100 characters.
fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= 99 {
        clean
    } else {
        format!("{}...", &clean[..96])
    }
}

/// The attributes subscribers filter on. Values on one line: a filter policy matches them
/// exactly, and a valid IAM user name, login or repository passes unchanged. `account` only
/// for a request in a member account (DESIGN §9).
fn attributes(
    event: NoticeEvent,
    iam_user: Option<&IamUser>,
    account: Option<&AccountAlias>,
    pr: &PrRef<'_>,
) -> BTreeMap<&'static str, String> {
    let mut a = BTreeMap::new();
    a.insert("event", event.as_str().to_string());
    a.insert(
        "iam_user",
        match iam_user {
            Some(u) if !u.as_str().is_empty() => plain::line(u.as_str()),
            _ => "-".into(),
        },
    );
    a.insert("requester", plain::line(pr.requester));
    a.insert("repository", plain::line(pr.repository));
    if let Some(account) = account {
        a.insert("account", plain::line(account.as_str()));
    }
    a
}

/// The notice's line naming the account, for a request in a member account.
fn account_line(m: &mut String, account: Option<&AccountAlias>) {
    if let Some(a) = account {
        let _ = writeln!(m, "AWS account:   {}", plain::line(a.as_str()));
    }
}

pub fn notice(report: &Report, pr: &PrRef<'_>) -> Notice {
    let user = plain::line(report.iam_user.as_ref().map_or("", IamUser::as_str));
    let who = if user.is_empty() { "a request" } else { &user };
    let event = report.outcome.event();
    let title = match &report.outcome {
        Outcome::Issued { .. } => format!("keygate: access key issued for {who}"),
        Outcome::Failed { .. } => format!("keygate: access key for {who} failed"),
        Outcome::Refused { .. } => format!("keygate: request for {who} refused"),
        Outcome::Rejected { .. } => format!("keygate: request for {who} rejected"),
        Outcome::Revoked { .. } => format!("keygate: access key for {who} revoked"),
        Outcome::Retrying { .. } => format!("keygate: access key for {who} delayed"),
    };
    let repository = plain::line(pr.repository);
    let mut m = String::new();
    let _ = writeln!(m, "{title}.\n");
    let _ = writeln!(
        m,
        "IAM user:      {}",
        if user.is_empty() { "-" } else { &user }
    );
    account_line(&mut m, report.account.as_ref());
    let _ = writeln!(m, "Request file:  {}", plain::line(report.path.as_str()));
    let _ = writeln!(
        m,
        "Pull request:  {repository}#{} {}",
        pr.number,
        plain::line(pr.url)
    );
    let _ = writeln!(m, "Requester:     @{}", plain::line(pr.requester));
    if !pr.approvers.is_empty() {
        let approvers: Vec<String> = pr
            .approvers
            .iter()
            .map(|a| format!("@{}", plain::line(a)))
            .collect();
        let _ = writeln!(m, "Approvers:     {}", approvers.join(", "));
    }
    notice_outcome(&mut m, &report.outcome);
    with_chat(
        Notice {
            subject: subject(&format!("{title} ({repository}#{})", pr.number)),
            message: m,
            attributes: attributes(event, report.iam_user.as_ref(), report.account.as_ref(), pr),
            chat: None,
        },
        pr,
    )
}

/// The lines of a notice that say what became of the request (plain text).
fn notice_outcome(m: &mut String, outcome: &Outcome) {
    match outcome {
        Outcome::Issued {
            secret_name,
            secret_arn,
            access_key_id,
            expires_at,
            readers,
            ..
        } => {
            let _ = writeln!(m, "Secret:        {}", plain::line(secret_name.as_str()));
            let _ = writeln!(m, "Secret ARN:    {}", plain::line(secret_arn));
            let _ = writeln!(m, "Access key ID: {}", plain::line(access_key_id.as_str()));
            let _ = writeln!(m, "Expires:       {}", plain::line(expires_at));
            if !readers.is_empty() {
                let _ = writeln!(m, "Readable only by:");
                for r in readers {
                    let _ = writeln!(m, "  - {}", plain::line(r));
                }
            }
        }
        Outcome::Failed { why } => {
            let _ = writeln!(m, "Why:           {}", plain::line(why));
        }
        Outcome::Refused { reasons } => {
            let _ = writeln!(m, "Why:");
            for r in reasons {
                let _ = writeln!(m, "  - {}", plain::line(r));
            }
        }
        Outcome::Rejected { why: None } => {
            let _ = writeln!(m, "The pull request was closed without merge.");
        }
        Outcome::Rejected { why: Some(why) } => {
            let _ = writeln!(m, "Why: {}", plain::line(why));
        }
        Outcome::Revoked {
            access_key_ids,
            note,
        } => {
            for k in access_key_ids {
                let _ = writeln!(m, "Access key ID: {}", plain::line(k.as_str()));
            }
            if let Some(note) = note {
                let _ = writeln!(m, "Note:          {}", plain::line(note));
            }
            let _ = writeln!(
                m,
                "Its request file was deleted by this merged pull request."
            );
        }
        Outcome::Retrying { why } => {
            let _ = writeln!(m, "Retrying:      {}", plain::line(why));
        }
    }
}

/// `notice` with its chat form (see [`chat`]), threaded by pull request.
fn with_chat(mut notice: Notice, pr: &PrRef<'_>) -> Notice {
    let link = Some(pr.url).filter(|u| !u.is_empty());
    let thread = format!("{}#{}", plain::line(pr.repository), pr.number);
    notice.chat = Some(chat::custom_notification(&notice, link, &thread));
    notice
}

/// The notice approvers used to get by e-mail: a valid request is waiting; `account` for a
/// request in a member account.
pub fn requested_notice(
    path: &RequestPath,
    iam_user: &IamUser,
    account: Option<&AccountAlias>,
    reason: &str,
    days: u32,
    pr: &PrRef<'_>,
) -> Notice {
    let user = plain::line(iam_user.as_str());
    let repository = plain::line(pr.repository);
    let title = format!("keygate: access key requested for {user}");
    let mut m = String::new();
    let _ = writeln!(m, "{title}.\n");
    let _ = writeln!(m, "IAM user:      {user}");
    account_line(&mut m, account);
    let _ = writeln!(m, "Requester:     @{}", plain::line(pr.requester));
    let _ = writeln!(m, "Expires after: {days} days");
    let _ = writeln!(m, "Request file:  {}", plain::line(path.as_str()));
    let _ = writeln!(m, "Pull request:  {}", plain::line(pr.url));
    // Indented: a reason's own lines cannot pass for the lines above.
    let _ = writeln!(m, "Reason:\n{}", plain::block(reason, "  "));
    with_chat(
        Notice {
            subject: subject(&format!("{title} ({repository}#{})", pr.number)),
            message: m,
            attributes: attributes(NoticeEvent::Requested, Some(iam_user), account, pr),
            chat: None,
        },
        pr,
    )
}

/// The check run's title (plain text) and Markdown summary.
pub fn check_summary(
    changes: &Changes,
    a: &Assessment,
    requests: &[(RequestPath, Result<Request, Vec<Diagnostic>>)],
) -> (String, String) {
    check_summary_with(changes, a, requests, None)
}

/// [`check_summary`], saying also what merging revokes when the pull request deletes
/// request files (DESIGN §5): a pull request that only deletes them is about that.
pub fn check_summary_with(
    changes: &Changes,
    a: &Assessment,
    requests: &[(RequestPath, Result<Request, Vec<Diagnostic>>)],
    revocations: Option<&revocation::Revocations<'_>>,
) -> (String, String) {
    if !changes.touches_requests() {
        return (
            "No request files".into(),
            "This pull request adds no request file, so keygate has nothing to check.".into(),
        );
    }
    let title = check_title(a, revocations);
    let mut s = String::new();
    if !a.pr_problems.is_empty() {
        s.push_str("### This pull request cannot issue anything\n\n");
        for p in &a.pr_problems {
            let _ = writeln!(s, "- {}", md::prose(&problem::problem(p)));
        }
        s.push('\n');
    }
    for (f, (_, parsed)) in a.files.iter().zip(requests) {
        file_section(&mut s, f, parsed);
    }
    if let Some(r) = revocations {
        s.push_str(&r.section());
    }
    s.push_str("keygate checks the approval again on its own when the pull request is merged.\n");
    (
        truncate(&plain::line(&title), 200),
        truncate_lines(&s, 60_000),
    )
}

/// One request file in the check run: what it asks, or why it is invalid, and where its
/// approval stands.
fn file_section(
    s: &mut String,
    f: &crate::policy::FileAssessment,
    parsed: &Result<Request, Vec<Diagnostic>>,
) {
    let _ = writeln!(s, "### {}\n", md::code(f.path.as_str()));
    match parsed {
        Ok(r) => {
            let _ = writeln!(s, "- IAM user: {}", md::code(r.iam_user.as_str()));
            if let Some(a) = &r.account {
                // Each account has its own owners; approvers see which account they grant
                // a key in.
                let _ = writeln!(s, "- AWS account: {}", md::code(a.as_str()));
            }
            // Approvers see what they approve: the reason as the requester wrote it.
            let _ = writeln!(s, "- Reason: {}", md::text(&r.reason));
            let _ = writeln!(s, "- Expires: {} days after issue", r.expires_in_days);
            if !r.readers.is_empty() {
                let _ = writeln!(
                    s,
                    "- Readable only by: {} (and keygate; every other principal is denied)",
                    code_list(&r.readers)
                );
            }
        }
        Err(_) => {
            let _ = writeln!(s, "- The request file is invalid:");
            for d in &f.diagnostics {
                let _ = writeln!(s, "  - {}", md::prose(&d.to_string()));
            }
        }
    }
    if let Some(d) = &f.approval {
        approval_lines(s, d);
    }
    s.push('\n');
}

/// Who can approve a file, who did, until when each approval counts, and what is missing.
fn approval_lines(s: &mut String, d: &crate::policy::approval::FileDecision) {
    // Owners come from CODEOWNERS on the base branch: the one intended mention.
    let owners = if d.owners.is_empty() {
        "nobody (no CODEOWNERS line gives this path an owner)".to_string()
    } else {
        let owners: Vec<String> = d.owners.iter().map(md::owner).collect();
        owners.join(", ")
    };
    let _ = writeln!(s, "- Can approve: {owners}");
    let approved = if d.approved_by.is_empty() {
        "nobody yet".to_string()
    } else {
        let logins: Vec<String> = d.approved_by.iter().map(|a| md::login(&a.login)).collect();
        logins.join(", ")
    };
    let _ = writeln!(
        s,
        "- Approved on the current head: {approved} ({} of {} needed)",
        d.approved_by.len().min(d.needed as usize),
        d.needed
    );
    // An approval can be banked only so long (policy.approval_ttl_hours).
    for c in &d.counted {
        let until = c.counts_until.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        if let Some(until) = until {
            let _ = writeln!(
                s,
                "- {}'s approval counts until {until} (UTC); merge before then or ask again",
                md::login(&c.reviewer.login)
            );
        }
    }
    if d.verdict != Verdict::Approved {
        let _ = writeln!(s, "- Still needed: {}", md::prose(&d.explain()));
    }
    for i in &d.ignored {
        let _ = writeln!(s, "- Not counted: {}", md::prose(&i.to_string()));
    }
}

/// The check run's title: what to fix, what merging now does, or what it waits for. A pull
/// request that adds and deletes requests waits for both halves.
fn check_title(a: &Assessment, revocations: Option<&revocation::Revocations<'_>>) -> String {
    if a.needs_fixing() {
        let n = a.pr_problems.len()
            + a.files
                .iter()
                .filter(|f| !f.problems.is_empty() && !f.waiting_for_approval)
                .count();
        return format!(
            "{n} problem{} to fix before this can be merged",
            if n == 1 { "" } else { "s" }
        );
    }
    if let Some(r) = revocations.filter(|r| r.only_deletions()) {
        return r.title();
    }
    let mut waiting: Vec<String> = a
        .files
        .iter()
        .filter_map(|f| {
            f.approval
                .as_ref()
                .filter(|d| d.verdict != Verdict::Approved)
        })
        .map(|d| d.explain())
        .collect();
    if let Some(r) = revocations.filter(|r| !r.ready) {
        let deletions: Vec<String> = r
            .decision
            .iter()
            .flat_map(|d| &d.files)
            .filter(|f| f.verdict != Verdict::Approved)
            .map(|f| format!("to revoke {}, {}", f.path, f.explain()))
            .collect();
        if deletions.is_empty() {
            waiting.push(format!("merging would revoke {}", r.what()));
        }
        waiting.extend(deletions);
    }
    if !waiting.is_empty() {
        return format!("Waiting for approval: {}", waiting.join("; "));
    }
    match revocations {
        Some(r) => format!(
            "Approved: merging now issues the key and revokes {}",
            r.what()
        ),
        None => "Approved: merging now issues the key".to_string(),
    }
}

/// Each item as code, comma-separated: reader ARNs come from the pull request.
fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| md::code(i))
        .collect::<Vec<_>>()
        .join(", ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Markdown cut at a line's end, so no code span or entity is left half open.
fn truncate_lines(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(4);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let end = s[..end].rfind('\n').map_or(0, |i| i + 1);
    format!("{}…\n", &s[..end])
}

#[cfg(test)]
mod tests;

/// The comment while a merged pull request's work is being retried (DESIGN §3.4).
pub fn retrying_comment(reason: &str, until_ms: i64) -> String {
    let until = time::OffsetDateTime::from_unix_timestamp(until_ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "a day".into());
    format!(
        "{COMMENT_MARKER}\n### keygate\n\nIssuing is being retried: {}. keygate keeps trying until {until} (UTC); nothing needs doing yet.\n",
        md::prose(reason)
    )
}
