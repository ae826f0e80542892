//! `keygate audit` (DESIGN §5) on moto, the stopped app's ledger and a clone made here: from
//! an access key ID back to its request, requester, approvers and state.

use std::path::Path;
use std::process::Command;

use aws_sdk_secretsmanager::types::Tag;
use keygate::audit::{Filter, State};
use keygate::cli::audit::run_audit;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::app::WEBHOOK_SECRET;
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
fn clone_with(files: &[(String, String)]) -> tempfile::TempDir {
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
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let ghost = rows.iter().find(|r| r.iam_user == "ghost-user").unwrap();
    assert_eq!(ghost.state, State::NeverIssued);
    assert_eq!(ghost.access_key_id, None);

    let by_key = Filter {
        key: Some(key.clone()),
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
    assert_eq!(r.secret.as_deref(), Some(secret.as_str()));
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
