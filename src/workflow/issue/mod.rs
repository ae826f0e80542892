//! A closed pull request: verify at merge, issue in the order of DESIGN §3, tell people.
//! Or, closed without merge: the rejection notice.

mod create;
mod rollback;

use tracing::instrument;

use super::gather::{Listing, Moment, Unlisted};
use super::life;
use super::outage::{self, Held};
use super::render::{self, Outcome, Report};
use super::sweep::revoke_key;
use super::{StepError, Workflow};
use crate::event::NoticeEvent;
use crate::github::client::{PullInfo, RepoClient};
use crate::ids::{CommitSha, IamUser, RequestPath, SecretName};
use crate::ledger::{Intent, IntentKey, IntentState, Job, Revocation, Store, now_ms};
use crate::policy::changes::Changes;
use crate::policy::verdict::{Half, MergeVerdict};
use crate::request::account_of;
use crate::runner::JobError;
use create::issue_one;

pub(crate) use create::random_token;
pub(crate) use rollback::delete_keys_a_lost_call_made;
pub use rollback::recover_intents;

pub(super) async fn on_closed(wf: &Workflow, gh: &RepoClient, job: &Job) -> Result<(), JobError> {
    let (pr, outcome) = match wf.list(gh, job, Moment::Merged).await {
        Ok(listing) => {
            let pr = listing.pr.clone();
            // Branch names are exact, as git refs are (DESIGN §2.1).
            if pr.base_ref != wf.settings.branch.as_str() {
                tracing::info!(base = %pr.base_ref, "the pull request is not into the configured branch; ignored");
                return Ok(());
            }
            if !pr.merged {
                return rejected(wf, gh, &pr).await.map_err(JobError::from);
            }
            if refused_before_watermark(wf, gh, &pr).await? {
                return Ok(());
            }
            (pr, merged(wf, gh, listing, job).await)
        }
        // Not even the pull request could be read: nothing to announce it on.
        Err(Unlisted { pr: None, error }) => return Err(error.into()),
        Err(Unlisted {
            pr: Some(pr),
            error,
        }) => {
            if pr.base_ref != wf.settings.branch.as_str() || !pr.merged {
                return Err(error.into());
            }
            (pr, Err(error))
        }
    };
    match outcome {
        Ok(()) => Ok(()),
        // One account failed beside the others' work: the comment and notices say so.
        Err(StepError::Told(e)) => Err((*e).into()),
        Err(e) if e.is_transient() && wf.settings.retry.allows_another(job, now_ms()) => {
            // Say so while it lasts: the requester sees why nothing happened yet. Best
            // effort: GitHub may be what fails.
            let until = job.received_at_ms + wf.settings.retry.retry_for.as_millis() as i64;
            let text = render::retrying_comment(&render::public_reason(&e), until);
            if let Err(c) = wf.put_comment(gh, pr.number, &text).await {
                tracing::warn!(error = %c, "cannot say on the pull request that issuing is retried");
            }
            Err(e.into())
        }
        Err(e) => {
            could_not_finish(wf, gh, &pr, &e).await;
            Err(JobError::Permanent(e.to_string()))
        }
    }
}

/// Merged before keygate's watermark: history, never issued (DESIGN §5); says so and
/// returns `true` then.
async fn refused_before_watermark(
    wf: &Workflow,
    gh: &RepoClient,
    pr: &PullInfo,
) -> Result<bool, StepError> {
    let Some(report) = super::catchup::before_watermark(wf, gh, pr).await? else {
        return Ok(false);
    };
    let pr_ref = wf.pr_ref(pr, &[]);
    wf.put_comment(
        gh,
        pr.number,
        &render::comment(std::slice::from_ref(&report)),
    )
    .await?;
    let key = wf.notice_key(NoticeEvent::Refused, pr.number, &report.path, None);
    wf.publish_once(key, &render::notice(&report, &pr_ref))
        .await?;
    Ok(true)
}

