//! When an approval was given: before a retarget, after the merge, or too long ago.

use super::*;

const MERGED: OffsetDateTime = datetime!(2025-06-02 11:30 UTC);

#[test]
fn approval_given_before_the_retarget_does_not_count() {
    let story = owned_by(&["@bob"])
        .approves(&bob())
        .submitted(Some(datetime!(2025-06-02 10:00 UTC)))
        .retargeted(datetime!(2025-06-02 10:30 UTC), "release");

    let decision = story.decide();
    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
    assert_eq!(
        f.ignored,
        [ignored(
            bob(),
            IgnoredWhy::BeforeRetarget {
                base_ref: "release".into()
            }
        )]
    );
    assert_eq!(
        f.ignored[0].to_string(),
        "@bob approved before the pull request was retargeted to release; approve again"
    );

    let again = story.approves(&bob()); // at EARLIER, after the retarget
    assert!(again.decide().approved());
}

#[test]
fn approval_at_the_very_moment_of_the_retarget_does_not_count() {
    let decision = owned_by(&["@bob"])
        .approves(&bob())
        .retargeted(EARLIER, "release")
        .decide();

    assert!(!decision.approved());
}

#[test]
fn approval_submitted_after_the_merge_never_counts() {
    let decision = owned_by(&["@bob"])
        .merged_at(MERGED)
        .approves(&bob())
        .submitted(Some(datetime!(2025-06-02 11:31 UTC)))
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
    assert_eq!(f.ignored, [ignored(bob(), IgnoredWhy::AfterMerge)]);
    assert_eq!(
        f.ignored[0].to_string(),
        "@bob approved after the pull request was merged, so the approval does not count"
    );
}

#[test]
fn approval_after_the_merge_does_not_replace_a_stale_one_before_it() {
    let decision = owned_by(&["@bob"])
        .merged_at(MERGED)
        .approves_on(&bob(), Some(OLDER))
        .approves(&bob())
        .submitted(Some(datetime!(2025-06-02 12:00 UTC)))
        .decide();

    assert!(!decision.approved());
}

#[test]
fn changes_requested_after_the_merge_does_not_change_the_state_at_merge() {
    let decision = owned_by(&["@bob", "@carol"])
        .merged_at(MERGED)
        .approves(&bob())
        .requests_changes(&carol())
        .submitted(Some(datetime!(2025-06-02 11:45 UTC)))
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Approved);
    assert!(f.blocked_by.is_empty());
}

#[test]
fn dismissal_after_the_merge_does_not_lift_an_objection_at_merge() {
    let decision = owned_by(&["@bob", "@carol"])
        .merged_at(MERGED)
        .approves(&bob())
        .requests_changes(&carol())
        .review_dismissed(&carol())
        .submitted(Some(datetime!(2025-06-02 11:45 UTC)))
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Blocked);
}

#[test]
fn approval_without_a_submission_time_does_not_count_once_time_matters() {
    let at_merge = owned_by(&["@bob"])
        .approvals_last_hours(0)
        .merged_at(MERGED)
        .approves(&bob())
        .submitted(None);
    assert_eq!(
        only(&at_merge.decide()).ignored,
        [ignored(bob(), IgnoredWhy::UnknownTime)]
    );

    let with_window = owned_by(&["@bob"]).approves(&bob()).submitted(None);
    assert!(!with_window.decide().approved());

    // Before the merge, with no window and no retarget, the time decides nothing.
    let untimed = with_window.approvals_last_hours(0);
    assert!(untimed.decide().approved());
}

#[test]
fn approval_older_than_the_window_does_not_count() {
    let decision = owned_by(&["@bob"])
        .approvals_last_hours(24)
        .approves(&bob())
        .submitted(Some(datetime!(2025-06-01 11:59 UTC)))
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
    assert_eq!(
        f.ignored,
        [ignored(
            bob(),
            IgnoredWhy::Expired {
                ttl_hours: 24,
                counted_until: datetime!(2025-06-02 11:59 UTC)
            }
        )]
    );
    assert_eq!(
        f.ignored[0].to_string(),
        "@bob's approval is older than 24 hours (it counted until 2025-06-02T11:59:00Z); \
         approve again"
    );
}

#[test]
fn approval_exactly_as_old_as_the_window_still_counts() {
    let decision = owned_by(&["@bob"])
        .approvals_last_hours(24)
        .approves(&bob())
        .submitted(Some(NOW - time::Duration::hours(24)))
        .decide();

    assert!(decision.approved());
}

