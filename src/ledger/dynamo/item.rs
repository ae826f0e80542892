//! The ledger's records as DynamoDB items, and back: pure functions over plain data, no I/O.
//!
//! The key schema is documented on [`super`]; every key and index value is built here and
//! nowhere else, so the layout can be read in one place.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::super::{
    DeliveryState, Intent, IntentKey, IntentState, KeyLife, LedgerError, NewDelivery, NoteKey,
    Revocation,
};
use crate::event::{Activity, PrEvent, Sender};
use crate::ids::{
    AccessKeyId, AccountAlias, BranchName, CommitSha, DeliveryId, IamUser, InstallationId,
    PrNumber, RepoName, RequestPath, SecretName,
};
use crate::life::{Progress, Stage, Step};

pub(super) type Item = HashMap<String, AttributeValue>;

/// The table's partition and sort key attributes.
pub(super) const PK: &str = "pk";
pub(super) const SK: &str = "sk";
/// Index `by_state`: every delivery and intent under `<kind>#<state>`, in due (deliveries)
/// or creation (intents) order. The work queue and the crash-recovery scans read it.
pub(super) const BY_STATE: &str = "by_state";
pub(super) const BY_STATE_PK: &str = "by_state_pk";
pub(super) const BY_STATE_SK: &str = "by_state_sk";
/// Index `by_pr`: every delivery of one pull request, under `<state>#<work>#<id>`, for
/// coalescing, the failure cascade and the pushers.
pub(super) const BY_PR: &str = "by_pr";
pub(super) const BY_PR_PK: &str = "by_pr_pk";
pub(super) const BY_PR_SK: &str = "by_pr_sk";

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn opt<T: AsRef<str>>(v: &Option<T>) -> Option<AttributeValue> {
    v.as_ref().map(|x| s(x.as_ref()))
}

fn list<T: AsRef<str>>(v: &[T]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.as_ref())).collect())
}

/// A table key.
pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

pub(super) fn delivery_key(id: &DeliveryId) -> Item {
    key(format!("DELIVERY#{}", id.as_str()), "DELIVERY")
}

/// The per-pull-request lock item: `running` names the one delivery of the pull request
/// that is running, and is set and cleared only together with that delivery's state.
pub(super) fn lock_key(repository: &RepoName, pr: PrNumber) -> Item {
    key(format!("PR#{}#{}", repository.key(), pr.get()), "LOCK")
}

fn intent_pk(repository: &RepoName, pr: PrNumber) -> String {
    format!("INTENT#{}#{}", repository.key(), pr.get())
}

pub(super) fn intents_pk(repository: &RepoName, pr: PrNumber) -> AttributeValue {
    s(intent_pk(repository, pr))
}

pub(super) fn intent_key(repository: &RepoName, pr: PrNumber, path: &RequestPath) -> Item {
    key(intent_pk(repository, pr), &format!("PATH#{path}"))
}

pub(super) fn note_key(k: &NoteKey) -> Item {
    key(format!("NOTE#{}", k.stored()), "NOTE")
}

/// An issued key's life after issuing (DESIGN §5), keyed by its access key ID.
pub(super) fn life_key(access_key_id: &AccessKeyId) -> Item {
    key(format!("KEY#{access_key_id}"), "LIFE")
}

/// One request file's life (DESIGN §5), keyed by repository and path.
pub(super) fn request_key(repository: &RepoName, path: &RequestPath) -> Item {
    key(format!("REQUEST#{}#{path}", repository.key()), "LIFE")
}

/// A lease (one issuance per IAM user at a time, §3), by name.
pub(super) fn lease_key(name: &str) -> Item {
    key(format!("LEASE#{name}"), "LEASE")
}

pub(super) fn meta_key() -> Item {
    key("META".into(), "created_at")
}

/// How far catch-up got for one repository and branch (DESIGN §5).
pub(super) fn catch_up_key(repository: &RepoName, branch: &BranchName) -> Item {
    key(
        format!("CATCHUP#{}#{}", repository.key(), branch.as_str()),
        "PROGRESS",
    )
}

