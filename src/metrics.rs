//! The figures `GET /metrics` shows (DESIGN §8), in the Prometheus/OpenMetrics text format.
//! One [`Metrics`] is built at start-up and handed to the server, the workflow and the
//! GitHub and AWS clients; it is no global, so tests each see their own.
//!
//! Every label value comes from a short fixed list or from keygate's own names (GitHub
//! route shapes, AWS operation names and error codes), never from user names, paths or pull
//! request numbers: a label set that grows with the data would grow Prometheus without end.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::life::{Progress, Stage};

pub mod emf;

/// What became of a webhook delivery at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Queued,
    Coalesced,
    /// A push to a pull request into another branch: its sender recorded, no work.
    Recorded,
    Duplicate,
    Ignored,
    RefusedSignature,
    /// Missing headers, a malformed delivery ID or an unparsable payload.
    Malformed,
    /// The body was refused before its signature could be checked (too big, too slow, busy).
    RefusedBody,
    /// The ledger could not record it: GitHub will mark the delivery failed.
    Unavailable,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Queued => "queued",
            DeliveryOutcome::Coalesced => "coalesced",
            DeliveryOutcome::Recorded => "recorded",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::RefusedSignature => "refused_signature",
            DeliveryOutcome::Malformed => "malformed",
            DeliveryOutcome::RefusedBody => "refused_body",
            DeliveryOutcome::Unavailable => "unavailable",
        }
    }
}

/// The webhook events keygate knows by name; any other header value counts as `other`, so a
/// sender without the secret cannot mint new label values.
const EVENTS: [&str; 9] = [
    "merge_group",
    "pull_request",
    "pull_request_review",
    "ping",
    "installation",
    "installation_repositories",
    "push",
    "check_run",
    "check_suite",
];

/// The `event` label for an `X-GitHub-Event` header (absent: `none`).
pub fn event_label(header: Option<&str>) -> &'static str {
    match header {
        None => "none",
        Some(h) => EVENTS.iter().find(|e| **e == h).copied().unwrap_or("other"),
    }
}

/// Path segments of GitHub's REST routes that keygate calls; any other segment (an owner,
/// a repository, a number, a SHA, a login, a team) becomes `*`.
const ROUTE_WORDS: [&str; 29] = [
    "compare",
    "repos",
    "orgs",
    "app",
    "installation",
    "installations",
    "access_tokens",
    "pulls",
    "files",
    "reviews",
    "commits",
    "contents",
    "issues",
    "comments",
    "check-runs",
    "branches",
    "collaborators",
    "permission",
    "timeline",
    "teams",
    "memberships",
    "rate_limit",
    "codeowners",
    "errors",
    "protection",
    "required_status_checks",
    "git",
    "parents",
    "merge",
];

/// The `operation` label of a GitHub call: its method and route shape, e.g.
/// `GET /repos/*/*/pulls/*/files`. A contents path ends at `contents/*` whatever its depth.
pub fn github_operation(method: &str, route: &str) -> String {
    let path = route.split(['?', '#']).next().unwrap_or_default();
    let mut shape = String::from(method);
    shape.push(' ');
    let mut segments = 0;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        shape.push('/');
        segments += 1;
        if segments > 8 {
            shape.push('…');
            break;
        }
        match ROUTE_WORDS.iter().find(|w| **w == seg) {
            Some(w) => shape.push_str(w),
            None => shape.push('*'),
        }
        if seg == "contents" {
            shape.push_str("/*");
            break;
        }
    }
    shape
}

/// The `outcome` label of an issuance reaching a final state, from the intent's move
/// (`from` → `to`) and its recorded outcome text. `None` for steps along the way.
pub fn issuance_outcome(from: &str, to: &str, outcome: Option<&str>) -> Option<&'static str> {
    match (from, to) {
        (_, "issued") => Some("issued"),
        ("creating", "pending") => Some("rolled_back"),
        (_, "not_issued") if outcome.is_some_and(|o| o.starts_with("refused")) => Some("refused"),
        (_, "not_issued") => Some("not_issued"),
        _ => None,
    }
}

/// The `state` label of an issued key whose life is not over.
pub fn key_state(p: Progress) -> &'static str {
    if p.pending.is_some() {
        return "step_pending";
    }
    match p.stage {
        Stage::Active => "active",
        Stage::Warned => "warned",
        Stage::Inactive => "inactive",
        Stage::Deleted => "deleted",
        Stage::Revoked => "revoked",
    }
}

/// The states a key whose life is not over can be in (a deleted or revoked key with no step
/// pending is over, and not counted).
const KEY_STATES: [&str; 4] = ["active", "warned", "inactive", "step_pending"];

