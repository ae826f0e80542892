//! The edge of the webhook: signature check and conversion of GitHub's payload into a
//! small event of our own. Nothing past this module reads raw webhook JSON.

use std::borrow::Cow;

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::ids::{BranchName, CommitSha, InstallationId, PrNumber, RepoName};
use crate::work::{Activity, PrEvent, Sender, Work};

/// Verifies `X-Hub-Signature-256` in constant time.
pub struct SignatureKey(hmac::Key);

impl SignatureKey {
    pub fn new(secret: &SecretString) -> SignatureKey {
        SignatureKey(hmac::Key::new(
            hmac::HMAC_SHA256,
            secret.expose_secret().as_bytes(),
        ))
    }

    /// `body` as [`Verified`] when `header` signs it: the only way to get a body [`triage`]
    /// reads, so no code path can parse a body whose signature is missing or wrong.
    pub fn verified<'a>(&self, header: Option<&[u8]>, body: &'a [u8]) -> Option<Verified<'a>> {
        self.verify(header, body).then_some(Verified(body))
    }

    /// `header` is the literal `sha256=` followed by the hex HMAC-SHA256 of `body`.
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> bool {
        let Some(hex_sig) = header.and_then(|h| h.strip_prefix(b"sha256=")) else {
            return false;
        };
        let mut tag = [0u8; 32];
        if hex::decode_to_slice(hex_sig, &mut tag).is_err() {
            return false;
        }
        hmac::verify(&self.0, body, &tag).is_ok()
    }

    /// The header value GitHub would send for `body`.
    #[cfg(test)]
    fn sign(&self, body: &[u8]) -> String {
        format!("sha256={}", hex::encode(hmac::sign(&self.0, body).as_ref()))
    }
}

impl std::fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureKey([redacted])")
    }
}

/// A webhook body whose `X-Hub-Signature-256` was checked. Only
/// [`SignatureKey::verified`] makes one, and [`triage`] reads nothing else: the order
/// "signature, then payload" (DESIGN §4) is kept by the types, not by each caller's care.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a>(&'a [u8]);

impl<'a> Verified<'a> {
    /// The verified bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// What keygate does with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triage {
    /// Work to do: store and queue.
    Work(PrEvent),
    /// A push to a pull request of the repository into another branch: no work, but its
    /// sender is recorded (DESIGN §2.4), since the pull request may be retargeted to the
    /// configured branch later, and whoever pushed must not count as its approver then.
    Pusher(PrEvent),
    /// A valid delivery keygate has nothing to do for; the reason is logged.
    Ignore(&'static str),
}

#[derive(Debug, thiserror::Error)]
#[error("the payload is not a GitHub webhook payload keygate can read: {0}")]
pub struct PayloadError(String);

// Only the fields keygate needs; serde skips the rest without building a tree.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
    installation: Option<Installation>,
    #[serde(borrow)]
    pull_request: Option<PullRequest<'a>>,
    #[serde(borrow)]
    sender: Option<SenderJson<'a>>,
    #[serde(borrow)]
    merge_group: Option<MergeGroupJson<'a>>,
    alert: Option<Alert>,
}

/// A secret scanning alert as its webhook names it: the secret is not in the payload.
#[derive(Deserialize)]
struct Alert {
    number: u64,
}

/// A merge queue's group: its head commit and the branches it goes from and to.
#[derive(Deserialize)]
struct MergeGroupJson<'a> {
    #[serde(borrow)]
    head_sha: Cow<'a, str>,
    #[serde(borrow)]
    head_ref: Cow<'a, str>,
    #[serde(borrow)]
    base_ref: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SenderJson<'a> {
    id: u64,
    #[serde(borrow)]
    login: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Repo<'a> {
    #[serde(borrow)]
    full_name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct PullRequest<'a> {
    number: u64,
    #[serde(default, borrow)]
    merge_commit_sha: Option<Cow<'a, str>>,
    #[serde(borrow)]
    base: Base<'a>,
}

#[derive(Deserialize)]
struct Base<'a> {
    #[serde(rename = "ref", borrow)]
    ref_: Cow<'a, str>,
}

