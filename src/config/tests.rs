use super::check::check_api_url;
use super::env::known_keys;
use super::*;
use secrecy::ExposeSecret;

const PEM: &str = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n\n";

/// A folder holding a config file and the secret files it may point at.
fn fixture(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keygate.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::write(dir.path().join("pk.pem"), PEM).unwrap();
    std::fs::write(dir.path().join("keygate.private-key.pem"), PEM).unwrap();
    std::fs::write(dir.path().join("webhook-secret"), "from-file\n").unwrap();
    (dir, path)
}

fn load_at(path: &Path, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::load(Some(path), env)
}

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let (_dir, path) = fixture(text);
    load_at(&path, env)
}

fn error(text: &str, env: &[(&str, &str)]) -> String {
    match load(text, env) {
        Ok(s) => panic!("expected a configuration error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(e: &str, parts: &[&str]) {
    for part in parts {
        assert!(e.contains(part), "`{part}` missing from: {e}");
    }
}

const EXAMPLE: &str = include_str!("../../keygate.example.toml");

#[test]
fn the_documented_example_is_complete_and_valid() {
    let s = load(EXAMPLE, &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "s3cret")]).unwrap();
    assert_eq!(s.github.repository.as_deref(), Some("acme/access-requests"));
    assert_eq!(s.policy.max_expiry_days, 365);
    // The example's secrets fall under the prefix the shipped policies grant (SecretPrefix).
    let template = include_str!("../../deploy/keygate.yaml");
    let prefix = template
        .split("SecretPrefix:")
        .nth(1)
        .and_then(|p| p.split("Default:").nth(1))
        .and_then(|d| d.lines().next())
        .map(|d| d.trim().trim_matches('"'))
        .unwrap();
    assert_eq!(prefix, "keygate/");
    assert!(
        s.aws.secret_name.starts_with(prefix),
        "{}",
        s.aws.secret_name
    );
    assert!(s.store.path.ends_with("keygate.db"));
    // Every key is in it, set or (for keys without a default) commented out.
    for key in known_keys().unwrap() {
        let set = format!("\n{} = ", key.name);
        let commented = format!("\n# {} = ", key.name);
        assert!(
            EXAMPLE.contains(&set) || EXAMPLE.contains(&commented),
            "{} is missing from keygate.example.toml",
            key.dotted()
        );
    }
}

#[test]
fn a_file_without_the_newer_keys_gets_every_documented_default() {
    let s = load("[server]\nlisten = \"127.0.0.1:8080\"\n", &[]).unwrap();
    assert_eq!(s.server.retry_for_secs, 86_400);
    assert_eq!(s.server.max_unverified_bytes, 268_435_456);
    assert_eq!(s.server.max_attempts, None);
    assert_eq!(s.policy.max_requests_per_pr, 10);
    assert!(!s.policy.require_verified_commits);
    assert_eq!(s.policy.approval_ttl_hours, 168);
    assert_eq!(s.policy.request_ttl_hours, 0);
    assert!(s.policy.allowed_readers.is_empty());
    let l = &s.lifecycle;
    assert_eq!(
        (l.warn_days, l.delete_after_days, l.secret_recovery_days),
        (7, 7, 7)
    );
    assert_eq!(
        (l.sweep_interval_secs, l.reconcile_interval_secs),
        (300, 600)
    );
    assert_eq!(l.reconcile_since, None);
    assert_eq!(s.store.backend, StoreBackend::Sqlite);
    assert_eq!(s.store.table, None);
    assert_eq!(s.queue.backend, QueueBackend::Local);
    assert_eq!(s.queue.url, None);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
}

