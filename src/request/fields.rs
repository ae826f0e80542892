//! The meaning of each field (the second pass): `iam_user` against the folder, the name rules
//! and the allow and deny lists; `reason`'s length and characters; `expires_in_days`'s bounds;
//! and whether the request's name fits the secret-name template.

use std::ops::Range;

use toml::de::DeInteger;

use super::chars::{
    IAM_USER_CHARS, SECRET_NAME_CHARS, code_point, describe_char, garbling, hides_text,
    is_iam_user_char, is_visible, quote,
};
use super::path::{known_accounts, request_name};
use super::rules::list_patterns;
use super::secret_name::{render_secret_name, sample_inputs};
use super::{CompiledRules, Diagnostic, IAM_USER_MAX_CHARS, REASON_MAX_CHARS, REASON_MIN_CHARS};
use crate::ids::{AccountAlias, IamUser};

/// Stand-ins that are always valid in a secret name, used to tell which input broke one.
const SAFE_USER: &str = "user";
const SAFE_REQUEST: &str = "request";

pub(super) const MISSING_REASON_EXAMPLE: &str =
    "`reason = \"...\"` saying why the key is needed (10 to 1000 characters)";

pub(super) fn missing_iam_user_example(folder_user: Option<&str>) -> String {
    match folder_user {
        Some(user) => format!("`iam_user = \"{user}\"` (the same as the folder name)"),
        None => "`iam_user = \"<iam_user>\"` (the IAM user the key is for)".to_owned(),
    }
}

/// Checks an IAM user name: 1–64 characters of `A-Za-z0-9+=,.@_-`. Err says why, in a phrase.
pub fn check_iam_user_name(name: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    let length = name.chars().count();
    if length == 0 {
        problems.push("it is empty; IAM user names are 1 to 64 characters".to_owned());
    } else if length > IAM_USER_MAX_CHARS {
        problems.push(format!(
            "it is {length} characters long; IAM user names are at most {IAM_USER_MAX_CHARS}"
        ));
    }
    if let Some((index, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !is_iam_user_char(*c))
    {
        problems.push(format!(
            "it holds {} at character {}; IAM user names may only hold {IAM_USER_CHARS}",
            describe_char(c),
            index + 1
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", and "))
    }
}

/// Whether `policy.allowed_users` / `policy.denied_users` let keygate issue a key for this IAM
/// user (deny wins). Err says which list refused it.
pub fn check_user_policy(iam_user: &str, rules: &CompiledRules) -> Result<(), String> {
    if let Some(pattern) = rules.denying_pattern(iam_user) {
        return Err(format!(
            "IAM user {} is refused by policy.denied_users (it matches {}): keygate issues no keys \
             for it; ask the keygate operators if that is wrong",
            quote(iam_user),
            quote(pattern)
        ));
    }
    if !rules.user_allowed(iam_user) {
        return Err(format!(
            "IAM user {} is not in policy.allowed_users ({}): keygate issues no keys for it; ask \
             the keygate operators if that is wrong",
            quote(iam_user),
            list_patterns(&rules.allowed_users)
        ));
    }
    Ok(())
}

/// What judging a field needs: where the file is, its text (for positions), the rules and the
/// IAM user its folder names (when the path is a valid request location).
pub(super) struct Checked<'a> {
    pub(super) path: &'a str,
    pub(super) text: &'a str,
    pub(super) rules: &'a CompiledRules,
    pub(super) folder_user: Option<&'a str>,
    /// The account its folder names, with `[accounts]` and a valid request location.
    pub(super) folder_account: Option<&'a AccountAlias>,
}

