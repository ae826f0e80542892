//! The words an end-to-end test is told in, so that it reads as arrange / act / assert: a
//! request opened for a fresh IAM user, an approval, a delivery handled, and the endings a
//! user would notice (a key held by its secret, a comment, a check run, notices). Texts are
//! compared as `insta` snapshots once [`redact`] has replaced what differs from run to run.

use super::app::{AwsWorld, Notice, TestApp, WEBHOOK_SECRET};
use super::github::{CheckRunView, ReviewState};
use super::payloads::{self, Delivery};
use super::world::{path, request};

/// The reason a request gives unless the story says otherwise.
pub const REASON: &str = "Nightly backups copy to S3";

/// A valid request file for `user`, giving [`REASON`].
pub fn valid_request(user: &str) -> String {
    request(user, REASON)
}

/// What an issuance left behind, every part checked by
/// [`TestApp::expect_issued_and_announced`].
pub struct Issued {
    pub user: String,
    pub key: String,
    pub secret: String,
    pub secret_arn: String,
    pub comment: String,
    pub notice: Notice,
}

impl Issued {
    /// `text` without what this run drew: the IAM user, key ID, secret ARN, the time in the
    /// secret's name and RFC 3339 times.
    pub fn redact(&self, text: &str) -> String {
        let stamp = self
            .secret
            .strip_prefix(&format!("{}/access-key-", self.user))
            .unwrap_or_else(|| panic!("a secret named by the default template: {}", self.secret));
        redact(
            text,
            &[
                (&self.secret_arn, "[secret arn]"),
                (stamp, "[timestamp]"),
                (&self.key, "[key id]"),
                (&self.user, "[user]"),
            ],
        )
    }
}

/// `text` with each value replaced by its placeholder (longest value first, so a name that
/// contains another is replaced whole) and every RFC 3339 time (`2026-01-31T12:00:00Z`) by
/// `[time]`: a snapshot then holds what keygate wrote, not what the run happened to draw.
pub fn redact(text: &str, values: &[(&str, &str)]) -> String {
    let mut values = values.to_vec();
    values.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    let mut out = redact_times(text);
    for (value, placeholder) in values {
        assert!(!value.is_empty(), "nothing to redact as {placeholder}");
        out = out.replace(value, placeholder);
    }
    out
}

