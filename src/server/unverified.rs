//! Request bodies whose signature is not yet checked (DESIGN §4). Anyone can send them, so
//! each is capped at 25 MiB, must arrive in time, and all of them together may hold at most
//! a fixed number of bytes: unauthenticated uploads cannot exhaust memory.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// GitHub caps payloads at 25 MB; anything larger is refused before its signature is read.
pub const MAX_BODY: usize = 26_214_400;

/// The bytes all unverified bodies may hold at once (`server.max_unverified_bytes`), and how
/// many they hold now. Cloning shares the count.
#[derive(Clone, Debug)]
pub struct UnverifiedBudget(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    limit: usize,
    held: AtomicUsize,
    peak: AtomicUsize,
}

impl UnverifiedBudget {
    pub fn new(limit: usize) -> UnverifiedBudget {
        UnverifiedBudget(Arc::new(Counts {
            limit,
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }))
    }

    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Bytes held now by bodies being read or handled.
    pub fn held(&self) -> usize {
        self.0.held.load(Ordering::Acquire)
    }

    /// The most ever held at once: never more than `limit`, which is the point.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::Acquire)
    }

    /// A claim on nothing yet, grown as a body's bytes arrive and given back when dropped.
    pub fn claim(&self) -> Claim {
        Claim {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

/// One body's share of the budget.
#[derive(Debug)]
pub struct Claim {
    budget: UnverifiedBudget,
    bytes: usize,
}

impl Claim {
    /// Takes `more` bytes from the budget, or nothing if that would go over its limit.
    pub fn grow(&mut self, more: usize) -> bool {
        let counts = &self.budget.0;
        let taken = counts
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(more)
                    .filter(|&total| total <= counts.limit)
            });
        match taken {
            Ok(before) => {
                self.bytes += more;
                counts.peak.fetch_max(before + more, Ordering::AcqRel);
                true
            }
            Err(_) => false,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.budget.0.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Why a body was not read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over [`MAX_BODY`], declared or counted: 413.
    TooLarge,
    /// The budget cannot take it now: 503, with when to try again.
    Busy { retry_after: Duration },
    /// The body did not arrive within the body timeout: 408.
    TooSlow,
    /// The connection failed or the client gave up mid-body: 400.
    Broken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        // The rest of the body is not read; closing is cheaper than draining it.
        let close = (header::CONNECTION, "close");
        match self {
            Refusal::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                [close],
                "the body is over 25 MiB\n",
            )
                .into_response(),
            Refusal::Busy { retry_after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    close,
                    (header::RETRY_AFTER, &*retry_after.as_secs().to_string()),
                ],
                "too many uploads in progress; retry later\n",
            )
                .into_response(),
            Refusal::TooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                [close],
                "the body did not arrive in time\n",
            )
                .into_response(),
            Refusal::Broken => {
                (StatusCode::BAD_REQUEST, [close], "cannot read the body\n").into_response()
            }
        }
    }
}

/// A whole body, and its claim on the budget: drop both together when done with the body.
#[derive(Debug)]
pub struct Unverified {
    pub bytes: Vec<u8>,
    /// Gives the bytes back to the budget when dropped.
    _claim: Claim,
}

