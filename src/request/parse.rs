//! From bytes to a [`Request`]: size and encoding, the strict TOML parse into spanned values
//! (first pass), the shape of the fields with "did you mean" for unknown ones, and then the
//! meaning of each field (second pass, in [`fields`](super::fields)).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeInteger, DeTable, DeValue};

use super::chars::{echo_plain, quote};
use super::fields::{Checked, MISSING_REASON_EXAMPLE, missing_iam_user_example};
use super::{
    CompiledRules, Diagnostic, FIELDS, IAM_USER_MAX_CHARS, MAX_FILE_BYTES, PathKind, Request,
    classify,
};
use crate::ids::AccountAlias;

/// A cleaned TOML parser message is cut to this many characters.
const PARSER_MESSAGE_MAX_CHARS: usize = 160;
/// Syntax errors beyond the first few are mostly echoes of the first.
const MAX_SYNTAX_ERRORS: usize = 10;

/// Parses and validates one request file's bytes found at `path`. All problems, not just the
/// first: path problems first, then field problems in file order, then missing fields. A file
/// that cannot be read (size, binary, encoding, TOML syntax) stops there, since what follows
/// could not be judged reliably.
pub fn parse_request(
    path: &str,
    bytes: &[u8],
    rules: &CompiledRules,
) -> Result<Request, Vec<Diagnostic>> {
    let (place, mut diagnostics) = place_of(path, rules)?;
    let text = match readable_text(path, bytes, place.folder_user.as_deref()) {
        Ok(text) => text,
        Err(d) => {
            diagnostics.push(d);
            return Err(diagnostics);
        }
    };
    let (table, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        diagnostics.extend(
            syntax_errors
                .iter()
                .take(MAX_SYNTAX_ERRORS)
                .map(|e| syntax_diagnostic(path, text, e)),
        );
        return Err(diagnostics);
    }
    let fields = read_fields(path, text, table.get_ref(), rules);
    let checked = Checked {
        path,
        text,
        rules,
        folder_user: place.folder_user.as_deref(),
        folder_account: place.account.as_ref(),
    };
    let judged = judge_fields(&checked, fields);
    diagnostics.extend(judged.diagnostics);
    match (
        judged.iam_user,
        judged.reason,
        judged.expires_in_days,
        judged.readers,
        judged.rotate_every_days,
    ) {
        (Some(iam_user), Some(reason), Some(expires_in_days), Some(readers), Some(rotate))
            if diagnostics.is_empty() =>
        {
            Ok(Request {
                path: crate::ids::RequestPath::new(path),
                iam_user,
                reason,
                expires_in_days,
                readers,
                rotate_every_days: rotate,
                account: place.account,
            })
        }
        _ => Err(diagnostics),
    }
}

/// Where a request file sits: the user (and account) its folders name.
struct Place {
    folder_user: Option<String>,
    account: Option<AccountAlias>,
}

/// The file's place in the layout, with a problem when it is misplaced (judged on, so every
/// problem is told at once); `Err` when it is no request at all (documentation, or outside
/// the requests folder).
fn place_of(
    path: &str,
    rules: &CompiledRules,
) -> Result<(Place, Vec<Diagnostic>), Vec<Diagnostic>> {
    let dir = rules.requests_dir.trim_matches('/');
    let not_a_request = |what: String| {
        let at = format!(
            "request files go at {dir}/{}<name>.toml",
            layout_folders(rules)
        );
        Err(vec![Diagnostic::new(path, format!("{what}; {at}"))])
    };
    match classify(path, rules) {
        PathKind::Request {
            folder_user,
            account,
        } => Ok((
            Place {
                folder_user: Some(folder_user),
                account,
            },
            Vec::new(),
        )),
        PathKind::Misplaced(d) => Ok((
            Place {
                folder_user: None,
                account: None,
            },
            vec![d],
        )),
        PathKind::Documentation => {
            not_a_request("this is documentation (a .md file), not a request".into())
        }
        PathKind::Outside => not_a_request(format!(
            "this file is outside the {dir}/ folder, so it is not a request"
        )),
    }
}

/// The file as text with something in it: too large, binary, badly encoded and empty files
/// stop here.
fn readable_text<'b>(
    path: &str,
    bytes: &'b [u8],
    folder_user: Option<&str>,
) -> Result<&'b str, Diagnostic> {
    let text = decode(path, bytes)?;
    if text.trim().is_empty() {
        return Err(Diagnostic::new(
            path,
            format!(
                "the file is empty: a request needs at least {} and {}",
                missing_iam_user_example(folder_user),
                MISSING_REASON_EXAMPLE
            ),
        ));
    }
    Ok(text)
}

