//! Undoing an interrupted issuance (DESIGN §3.4): no key may exist whose secret nobody
//! holds, and a rollback deletes only what this intent made.

use super::advance;
use super::create::ownership;
use crate::aws::{Aws, StoredSecret, policy};
use crate::event::{Activity, PrEvent};
use crate::ids::{AccessKeyId, DeliveryId, IamUser};
use crate::ledger::{Intent, IntentState, NewDelivery, Store, now_ms};
use crate::workflow::{StepError, Workflow};

/// Undoes an interrupted creation. When this intent's secret turns out to hold the key
/// (and, made for readers, to carry the policy that keeps everyone else out), the issuance
/// is complete instead (`Stored`). An incomplete secret of this intent's is deleted with
/// the key, and the request issues afresh. A secret is this intent's only with its recorded
/// token and its request's tags: a name someone else took is never claimed.
pub(super) async fn rollback(wf: &Workflow, intent: &mut Intent) -> Result<(), StepError> {
    if let Some(stored) = own_secret(wf, intent).await? {
        if stored.has_value && guarded(wf, intent, &stored).await? {
            intent.secret_arn = Some(stored.arn);
            return advance(wf, intent, IntentState::Stored).await;
        }
        let aws = wf.aws_in(intent.account.as_ref())?;
        aws.delete_secret_now(&stored.name).await?;
        tracing::warn!(secret = %stored.name, "deleted an incomplete secret of this issuance (without its value, or for readers without its resource policy)");
    }
    let user = intent.iam_user.clone();
    match intent.access_key_id.take() {
        Some(id) => {
            wf.aws_in(intent.account.as_ref())?
                .delete_access_key(&user, &id)
                .await?;
            tracing::info!(access_key_id = %id, "deleted the key whose secret was not stored");
        }
        None => delete_what_the_lost_call_made(wf, intent).await?,
    }
    advance(wf, intent, IntentState::Pending).await
}

/// This intent's secret, when one exists under its recorded name.
async fn own_secret(wf: &Workflow, intent: &Intent) -> Result<Option<StoredSecret>, StepError> {
    let (Some(name), Some(token), Some(_)) = (
        intent.secret_name.as_ref(),
        intent.secret_token.as_deref(),
        intent.access_key_id.as_ref(),
    ) else {
        return Ok(None);
    };
    let aws = wf.aws_in(intent.account.as_ref())?;
    Ok(aws.own_secret(name, &ownership(intent, token)).await?)
}

/// A secret made for readers counts only with keygate's deny statement on.
async fn guarded(wf: &Workflow, intent: &Intent, stored: &StoredSecret) -> Result<bool, StepError> {
    if !stored.for_readers {
        return Ok(true);
    }
    let aws = wf.aws_in(intent.account.as_ref())?;
    let document = aws.resource_policy(&stored.name).await?;
    Ok(document.is_some_and(|p| policy::has_readers_deny(&p)))
}

/// The answer to CreateAccessKey was lost (or a crash came before its ID was written
/// down): the key it made, if any, is one absent from the list taken before and created
/// inside that call's time window — never a key someone else made meanwhile, nor one
/// another intent recorded (DESIGN §3: a rollback never deletes a key another intent
/// stored).
async fn delete_what_the_lost_call_made(wf: &Workflow, intent: &Intent) -> Result<(), StepError> {
    let before = intent.keys_before.clone().unwrap_or_default();
    delete_keys_a_lost_call_made(
        wf,
        wf.aws_in(intent.account.as_ref())?,
        &intent.iam_user,
        &before,
        intent.updated_at_ms,
    )
    .await
}

/// Deletes the keys a `CreateAccessKey` call for `user` whose answer was lost can have made
/// (in the account `aws` acts in): absent from `before` (listed just before it), created inside its time
/// window (it began after `creating_at_ms`), and recorded by no other issuance or rotation.
/// Shared by issuing and rotation in place (DESIGN §10).
pub(crate) async fn delete_keys_a_lost_call_made(
    wf: &Workflow,
    aws: &Aws,
    user: &IamUser,
    before: &[AccessKeyId],
    creating_at_ms: i64,
) -> Result<(), StepError> {
    let window = creation_window(creating_at_ms);
    let keys = match aws.list_access_keys_dated(user).await {
        Ok(keys) => keys,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut ours = Vec::new();
    for id in keys_made_by_the_call(before, &window, keys) {
        if wf.ledger.key_life(id.clone()).await?.is_some() {
            tracing::warn!(access_key_id = %id, "a key another issuance recorded is left alone");
            continue;
        }
        ours.push(id);
    }
    if ours.is_empty() && now_ms() < window.end + IAM_VISIBILITY_MS {
        // IAM is eventually consistent: a key made a moment ago may not be listed yet.
        // Look again later, and create nothing meanwhile.
        return Err(StepError::Uncertain(format!(
            "a key CreateAccessKey may have made for `{user}` is not visible yet; keygate looks again before it creates another"
        )));
    }
    for id in &ours {
        aws.delete_access_key(user, id).await?;
        tracing::info!(access_key_id = %id, "deleted a key left by an interrupted call");
    }
    Ok(())
}

/// The keys the lost `CreateAccessKey` call can have made: not listed before it, and created
/// inside its time window.
fn keys_made_by_the_call(
    before: &[AccessKeyId],
    window: &std::ops::Range<i64>,
    keys: Vec<(AccessKeyId, Option<i64>)>,
) -> Vec<AccessKeyId> {
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
            // On a ledger this process holds alone, before any work runs: no other
            // issuance for the user can be under way (the stopped process's leases ended
            // when the ledger resumed its work).
            IntentState::Creating => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_deletes_only_a_key_the_lost_call_can_have_made() {
        let creating_at = 1_000_000_000;
        let window = creation_window(creating_at);
        let keys = vec![
            (AccessKeyId::new("AKIAOLD"), Some(creating_at - 3_600_000)),
            (AccessKeyId::new("AKIAMINE"), Some(creating_at + 2_000)),
            (AccessKeyId::new("AKIALATER"), Some(creating_at + 3_600_000)),
            (AccessKeyId::new("AKIANODATE"), None),
        ];
        let before = vec![AccessKeyId::new("AKIAOLD")];
        assert_eq!(
            keys_made_by_the_call(&before, &window, keys),
            ["AKIAMINE"],
            "not the one listed before, not one made an hour later by someone else"
        );
    }
}
