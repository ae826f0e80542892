//! Issue on merge (DESIGN §2, §3): stories from pull request to key, and every way a key
//! must not appear.

use crate::support::github::ReviewState::{Approve, Comment, RequestChanges};
use crate::support::world::{open_request, path, request, world, world_with};

#[tokio::test]
async fn approved_merge_issues_key_stores_secret_comments_and_notifies() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;

    let keys = app.aws.access_keys(&user).await;
    assert_eq!(keys.len(), 1, "one key in IAM");
    let secret_name = app.aws.secrets_named(&format!("{user}/access-key-")).await;
    assert_eq!(secret_name.len(), 1);
    let value = app.aws.secret(&secret_name[0]).await.unwrap();
    assert_eq!(value["AccessKeyId"], keys[0].as_str());
    let secret_key = value["SecretAccessKey"].as_str().unwrap().to_string();
    assert!(!secret_key.is_empty());

    let comment = app.comment(pr);
    assert!(comment.contains(&secret_name[0]), "{comment}");
    assert!(comment.contains(&keys[0]), "{comment}");
    assert!(comment.contains("eventually consistent"), "{comment}");
    assert!(
        !comment.contains(&secret_key),
        "the comment leaks the secret key"
    );

    let notices = app.aws.notices().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let n = &notices[0];
    assert_eq!(n.event(), "issued");
    assert_eq!(n.attributes["iam_user"], user);
    assert_eq!(n.attributes["requester"], "bob");
    assert_eq!(n.attributes["repository"], app.gh.repo());
    assert_eq!(
        n.attributes["notice_id"].len(),
        24,
        "a stable ID subscribers can drop repeats by"
    );
    assert!(
        n.subject.len() < 100 && n.subject.contains(&user),
        "{}",
        n.subject
    );
    assert!(n.message.contains(&secret_name[0]) && !n.message.contains(&secret_key));
    assert!(
        app.gh.unknown_requests().is_empty(),
        "{:?}",
        app.gh.unknown_requests()
    );
}

#[tokio::test]
async fn merge_without_owner_approval_issues_nothing() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "mallory", Approve);
    app.merge(pr).await;

    assert!(app.aws.access_keys(&user).await.is_empty());
    let comment = app.comment(pr);
    assert!(comment.contains("refused"), "{comment}");
    assert!(
        comment.contains("@acme/security"),
        "says who could approve: {comment}"
    );
    assert!(
        comment.contains("@mallory"),
        "says whose approval did not count: {comment}"
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["refused"]
    );
}

#[tokio::test]
async fn approval_given_before_the_last_push_does_not_count() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.push(
        pr,
        "bob",
        &[(
            &path(&user),
            &request(&user, "Nightly backups copy to S3, and restores"),
        )],
    );
    app.merge(pr).await;

    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.comment(pr).contains("older commit"),
        "{}",
        app.comment(pr)
    );
}

#[tokio::test]
async fn an_owner_approving_their_own_request_does_not_count() {
    let app = world().await;
    let (pr, user) = open_request(&app, "carol").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
}

#[tokio::test]
async fn an_owner_who_pushed_to_the_pull_request_cannot_approve_it() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.push(
        pr,
        "dave",
        &[(
            &path(&user),
            &request(&user, "Nightly backups copy to S3 buckets"),
        )],
    );
    app.gh.review(pr, "dave", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(app.comment(pr).contains("pushed"), "{}", app.comment(pr));
}

#[tokio::test]
async fn outstanding_changes_requested_by_an_owner_blocks() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "dave", RequestChanges);
    app.gh.review(pr, "carol", Approve);
    app.gh.review(pr, "dave", Comment);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.comment(pr).contains("requested changes"),
        "{}",
        app.comment(pr)
    );
}

#[tokio::test]
async fn a_pending_team_member_is_not_an_owner() {
    let app = world().await;
    app.gh.add_pending_member("acme/security", "frank");
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "frank", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
}

