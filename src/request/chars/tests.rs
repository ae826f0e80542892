use super::super::test_support::*;
use super::*;
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};

#[test]
fn echoed_input_is_short_and_escaped() {
    let key = format!("{}\u{202e}", "k".repeat(5000));
    let d = only(ALICE, &alice(&format!("\"{key}\" = 1\n")));
    assert!(d.message.chars().count() < 300, "{d}");
    let d = only(ALICE, &alice("\"a\u{202e}b\" = 1\n"));
    assert!(d.message.contains("\\u{202e}"), "{d}");
    assert!(!d.message.contains('\u{202e}'), "{d}");
}

#[test]
fn hidden_table_is_sorted_so_lookups_find_every_entry() {
    assert!(HIDDEN.windows(2).all(|w| w[0].0 < w[1].0));
    for (c, name) in HIDDEN {
        assert_eq!(hidden_name(*c), Some(*name));
    }
}

#[test]
fn every_character_that_hides_text_is_named_and_escaped() {
    let hidden = [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}',
        '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{2028}', '\u{2029}',
    ];
    for c in hidden {
        assert!(hidden_name(c).is_some(), "{:?}", c);
        assert!(!is_visible(c), "{:?}", c);
        let echoed = echo_plain(&format!("a{c}b"));
        assert!(!echoed.contains(c), "{echoed}");
        assert!(echoed.contains("\\u{"), "{echoed}");
    }
    assert_eq!(code_point('\u{202E}'), "U+202E RIGHT-TO-LEFT OVERRIDE");
    assert_eq!(code_point('\u{2029}'), "U+2029 PARAGRAPH SEPARATOR");
    assert_eq!(code_point('a'), "U+0061");
    assert_eq!(
        describe_char('\u{200B}'),
        "an invisible character (U+200B ZERO WIDTH SPACE)"
    );
    for c in ['a', 'é', '本', ' ', '\n', '\u{00A0}'] {
        assert_eq!(hidden_name(c), None, "{:?}", c);
    }
}

#[test]
fn visible_means_not_space_control_or_format() {
    for c in ['a', 'Z', '0', '.', 'é', '本', 'ش', '😀'] {
        assert!(is_visible(c), "{:?}", c);
    }
    for c in [
        ' ',
        '\t',
        '\n',
        '\u{00A0}',
        '\u{3000}',
        '\u{0007}',
        '\u{007F}',
        '\u{00AD}',
        '\u{2062}',
        '\u{E0041}',
        '\u{FFF9}',
    ] {
        assert!(!is_visible(c), "{:?}", c);
    }
}

#[test]
fn request_file_names_hold_only_plain_ascii() {
    for c in ['a', 'Z', '0', '.', '_', '-'] {
        assert!(is_file_name_char(c), "{:?}", c);
    }
    for c in [' ', '/', '\\', '+', '@', ',', '=', 'é', '\u{202E}', '*'] {
        assert!(!is_file_name_char(c), "{:?}", c);
    }
}

/// Every code point Unicode calls `Default_Ignorable_Code_Point` or `General_Category=Cf`,
/// as the data keygate ships has them.
fn ignorable_set() -> Vec<char> {
    let dicp = CodePointSetData::new::<DefaultIgnorableCodePoint>().iter_ranges();
    let format =
        CodePointMapData::<GeneralCategory>::new().iter_ranges_for_value(GeneralCategory::Format);
    let mut all: Vec<char> = dicp
        .chain(format)
        .flatten()
        .filter_map(char::from_u32)
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[test]
fn the_set_is_unicodes_whole_default_ignorable_and_format_set() {
    let all = ignorable_set();
    // Unicode 15.1 and later: 4,174 default ignorables, and the format characters that
    // are not (Arabic number signs, interlinear annotations, Egyptian hieroglyph controls…).
    assert!(all.len() >= 4_200, "{}", all.len());
    let ranges: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x034F, 0x034F),
        (0x115F, 0x1160),
        (0x180B, 0x180F),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x206F),
        (0x3164, 0x3164),
        (0xFE00, 0xFE0F),
        (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0),
        (0xFFF0, 0xFFFB),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    ];
    for &(first, last) in ranges {
        for cp in first..=last {
            let c = char::from_u32(cp).unwrap();
            assert!(all.binary_search(&c).is_ok(), "U+{cp:04X}");
            assert!(hides_text(c) && !is_visible(c), "U+{cp:04X}");
        }
    }
    for c in [
        'a',
        ' ',
        '\n',
        '本',
        'ش',
        '\u{064E}',
        '😀',
        '\u{1F3FD}',
        '\u{20E3}',
    ] {
        assert!(!is_ignorable(c), "{:?}", c);
    }
}