/// How many pull request numbers one item of merges without requests holds.
pub(super) const NUMBERS_PER_ITEM: u64 = 1000;

/// The item holding `pr` among the merges catch-up found to touch no request file: one per
/// thousand numbers, so a page of a list costs a read or two, not one per pull request.
pub(super) fn without_requests_key(repository: &RepoName, pr: PrNumber) -> Item {
    key(
        format!("NOREQ#{}#{}", repository.key(), pr.get() / NUMBERS_PER_ITEM),
        "PULLS",
    )
}

/// A time as a sort-key prefix: zero-padded, so string order is time order.
fn ordinal(ms: i64) -> String {
    format!("{:020}", ms.max(0))
}

/// `by_state_pk` of a delivery in `state`.
pub(super) fn delivery_list(state: DeliveryState) -> String {
    format!("delivery#{}", state.as_str())
}

/// `by_state_pk` of an intent in `state`.
pub(super) fn intent_list(state: IntentState) -> String {
    format!("intent#{}", state.as_str())
}

/// `by_state_pk` of key lives not over: the sweep reads this one partition.
pub(super) const LIVE_KEYS: &str = "key#live";
/// `by_state_pk` of key lives that are over (deleted or revoked), kept for audit.
pub(super) const OVER_KEYS: &str = "key#over";

/// `by_state_pk` of a key life at `p`.
pub(super) fn life_list(p: Progress) -> &'static str {
    if p.is_over() { OVER_KEYS } else { LIVE_KEYS }
}

/// `by_state_sk` of a delivery: the order `claim_work` takes them in (due time, then arrival,
/// then ID), as the SQLite backend does.
pub(super) fn due_order(next_attempt_ms: i64, received_ms: i64, id: &DeliveryId) -> String {
    format!(
        "{}#{}#{}",
        ordinal(next_attempt_ms),
        ordinal(received_ms),
        id.as_str()
    )
}

/// The upper bound of `by_state_sk` for deliveries due at `now_ms`.
pub(super) fn due_by(now_ms: i64) -> String {
    // `~` sorts after `#` and every digit: everything due at `now_ms` is below it.
    format!("{}~", ordinal(now_ms))
}

pub(super) fn pr_list(repository: &RepoName, pr: PrNumber) -> String {
    format!("{}#{}", repository.key(), pr.get())
}

/// `by_pr_sk` of a delivery; `<state>#<work>#` prefixes find queued work of one kind.
pub(super) fn pr_order(state: DeliveryState, work: &str, id: &DeliveryId) -> String {
    format!("{}#{work}#{}", state.as_str(), id.as_str())
}

pub(super) fn pr_prefix(state: DeliveryState, work: &str) -> String {
    format!("{}#{work}#", state.as_str())
}

/// A new delivery's item in `state` (`queued`, or `coalesced` into `into`).
pub(super) fn new_delivery(d: &NewDelivery, state: DeliveryState, into: Option<&str>) -> Item {
    let e = &d.event;
    let work = e.activity.work().as_str();
    let mut item = delivery_key(&d.id);
    let mut put = |k: &str, v: AttributeValue| {
        item.insert(k.to_string(), v);
    };
    put("id", s(d.id.as_str()));
    put("event", s(e.activity.event()));
    put("action", s(e.activity.action()));
    put("repository", s(e.repository.key()));
    put("installation_id", n(e.installation.get() as i64));
    put("pr_number", n(e.pr.get() as i64));
    put("work", s(work));
    put("received_at", n(d.received_at_ms));
    put("next_attempt_at", n(d.received_at_ms));
    put("attempts", n(0));
    put("state", s(state.as_str()));
    put(BY_STATE_PK, s(delivery_list(state)));
    put(
        BY_STATE_SK,
        s(due_order(d.received_at_ms, d.received_at_ms, &d.id)),
    );
    put(BY_PR_PK, s(pr_list(&e.repository, e.pr)));
    put(BY_PR_SK, s(pr_order(state, work, &d.id)));
    if let Some(into) = into {
        put("coalesced_into", s(into));
    }
    if let Some(merge) = &e.merge_commit {
        put("merge_sha", s(merge.as_str()));
    }
    if let Some(sender) = &e.sender {
        put("sender_id", n(sender.id as i64));
        put("sender_login", s(sender.login.as_str()));
    }
    item
}

