//! Which paths a pattern matches, and which line wins.

use super::*;
use crate::policy::codeowners::patterns::render_glob;

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