/// Each field's value once judged (`None`: wrong or missing), and every problem found: the
/// fields' in file order, then the missing required ones.
struct Judged {
    iam_user: Option<crate::ids::IamUser>,
    reason: Option<String>,
    expires_in_days: Option<u32>,
    readers: Option<Vec<String>>,
    rotate_every_days: Option<Option<u32>>,
    diagnostics: Vec<Diagnostic>,
}

fn judge_fields(checked: &Checked<'_>, fields: Fields<'_>) -> Judged {
    let mut out = fields.diagnostics;
    let iam_user_missing = matches!(fields.iam_user, Field::Missing);
    let reason_missing = matches!(fields.reason, Field::Missing);
    let iam_user = fields
        .iam_user
        .value()
        .and_then(|(value, at)| checked.iam_user(value, at, &mut out));
    let reason = fields
        .reason
        .value()
        .and_then(|(value, span)| checked.reason(value, span, &mut out));
    let expires_in_days = match fields.expires_in_days {
        Field::Missing => Some(checked.rules.default_expiry_days),
        Field::Present(Some((value, at))) => checked.expiry(value, at, &mut out),
        Field::Present(None) => None,
    };
    let rotate_every_days = match (fields.rotate_every_days, expires_in_days) {
        (Field::Missing, _) => Some(None),
        (Field::Present(Some((value, at))), Some(expires)) => {
            checked.rotation(value, at, expires, &mut out).map(Some)
        }
        (Field::Present(_), _) => None,
    };
    let readers = match fields.readers {
        Field::Missing => Some(Vec::new()),
        Field::Present(Some((items, at))) => checked.readers(items, at, &mut out),
        Field::Present(None) => None,
    };
    if let Field::Present(Some((value, at))) = fields.account {
        checked.account(value, at, &mut out);
    }
    if checked.folder_user.is_some() {
        checked.request_name(&mut out);
    }
    out.sort_by_key(|d| (d.line, d.column));
    if iam_user_missing {
        let add = missing_iam_user_example(checked.folder_user);
        let message = format!("missing required field `iam_user`: add {add}");
        out.push(Diagnostic::new(checked.path, message));
    }
    if reason_missing {
        let message = format!("missing required field `reason`: add {MISSING_REASON_EXAMPLE}");
        out.push(Diagnostic::new(checked.path, message));
    }
    Judged {
        iam_user,
        reason,
        expires_in_days,
        readers,
        rotate_every_days,
        diagnostics: out,
    }
}

// ----------------------------------------------------------------------------------------------
// Bytes to text

