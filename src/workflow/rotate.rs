//! Rotation in place (DESIGN §10): a new key for the same IAM user, written as a new version
//! of the *same* secret (stage `AWSCURRENT`; the replaced key's version keeps `AWSPREVIOUS`),
//! so whoever reads the secret by name gets the new key with nothing to change. The replaced
//! key stays active for `lifecycle.rotation_overlap_hours`, then is retired and later deleted
//! as at expiry; its secret, which holds the new key, is never deleted with it.
//!
//! A rotation is a record in the ledger, written before each AWS call and moved only from
//! the state it was read in, under the IAM user's lease like any creation of a key (§3): a
//! rotation interrupted anywhere ends, when resumed, as one uninterrupted rotation would.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;

use super::issue::{delete_keys_a_lost_call_made, random_token};
use super::life::{self, UserLease};
use super::render::key_event::KeyEvent;
use super::sweep::{revoke_key, tell};
use super::{StepError, Workflow};
use crate::aws::{ACCESS_KEY_TAG, Aws, ROTATES_TAG};
use crate::ids::AccessKeyId;
use crate::ledger::{
    KeyCare, KeyLife, KeyOrigin, LedgerError, Revocation, Rotation, RotationState, Store, now_ms,
};
use crate::life::{LifecycleRules, Progress, Stage, Step, rotation};

/// Who asked for a rotation, and why.
#[derive(Debug, Clone)]
pub struct RotationAsk {
    pub by: String,
    pub reason: String,
}

impl RotationAsk {
    /// A rotation the schedule asked for.
    pub fn scheduled() -> RotationAsk {
        RotationAsk {
            by: "keygate".into(),
            reason: "scheduled rotation (rotate_every_days)".into(),
        }
    }
}

/// What became of a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// Done (now or earlier): the secret's current version holds `new_key`.
    Done { new_key: AccessKeyId },
    /// It waits, and why (no free key slot): tried again at the next pass.
    Waiting { why: String },
    /// It cannot be rotated, and why (not rotating, over, leaked, its request deleted).
    Refused { why: String },
}

/// Rotates `life`'s key now, or resumes its rotation where an earlier attempt stopped.
#[instrument(skip_all, fields(access_key_id = %life.access_key_id, iam_user = %life.iam_user))]
pub(crate) async fn rotate_key(
    wf: &Workflow,
    rules: &LifecycleRules,
    life: &KeyLife,
    ask: RotationAsk,
) -> Result<Rotated, StepError> {
    let existing = wf
        .ledger
        .unfinished_rotations()
        .await?
        .into_iter()
        .any(|r| r.access_key_id == life.access_key_id);
    if !existing && let Some(why) = refusal(wf, life).await? {
        return Ok(Rotated::Refused { why });
    }
    let Some(secret) = life.secret_name.clone() else {
        return Ok(Rotated::Refused {
            why: "keygate has no secret recorded for this key".into(),
        });
    };
    // The key's own account (DESIGN §9): its new key is made and stored beside it.
    let aws = wf.aws_in(life.account.as_ref())?;
    let lease = UserLease::take(wf, life.account.as_ref(), &life.iam_user).await?;
    let mut claim = Rotation::new(
        life.access_key_id.clone(),
        life.iam_user.clone(),
        secret,
        life.request.clone(),
    );
    claim.requested_by = ask.by;
    claim.reason = ask.reason;
    let result = async {
        let mut r = wf.ledger.claim_rotation(claim).await?.into_rotation();
        drive(wf, aws, rules, &mut r).await
    }
    .await;
    lease.release(wf).await;
    result
}

