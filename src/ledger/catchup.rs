//! What catch-up keeps in the ledger (DESIGN §5), so a pass costs what changed since the
//! previous one rather than the history since the watermark: the watermark and the clock it
//! was taken on, how far catch-up got, and the merged pull requests found to touch no request
//! file, which are never read again.

use serde::Serialize;

/// Where keygate's history begins: no pull request merged before it issues a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Watermark {
    /// When the ledger was created, in ms since the epoch.
    pub at_ms: i64,
    /// Taken on this host's clock because GitHub was not asked when the ledger was created:
    /// put on GitHub's clock ([`super::Store::settle_watermark`]) before anything is judged
    /// by it. `false` for a watermark on GitHub's clock, and for one an earlier keygate took,
    /// which stays as it was.
    pub on_host_clock: bool,
}

/// How far catch-up got for one repository and branch, on GitHub's clock (ms since the
/// epoch): every pull request updated from `from_ms` to `through_ms` was looked at. The next
/// pass asks GitHub only for what was updated since `through_ms`, less an overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatchUpProgress {
    /// Where the passes that got this far began: the watermark they started from. A watermark
    /// set earlier later (`lifecycle.reconcile_since`) is not covered, and starts afresh.
    pub from_ms: i64,
    pub through_ms: i64,
}
