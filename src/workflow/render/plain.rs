//! Plain text (SNS notices, which reach people as e-mail, and the check run's title): no
//! markup to escape, but text from a pull request must not forge a line of its own, such as
//! a second `IAM user:` line, nor reorder what is shown.

use super::md::{is_hiding, one_line_char};

/// `s` on one line: line breaks (`\n`, `\r`, U+2028, U+2029, U+0085) and other control
/// characters become spaces; characters that reorder or hide text become U+FFFD.
pub fn line(s: &str) -> String {
    s.chars().map(one_line_char).collect()
}

/// Text that may rightly span lines (a request's reason): each of its lines starts with
/// `indent` (which must not be empty), so none of them can pass for a line keygate wrote.
pub fn block(s: &str, indent: &str) -> String {
    let mut out = String::with_capacity(s.len() + indent.len() * 4);
    let normal = s.replace("\r\n", "\n");
    for (i, l) in normal
        .split([
            '\n', '\r', '\u{2028}', '\u{2029}', '\u{0085}', '\u{000B}', '\u{000C}',
        ])
        .enumerate()
    {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(indent);
        out.extend(
            l.chars()
                .map(|c| if is_hiding(c) { '\u{FFFD}' } else { c })
                .map(|c| if c.is_control() { ' ' } else { c }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stays_one_line() {
        assert_eq!(
            line("alice\nIAM user: root\r\u{2028}x\u{2029}y\u{85}z\u{7}"),
            "alice IAM user: root  x y z "
        );
        assert_eq!(line("a\u{202E}b"), "a\u{FFFD}b");
    }

    #[test]
    fn every_line_of_a_block_is_indented() {
        assert_eq!(
            block("Nightly backup\r\nIAM user: root\u{2028}\tdone", "  "),
            "  Nightly backup\n  IAM user: root\n   done"
        );
        assert_eq!(block("one", "    "), "    one");
    }
}
