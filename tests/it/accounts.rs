//! Keys in many AWS accounts (DESIGN §9): one keygate, two member accounts besides its own,
//! each with its own owners. Issuing, refusal by the wrong account's owners, expiry,
//! revocation (by pull request and `keygate revoke --account`), audit and one account's
//! outage, each acting in the key's own account.

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::types::Tag;
use keygate::audit::{Filter, State};
use keygate::cli::audit::run_audit;
use keygate::cli::keys::{Revoked, run_revoke_in, run_sweep};
use keygate::ids::{AccessKeyId, AccountAlias};
use keygate::ledger::Store;
use keygate::life::Step;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::accounts::{DEV, Member, accounts_world, accounts_world_with};
use crate::support::app::TestApp;
use crate::support::github::Change;
use crate::support::github::ReviewState::Approve;
use crate::support::story::REASON;
use crate::support::world::request;

/// The AWS operations of keygate's issuing path (the ledger's and the queue's are left out:
/// they differ by backend, and the README counts them apart).
const ISSUING_CALLS: [&str; 8] = [
    "AssumeRole",
    "GetCallerIdentity",
    "GetUser",
    "ListAccessKeys",
    "CreateAccessKey",
    "CreateSecret",
    "PutResourcePolicy",
    "Publish",
];

fn issuing_calls(app: &TestApp, from: usize) -> Vec<String> {
    app.aws.proxy.operations()[from..]
        .iter()
        .filter(|op| ISSUING_CALLS.contains(&op.as_str()))
        .cloned()
        .collect()
}

/// `member`'s request for a fresh IAM user of its own, approved by `approver` and merged;
/// returns (pull request, IAM user).
async fn merged_in(app: &TestApp, member: &Member, approver: &str) -> (u64, String) {
    let user = member.iam_user("svc").await;
    let pr = app.request_in(member, "bob", &user);
    app.approve(pr, approver);
    app.merge(pr).await;
    (pr, user)
}

/// Polls `done` every 50 ms for up to 20 s: for work that runs while another delivery is
/// being retried, when the queue never drains.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_request_issues_its_key_in_its_own_account_and_one_user_name_is_two_users() {
    let (mut app, prod, dev) = accounts_world().await;
    let user = prod.iam_user("ci-deploy").await;
    dev.create_user(&user).await;
    let pr = app.request_in(&prod, "bob", &user);
    app.approve(pr, "paula");
    app.merge(pr).await;

    let (key, secret) = prod.one_key_held_by_its_secret(&user, "issued").await;
    assert!(dev.access_keys(&user).await.is_empty(), "nothing in dev");
    assert!(
        app.aws.secrets_named(&format!("{user}/")).await.is_empty(),
        "nothing in keygate's own account"
    );
    let tags = prod.secret_tags(&secret).await;
    assert_eq!(tags["keygate:account"], "prod");
    assert_eq!(tags["keygate:request"], prod.path(&user));
    let comment = app.comment(pr);
    assert!(
        comment.contains(&format!(
            "access key issued for IAM user `{user}` in AWS account `prod`"
        )) && comment.contains(&key)
            && comment.contains(&secret),
        "{comment}"
    );
    let notice = app.expect_notices(&["issued"]).await.remove(0);
    assert_eq!(notice.attributes["account"], "prod");
    assert_eq!(notice.attributes["iam_user"], user);

    // The same IAM user name in development is another user: its own owners, its own key.
    let pr = app.request_in(&dev, "bob", &user);
    app.approve(pr, "dan");
    app.merge(pr).await;
    dev.one_key_held_by_its_secret(&user, "issued in dev").await;
    assert_eq!(prod.access_keys(&user).await, [key], "prod's key untouched");
    let notice = app.expect_notices(&["issued"]).await.remove(0);
    assert_eq!(notice.attributes["account"], "dev");
    app.shutdown().await;
    let ledger = app.ledger().await;
    let accounts: Vec<Option<AccountAlias>> = ledger
        .keys_to_sweep()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.iam_user == user)
        .map(|l| l.account)
        .collect();
    assert_eq!(
        accounts,
        [
            Some(AccountAlias::new("prod")),
            Some(AccountAlias::new("dev"))
        ]
    );
}

