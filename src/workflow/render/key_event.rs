//! Texts about a key's life after issuing (DESIGN §5): its warning, its expiry, its
//! revocation, as a pull-request comment and an SNS notice. Pure; what came from a pull
//! request or a person is escaped like every other text here.

use std::fmt::Write;

use super::{PrRef, attributes, md, plain, subject};
use crate::aws::Notice;
use crate::event::NoticeEvent;
use crate::ids::{AccessKeyId, AccountAlias, IamUser, RequestPath, SecretName};

/// Which key of which request a text is about.
#[derive(Debug, Clone)]
pub struct KeyRef<'a> {
    pub repository: &'a str,
    /// The pull request that issued the key.
    pub pr: u64,
    pub path: &'a RequestPath,
    pub iam_user: &'a IamUser,
    /// The key's AWS account (DESIGN §9); `None`: keygate's own.
    pub account: Option<&'a AccountAlias>,
    pub requester: &'a str,
    pub access_key_id: &'a AccessKeyId,
    pub secret_name: Option<&'a SecretName>,
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
    /// Rotated in place (DESIGN §10): the secret's current version holds `new_key`; the key
    /// this text is about stays active until `retires_at`.
    Rotated {
        new_key: &'a AccessKeyId,
        by: &'a str,
        reason: &'a str,
        retires_at: &'a str,
        delete_after_days: u32,
    },
    /// A rotation waits: `why` (no free key slot); it is tried again at every pass.
    RotationBlocked { why: &'a str },
    /// AWS has not seen the key used for `unused_days`: warned (`deactivated` false, it is
    /// deactivated `warn_days` later unless used), or deactivated.
    Unused {
        unused_days: u32,
        warn_days: u32,
        last_used: Option<&'a str>,
        deactivated: bool,
        /// When the warning went out (RFC 3339): each warning and the deactivation that
        /// follows it are told once.
        since: &'a str,
    },
    /// Reported leaked by `source` at `location`, and deactivated at once.
    Leaked { source: &'a str, location: &'a str },
}

impl KeyEvent<'_> {
    pub fn notice_event(&self) -> NoticeEvent {
        match self {
            KeyEvent::Expiring { .. } => NoticeEvent::Expiring,
            KeyEvent::Expired { .. } => NoticeEvent::Expired,
            KeyEvent::Revoked { .. } => NoticeEvent::Revoked,
            KeyEvent::Rotated { .. } => NoticeEvent::Rotated,
            KeyEvent::RotationBlocked { .. } => NoticeEvent::Failed,
            KeyEvent::Unused { .. } => NoticeEvent::Unused,
            KeyEvent::Leaked { .. } => NoticeEvent::Leaked,
        }
    }

    /// What tells two texts of one event about one key apart, when the event can happen
    /// more than once to it: each is sent and commented once.
    pub fn occasion(&self) -> Option<String> {
        match self {
            KeyEvent::Unused {
                deactivated: true,
                since,
                ..
            } => Some(format!("deactivated-{since}")),
            KeyEvent::Unused { since, .. } => Some(format!("warned-{since}")),
            KeyEvent::RotationBlocked { .. } => Some("rotation-blocked".into()),
            _ => None,
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
    let id = md::code(key.access_key_id.as_str());
    let mut user = md::code(key.iam_user.as_str());
    if let Some(a) = key.account {
        let _ = write!(user, " in AWS account {}", md::code(a.as_str()));
    }
    let path = md::code(key.path.as_str());
    let secret = key
        .secret_name
        .map(|s| md::code(s.as_str()))
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
        other => care_comment(&mut s, other, key),
    }
    s
}