/// Why `life` may not be rotated now; `None` when it may.
async fn refusal(wf: &Workflow, life: &KeyLife) -> Result<Option<String>, StepError> {
    let p = life.progress;
    Ok(if life.origin.rotate_every_days.is_none() {
        Some("its request does not ask for rotation (`rotate_every_days`)".into())
    } else if p.is_over()
        || p.stage >= Stage::Inactive
        || p.pending.is_some_and(|s| s.target() >= Stage::Inactive)
    {
        Some(format!("its life has moved on ({})", p.stage))
    } else if let Some(by) = &life.care.superseded_by {
        Some(format!("it was rotated already; `{by}` replaced it"))
    } else if life.care.leak.is_some() {
        Some("it leaked: a replacement needs a new request".into())
    } else {
        life::deleted_since(wf, &life.request.path, life.request_merged_at)
            .await?
            .map(|d| {
                format!(
                    "its request file was deleted by the merge of #{}: a deleted request never rotates",
                    d.pr
                )
            })
    })
}

/// Moves `r` on from where it stands until it is done or must wait.
async fn drive(
    wf: &Workflow,
    aws: &Aws,
    rules: &LifecycleRules,
    r: &mut Rotation,
) -> Result<Rotated, StepError> {
    loop {
        match r.state {
            RotationState::Done => {
                return Ok(match r.new_access_key_id.clone() {
                    Some(new_key) => Rotated::Done { new_key },
                    None => Rotated::Refused {
                        why: r.blocked.clone().unwrap_or_else(|| "it ended".into()),
                    },
                });
            }
            RotationState::Stored => finish(wf, aws, rules, r).await?,
            RotationState::Creating => roll_back(wf, aws, r).await?,
            RotationState::Pending => {
                // Asked for earlier: the key's life may have moved on since (revoked,
                // leaked, its request deleted). Such a rotation ends without a new key.
                let life = wf.ledger.key_life(r.access_key_id.clone()).await?;
                let why = match &life {
                    Some(life) => refusal(wf, life).await?,
                    None => Some("keygate has no record of the key".into()),
                };
                if let Some(why) = why {
                    r.blocked = Some(format!("abandoned: {why}"));
                    advance(wf, r, RotationState::Done).await?;
                    tracing::info!(why = %why, "a rotation asked for earlier ends without a new key");
                    return Ok(Rotated::Refused { why });
                }
                if let Some(why) = create_and_store(wf, aws, r).await? {
                    return Ok(Rotated::Waiting { why });
                }
            }
        }
    }
}

/// Writes `r` in its new state, only from the state it was read in.
async fn advance(wf: &Workflow, r: &mut Rotation, to: RotationState) -> Result<(), StepError> {
    let from = r.state;
    r.state = to;
    r.updated_at_ms = now_ms();
    if let Err(e) = wf.ledger.advance_rotation(r.clone(), from).await {
        r.state = from;
        return Err(e.into());
    }
    Ok(())
}

/// From `Pending`: a free key slot, the new key, then the secret's new version. `Some(why)`
/// when it must wait for a free slot (said once, on the request's pull request and to SNS).
async fn create_and_store(
    wf: &Workflow,
    aws: &Aws,
    r: &mut Rotation,
) -> Result<Option<String>, StepError> {
    let user = r.iam_user.clone();
    let keys = aws.list_access_keys(&user).await?;
    if keys.len() >= 2 {
        return blocked(wf, r, keys.len()).await.map(Some);
    }
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    r.keys_before = Some(keys);
    r.token = Some(random_token());
    r.rotated_at = Some(now);
    r.new_access_key_id = None;
    r.new_fingerprint = None;
    advance(wf, r, RotationState::Creating).await?;
    let key = match aws.create_access_key(&user).await {
        Ok(k) => k,
        Err(e) if e.is_limit_exceeded() => {
            advance(wf, r, RotationState::Pending).await?;
            return blocked(wf, r, 2).await.map(Some);
        }
        Err(e) if e.is_refusal() => {
            advance(wf, r, RotationState::Pending).await?;
            return Err(e.into());
        }
        Err(e) => {
            tracing::warn!(error = %e, "CreateAccessKey failed; removing any key it may have created");
            roll_back(wf, aws, r).await?;
            return Err(e.into());
        }
    };
    r.new_access_key_id = Some(key.access_key_id.clone());
    r.new_fingerprint = Some(key.fingerprint());
    advance(wf, r, RotationState::Creating).await?;
    tracing::info!(new_access_key_id = %key.access_key_id, "the rotation's new key was created");
    let token = r.token.clone().unwrap_or_default();
    if let Err(e) = aws.put_secret_value(&r.secret_name, &key, &token).await {
        drop(key);
        if !holds_new_version(aws, r).await? {
            tracing::warn!(error = %e, "the secret's new version could not be written; deleting the new key");
            roll_back(wf, aws, r).await?;
            return Err(e.into());
        }
        tracing::info!("the secret's new version went in although its answer was an error");
    }
    advance(wf, r, RotationState::Stored).await?;
    tracing::info!(secret = %r.secret_name, "the secret's current version holds the new key");
    Ok(None)
}

