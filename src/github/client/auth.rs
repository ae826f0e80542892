//! The App's credentials (DESIGN §4). keygate signs the App's RS256 JWT itself, on GitHub's
//! clock as it knows it ([`GitHubClock`]), and exchanges it for installation tokens scoped to
//! one repository. GitHub checks the JWT's times against its own clock: when it refuses one
//! and its `Date` header shows the two clocks apart, keygate learns the offset, says so, and
//! tries once more with a JWT on GitHub's clock; every later JWT uses that offset too.

use std::sync::Arc;

use axum::http::{HeaderValue, Method, Request, header};
use octocrab::{FromResponse, Octocrab};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::{Duration, OffsetDateTime};

use super::clock::{GitHubClock, MAX_OFFSET_SECS, Measured, corrected_offset, parse_http_date};
use super::http::LazyHttp;
use super::{GitHubError, short_error, status_label};
use crate::metrics::Metrics;

/// The JWT is dated this far back, so a GitHub clock a little behind still finds it issued.
const JWT_BACKDATE_SECS: i64 = 60;
/// `exp - iat`: GitHub accepts at most ten minutes.
const JWT_LIFETIME_SECS: i64 = 600;
/// An installation token is replaced when it has less than this left (octocrab's margin,
/// which keygate kept when it took the exchange over).
const TOKEN_REFRESH_MARGIN: Duration = Duration::seconds(30);

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct Claims {
    pub iss: u64,
    pub iat: i64,
    pub exp: i64,
}

/// The claims of the App's JWT made at `github_now` (GitHub's clock).
pub(super) fn claims(app_id: u64, github_now: OffsetDateTime) -> Claims {
    let iat = github_now
        .unix_timestamp()
        .saturating_sub(JWT_BACKDATE_SECS);
    Claims {
        iss: app_id,
        iat,
        exp: iat.saturating_add(JWT_LIFETIME_SECS),
    }
}

/// What the App is and how it signs; shared by the App's calls and every installation token.
#[derive(Clone)]
pub(super) struct AppAuth {
    /// Carries no credentials of its own: each request gets the JWT or token it needs. The
    /// installation clients share its connections. Built at the first call.
    pub http: Arc<LazyHttp>,
    pub key: jsonwebtoken::EncodingKey,
    pub app_id: u64,
    pub clock: GitHubClock,
    pub metrics: Metrics,
}

/// One answer to a request signed with the App's JWT.
struct Answer<T> {
    /// GitHub's clock when it answered, from its `Date` header.
    date: Option<OffsetDateTime>,
    /// This host's clock when the answer arrived.
    received: OffsetDateTime,
    result: Result<T, GitHubError>,
}

impl<T> Answer<T> {
    /// What the answer says about the clocks, when GitHub refused a JWT signed with
    /// `used_offset_secs`: [`Measured::Agrees`] for any other answer.
    fn skew(&self, used_offset_secs: i64) -> Measured {
        match (&self.result, self.date) {
            (Err(GitHubError::Status { status: 401, .. }), Some(date)) => {
                corrected_offset(date, self.received, used_offset_secs)
            }
            _ => Measured::Agrees,
        }
    }
}

#[derive(serde::Deserialize)]
struct WireToken {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// An installation token and the client that sends it.
pub(super) struct Minted {
    crab: Arc<Octocrab>,
    /// On GitHub's clock.
    expires_at: OffsetDateTime,
}

impl AppAuth {
    /// The App's JWT, signed at `offset_secs` from this host's clock.
    fn jwt(&self, offset_secs: i64) -> Result<SecretString, GitHubError> {
        let claims = claims(self.app_id, GitHubClock::at(offset_secs));
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| GitHubError::Setup(format!("the App's JWT cannot be signed: {e}")))
    }

