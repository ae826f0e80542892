//! GitHub's clock as keygate knows it. GitHub checks the App's JWT against its own clock, so
//! keygate signs on that clock: its own plus an offset learned from the `Date` header of an
//! answer that refused a JWT. Pure but for the offset it keeps.
//!
//! The `Date` header is data from the network: an offset beyond [`MAX_OFFSET_SECS`] is not
//! learned (one of the two clocks is wrong, and signing on it would help nothing), and no
//! computation with an offset can overflow, whatever the header said.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// How far GitHub's `Date` may be from the clock a JWT was signed on and still count as the
/// same clock: the header has whole seconds, and the answer took a moment to arrive.
pub(crate) const SKEW_TOLERANCE_SECS: i64 = 5;

/// The farthest apart keygate believes GitHub's clock and this host's can be: a day. Beyond
/// it the host's clock or GitHub's `Date` (or a proxy that rewrites it) is wrong, and the
/// offset is not learned.
pub(crate) const MAX_OFFSET_SECS: i64 = 86_400;

/// RFC 7231's IMF-fixdate, the form GitHub's `Date` header takes:
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// This host's clock corrected to GitHub's. Clones share the offset.
#[derive(Clone, Default)]
pub(crate) struct GitHubClock {
    /// Seconds GitHub's clock is ahead of this host's (negative: behind).
    offset_secs: Arc<AtomicI64>,
}

impl GitHubClock {
    pub(crate) fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::Relaxed)
    }

    /// Keeps `seconds` as the offset, held to [`MAX_OFFSET_SECS`] either way.
    pub(crate) fn set_offset_secs(&self, seconds: i64) {
        let bounded = seconds.clamp(-MAX_OFFSET_SECS, MAX_OFFSET_SECS);
        self.offset_secs.store(bounded, Ordering::Relaxed);
    }

    /// What time it is on GitHub's clock, with `offset_secs` as the offset. An offset that
    /// would leave the calendar `time` can hold (none that [`corrected_offset`] learns)
    /// gives this host's clock rather than a panic.
    pub(crate) fn at(offset_secs: i64) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.checked_add(Duration::seconds(offset_secs))
            .unwrap_or(now)
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        GitHubClock::at(self.offset_secs())
    }
}

/// An HTTP `Date` header value (RFC 7231 IMF-fixdate); `None` for anything else, including the
/// obsolete forms GitHub does not send.
pub(crate) fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(value.trim(), IMF_FIXDATE)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// What a refused JWT's answer says about the two clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measured {
    /// The clock the JWT was signed on agrees with GitHub's: the refusal is not about time.
    Agrees,
    /// GitHub's clock is this many seconds ahead of this host's (negative: behind): sign on
    /// it from now on.
    Apart(i64),
    /// The clocks are more than [`MAX_OFFSET_SECS`] apart (by this many seconds): one of them
    /// is wrong, and the offset is not learned.
    Implausible(i64),
}

