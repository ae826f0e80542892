use super::super::test_support::*;
use super::super::*;

#[test]
fn default_rules_pass_check() {
    assert_eq!(settings().check(), Ok(()));
}

#[test]
fn check_names_the_list_and_the_bad_glob() {
    let mut bad = settings();
    bad.allowed_users = vec!["ok*".to_owned(), "[unclosed".to_owned()];
    let err = bad.check().unwrap_err();
    assert!(
        err.starts_with("policy.allowed_users: invalid glob `[unclosed`"),
        "{err}"
    );

    let mut bad = settings();
    bad.denied_users = vec!["{a".to_owned()];
    let err = bad.check().unwrap_err();
    assert!(
        err.starts_with("policy.denied_users: invalid glob `{a`"),
        "{err}"
    );
}

#[test]
fn check_names_the_readers_list_and_its_bad_glob() {
    let mut bad = settings();
    bad.allowed_readers = vec!["arn:aws:iam::123456789012:role/[ci".to_owned()];
    let err = bad.check().unwrap_err();
    assert!(
        err.starts_with(
            "policy.allowed_readers: invalid glob `arn:aws:iam::123456789012:role/[ci`"
        ),
        "{err}"
    );
}

/// Rules with a broken glob never judge a request: compiling them fails with the key and the
/// glob, so no `CompiledRules` exists to pass to `parse_request`.
#[test]
fn broken_glob_refuses_to_compile_naming_the_list_and_glob() {
    let mut rules = settings();
    rules.denied_users = vec!["[a".to_owned()];
    let err = rules.compile().unwrap_err();
    assert!(
        err.starts_with("policy.denied_users: invalid glob `[a`"),
        "{err}"
    );
    assert_eq!(rules.check(), Err(err));
}

#[test]
fn compiled_rules_read_as_their_settings() {
    let mut rules = settings();
    rules.requests_dir = "access/requests".to_owned();
    let compiled = compiled(&rules);
    assert_eq!(compiled.requests_dir, "access/requests");
    assert_eq!(
        classify("access/requests/alice/ci.toml", &compiled),
        PathKind::Request {
            folder_user: "alice".to_owned(),
            account: None,
        }
    );
}

#[test]
fn reader_globs_match_exactly_and_star_stays_within_one_path_part() {
    let mut rules = settings();
    rules.allowed_readers = vec![
        "arn:aws:iam::123456789012:role/ci-*".to_owned(),
        "arn:aws:iam::210987654321:role/team/**".to_owned(),
    ];
    let rules = compiled(&rules);
    let cases: &[(&str, bool)] = &[
        ("arn:aws:iam::123456789012:role/ci-deploy", true),
        ("arn:aws:iam::123456789012:role/ci-x/admin", false),
        ("arn:aws:iam::123456789012:role/CI-deploy", false),
        ("arn:aws:iam::123456789012:user/ci-deploy", false),
        ("arn:aws:iam::999999999999:role/ci-deploy", false),
        ("arn:aws:iam::210987654321:role/team/a/b", true),
        ("arn:aws:iam::210987654321:role/other", false),
    ];
    for (arn, allowed) in cases {
        assert_eq!(rules.reader_allowed(arn), *allowed, "{arn}");
    }
}
