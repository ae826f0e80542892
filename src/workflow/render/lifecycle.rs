//! Texts about a key's life after issuing (DESIGN §5): its warning, its expiry, its
//! revocation, as a pull-request comment and an SNS notice. Pure; what came from a pull
//! request or a person is escaped like every other text here.

use std::fmt::Write;

use super::{PrRef, attributes, md, plain, subject};
use crate::aws::Notice;
use crate::ids::AccountAlias;
use crate::work::NoticeEvent;

/// Which key of which request a text is about.
#[derive(Debug, Clone)]
pub struct KeyRef<'a> {
    pub repository: &'a str,
    /// The pull request that issued the key.
    pub pr: u64,
    pub path: &'a str,
    pub iam_user: &'a str,
    /// The key's AWS account (DESIGN §9); `None`: keygate's own.
    pub account: Option<&'a AccountAlias>,
    pub requester: &'a str,
    pub access_key_id: &'a str,
    pub secret_name: Option<&'a str>,
    /// The effective expiry, as written (RFC 3339).
    pub expires_at: Option<&'a str>,
}

/// What happened to the key.
#[derive(Debug, Clone)]
pub enum KeyEvent<'a> {
    /// Its expiry is near; `delete_after_days` after it the key and secret are deleted.
    Expiring { delete_after_days: u32 },
    /// It reached its expiry and was deactivated.
    Expired { delete_after_days: u32 },
    /// Deactivated, deleted and its secret deleted, by `by` for `reason`; `revoking_pr`
    /// when a merged deletion of its request file did it.
    Revoked {
        by: &'a str,
        reason: &'a str,
        revoking_pr: Option<u64>,
    },
}

impl KeyEvent<'_> {
    pub fn notice_event(&self) -> NoticeEvent {
        match self {
            KeyEvent::Expiring { .. } => NoticeEvent::Expiring,
            KeyEvent::Expired { .. } => NoticeEvent::Expired,
            KeyEvent::Revoked { .. } => NoticeEvent::Revoked,
        }
    }
}

fn days(n: u32) -> String {
    match n {
        0 => "at once".into(),
        1 => "1 day later".into(),
        n => format!("{n} days later"),
    }
}

/// A new comment on a pull request (the request's own, or the one that revoked it).
pub fn key_comment(event: &KeyEvent<'_>, key: &KeyRef<'_>) -> String {
    let id = md::code(key.access_key_id);
    let mut user = md::code(key.iam_user);
    if let Some(a) = key.account {
        let _ = write!(user, " in AWS account {}", md::code(a.as_str()));
    }
    let path = md::code(key.path);
    let secret = key
        .secret_name
        .map(md::code)
        .unwrap_or_else(|| "(unknown)".into());
    let when = key
        .expires_at
        .map(md::text)
        .unwrap_or_else(|| "(unknown)".into());
    let mut s = String::from("### keygate\n\n");
    match event {
        KeyEvent::Expiring { delete_after_days } => {
            let _ = write!(
                s,
                "**The access key {id} for IAM user {user} expires on {when}.** \
                 keygate deactivates it then, and deletes it and its secret {secret} {}.\n\n\
                 To renew, add a new request file for {user} in a new pull request: once \
                 approved and merged it issues a second key, and both work until this one expires.\n\n\
                 Request: {path} (#{}).\n",
                days(*delete_after_days),
                key.pr
            );
        }
        KeyEvent::Expired { delete_after_days } => {
            let _ = write!(
                s,
                "**The access key {id} for IAM user {user} expired on {when} and was deactivated.** \
                 It and its secret {secret} are deleted {} after the expiry.\n\n\
                 To get a key again, add a new request file for {user} in a new pull request.\n\n\
                 Request: {path} (#{}).\n",
                days(*delete_after_days),
                key.pr
            );
        }
        KeyEvent::Revoked {
            by,
            reason,
            revoking_pr,
        } => {
            let how = match revoking_pr {
                Some(n) => format!("by the merge of #{n}"),
                None => format!("by {}", md::code(by)),
            };
            let _ = write!(
                s,
                "**The access key {id} for IAM user {user} was revoked {how}.** It was \
                 deactivated and deleted, and its secret {secret} was deleted.\n\n\
                 - Reason: {}\n\
                 - Request: {path} (#{})\n",
                md::text(reason),
                key.pr
            );
        }
    }
    s
}

