//! The request parser and validator (`keygate::request::parse_request`), over any bytes.
//!
//! Input: the bytes of a request file. Its path is `requests/<iam_user>/<name>.toml`, with
//! `<iam_user>` the first `iam_user = "…"` value the bytes hold (so real requests validate),
//! unless a line `#path: …` (a TOML comment) names another path: then that one.
//!
//! Two runners call `check`: the fuzz target `fuzz/fuzz_targets/request.rs` (coverage-guided,
//! nightly, `scripts/fuzz`) and keygate's test `tests/it/fuzz_replay.rs` (the seeds and a fixed
//! set of their mutations, on stable, in `./scripts/test`).
//!
//! Properties, beyond "no panic":
//! - a request that validates renders, with the default secret-name template, a valid Secrets
//!   Manager name (ASCII letters, digits and `/_+=.@-`, 1 to 512 characters), checked here
//!   independently of keygate's own check; and its fields keep DESIGN §1's bounds;
//! - every problem names the file it was given, and any line (and column) it gives exists in
//!   the input;
//! - the same bytes give the same answer twice (no hidden state).

use keygate::config::{AwsSection, PolicySection};
use std::sync::OnceLock;

use keygate::request::{
    CompiledRules, RequestRules, SecretNameInputs, parse_request, render_secret_name,
};

static RULES: OnceLock<CompiledRules> = OnceLock::new();

/// The rules of `keygate.example.toml`, with readers allowed so that field is judged too.
fn rules() -> CompiledRules {
    let policy = PolicySection::default();
    RequestRules {
        requests_dir: policy.requests_dir,
        default_expiry_days: policy.default_expiry_days,
        max_expiry_days: policy.max_expiry_days,
        allowed_users: vec!["*".into()],
        denied_users: vec!["root".into(), "admin*".into()],
        allowed_readers: vec!["arn:aws:iam::123456789012:role/ci/*".into()],
        secret_name_template: AwsSection::default().secret_name,
        accounts: Vec::new(),
    }
    .compile()
    .expect("the example rules compile")
}

fn path_for(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if let Some(path) = text.lines().find_map(|l| l.strip_prefix("#path: ")) {
        return path.trim_end_matches('\r').to_owned();
    }
    let user = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("iam_user"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .find_map(|rest| rest.trim().strip_prefix('"')?.split('"').next())
        .unwrap_or("alice");
    format!("requests/{user}/ci.toml")
}

/// Secrets Manager's rule for a name, written out here rather than borrowed from keygate.
fn valid_secret_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    (1..=512).contains(&name.chars().count()) && name.chars().all(allowed)
}

/// The input's lines as the parser counts them (after a UTF-8 BOM, which it drops).
fn lines(bytes: &[u8]) -> Vec<String> {
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    String::from_utf8_lossy(body)
        .split('\n')
        .map(str::to_owned)
        .collect()
}

/// Checks the properties above on one input; panics, saying which, when one fails.
pub fn check(bytes: &[u8]) {
    let rules = RULES.get_or_init(rules);
    let path = path_for(bytes);
    let answer = parse_request(&path, bytes, rules);
    assert_eq!(
        answer,
        parse_request(&path, bytes, rules),
        "not deterministic"
    );
    match answer {
        Ok(request) => {
            assert_eq!(request.path, path, "validated under another path");
            assert!(
                path.starts_with(&format!("requests/{}/", request.iam_user)),
                "{path} validated for the IAM user {:?}",
                request.iam_user
            );
            let reason = request.reason.chars().count();
            assert!(
                (10..=1000).contains(&reason),
                "reason of {reason} characters"
            );
            assert_eq!(request.reason.trim(), request.reason, "reason not trimmed");
            assert!(
                (1..=rules.max_expiry_days).contains(&request.expires_in_days),
                "expires in {} days",
                request.expires_in_days
            );
            assert!(
                request.readers.len() <= keygate::request::MAX_READERS,
                "{} readers",
                request.readers.len()
            );
            for (timestamp, pr) in [("20260101000000", 1), ("99991231235959", u64::MAX)] {
                let inputs = SecretNameInputs {
                    iam_user: request.iam_user.as_str(),
                    timestamp,
                    pr,
                    request: request.name(),
                };
                let name = render_secret_name(&rules.secret_name_template, &inputs)
                    .unwrap_or_else(|why| panic!("{path} validated, yet its secret name: {why}"));
                assert!(
                    valid_secret_name(name.as_str()),
                    "invalid secret name {name:?}"
                );
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a reason");
            let lines = lines(bytes);
            for problem in &problems {
                assert_eq!(
                    problem.path, path,
                    "a problem about another file: {problem}"
                );
                assert!(!problem.message.trim().is_empty(), "an empty message");
                if let Some(line) = problem.line {
                    assert!(
                        line >= 1 && line <= lines.len(),
                        "line {line} of {}: {problem}",
                        lines.len()
                    );
                    if let Some(column) = problem.column {
                        let width = lines[line - 1].chars().count();
                        assert!(
                            column >= 1 && column <= width + 1,
                            "column {column} of {width}: {problem}"
                        );
                    }
                }
            }
        }
    }
}
