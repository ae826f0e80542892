//! DESIGN §2 points 3–5: effective state, head commit, ownership, who never counts.

use super::*;

// -- Rule 2: only approvals on the head count ------------------------------------------------

#[test]
fn approval_on_older_commit_does_not_count() {
    let decision = owned_by(&["@bob"])
        .approves_on(&bob(), Some(OLDER))
        .decide();

    pending_one_ignoring(
        &decision,
        &[ignored(
            bob(),
            IgnoredWhy::Stale {
                commit_id: Some(OLDER.to_owned()),
            },
        )],
    );
    assert!(!decision.approved());
}

#[test]
fn approval_without_a_commit_is_stale() {
    let decision = owned_by(&["@bob"]).approves_on(&bob(), None).decide();

    let f = only(&decision);
    assert_eq!(
        f.ignored,
        [ignored(bob(), IgnoredWhy::Stale { commit_id: None })]
    );
    assert!(!decision.approved());
}

#[test]
fn approval_again_on_head_replaces_a_stale_one() {
    let decision = owned_by(&["@bob"])
        .approves_on(&bob(), Some(OLDER))
        .approves(&bob())
        .decide();

    assert!(decision.approved());
    assert!(only(&decision).ignored.is_empty());
}

#[test]
fn unknown_head_matches_no_approval() {
    let mut story = owned_by(&["@bob"]).approves_on(&bob(), Some(""));
    story.facts.head_sha = String::new();

    assert!(!story.decide().approved());
}

// -- Rule 1: effective state -----------------------------------------------------------------

#[test]
fn later_dismissal_removes_earlier_approval() {
    let decision = owned_by(&["@bob"])
        .approves(&bob())
        .review_dismissed(&bob())
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
    assert!(f.approved_by.is_empty());
    assert!(
        f.ignored.is_empty(),
        "a dismissed review is no approval at all"
    );
}

#[test]
fn dismissal_lifts_a_request_for_changes() {
    let decision = owned_by(&["@bob", "@carol"])
        .requests_changes(&carol())
        .review_dismissed(&carol())
        .approves(&bob())
        .decide();

    assert!(decision.approved());
    assert!(only(&decision).blocked_by.is_empty());
}

#[test]
fn commented_review_after_approval_keeps_approval() {
    let decision = owned_by(&["@bob"])
        .approves(&bob())
        .comments(&bob())
        .decide();

    assert!(decision.approved());
}

#[test]
fn pending_review_after_approval_keeps_approval() {
    let decision = owned_by(&["@bob"])
        .approves(&bob())
        .starts_pending_review(&bob())
        .decide();

    assert!(decision.approved());
}

#[test]
fn commented_review_after_changes_requested_still_blocks() {
    let decision = owned_by(&["@bob", "@carol"])
        .requests_changes(&carol())
        .comments(&carol())
        .approves(&bob())
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Blocked);
}

#[test]
fn only_commenting_is_not_approving() {
    let decision = owned_by(&["@bob"]).comments(&bob()).decide();

    assert_eq!(only(&decision).verdict, Verdict::Pending { missing: 1 });
    assert!(only(&decision).ignored.is_empty());
}

#[test]
fn reviewer_is_identified_by_id_not_login() {
    // bob renamed himself to "robert" after approving, then requested changes.
    let robert = person(bob().id, "robert");
    let decision = owned_by(&["@robert", "@carol"])
        .approves(&bob())
        .requests_changes(&robert)
        .approves(&carol())
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Blocked);
    assert_eq!(logins(&f.blocked_by), ["robert"]);
    assert_eq!(logins(&f.approved_by), ["carol"]);
}

// -- Rule 3: approvers must own the file -----------------------------------------------------

#[test]
fn approval_by_someone_who_is_not_an_owner_does_not_count() {
    let decision = owned_by(&["@bob"]).approves(&erin()).decide();

    pending_one_ignoring(&decision, &[ignored(erin(), IgnoredWhy::NotOwner)]);
}

#[test]
fn user_owner_is_matched_without_regard_to_case() {
    let decision = owned_by(&["@Bob"]).approves(&person(2, "BOB")).decide();

    assert!(decision.approved());
}

#[test]
fn team_member_approval_counts_only_when_membership_active() {
    let without = owned_by(&["@acme/security"]).approves(&bob());
    // The caller puts only `active` memberships in; a pending invitation is absent.
    assert_eq!(
        only(&without.decide()).ignored,
        [ignored(bob(), IgnoredWhy::NotOwner)]
    );
    assert!(!without.decide().approved());

    let with = without.member_of("acme/security", &bob());
    assert!(with.decide().approved());
}