#[tokio::test]
async fn two_approvals_required_means_two_distinct_owners() {
    let app = world_with("[policy]\nmin_approvals = 2\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());

    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.review(pr, "dave", Approve);
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
}

#[tokio::test]
async fn a_pull_request_that_also_changes_codeowners_issues_nothing() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let pr = app.gh.open_pr(
        "bob",
        &[
            (&path(&user), &request(&user, "Nightly backups copy to S3")),
            (".github/CODEOWNERS", "/requests/ @bob\n"),
        ],
    );
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.comment(pr).contains("CODEOWNERS"),
        "{}",
        app.comment(pr)
    );
}

#[tokio::test]
async fn an_invalid_line_in_the_base_codeowners_refuses_and_names_the_line() {
    let app = world().await;
    app.gh.commit_to_main(&[(
        ".github/CODEOWNERS",
        "/requests/ @acme/security\n!/requests/x/ @bob\n",
    )]);
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(app.comment(pr).contains("line 2"), "{}", app.comment(pr));
}

#[tokio::test]
async fn an_invalid_request_file_is_refused_with_file_and_line() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let text =
        format!("iam_user = \"{user}\"\nreason = \"Nightly backups copy to S3\"\nexpires = 30\n");
    let pr = app.gh.open_pr("bob", &[(&path(&user), &text)]);
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    let comment = app.comment(pr);
    assert!(
        comment.contains(&format!("{}:3:1", path(&user))),
        "{comment}"
    );
    let notices = app.aws.notices().await;
    assert_eq!(notices[0].event(), "refused");
}

#[tokio::test]
async fn modifying_a_merged_request_file_issues_nothing() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    app.aws.notices().await;

    let pr2 = app.gh.open_pr(
        "bob",
        &[(
            &path(&user),
            &request(&user, "Changed my mind about the reason"),
        )],
    );
    app.gh.review(pr2, "carol", Approve);
    app.merge(pr2).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1, "no second key");
    assert!(
        app.comment(pr2).contains("never changes"),
        "{}",
        app.comment(pr2)
    );
}

#[tokio::test]
async fn a_user_with_two_keys_gets_a_failed_notice_and_no_third() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    for _ in 0..2 {
        app.aws
            .iam
            .create_access_key()
            .user_name(&user)
            .send()
            .await
            .unwrap();
    }
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 2);
    assert!(
        app.comment(pr).contains("already has 2 access keys"),
        "{}",
        app.comment(pr)
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["failed"]
    );
}

#[tokio::test]
async fn closing_without_merge_publishes_rejected() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.close(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    app.settle().await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    let notices = app.aws.notices().await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].event(), "rejected");
    assert_eq!(notices[0].attributes["iam_user"], user);
}

#[tokio::test]
async fn the_same_delivery_twice_and_a_redelivery_issue_one_key() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.merge(pr);
    let payload = crate::support::payloads::pull_request_event(&app.gh, pr, "closed");
    let d = crate::support::payloads::delivery(
        "pull_request",
        &payload,
        crate::support::app::WEBHOOK_SECRET.as_bytes(),
    );
    assert_eq!(app.redeliver(&d).await, 202);
    assert_eq!(
        app.redeliver(&d).await,
        200,
        "a repeated GUID is answered 200"
    );
    app.settle().await;
    // GitHub's "Redeliver" sends the same payload under a new GUID.
    assert_eq!(app.deliver("pull_request", &payload).await, 202);
    app.settle().await;

    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
    assert_eq!(app.aws.secrets_named(&format!("{user}/")).await.len(), 1);
    let events: Vec<String> = app
        .aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["issued"], "one notice, not one per delivery");
    assert_eq!(app.gh.comment_views(pr).len(), 1);
}

#[tokio::test]
async fn a_secret_that_cannot_be_stored_leaves_no_key_behind() {
    // A predictable name lets the test take it first, so CreateSecret fails for real.
    let app = world_with("[aws]\nsecret_name = \"{iam_user}/pr-{pr}\"\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    app.aws
        .secrets
        .create_secret()
        .name(format!("{user}/pr-{pr}"))
        .secret_string("taken")
        .send()
        .await
        .unwrap();
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;

    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "the new key was deleted again"
    );
    let comment = app.comment(pr);
    assert!(comment.contains("could not be stored"), "{comment}");
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["failed"]
    );
}

