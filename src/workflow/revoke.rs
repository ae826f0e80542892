//! Revocation by pull request (DESIGN §5): a merged pull request whose changes are only
//! deletions of merged request files, approved under §2 by the owners of those paths,
//! revokes each file's keys at once.
//!
//! The approval is judged here with the same pure `approval::decide` that judges a new
//! request, over the deleted paths: owners from CODEOWNERS just before the merge, reviews
//! on the final head before the merge, pushers and the author excluded.

use super::render::{Outcome, Report};
use super::sweep::revoke_key;
use super::{Facts, StepError, Workflow};
use crate::facts::Pusher;
use crate::github::client::RepoClient;
use crate::ids::PrNumber;
use crate::ledger::{Revocation, Store};
use crate::lifecycle::iam_user_of;
use crate::policy::approval::{
    Access, Memberships, Permissions, PullFacts, Verdict, decide, membership_queries,
};
use crate::policy::ownerships;

/// Reports for the request files the merged pull request deleted (none when it deleted
/// none), skipping paths `already` reported. Revokes only when the whole pull request may
/// (nothing else changed, no problem found) and every deleted path is approved.
pub(super) async fn on_merged(
    wf: &Workflow,
    gh: &RepoClient,
    facts: &Facts,
    base_before: &str,
    already: &[Report],
) -> Result<Vec<Report>, StepError> {
    let removed: Vec<String> = facts
        .changes
        .removed
        .iter()
        .filter(|p| !already.iter().any(|r| &r.path == *p))
        .cloned()
        .collect();
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let refuse = |reasons: Vec<String>| -> Vec<Report> {
        removed
            .iter()
            .map(|path| Report {
                path: path.clone(),
                iam_user: iam_user_of(path).map(str::to_string),
                outcome: Outcome::Refused {
                    reasons: reasons.clone(),
                },
            })
            .collect()
    };
    let mut reasons = facts.assessment.pr_problems.clone();
    if !facts.changes.added.is_empty() {
        reasons.push("a pull request that revokes keys must only delete request files: add new requests in a pull request of their own".into());
    }
    if !reasons.is_empty() {
        return Ok(refuse(reasons));
    }
    let decision = judge(wf, gh, facts, base_before, &removed).await?;
    let unapproved: Vec<String> = decision
        .files
        .iter()
        .filter(|f| f.verdict != Verdict::Approved)
        .flat_map(|f| {
            f.reasons()
                .into_iter()
                .map(move |r| format!("`{}`: {r}", f.path))
        })
        .collect();
    if decision.files.len() != removed.len() || !unapproved.is_empty() {
        return Ok(refuse(unapproved));
    }
    let approvers: Vec<String> = decision.approvers().into_iter().map(|a| a.login).collect();
    let pr = &facts.pr;
    let mut reports = Vec::new();
    let live = wf.ledger.keys_to_sweep().await?;
    for path in &removed {
        let mut revoked = Vec::new();
        for life in live.iter().filter(|l| {
            &l.request.path == path && l.request.repository.key() == wf.settings.repository.key()
        }) {
            let mut life = life.clone();
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
                pr: Some(PrNumber(pr.number)),
            };
            if revoke_key(wf, &wf.settings.lifecycle, &mut life, revocation).await? {
                revoked.push(life.access_key_id.clone());
            }
        }
        let note = revoked.is_empty().then(|| {
            "keygate has no live key for this request file (it was never issued, or has expired, been deleted or revoked already)".to_string()
        });
        reports.push(Report {
            path: path.clone(),
            iam_user: iam_user_of(path).map(str::to_string),
            outcome: Outcome::Revoked {
                access_key_ids: revoked,
                note,
            },
        });
    }
    Ok(reports)
}

/// The §2 decision over the deleted paths, from facts read afresh.
async fn judge(
    wf: &Workflow,
    gh: &RepoClient,
    facts: &Facts,
    base_before: &str,
    removed: &[String],
) -> Result<crate::policy::approval::Decision, StepError> {
    let pr = &facts.pr;
    let owners = wf.codeowners(gh, base_before).await?;
    let mut changes = facts.changes.clone();
    let pushers = wf.history(gh, pr, &mut changes).await?;
    let synchronize_senders = wf
        .ledger
        .pushers(wf.settings.repository.clone(), PrNumber(pr.number))
        .await?
        .into_iter()
        .map(|s| Pusher {
            id: Some(s.id),
            login: Some(s.login),
        })
        .collect();
    let pull = PullFacts {
        base_ref: pr.base_ref.clone(),
        reviews: gh.reviews(pr.number).await?,
        pushers,
        synchronize_senders,
        base_changed_at: gh.base_changes(pr.number).await?.into_iter().max(),
        merged_at: pr.merged_at,
        ..PullFacts::new(pr.author.clone(), pr.head_sha.clone())
    };
    let owned = ownerships(removed, &owners);
    let mut memberships = Memberships::new();
    for (org, slug, login) in membership_queries(&owned, &pull) {
        if gh.team_membership(&org, &slug, &login).await? == Some(true) {
            memberships.insert(&org, &slug, &login);
        }
    }
    let access = Access {
        memberships,
        permissions: Permissions::not_checked(),
    };
    Ok(decide(
        &owned,
        &pull,
        &access,
        &wf.settings.approval,
        time::OffsetDateTime::now_utc(),
    ))
}