/// Fail closed, and say so: nothing more is issued for what did not finish. A key already
/// stored is live, and the text says so rather than "nothing issued". Public words only:
/// GitHub's and AWS's own messages go to the log (the worker logs the error). Best effort.
async fn could_not_finish(wf: &Workflow, gh: &RepoClient, pr: &PullInfo, e: &StepError) {
    let stored: Vec<SecretName> = wf
        .ledger
        .intents_of_pr(wf.settings.repository.clone(), pr.number)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| matches!(i.state, IntentState::Stored | IntentState::Issued))
        .filter_map(|i| i.secret_name)
        .collect();
    let done = if stored.is_empty() {
        "Nothing more was issued.".to_string()
    } else {
        let listed: Vec<String> = stored.iter().map(|s| format!("`{s}`")).collect();
        format!(
            "Keys stored before that are live: {}; nothing else was issued.",
            listed.join(", ")
        )
    };
    let why = format!(
        "keygate could not finish: {}. {done} Once the cause is fixed, redeliver this pull request's `closed` event from the GitHub App's advanced settings.",
        render::public_reason(e)
    );
    let report = Report {
        path: "(this pull request)".into(),
        iam_user: None,
        account: None,
        outcome: Outcome::Failed { why },
    };
    let comment = render::comment(std::slice::from_ref(&report));
    let _ = wf.put_comment(gh, pr.number, &comment).await;
    let pr_ref = wf.pr_ref(pr, &[]);
    let key = wf.notice_key(NoticeEvent::Failed, pr.number, &report.path, None);
    if let Err(publish) = wf
        .publish_once(key, &render::notice(&report, &pr_ref))
        .await
    {
        tracing::error!(error = %publish, "cannot publish the failure notice");
    }
}

#[instrument(skip_all, fields(pr = listing.pr.number.get()))]
async fn merged(
    wf: &Workflow,
    gh: &RepoClient,
    listing: Listing,
    job: &Job,
) -> Result<(), StepError> {
    // A pull request with request files ends with keygate's comment: it is looked for
    // beside the reads that judge the pull request, not in a round of its own after them.
    let number = listing.pr.number;
    let comments = listing.touches_requests(&wf.settings.rules);
    let (facts, found) = tokio::join!(wf.judge(gh, listing, Moment::Merged), async {
        if comments {
            Some(wf.find_comment(gh, number).await)
        } else {
            None
        }
    });
    let facts = facts?;
    if !facts.changes.touches_requests() {
        tracing::info!("no request files; nothing to do");
        return Ok(());
    }
    let pr = &facts.pr;
    let approvers = facts.assessment.approvers();
    // Each half by its own owners (DESIGN §2.1): the additions issue first, then the
    // deletions revoke; a half that was not approved is refused and announced.
    let verdict = MergeVerdict::of(&facts.changes, &facts.assessment, facts.revocation.as_ref());
    // One account's failure is held while the other accounts' work goes on (DESIGN §9).
    let mut held = Held::default();
    // An earlier attempt that got as far as creating a key had verified the approval: finish
    // it rather than judge again (a team change since then must not strand a stored key).
    let mut reports = if verdict.additions == Half::Acts || started(wf, pr).await? {
        issue_all(wf, &facts, &approvers, job, &mut held).await?
    } else {
        let refused = refusals(&facts.changes, &facts.assessment, &wf.settings.rules);
        for r in &refused {
            record_refusal(wf, pr, r, job).await?;
        }
        refused
    };
    ended_meanwhile(wf, pr, &mut reports).await?;
    let revoking = super::revoke::on_merged(wf, &facts, verdict.deletions, job, &mut held);
    reports.extend(revoking.await?);
    // Nothing wrote keygate's comment since it was looked for; a lookup that failed is
    // made again.
    let found = found.and_then(Result::ok);
    announce(wf, gh, pr, &approvers, &reports, found).await?;
    held.end()
}

/// Issues each approved request of the merged pull request. A request whose AWS account
/// fails is reported as retried (or failed for good) and held; the others go on.
async fn issue_all(
    wf: &Workflow,
    facts: &super::gather::Facts,
    approvers: &[String],
    job: &Job,
    held: &mut Held,
) -> Result<Vec<Report>, StepError> {
    let mut reports = Vec::new();
    for (path, parsed) in &facts.requests {
        let Ok(request) = parsed else { continue };
        let outcome = match issue_one(wf, &facts.pr, request, approvers, job).await {
            Ok(outcome) => outcome,
            Err(e) if outage::in_one_account(&e) => held_outcome(wf, job, held, e),
            Err(e) => return Err(e),
        };
        reports.push(Report {
            path: path.clone(),
            iam_user: Some(request.iam_user.clone()),
            account: request.account.clone(),
            outcome,
        });
    }
    Ok(reports)
}

