//! The expiry sweep (DESIGN §5, §10): gather every key keygate's ledger says it issued with
//! its secret's tags and, when unused keys are watched, AWS's last use; let
//! `life::plan` say what is due, then act, each step recorded before its AWS calls.
//! Rotations a crash or a wait left unfinished are resumed first. Also the one revocation
//! step, shared by `keygate revoke`, revoking pull requests and a sweep that finds one half
//! done, and the one way keygate tells people about a key's life.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;

use time::OffsetDateTime;
use tracing::instrument;

use super::render::key_event::{KeyEvent, KeyRef, key_comment, key_notice};
use super::rotate::{Rotated, RotationAsk, resume_rotations, rotate_key};
use super::{StepError, Workflow};
use crate::aws::{EXPIRES_TAG, ROTATES_TAG, SecretFacts};
use crate::ids::{AccessKeyId, AccountAlias, IamUser, PrNumber, RequestPath, SecretName};
use crate::ledger::{KeyLife, NoteKey, Revocation, Store};
use crate::life::{
    Care, KeyFacts, LifecycleRules, Planned, Progress, Stage, Step, effective_expiry, parse_time,
    plan, rotation,
};

/// One step a sweep did, or would do on a dry run.
#[derive(Debug, Clone)]
pub struct SweepLine {
    pub access_key_id: AccessKeyId,
    pub iam_user: IamUser,
    pub request: RequestPath,
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
    let mut out = Vec::new();
    let mut resumed = Vec::new();
    if !dry_run {
        for (id, result) in resume_rotations(wf, rules).await? {
            if let Some(life) = wf.ledger.key_life(id.clone()).await? {
                out.extend(rotation_line(&life, result));
            }
            resumed.push(id);
        }
    }
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
        .map(|lives| sweep_account(wf, rules, now, dry_run, &resumed, lives));
    out.extend(join_all(passes).await.into_iter().flatten());
    Ok(out)
}

