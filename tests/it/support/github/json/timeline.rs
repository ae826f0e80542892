//! A pull request's timeline, and the permission shapes: a collaborator's
//! permission and a team's on a repository.

use serde_json::{Value, json};

use super::super::model::{Account, IssueEvent, Pull, ROLES, Repo, TimelineItem, World, ts};
use super::git::verification_json;
use super::{merge_objects, node_id};

impl World {
    /// The timeline of `GET /repos/{o}/{r}/issues/{n}/timeline`, oldest first.
    /// Each kind keeps GitHub's own shape: `committed` entries are git
    /// commits (no actor, no `created_at`), `reviewed` entries are reviews
    /// (lower-case `state`), `commented` entries are comments with an actor.
    pub(crate) fn timeline_json(&self, r: &Repo, p: &Pull) -> Vec<Value> {
        let full = r.full_name();
        p.timeline
            .iter()
            .filter_map(|item| match item {
                TimelineItem::Committed(sha) => {
                    let c = &self.commits[sha];
                    let mut v = self.commit_json(r, c);
                    let mut git = v["commit"].take();
                    let url = self.api(&format!("/repos/{full}/git/commits/{sha}"));
                    Some(json!({
                        "event": "committed",
                        "sha": sha,
                        "node_id": v["node_id"].take(),
                        "url": url,
                        "html_url": v["html_url"].take(),
                        "author": git["author"].take(),
                        "committer": git["committer"].take(),
                        "tree": git["tree"].take(),
                        "message": git["message"].take(),
                        "parents": v["parents"].take(),
                        "verification": verification_json(c),
                    }))
                }
                TimelineItem::Reviewed(id) => {
                    let review = p.reviews.iter().find(|rv| rv.id == *id)?;
                    let mut v = self.review_json(r, p, review);
                    v["state"] = Value::from(review.state.to_ascii_lowercase());
                    v["event"] = Value::from("reviewed");
                    Some(v)
                }
                TimelineItem::Commented(id) => {
                    let c = self.comments.iter().find(|c| c.id == *id)?;
                    let mut v = self.comment_json(c);
                    v["event"] = Value::from("commented");
                    v["actor"] = self.account_json(&c.user);
                    Some(v)
                }
                TimelineItem::Event(e) => Some(self.issue_event_json(r, e)),
            })
            .collect()
    }

    fn issue_event_json(&self, r: &Repo, e: &IssueEvent) -> Value {
        let full = r.full_name();
        json!({
            "id": e.id,
            "node_id": node_id("E", e.id),
            "url": self.api(&format!("/repos/{full}/issues/events/{}", e.id)),
            "actor": self.account_json(&e.actor),
            "event": e.event,
            "commit_id": e.commit_id,
            "commit_url": e.commit_id.as_ref().map(|sha| self.api(&format!("/repos/{full}/commits/{sha}"))),
            "created_at": ts(e.created_at),
            "performed_via_github_app": null,
        })
    }

    /// `GET /repos/{o}/{r}/collaborators/{user}/permission`: `permission`
    /// is the legacy base role (maintain → write, triage → read).
    pub(crate) fn collaborator_permission_json(&self, r: &Repo, user: &Account) -> Value {
        let role = r
            .user_roles
            .get(&user.login.to_ascii_lowercase())
            .copied()
            .unwrap_or("write");
        let permission = match role {
            "admin" => "admin",
            "maintain" | "write" => "write",
            "triage" | "read" => "read",
            _ => "none",
        };
        let mut account = self.account_json(user);
        merge_objects(
            &mut account,
            json!({ "permissions": role_flags(role), "role_name": role }),
        );
        json!({ "permission": permission, "role_name": role, "user": account })
    }

    /// The team's permission on the repository (`pull` … `admin`), if any.
    pub(crate) fn team_permission(&self, r: &Repo, org: &str, slug: &str) -> Option<&'static str> {
        let key = (org.to_ascii_lowercase(), slug.to_ascii_lowercase());
        r.team_roles.get(&key).copied().unwrap_or(Some("push"))
    }

    /// The repository as a team sees it: with the team's `permissions` and
    /// `role_name` (pull → read, push → write).
    pub(crate) fn team_repository_json(&self, r: &Repo, permission: &str) -> Value {
        let role = match permission {
            "pull" => "read",
            "push" => "write",
            other => other,
        };
        let mut v = self.repo_json(r);
        merge_objects(
            &mut v,
            json!({ "permissions": role_flags(role), "role_name": role }),
        );
        v
    }
}

/// The `permissions` flags a role grants: each role includes those below it.
fn role_flags(role: &str) -> Value {
    let rank = ROLES.iter().position(|r| *r == role);
    let at_least = |r: &str| rank.is_some_and(|n| ROLES.iter().position(|x| *x == r) <= Some(n));
    json!({
        "admin": at_least("admin"),
        "maintain": at_least("maintain"),
        "push": at_least("write"),
        "triage": at_least("triage"),
        "pull": at_least("read"),
    })
}