    /// Sends one request with a JWT signed at `offset_secs` and counts it.
    async fn send<T: DeserializeOwned>(
        &self,
        method: &Method,
        route: &str,
        body: Option<&serde_json::Value>,
        what: &str,
        offset_secs: i64,
    ) -> Result<Answer<T>, GitHubError> {
        let jwt = self.jwt(offset_secs)?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", jwt.expose_secret()))
            .map_err(|_| GitHubError::Setup("the App's JWT is no HTTP header value".into()))?;
        bearer.set_sensitive(true);
        let request = Request::builder()
            .method(method.clone())
            .uri(route)
            .header(header::AUTHORIZATION, bearer);
        let http = self.http.get()?;
        let request = http
            .build_request(request, body)
            .map_err(|e| GitHubError::Setup(short_error(&e)))?;
        let response = http.execute(request).await;
        let received = OffsetDateTime::now_utc();
        let (date, result) = match response {
            Ok(response) => {
                let date = response
                    .headers()
                    .get(header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_http_date);
                let result = match octocrab::map_github_error(response).await {
                    Ok(response) => T::from_response(response).await,
                    Err(e) => Err(e),
                };
                (date, result)
            }
            Err(e) => (None, Err(e)),
        };
        let result = result.map_err(|e| GitHubError::from_octocrab(what, e));
        self.metrics
            .github_call(method.as_str(), route, status_label(&result));
        Ok(Answer {
            date,
            received,
            result,
        })
    }

    /// One call with the App's JWT: `GET /app`, an installation, a token exchange.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<T, GitHubError> {
        let used = self.clock.offset_secs();
        let answer = self.send(&method, route, body, what, used).await?;
        let offset = match answer.skew(used) {
            Measured::Agrees => return answer.result.map_err(|e| self.refused(e)),
            Measured::Implausible(apart) => {
                return answer.result.map_err(|e| self.wrong_clock(e, apart));
            }
            Measured::Apart(offset) => offset,
        };
        self.clock.set_offset_secs(offset);
        self.metrics.github_clock_skew(offset);
        tracing::warn!(
            skew_seconds = offset,
            app_id = self.app_id,
            "GitHub refused the App's JWT and its clock is {offset} s from this host's (clock \
             skew; set this host's clock right, e.g. with NTP): signing on GitHub's clock from \
             now on, and trying again"
        );
        let again = self.send(&method, route, body, what, offset).await?;
        match again.result {
            Err(GitHubError::Status {
                status: 401,
                message,
                what,
            }) => {
                tracing::warn!(
                    app_id = self.app_id,
                    github_message = %message,
                    "GitHub refused the App's JWT again, signed on its own clock"
                );
                Err(GitHubError::Status {
                    what,
                    status: 401,
                    message: format!(
                        "GitHub refused the App's JWT even signed on its own clock (this host's \
                         is {offset} s off), so not for clock skew: github.app_id ({}) and the \
                         private key must be the same App's; keygate's log has GitHub's message",
                        self.app_id
                    ),
                })
            }
            other => other.map_err(|e| self.refused(e)),
        }
    }

    /// GitHub refused the App's JWT and its `Date` is more than a day from this host's clock:
    /// one of the two is wrong, so keygate does not sign on it; the error says so (and stays
    /// a clock error, retried: a clock set right makes the next attempt succeed).
    fn wrong_clock(&self, e: GitHubError, apart_secs: i64) -> GitHubError {
        tracing::warn!(
            apart_seconds = apart_secs,
            app_id = self.app_id,
            "GitHub refused the App's JWT and its Date header is {apart_secs} s from this \
             host's clock, more than the {MAX_OFFSET_SECS} s keygate will sign across: this \
             host's clock or GitHub's Date (or a proxy rewriting it) is wrong; not learned"
        );
        match e {
            GitHubError::Status {
                what,
                status,
                mut message,
            } => {
                message.push_str(&format!(
                    " (GitHub's Date header is {apart_secs} s from this host's clock, more than \
                     a day: this host's clock or GitHub's is wrong, so keygate does not sign on \
                     it; set this host's clock right, e.g. with NTP, and check any proxy in \
                     front of GitHub)"
                ));
                GitHubError::Status {
                    what,
                    status,
                    message,
                }
            }
            other => other,
        }
    }

    /// A `401` to the App's JWT that is not about its times names what to check.
    fn refused(&self, e: GitHubError) -> GitHubError {
        if e.is_clock_skew() {
            return e;
        }
        match e {
            GitHubError::Status {
                what,
                status: 401,
                mut message,
            } => {
                message.push_str(&format!(
                    " (GitHub refused the App's JWT, not for its times: github.app_id ({}) and \
                     the private key must be the same App's)",
                    self.app_id
                ));
                GitHubError::Status {
                    what,
                    status: 401,
                    message,
                }
            }
            other => other,
        }
    }

    /// A new installation token for `repository_name` alone, and a client that sends it.
    async fn mint(
        &self,
        installation_id: u64,
        repository_name: &str,
    ) -> Result<Minted, GitHubError> {
        let route = format!("/app/installations/{installation_id}/access_tokens");
        let body = serde_json::json!({ "repositories": [repository_name] });
        let wire: WireToken = self
            .call(Method::POST, &route, Some(&body), "the installation token")
            .await?;
        let token = SecretString::from(wire.token);
        let crab = self
            .http
            .get()?
            .user_access_token(token)
            .map_err(|e| GitHubError::Setup(short_error(&e)))?;
        Ok(Minted {
            crab: Arc::new(crab),
            expires_at: wire.expires_at,
        })
    }
}