/// A delivery item, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeliveryRow {
    pub id: DeliveryId,
    pub event: PrEvent,
    pub work: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub received_at: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub coalesced_into: Option<String>,
    /// The ledger handle that runs it (`running` only).
    pub owner: Option<String>,
    /// Until when its owner holds it without renewing (`running` only).
    pub lease_until: Option<i64>,
}

impl DeliveryRow {
    pub fn read(item: &Item) -> Result<DeliveryRow, LedgerError> {
        let id = get_s(item, "id")?;
        let event = get_s(item, "event")?;
        let action = get_s(item, "action")?;
        let activity = Activity::from_event(event, action)
            .ok_or_else(|| LedgerError::Corrupt(format!("delivery {id} is `{event}.{action}`")))?;
        let sender = match (opt_n(item, "sender_id")?, opt_s(item, "sender_login")?) {
            (Some(id), Some(login)) => Some(Sender {
                id: id as u64,
                login,
            }),
            _ => None,
        };
        Ok(DeliveryRow {
            id: DeliveryId::new(id),
            event: PrEvent {
                repository: RepoName::new(get_s(item, "repository")?),
                installation: InstallationId(get_n(item, "installation_id")? as u64),
                pr: PrNumber(get_n(item, "pr_number")? as u64),
                activity,
                sender,
                merge_commit: opt_s(item, "merge_sha")?.map(CommitSha::new),
            },
            work: get_s(item, "work")?.to_string(),
            state: DeliveryState::parse(get_s(item, "state")?)?,
            attempts: get_n(item, "attempts")? as u32,
            received_at: get_n(item, "received_at")?,
            next_attempt_at: get_n(item, "next_attempt_at")?,
            last_error: opt_s(item, "last_error")?,
            coalesced_into: opt_s(item, "coalesced_into")?,
            owner: opt_s(item, "owner")?,
            lease_until: opt_n(item, "lease_until")?,
        })
    }
}

/// A freshly claimed intent's item.
pub(super) fn new_intent(i: &Intent, now_ms: i64) -> Item {
    let mut item = intent_key(&i.repository, i.pr, &i.path);
    item.insert("created_at".into(), n(now_ms));
    item.insert(
        BY_STATE_SK.into(),
        s(format!(
            "{}#{}#{}#{}",
            ordinal(now_ms),
            i.repository.key(),
            i.pr.get(),
            i.path
        )),
    );
    let fresh = Intent {
        state: IntentState::Pending,
        updated_at_ms: now_ms,
        ..i.clone()
    };
    for (k, v) in intent_fields(&fresh) {
        if let Some(v) = v {
            item.insert(k.into(), v);
        }
    }
    item
}

/// An intent's attributes other than its keys and creation time; `None` is an absent field.
pub(super) fn intent_fields(i: &Intent) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("repository", Some(s(i.repository.key()))),
        ("pr_number", Some(n(i.pr.get() as i64))),
        ("path", Some(s(i.path.as_str()))),
        ("state", Some(s(i.state.as_str()))),
        (BY_STATE_PK, Some(s(intent_list(i.state)))),
        ("iam_user", Some(s(i.iam_user.as_str()))),
        ("requester", Some(s(i.requester.as_str()))),
        ("approvers", Some(list(&i.approvers))),
        ("installation_id", Some(n(i.installation.get() as i64))),
        ("keys_before", i.keys_before.as_deref().map(list)),
        ("access_key_id", opt(&i.access_key_id)),
        ("secret_name", opt(&i.secret_name)),
        ("secret_arn", opt(&i.secret_arn)),
        (
            "expires_at",
            i.expires_at.map(|t| s(crate::ledger::time_text(t))),
        ),
        ("outcome", opt(&i.outcome)),
        ("merged_at", i.merged_at.map(|t| n(t.unix_timestamp()))),
        ("secret_token", opt(&i.secret_token)),
        ("account", i.account.as_ref().map(|a| s(a.as_str()))),
        ("updated_at", Some(n(i.updated_at_ms))),
    ]
    .into_iter()
    .chain(super::care::origin_fields(&i.origin))
    .collect()
}

