//! Request files: `<requests_dir>/<iam_user>/<name>.toml` (DESIGN §1).
//!
//! Two passes, as triagebot does it: a strict TOML parse into spanned values, then the meaning
//! of each field. Every problem a person must fix becomes a [`Diagnostic`] naming the file, the
//! line and column where there is one, and what to do. Pure code: no I/O, and no panic whatever
//! the bytes.

use std::fmt;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use toml::de::{DeTable, DeValue};

/// Largest request file accepted, in bytes (exactly this size is accepted).
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// The fields a request file may hold, in the order the documentation lists them.
pub const FIELDS: [&str; 3] = ["iam_user", "reason", "expires_in_days"];

/// Bounds of `reason`, in characters (not bytes) after trimming.
pub const REASON_MIN_CHARS: usize = 10;
pub const REASON_MAX_CHARS: usize = 1000;

/// IAM's limit on user-name length.
pub const IAM_USER_MAX_CHARS: usize = 64;

/// Secrets Manager's limit on secret-name length.
pub const SECRET_NAME_MAX_CHARS: usize = 512;

/// The sample values used to check that a request's secret name would render validly.
pub const SAMPLE_TIMESTAMP: &str = "20260101000000";
pub const SAMPLE_PR: u64 = 1;

/// At most this many characters of one piece of the user's input are quoted in a message.
const ECHO_MAX_CHARS: usize = 60;
/// A cleaned TOML parser message is cut to this many characters.
const PARSER_MESSAGE_MAX_CHARS: usize = 160;
/// Syntax errors beyond the first few are mostly echoes of the first.
const MAX_SYNTAX_ERRORS: usize = 10;
/// Stand-ins that are always valid in a secret name, used to tell which input broke one.
const SAFE_USER: &str = "user";
const SAFE_REQUEST: &str = "request";

const IAM_USER_CHARS: &str = "ASCII letters, digits and + = , . @ _ -";
const SECRET_NAME_CHARS: &str = "ASCII letters, digits and / _ + = . @ -";

/// The parts of the configuration that judge a request file (built by the config module).
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
    /// Secret-name template, e.g. `{iam_user}/access-key-{timestamp}`.
    pub secret_name_template: String,
}

impl RequestRules {
    /// Compiles the allow and deny globs. The error names the list and the bad glob, e.g.
    /// "policy.denied_users: invalid glob `[a`: unclosed character class; missing ']'".
    /// (The other settings have their own checks: [`check_requests_dir`] and
    /// [`render_secret_name`] with sample inputs; expiry bounds are plain numbers.)
    pub fn check(&self) -> Result<(), String> {
        compile_globs("policy.allowed_users", &self.allowed_users)?;
        compile_globs("policy.denied_users", &self.denied_users)?;
        Ok(())
    }
}

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Repository-relative, e.g. "requests/alice/ci.toml".
    pub path: String,
    pub iam_user: String,
    /// Trimmed.
    pub reason: String,
    /// The default applied when the file does not say.
    pub expires_in_days: u32,
}