#[test]
fn the_default_window_is_a_week() {
    let story = owned_by(&["@bob"]).approves(&bob());
    assert!(
        story
            .judged_at(EARLIER + time::Duration::hours(168))
            .decide()
            .approved()
    );
    let story = owned_by(&["@bob"]).approves(&bob());
    assert!(
        !story
            .judged_at(EARLIER + time::Duration::hours(169))
            .decide()
            .approved()
    );
}

#[test]
fn approval_window_is_measured_at_the_merge_not_when_the_merge_is_processed() {
    let decision = owned_by(&["@bob"])
        .approvals_last_hours(24)
        .merged_at(MERGED)
        .approves(&bob())
        .judged_at(datetime!(2025-07-01 00:00 UTC))
        .decide();

    assert!(decision.approved());
}

#[test]
fn zero_window_means_approvals_never_grow_too_old() {
    let decision = owned_by(&["@bob"])
        .approvals_last_hours(0)
        .approves(&bob())
        .submitted(Some(datetime!(2020-01-01 00:00 UTC)))
        .decide();

    assert!(decision.approved());
    assert_eq!(only(&decision).counted[0].counts_until, None);
    assert_eq!(decision.counts_until(), None);
}

#[test]
fn an_enormous_window_neither_panics_nor_expires() {
    let decision = owned_by(&["@bob"])
        .approvals_last_hours(u64::MAX)
        .approves(&bob())
        .decide();

    assert!(decision.approved());
}

#[test]
fn decision_says_until_when_each_counted_approval_counts() {
    let decision = owned_by(&["@bob"])
        .file(OTHER, &["@carol"])
        .approvals_last_hours(48)
        .approves(&bob())
        .approves(&carol())
        .submitted(Some(datetime!(2025-06-01 09:00 UTC)))
        .decide();

    assert_eq!(
        file(&decision, PATH).counted,
        [CountedApproval {
            reviewer: bob(),
            submitted_at: Some(EARLIER),
            counts_until: Some(datetime!(2025-06-04 11:00 UTC)),
        }]
    );
    assert_eq!(
        file(&decision, OTHER).counted[0].counts_until,
        Some(datetime!(2025-06-03 09:00 UTC))
    );
    assert_eq!(
        decision.counts_until(),
        Some(datetime!(2025-06-03 09:00 UTC))
    );
}

// -- request_expired -------------------------------------------------------------------------

const OPENED: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

#[test]
fn unapproved_request_expires_after_its_window() {
    assert!(!request_expired(
        OPENED,
        datetime!(2025-06-02 00:00 UTC),
        24,
        false
    ));
    assert!(request_expired(
        OPENED,
        datetime!(2025-06-02 00:00:01 UTC),
        24,
        false
    ));
}

#[test]
fn approved_request_or_zero_window_never_expires() {
    let much_later = datetime!(2030-01-01 00:00 UTC);
    assert!(!request_expired(OPENED, much_later, 24, true));
    assert!(!request_expired(OPENED, much_later, 0, false));
    assert!(!request_expired(OPENED, much_later, u64::MAX, false));
}

// -- pull_expired ----------------------------------------------------------------------------

#[test]
fn a_deletion_only_pull_request_approved_in_time_never_expires() {
    let deletions = owned_by(&["@bob"])
        .approves(&bob())
        .submitted(Some(datetime!(2025-06-01 10:00 UTC)))
        .decide();
    let no_additions = Decision { files: Vec::new() };
    let much_later = datetime!(2025-06-09 00:00 UTC);
    assert!(!pull_expired(
        OPENED,
        &[Some(&no_additions), Some(&deletions)],
        much_later,
        24
    ));
    assert!(
        pull_expired(OPENED, &[Some(&no_additions), None], much_later, 24),
        "nothing approved at all: expired"
    );
}

#[test]
fn a_mixed_pull_request_is_completed_by_the_approval_of_its_last_half() {
    let additions = owned_by(&["@bob"])
        .approves(&bob())
        .submitted(Some(datetime!(2025-06-01 10:00 UTC)))
        .decide();
    let late = owned_by(&["@carol"])
        .approves(&carol())
        .submitted(Some(datetime!(2025-06-03 10:00 UTC)))
        .decide();
    let at = datetime!(2025-06-04 00:00 UTC);
    assert!(pull_expired(
        OPENED,
        &[Some(&additions), Some(&late)],
        at,
        24
    ));
    assert!(!pull_expired(OPENED, &[Some(&additions), None], at, 24));
}