#[tokio::test]
async fn an_issuance_in_a_member_account_costs_one_assume_role_more_until_its_credentials_expire() {
    let (app, prod, _dev) = accounts_world().await;
    let from = app.aws.proxy.operations().len();
    merged_in(&app, &prod, "paula").await;
    let cold = issuing_calls(&app, from);
    assert_eq!(
        cold,
        [
            "AssumeRole",
            "GetUser",
            "ListAccessKeys",
            "CreateAccessKey",
            "CreateSecret",
            "Publish"
        ]
    );
    let from = app.aws.proxy.operations().len();
    merged_in(&app, &prod, "paula").await;
    assert_eq!(
        issuing_calls(&app, from),
        [
            "GetUser",
            "ListAccessKeys",
            "CreateAccessKey",
            "CreateSecret",
            "Publish"
        ],
        "the role's credentials are cached: no AssumeRole"
    );
}

#[tokio::test]
async fn one_accounts_owners_cannot_approve_another_accounts_request() {
    let (app, prod, dev) = accounts_world().await;
    let prod_user = prod.iam_user("svc").await;
    let pr = app.request_in(&prod, "bob", &prod_user);
    app.approve(pr, "dan");
    app.merge(pr).await;
    let comment = app.comment(pr);
    assert!(
        comment.contains("refused") && comment.contains("`@acme/prod-admins`"),
        "{comment}"
    );
    assert!(prod.access_keys(&prod_user).await.is_empty());
    app.expect_notices(&["refused"]).await;

    let dev_user = dev.iam_user("svc").await;
    let pr = app.request_in(&dev, "bob", &dev_user);
    app.approve(pr, "paula");
    app.merge(pr).await;
    let comment = app.comment(pr);
    assert!(
        comment.contains("refused") && comment.contains("`@acme/developers`"),
        "{comment}"
    );
    assert!(dev.access_keys(&dev_user).await.is_empty());
}

#[tokio::test]
async fn the_check_run_names_the_account_and_refuses_one_keygate_does_not_know() {
    let (app, prod, _dev) = accounts_world().await;
    let user = prod.iam_user("svc").await;
    let pr = app.request_in(&prod, "bob", &user);
    app.pr_action(pr, "opened").await;
    let check = app.head_check(pr);
    let summary = check.summary.unwrap_or_default();
    assert!(summary.contains("- AWS account: `prod`"), "{summary}");
    assert!(summary.contains("@acme/prod-admins"), "{summary}");

    let pr = app.gh.open_pr(
        "bob",
        &[(
            &format!("requests/staging/{user}/ci.toml"),
            &request(&user, REASON),
        )],
    );
    app.pr_action(pr, "opened").await;
    let check = app.head_check(pr);
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let summary = check.summary.unwrap_or_default();
    assert!(
        summary.contains("`staging` is not an AWS account keygate knows")
            && summary.contains("`dev`, `prod`"),
        "{summary}"
    );
}