impl Checked<'_> {
    pub(super) fn at(&self, offset: usize, message: String) -> Diagnostic {
        Diagnostic::at(self.path, self.text, offset, message)
    }

    pub(super) fn iam_user(
        &self,
        value: &str,
        at: usize,
        out: &mut Vec<Diagnostic>,
    ) -> Option<IamUser> {
        if let Err(why) = check_iam_user_name(value) {
            out.push(self.at(
                at,
                format!(
                    "`iam_user` {} is not a valid IAM user name: {why}",
                    quote(value)
                ),
            ));
            return None;
        }
        let mut valid = true;
        if let Some(folder) = self.folder_user
            && folder != value
        {
            valid = false;
            let message = if folder.eq_ignore_ascii_case(value) {
                format!(
                    "`iam_user` {} differs from the folder name {} only in letter case; IAM \
                         treats user names as equal regardless of case, but keygate compares them \
                         exactly: write them the same way",
                    quote(value),
                    quote(folder)
                )
            } else {
                format!(
                    "`iam_user` {} must equal the folder name {}: fix `iam_user`, or move \
                         the file to the folder of that IAM user",
                    quote(value),
                    quote(folder)
                )
            };
            out.push(self.at(at, message));
        }
        let template = &self.rules.secret_name_template;
        if render_secret_name(template, &sample_inputs(SAFE_USER, SAFE_REQUEST)).is_ok()
            && let Err(why) = render_secret_name(template, &sample_inputs(value, SAFE_REQUEST))
        {
            valid = false;
            out.push(self.at(
                at,
                format!(
                    "`iam_user` {} cannot be issued a key through keygate: {why}. IAM allows \
                         that character in user names, Secrets Manager does not allow it in \
                         secret names, and keygate never renames a secret: use an IAM user whose \
                         name does not hold it",
                    quote(value)
                ),
            ));
        }
        if let Err(why) = check_user_policy(value, self.rules) {
            valid = false;
            out.push(self.at(at, why));
        }
        valid.then(|| IamUser::new(value))
    }

    /// `span` is the byte range of the value in the file, so a character that hides itself is
    /// reported at its own line and column.
    pub(super) fn reason(
        &self,
        value: &str,
        span: Range<usize>,
        out: &mut Vec<Diagnostic>,
    ) -> Option<String> {
        let at = span.start;
        let trimmed = value.trim();
        let length = trimmed.chars().count();
        // Spaces and invisible characters would let a reason look long enough while saying
        // nothing a reviewer can read.
        let visible = trimmed.chars().filter(|c| is_visible(*c)).count();
        let mut valid = true;
        if visible < REASON_MIN_CHARS {
            valid = false;
            out.push(self.at(
                at,
                format!(
                    "`reason` is too short: {visible} characters, not counting spaces and \
                     invisible characters; write at least {REASON_MIN_CHARS} characters saying \
                     why the key is needed"
                ),
            ));
        } else if length > REASON_MAX_CHARS {
            valid = false;
            out.push(self.at(
                at,
                format!(
                    "`reason` is too long: {length} characters after trimming spaces; keep it to \
                     at most {REASON_MAX_CHARS} characters"
                ),
            ));
        }
        // Control characters would garble comments, notices and terminals; the characters that
        // hide or reorder text would show reviewers something other than what was written.
        let lead = value.len() - value.trim_start().len();
        let found = garbling(trimmed);
        if let Some(&(index, c)) = found.first() {
            valid = false;
            let more = found.len() - 1;
            let more = match more {
                0 => String::new(),
                1 => " (and 1 more such character)".to_owned(),
                n => format!(" (and {n} more such characters)"),
            };
            let offset = value
                .get(..lead + index)
                .map(|before| before.matches(c).count())
                .and_then(|earlier| {
                    source_offsets(self.text, span.clone(), c)
                        .get(earlier)
                        .copied()
                })
                .unwrap_or(at);
            let message = if hides_text(c) {
                format!(
                    "`reason` holds {}, a character that hides or reorders text, so reviewers \
                     would not see what was written{more}: remove it; if you pasted the reason, \
                     type it again",
                    code_point(c)
                )
            } else {
                let position = trimmed.get(..index).map_or(0, |s| s.chars().count()) + 1;
                format!(
                    "`reason` holds the control character {} at character {position}{more}: \
                     remove it",
                    describe_char(c)
                )
            };
            out.push(self.at(offset, message));
        }
        valid.then(|| trimmed.to_owned())
    }

    pub(super) fn expiry(
        &self,
        value: &DeInteger<'_>,
        at: usize,
        out: &mut Vec<Diagnostic>,
    ) -> Option<u32> {
        let max = self.rules.max_expiry_days;
        let days = i128::from_str_radix(value.as_str(), value.radix())
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=max).contains(n));
        if days.is_none() {
            let written = self.text.get(value_span(self.text, at)).unwrap_or_default();
            out.push(self.at(
                at,
                format!(
                    "`expires_in_days` must be between 1 and {max} days, found {}: choose a \
                     number in that range, or leave the field out for the default of {} days",
                    quote(written),
                    self.rules.default_expiry_days
                ),
            ));
        }
        days
    }

    /// `rotate_every_days`: 1..`expires_in_days` (a rotation after the expiry would never
    /// happen, so asking for one is a mistake worth saying).
    pub(super) fn rotation(
        &self,
        value: &DeInteger<'_>,
        at: usize,
        expires_in_days: u32,
        out: &mut Vec<Diagnostic>,
    ) -> Option<u32> {
        let days = i128::from_str_radix(value.as_str(), value.radix())
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=expires_in_days).contains(n));
        if days.is_none() {
            let written = self.text.get(value_span(self.text, at)).unwrap_or_default();
            out.push(self.at(
                at,
                format!(
                    "`rotate_every_days` must be between 1 and the key's `expires_in_days` \
                     ({expires_in_days}), found {}: choose a number in that range, or leave the \
                     field out for a key that is never rotated",
                    quote(written)
                ),
            ));
        }
        days
    }

    /// `account`: only with `[accounts]`, one of them, and its folder's (DESIGN §9).
    pub(super) fn account(&self, value: &str, at: usize, out: &mut Vec<Diagnostic>) {
        let known = &self.rules.accounts;
        if known.is_empty() {
            out.push(
                self.at(
                    at,
                    "`account` names an AWS account, but this keygate issues keys only in its own \
                 account (its configuration has no [accounts]): remove the field"
                        .to_owned(),
                ),
            );
            return;
        }
        if !known.iter().any(|a| a.as_str() == value) {
            out.push(self.at(
                at,
                format!(
                    "`account` {} is not an AWS account keygate knows: the known accounts are \
                     {}",
                    quote(value),
                    known_accounts(known)
                ),
            ));
            return;
        }
        if let Some(folder) = self.folder_account
            && folder.as_str() != value
        {
            out.push(self.at(
                at,
                format!(
                    "`account` {} must equal the account folder {}: fix `account`, or move the \
                     file to the folder of account {}",
                    quote(value),
                    quote(folder.as_str()),
                    quote(value)
                ),
            ));
        }
    }

    /// The request name only matters when the template uses `{request}`.
    pub(super) fn request_name(&self, out: &mut Vec<Diagnostic>) {
        let template = &self.rules.secret_name_template;
        if let Err(why) = render_secret_name(template, &sample_inputs(SAFE_USER, SAFE_REQUEST)) {
            out.push(Diagnostic::new(self.path, configuration_problem(&why)));
            return;
        }
        let name = request_name(self.path);
        if let Err(why) = render_secret_name(template, &sample_inputs(SAFE_USER, name)) {
            out.push(Diagnostic::new(
                self.path,
                format!(
                    "the file name {} goes into the secret name, which would be invalid: {why}; \
                     rename the file using only {SECRET_NAME_CHARS}",
                    quote(name)
                ),
            ));
        }
    }
}