impl Request {
    /// The request's name: the file name without folder and `.toml` (the `{request}` placeholder).
    pub fn name(&self) -> &str {
        request_name(&self.path)
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
        let (line, column) = position(text, offset);
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
    /// requests/<user>/<name>.toml
    Request { folder_user: String },
    /// Documentation inside the requests folder that is not a request (any `*.md` file).
    Documentation,
    /// Inside the requests folder but not a valid request location: the Diagnostic says why.
    Misplaced(Diagnostic),
    /// Outside the requests folder.
    Outside,
}

/// Says what `path` (repository-relative, `/`-separated, as git gives it) is.
pub fn classify(path: &str, rules: &RequestRules) -> PathKind {
    let dir = rules.requests_dir.trim_matches('/');
    let rest = match path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        Some(rest) if !dir.is_empty() => rest,
        _ => return PathKind::Outside,
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let file = segments.last().copied().unwrap_or_default();
    let misplaced = |why: String| PathKind::Misplaced(Diagnostic::new(path, why));
    let layout = format!("request files go at {dir}/<iam_user>/<name>.toml");

    if segments.iter().any(|s| s.is_empty()) {
        return misplaced(format!(
            "this path has an empty folder or file name; {layout}"
        ));
    }
    if has_extension(file, "md") {
        return PathKind::Documentation;
    }
    match segments.as_slice() {
        [file] => misplaced(format!(
            "this file is directly in the {dir}/ folder: put it in {dir}/<iam_user>/, \
             e.g. {dir}/<iam_user>/{}, where <iam_user> is the IAM user the key is for",
            toml_file_name(file)
        )),
        [folder, file] => {
            let mut problems = Vec::new();
            match file.strip_suffix(".toml") {
                Some("") => problems.push(format!(
                    "the file name is empty: name it, e.g. {dir}/{}/ci.toml",
                    echo_plain(folder)
                )),
                Some(_) => {}
                None if has_extension(file, "toml") => problems.push(format!(
                    "the extension must be lower-case `.toml`: rename it to {dir}/{}/{}",
                    echo_plain(folder),
                    toml_file_name(file)
                )),
                None => problems.push(format!(
                    "request files must end in `.toml`: rename it to {dir}/{}/{}",
                    echo_plain(folder),
                    toml_file_name(file)
                )),
            }
            if let Err(why) = check_iam_user_name(folder) {
                problems.push(format!(
                    "the folder name {} is not a valid IAM user name ({why}); the folder must be \
                     named exactly after the IAM user",
                    quote(folder)
                ));
            }
            if problems.is_empty() {
                PathKind::Request {
                    folder_user: (*folder).to_owned(),
                }
            } else {
                misplaced(problems.join("; "))
            }
        }
        _ => misplaced(format!(
            "this file is nested too deep: {layout}, one folder deep; move it to {dir}/<iam_user>/{}",
            toml_file_name(file)
        )),
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
/// user (deny wins). Err says which list refused it, or that a glob is broken.
pub fn check_user_policy(iam_user: &str, rules: &RequestRules) -> Result<(), String> {
    user_policy(iam_user, rules).map_err(|e| match e {
        PolicyError::Config(m) | PolicyError::Refused(m) => m,
    })
}

/// Parses and validates one request file's bytes found at `path`. All problems, not just the
/// first: path problems first, then field problems in file order, then missing fields. A file
/// that cannot be read (size, binary, encoding, TOML syntax) stops there, since what follows
/// could not be judged reliably.
pub fn parse_request(
    path: &str,
    bytes: &[u8],
    rules: &RequestRules,
) -> Result<Request, Vec<Diagnostic>> {
    let dir = rules.requests_dir.trim_matches('/');
    let mut diagnostics = Vec::new();
    let folder_user = match classify(path, rules) {
        PathKind::Request { folder_user } => Some(folder_user),
        PathKind::Misplaced(d) => {
            diagnostics.push(d);
            None
        }
        PathKind::Documentation => {
            return Err(vec![Diagnostic::new(
                path,
                format!(
                    "this is documentation (a .md file), not a request; request files go at \
                     {dir}/<iam_user>/<name>.toml"
                ),
            )]);
        }
        PathKind::Outside => {
            return Err(vec![Diagnostic::new(
                path,
                format!(
                    "this file is outside the {dir}/ folder, so it is not a request; request \
                     files go at {dir}/<iam_user>/<name>.toml"
                ),
            )]);
        }
    };

    let text = match decode(path, bytes) {
        Ok(text) => text,
        Err(d) => {
            diagnostics.push(d);
            return Err(diagnostics);
        }
    };
    if text.trim().is_empty() {
        diagnostics.push(Diagnostic::new(
            path,
            format!(
                "the file is empty: a request needs at least {} and {}",
                missing_iam_user_example(folder_user.as_deref()),
                MISSING_REASON_EXAMPLE
            ),
        ));
        return Err(diagnostics);
    }

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

    let fields = read_fields(path, text, table.get_ref());
    let mut field_diagnostics = fields.diagnostics;
    let iam_user_missing = matches!(fields.iam_user, Field::Missing);
    let reason_missing = matches!(fields.reason, Field::Missing);
    let checked = Checked {
        path,
        text,
        rules,
        folder_user: folder_user.as_deref(),
    };
    let iam_user = fields
        .iam_user
        .value()
        .and_then(|(value, at)| checked.iam_user(value, at, &mut field_diagnostics));
    let reason = fields
        .reason
        .value()
        .and_then(|(value, at)| checked.reason(value, at, &mut field_diagnostics));
    let expires_in_days = match fields.expires_in_days {
        Field::Missing => Some(rules.default_expiry_days),
        Field::Present(Some((value, at))) => checked.expiry(value, at, &mut field_diagnostics),
        Field::Present(None) => None,
    };
    if folder_user.is_some() {
        checked.request_name(&mut field_diagnostics);
    }
    field_diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics.extend(field_diagnostics);

    if iam_user_missing {
        diagnostics.push(Diagnostic::new(
            path,
            format!(
                "missing required field `iam_user`: add {}",
                missing_iam_user_example(folder_user.as_deref())
            ),
        ));
    }
    if reason_missing {
        diagnostics.push(Diagnostic::new(
            path,
            format!("missing required field `reason`: add {MISSING_REASON_EXAMPLE}"),
        ));
    }

    match (iam_user, reason, expires_in_days) {
        (Some(iam_user), Some(reason), Some(expires_in_days)) if diagnostics.is_empty() => {
            Ok(Request {
                path: path.to_owned(),
                iam_user,
                reason,
                expires_in_days,
            })
        }
        _ => Err(diagnostics),
    }
}

/// The inputs of a secret-name template.
#[derive(Debug, Clone, Copy)]
pub struct SecretNameInputs<'a> {
    pub iam_user: &'a str,
    /// UTC `YYYYmmddHHMMSS`.
    pub timestamp: &'a str,
    pub pr: u64,
    /// The request file's name without folder and `.toml`.
    pub request: &'a str,
}

/// Renders a secret-name template. Placeholders: `{iam_user}`, `{timestamp}`, `{pr}`,
/// `{request}`. Err explains an unknown placeholder, an unmatched brace, or why the rendered
/// name is not a valid Secrets Manager name (naming the offending character).
pub fn render_secret_name(template: &str, inputs: &SecretNameInputs) -> Result<String, String> {
    let known = "{iam_user}, {timestamp}, {pr} and {request}";
    let mut out = String::new();
    let mut rest = template;
    while let Some(brace) = rest.find(['{', '}']) {
        let (literal, tail) = rest.split_at(brace);
        out.push_str(literal);
        let Some(inner) = tail.strip_prefix('{') else {
            return Err(format!(
                "the template {} has a `}}` without a matching `{{`; placeholders are {known}",
                quote(template)
            ));
        };
        let Some((name, after)) = inner.split_once('}') else {
            return Err(format!(
                "the template {} has a `{{` that is never closed; placeholders are {known}",
                quote(template)
            ));
        };
        match name {
            "iam_user" => out.push_str(inputs.iam_user),
            "timestamp" => out.push_str(inputs.timestamp),
            "pr" => out.push_str(&inputs.pr.to_string()),
            "request" => out.push_str(inputs.request),
            other => {
                return Err(format!(
                    "unknown placeholder {} in the template {}; placeholders are {known}",
                    quote(&format!("{{{other}}}")),
                    quote(template)
                ));
            }
        }
        rest = after;
    }
    out.push_str(rest);
    check_secret_name(&out)?;
    Ok(out)
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
fn position(text: &str, offset: usize) -> (usize, usize) {
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
}

struct Fields<'t> {
    iam_user: Field<(&'t str, usize)>,
    reason: Field<(&'t str, usize)>,
    expires_in_days: Field<(&'t toml::de::DeInteger<'t>, usize)>,
    diagnostics: Vec<Diagnostic>,
}

/// Reads the top-level table: the known fields with the right type, and a diagnostic for every
/// unknown field and wrong type.
fn read_fields<'t>(path: &str, text: &str, table: &'t DeTable<'t>) -> Fields<'t> {
    let mut fields = Fields {
        iam_user: Field::Missing,
        reason: Field::Missing,
        expires_in_days: Field::Missing,
        diagnostics: Vec::new(),
    };
    for (key, value) in table.iter() {
        let at = value.span().start;
        let found = value.get_ref();
        match key.get_ref().as_ref() {
            "iam_user" => {
                fields.iam_user = Field::Present(None);
                match found {
                    DeValue::String(s) => fields.iam_user = Field::Present(Some((s.as_ref(), at))),
                    other => fields.diagnostics.push(Diagnostic::at(
                        path,
                        text,
                        at,
                        format!(
                            "`iam_user` must be a string, found {}: write it in double quotes, \
                             e.g. `iam_user = \"alice\"`",
                            describe_value(other)
                        ),
                    )),
                }
            }
            "reason" => {
                fields.reason = Field::Present(None);
                match found {
                    DeValue::String(s) => fields.reason = Field::Present(Some((s.as_ref(), at))),
                    other => fields.diagnostics.push(Diagnostic::at(
                        path,
                        text,
                        at,
                        format!(
                            "`reason` must be a string, found {}: write it in double quotes, \
                             e.g. `reason = \"why the key is needed\"`",
                            describe_value(other)
                        ),
                    )),
                }
            }
            "expires_in_days" => match found {
                DeValue::Integer(i) => fields.expires_in_days = Field::Present(Some((i, at))),
                other => {
                    fields.expires_in_days = Field::Present(None);
                    let advice = match other {
                        DeValue::String(_) => "remove the quotes",
                        DeValue::Float(_) => "use a whole number of days",
                        _ => "write a whole number of days",
                    };
                    fields.diagnostics.push(Diagnostic::at(
                        path,
                        text,
                        at,
                        format!(
                            "`expires_in_days` must be an integer, found {}: {advice}, e.g. \
                             `expires_in_days = 30`, or leave the field out for the default",
                            describe_value(other)
                        ),
                    ));
                }
            },
            unknown => {
                let message = unknown_field_message(unknown, found);
                fields
                    .diagnostics
                    .push(Diagnostic::at(path, text, key.span().start, message));
            }
        }
    }
    fields
}

fn unknown_field_message(key: &str, value: &DeValue<'_>) -> String {
    let allowed = "the allowed fields are `iam_user`, `reason` and `expires_in_days`";
    if let DeValue::Table(inner) = value {
        let holds_known = inner
            .iter()
            .any(|(k, _)| FIELDS.contains(&k.get_ref().as_ref()));
        if holds_known {
            return format!(
                "unknown table {}: the fields belong at the top level of the file, not inside a \
                 table: remove the `[{}]` line",
                quote(key),
                echo_plain(key)
            );
        }
    }
    match suggest_field(key) {
        Some(field) => format!(
            "unknown field {}: did you mean `{field}`? {}",
            quote(key),
            capitalised(allowed)
        ),
        None => format!("unknown field {}: remove it; {allowed}", quote(key)),
    }
}

/// The known field a mistyped key most likely meant, if any.
fn suggest_field(key: &str) -> Option<&'static str> {
    if key.chars().count() > 2 * IAM_USER_MAX_CHARS {
        return None;
    }
    let normal = key.trim().to_lowercase().replace(['-', ' '], "_");
    let mut best: Option<(usize, &'static str)> = None;
    for field in FIELDS {
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

// ----------------------------------------------------------------------------------------------
// Meaning: judging each field

const MISSING_REASON_EXAMPLE: &str =
    "`reason = \"...\"` saying why the key is needed (10 to 1000 characters)";

fn missing_iam_user_example(folder_user: Option<&str>) -> String {
    match folder_user {
        Some(user) => format!("`iam_user = \"{user}\"` (the same as the folder name)"),
        None => "`iam_user = \"<iam_user>\"` (the IAM user the key is for)".to_owned(),
    }
}

struct Checked<'a> {
    path: &'a str,
    text: &'a str,
    rules: &'a RequestRules,
    folder_user: Option<&'a str>,
}

impl Checked<'_> {
    fn at(&self, offset: usize, message: String) -> Diagnostic {
        Diagnostic::at(self.path, self.text, offset, message)
    }

    fn iam_user(&self, value: &str, at: usize, out: &mut Vec<Diagnostic>) -> Option<String> {
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
        match user_policy(value, self.rules) {
            Ok(()) => {}
            Err(PolicyError::Refused(why)) => {
                valid = false;
                out.push(self.at(at, why));
            }
            Err(PolicyError::Config(why)) => {
                valid = false;
                out.push(Diagnostic::new(self.path, configuration_problem(&why)));
            }
        }
        valid.then(|| value.to_owned())
    }

    fn reason(&self, value: &str, at: usize, out: &mut Vec<Diagnostic>) -> Option<String> {
        let trimmed = value.trim();
        let length = trimmed.chars().count();
        let mut valid = true;
        if length < REASON_MIN_CHARS {
            valid = false;
            out.push(self.at(
                at,
                format!(
                    "`reason` is too short: {length} characters after trimming spaces; write at \
                     least {REASON_MIN_CHARS} characters saying why the key is needed"
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
        // Control characters would garble comments, notices and terminals.
        let control = trimmed
            .chars()
            .enumerate()
            .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\t' | '\r'));
        if let Some((index, c)) = control {
            valid = false;
            out.push(self.at(
                at,
                format!(
                    "`reason` holds the control character {} at character {}: remove it",
                    describe_char(c),
                    index + 1
                ),
            ));
        }
        valid.then(|| trimmed.to_owned())
    }

    fn expiry(
        &self,
        value: &toml::de::DeInteger<'_>,
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

    /// The request name only matters when the template uses `{request}`.
    fn request_name(&self, out: &mut Vec<Diagnostic>) {
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

/// The byte range of the integer token starting at `at` (for quoting it back).
fn value_span(text: &str, at: usize) -> std::ops::Range<usize> {
    let tail = text.get(at..).unwrap_or_default();
    let len = tail
        .find(|c: char| c.is_whitespace() || c == '#' || c == ',')
        .unwrap_or(tail.len());
    at..at + len
}

fn sample_inputs<'a>(iam_user: &'a str, request: &'a str) -> SecretNameInputs<'a> {
    SecretNameInputs {
        iam_user,
        timestamp: SAMPLE_TIMESTAMP,
        pr: SAMPLE_PR,
        request,
    }
}

fn configuration_problem(why: &str) -> String {
    format!(
        "keygate's configuration cannot judge this request ({why}); ask the keygate operators to \
         fix it"
    )
}

fn request_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".toml").unwrap_or(file)
}

// ----------------------------------------------------------------------------------------------
// Policy and names

enum PolicyError {
    /// The rules themselves are broken.
    Config(String),
    /// The rules refuse this user.
    Refused(String),
}

fn user_policy(iam_user: &str, rules: &RequestRules) -> Result<(), PolicyError> {
    let denied =
        cached_globs("policy.denied_users", &rules.denied_users).map_err(PolicyError::Config)?;
    let allowed =
        cached_globs("policy.allowed_users", &rules.allowed_users).map_err(PolicyError::Config)?;
    let denied_by = denied.matches(iam_user);
    if let Some(pattern) = denied_by.first().and_then(|i| rules.denied_users.get(*i)) {
        return Err(PolicyError::Refused(format!(
            "IAM user {} is refused by policy.denied_users (it matches {}): keygate issues no keys \
             for it; ask the keygate operators if that is wrong",
            quote(iam_user),
            quote(pattern)
        )));
    }
    if !allowed.is_match(iam_user) {
        return Err(PolicyError::Refused(format!(
            "IAM user {} is not in policy.allowed_users ({}): keygate issues no keys for it; ask \
             the keygate operators if that is wrong",
            quote(iam_user),
            list_patterns(&rules.allowed_users)
        )));
    }
    Ok(())
}

/// Compiled glob lists, by key and patterns: a configuration has two lists, and compiling
/// them for every request file made `validate` over 10,000 files take seconds.
fn cached_globs(key: &str, patterns: &[String]) -> Result<std::sync::Arc<GlobSet>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<HashMap<(String, Vec<String>), Arc<GlobSet>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = (key.to_string(), patterns.to_vec());
    if let Some(set) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return Ok(set.clone());
    }
    let set = Arc::new(compile_globs(key, patterns)?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, set.clone());
    Ok(set)
}

fn compile_globs(key: &str, patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        // IAM user names are unique without regard to case, so the lists match that way too:
        // `Admin` must not slip past a deny of `admin`.
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("{key}: invalid glob {}: {}", quote(pattern), e.kind()))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| format!("{key}: cannot compile the globs: {e}"))
}

fn list_patterns(patterns: &[String]) -> String {
    if patterns.is_empty() {
        return "the list is empty".to_owned();
    }
    let mut shown: Vec<String> = patterns.iter().take(3).map(|p| quote(p)).collect();
    if patterns.len() > 3 {
        shown.push(format!("and {} more", patterns.len() - 3));
    }
    format!("patterns {}", shown.join(", "))
}

/// Checks `policy.requests_dir`: a repository-relative folder, no leading or trailing `/`, no
/// `.` or `..` segments, no backslash. The error names the key.
pub fn check_requests_dir(dir: &str) -> Result<(), String> {
    let bad = dir.is_empty()
        || dir.starts_with('/')
        || dir.ends_with('/')
        || dir.contains('\\')
        || dir
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        Err(format!(
            "policy.requests_dir {} must be a repository-relative folder such as \"requests\", \
             without leading or trailing `/`, `.` or `..`",
            quote(dir)
        ))
    } else {
        Ok(())
    }
}

fn is_iam_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-')
}

fn is_secret_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
}

fn check_secret_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if length == 0 {
        return Err("the rendered secret name is empty".to_owned());
    }
    if length > SECRET_NAME_MAX_CHARS {
        return Err(format!(
            "the rendered secret name is {length} characters long; Secrets Manager allows at \
             most {SECRET_NAME_MAX_CHARS}"
        ));
    }
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| !is_secret_name_char(*c))
    {
        Some((index, c)) => Err(format!(
            "the secret name {} is not a valid Secrets Manager name: {} at character {} is not \
             allowed (only {SECRET_NAME_CHARS})",
            quote(name),
            describe_char(c),
            index + 1
        )),
        None => Ok(()),
    }
}

