//! `CODEOWNERS` parsing and matching with GitHub's semantics.
//!
//! keygate decides who may approve a request file from the base branch's
//! `CODEOWNERS` (DESIGN.md §2 point 2), so this module must give exactly the
//! answer GitHub gives:
//!
//! * Lines are `pattern owner owner ...`; blank lines and `#` comments are
//!   ignored, and a `#` that starts a token begins a trailing comment.
//! * Patterns follow gitignore rules with GitHub's exceptions: no `!`
//!   negation, no `[ ]` character ranges, and `\#` escapes a leading `#`.
//! * The **last** matching line decides; a line without owners means the
//!   matched paths have no owner.
//! * Invalid lines are skipped for matching (as GitHub does) and reported in
//!   [`CodeOwners::errors`], so that the caller can fail closed.
//! * Matching is case-sensitive, as on GitHub ("CODEOWNERS paths are case
//!   sensitive, because GitHub uses a case sensitive file system").
//!
//! All rules are compiled into one [`globset::GlobSet`] (one glob per rule);
//! a path and its ancestor directories are matched against it and the
//! highest matching rule index wins.

use std::fmt;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Where GitHub looks for CODEOWNERS, in order; the first that exists is used.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// GitHub ignores CODEOWNERS files of this size or more (3 MB); the caller enforces it.
pub const MAX_SIZE: usize = 3 * 1024 * 1024;

/// Longest GitHub login (users and organisations).
const MAX_LOGIN_LEN: usize = 39;

/// What an owner token may be, for error messages.
const OWNER_FORMS: &str = "write a user as `@login`, a team as `@org/team-slug`, or an e-mail address such as `user@example.com`";

/// A code owner named on a CODEOWNERS line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// `@login` (stored without the `@`, case preserved; compare case-insensitively via helper)
    User(String),
    /// `@org/team-slug` (stored without the `@`)
    Team { org: String, slug: String },
    /// `someone@example.com`
    Email(String),
}

impl Owner {
    /// Parses one owner token as written in CODEOWNERS (`@login`,
    /// `@org/team-slug` or `user@example.com`). The error says what is wrong
    /// and what to write instead.
    pub fn parse(token: &str) -> Result<Owner, String> {
        if let Some(name) = token.strip_prefix('@') {
            if let Some((org, slug)) = name.split_once('/') {
                if !is_valid_login(org) {
                    return Err(format!(
                        "`{token}`: `{org}` is not a valid GitHub organisation name \
                         (1-{MAX_LOGIN_LEN} letters, digits or single hyphens, not starting or \
                         ending with a hyphen); write a team as `@org/team-slug`"
                    ));
                }
                if slug.is_empty() {
                    return Err(format!(
                        "`{token}` names no team after the `/`; write a team as `@{org}/team-slug`"
                    ));
                }
                if !is_valid_team_slug(slug) {
                    return Err(format!(
                        "`{token}`: `{slug}` is not a valid team slug (letters, digits, `-`, `_` \
                         and `.` only); write a team as `@{org}/team-slug`"
                    ));
                }
                return Ok(Owner::Team {
                    org: org.to_owned(),
                    slug: slug.to_owned(),
                });
            }
            if name.is_empty() {
                return Err(format!("`@` alone names nobody; {OWNER_FORMS}"));
            }
            if !is_valid_login(name) {
                return Err(format!(
                    "`{token}` is not a valid GitHub user name: a login is 1-{MAX_LOGIN_LEN} \
                     letters, digits or single hyphens and cannot start or end with a hyphen; \
                     {OWNER_FORMS}"
                ));
            }
            return Ok(Owner::User(name.to_owned()));
        }
        if token.contains('@') {
            if is_valid_email(token) {
                return Ok(Owner::Email(token.to_owned()));
            }
            return Err(format!(
                "`{token}` is not a valid e-mail address; {OWNER_FORMS}"
            ));
        }
        Err(format!("`{token}` is not an owner; {OWNER_FORMS}"))
    }

    /// True when this owner is the user `login` (GitHub logins are case-insensitive).
    pub fn is_user(&self, login: &str) -> bool {
        matches!(self, Owner::User(own) if own.eq_ignore_ascii_case(login))
    }

    /// True when this owner is the team `org/slug` (compared case-insensitively).
    pub fn is_team(&self, org: &str, slug: &str) -> bool {
        matches!(self, Owner::Team { org: o, slug: s }
            if o.eq_ignore_ascii_case(org) && s.eq_ignore_ascii_case(slug))
    }

    /// Equality as GitHub sees it: logins, organisations, team slugs and
    /// e-mail addresses compared without regard to ASCII case.
    pub fn same_as(&self, other: &Owner) -> bool {
        match (self, other) {
            (Owner::User(a), Owner::User(b)) | (Owner::Email(a), Owner::Email(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            (Owner::Team { org, slug }, other) => other.is_team(org, slug),
            _ => false,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(login) => write!(f, "@{login}"),
            Owner::Team { org, slug } => write!(f, "@{org}/{slug}"),
            Owner::Email(address) => f.write_str(address),
        }
    }
}

/// GitHub login rules: 1-39 ASCII letters, digits and hyphens; no leading,
/// trailing or doubled hyphen.
pub fn is_valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
}

/// Team slug: ASCII letters, digits, `-`, `_` and `.`.
fn is_valid_team_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A pragmatic e-mail check: `local@domain.tld` with an RFC 5322 "atext"
/// local part (dots allowed) and a DNS host name of at least two labels.
fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
    local_ok && domain_ok
}

/// One valid CODEOWNERS line.
#[derive(Debug, Clone)]
pub struct Rule {
    /// 1-based line number in the file.
    pub line: usize,
    /// The pattern as written (after un-escaping `\#` and `\ `).
    pub pattern: String,
    /// May be empty: the path then has no owner.
    pub owners: Vec<Owner>,
    /// The glob (as added to the set) that names what the pattern designates.
    glob: String,
    /// Whether the pattern reaches the path itself, what is beneath it, or both.
    reach: Reach,
    /// The pattern, parsed (with a leading `**` when unanchored).
    segments: Vec<Segment>,
    /// The pattern uses `?`: globset matches `?` against one *byte*, so the
    /// glob has `?` widened to `*` and each hit is confirmed against
    /// `segments`, where `?` matches one Unicode character.
    confirm: bool,
}

impl Rule {
    /// The glob this rule compiles to, for diagnostics. A rule also covers
    /// everything beneath a directory its glob matches, unless its pattern
    /// ends with `/*` (direct children only) or `/**`.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// Does this rule's glob, matched against `prefix` (the path itself when
    /// `is_full`, else one of its ancestor directories), cover the path?
    fn covers(&self, prefix: &str, is_full: bool) -> bool {
        let reach_ok = match self.reach {
            Reach::Beneath => !is_full,
            Reach::Itself => is_full,
            Reach::ItselfAndBeneath => true,
        };
        reach_ok
            && (!self.confirm || {
                let components: Vec<&str> = prefix.split('/').collect();
                segments_match(&self.segments, &components)
            })
    }
}

/// An invalid CODEOWNERS line: GitHub skips it, keygate reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct LineError {
    /// 1-based line number (0 only for a problem with the file as a whole).
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// The line as written (without its line ending).
    pub text: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// A parsed CODEOWNERS file with its compiled matcher.
#[derive(Debug, Clone)]
pub struct CodeOwners {
    rules: Vec<Rule>,
    errors: Vec<LineError>,
    set: GlobSet,
    /// Glob index in `set` → rule index in `rules`.
    glob_rule: Vec<usize>,
}

impl Default for CodeOwners {
    fn default() -> Self {
        CodeOwners {
            rules: Vec::new(),
            errors: Vec::new(),
            set: GlobSet::empty(),
            glob_rule: Vec::new(),
        }
    }
}