/// Where `c` is written inside the string value at `span` of `text`, in order: as itself, or
/// as a TOML escape (`\xHH`, `\uHHHH`, `\UHHHHHHHH`). Byte offsets into `text`.
fn source_offsets(text: &str, span: Range<usize>, c: char) -> Vec<usize> {
    let code = u32::from(c);
    let mut escapes = vec![format!("\\U{code:08x}")];
    if code <= 0xFFFF {
        escapes.push(format!("\\u{code:04x}"));
    }
    if code <= 0xFF {
        escapes.push(format!("\\x{code:02x}"));
    }
    let source = text.get(span.clone()).unwrap_or_default();
    let mut offsets = Vec::new();
    let mut chars = source.char_indices();
    while let Some((i, ch)) = chars.next() {
        if ch == c {
            offsets.push(span.start + i);
        } else if ch == '\\' {
            let tail = source.get(i..).unwrap_or_default();
            let escape = escapes.iter().find(|e| {
                tail.get(..e.len())
                    .is_some_and(|t| t.get(..2) == e.get(..2) && t.eq_ignore_ascii_case(e))
            });
            if let Some(escape) = escape {
                offsets.push(span.start + i);
                chars.nth(escape.len() - 2);
            } else {
                // `\\` and other escapes: the next character is not the start of one.
                chars.next();
            }
        }
    }
    offsets
}

/// The byte range of the integer token starting at `at` (for quoting it back).
fn value_span(text: &str, at: usize) -> Range<usize> {
    let tail = text.get(at..).unwrap_or_default();
    let len = tail
        .find(|c: char| c.is_whitespace() || c == '#' || c == ',')
        .unwrap_or(tail.len());
    at..at + len
}

fn configuration_problem(why: &str) -> String {
    format!(
        "keygate's configuration cannot judge this request ({why}); ask the keygate operators to \
         fix it"
    )
}

#[cfg(test)]
mod tests;
