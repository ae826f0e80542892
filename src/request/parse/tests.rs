use super::super::test_support::*;
use super::super::*;
use super::*;

#[test]
fn unknown_field_is_reported_at_its_key_with_suggestion() {
    let d = only(ALICE, &alice("reasn = \"typo\"\n"));
    assert_eq!((d.line, d.column), (Some(3), Some(1)));
    assert!(d.message.contains("unknown field `reasn`"), "{d}");
    assert!(d.message.contains("did you mean `reason`?"), "{d}");
    assert!(
        d.message
            .contains("`iam_user`, `reason`, `expires_in_days`, `readers` and `rotate_every_days`"),
        "{d}"
    );
}

#[test]
fn unknown_field_suggestions() {
    let cases: &[(&str, Option<&str>)] = &[
        ("reasn", Some("reason")),
        ("Reason", Some("reason")),
        ("iam-user", Some("iam_user")),
        ("user", Some("iam_user")),
        ("expires", Some("expires_in_days")),
        ("expiry_days", Some("expires_in_days")),
        ("expires_in_day", Some("expires_in_days")),
        ("owner", None),
        ("x", None),
        ("requester", None),
        ("reader", Some("readers")),
        ("Readers", Some("readers")),
        ("read_by", Some("readers")),
    ];
    for (key, expected) in cases {
        assert_eq!(suggest_field(key, &FIELDS), *expected, "{key}");
    }
}

#[test]
fn unknown_field_without_likely_meaning_says_remove_it() {
    let d = only(ALICE, &alice("requester = \"bob\"\n"));
    assert!(d.message.contains("remove it"), "{d}");
    assert!(!d.message.contains("did you mean"), "{d}");
}

#[test]
fn fields_under_a_table_header_say_move_them_to_the_top() {
    let src = "[request]\niam_user = \"alice\"\nreason = \"deploy from CI pipeline\"\n";
    let d = diagnostics(ALICE, src);
    assert_eq!(d.len(), 3, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (Some(1), Some(2)));
    assert!(
        d[0].message.contains("remove the `[request]` line"),
        "{}",
        d[0]
    );
    assert!(
        d[1].message
            .starts_with("missing required field `iam_user`")
    );
    assert!(d[2].message.starts_with("missing required field `reason`"));
}

#[test]
fn dotted_known_key_is_a_wrong_type() {
    let d = only(
        ALICE,
        "iam_user = \"alice\"\nreason.text = \"deploy from CI pipeline\"\n",
    );
    assert!(
        d.message
            .contains("`reason` must be a string, found a table"),
        "{d}"
    );
    assert_eq!(d.line, Some(2));
}

#[test]
fn missing_fields_have_no_position_and_say_what_to_add() {
    let d = diagnostics(ALICE, "expires_in_days = 30\n");
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(
        d[0],
        Diagnostic {
            path: ALICE.to_owned(),
            line: None,
            column: None,
            message: "missing required field `iam_user`: add `iam_user = \"alice\"` (the \
                      same as the folder name)"
                .to_owned(),
        }
    );
    assert_eq!(
        d[1].message,
        "missing required field `reason`: add `reason = \"...\"` saying why the key is \
         needed (10 to 1000 characters)"
    );
    assert_eq!(d[1].line, None);
}

#[test]
fn empty_or_blank_file_is_one_diagnostic_showing_the_needed_fields() {
    for src in ["", "   ", "\n\n", "\r\n\t\r\n", "\u{FEFF}"] {
        let d = only(ALICE, src);
        assert_eq!(d.line, None);
        assert!(d.message.starts_with("the file is empty"), "{d}");
        assert!(d.message.contains("`iam_user = \"alice\"`"), "{d}");
    }
}

#[test]
fn comment_only_file_lists_the_missing_fields() {
    let d = diagnostics(ALICE, "# just a comment\n");
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(
        d.iter()
            .all(|d| d.message.starts_with("missing required field"))
    );
}

#[test]
fn file_of_exactly_64_kib_is_accepted_and_one_byte_more_is_not() {
    let head = alice("");
    let mut src = head.clone();
    src.push('#');
    while src.len() < MAX_FILE_BYTES - 1 {
        src.push('x');
    }
    src.push('\n');
    assert_eq!(src.len(), MAX_FILE_BYTES);
    assert!(parse(ALICE, &src).is_ok());

    src.insert(head.len() + 1, 'x');
    let d = only(ALICE, &src);
    assert!(d.message.contains("65537 bytes"), "{d}");
    assert!(d.message.contains("64 KiB"), "{d}");
    assert_eq!(d.line, None);
}