/// What a request whose account failed says: retried while it may pass, else failed.
fn held_outcome(wf: &Workflow, job: &Job, held: &mut Held, e: StepError) -> Outcome {
    let kept = held.keep(wf, job, e);
    if kept.retried {
        Outcome::Retrying {
            why: format!(
                "{}. keygate tries again until {} (UTC); the other accounts' requests go on meanwhile.",
                kept.why,
                outage::retried_until(wf, job)
            ),
        }
    } else {
        Outcome::Failed {
            why: format!(
                "{}. Nothing was issued for this request. Once the cause is fixed, redeliver this pull request's `closed` event from the GitHub App's advanced settings.",
                kept.why
            ),
        }
    }
}

/// Whether an earlier attempt for this pull request got as far as creating a key.
async fn started(wf: &Workflow, pr: &PullInfo) -> Result<bool, StepError> {
    let intents = wf
        .ledger
        .intents_of_pr(wf.settings.repository.clone(), pr.number)
        .await?;
    Ok(intents.iter().any(|i| {
        matches!(
            i.state,
            IntentState::Creating | IntentState::Stored | IntentState::Issued
        )
    }))
}

/// keygate's comment, then one notice per report that is announced (not one still being
/// retried); a stored key whose outcome went out is issued. The comment and the notices are
/// separate steps: a comment GitHub refuses must not keep a stored key from being announced
/// on SNS, nor the other way round. `found`: keygate's comment as looked for earlier in this
/// job, if it was.
async fn announce(
    wf: &Workflow,
    gh: &RepoClient,
    pr: &PullInfo,
    approvers: &[String],
    reports: &[Report],
    found: Option<Option<u64>>,
) -> Result<(), StepError> {
    let body = render::comment(reports);
    let commented = match found {
        Some(id) => wf.write_comment(gh, pr.number, &body, id).await,
        None => wf.put_comment(gh, pr.number, &body).await,
    };
    if let Err(e) = &commented {
        tracing::error!(error = %e, "cannot write keygate's comment");
    }
    let pr_ref = wf.pr_ref(pr, approvers);
    let mut published = Vec::new();
    let mut unpublished = None;
    for r in reports.iter().filter(|r| r.outcome.is_announced()) {
        let key = wf.notice_key(r.outcome.event(), pr.number, &r.path, None);
        match wf.publish_once(key, &render::notice(r, &pr_ref)).await {
            Ok(()) => published.push(r.path.clone()),
            Err(e) => {
                tracing::error!(error = %e, request = %r.path, "cannot publish the notice");
                unpublished.get_or_insert(e);
            }
        }
    }
    // Announced: issued, or revoked at once because its file was deleted meanwhile.
    let intents = wf
        .ledger
        .intents_of_pr(wf.settings.repository.clone(), pr.number)
        .await?;
    for mut intent in intents {
        if published.contains(&intent.path) && intent.state == IntentState::Stored {
            advance(wf, &mut intent, IntentState::Issued).await?;
        }
    }
    commented?;
    match unpublished {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One refusal report per request file (or per problem file when none was added).
fn refusals(
    changes: &Changes,
    a: &crate::policy::Assessment,
    rules: &crate::request::RequestRules,
) -> Vec<Report> {
    let mut out: Vec<Report> = a
        .files
        .iter()
        .map(|f| {
            let mut reasons = render::problem::problems(&a.pr_problems);
            reasons.extend(f.problems.iter().cloned());
            if reasons.is_empty() {
                reasons.push("another request in this pull request was refused, and keygate issues all of a pull request's requests or none".into());
            }
            Report {
                path: f.path.clone(),
                iam_user: f.request.as_ref().map(|r| r.iam_user.clone()),
                account: account_of(f.path.as_str(), rules),
                outcome: Outcome::Refused { reasons },
            }
        })
        .collect();
    // Deletions are refused, each with these problems, as revocations.
    if out.is_empty() && !a.pr_problems.is_empty() && changes.removed.is_empty() {
        let path = changes
            .rewritten
            .first()
            .map(|(p, _)| p.as_str())
            .or_else(|| changes.misplaced.first().map(|d| d.path.as_str()))
            .map_or_else(|| RequestPath::new("(this pull request)"), RequestPath::new);
        out.push(Report {
            account: account_of(path.as_str(), rules),
            path,
            iam_user: None,
            outcome: Outcome::Refused {
                reasons: render::problem::problems(&a.pr_problems),
            },
        });
    }
    out
}

/// A deletion merged after this pull request, heard of while its keys were being issued
/// (DESIGN §5): each key made meanwhile for a deleted file is revoked at once, and the
/// requester is told why nothing stays live.
async fn ended_meanwhile(
    wf: &Workflow,
    pr: &PullInfo,
    reports: &mut [Report],
) -> Result<(), StepError> {
    for r in reports.iter_mut() {
        let Outcome::Issued { access_key_id, .. } = &r.outcome else {
            continue;
        };
        let Some(deletion) = life::deleted_since(wf, &r.path, pr.merged_at).await? else {
            continue;
        };
        let id = access_key_id.clone();
        if let Some(mut key) = wf.ledger.key_life(id.clone()).await? {
            let revocation = Revocation {
                by: format!("the merge of #{}", deletion.pr),
                reason: format!(
                    "its request file was deleted by pull request #{}",
                    deletion.pr
                ),
                pr: Some(deletion.pr),
            };
            revoke_key(wf, &wf.settings.lifecycle, &mut key, revocation).await?;
        }
        r.outcome = Outcome::Failed {
            why: format!(
                "`{}` was deleted by the merge of #{} while its key was being issued: the key made meanwhile (`{id}`) was revoked at once, and nothing stays live. To ask for a key again, open a new pull request with a new request file.",
                r.path, deletion.pr
            ),
        };
    }
    Ok(())
}

fn base_intent(
    wf: &Workflow,
    pr: &PullInfo,
    path: &RequestPath,
    iam_user: &IamUser,
    approvers: &[String],
    job: &Job,
) -> Intent {
    let key = IntentKey {
        repository: wf.settings.repository.clone(),
        pr: pr.number,
        path: path.clone(),
    };
    Intent {
        iam_user: iam_user.clone(),
        requester: pr.author.login.clone(),
        approvers: approvers.to_vec(),
        ..Intent::new(key, job.event.installation)
    }
}

/// Moves `intent` to `to`, only from the state it was read in: a second worker that read
/// it earlier cannot overwrite this one's step (DESIGN §8).
pub(super) async fn advance(
    wf: &Workflow,
    intent: &mut Intent,
    to: IntentState,
) -> Result<(), StepError> {
    let from = intent.state;
    intent.state = to;
    intent.updated_at_ms = now_ms();
    if let Err(e) = wf.ledger.advance_intent(intent.clone(), from).await {
        intent.state = from;
        return Err(e.into());
    }
    wf.metrics.intent_moved(
        &from.to_string(),
        &to.to_string(),
        intent.outcome.as_deref(),
    );
    Ok(())
}

async fn record_refusal(
    wf: &Workflow,
    pr: &PullInfo,
    r: &Report,
    job: &Job,
) -> Result<(), StepError> {
    let mut intent = base_intent(
        wf,
        pr,
        &r.path,
        &r.iam_user.clone().unwrap_or_else(|| IamUser::new("")),
        &[],
        job,
    );
    intent.account = r.account.clone();
    intent = wf.ledger.claim_intent(intent).await?.into_intent();
    if intent.state != IntentState::Pending {
        return Ok(());
    }
    intent.outcome = Some(format!("refused: {}", outcome_text(&r.outcome)));
    advance(wf, &mut intent, IntentState::NotIssued).await
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Refused { reasons } => reasons.join("; "),
        Outcome::Failed { why } => why.clone(),
        other => other.event().to_string(),
    }
}

/// Closed without merge: tell requester and approvers the request was rejected.
async fn rejected(wf: &Workflow, gh: &RepoClient, pr: &PullInfo) -> Result<(), StepError> {
    let files = gh.pull_files(pr.number.get()).await?;
    let changes = Changes::sort(&files, &wf.settings.rules);
    if changes.added.is_empty() {
        return Ok(());
    }
    let pr_ref = wf.pr_ref(pr, &[]);
    let reports: Vec<Report> = changes
        .added
        .iter()
        .map(|path| Report {
            path: path.clone(),
            iam_user: path.as_str().split('/').rev().nth(1).map(IamUser::new),
            account: account_of(path.as_str(), &wf.settings.rules),
            outcome: Outcome::Rejected { why: None },
        })
        .collect();
    wf.put_comment(gh, pr.number, &render::comment(&reports))
        .await?;
    let head = CommitSha::new(pr.head_sha.clone());
    for r in &reports {
        let key = wf.notice_key(NoticeEvent::Rejected, pr.number, &r.path, Some(&head));
        wf.publish_once(key, &render::notice(r, &pr_ref)).await?;
    }
    Ok(())
}
