//! Keys that look after themselves (DESIGN §10) on DynamoDB: a key's origin and care as
//! attributes of its intent and life items, and one `ROTATION#<access key id>` item per
//! rotation, listed in `by_state` under `rotation#<state>` by creation.

use time::OffsetDateTime;

use super::DynamoLedger;
use super::io::Query;
use super::item::*;
use crate::ids::{AccessKeyId, IamUser, SecretName};
use crate::ledger::{
    KeyCare, KeyOrigin, Leak, LedgerError, Rotation, RotationClaim, RotationState, joined, now_ms,
    seconds, split_keys,
};

/// `by_state_pk` of a rotation in `state`.
fn rotation_list(state: RotationState) -> String {
    format!("rotation#{}", state.as_str())
}

fn rotation_key(access_key_id: &AccessKeyId) -> Item {
    key(format!("ROTATION#{access_key_id}"), "ROTATION")
}

fn at(t: Option<OffsetDateTime>) -> Option<aws_sdk_dynamodb::types::AttributeValue> {
    t.map(|t| n(t.unix_timestamp()))
}

fn time_of(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, LedgerError> {
    Ok(seconds(opt_n(item, name)?))
}

/// A key's origin as attributes (an intent's, or a life's written once).
pub(super) fn origin_fields(
    o: &KeyOrigin,
) -> [(
    &'static str,
    Option<aws_sdk_dynamodb::types::AttributeValue>,
); 3] {
    [
        ("issued_at", at(o.issued_at)),
        (
            "rotate_every_days",
            o.rotate_every_days.map(|d| n(i64::from(d))),
        ),
        ("key_fingerprint", o.fingerprint.as_deref().map(s)),
    ]
}

pub(super) fn read_origin(item: &Item) -> Result<KeyOrigin, LedgerError> {
    Ok(KeyOrigin {
        issued_at: time_of(item, "issued_at")?,
        rotate_every_days: opt_n(item, "rotate_every_days")?.and_then(|d| u32::try_from(d).ok()),
        fingerprint: opt_s(item, "key_fingerprint")?,
    })
}

/// A life's care, written with every step.
pub(super) fn care_change(c: &KeyCare, change: Change) -> Change {
    let leak = c.leak.as_ref();
    change
        .set_or_remove(
            "superseded_by",
            c.superseded_by.as_ref().map(|k| s(k.as_str())),
        )
        .set_or_remove("retires_at", at(c.retires_at))
        .set_or_remove("unused_warned_at", at(c.unused_warned_at))
        .set_or_remove("leak_source", leak.map(|l| s(l.source.as_str())))
        .set_or_remove("leak_location", leak.map(|l| s(l.location.as_str())))
        .set_or_remove("leaked_at", at(leak.map(|l| l.reported_at)))
}

pub(super) fn read_care(item: &Item) -> Result<KeyCare, LedgerError> {
    let leak = match (opt_s(item, "leak_source")?, time_of(item, "leaked_at")?) {
        (Some(source), Some(reported_at)) => Some(Leak {
            source,
            location: opt_s(item, "leak_location")?.unwrap_or_default(),
            reported_at,
        }),
        _ => None,
    };
    Ok(KeyCare {
        superseded_by: opt_s(item, "superseded_by")?.map(AccessKeyId::new),
        retires_at: time_of(item, "retires_at")?,
        unused_warned_at: time_of(item, "unused_warned_at")?,
        leak,
    })
}

/// A rotation's attributes other than its key and creation time.
fn rotation_change(r: &Rotation, now: i64) -> Change {
    Change::default()
        .set("state", s(r.state.as_str()))
        .set(BY_STATE_PK, s(rotation_list(r.state)))
        .set_or_remove("keys_before", r.keys_before.as_ref().map(|k| s(joined(k))))
        .set_or_remove("token", r.token.as_deref().map(s))
        .set_or_remove(
            "new_access_key_id",
            r.new_access_key_id.as_ref().map(|k| s(k.as_str())),
        )
        .set_or_remove("new_fingerprint", r.new_fingerprint.as_deref().map(s))
        .set_or_remove("rotated_at", at(r.rotated_at))
        .set_or_remove("blocked", r.blocked.as_deref().map(s))
        .set("updated_at", n(now))
}

fn new_rotation(r: &Rotation, now: i64) -> Item {
    let mut item = rotation_key(&r.access_key_id);
    for (k, v) in [
        ("access_key_id", s(r.access_key_id.as_str())),
        ("iam_user", s(r.iam_user.as_str())),
        ("secret_name", s(r.secret_name.as_str())),
        ("repository", s(r.request.repository.key())),
        ("pr_number", n(r.request.pr.get() as i64)),
        ("path", s(r.request.path.as_str())),
        ("state", s(RotationState::Pending.as_str())),
        ("requested_by", s(r.requested_by.as_str())),
        ("reason", s(r.reason.as_str())),
        ("created_at", n(now)),
        ("updated_at", n(now)),
        (BY_STATE_PK, s(rotation_list(RotationState::Pending))),
        (BY_STATE_SK, s(format!("{now:015}#{}", r.access_key_id))),
    ] {
        item.insert(k.into(), v);
    }
    item
}

fn read_rotation(item: &Item) -> Result<Rotation, LedgerError> {
    Ok(Rotation {
        access_key_id: AccessKeyId::new(get_s(item, "access_key_id")?),
        iam_user: IamUser::new(get_s(item, "iam_user")?),
        secret_name: SecretName::new(get_s(item, "secret_name")?),
        request: read_request(item)?,
        state: RotationState::parse(get_s(item, "state")?)?,
        requested_by: get_s(item, "requested_by")?.to_string(),
        reason: get_s(item, "reason")?.to_string(),
        keys_before: opt_s(item, "keys_before")?.map(|k| split_keys(&k)),
        token: opt_s(item, "token")?,
        new_access_key_id: opt_s(item, "new_access_key_id")?.map(AccessKeyId::new),
        new_fingerprint: opt_s(item, "new_fingerprint")?,
        rotated_at: time_of(item, "rotated_at")?,
        blocked: opt_s(item, "blocked")?,
        updated_at_ms: get_n(item, "updated_at")?,
    })
}

impl DynamoLedger {
    pub(super) async fn claim_rotation_item(
        &self,
        r: Rotation,
    ) -> Result<RotationClaim, LedgerError> {
        let now = now_ms();
        let what = || format!("the rotation of {}", r.access_key_id);
        match self.create_or_get(new_rotation(&r, now), what).await? {
            None => Ok(RotationClaim::New(Rotation {
                state: RotationState::Pending,
                updated_at_ms: now,
                ..r
            })),
            Some(item) => Ok(RotationClaim::Existing(read_rotation(&item)?)),
        }
    }

    pub(super) async fn advance_rotation_item(
        &self,
        r: Rotation,
        from: RotationState,
    ) -> Result<(), LedgerError> {
        let key = rotation_key(&r.access_key_id);
        self.move_from(key, rotation_change(&r, now_ms()), from.as_str())
            .await?
            .map_err(|found| LedgerError::RotationMoved {
                access_key_id: r.access_key_id,
                expected: from,
                found,
            })
    }

    /// Rotations in `states`, oldest first.
    pub(super) async fn rotations_in(
        &self,
        states: &[RotationState],
    ) -> Result<Vec<Rotation>, LedgerError> {
        let mut found = Vec::new();
        for state in states {
            for item in self
                .query_all(&Query::list(rotation_list(*state), None))
                .await?
            {
                found.push((get_n(&item, "created_at")?, read_rotation(&item)?));
            }
        }
        found.sort_by(|a, b| (a.0, &a.1.access_key_id).cmp(&(b.0, &b.1.access_key_id)));
        Ok(found.into_iter().map(|(_, r)| r).collect())
    }
}
