//! Webhook triage of a signed body: `SignatureKey::verified`, then `triage`, in the order
//! `src/server.rs` calls them (the body goes to `triage` only as the `Verified` that
//! `verified` returns, so the types keep a body with a wrong signature from the parser).
//!
//! Input: one control byte, one event byte, then the body. The control byte picks how the
//! `X-Hub-Signature-256` header is made (right, or wrong in one of several ways), which
//! repository and branch keygate is configured for, and the secret.
//!
//! Two runners call `check`: the fuzz target `fuzz/fuzz_targets/webhook.rs` (coverage-guided,
//! nightly, `scripts/fuzz`) and keygate's test `tests/it/fuzz_replay.rs` (the seeds and a fixed
//! set of their mutations, on stable, in `./scripts/test`).
//!
//! Properties, beyond "no panic":
//! - `verified` accepts exactly the headers that carry the body's HMAC-SHA256 under the
//!   secret, computed here with another implementation (RustCrypto's, not aws-lc-rs): every
//!   wrong, truncated, missing or re-prefixed signature is refused, so its body never reaches
//!   the parser;
//! - a delivery `triage` turns into work agrees with the payload read independently (as a
//!   `serde_json::Value`): the configured repository (without regard to case) and branch
//!   (exactly), the pull request's number, the installation, and an event and action keygate
//!   handles; a delivery for another repository or branch is never work.

use hmac::{Hmac, Mac};
use keygate::github::webhook::{SignatureKey, Triage, triage};
use keygate::ids::{BranchName, RepoName};
use secrecy::SecretString;
use serde_json::Value;
use sha2::Sha256;

const EVENTS: [&str; 8] = [
    "pull_request",
    "pull_request_review",
    "ping",
    "merge_group",
    "issues",
    "push",
    "pull_request_review_comment",
    "",
];
const REPOSITORIES: [&str; 4] = [
    "Codertocat/Hello-World",
    "octo-org/octo-repo",
    "acme/access-requests",
    "codertocat/hello-world",
];
const BRANCHES: [&str; 2] = ["master", "main"];
const SECRETS: [&str; 2] = ["It's a Secret to Everybody", "bench-webhook-secret"];
const HANDLED: [(&str, &str); 7] = [
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("pull_request", "reopened"),
    ("pull_request", "edited"),
    ("pull_request", "closed"),
    ("pull_request_review", "submitted"),
    ("pull_request_review", "dismissed"),
];

fn reference_mac(secret: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    bytes
        .iter()
        .flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// The header the control byte asks for; `None` for no header at all.
fn header(mode: u8, mac: &[u8; 32], body: &[u8]) -> Option<Vec<u8>> {
    let mut flipped = *mac;
    flipped[usize::from(mode) % 32] ^= 1 << (mode % 8);
    let made = match mode % 10 {
        0 | 1 => format!("sha256={}", hex(mac, false)),
        2 => format!("sha256={}", hex(mac, true)),
        3 => format!("sha256={}", hex(&flipped, false)),
        4 => format!("sha256={}", &hex(mac, false)[..63]),
        5 => format!("sha1={}", hex(mac, false)),
        6 => hex(mac, false),
        7 => format!("sha256={}0", hex(mac, false)),
        8 => return None,
        // Whatever the first bytes of the body are, as a header.
        _ => return Some(body.iter().take(71).copied().collect()),
    };
    Some(made.into_bytes())
}

/// Whether `header` carries `mac`, as GitHub documents it: `sha256=` and 64 hex digits.
fn carries(header: Option<&[u8]>, mac: &[u8; 32]) -> bool {
    let Some(digits) = header.and_then(|h| h.strip_prefix(b"sha256=".as_slice())) else {
        return false;
    };
    digits.len() == 64 && (digits.eq_ignore_ascii_case(hex(mac, false).as_bytes()))
}

fn text<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn number(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

/// Whether `Value` refused a body that JSON's grammar allows: a lone surrogate escape
/// (`"\ud800"`; `Value` names it three ways, by what follows it, as runs found) or a number
/// beyond `f64` (`1e400`). Not an escape that is no escape (`"\q"`), which JSON refuses too.
fn grammar_allows(e: &serde_json::Error) -> bool {
    let said = e.to_string();
    [
        "invalid unicode code point",
        "lone leading surrogate in hex escape",
        "unexpected end of hex escape",
        "number out of range",
    ]
    .iter()
    .any(|m| said.contains(m))
}

/// Checks the properties above on one input; panics, saying which, when one fails.
pub fn check(input: &[u8]) {
    let [control, event, body @ ..] = input else {
        return;
    };
    let secret = SECRETS[usize::from(control >> 7)];
    let repository = REPOSITORIES[usize::from((control >> 4) & 3)];
    let branch = BRANCHES[usize::from((control >> 6) & 1)];
    let event = EVENTS[usize::from(*event) % EVENTS.len()];
    let mac = reference_mac(secret, body);
    let header = header(*control, &mac, body);

    let key = SignatureKey::new(&SecretString::from(secret.to_owned()));
    let verified = key.verified(header.as_deref(), body);
    assert_eq!(
        verified.is_some(),
        carries(header.as_deref(), &mac),
        "mode {}: the signature check disagrees with the reference HMAC",
        control % 10
    );
    let Some(verified) = verified else {
        return;
    };
    let (repo, branch_name) = (RepoName::new(repository), BranchName::new(branch));
    let answer = triage(event, verified, &repo, &branch_name);
    let Ok(Triage::Work(work)) = answer else {
        return;
    };
    // Work: the payload, read on its own, must say the same.
    let payload: Value = match serde_json::from_slice(body) {
        Ok(payload) => payload,
        // JSON's grammar allows what `Value` refuses; keygate skips the fields it does not
        // read without decoding them, so such a body can be work. Nothing to compare it with
        // then: the fields keygate did read, it decoded (and a number it reads, it parses).
        Err(e) if grammar_allows(&e) => return,
        Err(e) => panic!("work from a body that is no JSON: {e}"),
    };
    let action = text(&payload, &["action"]).unwrap_or_default();
    assert!(
        HANDLED.contains(&(event, action)),
        "work from {event}/{action}"
    );
    let (activity_event, activity_action) = (work.activity.event(), work.activity.action());
    assert_eq!(
        (activity_event, activity_action),
        (event, action),
        "work's activity is not the delivery's event and action"
    );
    let full_name =
        text(&payload, &["repository", "full_name"]).expect("work without a repository");
    assert!(
        full_name.eq_ignore_ascii_case(repository),
        "work for {full_name}, not {repository}"
    );
    assert_eq!(
        work.repository.as_str(),
        full_name,
        "work's repository is not the payload's"
    );
    let base = text(&payload, &["pull_request", "base", "ref"]);
    assert_eq!(
        base,
        Some(branch),
        "work for a pull request into another branch"
    );
    assert_eq!(
        Some(work.pr.get()),
        number(&payload, &["pull_request", "number"]),
        "work's pull request is not the payload's"
    );
    assert_eq!(
        Some(work.installation.get()),
        number(&payload, &["installation", "id"]),
        "work's installation is not the payload's"
    );
    if work.merge_commit.is_some() {
        assert_eq!(action, "closed", "a merge commit for {action}");
    }
}