#[tokio::test]
async fn a_transient_secrets_manager_error_is_retried_and_issues_once() {
    use crate::support::faults::Fault;
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.aws.proxy.inject(
        "CreateSecret",
        Fault::Fail {
            status: 503,
            code: "ServiceUnavailable",
        },
        4,
    );
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    app.aws
        .one_key_held_by_its_secret(&user, "exactly one key survives the retries")
        .await;
}

#[tokio::test]
async fn a_denied_user_is_refused() {
    let app = world_with("[policy]\ndenied_users = [\"svc-*\"]\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.comment(pr).contains("denied_users"),
        "{}",
        app.comment(pr)
    );
}

#[tokio::test]
async fn a_merge_into_another_branch_issues_nothing() {
    let app = world_with("[github]\nbranch = \"release\"\n").await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 200, "ignored at the door");
    assert!(app.aws.access_keys(&user).await.is_empty());
}

/// The README states these numbers; this test keeps them true.
#[tokio::test]
async fn one_single_file_request_costs_a_known_number_of_calls() {
    let app = world().await;
    let (pr, _) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
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
    assert_eq!(
        aws,
        [
            "GetUser",
            "ListAccessKeys",
            "CreateAccessKey",
            "CreateSecret",
            "Publish"
        ]
    );
    assert_eq!(github.len(), 18, "{github:#?}");
    assert_eq!(
        github.iter().filter(|c| c.contains("CODEOWNERS")).count(),
        3,
        "GitHub's three CODEOWNERS locations, read side by side"
    );
}

#[tokio::test]
async fn every_page_of_reviews_and_files_is_read() {
    let app = world().await;
    app.gh.set_page_size_cap(1);
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "mallory", Comment);
    app.gh.review(pr, "erin", Comment);
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert_eq!(
        app.aws.access_keys(&user).await.len(),
        1,
        "the approval on page 3 counted"
    );
}

#[tokio::test]
async fn a_github_server_error_is_retried() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.fail_next(
        "GET",
        &format!("/repos/{}/pulls/{pr}/reviews", app.gh.repo()),
        502,
    );
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
}

#[tokio::test]
async fn an_expired_installation_token_is_replaced() {
    let app = world().await;
    let (pr, _) = open_request(&app, "bob").await;
    app.pr_event(pr, "opened").await;
    app.settle().await;
    let issued = app.gh.tokens_issued();
    // GitHub stops accepting the token before keygate expected: every request that meets
    // the 401 gets a new one, and the work goes through.
    app.gh.expire_tokens();
    let (pr2, user2) = open_request(&app, "bob").await;
    app.gh.review(pr2, "carol", Approve);
    app.merge(pr2).await;
    assert_eq!(app.aws.access_keys(&user2).await.len(), 1);
    let replaced = app.gh.tokens_issued();
    assert!(replaced > issued, "a new token");
    // Then it is cached: later deliveries mint none.
    let mut counts = Vec::new();
    for _ in 0..2 {
        let (pr, user) = open_request(&app, "bob").await;
        app.gh.review(pr, "carol", Approve);
        app.merge(pr).await;
        assert_eq!(app.aws.access_keys(&user).await.len(), 1);
        counts.push(app.gh.tokens_issued());
    }
    assert_eq!(counts, [replaced, replaced], "cached");
}

#[tokio::test]
async fn two_deliveries_of_one_merge_arriving_together_issue_one_key() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    app.gh.merge(pr);
    let payload = crate::support::payloads::pull_request_event(&app.gh, pr, "closed");
    let (a, b, c) = tokio::join!(
        app.deliver("pull_request", &payload),
        app.deliver("pull_request", &payload),
        app.deliver("pull_request", &payload)
    );
    assert_eq!(
        (a, b, c),
        (202, 202, 202),
        "three GUIDs, three accepted deliveries"
    );
    app.settle().await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 1);
    assert_eq!(app.aws.secrets_named(&format!("{user}/")).await.len(), 1);
}

