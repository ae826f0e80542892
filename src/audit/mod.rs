//! `keygate audit` (DESIGN §5) as pure functions over plain data: the history of the
//! requests folder (from `git log`), the ledger's intents and key lives, and what AWS says of
//! each key, joined into one row per request file; then printed as a table, JSON or CSV.
//! Without a ledger, the tags of keygate's secrets ([`TaggedSecret`]) and the pull requests
//! on GitHub ([`PullMerge`]) stand in for it. What no source says is `unknown`: the audit
//! never guesses.

mod tagged;
#[cfg(test)]
mod tests;

pub use tagged::{TaggedSecret, match_tagged};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::ids::{AccessKeyId, IamUser, SecretName};
use crate::ledger::{Intent, IntentState, Rotation, RotationState};
use crate::life::Stage;

/// The `git log` format the parser reads: a record separator, then the commit, its author
/// and its date, unit-separated; `--name-status` lines follow.
pub const GIT_LOG_FORMAT: &str = "--format=%x1e%H%x1f%an%x1f%aI";

/// What one commit did to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Deleted,
}

/// One `A` or `D` line of `git log --name-status`, with its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitChange {
    pub commit: String,
    pub author: String,
    pub date: Option<OffsetDateTime>,
    pub change: Change,
    pub path: String,
}

/// Reads `git log -m --first-parent --diff-filter=AD --name-status` output written with
/// [`GIT_LOG_FORMAT`]; returns the changes oldest first. Lines it does not understand are
/// skipped (other statuses, git's own notes).
pub fn parse_git_log(text: &str) -> Vec<GitChange> {
    let mut out = Vec::new();
    for record in text.split('\u{1e}').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let Some(head) = lines.next() else { continue };
        let mut fields = head.split('\u{1f}');
        let (Some(commit), Some(author), Some(date)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let date = OffsetDateTime::parse(date.trim(), &Rfc3339).ok();
        let mut changes: Vec<GitChange> = lines
            .filter_map(|l| {
                let (status, path) = l.split_once('\t')?;
                let change = match status.trim() {
                    "A" => Change::Added,
                    "D" => Change::Deleted,
                    _ => return None,
                };
                Some(GitChange {
                    commit: commit.trim().to_string(),
                    author: author.to_string(),
                    date,
                    change,
                    path: path.to_string(),
                })
            })
            .collect();
        // git lists newest first; within a commit, order does not matter.
        changes.reverse();
        out.extend(changes);
    }
    out.reverse();
    out
}

/// One request file's time in the branch: the commit that added it, and the one that
/// deleted it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFile {
    pub path: String,
    pub added: GitChange,
    pub deleted: Option<GitChange>,
}

/// Pairs each addition with the next deletion of the same path; oldest first.
pub fn request_files(changes: &[GitChange]) -> Vec<RequestFile> {
    let mut out: Vec<RequestFile> = Vec::new();
    for c in changes {
        match c.change {
            Change::Added => out.push(RequestFile {
                path: c.path.clone(),
                added: c.clone(),
                deleted: None,
            }),
            Change::Deleted => {
                if let Some(open) = out
                    .iter_mut()
                    .rev()
                    .find(|r| r.path == c.path && r.deleted.is_none())
                {
                    open.deleted = Some(c.clone());
                }
            }
        }
    }
    out
}

/// What AWS says of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsKey {
    Active,
    Inactive,
    /// The user does not hold it (or the user is gone).
    Absent,
    /// AWS could not be asked.
    Unknown,
}

/// What AWS and the key's secret say of one key keygate issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub aws: AwsKey,
    /// The secret's `keygate:expires-at` tag, when the secret could be read.
    pub tag_expiry: Option<OffsetDateTime>,
    /// `Some(None)`: AWS says never used; `None`: unknown.
    pub last_used: Option<Option<OffsetDateTime>>,
}

impl KeyFacts {
    pub const UNKNOWN: KeyFacts = KeyFacts {
        aws: AwsKey::Unknown,
        tag_expiry: None,
        last_used: None,
    };
}

