//! Issuing one approved request (DESIGN §3), resuming where an earlier attempt stopped:
//! under the IAM user's lease, admitted by the request's life, the intent written before
//! every AWS call, the secret stored under a free name that only keygate's token can claim.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;

use super::rollback::rollback;
use super::{advance, base_intent};
use crate::aws::{ACCOUNT_TAG, NewKey, Ownership, READERS_TAG, StoredSecret, TOKEN_TAG, policy};
use crate::github::client::PullInfo;
use crate::ids::{AccessKeyId, SecretName};
use crate::ledger::{Intent, IntentState, Job, KeyOrigin, Store, now_ms};
use crate::life::request::Admission;
use crate::request::{Request, SecretNameInputs, render_secret_name};
use crate::workflow::life::{self, UserLease};
use crate::workflow::render::Outcome;
use crate::workflow::{StepError, Workflow};

/// How many names (one second apart) keygate tries when the one it rendered is taken.
const NAME_TRIES: i64 = 3;

/// Issues one approved request, at most one issuance per IAM user (of its account) at a
/// time.
#[instrument(skip_all, fields(request = %request.path, iam_user = %request.iam_user, account = request.account.as_ref().map(|a| a.as_str())))]
pub(super) async fn issue_one(
    wf: &Workflow,
    pr: &PullInfo,
    request: &Request,
    approvers: &[String],
    job: &Job,
) -> Result<Outcome, StepError> {
    let mut lease = UserLease::take(wf, request.account.as_ref(), &request.iam_user).await?;
    let outcome = issue_leased(wf, pr, request, approvers, job, &mut lease).await;
    lease.release(wf).await;
    outcome
}

async fn issue_leased(
    wf: &Workflow,
    pr: &PullInfo,
    request: &Request,
    approvers: &[String],
    job: &Job,
    lease: &mut UserLease,
) -> Result<Outcome, StepError> {
    // 1. The intent first: no key without its record.
    let mut claim = base_intent(wf, pr, &request.path, &request.iam_user, approvers, job);
    claim.account = request.account.clone();
    let mut intent = wf.ledger.claim_intent(claim).await?.into_intent();
    if let Some(done) = resume(wf, &mut intent, request).await? {
        return Ok(done);
    }
    // 2. Merge order decides (DESIGN §5), then the user and the two-key quota.
    if let Some(why) = admitted(wf, pr, request).await? {
        return not_issued(wf, intent, why).await;
    }
    let keys = match user_ready(wf, request).await? {
        Ok(keys) => keys,
        Err(why) => return not_issued(wf, intent, why).await,
    };
    // 3. Name the secret and write down what exists before creating anything.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let first = first_second(now, lease.last_timestamp.as_deref());
    let name = match secret_name(wf, pr, request, first) {
        Ok(n) => n,
        Err(why) => return not_issued(wf, intent, why).await,
    };
    // Built before anything is created: when keygate cannot tell who it is, nothing exists
    // that would have to be undone.
    let readers_policy = readers_policy(wf, request).await?;
    let expires = now + time::Duration::days(i64::from(request.expires_in_days));
    intent.secret_name = Some(name);
    intent.expires_at = Some(expires);
    intent.keys_before = Some(keys);
    intent.merged_at = pr.merged_at;
    intent.secret_token = Some(random_token());
    intent.origin = KeyOrigin {
        issued_at: Some(now),
        rotate_every_days: request.rotate_every_days,
        fingerprint: None,
    };
    lease.last_timestamp = Some(stamp(first));
    advance(wf, &mut intent, IntentState::Creating).await?;
    // 4. The key, then its secret.
    let key = match create_key(wf, &mut intent).await? {
        Ok(key) => key,
        Err(outcome) => return Ok(outcome),
    };
    let secret = Secret {
        request,
        pr,
        approvers,
        key,
        readers_policy,
        first,
    };
    store(wf, intent, secret, job, lease).await
}