/// Turns the file's bytes into text: size, binary content, encoding; a UTF-8 BOM is dropped.
fn decode<'b>(path: &str, bytes: &'b [u8]) -> Result<&'b str, Diagnostic> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            path,
            format!(
                "the file is {} bytes, over the limit of {MAX_FILE_BYTES} bytes (64 KiB); a \
                 request needs only a few lines: remove the rest",
                bytes.len()
            ),
        ));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(Diagnostic::new(
            path,
            "the file is saved as UTF-16 text: save it as UTF-8",
        ));
    }
    let (body, bom_len) = match bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
        Some(body) => (body, 3),
        None => (bytes, 0),
    };
    if let Some(nul) = body.iter().position(|b| *b == 0) {
        return Err(Diagnostic::new(
            path,
            format!(
                "the file holds binary data (a NUL byte at byte offset {}), not text: a request \
                 file is UTF-8 TOML text",
                nul + bom_len
            ),
        ));
    }
    std::str::from_utf8(body).map_err(|e| {
        let bad = e.valid_up_to();
        let byte = body.get(bad).copied().unwrap_or_default();
        let (line, column) = body
            .get(..bad)
            .and_then(|valid| std::str::from_utf8(valid).ok())
            .map_or((1, 1), |valid| position(valid, valid.len()));
        Diagnostic {
            path: path.to_owned(),
            line: Some(line),
            column: Some(column),
            message: format!(
                "the file is not valid UTF-8: byte 0x{byte:02X} at byte offset {} does not start \
                 a UTF-8 character; save the file as UTF-8",
                bad + bom_len
            ),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset; out-of-range offsets are clamped.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

// ----------------------------------------------------------------------------------------------
// TOML syntax

fn syntax_diagnostic(path: &str, text: &str, error: &toml::de::Error) -> Diagnostic {
    let cleaned = one_line(error.message(), PARSER_MESSAGE_MAX_CHARS);
    let message = format!(
        "TOML syntax error: {cleaned}; {}",
        syntax_hint(error.message())
    );
    match error.span() {
        Some(span) => Diagnostic::at(path, text, span.start, message),
        None => Diagnostic::new(path, message),
    }
}

fn syntax_hint(message: &str) -> &'static str {
    if message.contains("must be quoted") {
        "hint: text goes in double quotes, e.g. `reason = \"why the key is needed\"`, and numbers \
         go without, e.g. `expires_in_days = 30`"
    } else if message.contains("duplicate") {
        "hint: each field may appear only once: remove the repeated one"
    } else if message.contains("no value") || message.contains("expected `=`") {
        "hint: write each field as `name = value`, e.g. `iam_user = \"alice\"`"
    } else if message.contains("string") {
        "hint: close the string with the same quote on the same line; for text over several \
         lines use triple quotes: `reason = \"\"\"...\"\"\"`"
    } else if message.contains("key") {
        "hint: field names are plain words such as `reason`; check for a missing `=` or a \
         stray character"
    } else {
        "hint: a request looks like `iam_user = \"alice\"`, `reason = \"...\"`, \
         `expires_in_days = 30`, one per line"
    }
}

// ----------------------------------------------------------------------------------------------
// Fields: what the file says, before judging it

/// Whether a field was written, and if so its value when it had the right type.
enum Field<T> {
    Missing,
    Present(Option<T>),
}

impl<T> Field<T> {
    fn value(self) -> Option<T> {
        match self {
            Field::Present(value) => value,
            Field::Missing => None,
        }
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Present(value) => Field::Present(value.map(f)),
            Field::Missing => Field::Missing,
        }
    }
}

/// The known fields with the right type, each with where its value starts (byte offset) or,
/// for `reason`, the byte range of its value (to point at a character inside it).
struct Fields<'t> {
    iam_user: Field<(&'t str, usize)>,
    reason: Field<(&'t str, Range<usize>)>,
    expires_in_days: Field<(&'t DeInteger<'t>, usize)>,
    rotate_every_days: Field<(&'t DeInteger<'t>, usize)>,
    readers: Field<(&'t [Spanned<DeValue<'t>>], usize)>,
    account: Field<(&'t str, usize)>,
    diagnostics: Vec<Diagnostic>,
}

impl Fields<'_> {
    /// No field read yet.
    fn none() -> Self {
        Fields {
            iam_user: Field::Missing,
            reason: Field::Missing,
            expires_in_days: Field::Missing,
            rotate_every_days: Field::Missing,
            readers: Field::Missing,
            account: Field::Missing,
            diagnostics: Vec::new(),
        }
    }
}

/// Reads the top-level table: the known fields with the right type, and a diagnostic for every
/// unknown field and wrong type. `account` is a known field only with `[accounts]`.
fn read_fields<'t>(
    path: &str,
    text: &str,
    table: &'t DeTable<'t>,
    rules: &CompiledRules,
) -> Fields<'t> {
    let mut fields = Fields::none();
    for (key, value) in table.iter() {
        let at = value.span().start;
        let found = value.get_ref();
        let mut wrong_type = |message: String| {
            fields
                .diagnostics
                .push(Diagnostic::at(path, text, at, message));
        };
        match key.get_ref().as_ref() {
            "iam_user" => {
                let how = "write it in double quotes, e.g. `iam_user = \"alice\"`";
                fields.iam_user = string_field("iam_user", found, at, how, &mut wrong_type);
            }
            "reason" => {
                let how = "write it in double quotes, e.g. `reason = \"why the key is needed\"`";
                fields.reason = string_field("reason", found, at, how, &mut wrong_type)
                    .map(|(text, _)| (text, value.span()));
            }
            "expires_in_days" => {
                fields.expires_in_days = integer_field(found, at, &mut wrong_type, |other| {
                    let advice = match other {
                        DeValue::String(_) => "remove the quotes",
                        DeValue::Float(_) => "use a whole number of days",
                        _ => "write a whole number of days",
                    };
                    format!(
                        "`expires_in_days` must be an integer, found {}: {advice}, e.g. \
                         `expires_in_days = 30`, or leave the field out for the default",
                        describe_value(other)
                    )
                });
            }
            "rotate_every_days" => {
                fields.rotate_every_days = integer_field(found, at, &mut wrong_type, |other| {
                    format!(
                        "`rotate_every_days` must be an integer, found {}: write a whole number \
                         of days without quotes, e.g. `rotate_every_days = 30`, or leave the \
                         field out for a key that is never rotated",
                        describe_value(other)
                    )
                });
            }
            "readers" => match found {
                DeValue::Array(items) => fields.readers = Field::Present(Some((&items[..], at))),
                other => {
                    wrong_type(format!(
                        "`readers` must be a list of strings, found {}: write it in square \
                         brackets, e.g. `readers = [\"arn:aws:iam::123456789012:role/ci\"]`",
                        describe_value(other)
                    ));
                    fields.readers = Field::Present(None);
                }
            },
            "account" => {
                let how = "write the account's alias in double quotes, e.g. `account = \"prod\"`, \
                           or leave the field out (the folder names the account)";
                fields.account = string_field("account", found, at, how, &mut wrong_type);
            }
            unknown => {
                let message = unknown_field_message(unknown, found, rules);
                fields
                    .diagnostics
                    .push(Diagnostic::at(path, text, key.span().start, message));
            }
        }
    }
    fields
}

