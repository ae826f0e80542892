//! `keygate validate`'s work over 10,000 request files with a 500-line CODEOWNERS:
//! classify each path, parse and check the request, and find its owners.

use criterion::{Criterion, criterion_group, criterion_main};
use keygate::policy::codeowners::CodeOwners;
use keygate::request::{PathKind, RequestRules, classify, parse_request};

fn rules() -> RequestRules {
    RequestRules {
        requests_dir: "requests".into(),
        default_expiry_days: 90,
        max_expiry_days: 365,
        allowed_users: vec!["*".into()],
        denied_users: vec!["root".into(), "admin-*".into()],
        allowed_readers: vec![],
        secret_name_template: "{iam_user}/access-key-{timestamp}".into(),
        accounts: vec![],
    }
}

fn world() -> (String, Vec<(String, String)>) {
    let mut codeowners = String::from("* @acme/platform\n/requests/ @acme/security\n");
    for i in 0..498 {
        codeowners.push_str(&format!("/requests/svc-{i:03}*/ @acme/team-{i}\n"));
    }
    let files = (0..10_000)
        .map(|i| {
            let user = format!("svc-{:03}-{i}", i % 500);
            (
                format!("requests/{user}/ci.toml"),
                format!(
                    "iam_user = \"{user}\"\nreason = \"Nightly backups copy to S3 for system {i}\"\nexpires_in_days = 30\n"
                ),
            )
        })
        .collect();
    (codeowners, files)
}

fn validate_10k(c: &mut Criterion) {
    let (codeowners, files) = world();
    let rules = rules().compile().expect("the bench rules compile");
    c.bench_function("validate 10k request files, 500-line CODEOWNERS", |b| {
        b.iter(|| {
            let owners = CodeOwners::parse(&codeowners);
            let mut problems = 0usize;
            for (path, text) in &files {
                if !matches!(classify(path, &rules), PathKind::Request { .. }) {
                    problems += 1;
                }
                if parse_request(path, text.as_bytes(), &rules).is_err() {
                    problems += 1;
                }
                if owners.rule_for(path).is_none_or(|r| r.owners.is_empty()) {
                    problems += 1;
                }
            }
            assert_eq!(problems, 0);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = validate_10k
}
criterion_main!(benches);
