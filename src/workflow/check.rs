//! Pull-request feedback before merge: one `keygate` check run per head commit, judged by
//! the same `policy::assess` the issuer uses at merge (DESIGN §4, last point).

use std::collections::BTreeMap;

use super::gather::{Facts, Moment};
use super::render::revocation::Revocations;
use super::render::{self, Outcome, Report};
use super::{StepError, Workflow};
use crate::event::NoticeEvent;
use crate::github::client::{Annotation, CheckOutput, CheckState, RepoClient};
use crate::ids::{AccessKeyId, CommitSha, IamUser, RequestPath};
use crate::ledger::{Job, NoteKey, Store};
use crate::policy::verdict::{CheckConclusion, Half, MergeVerdict};

pub const CHECK_NAME: &str = "keygate";

pub(super) async fn on_activity(
    wf: &Workflow,
    gh: &RepoClient,
    job: &Job,
) -> Result<(), StepError> {
    let listing = wf
        .list(gh, job, Moment::Open)
        .await
        .map_err(StepError::from)?;
    let pr = &listing.pr;
    // Branch names are exact, as git refs are (DESIGN §2.1).
    if pr.state != crate::github::client::PullState::Open
        || pr.base_ref != wf.settings.branch.as_str()
    {
        return Ok(());
    }
    // Before merge, owners come from the base branch's current head.
    let facts = wf.judge(gh, listing, Moment::Open).await?;
    let keys = live_keys(wf, &facts.changes.removed).await?;
    let (state, output) = check_run(&facts, &keys);
    put_check(wf, gh, &facts.pr.head_sha, state, &output).await?;
    tracing::info!(
        status = state.status(),
        conclusion = state.conclusion().unwrap_or(""),
        "check run updated"
    );
    if facts.expired {
        return reject_expired(wf, gh, &facts).await;
    }
    if facts.assessment.pr_problems.is_empty() {
        ask_approvers(wf, &facts).await?;
    }
    Ok(())
}

/// The check run for the judged pull request: its GitHub status, conclusion and output,
/// from the same verdict the merge acts on (both halves, each by its own owners). The same
/// for its own head and for a merge group that holds it (`merge_group`).
pub(super) fn check_run(
    facts: &Facts,
    keys: &BTreeMap<RequestPath, Vec<AccessKeyId>>,
) -> (CheckState, CheckOutput) {
    let a = &facts.assessment;
    let verdict = MergeVerdict::of(&facts.changes, a, facts.revocation.as_ref());
    let revocations = Revocations {
        changes: &facts.changes,
        ready: verdict.deletions == Half::Acts,
        decision: facts.revocation.as_ref(),
        keys,
    };
    let state = match verdict.conclusion() {
        CheckConclusion::Success => CheckState::Success,
        CheckConclusion::Failure => CheckState::Failure,
        CheckConclusion::Waiting => CheckState::InProgress,
    };
    let (title, summary) = render::check_summary_with(
        &facts.changes,
        a,
        &facts.requests,
        (!facts.changes.removed.is_empty()).then_some(&revocations),
    );
    let annotations = a
        .files
        .iter()
        .flat_map(|f| f.diagnostics.iter())
        .map(|d| Annotation {
            path: d.path.clone(),
            start_line: d.line.unwrap_or(1) as u32,
            end_line: d.line.unwrap_or(1) as u32,
            annotation_level: "failure",
            message: d.message.clone(),
            title: "invalid request file".into(),
        })
        .take(50)
        .collect();
    let output = CheckOutput {
        title,
        summary,
        annotations,
    };
    (state, output)
}

/// Waited too long without approval: rejected, as the original's approval step timed out.
async fn reject_expired(wf: &Workflow, gh: &RepoClient, facts: &Facts) -> Result<(), StepError> {
    let why = facts
        .assessment
        .pr_problems
        .last()
        .map(render::problem::problem)
        .unwrap_or_default();
    let reports: Vec<Report> = facts
        .changes
        .added
        .iter()
        .map(|path| Report {
            path: path.clone(),
            iam_user: path.as_str().split('/').rev().nth(1).map(IamUser::new),
            account: crate::request::account_of(path.as_str(), &wf.settings.rules),
            outcome: Outcome::Rejected {
                why: Some(why.clone()),
            },
        })
        .collect();
    wf.put_comment(gh, facts.pr.number, &render::comment(&reports))
        .await?;
    let pr_ref = wf.pr_ref(&facts.pr, &[]);
    for r in &reports {
        let key = wf.notice_key(NoticeEvent::Rejected, facts.pr.number, &r.path, None);
        wf.publish_once(key, &render::notice(r, &pr_ref)).await?;
    }
    Ok(())
}

