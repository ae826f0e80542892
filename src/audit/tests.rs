use time::macros::datetime;

use super::*;
use crate::ids::{IamUser, InstallationId, PrNumber, RepoName};
use crate::ledger::IntentKey;

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

fn log() -> String {
    // As git prints it: newest first.
    [
        "\u{1e}ccc\u{1f}Dana\u{1f}2026-05-01T10:00:00Z\n\nD\trequests/svc-a/ci.toml\n",
        "\u{1e}bbb\u{1f}Bob\u{1f}2026-03-01T10:00:00Z\n\nA\trequests/svc-b/ci.toml\nM\trequests/svc-a/ci.toml\n",
        "\u{1e}aaa\u{1f}Bob\u{1f}2026-02-01T10:00:00+00:00\n\nA\trequests/svc-a/ci.toml\n",
    ]
    .concat()
}

fn intent(path: &str, state: IntentState, written: OffsetDateTime) -> Intent {
    Intent {
        state,
        iam_user: iam_user_of_path(path),
        requester: "bob".into(),
        approvers: vec!["carol".into()],
        access_key_id: Some("AKIAEXAMPLE".into()),
        secret_name: Some("svc-a/access-key-1".into()),
        expires_at: Some(datetime!(2026-07-01 00:00 UTC)),
        updated_at_ms: written.unix_timestamp() * 1000,
        ..Intent::new(
            IntentKey {
                repository: RepoName::new("acme/requests".to_string()),
                pr: PrNumber(4),
                path: path.into(),
            },
            InstallationId(1),
        )
    }
}

fn iam_user_of_path(path: &str) -> IamUser {
    crate::life::iam_user_of(path).unwrap_or_else(|| IamUser::new(""))
}

fn facts(aws: AwsKey) -> KeyFacts {
    KeyFacts {
        aws,
        tag_expiry: None,
        last_used: Some(None),
    }
}

#[test]
fn the_git_history_becomes_request_files_with_their_adding_and_deleting_commits() {
    let files = request_files(&parse_git_log(&log()));
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].path, "requests/svc-a/ci.toml");
    assert_eq!(files[0].added.commit, "aaa");
    assert_eq!(files[0].added.date, Some(datetime!(2026-02-01 10:00 UTC)));
    assert_eq!(
        files[0].deleted.as_ref().map(|d| d.commit.as_str()),
        Some("ccc")
    );
    assert_eq!(files[1].path, "requests/svc-b/ci.toml");
    assert!(files[1].deleted.is_none());
}

#[test]
fn an_intent_belongs_to_the_latest_addition_of_its_path_before_it_was_written() {
    let changes = parse_git_log(
        "\u{1e}c2\u{1f}B\u{1f}2026-04-01T00:00:00Z\n\nA\tp\n\u{1e}c1\u{1f}B\u{1f}2026-01-01T00:00:00Z\n\nA\tp\n",
    );
    let files = request_files(&changes);
    let old = intent("p", IntentState::Issued, datetime!(2026-01-02 00:00 UTC));
    let new = intent("p", IntentState::Issued, datetime!(2026-04-02 00:00 UTC));
    let stray = intent("q", IntentState::Issued, datetime!(2026-04-02 00:00 UTC));
    let (of_file, unmatched) = match_intents(&files, &[old, new, stray]);
    assert_eq!(of_file, [Some(0), Some(1)]);
    assert_eq!(
        unmatched,
        [2],
        "an intent no history explains is listed, not dropped"
    );
}

