//! Ways an attacker tried to get a key issued that should not be (DESIGN §2), each closed.

use crate::support::github::Signature;
use crate::support::story::valid_request;
use crate::support::world::{path, world, world_with};

#[tokio::test]
async fn approvals_given_before_a_retarget_do_not_count() {
    let app = world().await;
    app.gh.create_branch("develop", "main");
    let (pr, user) = app.request_pr_on("develop", "bob").await;
    app.approve(pr, "carol");
    app.gh.retarget(pr, "main");

    app.pr_action(pr, "edited").await;
    let run = app.head_check(pr);
    assert_eq!(run.status, "in_progress", "the check says it still waits");
    let summary = run.summary.unwrap_or_default();
    assert!(summary.contains("retargeted"), "and why: {summary}");

    app.merge(pr).await;
    app.expect_refused(pr, &user, &["retargeted"]).await;
}

/// GitHub authenticates a `synchronize`'s sender, not a commit's author. An owner who
/// points the pull request elsewhere, pushes a commit written as the requester's, points it
/// back and approves, pushed all the same: keygate recorded that push while the pull request
/// pointed at another branch.
#[tokio::test]
async fn an_owner_who_pushed_while_the_pull_request_pointed_elsewhere_cannot_approve_it() {
    let app = world().await;
    app.gh.create_branch("scratch", "main");
    let (pr, user) = app.request_pr("bob").await;
    app.gh.retarget_as(pr, "scratch", "carol");
    let reason = "Nightly backups copy to S3, and to a bucket of mine";
    let changed = crate::support::world::request(&user, reason);
    app.gh
        .push_authored_as(pr, "carol", "bob", &[(&path(&user), &changed)]);
    let pushed = app.pr_event(pr, "synchronize").await;
    app.settle().await;
    app.gh.retarget_as(pr, "main", "carol");
    app.pr_action(pr, "edited").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["`@carol` pushed commits to this pull request"])
        .await;
    assert_eq!(pushed, 202, "the push into another branch was recorded");
}

#[tokio::test]
async fn a_merge_into_a_branch_that_differs_only_in_case_is_ignored() {
    let app = world().await;
    app.gh.create_branch("Main", "main");
    app.gh
        .commit_to("Main", &[(".github/CODEOWNERS", "* @mallory\n")]);
    let (pr, user) = app.request_pr_on("Main", "bob").await;
    app.approve(pr, "mallory");
    app.gh.merge(pr);

    assert_eq!(app.pr_event(pr, "closed").await, 200, "ignored at the door");
    app.settle().await;
    app.expect_no_key(&user).await;
}

#[tokio::test]
async fn an_approval_given_after_the_merge_does_not_count() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.gh.merge(pr);
    app.gh.set_clock_offset(60);
    app.approve(pr, "carol");
    app.pr_action(pr, "closed").await;
    app.expect_refused(pr, &user, &["after the pull request was merged"])
        .await;
}

#[tokio::test]
async fn a_marker_in_another_accounts_comment_is_not_keygates() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    let forged = "<!-- keygate:result -->\nkeygate: nothing to see here";
    app.gh.comment_as(pr, "github-actions[bot]", forged);
    app.approve(pr, "carol");
    app.merge(pr).await;

    app.expect_issued(&user).await;
    let views = app.gh.comment_views(pr);
    assert_eq!(views.len(), 2, "keygate wrote its own comment: {views:#?}");
    assert_eq!(views[0].body, forged, "and left the other one alone");
    assert!(views[1].body.contains("issued"), "{}", views[1].body);
}

#[tokio::test]
async fn an_owner_without_write_access_does_not_count() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    // The owning team was given read access only.
    app.gh.set_team_permission("acme/security", Some("pull"));
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["no write access"]).await;
}

#[tokio::test]
async fn a_named_owner_with_read_access_only_does_not_count() {
    let app = world().await;
    app.gh
        .commit_to_main(&[(".github/CODEOWNERS", "/requests/ @carol\n")]);
    let (pr, user) = app.request_pr("bob").await;
    app.gh.set_permission("carol", "read");
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["no write access"]).await;
}

#[tokio::test]
async fn a_files_list_shorter_than_the_changed_files_refuses() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.gh
        .push(pr, "bob", &[("requests/zz-notes.md", "notes\n")]);
    // GitHub lists the request but not the notes.
    app.gh.truncate_files_list(pr, 1);
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["listed 1 of the pull request's 2"])
        .await;
}

#[tokio::test]
async fn a_request_that_is_a_symlink_refuses() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    app.gh
        .commit_to_main(&[("docs/approved.toml", &valid_request(&user))]);
    let pr = app.gh.open_pr("bob", &[("requests/README.md", "notes\n")]);
    app.gh
        .push_symlink(pr, &path(&user), "../../docs/approved.toml");
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["not a regular file"]).await;
}

#[tokio::test]
async fn a_request_already_on_the_base_is_not_added_again() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    // The same file reached the base another way before this merge.
    app.gh
        .commit_to_main(&[(&path(&user), &valid_request(&user))]);
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["already exists on the base branch"])
        .await;
}

#[tokio::test]
async fn unsigned_commits_refuse_when_signatures_are_required_and_signed_ones_issue() {
    let app = world_with("[policy]\nrequire_verified_commits = true\n").await;
    let (pr, user) = app.request_pr("bob").await;
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &user, &["no signature GitHub verified"])
        .await;

    let (signed, other) = app.request_pr("bob").await;
    app.gh
        .set_signature(&app.gh.head_sha(signed), Signature::Valid);
    app.approve(signed, "carol");
    app.merge(signed).await;
    app.expect_issued(&other).await;
}

#[tokio::test]
async fn updating_the_branch_from_the_base_refuses_nothing() {
    let app = world().await;
    let (pr, user) = app.request_pr("bob").await;
    app.gh
        .commit_to_main(&[("README.md", "the base moved on\n")]);
    app.gh.update_branch(pr);
    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_issued(&user).await;
}

#[tokio::test]
async fn more_request_files_than_allowed_are_refused_unread() {
    let app = world_with("[policy]\nmax_requests_per_pr = 2\n").await;
    let (pr, users) = app.requests_pr("bob", 3).await;
    app.pr_action(pr, "opened").await;
    let requests = app.gh.requests();
    let read = requests
        .iter()
        .filter(|(_, p, _)| p.contains("/contents/requests/"));
    assert_eq!(read.count(), 0, "no request file was read");
    assert!(app.notice_events().await.is_empty(), "no requested notice");

    app.approve(pr, "carol");
    app.merge(pr).await;
    app.expect_refused(pr, &users[0], &["max_requests_per_pr"])
        .await;
}
