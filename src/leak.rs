//! Leak reports (DESIGN §10), converted at the edge: what GitHub's secret scanning and AWS
//! Health say was exposed, as the access key IDs and secret fingerprints keygate matches its
//! keys by. Pure: no I/O, and no secret is kept (a secret access key becomes its SHA-256).

use serde_json::Value;

use crate::aws::secret_fingerprint;
use crate::ids::AccessKeyId;

/// Who reported a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakSource {
    GitHubSecretScanning,
    AwsHealth,
}

impl LeakSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LeakSource::GitHubSecretScanning => "GitHub secret scanning",
            LeakSource::AwsHealth => "AWS Health (AWS_RISK_CREDENTIALS_EXPOSED)",
        }
    }
}

/// A leak as keygate acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakReport {
    pub source: LeakSource,
    /// Where it was found, as the report says (a repository, file and alert; a description).
    pub location: String,
    /// Access key IDs the report names.
    pub access_key_ids: Vec<AccessKeyId>,
    /// SHA-256 fingerprints of the secret access keys the report shows.
    pub fingerprints: Vec<String>,
}

impl LeakReport {
    /// Nothing an AWS key could be matched by.
    pub fn is_empty(&self) -> bool {
        self.access_key_ids.is_empty() && self.fingerprints.is_empty()
    }
}

/// Whether `s` has the shape of an AWS access key ID (`AKIA` for a user's key, `ASIA` for a
/// temporary one, then 16 upper-case letters and digits).
pub fn is_access_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The access key IDs and the 40-character secret access keys in `text`, in order.
fn tokens(text: &str) -> (Vec<AccessKeyId>, Vec<String>) {
    let (mut ids, mut secrets) = (Vec::new(), Vec::new());
    let parts = text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=')));
    for t in parts {
        if is_access_key_id(t) {
            if !ids.iter().any(|i| i == t) {
                ids.push(AccessKeyId::new(t));
            }
        } else if t.len() == 40 {
            secrets.push(t.to_string());
        }
    }
    (ids, secrets)
}

/// A GitHub secret scanning alert (read through the API: the webhook does not carry the
/// secret). GitHub reports an AWS leak under a `secret_type` beginning with `aws_` and may
/// show the key ID, the secret access key, or both: key IDs are matched as they are, secret
/// access keys by their fingerprint. Any other kind of secret reports nothing.
pub fn from_github_alert(secret_type: &str, secret: &str, location: String) -> LeakReport {
    let (mut ids, mut secrets) = if secret_type.starts_with("aws_") {
        tokens(secret)
    } else {
        (Vec::new(), Vec::new())
    };
    if secret_type.contains("access_key_id") {
        secrets.clear(); // a key ID alone: no secret access key to fingerprint
    }
    ids.dedup();
    LeakReport {
        source: LeakSource::GitHubSecretScanning,
        location,
        access_key_ids: ids,
        fingerprints: secrets.iter().map(|s| secret_fingerprint(s)).collect(),
    }
}

/// Why an event is not an AWS Health report of exposed credentials keygate can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an AWS Health AWS_RISK_CREDENTIALS_EXPOSED event keygate can read: {0}")]
pub struct NotAHealthLeak(pub String);

/// Whether an EventBridge event is AWS Health's `AWS_RISK_CREDENTIALS_EXPOSED`.
pub fn is_health_leak(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.health")
        && event
            .get("detail")
            .and_then(|d| d.get("eventTypeCode"))
            .and_then(Value::as_str)
            == Some("AWS_RISK_CREDENTIALS_EXPOSED")
}

