//! Identifiers as types, made once at the edge: a pull-request number cannot be passed where
//! an installation ID is meant, and a repository name is compared without regard to case in
//! exactly one place (its constructor), as GitHub compares them.

use std::fmt;

use serde::{Serialize, Serializer};

/// `owner/name`. GitHub treats repository names without regard to case, so equality,
/// ordering and hashing use one canonical (lower-case) spelling; `Display` keeps the
/// spelling it was given, for people.
#[derive(Clone)]
pub struct RepoName {
    spelled: String,
    key: String,
}

impl RepoName {
    pub fn new(spelled: impl Into<String>) -> RepoName {
        let spelled = spelled.into();
        let key = spelled.to_ascii_lowercase();
        RepoName { spelled, key }
    }

    /// The canonical spelling: the one stored in the ledger and hashed into tokens.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The spelling it was given (from the configuration or GitHub).
    pub fn as_str(&self) -> &str {
        &self.spelled
    }
}

impl PartialEq for RepoName {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for RepoName {}
impl std::hash::Hash for RepoName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}
impl PartialOrd for RepoName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RepoName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}
impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spelled)
    }
}
impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoName({:?})", self.spelled)
    }
}
impl Serialize for RepoName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.spelled)
    }
}

/// Declares a newtype over a string whose equality is exact.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> $name {
                $name(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_owned())
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

/// Declares a newtype over a number.
macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub fn get(self) -> u64 {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

string_id!(
    /// A branch name. Git refs are case-sensitive: `Main` is not `main` (DESIGN §2.1).
    BranchName
);
string_id!(
    /// A commit SHA as GitHub gives it (40 hex digits).
    CommitSha
);
string_id!(
    /// GitHub's `X-GitHub-Delivery` GUID: the same for a redelivery of one delivery.
    DeliveryId
);
string_id!(
    /// An AWS account keygate issues keys in, by the alias `[accounts.<alias>]` gives it
    /// (DESIGN §9): the folder of its requests, the `keygate:account` tag, the `account`
    /// attribute of notices. Where an `Option<AccountAlias>` is `None`, keygate acts in the
    /// account of its own credentials (no `[accounts]`, or a key issued before them).
    AccountAlias
);
string_id!(
    /// An access key ID as IAM gives it (`AKIA…`): public, not a secret, but its own kind of
    /// name, never an IAM user's or a secret's.
    AccessKeyId
);
string_id!(
    /// A Secrets Manager secret's name, as keygate renders it from `aws.secret_name` (the
    /// secret that holds a key), never a key's or a user's.
    SecretName
);
string_id!(
    /// An IAM user's name as a request names it (its folder's) or IAM spells it: whose keys
    /// keygate makes, never a key's ID or a secret's name.
    IamUser
);
string_id!(
    /// A request file's path in the requests repository (`requests/<user>/<name>.toml`, or
    /// with `[accounts]` `requests/<account>/<user>/<name>.toml`), as GitHub lists it: what
    /// an intent and a request's life are keyed by.
    RequestPath
);
number_id!(
    /// A pull request's number within its repository.
    PrNumber
);
number_id!(
    /// The App installation a delivery came through; its token reads the repository.
    InstallationId
);

impl CommitSha {
    /// The first seven characters, as GitHub shows a commit to people.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(7)]
    }
}

/// Identifiers joined by `separator`, as `[String]::join` joins strings.
pub fn joined<T: AsRef<str>>(ids: &[T], separator: &str) -> String {
    ids.iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(separator)
}

/// The most characters an account alias may have.
pub const ACCOUNT_ALIAS_MAX_CHARS: usize = 32;

impl AccountAlias {
    /// An alias as an operator writes it: 1–32 of lower-case letters, digits, `-` and `_`,
    /// starting with a letter or digit. It names a folder, a tag value, a notice attribute
    /// and part of ledger keys, where anything else could be confused or refused. Err says
    /// why, in a phrase.
    pub fn parse(s: &str) -> Result<AccountAlias, String> {
        let length = s.chars().count();
        if length == 0 || length > ACCOUNT_ALIAS_MAX_CHARS {
            return Err(format!(
                "an account alias is 1 to {ACCOUNT_ALIAS_MAX_CHARS} characters, `{}` has {length}",
                s.escape_default()
            ));
        }
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if let Some(c) = s.chars().find(|c| !allowed(*c)) {
            return Err(format!(
                "`{}` holds `{}`; an account alias may only hold lower-case letters a-z, digits, \
                 `-` and `_`",
                s.escape_default(),
                c.escape_default()
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(format!("`{s}` must start with a letter or a digit"));
        }
        Ok(AccountAlias::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_one_name_whatever_their_case() {
        let a = RepoName::new("Acme/Access-Requests");
        let b = RepoName::new("acme/access-requests");
        assert_eq!(a, b);
        assert_eq!(a.key(), "acme/access-requests");
        assert_eq!(
            a.to_string(),
            "Acme/Access-Requests",
            "people see the spelling"
        );
        let set: std::collections::HashSet<_> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn branch_names_are_exact() {
        assert_ne!(BranchName::new("Main"), BranchName::new("main"));
    }

    #[test]
    fn an_account_alias_is_a_plain_lower_case_name() {
        for good in ["prod", "dev-1", "a", "team_x", "0prod"] {
            assert_eq!(AccountAlias::parse(good).unwrap().as_str(), good);
        }
        for (bad, says) in [
            ("", "1 to 32"),
            ("Prod", "lower-case"),
            ("prod/x", "`/`"),
            ("-prod", "start with"),
            ("a#b", "`#`"),
            (&"x".repeat(33), "has 33"),
        ] {
            let why = AccountAlias::parse(bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn a_short_sha_is_seven_characters() {
        let sha = CommitSha::new("0123456789abcdef0123456789abcdef01234567");
        assert_eq!(sha.short(), "0123456");
        assert_eq!(CommitSha::new("abc").short(), "abc");
    }
}
