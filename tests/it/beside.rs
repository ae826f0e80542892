//! Incidents beside a running service (DESIGN §5): while `keygate serve` holds a SQLite
//! ledger, `keygate audit` reads it and `keygate revoke` revokes on it, and only a second
//! `serve`, `sweep` or `reconcile` is refused, naming the one that holds it.

use std::path::Path;
use std::process::Command;

use crate::process::{Serving, configured, keygate, run_to_end};
use crate::support::app::{AwsWorld, WEBHOOK_SECRET, post, settle};
use crate::support::github::ReviewState::Approve;
use crate::support::payloads;
use crate::support::story::valid_request;
use crate::support::world::{path, repository};

/// A clone of the requests repository whose history holds `file`, for `keygate audit`.
fn clone_holding(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args([
                "-c",
                "user.name=Bob",
                "-c",
                "user.email=bob@example.invalid",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    let at = dir.path().join(file);
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::write(at, text).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "request"]);
    dir
}

/// `keygate --config <config> ARGS…` in `cwd`, run to its end.
async fn run(
    cwd: &Path,
    config: &Path,
    aws: &AwsWorld,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut c = keygate(cwd, &aws.proxy.url);
    c.arg("--config").arg(config).args(args);
    run_to_end(c, cwd, args.join(" ")).await
}

#[tokio::test]
async fn audit_and_revoke_work_beside_a_running_serve_and_a_second_holder_is_refused() {
    let (gh, aws) = (repository().await, AwsWorld::new().await);
    let dir = configured(&gh, &aws);
    let config = dir.path().join("keygate.toml");
    let user = aws.iam_user("svc").await;
    let request = valid_request(&user);
    let pr = gh.open_pr("bob", &[(&path(&user), &request)]);
    gh.review(pr, "carol", Approve);
    let serving = Serving::start(&dir, &aws, "serve.log", &[], &[]).await;
    let http = reqwest::Client::new();
    settle(&http, &serving.url).await;
    gh.merge(pr);
    let merged = payloads::pull_request_event(&gh, pr, "closed");
    let d = payloads::delivery("pull_request", &merged, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &serving.url, &d).await, 202);
    settle(&http, &serving.url).await;
    let (key, _) = aws.one_key_held_by_its_secret(&user, "issued").await;

    // An auditor reads the live ledger.
    let clone = clone_holding(&path(&user), &request);
    let audit = ["audit", "--key", key.as_str()];
    let (code, out, err) = run(clone.path(), &config, &aws, &audit).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let row = out.lines().find(|l| l.contains(&key)).unwrap_or_default();
    assert!(row.contains("active") && row.contains("bob"), "{out}");

    // An operator revokes the key without stopping the service.
    let reason = "pasted in a public gist";
    let revoke = ["revoke", "--key", key.as_str(), "--reason", reason];
    let (code, out, err) = run(dir.path(), &config, &aws, &revoke).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("deactivated, deleted"), "{out}");
    assert!(aws.access_keys(&user).await.is_empty(), "the key is gone");
    let (code, out, err) = run(clone.path(), &config, &aws, &audit).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("revoked"), "the auditor sees it: {out}");

    // A second writer of serve's kind is refused, naming the holder and its kind.
    let holder = format!("keygate serve, pid {}", serving.child.id());
    for second in [["sweep"], ["reconcile"]] {
        let (code, out, err) = run(dir.path(), &config, &aws, &second).await;
        assert_eq!(code, Some(2), "{second:?}: {out}{err}");
        assert!(
            err.contains("in use by another keygate") && err.contains(&holder),
            "{second:?} names the holder: {err}"
        );
    }

    // The service still takes deliveries on the ledger it shares.
    let reopened = payloads::pull_request_event(&gh, pr, "closed");
    let again = payloads::delivery("pull_request", &reopened, WEBHOOK_SECRET.as_bytes());
    assert_eq!(post(&http, &serving.url, &again).await, 202);
    settle(&http, &serving.url).await;
}