/// Whether the secret holds this rotation's version (made with its recorded token).
async fn holds_new_version(aws: &Aws, r: &Rotation) -> Result<bool, StepError> {
    let Some(token) = r.token.as_deref() else {
        return Ok(false);
    };
    let facts = aws.describe_secret(&r.secret_name).await?;
    Ok(facts.is_some_and(|s| s.version_ids.iter().any(|v| v == token)))
}

/// From `Creating`: when the secret holds the new version, the rotation is stored;
/// otherwise the new key, if any was made, is deleted and the rotation starts again.
/// The key being replaced is never touched.
async fn roll_back(wf: &Workflow, aws: &Aws, r: &mut Rotation) -> Result<(), StepError> {
    if r.new_access_key_id.is_some() && holds_new_version(aws, r).await? {
        return advance(wf, r, RotationState::Stored).await;
    }
    let user = r.iam_user.clone();
    match r.new_access_key_id.take() {
        Some(id) => {
            aws.delete_access_key(&user, &id).await?;
            tracing::info!(access_key_id = %id, "deleted the new key the secret never held");
        }
        None => {
            let before = r.keys_before.clone().unwrap_or_default();
            delete_keys_a_lost_call_made(wf, aws, &user, &before, r.updated_at_ms).await?;
        }
    }
    r.new_fingerprint = None;
    advance(wf, r, RotationState::Pending).await
}

/// No free key slot: said once per rotation, then waited out pass after pass.
async fn blocked(wf: &Workflow, r: &mut Rotation, keys: usize) -> Result<String, StepError> {
    let why = format!(
        "`{}` already has {keys} access keys, the most IAM allows, and a rotation needs a free \
         slot for the new key. Delete a key of this user that is no longer used (not this one).",
        r.iam_user
    );
    if r.blocked.is_none() {
        r.blocked = Some(why.clone());
        let from = r.state;
        advance(wf, r, from).await?;
        if let Some(life) = wf.ledger.key_life(r.access_key_id.clone()).await? {
            tell(wf, &life, None, &KeyEvent::RotationBlocked { why: &why }).await?;
        }
    }
    tracing::warn!(why = %why, "the rotation waits for a free key slot");
    Ok(why)
}

