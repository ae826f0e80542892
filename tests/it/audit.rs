//! `keygate audit` (DESIGN §5) on moto, the stopped app's ledger and a clone made here: from
//! an access key ID back to its request, requester, approvers and state; and the same from a
//! clone with no ledger, through the secrets' tags and the GitHub API.

use std::path::Path;
use std::process::Command;

use aws_sdk_secretsmanager::types::Tag;
use keygate::audit::{Filter, State};
use keygate::cli::audit::run_audit;
use keygate::ids::{AccessKeyId, SecretName};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::app::{WEBHOOK_SECRET, unique, write_config};
use crate::support::github::ReviewState::Approve;
use crate::support::moto::sdk_config;
use crate::support::world::{open_request, path, request, world};

fn git(dir: &Path, args: &[&str], date: &str) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Bob",
            "-c",
            "user.email=bob@example.invalid",
        ])
        .args(args)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A clone whose history added `files` an hour ago.
pub(crate) fn clone_with(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let an_hour_ago = (OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&Rfc3339)
        .unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"], &an_hour_ago);
    for (p, text) in files {
        let file = dir.path().join(p);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    git(dir.path(), &["add", "-A"], &an_hour_ago);
    git(
        dir.path(),
        &["commit", "-q", "-m", "requests"],
        &an_hour_ago,
    );
    dir
}

#[tokio::test]
async fn audit_walks_back_from_a_key_to_its_request_and_flags_one_active_past_expiry() {
    let mut app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    app.shutdown().await;
    let clone = clone_with(&[
        (path(&user), request(&user, "backups")),
        (
            path("ghost-user"),
            request("ghost-user", "never merged by keygate"),
        ),
    ]);
    let settings = keygate::config::Settings::load(
        Some(&app.dir.path().join("keygate.toml")),
        vec![(
            "KEYGATE_GITHUB_WEBHOOK_SECRET".to_string(),
            WEBHOOK_SECRET.to_string(),
        )],
    )
    .unwrap();
    let aws = keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await);
    let now = OffsetDateTime::now_utc();

    let rows = run_audit(&settings, &aws, clone.path(), &Filter::default(), now)
        .await
        .unwrap();
    // The README's example output is this table (`--nocapture`).
    println!("{}", keygate::audit::table(&rows));
    // Other tests' keys on the shared moto have no request file in this clone: drift here.
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| r.state != State::ActiveNoRequestFile)
        .collect();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let ghost = rows.iter().find(|r| r.iam_user == "ghost-user").unwrap();
    assert_eq!(ghost.state, State::NeverIssued);
    assert_eq!(ghost.access_key_id, None);

    let by_key = Filter {
        key: Some(AccessKeyId::new(&key)),
        ..Filter::default()
    };
    let rows = run_audit(&settings, &aws, clone.path(), &by_key, now)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(r.path, path(&user));
    assert_eq!(r.pr, Some(pr));
    assert_eq!(r.requested_by.as_deref(), Some("bob"));
    assert_eq!(r.approved_by.as_deref(), Some(&["carol".to_string()][..]));
    assert_eq!(r.secret, Some(SecretName::new(&secret)));
    assert_eq!(r.state, State::Active);
    assert_eq!(r.last_used.as_deref(), Some("never"));
    assert!(!r.drift);
    let table = keygate::audit::table(&rows);
    assert!(
        !table.contains("\"SecretAccessKey\""),
        "never a secret value"
    );

    // The secret's expiry tag moved into the past while the key stays active: drift.
    let past = (now - time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    app.aws
        .secrets
        .tag_resource()
        .secret_id(&secret)
        .tags(
            Tag::builder()
                .key("keygate:expires-at")
                .value(past.format(&Rfc3339).unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rows = run_audit(&settings, &aws, clone.path(), &by_key, now)
        .await
        .unwrap();
    assert!(rows[0].drift, "{rows:#?}");
    assert_eq!(rows[0].expires_at, Some(past.format(&Rfc3339).unwrap()));
}

#[tokio::test]
async fn an_active_key_keygate_tagged_without_a_request_file_is_drift_and_exits_1() {
    let mut app = world().await;
    app.shutdown().await;
    let settings = keygate::config::Settings::load(
        Some(&app.dir.path().join("keygate.toml")),
        vec![(
            "KEYGATE_GITHUB_WEBHOOK_SECRET".to_string(),
            WEBHOOK_SECRET.to_string(),
        )],
    )
    .unwrap();
    // A key and a secret with keygate's tags, made outside keygate: no request file asked.
    let user = app.aws.iam_user("untracked").await;
    let key = app
        .aws
        .iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let secret = unique("untracked/access-key");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    app.aws
        .secrets
        .create_secret()
        .name(&secret)
        .secret_string("{}")
        .tags(tag("keygate:access-key-id", &key))
        .tags(tag("keygate:request", &path(&user)))
        .tags(tag(
            "keygate:repository",
            settings.github.repository.as_deref().unwrap(),
        ))
        .tags(tag("keygate:requester", "mallory"))
        .send()
        .await
        .unwrap();
    let clone = clone_with(&[(path("someone-else"), request("someone-else", "backups"))]);
    let aws = keygate::aws::Aws::from_config(&sdk_config(&app.aws.proxy.url).await);
    let by_key = Filter {
        key: Some(AccessKeyId::new(&key)),
        ..Filter::default()
    };

    let rows = run_audit(
        &settings,
        &aws,
        clone.path(),
        &by_key,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(r.state, State::ActiveNoRequestFile);
    assert!(r.drift);
    assert_eq!(r.path, path(&user));
    assert_eq!(r.iam_user, user);
    assert_eq!(r.secret, Some(SecretName::new(&secret)));
    assert_eq!(r.requested_by.as_deref(), Some("mallory"));

    // As an auditor runs it, in the clone: the row, and exit 1.
    // Off the test's runtime: keygate's AWS proxy answers on it.
    let mut audit = Command::new(env!("CARGO_BIN_EXE_keygate"));
    audit
        .current_dir(clone.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &app.aws.proxy.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYGATE_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .arg("--config")
        .arg(app.dir.path().join("keygate.toml"))
        .args(["audit", "--key", &key]);
    let out = tokio::task::spawn_blocking(move || audit.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains(&key))
        .unwrap_or_default();
    assert!(
        line.contains("active, no request file") && line.contains(&user),
        "{stdout}"
    );
    assert!(stderr.contains("no request file"), "{stderr}");
}

#[tokio::test]
async fn audit_with_no_ledger_rebuilds_the_key_from_its_secrets_tags_and_github() {
    let mut app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    let (key, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    app.shutdown().await;
    let expiry = app
        .aws
        .secrets
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .find(|t| t.key() == Some("keygate:expires-at"))
        .and_then(|t| t.value())
        .unwrap()
        .to_string();
    // An auditor's clone: the request's history, keygate's configuration, no ledger.
    let clone = clone_with(&[(path(&user), request(&user, "backups"))]);
    write_config(
        clone.path(),
        &app.gh,
        &app.aws,
        "[github]\nprivate_key_file = \"app.pem\"\n[store]\npath = \"nowhere/ledger.db\"\n",
    );
    // Async: the GitHub stand-in and the AWS proxy answer on this test's runtime.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keygate"))
        .current_dir(clone.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", clone.path())
        .env("AWS_ENDPOINT_URL", &app.aws.proxy.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KEYGATE_GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .args(["audit", "--format", "json", "--key", &key])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr.contains("no ledger"), "{stderr}");
    assert!(!clone.path().join("nowhere").exists(), "no ledger is made");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(r["path"], path(&user));
    assert_eq!(r["access_key_id"], key);
    assert_eq!(r["requested_by"], "bob");
    assert_eq!(r["approved_by"], serde_json::json!(["carol"]));
    assert_eq!(r["pr"], pr);
    assert_eq!(r["expires_at"], expiry);
    assert_eq!(r["secret"], secret);
    assert_eq!(r["state"], "active", "from IAM");
    assert_eq!(r["last_used"], "never");
    assert_eq!(
        r["merge_commit"].as_str(),
        app.gh.merge_commit_sha(pr).as_deref(),
        "the merge as GitHub records it"
    );
    assert!(r["merged_at"].is_string(), "{r:#?}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("SecretAccessKey"),
        "never a secret value"
    );
}
