//! Least privilege of the issuer role in a member account (DESIGN §9), by action, as the
//! home role's is tested (`least_privilege`): keygate issues, expires and revokes a key in a
//! member account of a moto server that enforces IAM policies, through an issuer role that
//! holds exactly the actions of `deploy/keygate-member.yaml` (which tests/policy_eval.py
//! holds to the home role's statements for IAM users, secrets and the KMS key, and checks
//! by resource). Without any one of them, the step that needs it fails naming the action,
//! `AccessDenied` and the account.

use serde_json::Value;
use tokio::sync::OnceCell;

use keygate::cli::keys::{run_revoke, run_sweep};
use keygate::ids::AccessKeyId;

use crate::least_privilege::{policy_actions, policy_document};
use crate::support::accounts::{CODEOWNERS, EXTERNAL_ID, Member, PROD};
use crate::support::app::{AwsWorld, TestApp, unique};
use crate::support::github::GitHub;
use crate::support::moto::{Moto, sdk_config, sdk_config_as, start_with_env};
use crate::support::moto_auth::Signer;

/// A moto server that enforces IAM from its seventh call on, its administrator's key in the
/// home account, and an administrator of the member account `prod`.
struct Enforcing {
    url: String,
    admin: (String, String),
    member: Member,
    _moto: Moto,
}

/// The calls moto takes unauthenticated: the home administrator, its policy and key; then,
/// in the member account, an assumed role's credentials, that role and its policy.
const UNAUTHENTICATED_CALLS: &str = "6";

static ENFORCING: OnceCell<Enforcing> = OnceCell::const_new();

async fn enforcing() -> &'static Enforcing {
    ENFORCING
        .get_or_init(|| async {
            let moto = start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", UNAUTHENTICATED_CALLS)]);
            let anonymous = sdk_config(&moto.url).await;
            let iam = aws_sdk_iam::Client::new(&anonymous);
            iam.create_user()
                .user_name("test-admin")
                .send()
                .await
                .unwrap();
            iam.put_user_policy()
                .user_name("test-admin")
                .policy_name("everything")
                .policy_document(policy_document(&["*".to_string()]))
                .send()
                .await
                .unwrap();
            let key = iam
                .create_access_key()
                .user_name("test-admin")
                .send()
                .await
                .unwrap()
                .access_key
                .unwrap();
            let sts = aws_sdk_sts::Client::new(&anonymous);
            let member = Member::assumed(&moto.url, &sts, PROD).await;
            member
                .iam
                .create_role()
                .role_name("test-admin")
                .assume_role_policy_document(trust("*"))
                .send()
                .await
                .unwrap();
            member
                .iam
                .put_role_policy()
                .role_name("test-admin")
                .policy_name("everything")
                .policy_document(policy_document(&["*".to_string()]))
                .send()
                .await
                .unwrap();
            // From here on moto enforces: without this, every test below could pass with no
            // enforcement at all.
            assert!(
                iam.list_users().send().await.is_err(),
                "moto does not enforce IAM after {UNAUTHENTICATED_CALLS} calls"
            );
            member.iam.list_users().send().await.unwrap();
            Enforcing {
                url: moto.url.clone(),
                admin: (key.access_key_id, key.secret_access_key),
                member,
                _moto: moto,
            }
        })
        .await
}

fn trust(principal: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    })
    .to_string()
}

/// The actions of the member role: those of the home role's statements for IAM users, their
/// secrets and the KMS key (tests/policy_eval.py holds the template to them).
fn member_actions() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/iam-policy.json");
    let policy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let member_sids = [
        "IamUsersUnderPath",
        "SecretsUnderPrefix",
        "KmsKeyThroughSecretsManager",
    ];
    let mut actions = Vec::new();
    for s in policy["Statement"].as_array().unwrap() {
        if member_sids.contains(&s["Sid"].as_str().unwrap_or_default()) {
            actions.extend(
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string()),
            );
        }
    }
    assert!(
        actions.iter().any(|a| a == "iam:CreateAccessKey"),
        "{actions:?}"
    );
    actions
}

/// keygate serving a requests repository of the member account `prod`: its own calls
/// signed by an IAM user holding `home` actions, its calls in `prod` by an issuer role
/// holding `member` actions.
async fn keygate_with(home: &[String], member: &[String]) -> TestApp {
    let e = enforcing().await;
    let admin = sdk_config_as(&e.url, &e.admin.0, &e.admin.1).await;
    let aws = AwsWorld::on(&e.url, &admin).await;
    let user = unique("keygate");
    aws.iam.create_user().user_name(&user).send().await.unwrap();
    aws.iam
        .put_user_policy()
        .user_name(&user)
        .policy_name("keygate")
        .policy_document(policy_document(home))
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
    let role = unique("keygate-issuer");
    let keygate_arn = format!("arn:aws:iam::123456789012:user/{user}");
    let m = &e.member.iam;
    m.create_role()
        .role_name(&role)
        .assume_role_policy_document(trust(&keygate_arn))
        .send()
        .await
        .unwrap();
    m.put_role_policy()
        .role_name(&role)
        .policy_name("keygate-issuer")
        .policy_document(policy_document(member))
        .send()
        .await
        .unwrap();
    let gh = GitHub::start().await;
    gh.team("acme/prod-admins", &["paula"]);
    gh.commit_to_main(&[(".github/CODEOWNERS", CODEOWNERS)]);
    let config = format!(
        "[accounts.prod]\nrole_arn = \"arn:aws:iam::{}:role/{role}\"\nexternal_id = \"{EXTERNAL_ID}\"\n",
        PROD.1
    );
    let credentials = (key.access_key_id.as_str(), key.secret_access_key.as_str());
    TestApp::start_on(&gh, &config, aws, credentials).await
}

