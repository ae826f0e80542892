//! A closed pull request: verify at merge, issue in the order of DESIGN §3, tell people.
//! Or, closed without merge: the rejection notice.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tracing::instrument;

use super::render::{self, Outcome, PrRef, Report};
use super::{StepError, Workflow};
use crate::github::client::{PullInfo, RepoClient};
use crate::ids::{CommitSha, PrNumber};
use crate::ledger::{Claim, Intent, IntentKey, IntentState, Job, Store, now_ms};
use crate::policy::changes::Changes;
use crate::request::{Request, SecretNameInputs, render_secret_name};
use crate::work::NoticeEvent;
use crate::worker::JobError;

pub(super) async fn on_closed(wf: &Workflow, gh: &RepoClient, job: &Job) -> Result<(), JobError> {
    let pr = gh.pull(job.event.pr.get()).await.map_err(StepError::from)?;
    // Branch names are exact, as git refs are (DESIGN §2.1).
    if pr.base_ref != wf.settings.branch.as_str() {
        tracing::info!(base = %pr.base_ref, "the pull request is not into the configured branch; ignored");
        return Ok(());
    }
    if !pr.merged {
        return rejected(wf, gh, &pr).await.map_err(JobError::from);
    }
    if let Some(report) = super::reconcile::before_watermark(wf, &pr)
        .await
        .map_err(JobError::from)?
    {
        let pr_ref = wf.pr_ref(&pr, &[]);
        wf.put_comment(
            gh,
            pr.number,
            &render::comment(std::slice::from_ref(&report)),
        )
        .await?;
        let key = wf.notice_key(NoticeEvent::Refused, pr.number, &report.path, None);
        wf.publish_once(key, &render::notice(&report, &pr_ref))
            .await?;
        return Ok(());
    }
    let (number, url, requester) = (pr.number, pr.html_url.clone(), pr.author.login.clone());
    match merged(wf, gh, pr, job).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_transient() && wf.settings.retry.allows_another(job, now_ms()) => {
            Err(e.into())
        }
        Err(e) => {
            // Fail closed, and say so: nothing was issued for what did not finish.
            let why = format!(
                "keygate could not finish: {e}. Nothing more was issued. Once the cause is fixed, redeliver this pull request's `closed` event from the GitHub App's advanced settings."
            );
            let report = Report {
                path: "(this pull request)".into(),
                iam_user: None,
                outcome: Outcome::Failed { why },
            };
            let _ = wf
                .put_comment(gh, number, &render::comment(std::slice::from_ref(&report)))
                .await;
            let pr_ref = PrRef {
                repository: wf.settings.repository.as_str(),
                number,
                url: &url,
                requester: &requester,
                approvers: &[],
            };
            let key = wf.notice_key(NoticeEvent::Failed, number, &report.path, None);
            if let Err(publish) = wf
                .publish_once(key, &render::notice(&report, &pr_ref))
                .await
            {
                tracing::error!(error = %publish, "cannot publish the failure notice");
            }
            Err(JobError::Permanent(e.to_string()))
        }
    }
}

