//! A closed pull request: verify at merge, issue in the order of DESIGN §3, tell people.
//! Or, closed without merge: the rejection notice.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tracing::instrument;

use super::facts::{Listing, Moment, Unlisted};
use super::render::{self, Outcome, PrRef, Report};
use super::{StepError, Workflow};
use crate::aws::{READERS_TAG, policy};
use crate::github::client::{PullInfo, RepoClient};
use crate::ids::DeliveryId;
use crate::ids::{CommitSha, PrNumber};
use crate::ledger::{Claim, Intent, IntentKey, IntentState, Job, NewDelivery, Store, now_ms};
use crate::policy::changes::Changes;
use crate::policy::verdict::{Half, MergeVerdict};
use crate::request::{Request, SecretNameInputs, render_secret_name};
use crate::work::NoticeEvent;
use crate::work::{Activity, PrEvent};
use crate::worker::JobError;

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
            // Merged before keygate's watermark: history, never issued (DESIGN §5).
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
    let (number, url, requester) = (pr.number, pr.html_url.clone(), pr.author.login.clone());
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is_transient() && wf.settings.retry.allows_another(job, now_ms()) => {
            // Say so while it lasts: the requester sees why nothing happened yet. Best
            // effort: GitHub may be what fails.
            let until = job.received_at_ms + wf.settings.retry.retry_for.as_millis() as i64;
            let text = render::retrying_comment(&render::public_reason(&e), until);
            if let Err(c) = wf.put_comment(gh, number, &text).await {
                tracing::warn!(error = %c, "cannot say on the pull request that issuing is retried");
            }
            Err(e.into())
        }
        Err(e) => {
            // Fail closed, and say so: nothing more is issued for what did not finish. A key
            // already stored is live, and the text says so rather than "nothing issued".
            // Public words only: GitHub's and AWS's own messages go to the log (the
            // worker logs the error returned below).
            let stored: Vec<String> = wf
                .ledger
                .intents_of_pr(wf.settings.repository.clone(), PrNumber(number))
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|i| matches!(i.state, IntentState::Stored | IntentState::Issued))
                .filter_map(|i| i.secret_name)
                .collect();
            let done = if stored.is_empty() {
                "Nothing more was issued.".to_string()
            } else {
                format!(
                    "Keys stored before that are live: {}; nothing else was issued.",
                    stored
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let why = format!(
                "keygate could not finish: {}. {done} Once the cause is fixed, redeliver this pull request's `closed` event from the GitHub App's advanced settings.",
                render::public_reason(&e)
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

#[instrument(skip_all, fields(pr = listing.pr.number))]
async fn merged(
    wf: &Workflow,
    gh: &RepoClient,
    listing: Listing,
    job: &Job,
) -> Result<(), StepError> {
    let facts = wf.judge(gh, listing, Moment::Merged).await?;
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
    // Each half by its own owners (DESIGN §2.1): the additions issue first, then the
    // deletions revoke; a half that was not approved is refused and announced.
    let verdict = MergeVerdict::of(&facts.changes, &facts.assessment, facts.revocation.as_ref());
    if verdict.additions == Half::Acts || started {
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
    let revocations = super::revoke::on_merged(wf, &facts, verdict.deletions).await?;
    reports.extend(revocations);
    // The comment and the notices are separate steps: a comment GitHub refuses must not
    // keep a stored key from being announced on SNS, nor the other way round.
    let commented = wf
        .put_comment(gh, pr.number, &render::comment(&reports))
        .await;
    if let Err(e) = &commented {
        tracing::error!(error = %e, "cannot write keygate's comment");
    }
    let mut published = Vec::new();
    let mut unpublished = None;
    for r in &reports {
        let key = wf.notice_key(r.outcome.event(), pr.number, &r.path, None);
        match wf.publish_once(key, &render::notice(r, &pr_ref)).await {
            Ok(()) => published.push(r.path.clone()),
            Err(e) => {
                tracing::error!(error = %e, request = %r.path, "cannot publish the notice");
                unpublished.get_or_insert(e);
            }
        }
    }
    // Announced: the issuance is complete.
    let intents = wf
        .ledger
        .intents_of_pr(wf.settings.repository.clone(), PrNumber(pr.number))
        .await?;
    for mut intent in intents {
        let announced = published.contains(&intent.path)
            && reports
                .iter()
                .any(|r| r.path == intent.path && matches!(r.outcome, Outcome::Issued { .. }));
        if announced && intent.state == IntentState::Stored {
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
    // Deletions are refused, each with these problems, as revocations.
    if out.is_empty() && !a.pr_problems.is_empty() && changes.removed.is_empty() {
        let path = changes
            .rewritten
            .first()
            .map(|(p, _)| p.clone())
            .or_else(|| changes.misplaced.first().map(|d| d.path.clone()))
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
    // Built before anything is created: when keygate cannot tell who it is, nothing exists
    // that would have to be undone.
    let readers_policy = readers_policy(wf, request).await?;
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
        Err(e) if e.is_refusal() => {
            // AWS said no: no key was made.
            advance(wf, &mut intent, IntentState::Pending).await?;
            return Err(e.into());
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

    let mut tags = BTreeMap::from([
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
    if !request.readers.is_empty() {
        // Written with the secret, in one call: after a crash it tells `rollback` that the
        // secret is complete only with its resource policy.
        tags.insert(READERS_TAG.to_string(), request.readers.join(" "));
    }
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
            if let Some(document) = &readers_policy {
                // Until this succeeds the intent stays `Creating`: the secret is not stored
                // for a request with readers while everyone in the account may read it.
                if let Err(e) = aws.put_resource_policy(&stored.name, document).await {
                    tracing::warn!(error = %e, "the secret's resource policy could not be put; deleting the secret and the new key");
                    let why = format!(
                        "The secret's resource policy, which lets only the request's readers read it, could not be put ({}), so the secret and the new access key were deleted again. Nothing was issued.",
                        e.public_summary()
                    );
                    return undo_after(wf, intent, request, e, why, job).await;
                }
                tracing::info!(readers = %request.readers.join(" "), "the secret is readable only by its readers");
            }
            intent.secret_arn = Some(stored.arn);
            intent.secret_name = Some(stored.name);
            advance(wf, &mut intent, IntentState::Stored).await?;
            tracing::info!(secret = %name, "secret stored");
            Ok(issued_outcome(&intent, request))
        }
        Err(e) => {
            drop(key);
            tracing::warn!(error = %e, "storing the secret failed; deleting the new key");
            let why = format!(
                "The secret could not be stored ({}), so the new access key was deleted again. Nothing was issued.",
                e.public_summary()
            );
            undo_after(wf, intent, request, e, why, job).await
        }
    }
}

/// The resource policy for a request that names readers (DESIGN §3.3), as JSON; `None`
/// when it names none, and the secret keeps no resource policy.
async fn readers_policy(wf: &Workflow, request: &Request) -> Result<Option<String>, StepError> {
    if request.readers.is_empty() {
        return Ok(None);
    }
    let own = wf.aws.own_principal_patterns().await?;
    Ok(Some(
        policy::readers_policy(&request.readers, &own).to_string(),
    ))
}

/// After `CreateSecret` or the secret's resource policy failed: roll back (the new key, and a
/// secret without its policy, are deleted), then retry a transient error or say `why`
/// nothing was issued. A step that went through although its answer was lost makes the
/// issuance complete instead.
async fn undo_after(
    wf: &Workflow,
    mut intent: Intent,
    request: &Request,
    e: crate::aws::AwsError,
    why: String,
    job: &Job,
) -> Result<Outcome, StepError> {
    rollback(wf, &mut intent).await?;
    if intent.state == IntentState::Stored {
        return Ok(issued_outcome(&intent, request));
    }
    if e.is_transient() && wf.settings.retry.allows_another(job, now_ms()) {
        return Err(e.into());
    }
    not_issued(wf, intent, why).await
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
        readers: r.readers.clone(),
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
/// secret turns out to exist, the issuance is complete instead (`Stored`) — unless it was
/// made for readers ([`READERS_TAG`]) and lacks the resource policy that keeps everyone else
/// out: then it is deleted with the key, and the request issues afresh.
async fn rollback(wf: &Workflow, intent: &mut Intent) -> Result<(), StepError> {
    let aws = &wf.aws;
    let user = intent.iam_user.clone();
    if let Some(name) = intent.secret_name.clone()
        && intent.access_key_id.is_some()
        && let Some(stored) = aws.find_own_secret(&name, &intent.key().token()).await?
    {
        let guarded = !stored.for_readers
            || aws
                .resource_policy(&stored.name)
                .await?
                .is_some_and(|p| policy::has_readers_deny(&p));
        if guarded {
            intent.secret_arn = Some(stored.arn);
            return advance(wf, intent, IntentState::Stored).await;
        }
        aws.delete_secret_now(&stored.name).await?;
        tracing::warn!(secret = %stored.name, "deleted a secret for readers that lacked its resource policy");
    }
    match intent.access_key_id.take() {
        Some(id) => {
            aws.delete_access_key(&user, &id).await?;
            tracing::info!(access_key_id = %id, "deleted the key whose secret was not stored");
        }
        None => {
            // The answer to CreateAccessKey was lost (or a crash came before its ID was
            // written down): the key it made, if any, is one absent from the list taken
            // before and created inside that call's time window — never a key someone else
            // made meanwhile.
            let before = intent.keys_before.clone().unwrap_or_default();
            let window = creation_window(intent.updated_at_ms);
            let keys = match aws.list_access_keys_dated(&user).await {
                Ok(keys) => keys,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let ours = keys_made_by_the_call(&before, &window, keys);
            if ours.is_empty() && now_ms() < window.end + IAM_VISIBILITY_MS {
                // IAM is eventually consistent: a key made a moment ago may not be listed
                // yet. Look again later, and create nothing meanwhile.
                return Err(StepError::Uncertain(format!(
                    "a key CreateAccessKey may have made for `{user}` is not visible yet; keygate looks again before it creates another"
                )));
            }
            for id in &ours {
                aws.delete_access_key(&user, id).await?;
                tracing::info!(access_key_id = %id, "deleted a key left by an interrupted issuance");
            }
        }
    }
    advance(wf, intent, IntentState::Pending).await
}

/// The keys the lost `CreateAccessKey` call can have made: not listed before it, and created
/// inside its time window.
fn keys_made_by_the_call(
    before: &[String],
    window: &std::ops::Range<i64>,
    keys: Vec<(String, Option<i64>)>,
) -> Vec<String> {
    keys.into_iter()
        .filter(|(id, created)| {
            !before.contains(id) && created.is_some_and(|c| window.contains(&c))
        })
        .map(|(id, _)| id)
        .collect()
}

/// How long IAM may take to list a new key: within this time after the creation window,
/// an empty list proves nothing.
const IAM_VISIBILITY_MS: i64 = 60_000;

/// When a key made by the `CreateAccessKey` call of an intent that turned `Creating` at
/// `creating_at_ms` can have been created: clocks differ a little, and the call itself is
/// bounded by the SDK's timeouts.
fn creation_window(creating_at_ms: i64) -> std::ops::Range<i64> {
    (creating_at_ms - 60_000)..(creating_at_ms + 300_000)
}

/// At start: roll back every issuance a crash interrupted, before any delivery runs again.
pub async fn recover_intents(wf: &Workflow) -> Result<usize, StepError> {
    let unfinished = wf.ledger.unfinished_intents().await?;
    let mut n = 0;
    let mut announce = std::collections::BTreeSet::new();
    for mut intent in unfinished {
        match intent.state {
            IntentState::Creating => {
                let _one_at_a_time = wf.user_locks.lock(&intent.iam_user).await;
                tracing::warn!(request = %intent.path, pr = %intent.pr, "rolling back an interrupted issuance");
                rollback(wf, &mut intent).await?;
                n += 1;
            }
            // Stored but never announced: the pull request's work runs again and tells.
            IntentState::Stored => {
                announce.insert((intent.repository.clone(), intent.pr, intent.installation));
            }
            _ => {}
        }
    }
    for (repository, pr, installation) in announce {
        let d = NewDelivery {
            id: DeliveryId::new(format!(
                "keygate-announce-{}-{pr}-{}",
                repository.key(),
                now_ms()
            )),
            event: PrEvent {
                repository,
                installation,
                pr,
                activity: Activity::Closed,
                sender: None,
                merge_commit: None,
            },
            received_at_ms: now_ms(),
        };
        tracing::warn!(pr = %d.event.pr, "a stored key was never announced; its pull request runs again");
        wf.ledger.record_delivery(d).await?;
        n += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_deletes_only_a_key_the_lost_call_can_have_made() {
        let creating_at = 1_000_000_000;
        let window = creation_window(creating_at);
        let keys = vec![
            ("AKIAOLD".to_string(), Some(creating_at - 3_600_000)),
            ("AKIAMINE".to_string(), Some(creating_at + 2_000)),
            ("AKIALATER".to_string(), Some(creating_at + 3_600_000)),
            ("AKIANODATE".to_string(), None),
        ];
        let before = vec!["AKIAOLD".to_string()];
        assert_eq!(
            keys_made_by_the_call(&before, &window, keys),
            ["AKIAMINE"],
            "not the one listed before, not one made an hour later by someone else"
        );
    }
}
