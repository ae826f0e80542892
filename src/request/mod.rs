//! Request files: `<requests_dir>/<iam_user>/<name>.toml`, or with `[accounts]`
//! `<requests_dir>/<account>/<iam_user>/<name>.toml` (DESIGN §1, §9).
//!
//! Two passes, as triagebot does it: a strict TOML parse into spanned values, then the meaning
//! of each field. Every problem a person must fix becomes a [`Diagnostic`] naming the file, the
//! line and column where there is one, and what to do. Pure code: no I/O, and no panic whatever
//! the bytes.
//!
//! - [`rules`]: the configuration that judges a request, and its globs compiled once;
//! - [`path`]: where request files live and what their names may be;
//! - [`parse`]: bytes to text to spanned TOML, and the shape of the fields;
//! - [`fields`]: what each field means (`iam_user`, `reason`, `expires_in_days`);
//! - [`readers`]: the optional `readers` ARNs;
//! - [`secret_name`]: the secret-name template a request must render validly;
//! - [`chars`]: which characters are allowed, invisible or visible, and how the user's input is
//!   quoted back.

use std::fmt;

mod chars;
mod fields;
mod parse;
mod path;
mod readers;
mod rules;
mod secret_name;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

pub use fields::{check_iam_user_name, check_user_policy};
pub use parse::parse_request;
pub use path::{account_of, check_requests_dir, classify};
pub use readers::check_reader_arn;
pub use rules::{CompiledRules, RequestRules};
pub use secret_name::{SecretNameInputs, render_secret_name};

/// Largest request file accepted, in bytes (exactly this size is accepted).
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// The fields a request file may hold, in the order the documentation lists them. `account`
/// only where keygate serves several accounts (`[accounts]`).
pub const FIELDS: [&str; 6] = [
    "iam_user",
    "reason",
    "expires_in_days",
    "readers",
    "rotate_every_days",
    "account",
];

/// Bounds of `reason`: at least this many visible characters (not spaces, not control or
/// format characters), so a reason cannot be padded out with text nobody can see...
pub const REASON_MIN_CHARS: usize = 10;
/// ...and at most this many characters (not bytes) after trimming.
pub const REASON_MAX_CHARS: usize = 1000;

/// IAM's limit on user-name length (role names have the same limit).
pub const IAM_USER_MAX_CHARS: usize = 64;

/// Secrets Manager's limit on secret-name length.
pub const SECRET_NAME_MAX_CHARS: usize = 512;

/// Most `readers` one request may name: each becomes a principal in the secret's resource
/// policy, and a long list is harder to review than a short one.
pub const MAX_READERS: usize = 10;

/// The sample values used to check that a request's secret name would render validly.
pub const SAMPLE_TIMESTAMP: &str = "20260101000000";
pub const SAMPLE_PR: u64 = 1;

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Repository-relative, e.g. "requests/alice/ci.toml".
    pub path: crate::ids::RequestPath,
    pub iam_user: crate::ids::IamUser,
    /// Trimmed.
    pub reason: String,
    /// The default applied when the file does not say.
    pub expires_in_days: u32,
    /// IAM user or role ARNs allowed to read the secret, in file order; empty when the file
    /// names none.
    pub readers: Vec<String>,
    /// Rotation in place every this many days (DESIGN §10), 1..`expires_in_days`; `None`
    /// when the file does not ask for it.
    pub rotate_every_days: Option<u32>,
    /// The account the key is issued in: its folder's, with `[accounts]`; `None` (keygate's
    /// own account) without.
    pub account: Option<crate::ids::AccountAlias>,
}

impl Request {
    /// The request's name: the file name without folder and `.toml` (the `{request}` placeholder).
    pub fn name(&self) -> &str {
        path::request_name(self.path.as_str())
    }
}

/// One problem a person must fix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub path: String,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// Says what is wrong and what to do.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about the whole file, without a position.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A diagnostic at a byte offset of `text`, turned into line and column.
    fn at(path: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = parse::position(text, offset);
        Self {
            path: path.to_owned(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.path, self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.path, self.message),
            _ => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// What a repository path is, relative to the requests folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    /// requests/<user>/<name>.toml, or with `[accounts]` requests/<account>/<user>/<name>.toml
    Request {
        folder_user: String,
        /// The account folder's alias, with `[accounts]`.
        account: Option<crate::ids::AccountAlias>,
    },
    /// Documentation inside the requests folder that is not a request (any `*.md` file).
    Documentation,
    /// Inside the requests folder but not a valid request location: the Diagnostic says why.
    Misplaced(Diagnostic),
    /// Outside the requests folder.
    Outside,
}
