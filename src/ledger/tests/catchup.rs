//! What catch-up keeps (DESIGN §5): the watermark and its clock, how far catch-up got, and
//! the merges without request files.

use super::*;

fn repo() -> RepoName {
    RepoName::new("acme/access-requests")
}

fn main_branch() -> BranchName {
    BranchName::new("main")
}

pub(super) async fn a_new_ledgers_watermark_is_put_on_githubs_clock_once(l: Ledger) {
    let before = now_ms();
    let w = l.watermark().await.unwrap();
    assert!(w.at_ms > 0 && w.at_ms <= before, "{w:?} vs {before}");
    assert!(w.on_host_clock, "taken on the host's clock when created");
    l.record_delivery(closed("a")).await.unwrap();
    assert_eq!(l.watermark().await.unwrap(), w, "work does not move it");

    let on_github = w.at_ms - 3_600_000;
    let settled = l.settle_watermark(on_github).await.unwrap();
    assert_eq!(
        settled,
        Watermark {
            at_ms: on_github,
            on_host_clock: false
        }
    );
    assert_eq!(l.watermark().await.unwrap(), settled);
    // Once on GitHub's clock it never moves again, whoever asks.
    assert_eq!(l.settle_watermark(w.at_ms).await.unwrap(), settled);
    assert_eq!(l.watermark().await.unwrap(), settled);
}

pub(super) async fn catch_up_progress_is_kept_per_branch_and_only_moves_forward(l: Ledger) {
    assert_eq!(
        l.catch_up_progress(repo(), main_branch()).await.unwrap(),
        None
    );
    let p = CatchUpProgress {
        from_ms: 1_000,
        through_ms: 5_000,
    };
    l.record_catch_up_progress(repo(), main_branch(), p)
        .await
        .unwrap();
    let read = l
        .catch_up_progress(RepoName::new("ACME/Access-Requests"), main_branch())
        .await
        .unwrap();
    assert_eq!(read, Some(p), "the repository in any case");
    let behind = CatchUpProgress {
        from_ms: 1_000,
        through_ms: 4_000,
    };
    l.record_catch_up_progress(repo(), main_branch(), behind)
        .await
        .unwrap();
    assert_eq!(
        l.catch_up_progress(repo(), main_branch()).await.unwrap(),
        Some(p),
        "a pass that got less far changes nothing"
    );
    let further = CatchUpProgress {
        from_ms: 500,
        through_ms: 9_000,
    };
    l.record_catch_up_progress(repo(), main_branch(), further)
        .await
        .unwrap();
    assert_eq!(
        l.catch_up_progress(repo(), main_branch()).await.unwrap(),
        Some(further)
    );
    let other = BranchName::new("release");
    assert_eq!(l.catch_up_progress(repo(), other).await.unwrap(), None);
}

pub(super) async fn merges_without_request_files_are_remembered(l: Ledger) {
    let prs = |n: &[u64]| n.iter().map(|n| PrNumber(*n)).collect::<Vec<_>>();
    let asked = prs(&[11, 12, 1011, 999, 5]);
    assert!(
        l.without_requests(repo(), asked.clone())
            .await
            .unwrap()
            .is_empty()
    );
    // Numbers a thousand apart, and one recorded twice.
    l.record_without_requests(repo(), prs(&[11, 12, 1011]))
        .await
        .unwrap();
    l.record_without_requests(repo(), prs(&[11, 999]))
        .await
        .unwrap();
    l.record_without_requests(repo(), vec![]).await.unwrap();
    let mut found = l.without_requests(repo(), asked).await.unwrap();
    found.sort();
    assert_eq!(found, prs(&[11, 12, 999, 1011]));
    assert!(l.without_requests(repo(), vec![]).await.unwrap().is_empty());
    let other = RepoName::new("acme/other");
    assert!(
        l.without_requests(other, prs(&[11]))
            .await
            .unwrap()
            .is_empty()
    );
    let upper = RepoName::new("ACME/Access-Requests");
    assert_eq!(
        l.without_requests(upper, prs(&[12])).await.unwrap(),
        prs(&[12])
    );
    assert!(
        !l.knows_merge(repo(), PrNumber(11)).await.unwrap(),
        "not a merge keygate acted on"
    );
}