/// Decides what a verified delivery means for keygate. `repository` and `branch` are the
/// configured ones: repository names compare without regard to case, as GitHub's do; branch
/// names exactly, as git refs do (`Main` is not `main`).
pub fn triage(
    event: &str,
    body: Verified<'_>,
    repository: &RepoName,
    branch: &BranchName,
) -> Result<Triage, PayloadError> {
    let body = body.bytes();
    if event == "ping" {
        // Still a JSON check: GitHub's ping is JSON too.
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| PayloadError(e.to_string()))?;
        return Ok(Triage::Ignore("ping"));
    }
    let env: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| PayloadError(e.to_string()))?;
    let action = env.action.as_deref().unwrap_or("");
    let Some(activity) = Activity::from_event(event, action) else {
        return Ok(Triage::Ignore("event or action keygate does not handle"));
    };
    if activity == Activity::MergeGroupChecks {
        return merge_group(env, repository, branch);
    }
    if activity.work() == Work::Contain {
        return alert(event, activity, env);
    }
    let (Some(repo), Some(pr)) = (env.repository, env.pull_request) else {
        return Err(PayloadError(format!(
            "a `{event}` delivery without `repository` or `pull_request`"
        )));
    };
    let repo = RepoName::new(repo.full_name.into_owned());
    if &repo != repository {
        return Ok(Triage::Ignore("another repository"));
    }
    let elsewhere = pr.base.ref_ != branch.as_str();
    if elsewhere && (activity != Activity::Synchronize || env.sender.is_none()) {
        return Ok(Triage::Ignore("a pull request into another branch"));
    }
    let Some(installation) = env.installation else {
        return Err(PayloadError(
            "no `installation`: is the webhook the GitHub App's?".into(),
        ));
    };
    let event = PrEvent {
        repository: repo,
        installation: InstallationId(installation.id),
        pr: PrNumber(pr.number),
        activity,
        merge_commit: pr
            .merge_commit_sha
            .filter(|_| activity == Activity::Closed)
            .map(|s| CommitSha::new(s.into_owned())),
        sender: env.sender.map(|s| Sender {
            id: s.id,
            login: s.login.into_owned(),
        }),
    };
    Ok(if elsewhere {
        Triage::Pusher(event)
    } else {
        Triage::Work(event)
    })
}

/// `merge_group` `checks_requested` (DESIGN §4, merge queues): work on the group's head
/// commit, named for the pull request its branch names (`gh-readonly-queue/<base>/pr-<N>-…`),
/// for a group into the configured branch of the configured repository.
fn merge_group(
    env: Envelope<'_>,
    repository: &RepoName,
    branch: &BranchName,
) -> Result<Triage, PayloadError> {
    let (Some(repo), Some(group)) = (env.repository, env.merge_group) else {
        return Err(PayloadError(
            "a `merge_group` delivery without `repository` or `merge_group`".into(),
        ));
    };
    let repo = RepoName::new(repo.full_name.into_owned());
    if &repo != repository {
        return Ok(Triage::Ignore("another repository"));
    }
    if group.base_ref.strip_prefix("refs/heads/") != Some(branch.as_str()) {
        return Ok(Triage::Ignore("a merge group into another branch"));
    }
    let queue = format!("refs/heads/gh-readonly-queue/{}/pr-", branch.as_str());
    let pr = group
        .head_ref
        .strip_prefix(queue.as_str())
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            PayloadError(format!(
                "a merge group whose branch `{}` names no pull request",
                group.head_ref
            ))
        })?;
    let Some(installation) = env.installation else {
        return Err(PayloadError(
            "no `installation`: is the webhook the GitHub App's?".into(),
        ));
    };
    Ok(Triage::Work(PrEvent {
        repository: repo,
        installation: InstallationId(installation.id),
        pr: PrNumber(pr),
        activity: Activity::MergeGroupChecks,
        merge_commit: Some(CommitSha::new(group.head_sha.into_owned())),
        sender: env.sender.map(|s| Sender {
            id: s.id,
            login: s.login.into_owned(),
        }),
    }))
}