/// One installation's token for one repository, minted when there is none or it runs out.
pub(crate) struct InstallationToken {
    auth: Arc<AppAuth>,
    installation_id: u64,
    repository_name: String,
    /// Locked across a refresh: requests sent side by side must not each mint a token.
    minted: tokio::sync::Mutex<Option<Minted>>,
}

impl InstallationToken {
    pub(super) fn new(
        auth: Arc<AppAuth>,
        installation_id: u64,
        repository_name: &str,
    ) -> InstallationToken {
        InstallationToken {
            auth,
            installation_id,
            repository_name: repository_name.to_string(),
            minted: tokio::sync::Mutex::new(None),
        }
    }

    /// A client whose token has more than [`TOKEN_REFRESH_MARGIN`] left on GitHub's clock.
    pub(super) async fn client(&self) -> Result<Arc<Octocrab>, GitHubError> {
        let mut minted = self.minted.lock().await;
        if let Some(m) = minted.as_ref()
            && m.expires_at - self.auth.clock.now() > TOKEN_REFRESH_MARGIN
        {
            return Ok(m.crab.clone());
        }
        let fresh = self
            .auth
            .mint(self.installation_id, &self.repository_name)
            .await?;
        let crab = fresh.crab.clone();
        *minted = Some(fresh);
        Ok(crab)
    }

    /// GitHub refused the token `refused` sends: the next [`client`](Self::client) mints
    /// another, unless a request beside this one already did.
    pub(super) async fn forget(&self, refused: &Arc<Octocrab>) {
        let mut minted = self.minted.lock().await;
        if minted
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(&m.crab, refused))
        {
            *minted = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_jwt_is_issued_a_minute_back_for_the_ten_minutes_github_allows() {
        let now = datetime!(2025-06-03 12:00:00 UTC);
        let c = claims(424_242, now);
        assert_eq!(c.iss, 424_242);
        assert_eq!(c.iat, now.unix_timestamp() - 60);
        assert_eq!(c.exp - c.iat, 600);
        assert!(c.exp > now.unix_timestamp(), "not expired when made");
    }

    #[test]
    fn a_refused_jwt_is_skew_only_when_githubs_date_is_apart_from_the_clock_it_was_signed_on() {
        let received = datetime!(2025-06-03 12:00:00 UTC);
        let refused = |date: Option<OffsetDateTime>, status: u16| Answer::<()> {
            date,
            received,
            result: Err(GitHubError::Status {
                what: "the installation token".into(),
                status,
                message: "x".into(),
            }),
        };
        let ahead = Some(datetime!(2025-06-03 12:15:00 UTC));
        assert_eq!(refused(ahead, 401).skew(0), Measured::Apart(900));
        assert_eq!(
            refused(ahead, 401).skew(900),
            Measured::Agrees,
            "already corrected"
        );
        assert_eq!(
            refused(Some(received), 401).skew(0),
            Measured::Agrees,
            "a wrong key"
        );
        assert_eq!(
            refused(None, 401).skew(0),
            Measured::Agrees,
            "no Date: nothing measured"
        );
        assert_eq!(
            refused(ahead, 403).skew(0),
            Measured::Agrees,
            "not a refused JWT"
        );
        let hostile = Some(datetime!(9999-12-31 23:59:59 UTC));
        assert!(matches!(
            refused(hostile, 401).skew(0),
            Measured::Implausible(_)
        ));
    }

    #[test]
    fn claims_at_the_calendars_ends_do_not_overflow() {
        for at in [
            datetime!(9999-12-31 23:59:59 UTC),
            datetime!(-9999-01-01 00:00:00 UTC),
        ] {
            let c = claims(1, at);
            assert_eq!(c.exp - c.iat, 600);
        }
    }
}
