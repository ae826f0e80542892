//! `keygate validate` and `keygate owners`, run as a requester or approver would.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = "iam_user = \"alice\"\nreason = \"Nightly backups copy to S3\"\n";

#[test]
fn validate_passes_valid_requests_with_owners() {
    let dir = repo(&[
        ("CODEOWNERS", "/requests/ @acme/security\n"),
        ("requests/alice/ci.toml", GOOD),
        ("requests/README.md", "# how to ask"),
    ]);
    let (code, out, err) = run(dir.path(), &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("checked 1 request file: all valid"), "{err}");
}

#[test]
fn validate_prints_one_precise_line_per_problem() {
    let dir = repo(&[
        ("CODEOWNERS", "/requests/alice/ @acme/security\n"),
        (
            "requests/alice/ci.toml",
            "iam_user = \"alice\"\nreason = \"Nightly backups copy to S3\"\nreasn = \"x\"\n",
        ),
        (
            "requests/bob/ci.toml",
            "iam_user = \"bob\"\nreason = \"Nightly backups copy to S3\"\n",
        ),
    ]);
    let (code, out, _) = run(dir.path(), &["validate"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("requests/alice/ci.toml:3:1:") && l.contains("reasn")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("requests/bob/ci.toml") && l.contains("no line of CODEOWNERS")),
        "{out}"
    );
}

#[test]
fn validate_speaks_github_annotations_and_json() {
    let dir = repo(&[(
        "requests/alice/ci.toml",
        "iam_user = \"bob\"\nreason = \"Nightly backups copy to S3\"\n",
    )]);
    let (code, out, _) = run(dir.path(), &["validate", "--format", "github"]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("::error file=requests/alice/ci.toml,line=1,col="),
        "{out}"
    );
    let (_, out, _) = run(dir.path(), &["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["problems"][0]["path"], "requests/alice/ci.toml");
    assert_eq!(v["problems"][0]["line"], 1);
}

#[test]
fn validate_reports_a_usage_error_with_exit_2() {
    let dir = repo(&[]);
    let (code, _, err) = run(dir.path(), &["validate", "nowhere"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(dir.path(), &["validate", "--format", "yaml"]);
    assert_eq!(code, 2);
}

#[test]
fn owners_names_the_deciding_line() {
    let dir = repo(&[(
        ".github/CODEOWNERS",
        "* @acme/everyone\n/requests/ @acme/security\n/requests/billing-bot/ @acme/billing @erin\n/requests/legacy/\n",
    )]);
    let (code, out, _) = run(
        dir.path(),
        &[
            "owners",
            "requests/billing-bot/x.toml",
            "requests/alice/x.toml",
            "README.md",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v[0]["owners"],
        serde_json::json!(["@acme/billing", "@erin"])
    );
    assert_eq!(v[0]["line"], 3);
    assert_eq!(v[1]["pattern"], "/requests/");
    assert_eq!(v[2]["owners"], serde_json::json!(["@acme/everyone"]));

    let (code, out, _) = run(dir.path(), &["owners", "requests/legacy/old.toml"]);
    assert_eq!(code, 1, "a path with no owner is a problem");
    assert!(out.contains("no owner") && out.contains(":4:"), "{out}");
}

#[test]
fn owners_without_codeowners_is_a_usage_error() {
    let dir = repo(&[]);
    let (code, _, err) = run(dir.path(), &["owners", "requests/a/b.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("--codeowners"), "{err}");
}

/// A requests repository of a keygate that serves two AWS accounts, each with its owners.
fn accounts_repo(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files = vec![
        (
            "CODEOWNERS",
            "/requests/prod/ @acme/prod-admins\n/requests/dev/ @acme/developers\n",
        ),
        ("requests/prod/alice/ci.toml", GOOD),
        (
            "requests/dev/alice/ci.toml",
            "iam_user = \"alice\"\nreason = \"Nightly backups copy to S3\"\naccount = \"dev\"\n",
        ),
    ];
    files.extend_from_slice(extra);
    repo(&files)
}

#[test]
fn validate_learns_the_accounts_from_the_command_line_or_the_configuration() {
    let dir = accounts_repo(&[]);
    let (code, out, err) = run(dir.path(), &["validate", "--accounts", "prod,dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("checked 2 request files: all valid"), "{err}");

    // Without the accounts, the account folders are no IAM users' folders.
    let (code, out, _) = run(dir.path(), &["validate"]);
    assert_eq!(code, 1);
    assert!(out.contains("nested too deep"), "{out}");

    // The same from keygate's configuration.
    std::fs::write(
        dir.path().join("keygate.toml"),
        "[accounts.prod]\nrole_arn = \"arn:aws:iam::111111111111:role/keygate-issuer\"\n\
         [accounts.dev]\nrole_arn = \"arn:aws:iam::222222222222:role/keygate-issuer\"\n",
    )
    .unwrap();
    let (code, out, err) = run(dir.path(), &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn validate_with_accounts_names_an_unknown_account_and_the_known_ones() {
    let dir = accounts_repo(&[
        ("requests/staging/bob/ci.toml", GOOD),
        (
            "requests/prod/carol/ci.toml",
            "iam_user = \"carol\"\nreason = \"Nightly backups copy to S3\"\naccount = \"dev\"\n",
        ),
    ]);
    let (code, out, _) = run(dir.path(), &["validate", "--accounts", "prod,dev"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("requests/staging/bob/ci.toml:")
                && l.contains("`staging` is not an AWS account keygate knows")
                && l.contains("`dev`, `prod`")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("requests/prod/carol/ci.toml:3:11:")
                && l.contains("must equal the account folder `prod`")),
        "{out}"
    );
    let (code, _, err) = run(dir.path(), &["validate", "--accounts", "Prod"]);
    assert_eq!(code, 2, "a bad alias is a usage error: {err}");
    assert!(
        err.contains("--accounts") && err.contains("lower-case"),
        "{err}"
    );
}

#[test]
fn owners_names_each_accounts_own_owners() {
    let dir = accounts_repo(&[]);
    let (code, out, _) = run(
        dir.path(),
        &[
            "owners",
            "--accounts",
            "prod,dev",
            "requests/prod/alice/ci.toml",
            "requests/dev/alice/ci.toml",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["owners"], serde_json::json!(["@acme/prod-admins"]));
    assert_eq!(v[0]["account"], "prod");
    assert_eq!(v[1]["owners"], serde_json::json!(["@acme/developers"]));
    assert_eq!(v[1]["account"], "dev");
    let (_, out, _) = run(
        dir.path(),
        &[
            "owners",
            "--accounts",
            "prod,dev",
            "requests/prod/alice/ci.toml",
        ],
    );
    assert!(
        out.starts_with("requests/prod/alice/ci.toml [account prod]: @acme/prod-admins"),
        "{out}"
    );
}
