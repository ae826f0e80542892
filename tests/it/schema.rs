//! `schema/request.schema.json`, the editors' view of a request file (DESIGN §1), held to
//! keygate's own parser so the two cannot drift: the same fields, the same required ones,
//! the same types and bounds, the same characters in `iam_user`.

use std::collections::BTreeSet;
use std::process::Command;

use keygate::ids::{ACCOUNT_ALIAS_MAX_CHARS, AccountAlias};
use keygate::request::{
    FIELDS, IAM_USER_MAX_CHARS, MAX_READERS, REASON_MAX_CHARS, REASON_MIN_CHARS, RequestRules,
    parse_request,
};
use serde_json::Value;

const SCHEMA: &str = include_str!("../../schema/request.schema.json");
const EXAMPLE: &str = include_str!("../../requests/example-ci-deployer/deploy-pipeline.toml");
const EXAMPLE_PATH: &str = "requests/example-ci-deployer/deploy-pipeline.toml";
/// Where a file holding every field sits: `account` needs a keygate with `[accounts]`, and
/// then its account's folder.
const ALL_FIELDS_PATH: &str = "requests/prod/alice/ci.toml";

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("schema/request.schema.json is not JSON")
}

/// keygate's defaults, with one reader allowed so that `readers` can be accepted at all, and
/// an account `prod` for a path in an account's folder (`requests/<account>/<user>/…`).
fn accepts(path: &str, text: &str) -> bool {
    let accounts = if path.split('/').count() == 4 {
        vec![AccountAlias::new("prod")]
    } else {
        vec![]
    };
    let rules = RequestRules {
        requests_dir: "requests".into(),
        default_expiry_days: 90,
        max_expiry_days: 365,
        allowed_users: vec!["*".into()],
        denied_users: vec![],
        allowed_readers: vec!["arn:aws:iam::123456789012:role/*".into()],
        secret_name_template: "{iam_user}/access-key-{timestamp}".into(),
        accounts,
    }
    .compile()
    .unwrap();
    parse_request(path, text.as_bytes(), &rules).is_ok()
}

/// A valid line for each field, in `FIELDS` order.
fn line(field: &str) -> &'static str {
    match field {
        "iam_user" => "iam_user = \"alice\"",
        "reason" => "reason = \"Nightly backups copy to S3\"",
        "expires_in_days" => "expires_in_days = 30",
        "readers" => "readers = [\"arn:aws:iam::123456789012:role/backup\"]",
        "rotate_every_days" => "rotate_every_days = 7",
        "account" => "account = \"prod\"",
        other => panic!(
            "FIELDS has {other}, which this test does not know: add it here and to the schema"
        ),
    }
}

fn file_of(fields: &[&str]) -> String {
    fields.iter().map(|f| format!("{}\n", line(f))).collect()
}

#[test]
fn the_schema_names_exactly_the_fields_the_parser_accepts_and_no_others() {
    let s = schema();
    assert_eq!(
        s["additionalProperties"], false,
        "unknown fields are errors"
    );
    let named: BTreeSet<&str> = s["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(named, FIELDS.into_iter().collect::<BTreeSet<_>>());
    assert!(accepts(ALL_FIELDS_PATH, &file_of(&FIELDS)));
    assert!(!accepts(
        ALL_FIELDS_PATH,
        &format!("{}colour = \"blue\"\n", file_of(&FIELDS))
    ));
}

#[test]
fn the_schema_requires_exactly_the_fields_the_parser_cannot_do_without() {
    let s = schema();
    let required: BTreeSet<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in FIELDS {
        let others: Vec<&str> = FIELDS.into_iter().filter(|f| *f != field).collect();
        let parser_requires = !accepts(ALL_FIELDS_PATH, &file_of(&others));
        assert_eq!(
            required.contains(field),
            parser_requires,
            "{field}: required by the schema {}, by the parser {parser_requires}",
            required.contains(field)
        );
    }
}

#[test]
fn the_schema_types_are_the_parsers_types() {
    let s = schema();
    for field in FIELDS {
        let ty = s["properties"][field]["type"].as_str().unwrap();
        // A value of another type than the schema's must be refused by the parser.
        let wrong = match ty {
            "string" => "42",
            "integer" => "\"30\"",
            "array" => "\"arn:aws:iam::123456789012:role/backup\"",
            other => panic!("{field}: type {other} not covered"),
        };
        let text: String = FIELDS
            .iter()
            .map(|f| {
                if *f == field {
                    format!("{field} = {wrong}\n")
                } else {
                    format!("{}\n", line(f))
                }
            })
            .collect();
        assert!(
            !accepts(ALL_FIELDS_PATH, &text),
            "{field}: the parser accepts a non-{ty}"
        );
    }
    assert_eq!(s["properties"]["readers"]["items"]["type"], "string");
}

#[test]
fn the_schema_bounds_are_the_parsers_bounds() {
    let p = &schema()["properties"];
    assert_eq!(p["iam_user"]["minLength"], 1);
    assert_eq!(p["iam_user"]["maxLength"], IAM_USER_MAX_CHARS);
    assert_eq!(p["reason"]["minLength"], REASON_MIN_CHARS);
    assert_eq!(p["reason"]["maxLength"], REASON_MAX_CHARS);
    assert_eq!(p["expires_in_days"]["minimum"], 1);
    assert_eq!(p["rotate_every_days"]["minimum"], 1);
    let (user, reason) = (line("iam_user"), line("reason"));
    for (rotate, ok) in [(0, false), (1, true), (30, true), (31, false)] {
        let text =
            format!("{user}\n{reason}\nexpires_in_days = 30\nrotate_every_days = {rotate}\n");
        assert_eq!(
            accepts("requests/alice/ci.toml", &text),
            ok,
            "rotate_every_days = {rotate} with expires_in_days = 30"
        );
    }
    assert_eq!(p["readers"]["maxItems"], MAX_READERS);
    assert_eq!(
        p["readers"]["uniqueItems"], true,
        "a reader named twice is refused"
    );
    let reader = "\"arn:aws:iam::123456789012:role/backup\"";
    assert!(!accepts(
        "requests/alice/ci.toml",
        &format!(
            "{}{}{}readers = [{reader}, {reader}]\n",
            line("iam_user"),
            "\n",
            line("reason")
        )
    ));
    assert!(!accepts(
        "requests/alice/ci.toml",
        &format!(
            "{}\n{}\nexpires_in_days = 0\n",
            line("iam_user"),
            line("reason")
        )
    ));
}

/// The characters of a `^[...]{1,64}$` pattern's class.
fn class_of(pattern: &str) -> BTreeSet<char> {
    let inner = pattern
        .strip_prefix("^[")
        .and_then(|p| p.split_once(']'))
        .map(|(class, _)| class)
        .unwrap_or_else(|| panic!("{pattern} is not ^[...]{{m,n}}$"));
    let chars: Vec<char> = inner.chars().collect();
    let mut set = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            set.extend(chars[i]..=chars[i + 2]);
            i += 3;
        } else {
            set.insert(chars[i]);
            i += 1;
        }
    }
    set
}

