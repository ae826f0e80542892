//! Issue on merge (DESIGN §2, §3): stories from pull request to key, and every way a key
//! must not appear.

use crate::support::app::TestApp;
use crate::support::github::Change;
use crate::support::github::ReviewState::{Comment, RequestChanges};
use crate::support::story::{REASON, notice_text, redact, valid_request};
use crate::support::world::{CODEOWNERS, path, request, world, world_with};

#[tokio::test]
async fn approved_merge_issues_key_stores_secret_comments_and_notifies() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;

    let issued = app.expect_issued_and_announced(pr, &user).await;
    insta::assert_snapshot!(issued.redact(&issued.comment), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/[user]/ci.toml`**: access key issued for IAM user `[user]`.

        - Secret: `[user]/access-key-[timestamp]`
        - Secret ARN: `[secret arn]`
        - Access key ID: `[key id]`
        - Expires: [time] (30 days)

        Read the key from Secrets Manager. A new key can take a few seconds to work everywhere: IAM is eventually consistent.
        ");
    insta::assert_snapshot!(issued.redact(&notice_text(&issued.notice)), @r"
        keygate: access key issued for [user] (acme/access-requests#1)

        keygate: access key issued for [user].

        IAM user:      [user]
        Request file:  requests/[user]/ci.toml
        Pull request:  acme/access-requests#1 https://github.com/acme/access-requests/pull/1
        Requester:     @bob
        Approvers:     @carol
        Secret:        [user]/access-key-[timestamp]
        Secret ARN:    [secret arn]
        Access key ID: [key id]
        Expires:       [time]
        ");
    let n = &issued.notice;
    assert_eq!(n.attributes["requester"], "bob");
    assert_eq!(n.attributes["repository"], app.gh.repo());
    let id = &n.attributes["notice_id"];
    assert_eq!(id.len(), 24, "a stable ID subscribers can drop repeats by");
    assert!(n.subject.len() < 100, "{}", n.subject);
    assert!(
        app.gh.unknown_requests().is_empty(),
        "{:?}",
        app.gh.unknown_requests()
    );
}

#[tokio::test]
async fn merge_without_owner_approval_issues_nothing() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "mallory");
    app.merge(pr).await;

    // Says who could approve, and whose approval did not count.
    let comment = app
        .expect_refused(pr, &user, &["refused", "@acme/security", "@mallory"])
        .await;
    let notices = app.expect_notices(&["refused"]).await;
    let user = [(user.as_str(), "[user]")];
    insta::assert_snapshot!(redact(&comment, &user), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/[user]/ci.toml`**: refused for IAM user `[user]`; nothing was issued.

        - needs 1 more approval from `@acme/security`
        - `@mallory` is not an owner of this file, so their approval does not count
        ");
    insta::assert_snapshot!(redact(&notice_text(&notices[0]), &user), @r"
        keygate: request for [user] refused (acme/access-requests#1)

        keygate: request for [user] refused.

        IAM user:      [user]
        Request file:  requests/[user]/ci.toml
        Pull request:  acme/access-requests#1 https://github.com/acme/access-requests/pull/1
        Requester:     @bob
        Why:
          - needs 1 more approval from @acme/security
          - @mallory is not an owner of this file, so their approval does not count
        ");
}

#[tokio::test]
async fn approval_given_before_the_last_push_does_not_count() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.amend_request(pr, "bob", &user, "Nightly backups copy to S3, and restores");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["older commit"]).await;
}

#[tokio::test]
async fn an_owner_approving_their_own_request_does_not_count() {
    let app = world().await;
    let (pr, user) = app.request_pr("carol").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_no_key(&user).await;
}

#[tokio::test]
async fn an_owner_who_pushed_to_the_pull_request_cannot_approve_it() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.amend_request(pr, "dave", &user, "Nightly backups copy to S3 buckets");
    app.approve(pr, "dave");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["pushed"]).await;
}