/// `text` with each `YYYY-MM-DDTHH:MM:SSZ` replaced by `[time]`.
fn redact_times(text: &str) -> String {
    const SHAPE: &[u8; 20] = b"0000-00-00T00:00:00Z";
    let fits = |s: &[u8]| {
        s.len() >= SHAPE.len()
            && SHAPE.iter().zip(s).all(|(want, got)| match want {
                b'0' => got.is_ascii_digit(),
                other => other == got,
            })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if fits(rest.as_bytes()) {
            out.push_str("[time]");
            rest = &rest[SHAPE.len()..];
        } else {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            out.push_str(&rest[..digits]);
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// A notice as one text for a snapshot: subject, then message.
pub fn notice_text(notice: &Notice) -> String {
    format!("{}\n\n{}", notice.subject, notice.message)
}

/// A check run as one text for a snapshot: `[status: conclusion] title`, then the summary.
pub fn check_text(run: &CheckRunView) -> String {
    let state = match &run.conclusion {
        Some(conclusion) => format!("{}: {conclusion}", run.status),
        None => run.status.clone(),
    };
    let title = run.title.as_deref().unwrap_or("");
    let summary = run.summary.as_deref().unwrap_or("");
    format!("[{state}] {title}\n\n{summary}")
}

impl AwsWorld {
    /// Whether `key` of `user` is active in IAM; `None` when the user has no such key.
    pub async fn active(&self, user: &str, key: &str) -> Option<bool> {
        let out = self.iam.list_access_keys().user_name(user);
        let out = out.send().await.unwrap();
        out.access_key_metadata()
            .iter()
            .find(|m| m.access_key_id() == Some(key))
            .map(|m| m.status() == Some(&aws_sdk_iam::types::StatusType::Active))
    }

    /// The notices published since the last read are exactly `events`, in order; returns
    /// them.
    pub async fn expect_notices(&self, events: &[&str]) -> Vec<Notice> {
        let notices = self.notices().await;
        let got: Vec<&str> = notices.iter().map(Notice::event).collect();
        assert_eq!(got, events, "{notices:#?}");
        notices
    }
}

impl TestApp {
    /// Opens a pull request by `author` adding a valid request for a fresh IAM user; returns
    /// (pull request, IAM user).
    pub async fn request_pr(&self, author: &str) -> (u64, String) {
        self.request_pr_with(author, valid_request, &[]).await
    }

    /// Opens a pull request by `author` adding `text(user)` as a fresh IAM user's request
    /// file, beside the files in `beside`; returns (pull request, IAM user).
    pub async fn request_pr_with(
        &self,
        author: &str,
        text: impl FnOnce(&str) -> String,
        beside: &[(&str, &str)],
    ) -> (u64, String) {
        let user = self.aws.iam_user("svc").await;
        let (file, text) = (path(&user), text(&user));
        let mut files = vec![(file.as_str(), text.as_str())];
        files.extend_from_slice(beside);
        (self.gh.open_pr(author, &files), user)
    }

    /// Opens a pull request by `author` adding a valid request for each of `count` fresh IAM
    /// users; returns (pull request, IAM users).
    pub async fn requests_pr(&self, author: &str, count: usize) -> (u64, Vec<String>) {
        let mut users = Vec::new();
        for _ in 0..count {
            users.push(self.aws.iam_user("svc").await);
        }
        let files: Vec<(String, String)> =
            users.iter().map(|u| (path(u), valid_request(u))).collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        (self.gh.open_pr(author, &files), users)
    }

    /// Like [`TestApp::request_pr`], against branch `base`.
    pub async fn request_pr_on(&self, base: &str, author: &str) -> (u64, String) {
        let user = self.aws.iam_user("svc").await;
        let (file, text) = (path(&user), valid_request(&user));
        (self.gh.open_pr_on(base, author, &[(&file, &text)]), user)
    }

    /// `who` pushes a commit to the pull request that rewrites `user`'s request to give
    /// `reason`.
    pub fn amend_request(&self, pr: u64, who: &str, user: &str, reason: &str) {
        self.gh
            .push(pr, who, &[(&path(user), &request(user, reason))]);
    }

    /// `who` approves the pull request's head on GitHub (nothing is delivered); returns the
    /// review's ID.
    pub fn approve(&self, pr: u64, who: &str) -> u64 {
        self.gh.review(pr, who, ReviewState::Approve)
    }

    /// GitHub delivers `pull_request` with `action`; keygate accepts it (202) and has handled
    /// it when this returns.
    pub async fn pr_action(&self, pr: u64, action: &str) {
        assert_eq!(self.pr_event(pr, action).await, 202, "{action} accepted");
        self.settle().await;
    }

    /// `who` reviews the head with `state` and GitHub delivers the review; keygate accepts
    /// it (202) and has handled it when this returns. Returns the review's ID.
    pub async fn submit_review(&self, pr: u64, who: &str, state: ReviewState) -> u64 {
        let review = self.gh.review(pr, who, state);
        assert_eq!(self.review_event(pr, review).await, 202, "review accepted");
        self.settle().await;
        review
    }

    /// A signed `pull_request` delivery with `action`, to post (and post again) as is.
    pub fn pr_delivery(&self, pr: u64, action: &str) -> Delivery {
        let payload = payloads::pull_request_event(&self.gh, pr, action);
        payloads::delivery("pull_request", &payload, WEBHOOK_SECRET.as_bytes())
    }

    /// Posts `d`'s payload again under a new GUID, as GitHub's "Redeliver" does; returns the
    /// status keygate answered.
    pub async fn redeliver_as_new(&self, d: &Delivery) -> u16 {
        let payload: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        self.deliver(&d.event, &payload).await
    }

    /// keygate's one check run on the pull request's head commit.
    pub fn head_check(&self, pr: u64) -> CheckRunView {
        self.check(&self.gh.head_sha(pr))
    }

    /// The notices published since the last read are exactly `events`, in order; returns
    /// them.
    pub async fn expect_notices(&self, events: &[&str]) -> Vec<Notice> {
        self.aws.expect_notices(events).await
    }

    /// `user` holds no access key.
    pub async fn expect_no_key(&self, user: &str) {
        let keys = self.aws.access_keys(user).await;
        assert!(keys.is_empty(), "a key was issued for {user}: {keys:?}");
    }

    /// The ending of an issuance that failed: no key for `user`, keygate's comment says why,
    /// naming each of `reasons`, and one `failed` notice went out. Returns the comment.
    pub async fn expect_failed(&self, pr: u64, user: &str, reasons: &[&str]) -> String {
        let comment = self.expect_refused(pr, user, reasons).await;
        self.expect_notices(&["failed"]).await;
        comment
    }

    /// The whole ending of an issuance on pull request `pr`: `user` holds exactly one key,
    /// held by its one secret; keygate's comment and its one `issued` notice name the key's
    /// secret (the comment the key ID too), and neither holds the secret access key.
    pub async fn expect_issued_and_announced(&self, pr: u64, user: &str) -> Issued {
        let (key, secret) = self.expect_issued(user).await;
        let stored = self
            .aws
            .secrets
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await
            .unwrap();
        let secret_arn = stored.arn().unwrap_or_default().to_string();
        let value: serde_json::Value =
            serde_json::from_str(stored.secret_string().unwrap_or("{}")).unwrap();
        let secret_key = value["SecretAccessKey"].as_str().unwrap_or_default();
        assert!(!secret_key.is_empty(), "the secret holds no secret key");

        let comment = self.comment(pr);
        assert!(
            comment.contains(&secret) && comment.contains(&key),
            "the comment names the key and its secret: {comment}"
        );
        assert!(
            !comment.contains(secret_key),
            "the comment leaks the secret key"
        );
        let notice = self.expect_notices(&["issued"]).await.remove(0);
        assert_eq!(
            notice.attributes.get("iam_user").map(String::as_str),
            Some(user)
        );
        assert!(notice.message.contains(&secret), "{}", notice.message);
        assert!(
            !notice.message.contains(secret_key) && !notice.subject.contains(secret_key),
            "the notice leaks the secret key"
        );
        Issued {
            user: user.to_string(),
            key,
            secret,
            secret_arn,
            comment,
            notice,
        }
    }
}

#[test]
fn redact_replaces_longer_values_first_and_every_rfc3339_time() {
    let text = "svc-1/access-key-7 for svc-1 until 2026-12-29T12:12:58Z; 2026-12-29 stays";
    let values = [("svc-1", "[user]"), ("svc-1/access-key-7", "[secret]")];
    assert_eq!(
        redact(text, &values),
        "[secret] for [user] until [time]; 2026-12-29 stays"
    );
}
