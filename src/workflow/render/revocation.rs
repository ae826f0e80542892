//! What the check run says about request files a pull request deletes (DESIGN §5,
//! revocation): merging such a pull request revokes their keys, so approvers must see which
//! keys, whose approval counts and what is still missing before they merge.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::md;
use crate::ids::{AccessKeyId, RequestPath};
use crate::policy::approval::{Decision, Verdict};
use crate::policy::changes::Changes;

/// Everything the revocation part of a check run shows, as plain data.
pub struct Revocations<'a> {
    pub changes: &'a Changes,
    /// Merging now revokes (`policy::verdict`: the deletions half acts).
    pub ready: bool,
    /// The §2 decision over the deleted paths (`Facts::revocation`).
    pub decision: Option<&'a Decision>,
    /// Live access key IDs per deleted path, from the ledger's key lives.
    pub keys: &'a BTreeMap<RequestPath, Vec<AccessKeyId>>,
}

impl Revocations<'_> {
    /// Deletions only: the pull request exists to revoke, so the check run is about that.
    pub fn only_deletions(&self) -> bool {
        !self.changes.removed.is_empty() && self.changes.added.is_empty()
    }

    /// The check run's title for a pull request that only deletes request files.
    pub fn title(&self) -> String {
        if self.ready {
            format!("Approved: merging now revokes {}", self.what())
        } else {
            format!("Waiting for approval: merging would revoke {}", self.what())
        }
    }

    /// What merging revokes: "the keys of 2 request files".
    pub fn what(&self) -> String {
        match self.changes.removed.len() {
            1 => "the keys of 1 request file".to_string(),
            n => format!("the keys of {n} request files"),
        }
    }

    /// One section per deleted path: the keys merging revokes, the owners, who approved,
    /// and what is still needed. Empty when the pull request deletes nothing.
    pub fn section(&self) -> String {
        let mut s = String::new();
        if self.changes.removed.is_empty() {
            return s;
        }
        for path in &self.changes.removed {
            let _ = writeln!(s, "### Revoking {}\n", md::code(path.as_str()));
            let keys = self.keys.get(path).filter(|k| !k.is_empty());
            match keys {
                Some(keys) => {
                    let listed: Vec<String> = keys.iter().map(|k| md::code(k.as_str())).collect();
                    let _ = writeln!(
                        s,
                        "- Merging revokes this request's live key{}: {} (deactivated, then deleted with {})",
                        if keys.len() == 1 { "" } else { "s" },
                        listed.join(", "),
                        if keys.len() == 1 { "its secret" } else { "their secrets" }
                    );
                }
                None => s.push_str(
                    "- keygate's ledger has no live key for this request file (never issued, or expired, deleted or revoked already): merging revokes nothing in AWS\n",
                ),
            }
            let file = self
                .decision
                .and_then(|d| d.files.iter().find(|f| path == &f.path));
            match file {
                None => s.push_str(
                    "- Still needed: keygate could not judge who may approve this deletion; push again to re-run the check\n",
                ),
                Some(f) => {
                    let owners = if f.owners.is_empty() {
                        "nobody (no CODEOWNERS line gives this path an owner)".to_string()
                    } else {
                        f.owners.iter().map(md::owner).collect::<Vec<_>>().join(", ")
                    };
                    let _ = writeln!(s, "- Can approve: {owners}");
                    let approved = if f.approved_by.is_empty() {
                        "nobody yet".to_string()
                    } else {
                        f.approved_by
                            .iter()
                            .map(|a| md::login(&a.login))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let _ = writeln!(
                        s,
                        "- Approved by the owners on the current head: {approved} ({} of {} needed)",
                        f.approved_by.len().min(f.needed as usize),
                        f.needed
                    );
                    if f.verdict != Verdict::Approved {
                        let _ = writeln!(s, "- Still needed: {}", md::prose(&f.explain()));
                    }
                    for i in &f.ignored {
                        let _ = writeln!(s, "- Not counted: {}", md::prose(&i.to_string()));
                    }
                }
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Account;
    use crate::policy::approval::FileDecision;
    use crate::policy::codeowners::Owner;

    fn changes(removed: &[&str], added: &[&str]) -> Changes {
        Changes {
            removed: removed.iter().map(|p| RequestPath::new(*p)).collect(),
            added: added.iter().map(|p| RequestPath::new(*p)).collect(),
            ..Changes::default()
        }
    }

    fn file(path: &str, approved_by: &[&str], verdict: Verdict) -> FileDecision {
        FileDecision {
            path: path.into(),
            owners: vec![Owner::Team {
                org: "acme".into(),
                slug: "security".into(),
            }],
            approved_by: approved_by
                .iter()
                .enumerate()
                .map(|(i, l)| Account {
                    id: i as u64 + 1,
                    login: l.to_string(),
                    is_bot: false,
                })
                .collect(),
            counted: Vec::new(),
            needed: 1,
            blocked_by: Vec::new(),
            ignored: Vec::new(),
            verdict,
        }
    }

    #[test]
    fn an_approved_deletion_names_the_keys_merging_revokes() {
        let c = changes(&["requests/alice/ci.toml", "requests/bob/`x`.toml"], &[]);
        let d = Decision {
            files: vec![
                file("requests/alice/ci.toml", &["carol"], Verdict::Approved),
                file("requests/bob/`x`.toml", &["carol"], Verdict::Approved),
            ],
        };
        let keys = BTreeMap::from([(
            RequestPath::new("requests/alice/ci.toml"),
            vec!["AKIAEXAMPLE1".into(), "AKIAEXAMPLE2".into()],
        )]);
        let r = Revocations {
            changes: &c,
            ready: true,
            decision: Some(&d),
            keys: &keys,
        };
        insta::assert_snapshot!(format!("{}\n---\n{}", r.title(), r.section()), @r"
Approved: merging now revokes the keys of 2 request files
---
### Revoking `requests/alice/ci.toml`

- Merging revokes this request's live keys: `AKIAEXAMPLE1`, `AKIAEXAMPLE2` (deactivated, then deleted with their secrets)
- Can approve: @acme/security
- Approved by the owners on the current head: @carol (1 of 1 needed)

### Revoking ``requests/bob/`x`.toml``

- keygate's ledger has no live key for this request file (never issued, or expired, deleted or revoked already): merging revokes nothing in AWS
- Can approve: @acme/security
- Approved by the owners on the current head: @carol (1 of 1 needed)
");
    }

    #[test]
    fn an_unapproved_deletion_says_what_is_still_needed() {
        let c = changes(&["requests/alice/ci.toml"], &[]);
        let d = Decision {
            files: vec![file(
                "requests/alice/ci.toml",
                &[],
                Verdict::Pending { missing: 1 },
            )],
        };
        let keys = BTreeMap::from([(
            RequestPath::new("requests/alice/ci.toml"),
            vec!["AKIAEXAMPLE1".into()],
        )]);
        let r = Revocations {
            changes: &c,
            ready: false,
            decision: Some(&d),
            keys: &keys,
        };
        insta::assert_snapshot!(format!("{}\n---\n{}", r.title(), r.section()), @r"
Waiting for approval: merging would revoke the keys of 1 request file
---
### Revoking `requests/alice/ci.toml`

- Merging revokes this request's live key: `AKIAEXAMPLE1` (deactivated, then deleted with its secret)
- Can approve: @acme/security
- Approved by the owners on the current head: nobody yet (0 of 1 needed)
- Still needed: needs 1 more approval from `@acme/security`
");
    }

    #[test]
    fn deletions_beside_new_requests_are_shown_as_revocations_too() {
        let c = changes(&["requests/alice/ci.toml"], &["requests/alice/new.toml"]);
        let d = Decision {
            files: vec![file(
                "requests/alice/ci.toml",
                &["carol"],
                Verdict::Approved,
            )],
        };
        let keys = BTreeMap::new();
        let r = Revocations {
            changes: &c,
            ready: true,
            decision: Some(&d),
            keys: &keys,
        };
        assert!(!r.only_deletions());
        assert!(
            r.section()
                .starts_with("### Revoking `requests/alice/ci.toml`"),
            "{}",
            r.section()
        );
    }
}