#[test]
fn every_code_point_of_the_set_is_refused_in_a_reason_with_the_clear_message() {
    for c in ignorable_set() {
        let src = format!("iam_user = \"alice\"\nreason = \"deploy {c}from CI pipeline\"\n");
        let d = only(ALICE, &src);
        let code = format!("U+{:04X}", u32::from(c));
        assert!(
            d.message.contains(&code)
                && d.message
                    .contains("a character that hides or reorders text")
                && d.message.contains("remove it"),
            "{code}: {d}"
        );
        assert!(!d.message.contains(c), "{code}: shown as itself");
        assert_eq!((d.line, d.column), (Some(2), Some(18)), "{code}");
    }
}

#[test]
fn the_issues_invisible_characters_are_named() {
    for (c, name) in [
        ('\u{E0041}', "U+E0041"),
        ('\u{E0001}', "U+E0001 LANGUAGE TAG"),
        ('\u{2061}', "U+2061 FUNCTION APPLICATION"),
        ('\u{2064}', "U+2064 INVISIBLE PLUS"),
        ('\u{180E}', "U+180E MONGOLIAN VOWEL SEPARATOR"),
        ('\u{00AD}', "U+00AD SOFT HYPHEN"),
        ('\u{3164}', "U+3164 HANGUL FILLER"),
    ] {
        let d = only(
            ALICE,
            &alice_with_reason(&format!("backups{c} to S3 nightly")),
        );
        assert!(d.message.contains(name), "{name}: {d}");
    }
}

fn alice_with_reason(reason: &str) -> String {
    format!("iam_user = \"alice\"\nreason = \"{reason}\"\n")
}

#[test]
fn ordinary_writing_in_many_scripts_and_emoji_sequences_pass() {
    for reason in [
        "本番環境の夜間バックアップを S3 へコピーするため",
        "نَسْخٌ احْتِيَاطِيٌّ لِلْبَيَانَاتِ كُلَّ لَيْلَةٍ",
        "גיבוי לילי של בסיס הנתונים אל S3",
        "रात्रिकालीन बैकअप को S3 में भेजने के लिए",
        "야간 백업을 S3에 복사합니다",
        "Ночное резервное копирование в S3",
        "Deploys 🚀 nightly, ⚠️ prod only, 1️⃣ key",
        "Team 👩🏽‍🚀 and 👨‍👩‍👧‍👦 run it ❤️‍🔥 🏳️‍🌈 🧑‍🤝‍🧑",
        "Copy ☁︎ backups (text style) to S3",
    ] {
        let parsed = parse(ALICE, &alice_with_reason(reason));
        assert_eq!(parsed.map(|r| r.reason).as_deref(), Ok(reason));
    }
}

#[test]
fn joiners_and_selectors_outside_an_emoji_and_smuggled_runs_are_refused() {
    for (reason, code) in [
        // Emoji smuggling: bytes as a run of variation selectors after one emoji.
        ("backups to S3 😀\u{FE0F}\u{FE0F} nightly", "U+FE0F"),
        (
            "backups to S3 😀\u{E0100}\u{E0101}\u{E0102} nightly",
            "U+E0100",
        ),
        // The TAG characters of a subdivision flag (England) can carry any ASCII.
        (
            "backups 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} S3",
            "U+E0067",
        ),
        ("back\u{200D}ups to S3 nightly", "U+200D"),
        ("backups 😀\u{200D} to S3 nightly", "U+200D"),
        ("backups to\u{FE0F} S3 nightly", "U+FE0F"),
        ("backups 😀\u{200D}\u{200D}😀 to S3", "U+200D"),
        // A joiner between letters is invisible, Persian's included: write without it.
        ("پشتیبان‌گیری شبانه به S3", "U+200C"),
    ] {
        let d = only(ALICE, &alice_with_reason(reason));
        assert!(d.message.contains(code), "{reason:?}: {d}");
    }
}

#[test]
fn emoji_joiners_are_told_apart_by_their_neighbours_alone() {
    let (rocket, woman, tone) = (Some('🚀'), Some('👩'), Some('\u{1F3FD}'));
    assert!(builds_emoji([woman, None], '\u{200D}', rocket));
    assert!(builds_emoji([tone, woman], '\u{200D}', rocket));
    assert!(builds_emoji(
        [Some('\u{FE0F}'), Some('🏳')],
        '\u{200D}',
        Some('🌈')
    ));
    assert!(builds_emoji([Some('☁'), None], '\u{FE0F}', None));
    assert!(!builds_emoji([Some('a'), None], '\u{200D}', rocket));
    assert!(!builds_emoji([woman, None], '\u{200D}', Some('a')));
    assert!(!builds_emoji([woman, None], '\u{200D}', None));
    assert!(!builds_emoji([Some('\u{FE0F}'), woman], '\u{FE0F}', None));
    assert!(!builds_emoji([woman, None], '\u{E0100}', None));
    assert!(!builds_emoji([woman, None], '\u{200B}', rocket));
}