#[instrument(skip_all, fields(pr = pr.number))]
async fn merged(wf: &Workflow, gh: &RepoClient, pr: PullInfo, job: &Job) -> Result<(), StepError> {
    let Some(merge_sha) = pr.merge_commit_sha.clone() else {
        return Err(StepError::GitHub(
            crate::github::client::GitHubError::Status {
                what: "the pull request".into(),
                status: 200,
                message: "merged, but GitHub gives no merge commit".into(),
            },
        ));
    };
    // Owners as they stood just before the merge: the merge commit's first parent.
    let parents = gh.commit_parents(&merge_sha).await?;
    let base_before = parents
        .first()
        .cloned()
        .unwrap_or_else(|| pr.base_sha.clone());
    let facts = wf.gather(gh, pr, &base_before, &merge_sha).await?;
    if !facts.changes.touches_requests() {
        tracing::info!("no request files; nothing to do");
        return Ok(());
    }
    let pr = &facts.pr;
    let approvers = facts.assessment.approvers();
    let pr_ref = wf.pr_ref(pr, &approvers);
    let mut reports = Vec::new();
    // An earlier attempt that got as far as creating a key had verified the approval: finish
    // it rather than judge again (a team change since then must not strand a stored key).
    let started = wf
        .ledger
        .intents_of_pr(wf.settings.repository.clone(), PrNumber(pr.number))
        .await?
        .iter()
        .any(|i| {
            matches!(
                i.state,
                IntentState::Creating | IntentState::Stored | IntentState::Issued
            )
        });
    if facts.assessment.issuable() || started {
        for (path, parsed) in &facts.requests {
            let Ok(request) = parsed else { continue };
            let outcome = issue_one(wf, pr, request, &approvers, job).await?;
            reports.push(Report {
                path: path.clone(),
                iam_user: Some(request.iam_user.clone()),
                outcome,
            });
        }
    } else {
        reports = refusals(&facts.changes, &facts.assessment);
        for r in &reports {
            record_refusal(wf, pr, r, job).await?;
        }
    }
    let revocations = super::revoke::on_merged(wf, gh, &facts, &base_before, &reports).await?;
    reports.extend(revocations);
    wf.put_comment(gh, pr.number, &render::comment(&reports))
        .await?;
    for r in &reports {
        let key = wf.notice_key(r.outcome.event(), pr.number, &r.path, None);
        wf.publish_once(key, &render::notice(r, &pr_ref)).await?;
    }
    // Announced: the issuance is complete.
    let intents = wf
        .ledger
        .intents_of_pr(wf.settings.repository.clone(), PrNumber(pr.number))
        .await?;
    for mut intent in intents {
        let announced = reports
            .iter()
            .any(|r| r.path == intent.path && matches!(r.outcome, Outcome::Issued { .. }));
        if announced && intent.state == IntentState::Stored {
            advance(wf, &mut intent, IntentState::Issued).await?;
        }
    }
    Ok(())
}

/// One refusal report per request file (or per problem file when none was added).
fn refusals(changes: &Changes, a: &crate::policy::Assessment) -> Vec<Report> {
    let mut out: Vec<Report> = a
        .files
        .iter()
        .map(|f| {
            let mut reasons = a.pr_problems.clone();
            reasons.extend(f.problems.iter().cloned());
            if reasons.is_empty() {
                reasons.push("another request in this pull request was refused, and keygate issues all of a pull request's requests or none".into());
            }
            Report {
                path: f.path.clone(),
                iam_user: f.request.as_ref().map(|r| r.iam_user.clone()),
                outcome: Outcome::Refused { reasons },
            }
        })
        .collect();
    if out.is_empty() && !a.pr_problems.is_empty() {
        let path = changes
            .rewritten
            .first()
            .map(|(p, _)| p.clone())
            .or_else(|| changes.misplaced.first().map(|d| d.path.clone()))
            .or_else(|| changes.removed.first().cloned())
            .unwrap_or_else(|| "(this pull request)".into());
        out.push(Report {
            path,
            iam_user: None,
            outcome: Outcome::Refused {
                reasons: a.pr_problems.clone(),
            },
        });
    }
    out
}

fn base_intent(
    wf: &Workflow,
    pr: &PullInfo,
    path: &str,
    iam_user: &str,
    approvers: &[String],
    job: &Job,
) -> Intent {
    let key = IntentKey {
        repository: wf.settings.repository.clone(),
        pr: PrNumber(pr.number),
        path: path.to_string(),
    };
    Intent {
        iam_user: iam_user.to_string(),
        requester: pr.author.login.clone(),
        approvers: approvers.to_vec(),
        ..Intent::new(key, job.event.installation)
    }
}

/// Moves `intent` to `to`, only from the state it was read in: a second worker that read
/// it earlier cannot overwrite this one's step (DESIGN §8).
async fn advance(wf: &Workflow, intent: &mut Intent, to: IntentState) -> Result<(), StepError> {
    let from = intent.state;
    intent.state = to;
    if let Err(e) = wf.ledger.advance_intent(intent.clone(), from).await {
        intent.state = from;
        return Err(e.into());
    }
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
        r.iam_user.as_deref().unwrap_or(""),
        &[],
        job,
    );
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