/// A request in `prod` for a fresh user, approved by its owner and merged.
async fn merged(app: &TestApp) -> (u64, String) {
    let member = &enforcing().await.member;
    let user = member.iam_user("svc").await;
    let pr = app.request_in(member, "bob", &user);
    app.approve(pr, "paula");
    app.merge(pr).await;
    (pr, user)
}

/// The member actions whose operation keygate called.
fn member_actions_called(app: &TestApp, actions: &[String]) -> Vec<String> {
    let called = app.aws.proxy.operations();
    actions
        .iter()
        .filter(|a| called.iter().any(|op| a.ends_with(&format!(":{op}"))))
        .cloned()
        .collect()
}

/// The issued key's sweep an hour after its end, then an operator's revocation, with the
/// app stopped: every failure's text.
async fn expire_then_revoke(app: &mut TestApp, key: &str) -> Vec<String> {
    app.shutdown().await;
    let life = app.key_life(key).await;
    let ends = life.expires_at.unwrap();
    let (settings, aws) = (app.settings(), app.keygate_aws().await);
    let later = ends + time::Duration::hours(1);
    let swept = run_sweep(&settings, aws.clone(), later, false).await;
    let revoked = run_revoke(
        &settings,
        aws,
        &AccessKeyId::new(key),
        "the least-privilege story",
    )
    .await;
    let mut failures: Vec<String> = match swept {
        Ok(lines) => lines
            .iter()
            .filter_map(|l| l.result.clone()?.err())
            .collect(),
        Err(e) => vec![format!("{e:#}")],
    };
    failures.extend(revoked.err().map(|e| format!("{e:#}")));
    failures
}

#[tokio::test]
async fn the_member_roles_actions_suffice_to_issue_expire_and_revoke_in_its_account() {
    let (home, member) = (policy_actions(), member_actions());
    let mut app = keygate_with(&home, &member).await;
    let (pr, user) = merged(&app).await;
    let m = &enforcing().await.member;
    let (key, _) = m.one_key_held_by_its_secret(&user, "issued").await;
    assert!(
        app.comment(pr).contains("in AWS account `prod`"),
        "{}",
        app.comment(pr)
    );

    let failures = expire_then_revoke(&mut app, &key).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert!(m.access_keys(&user).await.is_empty(), "revoked: deleted");
    let called = member_actions_called(&app, &member);
    for needed in [
        "iam:GetUser",
        "iam:CreateAccessKey",
        "secretsmanager:CreateSecret",
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "secretsmanager:DeleteSecret",
    ] {
        assert!(called.iter().any(|a| a == needed), "{needed}: {called:?}");
    }
}

#[tokio::test]
async fn without_any_one_action_of_the_member_role_its_step_fails_naming_it_and_the_account() {
    let (home, member) = (policy_actions(), member_actions());
    let mut app = keygate_with(&home, &member).await;
    let (_, user) = merged(&app).await;
    let m = &enforcing().await.member;
    let (key, _) = m.one_key_held_by_its_secret(&user, "issued").await;
    expire_then_revoke(&mut app, &key).await;
    let used = member_actions_called(&app, &member);
    println!("keygate uses in a member account: {}", used.join(", "));
    drop(app);

    for missing in &used {
        let fewer: Vec<String> = member.iter().filter(|a| *a != missing).cloned().collect();
        let mut app = keygate_with(&home, &fewer).await;
        let (pr, user) = merged(&app).await;
        let operation = missing.rsplit(':').next().unwrap();
        let mut texts = vec![app.comment(pr)];
        if let Some(key) = m.access_keys(&user).await.first() {
            texts.extend(expire_then_revoke(&mut app, key).await);
        }
        let named = texts
            .iter()
            .any(|t| t.contains("AccessDenied") && t.contains(operation) && t.contains("`prod`"));
        assert!(
            named,
            "without {missing}, nothing names {operation}, AccessDenied and the account: {texts:#?}"
        );
        let keys = m.access_keys(&user).await;
        let secrets = m.secrets_named(&format!("{user}/")).await;
        assert!(
            keys.len() <= secrets.len(),
            "without {missing}: a key without its secret"
        );
    }
}

#[tokio::test]
async fn without_assume_role_keygate_says_it_cannot_act_in_the_account() {
    let home: Vec<String> = policy_actions()
        .into_iter()
        .filter(|a| a != "sts:AssumeRole")
        .collect();
    let app = keygate_with(&home, &member_actions()).await;
    let (pr, user) = merged(&app).await;
    let comment = app.comment(pr);
    assert!(
        comment.contains("could not assume its issuer role in AWS account `prod`")
            && comment.contains("AccessDenied"),
        "{comment}"
    );
    assert!(enforcing().await.member.access_keys(&user).await.is_empty());
}