#[test]
fn the_new_sections_are_read_from_the_file() {
    let s = load(
        "[policy]\nallowed_readers = [\"arn:aws:iam::1:role/*\"]\nrequire_verified_commits = true\n\
         [lifecycle]\nsecret_recovery_days = 0\nreconcile_since = \"2026-01-01T00:00:00Z\"\n\
         [store]\nbackend = \"dynamodb\"\ntable = \"keygate\"\n\
         [queue]\nbackend = \"sqs\"\nurl = \"https://sqs.us-east-1.amazonaws.com/1/k.fifo\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.policy.allowed_readers, vec!["arn:aws:iam::1:role/*"]);
    assert!(s.policy.require_verified_commits);
    assert_eq!(s.lifecycle.secret_recovery_days, 0);
    assert_eq!(
        s.lifecycle.reconcile_since.unwrap().unix_timestamp(),
        1_767_225_600
    );
    assert_eq!(s.store.backend, StoreBackend::Dynamodb);
    assert_eq!(s.store.table.as_deref(), Some("keygate"));
    assert_eq!(s.queue.backend, QueueBackend::Sqs);
}

#[test]
fn an_old_file_with_max_attempts_still_loads_with_a_deprecation_warning() {
    let s = load("[server]\nmax_attempts = 3\nmax_backoff_secs = 1\n", &[]).unwrap();
    assert_eq!(s.server.max_attempts, Some(3));
    let w = s.warnings().join("\n");
    assert_mentions(&w, &["server.max_attempts", "deprecated", "retry_for_secs"]);

    let s = load("", &[]).unwrap();
    assert_eq!(
        s.server.max_attempts, None,
        "no cap: retried for retry_for_secs"
    );
    assert_eq!(s.server.retry_for_secs, 86_400);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let e = error("[server]\nmax_attempts = 0\n", &[]);
    assert_mentions(&e, &["server.max_attempts", "at least 1"]);
}

#[test]
fn environment_overrides_the_file_and_is_named_in_errors() {
    let s = load(
        "[policy]\nmin_approvals = 1\n",
        &[("KEYGATE_POLICY_MIN_APPROVALS", "2")],
    )
    .unwrap();
    assert_eq!(s.policy.min_approvals, 2);
    assert_eq!(
        s.source("policy.min_approvals"),
        Source::Env("KEYGATE_POLICY_MIN_APPROVALS".into())
    );
    let e = error("", &[("KEYGATE_POLICY_MIN_APPROVALS", "two")]);
    assert_mentions(
        &e,
        &[
            "policy.min_approvals",
            "environment variable KEYGATE_POLICY_MIN_APPROVALS",
            "`two`",
        ],
    );
    let e = error("", &[("KEYGATE_SERVER_CONCURRENCY", "-1")]);
    assert_mentions(&e, &["server.concurrency", "KEYGATE_SERVER_CONCURRENCY"]);
}

#[test]
fn every_key_including_the_new_ones_has_a_variable() {
    let s = load(
        "",
        &[
            ("KEYGATE_SERVER_LISTEN", "127.0.0.1:9000"),
            ("KEYGATE_SERVER_RETRY_FOR_SECS", "60"),
            ("KEYGATE_GITHUB_REPOSITORY", "acme/requests"),
            ("KEYGATE_GITHUB_APP_ID", "42"),
            ("KEYGATE_GITHUB_BRANCH", "2026"),
            ("KEYGATE_POLICY_REQUIRE_VERIFIED_COMMITS", "true"),
            ("KEYGATE_LIFECYCLE_WARN_DAYS", "3"),
            ("KEYGATE_LIFECYCLE_RECONCILE_SINCE", "2026-01-01T00:00:00Z"),
            ("KEYGATE_AWS_SECRET_NAME", "{iam_user}/k-{timestamp}"),
            ("KEYGATE_STORE_BACKEND", "dynamodb"),
            ("KEYGATE_STORE_TABLE", "\"keygate\""),
            ("KEYGATE_QUEUE_URL", "https://sqs.example/q.fifo"),
        ],
    )
    .unwrap();
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.server.retry_for_secs, 60);
    assert_eq!(s.github.repository.as_deref(), Some("acme/requests"));
    assert_eq!(s.github.app_id, Some(42));
    // A value that reads as a TOML number is still a string where the key wants one.
    assert_eq!(s.github.branch, "2026");
    assert!(s.policy.require_verified_commits);
    assert_eq!(s.lifecycle.warn_days, 3);
    assert!(s.lifecycle.reconcile_since.is_some());
    assert_eq!(s.aws.secret_name, "{iam_user}/k-{timestamp}");
    assert_eq!(s.store.backend, StoreBackend::Dynamodb);
    // A quoted value is a TOML string: the quotes are not part of it.
    assert_eq!(s.store.table.as_deref(), Some("keygate"));
    assert_eq!(s.queue.url.as_deref(), Some("https://sqs.example/q.fifo"));
    // Keys without a default are known too (they serialize as null).
    let names: Vec<String> = known_keys().unwrap().iter().map(|k| k.var()).collect();
    for var in [
        "KEYGATE_AWS_KMS_KEY_ID",
        "KEYGATE_GITHUB_WEBHOOK_SECRET_FILE",
    ] {
        assert!(names.iter().any(|n| n == var), "{var} not in {names:?}");
    }
}

#[test]
fn an_unknown_store_backend_names_the_choices() {
    let e = error("", &[("KEYGATE_STORE_BACKEND", "mysql")]);
    assert_mentions(
        &e,
        &[
            "store.backend",
            "KEYGATE_STORE_BACKEND",
            "sqlite",
            "dynamodb",
        ],
    );
    let e = error("[queue]\nbackend = \"kafka\"\n", &[]);
    assert_mentions(&e, &["line 2", "local", "sqs"]);
}

#[test]
fn unknown_key_in_file_is_refused_with_its_position() {
    let e = error("[github]\nrepo = \"a/b\"\n", &[]);
    assert_mentions(&e, &["line 2", "repo"]);
    let e = error("[lifecycle]\n\nwarn_day = 3\n", &[]);
    assert_mentions(&e, &["line 3", "warn_day", "keygate.toml"]);
}

#[test]
fn a_wrong_type_in_the_file_is_refused_with_its_position() {
    let e = error("[server]\nconcurrency = \"four\"\n", &[]);
    assert_mentions(&e, &["keygate.toml", "line 2"]);
}

/// Found by the `config` fuzz target: toml's message for a value of the wrong type ("invalid
/// type: string \"four\", expected u32") names no key, so the error did not say which.
#[test]
fn a_wrong_type_in_the_file_names_the_key() {
    let e = error("[server]\nconcurrency = \"four\"\n", &[]);
    assert_mentions(&e, &["`server.concurrency`", "line 2", "expected u32"]);
    let e = error("[policy]\nallowed_users = \"*\"\n", &[]);
    assert_mentions(&e, &["`policy.allowed_users`", "line 2"]);
    let e = error("[lifecycle]\nwarn_days = -1\n", &[]);
    assert_mentions(&e, &["`lifecycle.warn_days`", "line 2"]);
}

#[test]
fn unknown_keygate_variable_is_refused() {
    let e = error("", &[("KEYGATE_GITHUB_REPO", "a/b")]);
    assert_mentions(&e, &["KEYGATE_GITHUB_REPOSITORY"]);
    let e = error("", &[("KEYGATE_LIFECYCLE_WARN", "3")]);
    assert_mentions(&e, &["KEYGATE_LIFECYCLE_WARN_DAYS"]);
}

#[test]
fn keygate_variables_outside_our_sections_are_ignored() {
    let s = load(
        "",
        &[
            ("KEYGATE_BIN", "/usr/bin/keygate"),
            ("KEYGATE_LOG", "debug"),
        ],
    )
    .unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:8080");
}

fn denies(s: &Settings, user: &str) -> bool {
    crate::request::check_user_policy(user, &s.request_rules().compile().unwrap()).is_err()
}

#[test]
fn a_single_quoted_toml_array_in_a_variable_denies_those_users() {
    // Before, the quotes stayed in the globs, which then matched no one.
    let s = load("", &[("KEYGATE_POLICY_DENIED_USERS", "['admin*','root']")]).unwrap();
    assert_eq!(s.policy.denied_users, vec!["admin*", "root"]);
    assert!(denies(&s, "admin-ops"));
    assert!(denies(&s, "root"));
    assert!(!denies(&s, "alice"));
}

#[test]
fn a_bare_comma_list_in_a_variable_is_a_list_of_globs() {
    let s = load("", &[("KEYGATE_POLICY_DENIED_USERS", " admin*, root ,")]).unwrap();
    assert_eq!(s.policy.denied_users, vec!["admin*", "root"]);
    assert!(denies(&s, "admin-ops") && denies(&s, "root"));
    let s = load("", &[("KEYGATE_POLICY_ALLOWED_READERS", "")]).unwrap();
    assert!(s.policy.allowed_readers.is_empty());
}

#[test]
fn quotes_or_brackets_in_a_comma_list_are_refused() {
    for value in [
        "'admin*','root'",
        "\"admin*\", \"root\"",
        "[admin*, root]",
        "['admin*'",
    ] {
        let e = error("", &[("KEYGATE_POLICY_DENIED_USERS", value)]);
        assert_mentions(
            &e,
            &[
                "policy.denied_users",
                "KEYGATE_POLICY_DENIED_USERS",
                "['admin*', 'root']",
            ],
        );
    }
    let e = error("", &[("KEYGATE_POLICY_ALLOWED_USERS", "[1, 2]")]);
    assert_mentions(
        &e,
        &["policy.allowed_users", "KEYGATE_POLICY_ALLOWED_USERS"],
    );
}

#[test]
fn secret_files_are_trimmed_and_resolved_next_to_the_config_file() {
    let s = load("[github]\nprivate_key_file = \"pk.pem\"\n", &[]).unwrap();
    let pem = s.private_key.unwrap();
    assert!(pem.expose_secret().ends_with("-----END KEY-----"));
}

#[test]
fn an_empty_webhook_secret_variable_is_refused() {
    let e = error("", &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "")]);
    assert_mentions(&e, &["KEYGATE_GITHUB_WEBHOOK_SECRET", "empty"]);
    let e = error("", &[("KEYGATE_GITHUB_WEBHOOK_SECRET", " \n")]);
    assert_mentions(&e, &["KEYGATE_GITHUB_WEBHOOK_SECRET", "empty"]);
}

#[test]
fn an_empty_variable_does_not_fall_back_to_the_configured_file() {
    let config =
        "[github]\nwebhook_secret_file = \"webhook-secret\"\nprivate_key_file = \"pk.pem\"\n";
    let e = error(config, &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "")]);
    assert_mentions(
        &e,
        &[
            "KEYGATE_GITHUB_WEBHOOK_SECRET",
            "github.webhook_secret_file",
            "webhook-secret",
        ],
    );
    let e = error(config, &[("KEYGATE_GITHUB_PRIVATE_KEY", "")]);
    assert_mentions(
        &e,
        &[
            "KEYGATE_GITHUB_PRIVATE_KEY",
            "github.private_key_file",
            "pk.pem",
        ],
    );
}

#[test]
fn a_set_variable_wins_over_the_file_and_says_so() {
    let s = load(
        "[github]\nwebhook_secret_file = \"webhook-secret\"\n",
        &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "from-env")],
    )
    .unwrap();
    assert_eq!(
        s.webhook_secret.as_ref().unwrap().expose_secret(),
        "from-env"
    );
    assert_eq!(
        s.source("github.webhook_secret"),
        Source::Env("KEYGATE_GITHUB_WEBHOOK_SECRET".into())
    );
    assert_mentions(
        &s.warnings().join("\n"),
        &["webhook_secret_file", "not read"],
    );
}

#[test]
fn an_empty_or_blank_secret_file_is_refused_naming_key_and_file() {
    for (content, key) in [
        ("", "github.webhook_secret_file"),
        (" \n\t\n", "github.webhook_secret_file"),
        ("\n", "github.private_key_file"),
    ] {
        let (dir, path) = fixture(&format!("[github]\n{} = \"blank\"\n", &key[7..]));
        std::fs::write(dir.path().join("blank"), content).unwrap();
        let e = load_at(&path, &[]).unwrap_err().to_string();
        assert_mentions(&e, &[key, "blank", "keygate.toml", "empty"]);
    }
    let e = error("[github]\nwebhook_secret_file = \"\"\n", &[]);
    assert_mentions(&e, &["github.webhook_secret_file", "must not be empty"]);
}

#[cfg(unix)]
#[test]
fn a_secret_file_open_to_other_users_gets_a_warning_not_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, path) = fixture("[github]\nwebhook_secret_file = \"webhook-secret\"\n");
    let secret = dir.path().join("webhook-secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let s = load_at(&path, &[]).unwrap();
    let w = s.warnings().join("\n");
    assert_mentions(&w, &["webhook-secret", "chmod 600", "640"]);

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = load_at(&path, &[]).unwrap();
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert!(!secrets::open_to_others(0o100600));
    assert!(secrets::open_to_others(0o100604));
}

#[test]
fn an_empty_kms_key_id_is_refused_from_file_or_environment() {
    let e = error("[aws]\nkms_key_id = \"\"\n", &[]);
    assert_mentions(&e, &["aws.kms_key_id", "keygate.toml", "must not be empty"]);
    let e = error("", &[("KEYGATE_AWS_KMS_KEY_ID", "")]);
    assert_mentions(&e, &["aws.kms_key_id", "KEYGATE_AWS_KMS_KEY_ID"]);
}

#[test]
fn plain_http_api_url_is_refused_unless_loopback() {
    for ok in [
        "https://api.github.com",
        "https://ghe.example/api/v3",
        "http://127.0.0.1:8080",
        "http://127.9.9.9/api",
        "http://[::1]:3000/",
        "http://localhost:1234",
        "http://LOCALHOST",
    ] {
        assert_eq!(check_api_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://api.github.com",
        "http://10.0.0.1:8080",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
        "http://127.0.0.1@evil.example",
        "ftp://api.github.com",
    ] {
        assert!(check_api_url(bad).is_err(), "{bad}");
    }
    let e = error("[github]\napi_url = \"http://ghe.internal/api/v3\"\n", &[]);
    assert_mentions(&e, &["github.api_url", "keygate.toml", "https://"]);
}

#[test]
fn secret_recovery_days_is_zero_or_seven_to_thirty() {
    for days in [0, 7, 30] {
        let s = load(
            &format!("[lifecycle]\nsecret_recovery_days = {days}\n"),
            &[],
        )
        .unwrap();
        assert_eq!(s.lifecycle.secret_recovery_days, days);
    }
    for days in [1, 6, 31] {
        let e = error(
            &format!("[lifecycle]\nsecret_recovery_days = {days}\n"),
            &[],
        );
        assert_mentions(&e, &["lifecycle.secret_recovery_days", "keygate.toml"]);
    }
}

#[test]
fn reconcile_since_needs_an_offset_and_takes_a_bare_toml_datetime() {
    let s = load("[lifecycle]\nreconcile_since = 2026-01-01T00:00:00Z\n", &[]).unwrap();
    assert!(s.lifecycle.reconcile_since.is_some());
    let e = error(
        "[lifecycle]\nreconcile_since = \"2026-01-01T00:00:00\"\n",
        &[],
    );
    assert_mentions(&e, &["RFC 3339", "line 2"]);
    let e = error("", &[("KEYGATE_LIFECYCLE_RECONCILE_SINCE", "yesterday")]);
    assert_mentions(
        &e,
        &[
            "lifecycle.reconcile_since",
            "KEYGATE_LIFECYCLE_RECONCILE_SINCE",
        ],
    );
}

#[test]
fn a_remote_backend_needs_its_table_or_queue() {
    let e = error("[store]\nbackend = \"dynamodb\"\n", &[]);
    assert_mentions(&e, &["store.table", "dynamodb", "keygate.toml"]);
    let e = error("", &[("KEYGATE_QUEUE_BACKEND", "sqs")]);
    assert_mentions(&e, &["queue.url", "KEYGATE_QUEUE_BACKEND"]);
}

#[test]
fn a_shared_queue_needs_a_fifo_queue_and_a_shared_ledger() {
    let e = error(
        "[store]\nbackend = \"dynamodb\"\ntable = \"k\"\n\
         [queue]\nbackend = \"sqs\"\nurl = \"https://sqs.us-east-1.amazonaws.com/1/k\"\n",
        &[],
    );
    assert_mentions(&e, &["queue.url", ".fifo", "in order"]);
    let e = error(
        "[queue]\nbackend = \"sqs\"\nurl = \"https://sqs.us-east-1.amazonaws.com/1/k.fifo\"\n",
        &[],
    );
    assert_mentions(
        &e,
        &[
            "queue.backend",
            "store.backend = \"dynamodb\"",
            "keygate.toml",
        ],
    );
}

#[test]
fn a_bad_value_names_key_and_file() {
    let e = error("[policy]\ndefault_expiry_days = 400\n", &[]);
    assert_mentions(&e, &["policy.default_expiry_days", "keygate.toml"]);
    let e = error("[server]\nlisten = \"8080\"\n", &[]);
    assert_mentions(&e, &["server.listen"]);
}

#[test]
fn service_lists_every_missing_key() {
    let s = load("", &[]).unwrap();
    let e = s.service().err().unwrap().to_string();
    assert_mentions(
        &e,
        &[
            "github.app_id",
            "github.repository",
            "private_key",
            "webhook_secret",
            "sns_topic_arn",
        ],
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let s = load("", &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "hunter2-secret")]).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn errors_never_repeat_a_secret() {
    let e = error(
        "[policy]\nmin_approvals = 0\n",
        &[
            ("KEYGATE_GITHUB_WEBHOOK_SECRET", "hunter2-secret"),
            ("KEYGATE_GITHUB_PRIVATE_KEY", PEM),
        ],
    );
    assert!(!e.contains("hunter2") && !e.contains("BEGIN KEY"), "{e}");
}

const ACCOUNTS: &str = "\
[accounts.prod]
role_arn = \"arn:aws:iam::111111111111:role/keygate-issuer\"
external_id = \"keygate-acme\"
[accounts.dev]
role_arn = \"arn:aws:iam::222222222222:role/keygate-issuer\"
region = \"eu-west-1\"
";

#[test]
fn accounts_are_read_from_the_file_and_change_the_request_layout() {
    let s = load(ACCOUNTS, &[]).unwrap();
    let aliases: Vec<String> = s.accounts.aliases().iter().map(|a| a.to_string()).collect();
    assert_eq!(aliases, ["dev", "prod"]);
    let prod = s
        .accounts
        .get(&crate::ids::AccountAlias::new("prod"))
        .unwrap();
    assert_eq!(prod.account_id, "111111111111");
    assert_eq!(prod.external_id.as_deref(), Some("keygate-acme"));
    assert_eq!(prod.region, None);
    assert_eq!(s.request_rules().accounts.len(), 2);

    let none = load("", &[]).unwrap();
    assert!(
        none.accounts.is_empty(),
        "no [accounts]: keygate's own account"
    );
    assert!(none.request_rules().accounts.is_empty());
}

#[test]
fn a_bad_account_names_its_key_and_the_file() {
    let e = error("[accounts.prod]\nrole_arn = \"keygate-issuer\"\n", &[]);
    assert_mentions(
        &e,
        &["accounts.prod.role_arn", "keygate.toml", "IAM role ARN"],
    );
    let e = error(
        "[accounts.Prod]\nrole_arn = \"arn:aws:iam::111111111111:role/r\"\n",
        &[],
    );
    assert_mentions(&e, &["accounts.Prod", "lower-case"]);
    let e = error("[accounts.prod]\nexternal_id = \"keygate\"\n", &[]);
    assert_mentions(&e, &["role_arn"]);
    let e = error(
        "[accounts.prod]\nrole_arn = \"arn:aws:iam::111111111111:role/r\"\nrole = \"x\"\n",
        &[],
    );
    assert_mentions(&e, &["unknown field `role`"]);
}

#[test]
fn accounts_come_from_the_environment_all_at_once_or_not_at_all() {
    let e = error(
        "",
        &[(
            "KEYGATE_ACCOUNTS_PROD_ROLE_ARN",
            "arn:aws:iam::111111111111:role/r",
        )],
    );
    assert_mentions(
        &e,
        &[
            "KEYGATE_ACCOUNTS_PROD_ROLE_ARN",
            "[accounts.<alias>]",
            "KEYGATE_ACCOUNTS as",
        ],
    );
    // Lambda has no file: the whole table in one variable, which wins over the file's.
    let s = load(
        ACCOUNTS,
        &[(
            "KEYGATE_ACCOUNTS",
            "{ ops = { role_arn = \"arn:aws:iam::333333333333:role/keygate-issuer\", region = \"eu-central-1\" } }",
        )],
    )
    .unwrap();
    let aliases: Vec<String> = s.accounts.aliases().iter().map(|a| a.to_string()).collect();
    assert_eq!(aliases, ["ops"]);
    assert_eq!(
        s.source("accounts.ops"),
        Source::Env("KEYGATE_ACCOUNTS".into())
    );
    let e = error(
        "",
        &[("KEYGATE_ACCOUNTS", "{ ops = { role_arn = \"nope\" } }")],
    );
    assert_mentions(&e, &["accounts.ops.role_arn", "KEYGATE_ACCOUNTS"]);
    let e = error("", &[("KEYGATE_ACCOUNTS", "prod")]);
    assert_mentions(&e, &["`accounts`", "KEYGATE_ACCOUNTS", "inline table"]);
}

#[test]
fn a_secret_in_secrets_manager_is_named_by_its_arn_and_never_twice() {
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:github/keygate-app-key-AbCdEf";
    let s = load(
        &format!("[github]\nprivate_key_secret_arn = \"{arn}\"\n"),
        &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "s3cret")],
    )
    .unwrap();
    assert_eq!(s.remote_secrets().private_key.as_deref(), Some(arn));
    assert!(
        s.private_key.is_none(),
        "read later, by the commands that need it"
    );
    let e = error(
        &format!("[github]\nprivate_key_secret_arn = \"{arn}\"\nprivate_key_file = \"pk.pem\"\n"),
        &[],
    );
    assert_mentions(
        &e,
        &[
            "github.private_key_secret_arn",
            "github.private_key_file",
            "keep one",
        ],
    );
    let e = error(
        "[github]\nwebhook_secret_arn = \"github/keygate-webhook\"\n",
        &[],
    );
    assert_mentions(
        &e,
        &[
            "github.webhook_secret_arn",
            "not a Secrets Manager secret ARN",
        ],
    );
    let e = error(
        &format!("[github]\nwebhook_secret_arn = \"{arn}\"\n"),
        &[("KEYGATE_GITHUB_WEBHOOK_SECRET", "s3cret")],
    );
    assert_mentions(&e, &["KEYGATE_GITHUB_WEBHOOK_SECRET", "keep one"]);
}

#[test]
fn a_secret_not_yet_read_from_secrets_manager_is_named_as_such() {
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh";
    let mut s = load(
        &format!(
            "[github]\napp_id = 1\nrepository = \"a/b\"\nprivate_key_file = \"pk.pem\"\n\
             webhook_secret_arn = \"{arn}\"\n[aws]\nsns_topic_arn = \"arn:aws:sns:us-east-1:1:t\"\n"
        ),
        &[],
    )
    .unwrap();
    let e = s.service().err().unwrap().to_string();
    assert_mentions(&e, &["github.webhook_secret_arn is set", "did not read it"]);
    s.set_remote_secrets(
        None,
        Some((arn.into(), SecretString::from("s3cret".to_string()))),
    );
    assert!(s.service().is_ok());
    assert_eq!(
        s.source("github.webhook_secret").to_string(),
        format!("the Secrets Manager secret {arn}")
    );
}
