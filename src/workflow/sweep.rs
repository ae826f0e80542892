//! The expiry sweep (DESIGN §5): gather every key keygate's ledger says it issued with its
//! secret's expiry tag, let `lifecycle::plan` say what is due, then act, each step
//! recorded before its AWS calls. Also the one revocation step, shared by
//! `keygate revoke`, revoking pull requests and a sweep that finds one half done.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;

use time::OffsetDateTime;
use tracing::instrument;

use super::render::lifecycle::{KeyEvent, KeyRef, key_comment, key_notice};
use super::{StepError, Workflow};
use crate::aws::{EXPIRES_TAG, SecretFacts};
use crate::ids::{AccountAlias, PrNumber};
use crate::ledger::{KeyLife, NoteKey, Revocation, Store};
use crate::lifecycle::{
    KeyFacts, LifecycleRules, Planned, Progress, Step, effective_expiry, parse_time, plan,
};

/// One step a sweep did, or would do on a dry run.
#[derive(Debug, Clone)]
pub struct SweepLine {
    pub access_key_id: String,
    pub iam_user: String,
    pub request: String,
    /// `None`: the key's secret could not be read, so its expiry tag is unknown this pass.
    pub step: Option<Step>,
    pub expires_at: Option<OffsetDateTime>,
    /// `None` on a dry run; the public reason when the step failed.
    pub result: Option<Result<(), String>>,
}