/// The request an intent, key life or rotation item is about.
pub(super) fn read_request(item: &Item) -> Result<IntentKey, LedgerError> {
    Ok(IntentKey {
        repository: RepoName::new(get_s(item, "repository")?),
        pr: PrNumber(get_n(item, "pr_number")? as u64),
        path: RequestPath::new(get_s(item, "path")?),
    })
}

pub(super) fn read_intent(item: &Item) -> Result<Intent, LedgerError> {
    let IntentKey {
        repository,
        pr,
        path,
    } = read_request(item)?;
    Ok(Intent {
        repository,
        pr,
        path,
        state: IntentState::parse(get_s(item, "state")?)?,
        iam_user: IamUser::new(get_s(item, "iam_user")?),
        requester: get_s(item, "requester")?.to_string(),
        approvers: get_list(item, "approvers")?.unwrap_or_default(),
        installation: InstallationId(get_n(item, "installation_id")? as u64),
        keys_before: get_list(item, "keys_before")?
            .map(|keys| keys.into_iter().map(AccessKeyId::new).collect()),
        access_key_id: opt_s(item, "access_key_id")?.map(AccessKeyId::new),
        secret_name: opt_s(item, "secret_name")?.map(SecretName::new),
        secret_arn: opt_s(item, "secret_arn")?,
        expires_at: crate::ledger::stored_time(opt_s(item, "expires_at")?),
        outcome: opt_s(item, "outcome")?,
        merged_at: crate::ledger::seconds(opt_n(item, "merged_at")?),
        secret_token: opt_s(item, "secret_token")?,
        origin: super::care::read_origin(item)?,
        account: opt_s(item, "account")?.map(AccountAlias::new),
        updated_at_ms: get_n(item, "updated_at")?,
    })
}

/// The write of one lifecycle step of `life`, applied only while the stored progress is
/// still `from` (no item counting as [`Progress::ACTIVE`]). The key's identity and creation
/// time are written once, by the first step, as SQLite's `key_lives` keeps them.
pub(super) fn life_step(life: &KeyLife, from: Progress, now_ms: i64) -> Change {
    let r = life.revocation.as_ref();
    let mut c = Change::default()
        .set_if_absent("access_key_id", s(life.access_key_id.as_str()))
        .set_if_absent("iam_user", s(life.iam_user.as_str()))
        .set_if_absent("repository", s(life.request.repository.key()))
        .set_if_absent("pr_number", n(life.request.pr.get() as i64))
        .set_if_absent("path", s(life.request.path.as_str()))
        .set_if_absent("requester", s(life.requester.as_str()))
        .set_if_absent("created_at", n(now_ms))
        .set_if_absent(
            BY_STATE_SK,
            s(format!("{}#{}", ordinal(now_ms), life.access_key_id)),
        );
    let identity = [
        ("account", life.account.as_ref().map(|a| s(a.as_str()))),
        ("secret_name", opt(&life.secret_name)),
        (
            "expires_at",
            life.expires_at.map(|t| s(crate::ledger::time_text(t))),
        ),
        (
            "installation_id",
            life.installation.map(|i| n(i.get() as i64)),
        ),
    ];
    for (attr, v) in identity
        .into_iter()
        .chain(super::care::origin_fields(&life.origin))
    {
        if let Some(v) = v {
            c = c.set_if_absent(attr, v);
        }
    }
    let c = super::care::care_change(&life.care, c)
        .set("stage", s(life.progress.stage.as_str()))
        .set_or_remove("pending", life.progress.pending.map(|p| s(p.as_str())))
        .set_or_remove("revoked_by", r.map(|r| s(r.by.as_str())))
        .set_or_remove("revoked_reason", r.map(|r| s(r.reason.as_str())))
        .set_or_remove(
            "revoked_in_pr",
            r.and_then(|r| r.pr).map(|p| n(p.get() as i64)),
        )
        .set("updated_at", n(now_ms))
        .set(BY_STATE_PK, s(life_list(life.progress)));
    let stage = vec![(":from_stage", s(from.stage.as_str()))];
    match (from == Progress::ACTIVE, from.pending) {
        (true, _) => c.when(
            "attribute_not_exists(#pk) OR (#stage = :from_stage AND attribute_not_exists(#pending))",
            &[PK, "stage", "pending"],
            stage,
        ),
        (false, None) => c.when(
            "#stage = :from_stage AND attribute_not_exists(#pending)",
            &["stage", "pending"],
            stage,
        ),
        (false, Some(step)) => c.when(
            "#stage = :from_stage AND #pending = :from_pending",
            &["stage", "pending"],
            [stage, vec![(":from_pending", s(step.as_str()))]].concat(),
        ),
    }
}