/// Where an earlier attempt left this request: its outcome when that is decided already.
async fn resume(
    wf: &Workflow,
    intent: &mut Intent,
    request: &Request,
) -> Result<Option<Outcome>, StepError> {
    Ok(match intent.state {
        IntentState::Stored | IntentState::Issued => {
            tracing::info!("already issued; nothing new is created");
            Some(issued_outcome(intent, request))
        }
        IntentState::NotIssued => Some(Outcome::Failed {
            why: intent
                .outcome
                .clone()
                .unwrap_or_else(|| "Nothing was issued.".into()),
        }),
        IntentState::Creating => {
            rollback(wf, intent).await?;
            (intent.state == IntentState::Stored).then(|| issued_outcome(intent, request))
        }
        IntentState::Pending => None,
    })
}

/// The request's life admits this merge (DESIGN §5); `Some(why)` when a merge since
/// deleted the file, whatever order the deliveries came in.
async fn admitted(
    wf: &Workflow,
    pr: &PullInfo,
    request: &Request,
) -> Result<Option<String>, StepError> {
    let Some(mark) = life::merge_mark(pr) else {
        return Ok(Some(
            "GitHub gives no time for this merge, so keygate cannot place it among the merges of this request file. Nothing was issued.".into(),
        ));
    };
    let at = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let path = &request.path;
    Ok(
        match life::admit_addition(wf, path, request.account.as_ref(), mark).await? {
            Admission::Issue => None,
            Admission::DeletedSince(d) => Some(format!(
                "`{path}` was deleted by the merge of #{} at {}, after this pull request merged; keygate heard of that deletion first, and a deleted request never issues a key. To ask for a key again, open a new pull request with a new request file.",
                d.pr,
                at(d.merged_at)
            )),
            Admission::AddedAgainSince(a) => Some(format!(
                "`{path}` was deleted and added again since this pull request merged (by #{} at {}): that later request is the one that issues.",
                a.pr,
                at(a.merged_at)
            )),
        },
    )
}

/// The user exists in the request's account, spelt exactly as the folder that chose its
/// owners, and has a free key slot: its keys as listed now, or why nothing is issued.
async fn user_ready(
    wf: &Workflow,
    request: &Request,
) -> Result<Result<Vec<AccessKeyId>, String>, StepError> {
    let user = &request.iam_user;
    let aws = wf.aws_in(request.account.as_ref())?;
    let (account, folder) = match &request.account {
        Some(a) => (format!("AWS account `{a}`"), format!("{a}/")),
        None => ("this AWS account".to_string(), String::new()),
    };
    match aws.canonical_user_name(user).await? {
        None => {
            return Ok(Err(format!(
                "The IAM user `{user}` does not exist in {account}."
            )));
        }
        Some(canonical) if &canonical != user => {
            return Ok(Err(format!(
                "IAM knows this user as `{canonical}`, not `{user}`: request it under {}/{folder}{canonical}/ so that folder's owners approve it.",
                wf.settings.rules.requests_dir
            )));
        }
        Some(_) => {}
    }
    let keys = aws.list_access_keys(user).await?;
    if keys.len() >= 2 {
        return Ok(Err(format!(
            "`{user}` already has 2 access keys, the most IAM allows. Delete one that is no longer used, then open a new request."
        )));
    }
    Ok(Ok(keys))
}

/// `CreateAccessKey`: the key, or the outcome when none was made; a lost answer is rolled
/// back against the keys listed before, then retried.
async fn create_key(
    wf: &Workflow,
    intent: &mut Intent,
) -> Result<Result<NewKey, Outcome>, StepError> {
    let user = intent.iam_user.clone();
    let aws = wf.aws_in(intent.account.as_ref())?;
    let key = match aws.create_access_key(&user).await {
        Ok(k) => k,
        Err(e) if e.is_limit_exceeded() => {
            let why = format!("`{user}` already has 2 access keys, the most IAM allows.");
            return Ok(Err(not_issued(wf, intent.clone(), why).await?));
        }
        Err(e) if e.is_refusal() => {
            // AWS said no: no key was made.
            advance(wf, intent, IntentState::Pending).await?;
            return Err(e.into());
        }
        Err(e) => {
            // The key may exist although the answer was lost: delete whatever is new.
            tracing::warn!(error = %e, "CreateAccessKey failed; removing any key it may have created");
            rollback(wf, intent).await?;
            return Err(e.into());
        }
    };
    intent.access_key_id = Some(key.access_key_id.clone());
    intent.origin.fingerprint = Some(key.fingerprint());
    save(wf, intent).await?;
    tracing::info!(access_key_id = %key.access_key_id, "access key created");
    Ok(Ok(key))
}

