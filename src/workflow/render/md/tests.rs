use super::*;

/// The parts of rendered Markdown outside code spans, the way CommonMark finds code spans
/// (a backslash-escaped backtick opens none). Whatever GitHub would make a mention, a link
/// or a reference of must not be in them.
fn outside_code(md: &str) -> String {
    let b = md.as_bytes();
    let (mut i, mut out) = (0, String::new());
    while i < b.len() {
        match b[i] {
            // An escaped character is literal: it takes part in no syntax.
            b'\\' if i + 1 < b.len() && b[i + 1].is_ascii_punctuation() => {
                out.push('E');
                i += 2;
            }
            b'`' => {
                let run = backtick_run(b, i);
                match closing_run(b, i + run, run) {
                    Some(close) => {
                        out.push(' ');
                        i = close + run;
                    }
                    None => {
                        out.push_str(&md[i..i + run]);
                        i += run;
                    }
                }
            }
            _ => {
                let c = md[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

fn assert_inert(input: &str, md: &str) {
    assert!(
        !md.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{202E}']),
        "{input:?} -> {md:?}: a line break or a reordering character is left"
    );
    let outside = outside_code(md);
    let b = outside.as_bytes();
    assert!(
        !(0..b.len()).any(|i| b[i] == b'@' && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)),
        "{input:?} -> {md:?}: a mention outside a code span"
    );
    for bad in ["://", "www.", "<", ">", "](", "#1", "gh-1"] {
        assert!(
            !outside.to_ascii_lowercase().contains(bad),
            "{input:?} -> {md:?}: `{bad}` outside a code span"
        );
    }
    for marker in ["#", "-", "+", "=", ">", "1."] {
        assert!(
            !md.starts_with(marker),
            "{input:?} -> {md:?}: starts a block"
        );
    }
    assert!(
        !md.starts_with("    "),
        "{input:?} -> {md:?}: indented code"
    );
}

const HOSTILE: &[&str] = &[
    "@everyone look",
    "cc @acme/admins, @bob.",
    "ops@example.com",
    "see http://evil.example/x?a=1 now",
    "HTTPS://EVIL.example",
    "www.evil.example",
    "[click](https://evil.example)",
    "[click](/settings)",
    "![img](x.png)",
    "<https://evil.example>",
    "<img src=x onerror=alert(1)>",
    "<!-- hidden -->",
    "fixes #1 and acme/other#12 and GH-1",
    "# Heading",
    "- item",
    "1. item",
    "> quote",
    "    indented code",
    "line one\n# forged heading\n- forged item",
    "a\u{2028}b\u{2029}c\r\nd",
    "evil\u{202E}txt.exe",
    "`code` and ``double``",
    "**bold** _it_ ~~gone~~ | table |",
    "trailing backslash \\",
    "@",
    "#",
    "`@everyone`@bob`",
];

#[test]
fn hostile_text_renders_inert() {
    for input in HOSTILE {
        assert_inert(input, &text(input));
        assert_inert(input, &prose(input));
        let c = code(input);
        assert!(!c.contains(['\n', '\u{2028}']), "{input:?} -> {c:?}");
    }
}

#[test]
fn plain_words_are_left_as_they_are() {
    assert_eq!(text("deploy from CI, nightly"), "deploy from CI, nightly");
    assert_eq!(text("2027-02-26T15:00:00Z"), "2027-02-26T15:00:00Z");
    assert_eq!(text("日本語の理由"), "日本語の理由");
}

#[test]
fn mentions_references_and_links_become_code() {
    assert_eq!(text("@everyone look"), "`@everyone` look");
    assert_eq!(text("cc @acme/admins, @bob."), "cc `@acme/admins`, `@bob`.");
    assert_eq!(text("ops@example.com"), "`ops@example.com`");
    assert_eq!(
        text("see http://evil.example/x"),
        "see `http://evil.example/x`"
    );
    assert_eq!(text("(www.evil.example)"), "(`www.evil.example`)");
    assert_eq!(text("fixes #1"), "fixes `#1`");
    assert_eq!(text("acme/other#12"), "`acme/other#12`");
    assert_eq!(text("GH-7"), "`GH-7`");
    assert_eq!(text("a lone @ and # stay"), "a lone @ and # stay");
}

#[test]
fn link_and_html_syntax_is_escaped() {
    assert_eq!(text("[click](/settings)"), "\\[click\\](/settings)");
    assert_eq!(
        text("<img src=x onerror=alert(1)>"),
        "&lt;img src=x onerror=alert(1)&gt;"
    );
    assert_eq!(text("&lt; & co"), "&amp;lt; &amp; co");
    assert_eq!(
        text("[x](https://evil.example)"),
        "\\[`x](https://evil.example`)"
    );
}

#[test]
fn emphasis_and_code_markers_are_escaped() {
    assert_eq!(
        text("**b** _i_ ~s~ `c` | \\"),
        "\\*\\*b\\*\\* \\_i\\_ \\~s\\~ \\`c\\` \\| \\\\"
    );
}

#[test]
fn an_underscore_inside_a_word_stays_as_written() {
    assert_eq!(text("policy.denied_users"), "policy.denied_users");
    assert_eq!(text("_it_ snake_case_"), "\\_it\\_ snake_case\\_");
    assert_eq!(text("__init__"), "\\_\\_init\\_\\_");
}

#[test]
fn a_line_break_cannot_start_a_new_line() {
    assert_eq!(
        text("one\n# two\u{2028}- three\u{2029}four"),
        "one # two - three four"
    );
    assert_eq!(text("# Heading"), "\\# Heading");
    assert_eq!(text("- item"), "\\- item");
    assert_eq!(text("+ item"), "\\+ item");
    assert_eq!(text("12. item"), "12\\. item");
    assert_eq!(text("3) item"), "3\\) item");
    assert_eq!(text("    code"), "code");
}

#[test]
fn characters_that_hide_text_show_as_replacement_characters() {
    assert_eq!(text("a\u{202E}b\u{200B}c"), "a\u{FFFD}b\u{FFFD}c");
    assert_eq!(code("a\u{2066}b"), "`a\u{FFFD}b`");
}

#[test]
fn code_spans_hold_any_backticks() {
    assert_eq!(code("requests/alice/ci.toml"), "`requests/alice/ci.toml`");
    assert_eq!(code("a`b"), "``a`b``");
    assert_eq!(code("a``b`"), "``` a``b` ```");
    assert_eq!(code("`x"), "`` `x ``");
    assert_eq!(code(" x "), "`  x  `");
    assert_eq!(code("   "), "`   `");
    assert_eq!(code("a\nb"), "`a b`");
    assert_eq!(code(""), "(empty)");
}

#[test]
fn prose_keeps_keygates_code_spans_and_escapes_the_rest() {
    assert_eq!(
        prose("`alice` already has 2 access keys"),
        "`alice` already has 2 access keys"
    );
    assert_eq!(
        prose("needs 1 more approval from @acme/security or @bob"),
        "needs 1 more approval from `@acme/security` or `@bob`"
    );
    assert_eq!(
        prose("`requests/a/x.toml` was renamed to requests/a/[y](z).toml"),
        "`requests/a/x.toml` was renamed to requests/a/\\[y\\](z).toml"
    );
    // A quoted part that held a backtick: pairing stays safe.
    assert_eq!(prose("`a`b` x"), "`a`b\\` x");
    assert_eq!(prose("`` a`b ``"), "``a`b``");
    assert_eq!(prose("unclosed ` @bob"), "unclosed \\` `@bob`");
    // Two spans never touch.
    assert_eq!(prose("`x`@bob"), "`x` `@bob`");
    // At the start, a block marker is escaped; after a span it needs no escape.
    assert_eq!(prose("# not a heading"), "\\# not a heading");
    assert_eq!(prose("`x` - y"), "`x` - y");
}

#[test]
fn only_codeowners_owners_are_mentions() {
    assert_eq!(owner(&Owner::User("bob".into())), "@bob");
    assert_eq!(
        owner(&Owner::Team {
            org: "acme".into(),
            slug: "security".into()
        }),
        "@acme/security"
    );
    assert_eq!(
        owner(&Owner::Email("ops@example.com".into())),
        "`ops@example.com`"
    );
    assert_eq!(owner(&Owner::User("x](y".into())), "`@x](y`");
    assert_eq!(login("carol"), "@carol");
    assert_eq!(login("evil <b>"), "`@evil <b>`");
}