#[tokio::test]
async fn outstanding_changes_requested_by_an_owner_blocks() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.gh.review(pr, "dave", RequestChanges);
    app.approve(pr, "carol");
    app.gh.review(pr, "dave", Comment);
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["requested changes"]).await;
}

#[tokio::test]
async fn a_pending_team_member_is_not_an_owner() {
    let app = world().await;
    app.gh.add_pending_member("acme/security", "frank");
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "frank");
    app.merge(pr).await;
    app.expect_no_key(&user).await;
}

#[tokio::test]
async fn two_approvals_required_means_two_distinct_owners() {
    let app = world_with("[policy]\nmin_approvals = 2\n").await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_no_key(&user).await;

    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.approve(pr, "dave");
    app.merge(pr).await;
    app.expect_issued(&user).await;
}

#[tokio::test]
async fn a_pull_request_that_also_changes_codeowners_issues_nothing() {
    let app = world().await;
    let codeowners = [(".github/CODEOWNERS", "/requests/ @bob\n")];
    let (pr, user) = app.request_pr_with("bob", valid_request, &codeowners).await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["CODEOWNERS"]).await;
}

#[tokio::test]
async fn an_invalid_line_in_the_base_codeowners_refuses_and_names_the_line() {
    let app = world().await;
    let invalid = "/requests/ @acme/security\n!/requests/x/ @bob\n";
    app.gh.commit_to_main(&[(".github/CODEOWNERS", invalid)]);
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["line 2"]).await;
}

#[tokio::test]
async fn an_invalid_request_file_is_refused_with_file_and_line() {
    let app = world().await;
    let misspelt =
        |user: &str| format!("iam_user = \"{user}\"\nreason = \"{REASON}\"\nexpires = 30\n");
    let (pr, user) = app.request_pr_with("bob", misspelt, &[]).await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    let at = format!("{}:3:1", path(&user));
    app.expect_refused(pr, &user, &[&at]).await;
    app.expect_notices(&["refused"]).await;
}

#[tokio::test]
async fn modifying_a_merged_request_file_issues_nothing() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_issued_and_announced(pr, &user).await;

    let changed = request(&user, "Changed my mind about the reason");
    let pr2 = app.gh.open_pr("bob", &[(&path(&user), &changed)]);
    app.approve(pr2, "carol");
    app.merge(pr2).await;
    app.aws
        .one_key_held_by_its_secret(&user, "no second key")
        .await;
    assert!(
        app.comment(pr2).contains("never changes"),
        "{}",
        app.comment(pr2)
    );
}

#[tokio::test]
async fn a_user_with_two_keys_gets_a_failed_notice_and_no_third() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    for _ in 0..2 {
        let create = app.aws.iam.create_access_key().user_name(&user);
        create.send().await.unwrap();
    }
    app.approve(pr, "carol");
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 2);
    let comment = app.comment(pr);
    assert!(comment.contains("already has 2 access keys"), "{comment}");
    app.expect_notices(&["failed"]).await;
}

#[tokio::test]
async fn closing_without_merge_publishes_rejected() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.gh.close(pr);
    app.pr_action(pr, "closed").await;
    app.expect_no_key(&user).await;
    let notices = app.expect_notices(&["rejected"]).await;
    assert_eq!(notices[0].attributes["iam_user"], user);
}

#[tokio::test]
async fn the_same_delivery_twice_and_a_redelivery_issue_one_key() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.gh.merge(pr);
    let d = app.pr_delivery(pr, "closed");
    assert_eq!(app.redeliver(&d).await, 202);
    assert_eq!(
        app.redeliver(&d).await,
        200,
        "a repeated GUID is answered 200"
    );
    app.settle().await;
    // GitHub's "Redeliver" sends the same payload under a new GUID.
    assert_eq!(app.redeliver_as_new(&d).await, 202);
    app.settle().await;

    app.expect_issued(&user).await;
    app.expect_notices(&["issued"]).await; // one notice, not one per delivery
    assert_eq!(app.gh.comment_views(pr).len(), 1);
}

