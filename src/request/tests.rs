//! End-to-end: whole request files through `parse_request`.

use super::test_support::*;
use super::*;

#[test]
fn valid_request_gets_default_expiry_and_trimmed_reason() {
    let src = "iam_user = \"alice\"\nreason = \"  deploy from CI pipeline \\n \"\n";
    let r = parse(ALICE, src).unwrap();
    assert_eq!(
        r,
        Request {
            path: ALICE.into(),
            iam_user: "alice".into(),
            reason: "deploy from CI pipeline".to_owned(),
            expires_in_days: 90,
            readers: vec![],
            rotate_every_days: None,
            account: None,
        }
    );
    assert_eq!(r.name(), "ci");
}

#[test]
fn multiline_and_literal_strings_are_accepted() {
    let src =
        "iam_user = 'alice'\nreason = \"\"\"\nNightly backup job\nfor the data team\n\"\"\"\n";
    let r = parse(ALICE, src).unwrap();
    assert_eq!(r.reason, "Nightly backup job\nfor the data team");
}

#[test]
fn comments_and_field_order_do_not_matter() {
    let src = "# my request\nexpires_in_days = 7 # a week\nreason = \"deploy from CI pipeline\"\niam_user = \"alice\"\n";
    assert_eq!(parse(ALICE, src).unwrap().expires_in_days, 7);
}

#[test]
fn all_problems_are_reported_in_file_order() {
    let src = "iam_user = \"bob\"\nreasn = \"x\"\nreason = \"short\"\nexpires_in_days = 0\n";
    let d = diagnostics(ALICE, src);
    let lines: Vec<_> = d.iter().map(|d| d.line).collect();
    assert_eq!(lines, [Some(1), Some(2), Some(3), Some(4)], "{d:#?}");
}

#[test]
fn diagnostic_display_with_and_without_position() {
    let mut d = Diagnostic::new(ALICE, "something is wrong");
    assert_eq!(d.to_string(), "requests/alice/ci.toml: something is wrong");
    d.line = Some(3);
    d.column = Some(1);
    assert_eq!(
        d.to_string(),
        "requests/alice/ci.toml:3:1: something is wrong"
    );
}

/// A small deterministic generator, so the odd inputs are the same on every run.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn odd_inputs_never_panic_and_messages_stay_short() {
    let mut inputs: Vec<Vec<u8>> = [
        "=",
        "= = =",
        "[",
        "[[",
        "]]",
        "\"",
        "'''",
        "\"\"\"",
        "\r",
        "\r\r\n",
        "a.b.c.d = 1",
        "iam_user = { a = [1, [2, [3]]] }",
        "x = 1979-05-27T07:32:00Z",
        "x = inf\ny = -nan",
        "iam_user = \"\\uD800\"",
        "iam_user = \"\\U0010FFFF\"",
        "\u{FEFF}\u{FEFF}",
        "\u{0085}\u{2028}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    inputs.push("[".repeat(10_000).into_bytes());
    inputs.push(format!("x = {}", "[".repeat(10_000)).into_bytes());
    inputs.push(format!("x = {}", "{a=".repeat(5_000)).into_bytes());
    inputs.push(format!("reason = \"{}", "y".repeat(60_000)).into_bytes());
    inputs.push(vec![0xEF, 0xBB]);
    inputs.push(vec![0xEF, 0xBB, 0xBF, 0xFF]);
    inputs.push(vec![0xC3]);
    inputs.push(vec![0xFE]);
    let mut state = 0x9E37_79B9_7F4A_7C15;
    let alphabet = b"[]{}=\"'.,#\n\r\t abc_-019xe+:\\";
    for _ in 0..300 {
        let len = (xorshift(&mut state) % 64) as usize;
        let text: Vec<u8> = (0..len)
            .map(|_| alphabet[(xorshift(&mut state) % alphabet.len() as u64) as usize])
            .collect();
        inputs.push(text);
        let raw: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
        inputs.push(raw);
    }
    let paths = [
        ALICE,
        "requests/x.toml",
        "requests/a/b/c",
        "requests/",
        "",
        "/",
        "requests//",
    ];
    for bytes in &inputs {
        for path in paths {
            if let Err(diagnostics) = parse_request(path, bytes, &rules()) {
                assert!(!diagnostics.is_empty());
                for d in diagnostics {
                    assert!(d.message.chars().count() < 600, "{d}");
                }
            }
        }
    }
}

#[test]
fn rotation_is_asked_in_days_within_the_keys_life() {
    let ok = parse(
        ALICE,
        &alice("expires_in_days = 30\nrotate_every_days = 7\n"),
    )
    .unwrap();
    assert_eq!(ok.rotate_every_days, Some(7));
    assert_eq!(parse(ALICE, &alice("")).unwrap().rotate_every_days, None);
    let too_long = only(
        ALICE,
        &alice("expires_in_days = 30\nrotate_every_days = 31\n"),
    );
    assert_eq!(too_long.line, Some(4));
    assert!(
        too_long
            .message
            .contains("between 1 and the key's `expires_in_days` (30)"),
        "{}",
        too_long.message
    );
    let zero = only(ALICE, &alice("rotate_every_days = 0\n"));
    assert!(
        zero.message.contains("(90)"),
        "the default expiry: {}",
        zero.message
    );
    let quoted = only(ALICE, &alice("rotate_every_days = \"7\"\n"));
    assert!(
        quoted.message.contains("must be an integer"),
        "{}",
        quoted.message
    );
}