#[test]
fn team_membership_is_compared_without_regard_to_case() {
    let decision = owned_by(&["@ACME/Security"])
        .member_of("acme/security", &person(2, "BOB"))
        .approves(&bob())
        .decide();

    assert!(decision.approved());
}

#[test]
fn membership_of_another_team_does_not_count() {
    let decision = owned_by(&["@acme/security"])
        .member_of("acme/platform", &bob())
        .member_of("other/security", &bob())
        .approves(&bob())
        .decide();

    assert!(!decision.approved());
}

#[test]
fn email_owners_never_match_an_account() {
    let decision = owned_by(&["bob@example.com"]).approves(&bob()).decide();

    pending_one_ignoring(&decision, &[ignored(bob(), IgnoredWhy::NotOwner)]);
}

// -- Rule 4: who never counts ----------------------------------------------------------------

#[test]
fn author_approving_own_request_does_not_count() {
    let decision = owned_by(&["@alice"]).approves(&alice()).decide();

    pending_one_ignoring(&decision, &[ignored(alice(), IgnoredWhy::Author)]);
}

#[test]
fn author_is_recognised_by_id_even_after_a_rename() {
    let decision = owned_by(&["@alicia"])
        .approves(&person(alice().id, "alicia"))
        .decide();

    assert!(!decision.approved());
}

#[test]
fn bot_approval_does_not_count() {
    let decision = pr_by(alice())
        .file(PATH, &["@dependabot[bot]"])
        .approves(&dependabot())
        .decide();

    assert_eq!(
        only(&decision).ignored,
        [ignored(dependabot(), IgnoredWhy::Bot)]
    );
    assert!(!decision.approved());
}

#[test]
fn login_ending_in_bot_suffix_is_a_bot_even_without_the_type() {
    let sneaky = person(77, "Release-Helper[BOT]");
    let decision = pr_by(alice())
        .file(PATH, &["@release-helper[bot]"])
        .approves(&sneaky)
        .decide();

    assert_eq!(only(&decision).ignored, [ignored(sneaky, IgnoredWhy::Bot)]);
}

#[test]
fn pusher_approval_does_not_count() {
    let decision = owned_by(&["@bob", "@dave"])
        .pushed_by(&alice())
        .pushed_by(&dave())
        .approves(&dave())
        .decide();

    pending_one_ignoring(&decision, &[ignored(dave(), IgnoredWhy::Pusher)]);
}

#[test]
fn pusher_known_only_by_login_is_matched_without_regard_to_case() {
    let decision = owned_by(&["@dave"])
        .pushed_by_login_only("DAVE")
        .approves(&dave())
        .decide();

    assert_eq!(
        only(&decision).ignored,
        [ignored(dave(), IgnoredWhy::Pusher)]
    );
}

#[test]
fn pusher_known_only_by_id_is_matched() {
    let mut story = owned_by(&["@dave"]).approves(&dave());
    story.facts.pushers.push(Pusher {
        id: Some(dave().id),
        login: None,
    });

    assert_eq!(
        only(&story.decide()).ignored,
        [ignored(dave(), IgnoredWhy::Pusher)]
    );
}

#[test]
fn reason_shown_is_the_one_a_new_approval_cannot_fix() {
    // dave pushed and approved an older commit: approving again would not help.
    let decision = owned_by(&["@dave"])
        .pushed_by(&dave())
        .approves_on(&dave(), Some(OLDER))
        .decide();

    assert_eq!(
        only(&decision).ignored,
        [ignored(dave(), IgnoredWhy::Pusher)]
    );
}

// -- Rule 5: enough distinct owners, and no owner objecting ----------------------------------

#[test]
fn two_approvals_from_same_user_count_once() {
    let decision = owned_by(&["@bob", "@carol"])
        .needing(2)
        .approves(&bob())
        .approves(&bob())
        .decide();

    let f = only(&decision);
    assert_eq!(logins(&f.approved_by), ["bob"]);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
}

#[test]
fn min_approvals_two_needs_two_distinct_owners() {
    let story = owned_by(&["@acme/security", "@bob"])
        .member_of("acme/security", &carol())
        .needing(2)
        .approves(&bob())
        .approves(&erin());
    assert_eq!(
        only(&story.decide()).verdict,
        Verdict::Pending { missing: 1 }
    );

    let decision = story.approves(&carol()).decide();
    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Approved);
    assert_eq!(f.needed, 2);
    assert_eq!(logins(&f.approved_by), ["bob", "carol"]);
}

#[test]
fn owner_named_directly_and_through_a_team_counts_once() {
    let decision = owned_by(&["@bob", "@acme/security"])
        .member_of("acme/security", &bob())
        .needing(2)
        .approves(&bob())
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Pending { missing: 1 });
}

