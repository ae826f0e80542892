//! Intents as the SQLite ledger stores them: one row per request of a pull request.

use crate::ids::{AccountAlias, InstallationId, PrNumber, RepoName};
use crate::ledger::{Intent, IntentKey, IntentState, KeyOrigin, LedgerError, seconds, split_list};

/// An intent as stored, before its state is checked.
pub(super) struct IntentRow {
    intent: Intent,
    state: String,
}

impl IntentRow {
    pub(super) fn into_intent(self) -> Result<Intent, LedgerError> {
        Ok(Intent {
            state: IntentState::parse(&self.state)?,
            ..self.intent
        })
    }
}

/// The request an intent, key life or rotation row is about.
pub(super) fn request_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<IntentKey> {
    Ok(IntentKey {
        repository: RepoName::new(r.get::<_, String>("repository")?),
        pr: PrNumber(r.get::<_, i64>("pr_number")? as u64),
        path: r.get("path")?,
    })
}

/// A key's origin, from an intent's row or a key life's.
pub(super) fn origin_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyOrigin> {
    Ok(KeyOrigin {
        issued_at: seconds(r.get("issued_at")?),
        rotate_every_days: r.get("rotate_every_days")?,
        fingerprint: r.get("key_fingerprint")?,
    })
}

pub(super) fn intent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IntentRow> {
    let IntentKey {
        repository,
        pr,
        path,
    } = request_of(r)?;
    Ok(IntentRow {
        state: r.get("state")?,
        intent: Intent {
            repository,
            pr,
            path,
            state: IntentState::Pending,
            iam_user: r.get("iam_user")?,
            requester: r.get("requester")?,
            approvers: split_list(&r.get::<_, String>("approvers")?),
            installation: InstallationId(r.get::<_, i64>("installation_id")? as u64),
            keys_before: r
                .get::<_, Option<String>>("keys_before")?
                .map(|k| crate::ledger::split_keys(&k)),
            access_key_id: r.get("access_key_id")?,
            secret_name: r.get("secret_name")?,
            secret_arn: r.get("secret_arn")?,
            expires_at: crate::ledger::stored_time(r.get("expires_at")?),
            outcome: r.get("outcome")?,
            merged_at: seconds(r.get("merged_at")?),
            secret_token: r.get("secret_token")?,
            origin: origin_of(r)?,
            account: r
                .get::<_, Option<String>>("account")?
                .map(AccountAlias::new),
            updated_at_ms: r.get("updated_at")?,
        },
    })
}