#[tokio::test]
async fn a_codeowners_change_undone_by_a_later_commit_still_refuses_a_rebase_merge() {
    use crate::support::github::Change;
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let pr = app.gh.open_pr_with_changes(
        "bob",
        &[
            Change::Write(&path(&user), &request(&user, "Nightly backups copy to S3")),
            Change::Write(".github/CODEOWNERS", "/requests/ @mallory\n"),
        ],
    );
    app.gh.push_changes(
        pr,
        "bob",
        &[Change::Write(
            ".github/CODEOWNERS",
            crate::support::world::CODEOWNERS,
        )],
    );
    app.gh.review(pr, "mallory", Approve);
    app.gh.rebase_merge(pr);
    assert_eq!(app.pr_event(pr, "closed").await, 202);
    app.settle().await;
    assert!(
        app.aws.access_keys(&user).await.is_empty(),
        "mallory owned the path only inside the PR"
    );
    assert!(
        app.comment(pr).contains("CODEOWNERS"),
        "{}",
        app.comment(pr)
    );
}

#[tokio::test]
async fn a_lost_create_access_key_answer_leaves_no_key_without_its_secret() {
    use crate::support::faults::Fault;
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.aws.proxy.inject(
        "CreateAccessKey",
        Fault::FailAfterForward {
            status: 500,
            code: "ServiceFailure",
        },
        1,
    );
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    app.aws
        .one_key_held_by_its_secret(
            &user,
            "the key made behind the lost answer was deleted, one issued",
        )
        .await;
}

#[tokio::test]
async fn a_folder_that_spells_the_user_in_another_case_is_refused() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let other_case = user.to_uppercase();
    let pr = app.gh.open_pr(
        "bob",
        &[(
            &path(&other_case),
            &request(&other_case, "Nightly backups copy to S3"),
        )],
    );
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    let comment = app.comment(pr);
    let refused = comment.contains(&format!("IAM knows this user as `{user}`"))
        || comment.contains("does not exist");
    assert!(refused, "{comment}");
}

#[tokio::test]
async fn two_requests_for_one_user_in_one_pull_request_get_two_secrets() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let a = format!("requests/{user}/a.toml");
    let b = format!("requests/{user}/b.toml");
    let pr = app.gh.open_pr(
        "bob",
        &[
            (&a, &request(&user, "Nightly backups copy to S3")),
            (&b, &request(&user, "Rotation overlap for the backup job")),
        ],
    );
    app.gh.review(pr, "carol", Approve);
    app.merge(pr).await;
    assert_eq!(app.aws.access_keys(&user).await.len(), 2);
    assert_eq!(app.aws.secrets_named(&format!("{user}/")).await.len(), 2);
    let events: Vec<String> = app
        .aws
        .notices()
        .await
        .iter()
        .map(|n| n.event().to_string())
        .collect();
    assert_eq!(events, ["issued", "issued"]);
}

#[tokio::test]
async fn a_pull_request_that_cannot_be_read_fails_closed_on_both_channels() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    app.gh.review(pr, "carol", Approve);
    // GitHub answers the files list with an error no retry will fix (a 403 from the
    // stand-in is a rate limit, which keygate rightly retries).
    app.gh.fail_next(
        "GET",
        &format!("/repos/{}/pulls/{pr}/files", app.gh.repo()),
        404,
    );
    app.merge(pr).await;
    assert!(app.aws.access_keys(&user).await.is_empty());
    assert!(
        app.comment(pr).contains("could not finish"),
        "{}",
        app.comment(pr)
    );
    let notices = app.aws.notices().await;
    assert_eq!(
        notices.iter().map(|n| n.event()).collect::<Vec<_>>(),
        ["failed"]
    );
}