#[test]
fn changes_requested_by_owner_blocks_even_with_enough_approvals() {
    let decision = owned_by(&["@bob", "@carol"])
        .approves(&bob())
        .requests_changes(&carol())
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Blocked);
    assert_eq!(logins(&f.approved_by), ["bob"]);
    assert_eq!(logins(&f.blocked_by), ["carol"]);
    assert!(!decision.approved());
}

#[test]
fn changes_requested_by_team_member_blocks() {
    let decision = owned_by(&["@bob", "@acme/security"])
        .member_of("acme/security", &carol())
        .approves(&bob())
        .requests_changes(&carol())
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Blocked);
}

#[test]
fn changes_requested_by_non_owner_does_not_block() {
    let decision = owned_by(&["@bob"])
        .approves(&bob())
        .requests_changes(&erin())
        .decide();

    assert!(decision.approved());
    assert!(only(&decision).blocked_by.is_empty());
}

#[test]
fn changes_requested_on_older_commit_still_blocks() {
    let decision = owned_by(&["@bob", "@carol"])
        .requests_changes_on(&carol(), OLDER)
        .approves(&bob())
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Blocked);
}

#[test]
fn changes_requested_by_an_owner_who_also_pushed_still_blocks() {
    let decision = owned_by(&["@bob", "@dave"])
        .pushed_by(&dave())
        .requests_changes(&dave())
        .approves(&bob())
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Blocked);
}

#[test]
fn owner_who_approves_after_requesting_changes_unblocks() {
    let decision = owned_by(&["@carol"])
        .requests_changes(&carol())
        .approves(&carol())
        .decide();

    assert!(decision.approved());
}

#[test]
fn owner_who_requests_changes_after_approving_blocks() {
    let decision = owned_by(&["@bob", "@carol"])
        .approves(&bob())
        .approves(&carol())
        .requests_changes(&carol())
        .decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::Blocked);
    assert_eq!(logins(&f.approved_by), ["bob"]);
}

// -- Rules 6 and 7: fail closed --------------------------------------------------------------

#[test]
fn no_owner_is_never_approved() {
    let decision = owned_by(&[]).approves(&bob()).approves(&carol()).decide();

    let f = only(&decision);
    assert_eq!(f.verdict, Verdict::NoOwner);
    assert!(f.approved_by.is_empty());
    assert!(!decision.approved());
}

#[test]
fn min_approvals_zero_is_treated_as_one() {
    let story = owned_by(&["@bob"]).needing(0);

    let f = only(&story.decide()).clone();
    assert_eq!(f.needed, 1);
    assert_eq!(f.verdict, Verdict::Pending { missing: 1 });
    assert!(story.approves(&bob()).decide().approved());
}

#[test]
fn decision_without_files_is_not_approved() {
    let decision = pr_by(alice()).approves(&bob()).decide();

    assert!(decision.files.is_empty());
    assert!(!decision.approved());
}

// -- Several files ---------------------------------------------------------------------------

#[test]
fn each_file_judged_by_its_own_owners() {
    let decision = owned_by(&["@bob"])
        .file(OTHER, &["@carol"])
        .approves(&bob())
        .decide();

    assert_eq!(file(&decision, PATH).verdict, Verdict::Approved);
    let other = file(&decision, OTHER);
    assert_eq!(other.verdict, Verdict::Pending { missing: 1 });
    assert_eq!(other.ignored, [ignored(bob(), IgnoredWhy::NotOwner)]);
    assert!(!decision.approved());
}

#[test]
fn changes_requested_blocks_only_the_files_the_reviewer_owns() {
    let decision = owned_by(&["@bob", "@carol"])
        .file(OTHER, &["@bob"])
        .approves(&bob())
        .requests_changes(&carol())
        .decide();

    assert_eq!(file(&decision, PATH).verdict, Verdict::Blocked);
    assert_eq!(file(&decision, OTHER).verdict, Verdict::Approved);
    assert!(!decision.approved());
}

#[test]
fn all_files_approved_approves_the_decision_and_lists_approvers_once() {
    let decision = owned_by(&["@bob", "@carol"])
        .file(OTHER, &["@carol", "@acme/security"])
        .member_of("acme/security", &bob())
        .needing(2)
        .approves(&bob())
        .approves(&carol())
        .decide();

    assert_eq!(file(&decision, PATH).verdict, Verdict::Approved);
    assert_eq!(file(&decision, OTHER).verdict, Verdict::Approved);
    assert!(decision.approved());
    assert_eq!(logins(&decision.approvers()), ["bob", "carol"]);
}