// ----------------------------------------------------------------------------------------------
// Quoting the user's input back, briefly and harmlessly

/// The user's text in backticks: at most [`ECHO_MAX_CHARS`], invisible characters escaped.
fn quote(s: &str) -> String {
    format!("`{}`", echo_plain(s))
}

fn echo_plain(s: &str) -> String {
    let mut out = String::new();
    for (count, c) in s.chars().enumerate() {
        if count == ECHO_MAX_CHARS {
            out.push('…');
            break;
        }
        if c == '`' {
            out.push('\'');
        } else if is_invisible(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters and the format characters that reorder or hide text.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn describe_char(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    match c {
        ' ' => format!("a space ({code})"),
        c if c.is_whitespace() || is_invisible(c) => format!("an invisible character ({code})"),
        '`' => format!("a backtick ({code})"),
        c => format!("`{c}` ({code})"),
    }
}

fn describe_value(value: &DeValue<'_>) -> String {
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

fn has_extension(file: &str, extension: &str) -> bool {
    file.rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(extension))
}

/// `file` renamed to end in `.toml`, for advice.
fn toml_file_name(file: &str) -> String {
    let stem = match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        Some(_) => "<name>",
        None => file,
    };
    format!("{}.toml", echo_plain(stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAPANESE_REASON: &str = "本番環境のバックアップ用に必要です";

    fn rules() -> RequestRules {
        RequestRules {
            requests_dir: "requests".to_owned(),
            default_expiry_days: 90,
            max_expiry_days: 365,
            allowed_users: vec!["*".to_owned()],
            denied_users: vec![],
            secret_name_template: "{iam_user}/access-key-{timestamp}".to_owned(),
        }
    }

    fn parse(path: &str, src: &str) -> Result<Request, Vec<Diagnostic>> {
        parse_request(path, src.as_bytes(), &rules())
    }

    fn diagnostics(path: &str, src: &str) -> Vec<Diagnostic> {
        match parse(path, src) {
            Ok(r) => panic!("expected diagnostics for {src:?}, got {r:?}"),
            Err(d) => d,
        }
    }

    /// The single diagnostic for `src`, or a panic listing them all.
    fn only(path: &str, src: &str) -> Diagnostic {
        let d = diagnostics(path, src);
        assert_eq!(d.len(), 1, "expected one diagnostic, got {d:#?}");
        d.into_iter().next().unwrap()
    }

    fn alice(extra: &str) -> String {
        format!("iam_user = \"alice\"\nreason = \"deploy from CI pipeline\"\n{extra}")
    }

    const ALICE: &str = "requests/alice/ci.toml";

    // --- valid requests ---------------------------------------------------------------------

    #[test]
    fn valid_request_gets_default_expiry_and_trimmed_reason() {
        let src = "iam_user = \"alice\"\nreason = \"  deploy from CI pipeline \\n \"\n";
        let r = parse(ALICE, src).unwrap();
        assert_eq!(
            r,
            Request {
                path: ALICE.to_owned(),
                iam_user: "alice".to_owned(),
                reason: "deploy from CI pipeline".to_owned(),
                expires_in_days: 90,
            }
        );
        assert_eq!(r.name(), "ci");
    }

    #[test]
    fn japanese_reason_is_counted_in_characters() {
        assert!(JAPANESE_REASON.chars().count() >= REASON_MIN_CHARS);
        let src = format!("iam_user = \"alice\"\nreason = \"{JAPANESE_REASON}\"\n");
        assert_eq!(parse(ALICE, &src).unwrap().reason, JAPANESE_REASON);

        // 9 characters but 27 bytes: still too short.
        let nine = "本番環境で使います";
        assert_eq!(nine.chars().count(), 9);
        let src = format!("iam_user = \"alice\"\nreason = \"{nine}\"\n");
        let d = only(ALICE, &src);
        assert!(d.message.contains("too short: 9 characters"), "{d}");
    }

    #[test]
    fn multiline_and_literal_strings_are_accepted() {
        let src =
            "iam_user = 'alice'\nreason = \"\"\"\nNightly backup job\nfor the data team\n\"\"\"\n";
        let r = parse(ALICE, src).unwrap();
        assert_eq!(r.reason, "Nightly backup job\nfor the data team");
    }

    #[test]
    fn comments_and_field_order_do_not_matter() {
        let src = "# my request\nexpires_in_days = 7 # a week\nreason = \"deploy from CI pipeline\"\niam_user = \"alice\"\n";
        assert_eq!(parse(ALICE, src).unwrap().expires_in_days, 7);
    }

    // --- reason -----------------------------------------------------------------------------

    #[test]
    fn reason_length_boundaries_are_in_characters_after_trimming() {
        let cases: &[(String, bool)] = &[
            ("a".repeat(9), false),
            ("a".repeat(10), true),
            (format!("   {}   ", "a".repeat(10)), true),
            (format!("  {}  ", "a".repeat(9)), false),
            ("é".repeat(10), true),
            ("a".repeat(1000), true),
            ("a".repeat(1001), false),
            ("本".repeat(1000), true),
            ("本".repeat(1001), false),
            ("      ".to_owned(), false),
            (String::new(), false),
        ];
        for (reason, valid) in cases {
            let src = format!("iam_user = \"alice\"\nreason = \"{reason}\"\n");
            let result = parse(ALICE, &src);
            assert_eq!(result.is_ok(), *valid, "reason {reason:?}: {result:?}");
        }
    }

    #[test]
    fn whitespace_only_reason_is_too_short() {
        let d = only(ALICE, "iam_user = \"alice\"\nreason = \" \\t \\n \"\n");
        assert!(d.message.contains("too short: 0 characters"), "{d}");
        assert_eq!((d.line, d.column), (Some(2), Some(10)));
    }

    #[test]
    fn too_long_reason_is_not_echoed_back() {
        let src = format!("iam_user = \"alice\"\nreason = \"{}\"\n", "x".repeat(5000));
        let d = only(ALICE, &src);
        assert!(d.message.contains("too long: 5000 characters"), "{d}");
        assert!(!d.message.contains("xxxxxxxxxx"), "{d}");
    }

    #[test]
    fn reason_with_control_character_is_refused() {
        let d = only(
            ALICE,
            "iam_user = \"alice\"\nreason = \"deploy \\u0007 from CI\"\n",
        );
        assert!(d.message.contains("U+0007"), "{d}");
    }

    #[test]
    fn reason_of_wrong_type_names_position_and_fix() {
        let d = only(ALICE, "iam_user = \"alice\"\nreason = 12345678901\n");
        assert_eq!((d.line, d.column), (Some(2), Some(10)));
        assert!(
            d.message
                .contains("`reason` must be a string, found an integer"),
            "{d}"
        );
    }

    // --- expires_in_days --------------------------------------------------------------------

    #[test]
    fn expiry_boundaries_and_types() {
        let cases: &[(&str, Option<u32>)] = &[
            ("0", None),
            ("1", Some(1)),
            ("30", Some(30)),
            ("365", Some(365)),
            ("366", None),
            ("-1", None),
            ("-0", None),
            ("+30", Some(30)),
            ("0x1E", Some(30)),
            ("1_0", Some(10)),
            ("4294967295", None),
            ("4294967296", None),
            ("99999999999999999999", None),
            ("99999999999999999999999999999999999999999999999", None),
            ("\"30\"", None),
            ("30.5", None),
            ("30.0", None),
            ("1e3", None),
            ("nan", None),
            ("true", None),
            ("2026-01-01", None),
            ("[30]", None),
            ("{ days = 30 }", None),
        ];
        for (value, expected) in cases {
            let src = alice(&format!("expires_in_days = {value}\n"));
            match (parse(ALICE, &src), expected) {
                (Ok(r), Some(days)) => assert_eq!(r.expires_in_days, *days, "{value}"),
                (Err(d), None) => {
                    assert_eq!(d.len(), 1, "{value}: {d:#?}");
                    assert_eq!((d[0].line, d[0].column), (Some(3), Some(19)), "{value}");
                    assert!(
                        d[0].message.contains("expires_in_days"),
                        "{value}: {}",
                        d[0]
                    );
                }
                (other, _) => panic!("{value}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn quoted_expiry_says_remove_the_quotes() {
        let d = only(ALICE, &alice("expires_in_days = \"30\"\n"));
        assert!(d.message.contains("remove the quotes"), "{d}");
    }

    #[test]
    fn fractional_expiry_says_whole_number() {
        let d = only(ALICE, &alice("expires_in_days = 30.5\n"));
        assert!(d.message.contains("whole number"), "{d}");
        assert!(d.message.contains("`30.5`"), "{d}");
    }

    #[test]
    fn out_of_range_expiry_names_the_bounds_and_default() {
        let d = only(ALICE, &alice("expires_in_days = 366\n"));
        assert!(d.message.contains("between 1 and 365"), "{d}");
        assert!(d.message.contains("found `366`"), "{d}");
        assert!(d.message.contains("default of 90 days"), "{d}");
    }

    #[test]
    fn expiry_follows_the_configured_maximum() {
        let mut rules = rules();
        rules.max_expiry_days = 30;
        let ok = parse_request(ALICE, alice("expires_in_days = 30").as_bytes(), &rules);
        assert_eq!(ok.unwrap().expires_in_days, 30);
        let refused = parse_request(ALICE, alice("expires_in_days = 31").as_bytes(), &rules);
        assert!(refused.is_err());
    }

    // --- iam_user ---------------------------------------------------------------------------

    #[test]
    fn iam_user_name_rules() {
        let cases: &[(&str, bool)] = &[
            ("alice", true),
            ("a", true),
            ("A-Za-z0-9+=.@_-", true),
            ("svc.deploy@prod", true),
            ("a,b", true),
            ("", false),
            ("al ice", false),
            ("alice/bob", false),
            ("ålice", false),
            ("alice\u{202e}", false),
        ];
        for (name, valid) in cases {
            assert_eq!(check_iam_user_name(name).is_ok(), *valid, "{name:?}");
        }
        assert!(check_iam_user_name(&"a".repeat(64)).is_ok());
        assert!(check_iam_user_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn iam_user_of_64_characters_is_accepted_and_65_refused() {
        let user64 = "u".repeat(64);
        let src = format!("iam_user = \"{user64}\"\nreason = \"deploy from CI pipeline\"\n");
        let r = parse(&format!("requests/{user64}/ci.toml"), &src).unwrap();
        assert_eq!(r.iam_user, user64);

        let user65 = "u".repeat(65);
        let src = format!("iam_user = \"{user65}\"\nreason = \"deploy from CI pipeline\"\n");
        // The folder is refused too, so the file gets both diagnostics.
        let d = diagnostics(&format!("requests/{user65}/ci.toml"), &src);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d[0].line.is_none() && d[0].message.contains("folder name"),
            "{}",
            d[0]
        );
        assert!(d[1].message.contains("65 characters long"), "{}", d[1]);
        assert_eq!((d[1].line, d[1].column), (Some(1), Some(12)));
    }

    #[test]
    fn iam_user_with_space_names_the_character() {
        let d = only(
            ALICE,
            "iam_user = \"al ice\"\nreason = \"deploy from CI pipeline\"\n",
        );
        assert!(d.message.contains("a space (U+0020) at character 3"), "{d}");
    }

    #[test]
    fn iam_user_must_equal_folder_name() {
        let d = only(
            ALICE,
            "iam_user = \"bob\"\nreason = \"deploy from CI pipeline\"\n",
        );
        assert!(
            d.message.contains("must equal the folder name `alice`"),
            "{d}"
        );
        assert_eq!((d.line, d.column), (Some(1), Some(12)));
    }

    #[test]
    fn iam_user_differing_only_in_case_is_refused_and_says_why() {
        let d = only(
            ALICE,
            "iam_user = \"Alice\"\nreason = \"deploy from CI pipeline\"\n",
        );
        assert!(d.message.contains("only in letter case"), "{d}");
        assert!(d.message.contains("compares them exactly"), "{d}");
    }

    #[test]
    fn iam_user_with_comma_is_refused_not_renamed() {
        let path = "requests/a,b/ci.toml";
        assert!(matches!(classify(path, &rules()), PathKind::Request { .. }));
        let d = only(
            path,
            "iam_user = \"a,b\"\nreason = \"deploy from CI pipeline\"\n",
        );
        assert!(d.message.contains("`,` (U+002C)"), "{d}");
        assert!(d.message.contains("Secrets Manager"), "{d}");
        assert!(d.message.contains("never renames"), "{d}");
        assert_eq!((d.line, d.column), (Some(1), Some(12)));
    }

    #[test]
    fn iam_user_with_comma_passes_when_template_does_not_use_it() {
        let mut rules = rules();
        rules.secret_name_template = "keys/pr-{pr}-{timestamp}".to_owned();
        let src = "iam_user = \"a,b\"\nreason = \"deploy from CI pipeline\"\n";
        assert!(parse_request("requests/a,b/ci.toml", src.as_bytes(), &rules).is_ok());
    }

    #[test]
    fn iam_user_of_wrong_type_is_reported_at_its_value() {
        let d = only(
            ALICE,
            "iam_user = 42\nreason = \"deploy from CI pipeline\"\n",
        );
        assert_eq!((d.line, d.column), (Some(1), Some(12)));
        assert!(d.message.contains("`iam_user` must be a string"), "{d}");
    }

    // --- allow and deny lists ---------------------------------------------------------------

    #[test]
    fn deny_list_wins_over_allow_list() {
        let mut rules = rules();
        rules.allowed_users = vec!["*".to_owned()];
        rules.denied_users = vec!["root*".to_owned(), "admin".to_owned()];
        let src = "iam_user = \"rootish\"\nreason = \"deploy from CI pipeline\"\n";
        let d = parse_request("requests/rootish/ci.toml", src.as_bytes(), &rules).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("policy.denied_users"), "{}", d[0]);
        assert!(d[0].message.contains("`root*`"), "{}", d[0]);
        assert_eq!((d[0].line, d[0].column), (Some(1), Some(12)));
        assert!(check_user_policy("alice", &rules).is_ok());
    }

    #[test]
    fn user_outside_allow_list_is_refused_naming_the_list() {
        let mut rules = rules();
        rules.allowed_users = vec!["svc-*".to_owned()];
        assert!(check_user_policy("svc-ci", &rules).is_ok());
        let err = check_user_policy("alice", &rules).unwrap_err();
        assert!(err.contains("policy.allowed_users"), "{err}");
        rules.allowed_users.clear();
        let err = check_user_policy("svc-ci", &rules).unwrap_err();
        assert!(err.contains("the list is empty"), "{err}");
    }

    #[test]
    fn policy_globs_ignore_case_because_iam_names_do() {
        let mut rules = rules();
        rules.denied_users = vec!["admin".to_owned()];
        assert!(check_user_policy("admin", &rules).is_err());
        assert!(check_user_policy("Admin", &rules).is_err());
    }

    #[test]
    fn broken_glob_at_parse_time_is_a_configuration_diagnostic() {
        let mut rules = rules();
        rules.denied_users = vec!["[a".to_owned()];
        let d = parse_request(ALICE, alice("").as_bytes(), &rules).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(d[0].line.is_none());
        assert!(d[0].message.contains("keygate operators"), "{}", d[0]);
    }

    // --- unknown and missing fields ---------------------------------------------------------

    #[test]
    fn unknown_field_is_reported_at_its_key_with_suggestion() {
        let d = only(ALICE, &alice("reasn = \"typo\"\n"));
        assert_eq!((d.line, d.column), (Some(3), Some(1)));
        assert!(d.message.contains("unknown field `reasn`"), "{d}");
        assert!(d.message.contains("did you mean `reason`?"), "{d}");
        assert!(
            d.message
                .contains("`iam_user`, `reason` and `expires_in_days`"),
            "{d}"
        );
    }

    #[test]
    fn unknown_field_suggestions() {
        let cases: &[(&str, Option<&str>)] = &[
            ("reasn", Some("reason")),
            ("Reason", Some("reason")),
            ("iam-user", Some("iam_user")),
            ("user", Some("iam_user")),
            ("expires", Some("expires_in_days")),
            ("expiry_days", Some("expires_in_days")),
            ("expires_in_day", Some("expires_in_days")),
            ("owner", None),
            ("x", None),
            ("requester", None),
        ];
        for (key, expected) in cases {
            assert_eq!(suggest_field(key), *expected, "{key}");
        }
    }

    #[test]
    fn unknown_field_without_likely_meaning_says_remove_it() {
        let d = only(ALICE, &alice("requester = \"bob\"\n"));
        assert!(d.message.contains("remove it"), "{d}");
        assert!(!d.message.contains("did you mean"), "{d}");
    }

    #[test]
    fn fields_under_a_table_header_say_move_them_to_the_top() {
        let src = "[request]\niam_user = \"alice\"\nreason = \"deploy from CI pipeline\"\n";
        let d = diagnostics(ALICE, src);
        assert_eq!(d.len(), 3, "{d:#?}");
        assert_eq!((d[0].line, d[0].column), (Some(1), Some(2)));
        assert!(
            d[0].message.contains("remove the `[request]` line"),
            "{}",
            d[0]
        );
        assert!(
            d[1].message
                .starts_with("missing required field `iam_user`")
        );
        assert!(d[2].message.starts_with("missing required field `reason`"));
    }

    #[test]
    fn dotted_known_key_is_a_wrong_type() {
        let d = only(
            ALICE,
            "iam_user = \"alice\"\nreason.text = \"deploy from CI pipeline\"\n",
        );
        assert!(
            d.message
                .contains("`reason` must be a string, found a table"),
            "{d}"
        );
        assert_eq!(d.line, Some(2));
    }

    #[test]
    fn missing_fields_have_no_position_and_say_what_to_add() {
        let d = diagnostics(ALICE, "expires_in_days = 30\n");
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(
            d[0],
            Diagnostic {
                path: ALICE.to_owned(),
                line: None,
                column: None,
                message: "missing required field `iam_user`: add `iam_user = \"alice\"` (the \
                          same as the folder name)"
                    .to_owned(),
            }
        );
        assert_eq!(
            d[1].message,
            "missing required field `reason`: add `reason = \"...\"` saying why the key is \
             needed (10 to 1000 characters)"
        );
        assert_eq!(d[1].line, None);
    }

    #[test]
    fn all_problems_are_reported_in_file_order() {
        let src = "iam_user = \"bob\"\nreasn = \"x\"\nreason = \"short\"\nexpires_in_days = 0\n";
        let d = diagnostics(ALICE, src);
        let lines: Vec<_> = d.iter().map(|d| d.line).collect();
        assert_eq!(lines, [Some(1), Some(2), Some(3), Some(4)], "{d:#?}");
    }

    // --- file-level problems ----------------------------------------------------------------

    #[test]
    fn empty_or_blank_file_is_one_diagnostic_showing_the_needed_fields() {
        for src in ["", "   ", "\n\n", "\r\n\t\r\n", "\u{FEFF}"] {
            let d = only(ALICE, src);
            assert_eq!(d.line, None);
            assert!(d.message.starts_with("the file is empty"), "{d}");
            assert!(d.message.contains("`iam_user = \"alice\"`"), "{d}");
        }
    }

    #[test]
    fn comment_only_file_lists_the_missing_fields() {
        let d = diagnostics(ALICE, "# just a comment\n");
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d.iter()
                .all(|d| d.message.starts_with("missing required field"))
        );
    }

    #[test]
    fn file_of_exactly_64_kib_is_accepted_and_one_byte_more_is_not() {
        let head = alice("");
        let mut src = head.clone();
        src.push('#');
        while src.len() < MAX_FILE_BYTES - 1 {
            src.push('x');
        }
        src.push('\n');
        assert_eq!(src.len(), MAX_FILE_BYTES);
        assert!(parse(ALICE, &src).is_ok());

        src.insert(head.len() + 1, 'x');
        let d = only(ALICE, &src);
        assert!(d.message.contains("65537 bytes"), "{d}");
        assert!(d.message.contains("64 KiB"), "{d}");
        assert_eq!(d.line, None);
    }

    #[test]
    fn utf8_bom_is_accepted_and_does_not_shift_columns() {
        let src = format!("\u{FEFF}{}", alice(""));
        assert!(parse(ALICE, &src).is_ok());
        let d = only(
            ALICE,
            "\u{FEFF}reasn = 1\niam_user = \"alice\"\nreason = \"deploy from CI pipeline\"\n",
        );
        assert_eq!((d.line, d.column), (Some(1), Some(1)));
    }

    #[test]
    fn crlf_line_endings_are_accepted_with_correct_positions() {
        let src = "iam_user = \"alice\"\r\nreason = \"deploy from CI pipeline\"\r\n";
        assert!(parse(ALICE, src).is_ok());
        let src = "iam_user = \"alice\"\r\nreason = \"deploy from CI pipeline\"\r\nexpires_in_days = 0\r\n";
        let d = only(ALICE, src);
        assert_eq!((d.line, d.column), (Some(3), Some(19)));
    }

    #[test]
    fn nul_byte_means_binary_content() {
        let mut bytes = alice("").into_bytes();
        bytes.push(0);
        let d = parse_request(ALICE, &bytes, &rules()).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("binary data"), "{}", d[0]);
        assert!(
            d[0].message
                .contains(&format!("byte offset {}", bytes.len() - 1))
        );
    }

    #[test]
    fn utf16_file_says_save_as_utf8() {
        let bytes: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("iam_user".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let d = parse_request(ALICE, &bytes, &rules()).unwrap_err();
        assert!(d[0].message.contains("UTF-16"), "{}", d[0]);
    }

    #[test]
    fn invalid_utf8_names_byte_offset_line_and_column() {
        let mut bytes = b"iam_user = \"alice\"\nreason = \"caf".to_vec();
        bytes.push(0xE9); // Latin-1 "é"
        bytes.extend_from_slice(b" deploy from CI\"\n");
        let d = parse_request(ALICE, &bytes, &rules()).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("not valid UTF-8"), "{}", d[0]);
        assert!(d[0].message.contains("0xE9 at byte offset 32"), "{}", d[0]);
        assert_eq!((d[0].line, d[0].column), (Some(2), Some(14)));
    }

    // --- TOML syntax ------------------------------------------------------------------------

    #[test]
    fn syntax_error_has_position_cleaned_message_and_hint() {
        let d = only(ALICE, "iam_user = \"alice\"\nreason = deploy from CI\n");
        assert_eq!((d.line, d.column), (Some(2), Some(10)));
        assert!(d.message.starts_with("TOML syntax error: "), "{d}");
        assert!(
            d.message.contains("hint: text goes in double quotes"),
            "{d}"
        );
        assert!(!d.message.contains('\n'), "{d}");
    }

    #[test]
    fn syntax_error_column_counts_characters_not_bytes() {
        let src = format!("iam_user = \"alice\"\nreason = \"{JAPANESE_REASON}\" extra\n");
        let d = only(ALICE, &src);
        let prefix = format!("reason = \"{JAPANESE_REASON}\" ");
        assert_eq!(d.line, Some(2));
        assert_eq!(d.column, Some(prefix.chars().count() + 1));
        assert_ne!(d.column, Some(prefix.len() + 1));
    }

    #[test]
    fn syntax_error_hints() {
        let cases: &[(&str, &str)] = &[
            ("iam_user = \"alice\"\niam_user = \"alice\"\n", "only once"),
            ("iam_user \"alice\"\n", "`name = value`"),
            ("iam_user = \"alice\n", "triple quotes"),
            (
                "iam_user = \"alice\"\nexpires_in_days = 30 days\n",
                "double quotes",
            ),
        ];
        for (src, hint) in cases {
            let d = diagnostics(ALICE, src);
            assert!(d[0].message.contains(hint), "{src:?}: {}", d[0]);
            assert!(d[0].line.is_some(), "{src:?}");
        }
    }

    // --- paths ------------------------------------------------------------------------------

    #[test]
    fn classify_table() {
        let request = |user: &str| PathKind::Request {
            folder_user: user.to_owned(),
        };
        let cases: &[(&str, Option<PathKind>, &str)] = &[
            ("requests/alice/ci.toml", Some(request("alice")), ""),
            (
                "requests/svc.deploy@prod/a.b.toml",
                Some(request("svc.deploy@prod")),
                "",
            ),
            ("requests/README.md", Some(PathKind::Documentation), ""),
            ("requests/alice/notes.MD", Some(PathKind::Documentation), ""),
            ("requests/a/b/README.md", Some(PathKind::Documentation), ""),
            ("README.md", Some(PathKind::Outside), ""),
            ("CODEOWNERS", Some(PathKind::Outside), ""),
            ("requests", Some(PathKind::Outside), ""),
            ("requestsx/alice/ci.toml", Some(PathKind::Outside), ""),
            ("Requests/alice/ci.toml", Some(PathKind::Outside), ""),
            ("docs/requests/alice/ci.toml", Some(PathKind::Outside), ""),
            ("requests/x.toml", None, "put it in requests/<iam_user>/"),
            ("requests/a/b/c.toml", None, "nested too deep"),
            (
                "requests/alice/ci.yaml",
                None,
                "rename it to requests/alice/ci.toml",
            ),
            (
                "requests/alice/ci.tml",
                None,
                "rename it to requests/alice/ci.toml",
            ),
            (
                "requests/alice/ci.TOML",
                None,
                "lower-case `.toml`: rename it to requests/alice/ci.toml",
            ),
            (
                "requests/alice/ci",
                None,
                "rename it to requests/alice/ci.toml",
            ),
            ("requests/alice/.toml", None, "the file name is empty"),
            ("requests/al ice/ci.toml", None, "not a valid IAM user name"),
            ("requests/ålice/ci.toml", None, "not a valid IAM user name"),
            ("requests//ci.toml", None, "empty folder or file name"),
            ("requests/alice/", None, "empty folder or file name"),
        ];
        for (path, expected, says) in cases {
            let got = classify(path, &rules());
            match expected {
                Some(kind) => assert_eq!(&got, kind, "{path}"),
                None => match got {
                    PathKind::Misplaced(d) => {
                        assert_eq!(d.path, *path);
                        assert_eq!(d.line, None);
                        assert!(d.message.contains(says), "{path}: {d}");
                    }
                    other => panic!("{path}: expected Misplaced, got {other:?}"),
                },
            }
        }
    }

    #[test]
    fn classify_tolerates_slashes_around_the_configured_folder() {
        let mut rules = rules();
        rules.requests_dir = "access/requests/".to_owned();
        assert_eq!(
            classify("access/requests/alice/ci.toml", &rules),
            PathKind::Request {
                folder_user: "alice".to_owned()
            }
        );
        assert_eq!(
            classify("requests/alice/ci.toml", &rules),
            PathKind::Outside
        );
    }

    #[test]
    fn misplaced_file_still_gets_its_content_checked() {
        let d = diagnostics(
            "requests/ci.toml",
            "iam_user = \"alice\"\nreason = \"short\"\n",
        );
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d[0].message.contains("put it in requests/<iam_user>/"),
            "{}",
            d[0]
        );
        assert!(d[1].message.contains("too short"), "{}", d[1]);
    }

    #[test]
    fn documentation_and_outside_paths_are_not_requests() {
        let d = only("requests/README.md", "# How to ask for a key\n");
        assert!(d.message.contains("documentation"), "{d}");
        let d = only("src/main.rs", "fn main() {}\n");
        assert!(d.message.contains("outside the requests/ folder"), "{d}");
    }

    #[test]
    fn request_name_that_breaks_the_secret_name_is_refused() {
        let mut rules = rules();
        rules.secret_name_template = "{iam_user}/{request}-{timestamp}".to_owned();
        let path = "requests/alice/my key.toml";
        let d = parse_request(path, alice("").as_bytes(), &rules).unwrap_err();
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].message.contains("the file name `my key`"), "{}", d[0]);
        assert!(d[0].message.contains("a space (U+0020)"), "{}", d[0]);
        assert!(parse_request(ALICE, alice("").as_bytes(), &rules).is_ok());
    }

    // --- secret names -----------------------------------------------------------------------

    fn inputs<'a>(iam_user: &'a str, request: &'a str) -> SecretNameInputs<'a> {
        SecretNameInputs {
            iam_user,
            timestamp: "20260314150926",
            pr: 42,
            request,
        }
    }

    #[test]
    fn secret_name_renders_every_placeholder() {
        let got = render_secret_name("{iam_user}/access-key-{timestamp}", &inputs("alice", "ci"));
        assert_eq!(got.unwrap(), "alice/access-key-20260314150926");
        let got = render_secret_name(
            "keys/{iam_user}/pr{pr}/{request}/{timestamp}",
            &inputs("alice", "ci"),
        );
        assert_eq!(got.unwrap(), "keys/alice/pr42/ci/20260314150926");
        let got = render_secret_name("{pr}{pr}", &inputs("alice", "ci"));
        assert_eq!(got.unwrap(), "4242");
    }

    #[test]
    fn secret_name_template_errors_explain_themselves() {
        let cases: &[(&str, &str)] = &[
            ("{user}/key", "unknown placeholder `{user}`"),
            ("{iam_user/key", "never closed"),
            ("{iam_user}}/key", "without a matching"),
            ("", "empty"),
            ("{iam_user} key", "a space (U+0020) at character 6"),
            ("{iam_user}:{pr}", "`:` (U+003A)"),
        ];
        for (template, says) in cases {
            let err = render_secret_name(template, &inputs("alice", "ci")).unwrap_err();
            assert!(err.contains(says), "{template:?}: {err}");
        }
    }

    #[test]
    fn secret_name_names_the_offending_character_and_length_limit() {
        let err = render_secret_name("{iam_user}/k", &inputs("a,b", "ci")).unwrap_err();
        assert!(err.contains("`,` (U+002C) at character 2"), "{err}");
        let long = "x".repeat(SECRET_NAME_MAX_CHARS);
        assert!(render_secret_name(&long, &inputs("a", "b")).is_ok());
        let err = render_secret_name(&format!("{long}x"), &inputs("a", "b")).unwrap_err();
        assert!(err.contains("513 characters"), "{err}");
        assert!(err.len() < 200, "{err}");
    }

    // --- configuration ----------------------------------------------------------------------

    #[test]
    fn default_rules_pass_check() {
        assert_eq!(rules().check(), Ok(()));
    }

    #[test]
    fn check_names_the_list_and_the_bad_glob() {
        let mut bad = rules();
        bad.allowed_users = vec!["ok*".to_owned(), "[unclosed".to_owned()];
        let err = bad.check().unwrap_err();
        assert!(
            err.starts_with("policy.allowed_users: invalid glob `[unclosed`"),
            "{err}"
        );

        let mut bad = rules();
        bad.denied_users = vec!["{a".to_owned()];
        let err = bad.check().unwrap_err();
        assert!(
            err.starts_with("policy.denied_users: invalid glob `{a`"),
            "{err}"
        );
    }

    #[test]
    fn requests_dir_must_be_a_plain_relative_folder() {
        for dir in ["requests", "access/requests", ".github-requests"] {
            assert_eq!(check_requests_dir(dir), Ok(()), "{dir:?}");
        }
        for dir in [
            "",
            "/requests",
            "requests/",
            "../requests",
            "a//b",
            "a\\b",
            ".",
        ] {
            let err = check_requests_dir(dir).unwrap_err();
            assert!(err.contains("policy.requests_dir"), "{dir:?}");
        }
    }

    #[test]
    fn empty_requests_dir_classifies_everything_as_outside() {
        let mut rules = rules();
        rules.requests_dir = String::new();
        assert_eq!(classify("alice/ci.toml", &rules), PathKind::Outside);
        assert_eq!(classify("/alice/ci.toml", &rules), PathKind::Outside);
    }

    // --- display, positions, robustness -----------------------------------------------------

    #[test]
    fn diagnostic_display_with_and_without_position() {
        let mut d = Diagnostic::new(ALICE, "something is wrong");
        assert_eq!(d.to_string(), "requests/alice/ci.toml: something is wrong");
        d.line = Some(3);
        d.column = Some(1);
        assert_eq!(
            d.to_string(),
            "requests/alice/ci.toml:3:1: something is wrong"
        );
    }

    #[test]
    fn position_counts_lines_and_characters_and_clamps() {
        let text = "ab\n日本x\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 3), (2, 1));
        assert_eq!(position(text, 9), (2, 3));
        assert_eq!(position(text, 4), (2, 1)); // inside a character: floored
        assert_eq!(position(text, 1000), (3, 1));
        assert_eq!(position("", 5), (1, 1));
    }

    #[test]
    fn echoed_input_is_short_and_escaped() {
        let key = format!("{}\u{202e}", "k".repeat(5000));
        let d = only(ALICE, &alice(&format!("\"{key}\" = 1\n")));
        assert!(d.message.chars().count() < 300, "{d}");
        let d = only(ALICE, &alice("\"a\u{202e}b\" = 1\n"));
        assert!(d.message.contains("\\u{202e}"), "{d}");
        assert!(!d.message.contains('\u{202e}'), "{d}");
    }

    /// A small deterministic generator, so the odd inputs are the same on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn odd_inputs_never_panic_and_messages_stay_short() {
        let mut inputs: Vec<Vec<u8>> = [
            "=",
            "= = =",
            "[",
            "[[",
            "]]",
            "\"",
            "'''",
            "\"\"\"",
            "\r",
            "\r\r\n",
            "a.b.c.d = 1",
            "iam_user = { a = [1, [2, [3]]] }",
            "x = 1979-05-27T07:32:00Z",
            "x = inf\ny = -nan",
            "iam_user = \"\\uD800\"",
            "iam_user = \"\\U0010FFFF\"",
            "\u{FEFF}\u{FEFF}",
            "\u{0085}\u{2028}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        inputs.push("[".repeat(10_000).into_bytes());
        inputs.push(format!("x = {}", "[".repeat(10_000)).into_bytes());
        inputs.push(format!("x = {}", "{a=".repeat(5_000)).into_bytes());
        inputs.push(format!("reason = \"{}", "y".repeat(60_000)).into_bytes());
        inputs.push(vec![0xEF, 0xBB]);
        inputs.push(vec![0xEF, 0xBB, 0xBF, 0xFF]);
        inputs.push(vec![0xC3]);
        inputs.push(vec![0xFE]);
        let mut state = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b"[]{}=\"'.,#\n\r\t abc_-019xe+:\\";
        for _ in 0..300 {
            let len = (xorshift(&mut state) % 64) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[(xorshift(&mut state) % alphabet.len() as u64) as usize])
                .collect();
            inputs.push(text);
            let raw: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
            inputs.push(raw);
        }
        let paths = [
            ALICE,
            "requests/x.toml",
            "requests/a/b/c",
            "requests/",
            "",
            "/",
            "requests//",
        ];
        for bytes in &inputs {
            for path in paths {
                if let Err(diagnostics) = parse_request(path, bytes, &rules()) {
                    assert!(!diagnostics.is_empty());
                    for d in diagnostics {
                        assert!(d.message.chars().count() < 600, "{d}");
                    }
                }
            }
        }
    }

    #[test]
    fn user_lists_match_without_regard_to_case_as_iam_names_do() {
        let mut rules = rules();
        rules.denied_users = vec!["admin*".into()];
        assert!(check_user_policy("Admin-Ops", &rules).is_err());
        assert!(check_user_policy("ADMIN", &rules).is_err());
        assert!(check_user_policy("svc-admin", &rules).is_ok());
    }
}
