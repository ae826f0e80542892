//! When a key of a request that rotates is replaced (DESIGN §10). Pure: the ledger gives
//! when the key was made and how often its request rotates, the secret's
//! `keygate:rotates-at` tag may bring the next rotation forward, and "now" is a parameter.

use time::{Duration, OffsetDateTime};

/// The next rotation of a key made at `issued_at` for a request that rotates every
/// `every_days`: `every_days` after its creation, or earlier when the secret's
/// `keygate:rotates-at` tag says so. A tag can bring a rotation forward, never push it back;
/// a tag at or before the key's creation was written for the key it replaced, and is
/// ignored (otherwise a tag left from an earlier rotation would rotate every pass).
pub fn next_rotation(
    issued_at: Option<OffsetDateTime>,
    every_days: Option<u32>,
    tag: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    let issued = issued_at?;
    let scheduled = issued + Duration::days(i64::from(every_days?));
    Some(match tag {
        Some(t) if t > issued => scheduled.min(t),
        _ => scheduled,
    })
}

/// Whether a rotation planned at `rotates_at` is due at `now` for a key whose life ends at
/// `end`: the original approval covers rotations until the request's expiry, not after.
pub fn due(rotates_at: OffsetDateTime, end: OffsetDateTime, now: OffsetDateTime) -> bool {
    now >= rotates_at && rotates_at < end && now < end
}

/// When a rotated key's predecessor is retired: `overlap_hours` after the rotation, so
/// consumers that read the secret before it keep working meanwhile.
pub fn retirement(rotated_at: OffsetDateTime, overlap_hours: u32) -> OffsetDateTime {
    rotated_at + Duration::hours(i64::from(overlap_hours))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ISSUED: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn the_next_rotation_is_every_days_after_the_keys_creation() {
        assert_eq!(
            next_rotation(Some(ISSUED), Some(30), None),
            Some(datetime!(2026-07-01 12:00 UTC))
        );
        assert_eq!(
            next_rotation(Some(ISSUED), None, None),
            None,
            "never rotates"
        );
        assert_eq!(
            next_rotation(None, Some(30), None),
            None,
            "creation unknown"
        );
    }

    #[test]
    fn the_tag_brings_a_rotation_forward_but_never_back_nor_from_an_earlier_key() {
        let sooner = datetime!(2026-06-10 00:00 UTC);
        assert_eq!(
            next_rotation(Some(ISSUED), Some(30), Some(sooner)),
            Some(sooner)
        );
        let later = datetime!(2026-09-01 00:00 UTC);
        assert_eq!(
            next_rotation(Some(ISSUED), Some(30), Some(later)),
            Some(datetime!(2026-07-01 12:00 UTC)),
            "a later tag never pushes it back"
        );
        let stale = datetime!(2026-05-01 00:00 UTC);
        assert_eq!(
            next_rotation(Some(ISSUED), Some(30), Some(stale)),
            Some(datetime!(2026-07-01 12:00 UTC)),
            "a tag from before this key was made is about its predecessor"
        );
    }

    #[test]
    fn rotations_stop_at_the_end_of_the_approved_life() {
        let end = datetime!(2026-08-30 12:00 UTC);
        let at = datetime!(2026-07-01 12:00 UTC);
        assert!(!due(at, end, at - Duration::seconds(1)));
        assert!(due(at, end, at));
        assert!(
            due(at, end, at + Duration::days(3)),
            "a pass that comes late"
        );
        assert!(
            !due(end, end, end),
            "a rotation at the expiry would outlive it"
        );
        assert!(!due(at, end, end), "past the end nothing rotates");
        assert_eq!(retirement(at, 24), datetime!(2026-07-02 12:00 UTC));
    }
}