/// A secret scanning alert (DESIGN §10), from any repository the App is installed on: the
/// leak may be anywhere, and the alert is read through the API with a token scoped to that
/// repository alone. The alert's number stands where a pull request's would.
fn alert(event: &str, activity: Activity, env: Envelope<'_>) -> Result<Triage, PayloadError> {
    let (Some(repo), Some(alert)) = (env.repository, env.alert) else {
        return Err(PayloadError(format!(
            "a `{event}` delivery without `repository` or `alert`"
        )));
    };
    let Some(installation) = env.installation else {
        return Err(PayloadError(
            "no `installation`: is the webhook the GitHub App's?".into(),
        ));
    };
    Ok(Triage::Work(PrEvent {
        repository: RepoName::new(repo.full_name.into_owned()),
        installation: InstallationId(installation.id),
        pr: PrNumber(alert.number),
        activity,
        merge_commit: None,
        sender: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSED: &str = include_str!("../../tests/fixtures/pull_request.closed.json");

    fn t(event: &str, body: &[u8], repo: &str, branch: &str) -> Result<Triage, PayloadError> {
        let k = key("s");
        let body = k.verified(Some(k.sign(body).as_bytes()), body).unwrap();
        triage(event, body, &RepoName::new(repo), &BranchName::new(branch))
    }

    fn key(s: &str) -> SignatureKey {
        SignatureKey::new(&SecretString::from(s.to_string()))
    }

    #[test]
    fn githubs_documented_test_vector_verifies() {
        let k = key("It's a Secret to Everybody");
        let sig = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(k.verify(Some(sig), b"Hello, World!"));
        assert_eq!(k.sign(b"Hello, World!").as_bytes(), sig);
    }

    #[test]
    fn wrong_missing_or_malformed_signatures_fail() {
        let k = key("It's a Secret to Everybody");
        let good = k.sign(b"Hello, World!");
        assert!(!k.verify(None, b"Hello, World!"));
        assert!(!k.verify(Some(good.as_bytes()), b"Hello, World?"));
        assert!(!k.verify(Some(&good.as_bytes()[7..]), b"Hello, World!"));
        assert!(!k.verify(Some(b"sha256=zz"), b"Hello, World!"));
        assert!(!k.verify(
            Some(good.replace("sha256", "sha1").as_bytes()),
            b"Hello, World!"
        ));
        assert!(!key("another").verify(Some(good.as_bytes()), b"Hello, World!"));
    }

    #[test]
    fn only_a_body_its_signature_signs_is_verified_for_triage() {
        let k = key("It's a Secret to Everybody");
        let body = CLOSED.as_bytes();
        let verified = k.verified(Some(k.sign(body).as_bytes()), body);
        assert_eq!(verified.map(|v| v.bytes()), Some(body));
        assert!(k.verified(Some(k.sign(b"{}").as_bytes()), body).is_none());
        assert!(k.verified(None, body).is_none());
        assert!(
            key("another")
                .verified(Some(k.sign(body).as_bytes()), body)
                .is_none()
        );
    }

    #[test]
    fn a_real_closed_pull_request_payload_converts_to_a_small_event() {
        let t = t(
            "pull_request",
            CLOSED.as_bytes(),
            "codertocat/hello-world",
            "master",
        )
        .unwrap();
        let Triage::Work(e) = t else { panic!("{t:?}") };
        assert_eq!(e.activity, Activity::Closed);
        assert_eq!(e.repository.as_str(), "Codertocat/Hello-World");
        assert_eq!(e.pr, PrNumber(2));
        assert!(e.installation.get() > 0);
        assert_eq!(e.sender.map(|s| s.login).as_deref(), Some("Codertocat"));
    }

    #[test]
    fn deliveries_for_other_repositories_branches_or_events_are_ignored() {
        let body = CLOSED.as_bytes();
        assert!(matches!(
            t("pull_request", body, "acme/other", "master").unwrap(),
            Triage::Ignore(_)
        ));
        assert!(matches!(
            t("pull_request", body, "Codertocat/Hello-World", "main").unwrap(),
            Triage::Ignore(_)
        ));
        // Repository names ignore case; branch names do not.
        assert!(matches!(
            t("pull_request", body, "codertocat/hello-world", "master").unwrap(),
            Triage::Work(_)
        ));
        assert_eq!(
            t("pull_request", body, "Codertocat/Hello-World", "Master").unwrap(),
            Triage::Ignore("a pull request into another branch")
        );
        assert!(matches!(
            t("issues", body, "Codertocat/Hello-World", "master").unwrap(),
            Triage::Ignore(_)
        ));
        assert_eq!(
            t("ping", b"{\"zen\":\"x\"}", "a/b", "main").unwrap(),
            Triage::Ignore("ping")
        );
    }

    const ALERT: &str = include_str!("../../tests/fixtures/secret_scanning_alert.reopened.json");

    #[test]
    fn a_real_secret_scanning_alert_from_any_repository_converts_to_its_number() {
        // GitHub's published example is a repository webhook's; the App's carries its
        // installation.
        let mut payload: serde_json::Value = serde_json::from_str(ALERT).unwrap();
        payload["installation"] = serde_json::json!({ "id": 42 });
        let body = payload.to_string();
        let triaged = t(
            "secret_scanning_alert",
            body.as_bytes(),
            "acme/requests",
            "main",
        );
        let Triage::Work(e) = triaged.unwrap() else {
            panic!("not work")
        };
        assert_eq!(e.activity, Activity::SecretAlertReopened);
        assert_eq!(e.activity.work(), Work::Contain);
        assert_eq!(
            e.repository.as_str(),
            "Codertocat/Hello-World",
            "not the requests repository"
        );
        assert_eq!(e.pr, PrNumber(191), "the alert's number");
        assert_eq!(e.installation, InstallationId(42));

        payload["action"] = "resolved".into();
        let resolved = payload.to_string();
        assert!(matches!(
            t("secret_scanning_alert", resolved.as_bytes(), "a/b", "main").unwrap(),
            Triage::Ignore(_)
        ));
        assert!(
            t("secret_scanning_alert", ALERT.as_bytes(), "a/b", "main").is_err(),
            "a repository webhook's delivery (no installation) is not the App's"
        );
    }

    #[test]
    fn a_push_to_a_pull_request_into_another_branch_records_its_sender_only() {
        let mut body: serde_json::Value = serde_json::from_str(CLOSED).unwrap();
        body["action"] = "synchronize".into();
        let body = serde_json::to_vec(&body).unwrap();
        let Triage::Pusher(e) = t("pull_request", &body, "codertocat/hello-world", "main").unwrap()
        else {
            panic!("not recorded");
        };
        assert_eq!(e.activity, Activity::Synchronize);
        assert_eq!(e.sender.map(|s| s.login).as_deref(), Some("Codertocat"));
        assert!(matches!(
            t("pull_request", &body, "codertocat/hello-world", "master").unwrap(),
            Triage::Work(_)
        ));
        // Other repositories, and other actions into another branch, stay ignored.
        assert!(matches!(
            t("pull_request", &body, "acme/other", "main").unwrap(),
            Triage::Ignore(_)
        ));
        assert_eq!(
            t(
                "pull_request",
                CLOSED.as_bytes(),
                "Codertocat/Hello-World",
                "main"
            )
            .unwrap(),
            Triage::Ignore("a pull request into another branch")
        );
    }

    #[test]
    fn a_merge_group_into_the_branch_is_work_on_its_head_named_for_its_pull_request() {
        let body = |base: &str, head_ref: &str| {
            serde_json::to_vec(&serde_json::json!({
                "action": "checks_requested",
                "merge_group": {
                    "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                    "head_ref": head_ref,
                    "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                    "base_ref": base,
                    "head_commit": {"id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
                },
                "repository": {"full_name": "Codertocat/Hello-World"},
                "installation": {"id": 7},
                "sender": {"id": 1, "login": "Codertocat"},
            }))
            .unwrap()
        };
        let queued =
            "refs/heads/gh-readonly-queue/main/pr-42-f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
        let Triage::Work(e) = t(
            "merge_group",
            &body("refs/heads/main", queued),
            "codertocat/hello-world",
            "main",
        )
        .unwrap() else {
            panic!("not work");
        };
        assert_eq!(e.activity, Activity::MergeGroupChecks);
        assert_eq!(e.pr, PrNumber(42));
        assert_eq!(
            e.merge_commit.as_ref().map(CommitSha::as_str),
            Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        );
        assert_eq!(
            t(
                "merge_group",
                &body("refs/heads/Main", queued),
                "codertocat/hello-world",
                "main"
            )
            .unwrap(),
            Triage::Ignore("a merge group into another branch")
        );
        assert!(
            t(
                "merge_group",
                &body("refs/heads/main", "refs/heads/elsewhere"),
                "codertocat/hello-world",
                "main"
            )
            .is_err()
        );
    }

    #[test]
    fn unparsable_bodies_are_errors_not_panics() {
        for body in [
            &b"not json"[..],
            b"",
            b"{\"action\": 5}",
            b"{\"action\":\"closed\"}",
        ] {
            assert!(t("pull_request", body, "a/b", "main").is_err(), "{body:?}");
        }
        assert!(t("ping", b"nope", "a/b", "main").is_err());
    }
}
