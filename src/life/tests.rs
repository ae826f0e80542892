//! The plan over a table of keys, at chosen times: no wall clock.

use time::macros::datetime;

use super::*;

const TIMING: Timing = Timing {
    warn_days: 7,
    delete_after_days: 7,
    unused_days: 0,
};

/// Every key in these tables expires by its ledger entry at this instant.
const EXPIRY: OffsetDateTime = datetime!(2026-06-30 12:00 UTC);

fn key(id: &str, progress: Progress) -> KeyFacts {
    KeyFacts {
        access_key_id: id.into(),
        ledger_expires_at: Some(EXPIRY),
        tag_expires_at: None,
        progress,
        care: Care::default(),
    }
}

fn at(stage: Stage) -> Progress {
    Progress {
        stage,
        pending: None,
    }
}

fn steps(keys: &[KeyFacts], now: OffsetDateTime, timing: Timing) -> Vec<(AccessKeyId, Step)> {
    plan(keys, now, timing)
        .into_iter()
        .map(|p| (p.access_key_id, p.step))
        .collect()
}

fn one(k: KeyFacts, now: OffsetDateTime) -> Vec<Step> {
    steps(&[k], now, TIMING)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

#[test]
fn each_stage_comes_due_at_its_time_and_only_once() {
    use Stage::*;
    use Step::*;
    let d = time::Duration::days;
    let s = time::Duration::seconds;
    // (stage reached, now, steps due)
    let table: &[(Stage, OffsetDateTime, &[Step])] = &[
        (Active, EXPIRY - d(8), &[]),
        (Active, EXPIRY - d(7) - s(1), &[]),
        (Active, EXPIRY - d(7), &[Warn]),
        (Active, EXPIRY - s(1), &[Warn]),
        (Warned, EXPIRY - d(3), &[]),
        (Warned, EXPIRY - s(1), &[]),
        (Warned, EXPIRY, &[Deactivate]),
        (Inactive, EXPIRY + d(6), &[]),
        (Inactive, EXPIRY + d(7) - s(1), &[]),
        (Inactive, EXPIRY + d(7), &[Delete]),
        (Deleted, EXPIRY + d(400), &[]),
        (Revoked, EXPIRY + d(400), &[]),
        (Revoked, EXPIRY - d(1), &[]),
    ];
    for (stage, now, want) in table {
        assert_eq!(
            one(key("AKIA1", at(*stage)), *now),
            *want,
            "{stage} at {now}"
        );
    }
}

#[test]
fn a_key_keygate_was_down_for_catches_up_in_one_pass_without_a_late_warning() {
    let d = time::Duration::days;
    assert_eq!(
        one(key("AKIA1", Progress::ACTIVE), EXPIRY + d(1)),
        [Step::Deactivate],
        "past expiry: expired says it, a warning would be noise"
    );
    assert_eq!(
        one(key("AKIA1", Progress::ACTIVE), EXPIRY + d(30)),
        [Step::Deactivate, Step::Delete]
    );
}

#[test]
fn the_earlier_expiry_wins_so_a_tag_shortens_but_never_extends() {
    let d = time::Duration::days;
    let now = EXPIRY - d(20);
    let shortened = KeyFacts {
        tag_expires_at: Some(now - d(1)),
        ..key("AKIA1", Progress::ACTIVE)
    };
    assert_eq!(one(shortened, now), [Step::Deactivate]);
    let extended = KeyFacts {
        tag_expires_at: Some(EXPIRY + d(365)),
        ..key("AKIA1", at(Stage::Warned))
    };
    assert_eq!(
        one(extended, EXPIRY),
        [Step::Deactivate],
        "the ledger's end holds"
    );
    assert_eq!(
        effective_expiry(None, Some(EXPIRY)),
        Some(EXPIRY),
        "a key the ledger lost still ends by its tag"
    );
}

#[test]
fn a_key_without_a_known_expiry_is_left_alone() {
    let k = KeyFacts {
        ledger_expires_at: None,
        ..key("AKIA1", Progress::ACTIVE)
    };
    assert!(one(k, EXPIRY + time::Duration::days(999)).is_empty());
}

#[test]
fn a_step_begun_before_a_crash_is_finished_first_whatever_the_time() {
    let d = time::Duration::days;
    let begun = |stage, step| Progress {
        stage,
        pending: Some(step),
    };
    assert_eq!(
        one(
            key("AKIA1", begun(Stage::Active, Step::Warn)),
            EXPIRY - d(3)
        ),
        [Step::Warn]
    );
    assert_eq!(
        one(
            key("AKIA1", begun(Stage::Active, Step::Warn)),
            EXPIRY + d(8)
        ),
        [Step::Warn, Step::Deactivate, Step::Delete]
    );
    assert_eq!(
        one(
            key("AKIA1", begun(Stage::Active, Step::Revoke)),
            EXPIRY - d(300)
        ),
        [Step::Revoke],
        "a revocation half done is finished, and nothing follows it"
    );
    let lost = KeyFacts {
        ledger_expires_at: None,
        ..key("AKIA1", begun(Stage::Inactive, Step::Delete))
    };
    assert_eq!(one(lost, EXPIRY), [Step::Delete]);
}

#[test]
fn zero_days_means_no_warning_and_deletion_at_expiry() {
    let timing = Timing {
        warn_days: 0,
        delete_after_days: 0,
        unused_days: 0,
    };
    let keys = [key("AKIA1", Progress::ACTIVE)];
    assert!(steps(&keys, EXPIRY - time::Duration::seconds(1), timing).is_empty());
    assert_eq!(
        steps(&keys, EXPIRY, timing),
        [
            ("AKIA1".into(), Step::Deactivate),
            ("AKIA1".into(), Step::Delete)
        ]
    );
}

#[test]
fn keys_are_planned_each_on_their_own() {
    let d = time::Duration::days;
    let keys = [
        key("AKIA1", Progress::ACTIVE),
        KeyFacts {
            ledger_expires_at: Some(EXPIRY + d(100)),
            ..key("AKIA2", Progress::ACTIVE)
        },
        key("AKIA3", at(Stage::Inactive)),
    ];
    assert_eq!(
        steps(&keys, EXPIRY + d(7), TIMING),
        [
            ("AKIA1".into(), Step::Deactivate),
            ("AKIA1".into(), Step::Delete),
            ("AKIA3".into(), Step::Delete),
        ]
    );
}

#[test]
fn progress_moves_forward_and_ends_after_deletion_or_revocation() {
    let p = Progress::ACTIVE.begin(Step::Deactivate);
    assert!(!p.is_over());
    assert_eq!(p.finish(Step::Deactivate), at(Stage::Inactive));
    assert!(at(Stage::Deleted).is_over());
    assert!(at(Stage::Revoked).is_over());
    assert!(!at(Stage::Revoked).begin(Step::Revoke).is_over());
    assert_eq!(
        at(Stage::Inactive).finish(Step::Warn),
        at(Stage::Inactive),
        "a late step never moves a key back"
    );
}

#[test]
fn names_round_trip_and_recovery_zero_means_at_once() {
    for s in [Step::Warn, Step::Deactivate, Step::Delete, Step::Revoke] {
        assert_eq!(Step::parse(s.as_str()), Some(s));
    }
    for s in [
        Stage::Active,
        Stage::Warned,
        Stage::Inactive,
        Stage::Deleted,
        Stage::Revoked,
    ] {
        assert_eq!(Stage::parse(s.as_str()), Some(s));
    }
    assert_eq!(SecretDeletion::from_days(0), SecretDeletion::Immediately);
    assert_eq!(SecretDeletion::from_days(7), SecretDeletion::Recoverable(7));
    assert_eq!(
        parse_time("2026-06-30T12:00:00Z"),
        Some(EXPIRY),
        "as keygate writes expiries"
    );
    assert_eq!(parse_time("next tuesday"), None);
}

#[test]
fn only_merges_at_or_after_the_watermark_may_issue() {
    let created_ms = EXPIRY.unix_timestamp() * 1000;
    let w = watermark(None, created_ms);
    assert_eq!(w, EXPIRY, "the ledger's creation, by default");
    let s = time::Duration::seconds(1);
    assert!(may_issue_merge(Some(EXPIRY), w));
    assert!(may_issue_merge(Some(EXPIRY + s), w));
    assert!(
        !may_issue_merge(Some(EXPIRY - s), w),
        "merged before keygate knew"
    );
    assert!(!may_issue_merge(None, w), "no merge time: no guess");
    let set = EXPIRY - time::Duration::days(30);
    assert_eq!(
        watermark(Some(set), created_ms),
        set,
        "reconcile_since wins"
    );
    assert!(may_issue_merge(
        Some(EXPIRY - s),
        watermark(Some(set), created_ms)
    ));
    assert!(
        may_issue_merge(Some(EXPIRY), watermark(None, created_ms + 700)),
        "GitHub's merge time has whole seconds: the ledger's second counts as after"
    );
}

#[test]
fn a_rotating_key_is_rotated_when_due_and_only_before_its_end() {
    let d = time::Duration::days;
    let rotating = |rotates_at| KeyFacts {
        care: Care {
            rotates_at: Some(rotates_at),
            ..Care::default()
        },
        ..key("AKIA1", Progress::ACTIVE)
    };
    let at = EXPIRY - d(60);
    assert_eq!(one(rotating(at), at - d(1)), []);
    assert_eq!(one(rotating(at), at), [Step::Rotate]);
    assert_eq!(
        one(rotating(EXPIRY - d(3)), EXPIRY - d(3)),
        [Step::Warn, Step::Rotate],
        "inside the warning days: warned first (its successor inherits the warning)"
    );
    assert_eq!(one(rotating(EXPIRY), EXPIRY), [Step::Deactivate]);
    let half_done = KeyFacts {
        progress: Progress::ACTIVE.begin(Step::Warn),
        ..rotating(at)
    };
    assert_eq!(one(half_done, at), [Step::Warn], "a half-done step first");
}

#[test]
fn a_rotated_keys_predecessor_is_retired_after_the_overlap_and_deleted_later_never_warned() {
    let d = time::Duration::days;
    let retires = EXPIRY - d(30);
    let old = |progress| KeyFacts {
        care: Care {
            retires_at: Some(retires),
            ..Care::default()
        },
        ..key("AKIA1", progress)
    };
    assert_eq!(one(old(Progress::ACTIVE), retires - d(1)), []);
    assert_eq!(one(old(Progress::ACTIVE), retires), [Step::Retire]);
    assert_eq!(one(old(at(Stage::Inactive)), retires + d(6)), []);
    assert_eq!(
        one(old(at(Stage::Inactive)), retires + d(7)),
        [Step::Delete]
    );
    assert_eq!(
        one(old(at(Stage::Warned)), EXPIRY - d(1)),
        [Step::Retire, Step::Delete],
        "a retirement keygate was down for"
    );
}

#[test]
fn an_unused_key_is_warned_then_deactivated_and_a_used_one_is_left_alone() {
    let d = time::Duration::days;
    let timing = Timing {
        unused_days: 30,
        ..TIMING
    };
    let created = EXPIRY - d(80);
    let idle = |last, warned| KeyFacts {
        care: Care {
            last_active: Some(last),
            unused_warned_at: warned,
            ..Care::default()
        },
        ..key("AKIA1", Progress::ACTIVE)
    };
    let plan_of = |k, now| -> Vec<Step> {
        steps(&[k], now, timing)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    };
    assert_eq!(
        plan_of(idle(created, None), created + d(30)),
        [Step::WarnUnused]
    );
    let warned = Some(created + d(30));
    assert_eq!(
        plan_of(idle(created, warned), created + d(37)),
        [Step::DeactivateUnused]
    );
    assert_eq!(plan_of(idle(created + d(35), warned), created + d(37)), []);
    let inactive = KeyFacts {
        progress: at(Stage::Inactive),
        ..idle(created, warned)
    };
    assert_eq!(plan_of(inactive, created + d(40)), [], "inactive already");
}
