//! Line tokenizing and gitignore-style pattern compilation: a CODEOWNERS pattern becomes one
//! glob for the shared set, its [`Reach`], and (for `?`) the segments to confirm a hit with.

use super::Owner;

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

pub(super) struct ParsedLine {
    pub(super) pattern: String,
    pub(super) pattern_column: usize,
    pub(super) owners: Vec<Owner>,
    pub(super) glob: String,
    pub(super) reach: Reach,
    pub(super) segments: Vec<Segment>,
    pub(super) confirm: bool,
}

/// `Ok(None)` for blank and comment lines; `Err((column, message))` for an invalid line.
pub(super) fn parse_line(line: &str) -> Result<Option<ParsedLine>, (usize, String)> {
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
    unsupported(token)?;
    let chars = &token.chars;
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
        display: display(chars),
        glob,
        reach,
        segments: full,
        confirm: uses_question,
    })
}

/// The pattern as written, its escapes kept (but not those of `#` and space, which only
/// the file's syntax needed).
fn display(chars: &[PChar]) -> String {
    let mut s = String::new();
    for pc in chars {
        if pc.escaped && !matches!(pc.ch, '#' | ' ') {
            s.push('\\');
        }
        s.push(pc.ch);
    }
    s
}

/// What GitHub's CODEOWNERS does not support, at the column it starts: a dangling `\`,
/// negation, character ranges.
fn unsupported(token: &Token) -> Result<(), (usize, String)> {
    let chars = &token.chars;
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
    Ok(())
}

/// Which paths a rule covers, given what its glob matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// Trailing `/`: only what is beneath a directory the glob matches.
    Beneath,
    /// Last segment `*` or `**`: only paths the glob itself matches.
    Itself,
    /// A file the glob matches, or everything beneath a directory it matches.
    ItselfAndBeneath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
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
pub(super) fn render_glob(segments: &[Segment], widen: bool) -> String {
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
pub(super) fn segments_match(segments: &[Segment], components: &[&str]) -> bool {
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
