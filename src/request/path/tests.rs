use super::super::test_support::*;
use super::super::*;
use crate::ids::AccountAlias;

#[test]
fn classify_table() {
    let request = |user: &str| PathKind::Request {
        folder_user: user.to_owned(),
        account: None,
    };
    let cases: &[(&str, Option<PathKind>, &str)] = &[
        ("requests/alice/ci.toml", Some(request("alice")), ""),
        (
            "requests/svc.deploy@prod/a.b.toml",
            Some(request("svc.deploy@prod")),
            "",
        ),
        ("requests/README.md", Some(PathKind::Documentation), ""),
        ("requests/alice/notes.MD", Some(PathKind::Documentation), ""),
        ("requests/a/b/README.md", Some(PathKind::Documentation), ""),
        ("README.md", Some(PathKind::Outside), ""),
        ("CODEOWNERS", Some(PathKind::Outside), ""),
        ("requests", Some(PathKind::Outside), ""),
        ("requestsx/alice/ci.toml", Some(PathKind::Outside), ""),
        ("Requests/alice/ci.toml", Some(PathKind::Outside), ""),
        ("docs/requests/alice/ci.toml", Some(PathKind::Outside), ""),
        ("requests/x.toml", None, "put it in requests/<iam_user>/"),
        ("requests/a/b/c.toml", None, "nested too deep"),
        (
            "requests/alice/ci.yaml",
            None,
            "rename it to requests/alice/ci.toml",
        ),
        (
            "requests/alice/ci.tml",
            None,
            "rename it to requests/alice/ci.toml",
        ),
        (
            "requests/alice/ci.TOML",
            None,
            "lower-case `.toml`: rename it to requests/alice/ci.toml",
        ),
        (
            "requests/alice/ci",
            None,
            "rename it to requests/alice/ci.toml",
        ),
        ("requests/alice/.toml", None, "the file name is empty"),
        ("requests/al ice/ci.toml", None, "not a valid IAM user name"),
        ("requests/ålice/ci.toml", None, "not a valid IAM user name"),
        ("requests//ci.toml", None, "empty folder or file name"),
        ("requests/alice/", None, "empty folder or file name"),
    ];
    for (path, expected, says) in cases {
        let got = classify(path, &rules());
        match expected {
            Some(kind) => assert_eq!(&got, kind, "{path}"),
            None => match got {
                PathKind::Misplaced(d) => {
                    assert_eq!(d.path, *path);
                    assert_eq!(d.line, None);
                    assert!(d.message.contains(says), "{path}: {d}");
                }
                other => panic!("{path}: expected Misplaced, got {other:?}"),
            },
        }
    }
}

#[test]
fn classify_tolerates_slashes_around_the_configured_folder() {
    let mut rules = settings();
    rules.requests_dir = "access/requests/".to_owned();
    assert_eq!(
        classify("access/requests/alice/ci.toml", &rules),
        PathKind::Request {
            folder_user: "alice".to_owned(),
            account: None,
        }
    );
    assert_eq!(
        classify("requests/alice/ci.toml", &rules),
        PathKind::Outside
    );
}

#[test]
fn misplaced_file_still_gets_its_content_checked() {
    let d = diagnostics(
        "requests/ci.toml",
        "iam_user = \"alice\"\nreason = \"short\"\n",
    );
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(
        d[0].message.contains("put it in requests/<iam_user>/"),
        "{}",
        d[0]
    );
    assert!(d[1].message.contains("too short"), "{}", d[1]);
}

#[test]
fn documentation_and_outside_paths_are_not_requests() {
    let d = only("requests/README.md", "# How to ask for a key\n");
    assert!(d.message.contains("documentation"), "{d}");
    let d = only("src/main.rs", "fn main() {}\n");
    assert!(d.message.contains("outside the requests/ folder"), "{d}");
}

#[test]
fn request_name_that_breaks_the_secret_name_is_refused() {
    let mut rules = settings();
    rules.secret_name_template = "{iam_user}/{request}-{timestamp}".to_owned();
    let path = "requests/alice/my key.toml";
    let d = parse_request(path, alice("").as_bytes(), &compiled(&rules)).unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].message.contains("the file name `my key`"), "{}", d[0]);
    assert!(d[0].message.contains("a space (U+0020)"), "{}", d[0]);
    assert!(parse_request(ALICE, alice("").as_bytes(), &compiled(&rules)).is_ok());
}

#[test]
fn long_request_name_that_overflows_the_secret_name_is_refused() {
    let mut rules = settings();
    rules.secret_name_template = "{iam_user}/{request}-{timestamp}".to_owned();
    let path = format!("requests/alice/{}.toml", "n".repeat(500));
    let d = parse_request(&path, alice("").as_bytes(), &compiled(&rules)).unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].message.contains("goes into the secret name"),
        "{}",
        d[0]
    );
    assert!(d[0].message.contains("characters long"), "{}", d[0]);
}

