//! Least privilege by action (DESIGN §7, issue #12 item 2). keygate issues a key against a
//! moto server of its own that enforces IAM policies (`INITIAL_NO_AUTH_ACTION_COUNT`), with
//! credentials bound to the actions of `deploy/iam-policy.json` (the template's policy, as
//! tests/policy_eval.py checks) and resources widened to `*`, since moto judges actions but
//! passes every resource as `*`; tests/policy_eval.py proves the resources.

use std::collections::BTreeSet;

use keygate::cli::keys::{Revoked, run_revoke, run_sweep};
use keygate::ids::AccessKeyId;
use keygate::life::Step;
use keygate::workflow::sweep::SweepLine;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::support::app::{AwsWorld, TestApp, unique};
use crate::support::moto::{Moto, sdk_config, sdk_config_as, start_with_env};
use crate::support::moto_auth::Signer;
use crate::support::world::repository;

/// A moto server that enforces IAM from its fourth call on, and an administrator's key.
pub(crate) struct Enforcing {
    pub url: String,
    pub admin: (String, String),
    _moto: Moto,
}

/// The calls moto takes unauthenticated: creating the administrator, its policy, its key.
const UNAUTHENTICATED_CALLS: &str = "3";

static ENFORCING: OnceCell<Enforcing> = OnceCell::const_new();

pub(crate) async fn enforcing() -> &'static Enforcing {
    ENFORCING
        .get_or_init(|| async {
            let moto = start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", UNAUTHENTICATED_CALLS)]);
            let anonymous = aws_sdk_iam::Client::new(&sdk_config(&moto.url).await);
            anonymous
                .create_user()
                .user_name("test-admin")
                .send()
                .await
                .unwrap();
            anonymous
                .put_user_policy()
                .user_name("test-admin")
                .policy_name("everything")
                .policy_document(policy_document(&["*".to_string()]))
                .send()
                .await
                .unwrap();
            let key = anonymous
                .create_access_key()
                .user_name("test-admin")
                .send()
                .await
                .unwrap()
                .access_key
                .unwrap();
            // From here on moto enforces: a call without a known key is refused. Without
            // this, every test below could pass with no enforcement at all.
            let refused = anonymous.list_users().send().await;
            assert!(
                refused.is_err(),
                "moto does not enforce IAM after {UNAUTHENTICATED_CALLS} calls"
            );
            Enforcing {
                url: moto.url.clone(),
                admin: (key.access_key_id, key.secret_access_key),
                _moto: moto,
            }
        })
        .await
}

/// Every action `deploy/iam-policy.json` grants, in file order.
pub(crate) fn policy_actions() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/iam-policy.json");
    let text = std::fs::read_to_string(path).unwrap();
    let policy: Value = serde_json::from_str(&text).unwrap();
    let mut actions = Vec::new();
    for statement in policy["Statement"].as_array().unwrap() {
        match &statement["Action"] {
            Value::String(a) => actions.push(a.clone()),
            Value::Array(list) => {
                actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()))
            }
            other => panic!("{path}: Action is {other}"),
        }
    }
    assert!(!actions.is_empty(), "{path} grants nothing");
    actions
}

/// A policy allowing `actions` on every resource.
pub(crate) fn policy_document(actions: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    })
    .to_string()
}

/// keygate serving a fresh repository, its AWS calls signed by an IAM user that holds
/// exactly `actions`; the test itself sees AWS as the administrator.
pub(crate) async fn keygate_allowed(actions: &[String]) -> TestApp {
    let e = enforcing().await;
    let admin = sdk_config_as(&e.url, &e.admin.0, &e.admin.1).await;
    let aws = AwsWorld::on(&e.url, &admin).await;
    let user = unique("keygate");
    aws.iam.create_user().user_name(&user).send().await.unwrap();
    aws.iam
        .put_user_policy()
        .user_name(&user)
        .policy_name("keygate")
        .policy_document(policy_document(actions))
        .send()
        .await
        .unwrap();
    let key = aws
        .iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    aws.proxy.enforce_as(Signer {
        access_key_id: key.access_key_id.clone(),
        secret_access_key: key.secret_access_key.clone().into(),
    });
    let credentials = (key.access_key_id.as_str(), key.secret_access_key.as_str());
    TestApp::start_on(&repository().await, "", aws, credentials).await
}

/// An approved request merged; returns the IAM user asked for.
pub(crate) async fn approved_merge(app: &TestApp) -> (u64, String) {
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    (pr, user)
}

/// Operations IAM never refuses, so no policy grants them: `sts:GetCallerIdentity` (keygate
/// asks it who it is when it writes a secret's resource policy or deletes a secret).
const NEEDS_NO_PERMISSION: [&str; 1] = ["GetCallerIdentity"];