#[tokio::test]
async fn a_secret_name_someone_else_took_is_never_adopted_and_leaves_no_key_behind() {
    // A predictable name lets the test take it first, so CreateSecret fails for real; with
    // no `{timestamp}` in the name there is no next second to try.
    let app = world_with("[aws]\nsecret_name = \"{iam_user}/pr-{pr}\"\n").await;
    let (pr, user) = app.request_pr("bob").await;
    let name = format!("{user}/pr-{pr}");
    let planted = serde_json::json!({"AccessKeyId": "AKIAPLANTED", "SecretAccessKey": "x"});
    let taken = app.aws.secrets.create_secret().name(&name);
    taken
        .secret_string(planted.to_string())
        .send()
        .await
        .unwrap();
    app.approve(pr, "carol");
    app.merge(pr).await;
    // The new key was deleted again, and the secret keygate did not make is left as it was.
    app.expect_failed(pr, &user, &["taken by a secret keygate did not make"])
        .await;
    assert_eq!(app.aws.secret(&name).await, Some(planted));
}

#[tokio::test]
async fn secrets_planted_at_the_names_keygate_would_render_are_never_announced_as_the_key() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    // An insider allowed to create secrets under the prefix plants the names of the coming
    // seconds, tagged as keygate tags its own, holding a key of their choosing, with the
    // token an earlier keygate derived from public facts (repository, PR, path).
    let planted = serde_json::json!({"AccessKeyId": "AKIAPLANTED", "SecretAccessKey": "x"});
    let public = format!("{}\n{pr}\n{}", app.gh.repo().to_lowercase(), path(&user));
    let guessed = &hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        public.as_bytes(),
    ))[..48];
    let now = time::OffsetDateTime::now_utc();
    let mut names = Vec::new();
    for second in -2..45 {
        let t = now + time::Duration::seconds(second);
        let name = format!(
            "{user}/access-key-{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let tag = |k: &str, v: &str| {
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        };
        app.aws
            .secrets
            .create_secret()
            .name(&name)
            .client_request_token(guessed)
            .secret_string(planted.to_string())
            .tags(tag("keygate:repository", app.gh.repo()))
            .tags(tag("keygate:pr", &pr.to_string()))
            .tags(tag("keygate:request", &path(&user)))
            .send()
            .await
            .unwrap();
        names.push(name);
    }
    app.approve(pr, "carol");
    app.merge(pr).await;

    app.expect_failed(pr, &user, &["taken by a secret keygate did not make"])
        .await;
    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "the real key was deleted"
    );
    assert!(!app.comment(pr).contains("AKIAPLANTED"));
    for name in &names {
        assert_eq!(
            app.aws.secret(name).await.as_ref(),
            Some(&planted),
            "{name} untouched"
        );
    }
}

#[tokio::test]
async fn a_transient_secrets_manager_error_is_retried_and_issues_once() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.aws
        .proxy
        .fail("CreateSecret", 503, "ServiceUnavailable", 4);
    app.approve(pr, "carol");
    app.merge(pr).await;
    let why = "exactly one key survives the retries";
    app.aws.one_key_held_by_its_secret(&user, why).await;
}

#[tokio::test]
async fn a_denied_user_is_refused() {
    let app = world_with("[policy]\ndenied_users = [\"svc-*\"]\n").await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["denied_users"]).await;
}

#[tokio::test]
async fn a_merge_into_another_branch_issues_nothing() {
    let app = world_with("[github]\nbranch = \"release\"\n").await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 200, "ignored at the door");
    app.expect_no_key(&user).await;
}

/// The GitHub requests (method and path) and AWS operations keygate made while handling the
/// merge of `pr`, printed for the README.
async fn calls_to_issue(app: &TestApp, pr: u64) -> (Vec<String>, Vec<String>) {
    let github_before = app.gh.requests().len();
    let aws_before = app.aws.proxy.operations().len();
    app.merge(pr).await;
    let github: Vec<String> = app.gh.requests()[github_before..]
        .iter()
        .map(|(method, path, _)| format!("{method} {}", path.split('?').next().unwrap_or("")))
        .collect();
    let aws = app.aws.proxy.operations()[aws_before..].to_vec();
    println!(
        "GitHub calls ({}):\n  {}",
        github.len(),
        github.join("\n  ")
    );
    println!("AWS calls ({}): {}", aws.len(), aws.join(", "));
    (github, aws)
}