/// Writes the secret's expiry tag an hour ago, in `member`.
async fn expired(member: &Member, secret: &str) {
    let at = (OffsetDateTime::now_utc() - time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    member
        .secrets
        .tag_resource()
        .secret_id(secret)
        .tags(
            Tag::builder()
                .key("keygate:expires-at")
                .value(at.format(&Rfc3339).unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn expiry_deactivates_the_key_in_its_own_account() {
    let (mut app, prod, dev) = accounts_world().await;
    let (_, prod_user) = merged_in(&app, &prod, "paula").await;
    let (_, dev_user) = merged_in(&app, &dev, "dan").await;
    let (prod_key, prod_secret) = prod.one_key_held_by_its_secret(&prod_user, "issued").await;
    let (dev_key, _) = dev.one_key_held_by_its_secret(&dev_user, "issued").await;
    app.aws.notices().await;
    expired(&prod, &prod_secret).await;

    app.shutdown().await;
    let lines = run_sweep(
        &app.settings(),
        app.keygate_aws().await,
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    let ours: Vec<_> = lines
        .iter()
        .filter(|l| l.access_key_id == prod_key || l.access_key_id == dev_key)
        .collect();
    assert_eq!(ours.len(), 1, "{lines:?}");
    assert_eq!(ours[0].access_key_id, prod_key);
    assert_eq!(ours[0].step, Some(Step::Deactivate));
    assert_eq!(ours[0].result, Some(Ok(())));
    assert_eq!(prod.active(&prod_user, &prod_key).await, Some(false));
    assert_eq!(dev.active(&dev_user, &dev_key).await, Some(true));
    let notices = app.expect_notices(&["expired"]).await;
    assert_eq!(notices[0].attributes["account"], "prod");
}

#[tokio::test]
async fn a_merged_deletion_revokes_the_key_in_its_account() {
    let (app, _prod, dev) = accounts_world().await;
    let (_, user) = merged_in(&app, &dev, "dan").await;
    let (key, secret) = dev.one_key_held_by_its_secret(&user, "issued").await;
    app.aws.notices().await;

    // prod's owners cannot revoke dev's key: the deletion waits for dev's.
    let revoking = app
        .gh
        .open_pr_with_changes("bob", &[Change::Delete(&dev.path(&user))]);
    app.submit_review(revoking, "paula", Approve).await;
    let check = app.head_check(revoking);
    assert_eq!(check.conclusion, None, "{check:?}");
    let title = check.title.unwrap_or_default();
    assert!(title.starts_with("Waiting for approval"), "{title}");
    let summary = check.summary.unwrap_or_default();
    assert!(summary.contains("@acme/developers"), "{summary}");
    assert_eq!(dev.active(&user, &key).await, Some(true), "still live");
    app.approve(revoking, "dan");
    app.merge(revoking).await;

    assert!(dev.access_keys(&user).await.is_empty(), "deleted in dev");
    assert!(dev.secret(&secret).await.is_none(), "its secret deleted");
    let comment = app.comment(revoking);
    assert!(
        comment.contains("revoked for IAM user") && comment.contains("in AWS account `dev`"),
        "{comment}"
    );
    let notices = app.expect_notices(&["revoked"]).await;
    assert_eq!(notices[0].attributes["account"], "dev");
}

#[tokio::test]
async fn keygate_revoke_acts_in_the_keys_account_and_refuses_the_wrong_one() {
    let (mut app, prod, _dev) = accounts_world().await;
    let (_, user) = merged_in(&app, &prod, "paula").await;
    let (key, secret) = prod.one_key_held_by_its_secret(&user, "issued").await;
    app.aws.notices().await;
    app.shutdown().await;
    let (settings, reason) = (app.settings(), "pasted into a public gist");

    let wrong = run_revoke_in(
        &settings,
        app.keygate_aws().await,
        &AccessKeyId::new(&key),
        Some("dev"),
        reason,
    )
    .await
    .unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("in AWS account `prod`, not in AWS account `dev`"),
        "{wrong}"
    );
    assert_eq!(
        prod.access_keys(&user).await,
        std::slice::from_ref(&key),
        "untouched"
    );
    let unknown = run_revoke_in(
        &settings,
        app.keygate_aws().await,
        &AccessKeyId::new(&key),
        Some("qa"),
        reason,
    )
    .await
    .unwrap_err();
    assert!(
        unknown.to_string().contains("`prod`, `dev`")
            || unknown.to_string().contains("`dev`, `prod`"),
        "{unknown}"
    );

    let done = run_revoke_in(
        &settings,
        app.keygate_aws().await,
        &AccessKeyId::new(&key),
        Some("prod"),
        reason,
    )
    .await
    .unwrap();
    let Revoked::Now { account, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(account, Some(AccountAlias::new("prod")));
    assert!(prod.access_keys(&user).await.is_empty(), "deleted in prod");
    assert!(prod.secret(&secret).await.is_none());
    let notices = app.expect_notices(&["revoked"]).await;
    assert_eq!(notices[0].attributes["account"], "prod");
}

#[tokio::test]
async fn audit_finds_each_key_in_its_own_account() {
    let (mut app, prod, dev) = accounts_world().await;
    let (prod_pr, prod_user) = merged_in(&app, &prod, "paula").await;
    let (_, dev_user) = merged_in(&app, &dev, "dan").await;
    let (prod_key, _) = prod.one_key_held_by_its_secret(&prod_user, "issued").await;
    let (dev_key, _) = dev.one_key_held_by_its_secret(&dev_user, "issued").await;
    app.shutdown().await;
    let clone = crate::audit::clone_with(&[
        (prod.path(&prod_user), request(&prod_user, REASON)),
        (dev.path(&dev_user), request(&dev_user, REASON)),
    ]);

    let rows = run_audit(
        &app.settings(),
        &app.keygate_aws().await,
        clone.path(),
        &Filter::default(),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    for (member, user, key) in [(&prod, &prod_user, &prod_key), (&dev, &dev_user, &dev_key)] {
        let row = rows
            .iter()
            .find(|r| r.path == member.path(user))
            .unwrap_or_else(|| panic!("no row for {user}: {rows:#?}"));
        assert_eq!(row.access_key_id, Some(AccessKeyId::new(key)));
        assert_eq!(
            row.state,
            State::Active,
            "IAM of {} asked: {row:#?}",
            member.alias
        );
        assert_eq!(row.iam_user, *user);
        assert!(!row.drift, "{row:#?}");
    }
    let prod_row = rows
        .iter()
        .find(|r| r.path == prod.path(&prod_user))
        .unwrap();
    assert_eq!(prod_row.pr, Some(prod_pr));
}

#[tokio::test]
async fn an_account_whose_role_is_gone_is_retried_while_another_account_issues() {
    // Retried once a second for as long as the story takes.
    let (app, prod, dev) = accounts_world_with("[server]\nmax_attempts = 1000\n").await;
    app.aws
        .proxy
        .fail_where("AssumeRole", DEV.1, 403, "AccessDenied");
    let dev_user = dev.iam_user("svc").await;
    let dev_pr = app.request_in(&dev, "bob", &dev_user);
    app.approve(dev_pr, "dan");
    app.gh.merge(dev_pr);
    assert_eq!(app.pr_event(dev_pr, "closed").await, 202);
    eventually("dev's comment says it is retried", async || {
        app.comment(dev_pr)
            .contains("keygate could not assume its issuer role in AWS account `dev`")
    })
    .await;

    // Production issues meanwhile: dev's retries hold nothing up.
    let prod_user = prod.iam_user("svc").await;
    let prod_pr = app.request_in(&prod, "bob", &prod_user);
    app.approve(prod_pr, "paula");
    app.gh.merge(prod_pr);
    assert_eq!(app.pr_event(prod_pr, "closed").await, 202);
    eventually("prod's key is issued", async || {
        app.comment(prod_pr).contains("access key issued")
    })
    .await;
    prod.one_key_held_by_its_secret(&prod_user, "issued in prod")
        .await;
    assert!(
        dev.access_keys(&dev_user).await.is_empty(),
        "not yet in dev"
    );
    let comment = app.comment(dev_pr);
    assert!(
        comment.contains("not done yet")
            && comment.contains("AccessDenied")
            && comment.contains("deploy/keygate-member.yaml")
            && !comment.contains(DEV.1),
        "{comment}"
    );

    // The role is back: dev's next attempt issues.
    app.aws.proxy.heal();
    app.settle().await;
    dev.one_key_held_by_its_secret(&dev_user, "issued once the role is back")
        .await;
    assert!(
        app.comment(dev_pr).contains("access key issued"),
        "{}",
        app.comment(dev_pr)
    );
    let mut events: Vec<(String, String)> = app
        .aws
        .notices()
        .await
        .iter()
        .map(|n| (n.event().to_string(), n.attributes["account"].clone()))
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            ("issued".to_string(), "dev".to_string()),
            ("issued".to_string(), "prod".to_string())
        ],
        "no failure was announced for a retried account"
    );
}

#[tokio::test]
async fn one_pull_request_for_two_accounts_issues_where_it_can_and_retries_the_other() {
    let (app, prod, dev) = accounts_world_with("[server]\nmax_attempts = 1000\n").await;
    let (prod_user, dev_user) = (prod.iam_user("svc").await, dev.iam_user("svc").await);
    let pr = app.gh.open_pr(
        "bob",
        &[
            (&prod.path(&prod_user), &request(&prod_user, REASON)),
            (&dev.path(&dev_user), &request(&dev_user, REASON)),
        ],
    );
    app.approve(pr, "paula");
    app.approve(pr, "dan");
    app.aws
        .proxy
        .fail_where("AssumeRole", DEV.1, 403, "AccessDenied");
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    eventually("prod issued beside dev's outage", async || {
        let c = app.comment(pr);
        c.contains("access key issued") && c.contains("not done yet")
    })
    .await;
    prod.one_key_held_by_its_secret(&prod_user, "issued in prod")
        .await;
    let mut notices = Vec::new();
    eventually("prod's notice", async || {
        notices.extend(app.aws.notices().await);
        !notices.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    notices.extend(app.aws.notices().await);
    let told: Vec<(&str, &str)> = notices
        .iter()
        .map(|n| (n.event(), n.attributes["account"].as_str()))
        .collect();
    assert_eq!(
        told,
        [("issued", "prod")],
        "prod announced at once, dev not yet"
    );

    app.aws.proxy.heal();
    app.settle().await;
    dev.one_key_held_by_its_secret(&dev_user, "issued once the role is back")
        .await;
    let comment = app.comment(pr);
    assert_eq!(comment.matches("access key issued").count(), 2, "{comment}");
    app.expect_notices(&["issued"]).await;
}

#[tokio::test]
async fn a_sweep_goes_on_in_one_account_while_another_is_down() {
    let (mut app, prod, dev) = accounts_world().await;
    let (_, prod_user) = merged_in(&app, &prod, "paula").await;
    let (_, dev_user) = merged_in(&app, &dev, "dan").await;
    let (prod_key, prod_secret) = prod.one_key_held_by_its_secret(&prod_user, "issued").await;
    let (dev_key, dev_secret) = dev.one_key_held_by_its_secret(&dev_user, "issued").await;
    expired(&prod, &prod_secret).await;
    expired(&dev, &dev_secret).await;
    app.shutdown().await;
    app.aws
        .proxy
        .fail_where("AssumeRole", DEV.1, 403, "AccessDenied");
    let from = app.aws.proxy.count("AssumeRole");

    let lines = run_sweep(
        &app.settings(),
        app.keygate_aws().await,
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    let step = lines
        .iter()
        .find(|l| l.access_key_id == prod_key && l.step.is_some())
        .unwrap_or_else(|| panic!("no step for prod's key: {lines:#?}"));
    assert_eq!(step.step, Some(Step::Deactivate));
    assert_eq!(step.result, Some(Ok(())), "{lines:#?}");
    assert_eq!(prod.active(&prod_user, &prod_key).await, Some(false));
    // dev's secret could not be read: its key is left as it is, and the line says why.
    let unread = lines
        .iter()
        .find(|l| l.access_key_id == dev_key)
        .unwrap_or_else(|| panic!("no line for dev's key: {lines:#?}"));
    let failed = unread.result.clone().unwrap().unwrap_err();
    assert!(failed.contains("AWS account `dev`"), "{failed}");
    assert_eq!(dev.active(&dev_user, &dev_key).await, Some(true));
    // One AssumeRole each: prod's, then cached; dev's, which failed and said the account
    // is down, so nothing more was asked of it this pass.
    assert_eq!(
        app.aws.proxy.count("AssumeRole") - from,
        2,
        "{:?}",
        app.aws.proxy.operations()
    );
}

#[tokio::test]
async fn doctor_assumes_each_accounts_role_and_names_the_one_it_cannot() {
    let (app, _prod, _dev) = accounts_world().await;
    let lines = async || -> Vec<String> {
        let checks = keygate::doctor::run(&app.settings(), &app.keygate_aws().await).await;
        checks
            .iter()
            .filter(|c| c.name == "aws account")
            .map(|c| c.to_string())
            .collect()
    };
    let healthy = lines().await;
    assert_eq!(healthy.len(), 2, "{healthy:#?}");
    assert!(
        healthy[0].starts_with(
            "[ok  ] aws account: `dev` (222222222222): acting as \
             arn:aws:sts::222222222222:assumed-role/keygate-issuer/keygate"
        ),
        "{healthy:#?}"
    );
    assert!(
        healthy[1].starts_with("[ok  ] aws account: `prod` (111111111111)"),
        "{healthy:#?}"
    );

    app.aws
        .proxy
        .fail_where("AssumeRole", DEV.1, 403, "AccessDenied");
    let broken = lines().await;
    assert!(
        broken[0].starts_with("[FAIL] aws account: `dev` (222222222222): cannot assume")
            && broken[0].contains("AccessDenied")
            && broken[0].contains("deploy/keygate-member.yaml"),
        "{broken:#?}"
    );
    assert!(
        broken[1].starts_with("[ok  ] aws account: `prod`"),
        "{broken:#?}"
    );
}

#[tokio::test]
async fn a_key_in_a_member_account_rotates_in_place_in_that_account() {
    let (mut app, prod, dev) = accounts_world().await;
    let user = prod.iam_user("export").await;
    let text = format!(
        "iam_user = \"{user}\"\nreason = \"The nightly export reads this key by name\"\n\
         expires_in_days = 30\nrotate_every_days = 10\n"
    );
    let pr = app.gh.open_pr("bob", &[(&prod.path(&user), &text)]);
    app.approve(pr, "paula");
    app.merge(pr).await;
    let (first, secret) = prod.one_key_held_by_its_secret(&user, "issued").await;
    app.aws.notices().await;

    app.shutdown().await;
    let done = keygate::cli::keys::run_rotate(
        &app.settings(),
        app.keygate_aws().await,
        &AccessKeyId::new(&first),
        "suspected exposure",
    )
    .await
    .unwrap();
    let keygate::workflow::rotate::Rotated::Done { new_key } = done else {
        panic!("{done:?}")
    };

    // The new key was made for the user in prod and written as the same secret's new
    // version there; nothing happened in keygate's own account or in dev.
    let mut keys = prod.access_keys(&user).await;
    keys.sort();
    let mut both = vec![first.clone(), new_key.to_string()];
    both.sort();
    assert_eq!(keys, both, "the old key works through the overlap");
    assert_eq!(
        prod.secret(&secret).await.unwrap()["AccessKeyId"],
        new_key.as_str()
    );
    assert_eq!(
        prod.secret_tags(&secret).await["keygate:access-key-id"],
        new_key.as_str()
    );
    assert!(dev.secrets_named(&format!("{user}/")).await.is_empty());
    assert!(app.aws.secrets_named(&format!("{user}/")).await.is_empty());
    let notices = app.expect_notices(&["rotated"]).await;
    assert_eq!(notices[0].attributes["account"], "prod");
}

#[tokio::test]
async fn a_leaked_key_of_a_member_account_is_deactivated_in_that_account() {
    let (app, prod, dev) = accounts_world().await;
    let (pr, user) = merged_in(&app, &dev, "dan").await;
    let (key, _) = dev.one_key_held_by_its_secret(&user, "issued").await;
    prod.create_user(&user).await;
    app.aws.notices().await;

    let elsewhere = app.gh.for_repo("acme/app");
    let alert = elsewhere.leak("aws_access_key_id", &key, "deploy/env.sh", 3);
    let event = elsewhere.secret_alert_event(alert, "created");
    assert_eq!(app.deliver("secret_scanning_alert", &event).await, 202);
    app.settle().await;

    assert_eq!(
        dev.active(&user, &key).await,
        Some(false),
        "deactivated in dev"
    );
    let notices = app.expect_notices(&["leaked"]).await;
    assert_eq!(notices[0].attributes["account"], "dev");
    let comment = app.gh.comments(pr).last().cloned().unwrap();
    assert!(
        comment.contains("reported leaked") && comment.contains("deploy/env.sh"),
        "{comment}"
    );
}