/// A life item's progress.
pub(super) fn read_progress(item: &Item) -> Result<Progress, LedgerError> {
    let stage = get_s(item, "stage")?;
    let stage = Stage::parse(stage).ok_or_else(|| corrupt(item, "stage", "is no key stage"))?;
    let pending = match opt_s_ref(item, "pending")? {
        None => None,
        Some(p) => Some(Step::parse(p).ok_or_else(|| corrupt(item, "pending", "is no key step"))?),
    };
    Ok(Progress { stage, pending })
}

fn read_revocation(item: &Item) -> Result<Option<Revocation>, LedgerError> {
    let Some(by) = opt_s(item, "revoked_by")? else {
        return Ok(None);
    };
    Ok(Some(Revocation {
        by,
        reason: opt_s(item, "revoked_reason")?.unwrap_or_default(),
        pr: opt_n(item, "revoked_in_pr")?.map(|p| PrNumber(p as u64)),
    }))
}

/// A life item, read alone (its intent gone): its creation time and the life.
pub(super) fn read_life(item: &Item) -> Result<(i64, KeyLife), LedgerError> {
    let life = KeyLife {
        access_key_id: AccessKeyId::new(get_s(item, "access_key_id")?),
        account: opt_s(item, "account")?.map(AccountAlias::new),
        iam_user: IamUser::new(get_s(item, "iam_user")?),
        secret_name: opt_s(item, "secret_name")?.map(SecretName::new),
        expires_at: crate::ledger::stored_time(opt_s(item, "expires_at")?),
        request: read_request(item)?,
        requester: get_s(item, "requester")?.to_string(),
        request_merged_at: None,
        installation: opt_n(item, "installation_id")?.map(|i| InstallationId(i as u64)),
        progress: read_progress(item)?,
        revocation: read_revocation(item)?,
        origin: super::care::read_origin(item)?,
        care: super::care::read_care(item)?,
        updated_at_ms: get_n(item, "updated_at")?,
    };
    Ok((get_n(item, "created_at")?, life))
}

/// The life of the key `intent` issued: who and what from the intent, progress and
/// revocation from its life item (active when there is none yet), as SQLite joins them.
pub(super) fn join_life(intent: &Intent, life: Option<&Item>) -> Result<KeyLife, LedgerError> {
    let access_key_id = intent.access_key_id.clone().ok_or_else(|| {
        LedgerError::Corrupt(format!("the intent for {} has no access key", intent.path))
    })?;
    let (progress, revocation, care, updated_at_ms) = match life {
        Some(item) => (
            read_progress(item)?,
            read_revocation(item)?,
            super::care::read_care(item)?,
            get_n(item, "updated_at")?,
        ),
        None => (
            Progress::ACTIVE,
            None,
            crate::ledger::KeyCare::default(),
            intent.updated_at_ms,
        ),
    };
    Ok(KeyLife {
        access_key_id,
        account: intent.account.clone(),
        iam_user: intent.iam_user.clone(),
        secret_name: intent.secret_name.clone(),
        expires_at: intent.expires_at,
        request: intent.key(),
        request_merged_at: intent.merged_at,
        requester: intent.requester.clone(),
        installation: Some(intent.installation),
        progress,
        revocation,
        origin: intent.origin.clone(),
        care,
        updated_at_ms,
    })
}