/// DynamoDB's and SQS's operations: the shared ledger's and queue's calls.
const LEDGER_AND_QUEUE_CALLS: [&str; 11] = [
    "GetItem",
    "Query",
    "TransactWriteItems",
    "UpdateItem",
    "PutItem",
    "DescribeTable",
    "SendMessage",
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
];

/// The book's "What one request costs" counts these rounds; `benches/merge` times them.
#[tokio::test]
async fn a_merge_asks_github_in_four_sequential_rounds() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.settle().await;
    // A GitHub that is not on loopback: side-by-side calls overlap, sequential ones do not.
    // Long enough that calls made side by side overlap on a busy machine too.
    app.gh.set_latency(std::time::Duration::from_millis(250));
    let from = app.gh.requests().len();
    app.merge(pr).await;
    app.expect_issued(&user).await;
    let rounds = app.gh.rounds_since(from);
    let calls: Vec<String> = app.gh.requests()[from..]
        .iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    // The pull request's reads; CODEOWNERS, the request file and keygate's own comment; the
    // approvers' teams; the comment.
    assert_eq!(rounds, 4, "{calls:#?}");
}

/// The README states these numbers; this test keeps them true.
#[tokio::test]
async fn one_single_file_request_costs_a_known_number_of_calls() {
    let app = world().await;
    let (pr, _) = app.request_pr("bob").await;
    app.approve(pr, "carol");

    let (github, calls) = calls_to_issue(&app, pr).await;
    // On DynamoDB and SQS the ledger and the queue are AWS calls too; their number depends on
    // timing (long polls, lease renewals), so they are reported, not pinned.
    let (ledger_and_queue, aws): (Vec<String>, Vec<String>) = calls
        .into_iter()
        .partition(|op| LEDGER_AND_QUEUE_CALLS.contains(&op.as_str()));
    println!(
        "ledger and queue calls ({}): {}",
        ledger_and_queue.len(),
        ledger_and_queue.join(", ")
    );
    let expected = [
        "GetUser",
        "ListAccessKeys",
        "CreateAccessKey",
        "CreateSecret",
        "Publish",
    ];
    assert_eq!(aws, expected);
    // The installation token is not among them: `serve`'s catch-up at start minted it.
    assert_eq!(github.len(), 17, "{github:#?}");
    assert!(
        !github.iter().any(|c| c.ends_with("/access_tokens")),
        "{github:#?}"
    );
    let codeowners = github.iter().filter(|c| c.contains("CODEOWNERS"));
    let why = "GitHub's three CODEOWNERS locations, read side by side";
    assert_eq!(codeowners.count(), 3, "{why}");
}

#[tokio::test]
async fn every_page_of_reviews_and_files_is_read() {
    let app = world().await;
    app.gh.set_page_size_cap(1);
    let (pr, user) = app.request_pr("bob").await;
    app.gh.review(pr, "mallory", Comment);
    app.gh.review(pr, "erin", Comment);
    app.approve(pr, "carol");
    app.merge(pr).await;
    let why = "the approval on page 3 counted";
    app.aws.one_key_held_by_its_secret(&user, why).await;
}

#[tokio::test]
async fn a_github_server_error_is_retried() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    let reviews = format!("/repos/{}/pulls/{pr}/reviews", app.gh.repo());
    app.gh.fail_next("GET", &reviews, 502);
    app.merge(pr).await;
    app.expect_issued(&user).await;
}