impl CodeOwners {
    /// Never fails: invalid lines are recorded in `errors()` and ignored for matching, as GitHub does.
    pub fn parse(text: &str) -> CodeOwners {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let mut builder = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();

        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some(parsed)) => {
                    // Case-sensitive on purpose: GitHub's matching is.
                    let compiled = GlobBuilder::new(&parsed.glob)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .case_insensitive(false)
                        .build();
                    match compiled {
                        Ok(glob) => {
                            builder.add(glob);
                            glob_rule.push(rules.len());
                            rules.push(Rule {
                                line: line_no,
                                pattern: parsed.pattern,
                                owners: parsed.owners,
                                glob: parsed.glob,
                                reach: parsed.reach,
                                segments: parsed.segments,
                                confirm: parsed.confirm,
                            });
                        }
                        Err(e) => errors.push(LineError {
                            line: line_no,
                            column: parsed.pattern_column,
                            text: line.to_owned(),
                            message: format!(
                                "pattern `{}` cannot be compiled ({e}); simplify it",
                                parsed.pattern
                            ),
                        }),
                    }
                }
                Err((column, message)) => errors.push(LineError {
                    line: line_no,
                    column,
                    text: line.to_owned(),
                    message,
                }),
            }
        }

        let set = match builder.build() {
            Ok(set) => set,
            Err(e) => {
                // Fail closed: nothing matches, and the caller sees why.
                errors.push(LineError {
                    line: 0,
                    column: 0,
                    text: String::new(),
                    message: format!(
                        "the CODEOWNERS patterns cannot be compiled together ({e}); \
                         use fewer or simpler patterns"
                    ),
                });
                glob_rule.clear();
                GlobSet::empty()
            }
        };
        CodeOwners {
            rules,
            errors,
            set,
            glob_rule,
        }
    }

    /// The valid rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The invalid lines, in file order. GitHub skips them; keygate refuses to
    /// issue while there is any.
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// True when every line is valid.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The rule that decides `path` (repository-relative, '/' separated, no leading '/'):
    /// the LAST matching rule, or None when no line matches.
    ///
    /// A leading `/` on `path` is tolerated and ignored.
    pub fn rule_for(&self, path: &str) -> Option<&Rule> {
        let mut best: Option<usize> = None;
        self.for_each_match(path, |index| {
            if best.is_none_or(|b| index > b) {
                best = Some(index);
            }
        });
        best.and_then(|index| self.rules.get(index))
    }

    /// Every rule that matches `path`, in file order (the last one decides).
    /// Useful to explain a decision.
    pub fn matching_rules(&self, path: &str) -> Vec<&Rule> {
        let mut indices = Vec::new();
        self.for_each_match(path, |index| indices.push(index));
        indices.sort_unstable();
        indices.dedup();
        indices
            .into_iter()
            .filter_map(|index| self.rules.get(index))
            .collect()
    }

    /// Calls `found` with the index of every rule that matches `path` (a rule
    /// may be reported more than once).
    ///
    /// gitignore semantics: a pattern that matches a directory covers
    /// everything beneath it. Instead of compiling `glob` and `glob/**` for
    /// every rule (slow: every `/**` glob lands in globset's regex engine),
    /// the one set of plain globs is matched against the path and against
    /// each of its ancestor directories; each rule's [`Reach`] then says
    /// which of those hits count.
    fn for_each_match(&self, path: &str, mut found: impl FnMut(usize)) {
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.is_empty() || self.rules.is_empty() {
            return;
        }
        let mut hits = Vec::new();
        let ends = path
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(path.len()));
        for end in ends {
            let Some(prefix) = path.get(..end).filter(|p| !p.is_empty()) else {
                continue;
            };
            let is_full = end == path.len();
            self.set.matches_into(prefix, &mut hits);
            for &glob in &hits {
                let Some(&index) = self.glob_rule.get(glob) else {
                    continue;
                };
                if self
                    .rules
                    .get(index)
                    .is_some_and(|rule| rule.covers(prefix, is_full))
                {
                    found(index);
                }
            }
        }
    }

    /// Convenience: owners of path (empty slice when no match or rule has no owners).
    pub fn owners_of(&self, path: &str) -> &[Owner] {
        self.rule_for(path)
            .map_or(&[], |rule| rule.owners.as_slice())
    }
}

// ---------------------------------------------------------------------------
// Line parsing
// ---------------------------------------------------------------------------

/// One character of a token, with whether it was backslash-escaped and its
/// 1-based column.
#[derive(Debug, Clone, Copy)]
struct PChar {
    ch: char,
    escaped: bool,
    column: usize,
}

#[derive(Debug)]
struct Token {
    column: usize,
    /// The token exactly as written (escapes kept).
    raw: String,
    chars: Vec<PChar>,
    /// The token ends with a lone `\` (at the end of the line).
    dangling_backslash: bool,
}

/// Splits a line into whitespace-separated tokens. `\` escapes the next
/// character (so `\ ` keeps a space inside a token); a token that begins with
/// an unescaped `#` starts a comment that runs to the end of the line.
fn tokenize(line: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    loop {
        while chars.next_if(|&(_, c)| c.is_ascii_whitespace()).is_some() {}
        let Some(&(start, first)) = chars.peek() else {
            break;
        };
        if first == '#' {
            break;
        }
        let mut token = Token {
            column: start + 1,
            raw: String::new(),
            chars: Vec::new(),
            dangling_backslash: false,
        };
        while let Some((i, c)) = chars.next_if(|&(_, c)| !c.is_ascii_whitespace()) {
            token.raw.push(c);
            if c == '\\' {
                match chars.next() {
                    Some((j, next)) => {
                        token.raw.push(next);
                        token.chars.push(PChar {
                            ch: next,
                            escaped: true,
                            column: j + 1,
                        });
                    }
                    None => token.dangling_backslash = true,
                }
            } else {
                token.chars.push(PChar {
                    ch: c,
                    escaped: false,
                    column: i + 1,
                });
            }
        }
        tokens.push(token);
    }
    tokens
}

struct ParsedLine {
    pattern: String,
    pattern_column: usize,
    owners: Vec<Owner>,
    glob: String,
    reach: Reach,
    segments: Vec<Segment>,
    confirm: bool,
}

/// `Ok(None)` for blank and comment lines; `Err((column, message))` for an invalid line.
fn parse_line(line: &str) -> Result<Option<ParsedLine>, (usize, String)> {
    let tokens = tokenize(line);
    let Some((pattern_token, owner_tokens)) = tokens.split_first() else {
        return Ok(None);
    };
    let compiled = compile_pattern(pattern_token)?;
    let mut owners = Vec::with_capacity(owner_tokens.len());
    for token in owner_tokens {
        let owner = Owner::parse(&token.raw).map_err(|message| (token.column, message))?;
        owners.push(owner);
    }
    Ok(Some(ParsedLine {
        pattern: compiled.display,
        pattern_column: pattern_token.column,
        owners,
        glob: compiled.glob,
        reach: compiled.reach,
        segments: compiled.segments,
        confirm: compiled.confirm,
    }))
}

// ---------------------------------------------------------------------------
// Pattern compilation
// ---------------------------------------------------------------------------

struct CompiledPattern {
    display: String,
    glob: String,
    reach: Reach,
    segments: Vec<Segment>,
    confirm: bool,
}

