//! Secret scanning in the stand-in (DESIGN §10): alerts per repository, served in the REST
//! shapes of `GET /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}` and its
//! `/locations`, refused without the `secret_scanning_alerts` permission as GitHub does; and
//! the `secret_scanning_alert` webhook payload, from GitHub's published example.

use serde_json::{Value, json};

use super::GitHub;
use super::http::{Answer, Query, Reply};
use super::model::{World, ts};

const DOCS: &str = "/secret-scanning/secret-scanning#get-a-secret-scanning-alert";

/// GitHub's published `secret_scanning_alert` example (`@octokit/webhooks-examples`).
const EXAMPLE: &str = include_str!("../../../fixtures/secret_scanning_alert.reopened.json");

/// One alert: a secret found in a file of a repository.
#[derive(Clone, Debug)]
pub(crate) struct SecretAlert {
    pub(crate) repo: String,
    pub(crate) number: u64,
    pub(crate) secret_type: String,
    pub(crate) display_name: String,
    pub(crate) secret: String,
    pub(crate) path: String,
    pub(crate) line: u64,
    pub(crate) commit: String,
    pub(crate) created_at: time::OffsetDateTime,
}

impl World {
    fn alert_for(&self, inst: u64, repo: &str, n: &str) -> Result<&SecretAlert, Reply> {
        let full = self.repo_for(inst, repo, DOCS)?.full_name();
        if self.installation_permissions()["secret_scanning_alerts"].is_null() {
            return Err(Reply::error(
                403,
                "Resource not accessible by integration",
                DOCS,
            ));
        }
        self.secret_alerts
            .iter()
            .find(|a| a.repo == full && a.number.to_string() == n)
            .ok_or_else(|| Reply::not_found(DOCS))
    }

    pub(crate) fn secret_alert(&self, inst: u64, repo: &str, n: &str) -> Answer {
        let a = self.alert_for(inst, repo, n)?;
        let api = self.api(&format!(
            "/repos/{}/secret-scanning/alerts/{}",
            a.repo, a.number
        ));
        Ok(Reply::json(
            200,
            json!({
                "number": a.number,
                "created_at": ts(a.created_at),
                "updated_at": ts(a.created_at),
                "url": api,
                "html_url": format!("https://github.com/{}/security/secret-scanning/{}", a.repo, a.number),
                "locations_url": format!("{api}/locations"),
                "state": "open",
                "resolution": null,
                "resolved_at": null,
                "resolved_by": null,
                "resolution_comment": null,
                "secret_type": a.secret_type,
                "secret_type_display_name": a.display_name,
                "secret": a.secret,
                "push_protection_bypassed": false,
                "push_protection_bypassed_by": null,
                "push_protection_bypassed_at": null,
                "validity": "active",
                "publicly_leaked": false,
                "multi_repo": false,
            }),
        ))
    }

    pub(crate) fn secret_alert_locations(
        &self,
        inst: u64,
        repo: &str,
        n: &str,
        q: &Query,
        path: &str,
    ) -> Answer {
        let a = self.alert_for(inst, repo, n)?;
        let blob = "af5626b4a114abcb82d63db7c8082c3c4756e51b";
        let location = json!({
            "type": "commit",
            "details": {
                "path": a.path,
                "start_line": a.line,
                "end_line": a.line,
                "start_column": 1,
                "end_column": 1 + a.secret.len(),
                "blob_sha": blob,
                "blob_url": self.api(&format!("/repos/{}/git/blobs/{blob}", a.repo)),
                "commit_sha": a.commit,
                "commit_url": self.api(&format!("/repos/{}/git/commits/{}", a.repo, a.commit)),
            }
        });
        Ok(self.page(vec![location], q, path))
    }
}

impl GitHub {
    /// Secret scanning finds `secret` (of GitHub's `secret_type`) at `path` line `line` of
    /// this handle's repository, in its main branch's head commit; returns the alert number.
    pub fn leak(&self, secret_type: &str, secret: &str, path: &str, line: u64) -> u64 {
        let commit = self.main_head();
        let mut world = self.world();
        let number = world.secret_alerts.len() as u64 + 1;
        let created_at = world.stamp();
        let display_name = match secret_type {
            "aws_access_key_id" => "Amazon AWS Access Key ID",
            "aws_secret_access_key" => "Amazon AWS Secret Access Key",
            other => other,
        };
        world.secret_alerts.push(SecretAlert {
            repo: self.repo().to_string(),
            number,
            secret_type: secret_type.to_string(),
            display_name: display_name.to_string(),
            secret: secret.to_string(),
            path: path.to_string(),
            line,
            commit,
            created_at,
        });
        number
    }

    /// The App's `secret_scanning_alert` delivery for alert `number` of this handle's
    /// repository: GitHub's published example, with this world's repository and alert and
    /// the App's installation (an App's deliveries carry it; the example is a repository
    /// webhook's).
    pub fn secret_alert_event(&self, number: u64, action: &str) -> Value {
        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        let alert = self
            .world()
            .secret_alerts
            .iter()
            .find(|a| a.repo == self.repo() && a.number == number)
            .cloned()
            .expect("an alert of this repository");
        v["action"] = action.into();
        v["alert"]["number"] = number.into();
        v["alert"]["secret_type"] = alert.secret_type.into();
        v["repository"] = self.repo_json();
        v["installation"] = json!({ "id": self.installation_id() });
        v
    }
}
