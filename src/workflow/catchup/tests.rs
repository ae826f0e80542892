use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::facts::{ChangedFile, FileStatus};
use crate::github::client::ClockReading;
use crate::ids::RepoName;
use crate::ledger::CatchUpProgress;
use crate::request::RequestRules;

fn pull(merged_at: Option<OffsetDateTime>) -> ListedPull {
    ListedPull {
        number: 7,
        state: crate::github::client::PullState::Closed,
        merged_at,
        updated_at: merged_at,
        merge_commit_sha: Some("a".repeat(40)),
        head_sha: "b".repeat(40),
        base_ref: "main".into(),
    }
}

fn updated(number: u64, at: OffsetDateTime) -> ListedPull {
    ListedPull {
        number,
        updated_at: Some(at),
        ..pull(Some(at))
    }
}

const MARK: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn rules() -> RequestRules {
    RequestRules {
        requests_dir: "requests".into(),
        default_expiry_days: 90,
        max_expiry_days: 365,
        allowed_users: vec!["*".into()],
        denied_users: vec![],
        allowed_readers: vec![],
        secret_name_template: "{iam_user}/access-key-{timestamp}".into(),
        accounts: vec![],
    }
}

fn file(path: &str, status: FileStatus) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        status,
    }
}

#[test]
fn a_merge_after_the_watermark_is_judged_at_its_merge_commit() {
    let p = pull(Some(datetime!(2026-01-02 00:00 UTC)));
    assert_eq!(
        judge_closed(&p, MARK),
        Closed::Merged {
            merge_commit: CommitSha::new("a".repeat(40))
        }
    );
}

#[test]
fn a_merge_before_the_watermark_never_settles() {
    let p = pull(Some(datetime!(2025-12-31 23:59 UTC)));
    assert_eq!(judge_closed(&p, MARK), Closed::BeforeWatermark);
}

#[test]
fn a_pull_request_closed_without_merge_or_without_a_merge_commit_is_ignored() {
    assert_eq!(judge_closed(&pull(None), MARK), Closed::Ignore);
    let mut p = pull(Some(datetime!(2026-01-02 00:00 UTC)));
    p.merge_commit_sha = None;
    assert_eq!(judge_closed(&p, MARK), Closed::Ignore);
}

#[test]
fn the_synthetic_delivery_id_is_the_same_on_every_pass_and_differs_by_commit() {
    let repo = RepoName::new("Acme/Requests".to_string());
    let a = delivery_id(&repo, 7, "abc");
    assert_eq!(a, delivery_id(&repo, 7, "abc"));
    assert_ne!(a, delivery_id(&repo, 7, "abd"));
    assert_ne!(a, delivery_id(&repo, 8, "abc"));
    assert!(a.as_str().starts_with("keygate-reconcile-"), "{a:?}");
}

#[test]
fn only_request_files_make_a_pull_request_worth_catching_up_on() {
    let rules = rules();
    assert!(!touches_requests(
        &[file("README.md", FileStatus::Modified)],
        &rules
    ));
    assert!(!touches_requests(
        &[file("requests/README.md", FileStatus::Modified)],
        &rules
    ));
    assert!(touches_requests(
        &[file("requests/bob/ci.toml", FileStatus::Removed)],
        &rules
    ));
    assert!(touches_requests(
        &[file(
            "elsewhere/ci.toml",
            FileStatus::Renamed {
                from: "requests/bob/ci.toml".into()
            }
        )],
        &rules
    ));
}

#[test]
fn a_files_list_as_long_as_github_lists_never_proves_a_merge_touches_no_request() {
    let rules = rules();
    assert!(proves_no_requests(
        &[file("docs/guide.md", FileStatus::Modified)],
        &rules
    ));
    assert!(!proves_no_requests(
        &[file("requests/bob/ci.toml", FileStatus::Added)],
        &rules
    ));
    let capped: Vec<ChangedFile> = (0..MOST_FILES_LISTED)
        .map(|i| file(&format!("docs/{i}.md"), FileStatus::Added))
        .collect();
    assert!(
        !proves_no_requests(&capped, &rules),
        "GitHub may have left request files off"
    );
}

