//! GitHub's clock as keygate knows it. GitHub checks the App's JWT against its own clock, so
//! keygate signs on that clock: its own plus an offset learned from the `Date` header of an
//! answer that refused a JWT. Pure but for the offset it keeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// How far GitHub's `Date` may be from the clock a JWT was signed on and still count as the
/// same clock: the header has whole seconds, and the answer took a moment to arrive.
pub(crate) const SKEW_TOLERANCE_SECS: i64 = 5;

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

    pub(crate) fn set_offset_secs(&self, seconds: i64) {
        self.offset_secs.store(seconds, Ordering::Relaxed);
    }

    /// What time it is on GitHub's clock, with `offset_secs` as the offset.
    pub(crate) fn at(offset_secs: i64) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::seconds(offset_secs)
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

/// GitHub refused a JWT signed with `used_offset_secs`, and its `Date` says `github_now` when
/// this host's clock said `local_now`: the offset to sign with from now on when the clocks are
/// apart by more than [`SKEW_TOLERANCE_SECS`], or `None` when the refusal is not about time.
pub(crate) fn corrected_offset(
    github_now: OffsetDateTime,
    local_now: OffsetDateTime,
    used_offset_secs: i64,
) -> Option<i64> {
    let measured = (github_now - local_now).whole_seconds();
    ((measured - used_offset_secs).abs() > SKEW_TOLERANCE_SECS).then_some(measured)
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
        assert_eq!(corrected_offset(ahead, local, 0), Some(900));
        assert_eq!(corrected_offset(behind, local, 0), Some(-900));
        // An offset learned earlier that no longer holds (the host's clock was set right).
        assert_eq!(corrected_offset(local, local, 900), Some(0));
    }

    #[test]
    fn a_refusal_on_a_clock_that_agrees_with_githubs_is_not_skew() {
        let local = datetime!(2025-06-03 12:00:00.900 UTC);
        // The header's whole seconds and a slow answer are within the tolerance.
        assert_eq!(
            corrected_offset(datetime!(2025-06-03 12:00:00 UTC), local, 0),
            None
        );
        assert_eq!(
            corrected_offset(datetime!(2025-06-03 12:00:04 UTC), local, 0),
            None
        );
        // Signed on GitHub's clock already: a refusal again is about the key, not time.
        assert_eq!(
            corrected_offset(datetime!(2025-06-03 12:15:00 UTC), local, 900),
            None
        );
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
