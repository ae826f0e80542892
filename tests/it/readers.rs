//! `readers` (DESIGN §1, §3.3): the secret gets a resource policy that lets exactly the
//! readers (and keygate) read it, put right after `CreateSecret`; a secret for readers is
//! never left, or announced, without it. moto stores the policy but does not enforce it:
//! `tests/secret_policy_eval.py` evaluates the document (run by scripts/test).

use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::faults::Fault;
use crate::support::story::valid_request;
use crate::support::world::world_with;

const CI_ROLE: &str = "arn:aws:iam::123456789012:role/ci/deploy";
const BACKUP_USER: &str = "arn:aws:iam::123456789012:user/backup";
const ALLOW_READERS: &str = "[policy]\nallowed_readers = \
    [\"arn:aws:iam::123456789012:role/ci/*\", \"arn:aws:iam::123456789012:user/*\"]\n";

/// Opens and approves a pull request whose request names `readers`; returns (PR, IAM user).
async fn approved_request_with_readers(app: &TestApp, readers: &[&str]) -> (u64, String) {
    let list: Vec<String> = readers.iter().map(|r| format!("\"{r}\"")).collect();
    let with_readers =
        |user: &str| format!("{}readers = [{}]\n", valid_request(user), list.join(", "));
    let (pr, user) = app.request_pr_with("bob", with_readers, &[]).await;
    app.approve(pr, "carol");
    (pr, user)
}

/// The principal keygate runs as in these tests, as STS tells it (moto's default).
async fn keygate_arn() -> String {
    let sdk = crate::support::moto::sdk_config(&crate::support::moto::moto().url).await;
    aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

async fn resource_policy(app: &TestApp, secret: &str) -> Option<Value> {
    let out = app
        .aws
        .secrets
        .get_resource_policy()
        .secret_id(secret)
        .send()
        .await
        .unwrap();
    out.resource_policy
        .map(|p| serde_json::from_str(&p).unwrap())
}

/// The resource policy keygate must put on a secret for `readers`, written out here rather
/// than built by keygate's own code, so the test holds it to the document DESIGN §3.3 names.
fn readers_policy(readers: &[&str], keygate: &str) -> Value {
    let mut may_read: Vec<&str> = readers.to_vec();
    may_read.push(keygate);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeygateReadersMayRead",
                "Effect": "Allow",
                "Principal": { "AWS": readers },
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            },
            {
                "Sid": "KeygateNobodyElseMayRead",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": { "StringNotLike": { "aws:PrincipalArn": may_read } },
            },
        ],
    })
}

#[tokio::test]
async fn a_secret_with_readers_can_be_read_only_by_them_and_keygate() {
    let app = world_with(ALLOW_READERS).await;
    let (pr, user) = approved_request_with_readers(&app, &[CI_ROLE, BACKUP_USER]).await;
    app.pr_action(pr, "opened").await;
    let readable = format!("Readable only by: `{CI_ROLE}`, `{BACKUP_USER}`");
    let summary = app.head_check(pr).summary.unwrap_or_default();
    assert!(
        summary.contains(&readable),
        "the check run shows approvers who may read the key: {summary}"
    );
    app.expect_notices(&["requested"]).await;

    app.merge(pr).await;

    let issued = app.expect_issued_and_announced(pr, &user).await;
    let keygate = keygate_arn().await;
    assert_eq!(
        resource_policy(&app, &issued.secret).await,
        Some(readers_policy(&[CI_ROLE, BACKUP_USER], &keygate)),
        "GetResourcePolicy returns exactly the readers' policy"
    );
    assert_eq!(app.aws.proxy.count("PutResourcePolicy"), 1);

    assert!(issued.comment.contains(&readable), "{}", issued.comment);
    let listed = format!("Readable only by:\n  - {CI_ROLE}\n  - {BACKUP_USER}\n");
    let message = &issued.notice.message;
    assert!(message.contains(&listed), "{message}");
}