#[test]
fn the_iam_user_pattern_allows_exactly_the_characters_the_parser_allows() {
    let pattern = schema()["properties"]["iam_user"]["pattern"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        pattern.ends_with(&format!("{{1,{IAM_USER_MAX_CHARS}}}$")),
        "{pattern}"
    );
    let class = class_of(&pattern);
    // Every printable ASCII character that can sit in a folder name and a TOML literal string.
    for c in (' '..='~').filter(|c| !matches!(c, '/' | '\'' | '\\')) {
        let user = format!("ab{c}cd");
        let text = format!("iam_user = '{user}'\nreason = \"Nightly backups copy to S3\"\n");
        let parser = accepts(&format!("requests/{user}/ci.toml"), &text);
        assert_eq!(
            class.contains(&c),
            parser,
            "{c:?}: in the schema's class {}, accepted by the parser {parser}",
            class.contains(&c)
        );
    }
    assert!(!class.contains(&'/') && !class.contains(&'\'') && !class.contains(&'\\'));
}

#[test]
fn the_account_pattern_allows_exactly_the_aliases_the_parser_allows() {
    let account = &schema()["properties"]["account"];
    assert_eq!(account["maxLength"], ACCOUNT_ALIAS_MAX_CHARS);
    let pattern = account["pattern"].as_str().unwrap();
    // `^[first][rest]{0,31}$`: the first character's class, then the others'.
    let (first, rest) = pattern
        .strip_prefix('^')
        .and_then(|p| p.split_once(']'))
        .map(|(first, rest)| (format!("^{first}]{{1,1}}$"), format!("^{rest}")))
        .unwrap();
    let (first, rest) = (class_of(&first), class_of(&rest));
    assert!(
        pattern.ends_with(&format!("{{0,{}}}$", ACCOUNT_ALIAS_MAX_CHARS - 1)),
        "{pattern}"
    );
    for c in ' '..='~' {
        assert_eq!(
            first.contains(&c),
            AccountAlias::parse(&format!("{c}a")).is_ok(),
            "{c:?} first"
        );
        assert_eq!(
            rest.contains(&c),
            AccountAlias::parse(&format!("a{c}")).is_ok(),
            "{c:?} after the first"
        );
    }
}

#[test]
fn the_example_request_points_editors_at_the_schema_and_still_validates() {
    assert!(
        EXAMPLE.starts_with("#:schema ../../schema/request.schema.json\n"),
        "{EXAMPLE}"
    );
    assert!(accepts(EXAMPLE_PATH, EXAMPLE));

    // And the real `keygate validate`, as a requester runs it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(EXAMPLE_PATH);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, EXAMPLE).unwrap();
    std::fs::write(dir.path().join("CODEOWNERS"), "/requests/ @acme/security\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .current_dir(dir.path())
        .env_clear()
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