/// An integer field's value and where it starts; any other type is reported through
/// `wrong_type`, in the words `message` finds for what was written.
fn integer_field<'t>(
    found: &'t DeValue<'t>,
    at: usize,
    wrong_type: &mut impl FnMut(String),
    message: impl FnOnce(&DeValue<'_>) -> String,
) -> Field<(&'t DeInteger<'t>, usize)> {
    match found {
        DeValue::Integer(i) => Field::Present(Some((i, at))),
        other => {
            wrong_type(message(other));
            Field::Present(None)
        }
    }
}

/// A string field's value and where it starts; any other type is reported through
/// `wrong_type`, with `how` to write it.
fn string_field<'t>(
    name: &str,
    found: &'t DeValue<'t>,
    at: usize,
    how: &str,
    wrong_type: &mut impl FnMut(String),
) -> Field<(&'t str, usize)> {
    match found {
        DeValue::String(s) => Field::Present(Some((s.as_ref(), at))),
        other => {
            wrong_type(format!(
                "`{name}` must be a string, found {}: {how}",
                describe_value(other)
            ));
            Field::Present(None)
        }
    }
}

fn unknown_field_message(key: &str, value: &DeValue<'_>, rules: &CompiledRules) -> String {
    let known = known_fields(rules);
    let allowed = format!("the allowed fields are {}", allowed_fields(&known));
    if let DeValue::Table(inner) = value {
        let holds_known = inner
            .iter()
            .any(|(k, _)| known.contains(&k.get_ref().as_ref()));
        if holds_known {
            return format!(
                "unknown table {}: the fields belong at the top level of the file, not inside a \
                 table: remove the `[{}]` line",
                quote(key),
                echo_plain(key)
            );
        }
    }
    match suggest_field(key, &known) {
        Some(field) => format!(
            "unknown field {}: did you mean `{field}`? {}",
            quote(key),
            capitalised(&allowed)
        ),
        None => format!("unknown field {}: remove it; {allowed}", quote(key)),
    }
}

/// The fields a file may hold under `rules`: `account` only with `[accounts]`.
fn known_fields(rules: &CompiledRules) -> Vec<&'static str> {
    FIELDS
        .into_iter()
        .filter(|f| *f != "account" || !rules.accounts.is_empty())
        .collect()
}

/// The folders of the layout in a message: `<iam_user>/`, or `<account>/<iam_user>/`.
fn layout_folders(rules: &CompiledRules) -> &'static str {
    if rules.accounts.is_empty() {
        "<iam_user>/"
    } else {
        "<account>/<iam_user>/"
    }
}

/// "`iam_user`, `reason`, `expires_in_days`, `readers` and `rotate_every_days`".
fn allowed_fields(known: &[&str]) -> String {
    let quoted: Vec<String> = known.iter().map(|f| format!("`{f}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// The known field a mistyped key most likely meant, if any.
fn suggest_field(key: &str, known: &[&'static str]) -> Option<&'static str> {
    if key.chars().count() > 2 * IAM_USER_MAX_CHARS {
        return None;
    }
    let normal = key.trim().to_lowercase().replace(['-', ' '], "_");
    let mut best: Option<(usize, &'static str)> = None;
    for &field in known {
        let distance = edit_distance(&normal, field);
        let shared_prefix = normal
            .chars()
            .zip(field.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let close = distance <= 2
            || shared_prefix >= 4
            || (normal.len() >= 4 && (field.contains(normal.as_str()) || normal.contains(field)));
        if close && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, field));
        }
    }
    best.map(|(_, field)| field)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// A TOML value's type for a message, with the value itself when it is short and plain.
pub(super) fn describe_value(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("the string {}", quote(&format!("\"{s}\""))),
        DeValue::Integer(_) => "an integer".to_owned(),
        DeValue::Float(f) => format!("the decimal number {}", quote(f.as_str())),
        DeValue::Boolean(b) => format!("the boolean `{b}`"),
        DeValue::Datetime(_) => "a date".to_owned(),
        DeValue::Array(_) => "a list".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// A parser message on one line, cut to `max` characters.
fn one_line(message: &str, max: usize) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = joined.chars().take(max).collect();
    if joined.chars().count() > max {
        out.push('…');
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
