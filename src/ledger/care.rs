//! What the ledger keeps for keys that look after themselves (DESIGN §10): where a key came
//! from (when it was made, how often its request rotates, its secret's fingerprint), what its
//! life after issuing added (a successor, the unused warning, a leak), and each rotation as a
//! record of its own, moved only from the state it was read in, like an issuance's intent.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use super::{IntentKey, LedgerError};
use crate::ids::{AccessKeyId, IamUser, SecretName};

/// Where a key came from, written once with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOrigin {
    /// When it was made: rotation counts from here, and so does the idle time of a key
    /// never used. `None` in earlier ledgers.
    pub issued_at: Option<OffsetDateTime>,
    /// Its request's `rotate_every_days`; `None`: never rotated.
    pub rotate_every_days: Option<u32>,
    /// The SHA-256 (hex) of its secret access key: a leak report that shows only the secret
    /// finds its key by it, and the secret cannot be recovered from it.
    pub fingerprint: Option<String>,
}

/// Where a leak of a key was reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Who found it: `GitHub secret scanning` or `AWS Health`.
    pub source: String,
    /// Where it was found, as the report says (a repository and alert, a URL).
    pub location: String,
    /// When keygate heard of it.
    pub reported_at: OffsetDateTime,
}

/// What a key's life after issuing added to it (DESIGN §10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCare {
    /// The key that replaced it in its secret: its secret is no longer its own.
    pub superseded_by: Option<AccessKeyId>,
    /// For a replaced key: when its overlap ends and it is retired.
    pub retires_at: Option<OffsetDateTime>,
    /// When the unused warning went out.
    pub unused_warned_at: Option<OffsetDateTime>,
    /// A leak reported, and acted on.
    pub leak: Option<Leak>,
}

/// Where a rotation stands. Each step is written before the next AWS call, and a rotation
/// moves only from the state it was read in ([`super::Store::advance_rotation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationState {
    /// Asked for; no key created yet (or waiting for a free key slot).
    #[default]
    Pending,
    /// `CreateAccessKey` may have run: a key may exist that the secret does not hold.
    Creating,
    /// The new key is the secret's current version; people are being told.
    Stored,
    /// Done and announced.
    Done,
}

const ROTATION_STATES: [RotationState; 4] = [
    RotationState::Pending,
    RotationState::Creating,
    RotationState::Stored,
    RotationState::Done,
];

impl RotationState {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationState::Pending => "pending",
            RotationState::Creating => "creating",
            RotationState::Stored => "stored",
            RotationState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Result<RotationState, LedgerError> {
        ROTATION_STATES
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| LedgerError::Corrupt(format!("rotation state `{s}`")))
    }
}

impl fmt::Display for RotationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rotation in place of one key (DESIGN §10), keyed by the key it replaces: a key is
/// rotated at most once; its successor's rotation is a record of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key being replaced.
    pub access_key_id: AccessKeyId,
    pub iam_user: IamUser,
    /// The secret both keys are versions of.
    pub secret_name: SecretName,
    /// The request that issued the first key of the secret.
    pub request: IntentKey,
    pub state: RotationState,
    /// Who asked: `keygate` for a scheduled rotation, else the operator.
    pub requested_by: String,
    pub reason: String,
    /// The user's keys just before `CreateAccessKey`: after a crash, a key not among them is
    /// the one this rotation made.
    pub keys_before: Option<Vec<AccessKeyId>>,
    /// The `ClientRequestToken` of the new secret version: random, recorded before the call,
    /// new for each attempt to create a key.
    pub token: Option<String>,
    pub new_access_key_id: Option<AccessKeyId>,
    pub new_fingerprint: Option<String>,
    /// When the new key was made (the `Creating` step).
    pub rotated_at: Option<OffsetDateTime>,
    /// Why it waits (no free key slot), once said: so it is said once, not every pass.
    pub blocked: Option<String>,
    pub updated_at_ms: i64,
}

impl Rotation {
    /// A rotation of `access_key_id`, just asked for.
    pub fn new(
        access_key_id: AccessKeyId,
        iam_user: IamUser,
        secret_name: SecretName,
        request: IntentKey,
    ) -> Rotation {
        Rotation {
            access_key_id,
            iam_user,
            secret_name,
            request,
            state: RotationState::Pending,
            requested_by: "keygate".into(),
            reason: String::new(),
            keys_before: None,
            token: None,
            new_access_key_id: None,
            new_fingerprint: None,
            rotated_at: None,
            blocked: None,
            updated_at_ms: 0,
        }
    }
}

/// What claiming a rotation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationClaim {
    /// Nobody had asked to rotate this key: the caller owns the rotation, in `Pending`.
    New(Rotation),
    /// Asked for before, as it stands now.
    Existing(Rotation),
}

impl RotationClaim {
    pub fn into_rotation(self) -> Rotation {
        match self {
            RotationClaim::New(r) | RotationClaim::Existing(r) => r,
        }
    }
}