/// Turns a gitignore-style pattern into one glob for a set built with
/// `literal_separator(true)` (so `*` and `?` never cross `/`), and its reach:
///
/// * no `/` except a trailing one → matches at any depth: prefixed with `**/`;
/// * a leading or middle `/` → anchored at the repository root;
/// * a trailing `/` → only directories: [`Reach::Beneath`] (everything
///   beneath a directory the glob matches, at any depth);
/// * otherwise the pattern may name a file or a directory:
///   [`Reach::ItselfAndBeneath`] — except when the last segment is a lone `*`
///   (GitHub: `docs/*` owns `docs/a.md` but not `docs/sub/b.md`) or `**`
///   (which already reaches everything beneath): [`Reach::Itself`].
fn compile_pattern(token: &Token) -> Result<CompiledPattern, (usize, String)> {
    let chars = &token.chars;
    let display: String = {
        let mut s = String::new();
        for pc in chars {
            if pc.escaped && !matches!(pc.ch, '#' | ' ') {
                s.push('\\');
            }
            s.push(pc.ch);
        }
        s
    };
    if token.dangling_backslash {
        return Err((
            token.column + token.raw.chars().count().saturating_sub(1),
            format!(
                "pattern `{}` ends with a lone `\\`; remove it, or escape a character after it",
                token.raw
            ),
        ));
    }
    if let Some(first) = chars.first().filter(|pc| pc.ch == '!' && !pc.escaped) {
        return Err((
            first.column,
            format!(
                "pattern `{}` starts with `!`: negation is not supported in CODEOWNERS; \
                 give the paths that should have no owner a line of their own without owners",
                token.raw
            ),
        ));
    }
    if let Some(bracket) = chars.iter().find(|pc| matches!(pc.ch, '[' | ']')) {
        return Err((
            bracket.column,
            format!(
                "pattern `{}` uses `{}`: character ranges `[ ]` are not supported in CODEOWNERS; \
                 write one line per name or use `*` / `?`",
                token.raw, bracket.ch
            ),
        ));
    }

    let (leading_slash, body) = match chars.split_first() {
        Some((first, rest)) if first.ch == '/' => (true, rest),
        _ => (false, chars.as_slice()),
    };
    let (trailing_slash, body) = match body.split_last() {
        Some((last, rest)) if last.ch == '/' => (true, rest),
        _ => (false, body),
    };
    if body.is_empty() {
        return Err((
            token.column,
            format!(
                "pattern `{}` names no path; use `*` for every file",
                token.raw
            ),
        ));
    }
    let parts: Vec<&[PChar]> = body.split(|pc| pc.ch == '/').collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err((
            token.column,
            format!(
                "pattern `{}` contains an empty path segment (`//`); remove the extra `/`",
                token.raw
            ),
        ));
    }
    let anchored = leading_slash || parts.len() > 1;

    let segments: Vec<Segment> = parts.iter().map(|part| Segment::from_chars(part)).collect();
    let uses_question = segments.iter().any(Segment::has_one_char_wildcard);

    let mut full: Vec<Segment> = Vec::with_capacity(segments.len() + 1);
    if !anchored {
        full.push(Segment::AnyDirs);
    }
    full.extend(segments);

    let reach = match full.last() {
        // `dir/**` and `dir/**/` both reach everything beneath `dir`.
        Some(Segment::AnyDirs) => Reach::Itself,
        _ if trailing_slash => Reach::Beneath,
        Some(last) if last.is_lone_star() => Reach::Itself,
        _ => Reach::ItselfAndBeneath,
    };
    let glob = render_glob(&full, uses_question);
    Ok(CompiledPattern {
        display,
        glob,
        reach,
        segments: full,
        confirm: uses_question,
    })
}

/// Which paths a rule covers, given what its glob matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Trailing `/`: only what is beneath a directory the glob matches.
    Beneath,
    /// Last segment `*` or `**`: only paths the glob itself matches.
    Itself,
    /// A file the glob matches, or everything beneath a directory it matches.
    ItselfAndBeneath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**` as a whole segment: zero or more directories.
    AnyDirs,
    Name(Vec<Piece>),
}

impl Segment {
    fn from_chars(part: &[PChar]) -> Segment {
        if part.len() == 2 && part.iter().all(|pc| pc.ch == '*' && !pc.escaped) {
            return Segment::AnyDirs;
        }
        let mut pieces = Vec::with_capacity(part.len());
        for pc in part {
            let piece = match (pc.ch, pc.escaped) {
                ('*', false) => Piece::Many,
                ('?', false) => Piece::One,
                (c, _) => Piece::Literal(c),
            };
            // gitignore: consecutive asterisks inside a segment are one `*`.
            if piece == Piece::Many && pieces.last() == Some(&Piece::Many) {
                continue;
            }
            pieces.push(piece);
        }
        Segment::Name(pieces)
    }

    fn has_one_char_wildcard(&self) -> bool {
        matches!(self, Segment::Name(pieces) if pieces.contains(&Piece::One))
    }

    fn is_lone_star(&self) -> bool {
        matches!(self, Segment::Name(pieces) if pieces.as_slice() == [Piece::Many])
    }
}

/// Renders segments as a globset glob; literals are backslash-escaped so that
/// `{`, `}`, `*`, `?`, `\` written escaped stay literal. With `widen`, `?`
/// becomes `*` (a superset, confirmed by [`segments_match`]).
fn render_glob(segments: &[Segment], widen: bool) -> String {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        match segment {
            Segment::AnyDirs => out.push_str("**"),
            Segment::Name(pieces) => {
                let mut previous_many = false;
                for piece in pieces {
                    match piece {
                        Piece::Many | Piece::One if widen => {
                            if !previous_many {
                                out.push('*');
                            }
                            previous_many = true;
                            continue;
                        }
                        Piece::Many => out.push('*'),
                        Piece::One => out.push('?'),
                        Piece::Literal(c) => {
                            if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '!' | ',') {
                                out.push('\\');
                            }
                            out.push(*c);
                        }
                    }
                    previous_many = false;
                }
            }
        }
    }
    out
}

/// Character-exact confirmation for rules whose pattern uses `?`:
/// do `segments` match exactly `components`? A `**` segment matches zero or
/// more components, except as the last segment, where it needs at least one
/// (as in gitignore, `dir/**` matches what is inside `dir`, not `dir`).
/// Dynamic programming over (segment, component): no exponential blow-up.
fn segments_match(segments: &[Segment], components: &[&str]) -> bool {
    let s = segments.len();
    let c = components.len();
    // reach[j]: segments[i..] match components[j..]; computed from i = s down to 0.
    let mut reach = vec![false; c + 1];
    reach[c] = true;
    for i in (0..s).rev() {
        let mut next = vec![false; c + 1];
        match &segments[i] {
            Segment::AnyDirs => {
                let is_last = i + 1 == s;
                // next[j] = exists k >= j (k > j when last) with reach[k].
                let mut any_after = false;
                for j in (0..=c).rev() {
                    if is_last {
                        next[j] = any_after;
                        any_after = any_after || reach[j];
                    } else {
                        any_after = any_after || reach[j];
                        next[j] = any_after;
                    }
                }
            }
            Segment::Name(pieces) => {
                for j in 0..c {
                    next[j] = reach[j + 1] && name_matches(pieces, components[j]);
                }
            }
        }
        reach = next;
    }
    reach[0]
}

/// Wildcard match of one path component, by Unicode character; linear
/// backtracking on the last `*` (no exponential blow-up).
fn name_matches(pieces: &[Piece], name: &str) -> bool {
    let text: Vec<char> = name.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Piece::One) => {
                p += 1;
                t += 1;
            }
            Some(Piece::Literal(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pieces[p.min(pieces.len())..]
        .iter()
        .all(|piece| *piece == Piece::Many)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected decision for one path: the winning line (None: no line
    /// matches) and the owners as displayed.
    type Expect<'a> = (&'a str, Option<usize>, &'a [&'a str]);

    fn shown(owners: &[Owner]) -> Vec<String> {
        owners.iter().map(ToString::to_string).collect()
    }

    /// Parses `text`, requires it to be valid, and checks every case.
    fn check(text: &str, cases: &[Expect<'_>]) -> CodeOwners {
        let co = CodeOwners::parse(text);
        assert!(
            co.errors().is_empty(),
            "unexpected errors: {:?}",
            co.errors()
        );
        check_parsed(&co, cases);
        co
    }

    fn check_parsed(co: &CodeOwners, cases: &[Expect<'_>]) {
        for &(path, line, owners) in cases {
            let rule = co.rule_for(path);
            assert_eq!(
                rule.map(|r| r.line),
                line,
                "winning line for {path:?} (rules: {:?})",
                co.rules()
            );
            assert_eq!(shown(co.owners_of(path)), owners, "owners of {path:?}");
            if let Some(rule) = rule {
                assert_eq!(shown(&rule.owners), owners, "rule owners for {path:?}");
            }
        }
    }

    /// The 1-based number of the last line of `text` equal to `line`.
    fn last_line_of(text: &str, line: &str) -> usize {
        text.lines()
            .enumerate()
            .filter(|(_, l)| *l == line)
            .map(|(i, _)| i + 1)
            .last()
            .unwrap_or_else(|| panic!("{line:?} not in text"))
    }

    /// Parses `text` and returns its errors as (line, column).
    fn error_positions(text: &str) -> Vec<(usize, usize)> {
        CodeOwners::parse(text)
            .errors()
            .iter()
            .map(|e| (e.line, e.column))
            .collect()
    }

    // -- GitHub's "About code owners" example file -------------------------

    const GITHUB_EXAMPLE: &str = "\
# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence. When someone opens a pull request that only
# modifies JS files, only @js-owner and not the global
# owner(s) will be requested for a review.
*.js    @js-owner #This is an inline comment.

# You can also use email addresses if you prefer. They'll be
# used to look up users just like we do for commit author
# emails.
*.go docs@example.com

# Teams can be specified as code owners as well. Teams should
# be identified in the format @org/team-name. Teams must have
# explicit write access to the repository. In this example,
# the octocats team in the octo-org organization owns all .txt files.
*.txt @octo-org/octocats

# In this example, @doctocat owns any files in the build/logs
# directory at the root of the repository and any of its
# subdirectories.
/build/logs/ @doctocat

# The `docs/*` pattern will match files like
# `docs/getting-started.md` but not further nested files like
# `docs/build-app/troubleshooting.md`.
docs/*  docs@example.com

# In this example, @octocat owns any file in an apps directory
# anywhere in your repository.
apps/ @octocat

# In this example, @doctocat owns any file in the `/docs`
# directory in the root of your repository and any of its
# subdirectories.
/docs/ @doctocat

# In this example, any change inside the `/scripts` directory
# will require approval from @doctocat or @octocat.
/scripts/ @doctocat @octocat

# In this example, @octocat owns any file in a `/logs` directory such as
# `/build/logs`, `/scripts/logs`, and `/deeply/nested/logs`. Any changes
# in a `/logs` directory will require approval from @octocat.
**/logs @octocat

