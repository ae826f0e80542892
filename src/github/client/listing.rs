//! Pull requests as GitHub lists them, most recently updated first, a page at a time, each
//! page dated by GitHub's clock (its `Date` header); and GitHub's clock itself. What catch-up
//! (DESIGN §5) needs to ask only for what changed since its previous pass: GitHub's list has
//! no `since`, but sorted by `updated` it can be read until a page reaches back far enough.

use time::OffsetDateTime;

use super::clock::{Measured, corrected_offset, parse_http_date};
use super::repo::{RepoClient, next_link};
use super::wire::{WireListedPull, WireRateLimit};
use super::{GitHubError, ListedPull};

/// Whether a pull request is open (a merged one is closed too); which ones a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullState {
    Open,
    Closed,
}

impl PullState {
    /// GitHub's word for it; anything but `open` counts as closed, so nothing unknown is
    /// judged as an open pull request.
    pub fn from_github(state: &str) -> PullState {
        if state == "open" {
            PullState::Open
        } else {
            PullState::Closed
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PullState::Open => "open",
            PullState::Closed => "closed",
        }
    }
}

/// One page of a list of pull requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullsPage {
    /// Most recently updated first.
    pub pulls: Vec<ListedPull>,
    /// The path of the next page, when there is one: [`RepoClient::next_pulls`].
    pub next: Option<String>,
    /// GitHub's clock when it answered, from its `Date` header.
    pub date: Option<OffsetDateTime>,
}

/// GitHub's clock, and this host's, at one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    /// GitHub's `Date` (whole seconds).
    pub github: OffsetDateTime,
    /// This host's clock when the answer arrived.
    pub host: OffsetDateTime,
}

impl ClockReading {
    /// How many seconds GitHub's clock is ahead of this host's (negative: behind): `Ok(0)`
    /// within the few seconds a whole-second `Date` and the answer's travel blur, `Err` with
    /// the distance when the clocks are more than a day apart (one of them is wrong).
    pub fn offset_secs(&self) -> Result<i64, i64> {
        match corrected_offset(self.github, self.host, 0) {
            Measured::Agrees => Ok(0),
            Measured::Apart(secs) => Ok(secs),
            Measured::Implausible(secs) => Err(secs),
        }
    }
}

/// One answer's body, its next page and its date.
struct Raw {
    body: String,
    next: Option<String>,
    date: Option<OffsetDateTime>,
}

impl RepoClient {
    /// The first page (of 100) of the pull requests in `state` into `branch`, most recently
    /// updated first.
    pub async fn pulls_by_update(
        &self,
        state: PullState,
        branch: &str,
    ) -> Result<PullsPage, GitHubError> {
        let route = format!(
            "/repos/{}/pulls?state={}&base={}&sort=updated&direction=desc&per_page=100",
            self.repository(),
            state.as_str(),
            encode_query(branch)
        );
        self.pulls_at(&route).await
    }

    /// The page of pull requests at `next`, a [`PullsPage::next`].
    pub async fn next_pulls(&self, next: &str) -> Result<PullsPage, GitHubError> {
        self.pulls_at(next).await
    }

    async fn pulls_at(&self, route: &str) -> Result<PullsPage, GitHubError> {
        let what = "the pull requests";
        let raw = self.raw_get(route, what).await?;
        let wire: Vec<WireListedPull> =
            serde_json::from_str(&raw.body).map_err(|e| GitHubError::Status {
                what: what.into(),
                status: 200,
                message: format!("unreadable answer: {e}"),
            })?;
        Ok(PullsPage {
            pulls: wire.into_iter().map(ListedPull::from).collect(),
            next: raw.next,
            date: raw.date,
        })
    }

    /// GitHub's clock now, from the `Date` of `GET /rate_limit` (which costs no rate limit).
    pub async fn clock_reading(&self) -> Result<ClockReading, GitHubError> {
        let what = "GitHub's clock (GET /rate_limit)";
        let raw = self.raw_get("/rate_limit", what).await?;
        let host = OffsetDateTime::now_utc();
        // The body is read only to be sure it is GitHub's answer.
        serde_json::from_str::<WireRateLimit>(&raw.body).map_err(|e| GitHubError::Status {
            what: what.into(),
            status: 200,
            message: format!("unreadable answer: {e}"),
        })?;
        let github = raw.date.ok_or_else(|| GitHubError::Status {
            what: what.into(),
            status: 200,
            message: "the answer has no Date header to read GitHub's clock from".into(),
        })?;
        Ok(ClockReading { github, host })
    }

    /// One `GET`, counted, with the headers catch-up reads.
    async fn raw_get(&self, route: &str, what: &str) -> Result<Raw, GitHubError> {
        let answer = self
            .send(what, |crab| async move {
                let response = crab._get(route).await?;
                let response = octocrab::map_github_error(response).await?;
                let next = next_link(response.headers());
                let date = response
                    .headers()
                    .get(axum::http::header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_http_date);
                let body = crab.body_to_string(response).await?;
                Ok(Raw { body, next, date })
            })
            .await?;
        self.counted("GET", route, answer)
    }
}

impl From<WireListedPull> for ListedPull {
    fn from(p: WireListedPull) -> ListedPull {
        ListedPull {
            number: p.number,
            state: PullState::from_github(&p.state),
            merged_at: p.merged_at,
            updated_at: p.updated_at,
            merge_commit_sha: p.merge_commit_sha,
            head_sha: p.head.sha,
            base_ref: p.base.ref_,
        }
    }
}

/// Percent-encodes a query value (a branch name may hold `/`, `#`, `&`, `+`).
fn encode_query(value: &str) -> String {
    super::percent_encode(value, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_reading_gives_githubs_offset_only_beyond_the_blur_and_within_a_day() {
        use time::macros::datetime;
        let host = datetime!(2026-03-01 12:00:00.700 UTC);
        let at = |github| ClockReading { github, host }.offset_secs();
        assert_eq!(at(datetime!(2026-03-01 12:00:00 UTC)), Ok(0));
        assert_eq!(at(datetime!(2026-03-01 12:00:04 UTC)), Ok(0));
        assert_eq!(at(datetime!(2026-03-01 11:00:00 UTC)), Ok(-3600));
        assert_eq!(at(datetime!(2026-03-01 13:00:00 UTC)), Ok(3599));
        assert!(at(datetime!(9999-12-31 23:59:59 UTC)).is_err());
    }

    #[test]
    fn a_branch_name_is_encoded_for_the_query() {
        assert_eq!(encode_query("main"), "main");
        assert_eq!(encode_query("release/1.0+x&y"), "release%2F1.0%2Bx%26y");
    }
}