#[tokio::test]
async fn a_secret_without_readers_keeps_no_resource_policy() {
    let app = world_with(ALLOW_READERS).await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    let (_, secret) = app
        .aws
        .one_key_held_by_its_secret(&user, "issued without readers")
        .await;
    assert_eq!(resource_policy(&app, &secret).await, None);
    assert_eq!(app.aws.proxy.count("PutResourcePolicy"), 0);
    assert_eq!(app.aws.proxy.count("GetCallerIdentity"), 0);
    assert!(!app.comment(pr).contains("Readable only by"));
}

#[tokio::test]
async fn a_refused_policy_deletes_the_secret_and_the_key_and_says_why() {
    let app = world_with(ALLOW_READERS).await;
    let (pr, user) = approved_request_with_readers(&app, &[CI_ROLE]).await;
    app.aws.proxy.fail(
        "PutResourcePolicy",
        400,
        "MalformedPolicyDocumentException",
        1,
    );
    app.merge(pr).await;

    // The new key was deleted again, and its secret with it.
    let why = [
        "no key was issued",
        "MalformedPolicyDocumentException",
        "`readers` ARN",
    ];
    app.expect_failed(pr, &user, &why).await;
    assert!(
        app.aws.secrets_named(&format!("{user}/")).await.is_empty(),
        "no secret is left that everyone in the account may read"
    );
}

#[tokio::test]
async fn a_policy_that_failed_for_a_while_issues_one_key_with_its_policy() {
    let app = world_with(ALLOW_READERS).await;
    let (pr, user) = approved_request_with_readers(&app, &[CI_ROLE]).await;
    // More failures than the SDK retries on its own: the first attempt leaves a secret
    // without its policy, as a crash right after CreateSecret would, and the retry must
    // delete it and its key before issuing again.
    app.aws
        .proxy
        .fail("PutResourcePolicy", 503, "ServiceUnavailable", 4);
    app.merge(pr).await;

    // One key, in one secret, after the retries.
    let issued = app.expect_issued_and_announced(pr, &user).await;
    let policy = resource_policy(&app, &issued.secret)
        .await
        .expect("a policy");
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"], json!([CI_ROLE]));
    let created = app.aws.proxy.count("CreateSecret");
    let deleted = app.aws.proxy.count("DeleteSecret");
    assert!(
        deleted >= 1 && created == deleted + 1,
        "every secret left without its policy was deleted: {created} created, {deleted} deleted"
    );
}

#[tokio::test]
async fn a_policy_that_went_on_although_aws_answered_an_error_completes_the_issuance() {
    let app = world_with(ALLOW_READERS).await;
    let (pr, user) = approved_request_with_readers(&app, &[CI_ROLE]).await;
    // A permanent error that is not the truth: the policy is on. Undoing must look first.
    app.aws
        .proxy
        .lose_answer("PutResourcePolicy", 400, "InvalidRequestException");
    app.merge(pr).await;

    let (_, secret) = app
        .aws
        .one_key_held_by_its_secret(&user, "the policy went on; the issuance is complete")
        .await;
    assert!(resource_policy(&app, &secret).await.is_some());
    assert_eq!(app.aws.proxy.count("PutResourcePolicy"), 1);
    assert_eq!(app.aws.proxy.count("DeleteSecret"), 0);
    assert!(app.comment(pr).contains("access key issued"));
}

#[tokio::test]
async fn a_secret_for_readers_holds_no_key_until_its_policy_is_on() {
    let app = world_with(ALLOW_READERS).await;
    let (pr, user) = approved_request_with_readers(&app, &[CI_ROLE]).await;
    // The policy's call is slow: meanwhile, the secret must hold nothing anyone could read.
    let hold = std::time::Duration::from_secs(3);
    app.aws
        .proxy
        .inject("PutResourcePolicy", Fault::Hold(hold), 1);
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.aws.proxy.count("PutResourcePolicy") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the policy was never put"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let names = app.aws.secrets_named(&format!("{user}/")).await;
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(
        app.aws.secret(&names[0]).await,
        None,
        "the key is not in AWS before the policy that guards it"
    );

    app.settle().await;
    let (_, secret) = app.aws.one_key_held_by_its_secret(&user, "issued").await;
    assert!(resource_policy(&app, &secret).await.is_some());
}
