//! Texts people read: the pull-request comment, SNS notices, the check run. Pure.
//! None of these ever receives a secret access key: the types that reach here hold none.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::aws::Notice;
use crate::policy::Assessment;
use crate::policy::approval::Verdict;
use crate::policy::changes::Changes;
use crate::request::{Diagnostic, Request};
use crate::work::NoticeEvent;

/// Marks keygate's own comment so it is edited, not duplicated.
pub const COMMENT_MARKER: &str = "<!-- keygate:result -->";

/// What happened to one request file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Issued {
        secret_name: String,
        secret_arn: String,
        access_key_id: String,
        expires_at: String,
        days: u32,
    },
    Failed {
        why: String,
    },
    Refused {
        reasons: Vec<String>,
    },
    Rejected,
}

impl Outcome {
    pub fn event(&self) -> NoticeEvent {
        match self {
            Outcome::Issued { .. } => NoticeEvent::Issued,
            Outcome::Failed { .. } => NoticeEvent::Failed,
            Outcome::Refused { .. } => NoticeEvent::Refused,
            Outcome::Rejected => NoticeEvent::Rejected,
        }
    }
}

/// One request file and its outcome, with who was involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: String,
    pub iam_user: Option<String>,
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
        let user = r
            .iam_user
            .as_deref()
            .map(|u| format!(" for IAM user `{u}`"))
            .unwrap_or_default();
        match &r.outcome {
            Outcome::Issued {
                secret_name,
                secret_arn,
                access_key_id,
                expires_at,
                days,
            } => {
                let _ = write!(
                    s,
                    "\n**`{}`**: access key issued{user}.\n\n\
                     - Secret: `{secret_name}`\n\
                     - Secret ARN: `{secret_arn}`\n\
                     - Access key ID: `{access_key_id}`\n\
                     - Expires: {expires_at} ({days} days)\n\n\
                     Read the key from Secrets Manager. A new key can take a few seconds to work \
                     everywhere: IAM is eventually consistent.\n",
                    r.path
                );
            }
            Outcome::Failed { why } => {
                let _ = write!(s, "\n**`{}`**: no key was issued{user}. {why}\n", r.path);
            }
            Outcome::Refused { reasons } => {
                let _ = write!(
                    s,
                    "\n**`{}`**: refused{user}; nothing was issued.\n\n",
                    r.path
                );
                for reason in reasons {
                    let _ = writeln!(s, "- {reason}");
                }
            }
            Outcome::Rejected => {
                let _ = write!(
                    s,
                    "\n**`{}`**: the pull request was closed without merge; nothing was issued{user}.\n",
                    r.path
                );
            }
        }
    }
    s
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

fn attributes(
    event: NoticeEvent,
    iam_user: &str,
    pr: &PrRef<'_>,
) -> BTreeMap<&'static str, String> {
    let mut a = BTreeMap::new();
    a.insert("event", event.as_str().to_string());
    a.insert(
        "iam_user",
        if iam_user.is_empty() {
            "-".into()
        } else {
            iam_user.to_string()
        },
    );
    a.insert("requester", pr.requester.to_string());
    a.insert("repository", pr.repository.to_string());
    a
}