/// From `Stored`: the new key's life (as far along as the one it replaces), the replaced
/// key marked superseded and retired after the overlap, the secret's tags moved on, people
/// told; then done. Each part is safe to repeat.
async fn finish(
    wf: &Workflow,
    aws: &Aws,
    rules: &LifecycleRules,
    r: &mut Rotation,
) -> Result<(), StepError> {
    let (Some(new_key), Some(rotated_at)) = (r.new_access_key_id.clone(), r.rotated_at) else {
        return Err(LedgerError::Corrupt(format!(
            "the rotation of {} is stored without its new key",
            r.access_key_id
        ))
        .into());
    };
    let Some(old) = wf.ledger.key_life(r.access_key_id.clone()).await? else {
        return Err(LedgerError::Corrupt(format!("no life of {}", r.access_key_id)).into());
    };
    let ended = old.progress.is_over()
        || old.progress.pending == Some(Step::Revoke)
        || life::deleted_since(wf, &old.request.path, old.request_merged_at)
            .await?
            .is_some();
    let successor = KeyLife {
        access_key_id: new_key.clone(),
        progress: Progress {
            stage: old.progress.stage.min(Stage::Warned),
            pending: None,
        },
        revocation: None,
        origin: KeyOrigin {
            issued_at: Some(rotated_at),
            rotate_every_days: old.origin.rotate_every_days,
            fingerprint: r.new_fingerprint.clone(),
        },
        care: KeyCare::default(),
        updated_at_ms: now_ms(),
        ..old.clone()
    };
    match wf
        .ledger
        .record_lifecycle_step(successor.clone(), Progress::ACTIVE)
        .await
    {
        Ok(()) | Err(LedgerError::Moved { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if ended {
        return end_with_its_request(wf, rules, r, &new_key).await;
    }
    let retires_at = rotation::retirement(rotated_at, rules.rotation_overlap_hours);
    if old.care.superseded_by.is_none() {
        let mut replaced = old.clone();
        replaced.care.superseded_by = Some(new_key.clone());
        replaced.care.retires_at = Some(retires_at);
        wf.ledger
            .record_lifecycle_step(replaced, old.progress)
            .await?;
    }
    let next = rotation::next_rotation(Some(rotated_at), old.origin.rotate_every_days, None)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let mut tags = vec![(ACCESS_KEY_TAG, new_key.as_str())];
    if !next.is_empty() {
        tags.push((ROTATES_TAG, next.as_str()));
    }
    aws.tag_secret(&r.secret_name, &tags).await?;
    let retires = retires_at.format(&Rfc3339).unwrap_or_default();
    let event = KeyEvent::Rotated {
        new_key: &new_key,
        by: &r.requested_by,
        reason: &r.reason,
        retires_at: &retires,
        delete_after_days: rules.timing.delete_after_days,
    };
    tell(wf, &old, None, &event).await?;
    advance(wf, r, RotationState::Done).await?;
    tracing::info!(new_access_key_id = %new_key, retires_at = %retires, "rotated in place");
    Ok(())
}

/// The request ended (revoked, deleted) while its key was being rotated: the new key, which
/// no revocation could see yet, is revoked too, and the rotation is done. No key outlives
/// its request.
async fn end_with_its_request(
    wf: &Workflow,
    rules: &LifecycleRules,
    r: &mut Rotation,
    new_key: &AccessKeyId,
) -> Result<(), StepError> {
    if let Some(mut successor) = wf.ledger.key_life(new_key.clone()).await? {
        let revocation = Revocation {
            by: "keygate".into(),
            reason: "its request ended while its key was being rotated".into(),
            pr: None,
        };
        revoke_key(wf, rules, &mut successor, revocation).await?;
    }
    r.blocked = Some("abandoned: the request ended during the rotation".into());
    advance(wf, r, RotationState::Done).await?;
    tracing::warn!(new_access_key_id = %new_key, "the request ended during its rotation; the new key was revoked");
    Ok(())
}

/// Every rotation a crash or a wait left unfinished, resumed: so a rotation asked for by
/// `keygate rotate` and interrupted, or waiting for a free slot, ends without a new ask.
pub(crate) async fn resume_rotations(
    wf: &Workflow,
    rules: &LifecycleRules,
) -> Result<Vec<(AccessKeyId, Result<Rotated, StepError>)>, StepError> {
    let mut out = Vec::new();
    for r in wf.ledger.unfinished_rotations().await? {
        let Some(life) = wf.ledger.key_life(r.access_key_id.clone()).await? else {
            continue;
        };
        let ask = RotationAsk {
            by: r.requested_by.clone(),
            reason: r.reason.clone(),
        };
        let result = rotate_key(wf, rules, &life, ask).await;
        out.push((r.access_key_id, result));
    }
    Ok(out)
}
