//! The calls `keygate doctor` makes to see whether the App is set up as keygate needs
//! (DESIGN §8): its installation on the repository and that installation's permissions,
//! GitHub's own verdict on CODEOWNERS, and the branch's required status checks.

use std::collections::BTreeMap;

use axum::http::Method;
use serde::Deserialize;

use super::{GitHubApp, GitHubError, RepoClient};

/// The App's installation on a repository, as `GET /repos/{owner}/{repo}/installation`
/// tells it.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInstallation {
    pub id: u64,
    /// Permission name → `read`, `write` or `admin`.
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
}

/// One of GitHub's complaints about a CODEOWNERS file.
#[derive(Debug, Clone, Deserialize)]
pub struct CodeownersError {
    pub line: u64,
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub suggestion: Option<String>,
}

#[derive(Deserialize)]
struct WireCodeownersErrors {
    errors: Vec<CodeownersError>,
}

#[derive(Deserialize)]
struct WireRequiredChecks {
    #[serde(default)]
    contexts: Vec<String>,
}

impl GitHubApp {
    /// The App's installation on `repository` (`owner/name`), asked with the App's JWT.
    pub async fn repo_installation(
        &self,
        repository: &str,
    ) -> Result<RepoInstallation, GitHubError> {
        let route = format!("/repos/{repository}/installation");
        self.auth
            .call(Method::GET, &route, None, "the App's installation")
            .await
    }
}

impl RepoClient {
    /// GitHub's errors in the CODEOWNERS file of `branch` (a `404` when there is none).
    pub async fn codeowners_errors(
        &self,
        branch: &str,
    ) -> Result<Vec<CodeownersError>, GitHubError> {
        let route = format!(
            "/repos/{}/codeowners/errors?ref={}",
            self.repository(),
            super::encode_path(branch)
        );
        let found: WireCodeownersErrors = self.get(route, "the CODEOWNERS errors").await?;
        Ok(found.errors)
    }

    /// The required status checks of `branch`. Reading them takes the `administration`
    /// permission, which keygate does not ask for: expect a `403` (or a `404` when the
    /// branch is not protected).
    pub async fn required_status_checks(&self, branch: &str) -> Result<Vec<String>, GitHubError> {
        let route = format!(
            "/repos/{}/branches/{}/protection/required_status_checks",
            self.repository(),
            super::encode_path(branch)
        );
        let found: WireRequiredChecks = self.get(route, "the required status checks").await?;
        Ok(found.contexts)
    }
}
