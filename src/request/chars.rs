//! Characters: which a name may hold, which hide themselves, and how the user's input is
//! quoted back in a message (briefly and harmlessly).

/// At most this many characters of one piece of the user's input are quoted in a message.
const ECHO_MAX_CHARS: usize = 60;

pub(super) const IAM_USER_CHARS: &str = "ASCII letters, digits and + = , . @ _ -";
pub(super) const SECRET_NAME_CHARS: &str = "ASCII letters, digits and / _ + = . @ -";
pub(super) const FILE_NAME_CHARS: &str = "ASCII letters, digits and . _ -";

/// Characters that reorder text or take no room, so what a reviewer reads is not what is
/// written (bidirectional controls, zero-width characters) or that break a line where no
/// line break shows (line and paragraph separators). Sorted by code point.
const HIDDEN: &[(char, &str)] = &[
    ('\u{061C}', "ARABIC LETTER MARK"),
    ('\u{200B}', "ZERO WIDTH SPACE"),
    ('\u{200C}', "ZERO WIDTH NON-JOINER"),
    ('\u{200D}', "ZERO WIDTH JOINER"),
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{2028}', "LINE SEPARATOR"),
    ('\u{2029}', "PARAGRAPH SEPARATOR"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2060}', "WORD JOINER"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE"),
];

/// The Unicode name of a character that hides or reorders text (see [`HIDDEN`]), if it is one.
pub(super) fn hidden_name(c: char) -> Option<&'static str> {
    HIDDEN
        .binary_search_by_key(&c, |(hidden, _)| *hidden)
        .ok()
        .and_then(|i| HIDDEN.get(i))
        .map(|(_, name)| *name)
}

/// Control characters and the characters that hide or reorder text: never shown as they are.
pub(super) fn is_invisible(c: char) -> bool {
    c.is_control() || hidden_name(c).is_some()
}

/// Unicode's format characters (General_Category=Cf, Unicode 15.1): they draw nothing.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether a character shows as something a reader can see: not a space of any kind, not a
/// control character, not a format character.
pub(super) fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !is_format(c)
}

pub(super) fn is_iam_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-')
}

pub(super) fn is_secret_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
}

pub(super) fn is_file_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The user's text in backticks: at most [`ECHO_MAX_CHARS`], invisible characters escaped.
pub(super) fn quote(s: &str) -> String {
    format!("`{}`", echo_plain(s))
}

pub(super) fn echo_plain(s: &str) -> String {
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

/// A character for a message: shown when it is visible, and always with its code point (and
/// its name when it is one that hides text), e.g. "an invisible character (U+202E
/// RIGHT-TO-LEFT OVERRIDE)".
pub(super) fn describe_char(c: char) -> String {
    let code = code_point(c);
    match c {
        ' ' => format!("a space ({code})"),
        c if c.is_whitespace() || is_invisible(c) => format!("an invisible character ({code})"),
        '`' => format!("a backtick ({code})"),
        c => format!("`{c}` ({code})"),
    }
}

/// "U+0041", or "U+202E RIGHT-TO-LEFT OVERRIDE" for a character that hides text.
pub(super) fn code_point(c: char) -> String {
    match hidden_name(c) {
        Some(name) => format!("U+{:04X} {name}", u32::from(c)),
        None => format!("U+{:04X}", u32::from(c)),
    }
}

#[cfg(test)]
mod tests;