#[test]
fn request_file_names_hold_only_letters_digits_dot_underscore_and_hyphen() {
    let cases: &[(&str, Option<&str>)] = &[
        ("requests/alice/ci.toml", None),
        ("requests/alice/CI_deploy-2.v1.toml", None),
        ("requests/alice/.hidden.toml", None),
        (
            "requests/alice/my key.toml",
            Some("a space (U+0020) at character 3"),
        ),
        (
            "requests/alice/ci+prod.toml",
            Some("`+` (U+002B) at character 3"),
        ),
        (
            "requests/alice/caf\u{e9}.toml",
            Some("`\u{e9}` (U+00E9) at character 4"),
        ),
        (
            "requests/alice/ci\u{202e}lmth.toml",
            Some("an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE) at character 3"),
        ),
        (
            "requests/alice/ci\u{200b}.toml",
            Some("U+200B ZERO WIDTH SPACE"),
        ),
        ("requests/alice/a@b.toml", Some("`@` (U+0040)")),
    ];
    for (path, problem) in cases {
        match (classify(path, &rules()), problem) {
            (PathKind::Request { .. }, None) => {}
            (PathKind::Misplaced(d), Some(says)) => {
                assert!(d.message.contains(says), "{path}: {d}");
                assert!(
                    d.message
                        .contains("may only hold ASCII letters, digits and . _ -"),
                    "{path}: {d}"
                );
                assert!(!d.message.contains('\u{202e}'), "{path}: {d}");
            }
            (other, _) => panic!("{path}: unexpected {other:?}"),
        }
    }
    let PathKind::Misplaced(d) = classify("requests/alice/my key.toml", &rules()) else {
        panic!("a space in a file name must not make a request");
    };
    assert!(
        d.message
            .contains("rename it, e.g. to requests/alice/my-key.toml"),
        "{d}"
    );
}

#[test]
fn requests_dir_must_be_a_plain_relative_folder() {
    for dir in ["requests", "access/requests", ".github-requests"] {
        assert_eq!(check_requests_dir(dir), Ok(()), "{dir:?}");
    }
    for dir in [
        "",
        "/requests",
        "requests/",
        "../requests",
        "a//b",
        "a\\b",
        ".",
    ] {
        let err = check_requests_dir(dir).unwrap_err();
        assert!(err.contains("policy.requests_dir"), "{dir:?}");
    }
}

#[test]
fn empty_requests_dir_classifies_everything_as_outside() {
    let mut rules = settings();
    rules.requests_dir = String::new();
    assert_eq!(classify("alice/ci.toml", &rules), PathKind::Outside);
    assert_eq!(classify("/alice/ci.toml", &rules), PathKind::Outside);
}

fn with_accounts() -> RequestRules {
    let mut rules = settings();
    rules.accounts = vec![AccountAlias::new("dev"), AccountAlias::new("prod")];
    rules
}

#[test]
fn with_accounts_a_request_sits_in_its_accounts_folder() {
    let rules = with_accounts();
    assert_eq!(
        classify("requests/prod/alice/ci.toml", &rules),
        PathKind::Request {
            folder_user: "alice".to_owned(),
            account: Some(AccountAlias::new("prod")),
        }
    );
    assert_eq!(
        account_of("requests/dev/alice/ci.toml", &rules),
        Some(AccountAlias::new("dev"))
    );
    assert_eq!(
        classify("requests/prod/README.md", &rules),
        PathKind::Documentation
    );
    let cases: &[(&str, &[&str])] = &[
        (
            "requests/alice/ci.toml",
            &[
                "requests/<account>/<iam_user>/<name>.toml",
                "requests/<account>/alice/ci.toml",
                "`dev`, `prod`",
            ],
        ),
        (
            "requests/staging/alice/ci.toml",
            &[
                "`staging` is not an AWS account keygate knows",
                "`dev`, `prod`",
            ],
        ),
        (
            "requests/prod/ci.toml",
            &[
                "folder of account `prod`",
                "requests/prod/<iam_user>/ci.toml",
            ],
        ),
        ("requests/ci.toml", &["requests/<account>/<iam_user>/"]),
        (
            "requests/prod/alice/x/ci.toml",
            &["nested too deep", "requests/<account>/<iam_user>/ci.toml"],
        ),
        (
            "requests/prod/al ice/ci.yaml",
            &[
                "rename it to requests/prod/al ice/ci.toml",
                "not a valid IAM user name",
            ],
        ),
        (
            "requests/Prod/alice/ci.toml",
            &["`Prod` is not an AWS account"],
        ),
    ];
    for (path, says) in cases {
        match classify(path, &rules) {
            PathKind::Misplaced(d) => {
                for s in *says {
                    assert!(d.message.contains(s), "{path}: {d}");
                }
            }
            other => panic!("{path}: expected Misplaced, got {other:?}"),
        }
    }
}

#[test]
fn the_account_field_must_name_a_known_account_and_its_folder() {
    let rules = with_accounts().compile().unwrap();
    let parse = |path: &str, src: &str| parse_request(path, src.as_bytes(), &rules);
    let path = "requests/prod/alice/ci.toml";
    let r = parse(path, &alice("account = \"prod\"\n")).unwrap();
    assert_eq!(r.account, Some(AccountAlias::new("prod")));
    let r = parse(path, &alice("")).unwrap();
    assert_eq!(
        r.account,
        Some(AccountAlias::new("prod")),
        "the folder names it"
    );

    let d = parse(path, &alice("account = \"dev\"\n")).unwrap_err();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].message
            .contains("must equal the account folder `prod`"),
        "{d:?}"
    );
    assert_eq!((d[0].line, d[0].column), (Some(3), Some(11)));
    let d = parse(path, &alice("account = \"staging\"\n")).unwrap_err();
    assert!(
        d[0].message
            .contains("`staging` is not an AWS account keygate knows")
            && d[0].message.contains("`dev`, `prod`"),
        "{d:?}"
    );
    let d = parse(path, &alice("account = 7\n")).unwrap_err();
    assert!(d[0].message.contains("`account` must be a string"), "{d:?}");
    let d = parse(path, &alice("acount = \"prod\"\n")).unwrap_err();
    assert!(d[0].message.contains("did you mean `account`?"), "{d:?}");
}

#[test]
fn without_accounts_the_account_field_is_refused() {
    let d = only(ALICE, &alice("account = \"prod\"\n"));
    assert!(d.message.contains("no [accounts]"), "{d}");
    let d = only(ALICE, &alice("acount = \"prod\"\n"));
    assert!(
        !d.message.contains("`account`"),
        "not offered where it is not allowed: {d}"
    );
}