pub fn notice(report: &Report, pr: &PrRef<'_>) -> Notice {
    let user = report.iam_user.as_deref().unwrap_or("");
    let who = if user.is_empty() { "a request" } else { user };
    let event = report.outcome.event();
    let title = match &report.outcome {
        Outcome::Issued { .. } => format!("keygate: access key issued for {who}"),
        Outcome::Failed { .. } => format!("keygate: access key for {who} failed"),
        Outcome::Refused { .. } => format!("keygate: request for {who} refused"),
        Outcome::Rejected => format!("keygate: request for {who} rejected"),
    };
    let mut m = String::new();
    let _ = writeln!(m, "{title}.\n");
    let _ = writeln!(
        m,
        "IAM user:      {}",
        if user.is_empty() { "-" } else { user }
    );
    let _ = writeln!(m, "Request file:  {}", report.path);
    let _ = writeln!(
        m,
        "Pull request:  {}#{} {}",
        pr.repository, pr.number, pr.url
    );
    let _ = writeln!(m, "Requester:     @{}", pr.requester);
    if !pr.approvers.is_empty() {
        let _ = writeln!(
            m,
            "Approvers:     {}",
            pr.approvers
                .iter()
                .map(|a| format!("@{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match &report.outcome {
        Outcome::Issued {
            secret_name,
            secret_arn,
            access_key_id,
            expires_at,
            ..
        } => {
            let _ = writeln!(m, "Secret:        {secret_name}");
            let _ = writeln!(m, "Secret ARN:    {secret_arn}");
            let _ = writeln!(m, "Access key ID: {access_key_id}");
            let _ = writeln!(m, "Expires:       {expires_at}");
        }
        Outcome::Failed { why } => {
            let _ = writeln!(m, "Why:           {why}");
        }
        Outcome::Refused { reasons } => {
            let _ = writeln!(m, "Why:");
            for r in reasons {
                let _ = writeln!(m, "  - {r}");
            }
        }
        Outcome::Rejected => {
            let _ = writeln!(m, "The pull request was closed without merge.");
        }
    }
    Notice {
        subject: subject(&format!("{title} ({}#{})", pr.repository, pr.number)),
        message: m,
        attributes: attributes(event, user, pr),
    }
}

/// The notice approvers used to get by e-mail: a valid request is waiting.
pub fn requested_notice(
    path: &str,
    iam_user: &str,
    reason: &str,
    days: u32,
    pr: &PrRef<'_>,
) -> Notice {
    let title = format!("keygate: access key requested for {iam_user}");
    let mut m = String::new();
    let _ = writeln!(m, "{title}.\n");
    let _ = writeln!(m, "IAM user:      {iam_user}");
    let _ = writeln!(m, "Requester:     @{}", pr.requester);
    let _ = writeln!(m, "Expires after: {days} days");
    let _ = writeln!(m, "Request file:  {path}");
    let _ = writeln!(m, "Pull request:  {}", pr.url);
    let _ = writeln!(m, "Reason:\n{reason}");
    Notice {
        subject: subject(&format!("{title} ({}#{})", pr.repository, pr.number)),
        message: m,
        attributes: attributes(NoticeEvent::Requested, iam_user, pr),
    }
}

/// The check run's title and Markdown summary.
pub fn check_summary(
    changes: &Changes,
    a: &Assessment,
    requests: &[(String, Result<Request, Vec<Diagnostic>>)],
) -> (String, String) {
    if !changes.touches_requests() {
        return (
            "No request files".into(),
            "This pull request adds no request file, so keygate has nothing to check.".into(),
        );
    }
    let title = if a.needs_fixing() {
        let n = a.pr_problems.len()
            + a.files
                .iter()
                .filter(|f| !f.problems.is_empty() && !f.waiting_for_approval)
                .count();
        format!(
            "{n} problem{} to fix before this can be merged",
            if n == 1 { "" } else { "s" }
        )
    } else if a.issuable() {
        "Approved: merging now issues the key".to_string()
    } else {
        let waiting: Vec<String> = a
            .files
            .iter()
            .filter_map(|f| {
                f.approval
                    .as_ref()
                    .filter(|d| d.verdict != Verdict::Approved)
            })
            .map(|d| d.explain())
            .collect();
        format!("Waiting for approval: {}", waiting.join("; "))
    };
    let mut s = String::new();
    if !a.pr_problems.is_empty() {
        s.push_str("### This pull request cannot issue anything\n\n");
        for p in &a.pr_problems {
            let _ = writeln!(s, "- {p}");
        }
        s.push('\n');
    }
    for (f, (_, parsed)) in a.files.iter().zip(requests) {
        let _ = writeln!(s, "### `{}`\n", f.path);
        match parsed {
            Ok(r) => {
                let _ = writeln!(s, "- IAM user: `{}`", r.iam_user);
                let _ = writeln!(s, "- Expires: {} days after issue", r.expires_in_days);
            }
            Err(_) => {
                let _ = writeln!(s, "- The request file is invalid:");
                for d in &f.diagnostics {
                    let _ = writeln!(s, "  - {d}");
                }
            }
        }
        if let Some(d) = &f.approval {
            let owners = if d.owners.is_empty() {
                "nobody (no CODEOWNERS line gives this path an owner)".to_string()
            } else {
                d.owners
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(s, "- Can approve: {owners}");
            let approved = if d.approved_by.is_empty() {
                "nobody yet".to_string()
            } else {
                d.approved_by
                    .iter()
                    .map(|a| format!("@{}", a.login))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                s,
                "- Approved on the current head: {approved} ({} of {} needed)",
                d.approved_by.len().min(d.needed as usize),
                d.needed
            );
            if d.verdict != Verdict::Approved {
                let _ = writeln!(s, "- Still needed: {}", d.explain());
            }
            for i in &d.ignored {
                let _ = writeln!(s, "- Not counted: {i}");
            }
        }
        s.push('\n');
    }
    s.push_str("keygate checks the approval again on its own when the pull request is merged.\n");
    (truncate(&title, 200), truncate(&s, 60_000))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pr() -> PrRef<'static> {
        PrRef {
            repository: "acme/access-requests",
            number: 12,
            url: "https://github.com/acme/access-requests/pull/12",
            requester: "bob",
            approvers: &[],
        }
    }

    #[test]
    fn an_issued_comment_names_the_secret_and_the_key_id() {
        let r = Report {
            path: "requests/alice/ci.toml".into(),
            iam_user: Some("alice".into()),
            outcome: Outcome::Issued {
                secret_name: "alice/access-key-20261128150000".into(),
                secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf".into(),
                access_key_id: "AKIAEXAMPLE".into(),
                expires_at: "2027-02-26T15:00:00Z".into(),
                days: 90,
            },
        };
        insta::assert_snapshot!(comment(&[r]), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/alice/ci.toml`**: access key issued for IAM user `alice`.

        - Secret: `alice/access-key-20261128150000`
        - Secret ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf`
        - Access key ID: `AKIAEXAMPLE`
        - Expires: 2027-02-26T15:00:00Z (90 days)

        Read the key from Secrets Manager. A new key can take a few seconds to work everywhere: IAM is eventually consistent.
        ");
    }

    #[test]
    fn subjects_stay_under_sns_limits() {
        let long = "x".repeat(64);
        let r = Report {
            path: "p".into(),
            iam_user: Some(long),
            outcome: Outcome::Rejected,
        };
        let n = notice(&r, &pr());
        assert!(n.subject.len() < 100, "{}", n.subject.len());
        assert!(
            subject("a\nb\u{3042}")
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ')
        );
    }

    #[test]
    fn notices_carry_the_filter_attributes() {
        let r = Report {
            path: "requests/alice/ci.toml".into(),
            iam_user: Some("alice".into()),
            outcome: Outcome::Failed {
                why: "alice already has 2 access keys".into(),
            },
        };
        let n = notice(&r, &pr());
        assert_eq!(n.attributes["event"], "failed");
        assert_eq!(n.attributes["iam_user"], "alice");
        assert_eq!(n.attributes["requester"], "bob");
        assert_eq!(n.attributes["repository"], "acme/access-requests");
        assert!(n.message.contains("already has 2 access keys"));
    }
}
