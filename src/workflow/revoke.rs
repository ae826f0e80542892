//! Revocation by pull request (DESIGN §5): a merged pull request that deletes merged
//! request files (alone, or beside additions), approved under §2 by the owners of those
//! paths, records each deletion in the request's life and revokes each file's keys at once.
//!
//! The approval is judged here with the same pure `approval::decide` that judges a new
//! request, over the deleted paths: owners from CODEOWNERS just before the merge, reviews
//! on the final head before the merge, pushers and the author excluded.

use super::gather::Facts;
use super::outage::{self, Held};
use super::render::{Outcome, Report};
use super::sweep::revoke_key;
use super::{StepError, Workflow};
use crate::ledger::{Job, KeyLife, Revocation, Store};
use crate::life::iam_user_of;
use crate::policy::approval::{Decision, Verdict};
use crate::policy::verdict::Half;
use crate::request::account_of;

/// Reports for the request files the merged pull request deleted (none when it deleted
/// none). Revokes when the deletions half acts (`policy::verdict`: no problem with the pull
/// request, every deleted path approved by its owners); otherwise each is refused with why.
pub(super) async fn on_merged(
    wf: &Workflow,
    facts: &Facts,
    deletions: Half,
    job: &Job,
    held: &mut Held,
) -> Result<Vec<Report>, StepError> {
    let removed = &facts.changes.removed;
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let refuse = |reasons: Vec<String>| -> Vec<Report> {
        removed
            .iter()
            .map(|path| Report {
                path: path.clone(),
                iam_user: iam_user_of(path.as_str()),
                account: account_of(path.as_str(), &wf.settings.rules),
                outcome: Outcome::Refused {
                    reasons: reasons.clone(),
                },
            })
            .collect()
    };
    let decision = match refusal(facts, deletions) {
        Ok(decision) => decision,
        Err(reasons) => return Ok(refuse(reasons)),
    };
    let pr = &facts.pr;
    let Some(deletion) = super::life::merge_mark(pr) else {
        return Ok(refuse(vec![
            "GitHub gives no time for this merge, so keygate cannot place it among the merges of these request files".into(),
        ]));
    };
    // Recorded before the live keys are read: an addition still being issued either sees
    // this deletion and revokes its own key, or has stored it by now and is listed here.
    for path in removed {
        let account = account_of(path.as_str(), &wf.settings.rules);
        super::life::record_deletion(wf, path, account.as_ref(), deletion).await?;
    }
    let approvers: Vec<String> = decision.approvers().into_iter().map(|a| a.login).collect();
    let revocation = Revocation {
        by: format!(
            "@{} (approved by {})",
            pr.author.login,
            approvers.join(", ")
        ),
        reason: format!(
            "its request file was deleted by pull request #{}",
            pr.number
        ),
        pr: Some(pr.number),
    };
    let live = wf.ledger.keys_to_sweep().await?;
    let mut reports = Vec::new();
    for path in removed {
        // Merge order decides: a key of an addition merged after this deletion (the path
        // was added again) is not this deletion's to end.
        let ended: Vec<KeyLife> = live
            .iter()
            .filter(|l| {
                &l.request.path == path
                    && l.request.repository.key() == wf.settings.repository.key()
                    && l.request_merged_at.is_none_or(|a| a <= deletion.merged_at)
            })
            .cloned()
            .collect();
        let outcome = revoke_all(wf, ended, &revocation, job, held).await?;
        reports.push(Report {
            path: path.clone(),
            iam_user: iam_user_of(path.as_str()),
            account: account_of(path.as_str(), &wf.settings.rules),
            outcome,
        });
    }
    Ok(reports)
}

/// Revokes each of one request file's live keys. A key whose AWS account fails has its
/// revocation recorded (the expiry sweep finishes it on its own) and is held, so that the
/// other accounts' work goes on (DESIGN §9).
async fn revoke_all(
    wf: &Workflow,
    lives: Vec<KeyLife>,
    revocation: &Revocation,
    job: &Job,
    held: &mut Held,
) -> Result<Outcome, StepError> {
    let mut revoked = Vec::new();
    let mut waiting = Vec::new();
    for mut life in lives {
        match revoke_key(wf, &wf.settings.lifecycle, &mut life, revocation.clone()).await {
            Ok(true) => revoked.push(life.access_key_id.clone()),
            Ok(false) => {}
            Err(e) if outage::in_one_account(&e) => {
                let kept = held.keep(wf, job, e);
                waiting.push(format!(
                    "revoking `{}` is recorded but not finished: {}",
                    life.access_key_id, kept.why
                ));
            }
            Err(e) => return Err(e),
        }
    }
    if !waiting.is_empty() {
        if !revoked.is_empty() {
            waiting.push(format!(
                "revoked already: `{}`",
                crate::ids::joined(&revoked, "`, `")
            ));
        }
        return Ok(Outcome::Retrying {
            why: format!(
                "{}. keygate finishes the revocation on its own: its expiry sweep tries again at every pass.",
                waiting.join("; ")
            ),
        });
    }
    let note = revoked.is_empty().then(|| {
        "keygate has no live key for this request file (it was never issued, or has expired, been deleted or revoked already)".to_string()
    });
    Ok(Outcome::Revoked {
        access_key_ids: revoked,
        note,
    })
}

/// The decision that approves the deletions when their half acts; otherwise why each
/// deleted file is refused.
fn refusal(facts: &Facts, deletions: Half) -> Result<&Decision, Vec<String>> {
    match (&facts.revocation, deletions) {
        (Some(decision), Half::Acts) => Ok(decision),
        _ if !facts.assessment.pr_problems.is_empty() => Err(super::render::problem::problems(
            &facts.assessment.pr_problems,
        )),
        (None, _) => Err(vec![
            "keygate did not judge the deletions; redeliver the pull request's `closed` event"
                .into(),
        ]),
        (Some(decision), _) => Err(decision
            .files
            .iter()
            .filter(|f| f.verdict != Verdict::Approved)
            .flat_map(|f| {
                f.reasons()
                    .into_iter()
                    .map(move |r| format!("`{}`: {r}", f.path))
            })
            .collect()),
    }
}