/// The notice approvers used to get by e-mail, once per request file; again when a push
/// changes what a request asks.
async fn ask_approvers(wf: &Workflow, facts: &Facts) -> Result<(), StepError> {
    let pr = &facts.pr;
    let pr_ref = wf.pr_ref(pr, &[]);
    for f in &facts.assessment.files {
        let Some(r) = &f.request else { continue };
        if !f.problems.is_empty() && !f.waiting_for_approval {
            continue;
        }
        let asked = Asked::of(r);
        let note = NoteKey::Requested {
            repository: wf.settings.repository.clone(),
            pr: pr.number,
            path: f.path.to_string(),
        };
        let before: Option<Asked> = wf
            .ledger
            .note(note.clone())
            .await?
            .and_then(|v| serde_json::from_str(&v).ok());
        if before.as_ref() == Some(&asked) {
            continue;
        }
        let mut notice = render::requested_notice(
            &f.path,
            &r.iam_user,
            r.account.as_ref(),
            &r.reason,
            r.expires_in_days,
            &pr_ref,
        );
        let revision = before.map(|before| {
            notice.message = format!(
                "The request changed since approvers were last asked: {}.\n\n{}",
                asked.changes_since(&before).join("; "),
                notice.message
            );
            CommitSha::new(asked.id())
        });
        let key = wf.notice_key(
            NoticeEvent::Requested,
            pr.number,
            &f.path,
            revision.as_ref(),
        );
        wf.publish_once(key, &notice).await?;
        let value = serde_json::to_string(&asked).unwrap_or_default();
        wf.ledger.set_note(note, value).await?;
    }
    Ok(())
}

/// The live access key IDs the ledger records for each deleted request path of this
/// repository: what merging the deletion would revoke.
pub(super) async fn live_keys(
    wf: &Workflow,
    removed: &[RequestPath],
) -> Result<BTreeMap<RequestPath, Vec<AccessKeyId>>, StepError> {
    let mut keys: BTreeMap<RequestPath, Vec<AccessKeyId>> = BTreeMap::new();
    if removed.is_empty() {
        return Ok(keys);
    }
    for life in wf.ledger.keys_to_sweep().await? {
        if life.request.repository.key() == wf.settings.repository.key()
            && removed.contains(&life.request.path)
        {
            keys.entry(life.request.path.clone())
                .or_default()
                .push(life.access_key_id.clone());
        }
    }
    Ok(keys)
}

/// One check run per head commit: created once, then updated. A run that completed is
/// not reopened; a changed verdict on the same commit gets a fresh run.
pub(super) async fn put_check(
    wf: &Workflow,
    gh: &RepoClient,
    head: &str,
    state: CheckState,
    output: &CheckOutput,
) -> Result<(), StepError> {
    let note = NoteKey::CheckRun {
        repository: wf.settings.repository.clone(),
        head: CommitSha::new(head),
    };
    let known = wf.ledger.note(note.clone()).await?;
    let previous: Option<(u64, String)> = match known {
        Some(v) => v
            .split_once(' ')
            .and_then(|(id, st)| Some((id.parse().ok()?, st.to_string()))),
        None => gh
            .find_check_run(head, CHECK_NAME)
            .await?
            .map(|id| (id, "in_progress".into())),
    };
    let stored = format!("{}/{}", state.status(), state.conclusion().unwrap_or(""));
    let reuse =
        previous.and_then(|(id, st)| (st.starts_with("in_progress") || st == stored).then_some(id));
    // GitHub appends annotations on every update: send them only with a new run.
    let id = match reuse {
        Some(id) => {
            let output = CheckOutput {
                annotations: Vec::new(),
                ..output.clone()
            };
            gh.put_check_run(Some(id), CHECK_NAME, head, state, &output)
                .await?
        }
        None => {
            gh.put_check_run(None, CHECK_NAME, head, state, output)
                .await?
        }
    };
    let value = format!("{id} {stored}");
    wf.ledger.set_note(note, value).await?;
    Ok(())
}

/// What a request asks approvers to approve, as last announced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Asked {
    reason: String,
    expires_in_days: u32,
    readers: Vec<String>,
}

impl Asked {
    fn of(r: &crate::request::Request) -> Asked {
        Asked {
            reason: r.reason.clone(),
            expires_in_days: r.expires_in_days,
            readers: r.readers.clone(),
        }
    }

    /// A short stable ID of this content, so each version is announced once.
    fn id(&self) -> String {
        use aws_lc_rs::digest;
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(&digest::digest(&digest::SHA256, text.as_bytes()).as_ref()[..8])
    }

    /// What changed, for people (plain text; the notice is e-mail).
    fn changes_since(&self, before: &Asked) -> Vec<String> {
        let mut out = Vec::new();
        if self.reason != before.reason {
            out.push(format!(
                "the reason was \"{}\"",
                render::plain::line(&before.reason)
            ));
        }
        if self.expires_in_days != before.expires_in_days {
            out.push(format!(
                "the expiry was {} days, now {}",
                before.expires_in_days, self.expires_in_days
            ));
        }
        if self.readers != before.readers {
            out.push(format!(
                "the readers were [{}], now [{}]",
                before.readers.join(", "),
                self.readers.join(", ")
            ));
        }
        out
    }
}