/// One pass. Steps of one key stop at its first failure (the next pass resumes it); other
/// keys go on, also past a key whose secret cannot be read (DESIGN §5: an error on one key
/// is reported and retried, and the pass goes on). Each AWS account's keys are swept side
/// by side (DESIGN §9), so an account that is down or slow to answer never holds up
/// another's. Errors only when the keys cannot be listed at all.
#[instrument(skip_all, fields(dry_run))]
pub async fn sweep(
    wf: &Workflow,
    rules: &LifecycleRules,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Vec<SweepLine>, StepError> {
    // Only keys this keygate's ledger recorded: a secret that merely carries keygate's
    // tags (another deployment's, or a ledger that was lost) is for `keygate audit` to
    // show, not for this sweep to act on.
    let lives = wf.ledger.keys_to_sweep().await?;
    // What `/metrics` shows of the keys, so a scrape never reads them all (DESIGN §4).
    let census = crate::metrics::key_census(lives.iter().map(|l| l.progress));
    if let Err(e) = wf.ledger.set_note(NoteKey::KeyCensus, census).await {
        tracing::warn!(error = %e, "cannot record the keys' census for /metrics");
    }
    let mut by_account: BTreeMap<Option<AccountAlias>, Vec<KeyLife>> = BTreeMap::new();
    for life in lives {
        by_account
            .entry(life.account.clone())
            .or_default()
            .push(life);
    }
    let passes = by_account
        .into_values()
        .map(|lives| sweep_account(wf, rules, now, dry_run, lives));
    Ok(join_all(passes).await.into_iter().flatten().collect())
}

/// The pass over one account's keys. Once the account itself fails (its issuer role cannot
/// be assumed, or `[accounts]` no longer names it), its other steps are not tried this
/// pass: each is reported failed with the same reason, and the next pass tries again.
async fn sweep_account(
    wf: &Workflow,
    rules: &LifecycleRules,
    now: OffsetDateTime,
    dry_run: bool,
    mut lives: Vec<KeyLife>,
) -> Vec<SweepLine> {
    let (secrets, mut out, mut down) = read_secrets(wf, &lives).await;
    let facts: Vec<KeyFacts> = lives
        .iter()
        .map(|l| KeyFacts {
            access_key_id: l.access_key_id.clone(),
            ledger_expires_at: l.expires_at.as_deref().and_then(parse_time),
            tag_expires_at: l
                .secret_name
                .as_deref()
                .and_then(|n| secrets.get(n))
                .and_then(|s| s.tags.get(EXPIRES_TAG))
                .and_then(|t| parse_time(t)),
            progress: l.progress,
        })
        .collect();
    let mut failed: Vec<String> = Vec::new();
    for p in plan(&facts, now, rules.timing) {
        let Some(life) = lives
            .iter_mut()
            .find(|l| l.access_key_id == p.access_key_id)
        else {
            continue;
        };
        let mut line = SweepLine {
            access_key_id: p.access_key_id.clone(),
            iam_user: life.iam_user.clone(),
            request: life.request.path.clone(),
            step: Some(p.step),
            expires_at: p.expires_at,
            result: None,
        };
        if !dry_run {
            if failed.contains(&p.access_key_id) {
                continue;
            }
            if let Some(why) = &down {
                line.result = Some(Err(format!("not tried: {why}")));
                out.push(line);
                continue;
            }
            let result = run_step(wf, rules, life, &p).await;
            if let Err(e) = &result {
                tracing::error!(access_key_id = %p.access_key_id, step = %p.step, error = %e, "lifecycle step failed; the next pass resumes it");
                failed.push(p.access_key_id.clone());
                if account_down(e) {
                    down = Some(super::render::public_reason(e));
                }
            }
            line.result = Some(result.map_err(|e| super::render::public_reason(&e)));
        }
        out.push(line);
    }
    out
}

/// Whether `e` says the account itself failed, not one call in it.
fn account_down(e: &StepError) -> bool {
    matches!(e, StepError::Aws(a) if a.is_account_unavailable())
}

/// Each key's own secret, described by name in the key's account: scoped to the secret
/// prefix, unlike ListSecrets (which IAM can only grant on "*"), and nothing at all to ask
/// when no key is live. A secret that cannot be read is reported as a failed line: its key
/// is then planned by the ledger's expiry alone, which the tag could only bring forward, so
/// nothing is done to it early, and the next pass reads it again. Once the account itself
/// fails, no more of its secrets are asked for; the third value says why.
async fn read_secrets(
    wf: &Workflow,
    lives: &[KeyLife],
) -> (HashMap<String, SecretFacts>, Vec<SweepLine>, Option<String>) {
    let mut secrets = HashMap::new();
    let mut unread = Vec::new();
    let mut down: Option<String> = None;
    for life in lives {
        let Some(name) = life.secret_name.as_deref() else {
            continue;
        };
        let read = match &down {
            Some(why) => Err(format!("not tried: {why}")),
            None => {
                let asked = match wf.aws.in_account(life.account.as_ref()) {
                    Ok(aws) => aws.describe_secret(name).await,
                    Err(e) => Err(e),
                };
                asked.map_err(|e| {
                    tracing::error!(access_key_id = %life.access_key_id, secret = %name, error = %e, "cannot read the key's secret; its expiry tag is unknown this pass");
                    if e.is_account_unavailable() {
                        down = Some(e.public_summary());
                    }
                    format!("cannot read its secret `{name}`: {}", e.public_summary())
                })
            }
        };
        match read {
            Ok(Some(s)) => {
                secrets.insert(name.to_string(), s);
            }
            Ok(None) => {}
            Err(why) => unread.push(SweepLine {
                access_key_id: life.access_key_id.clone(),
                iam_user: life.iam_user.clone(),
                request: life.request.path.clone(),
                step: None,
                expires_at: life.expires_at.as_deref().and_then(parse_time),
                result: Some(Err(why)),
            }),
        }
    }
    (secrets, unread, down)
}

/// Writes `life` with `to`, from the progress it was read in.
async fn record(wf: &Workflow, life: &mut KeyLife, to: Progress) -> Result<(), StepError> {
    let from = life.progress;
    life.progress = to;
    if let Err(e) = wf.ledger.record_lifecycle_step(life.clone(), from).await {
        life.progress = from;
        return Err(e.into());
    }
    Ok(())
}

/// Runs one step: recorded begun, its AWS calls (each a no-op when already done), told,
/// recorded done.
#[instrument(skip_all, fields(access_key_id = %life.access_key_id, iam_user = %life.iam_user, step = %p.step))]
pub(crate) async fn run_step(
    wf: &Workflow,
    rules: &LifecycleRules,
    life: &mut KeyLife,
    p: &Planned,
) -> Result<(), StepError> {
    let step = p.step;
    if life.progress.pending != Some(step) {
        record(wf, life, life.progress.begin(step)).await?;
    }
    let aws = wf.aws_in(life.account.as_ref())?;
    let (user, id) = (life.iam_user.clone(), life.access_key_id.clone());
    let delete_after_days = rules.timing.delete_after_days;
    match step {
        Step::Warn => tell(wf, life, p, &KeyEvent::Expiring { delete_after_days }).await?,
        Step::Deactivate => {
            aws.deactivate_access_key(&user, &id).await?;
            tracing::info!("deactivated at expiry");
            tell(wf, life, p, &KeyEvent::Expired { delete_after_days }).await?;
        }
        Step::Delete | Step::Revoke => {
            if step == Step::Revoke {
                aws.deactivate_access_key(&user, &id).await?;
            }
            aws.delete_access_key(&user, &id).await?;
            if let Some(name) = &life.secret_name {
                aws.delete_secret(name, rules.deletion).await?;
            }
            tracing::info!("key and secret deleted");
            if step == Step::Revoke {
                let r = life.revocation.clone().unwrap_or(Revocation {
                    by: "keygate".into(),
                    reason: "revoked".into(),
                    pr: None,
                });
                let event = KeyEvent::Revoked {
                    by: &r.by,
                    reason: &r.reason,
                    revoking_pr: r.pr.map(PrNumber::get),
                };
                tell(wf, life, p, &event).await?;
            }
        }
    }
    record(wf, life, life.progress.finish(step)).await
}

/// The notice (once; a failure fails the step, which is retried) and a comment on the
/// request's pull request (once; best effort: the notice is what subscribers rely on).
async fn tell(
    wf: &Workflow,
    life: &KeyLife,
    p: &Planned,
    event: &KeyEvent<'_>,
) -> Result<(), StepError> {
    let expires = p
        .expires_at
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .or_else(|| life.expires_at.clone());
    let key = KeyRef {
        repository: life.request.repository.as_str(),
        pr: life.request.pr.get(),
        path: &life.request.path,
        iam_user: &life.iam_user,
        account: life.account.as_ref(),
        requester: &life.requester,
        access_key_id: &life.access_key_id,
        secret_name: life.secret_name.as_deref(),
        expires_at: expires.as_deref(),
    };
    let notice_event = event.notice_event();
    // A revocation by pull request is announced under the revoking pull request's key, the
    // one its result comment's notice would use: it goes out once, whoever sends it first.
    let (pr, revision) = match event {
        KeyEvent::Revoked {
            revoking_pr: Some(n),
            ..
        } => (*n, None),
        _ => (life.request.pr.get(), Some(life.access_key_id.clone())),
    };
    let note = NoteKey::Notice {
        event: notice_event,
        repository: life.request.repository.clone(),
        pr: PrNumber(pr),
        path: life.request.path.clone(),
        revision,
    };
    wf.publish_once(note, &key_notice(event, &key)).await?;
    let Some(installation) = life.installation else {
        tracing::info!("no installation recorded for this key; no comment on its pull request");
        return Ok(());
    };
    let said = NoteKey::Said {
        event: notice_event,
        repository: life.request.repository.clone(),
        pr: life.request.pr,
        access_key_id: life.access_key_id.clone(),
    };
    let comment = async {
        if wf.ledger.note(said.clone()).await?.is_some() {
            return Ok::<(), StepError>(());
        }
        let gh = wf
            .github
            .repo(installation.get(), life.request.repository.as_str())?;
        let id = gh
            .create_comment(life.request.pr.get(), &key_comment(event, &key))
            .await?;
        wf.ledger.set_note(said, id.to_string()).await?;
        Ok(())
    };
    if let Err(e) = comment.await {
        tracing::error!(error = %e, pr = %life.request.pr, "cannot comment on the request's pull request");
    }
    Ok(())
}

/// Revokes one key at once: recorded with who and why before any AWS call, then
/// deactivated, deleted, its secret deleted, announced. A key whose life is over already
/// is left as it is (`Ok(false)`).
pub(crate) async fn revoke_key(
    wf: &Workflow,
    rules: &LifecycleRules,
    life: &mut KeyLife,
    revocation: Revocation,
) -> Result<bool, StepError> {
    if life.progress.is_over() {
        return Ok(false);
    }
    if life.progress.pending != Some(Step::Revoke) {
        life.revocation = Some(revocation);
        record(wf, life, life.progress.begin(Step::Revoke)).await?;
    }
    let p = Planned {
        access_key_id: life.access_key_id.clone(),
        step: Step::Revoke,
        expires_at: effective_expiry(life.expires_at.as_deref().and_then(parse_time), None),
    };
    run_step(wf, rules, life, &p).await?;
    Ok(true)
}
