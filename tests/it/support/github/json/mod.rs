//! The REST JSON shapes GitHub serves (and puts in webhook payloads), built
//! from the world's state.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

mod git;
mod timeline;

use super::model::{
    Account, AccountKind, CheckRun, Installation, IssueComment, Pull, Repo, Review, World, ts,
};
use super::{APP_ID, APP_SLUG};

impl World {
    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub(crate) fn account_json(&self, a: &Account) -> Value {
        let api = &self.base_url;
        let login = &a.login;
        let escaped = login.replace('[', "%5B").replace(']', "%5D");
        let html_url = match a.kind {
            AccountKind::Bot => format!(
                "https://github.com/apps/{}",
                login.trim_end_matches("[bot]")
            ),
            _ => format!("https://github.com/{login}"),
        };
        let user = format!("{api}/users/{escaped}");
        json!({
            "login": login,
            "id": a.id,
            "node_id": node_id(if a.kind == AccountKind::Bot { "BOT" } else { "U" }, a.id),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", a.id),
            "gravatar_id": "",
            "url": user,
            "html_url": html_url,
            "followers_url": format!("{user}/followers"),
            "following_url": format!("{user}/following{{/other_user}}"),
            "gists_url": format!("{user}/gists{{/gist_id}}"),
            "starred_url": format!("{user}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{user}/subscriptions"),
            "organizations_url": format!("{user}/orgs"),
            "repos_url": format!("{user}/repos"),
            "events_url": format!("{user}/events{{/privacy}}"),
            "received_events_url": format!("{user}/received_events"),
            "type": a.kind.as_str(),
            "user_view_type": "public",
            "site_admin": false,
        })
    }

    pub(crate) fn org_json(&self, org: &Account) -> Value {
        let o = format!("{}/orgs/{}", self.base_url, org.login);
        json!({
            "login": org.login,
            "id": org.id,
            "node_id": node_id("O", org.id),
            "url": o,
            "repos_url": format!("{o}/repos"),
            "events_url": format!("{o}/events"),
            "hooks_url": format!("{o}/hooks"),
            "issues_url": format!("{o}/issues"),
            "members_url": format!("{o}/members{{/member}}"),
            "public_members_url": format!("{o}/public_members{{/member}}"),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", org.id),
            "description": null,
        })
    }

