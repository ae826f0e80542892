//! The HTTP client every GitHub call goes through, built at the first call.
//!
//! Building it sets up TLS, which reads and parses the system's root certificates (the bundle,
//! then each file of `/etc/ssl/certs`): a Lambda cold start used 13.5–14.0 ms of CPU building
//! it at start, 10.6–11.0 ms without (`scripts/measure-lambda`, three series each). A Lambda
//! cold start makes no GitHub call, and an instance serving webhooks may never make one, so
//! the first call pays it instead (for `serve`, its first catch-up, still before it listens).
//! The address is checked at once, so a wrong `github.api_url` still stops the start.

use std::sync::OnceLock;
use std::time::Duration;

use octocrab::{
    DefaultOctocrabBuilderConfig, NoAuth, NoSvc, NotLayerReady, Octocrab, OctocrabBuilder,
};

use super::{GitHubError, short_error};

pub(super) struct LazyHttp {
    api_url: String,
    built: OnceLock<Octocrab>,
}

impl LazyHttp {
    /// A client for `api_url`, which must be an address octocrab takes.
    pub(super) fn new(api_url: &str) -> Result<LazyHttp, GitHubError> {
        builder(api_url)?;
        Ok(LazyHttp {
            api_url: api_url.to_string(),
            built: OnceLock::new(),
        })
    }

    /// The client, built now if no call built it before.
    pub(super) fn get(&self) -> Result<&Octocrab, GitHubError> {
        if let Some(built) = self.built.get() {
            return Ok(built);
        }
        // Two first calls at once may both build one; one is kept.
        let built = builder(&self.api_url)?
            .build()
            .map_err(|e| GitHubError::Setup(short_error(&e)))?;
        Ok(self.built.get_or_init(|| built))
    }

    /// Whether a call has built the client yet.
    #[cfg(test)]
    pub(super) fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

type Builder = OctocrabBuilder<NoSvc, DefaultOctocrabBuilderConfig, NoAuth, NotLayerReady>;

/// No credentials here: keygate puts the App's JWT or an installation token on each request
/// itself.
fn builder(api_url: &str) -> Result<Builder, GitHubError> {
    Ok(Octocrab::builder()
        .base_uri(api_url)
        .map_err(|e| {
            GitHubError::Setup(format!("github.api_url `{api_url}`: {}", short_error(&e)))
        })?
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(30))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_octocrab_cannot_take_is_refused_at_once_naming_it() {
        let Err(GitHubError::Setup(e)) = LazyHttp::new("https://exa mple.com") else {
            panic!("an address with a space was taken");
        };
        assert!(e.contains("github.api_url `https://exa mple.com`"), "{e}");
    }

    #[tokio::test]
    async fn the_client_is_built_by_the_first_call_and_kept_for_the_next() {
        let http = LazyHttp::new("https://api.github.com").unwrap();
        assert!(!http.is_built(), "built before any call");
        let first: *const Octocrab = http.get().unwrap();
        assert!(http.is_built());
        let second: *const Octocrab = http.get().unwrap();
        assert_eq!(first, second, "a second call built another client");
    }
}