/// AWS Health's event (as EventBridge delivers it): the exposed keys are its affected
/// entities; its description and event ARN say where and what.
pub fn from_health_event(event: &Value) -> Result<LeakReport, NotAHealthLeak> {
    if !is_health_leak(event) {
        return Err(NotAHealthLeak(
            "source is not aws.health, or detail.eventTypeCode is not AWS_RISK_CREDENTIALS_EXPOSED"
                .into(),
        ));
    }
    let detail = &event["detail"];
    let entities = detail
        .get("affectedEntities")
        .and_then(Value::as_array)
        .ok_or_else(|| NotAHealthLeak("no detail.affectedEntities".into()))?;
    let mut ids: Vec<AccessKeyId> = Vec::new();
    for e in entities {
        if let Some(v) = e.get("entityValue").and_then(Value::as_str)
            && is_access_key_id(v)
            && !ids.iter().any(|i| i == v)
        {
            ids.push(AccessKeyId::new(v));
        }
    }
    let description = detail
        .get("eventDescription")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get("latestDescription"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let arn = detail.get("eventArn").and_then(Value::as_str).unwrap_or("");
    let account = event.get("account").and_then(Value::as_str).unwrap_or("");
    let mut location = format!("AWS Health event {arn} (account {account})");
    if !description.trim().is_empty() {
        location.push_str(": ");
        location.push_str(description.trim());
    }
    Ok(LeakReport {
        source: LeakSource::AwsHealth,
        location,
        access_key_ids: ids,
        fingerprints: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    /// AWS's documented Health event, as `tests/fixtures` keeps it.
    const HEALTH: &str = include_str!("../tests/fixtures/aws_health.risk_credentials_exposed.json");

    #[test]
    fn a_github_alert_names_a_key_id_or_shows_a_secret_never_kept() {
        let id = from_github_alert("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE", "x".into());
        assert_eq!(id.access_key_ids, ["AKIAIOSFODNN7EXAMPLE"]);
        assert!(id.fingerprints.is_empty());
        let secret = from_github_alert("aws_secret_access_key", SECRET, "x".into());
        assert!(secret.access_key_ids.is_empty());
        assert_eq!(secret.fingerprints, [secret_fingerprint(SECRET)]);
        assert!(
            !format!("{secret:?}").contains("wJalr"),
            "no secret in the report"
        );
        let pair = format!("AKIAIOSFODNN7EXAMPLE:{SECRET}");
        let both = from_github_alert("aws_secret_access_key", &pair, "x".into());
        assert_eq!(both.access_key_ids, ["AKIAIOSFODNN7EXAMPLE"]);
        assert_eq!(both.fingerprints.len(), 1);
        let other = from_github_alert("adafruit_io_key", "AKIAIOSFODNN7EXAMPLE", "x".into());
        assert!(other.is_empty(), "not an AWS secret type");
    }

    #[test]
    fn awss_documented_health_event_names_the_exposed_key() {
        let mut event: Value = serde_json::from_str(HEALTH).unwrap();
        assert!(is_health_leak(&event));
        // The documented sample holds a placeholder where AWS puts the key ID.
        assert!(from_health_event(&event).unwrap().is_empty());
        event["detail"]["affectedEntities"][0]["entityValue"] = "AKIAIOSFODNN7EXAMPLE".into();
        let r = from_health_event(&event).unwrap();
        assert_eq!(r.source, LeakSource::AwsHealth);
        assert_eq!(r.access_key_ids, ["AKIAIOSFODNN7EXAMPLE"]);
        assert!(
            r.location.contains("AWS_RISK_CREDENTIALS_EXPOSED"),
            "{}",
            r.location
        );
        assert!(r.location.contains("123456789012"), "{}", r.location);
        let mut other = event.clone();
        other["detail"]["eventTypeCode"] = "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into();
        assert!(!is_health_leak(&other));
        assert!(from_health_event(&other).is_err());
    }

    #[test]
    fn key_ids_have_their_shape() {
        assert!(is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(is_access_key_id("ASIAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPL"));
        assert!(!is_access_key_id("akiaiosfodnn7example"));
        assert!(!is_access_key_id("ACCESS_KEY_ID_HERE"));
    }
}
