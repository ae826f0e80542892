//! Arranging a world: a repository whose CODEOWNERS gives each IAM user's folder to a
//! team, keygate serving it, and IAM users in moto.

use super::app::TestApp;
use super::github::GitHub;

pub const CODEOWNERS: &str = "\
# Every request needs the security team; billing-bot's also go to billing.
/requests/ @acme/security
/requests/billing-bot/ @acme/billing
";

/// A request file's text.
pub fn request(iam_user: &str, reason: &str) -> String {
    format!("iam_user = \"{iam_user}\"\nreason = \"{reason}\"\nexpires_in_days = 30\n")
}

pub fn path(iam_user: &str) -> String {
    format!("requests/{iam_user}/ci.toml")
}

/// The repository with CODEOWNERS and teams, on a GitHub stand-in of its own.
pub async fn repository() -> GitHub {
    repository_on(GitHub::start().await)
}

/// [`repository`] on a GitHub Enterprise Server stand-in, its API under `/api/v3`.
pub async fn enterprise_repository() -> GitHub {
    repository_on(GitHub::start_under("/api/v3").await)
}

fn repository_on(gh: GitHub) -> GitHub {
    gh.team("acme/security", &["carol", "dave"]);
    gh.team("acme/billing", &["erin"]);
    gh.commit_to_main(&[(".github/CODEOWNERS", CODEOWNERS)]);
    gh
}

/// The repository with CODEOWNERS and teams, and keygate serving it.
pub async fn world_with(config: &str) -> TestApp {
    TestApp::start_with(&repository().await, config).await
}

pub async fn world() -> TestApp {
    world_with("").await
}

/// Opens a pull request by `author` adding a valid request for a fresh IAM user:
/// [`TestApp::request_pr`].
pub async fn open_request(app: &TestApp, author: &str) -> (u64, String) {
    app.request_pr(author).await
}