/// A key's state as the audit prints it (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum State {
    #[serde(rename = "active")]
    Active,
    #[serde(rename = "expiring")]
    Expiring,
    #[serde(rename = "inactive")]
    Inactive,
    #[serde(rename = "deleted")]
    Deleted,
    #[serde(rename = "revoked")]
    Revoked,
    #[serde(rename = "refused")]
    Refused,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "never issued")]
    NeverIssued,
    #[serde(rename = "unknown")]
    Unknown,
    /// A key with keygate's tag, active, whose request file is nowhere in the history.
    #[serde(rename = "active, no request file")]
    ActiveNoRequestFile,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Expiring => "expiring",
            State::Inactive => "inactive",
            State::Deleted => "deleted",
            State::Revoked => "revoked",
            State::Refused => "refused",
            State::Failed => "failed",
            State::NeverIssued => "never issued",
            State::Unknown => "unknown",
            State::ActiveNoRequestFile => "active, no request file",
        }
    }
}

/// The effective expiry: the earlier of the ledger's and the secret tag's (editing the tag
/// can only shorten a key's life).
pub fn effective_expiry(
    ledger: Option<OffsetDateTime>,
    tag: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    match (ledger, tag) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A request's state from its intent (`None`: the ledger has none; `ledger_read` false: no
/// ledger was read, so nothing is known), its key's life stage, and AWS.
pub fn state_of(
    ledger_read: bool,
    intent: Option<&Intent>,
    stage: Option<Stage>,
    key: &KeyFacts,
    expiry: Option<OffsetDateTime>,
    now: OffsetDateTime,
    warn_days: u32,
) -> State {
    if !ledger_read {
        return State::Unknown;
    }
    let Some(intent) = intent else {
        return State::NeverIssued;
    };
    match intent.state {
        IntentState::NotIssued => {
            return if intent
                .outcome
                .as_deref()
                .is_some_and(|o| o.starts_with("refused"))
            {
                State::Refused
            } else {
                State::Failed
            };
        }
        // Mid-issuance: the next start of keygate finishes or rolls it back.
        IntentState::Pending | IntentState::Creating => return State::Unknown,
        IntentState::Stored | IntentState::Issued => {}
    }
    key_state(key, stage, expiry, now, warn_days)
}

/// An issued key's state from its life stage (when a ledger knows it) and AWS: all the
/// no-ledger audit has for a key found through its secret's tags.
pub fn key_state(
    key: &KeyFacts,
    stage: Option<Stage>,
    expiry: Option<OffsetDateTime>,
    now: OffsetDateTime,
    warn_days: u32,
) -> State {
    if stage == Some(Stage::Revoked) {
        return State::Revoked;
    }
    match key.aws {
        AwsKey::Absent => State::Deleted,
        AwsKey::Inactive => State::Inactive,
        AwsKey::Unknown => match stage {
            Some(Stage::Deleted) => State::Deleted,
            _ => State::Unknown,
        },
        AwsKey::Active => match expiry {
            Some(e) if now + Duration::days(i64::from(warn_days)) >= e && now < e => {
                State::Expiring
            }
            _ => State::Active,
        },
    }
}

/// One line of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub path: String,
    pub iam_user: IamUser,
    /// When the request reached the branch (the commit that added it).
    pub merged_at: Option<String>,
    pub merge_commit: Option<String>,
    pub pr: Option<u64>,
    pub requested_by: Option<String>,
    pub approved_by: Option<Vec<String>>,
    pub access_key_id: Option<AccessKeyId>,
    pub secret: Option<SecretName>,
    /// The secret's ARN, when it was found through its tags.
    pub secret_arn: Option<String>,
    pub expires_at: Option<String>,
    pub state: State,
    /// `never`, a time, or unknown (`None`).
    pub last_used: Option<String>,
    /// The commit that deleted the request file, if one did.
    pub deleted_in: Option<String>,
    /// A key keygate issued that is past its expiry yet active: drift an auditor must see.
    pub drift: bool,
    /// Keys the request's secret held before rotations in place replaced them, oldest first
    /// (DESIGN §10); `access_key_id` is the one it holds now.
    pub replaced_keys: Vec<AccessKeyId>,
    /// A leak reported of one of its keys: who found it and where (DESIGN §10).
    pub leaked: Option<String>,
}

