//! Who owns what, and whether a pull request's requests may be issued. Pure: every input
//! is plain data fetched beforehand, so the check run (before merge) and the issuer (at
//! merge) call the same function and can never disagree.

pub mod approval;
pub mod changes;
pub mod codeowners;
pub mod history;
pub mod integrity;
pub mod problem;
pub mod verdict;

use serde::Serialize;
use time::OffsetDateTime;

use crate::ids::RequestPath;
use crate::request::{Diagnostic, Request};
use approval::{Access, ApprovalRules, Decision, FileDecision, FileOwnership, PullFacts, Verdict};
use changes::Changes;
use codeowners::{CodeOwners, Owner};
use problem::Problem;

/// The base branch's CODEOWNERS, as found.
#[derive(Debug, Clone)]
pub enum OwnersFile {
    Found {
        location: String,
        parsed: CodeOwners,
    },
    Missing,
    /// Found but unusable (too large, not UTF-8): nothing has an owner.
    Unreadable {
        location: String,
        why: String,
    },
}

/// One request file judged.
#[derive(Debug, Clone, Serialize)]
pub struct FileAssessment {
    pub path: RequestPath,
    #[serde(skip)]
    pub request: Option<Request>,
    pub diagnostics: Vec<Diagnostic>,
    #[serde(skip)]
    pub approval: Option<FileDecision>,
    /// Every reason this file cannot be issued now, for people.
    pub problems: Vec<String>,
    /// True when only approvals are missing (the requester waits, nothing to fix).
    pub waiting_for_approval: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// Problems with the pull request as a whole.
    pub pr_problems: Vec<Problem>,
    pub files: Vec<FileAssessment>,
    #[serde(skip)]
    pub decision: Option<Decision>,
}

impl Assessment {
    /// Would merging now issue every request? False when there is nothing to issue.
    pub fn issuable(&self) -> bool {
        self.pr_problems.is_empty()
            && !self.files.is_empty()
            && self.files.iter().all(|f| f.problems.is_empty())
    }

    /// Something must be fixed (not merely approved).
    pub fn needs_fixing(&self) -> bool {
        !self.pr_problems.is_empty()
            || self
                .files
                .iter()
                .any(|f| !f.problems.is_empty() && !f.waiting_for_approval)
    }

    /// Logins whose approvals counted, once each.
    pub fn approvers(&self) -> Vec<String> {
        self.decision
            .as_ref()
            .map(|d| d.approvers().into_iter().map(|a| a.login).collect())
            .unwrap_or_default()
    }
}

/// The owners of each request path, as the base CODEOWNERS decides.
pub fn ownerships(paths: &[RequestPath], owners: &OwnersFile) -> Vec<FileOwnership> {
    paths
        .iter()
        .map(|path| match owners {
            OwnersFile::Found { parsed, .. } => {
                let rule = parsed.rule_for(path.as_str());
                FileOwnership {
                    path: path.to_string(),
                    rule_line: rule.map(|r| r.line),
                    pattern: rule.map(|r| r.pattern.clone()),
                    owners: rule.map(|r| r.owners.clone()).unwrap_or_default(),
                }
            }
            _ => FileOwnership {
                path: path.to_string(),
                rule_line: None,
                pattern: None,
                owners: Vec::new(),
            },
        })
        .collect()
}

/// Judges a pull request's requests. `requests` holds each added request file's parse
/// result, in the order of `changes.added`; `now` is when the caller judges (the decision
/// itself uses the merge time once merged, see [`approval::decide`]).
pub fn assess(
    changes: &Changes,
    owners: &OwnersFile,
    requests: &[(RequestPath, Result<Request, Vec<Diagnostic>>)],
    facts: &PullFacts,
    access: &Access,
    rules: &ApprovalRules,
    now: OffsetDateTime,
) -> Assessment {
    let mut pr_problems = changes.problems(rules);
    match owners {
        OwnersFile::Found { location, parsed } => {
            for e in parsed.errors() {
                pr_problems.push(Problem::InvalidOwners {
                    location: location.clone(),
                    line: e.line,
                    message: e.message.clone(),
                });
            }
        }
        OwnersFile::Missing => pr_problems.push(Problem::NoOwnersFile),
        OwnersFile::Unreadable { location, why } => pr_problems.push(Problem::UnreadableOwners {
            location: location.clone(),
            why: why.clone(),
        }),
    }
    let paths: Vec<RequestPath> = requests.iter().map(|(p, _)| p.clone()).collect();
    let owned = ownerships(&paths, owners);
    let decision = approval::decide(&owned, facts, access, rules, now);
    let files = requests
        .iter()
        .zip(&decision.files)
        .map(|((path, parsed), fd)| {
            let mut problems = Vec::new();
            let (request, diagnostics) = match parsed {
                Ok(r) => (Some(r.clone()), Vec::new()),
                Err(d) => {
                    problems.extend(d.iter().map(|d| d.to_string()));
                    (None, d.clone())
                }
            };
            let only_email =
                !fd.owners.is_empty() && fd.owners.iter().all(|o| matches!(o, Owner::Email(_)));
            let waiting = problems.is_empty()
                && !only_email
                && matches!(fd.verdict, Verdict::Pending { .. } | Verdict::Blocked);
            if fd.verdict != Verdict::Approved {
                problems.extend(fd.reasons());
            }
            FileAssessment {
                path: path.clone(),
                request,
                diagnostics,
                approval: Some(fd.clone()),
                problems,
                waiting_for_approval: waiting,
            }
        })
        .collect();
    Assessment {
        pr_problems,
        files,
        decision: Some(decision),
    }
}