/// The pass over one account's keys. Once the account itself fails (its issuer role cannot
/// be assumed, or `[accounts]` no longer names it), its other steps are not tried this
/// pass: each is reported failed with the same reason, and the next pass tries again.
async fn sweep_account(
    wf: &Workflow,
    rules: &LifecycleRules,
    now: OffsetDateTime,
    dry_run: bool,
    resumed: &[AccessKeyId],
    mut lives: Vec<KeyLife>,
) -> Vec<SweepLine> {
    let (secrets, mut out, mut down) = read_secrets(wf, &lives).await;
    let usage = read_usage(wf, &lives, rules).await;
    let facts: Vec<KeyFacts> = lives
        .iter()
        .map(|l| key_facts(l, &secrets, &usage))
        .collect();
    let mut failed: Vec<AccessKeyId> = Vec::new();
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
            if failed.contains(&p.access_key_id)
                || (p.step == Step::Rotate && resumed.contains(&p.access_key_id))
            {
                continue;
            }
            if let Some(why) = &down {
                line.result = Some(Err(format!("not tried: {why}")));
                out.push(line);
                continue;
            }
            if p.step == Step::Rotate {
                let result = rotate_key(wf, rules, life, RotationAsk::scheduled()).await;
                out.extend(rotation_line(life, result));
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

/// A sweep line for a rotation: done, or why it waits or failed; none for a rotation that
/// may no longer happen (its key revoked, leaked or rotated already), which is logged.
fn rotation_line(life: &KeyLife, result: Result<Rotated, StepError>) -> Option<SweepLine> {
    let result = match result {
        Ok(Rotated::Done { .. }) => Ok(()),
        Ok(Rotated::Waiting { why }) => Err(why),
        Ok(Rotated::Refused { why }) => {
            tracing::info!(access_key_id = %life.access_key_id, why = %why, "no rotation");
            return None;
        }
        Err(e) => {
            tracing::error!(access_key_id = %life.access_key_id, error = %e, "the rotation failed; the next pass resumes it");
            Err(super::render::public_reason(&e))
        }
    };
    Some(SweepLine {
        access_key_id: life.access_key_id.clone(),
        iam_user: life.iam_user.clone(),
        request: life.request.path.clone(),
        step: Some(Step::Rotate),
        expires_at: life.expires_at,
        result: Some(result),
    })
}

/// What the plan needs to know about one key: its expiries, its progress and its care.
fn key_facts(
    l: &KeyLife,
    secrets: &HashMap<SecretName, SecretFacts>,
    usage: &HashMap<AccessKeyId, OffsetDateTime>,
) -> KeyFacts {
    let tag = |name: &str| {
        l.secret_name
            .as_ref()
            .and_then(|n| secrets.get(n))
            .and_then(|s| s.tags.get(name))
            .and_then(|t| parse_time(t))
    };
    let replaced = l.care.superseded_by.is_some();
    KeyFacts {
        access_key_id: l.access_key_id.clone(),
        ledger_expires_at: l.expires_at,
        tag_expires_at: tag(EXPIRES_TAG),
        progress: l.progress,
        care: Care {
            retires_at: l.care.retires_at.filter(|_| replaced),
            rotates_at: (!replaced && l.care.leak.is_none())
                .then(|| {
                    rotation::next_rotation(
                        l.origin.issued_at,
                        l.origin.rotate_every_days,
                        tag(ROTATES_TAG),
                    )
                })
                .flatten(),
            last_active: usage.get(&l.access_key_id).copied(),
            unused_warned_at: l.care.unused_warned_at,
        },
    }
}

/// When each live key was last active, when unused keys are watched: AWS's last use, else
/// its creation (a key never used counts from it). A key whose use cannot be read is left
/// out this pass (nothing is done to it for want of use), and logged.
async fn read_usage(
    wf: &Workflow,
    lives: &[KeyLife],
    rules: &LifecycleRules,
) -> HashMap<AccessKeyId, OffsetDateTime> {
    let mut out = HashMap::new();
    if rules.timing.unused_days == 0 {
        return out;
    }
    for l in lives {
        let p = l.progress;
        if p.stage >= Stage::Inactive || p.pending.is_some() || l.care.superseded_by.is_some() {
            continue;
        }
        match last_active(wf, l).await {
            Ok(Some(t)) => {
                out.insert(l.access_key_id.clone(), t);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(access_key_id = %l.access_key_id, error = %e, "cannot read when the key was last used; its use is not judged this pass");
            }
        }
    }
    out
}

/// The key's last use, else its creation (from the ledger, or from IAM for a key an
/// earlier keygate issued).
async fn last_active(wf: &Workflow, l: &KeyLife) -> Result<Option<OffsetDateTime>, StepError> {
    let aws = wf.aws_in(l.account.as_ref())?;
    if let Some(used) = aws.access_key_last_used(&l.access_key_id).await? {
        return Ok(Some(used));
    }
    if let Some(issued) = l.origin.issued_at {
        return Ok(Some(issued));
    }
    let keys = aws.list_access_keys_dated(&l.iam_user).await?;
    Ok(keys
        .into_iter()
        .find(|(id, _)| *id == l.access_key_id)
        .and_then(|(_, created)| created)
        .and_then(|ms| OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()))
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
) -> (
    HashMap<SecretName, SecretFacts>,
    Vec<SweepLine>,
    Option<String>,
) {
    let mut secrets = HashMap::new();
    let mut unread = Vec::new();
    let mut down: Option<String> = None;
    for life in lives {
        let Some(name) = life.secret_name.as_ref() else {
            continue;
        };
        if secrets.contains_key(name) {
            continue; // a rotated key and its successor share one secret
        }
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
                secrets.insert(name.clone(), s);
            }
            Ok(None) => {}
            Err(why) => unread.push(SweepLine {
                access_key_id: life.access_key_id.clone(),
                iam_user: life.iam_user.clone(),
                request: life.request.path.clone(),
                step: None,
                expires_at: life.expires_at,
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
    let expires = p.expires_at;
    match step {
        Step::Warn => tell(wf, life, expires, &KeyEvent::Expiring { delete_after_days }).await?,
        Step::Deactivate => {
            aws.deactivate_access_key(&user, &id).await?;
            tracing::info!("deactivated at expiry");
            tell(wf, life, expires, &KeyEvent::Expired { delete_after_days }).await?;
        }
        Step::Retire => {
            aws.deactivate_access_key(&user, &id).await?;
            tracing::info!(superseded_by = ?life.care.superseded_by, "a rotated key's predecessor retired after the overlap");
        }
        Step::WarnUnused | Step::DeactivateUnused => {
            return unused_step(wf, rules, life, p).await;
        }
        Step::Contain => {
            aws.deactivate_access_key(&user, &id).await?;
            tracing::warn!("a leaked key deactivated");
            let leak = life.care.leak.clone().unwrap_or(crate::ledger::Leak {
                source: "a leak report".into(),
                location: "(not recorded)".into(),
                reported_at: p.now,
            });
            let event = KeyEvent::Leaked {
                source: &leak.source,
                location: &leak.location,
            };
            tell(wf, life, expires, &event).await?;
        }
        Step::Delete | Step::Revoke => end_key(wf, rules, life, step, expires).await?,
        // Never a recorded step: a rotation is a record of its own (`rotate`).
        Step::Rotate => return Ok(()),
    }
    record(wf, life, life.progress.finish(step)).await
}

/// Deletes the key (deactivated first when revoked) and its secret, unless the secret holds
/// the key's successor: a rotated key's secret is never deleted with it (DESIGN §10).
async fn end_key(
    wf: &Workflow,
    rules: &LifecycleRules,
    life: &KeyLife,
    step: Step,
    expires: Option<OffsetDateTime>,
) -> Result<(), StepError> {
    let aws = wf.aws_in(life.account.as_ref())?;
    let (user, id) = (&life.iam_user, &life.access_key_id);
    if step == Step::Revoke {
        aws.deactivate_access_key(user, id).await?;
    }
    aws.delete_access_key(user, id).await?;
    match (&life.secret_name, &life.care.superseded_by) {
        (Some(name), None) => aws.delete_secret(name, rules.deletion).await?,
        (Some(_), Some(by)) => {
            tracing::info!(superseded_by = %by, "the secret holds the key's successor: kept");
        }
        (None, _) => {}
    }
    tracing::info!("key deleted");
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
        tell(wf, life, expires, &event).await?;
    }
    Ok(())
}

/// The unused warning (recorded with its time), or the deactivation of a key still unused.
async fn unused_step(
    wf: &Workflow,
    rules: &LifecycleRules,
    life: &mut KeyLife,
    p: &Planned,
) -> Result<(), StepError> {
    let deactivated = p.step == Step::DeactivateUnused;
    let aws = wf.aws_in(life.account.as_ref())?;
    if deactivated {
        aws.deactivate_access_key(&life.iam_user, &life.access_key_id)
            .await?;
        tracing::info!("deactivated: unused");
    }
    let last_used = aws
        .access_key_last_used(&life.access_key_id)
        .await?
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let warned_at = if deactivated {
        life.care.unused_warned_at
    } else {
        Some(p.now)
    };
    let since = warned_at
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let event = KeyEvent::Unused {
        unused_days: rules.timing.unused_days,
        warn_days: rules.timing.warn_days,
        last_used: last_used.as_deref(),
        deactivated,
        since: &since,
    };
    tell(wf, life, p.expires_at, &event).await?;
    life.care.unused_warned_at = warned_at;
    record(wf, life, life.progress.finish(p.step)).await
}

/// The notice (once; a failure fails the step, which is retried) and a comment on the
/// request's pull request (once; best effort: the notice is what subscribers rely on).
/// Each is sent once per key and event, and per [`KeyEvent::occasion`] for an event that
/// can come again.
pub(crate) async fn tell(
    wf: &Workflow,
    life: &KeyLife,
    expires_at: Option<OffsetDateTime>,
    event: &KeyEvent<'_>,
) -> Result<(), StepError> {
    let expires = expires_at
        .or_else(|| effective_expiry(life.expires_at, None))
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let key = KeyRef {
        repository: life.request.repository.as_str(),
        pr: life.request.pr.get(),
        path: &life.request.path,
        iam_user: &life.iam_user,
        requester: &life.requester,
        access_key_id: &life.access_key_id,
        secret_name: life.secret_name.as_ref(),
        expires_at: expires.as_deref(),
        account: life.account.as_ref(),
    };
    let notice_event = event.notice_event();
    // A revocation by pull request is announced under the revoking pull request's key, the
    // one its result comment's notice would use: it goes out once, whoever sends it first.
    let (pr, revision) = match event {
        KeyEvent::Revoked {
            revoking_pr: Some(n),
            ..
        } => (*n, None),
        _ => (
            life.request.pr.get(),
            Some(occasion(&life.access_key_id, event)),
        ),
    };
    let note = NoteKey::Notice {
        event: notice_event,
        repository: life.request.repository.clone(),
        pr: PrNumber(pr),
        path: life.request.path.to_string(),
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
        access_key_id: occasion(&life.access_key_id, event),
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

/// The key under which a text about `access_key_id` is sent once: the key alone, or with
/// the event's occasion when the event can come again.
fn occasion(access_key_id: &AccessKeyId, event: &KeyEvent<'_>) -> String {
    match event.occasion() {
        Some(o) => format!("{access_key_id}:{o}"),
        None => access_key_id.to_string(),
    }
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
        expires_at: effective_expiry(life.expires_at, None),
        now: OffsetDateTime::now_utc(),
    };
    run_step(wf, rules, life, &p).await?;
    Ok(true)
}

/// Deactivates a leaked key at once (DESIGN §10): the leak recorded with the step before the
/// AWS call, then `UpdateAccessKey` `Inactive`, `event=leaked` and a comment saying where it
/// was found. `Ok(false)`: its life is over, or this leak was already acted on.
pub(crate) async fn contain_key(
    wf: &Workflow,
    rules: &LifecycleRules,
    life: &mut KeyLife,
    leak: crate::ledger::Leak,
) -> Result<bool, StepError> {
    if life.progress.is_over() {
        return Ok(false);
    }
    let begun = life.progress.pending == Some(Step::Contain);
    if !begun && life.care.leak.is_some() && life.progress.stage >= Stage::Inactive {
        return Ok(false);
    }
    if !begun {
        life.care.leak = Some(leak);
        record(wf, life, life.progress.begin(Step::Contain)).await?;
    }
    let p = Planned {
        access_key_id: life.access_key_id.clone(),
        step: Step::Contain,
        expires_at: effective_expiry(life.expires_at, None),
        now: OffsetDateTime::now_utc(),
    };
    run_step(wf, rules, life, &p).await?;
    Ok(true)
}