/// The comment for the events of DESIGN §10.
fn care_comment(s: &mut String, event: &KeyEvent<'_>, key: &KeyRef<'_>) {
    let id = md::code(key.access_key_id.as_str());
    let user = md::code(key.iam_user.as_str());
    let path = md::code(key.path.as_str());
    match event {
        KeyEvent::Rotated { .. } => rotated_comment(s, event, key),
        KeyEvent::RotationBlocked { why } => {
            let _ = write!(
                s,
                "**The access key {id} for IAM user {user} is due for rotation, but keygate \
                 cannot rotate it yet:** {}\n\nkeygate tries again at every pass; the current \
                 key keeps working meanwhile.\n\nRequest: {path} (#{}).\n",
                md::text(why),
                key.pr
            );
        }
        KeyEvent::Unused { .. } => unused_comment(s, event, key),
        KeyEvent::Leaked { source, location } => {
            let secret = secret_of(key);
            let _ = write!(
                s,
                "**The access key {id} for IAM user {user} was reported leaked and keygate \
                 deactivated it at once.**\n\n\
                 - Found by: {}\n\
                 - Where: {}\n\
                 - Secret: {secret}\n\
                 - Request: {path} (#{})\n\n\
                 Treat everything the key could reach as exposed: check CloudTrail for what it \
                 did. A replacement needs a new request file in a new pull request.\n",
                md::text(source),
                md::text(location),
                key.pr
            );
        }
        KeyEvent::Expiring { .. } | KeyEvent::Expired { .. } | KeyEvent::Revoked { .. } => {}
    }
}

fn secret_of(key: &KeyRef<'_>) -> String {
    key.secret_name
        .map(|s| md::code(s.as_str()))
        .unwrap_or_else(|| "(unknown)".into())
}

fn rotated_comment(s: &mut String, event: &KeyEvent<'_>, key: &KeyRef<'_>) {
    let KeyEvent::Rotated {
        new_key,
        by,
        reason,
        retires_at,
        delete_after_days,
    } = event
    else {
        return;
    };
    let _ = write!(
        s,
        "**The access key for IAM user {} was rotated.** The secret {} now holds the new key \
         {} as its current version (`AWSCURRENT`); whoever reads the secret by name gets it, \
         with nothing to change. The previous key {} (`AWSPREVIOUS`) keeps working until {}, \
         then it is deactivated, and deleted {}.\n\n\
         - Rotated by: {}\n\
         - Reason: {}\n\
         - Request: {} (#{})\n",
        md::code(key.iam_user.as_str()),
        secret_of(key),
        md::code(new_key.as_str()),
        md::code(key.access_key_id.as_str()),
        md::text(retires_at),
        days(*delete_after_days),
        md::code(by),
        md::text(reason),
        md::code(key.path.as_str()),
        key.pr
    );
}

fn unused_comment(s: &mut String, event: &KeyEvent<'_>, key: &KeyRef<'_>) {
    let KeyEvent::Unused {
        unused_days,
        warn_days,
        last_used,
        deactivated,
        ..
    } = event
    else {
        return;
    };
    let (id, user, path) = (
        md::code(key.access_key_id.as_str()),
        md::code(key.iam_user.as_str()),
        md::code(key.path.as_str()),
    );
    let seen = match last_used {
        Some(t) => format!("AWS last saw it used on {}", md::text(t)),
        None => "AWS has never seen it used".into(),
    };
    if *deactivated {
        let _ = write!(
            s,
            "**The access key {id} for IAM user {user} was deactivated: it was not used for \
             {unused_days} days** ({seen}), nor in the {warn_days} days after the warning. Its \
             secret {} still holds it, inactive.\n\n\
             To use a key again, add a new request file for {user} in a new pull request.\n\n\
             Request: {path} (#{}).\n",
            secret_of(key),
            key.pr
        );
    } else {
        let _ = write!(
            s,
            "**The access key {id} for IAM user {user} has not been used for {unused_days} \
             days** ({seen}). keygate deactivates it in {warn_days} days unless it is used \
             meanwhile. If nothing needs it, delete its request file in a pull request to revoke \
             it now.\n\nRequest: {path} (#{}).\n",
            key.pr
        );
    }
}