/// The SNS notice: attributes as every other notice has them, `event` from the event.
pub fn key_notice(event: &KeyEvent<'_>, key: &KeyRef<'_>) -> Notice {
    let user = plain::line(key.iam_user);
    let repository = plain::line(key.repository);
    let title = match event {
        KeyEvent::Expiring { .. } => format!("keygate: access key for {user} expires soon"),
        KeyEvent::Expired { .. } => format!("keygate: access key for {user} expired"),
        KeyEvent::Revoked { .. } => format!("keygate: access key for {user} revoked"),
    };
    let mut m = String::new();
    let _ = writeln!(m, "{title}.\n");
    let _ = writeln!(m, "IAM user:      {user}");
    super::account_line(&mut m, key.account);
    let _ = writeln!(m, "Access key ID: {}", plain::line(key.access_key_id));
    if let Some(secret) = key.secret_name {
        let _ = writeln!(m, "Secret:        {}", plain::line(secret));
    }
    if let Some(when) = key.expires_at {
        let _ = writeln!(m, "Expires:       {}", plain::line(when));
    }
    let _ = writeln!(m, "Request file:  {}", plain::line(key.path));
    let _ = writeln!(m, "Pull request:  {repository}#{}", key.pr);
    let _ = writeln!(m, "Requester:     @{}", plain::line(key.requester));
    match event {
        KeyEvent::Expiring { .. } => {
            let _ = writeln!(m, "To renew, add a new request file in a new pull request.");
        }
        KeyEvent::Expired { .. } => {
            let _ = writeln!(m, "The key was deactivated.");
        }
        KeyEvent::Revoked {
            by,
            reason,
            revoking_pr,
        } => {
            match revoking_pr {
                Some(n) => {
                    let _ = writeln!(m, "Revoked by:    the merge of {repository}#{n}");
                }
                None => {
                    let _ = writeln!(m, "Revoked by:    {}", plain::line(by));
                }
            }
            let _ = writeln!(m, "Reason:        {}", plain::line(reason));
        }
    }
    let pr = PrRef {
        repository: key.repository,
        number: key.pr,
        url: "",
        requester: key.requester,
        approvers: &[],
    };
    super::with_chat(
        Notice {
            subject: subject(&format!("{title} ({repository}#{})", key.pr)),
            message: m,
            attributes: attributes(event.notice_event(), key.iam_user, key.account, &pr),
            chat: None,
        },
        &pr,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyRef<'static> {
        KeyRef {
            repository: "acme/access-requests",
            pr: 12,
            path: "requests/svc-backup/ci.toml",
            iam_user: "svc-backup",
            account: None,
            requester: "bob",
            access_key_id: "AKIAEXAMPLE",
            secret_name: Some("svc-backup/access-key-20260101000000"),
            expires_at: Some("2026-03-01T00:00:00Z"),
        }
    }

    #[test]
    fn the_warning_says_when_and_how_to_renew() {
        let c = key_comment(
            &KeyEvent::Expiring {
                delete_after_days: 7,
            },
            &key(),
        );
        assert!(c.contains("expires on 2026-03-01T00:00:00Z"), "{c}");
        assert!(c.contains("add a new request file"), "{c}");
        assert!(c.contains("7 days later"), "{c}");
        let n = key_notice(
            &KeyEvent::Expiring {
                delete_after_days: 7,
            },
            &key(),
        );
        assert_eq!(n.attributes["event"], "expiring");
        assert_eq!(n.attributes["iam_user"], "svc-backup");
        assert_eq!(n.attributes["requester"], "bob");
        assert!(n.subject.contains("expires soon") && n.subject.len() < 100);
    }

    #[test]
    fn the_expiry_says_the_key_was_deactivated() {
        let e = KeyEvent::Expired {
            delete_after_days: 0,
        };
        let c = key_comment(&e, &key());
        assert!(
            c.contains("was deactivated") && c.contains("at once"),
            "{c}"
        );
        assert_eq!(key_notice(&e, &key()).attributes["event"], "expired");
    }

    #[test]
    fn a_revocation_names_who_and_why_without_mentions_or_forged_lines() {
        let e = KeyEvent::Revoked {
            by: "@ops\nIAM user: root",
            reason: "leaked in @acme/everyone's chat\nIAM user: root",
            revoking_pr: None,
        };
        let c = key_comment(&e, &key());
        assert!(
            c.contains("`@acme/everyone's`") && !c.contains(" @acme"),
            "a mention survived outside code: {c}"
        );
        assert!(!c.contains("\nIAM user: root"), "{c}");
        let n = key_notice(&e, &key());
        assert_eq!(n.attributes["event"], "revoked");
        assert!(!n.message.contains("\nIAM user: root"), "{}", n.message);
        assert!(n.message.contains("leaked in"), "{}", n.message);

        let by_pr = KeyEvent::Revoked {
            by: "carol",
            reason: "request file deleted",
            revoking_pr: Some(40),
        };
        assert!(key_comment(&by_pr, &key()).contains("by the merge of #40"));
    }
}
