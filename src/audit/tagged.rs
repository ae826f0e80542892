//! The audit without a ledger (DESIGN §5): every secret keygate creates carries tags that
//! name its request, pull request, requester, approvers, expiry and access key, so a clone
//! with read-only AWS access can rebuild who asked for each key and who approved it. Pure:
//! the tags in, plain data out.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{RequestFile, match_by_path};
use crate::aws::{ACCESS_KEY_TAG, ACCOUNT_TAG, EXPIRES_TAG};
use crate::ids::{AccessKeyId, AccountAlias, IamUser, SecretName};

/// The repository (`owner/name`) whose request issued the key.
pub const REPOSITORY_TAG: &str = "keygate:repository";
/// The pull request number.
pub const PR_TAG: &str = "keygate:pr";
/// The request file's path.
pub const REQUEST_TAG: &str = "keygate:request";
/// The pull request's author.
pub const REQUESTER_TAG: &str = "keygate:requester";
/// The approvers' logins, space-separated.
pub const APPROVERS_TAG: &str = "keygate:approvers";

/// What one keygate secret's tags say of the key it holds. A tag that is missing or does not
/// parse is `None`: unknown, never a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedSecret {
    pub name: SecretName,
    pub arn: String,
    /// When the secret was created: the request file it belongs to was added before.
    pub created: Option<OffsetDateTime>,
    pub access_key_id: AccessKeyId,
    pub repository: Option<String>,
    pub path: Option<String>,
    pub pr: Option<u64>,
    pub requester: Option<String>,
    pub approvers: Option<Vec<String>>,
    pub expires_at: Option<OffsetDateTime>,
    /// The account the secret, and its key, live in (DESIGN §9): its `keygate:account` tag,
    /// and where it was found once listed; `None`: keygate's own account.
    pub account: Option<AccountAlias>,
}

impl TaggedSecret {
    /// The secret's tags read as keygate wrote them; `None` for a secret without a
    /// `keygate:access-key-id` tag (not a key keygate issued, or issued before the tag was).
    pub fn from_tags(
        name: &SecretName,
        arn: &str,
        created: Option<OffsetDateTime>,
        tags: &BTreeMap<String, String>,
    ) -> Option<TaggedSecret> {
        let text = |k: &str| {
            tags.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let access_key_id = AccessKeyId::new(text(ACCESS_KEY_TAG)?);
        Some(TaggedSecret {
            name: name.clone(),
            arn: arn.to_string(),
            created,
            access_key_id,
            repository: text(REPOSITORY_TAG),
            path: text(REQUEST_TAG),
            pr: text(PR_TAG).and_then(|p| p.parse().ok()),
            requester: text(REQUESTER_TAG),
            // Present but empty: the request was approved by nobody keygate counted.
            approvers: tags
                .get(APPROVERS_TAG)
                .map(|a| a.split_whitespace().map(str::to_string).collect()),
            expires_at: text(EXPIRES_TAG).and_then(|e| OffsetDateTime::parse(&e, &Rfc3339).ok()),
            account: text(ACCOUNT_TAG).map(AccountAlias::new),
        })
    }

    /// Whether the key was issued for `repository`: a secret tagged for another repository
    /// (another keygate in the same account) is not this audit's. One without the tag cannot
    /// be ruled out, so it is kept.
    pub fn belongs_to(&self, repository: &str) -> bool {
        self.repository
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case(repository))
    }

    /// [`Self::belongs_to`] for an audit whose repository may not be configured: with none
    /// configured, no secret can be ruled out.
    pub fn of_repository(&self, repository: Option<&str>) -> bool {
        repository.is_none_or(|r| self.belongs_to(r))
    }

    /// The IAM user holding its key: the folder of the request path its tag names.
    pub fn iam_user(&self) -> Option<IamUser> {
        self.path.as_deref().and_then(crate::life::iam_user_of)
    }
}

/// Which secret each request file issued: the latest addition of the secret's request path
/// made before the secret was created, as [`super::match_intents`] does for the ledger.
/// Returns, for each file, the index of its secret; and the secrets no file explains.
pub fn match_tagged(
    files: &[RequestFile],
    secrets: &[TaggedSecret],
) -> (Vec<Option<usize>>, Vec<usize>) {
    match_by_path(
        files,
        secrets
            .iter()
            .map(|s| (s.path.as_deref().unwrap_or_default(), s.created)),
    )
}