#[test]
fn states_follow_the_ledger_first_and_aws_for_issued_keys() {
    let t = datetime!(2026-01-01 00:00 UTC);
    let far = Some(datetime!(2026-12-01 00:00 UTC));
    let issued = intent("p", IntentState::Issued, t);
    let st =
        |i: Option<&Intent>, stage, aws, exp| state_of(true, i, stage, &facts(aws), exp, NOW, 7);
    assert_eq!(st(None, None, AwsKey::Unknown, None), State::NeverIssued);
    assert_eq!(st(Some(&issued), None, AwsKey::Active, far), State::Active);
    assert_eq!(
        st(
            Some(&issued),
            None,
            AwsKey::Active,
            Some(NOW + Duration::days(3))
        ),
        State::Expiring
    );
    assert_eq!(
        st(Some(&issued), None, AwsKey::Inactive, far),
        State::Inactive
    );
    assert_eq!(st(Some(&issued), None, AwsKey::Absent, far), State::Deleted);
    assert_eq!(
        st(Some(&issued), Some(Stage::Revoked), AwsKey::Absent, far),
        State::Revoked
    );
    assert_eq!(
        st(Some(&issued), None, AwsKey::Unknown, far),
        State::Unknown
    );
    let mut refused = intent("p", IntentState::NotIssued, t);
    refused.outcome = Some("refused: no approval".into());
    assert_eq!(
        st(Some(&refused), None, AwsKey::Unknown, None),
        State::Refused
    );
    refused.outcome = Some("AccessDenied".into());
    assert_eq!(
        st(Some(&refused), None, AwsKey::Unknown, None),
        State::Failed
    );
    assert_eq!(
        state_of(false, None, None, &KeyFacts::UNKNOWN, None, NOW, 7),
        State::Unknown,
        "without a ledger nothing is known, never `never issued`"
    );
}

#[test]
fn the_secret_tag_can_only_shorten_a_keys_life() {
    let a = datetime!(2026-07-01 00:00 UTC);
    let b = datetime!(2026-06-02 00:00 UTC);
    assert_eq!(effective_expiry(Some(a), Some(b)), Some(b));
    assert_eq!(effective_expiry(Some(b), Some(a)), Some(b));
    assert_eq!(effective_expiry(None, Some(a)), Some(a));
    assert_eq!(effective_expiry(None, None), None);
}

#[test]
fn an_active_key_past_its_expiry_is_drift_and_says_so() {
    let files = request_files(&parse_git_log(&log()));
    let i = intent("requests/svc-a/ci.toml", IntentState::Issued, NOW);
    let mut key = facts(AwsKey::Active);
    key.tag_expiry = Some(NOW - Duration::hours(1));
    let j = Joined {
        file: Some(&files[0]),
        path: files[0].path.clone(),
        intent: Some(&i),
        stage: None,
        tagged: None,
        pull: None,
        lineage: Default::default(),
        key,
    };
    let r = row(&j, true, NOW, 7);
    assert!(r.drift);
    assert_eq!(r.state, State::Active);
    assert!(table(std::slice::from_ref(&r)).contains("active (PAST EXPIRY)"));
    assert!(csv(&[r]).lines().nth(1).unwrap().ends_with(",true"));
    let mut fine = j.clone();
    fine.key.aws = AwsKey::Inactive;
    assert!(
        !row(&fine, true, NOW, 7).drift,
        "deactivated at expiry is no drift"
    );
}

#[test]
fn what_no_source_says_is_printed_unknown() {
    let files = request_files(&parse_git_log(&log()));
    let j = Joined {
        file: Some(&files[1]),
        path: files[1].path.clone(),
        intent: None,
        stage: None,
        tagged: None,
        pull: None,
        lineage: Default::default(),
        key: KeyFacts::UNKNOWN,
    };
    let r = row(&j, false, NOW, 7);
    let t = table(std::slice::from_ref(&r));
    let line = t.lines().nth(1).unwrap();
    assert!(
        line.contains("requests/svc-b/ci.toml") && line.contains("bbb"),
        "{line}"
    );
    assert!(line.contains("unknown"), "{line}");
    assert!(!line.contains("never issued"), "{line}");
    let json: serde_json::Value = serde_json::from_str(&json(&[r])).unwrap();
    assert_eq!(json[0]["state"], "unknown");
    assert_eq!(json[0]["requested_by"], serde_json::Value::Null);
}