#[tokio::test]
async fn an_expired_installation_token_is_replaced() {
    let app = world().await;
    let (pr, _) = app.request_pr("bob").await;
    app.pr_action(pr, "opened").await;
    let issued = app.gh.tokens_issued();
    // GitHub stops accepting the token before keygate expected: every request that meets
    // the 401 gets a new one, and the work goes through.
    app.gh.expire_tokens();
    let mut counts = Vec::new();
    for _ in 0..3 {
        let (pr, user) = app.request_pr("bob").await;
        app.approve(pr, "carol");
        app.merge(pr).await;
        app.expect_issued(&user).await;
        counts.push(app.gh.tokens_issued());
    }
    let replaced = counts[0];
    assert!(replaced > issued, "a new token");
    // Then it is cached: later deliveries mint none.
    assert_eq!(counts[1..], [replaced, replaced], "cached");
}

#[tokio::test]
async fn two_deliveries_of_one_merge_arriving_together_issue_one_key() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.gh.merge(pr);
    let (a, b, c) = tokio::join!(
        app.pr_event(pr, "closed"),
        app.pr_event(pr, "closed"),
        app.pr_event(pr, "closed")
    );
    let accepted = (202, 202, 202);
    assert_eq!(
        (a, b, c),
        accepted,
        "three GUIDs, three accepted deliveries"
    );
    app.settle().await;
    app.expect_issued(&user).await;
}

#[tokio::test]
async fn a_codeowners_change_undone_by_a_later_commit_still_refuses_a_rebase_merge() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let request = valid_request(&user);
    let pr = app.gh.open_pr_with_changes(
        "bob",
        &[
            Change::Write(&path(&user), &request),
            Change::Write(".github/CODEOWNERS", "/requests/ @mallory\n"),
        ],
    );
    let undo = Change::Write(".github/CODEOWNERS", CODEOWNERS);
    app.gh.push_changes(pr, "bob", &[undo]);
    app.approve(pr, "mallory");
    app.gh.rebase_merge(pr);
    app.pr_action(pr, "closed").await;
    // mallory owned the path only inside the pull request.
    app.expect_refused(pr, &user, &["CODEOWNERS"]).await;
}

#[tokio::test]
async fn a_lost_create_access_key_answer_leaves_no_key_without_its_secret() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.aws
        .proxy
        .lose_answer("CreateAccessKey", 500, "ServiceFailure");
    app.approve(pr, "carol");
    app.merge(pr).await;
    let why = "the key made behind the lost answer was deleted, one issued";
    app.aws.one_key_held_by_its_secret(&user, why).await;
}

#[tokio::test]
async fn a_folder_that_spells_the_user_in_another_case_is_refused() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let other_case = user.to_uppercase();
    let pr = app
        .gh
        .open_pr("bob", &[(&path(&other_case), &valid_request(&other_case))]);
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_no_key(&user).await;
    let comment = app.comment(pr);
    let refused = comment.contains(&format!("IAM knows this user as `{user}`"))
        || comment.contains("does not exist");
    assert!(refused, "{comment}");
}

#[tokio::test]
async fn two_requests_for_one_user_in_one_pull_request_get_two_secrets() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let (a, b) = (
        format!("requests/{user}/a.toml"),
        format!("requests/{user}/b.toml"),
    );
    let (backups, overlap) = (
        valid_request(&user),
        request(&user, "Rotation overlap for the backup job"),
    );
    let pr = app.gh.open_pr("bob", &[(&a, &backups), (&b, &overlap)]);
    app.approve(pr, "carol");
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 2);
    assert_eq!(app.aws.secrets_named(&format!("{user}/")).await.len(), 2);
    app.expect_notices(&["issued", "issued"]).await;
}

#[tokio::test]
async fn a_pull_request_that_cannot_be_read_fails_closed_on_both_channels() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    // GitHub answers the files list with an error no retry will fix (a 403 from the
    // stand-in is a rate limit, which keygate rightly retries).
    let files = format!("/repos/{}/pulls/{pr}/files", app.gh.repo());
    app.gh.fail_next("GET", &files, 404);
    app.merge(pr).await;
    app.expect_failed(pr, &user, &["could not finish"]).await;
}

