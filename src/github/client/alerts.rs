//! Secret scanning alerts (DESIGN §10): the webhook does not carry the secret, so keygate
//! reads the alert through the API, with a token scoped to the alert's repository alone
//! (permission `secret_scanning_alerts: read`).

use secrecy::SecretString;
use serde::Deserialize;

use super::{GitHubError, RepoClient};

/// One secret scanning alert. The secret is kept as a [`SecretString`]: it is never shown.
pub struct SecretAlert {
    pub number: u64,
    /// GitHub's name for the kind of secret, e.g. `aws_access_key_id`.
    pub secret_type: String,
    /// The secret found (for AWS: a key ID, a secret access key, or both).
    pub secret: SecretString,
    /// The alert's page on GitHub.
    pub html_url: String,
    /// `open` or `resolved`.
    pub state: String,
}

impl std::fmt::Debug for SecretAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretAlert")
            .field("number", &self.number)
            .field("secret_type", &self.secret_type)
            .field("html_url", &self.html_url)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where in the repository the secret was found: a file at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertLocation {
    pub path: String,
    pub line: Option<u64>,
    pub commit: Option<String>,
}

#[derive(Deserialize)]
struct WireAlert {
    number: u64,
    #[serde(default)]
    secret_type: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct WireLocation {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    details: WireLocationDetails,
}

#[derive(Deserialize, Default)]
struct WireLocationDetails {
    path: Option<String>,
    start_line: Option<u64>,
    commit_sha: Option<String>,
}

impl RepoClient {
    /// `GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}`.
    pub async fn secret_scanning_alert(&self, number: u64) -> Result<SecretAlert, GitHubError> {
        let a: WireAlert = self
            .get(
                format!(
                    "/repos/{}/secret-scanning/alerts/{number}",
                    self.repository()
                ),
                "the secret scanning alert",
            )
            .await?;
        Ok(SecretAlert {
            number: a.number,
            secret_type: a.secret_type,
            secret: SecretString::from(a.secret.unwrap_or_default()),
            html_url: a.html_url,
            state: a.state,
        })
    }

    /// The first place in a commit where the alert's secret was found, if GitHub lists one
    /// (it may also be an issue, a pull request or a wiki page, which name no file).
    pub async fn secret_scanning_location(
        &self,
        number: u64,
    ) -> Result<Option<AlertLocation>, GitHubError> {
        let found: Vec<WireLocation> = self
            .get(
                format!(
                    "/repos/{}/secret-scanning/alerts/{number}/locations",
                    self.repository()
                ),
                "the secret scanning alert's locations",
            )
            .await?;
        Ok(found.into_iter().find_map(|l| {
            (l.kind == "commit").then_some(())?;
            Some(AlertLocation {
                path: l.details.path?,
                line: l.details.start_line,
                commit: l.details.commit_sha,
            })
        }))
    }
}