#[test]
fn utf8_bom_is_accepted_and_does_not_shift_columns() {
    let src = format!("\u{FEFF}{}", alice(""));
    assert!(parse(ALICE, &src).is_ok());
    let d = only(
        ALICE,
        "\u{FEFF}reasn = 1\niam_user = \"alice\"\nreason = \"deploy from CI pipeline\"\n",
    );
    assert_eq!((d.line, d.column), (Some(1), Some(1)));
}

#[test]
fn crlf_line_endings_are_accepted_with_correct_positions() {
    let src = "iam_user = \"alice\"\r\nreason = \"deploy from CI pipeline\"\r\n";
    assert!(parse(ALICE, src).is_ok());
    let src =
        "iam_user = \"alice\"\r\nreason = \"deploy from CI pipeline\"\r\nexpires_in_days = 0\r\n";
    let d = only(ALICE, src);
    assert_eq!((d.line, d.column), (Some(3), Some(19)));
}

#[test]
fn nul_byte_means_binary_content() {
    let mut bytes = alice("").into_bytes();
    bytes.push(0);
    let d = parse_request(ALICE, &bytes, &rules()).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("binary data"), "{}", d[0]);
    assert!(
        d[0].message
            .contains(&format!("byte offset {}", bytes.len() - 1))
    );
}

#[test]
fn utf16_file_says_save_as_utf8() {
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("iam_user".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let d = parse_request(ALICE, &bytes, &rules()).unwrap_err();
    assert!(d[0].message.contains("UTF-16"), "{}", d[0]);
}

#[test]
fn invalid_utf8_names_byte_offset_line_and_column() {
    let mut bytes = b"iam_user = \"alice\"\nreason = \"caf".to_vec();
    bytes.push(0xE9); // Latin-1 "é"
    bytes.extend_from_slice(b" deploy from CI\"\n");
    let d = parse_request(ALICE, &bytes, &rules()).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("not valid UTF-8"), "{}", d[0]);
    assert!(d[0].message.contains("0xE9 at byte offset 32"), "{}", d[0]);
    assert_eq!((d[0].line, d[0].column), (Some(2), Some(14)));
}

#[test]
fn syntax_error_has_position_cleaned_message_and_hint() {
    let d = only(ALICE, "iam_user = \"alice\"\nreason = deploy from CI\n");
    assert_eq!((d.line, d.column), (Some(2), Some(10)));
    assert!(d.message.starts_with("TOML syntax error: "), "{d}");
    assert!(
        d.message.contains("hint: text goes in double quotes"),
        "{d}"
    );
    assert!(!d.message.contains('\n'), "{d}");
}

#[test]
fn syntax_error_column_counts_characters_not_bytes() {
    let src = format!("iam_user = \"alice\"\nreason = \"{JAPANESE_REASON}\" extra\n");
    let d = only(ALICE, &src);
    let prefix = format!("reason = \"{JAPANESE_REASON}\" ");
    assert_eq!(d.line, Some(2));
    assert_eq!(d.column, Some(prefix.chars().count() + 1));
    assert_ne!(d.column, Some(prefix.len() + 1));
}

#[test]
fn syntax_error_hints() {
    let cases: &[(&str, &str)] = &[
        ("iam_user = \"alice\"\niam_user = \"alice\"\n", "only once"),
        ("iam_user \"alice\"\n", "`name = value`"),
        ("iam_user = \"alice\n", "triple quotes"),
        (
            "iam_user = \"alice\"\nexpires_in_days = 30 days\n",
            "double quotes",
        ),
    ];
    for (src, hint) in cases {
        let d = diagnostics(ALICE, src);
        assert!(d[0].message.contains(hint), "{src:?}: {}", d[0]);
        assert!(d[0].line.is_some(), "{src:?}");
    }
}

#[test]
fn position_counts_lines_and_characters_and_clamps() {
    let text = "ab\n日本x\n";
    assert_eq!(position(text, 0), (1, 1));
    assert_eq!(position(text, 3), (2, 1));
    assert_eq!(position(text, 9), (2, 3));
    assert_eq!(position(text, 4), (2, 1)); // inside a character: floored
    assert_eq!(position(text, 1000), (3, 1));
    assert_eq!(position("", 5), (1, 1));
}

#[test]
fn readers_of_wrong_type_says_use_a_list() {
    let mut rules = settings();
    rules.allowed_readers = vec!["arn:aws:iam::123456789012:role/*".to_owned()];
    let src = alice("readers = \"arn:aws:iam::123456789012:role/ci\"\n");
    let d = parse_request(ALICE, src.as_bytes(), &compiled(&rules)).unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (Some(3), Some(11)));
    assert!(
        d[0].message
            .contains("`readers` must be a list of strings, found the string"),
        "{}",
        d[0]
    );
    assert!(d[0].message.contains("square brackets"), "{}", d[0]);
}
