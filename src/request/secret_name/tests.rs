use super::super::*;

fn inputs<'a>(iam_user: &'a str, request: &'a str) -> SecretNameInputs<'a> {
    SecretNameInputs {
        iam_user,
        timestamp: "20260314150926",
        pr: 42,
        request,
    }
}

#[test]
fn secret_name_renders_every_placeholder() {
    let got = render_secret_name("{iam_user}/access-key-{timestamp}", &inputs("alice", "ci"));
    assert_eq!(got.unwrap(), "alice/access-key-20260314150926");
    let got = render_secret_name(
        "keys/{iam_user}/pr{pr}/{request}/{timestamp}",
        &inputs("alice", "ci"),
    );
    assert_eq!(got.unwrap(), "keys/alice/pr42/ci/20260314150926");
    let got = render_secret_name("{pr}{pr}", &inputs("alice", "ci"));
    assert_eq!(got.unwrap(), "4242");
}

#[test]
fn secret_name_template_errors_explain_themselves() {
    let cases: &[(&str, &str)] = &[
        ("{user}/key", "unknown placeholder `{user}`"),
        ("{iam_user/key", "never closed"),
        ("{iam_user}}/key", "without a matching"),
        ("", "empty"),
        ("{iam_user} key", "a space (U+0020) at character 6"),
        ("{iam_user}:{pr}", "`:` (U+003A)"),
    ];
    for (template, says) in cases {
        let err = render_secret_name(template, &inputs("alice", "ci")).unwrap_err();
        assert!(err.contains(says), "{template:?}: {err}");
    }
}

#[test]
fn secret_name_names_the_offending_character_and_length_limit() {
    let err = render_secret_name("{iam_user}/k", &inputs("a,b", "ci")).unwrap_err();
    assert!(err.contains("`,` (U+002C) at character 2"), "{err}");
    let long = "x".repeat(SECRET_NAME_MAX_CHARS);
    assert!(render_secret_name(&long, &inputs("a", "b")).is_ok());
    let err = render_secret_name(&format!("{long}x"), &inputs("a", "b")).unwrap_err();
    assert!(err.contains("513 characters"), "{err}");
    assert!(err.len() < 200, "{err}");
}
