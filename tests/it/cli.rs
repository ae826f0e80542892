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

/// `run` with variables of the test's choosing (and nothing else of the environment).
fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn owners_offers_only_the_formats_it_prints() {
    let dir = repo(&[("CODEOWNERS", "/requests/ @acme/security\n")]);
    let (code, _, err) = run(
        dir.path(),
        &["owners", "requests/a/b.toml", "--format", "github"],
    );
    assert_eq!(code, 2, "github is validate's format, not owners': {err}");
    let (_, out, _) = run(dir.path(), &["owners", "--help"]);
    assert!(out.contains("json") && !out.contains("github"), "{out}");
}

#[test]
fn init_says_it_creates_the_queues_too() {
    let dir = repo(&[]);
    let (code, out, _) = run(dir.path(), &["init", "--help"]);
    assert_eq!(code, 0);
    let out = out.replace('\n', " ");
    assert!(
        out.contains("SQS FIFO queue") && out.contains("point-in-time recovery"),
        "{out}"
    );
}

#[test]
fn a_revocation_without_a_reason_is_a_usage_error_not_an_unknown_key() {
    let dir = repo(&[]);
    let (code, _, err) = run(
        dir.path(),
        &["revoke", "--key", "AKIAEXAMPLE", "--reason", " x "],
    );
    assert_eq!(code, 2, "exit 1 means a key keygate did not issue: {err}");
    assert!(err.contains("at least 3 characters"), "{err}");
}

/// A configuration whose GitHub and AWS are closed ports on this host.
fn unreachable_deployment(key_file: &str) -> tempfile::TempDir {
    let dir = repo(&[
        (
            "keygate.toml",
            &format!(
                "[github]\napi_url = \"http://127.0.0.1:9\"\napp_id = 1\nrepository = \"acme/requests\"\n\
                 private_key_file = \"{key_file}\"\nwebhook_secret_file = \"webhook-secret\"\n\
                 [aws]\nsns_topic_arn = \"arn:aws:sns:us-east-1:123456789012:keygate\"\n"
            ),
        ),
        ("webhook-secret", "s3cret\n"),
    ]);
    let key = crate::support::github::TEST_APP_PRIVATE_KEY;
    std::fs::write(dir.path().join("app.pem"), key).unwrap();
    for f in ["app.pem", "webhook-secret"] {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join(f);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir
}

/// No AWS credentials, and the instance metadata service a closed port on this host: the
/// SDK's credential chain and region lookup fail, as on a laptop.
const NO_AWS: [(&str, &str); 2] = [
    ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"),
    ("HOME", "/nonexistent"),
];

#[test]
fn doctor_prints_no_dependency_noise_at_the_default_level() {
    let dir = unreachable_deployment("app.pem");
    let (code, out, err) = run_env(dir.path(), &["doctor"], &NO_AWS);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("[FAIL] github app"), "{out}");
    assert!(out.contains("[FAIL] aws identity"), "{out}");
    for noise in [
        "aws_config",
        "octocrab",
        "WARN",
        "ERROR",
        "{ source",
        "Response {",
    ] {
        assert!(!err.contains(noise), "`{noise}` on stderr:\n{err}");
    }
    // Named in KEYGATE_LOG, the SDK speaks again.
    let mut env = NO_AWS.to_vec();
    env.push(("KEYGATE_LOG", "info,aws_config=warn"));
    let (_, _, err) = run_env(dir.path(), &["doctor"], &env);
    assert!(err.contains("aws_config"), "{err}");
}

#[test]
fn doctor_with_a_missing_key_file_prints_every_check_skipped() {
    let dir = unreachable_deployment("missing.pem");
    let (code, out, _) = run_env(dir.path(), &["doctor"], &NO_AWS);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("[FAIL] configuration:") && lines[0].contains("missing.pem"));
    for check in [
        "github app",
        "aws identity",
        "sns topic",
        "ledger",
        "dead-letter queue",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("[skip] {check}:"))),
            "{check} not listed as skipped:\n{out}"
        );
    }
}

#[test]
fn backup_copies_the_ledger_and_never_overwrites() {
    let dir = repo(&[]);
    drop(keygate::ledger::SqliteLedger::open(&dir.path().join("keygate.db")).unwrap());
    let (code, out, err) = run(dir.path(), &["backup", "copy.db"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("integrity check ok") && out.contains("to restore"),
        "{out}"
    );
    assert!(dir.path().join("copy.db").is_file());
    let (code, _, err) = run(dir.path(), &["backup", "copy.db"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("never overwrites"), "{err}");
    let (code, _, err) = run_env(
        dir.path(),
        &["backup", "other.db"],
        &[
            ("KEYGATE_STORE_BACKEND", "dynamodb"),
            ("KEYGATE_STORE_TABLE", "kg"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("point-in-time recovery"), "{err}");
}

/// actionlint from the test tools `./scripts/test` installs.
fn actionlint() -> std::path::PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/actionlint");
    assert!(
        bin.is_file(),
        "{} is missing: run ./scripts/test once, which installs it",
        bin.display()
    );
    bin
}

#[test]
fn init_repo_writes_a_requests_repository_whose_workflow_passes_actionlint() {
    let dir = repo(&[]);
    let target = dir.path().join("requests-repo");
    let target = target.to_str().unwrap();
    let (code, out, err) = run(dir.path(), &["init-repo", target]);
    assert_eq!(code, 0, "{out}{err}");
    for file in [
        "requests/README.md",
        "schema/request.schema.json",
        "CODEOWNERS",
        ".github/workflows/validate.yml",
    ] {
        assert!(Path::new(target).join(file).is_file(), "{file}: {out}");
    }
    let workflow =
        std::fs::read_to_string(Path::new(target).join(".github/workflows/validate.yml")).unwrap();
    assert!(workflow.contains("sha256sum --check"), "{workflow}");
    assert!(workflow.contains("validate --format github"), "{workflow}");
    assert!(!workflow.contains("cargo"), "compiles nothing: {workflow}");
    let lint = Command::new(actionlint())
        .arg(Path::new(target).join(".github/workflows/validate.yml"))
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "actionlint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // The new repository validates: no requests yet, and CODEOWNERS all comments.
    let (code, _, err) = run(Path::new(target), &["validate"]);
    assert_eq!(code, 0, "{err}");

    // Nothing is overwritten without --force.
    std::fs::write(Path::new(target).join("CODEOWNERS"), "* @acme/platform\n").unwrap();
    let (code, _, err) = run(dir.path(), &["init-repo", target]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CODEOWNERS") && err.contains("--force"),
        "{err}"
    );
    let kept = std::fs::read_to_string(Path::new(target).join("CODEOWNERS")).unwrap();
    assert_eq!(kept, "* @acme/platform\n");
    let (code, _, err) = run(dir.path(), &["init-repo", target, "--force"]);
    assert_eq!(code, 0, "{err}");
}