/// Reads a body whose signature is not yet checked, charging every byte of its buffer to
/// `budget` before it is allocated, within `timeout` from now.
///
/// A declared length only refuses early (over 25 MiB, or more than the budget has free); it is
/// never reserved up front, so a client that declares 25 MiB and sends nothing holds nothing.
pub async fn read(
    body: Body,
    budget: &UnverifiedBudget,
    timeout: Duration,
) -> Result<Unverified, Refusal> {
    let busy = Refusal::Busy {
        retry_after: retry_after(timeout),
    };
    let declared = body
        .size_hint()
        .exact()
        .map(|n| n.min(usize::MAX as u64) as usize);
    if let Some(n) = declared {
        if n > MAX_BODY {
            return Err(Refusal::TooLarge);
        }
        if n > budget.limit().saturating_sub(budget.held()) {
            return Err(busy);
        }
    }
    let mut claim = budget.claim();
    let reading = async {
        let mut body = body;
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(data) = frame.map_err(|_| Refusal::Broken)?.into_data() else {
                continue; // trailers carry no payload
            };
            let needed = bytes.len() + data.len();
            if needed > MAX_BODY {
                return Err(Refusal::TooLarge);
            }
            if needed > bytes.capacity() {
                let capacity = grown_capacity(bytes.capacity(), needed, declared);
                if !claim.grow(capacity - bytes.capacity()) {
                    return Err(busy);
                }
                bytes.reserve_exact(capacity - bytes.len());
            }
            bytes.extend_from_slice(&data);
        }
        Ok(bytes)
    };
    match tokio::time::timeout(timeout, reading).await {
        Ok(Ok(bytes)) => Ok(Unverified {
            bytes,
            _claim: claim,
        }),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err(Refusal::TooSlow),
    }
}

/// The buffer size that holds `needed` bytes. Every byte of capacity is charged to the
/// budget, so it doubles from what arrived (few copies, and a client holds at most twice what
/// it sent), never past what the client declared or [`MAX_BODY`].
pub fn grown_capacity(current: usize, needed: usize, declared: Option<usize>) -> usize {
    let ceiling = declared.unwrap_or(MAX_BODY).min(MAX_BODY);
    current.saturating_mul(2).min(ceiling).max(needed)
}