/// Issues one approved request, resuming where an earlier attempt stopped.
#[instrument(skip_all, fields(request = %request.path, iam_user = %request.iam_user))]
async fn issue_one(
    wf: &Workflow,
    pr: &PullInfo,
    request: &Request,
    approvers: &[String],
    job: &Job,
) -> Result<Outcome, StepError> {
    let aws = &wf.aws;
    let user = request.iam_user.as_str();
    let mut last_timestamp = wf.user_locks.lock(user).await;
    // 1. The intent first: no key without its record.
    let claim = base_intent(wf, pr, &request.path, user, approvers, job);
    let mut intent = match wf.ledger.claim_intent(claim).await? {
        Claim::New(i) | Claim::Existing(i) => i,
    };
    match intent.state {
        IntentState::Stored | IntentState::Issued => {
            tracing::info!("already issued; nothing new is created");
            return Ok(issued_outcome(&intent, request));
        }
        IntentState::NotIssued => {
            return Ok(Outcome::Failed {
                why: intent
                    .outcome
                    .clone()
                    .unwrap_or_else(|| "Nothing was issued.".into()),
            });
        }
        IntentState::Creating => {
            rollback(wf, &mut intent).await?;
            if intent.state == IntentState::Stored {
                return Ok(issued_outcome(&intent, request));
            }
        }
        IntentState::Pending => {}
    }
    // 2. The user exists, spelt exactly as the folder that chose its owners; then the two-key check.
    match aws.canonical_user_name(user).await? {
        None => {
            let why = format!("The IAM user `{user}` does not exist in this AWS account.");
            return not_issued(wf, intent, why).await;
        }
        Some(canonical) if canonical != user => {
            let why = format!(
                "IAM knows this user as `{canonical}`, not `{user}`: request it under {}/{canonical}/ so that folder's owners approve it.",
                wf.settings.rules.requests_dir
            );
            return not_issued(wf, intent, why).await;
        }
        Some(_) => {}
    }
    let keys = aws.list_access_keys(user).await?;
    if keys.len() >= 2 {
        return not_issued(
            wf,
            intent,
            format!("`{user}` already has 2 access keys, the most IAM allows. Delete one that is no longer used, then open a new request."),
        )
        .await;
    }
    // 3. Name the secret and write down what exists before creating anything.
    // Two issuances for one user in the same second would render the same default name.
    let (mut now, mut ts) = timestamp();
    while *last_timestamp == ts {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        (now, ts) = timestamp();
    }
    last_timestamp.clone_from(&ts);
    let name = render_secret_name(
        &wf.settings.rules.secret_name_template,
        &SecretNameInputs {
            iam_user: user,
            timestamp: &ts,
            pr: pr.number,
            request: request.name(),
        },
    );
    let name = match name {
        Ok(n) => n,
        Err(why) => return not_issued(wf, intent, why).await,
    };
    let expires = now + time::Duration::days(i64::from(request.expires_in_days));
    intent.secret_name = Some(name.clone());
    intent.expires_at = expires.format(&Rfc3339).ok();
    intent.keys_before = Some(keys);
    advance(wf, &mut intent, IntentState::Creating).await?;

    let key = match aws.create_access_key(user).await {
        Ok(k) => k,
        Err(e) if e.is_limit_exceeded() => {
            return not_issued(
                wf,
                intent,
                format!("`{user}` already has 2 access keys, the most IAM allows."),
            )
            .await;
        }
        Err(e) => {
            // The key may exist although the answer was lost: delete whatever is new.
            tracing::warn!(error = %e, "CreateAccessKey failed; removing any key it may have created");
            rollback(wf, &mut intent).await?;
            return Err(e.into());
        }
    };
    intent.access_key_id = Some(key.access_key_id.clone());
    save(wf, &intent).await?;
    tracing::info!(access_key_id = %key.access_key_id, "access key created");

    let tags = BTreeMap::from([
        (
            "keygate:repository".to_string(),
            wf.settings.repository.to_string(),
        ),
        ("keygate:pr".to_string(), pr.number.to_string()),
        ("keygate:request".to_string(), request.path.clone()),
        ("keygate:requester".to_string(), pr.author.login.clone()),
        ("keygate:approvers".to_string(), approvers.join(" ")),
        (
            "keygate:expires-at".to_string(),
            intent.expires_at.clone().unwrap_or_default(),
        ),
        // Not a secret (CloudTrail shows it everywhere): it walks back from a key to here.
        (
            crate::aws::ACCESS_KEY_TAG.to_string(),
            key.access_key_id.clone(),
        ),
    ]);
    let token = intent.key().token();
    match aws
        .create_secret(
            &name,
            &key,
            &token,
            wf.settings.kms_key_id.as_deref(),
            &tags,
        )
        .await
    {
        Ok(stored) => {
            drop(key);
            intent.secret_arn = Some(stored.arn);
            intent.secret_name = Some(stored.name);
            advance(wf, &mut intent, IntentState::Stored).await?;
            tracing::info!(secret = %name, "secret stored");
            Ok(issued_outcome(&intent, request))
        }
        Err(e) => {
            drop(key);
            tracing::warn!(error = %e, "storing the secret failed; deleting the new key");
            rollback(wf, &mut intent).await?;
            if intent.state == IntentState::Stored {
                return Ok(issued_outcome(&intent, request));
            }
            if e.is_transient() && wf.settings.retry.allows_another(job, now_ms()) {
                return Err(e.into());
            }
            not_issued(
                wf,
                intent,
                format!("The secret could not be stored ({e}), so the new access key was deleted again. Nothing was issued."),
            )
            .await
        }
    }
}