/// A key just made, and what storing its secret needs.
struct Secret<'a> {
    request: &'a Request,
    pr: &'a PullInfo,
    approvers: &'a [String],
    key: NewKey,
    readers_policy: Option<String>,
    /// The second the first name was rendered for.
    first: OffsetDateTime,
}

/// Stores the key's secret and moves the intent to `Stored`; on failure deletes the key
/// again and retries or says why.
async fn store(
    wf: &Workflow,
    mut intent: Intent,
    secret: Secret<'_>,
    job: &Job,
    lease: &mut UserLease,
) -> Result<Outcome, StepError> {
    let request = secret.request;
    let stored = match create_under_a_free_name(wf, &mut intent, &secret, lease).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            let why = "Every secret name keygate would use is taken by a secret keygate did not make, so the new access key was deleted again. Nothing was issued. Someone with access to Secrets Manager may be planting secrets: check CloudTrail for who created them, then open a new pull request.".to_string();
            return undo_then(wf, intent, request, None, why, job).await;
        }
        Err(e) => {
            let why = format!(
                "The secret could not be stored ({}), so the new access key was deleted again. Nothing was issued.",
                crate::workflow::render::public_reason(&e)
            );
            return undo_then(wf, intent, request, Some(e), why, job).await;
        }
    };
    if let Some(document) = &secret.readers_policy {
        // The key enters AWS only once the policy that guards it is on (DESIGN §3).
        let token = intent.secret_token.clone().unwrap_or_default();
        let owner = ownership(&intent, &token);
        if let Err(e) = guard_then_fill(wf, &stored, document, &secret.key, &owner).await {
            tracing::warn!(error = %e, "the secret's resource policy or its value could not be put; deleting the secret and the new key");
            let why = format!(
                "The secret's resource policy, which lets only the request's readers read it, or its value could not be put ({}), so the secret and the new access key were deleted again. Nothing was issued.",
                e.public_summary()
            );
            return undo_then(wf, intent, request, Some(e.into()), why, job).await;
        }
        tracing::info!(readers = %request.readers.join(" "), "the secret is readable only by its readers");
    }
    drop(secret.key);
    intent.secret_arn = Some(stored.arn);
    intent.secret_name = Some(stored.name.clone());
    advance(wf, &mut intent, IntentState::Stored).await?;
    tracing::info!(secret = %stored.name, "secret stored");
    Ok(issued_outcome(&intent, request))
}

/// For a request with readers: the resource policy on the empty secret, then its value.
/// An error whose call went through all the same (its answer was lost) is looked at before
/// anything is undone.
async fn guard_then_fill(
    wf: &Workflow,
    stored: &StoredSecret,
    document: &str,
    key: &NewKey,
    owner: &Ownership<'_>,
) -> Result<(), crate::aws::AwsError> {
    let name = &stored.name;
    let aws = wf.aws.in_account(owner.account)?;
    if let Err(e) = aws.put_resource_policy(name, document).await {
        let on = aws.resource_policy(name).await.ok().flatten();
        if !on.is_some_and(|p| policy::has_readers_deny(&p)) {
            return Err(e);
        }
        tracing::info!("the resource policy went on although its answer was an error");
    }
    if let Err(e) = aws.put_secret_value(name, key, owner.token).await {
        let filled = aws.own_secret(name, owner).await.ok().flatten();
        if !filled.is_some_and(|s| s.has_value) {
            return Err(e);
        }
        tracing::info!("the secret's value went in although its answer was an error");
    }
    Ok(())
}

