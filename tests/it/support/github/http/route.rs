//! Which of GitHub's REST routes a request names.

/// A request that names a route of GitHub's REST API the stand-in serves.
pub(crate) enum Route {
    CreateToken(String),
    /// Authenticated with the App's JWT.
    App(AppRoute),
    /// Authenticated with an installation token.
    Api(ApiRoute),
}

pub(crate) enum AppRoute {
    Get,
    Installations,
    Installation(String),
    RepoInstallation(String),
}

/// Routes on a repository carry its `owner/name` first.
pub(crate) enum ApiRoute {
    Repo(String),
    Branch(String, String),
    Pulls(String),
    Pull(String, String),
    PullFiles(String, String),
    PullCommits(String, String),
    Reviews(String, String),
    Review(String, String, String),
    Contents(String, String),
    Commits(String),
    Commit(String, String),
    Compare(String, String),
    CommitPulls(String, String),
    CommitCheckRuns(String, String),
    Membership(String, String, String),
    Comments(String, String),
    CreateComment(String, String),
    Comment(String, String),
    UpdateComment(String, String),
    DeleteComment(String, String),
    CreateCheckRun(String),
    CheckRun(String, String),
    UpdateCheckRun(String, String),
    Annotations(String, String),
    Timeline(String, String),
    CollaboratorPermission(String, String),
    /// (org, team slug, owner/name)
    TeamRepo(String, String, String),
    RateLimit,
    CodeownersErrors(String),
    /// (owner/name, branch)
    RequiredStatusChecks(String, String),
    /// (owner/name, alert number)
    SecretAlert(String, String),
    SecretAlertLocations(String, String),
}

impl Route {
    /// The operation of GitHub's API description whose request body this
    /// route takes, for routes that take one.
    pub(crate) fn body_operation(&self) -> Option<&'static str> {
        Some(match self {
            Route::CreateToken(_) => "POST /app/installations/{installation_id}/access_tokens",
            Route::Api(ApiRoute::CreateComment(..)) => {
                "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
            }
            Route::Api(ApiRoute::UpdateComment(..)) => {
                "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
            }
            Route::Api(ApiRoute::CreateCheckRun(..)) => "POST /repos/{owner}/{repo}/check-runs",
            Route::Api(ApiRoute::UpdateCheckRun(..)) => {
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"
            }
            _ => return None,
        })
    }
}

pub(crate) fn route(method: &str, segments: &[String]) -> Option<Route> {
    use ApiRoute as A;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let app = |r| Some(Route::App(r));
    let (owner, name, rest) = match (method, s.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            return Some(Route::CreateToken(id.to_string()));
        }
        ("GET", ["app"]) => return app(AppRoute::Get),
        ("GET", ["app", "installations"]) => return app(AppRoute::Installations),
        ("GET", ["app", "installations", id]) => {
            return app(AppRoute::Installation(id.to_string()));
        }
        ("GET", ["orgs", org, "teams", team, "memberships", user]) => {
            let (o, t, u) = (org.to_string(), team.to_string(), user.to_string());
            return Some(Route::Api(A::Membership(o, t, u)));
        }
        ("GET", ["orgs", org, "teams", team, "repos", owner, name]) => {
            let (o, t, r) = (org.to_string(), team.to_string(), format!("{owner}/{name}"));
            return Some(Route::Api(A::TeamRepo(o, t, r)));
        }
        ("GET", ["rate_limit"]) => return Some(Route::Api(A::RateLimit)),
        (_, ["repos", owner, name, rest @ ..]) => (*owner, *name, rest),
        _ => return None,
    };
    let repo = format!("{owner}/{name}");
    let join = |parts: &[&str]| parts.join("/");
    let api = match (method, rest) {
        ("GET", ["installation"]) => return app(AppRoute::RepoInstallation(repo)),
        ("GET", []) => A::Repo(repo),
        (
            "GET",
            [
                "branches",
                branch @ ..,
                "protection",
                "required_status_checks",
            ],
        ) if !branch.is_empty() => A::RequiredStatusChecks(repo, join(branch)),
        ("GET", ["branches", branch @ ..]) if !branch.is_empty() => A::Branch(repo, join(branch)),
        ("GET", ["codeowners", "errors"]) => A::CodeownersErrors(repo),
        ("GET", ["pulls"]) => A::Pulls(repo),
        ("GET", ["pulls", n]) => A::Pull(repo, n.to_string()),
        ("GET", ["pulls", n, "files"]) => A::PullFiles(repo, n.to_string()),
        ("GET", ["pulls", n, "commits"]) => A::PullCommits(repo, n.to_string()),
        ("GET", ["pulls", n, "reviews"]) => A::Reviews(repo, n.to_string()),
        ("GET", ["pulls", n, "reviews", id]) => A::Review(repo, n.to_string(), id.to_string()),
        ("GET", ["contents", path @ ..]) => A::Contents(repo, join(path)),
        ("GET", ["commits"]) => A::Commits(repo),
        ("GET", ["compare", basehead]) => A::Compare(repo, basehead.to_string()),
        ("GET", ["commits", r @ .., "check-runs"]) if !r.is_empty() => {
            A::CommitCheckRuns(repo, join(r))
        }
        ("GET", ["commits", sha, "pulls"]) => A::CommitPulls(repo, sha.to_string()),
        ("GET", ["commits", r @ ..]) if !r.is_empty() => A::Commit(repo, join(r)),
        ("GET", ["issues", n, "comments"]) => A::Comments(repo, n.to_string()),
        ("GET", ["issues", n, "timeline"]) => A::Timeline(repo, n.to_string()),
        ("GET", ["collaborators", user, "permission"]) => {
            A::CollaboratorPermission(repo, user.to_string())
        }
        ("POST", ["issues", n, "comments"]) => A::CreateComment(repo, n.to_string()),
        ("GET", ["issues", "comments", id]) => A::Comment(repo, id.to_string()),
        // GitHub takes POST wherever it takes PATCH (octocrab's
        // `update_comment` uses POST).
        ("PATCH" | "POST", ["issues", "comments", id]) => A::UpdateComment(repo, id.to_string()),
        ("DELETE", ["issues", "comments", id]) => A::DeleteComment(repo, id.to_string()),
        ("POST", ["check-runs"]) => A::CreateCheckRun(repo),
        ("GET", ["check-runs", id]) => A::CheckRun(repo, id.to_string()),
        ("PATCH" | "POST", ["check-runs", id]) => A::UpdateCheckRun(repo, id.to_string()),
        ("GET", ["check-runs", id, "annotations"]) => A::Annotations(repo, id.to_string()),
        ("GET", ["secret-scanning", "alerts", n]) => A::SecretAlert(repo, n.to_string()),
        ("GET", ["secret-scanning", "alerts", n, "locations"]) => {
            A::SecretAlertLocations(repo, n.to_string())
        }
        _ => return None,
    };
    Some(Route::Api(api))
}