/// The keys whose life is not over, by state, as a note for the ledger: what `/metrics`
/// shows without reading every key ever issued (DESIGN §4). The sweep, which reads them
/// all anyway, takes it on each pass: `active=3,warned=0,inactive=1,step_pending=0`.
pub fn key_census(keys: impl Iterator<Item = Progress>) -> String {
    let states: Vec<&str> = keys.map(key_state).collect();
    KEY_STATES
        .iter()
        .map(|state| format!("{state}={}", states.iter().filter(|s| *s == state).count()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A [`key_census`] read back; `None` for anything else.
pub fn parse_key_census(text: &str) -> Option<Vec<(&'static str, u64)>> {
    KEY_STATES
        .iter()
        .zip(text.split(','))
        .map(|(state, part)| {
            let n = part.strip_prefix(*state)?.strip_prefix('=')?.parse().ok()?;
            Some((*state, n))
        })
        .collect()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// What the ledger says at scrape time.
#[derive(Debug, Clone, Default)]
pub struct LedgerFigures {
    pub queued: u64,
    pub running: u64,
    pub failed: u64,
    /// Seconds since the oldest queued delivery was received.
    pub oldest_queued_age_secs: Option<f64>,
    /// Issued keys whose life is not over, by state, as the last expiry sweep counted them
    /// ([`key_census`]); `None` before any sweep.
    pub keys: Option<Vec<(&'static str, u64)>>,
}

struct Inner {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    issuances: Family<OutcomeLabel, Counter>,
    github_calls: Family<CallLabels, Counter>,
    aws_calls: Family<CallLabels, Counter>,
    work_duration: Histogram,
    queue_depth: Family<StateLabel, Gauge>,
    oldest_queued_age: Gauge<f64, AtomicU64>,
    keys: Family<StateLabel, Gauge>,
    github_clock_skew: Gauge,
}

/// keygate's counters and gauges; cheap to clone, all clones count together.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("keygate");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Webhook deliveries received, by event and what became of them",
            deliveries.clone(),
        );
        let issuances = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "issuances",
            "Requests that reached a final state: issued, refused, not_issued (failed), rolled_back",
            issuances.clone(),
        );
        let github_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "github_calls",
            "GitHub API calls by route shape and status (ok, an HTTP status, unreachable)",
            github_calls.clone(),
        );
        let aws_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "aws_calls",
            "AWS API calls by operation and status (ok, or the AWS error code, or Unreachable)",
            aws_calls.clone(),
        );
        let work_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "work_duration_seconds",
            "Time one delivery's work took, one attempt",
            work_duration.clone(),
        );
        let queue_depth = Family::<StateLabel, Gauge>::default();
        registry.register(
            "queue_depth",
            "Deliveries in the ledger by state: queued (waiting or retrying), running, failed",
            queue_depth.clone(),
        );
        let oldest_queued_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest queued delivery (0 when none is queued)",
            oldest_queued_age.clone(),
        );
        let keys = Family::<StateLabel, Gauge>::default();
        registry.register(
            "keys",
            "Issued keys whose life is not over, by state",
            keys.clone(),
        );
        let github_clock_skew = Gauge::default();
        registry.register(
            "github_clock_skew_seconds",
            "How far GitHub's clock is ahead of this host's (negative: behind), as last measured \
             when GitHub refused the App's JWT; keygate signs on GitHub's clock",
            github_clock_skew.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            deliveries,
            issuances,
            github_calls,
            aws_calls,
            work_duration,
            queue_depth,
            oldest_queued_age,
            keys,
            github_clock_skew,
        }))
    }

    pub fn delivery(&self, event: Option<&str>, outcome: DeliveryOutcome) {
        let labels = DeliveryLabels {
            event: event_label(event),
            outcome: outcome.as_str(),
        };
        self.0.deliveries.get_or_create(&labels).inc();
    }

    /// An intent moved `from` → `to` (the ledger's state names): counted when it is final.
    pub fn intent_moved(&self, from: &str, to: &str, outcome: Option<&str>) {
        if let Some(outcome) = issuance_outcome(from, to, outcome) {
            self.0
                .issuances
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
        }
    }

    pub fn work_done(&self, took: std::time::Duration) {
        self.0.work_duration.observe(took.as_secs_f64());
    }

    /// A GitHub call; `status` is `ok`, the HTTP status, or `unreachable`.
    pub fn github_call(&self, method: &str, route: &str, status: String) {
        let labels = CallLabels {
            operation: github_operation(method, route),
            status,
        };
        self.0.github_calls.get_or_create(&labels).inc();
    }

    /// GitHub's clock was measured `seconds` ahead of this host's (negative: behind).
    pub fn github_clock_skew(&self, seconds: i64) {
        self.0.github_clock_skew.set(seconds);
    }

    /// An AWS call; `status` is `ok` or the error code.
    pub fn aws_call(&self, operation: &'static str, status: &str) {
        let labels = CallLabels {
            operation: operation.to_string(),
            status: status.to_string(),
        };
        self.0.aws_calls.get_or_create(&labels).inc();
    }

    /// The text for `GET /metrics`, with the ledger's figures as of now.
    pub fn render(&self, ledger: &LedgerFigures) -> Result<String, std::fmt::Error> {
        let m = &self.0;
        for (state, n) in [
            ("queued", ledger.queued),
            ("running", ledger.running),
            ("failed", ledger.failed),
        ] {
            m.queue_depth
                .get_or_create(&StateLabel { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        m.oldest_queued_age
            .set(ledger.oldest_queued_age_secs.unwrap_or(0.0).max(0.0));
        for state in KEY_STATES {
            let n = ledger
                .keys
                .iter()
                .flatten()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            m.keys
                .get_or_create(&StateLabel { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