    pub(crate) fn repo_json(&self, r: &Repo) -> Value {
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}"));
        let ts = ts(r.created_at);
        let open = r.pulls.values().filter(|p| p.open).count();
        let mut v = json!({
            "id": r.id,
            "node_id": node_id("R", r.id),
            "name": r.name,
            "full_name": full,
            "private": true,
            "owner": self.account_json(&r.owner),
            "html_url": format!("https://github.com/{full}"),
            "description": null,
            "fork": false,
            "url": u,
            "git_url": format!("git://github.com/{full}.git"),
            "ssh_url": format!("git@github.com:{full}.git"),
            "clone_url": format!("https://github.com/{full}.git"),
            "svn_url": format!("https://github.com/{full}"),
        });
        // Split in two: one literal would pass serde_json's macro recursion limit.
        let counts = json!({
            "homepage": null,
            "size": 1,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": null,
            "has_issues": true,
            "has_projects": false,
            "has_downloads": true,
            "has_wiki": false,
            "has_pages": false,
            "forks_count": 0,
            "mirror_url": null,
            "archived": false,
            "disabled": false,
            "open_issues_count": open,
            "license": null,
            "allow_forking": false,
            "is_template": false,
            "web_commit_signoff_required": false,
            "topics": [],
            "visibility": "private",
            "forks": 0,
            "open_issues": open,
            "watchers": 0,
            "default_branch": r.default_branch,
            "custom_properties": {},
            "created_at": ts,
            "updated_at": ts,
            "pushed_at": ts,
        });
        merge_objects(&mut v, counts);
        if let Some(map) = v.as_object_mut() {
            for (key, suffix) in REPO_URLS {
                map.insert(key.to_string(), Value::from(format!("{u}{suffix}")));
            }
        }
        v
    }

    pub(crate) fn author_association(&self, r: &Repo, a: &Account) -> &'static str {
        if r.owner.kind == AccountKind::Organization && self.is_org_member(&r.owner.login, &a.login)
        {
            "MEMBER"
        } else {
            "CONTRIBUTOR"
        }
    }

    pub(crate) fn pull_json(&self, r: &Repo, p: &Pull) -> Value {
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/pulls/{}", p.number));
        let issue = self.api(&format!("/repos/{full}/issues/{}", p.number));
        let html = format!("https://github.com/{full}/pull/{}", p.number);
        let files = self.pull_files(p);
        let (mut additions, mut deletions) = (0, 0);
        for f in &files {
            let (_, a, d) = f.patch();
            additions += a;
            deletions += d;
        }
        let branch = |ref_: &str, sha: &str| {
            json!({
                "label": format!("{}:{ref_}", r.owner.login),
                "ref": ref_,
                "sha": sha,
                "user": self.account_json(&r.owner),
                "repo": self.repo_json(r),
            })
        };
        let comments = self
            .comments
            .iter()
            .filter(|c| c.repo == full && c.issue == p.number)
            .count();
        let review_comment = self.api(&format!("/repos/{full}/pulls/comments{{/number}}"));
        let statuses = self.api(&format!("/repos/{full}/statuses/{}", p.head_sha));
        let links = json!({
            "self": { "href": u },
            "html": { "href": html },
            "issue": { "href": issue },
            "comments": { "href": format!("{issue}/comments") },
            "review_comments": { "href": format!("{u}/comments") },
            "review_comment": { "href": review_comment },
            "commits": { "href": format!("{u}/commits") },
            "statuses": { "href": statuses },
        });
        let mut v = json!({
            "url": u,
            "id": p.id,
            "node_id": node_id("PR", p.id),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "issue_url": issue,
            "commits_url": format!("{u}/commits"),
            "review_comments_url": format!("{u}/comments"),
            "review_comment_url": review_comment,
            "comments_url": format!("{issue}/comments"),
            "statuses_url": statuses,
            "number": p.number,
            "state": if p.open { "open" } else { "closed" },
            "locked": false,
            "title": p.title,
            "user": self.account_json(&p.author),
            "body": if p.body.is_empty() { Value::Null } else { Value::from(p.body.clone()) },
            "labels": [],
            "milestone": null,
            "active_lock_reason": null,
            "created_at": ts(p.created_at),
            "updated_at": ts(p.updated_at),
            "closed_at": p.closed_at.map(ts),
            "merged_at": p.merged_at.map(ts),
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": branch(&p.head_ref, &p.head_sha),
            "base": branch(&p.base_ref, &p.base_sha),
            "_links": links,
        });
        let more = json!({
            "author_association": self.author_association(r, &p.author),
            "auto_merge": null,
            "draft": p.draft,
            "merged": p.merged,
            "mergeable": if p.open { Value::Bool(true) } else { Value::Null },
            "rebaseable": if p.open { Value::Bool(true) } else { Value::Null },
            "mergeable_state": if p.open { "clean" } else { "unknown" },
            "merged_by": p.merged_by.as_ref().map(|a| self.account_json(a)),
            "comments": comments,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": p.commits.len(),
            "additions": additions,
            "deletions": deletions,
            "changed_files": files.len(),
        });
        merge_objects(&mut v, more);
        v
    }

    /// The short form GitHub embeds in check runs.
    pub(crate) fn pull_minimal_json(&self, r: &Repo, p: &Pull) -> Value {
        let repo = json!({ "id": r.id, "url": self.api(&format!("/repos/{}", r.full_name())), "name": r.name });
        json!({
            "url": self.api(&format!("/repos/{}/pulls/{}", r.full_name(), p.number)),
            "id": p.id,
            "number": p.number,
            "head": { "ref": p.head_ref, "sha": p.head_sha, "repo": repo },
            "base": { "ref": p.base_ref, "sha": p.base_sha, "repo": repo },
        })
    }

    pub(crate) fn review_json(&self, r: &Repo, p: &Pull, review: &Review) -> Value {
        let full = r.full_name();
        let html = format!(
            "https://github.com/{full}/pull/{}#pullrequestreview-{}",
            p.number, review.id
        );
        let pr_url = self.api(&format!("/repos/{full}/pulls/{}", p.number));
        json!({
            "id": review.id,
            "node_id": node_id("PRR", review.id),
            "user": self.account_json(&review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.author_association(r, &review.user),
            "_links": {
                "html": { "href": html },
                "pull_request": { "href": pr_url },
            },
            "submitted_at": ts(review.submitted_at),
            "commit_id": review.commit_id,
        })
    }

    pub(crate) fn comment_json(&self, c: &IssueComment) -> Value {
        let r = self.repo(&c.repo);
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/issues/comments/{}", c.id));
        json!({
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "url": u,
            "html_url": format!("https://github.com/{full}/pull/{}#issuecomment-{}", c.issue, c.id),
            "body": c.body,
            "user": self.account_json(&c.user),
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
            "issue_url": self.api(&format!("/repos/{full}/issues/{}", c.issue)),
            "author_association": if c.user.kind == AccountKind::Bot { "NONE" } else { self.author_association(r, &c.user) },
            // A comment the App made through its installation token carries it.
            "performed_via_github_app": if c.user == self.app_bot { self.app_json() } else { Value::Null },
            "reactions": {
                "url": format!("{u}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
            },
        })
    }

    pub(crate) fn check_run_json(&self, c: &CheckRun) -> Value {
        let r = self.repo(&c.repo);
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/check-runs/{}", c.id));
        let pulls: Vec<Value> = r
            .pulls
            .values()
            .filter(|p| p.open && p.head_sha == c.head_sha)
            .map(|p| self.pull_minimal_json(r, p))
            .collect();
        json!({
            "id": c.id,
            "node_id": node_id("CR", c.id),
            "head_sha": c.head_sha,
            "external_id": c.external_id.clone().unwrap_or_default(),
            "url": u,
            "html_url": format!("https://github.com/{full}/runs/{}", c.id),
            "details_url": c.details_url.clone().unwrap_or_else(|| format!("https://github.com/apps/{APP_SLUG}")),
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": ts(c.started_at),
            "completed_at": c.completed_at.map(ts),
            "output": {
                "title": c.title,
                "summary": c.summary,
                "text": c.text,
                "annotations_count": c.annotations.len(),
                "annotations_url": format!("{u}/annotations"),
            },
            "name": c.name,
            "check_suite": { "id": c.id + 1_000_000 },
            "app": self.app_json(),
            "pull_requests": pulls,
        })
    }

    pub(crate) fn app_json(&self) -> Value {
        let owner = self.installations.values().next();
        json!({
            "id": APP_ID,
            "slug": APP_SLUG,
            "node_id": node_id("A", APP_ID),
            "name": APP_SLUG,
            "owner": owner.map(|i| self.account_json(&i.account)),
            "description": "Issues AWS access keys for approved pull requests.",
            "external_url": "https://keygate.example.com",
            "html_url": format!("https://github.com/apps/{APP_SLUG}"),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": self.installation_permissions(),
            "events": ["pull_request", "pull_request_review"],
        })
    }

    /// The permissions every installation holds.
    pub(crate) fn installation_permissions(&self) -> Value {
        self.permissions.clone().unwrap_or_else(permissions)
    }

    pub(crate) fn installation_json(&self, i: &Installation) -> Value {
        json!({
            "id": i.id,
            "account": self.account_json(&i.account),
            "access_tokens_url": self.api(&format!("/app/installations/{}/access_tokens", i.id)),
            "repositories_url": self.api("/installation/repositories"),
            "html_url": format!("https://github.com/organizations/{}/settings/installations/{}", i.account.login, i.id),
            "app_id": APP_ID,
            "app_slug": APP_SLUG,
            "target_id": i.account.id,
            "target_type": i.account.kind.as_str(),
            "permissions": self.installation_permissions(),
            "events": ["pull_request", "pull_request_review"],
            "created_at": ts(i.created_at),
            "updated_at": ts(i.created_at),
            "single_file_name": null,
            "repository_selection": "all",
            "suspended_at": null,
            "suspended_by": null,
        })
    }
}

/// The hypermedia URLs of a repository object, relative to its API URL.
pub(crate) const REPO_URLS: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
];

pub(crate) fn merge_objects(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

pub(crate) fn permissions() -> Value {
    json!({
        "checks": "write",
        "contents": "read",
        "issues": "write",
        "members": "read",
        "merge_queues": "read",
        "metadata": "read",
        "pull_requests": "write",
        "secret_scanning_alerts": "read",
    })
}
pub(crate) fn node_id(prefix: &str, id: u64) -> String {
    format!(
        "{prefix}_kwDO{}",
        BASE64.encode(id.to_be_bytes()).trim_end_matches('=')
    )
}
pub(crate) fn url_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}
