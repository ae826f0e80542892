//! Secrets Manager tags: what AWS accepts, and never a silent change (DESIGN §3.3).
//!
//! AWS allows letters, digits, spaces and `_ . : / = + - @` in tag keys and values, at most
//! 128 characters in a key and 256 in a value. keygate keeps to the ASCII letters and digits:
//! AWS counts Unicode letters too, but Rust's `char::is_alphanumeric` also admits combining
//! marks that AWS refuses, and every value keygate tags with (repository, PR number, request
//! path, logins, RFC 3339 times, access key IDs) is ASCII already.

/// Longest tag value AWS accepts, in characters.
pub const VALUE_MAX_CHARS: usize = 256;
/// Longest tag key AWS accepts, in characters.
pub const KEY_MAX_CHARS: usize = 128;
/// Ends a shortened value or key, so whoever reads the tag sees it is not the whole text.
pub const SHORTENED_MARKER: &str = "...+more";
/// Stands in for each character AWS does not accept.
pub const REPLACEMENT: char = '_';

/// `raw` as a Secrets Manager tag value, and whether it had to be changed to be one:
/// characters AWS refuses become `_`, and a value over 256 characters is cut and ends with
/// [`SHORTENED_MARKER`]. When the flag is true, say so in the log: the tag is not the original.
pub fn tag_value(raw: &str) -> (String, bool) {
    fit(raw, VALUE_MAX_CHARS)
}

/// `raw` as a Secrets Manager tag key, on the rules of [`tag_value`] with AWS's 128-character
/// limit for keys.
pub fn tag_key(raw: &str) -> (String, bool) {
    fit(raw, KEY_MAX_CHARS)
}

/// Exactly the characters keygate sends in tags (see the module's note on letters).
pub fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

fn fit(raw: &str, max: usize) -> (String, bool) {
    let mut changed = false;
    let mut out: Vec<char> = raw
        .chars()
        .map(|c| {
            if is_tag_char(c) {
                c
            } else {
                changed = true;
                REPLACEMENT
            }
        })
        .collect();
    if out.len() > max {
        out.truncate(max - SHORTENED_MARKER.len());
        out.extend(SHORTENED_MARKER.chars());
        changed = true;
    }
    (out.into_iter().collect(), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptable_values_pass_unchanged() {
        for v in [
            "acme/access-requests",
            "requests/alice/ci.toml",
            "carol dave",
            "2027-02-26T15:00:00Z",
            "a+b=c@d:e_f.g",
            "",
        ] {
            assert_eq!(tag_value(v), (v.to_string(), false));
        }
    }

    #[test]
    fn characters_aws_refuses_are_replaced_and_reported() {
        assert_eq!(tag_value("@alice,@bob"), ("@alice_@bob".to_string(), true));
        assert_eq!(tag_value("a\nb\u{2028}c"), ("a_b_c".to_string(), true));
        assert_eq!(tag_value("日本"), ("__".to_string(), true));
        assert_eq!(tag_value("e\u{301}"), ("e_".to_string(), true));
        assert_eq!(tag_value("x*y#z(1)"), ("x_y_z_1_".to_string(), true));
    }

    #[test]
    fn a_long_value_is_cut_to_256_characters_and_says_so() {
        let (v, changed) = tag_value(&"x".repeat(300));
        assert!(changed);
        assert_eq!(v.chars().count(), VALUE_MAX_CHARS);
        assert!(v.ends_with(SHORTENED_MARKER), "{v}");
        assert!(
            v.chars().all(is_tag_char),
            "the marker itself is acceptable"
        );

        let exact = "y".repeat(VALUE_MAX_CHARS);
        assert_eq!(tag_value(&exact), (exact.clone(), false));
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        let (v, changed) = tag_value(&"é".repeat(200));
        assert!(changed);
        assert_eq!(v, "_".repeat(200));
    }

    #[test]
    fn keys_are_cut_at_128_characters() {
        let (k, changed) = tag_key(&format!("keygate:{}", "k".repeat(200)));
        assert!(changed);
        assert_eq!(k.chars().count(), KEY_MAX_CHARS);
        assert!(k.ends_with(SHORTENED_MARKER));
        assert_eq!(
            tag_key("keygate:expires-at"),
            ("keygate:expires-at".to_string(), false)
        );
    }
}
