use super::super::test_support::*;
use super::super::*;

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
fn reason_needs_ten_visible_characters() {
    let cases: &[(&str, bool)] = &[
        ("a b c d e f g h i j", true),
        ("a b c d e f g h i", false),
        ("abcd\\u3000\\u3000efghi", false),
        ("abcdefghi\\u00ad", false),
        ("abcdefghi\\u2062\\u2062\\u2062", false),
        ("abcdefghi\\u00a0\\u00a0", false),
        ("deploy \\u00e9\\u00e9\\u00e9\\u00e9", true),
    ];
    for (reason, valid) in cases {
        let src = format!("iam_user = \"alice\"\nreason = \"{reason}\"\n");
        let result = parse(ALICE, &src);
        assert_eq!(result.is_ok(), *valid, "reason {reason:?}: {result:?}");
        if let Err(d) = result {
            assert!(
                d[0].message
                    .contains("not counting spaces and invisible characters"),
                "{}",
                d[0]
            );
        }
    }
}

#[test]
fn reason_refuses_every_character_that_hides_text_naming_it() {
    let cases: &[(char, &str)] = &[
        ('\u{202A}', "U+202A LEFT-TO-RIGHT EMBEDDING"),
        ('\u{202B}', "U+202B RIGHT-TO-LEFT EMBEDDING"),
        ('\u{202C}', "U+202C POP DIRECTIONAL FORMATTING"),
        ('\u{202D}', "U+202D LEFT-TO-RIGHT OVERRIDE"),
        ('\u{202E}', "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ('\u{2066}', "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ('\u{2067}', "U+2067 RIGHT-TO-LEFT ISOLATE"),
        ('\u{2068}', "U+2068 FIRST STRONG ISOLATE"),
        ('\u{2069}', "U+2069 POP DIRECTIONAL ISOLATE"),
        ('\u{200E}', "U+200E LEFT-TO-RIGHT MARK"),
        ('\u{200F}', "U+200F RIGHT-TO-LEFT MARK"),
        ('\u{061C}', "U+061C ARABIC LETTER MARK"),
        ('\u{200B}', "U+200B ZERO WIDTH SPACE"),
        ('\u{200C}', "U+200C ZERO WIDTH NON-JOINER"),
        ('\u{200D}', "U+200D ZERO WIDTH JOINER"),
        ('\u{2060}', "U+2060 WORD JOINER"),
        ('\u{FEFF}', "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ('\u{2028}', "U+2028 LINE SEPARATOR"),
        ('\u{2029}', "U+2029 PARAGRAPH SEPARATOR"),
    ];
    for (c, name) in cases {
        // Written as itself in the file: `reason = "deploy ` is 18 characters.
        let src = format!("iam_user = \"alice\"\nreason = \"deploy {c}from CI pipeline\"\n");
        let d = only(ALICE, &src);
        assert!(d.message.contains(name), "{name}: {d}");
        assert!(d.message.contains("remove it"), "{name}: {d}");
        assert!(
            !d.message.contains(*c),
            "{name}: the message shows the character itself"
        );
        assert_eq!((d.line, d.column), (Some(2), Some(18)), "{name}");
    }
}

#[test]
fn hidden_character_is_located_when_written_as_an_escape() {
    let src =
        "iam_user = \"alice\"\nreason = \"\"\"\ndeploy from CI\nfor backups \\u202E here\n\"\"\"\n";
    let d = only(ALICE, src);
    assert!(d.message.contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{d}");
    assert_eq!((d.line, d.column), (Some(4), Some(13)));

    // An escaped backslash is not an escape: the real one is found after it.
    let src = "iam_user = \"alice\"\nreason = \"a \\\\u202E b \\U0000202e deploy\"\n";
    let d = only(ALICE, src);
    assert_eq!((d.line, d.column), (Some(2), Some(23)), "{d}");
}

#[test]
fn hidden_character_report_points_at_the_first_and_counts_the_rest() {
    let src = "iam_user = \"alice\"\nreason = \"\u{2028}deploy \u{200B}from \u{200B}CI\u{2060}\"\n";
    let d = only(ALICE, src);
    assert!(d.message.contains("U+200B ZERO WIDTH SPACE"), "{d}");
    assert!(d.message.contains("(and 2 more such characters)"), "{d}");
    // The leading U+2028 is trimmed away and never shown, so it is not the one reported.
    assert_eq!((d.line, d.column), (Some(2), Some(19)), "{d}");
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
    let mut rules = settings();
    rules.max_expiry_days = 30;
    let ok = parse_request(
        ALICE,
        alice("expires_in_days = 30").as_bytes(),
        &compiled(&rules),
    );
    assert_eq!(ok.unwrap().expires_in_days, 30);
    let refused = parse_request(
        ALICE,
        alice("expires_in_days = 31").as_bytes(),
        &compiled(&rules),
    );
    assert!(refused.is_err());
}

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
    let mut rules = settings();
    rules.secret_name_template = "keys/pr-{pr}-{timestamp}".to_owned();
    let src = "iam_user = \"a,b\"\nreason = \"deploy from CI pipeline\"\n";
    assert!(parse_request("requests/a,b/ci.toml", src.as_bytes(), &compiled(&rules)).is_ok());
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

#[test]
fn deny_list_wins_over_allow_list() {
    let mut rules = settings();
    rules.allowed_users = vec!["*".to_owned()];
    rules.denied_users = vec!["root*".to_owned(), "admin".to_owned()];
    let src = "iam_user = \"rootish\"\nreason = \"deploy from CI pipeline\"\n";
    let d = parse_request(
        "requests/rootish/ci.toml",
        src.as_bytes(),
        &compiled(&rules),
    )
    .unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("policy.denied_users"), "{}", d[0]);
    assert!(d[0].message.contains("`root*`"), "{}", d[0]);
    assert_eq!((d[0].line, d[0].column), (Some(1), Some(12)));
    assert!(check_user_policy("alice", &compiled(&rules)).is_ok());
}

#[test]
fn user_outside_allow_list_is_refused_naming_the_list() {
    let mut rules = settings();
    rules.allowed_users = vec!["svc-*".to_owned()];
    assert!(check_user_policy("svc-ci", &compiled(&rules)).is_ok());
    let err = check_user_policy("alice", &compiled(&rules)).unwrap_err();
    assert!(err.contains("policy.allowed_users"), "{err}");
    rules.allowed_users.clear();
    let err = check_user_policy("svc-ci", &compiled(&rules)).unwrap_err();
    assert!(err.contains("the list is empty"), "{err}");
}

#[test]
fn policy_globs_ignore_case_because_iam_names_do() {
    let mut rules = settings();
    rules.denied_users = vec!["admin".to_owned()];
    assert!(check_user_policy("admin", &compiled(&rules)).is_err());
    assert!(check_user_policy("Admin", &compiled(&rules)).is_err());
}

#[test]
fn user_lists_match_without_regard_to_case_as_iam_names_do() {
    let mut rules = settings();
    rules.denied_users = vec!["admin*".into()];
    assert!(check_user_policy("Admin-Ops", &compiled(&rules)).is_err());
    assert!(check_user_policy("ADMIN", &compiled(&rules)).is_err());
    assert!(check_user_policy("svc-admin", &compiled(&rules)).is_ok());
}