/// Everything known of one request file, before it is a row.
#[derive(Debug, Clone)]
pub struct Joined<'a> {
    pub file: Option<&'a RequestFile>,
    pub path: String,
    pub intent: Option<&'a Intent>,
    pub stage: Option<Stage>,
    pub key: KeyFacts,
    /// The secret whose tags name this request (the no-ledger audit).
    pub tagged: Option<&'a TaggedSecret>,
    /// What GitHub says of the pull request's merge; `None` when it was not asked or could
    /// not answer.
    pub pull: Option<PullMerge>,
    /// Its keys after issuing: rotations and leaks (DESIGN §10).
    pub lineage: Lineage,
}

/// What a request's keys went through after issuing, as the ledger records it (DESIGN §10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The key the request's secret holds now, when rotations replaced the one issued.
    pub current_key: Option<AccessKeyId>,
    /// The keys rotations replaced, oldest first.
    pub replaced_keys: Vec<AccessKeyId>,
    /// A leak the ledger recorded of one of the request's keys: who found it and where.
    pub leaked: Option<String>,
}

/// A merged pull request as the GitHub API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullMerge {
    pub merge_commit: Option<String>,
    pub merged_at: Option<OffsetDateTime>,
}

fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}

/// The row for one request file. Without a ledger (`ledger_read` false), the facts come from
/// the secret's tags ([`Joined::tagged`]) and the state from AWS alone; the merge commit and
/// time come from GitHub when it answered, else from the commit that added the file.
pub fn row(j: &Joined<'_>, ledger_read: bool, now: OffsetDateTime, warn_days: u32) -> Row {
    let ledger_expiry = j.intent.and_then(|i| i.expires_at);
    let tag_expiry = j.key.tag_expiry.or(j.tagged.and_then(|t| t.expires_at));
    let expiry = effective_expiry(ledger_expiry, tag_expiry);
    // Only without a ledger do the tags decide: with one, a key it does not know stays as
    // the ledger says.
    let tagged = j.tagged.filter(|_| !ledger_read);
    let state = match tagged {
        Some(_) => key_state(&j.key, None, expiry, now, warn_days),
        None => state_of(
            ledger_read,
            j.intent,
            j.stage,
            &j.key,
            expiry,
            now,
            warn_days,
        ),
    };
    let issued = tagged.is_some()
        || j.intent
            .is_some_and(|i| matches!(i.state, IntentState::Stored | IntentState::Issued));
    let drift = issued && j.key.aws == AwsKey::Active && expiry.is_some_and(|e| e <= now);
    let iam_user = j
        .intent
        .map(|i| i.iam_user.clone())
        .filter(|u| !u.as_str().is_empty())
        .or_else(|| crate::life::iam_user_of(&j.path))
        .unwrap_or_else(|| IamUser::new(""));
    let pull = j.pull.as_ref();
    Row {
        path: j.path.clone(),
        iam_user,
        merged_at: pull
            .and_then(|p| p.merged_at)
            .or(j.file.and_then(|f| f.added.date))
            .and_then(rfc3339),
        merge_commit: pull
            .and_then(|p| p.merge_commit.clone())
            .or(j.file.map(|f| f.added.commit.clone())),
        pr: j.intent.map(|i| i.pr.get()).or(tagged.and_then(|t| t.pr)),
        requested_by: j
            .intent
            .map(|i| i.requester.clone())
            .filter(|r| !r.is_empty())
            .or(tagged.and_then(|t| t.requester.clone())),
        approved_by: j
            .intent
            .map(|i| i.approvers.clone())
            .or(tagged.and_then(|t| t.approvers.clone())),
        access_key_id: j
            .lineage
            .current_key
            .clone()
            .or_else(|| j.intent.and_then(|i| i.access_key_id.clone()))
            .or(tagged.map(|t| t.access_key_id.clone())),
        secret: j
            .intent
            .and_then(|i| i.secret_name.clone())
            .or(tagged.map(|t| t.name.clone())),
        secret_arn: tagged.map(|t| t.arn.clone()).filter(|a| !a.is_empty()),
        expires_at: expiry.and_then(rfc3339),
        state,
        last_used: j
            .key
            .last_used
            .map(|u| u.and_then(rfc3339).unwrap_or_else(|| "never".to_string())),
        deleted_in: j
            .file
            .and_then(|f| f.deleted.as_ref())
            .map(|d| d.commit.clone()),
        drift,
        replaced_keys: j.lineage.replaced_keys.clone(),
        leaked: j.lineage.leaked.clone(),
    }
}

