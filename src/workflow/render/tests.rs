//! What people read, as snapshots, with deterministic inputs. Hostile inputs show the
//! escaping: a reason with `@everyone`, a link and a line break stays one inert line.

use super::*;
use crate::facts::Account;
use crate::ids::{AccountAlias, IamUser, RequestPath};
use crate::policy::FileAssessment;
use crate::policy::approval::{FileDecision, IgnoredReview, IgnoredWhy};
use crate::policy::codeowners::Owner;

const HOSTILE: &str = "@everyone see [docs](https://evil.example/x) <b>now</b>\n# IAM user: root";

fn pr() -> PrRef<'static> {
    PrRef {
        repository: "acme/access-requests",
        number: 12,
        url: "https://github.com/acme/access-requests/pull/12",
        requester: "bob",
        approvers: &[],
    }
}

fn issued() -> Report {
    Report {
        path: "requests/alice/ci.toml".into(),
        iam_user: Some("alice".into()),
        account: None,
        outcome: Outcome::Issued {
            secret_name: "alice/access-key-20261128150000".into(),
            secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            expires_at: "2027-02-26T15:00:00Z".into(),
            days: 90,
            readers: Vec::new(),
        },
    }
}

/// [`issued`] for a request that names two readers, the second one hostile (the parser
/// refuses such an ARN; the text must stay inert all the same).
fn issued_with_readers() -> Report {
    let mut r = issued();
    if let Outcome::Issued { readers, .. } = &mut r.outcome {
        *readers = vec![
            "arn:aws:iam::123456789012:role/ci/deploy".into(),
            "arn:aws:iam::123456789012:user/@everyone`\nIAM user: root".into(),
        ];
    }
    r
}

fn account(id: u64, login: &str) -> Account {
    Account {
        id,
        login: login.into(),
        is_bot: false,
    }
}

fn security() -> Owner {
    Owner::Team {
        org: "acme".into(),
        slug: "security".into(),
    }
}

fn request(path: &str, user: &str) -> Request {
    Request {
        path: path.into(),
        iam_user: user.into(),
        reason: "Nightly backups copy to S3".into(),
        expires_in_days: 30,
        readers: Vec::new(),
        rotate_every_days: None,
        account: None,
    }
}

/// Request files with their parse results, as `check_summary` takes them.
type Parsed = Vec<(RequestPath, Result<Request, Vec<Diagnostic>>)>;

/// One valid request file judged with `decision`.
fn judged(decision: FileDecision) -> (Changes, Assessment, Parsed) {
    let path = RequestPath::new(&decision.path);
    let r = request(path.as_str(), "alice");
    let approved = decision.verdict == Verdict::Approved;
    let file = FileAssessment {
        path: path.clone(),
        request: Some(r.clone()),
        diagnostics: Vec::new(),
        problems: if approved {
            Vec::new()
        } else {
            decision.reasons()
        },
        waiting_for_approval: !approved,
        approval: Some(decision),
    };
    let changes = Changes {
        added: vec![path.clone()],
        ..Changes::default()
    };
    let a = Assessment {
        pr_problems: Vec::new(),
        files: vec![file],
        decision: None,
    };
    (changes, a, vec![(path, Ok(r))])
}

fn decision(
    verdict: Verdict,
    approved_by: Vec<Account>,
    ignored: Vec<IgnoredReview>,
) -> FileDecision {
    FileDecision {
        path: "requests/alice/ci.toml".into(),
        owners: vec![security(), Owner::User("carol".into())],
        approved_by,
        needed: 1,
        blocked_by: Vec::new(),
        ignored,
        verdict,
        counted: Vec::new(),
    }
}

fn show(n: &Notice) -> String {
    let attributes: Vec<String> = n
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "Subject: {}\nAttributes: {}\n\n{}",
        n.subject,
        attributes.join(" "),
        n.message
    )
}

