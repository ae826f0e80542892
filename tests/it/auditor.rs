//! The auditor's policy by action (DESIGN §11): `keygate audit` run with credentials that
//! hold exactly `deploy/auditor-policy.json`'s actions, on a moto server that enforces IAM,
//! reads every fact it prints; without any one of them it prints less or stops, never the
//! same all-clear. tests/policy_eval.py proves the policy's resources.

use std::collections::BTreeSet;

use keygate::audit::State;
use keygate::cli::audit::{LedgerUse, run_audit_with};
use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::clone_with;
use crate::least_privilege::{
    approved_merge, enforcing, keygate_allowed, policy_actions, policy_document,
};
use crate::support::app::{AwsWorld, unique};
use crate::support::moto::sdk_config_as;
use crate::support::moto_auth::Signer;
use crate::support::world::{path, request};

/// Every action `deploy/auditor-policy.json` grants.
fn auditor_actions() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/auditor-policy.json");
    let policy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
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
    actions
}

/// AWS as an auditor holding exactly `actions` sees it (the calls it makes recorded by the
/// world's proxy), and the auditor's SDK configuration through that proxy.
async fn auditor_allowed(actions: &[String]) -> (AwsWorld, aws_config::SdkConfig) {
    let e = enforcing().await;
    let admin = sdk_config_as(&e.url, &e.admin.0, &e.admin.1).await;
    let world = AwsWorld::on(&e.url, &admin).await;
    let user = unique("auditor");
    world
        .iam
        .create_user()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    world
        .iam
        .put_user_policy()
        .user_name(&user)
        .policy_name("auditor")
        .policy_document(policy_document(actions))
        .send()
        .await
        .unwrap();
    let key = world
        .iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    world.proxy.enforce_as(Signer {
        access_key_id: key.access_key_id.clone(),
        secret_access_key: key.secret_access_key.clone().into(),
    });
    let sdk = sdk_config_as(&world.proxy.url, &key.access_key_id, &key.secret_access_key).await;
    (world, sdk)
}

/// The audit's table as `actions` let it be printed, with and without the ledger; an error
/// in place of a table that could not be made.
async fn audit_as(
    actions: &[String],
    settings: &keygate::config::Settings,
    clone: &std::path::Path,
    user: &str,
) -> (Vec<String>, AwsWorld) {
    let (auditor, sdk) = auditor_allowed(actions).await;
    let aws = keygate::aws::Aws::from_config(&sdk);
    let filter = keygate::audit::Filter {
        user: Some(user.to_string()),
        ..Default::default()
    };
    let mut out = Vec::new();
    for ledger in [LedgerUse::IfPresent, LedgerUse::Never] {
        let now = OffsetDateTime::now_utc();
        out.push(
            match run_audit_with(settings, &aws, clone, &filter, now, ledger).await {
                Ok(rows) => {
                    if actions.len() == auditor_actions().len() {
                        let r = rows.iter().find(|r| r.iam_user == user).unwrap();
                        assert_eq!(r.state, State::Active, "{rows:#?}");
                        assert_eq!(r.last_used.as_deref(), Some("never"), "{rows:#?}");
                        assert!(r.secret.is_some(), "{rows:#?}");
                    }
                    keygate::audit::table(&rows)
                }
                Err(e) => format!("audit failed: {e:#}"),
            },
        );
    }
    (out, auditor)
}

#[tokio::test]
async fn the_auditor_policy_reads_what_audit_prints_and_each_action_matters() {
    let actions = auditor_actions();
    let mut app = keygate_allowed(&policy_actions()).await;
    let (pr, user) = approved_merge(&app).await;
    app.expect_issued_and_announced(pr, &user).await;
    app.shutdown().await;
    let settings = app.settings();
    let clone = clone_with(&[(path(&user), request(&user, "backups"))]);

    let (full, auditor) = audit_as(&actions, &settings, clone.path(), &user).await;
    assert!(!full[0].starts_with("audit failed"), "{}", full[0]);
    let called: BTreeSet<String> = auditor.proxy.operations().into_iter().collect();
    for action in &actions {
        let operation = action.rsplit(':').next().unwrap();
        assert!(
            called.contains(operation),
            "{action} is granted but the audit never called it: {called:?}"
        );
    }
    let unknown: Vec<&String> = called
        .iter()
        .filter(|op| !actions.iter().any(|a| a.ends_with(&format!(":{op}"))))
        .collect();
    assert!(
        unknown.is_empty(),
        "the audit called more than the policy grants: {unknown:?}"
    );

    for missing in &actions {
        let fewer: Vec<String> = actions.iter().filter(|a| *a != missing).cloned().collect();
        let (without, _) = audit_as(&fewer, &settings, clone.path(), &user).await;
        assert_ne!(
            without, full,
            "without {missing} the audit printed the same as with it"
        );
    }
}