/// On DynamoDB and SQS (`KEYGATE_TEST_BACKEND=aws`; a no-op on the embedded backend): what
/// accepting a delivery and issuing its key cost in ledger and queue calls. The README's
/// figures come from this test's output.
#[tokio::test]
async fn on_the_shared_backends_accepting_costs_three_calls_and_issuing_a_known_few() {
    if !crate::support::app::on_shared_backend() {
        return;
    }
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.settle().await;
    app.aws.notices().await;
    app.gh.merge(pr);
    let before = app.aws.proxy.operations().len();
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    let accepted = app.aws.proxy.operations().len();
    // Waits through the test's own clients (not keygate's proxy) so that /readyz's counting
    // queries stay out of the figures.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut events = Vec::new();
    while !events.iter().any(|e| e == "issued") {
        assert!(std::time::Instant::now() < deadline, "never issued");
        events.extend(
            app.aws
                .notices()
                .await
                .iter()
                .map(|n| n.event().to_string()),
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The message is deleted after the notice: wait for it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ops = app.aws.proxy.operations();
    // The consumer may take the message before the test reads the `202`: the acceptance is
    // what led up to its message, less the consumer's idle long polls.
    let sent = before
        + ops[before..accepted]
            .iter()
            .position(|op| op == "SendMessage")
            .expect("the delivery was announced");
    let ingest: Vec<&str> = ops[before..=sent]
        .iter()
        .map(String::as_str)
        .filter(|op| *op != "ReceiveMessage")
        .collect();
    println!("accepting ({}): {}", ingest.len(), ingest.join(", "));
    // No read first: the write's condition says whether the ID was seen before.
    assert_eq!(
        ingest,
        ["Query", "TransactWriteItems", "SendMessage"],
        "look for work to join, write it, announce it"
    );
    let work: Vec<&String> = ops[sent + 1..]
        .iter()
        // An idle long poll or lease upkeep may fall in the window; they are not the work's.
        .filter(|op| *op != "ReceiveMessage" && *op != "ChangeMessageVisibility")
        .collect();
    let ledger_and_queue = work
        .iter()
        .filter(|op| LEDGER_AND_QUEUE_CALLS.contains(&op.as_str()))
        .count();
    println!(
        "issuing ({} calls, {ledger_and_queue} of them ledger and queue): {}",
        work.len(),
        work.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let count = |name: &str| work.iter().filter(|op| op.as_str() == name).count();
    assert_eq!(count("CreateAccessKey"), 1);
    assert_eq!(
        count("DeleteMessage"),
        1,
        "the message, once the work is done"
    );
    // 7 GetItem, 9 TransactWriteItems, 2 Query, 2 PutItem, the lease's UpdateItem and the
    // DeleteMessage (the book's "What one request costs" says what each is for). A lease
    // renewal would add one, but none is due within this test's seconds.
    assert_eq!(
        ledger_and_queue, 22,
        "the ledger's steps changed: {ledger_and_queue}"
    );
    app.aws.one_key_held_by_its_secret(&user, "issued").await;
}

#[tokio::test]
async fn a_rebase_merge_of_a_request_pull_request_with_two_commits_issues() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.amend_request(
        pr,
        "bob",
        &user,
        "Nightly backups copy to S3, and restore tests",
    );
    app.approve(pr, "carol");
    app.gh.rebase_merge(pr);
    app.pr_action(pr, "closed").await;
    // The merge's first parent is the pull request's own first commit, rebased: the file is
    // there already, yet the base the pull request landed on did not have it.
    app.expect_issued(&user).await;
}

#[tokio::test]
async fn a_squash_merge_of_a_request_pull_request_with_two_commits_issues() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.amend_request(
        pr,
        "bob",
        &user,
        "Nightly backups copy to S3, and restore tests",
    );
    app.approve(pr, "carol");
    app.gh.squash_merge(pr);
    app.pr_action(pr, "closed").await;
    app.expect_issued(&user).await;
}