/// When a refused client may try again: by then every body now held has finished or been
/// cut off by the body timeout.
pub fn retry_after(body_timeout: Duration) -> Duration {
    let secs = body_timeout.as_secs() + u64::from(body_timeout.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_cannot_take_the_budget_past_its_limit_and_gives_back_on_drop() {
        let budget = UnverifiedBudget::new(100);
        let mut a = budget.claim();
        let mut b = budget.claim();
        assert!(a.grow(60));
        assert!(!b.grow(41), "60 + 41 is over 100");
        assert!(b.grow(40));
        assert!(!a.grow(1));
        assert_eq!((budget.held(), budget.peak()), (100, 100));
        drop(a);
        assert_eq!(budget.held(), 40);
        assert!(b.grow(60));
        drop(b);
        assert_eq!((budget.held(), budget.peak()), (0, 100));
    }

    #[test]
    fn a_refused_growth_takes_nothing() {
        let budget = UnverifiedBudget::new(10);
        let mut a = budget.claim();
        assert!(!a.grow(11));
        assert!(!a.grow(usize::MAX));
        assert_eq!((a.bytes(), budget.held(), budget.peak()), (0, 0, 0));
    }

    #[test]
    fn claims_from_many_threads_never_hold_more_than_the_limit() {
        let budget = UnverifiedBudget::new(1000);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        let mut c = budget.claim();
                        let _ = c.grow(300);
                        let _ = c.grow(300);
                    }
                });
            }
        });
        assert!(budget.peak() <= 1000, "peak {}", budget.peak());
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn buffers_double_but_stop_at_the_declared_length_and_the_cap() {
        assert_eq!(grown_capacity(0, 100, None), 100);
        assert_eq!(grown_capacity(100, 150, Some(300)), 200);
        assert_eq!(grown_capacity(200, 250, Some(300)), 300);
        assert_eq!(grown_capacity(8192, 9000, None), 16_384);
        assert_eq!(grown_capacity(8192, 9000, Some(10_000)), 10_000);
        assert_eq!(grown_capacity(0, 50_000, None), 50_000, "one big chunk");
        assert_eq!(grown_capacity(20 << 20, (20 << 20) + 1, None), MAX_BODY);
    }

    #[test]
    fn a_body_that_declares_25_mib_and_trickles_holds_at_most_twice_what_it_sent() {
        // Buffers are sized by bytes that arrived, not by the declared length.
        let (mut capacity, mut sent) = (0, 0);
        for _ in 0..1000 {
            sent += 1;
            if sent > capacity {
                capacity = grown_capacity(capacity, sent, Some(MAX_BODY));
            }
            assert!(capacity <= 2 * sent, "{capacity} held for {sent} sent");
        }
    }

    #[test]
    fn retry_after_is_the_body_timeout_in_whole_seconds() {
        assert_eq!(retry_after(Duration::from_secs(60)).as_secs(), 60);
        assert_eq!(retry_after(Duration::from_millis(1500)).as_secs(), 2);
        assert_eq!(retry_after(Duration::ZERO).as_secs(), 1);
    }

    /// A body that yields `chunks`, declares `declared` if given, then never ends if `hang`.
    struct Chunks {
        chunks: std::collections::VecDeque<Vec<u8>>,
        declared: Option<u64>,
        hang: bool,
    }

    impl HttpBody for Chunks {
        type Data = axum::body::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
            match self.chunks.pop_front() {
                Some(c) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(c.into())))),
                None if self.hang => std::task::Poll::Pending,
                None => std::task::Poll::Ready(None),
            }
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            self.declared
                .map(hyper::body::SizeHint::with_exact)
                .unwrap_or_default()
        }
    }

    fn body(chunks: &[usize], declared: Option<u64>, hang: bool) -> Body {
        Body::new(Chunks {
            chunks: chunks.iter().map(|&n| vec![b'x'; n]).collect(),
            declared,
            hang,
        })
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_body_is_read_whole_and_holds_its_buffer_until_dropped() {
        let budget = UnverifiedBudget::new(1 << 20);
        let got = read(body(&[10, 20_000, 5], None, false), &budget, SECOND)
            .await
            .unwrap();
        assert_eq!(got.bytes.len(), 20_015);
        assert!(
            budget.held() >= got.bytes.capacity(),
            "the buffer is charged"
        );
        assert!(budget.held() < 2 * got.bytes.len(), "and not much more");
        drop(got);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_chunked_body_past_the_budget_is_busy_and_gives_back_what_it_held() {
        let budget = UnverifiedBudget::new(100_000);
        let refused = read(body(&[60_000, 60_000], None, false), &budget, SECOND).await;
        assert_eq!(
            refused.unwrap_err(),
            Refusal::Busy {
                retry_after: SECOND
            }
        );
        assert_eq!(budget.held(), 0);
        assert!(budget.peak() <= 100_000);
    }

    #[tokio::test]
    async fn a_declared_length_over_25_mib_or_over_what_is_free_is_refused_before_reading() {
        let budget = UnverifiedBudget::new(100_000);
        let huge = read(body(&[], Some(MAX_BODY as u64 + 1), true), &budget, SECOND).await;
        assert_eq!(huge.unwrap_err(), Refusal::TooLarge);
        let mut other = budget.claim();
        assert!(other.grow(50_000));
        let over_free = read(body(&[], Some(60_000), true), &budget, SECOND).await;
        assert!(matches!(over_free.unwrap_err(), Refusal::Busy { .. }));
        assert_eq!(budget.held(), 50_000);
    }

    #[tokio::test]
    async fn a_chunked_body_counted_past_25_mib_is_too_large() {
        let budget = UnverifiedBudget::new(64 << 20);
        let chunks = vec![1 << 20; 26];
        let refused = read(body(&chunks, None, false), &budget, SECOND).await;
        assert_eq!(refused.unwrap_err(), Refusal::TooLarge);
        assert_eq!(budget.held(), 0);
        assert!(budget.peak() <= MAX_BODY);
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_is_too_slow_and_holds_nothing_after() {
        let budget = UnverifiedBudget::new(1 << 20);
        let slow = read(
            body(&[100], Some(1000), true),
            &budget,
            Duration::from_millis(50),
        )
        .await;
        assert_eq!(slow.unwrap_err(), Refusal::TooSlow);
        assert_eq!(budget.held(), 0);
    }
}