#[test]
fn an_issued_comment_names_the_secret_and_the_key_id() {
    insta::assert_snapshot!(comment(&[issued()]), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/alice/ci.toml`**: access key issued for IAM user `alice`.

        - Secret: `alice/access-key-20261128150000`
        - Secret ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf`
        - Access key ID: `AKIAEXAMPLE`
        - Expires: 2027-02-26T15:00:00Z (90 days)

        Read the key from Secrets Manager. A new key can take a few seconds to work everywhere: IAM is eventually consistent.
        ");
}

#[test]
fn a_refused_comment_lists_the_reasons_and_a_hostile_one_stays_inert() {
    let r = Report {
        path: "requests/alice/ci.toml".into(),
        iam_user: Some("alice".into()),
        account: None,
        outcome: Outcome::Refused {
            reasons: vec![
                "needs 1 more approval from @acme/security or @carol".into(),
                "@mallory is not an owner of this file, so their approval does not count".into(),
                format!("`requests/alice/ci.toml` was renamed to requests/alice/{HOSTILE}"),
            ],
        },
    };
    insta::assert_snapshot!(comment(&[r]), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/alice/ci.toml`**: refused for IAM user `alice`; nothing was issued.

        - needs 1 more approval from `@acme/security` or `@carol`
        - `@mallory` is not an owner of this file, so their approval does not count
        - `requests/alice/ci.toml` was renamed to `requests/alice/@everyone` see \[`docs](https://evil.example/x`) &lt;b&gt;now&lt;/b&gt; # IAM user: root
        ");
}

#[test]
fn a_failed_comment_says_what_to_do() {
    let r = Report {
        path: "requests/alice/ci.toml".into(),
        iam_user: Some("alice".into()),
        account: None,
        outcome: Outcome::Failed {
            why: "The secret could not be stored (CreateSecret failed with the AWS error AccessDeniedException: keygate's AWS role lacks a permission; an operator must grant it (keygate's log names the exact action)), so the new access key was deleted again. Nothing was issued.".into(),
        },
    };
    insta::assert_snapshot!(comment(&[r]), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/alice/ci.toml`**: no key was issued for IAM user `alice`. The secret could not be stored (CreateSecret failed with the AWS error AccessDeniedException: keygate's AWS role lacks a permission; an operator must grant it (keygate's log names the exact action)), so the new access key was deleted again. Nothing was issued.
        ");
}

#[test]
fn a_rejected_comment_covers_each_request_and_escapes_a_hostile_path() {
    let reports = [
        Report {
            path: "requests/alice/ci.toml".into(),
            iam_user: Some("alice".into()),
            account: None,
            outcome: Outcome::Rejected { why: None },
        },
        Report {
            path: "requests/@everyone/a`b\n# x.toml".into(),
            iam_user: Some("@everyone".into()),
            account: None,
            outcome: Outcome::Rejected { why: None },
        },
    ];
    insta::assert_snapshot!(comment(&reports), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/alice/ci.toml`**: the pull request was closed without merge; nothing was issued for IAM user `alice`.

        **``requests/@everyone/a`b # x.toml``**: the pull request was closed without merge; nothing was issued for IAM user `@everyone`.
        ");
}

#[test]
fn the_check_waits_for_owners_and_mentions_only_codeowners() {
    let ignored = vec![IgnoredReview {
        reviewer: account(7, "mallory"),
        why: IgnoredWhy::NotOwner,
    }];
    let (changes, a, requests) = judged(decision(
        Verdict::Pending { missing: 1 },
        Vec::new(),
        ignored,
    ));
    let (title, summary) = check_summary(&changes, &a, &requests);
    insta::assert_snapshot!(format!("{title}\n---\n{summary}"), @r"
        Waiting for approval: needs 1 more approval from @acme/security or @carol
        ---
        ### `requests/alice/ci.toml`

        - IAM user: `alice`
        - Reason: Nightly backups copy to S3
        - Expires: 30 days after issue
        - Can approve: @acme/security, @carol
        - Approved on the current head: nobody yet (0 of 1 needed)
        - Still needed: needs 1 more approval from `@acme/security` or `@carol`
        - Not counted: `@mallory` is not an owner of this file, so their approval does not count

        keygate checks the approval again on its own when the pull request is merged.
        ");
}

#[test]
fn the_check_says_when_merging_issues_the_key() {
    let (changes, a, requests) = judged(decision(
        Verdict::Approved,
        vec![account(3, "carol")],
        Vec::new(),
    ));
    let (title, summary) = check_summary(&changes, &a, &requests);
    insta::assert_snapshot!(format!("{title}\n---\n{summary}"), @r"
        Approved: merging now issues the key
        ---
        ### `requests/alice/ci.toml`

        - IAM user: `alice`
        - Reason: Nightly backups copy to S3
        - Expires: 30 days after issue
        - Can approve: @acme/security, @carol
        - Approved on the current head: @carol (1 of 1 needed)

        keygate checks the approval again on its own when the pull request is merged.
        ");
}

#[test]
fn the_check_lists_what_to_fix_in_an_invalid_file_without_obeying_it() {
    let path = RequestPath::new("requests/alice/ci.toml");
    let diagnostics = vec![
        Diagnostic {
            path: path.to_string(),
            line: Some(2),
            column: Some(1),
            message: "unknown field `reasn`, did you mean `reason`?".into(),
        },
        Diagnostic {
            path: path.to_string(),
            line: Some(1),
            column: Some(12),
            message: format!("`iam_user` must equal the folder name `alice`, found `{HOSTILE}`"),
        },
    ];
    let fd = decision(Verdict::Pending { missing: 1 }, Vec::new(), Vec::new());
    let mut problems: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    problems.extend(fd.reasons());
    let a = Assessment {
        pr_problems: vec![crate::policy::problem::Problem::Rewritten {
            path: "requests/bob/old.toml".into(),
            what: crate::policy::problem::Rewrite::RenamedTo(format!("requests/bob/{HOSTILE}")),
        }],
        files: vec![FileAssessment {
            path: path.clone(),
            request: None,
            diagnostics: diagnostics.clone(),
            approval: Some(fd),
            problems,
            waiting_for_approval: false,
        }],
        decision: None,
    };
    let changes = Changes {
        added: vec![path.clone()],
        ..Changes::default()
    };
    let (title, summary) = check_summary(&changes, &a, &[(path, Err(diagnostics))]);
    insta::assert_snapshot!(format!("{title}\n---\n{summary}"), @r"
        2 problems to fix before this can be merged
        ---
        ### This pull request cannot issue anything

        - `requests/bob/old.toml` was renamed to `requests/bob/@everyone` see \[`docs](https://evil.example/x`) &lt;b&gt;now&lt;/b&gt; # IAM user: root: a merged request file never changes. Leave it as it is and add a new request file instead.

        ### `requests/alice/ci.toml`

        - The request file is invalid:
          - requests/alice/ci.toml:2:1: unknown field `reasn`, did you mean `reason`?
          - requests/alice/ci.toml:1:12: `iam_user` must equal the folder name `alice`, found `@everyone see [docs](https://evil.example/x) <b>now</b> # IAM user: root`
        - Can approve: @acme/security, @carol
        - Approved on the current head: nobody yet (0 of 1 needed)
        - Still needed: needs 1 more approval from `@acme/security` or `@carol`

        keygate checks the approval again on its own when the pull request is merged.
        ");
}

#[test]
fn a_refused_notice_keeps_each_reason_on_its_line() {
    let approvers = ["carol".to_string()];
    let pr = PrRef {
        approvers: &approvers,
        ..pr()
    };
    let r = Report {
        path: "requests/alice/ci.toml".into(),
        iam_user: Some("alice".into()),
        account: None,
        outcome: Outcome::Refused {
            reasons: vec![
                HOSTILE.into(),
                "needs 1 more approval from @acme/security".into(),
            ],
        },
    };
    insta::assert_snapshot!(show(&notice(&r, &pr)), @r"
        Subject: keygate: request for alice refused (acme/access-requests#12)
        Attributes: event=refused iam_user=alice repository=acme/access-requests requester=bob

        keygate: request for alice refused.

        IAM user:      alice
        Request file:  requests/alice/ci.toml
        Pull request:  acme/access-requests#12 https://github.com/acme/access-requests/pull/12
        Requester:     @bob
        Approvers:     @carol
        Why:
          - @everyone see [docs](https://evil.example/x) <b>now</b> # IAM user: root
          - needs 1 more approval from @acme/security
        ");
}

#[test]
fn an_issued_notice_names_the_user_the_secret_and_the_pull_request() {
    let approvers = ["carol".to_string(), "dave".to_string()];
    let pr = PrRef {
        approvers: &approvers,
        ..pr()
    };
    insta::assert_snapshot!(show(&notice(&issued(), &pr)), @r"
        Subject: keygate: access key issued for alice (acme/access-requests#12)
        Attributes: event=issued iam_user=alice repository=acme/access-requests requester=bob

        keygate: access key issued for alice.

        IAM user:      alice
        Request file:  requests/alice/ci.toml
        Pull request:  acme/access-requests#12 https://github.com/acme/access-requests/pull/12
        Requester:     @bob
        Approvers:     @carol, @dave
        Secret:        alice/access-key-20261128150000
        Secret ARN:    arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf
        Access key ID: AKIAEXAMPLE
        Expires:       2027-02-26T15:00:00Z
        ");
}

#[test]
fn a_requested_notice_indents_every_line_of_the_reason() {
    let reason = format!("Nightly backups copy to S3.\n{HOSTILE}\u{2028}Requester: mallory");
    let n = requested_notice(
        &"requests/alice/ci.toml".into(),
        &"alice".into(),
        None,
        &reason,
        30,
        &pr(),
    );
    insta::assert_snapshot!(show(&n), @r"
        Subject: keygate: access key requested for alice (acme/access-requests#12)
        Attributes: event=requested iam_user=alice repository=acme/access-requests requester=bob

        keygate: access key requested for alice.

        IAM user:      alice
        Requester:     @bob
        Expires after: 30 days
        Request file:  requests/alice/ci.toml
        Pull request:  https://github.com/acme/access-requests/pull/12
        Reason:
          Nightly backups copy to S3.
          @everyone see [docs](https://evil.example/x) <b>now</b>
          # IAM user: root
          Requester: mallory
        ");
}

#[test]
fn subjects_stay_under_sns_limits() {
    let long = "x".repeat(64);
    let r = Report {
        path: "p".into(),
        iam_user: Some(IamUser::new(long)),
        account: None,
        outcome: Outcome::Rejected { why: None },
    };
    let n = notice(&r, &pr());
    assert!(n.subject.len() < 100, "{}", n.subject.len());
    assert!(
        subject("a\nb\u{3042}")
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ')
    );
}

#[test]
fn notices_carry_the_filter_attributes() {
    let r = Report {
        path: "requests/alice/ci.toml".into(),
        iam_user: Some("alice".into()),
        account: None,
        outcome: Outcome::Failed {
            why: "alice already has 2 access keys".into(),
        },
    };
    let n = notice(&r, &pr());
    assert_eq!(n.attributes["event"], "failed");
    assert_eq!(n.attributes["iam_user"], "alice");
    assert_eq!(n.attributes["requester"], "bob");
    assert_eq!(n.attributes["repository"], "acme/access-requests");
    assert!(n.message.contains("already has 2 access keys"));
}

#[test]
fn a_name_from_a_path_cannot_forge_a_notice_line_or_attribute() {
    let r = Report {
        path: "requests/x\nIAM user: root/ci.toml".into(),
        iam_user: Some("x\nIAM user: root".into()),
        account: None,
        outcome: Outcome::Rejected { why: None },
    };
    let n = notice(&r, &pr());
    assert!(
        !n.message.lines().any(|l| l.starts_with("IAM user: root")),
        "{}",
        n.message
    );
    assert_eq!(n.attributes["iam_user"], "x IAM user: root");
}

#[test]
fn public_reasons_never_carry_raw_messages() {
    let e = StepError::GitHub(GitHubError::Status {
        what: "the pull request".into(),
        status: 404,
        message: "secret detail".into(),
    });
    let why = public_reason(&e);
    assert!(
        why.contains("404") && !why.contains("secret detail"),
        "{why}"
    );
}

#[test]
fn a_long_summary_is_cut_at_a_line_end() {
    let s = "`aaaa`\n".repeat(20);
    let cut = truncate_lines(&s, 50);
    assert!(cut.len() <= 50, "{}", cut.len());
    assert!(cut.ends_with("`\n…\n"), "{cut:?}");
}

#[test]
fn an_issued_comment_lists_the_readers_as_inert_code() {
    insta::assert_snapshot!(comment(&[issued_with_readers()]), @r"
        <!-- keygate:result -->
        ### keygate

        **`requests/alice/ci.toml`**: access key issued for IAM user `alice`.

        - Secret: `alice/access-key-20261128150000`
        - Secret ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf`
        - Access key ID: `AKIAEXAMPLE`
        - Expires: 2027-02-26T15:00:00Z (90 days)
        - Readable only by: `arn:aws:iam::123456789012:role/ci/deploy`, ``arn:aws:iam::123456789012:user/@everyone` IAM user: root`` (the secret's resource policy denies every other principal but keygate)

        Read the key from Secrets Manager. A new key can take a few seconds to work everywhere: IAM is eventually consistent.
        ");
}

#[test]
fn an_issued_notice_lists_each_reader_on_its_own_indented_line() {
    insta::assert_snapshot!(show(&notice(&issued_with_readers(), &pr())), @r"
        Subject: keygate: access key issued for alice (acme/access-requests#12)
        Attributes: event=issued iam_user=alice repository=acme/access-requests requester=bob

        keygate: access key issued for alice.

        IAM user:      alice
        Request file:  requests/alice/ci.toml
        Pull request:  acme/access-requests#12 https://github.com/acme/access-requests/pull/12
        Requester:     @bob
        Secret:        alice/access-key-20261128150000
        Secret ARN:    arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/access-key-20261128150000-AbCdEf
        Access key ID: AKIAEXAMPLE
        Expires:       2027-02-26T15:00:00Z
        Readable only by:
          - arn:aws:iam::123456789012:role/ci/deploy
          - arn:aws:iam::123456789012:user/@everyone` IAM user: root
        ");
}

#[test]
fn the_check_lists_the_readers_an_approver_lets_read_the_key() {
    let (changes, mut a, mut requests) = judged(decision(
        Verdict::Approved,
        vec![account(3, "carol")],
        Vec::new(),
    ));
    let readers = vec![
        "arn:aws:iam::123456789012:role/ci".to_string(),
        "arn:aws:iam::123456789012:user/@everyone".to_string(),
    ];
    if let Ok(r) = &mut requests[0].1 {
        r.readers.clone_from(&readers);
    }
    a.files[0].request.as_mut().unwrap().readers = readers;
    let (_, summary) = check_summary(&changes, &a, &requests);
    insta::assert_snapshot!(summary, @r"
        ### `requests/alice/ci.toml`

        - IAM user: `alice`
        - Reason: Nightly backups copy to S3
        - Expires: 30 days after issue
        - Readable only by: `arn:aws:iam::123456789012:role/ci`, `arn:aws:iam::123456789012:user/@everyone` (and keygate; every other principal is denied)
        - Can approve: @acme/security, @carol
        - Approved on the current head: @carol (1 of 1 needed)

        keygate checks the approval again on its own when the pull request is merged.
        ");
}

#[test]
fn a_jwt_refused_for_its_times_is_reported_as_clock_skew() {
    let e = StepError::GitHub(GitHubError::Status {
        what: "the pull request".into(),
        status: 401,
        message: "'Expiration time' claim ('exp') must be a numeric value".into(),
    });
    let why = public_reason(&e);
    assert!(why.contains("clock skew") && why.contains("NTP"), "{why}");
    assert!(!why.contains("'exp'"), "{why}");
}

/// [`issued`] for a request in the member account `prod` (DESIGN §9).
fn issued_in_prod() -> Report {
    Report {
        path: "requests/prod/alice/ci.toml".into(),
        account: Some(AccountAlias::new("prod")),
        ..issued()
    }
}

#[test]
fn a_key_in_a_member_account_names_the_account_in_the_comment_and_the_notice() {
    let r = issued_in_prod();
    let c = comment(std::slice::from_ref(&r));
    assert!(
        c.contains(
            "**`requests/prod/alice/ci.toml`**: access key issued for IAM user `alice` in AWS account `prod`."
        ),
        "{c}"
    );
    let n = notice(&r, &pr());
    assert_eq!(
        n.attributes.get("account").map(String::as_str),
        Some("prod")
    );
    assert!(
        n.message
            .contains("IAM user:      alice\nAWS account:   prod\n"),
        "{}",
        n.message
    );
    let own = notice(&issued(), &pr());
    assert!(
        !own.attributes.contains_key("account"),
        "keygate's own account: as before"
    );
    assert!(!own.message.contains("AWS account"), "{}", own.message);

    let asked = requested_notice(
        &"requests/prod/alice/ci.toml".into(),
        &"alice".into(),
        Some(&AccountAlias::new("prod")),
        "Nightly backups",
        30,
        &pr(),
    );
    assert_eq!(
        asked.attributes.get("account").map(String::as_str),
        Some("prod")
    );
}

#[test]
fn a_request_waiting_for_its_account_is_said_in_the_comment_and_never_announced() {
    let r = Report {
        outcome: Outcome::Retrying {
            why: "keygate could not assume its issuer role in AWS account `prod`".into(),
        },
        ..issued_in_prod()
    };
    assert!(!r.outcome.is_announced());
    assert!(issued().outcome.is_announced());
    let c = comment(&[issued(), r]);
    assert!(
        c.contains(
            "**`requests/prod/alice/ci.toml`**: not done yet for IAM user `alice` in AWS account `prod`, and keygate retries on its own: keygate could not assume"
        ),
        "{c}"
    );
    assert!(
        c.contains("**`requests/alice/ci.toml`**: access key issued"),
        "{c}"
    );
}