/// GitHub refused a JWT signed with `used_offset_secs`, and its `Date` says `github_now` when
/// this host's clock said `local_now`: whether the clocks are apart by more than
/// [`SKEW_TOLERANCE_SECS`], and by how much.
pub(crate) fn corrected_offset(
    github_now: OffsetDateTime,
    local_now: OffsetDateTime,
    used_offset_secs: i64,
) -> Measured {
    // Both ends are within `time`'s calendar, so their difference fits a `Duration`.
    let measured = (github_now - local_now).whole_seconds();
    if measured.abs_diff(used_offset_secs) <= SKEW_TOLERANCE_SECS.unsigned_abs() {
        Measured::Agrees
    } else if measured.unsigned_abs() > MAX_OFFSET_SECS.unsigned_abs() {
        Measured::Implausible(measured)
    } else {
        Measured::Apart(measured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn githubs_date_header_is_read_as_imf_fixdate() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(datetime!(1994-11-06 08:49:37 UTC))
        );
        assert_eq!(
            parse_http_date("Tue, 03 Jun 2025 23:05:09 GMT"),
            Some(datetime!(2025-06-03 23:05:09 UTC))
        );
    }

    #[test]
    fn a_date_in_another_form_or_malformed_is_no_date() {
        for not in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(parse_http_date(not), None, "{not:?}");
        }
    }

    #[test]
    fn clocks_apart_by_more_than_the_tolerance_give_the_measured_offset() {
        let local = datetime!(2025-06-03 12:00:00 UTC);
        let ahead = datetime!(2025-06-03 12:15:00 UTC);
        let behind = datetime!(2025-06-03 11:45:00 UTC);
        assert_eq!(corrected_offset(ahead, local, 0), Measured::Apart(900));
        assert_eq!(corrected_offset(behind, local, 0), Measured::Apart(-900));
        // An offset learned earlier that no longer holds (the host's clock was set right).
        assert_eq!(corrected_offset(local, local, 900), Measured::Apart(0));
        // A day apart is the most that is learned.
        let a_day = datetime!(2025-06-04 12:00:00 UTC);
        assert_eq!(
            corrected_offset(a_day, local, 0),
            Measured::Apart(MAX_OFFSET_SECS)
        );
    }

    #[test]
    fn a_refusal_on_a_clock_that_agrees_with_githubs_is_not_skew() {
        let local = datetime!(2025-06-03 12:00:00.900 UTC);
        // The header's whole seconds and a slow answer are within the tolerance.
        assert_eq!(
            corrected_offset(datetime!(2025-06-03 12:00:00 UTC), local, 0),
            Measured::Agrees
        );
        assert_eq!(
            corrected_offset(datetime!(2025-06-03 12:00:04 UTC), local, 0),
            Measured::Agrees
        );
        // Signed on GitHub's clock already: a refusal again is about the key, not time.
        assert_eq!(
            corrected_offset(datetime!(2025-06-03 12:15:00 UTC), local, 900),
            Measured::Agrees
        );
    }

    #[test]
    fn clocks_more_than_a_day_apart_are_implausible_whatever_the_header_says() {
        let local = datetime!(2026-11-29 12:00:00.250 UTC);
        let hostile = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").unwrap();
        let Measured::Implausible(apart) = corrected_offset(hostile, local, 0) else {
            panic!("learned a clock from the year 9999");
        };
        assert!(apart > 200_000_000_000, "{apart}");
        let epoch = datetime!(1970-01-01 00:00:00 UTC);
        assert!(matches!(
            corrected_offset(epoch, local, 0),
            Measured::Implausible(_)
        ));
        // The calendar's far ends, and offsets nobody learns, neither panic nor overflow.
        let first = datetime!(-9999-01-01 00:00:00 UTC);
        let last = datetime!(9999-12-31 23:59:59.999_999_999 UTC);
        for (github, local) in [(last, first), (first, last), (first, first)] {
            for used in [i64::MIN, -1, 0, i64::MAX] {
                let _ = corrected_offset(github, local, used);
            }
        }
        for offset in [i64::MIN, i64::MAX, -MAX_OFFSET_SECS, MAX_OFFSET_SECS] {
            let at = GitHubClock::at(offset);
            assert!(at.year() >= 1970, "{at}");
        }
    }

    #[test]
    fn an_offset_beyond_a_day_is_never_kept() {
        let clock = GitHubClock::default();
        clock.set_offset_secs(i64::MAX);
        assert_eq!(clock.offset_secs(), MAX_OFFSET_SECS);
        clock.set_offset_secs(i64::MIN);
        assert_eq!(clock.offset_secs(), -MAX_OFFSET_SECS);
        let _ = clock.now();
    }

    #[test]
    fn the_clock_signs_on_the_offset_it_learned() {
        let clock = GitHubClock::default();
        let before = clock.now();
        clock.set_offset_secs(-900);
        let shared = clock.clone();
        assert_eq!(shared.offset_secs(), -900, "clones share the offset");
        let corrected = shared.now();
        let apart = (before - corrected).whole_seconds();
        assert!((899..=901).contains(&apart), "{apart}");
    }
}
