//! The `keygate` check run before merge (DESIGN §4): what requesters and approvers see.

use crate::support::github::ReviewState::Approve;
use crate::support::world::{open_request, path, request, world};

#[tokio::test]
async fn a_valid_request_waits_for_its_owners_and_tells_approvers_once() {
    let app = world().await;
    let (pr, user) = open_request(&app, "bob").await;
    assert_eq!(app.pr_event(pr, "opened").await, 202);
    app.settle().await;

    let runs = app.gh.check_runs(&app.gh.head_sha(pr));
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (
            run.name.as_str(),
            run.status.as_str(),
            run.conclusion.as_deref()
        ),
        ("keygate", "in_progress", None)
    );
    let title = run.title.clone().unwrap_or_default();
    assert!(
        title.contains("Waiting for approval") && title.contains("@acme/security"),
        "{title}"
    );
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains(&format!("IAM user: `{user}`")) && summary.contains("Expires: 30 days"),
        "{summary}"
    );

    let notices = app.aws.notices().await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].event(), "requested");
    assert!(
        notices[0].message.contains("Nightly backups copy to S3"),
        "the reason reaches approvers"
    );
    assert!(
        notices[0].message.contains(&format!("/pull/{pr}")),
        "with the pull request's URL"
    );

    // Another event on the same request does not notify again.
    app.pr_event(pr, "edited").await;
    app.settle().await;
    assert!(app.aws.notices().await.is_empty());
}

#[tokio::test]
async fn a_review_that_completes_approval_turns_the_check_green() {
    let app = world().await;
    let (pr, _) = open_request(&app, "bob").await;
    app.pr_event(pr, "opened").await;
    app.settle().await;
    let review = app.gh.review(pr, "carol", Approve);
    assert_eq!(app.review_event(pr, review).await, 202);
    app.settle().await;

    let runs = app.gh.check_runs(&app.gh.head_sha(pr));
    assert_eq!(runs.len(), 1, "one check run per head commit, updated");
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    assert!(
        runs[0]
            .summary
            .clone()
            .unwrap_or_default()
            .contains("Approved on the current head: @carol")
    );
}

#[tokio::test]
async fn a_push_after_approval_makes_it_stale_on_the_new_head() {
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
    app.pr_event(pr, "synchronize").await;
    app.settle().await;

    let run = &app.gh.check_runs(&app.gh.head_sha(pr))[0];
    assert_eq!(run.status, "in_progress");
    let summary = run.summary.clone().unwrap_or_default();
    assert!(summary.contains("older commit"), "{summary}");
}

#[tokio::test]
async fn an_invalid_request_fails_the_check_with_an_annotation_on_its_line() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let text = format!("iam_user = \"{user}\"\nreason = \"too short\"\n");
    let pr = app.gh.open_pr("bob", &[(&path(&user), &text)]);
    app.pr_event(pr, "opened").await;
    app.settle().await;

    let run = &app.gh.check_runs(&app.gh.head_sha(pr))[0];
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let a = &run.annotations[0];
    assert_eq!((a.path.as_str(), a.start_line), (path(&user).as_str(), 2));
    assert!(
        app.aws.notices().await.is_empty(),
        "an invalid request is not announced to approvers"
    );
}

#[tokio::test]
async fn touching_codeowners_beside_a_request_fails_the_check() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let pr = app.gh.open_pr(
        "bob",
        &[
            (&path(&user), &request(&user, "Nightly backups copy to S3")),
            (".github/CODEOWNERS", "* @bob\n"),
        ],
    );
    app.pr_event(pr, "opened").await;
    app.settle().await;
    let run = &app.gh.check_runs(&app.gh.head_sha(pr))[0];
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.summary
            .clone()
            .unwrap_or_default()
            .contains("CODEOWNERS")
    );
}

#[tokio::test]
async fn a_pull_request_without_requests_passes_so_a_required_check_never_blocks_it() {
    let app = world().await;
    let pr = app.gh.open_pr("bob", &[("docs/usage.md", "hello")]);
    app.pr_event(pr, "opened").await;
    app.settle().await;
    let run = &app.gh.check_runs(&app.gh.head_sha(pr))[0];
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title.as_deref(), Some("No request files"));
}

#[tokio::test]
async fn updating_a_failing_check_does_not_pile_up_its_annotations() {
    let app = world().await;
    let user = app.aws.iam_user("svc").await;
    let text = format!("iam_user = \"{user}\"\nreason = \"too short\"\n");
    let pr = app.gh.open_pr("bob", &[(&path(&user), &text)]);
    app.pr_event(pr, "opened").await;
    app.settle().await;
    app.pr_event(pr, "edited").await;
    app.settle().await;
    let runs = app.gh.check_runs(&app.gh.head_sha(pr));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].updates, 1, "the second event updated the same run");
    assert_eq!(runs[0].annotations.len(), 1, "one problem, one annotation");
}

#[tokio::test]
async fn a_dismissed_approval_reopens_the_wait() {
    let app = world().await;
    let (pr, _) = open_request(&app, "bob").await;
    let review = app.gh.review(pr, "carol", Approve);
    app.review_event(pr, review).await;
    app.settle().await;
    assert_eq!(
        app.gh.check_runs(&app.gh.head_sha(pr))[0]
            .conclusion
            .as_deref(),
        Some("success")
    );
    app.gh.dismiss(pr, review);
    let status = app
        .deliver(
            "pull_request_review",
            &crate::support::payloads::pull_request_review_event(&app.gh, pr, review, "dismissed"),
        )
        .await;
    assert_eq!(status, 202);
    app.settle().await;
    // A completed run is not reopened: the new verdict is a new run (listed last).
    let runs = app.gh.check_runs(&app.gh.head_sha(pr));
    let latest = runs.last().unwrap();
    assert_eq!(latest.status, "in_progress", "{latest:#?}");
    assert!(
        latest
            .title
            .clone()
            .unwrap_or_default()
            .contains("Waiting for approval")
    );
}