/// `CreateSecret` under the rendered name, or the next seconds' when a secret keygate did
/// not make holds it (never adopted: DESIGN §3). `None` when every name tried was taken.
/// A request with readers gets an empty secret: its value comes after its policy.
async fn create_under_a_free_name(
    wf: &Workflow,
    intent: &mut Intent,
    secret: &Secret<'_>,
    lease: &mut UserLease,
) -> Result<Option<StoredSecret>, StepError> {
    let token = intent.secret_token.clone().unwrap_or_default();
    let tags = secret_tags(wf, intent, secret, &token);
    let value = secret.readers_policy.is_none().then_some(&secret.key);
    for i in 0..NAME_TRIES {
        let second = secret.first + time::Duration::seconds(i);
        let Ok(name) = secret_name(wf, secret.pr, secret.request, second) else {
            return Ok(None);
        };
        if i > 0 {
            if intent.secret_name.as_ref() == Some(&name) {
                return Ok(None); // the template has no `{timestamp}`: no other name
            }
            intent.secret_name = Some(name.clone());
            lease.last_timestamp = Some(stamp(second));
            save(wf, intent).await?;
        }
        let kms = wf.settings.kms_key_id.as_deref();
        let aws = wf.aws_in(intent.account.as_ref())?;
        match aws.create_secret(&name, value, &token, kms, &tags).await {
            Ok(stored) => return Ok(Some(stored)),
            Err(e) if e.is_already_exists() => {
                if let Some(own) = aws.own_secret(&name, &ownership(intent, &token)).await? {
                    return Ok(Some(own)); // this intent's own call, whose answer was lost
                }
                tracing::warn!(secret = %name, "the secret name is taken by a secret keygate did not make; trying the next second");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// The tags that walk back from a secret to its request, and prove it keygate's.
fn secret_tags(
    wf: &Workflow,
    intent: &Intent,
    secret: &Secret<'_>,
    token: &str,
) -> BTreeMap<String, String> {
    let (pr, request) = (secret.pr, secret.request);
    let mut tags = BTreeMap::from([
        (
            "keygate:repository".to_string(),
            wf.settings.repository.to_string(),
        ),
        ("keygate:pr".to_string(), pr.number.to_string()),
        ("keygate:request".to_string(), request.path.to_string()),
        ("keygate:requester".to_string(), pr.author.login.clone()),
        ("keygate:approvers".to_string(), secret.approvers.join(" ")),
        (
            "keygate:expires-at".to_string(),
            intent
                .expires_at
                .map(crate::ledger::time_text)
                .unwrap_or_default(),
        ),
        // Not a secret (CloudTrail shows it everywhere): it walks back from a key to here.
        (
            crate::aws::ACCESS_KEY_TAG.to_string(),
            secret.key.access_key_id.to_string(),
        ),
        (TOKEN_TAG.to_string(), ownership(intent, token).token_tag()),
    ]);
    let next_rotation = crate::life::rotation::next_rotation(
        intent.origin.issued_at,
        intent.origin.rotate_every_days,
        None,
    );
    if let Some(at) = next_rotation.and_then(|t| t.format(&Rfc3339).ok()) {
        tags.insert(crate::aws::ROTATES_TAG.to_string(), at);
    }
    if !request.readers.is_empty() {
        // Written with the secret, in one call: after a crash it tells `rollback` that the
        // secret is complete only with its resource policy.
        tags.insert(READERS_TAG.to_string(), request.readers.join(" "));
    }
    if let Some(account) = &intent.account {
        tags.insert(ACCOUNT_TAG.to_string(), account.to_string());
    }
    tags
}

/// What makes a secret this intent's own.
pub(super) fn ownership<'a>(intent: &'a Intent, token: &'a str) -> Ownership<'a> {
    Ownership {
        token,
        repository: intent.repository.as_str(),
        pr: intent.pr.get(),
        path: intent.path.as_str(),
        account: intent.account.as_ref(),
    }
}

/// The secret's name for a request issued at `second`.
fn secret_name(
    wf: &Workflow,
    pr: &PullInfo,
    request: &Request,
    second: OffsetDateTime,
) -> Result<SecretName, String> {
    render_secret_name(
        &wf.settings.rules.secret_name_template,
        &SecretNameInputs {
            iam_user: request.iam_user.as_str(),
            timestamp: &stamp(second),
            pr: pr.number.get(),
            request: request.name(),
        },
    )
}

/// The resource policy for a request that names readers (DESIGN §3.3), as JSON; `None`
/// when it names none, and the secret keeps no resource policy.
async fn readers_policy(wf: &Workflow, request: &Request) -> Result<Option<String>, StepError> {
    if request.readers.is_empty() {
        return Ok(None);
    }
    // keygate's own role in the request's account: the issuer role there.
    let own = wf
        .aws_in(request.account.as_ref())?
        .own_principal_patterns()
        .await?;
    Ok(Some(
        policy::readers_policy(&request.readers, &own).to_string(),
    ))
}

/// After the secret could not be stored: roll back (the new key, and a secret of this
/// intent's that is incomplete, are deleted), then retry a transient error or say `why`
/// nothing was issued. A step that went through although its answer was lost makes the
/// issuance complete instead.
async fn undo_then(
    wf: &Workflow,
    mut intent: Intent,
    request: &Request,
    error: Option<StepError>,
    why: String,
    job: &Job,
) -> Result<Outcome, StepError> {
    rollback(wf, &mut intent).await?;
    if intent.state == IntentState::Stored {
        return Ok(issued_outcome(&intent, request));
    }
    if let Some(e) = error
        && e.is_transient()
        && wf.settings.retry.allows_another(job, now_ms())
    {
        return Err(e);
    }
    not_issued(wf, intent, why).await
}

/// `{timestamp}` as it renders `t`: UTC `YYYYmmddHHMMSS`.
fn stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The second to render the first name at: now, or the second after the last one this
/// user's lease says was used, so two issuances never render the same name.
fn first_second(now: OffsetDateTime, last_used: Option<&str>) -> OffsetDateTime {
    match last_used {
        Some(last) if last >= stamp(now).as_str() => {
            let mut t = now;
            while stamp(t).as_str() <= last {
                t += time::Duration::seconds(1);
            }
            t
        }
        _ => now,
    }
}

/// A `ClientRequestToken` nobody can compute: 32 random bytes, in hex (64 characters).
pub(crate) fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub(super) fn issued_outcome(i: &Intent, r: &Request) -> Outcome {
    Outcome::Issued {
        secret_name: i.secret_name.clone().unwrap_or_else(|| SecretName::new("")),
        secret_arn: i.secret_arn.clone().unwrap_or_default(),
        // A stored intent always has its key: an empty ID only shows a ledger edited by hand.
        access_key_id: i
            .access_key_id
            .clone()
            .unwrap_or_else(|| AccessKeyId::new("")),
        expires_at: i
            .expires_at
            .map(crate::ledger::time_text)
            .unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_first_name_is_rendered_after_the_last_one_this_user_used() {
        let now = datetime!(2026-12-06 10:00:00 UTC);
        assert_eq!(stamp(now), "20261206100000");
        assert_eq!(first_second(now, None), now);
        assert_eq!(first_second(now, Some("20261206095959")), now);
        assert_eq!(
            first_second(now, Some("20261206100000")),
            datetime!(2026-12-06 10:00:01 UTC),
            "another replica used this second already"
        );
        assert_eq!(
            first_second(now, Some("20261206100004")),
            datetime!(2026-12-06 10:00:05 UTC)
        );
    }

    #[test]
    fn a_token_is_random_and_fits_aws_limits() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
