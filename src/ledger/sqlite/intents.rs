//! Intents as the SQLite ledger stores them: one row per request of a pull request.

use time::OffsetDateTime;

use crate::ids::{AccessKeyId, AccountAlias, InstallationId, PrNumber, RepoName};
use crate::ledger::{Intent, IntentState, KeyOrigin, LedgerError};

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

pub(super) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn intent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IntentRow> {
    Ok(IntentRow {
        state: r.get("state")?,
        intent: Intent {
            repository: RepoName::new(r.get::<_, String>("repository")?),
            pr: PrNumber(r.get::<_, i64>("pr_number")? as u64),
            path: r.get("path")?,
            state: IntentState::Pending,
            iam_user: r.get("iam_user")?,
            requester: r.get("requester")?,
            approvers: split_list(&r.get::<_, String>("approvers")?),
            installation: InstallationId(r.get::<_, i64>("installation_id")? as u64),
            keys_before: r
                .get::<_, Option<String>>("keys_before")?
                .map(|k| split_list(&k).into_iter().map(AccessKeyId::new).collect()),
            access_key_id: r.get("access_key_id")?,
            secret_name: r.get("secret_name")?,
            secret_arn: r.get("secret_arn")?,
            expires_at: crate::ledger::stored_time(r.get("expires_at")?),
            outcome: r.get("outcome")?,
            merged_at: seconds(r.get("merged_at")?),
            secret_token: r.get("secret_token")?,
            origin: KeyOrigin {
                issued_at: seconds(r.get("issued_at")?),
                rotate_every_days: r.get("rotate_every_days")?,
                fingerprint: r.get("key_fingerprint")?,
            },
            account: r
                .get::<_, Option<String>>("account")?
                .map(AccountAlias::new),
            updated_at_ms: r.get("updated_at")?,
        },
    })
}

/// A time stored as seconds since the epoch.
pub(super) fn seconds(v: Option<i64>) -> Option<OffsetDateTime> {
    v.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}
