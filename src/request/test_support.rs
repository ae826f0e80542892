//! Rules and shorthands shared by the request module's tests.

use super::{CompiledRules, Diagnostic, Request, RequestRules, parse_request};

pub(super) const JAPANESE_REASON: &str = "本番環境のバックアップ用に必要です";

pub(super) const ALICE: &str = "requests/alice/ci.toml";

/// The settings most tests judge with: any user, no readers allowed (the policy module's
/// tests sort files with them too).
pub(crate) fn settings() -> RequestRules {
    RequestRules {
        requests_dir: "requests".to_owned(),
        default_expiry_days: 90,
        max_expiry_days: 365,
        allowed_users: vec!["*".to_owned()],
        denied_users: vec![],
        allowed_readers: vec![],
        secret_name_template: "{iam_user}/access-key-{timestamp}".to_owned(),
        accounts: vec![],
    }
}

pub(super) fn compiled(settings: &RequestRules) -> CompiledRules {
    match settings.compile() {
        Ok(rules) => rules,
        Err(e) => panic!("test settings must compile: {e}"),
    }
}

pub(super) fn rules() -> CompiledRules {
    compiled(&settings())
}

pub(super) fn parse(path: &str, src: &str) -> Result<Request, Vec<Diagnostic>> {
    parse_request(path, src.as_bytes(), &rules())
}

pub(super) fn diagnostics(path: &str, src: &str) -> Vec<Diagnostic> {
    match parse(path, src) {
        Ok(r) => panic!("expected diagnostics for {src:?}, got {r:?}"),
        Err(d) => d,
    }
}

/// The single diagnostic for `src`, or a panic listing them all.
pub(super) fn only(path: &str, src: &str) -> Diagnostic {
    let d = diagnostics(path, src);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {d:#?}");
    d.into_iter().next().unwrap()
}

/// A valid request for alice, followed by `extra`.
pub(super) fn alice(extra: &str) -> String {
    format!("iam_user = \"alice\"\nreason = \"deploy from CI pipeline\"\n{extra}")
}