/// The drift row for a secret keygate tagged whose key AWS says is active while no request
/// file in the history (`files`) ever had the path its `keygate:request` tag names (DESIGN
/// §5: "an active key with a `keygate:` tag but no request file"). `None` when the key is
/// not known to be active (never guessed), when the path is in the history, or when the
/// secret belongs to another repository's keygate.
pub fn no_request_file(
    secret: &TaggedSecret,
    key: &KeyFacts,
    files: &[RequestFile],
    repository: Option<&str>,
) -> Option<Row> {
    if key.aws != AwsKey::Active || !secret.of_repository(repository) {
        return None;
    }
    if let Some(p) = &secret.path
        && files.iter().any(|f| &f.path == p)
    {
        return None;
    }
    Some(Row {
        path: secret.path.clone().unwrap_or_else(|| "unknown".into()),
        iam_user: secret.iam_user().unwrap_or_else(|| IamUser::new("")),
        merged_at: None,
        merge_commit: None,
        pr: secret.pr,
        requested_by: secret.requester.clone(),
        approved_by: secret.approvers.clone(),
        access_key_id: Some(secret.access_key_id.clone()),
        secret: Some(secret.name.clone()),
        secret_arn: Some(secret.arn.clone()).filter(|a| !a.is_empty()),
        expires_at: key.tag_expiry.or(secret.expires_at).and_then(rfc3339),
        state: State::ActiveNoRequestFile,
        last_used: key
            .last_used
            .map(|u| u.and_then(rfc3339).unwrap_or_else(|| "never".to_string())),
        deleted_in: None,
        drift: true,
        replaced_keys: Vec::new(),
        leaked: None,
    })
}

/// Which intent each request file issued from: an intent is written at merge, so it belongs
/// to the latest addition of its path made before the intent was last written. Returns, for
/// each file, the index of its intent; and the intents no file in the history explains.
pub fn match_intents(
    files: &[RequestFile],
    intents: &[Intent],
) -> (Vec<Option<usize>>, Vec<usize>) {
    match_by_path(
        files,
        intents.iter().map(|i| {
            (
                i.path.as_str(),
                OffsetDateTime::from_unix_timestamp(i.updated_at_ms.div_euclid(1000)).ok(),
            )
        }),
    )
}

/// The matching of [`match_intents`] over plain `(path, written)` pairs: each pair belongs to
/// the latest addition of its path made before it was written (a later pair for the same
/// addition replaces an earlier one). Returns each file's pair, and the pairs no file explains.
fn match_by_path<'p>(
    files: &[RequestFile],
    records: impl Iterator<Item = (&'p str, Option<OffsetDateTime>)>,
) -> (Vec<Option<usize>>, Vec<usize>) {
    let mut of_file = vec![None; files.len()];
    let mut unmatched = Vec::new();
    for (i, (path, written)) in records.enumerate() {
        let file = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.path == path)
            .filter(|(_, f)| match (f.added.date, written) {
                (Some(added), Some(w)) => added <= w + Duration::seconds(1),
                _ => false,
            })
            .map(|(n, _)| n)
            .next_back();
        match file {
            Some(n) => of_file[n] = Some(i),
            None => unmatched.push(i),
        }
    }
    (of_file, unmatched)
}

