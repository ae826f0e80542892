use super::super::test_support::*;
use super::*;

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