# In this example, @octocat owns any file in the `/apps`
# directory in the root of your repository except for the `/apps/github`
# subdirectory, as its owners are left empty. Without an owner, changes
# to `apps/github` can be made with the approval of any user who has
# write access to the repository.
/apps/ @octocat
/apps/github

# In this example, @octocat owns any file in the `/apps`
# directory in the root of your repository except for the `/apps/github`
# subdirectory, as this subdirectory has its own owner @doctocat
/apps/ @octocat
/apps/github @doctocat
";

    #[test]
    fn github_example_file_parses_without_errors_into_fourteen_rules() {
        let co = CodeOwners::parse(GITHUB_EXAMPLE);
        assert!(co.errors().is_empty(), "{:?}", co.errors());
        let patterns: Vec<&str> = co.rules().iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(
            patterns,
            [
                "*",
                "*.js",
                "*.go",
                "*.txt",
                "/build/logs/",
                "docs/*",
                "apps/",
                "/docs/",
                "/scripts/",
                "**/logs",
                "/apps/",
                "/apps/github",
                "/apps/",
                "/apps/github",
            ]
        );
        let js = &co.rules()[1];
        assert_eq!(js.line, 14);
        assert_eq!(js.owners, [Owner::User("js-owner".into())]);
        assert!(co.rules()[11].owners.is_empty());
    }

    #[test]
    fn github_example_file_decides_each_path_by_its_last_matching_line() {
        let t = GITHUB_EXAMPLE;
        let star = last_line_of(t, "*       @global-owner1 @global-owner2");
        let js = last_line_of(t, "*.js    @js-owner #This is an inline comment.");
        let go = last_line_of(t, "*.go docs@example.com");
        let txt = last_line_of(t, "*.txt @octo-org/octocats");
        let apps_any = last_line_of(t, "apps/ @octocat");
        let docs_root = last_line_of(t, "/docs/ @doctocat");
        let scripts = last_line_of(t, "/scripts/ @doctocat @octocat");
        let logs = last_line_of(t, "**/logs @octocat");
        let apps_root = last_line_of(t, "/apps/ @octocat");
        let apps_github = last_line_of(t, "/apps/github @doctocat");
        let global: &[&str] = &["@global-owner1", "@global-owner2"];
        check(
            t,
            &[
                ("README.md", Some(star), global),
                ("x/docs/guide.md", Some(star), global),
                ("src/index.js", Some(js), &["@js-owner"]),
                ("index.js", Some(js), &["@js-owner"]),
                ("cmd/tool/main.go", Some(go), &["docs@example.com"]),
                ("notes/todo.txt", Some(txt), &["@octo-org/octocats"]),
                // `**/logs` comes after `/build/logs/` and wins there.
                ("build/logs/out.log", Some(logs), &["@octocat"]),
                ("build/logs/2024/out.txt", Some(logs), &["@octocat"]),
                // `/docs/` comes after `docs/*` and wins at every depth.
                ("docs/getting-started.md", Some(docs_root), &["@doctocat"]),
                (
                    "docs/build-app/troubleshooting.md",
                    Some(docs_root),
                    &["@doctocat"],
                ),
                ("lib/apps/b/c.rb", Some(apps_any), &["@octocat"]),
                ("apps/main.rb", Some(apps_root), &["@octocat"]),
                ("apps/github/app.rb", Some(apps_github), &["@doctocat"]),
                (
                    "scripts/deploy.sh",
                    Some(scripts),
                    &["@doctocat", "@octocat"],
                ),
                ("scripts/logs/run.log", Some(logs), &["@octocat"]),
                ("deeply/nested/logs/a.js", Some(logs), &["@octocat"]),
            ],
        );
    }

    #[test]
    fn github_example_star_gives_every_path_the_global_owners() {
        let global: &[&str] = &["@global-owner1", "@global-owner2"];
        check(
            "*       @global-owner1 @global-owner2\n",
            &[
                ("README.md", Some(1), global),
                ("a/b/c/d.rs", Some(1), global),
                (".github/workflows/ci.yml", Some(1), global),
                ("requests/alice/key.toml", Some(1), global),
            ],
        );
    }

    #[test]
    fn github_example_js_rule_matches_at_any_depth_and_ignores_inline_comment() {
        let co = check(
            "* @global-owner1\n*.js    @js-owner #This is an inline comment.\n",
            &[
                ("a.js", Some(2), &["@js-owner"]),
                ("x/y/a.js", Some(2), &["@js-owner"]),
                ("a.jsx", Some(1), &["@global-owner1"]),
                ("a.js.map", Some(1), &["@global-owner1"]),
                ("js", Some(1), &["@global-owner1"]),
            ],
        );
        assert_eq!(co.rules()[1].owners.len(), 1);
    }

    #[test]
    fn github_example_go_rule_owner_is_an_email_address() {
        let co = check(
            "*.go docs@example.com\n",
            &[
                ("main.go", Some(1), &["docs@example.com"]),
                ("cmd/keygate/main.go", Some(1), &["docs@example.com"]),
                ("main.gox", None, &[]),
                ("go", None, &[]),
            ],
        );
        assert_eq!(
            co.rules()[0].owners,
            [Owner::Email("docs@example.com".into())]
        );
    }

    #[test]
    fn github_example_txt_rule_owner_is_a_team() {
        let co = check(
            "*.txt @octo-org/octocats\n",
            &[
                ("a.txt", Some(1), &["@octo-org/octocats"]),
                ("deep/er/a.txt", Some(1), &["@octo-org/octocats"]),
                ("a.txt.bak", None, &[]),
            ],
        );
        assert_eq!(
            co.rules()[0].owners,
            [Owner::Team {
                org: "octo-org".into(),
                slug: "octocats".into()
            }]
        );
    }

    #[test]
    fn github_example_rooted_build_logs_dir_covers_all_depths_below_only_at_root() {
        check(
            "/build/logs/ @doctocat\n",
            &[
                ("build/logs/out.log", Some(1), &["@doctocat"]),
                ("build/logs/2024/01/out.log", Some(1), &["@doctocat"]),
                ("build/logs", None, &[]),
                ("x/build/logs/out.log", None, &[]),
                ("build/logsx/out.log", None, &[]),
                ("build/out.log", None, &[]),
            ],
        );
    }

    #[test]
    fn github_example_docs_star_matches_direct_children_only() {
        check(
            "docs/*  docs@example.com\n",
            &[
                ("docs/getting-started.md", Some(1), &["docs@example.com"]),
                ("docs/build-app/troubleshooting.md", None, &[]),
                ("docs", None, &[]),
                ("x/docs/getting-started.md", None, &[]),
            ],
        );
    }

    #[test]
    fn github_example_unrooted_apps_dir_matches_anywhere() {
        check(
            "apps/ @octocat\n",
            &[
                ("apps/a", Some(1), &["@octocat"]),
                ("apps/a/b/c", Some(1), &["@octocat"]),
                ("x/apps/b/c", Some(1), &["@octocat"]),
                ("apps", None, &[]),
                ("myapps/a", None, &[]),
                ("apps.rb", None, &[]),
            ],
        );
    }

    #[test]
    fn github_example_rooted_docs_dir_matches_only_top_level_docs() {
        check(
            "/docs/ @doctocat\n",
            &[
                ("docs/a.md", Some(1), &["@doctocat"]),
                ("docs/x/y/z.md", Some(1), &["@doctocat"]),
                ("x/docs/a.md", None, &[]),
                ("docs", None, &[]),
            ],
        );
    }

    #[test]
    fn github_example_scripts_dir_has_two_owners() {
        check(
            "/scripts/ @doctocat @octocat\n",
            &[
                ("scripts/deploy.sh", Some(1), &["@doctocat", "@octocat"]),
                ("scripts/ci/lint.sh", Some(1), &["@doctocat", "@octocat"]),
                ("tools/scripts/deploy.sh", None, &[]),
            ],
        );
    }

    #[test]
    fn github_example_double_star_logs_matches_logs_dirs_anywhere() {
        check(
            "**/logs @octocat\n",
            &[
                ("logs/a.log", Some(1), &["@octocat"]),
                ("build/logs/a.log", Some(1), &["@octocat"]),
                ("scripts/logs/a.log", Some(1), &["@octocat"]),
                ("deeply/nested/logs/x/y.log", Some(1), &["@octocat"]),
                ("logs", Some(1), &["@octocat"]),
                ("logsx/a.log", None, &[]),
                ("a/catalogs/b", None, &[]),
                ("a/logs.txt", None, &[]),
            ],
        );
    }

    #[test]
    fn github_example_apps_github_without_owners_leaves_that_subdirectory_unowned() {
        let co = check(
            "/apps/ @octocat\n/apps/github \n",
            &[
                ("apps/main.rb", Some(1), &["@octocat"]),
                ("apps/github/app.rb", Some(2), &[]),
                ("apps/github/deep/er.rb", Some(2), &[]),
                ("apps/github", Some(2), &[]),
                ("apps/githubber/a.rb", Some(1), &["@octocat"]),
            ],
        );
        assert_eq!(co.rules()[1].pattern, "/apps/github");
        assert!(co.rule_for("apps/github/app.rb").is_some());
    }

    #[test]
    fn github_example_apps_github_with_own_owner_overrides_apps() {
        check(
            "/apps/ @octocat\n/apps/github @doctocat\n",
            &[
                ("apps/main.rb", Some(1), &["@octocat"]),
                ("apps/github/app.rb", Some(2), &["@doctocat"]),
                ("apps/github", Some(2), &["@doctocat"]),
                ("x/apps/github/app.rb", None, &[]),
            ],
        );
    }

    // -- Matching semantics --------------------------------------------------

    /// (pattern, path, matches?)
    const MATCHING: &[(&str, &str, bool)] = &[
        // A name without a slash matches at any depth, file or directory.
        ("docs", "docs", true),
        ("docs", "docs/a.md", true),
        ("docs", "x/docs", true),
        ("docs", "x/docs/y/z.md", true),
        ("docs", "docsx", false),
        ("docs", "x/mydocs/a", false),
        // A leading slash anchors; a directory match covers everything beneath.
        ("/scripts", "scripts", true),
        ("/scripts", "scripts/deploy.sh", true),
        ("/scripts", "scripts/a/b/c.sh", true),
        ("/scripts", "x/scripts/deploy.sh", false),
        ("/scripts", "scripts.sh", false),
        // A middle slash anchors too.
        ("apps/github", "apps/github", true),
        ("apps/github", "apps/github/a.rb", true),
        ("apps/github", "x/apps/github/a.rb", false),
        ("apps/github", "apps/githubx", false),
        // Trailing slash: directories only, at any depth when unanchored.
        ("logs/", "logs", false),
        ("logs/", "logs/a", true),
        ("logs/", "x/y/logs/a/b", true),
        ("a/b/", "a/b", false),
        ("a/b/", "a/b/c", true),
        ("a/b/", "x/a/b/c", false),
        // `*` does not cross `/`.
        ("*", "a", true),
        ("*", "a/b/c", true),
        ("/*", "a", true),
        ("/*", "a/b", false),
        ("*.rs", "src/main.rs", true),
        ("/src/*.rs", "src/main.rs", true),
        ("/src/*.rs", "src/bin/main.rs", false),
        ("docs/*", "docs/a", true),
        ("docs/*", "docs/a/b", false),
        ("docs/*/", "docs/a", false),
        ("docs/*/", "docs/a/b", true),
        ("docs/*/", "docs/a/b/c", true),
        ("f*", "foo", true),
        ("f*", "foo/bar", true),
        ("f*", "x/foo/bar", true),
        ("f*", "xfoo", false),
        ("/f*", "x/foo", false),
        ("src/*/mod.rs", "src/a/mod.rs", true),
        ("src/*/mod.rs", "src/a/b/mod.rs", false),
        ("src/*/mod", "src/a/mod/x.rs", true),
        // Consecutive asterisks inside a segment are a single `*`.
        ("a**b", "axyb", true),
        ("a**b", "ax/yb", false),
        ("***.txt", "x/a.txt", true),
        // `**` segments.
        ("**/logs", "logs", true),
        ("**/logs", "a/b/logs/c", true),
        ("/build/logs/", "build/logs/a", true),
        ("apps/**", "apps/a", true),
        ("apps/**", "apps/a/b/c", true),
        ("apps/**", "apps", false),
        ("apps/**", "x/apps/a", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/x/y/b/c", true),
        ("a/**/b", "x/a/b", false),
        ("a/**/b", "a/xb", false),
        ("**", "a", true),
        ("**", "a/b/c", true),
        ("/**", "a/b", true),
        ("foo/**/", "foo/bar", true),
        ("foo/**/", "foo/bar/baz", true),
        ("**/*.md", "README.md", true),
        ("**/*.md", "a/b/README.md", true),
        // `?` matches exactly one character other than `/`.
        ("file?.txt", "file1.txt", true),
        ("file?.txt", "dir/file1.txt", true),
        ("file?.txt", "file10.txt", false),
        ("file?.txt", "file.txt", false),
        ("a?b", "a/b", false),
        ("/f?o/", "foo/x", true),
        ("/f?o/", "foo", false),
        ("/f?o/", "x/foo/y", false),
        ("f?o/*", "foo/a", true),
        ("f?o/*", "foo/a/b", false),
        // Case-sensitive, as on GitHub.
        ("/Docs/", "Docs/a", true),
        ("/Docs/", "docs/a", false),
        ("*.MD", "a.md", false),
        ("README", "readme", false),
        // Characters special to globset but literal in gitignore.
        ("{a,b}.txt", "{a,b}.txt", true),
        ("{a,b}.txt", "a.txt", false),
        ("a,b", "a,b", true),
        ("f\\*o", "f*o", true),
        ("f\\*o", "foo", false),
        ("f\\?o", "f?o", true),
        ("f\\?o", "foo", false),
        ("\\!important", "!important", true),
        ("a\\\\b", "a\\b", true),
        // Escaped space and escaped leading `#`.
        ("my\\ file.txt", "dir/my file.txt", true),
        ("my\\ file.txt", "my", false),
        ("\\#notes.md", "#notes.md", true),
        ("\\#notes.md", "x/#notes.md", true),
        ("\\#notes.md", "notes.md", false),
        ("foo#bar", "foo#bar", true),
        // Unicode in patterns and paths.
        ("ドキュメント/", "ドキュメント/読んで.md", true),
        ("ドキュメント/", "x/ドキュメント/読んで.md", true),
        ("*.md", "café/menu.md", true),
        ("/caf?/", "café/menu.md", true),
        ("/caf?/", "cafée/menu.md", false),
        ("r?sum?.txt", "résumé.txt", true),
        ("r?sum?.txt", "rsum.txt", false),
        ("/über/*", "über/straße.txt", true),
        ("/über/*", "über/straße/x.txt", false),
    ];

    #[test]
    fn patterns_follow_gitignore_matching_rules_with_github_exceptions() {
        let mut failures = Vec::new();
        for &(pattern, path, expected) in MATCHING {
            let co = CodeOwners::parse(&format!("{pattern} @owner\n"));
            assert!(
                co.errors().is_empty(),
                "{pattern:?} should be valid: {:?}",
                co.errors()
            );
            let got = co.rule_for(path).is_some();
            if got != expected {
                failures.push(format!(
                    "{pattern:?} vs {path:?}: expected {expected}, got {got} (glob {:?})",
                    co.rules().first().map(Rule::glob)
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The gitignore reading of a rule spelled out as whole-path globs:
    /// `G` for the path itself and `G/**` for everything beneath.
    fn reference_set(rule: &Rule) -> GlobSet {
        let base = render_glob(&rule.segments, false);
        let globs = match rule.reach {
            Reach::Beneath => vec![format!("{base}/**")],
            Reach::Itself => vec![base],
            Reach::ItselfAndBeneath => vec![base.clone(), format!("{base}/**")],
        };
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            let built = GlobBuilder::new(&glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .unwrap();
            builder.add(built);
        }
        builder.build().unwrap()
    }

    #[test]
    fn ancestor_matching_agrees_with_whole_path_globs() {
        let patterns = [
            "*",
            "/*",
            "**",
            "*.js",
            "docs",
            "/docs",
            "docs/",
            "/docs/",
            "docs/*",
            "docs/*/",
            "**/logs",
            "apps/**",
            "a/**/b",
            "a/**/b/",
            "foo/**/",
            "f?o",
            "/f?o",
            "f?o/",
            "/f?o/",
            "**/f?o",
            "a/**/f?o/*",
            "f?o/**",
            "src/*/mod.rs",
            "*/x/",
            "a*b/c?d",
        ];
        let paths = [
            "a",
            "foo",
            "foo/x",
            "fxo/y/z",
            "a/foo",
            "a/b/fao/c",
            "fo",
            "fooo",
            "f/o",
            "x",
            "docs",
            "docs/a",
            "docs/a/b",
            "x/docs/a",
            "a/b",
            "a/x/b",
            "a/x/b/c",
            "logs",
            "q/logs/r",
            "apps",
            "apps/a/b",
            "src/k/mod.rs",
            "src/k/l/mod.rs",
            "k/x/y",
            "axb/cxd/e",
            "x.js",
            "x.js/y",
            "deep/er/x.js",
        ];
        for pattern in patterns {
            let co = CodeOwners::parse(&format!("{pattern} @o"));
            assert!(co.errors().is_empty(), "{pattern:?}");
            let reference = reference_set(&co.rules()[0]);
            for path in paths {
                assert_eq!(
                    co.rule_for(path).is_some(),
                    reference.is_match(path),
                    "{pattern:?} vs {path:?}"
                );
            }
        }
    }

    #[test]
    fn last_matching_line_wins_even_over_more_specific_earlier_lines() {
        check(
            "/src/keygate/ @alice\n*.rs @bob\n/src/ @carol\n",
            &[
                ("src/keygate/main.rs", Some(3), &["@carol"]),
                ("src/keygate/README.md", Some(3), &["@carol"]),
                ("lib/x.rs", Some(2), &["@bob"]),
                ("README.md", None, &[]),
            ],
        );
    }

    #[test]
    fn line_without_owners_overrides_earlier_owners() {
        let co = check(
            "* @acme/everyone\n/requests/legacy/\n",
            &[
                ("requests/legacy/old.toml", Some(2), &[]),
                ("requests/new/a.toml", Some(1), &["@acme/everyone"]),
            ],
        );
        assert!(co.owners_of("requests/legacy/old.toml").is_empty());
        assert!(co.rules()[1].owners.is_empty());
    }

    #[test]
    fn pattern_followed_only_by_a_comment_has_no_owners() {
        check(
            "* @a\n*.lock # generated, nobody owns these\n",
            &[
                ("Cargo.lock", Some(2), &[]),
                ("Cargo.toml", Some(1), &["@a"]),
            ],
        );
    }

    #[test]
    fn escaped_hash_starts_a_pattern_while_plain_hash_is_a_comment() {
        let co = check(
            "#notes.md @ignored\n\\#notes.md @alice\n",
            &[("#notes.md", Some(2), &["@alice"]), ("notes.md", None, &[])],
        );
        assert_eq!(co.rules().len(), 1);
        assert_eq!(co.rules()[0].pattern, "#notes.md");
    }

    #[test]
    fn pattern_keeps_escapes_other_than_hash_and_space_as_written() {
        let co = CodeOwners::parse("my\\ file\\*.txt @a\n");
        assert_eq!(co.rules()[0].pattern, "my file\\*.txt");
        assert_eq!(co.owners_of("my file*.txt"), [Owner::User("a".into())]);
        assert!(co.owners_of("my filex.txt").is_empty());
    }

    #[test]
    fn trailing_comments_after_whitespace_are_ignored() {
        let cases: &[(&str, &[&str])] = &[
            ("*.rs @a # comment", &["@a"]),
            ("*.rs @a #comment @b", &["@a"]),
            ("*.rs @a\t#comment", &["@a"]),
            ("*.rs @a @b #", &["@a", "@b"]),
            ("*.rs #@a", &[]),
        ];
        for &(line, owners) in cases {
            let co = CodeOwners::parse(line);
            assert!(co.errors().is_empty(), "{line:?}: {:?}", co.errors());
            assert_eq!(co.rules().len(), 1, "{line:?}");
            assert_eq!(shown(&co.rules()[0].owners), owners, "{line:?}");
        }
    }

    #[test]
    fn hash_inside_a_token_is_not_a_comment() {
        let co = CodeOwners::parse("foo#bar @a\n*.rs @a#b\n");
        assert_eq!(co.rules().len(), 1);
        assert_eq!(co.rules()[0].pattern, "foo#bar");
        assert_eq!(error_positions("foo#bar @a\n*.rs @a#b\n"), [(2, 6)]);
    }

    #[test]
    fn crlf_line_endings_parse_like_lf() {
        let text = "# comment\r\n* @a\r\n\r\n/docs/ @b @c\r\n!bad @d\r\n";
        let co = CodeOwners::parse(text);
        check_parsed(
            &co,
            &[
                ("docs/x.md", Some(4), &["@b", "@c"]),
                ("README.md", Some(2), &["@a"]),
            ],
        );
        assert_eq!(co.rules()[1].owners.last(), Some(&Owner::User("c".into())));
        assert_eq!(co.errors().len(), 1);
        assert_eq!(co.errors()[0].line, 5);
        assert_eq!(co.errors()[0].text, "!bad @d");
    }

    #[test]
    fn tabs_and_repeated_whitespace_separate_tokens() {
        check(
            "*.rs\t@a\t\t@b   @acme/c \t\n\t /docs/\t@d\n",
            &[
                ("x.rs", Some(1), &["@a", "@b", "@acme/c"]),
                ("docs/x.rs", Some(2), &["@d"]),
            ],
        );
    }

    #[test]
    fn leading_byte_order_mark_is_ignored() {
        check("\u{feff}* @a\n", &[("x", Some(1), &["@a"])]);
    }

    #[test]
    fn file_without_final_newline_keeps_its_last_line() {
        check("* @a\n/b/ @b", &[("b/x", Some(2), &["@b"])]);
    }

    #[test]
    fn empty_file_has_no_rules_no_errors_and_no_owners() {
        for text in ["", "\n", "\n\n\n", "   \n\t\n", "\r\n"] {
            let co = CodeOwners::parse(text);
            assert!(co.rules().is_empty(), "{text:?}");
            assert!(co.is_valid(), "{text:?}");
            assert!(co.rule_for("a/b.txt").is_none());
            assert!(co.owners_of("a/b.txt").is_empty());
        }
        assert!(CodeOwners::default().rule_for("x").is_none());
    }

    #[test]
    fn file_of_only_comments_has_no_rules() {
        let co = CodeOwners::parse("# one\n#two\n   # indented\n\t# tabbed\n#* @a\n");
        assert!(co.rules().is_empty());
        assert!(co.errors().is_empty());
        assert!(co.rule_for("anything").is_none());
    }

    #[test]
    fn empty_or_leading_slash_query_paths_are_handled() {
        let co = CodeOwners::parse("/docs/ @a\n");
        assert!(co.rule_for("").is_none());
        assert!(co.rule_for("/").is_none());
        assert_eq!(co.rule_for("/docs/x.md").map(|r| r.line), Some(1));
    }

    // -- Invalid lines -------------------------------------------------------

    #[test]
    fn negation_and_character_ranges_are_rejected_and_other_lines_still_work() {
        let text = "* @a\n!secret.txt @b\n/docs/ @c\ndocs/[abc].md @d\nsrc/x]y @e\n*.rs @f\n";
        let co = CodeOwners::parse(text);
        assert_eq!(
            co.errors()
                .iter()
                .map(|e| (e.line, e.column))
                .collect::<Vec<_>>(),
            [(2, 1), (4, 6), (5, 6)]
        );
        assert!(co.errors()[0].message.contains("negation"));
        assert!(co.errors()[1].message.contains("[ ]"));
        assert_eq!(co.errors()[1].text, "docs/[abc].md @d");
        check_parsed(
            &co,
            &[
                ("secret.txt", Some(1), &["@a"]),
                ("docs/a.md", Some(3), &["@c"]),
                ("docs/[abc].md", Some(3), &["@c"]),
                ("main.rs", Some(6), &["@f"]),
            ],
        );
        let lines: Vec<usize> = co.rules().iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 3, 6]);
    }

    #[test]
    fn invalid_owner_tokens_are_rejected_with_their_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("*.rs @good @-bad", 12, "not a valid GitHub user name"),
            ("*.rs foo", 6, "is not an owner"),
            ("*.rs @org/", 6, "names no team"),
            ("*.rs @bad-", 6, "not a valid GitHub user name"),
            ("*.rs @a--b", 6, "not a valid GitHub user name"),
            ("*.rs @", 6, "names nobody"),
            ("*.rs @org/team/x", 6, "not a valid team slug"),
            ("*.rs @org/te am", 14, "is not an owner"),
            ("*.rs @-org/team", 6, "organisation"),
            ("*.rs @/team", 6, "organisation"),
            ("*.rs a@b", 6, "e-mail"),
            ("*.rs @a@b.com", 6, "not a valid GitHub user name"),
            ("*.rs a@@b.com", 6, "e-mail"),
            ("*.rs .a@b.com", 6, "e-mail"),
            ("*.rs a@-b.com", 6, "e-mail"),
            ("*.rs\t@ok\t@user_name", 10, "not a valid GitHub user name"),
            ("*.rs @x\\ y", 6, "not a valid GitHub user name"),
            ("*.rs @aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 6, "1-39"),
            ("  /docs/  @ok  bad", 16, "is not an owner"),
        ];
        for &(line, column, needle) in cases {
            let co = CodeOwners::parse(line);
            assert!(co.rules().is_empty(), "{line:?} must be ignored");
            assert_eq!(co.errors().len(), 1, "{line:?}");
            let error = &co.errors()[0];
            assert_eq!((error.line, error.column), (1, column), "{line:?}");
            assert_eq!(error.text, line);
            assert!(
                error.message.contains(needle),
                "{line:?}: {:?} lacks {needle:?}",
                error.message
            );
            assert!(co.rule_for("x.rs").is_none(), "{line:?}");
        }
    }

    #[test]
    fn invalid_pattern_shapes_are_rejected() {
        let cases: &[(&str, usize)] = &[
            ("/ @a", 1),
            ("// @a", 1),
            ("a//b @a", 1),
            ("foo\\", 1 + 3),
            ("!a", 1),
            ("[", 1),
            ("a\\[b @a", 3),
        ];
        for &(line, column) in cases {
            assert_eq!(error_positions(line), [(1, column)], "{line:?}");
        }
        // An escaped space joins what follows into the pattern: no owners.
        let co = CodeOwners::parse("docs\\ @a");
        assert!(co.errors().is_empty());
        assert_eq!(co.rules()[0].pattern, "docs @a");
        assert!(co.rules()[0].owners.is_empty());
        // A dangling backslash at the very end of a line is reported where it stands.
        let co = CodeOwners::parse("foo\\");
        assert!(co.errors()[0].message.contains("lone `\\`"));
    }

    #[test]
    fn only_invalid_lines_are_skipped_and_the_rest_decide() {
        let text = "* @a\n/requests/ @acme/security @-bad\n";
        let co = CodeOwners::parse(text);
        assert!(!co.is_valid());
        assert_eq!(co.errors()[0].line, 2);
        // GitHub skips line 2, so line 1 decides.
        check_parsed(&co, &[("requests/alice/k.toml", Some(1), &["@a"])]);
    }

    #[test]
    fn line_error_display_names_line_and_column() {
        let co = CodeOwners::parse("\n\n*.rs @good foo\n");
        let shown = co.errors()[0].to_string();
        assert!(
            shown.starts_with("line 3, column 12: `foo` is not an owner"),
            "{shown}"
        );
    }

    // -- Owners ----------------------------------------------------------------

    #[test]
    fn valid_owner_tokens_parse_to_the_right_kind() {
        let team = |org: &str, slug: &str| Owner::Team {
            org: org.into(),
            slug: slug.into(),
        };
        let cases: Vec<(&str, Owner)> = vec![
            ("@octocat", Owner::User("octocat".into())),
            ("@Octo-Cat", Owner::User("Octo-Cat".into())),
            ("@a", Owner::User("a".into())),
            ("@0", Owner::User("0".into())),
            (
                "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                Owner::User("a".repeat(39)),
            ),
            ("@octo-org/octocats", team("octo-org", "octocats")),
            ("@acme/team_name.v2", team("acme", "team_name.v2")),
            ("@Acme/Security-Team", team("Acme", "Security-Team")),
            ("docs@example.com", Owner::Email("docs@example.com".into())),
            (
                "first.last+tag@sub.example.co.uk",
                Owner::Email("first.last+tag@sub.example.co.uk".into()),
            ),
            (
                "o'neil@xn--p1ai.xn--p1ai",
                Owner::Email("o'neil@xn--p1ai.xn--p1ai".into()),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(Owner::parse(token), Ok(expected.clone()), "{token:?}");
            assert_eq!(expected.to_string(), token, "display of {token:?}");
        }
    }

    #[test]
    fn owner_helpers_compare_without_regard_to_case() {
        let user = Owner::User("Octo-Cat".into());
        assert!(user.is_user("octo-cat"));
        assert!(user.is_user("OCTO-CAT"));
        assert!(!user.is_user("octocat"));
        assert!(!user.is_team("octo-cat", "x"));
        let team = Owner::Team {
            org: "Acme".into(),
            slug: "Security".into(),
        };
        assert!(team.is_team("acme", "security"));
        assert!(!team.is_team("acme", "billing"));
        assert!(!team.is_user("acme"));
        assert!(team.same_as(&Owner::Team {
            org: "ACME".into(),
            slug: "security".into()
        }));
        assert!(user.same_as(&Owner::User("octo-cat".into())));
        assert!(!user.same_as(&Owner::Email("octo-cat".into())));
        let mail = Owner::Email("Docs@Example.com".into());
        assert!(mail.same_as(&Owner::Email("docs@example.com".into())));
    }

    #[test]
    fn login_validation_follows_github_rules() {
        let valid = ["a", "octocat", "a-b-c", "A1", &"x".repeat(39)];
        let invalid = [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "a b",
            "é",
            &"x".repeat(40),
        ];
        for login in valid {
            assert!(is_valid_login(login), "{login:?}");
        }
        for login in invalid {
            assert!(!is_valid_login(login), "{login:?}");
        }
    }

    // -- keygate layouts ---------------------------------------------------------

    #[test]
    fn per_user_request_folders_are_owned_by_their_teams() {
        let text = "\
# Every request needs security by default.
/requests/ @acme/security
# The billing bot's keys are approved by billing.
/requests/billing-bot/ @acme/billing
/requests/ci-deployer/ @acme/platform @alice
/requests/orphan/
";
        check(
            text,
            &[
                (
                    "requests/alice/2024-laptop.toml",
                    Some(2),
                    &["@acme/security"],
                ),
                (
                    "requests/billing-bot/2024.toml",
                    Some(4),
                    &["@acme/billing"],
                ),
                (
                    "requests/billing-bot/nested/x.toml",
                    Some(4),
                    &["@acme/billing"],
                ),
                (
                    "requests/billing-bot-2/a.toml",
                    Some(2),
                    &["@acme/security"],
                ),
                (
                    "requests/ci-deployer/a.toml",
                    Some(5),
                    &["@acme/platform", "@alice"],
                ),
                ("requests/orphan/a.toml", Some(6), &[]),
                ("other/requests/billing-bot/a.toml", None, &[]),
                ("requests", None, &[]),
                ("Requests/alice/a.toml", None, &[]),
            ],
        );
    }

    #[test]
    fn deeply_nested_paths_match() {
        let deep: String = (0..60).map(|i| format!("d{i}/")).collect();
        let js = format!("{deep}app.js");
        let logs = format!("{deep}logs/today.log");
        let under_a = format!("a/{deep}b/c.txt");
        check(
            "*.js @js\n**/logs @logs\na/**/b @ab\n",
            &[
                (&js, Some(1), &["@js"]),
                (&logs, Some(2), &["@logs"]),
                (&under_a, Some(3), &["@ab"]),
                (&format!("{deep}x.txt"), None, &[]),
            ],
        );
    }

    #[test]
    fn matching_rules_lists_every_match_in_file_order() {
        let co = CodeOwners::parse("* @a\n*.toml @b\n/requests/ @c\n/docs/ @d\n");
        let lines: Vec<usize> = co
            .matching_rules("requests/alice/k.toml")
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(lines, [1, 2, 3]);
        assert!(co.matching_rules("").is_empty());
    }

    #[test]
    fn rule_glob_and_reach_spell_out_gitignore_semantics() {
        let cases: &[(&str, &str, Reach)] = &[
            ("*", "**/*", Reach::Itself),
            ("*.js", "**/*.js", Reach::ItselfAndBeneath),
            ("/docs/", "docs", Reach::Beneath),
            ("apps/", "**/apps", Reach::Beneath),
            ("docs/*", "docs/*", Reach::Itself),
            ("docs/*/", "docs/*", Reach::Beneath),
            ("**/logs", "**/logs", Reach::ItselfAndBeneath),
            ("apps/**", "apps/**", Reach::Itself),
            ("apps/**/", "apps/**", Reach::Itself),
            ("{x}", "**/\\{x\\}", Reach::ItselfAndBeneath),
            ("f?o", "**/f*o", Reach::ItselfAndBeneath),
        ];
        for &(pattern, glob, reach) in cases {
            let co = CodeOwners::parse(&format!("{pattern} @o"));
            let rule = &co.rules()[0];
            assert_eq!((rule.glob(), rule.reach), (glob, reach), "{pattern:?}");
            assert_eq!(rule.confirm, pattern.contains('?'), "{pattern:?}");
        }
    }

    #[test]
    fn constants_match_github() {
        assert_eq!(
            LOCATIONS,
            [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"]
        );
        assert_eq!(MAX_SIZE, 3_145_728);
    }

    // -- Robustness and speed ------------------------------------------------------

    #[test]
    fn arbitrary_input_never_panics() {
        let alphabet: Vec<char> = " \t\r\n#\\/*?![]{},@.-_aZ9é日\u{0}\u{feff}"
            .chars()
            .collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let co = CodeOwners::parse(&text);
            for error in co.errors() {
                assert!(error.line >= 1 && error.column >= 1, "{text:?}: {error:?}");
                assert!(!error.message.is_empty());
            }
            for path in ["a", "a/b", "é/日", "", "/", "//", "a//b", "*", "\\"] {
                let _ = co.rule_for(path);
                let _ = co.matching_rules(path);
            }
        }
    }

    #[test]
    fn ten_thousand_paths_against_five_hundred_rules_is_fast() {
        let mut text = String::from("* @acme/security\n");
        for i in 0..500 {
            let line = match i % 5 {
                0 => format!("/requests/user{i}/ @acme/team{i}\n"),
                1 => format!("*.ext{i} @user{i}\n"),
                2 => format!("**/logs{i} @user{i}\n"),
                3 => format!("src/*/mod{i}.rs @acme/t{i}\n"),
                _ => format!("dir{i}/ @user{i} u{i}@example.com\n"),
            };
            text.push_str(&line);
        }
        let co = CodeOwners::parse(&text);
        assert!(co.errors().is_empty());
        assert_eq!(co.rules().len(), 501);
        let paths: Vec<String> = (0..10_000)
            .map(|i| match i % 4 {
                0 => format!("requests/user{}/key{i}.toml", (i / 4 % 100) * 5),
                1 => format!("a/b/c/file{i}.ext{}", (i % 100) * 5 + 1),
                2 => format!("x/dir{}/y/z{i}", (i % 100) * 5 + 4),
                _ => format!("unmatched/path/number{i}.md"),
            })
            .collect();
        let start = std::time::Instant::now();
        let mut owned = 0usize;
        for path in &paths {
            let rule = co.rule_for(path).expect("`*` matches everything");
            if rule.line > 1 {
                owned += 1;
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(owned, 7_500);
        // Release builds take a few milliseconds; debug builds on a busy CI
        // machine get a generous bound.
        assert!(elapsed.as_secs() < 10, "took {elapsed:?}");
    }
}