/// The SNS notice: attributes as every other notice has them, `event` from the event.
pub fn key_notice(event: &KeyEvent<'_>, key: &KeyRef<'_>) -> Notice {
    let user = plain::line(key.iam_user.as_str());
    let repository = plain::line(key.repository);
    let title = match event {
        KeyEvent::Expiring { .. } => format!("keygate: access key for {user} expires soon"),
        KeyEvent::Expired { .. } => format!("keygate: access key for {user} expired"),
        KeyEvent::Revoked { .. } => format!("keygate: access key for {user} revoked"),
        KeyEvent::Rotated { .. } => format!("keygate: access key for {user} rotated"),
        KeyEvent::RotationBlocked { .. } => {
            format!("keygate: rotation of the key for {user} waits")
        }
        KeyEvent::Unused {
            deactivated: false, ..
        } => format!("keygate: access key for {user} is unused"),
        KeyEvent::Unused { .. } => format!("keygate: unused access key for {user} deactivated"),
        KeyEvent::Leaked { .. } => format!("keygate: access key for {user} LEAKED, deactivated"),
    };
    let mut m = String::new();
    let _ = writeln!(m, "{title}.\n");
    let _ = writeln!(m, "IAM user:      {user}");
    super::account_line(&mut m, key.account);
    let _ = writeln!(
        m,
        "Access key ID: {}",
        plain::line(key.access_key_id.as_str())
    );
    if let Some(secret) = key.secret_name {
        let _ = writeln!(m, "Secret:        {}", plain::line(secret.as_str()));
    }
    if let Some(when) = key.expires_at {
        let _ = writeln!(m, "Expires:       {}", plain::line(when));
    }
    let _ = writeln!(m, "Request file:  {}", plain::line(key.path.as_str()));
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
        other => care_notice_lines(&mut m, other),
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
            attributes: attributes(event.notice_event(), Some(key.iam_user), key.account, &pr),
            chat: None,
        },
        &pr,
    )
}

/// The notice's lines for the events of DESIGN §10.
fn care_notice_lines(m: &mut String, event: &KeyEvent<'_>) {
    match event {
        KeyEvent::Rotated {
            new_key,
            by,
            reason,
            retires_at,
            ..
        } => {
            let _ = writeln!(m, "New key:       {}", plain::line(new_key.as_str()));
            let _ = writeln!(m, "Previous key active until {}", plain::line(retires_at));
            let _ = writeln!(m, "Rotated by:    {}", plain::line(by));
            let _ = writeln!(m, "Reason:        {}", plain::line(reason));
        }
        KeyEvent::RotationBlocked { why } => {
            let _ = writeln!(m, "Why:           {}", plain::line(why));
        }
        KeyEvent::Unused {
            unused_days,
            last_used,
            deactivated,
            ..
        } => {
            let seen = last_used.map_or("never".to_string(), plain::line);
            let _ = writeln!(m, "Last used:     {seen}");
            let what = if *deactivated {
                "deactivated"
            } else {
                "warned"
            };
            let _ = writeln!(m, "Unused for {unused_days} days or more: {what}.");
        }
        KeyEvent::Leaked { source, location } => {
            let _ = writeln!(m, "Found by:      {}", plain::line(source));
            let _ = writeln!(m, "Where:         {}", plain::line(location));
            let _ = writeln!(m, "The key was deactivated.");
        }
        KeyEvent::Expiring { .. } | KeyEvent::Expired { .. } | KeyEvent::Revoked { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static KEY_ID: std::sync::LazyLock<AccessKeyId> =
        std::sync::LazyLock::new(|| AccessKeyId::new("AKIAEXAMPLE"));
    static USER: std::sync::LazyLock<IamUser> =
        std::sync::LazyLock::new(|| IamUser::new("svc-backup"));
    static PATH: std::sync::LazyLock<RequestPath> =
        std::sync::LazyLock::new(|| RequestPath::new("requests/svc-backup/ci.toml"));
    static SECRET: std::sync::LazyLock<SecretName> =
        std::sync::LazyLock::new(|| SecretName::new("svc-backup/access-key-20260101000000"));

    fn key() -> KeyRef<'static> {
        KeyRef {
            repository: "acme/access-requests",
            pr: 12,
            path: &PATH,
            iam_user: &USER,
            account: None,
            requester: "bob",
            access_key_id: &KEY_ID,
            secret_name: Some(&SECRET),
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
