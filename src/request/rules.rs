//! The configuration that judges a request file, and its glob lists compiled once.

use std::ops::Deref;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::chars::quote;

/// The parts of the configuration that judge a request file (built by the config module).
/// Plain settings; [`RequestRules::compile`] turns them into the [`CompiledRules`] that
/// [`parse_request`](super::parse_request) takes.
#[derive(Debug, Clone)]
pub struct RequestRules {
    /// Folder holding the requests, repository-relative, e.g. "requests" (no trailing slash).
    pub requests_dir: String,
    /// Days until expiry when a request does not say, e.g. 90.
    pub default_expiry_days: u32,
    /// Largest `expires_in_days` a request may ask for, e.g. 365.
    pub max_expiry_days: u32,
    /// Glob list of IAM users keygate may issue keys for, e.g. `["*"]`.
    pub allowed_users: Vec<String>,
    /// Glob list of IAM users keygate never issues keys for; deny wins over allow.
    pub denied_users: Vec<String>,
    /// Glob list of IAM principal ARNs a request may name in `readers`, e.g.
    /// `["arn:aws:iam::123456789012:role/ci-*"]`. Empty (the default) refuses the field.
    pub allowed_readers: Vec<String>,
    /// Secret-name template, e.g. `{iam_user}/access-key-{timestamp}`.
    pub secret_name_template: String,
    /// The aliases of `[accounts]` (DESIGN §9). Empty (no `[accounts]`): requests live at
    /// `<requests_dir>/<iam_user>/<name>.toml`; otherwise at
    /// `<requests_dir>/<account>/<iam_user>/<name>.toml`, `<account>` one of these.
    pub accounts: Vec<crate::ids::AccountAlias>,
}

impl RequestRules {
    /// Compiles the glob lists, once, into the rules [`parse_request`](super::parse_request)
    /// takes, so a run over many files never compiles them again and a broken glob is found
    /// before any request is judged. The error names the list and the bad glob, e.g.
    /// "policy.denied_users: invalid glob `[a`: unclosed character class; missing ']'".
    /// (The other settings have their own checks: [`check_requests_dir`](super::check_requests_dir)
    /// and [`render_secret_name`](super::render_secret_name) with sample inputs; expiry bounds
    /// are plain numbers.)
    pub fn compile(&self) -> Result<CompiledRules, String> {
        Ok(CompiledRules {
            allowed_users: compile_globs("policy.allowed_users", &self.allowed_users, Match::User)?,
            denied_users: compile_globs("policy.denied_users", &self.denied_users, Match::User)?,
            allowed_readers: compile_globs(
                "policy.allowed_readers",
                &self.allowed_readers,
                Match::Arn,
            )?,
            rules: self.clone(),
        })
    }

    /// Whether the glob lists compile; the error is [`RequestRules::compile`]'s.
    pub fn check(&self) -> Result<(), String> {
        self.compile().map(drop)
    }
}

/// [`RequestRules`] with every glob list compiled. Only [`RequestRules::compile`] builds one,
/// so rules with a broken glob can never judge a request. Reads as the plain settings through
/// `Deref` (e.g. `rules.requests_dir`, or `&rules` where a `&RequestRules` is wanted).
#[derive(Debug, Clone)]
pub struct CompiledRules {
    rules: RequestRules,
    allowed_users: GlobSet,
    denied_users: GlobSet,
    allowed_readers: GlobSet,
}

impl Deref for CompiledRules {
    type Target = RequestRules;

    fn deref(&self) -> &RequestRules {
        &self.rules
    }
}

impl CompiledRules {
    /// The first `policy.denied_users` pattern this IAM user matches, if any.
    pub(super) fn denying_pattern(&self, iam_user: &str) -> Option<&str> {
        let first = self.denied_users.matches(iam_user).into_iter().next()?;
        self.rules.denied_users.get(first).map(String::as_str)
    }

    pub(super) fn user_allowed(&self, iam_user: &str) -> bool {
        self.allowed_users.is_match(iam_user)
    }

    pub(super) fn reader_allowed(&self, arn: &str) -> bool {
        self.allowed_readers.is_match(arn)
    }
}

/// How a glob list compares with what it judges.
#[derive(Clone, Copy)]
enum Match {
    /// IAM user names are unique without regard to case, so the lists match that way too:
    /// `Admin` must not slip past a deny of `admin`.
    User,
    /// ARNs match as AWS's own policy conditions compare them: exactly, and `*` stays within
    /// one `/`-separated part, so `role/ci-*` allows `role/ci-deploy` but not a role named
    /// `admin` under the path `/ci-x/` (`**` crosses parts when an operator means it).
    Arn,
}

fn compile_globs(key: &str, patterns: &[String], how: Match) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(matches!(how, Match::User))
            .literal_separator(matches!(how, Match::Arn))
            .build()
            .map_err(|e| format!("{key}: invalid glob {}: {}", quote(pattern), e.kind()))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| format!("{key}: cannot compile the globs: {e}"))
}

/// A glob list shown in a message: the first three patterns and how many more.
pub(super) fn list_patterns(patterns: &[String]) -> String {
    if patterns.is_empty() {
        return "the list is empty".to_owned();
    }
    let mut shown: Vec<String> = patterns.iter().take(3).map(|p| quote(p)).collect();
    if patterns.len() > 3 {
        shown.push(format!("and {} more", patterns.len() - 3));
    }
    format!("patterns {}", shown.join(", "))
}

#[cfg(test)]
mod tests;
