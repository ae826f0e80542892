//! GitHub-flavoured Markdown from text keygate does not control (DESIGN §2, last paragraph):
//! request paths, IAM user names, reasons, diagnostics that echo a file, logins. Such text
//! must render as itself: it may not mention people, reference issues, make links or HTML,
//! change emphasis, or start a line of its own.
//!
//! GitHub finds mentions, issue references and bare links in the rendered text but never
//! inside code, so whatever it would turn into one of those becomes a code span here; the
//! rest is backslash-escaped (CommonMark renders `\*` as `*`), with `<`, `>` and `&` as
//! entities. Line breaks become spaces, and the characters that reorder or hide text
//! (bidirectional controls, zero-width characters) become U+FFFD, visible as such.

use crate::policy::codeowners::Owner;

/// `s` as literal text in a paragraph, a list item or a heading.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, true);
    out
}

/// `s` as one inline code span, whatever backticks and spaces it holds.
pub fn code(s: &str) -> String {
    let s: String = s.chars().map(one_line_char).collect();
    if s.is_empty() {
        return "(empty)".into();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // CommonMark drops one space on each side when both are there, and a fence cannot touch
    // a backtick of the content: pad so the content comes out exactly.
    let pad = s.starts_with('`')
        || s.ends_with('`')
        || (s.starts_with(' ') && s.ends_with(' ') && !s.chars().all(|c| c == ' '));
    let pad = if pad { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A sentence keygate wrote, quoting untrusted text: its backtick-quoted parts become code
/// spans (fenced again, so a backtick inside cannot end them early) and the rest is escaped
/// as [`text`]. Safe whatever `s` holds: every part comes out as one of the two. Mentions in
/// such sentences come out as code: only [`owner`] and [`login`] mention people.
pub fn prose(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 16);
    let (mut i, mut plain_from) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let open = backtick_run(bytes, i);
        let Some(close) = closing_run(bytes, i + open, open) else {
            i += open; // a lone run is literal; `text` escapes it
            continue;
        };
        escape_into(&mut out, &s[plain_from..i], plain_from == 0);
        let inner = &s[i + open..close];
        let inner = match inner.strip_prefix(' ').and_then(|t| t.strip_suffix(' ')) {
            Some(t) if !inner.chars().all(|c| c == ' ') => t,
            _ => inner,
        };
        push_code(&mut out, inner);
        i = close + open;
        plain_from = i;
    }
    escape_into(&mut out, &s[plain_from..], plain_from == 0);
    out
}

/// An owner from `CODEOWNERS` on the base branch: the one place keygate mentions people on
/// purpose. A name that is not a GitHub login or team, or an e-mail address, is shown as code.
pub fn owner(o: &Owner) -> String {
    let name = match o {
        Owner::User(login) => login.clone(),
        Owner::Team { org, slug } => format!("{org}/{slug}"),
        Owner::Email(address) => return code(address),
    };
    let mentionable = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'));
    if mentionable {
        format!("@{name}")
    } else {
        code(&format!("@{name}"))
    }
}

/// A GitHub login as GitHub's API gave it (a reviewer, never text from the pull request): a
/// mention when it has a login's shape, otherwise code.
pub fn login(login: &str) -> String {
    owner(&Owner::User(login.to_string()))
}

fn backtick_run(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().take_while(|b| **b == b'`').count()
}

/// Where the next run of exactly `len` backticks starts, at or after `from`.
fn closing_run(bytes: &[u8], mut from: usize, len: usize) -> Option<usize> {
    while from < bytes.len() {
        if bytes[from] == b'`' {
            let run = backtick_run(bytes, from);
            if run == len {
                return Some(from);
            }
            from += run;
        } else {
            from += 1;
        }
    }
    None
}

/// Line breaks and other control characters as spaces; characters that reorder or hide
/// text as U+FFFD.
pub(super) fn one_line_char(c: char) -> char {
    if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
        ' '
    } else if is_hiding(c) {
        '\u{FFFD}'
    } else {
        c
    }
}

/// Bidirectional controls and zero-width characters: they make text read other than it is.
pub(super) fn is_hiding(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// Appends `s` escaped. At a line's start (`line_start`), leading spaces (which would make
/// an indented code block) are dropped and a leading block marker (`#`, `-`, `+`, `=`, `1.`)
/// is escaped.
fn escape_into(out: &mut String, s: &str, line_start: bool) {
    let normal: String = s.chars().map(one_line_char).collect();
    let normal = if line_start {
        normal.trim_start_matches(' ')
    } else {
        normal.as_str()
    };
    let mut first = line_start;
    for (index, word) in normal.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        if word.is_empty() {
            continue;
        }
        // Punctuation around a word stays outside its code span: `@bob,` reads `@bob` then `,`.
        let core = word.trim_start_matches(['(', '[', '"', '\'', '<']);
        let core = core.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'', '>']);
        if core.is_empty() || !links_or_mentions(core) {
            let rest = if std::mem::take(&mut first) {
                leading_block_marker(word, out)
            } else {
                word
            };
            escape_chars(out, rest);
            continue;
        }
        first = false;
        let start = word.len() - word.trim_start_matches(['(', '[', '"', '\'', '<']).len();
        escape_chars(out, &word[..start]);
        push_code(out, core);
        escape_chars(out, &word[start + core.len()..]);
    }
}

/// Appends `s` as a code span, apart from a span just before it (two touching spans would
/// read as one with backticks inside).
fn push_code(out: &mut String, s: &str) {
    if out.ends_with('`') {
        out.push(' ');
    }
    out.push_str(&code(s));
}

/// Escapes what would make `word` start a heading, a list or a thematic break; returns the rest.
fn leading_block_marker<'a>(word: &'a str, out: &mut String) -> &'a str {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let after = &word[digits..];
    if digits > 0 && (after.starts_with('.') || after.starts_with(')')) {
        out.push_str(&word[..digits]);
        out.push('\\');
        out.push_str(&after[..1]);
        return &after[1..];
    }
    match word.chars().next() {
        Some(c @ ('#' | '-' | '+' | '=')) => {
            out.push('\\');
            out.push(c);
            &word[1..]
        }
        _ => word,
    }
}

fn escape_chars(out: &mut String, s: &str) {
    let mut previous: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match c {
            // Between two letters or digits `_` can neither open nor close emphasis
            // (`policy.denied_users` stays searchable as written).
            '_' if previous.is_some_and(char::is_alphanumeric)
                && next.is_some_and(char::is_alphanumeric) =>
            {
                out.push(c)
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
        previous = Some(c);
    }
}

/// Would GitHub make something of `word`: a link (`http://…`, `www.…`), a mention or an
/// e-mail link (`@…`), or an issue reference (`#12`, `GH-12`, `owner/repo#12`)?
fn links_or_mentions(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    let b = lower.as_bytes();
    let alnum_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let digit_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    (0..b.len()).any(|i| match b[i] {
        b'@' => alnum_at(i + 1),
        b'#' => digit_at(i + 1),
        b'g' => (i == 0 || !alnum_at(i - 1)) && lower[i..].starts_with("gh-") && digit_at(i + 3),
        _ => false,
    })
}

#[cfg(test)]
mod tests;
