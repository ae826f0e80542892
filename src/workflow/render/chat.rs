//! A notice as a chat message: the custom-notification format of Amazon Q Developer in chat
//! applications (formerly AWS Chatbot), which subscribes to the SNS topic over HTTPS. With
//! `aws.chat_notices`, SNS sends this to HTTPS subscribers and the text to everyone else.
//! Pure: built from the notice's own text, so chat and e-mail never say different things.
//!
//! The format: `{"version": "1.0", "source": "custom", "content": {"textType":
//! "client-markdown", "title", "description", "nextSteps", "keywords"}, "metadata":
//! {"threadId", "summary", "eventType", "additionalContext"}}`. Chat platforms render the
//! Markdown their own way (Slack's differs from Teams'), so every value that came from a pull
//! request goes into a code span, which all of them show literally: no mentions, no links.

use serde_json::{Value, json};

use super::md;
use crate::aws::Notice;

/// The custom notification for `notice`; `link` is the pull request's address (shown as a
/// link, the one thing in the message that is not in a code span), `thread` groups the
/// notices of one pull request in one chat thread.
pub fn custom_notification(notice: &Notice, link: Option<&str>, thread: &str) -> Value {
    let event = notice
        .attributes
        .get("event")
        .map(String::as_str)
        .unwrap_or("");
    let mut lines = Vec::new();
    let mut body = notice.message.lines();
    let title = body.next().unwrap_or_default().trim_end_matches('.');
    for line in body {
        if let Some(l) = markdown_line(line, link.is_some()) {
            lines.push(l);
        }
    }
    if let Some(url) = link.filter(|u| is_web_link(u)) {
        lines.push(format!("*Pull request:* {url}"));
    }
    let keywords: Vec<&str> = ["event", "iam_user", "repository"]
        .iter()
        .filter_map(|k| notice.attributes.get(*k).map(String::as_str))
        .filter(|v| !v.is_empty() && *v != "-")
        .collect();
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": md::code(title),
            "description": lines.join("\n"),
            "nextSteps": next_steps(event),
            "keywords": keywords,
        },
        "metadata": {
            "threadId": thread,
            "summary": notice.subject,
            "eventType": format!("keygate.{event}"),
            "additionalContext": notice.attributes,
        },
    })
}

/// One line of the plain notice in chat Markdown: `Label: value` with the value in a code
/// span, a list item or an indented line (a reason) as code, keygate's own sentences as they
/// are. The `Pull request:` line is left out when the link is shown on its own.
fn markdown_line(line: &str, link_shown: bool) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    if line.starts_with(' ') {
        let item = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        return Some(format!("• {}", md::code(item)));
    }
    match label(line) {
        Some(("Pull request", _)) if link_shown => None,
        Some((name, "")) => Some(format!("*{name}:*")),
        Some((name, value)) => Some(format!("*{name}:* {}", md::code(value))),
        None => Some(trimmed.to_string()),
    }
}

/// `Label:   value` as keygate writes its notices: a few words of letters before the colon.
fn label(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let words = name.len() <= 20
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphabetic() || c == ' ');
    words.then(|| (name.trim(), value.trim()))
}

/// Only an ordinary web address becomes a link.
fn is_web_link(url: &str) -> bool {
    url.starts_with("https://")
        && !url
            .chars()
            .any(|c| c.is_whitespace() || "<>|`*_~[]()".contains(c))
}

/// What the people in the channel do next, by the notice's event.
pub fn next_steps(event: &str) -> Vec<&'static str> {
    match event {
        "requested" => vec![
            "Owners of the request's folder in CODEOWNERS: review the pull request",
            "Approve on its last commit; keygate issues the key when it is merged",
        ],
        "issued" => vec![
            "Read the key from Secrets Manager by the secret's name",
            "A new key can take a few seconds to work everywhere",
        ],
        "failed" => vec![
            "Read keygate's comment on the pull request for what to fix",
            "Redeliver the merge from the App's settings once it is fixed",
        ],
        "refused" => vec![
            "Read keygate's comment on the pull request for which check failed",
            "Ask again in a new pull request once it is fixed",
        ],
        "rejected" => vec!["Open a new pull request to ask again"],
        "expiring" => vec!["Add a new request file in a new pull request to renew"],
        "expired" => vec!["The key is inactive: add a new request file if it is still needed"],
        "revoked" => vec!["Move systems off the key; a replacement needs a new request"],
        _ => vec!["Read keygate's comment on the pull request"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn notice(message: &str) -> Notice {
        Notice {
            subject: "keygate: access key issued for svc (acme/requests#3)".into(),
            message: message.into(),
            attributes: BTreeMap::from([
                ("event", "issued".to_string()),
                ("iam_user", "svc".to_string()),
                ("repository", "acme/requests".to_string()),
                ("requester", "bob".to_string()),
            ]),
            chat: None,
        }
    }

    #[test]
    fn an_issued_notice_becomes_a_custom_notification_with_its_link_and_next_steps() {
        let n = notice(
            "keygate: access key issued for svc.\n\nIAM user:      svc\nPull request:  acme/requests#3 https://github.com/acme/requests/pull/3\nSecret:        keygate/svc/access-key-1\nReadable only by:\n  - arn:aws:iam::1:role/ci\n",
        );
        let v = custom_notification(
            &n,
            Some("https://github.com/acme/requests/pull/3"),
            "acme/requests#3",
        );
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert_eq!(
            v["content"]["title"],
            "`keygate: access key issued for svc`"
        );
        assert_eq!(
            v["content"]["description"],
            "*IAM user:* `svc`\n*Secret:* `keygate/svc/access-key-1`\n*Readable only by:*\n• `arn:aws:iam::1:role/ci`\n*Pull request:* https://github.com/acme/requests/pull/3"
        );
        assert_eq!(
            v["content"]["nextSteps"][0],
            "Read the key from Secrets Manager by the secret's name"
        );
        assert_eq!(
            v["content"]["keywords"],
            json!(["issued", "svc", "acme/requests"])
        );
        assert_eq!(v["metadata"]["threadId"], "acme/requests#3");
        assert_eq!(v["metadata"]["eventType"], "keygate.issued");
        assert_eq!(v["metadata"]["additionalContext"]["requester"], "bob");
    }

    #[test]
    fn text_from_a_pull_request_cannot_mention_or_link_in_chat() {
        let n = notice(
            "keygate: access key requested for svc.\n\nReason:\n  <!channel> see [this](https://evil.example) *now*\n",
        );
        let v = custom_notification(&n, Some("https://evil.example/<x|y>"), "t");
        let d = v["content"]["description"].as_str().unwrap();
        assert_eq!(
            d,
            "*Reason:*\n• `<!channel> see [this](https://evil.example) *now*`"
        );
        assert!(
            !d.contains("evil.example/<"),
            "an odd link is not shown: {d}"
        );
    }

    #[test]
    fn every_event_has_a_next_step() {
        for event in crate::event::NoticeEvent::ALL {
            assert!(!next_steps(event.as_str()).is_empty(), "{event}");
            assert_ne!(next_steps(event.as_str()), next_steps("unknown"), "{event}");
        }
    }
}