/// The policy actions whose operation keygate called (`CreateSecret` is
/// `secretsmanager:CreateSecret`).
fn actions_called(app: &TestApp, actions: &[String]) -> Vec<String> {
    let called: BTreeSet<String> = app.aws.proxy.operations().into_iter().collect();
    let unknown: Vec<&String> = called
        .iter()
        .filter(|op| !NEEDS_NO_PERMISSION.contains(&op.as_str()))
        .filter(|op| !actions.iter().any(|a| a.ends_with(&format!(":{op}"))))
        .collect();
    assert!(
        unknown.is_empty(),
        "keygate called operations deploy/iam-policy.json does not grant: {unknown:?}"
    );
    actions
        .iter()
        .filter(|a| called.iter().any(|op| a.ends_with(&format!(":{op}"))))
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_policy_files_actions_suffice_to_issue_a_key() {
    let actions = policy_actions();
    let app = keygate_allowed(&actions).await;
    let (pr, user) = approved_merge(&app).await;

    // One key held by its secret, named in the comment and the issued notice.
    app.expect_issued_and_announced(pr, &user).await;
    let called = actions_called(&app, &actions);
    for needed in [
        "iam:ListAccessKeys",
        "iam:CreateAccessKey",
        "secretsmanager:CreateSecret",
        "sns:Publish",
    ] {
        assert!(
            called.iter().any(|a| a == needed),
            "{needed} was not called: {called:?}"
        );
    }
}

/// The issued key's life under `app`'s own credentials, the app stopped: the expiry sweep
/// an hour after the key's end (it deactivates the key), then an operator's revocation
/// (it deletes key and secret). Returns the sweep's lines and the revocation's outcome.
async fn expire_then_revoke(
    app: &mut TestApp,
    key: &str,
) -> (anyhow::Result<Vec<SweepLine>>, anyhow::Result<Revoked>) {
    app.shutdown().await;
    let life = app.key_life(key).await;
    let ends = life.expires_at.unwrap();
    let (settings, aws) = (app.settings(), app.keygate_aws().await);
    let swept = run_sweep(
        &settings,
        aws.clone(),
        ends + time::Duration::hours(1),
        false,
    )
    .await;
    let revoked = run_revoke(
        &settings,
        aws,
        &AccessKeyId::new(key),
        "rotated by the least-privilege story",
    )
    .await;
    (swept, revoked)
}

#[tokio::test]
async fn the_policy_files_actions_suffice_to_expire_and_revoke_the_key() {
    let actions = policy_actions();
    let mut app = keygate_allowed(&actions).await;
    let (pr, user) = approved_merge(&app).await;
    let issued = app.expect_issued_and_announced(pr, &user).await;

    let (swept, revoked) = expire_then_revoke(&mut app, &issued.key).await;
    let swept = swept.unwrap();
    assert_eq!(swept.len(), 1, "{swept:?}");
    assert_eq!(swept[0].step, Some(Step::Deactivate));
    assert_eq!(swept[0].result, Some(Ok(())), "{swept:?}");
    revoked.unwrap();
    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "revoked: deleted"
    );
    let called = actions_called(&app, &actions);
    for needed in [
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "secretsmanager:DeleteSecret",
    ] {
        assert!(
            called.iter().any(|a| a == needed),
            "{needed} was not called: {called:?}"
        );
    }
}

#[tokio::test]
async fn without_any_one_action_the_keys_life_uses_its_step_fails_naming_access_denied() {
    let actions = policy_actions();
    let mut app = keygate_allowed(&actions).await;
    let (pr, user) = approved_merge(&app).await;
    let before = actions_called(&app, &actions);
    let issued = app.expect_issued_and_announced(pr, &user).await;
    let (_, revoked) = expire_then_revoke(&mut app, &issued.key).await;
    revoked.unwrap();
    // The actions only the key's life uses; those issuing uses are covered above.
    let life_only: Vec<String> = actions_called(&app, &actions)
        .into_iter()
        .filter(|a| !before.contains(a))
        .collect();
    assert!(
        life_only.iter().any(|a| a == "iam:UpdateAccessKey"),
        "the sweep did not run: {life_only:?}"
    );
    println!("the key's life alone uses: {}", life_only.join(", "));
    drop(app);

    for missing in &life_only {
        let fewer: Vec<String> = actions.iter().filter(|a| *a != missing).cloned().collect();
        let mut app = keygate_allowed(&fewer).await;
        let (pr, user) = approved_merge(&app).await;
        let issued = app.expect_issued_and_announced(pr, &user).await;
        let (swept, revoked) = expire_then_revoke(&mut app, &issued.key).await;
        let operation = missing.rsplit(':').next().unwrap();
        // The pass as a whole, one of its steps, or the revocation fails.
        let failures: Vec<String> = match swept {
            Ok(lines) => lines
                .iter()
                .filter_map(|l| l.result.clone()?.err())
                .collect(),
            Err(e) => vec![format!("{e:#}")],
        }
        .into_iter()
        .chain(revoked.err().map(|e| format!("{e:#}")))
        .collect();
        assert!(
            failures
                .iter()
                .any(|f| f.contains("AccessDenied") && f.contains(operation)),
            "without {missing}, no step failed naming {operation} and AccessDenied: {failures:?}"
        );
    }
}

#[tokio::test]
async fn without_any_one_action_it_uses_keygate_fails_naming_access_denied() {
    let actions = policy_actions();
    let app = keygate_allowed(&actions).await;
    approved_merge(&app).await;
    let used = actions_called(&app, &actions);
    assert!(
        used.iter().any(|a| a == "secretsmanager:CreateSecret"),
        "the issuing flow did not run: {used:?}"
    );
    drop(app);

    for missing in &used {
        let fewer: Vec<String> = actions.iter().filter(|a| *a != missing).cloned().collect();
        let app = keygate_allowed(&fewer).await;
        let (pr, user) = approved_merge(&app).await;
        let operation = missing.rsplit(':').next().unwrap();

        let comment = app.comment(pr);
        let named = comment.contains("AccessDenied") && comment.contains(operation);
        let why =
            format!("without {missing}, the comment does not name {operation} and AccessDenied");
        assert!(named, "{why}:\n{comment}");
        let keys = app.aws.access_keys(&user).await;
        let secrets = app.aws.secrets_named(&format!("{user}/")).await;
        let why = format!("without {missing}: a key without its secret");
        assert_eq!(keys.len(), secrets.len(), "{why}: {keys:?} {secrets:?}");
    }
}
