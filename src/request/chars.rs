//! Characters: which a name may hold, which hide themselves, and how the user's input is
//! quoted back in a message (briefly and harmlessly).

use icu_properties::props::{
    DefaultIgnorableCodePoint, Emoji, EmojiModifier, ExtendedPictographic, GeneralCategory,
};
use icu_properties::{CodePointMapData, CodePointSetData};

/// At most this many characters of one piece of the user's input are quoted in a message.
const ECHO_MAX_CHARS: usize = 60;

pub(super) const IAM_USER_CHARS: &str = "ASCII letters, digits and + = , . @ _ -";
pub(super) const SECRET_NAME_CHARS: &str = "ASCII letters, digits and / _ + = . @ -";
pub(super) const FILE_NAME_CHARS: &str = "ASCII letters, digits and . _ -";

/// Characters that hide text, named in messages: the ones that reorder text or take no
/// room (bidirectional controls, zero-width characters, fillers, invisible operators), and
/// those that break a line where no line break shows (line and paragraph separators).
/// Every other character that [`hides_text`] is refused too, shown by its code point alone.
/// Sorted by code point.
const HIDDEN: &[(char, &str)] = &[
    ('\u{00AD}', "SOFT HYPHEN"),
    ('\u{034F}', "COMBINING GRAPHEME JOINER"),
    ('\u{061C}', "ARABIC LETTER MARK"),
    ('\u{115F}', "HANGUL CHOSEONG FILLER"),
    ('\u{1160}', "HANGUL JUNGSEONG FILLER"),
    ('\u{180E}', "MONGOLIAN VOWEL SEPARATOR"),
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
    ('\u{2061}', "FUNCTION APPLICATION"),
    ('\u{2062}', "INVISIBLE TIMES"),
    ('\u{2063}', "INVISIBLE SEPARATOR"),
    ('\u{2064}', "INVISIBLE PLUS"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{FE0F}', "VARIATION SELECTOR-16"),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE"),
    ('\u{FFA0}', "HALFWIDTH HANGUL FILLER"),
    ('\u{E0001}', "LANGUAGE TAG"),
    ('\u{E007F}', "CANCEL TAG"),
];

/// The Unicode name of a character that hides text (see [`HIDDEN`]), if it is one keygate
/// names.
pub(super) fn hidden_name(c: char) -> Option<&'static str> {
    HIDDEN
        .binary_search_by_key(&c, |(hidden, _)| *hidden)
        .ok()
        .and_then(|i| HIDDEN.get(i))
        .map(|(_, name)| *name)
}

/// Unicode's characters that draw nothing: `Default_Ignorable_Code_Point` (zero-width and
/// joining characters, variation selectors, fillers, the TAG block and the code points set
/// aside for more such) and `General_Category=Cf` (format characters, e.g. bidirectional
/// controls and invisible operators). From ICU4X's data of the Unicode Character Database,
/// so a new Unicode version's characters come with the crate, not with a list kept here.
pub(super) fn is_ignorable(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// A character that hides or reorders text, or breaks a line where none shows: what a
/// reviewer reads would not be what is written.
pub(super) fn hides_text(c: char) -> bool {
    is_ignorable(c) || hidden_name(c).is_some()
}

/// Control characters and the characters that hide or reorder text: never shown as they are.
pub(super) fn is_invisible(c: char) -> bool {
    c.is_control() || hides_text(c)
}

/// Whether a character shows as something a reader can see: not a space of any kind, not a
/// control character, not one that draws nothing.
pub(super) fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !is_ignorable(c)
}

/// The characters of `text` that garble it or hide what it says, with their byte offsets:
/// control characters other than line feeds, carriage returns and tabs, and every character
/// that [`hides_text`], except a joiner or presentation selector that builds an emoji
/// ([`builds_emoji`]).
pub(super) fn garbling(text: &str) -> Vec<(usize, char)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: Option<usize>| i.and_then(|i| chars.get(i)).map(|(_, c)| *c);
    chars
        .iter()
        .enumerate()
        .filter(|(i, (_, c))| {
            let control = c.is_control() && !matches!(c, '\n' | '\t' | '\r');
            let before = [at(i.checked_sub(1)), at(i.checked_sub(2))];
            control || (hides_text(*c) && !builds_emoji(before, *c, at(Some(i + 1))))
        })
        .map(|(_, found)| *found)
        .collect()
}

/// Whether `c`, between `before` (the character before it, and the one before that) and
/// `after`, is part of an emoji as Unicode's emoji sequences (UTS #51) build them: a
/// presentation selector (U+FE0E, U+FE0F) right after an emoji character (`☁️`), or a zero
/// width joiner between two pictographs, the first perhaps with its selector or skin tone
/// (`👩🏽‍🚀`, `🏳️‍🌈`). Such a joiner or selector only picks how the emoji around it look:
/// it hides no text. A second selector in a row, a joiner beside anything else, and the TAG
/// characters of subdivision flags stay refused: runs of them are how text is smuggled
/// invisibly.
pub(super) fn builds_emoji(before: [Option<char>; 2], c: char, after: Option<char>) -> bool {
    let emoji = |c: Option<char>| c.is_some_and(|c| CodePointSetData::new::<Emoji>().contains(c));
    let pictograph = |c: Option<char>| {
        c.is_some_and(|c| CodePointSetData::new::<ExtendedPictographic>().contains(c))
    };
    let modifier =
        |c: Option<char>| c.is_some_and(|c| CodePointSetData::new::<EmojiModifier>().contains(c));
    match c {
        '\u{FE0E}' | '\u{FE0F}' => emoji(before[0]),
        '\u{200D}' => {
            let element = pictograph(before[0])
                || ((before[0] == Some('\u{FE0F}') || modifier(before[0]))
                    && pictograph(before[1]));
            element && pictograph(after)
        }
        _ => false,
    }
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