/// The key a request's secret holds now, following its done rotations from the key first
/// issued, and the keys they replaced, oldest first (DESIGN §10).
pub fn follow_rotations(
    first: &AccessKeyId,
    rotations: &[Rotation],
) -> (AccessKeyId, Vec<AccessKeyId>) {
    let mut current = first.clone();
    let mut replaced = Vec::new();
    while let Some(next) = rotations
        .iter()
        .filter(|r| r.state == RotationState::Done && r.access_key_id == current)
        .find_map(|r| r.new_access_key_id.clone())
    {
        if replaced.contains(&next) || &next == first {
            break; // a loop the ledger should never hold: stop rather than spin
        }
        replaced.push(std::mem::replace(&mut current, next));
    }
    (current, replaced)
}

/// The audit's filters (`--key`, `--user`, `--since`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub key: Option<AccessKeyId>,
    pub user: Option<String>,
    pub since: Option<OffsetDateTime>,
}

impl Filter {
    /// `--user` matches the IAM user or the requester; `--since` keeps rows merged at or
    /// after it (a row whose merge time is unknown is kept: it cannot be ruled out).
    pub fn keeps(&self, r: &Row) -> bool {
        let key = self.key.as_ref().is_none_or(|k| {
            r.access_key_id.as_ref() == Some(k) || r.replaced_keys.iter().any(|x| x == k)
        });
        let user = self.user.as_deref().is_none_or(|u| {
            r.iam_user.as_str().eq_ignore_ascii_case(u)
                || r.requested_by
                    .as_deref()
                    .is_some_and(|q| q.eq_ignore_ascii_case(u))
        });
        let since = self.since.is_none_or(|s| {
            r.merged_at
                .as_deref()
                .and_then(|m| OffsetDateTime::parse(m, &Rfc3339).ok())
                .is_none_or(|m| m >= s)
        });
        key && user && since
    }
}

const COLUMNS: [&str; 14] = [
    "path",
    "iam_user",
    "pr",
    "merge_commit",
    "merged_at",
    "requested_by",
    "approved_by",
    "access_key_id",
    "secret",
    "expires_at",
    "state",
    "last_used",
    "rotated",
    "leaked",
];

fn cells(r: &Row) -> [String; 14] {
    let u = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    [
        r.path.clone(),
        r.iam_user.to_string(),
        r.pr.map_or_else(|| "unknown".into(), |n| format!("#{n}")),
        r.merge_commit
            .as_deref()
            .map_or_else(|| "unknown".into(), |c| c[..c.len().min(12)].to_string()),
        u(&r.merged_at),
        u(&r.requested_by),
        r.approved_by.as_ref().map_or_else(
            || "unknown".into(),
            |a| {
                if a.is_empty() {
                    "none".into()
                } else {
                    a.join(" ")
                }
            },
        ),
        r.access_key_id
            .as_ref()
            .map_or_else(|| "-".into(), AccessKeyId::to_string),
        r.secret
            .as_ref()
            .map_or_else(|| "-".into(), SecretName::to_string),
        u(&r.expires_at),
        if r.drift && r.state != State::ActiveNoRequestFile {
            format!("{} (PAST EXPIRY)", r.state.as_str())
        } else {
            r.state.as_str().to_string()
        },
        u(&r.last_used),
        match r.replaced_keys.len() {
            0 => "-".into(),
            n => format!("{n}x, was {}", crate::ids::joined(&r.replaced_keys, " ")),
        },
        r.leaked.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// An aligned text table, one row per request file.
pub fn table(rows: &[Row]) -> String {
    let body: Vec<[String; 14]> = rows.iter().map(cells).collect();
    let mut widths = COLUMNS.map(str::len);
    for r in &body {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&COLUMNS.map(str::to_string));
    for r in &body {
        out.push_str(&line(r));
    }
    out
}

/// CSV (RFC 4180): a header, then one row per request file.
pub fn csv(rows: &[Row]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = COLUMNS.join(",");
    out.push_str(",drift\n");
    for r in rows {
        let mut c = cells(r);
        c[10] = r.state.as_str().to_string();
        let line: Vec<String> = c.iter().map(|s| field(s)).collect();
        out.push_str(&line.join(","));
        out.push_str(if r.drift { ",true\n" } else { ",false\n" });
    }
    out
}

/// JSON: an array of rows; what is unknown is `null`.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}
