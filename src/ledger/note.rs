//! What keygate remembers so it never repeats itself, keyed as the ledger stores it.

use crate::event::NoticeEvent;
use crate::ids::{CommitSha, PrNumber, RepoName};

/// What keygate remembers so it never repeats itself: its comment on a pull request, its
/// check run on a commit, and each notice it sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NoteKey {
    /// The ID of keygate's one comment on a pull request.
    Comment { repository: RepoName, pr: PrNumber },
    /// keygate's check run on a head commit: its ID and the status it was last given.
    CheckRun {
        repository: RepoName,
        head: CommitSha,
    },
    /// What a request asked approvers to approve when they were last told (its reason,
    /// expiry and readers), so a push that changes it tells them again.
    Requested {
        repository: RepoName,
        pr: PrNumber,
        path: String,
    },
    /// A notice sent once about one request of one pull request; `revision` narrows it
    /// (e.g. to a head commit) when the same event may rightly be sent again later.
    Notice {
        event: NoticeEvent,
        repository: RepoName,
        pr: PrNumber,
        path: String,
        revision: Option<String>,
    },
    /// The keys whose life is not over, by state, as the last expiry sweep counted them
    /// (see [`crate::metrics::key_census`]): `/metrics` reads this one note rather than
    /// every key ever issued.
    KeyCensus,
    /// A lifecycle comment (`expiring`, `expired`, `revoked`) posted once about one key on one
    /// pull request. Unlike keygate's one result comment it is a new comment each time, so the
    /// people on the pull request are notified.
    Said {
        event: NoticeEvent,
        repository: RepoName,
        pr: PrNumber,
        access_key_id: String,
    },
}

impl NoteKey {
    /// The key as stored. The spellings are those of earlier ledgers, which stay readable.
    pub fn stored(&self) -> String {
        match self {
            NoteKey::Comment { repository, pr } => format!("comment:{}#{pr}", repository.key()),
            NoteKey::CheckRun { repository, head } => {
                format!("check:{}:{head}", repository.key())
            }
            NoteKey::Requested {
                repository,
                pr,
                path,
            } => format!("asked:{}#{pr}:{path}", repository.key()),
            NoteKey::Notice {
                event,
                repository,
                pr,
                path,
                revision,
            } => {
                let mut key = format!("sns:{event}:{}#{pr}:{path}", repository.key());
                if let Some(r) = revision {
                    key.push('@');
                    key.push_str(r);
                }
                key
            }
            NoteKey::Said {
                event,
                repository,
                pr,
                access_key_id,
            } => format!("said:{event}:{}#{pr}:{access_key_id}", repository.key()),
            NoteKey::KeyCensus => "census:keys".into(),
        }
    }

    /// A short stable ID for what this key names: the same on every attempt and process.
    pub fn id(&self) -> String {
        use aws_lc_rs::digest;
        let d = digest::digest(&digest::SHA256, self.stored().as_bytes());
        hex::encode(&d.as_ref()[..12])
    }
}
