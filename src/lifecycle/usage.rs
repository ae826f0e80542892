//! Unused keys (DESIGN §10): a key AWS has not seen used for `unused_days` is warned about,
//! and `warn_days` later deactivated unless it was used meanwhile. Pure: its last activity
//! (last use, else creation) and "now" are parameters.

use time::{Duration, OffsetDateTime};

use super::{Care, Step, Timing};

/// What the key's use asks for at `now`: `None` when use is not watched
/// (`unused_days = 0`), unknown, or recent enough.
///
/// A warning counts only while the key has not been used since it went out: a use after it
/// starts a new idle period, which is warned about afresh when it is long enough.
pub fn due(care: &Care, now: OffsetDateTime, timing: Timing) -> Option<Step> {
    if timing.unused_days == 0 {
        return None;
    }
    let last = care.last_active?;
    let warned = care.unused_warned_at.filter(|w| *w >= last);
    match warned {
        Some(w) if now >= w + Duration::days(i64::from(timing.warn_days)) => {
            Some(Step::DeactivateUnused)
        }
        Some(_) => None,
        None if now - last >= Duration::days(i64::from(timing.unused_days)) => {
            Some(Step::WarnUnused)
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const TIMING: Timing = Timing {
        warn_days: 7,
        delete_after_days: 7,
        unused_days: 30,
    };
    const CREATED: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

    fn care(last: OffsetDateTime, warned: Option<OffsetDateTime>) -> Care {
        Care {
            last_active: Some(last),
            unused_warned_at: warned,
            ..Care::default()
        }
    }

    #[test]
    fn a_key_never_used_is_warned_unused_days_after_its_creation_then_deactivated() {
        let d = Duration::days;
        let c = care(CREATED, None);
        assert_eq!(due(&c, CREATED + d(29), TIMING), None);
        assert_eq!(due(&c, CREATED + d(30), TIMING), Some(Step::WarnUnused));
        let warned = care(CREATED, Some(CREATED + d(30)));
        assert_eq!(due(&warned, CREATED + d(36), TIMING), None);
        assert_eq!(
            due(&warned, CREATED + d(37), TIMING),
            Some(Step::DeactivateUnused)
        );
    }

    #[test]
    fn a_use_after_the_warning_spares_the_key_and_starts_a_new_idle_period() {
        let d = Duration::days;
        let used = care(CREATED + d(33), Some(CREATED + d(30)));
        assert_eq!(due(&used, CREATED + d(40), TIMING), None, "used meanwhile");
        assert_eq!(
            due(&used, CREATED + d(63), TIMING),
            Some(Step::WarnUnused),
            "idle again for 30 days since that use"
        );
    }

    #[test]
    fn nothing_is_due_when_use_is_not_watched_or_not_known() {
        let off = Timing {
            unused_days: 0,
            ..TIMING
        };
        let long_ago = care(CREATED, None);
        assert_eq!(due(&long_ago, CREATED + Duration::days(400), off), None);
        assert_eq!(
            due(&Care::default(), CREATED + Duration::days(400), TIMING),
            None
        );
    }
}