#[test]
fn the_first_pass_looks_from_the_watermark_and_at_every_open_pull_request() {
    let w = window(MARK, None);
    assert_eq!((w.since, w.from_ms, w.fresh), (MARK, ms(MARK), true));
}

#[test]
fn a_later_pass_looks_from_where_the_previous_ended_less_the_overlap() {
    let through = datetime!(2026-02-01 12:00 UTC);
    let p = CatchUpProgress {
        from_ms: ms(MARK),
        through_ms: ms(through),
    };
    let w = window(MARK, Some(p));
    assert_eq!(w.since, through - OVERLAP);
    assert_eq!((w.from_ms, w.fresh), (ms(MARK), false));
    // Never before the watermark, and a watermark set later than the progress's start is
    // covered by it.
    let later_mark = datetime!(2026-02-01 11:55 UTC);
    assert_eq!(window(later_mark, Some(p)).since, later_mark);
}

#[test]
fn a_watermark_set_earlier_than_the_progress_began_starts_afresh() {
    let p = CatchUpProgress {
        from_ms: ms(MARK),
        through_ms: ms(datetime!(2026-02-01 12:00 UTC)),
    };
    let earlier = datetime!(2025-06-01 00:00 UTC);
    let w = window(earlier, Some(p));
    assert_eq!((w.since, w.from_ms, w.fresh), (earlier, ms(earlier), true));
}

#[test]
fn a_page_is_read_only_down_to_the_window() {
    let since = datetime!(2026-02-01 00:00 UTC);
    let page = vec![
        updated(3, datetime!(2026-02-03 00:00 UTC)),
        updated(2, since),
        updated(1, datetime!(2026-01-31 23:59:59 UTC)),
    ];
    let (kept, reached) = within(page.clone(), Some(since));
    assert_eq!(kept.iter().map(|p| p.number).collect::<Vec<_>>(), [3, 2]);
    assert!(reached, "the next pages are older still");
    let (kept, reached) = within(page[..2].to_vec(), Some(since));
    assert_eq!((kept.len(), reached), (2, false));
    let (kept, reached) = within(page, None);
    assert_eq!((kept.len(), reached), (3, false), "no window: every one");
}

#[test]
fn a_pass_gets_as_far_as_githubs_clock_at_its_first_answer() {
    let w = window(MARK, None);
    let date = datetime!(2026-03-01 10:00 UTC);
    let latest = datetime!(2026-03-01 09:00 UTC);
    let p = progress_after(w, Some(date), Some(latest)).unwrap();
    assert_eq!((p.from_ms, p.through_ms), (ms(MARK), ms(date)));
    // Without a Date header, as far as the latest update it saw.
    assert_eq!(
        progress_after(w, None, Some(latest)).map(|p| p.through_ms),
        Some(ms(latest))
    );
    assert_eq!(progress_after(w, None, None), None, "nothing learnt");
}

#[test]
fn the_watermark_moves_to_githubs_clock_by_the_offset_between_the_clocks() {
    let host = datetime!(2026-03-01 12:00:00.400 UTC);
    let created = ms(datetime!(2026-03-01 11:59:00 UTC));
    // This host's clock is an hour fast: the ledger was created an hour earlier on GitHub's.
    let reading = ClockReading {
        github: datetime!(2026-03-01 11:00:00 UTC),
        host,
    };
    assert_eq!(
        created_on_githubs_clock(created, reading).unwrap(),
        ms(datetime!(2026-03-01 10:59:00 UTC))
    );
    // Clocks a whole-second Date apart are the same clock.
    let same = ClockReading {
        github: datetime!(2026-03-01 12:00:00 UTC),
        host,
    };
    assert_eq!(created_on_githubs_clock(created, same).unwrap(), created);
    // A Date from another century moves nothing: the step is tried again later.
    let wrong = ClockReading {
        github: datetime!(9999-12-31 23:59:59 UTC),
        host,
    };
    let e = created_on_githubs_clock(created, wrong).unwrap_err();
    assert!(
        e.is_transient() && e.to_string().contains("more than a day"),
        "{e}"
    );
}
