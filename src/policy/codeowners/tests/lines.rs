//! Invalid lines, and inputs that must never crash or crawl.

use super::*;

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
        ("*.rs @org/..", 6, "not a valid team slug"),
        ("*.rs @org/.", 6, "not a valid team slug"),
        ("*.rs @org/...", 6, "not a valid team slug"),
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
fn team_slug_of_dots_alone_is_an_invalid_line_named_by_its_number() {
    // `@org/..` would turn the team-membership call into another API path.
    let text = "* @acme/security\n/requests/ @acme/..\n/docs/ @acme/.\n*.md @acme/a..b\n";
    let co = CodeOwners::parse(text);

    let lines: Vec<usize> = co.errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3]);
    assert!(
        co.errors()[0]
            .to_string()
            .starts_with("line 2, column 12: `@acme/..`")
    );
    assert_eq!(
        shown(co.owners_of("requests/alice/ci.toml")),
        ["@acme/security"]
    );
    assert_eq!(shown(co.owners_of("x.md")), ["@acme/a..b"]);
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