/// How a progress reads in [`LedgerError::Moved`].
pub(super) fn describe(p: Progress) -> String {
    match p.pending {
        Some(step) => format!("{}, {step} begun", p.stage),
        None => p.stage.to_string(),
    }
}

fn corrupt(item: &Item, name: &str, what: &str) -> LedgerError {
    let pk = item
        .get(PK)
        .and_then(|v| v.as_s().ok())
        .map_or("?", String::as_str);
    LedgerError::Corrupt(format!("item {pk}: attribute `{name}` {what}"))
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, LedgerError> {
    opt_s_ref(item, name)?.ok_or_else(|| corrupt(item, name, "is missing"))
}

fn opt_s_ref<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, LedgerError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(item, name, "is not a string")),
    }
}

pub(super) fn opt_s(item: &Item, name: &str) -> Result<Option<String>, LedgerError> {
    Ok(opt_s_ref(item, name)?.map(str::to_string))
}

pub(super) fn get_n(item: &Item, name: &str) -> Result<i64, LedgerError> {
    opt_n(item, name)?.ok_or_else(|| corrupt(item, name, "is missing"))
}

pub(super) fn opt_n(item: &Item, name: &str) -> Result<Option<i64>, LedgerError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(item, name, "is not a whole number")),
        Some(_) => Err(corrupt(item, name, "is not a number")),
    }
}

fn get_list(item: &Item, name: &str) -> Result<Option<Vec<String>>, LedgerError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| {
                v.as_s()
                    .cloned()
                    .map_err(|_| corrupt(item, name, "holds a non-string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(corrupt(item, name, "is not a list")),
    }
}

/// One UpdateItem's expression, built from named changes: every attribute name goes through a
/// `#name` placeholder, so reserved words (`state`, `owner`) need no care at the call site.
#[derive(Debug, Default, Clone)]
pub(super) struct Change {
    sets: Vec<String>,
    removes: Vec<String>,
    condition: Option<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Change {
    fn name(&mut self, attr: &str) -> String {
        let p = format!("#{attr}");
        self.names.insert(p.clone(), attr.to_string());
        p
    }

    /// `attr = v`.
    pub fn set(mut self, attr: &str, v: AttributeValue) -> Change {
        let name = self.name(attr);
        let value = format!(":set_{attr}");
        self.sets.push(format!("{name} = {value}"));
        self.values.insert(value, v);
        self
    }

    /// `attr = v` unless `attr` is already there.
    pub fn set_if_absent(mut self, attr: &str, v: AttributeValue) -> Change {
        let name = self.name(attr);
        let value = format!(":set_{attr}");
        self.sets
            .push(format!("{name} = if_not_exists({name}, {value})"));
        self.values.insert(value, v);
        self
    }

    /// `attr = v`, or `attr` removed when `v` is `None`.
    pub fn set_or_remove(self, attr: &str, v: Option<AttributeValue>) -> Change {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }

    pub fn remove(mut self, attr: &str) -> Change {
        let name = self.name(attr);
        self.removes.push(name);
        self
    }

    /// Applies only when `expr` holds. `expr` names attributes as `#attr` (each listed in
    /// `attrs`) and values as `:name` (given in `values`).
    pub fn when(
        mut self,
        expr: &str,
        attrs: &[&str],
        values: Vec<(&str, AttributeValue)>,
    ) -> Change {
        for a in attrs {
            self.name(a);
        }
        for (k, v) in values {
            self.values.insert(k.to_string(), v);
        }
        self.condition = Some(match self.condition.take() {
            Some(c) => format!("({c}) AND ({expr})"),
            None => expr.to_string(),
        });
        self
    }

    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        parts.join(" ")
    }

    pub fn condition(&self) -> Option<&str> {
        self.condition.as_deref()
    }
}

#[cfg(test)]
mod tests;