/// Now, to the second, and as `{timestamp}` renders it (UTC `YYYYmmddHHMMSS`).
fn timestamp() -> (OffsetDateTime, String) {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let ts = now
        .format(format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .unwrap_or_default();
    (now, ts)
}

fn issued_outcome(i: &Intent, r: &Request) -> Outcome {
    Outcome::Issued {
        secret_name: i.secret_name.clone().unwrap_or_default(),
        secret_arn: i.secret_arn.clone().unwrap_or_default(),
        access_key_id: i.access_key_id.clone().unwrap_or_default(),
        expires_at: i.expires_at.clone().unwrap_or_default(),
        days: r.expires_in_days,
    }
}

/// Writes a step's fields without changing the intent's state.
async fn save(wf: &Workflow, i: &Intent) -> Result<(), StepError> {
    wf.ledger.advance_intent(i.clone(), i.state).await?;
    Ok(())
}

async fn not_issued(wf: &Workflow, mut intent: Intent, why: String) -> Result<Outcome, StepError> {
    intent.outcome = Some(why.clone());
    advance(wf, &mut intent, IntentState::NotIssued).await?;
    tracing::warn!(why = %why, "not issued");
    Ok(Outcome::Failed { why })
}

/// Undoes an interrupted creation: no key may exist whose secret nobody holds. When the
/// secret turns out to exist, the issuance is complete instead (`Stored`).
async fn rollback(wf: &Workflow, intent: &mut Intent) -> Result<(), StepError> {
    let aws = &wf.aws;
    let user = intent.iam_user.clone();
    if let Some(name) = intent.secret_name.clone()
        && intent.access_key_id.is_some()
        && let Some(stored) = aws.find_own_secret(&name, &intent.key().token()).await?
    {
        intent.secret_arn = Some(stored.arn);
        return advance(wf, intent, IntentState::Stored).await;
    }
    match intent.access_key_id.take() {
        Some(id) => {
            aws.delete_access_key(&user, &id).await?;
            tracing::info!(access_key_id = %id, "deleted the key whose secret was not stored");
        }
        None => {
            // The crash came between CreateAccessKey and writing down its ID: any key that
            // was not there before is this intent's.
            let before = intent.keys_before.clone().unwrap_or_default();
            match aws.list_access_keys(&user).await {
                Ok(now) => {
                    for id in now.iter().filter(|k| !before.contains(k)) {
                        aws.delete_access_key(&user, id).await?;
                        tracing::info!(access_key_id = %id, "deleted a key left by an interrupted issuance");
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    advance(wf, intent, IntentState::Pending).await
}

/// At start: roll back every issuance a crash interrupted, before any delivery runs again.
pub async fn recover_intents(wf: &Workflow) -> Result<usize, StepError> {
    let unfinished = wf.ledger.unfinished_intents().await?;
    let mut n = 0;
    for mut intent in unfinished {
        if intent.state == IntentState::Creating {
            let _one_at_a_time = wf.user_locks.lock(&intent.iam_user).await;
            tracing::warn!(request = %intent.path, pr = %intent.pr, "rolling back an interrupted issuance");
            rollback(wf, &mut intent).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Closed without merge: tell requester and approvers the request was rejected.
async fn rejected(wf: &Workflow, gh: &RepoClient, pr: &PullInfo) -> Result<(), StepError> {
    let files = gh.pull_files(pr.number).await?;
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
            iam_user: path.split('/').rev().nth(1).map(str::to_string),
            outcome: Outcome::Rejected,
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
