//! The `keygate` check run before merge (DESIGN §4): what requesters and approvers see.

use crate::support::github::ReviewState::Approve;
use crate::support::payloads::pull_request_review_event;
use crate::support::story::{REASON, check_text, notice_text, redact, valid_request};
use crate::support::world::{path, world};

/// A request file that names a user but gives too short a reason (line 2).
fn too_short(user: &str) -> String {
    format!("iam_user = \"{user}\"\nreason = \"too short\"\n")
}

#[tokio::test]
async fn a_valid_request_waits_for_its_owners_and_tells_approvers_once() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.pr_action(pr, "opened").await;

    let run = app.head_check(pr);
    assert_eq!(run.name, "keygate");
    let notices = app.expect_notices(&["requested"]).await;
    let user = [(user.as_str(), "[user]")];
    insta::assert_snapshot!(redact(&check_text(&run), &user), @r"
        [in_progress] Waiting for approval: needs 1 more approval from @acme/security

        ### `requests/[user]/ci.toml`

        - IAM user: `[user]`
        - Reason: Nightly backups copy to S3
        - Expires: 30 days after issue
        - Can approve: @acme/security
        - Approved on the current head: nobody yet (0 of 1 needed)
        - Still needed: needs 1 more approval from `@acme/security`

        keygate checks the approval again on its own when the pull request is merged.
        ");
    // The reason reaches approvers, with the pull request's URL.
    insta::assert_snapshot!(redact(&notice_text(&notices[0]), &user), @r"
        keygate: access key requested for [user] (acme/access-requests#1)

        keygate: access key requested for [user].

        IAM user:      [user]
        Requester:     @bob
        Expires after: 30 days
        Request file:  requests/[user]/ci.toml
        Pull request:  https://github.com/acme/access-requests/pull/1
        Reason:
          Nightly backups copy to S3
        ");
    assert!(notices[0].message.contains(REASON));
    assert!(notices[0].message.contains(&format!("/pull/{pr}")));

    // Another event on the same request does not notify again.
    app.pr_action(pr, "edited").await;
    app.expect_notices(&[]).await;
}

#[tokio::test]
async fn a_review_that_completes_approval_turns_the_check_green() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.pr_action(pr, "opened").await;
    app.submit_review(pr, "carol", Approve).await;

    // One check run per head commit, updated.
    let run = app.head_check(pr);
    insta::assert_snapshot!(redact(&check_text(&run), &[(&user, "[user]")]), @r"
        [completed: success] Approved: merging now issues the key

        ### `requests/[user]/ci.toml`

        - IAM user: `[user]`
        - Reason: Nightly backups copy to S3
        - Expires: 30 days after issue
        - Can approve: @acme/security
        - Approved on the current head: @carol (1 of 1 needed)
        - @carol's approval counts until [time] (UTC); merge before then or ask again

        keygate checks the approval again on its own when the pull request is merged.
        ");
}

#[tokio::test]
async fn a_push_after_approval_makes_it_stale_on_the_new_head() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.amend_request(pr, "bob", &user, "Nightly backups copy to S3, and restores");
    app.pr_action(pr, "synchronize").await;

    let run = app.head_check(pr);
    assert_eq!(run.status, "in_progress");
    let summary = run.summary.unwrap_or_default();
    assert!(summary.contains("older commit"), "{summary}");
}

#[tokio::test]
async fn an_invalid_request_fails_the_check_with_an_annotation_on_its_line() {
    let app = world().await;
    let (pr, user) = app.request_pr_with("bob", too_short, &[]).await;
    app.pr_action(pr, "opened").await;

    let run = app.head_check(pr);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let a = &run.annotations[0];
    assert_eq!((a.path.as_str(), a.start_line), (path(&user).as_str(), 2));
    // An invalid request is not announced to approvers.
    app.expect_notices(&[]).await;
}

#[tokio::test]
async fn touching_codeowners_beside_a_request_fails_the_check() {
    let app = world().await;
    let codeowners = [(".github/CODEOWNERS", "* @bob\n")];
    let (pr, _) = app.request_pr_with("bob", valid_request, &codeowners).await;
    app.pr_action(pr, "opened").await;

    let run = app.head_check(pr);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(run.summary.unwrap_or_default().contains("CODEOWNERS"));
}

#[tokio::test]
async fn a_pull_request_without_requests_passes_so_a_required_check_never_blocks_it() {
    let app = world().await;
    let pr = app.gh.open_pr("bob", &[("docs/usage.md", "hello")]);
    app.pr_action(pr, "opened").await;

    let run = app.head_check(pr);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title.as_deref(), Some("No request files"));
}

#[tokio::test]
async fn updating_a_failing_check_does_not_pile_up_its_annotations() {
    let app = world().await;
    let (pr, _) = app.request_pr_with("bob", too_short, &[]).await;
    app.pr_action(pr, "opened").await;
    app.pr_action(pr, "edited").await;

    let run = app.head_check(pr);
    assert_eq!(run.updates, 1, "the second event updated the same run");
    assert_eq!(run.annotations.len(), 1, "one problem, one annotation");
}

#[tokio::test]
async fn a_dismissed_approval_reopens_the_wait() {
    let app = world().await;
    let (pr, _) = app.request_pr("bob").await;
    let review = app.submit_review(pr, "carol", Approve).await;
    assert_eq!(app.head_check(pr).conclusion.as_deref(), Some("success"));

    app.gh.dismiss(pr, review);
    let dismissed = pull_request_review_event(&app.gh, pr, review, "dismissed");
    assert_eq!(app.deliver("pull_request_review", &dismissed).await, 202);
    app.settle().await;

    // A completed run is not reopened: the new verdict is a new run (listed last).
    let runs = app.gh.check_runs(&app.gh.head_sha(pr));
    let latest = runs.last().unwrap();
    assert_eq!(latest.status, "in_progress", "{latest:#?}");
    let title = latest.title.clone().unwrap_or_default();
    assert!(title.contains("Waiting for approval"), "{title}");
}