#[test]
fn csv_quotes_what_would_break_a_field() {
    let files = request_files(&parse_git_log(&log()));
    let mut i = intent("requests/svc-a/ci.toml", IntentState::Issued, NOW);
    i.approvers = vec!["carol".into(), "dave,jr".into()];
    let j = Joined {
        file: Some(&files[0]),
        path: files[0].path.clone(),
        intent: Some(&i),
        stage: None,
        tagged: None,
        pull: None,
        lineage: Default::default(),
        key: facts(AwsKey::Active),
    };
    let out = csv(&[row(&j, true, NOW, 7)]);
    assert!(out.contains("\"carol dave,jr\""), "{out}");
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn filters_walk_back_from_a_key_and_narrow_by_user_and_date() {
    let files = request_files(&parse_git_log(&log()));
    let i = intent("requests/svc-a/ci.toml", IntentState::Issued, NOW);
    let j = Joined {
        file: Some(&files[0]),
        path: files[0].path.clone(),
        intent: Some(&i),
        stage: None,
        tagged: None,
        pull: None,
        lineage: Default::default(),
        key: facts(AwsKey::Active),
    };
    let r = row(&j, true, NOW, 7);
    let f = |key: Option<&str>, user: Option<&str>, since: Option<OffsetDateTime>| Filter {
        key: key.map(Into::into),
        user: user.map(Into::into),
        since,
    };
    assert!(f(Some("AKIAEXAMPLE"), None, None).keeps(&r));
    assert!(!f(Some("AKIAOTHER"), None, None).keeps(&r));
    assert!(f(None, Some("SVC-A"), None).keeps(&r));
    assert!(f(None, Some("bob"), None).keeps(&r), "the requester");
    assert!(!f(None, Some("mallory"), None).keeps(&r));
    assert!(f(None, None, Some(datetime!(2026-02-01 00:00 UTC))).keeps(&r));
    assert!(!f(None, None, Some(datetime!(2026-03-01 00:00 UTC))).keeps(&r));
}

fn tagged(request: Option<&str>, repository: &str) -> TaggedSecret {
    let mut tags = std::collections::BTreeMap::from([
        (
            "keygate:access-key-id".to_string(),
            "AKIAUNTRACKED".to_string(),
        ),
        ("keygate:repository".to_string(), repository.to_string()),
        ("keygate:pr".to_string(), "9".to_string()),
        ("keygate:requester".to_string(), "mallory".to_string()),
        ("keygate:approvers".to_string(), "carol dave".to_string()),
    ]);
    if let Some(r) = request {
        tags.insert("keygate:request".into(), r.into());
    }
    TaggedSecret::from_tags(
        &"svc-x/access-key-1".into(),
        "arn:aws:secretsmanager:us-east-1:1:secret:svc-x/access-key-1-XyZw",
        Some(datetime!(2026-05-20 10:00 UTC)),
        &tags,
    )
    .expect("it has keygate's access-key-id tag")
}

#[test]
fn an_active_tagged_key_whose_request_file_is_not_in_the_history_is_drift() {
    let files = request_files(&parse_git_log(&log()));
    let secret = tagged(Some("requests/svc-x/ci.toml"), "acme/requests");
    let r = no_request_file(
        &secret,
        &facts(AwsKey::Active),
        &files,
        Some("acme/requests"),
    )
    .expect("a drift row");
    assert!(r.drift);
    assert_eq!(r.state, State::ActiveNoRequestFile);
    assert_eq!(r.state.as_str(), "active, no request file");
    assert_eq!(r.path, "requests/svc-x/ci.toml");
    assert_eq!(r.iam_user, "svc-x");
    assert_eq!(r.access_key_id, Some("AKIAUNTRACKED".into()));
    assert_eq!(r.secret, Some("svc-x/access-key-1".into()));
    assert_eq!(r.pr, Some(9));
    assert_eq!(r.requested_by.as_deref(), Some("mallory"));
    let table = table(&[r]);
    assert!(table.contains("active, no request file"), "{table}");
    assert!(!table.contains("PAST EXPIRY"), "{table}");
}

#[test]
fn a_tagged_key_is_drift_only_when_active_and_its_file_never_existed_here() {
    let files = request_files(&parse_git_log(&log()));
    let repo = Some("acme/requests");
    // Its request file is in the history (even deleted later): the rows already say so.
    let known = tagged(Some("requests/svc-a/ci.toml"), "acme/requests");
    assert_eq!(
        no_request_file(&known, &facts(AwsKey::Active), &files, repo),
        None
    );
    // Not active, or not known to be: no drift, never a guess.
    let missing = tagged(Some("requests/svc-x/ci.toml"), "acme/requests");
    for aws in [AwsKey::Inactive, AwsKey::Absent, AwsKey::Unknown] {
        assert_eq!(no_request_file(&missing, &facts(aws), &files, repo), None);
    }
    // Another repository's keygate made it: its requests are not in this clone.
    let other = tagged(Some("requests/svc-x/ci.toml"), "acme/other");
    assert_eq!(
        no_request_file(&other, &facts(AwsKey::Active), &files, repo),
        None
    );
    // No request tag at all: no request file can explain it.
    let untagged = tagged(None, "acme/requests");
    let r = no_request_file(&untagged, &facts(AwsKey::Active), &files, repo).unwrap();
    assert_eq!(r.path, "unknown");
    assert!(r.drift);
}

fn tags(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn keygate_tags() -> std::collections::BTreeMap<String, String> {
    tags(&[
        ("keygate:access-key-id", "AKIATAGGED"),
        ("keygate:repository", "acme/requests"),
        ("keygate:pr", "17"),
        ("keygate:request", "requests/svc-b/ci.toml"),
        ("keygate:requester", "bob"),
        ("keygate:approvers", "carol dave"),
        ("keygate:expires-at", "2026-07-01T00:00:00Z"),
    ])
}

fn secret() -> TaggedSecret {
    TaggedSecret::from_tags(
        &"svc-b/access-key-1".into(),
        "arn:aws:secretsmanager:us-east-1:1:secret:svc-b/access-key-1-AbCd",
        Some(datetime!(2026-03-01 10:05 UTC)),
        &keygate_tags(),
    )
    .unwrap()
}

#[test]
fn a_secrets_tags_say_who_asked_who_approved_and_when_the_key_ends() {
    let s = secret();
    assert_eq!(s.access_key_id, "AKIATAGGED");
    assert_eq!(s.pr, Some(17));
    assert_eq!(s.path.as_deref(), Some("requests/svc-b/ci.toml"));
    assert_eq!(s.requester.as_deref(), Some("bob"));
    assert_eq!(
        s.approvers,
        Some(vec!["carol".to_string(), "dave".to_string()])
    );
    assert_eq!(s.expires_at, Some(datetime!(2026-07-01 00:00 UTC)));
    assert!(s.belongs_to("ACME/requests"));
    assert!(!s.belongs_to("acme/other"), "another keygate's key");

    let mut t = keygate_tags();
    t.remove("keygate:access-key-id");
    assert_eq!(
        TaggedSecret::from_tags(&"x".into(), "arn", None, &t),
        None,
        "no key ID: not a key keygate issued"
    );
    let mut t = keygate_tags();
    t.insert("keygate:pr".into(), "seventeen".into());
    t.insert("keygate:expires-at".into(), "soon".into());
    t.remove("keygate:requester");
    let s = TaggedSecret::from_tags(&"x".into(), "arn", None, &t).unwrap();
    assert_eq!(
        (s.pr, s.expires_at, s.requester),
        (None, None, None),
        "unknown, never a default"
    );
}

#[test]
fn a_secret_belongs_to_the_latest_addition_of_its_request_made_before_it() {
    let changes = parse_git_log(
        "\u{1e}c2\u{1f}B\u{1f}2026-04-01T00:00:00Z\n\nA\tp\n\u{1e}c1\u{1f}B\u{1f}2026-01-01T00:00:00Z\n\nA\tp\n",
    );
    let files = request_files(&changes);
    let mut old = secret();
    old.path = Some("p".into());
    old.created = Some(datetime!(2026-01-02 00:00 UTC));
    let mut new = old.clone();
    new.created = Some(datetime!(2026-04-02 00:00 UTC));
    let mut untagged = old.clone();
    untagged.path = None;
    let (of_file, unmatched) = match_tagged(&files, &[old, new, untagged]);
    assert_eq!(of_file, [Some(0), Some(1)]);
    assert_eq!(unmatched, [2]);
}

#[test]
fn without_a_ledger_the_row_comes_from_the_tags_iam_and_github() {
    let files = request_files(&parse_git_log(&log()));
    let s = secret();
    let j = Joined {
        file: Some(&files[1]),
        path: files[1].path.clone(),
        intent: None,
        stage: None,
        tagged: Some(&s),
        pull: None,
        lineage: Default::default(),
        key: facts(AwsKey::Active),
    };
    let r = row(&j, false, NOW, 7);
    assert_eq!(r.state, State::Active, "IAM says active");
    assert_eq!(r.pr, Some(17));
    assert_eq!(r.requested_by.as_deref(), Some("bob"));
    assert_eq!(
        r.approved_by,
        Some(vec!["carol".to_string(), "dave".to_string()])
    );
    assert_eq!(r.access_key_id, Some("AKIATAGGED".into()));
    assert_eq!(r.secret, Some("svc-b/access-key-1".into()));
    assert!(
        r.secret_arn
            .as_deref()
            .is_some_and(|a| a.ends_with("-AbCd"))
    );
    assert_eq!(r.expires_at.as_deref(), Some("2026-07-01T00:00:00Z"));
    assert_eq!(
        r.merge_commit.as_deref(),
        Some("bbb"),
        "GitHub silent: the commit that added the file"
    );
    assert!(!r.drift);

    let github = Joined {
        pull: Some(PullMerge {
            merge_commit: Some("m17".into()),
            merged_at: Some(datetime!(2026-03-01 09:59 UTC)),
        }),
        ..j.clone()
    };
    let r = row(&github, false, NOW, 7);
    assert_eq!(r.merge_commit.as_deref(), Some("m17"));
    assert_eq!(r.merged_at.as_deref(), Some("2026-03-01T09:59:00Z"));

    let gone = Joined {
        key: facts(AwsKey::Absent),
        ..j.clone()
    };
    assert_eq!(row(&gone, false, NOW, 7).state, State::Deleted);
    let unreachable = Joined {
        key: KeyFacts::UNKNOWN,
        ..j.clone()
    };
    assert_eq!(row(&unreachable, false, NOW, 7).state, State::Unknown);

    // Neither a file in this clone nor GitHub: the merge is unknown.
    let orphan = Joined {
        file: None,
        ..j.clone()
    };
    let r = row(&orphan, false, NOW, 7);
    assert_eq!((r.merge_commit, r.merged_at), (None, None));
}

#[test]
fn without_a_ledger_a_tagged_key_active_past_its_tag_expiry_is_drift() {
    let mut s = secret();
    s.expires_at = Some(NOW - Duration::hours(1));
    let j = Joined {
        file: None,
        path: "requests/svc-b/ci.toml".into(),
        intent: None,
        stage: None,
        tagged: Some(&s),
        pull: None,
        lineage: Default::default(),
        key: facts(AwsKey::Active),
    };
    assert!(row(&j, false, NOW, 7).drift);
    let inactive = Joined {
        key: facts(AwsKey::Inactive),
        ..j.clone()
    };
    let r = row(&inactive, false, NOW, 7);
    assert!(!r.drift);
    assert_eq!(r.state, State::Inactive);
}

#[test]
fn a_rotated_requests_row_shows_the_key_its_secret_holds_now_and_the_ones_it_replaced() {
    use crate::ledger::{Rotation, RotationState};
    let rotation = |old: &str, new: &str, state| Rotation {
        state,
        new_access_key_id: Some(new.into()),
        ..Rotation::new(
            old.into(),
            "alice".into(),
            "alice/access-key-1".into(),
            crate::ledger::IntentKey {
                repository: crate::ids::RepoName::new("acme/r"),
                pr: crate::ids::PrNumber(3),
                path: "requests/alice/ci.toml".into(),
            },
        )
    };
    let done = [
        rotation("AKIA2", "AKIA3", RotationState::Done),
        rotation("AKIA1", "AKIA2", RotationState::Done),
        rotation("AKIA3", "AKIA4", RotationState::Creating),
    ];
    assert_eq!(
        follow_rotations(&"AKIA1".into(), &done),
        ("AKIA3".into(), vec!["AKIA1".into(), "AKIA2".into()]),
        "a rotation not done yet does not count"
    );
    assert_eq!(
        follow_rotations(&"AKIA9".into(), &done),
        ("AKIA9".into(), vec![])
    );
    let filter = Filter {
        key: Some("AKIA1".into()),
        ..Filter::default()
    };
    let mut r = no_request_file_row();
    r.access_key_id = Some("AKIA3".into());
    r.replaced_keys = vec!["AKIA1".into(), "AKIA2".into()];
    assert!(filter.keeps(&r), "--key walks back from a replaced key too");
    let text = table(&[r]);
    assert!(text.contains("2x, was AKIA1 AKIA2"), "{text}");
}

fn no_request_file_row() -> Row {
    Row {
        path: "requests/alice/ci.toml".into(),
        iam_user: "alice".into(),
        merged_at: None,
        merge_commit: None,
        pr: Some(3),
        requested_by: None,
        approved_by: None,
        access_key_id: None,
        secret: None,
        secret_arn: None,
        expires_at: None,
        state: State::Active,
        last_used: None,
        deleted_in: None,
        drift: false,
        replaced_keys: Vec::new(),
        leaked: None,
    }
}
