//! Merge queues (DESIGN §4): on `merge_group` `checks_requested` keygate puts its `keygate`
//! check run on the group's head commit, judged for each pull request in the group as its own
//! check judges it, so a required `keygate` check never stalls the queue and never lets a
//! request through that is not ready.

use crate::support::app::TestApp;
use crate::support::payloads;
use crate::support::world::world;

/// GitHub builds a merge group of `prs` and asks for its checks; keygate answers `202` and
/// has put its check run on the group's head when this returns.
async fn queue(app: &TestApp, prs: &[u64]) -> crate::support::github::CheckRunView {
    let group = app.gh.queue_merge_group(prs);
    let last = prs[prs.len() - 1];
    let event = payloads::merge_group_event(&app.gh, last, &group, "main");
    assert_eq!(app.deliver("merge_group", &event).await, 202);
    app.settle().await;
    app.check(&group.0)
}

#[tokio::test]
async fn a_merge_group_of_approved_requests_passes_its_keygate_check() {
    let app = world().await;
    let (first, _) = app.request_pr("bob").await;
    app.approve(first, "carol");
    let (second, _) = app.request_pr("dave").await;
    app.approve(second, "carol");

    let run = queue(&app, &[first, second]).await;
    let verdict = (run.status.as_str(), run.conclusion.as_deref());
    assert_eq!(verdict, ("completed", Some("success")), "{run:#?}");
    let summary = run.summary.unwrap_or_default();
    for pr in [first, second] {
        assert!(summary.contains(&format!("#{pr}: ready")), "{summary}");
    }
}

#[tokio::test]
async fn a_merge_group_that_holds_a_request_still_waiting_for_approval_fails() {
    let app = world().await;
    let (waiting, _) = app.request_pr("bob").await;
    let (approved, _) = app.request_pr("dave").await;
    app.approve(approved, "carol");

    // The group's branch names the approved one; its commits name both.
    let run = queue(&app, &[waiting, approved]).await;
    let verdict = (run.status.as_str(), run.conclusion.as_deref());
    assert_eq!(verdict, ("completed", Some("failure")), "{run:#?}");
    let summary = run.summary.unwrap_or_default();
    assert!(
        summary.contains(&format!("#{waiting}: not ready"))
            && summary.contains(&format!("#{approved}: ready")),
        "{summary}"
    );
}
