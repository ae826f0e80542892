use super::super::test_support::*;
use super::super::*;

const CI: &str = "arn:aws:iam::123456789012:role/ci";

/// Settings that allow every IAM user and role of account 123456789012 as a reader.
fn allowing_readers() -> CompiledRules {
    let mut rules = settings();
    rules.allowed_readers = vec![
        "arn:aws:iam::123456789012:role/**".to_owned(),
        "arn:aws:iam::123456789012:user/**".to_owned(),
    ];
    compiled(&rules)
}

/// `alice`'s valid request with a `readers = ...` line (line 3; the list opens at column 11).
fn with_readers(list: &str) -> String {
    alice(&format!("readers = {list}\n"))
}

fn judged(list: &str) -> Result<Request, Vec<Diagnostic>> {
    parse_request(ALICE, with_readers(list).as_bytes(), &allowing_readers())
}

fn refused(list: &str) -> Vec<Diagnostic> {
    match judged(list) {
        Ok(r) => panic!("expected diagnostics for readers = {list}, got {r:?}"),
        Err(d) => d,
    }
}

#[test]
fn arn_rules() {
    let cases: &[(&str, Option<&str>)] = &[
        (CI, None),
        ("arn:aws:iam::123456789012:user/alice", None),
        ("arn:aws-cn:iam::123456789012:role/ci", None),
        ("arn:aws-us-gov:iam::123456789012:role/ci", None),
        ("arn:aws:iam::123456789012:role/team/deploy/ci", None),
        (
            "arn:aws:iam::123456789012:role/aws-service-role/x.amazonaws.com/AWSRole",
            None,
        ),
        ("arn:aws:iam::123456789012:user/svc+ci=a,b.c@d_e-f", None),
        (
            "aws:iam::123456789012:role/ci",
            Some("does not start with `arn:`"),
        ),
        ("arn:aws:iam::123456789012", Some("six `:`-separated parts")),
        (
            "arn:aws-eu:iam::123456789012:role/ci",
            Some("partition `aws-eu`"),
        ),
        ("arn:AWS:iam::123456789012:role/ci", Some("partition `AWS`")),
        (
            "arn:aws:sts::123456789012:assumed-role/ci/s",
            Some("service is `sts`"),
        ),
        (
            "arn:aws:iam:us-east-1:123456789012:role/ci",
            Some("region `us-east-1`"),
        ),
        ("arn:aws:iam::12345678901:role/ci", Some("12-digit")),
        ("arn:aws:iam::1234567890123:role/ci", Some("12-digit")),
        ("arn:aws:iam::12345678901x:role/ci", Some("12-digit")),
        (
            "arn:aws:iam::123456789012:group/ci",
            Some("neither `user/<name>`"),
        ),
        (
            "arn:aws:iam::123456789012:Role/ci",
            Some("neither `user/<name>`"),
        ),
        (
            "arn:aws:iam::123456789012:root",
            Some("neither `user/<name>`"),
        ),
        ("arn:aws:iam::123456789012:role/", Some("empty name")),
        (
            "arn:aws:iam::123456789012:role/team//ci",
            Some("empty path part"),
        ),
        ("arn:aws:iam::123456789012:role/*", Some("`*` (U+002A)")),
        (
            "arn:aws:iam::123456789012:role/c i",
            Some("a space (U+0020)"),
        ),
        (
            "arn:aws:iam::123456789012:role/ci\u{202e}",
            Some("U+202E RIGHT-TO-LEFT OVERRIDE"),
        ),
        (
            "arn:aws:iam::123456789012:role/te:am/ci",
            Some("`:` (U+003A)"),
        ),
    ];
    for (arn, says) in cases {
        match (check_reader_arn(arn), says) {
            (Ok(()), None) => {}
            (Err(why), Some(says)) => assert!(why.contains(says), "{arn}: {why}"),
            (got, _) => panic!("{arn}: unexpected {got:?}"),
        }
    }
}

#[test]
fn arn_name_and_path_lengths_follow_iam() {
    let name = |n: usize| format!("arn:aws:iam::123456789012:role/{}", "r".repeat(n));
    assert!(check_reader_arn(&name(64)).is_ok());
    let err = check_reader_arn(&name(65)).unwrap_err();
    assert!(err.contains("65 characters long"), "{err}");
    let path = |n: usize| format!("arn:aws:iam::123456789012:role/{}/ci", "p".repeat(n));
    assert!(check_reader_arn(&path(510)).is_ok());
    let err = check_reader_arn(&path(511)).unwrap_err();
    assert!(err.contains("limit of 512"), "{err}");
}

#[test]
fn readers_are_kept_in_file_order() {
    let list = format!("[\"{CI}\", \"arn:aws:iam::123456789012:user/bob\"]");
    let request = judged(&list).unwrap();
    assert_eq!(request.readers, [CI, "arn:aws:iam::123456789012:user/bob"]);
}

#[test]
fn absent_or_empty_readers_mean_none() {
    assert_eq!(
        parse(ALICE, &alice("")).unwrap().readers,
        Vec::<String>::new()
    );
    assert_eq!(judged("[]").unwrap().readers, Vec::<String>::new());
}

#[test]
fn readers_are_refused_until_an_operator_allows_them() {
    let src = with_readers(&format!("[\"{CI}\"]"));
    let d = only(ALICE, &src);
    assert_eq!((d.line, d.column), (Some(3), Some(11)));
    assert!(d.message.contains("`readers` is not allowed yet"), "{d}");
    assert!(d.message.contains("policy.allowed_readers"), "{d}");
    assert!(d.message.contains("operator"), "{d}");
    assert!(parse_request(ALICE, src.as_bytes(), &allowing_readers()).is_ok());
}

#[test]
fn each_problem_points_at_its_own_entry() {
    // Column of each entry on line 3: `readers = [` is 11 characters.
    let list = format!("[\"{CI}\", 42, \"arn:aws:iam::123456789012:role/a b\", \"{CI}\"]");
    let d = refused(&list);
    assert_eq!(d.len(), 3, "{d:#?}");
    let second = 12 + CI.len() + 4;
    assert_eq!((d[0].line, d[0].column), (Some(3), Some(second)));
    assert!(
        d[0].message
            .contains("`readers` entry 2 must be a string holding an ARN, found an integer"),
        "{}",
        d[0]
    );
    let third = second + 4;
    assert_eq!(d[1].column, Some(third));
    assert!(
        d[1].message.contains(
            "entry 3 `arn:aws:iam::123456789012:role/a b` is not an IAM user or role ARN"
        ),
        "{}",
        d[1]
    );
    assert!(d[1].message.contains("a space (U+0020)"), "{}", d[1]);
    let fourth = third + "\"arn:aws:iam::123456789012:role/a b\", ".len();
    assert_eq!(d[2].column, Some(fourth));
    assert!(d[2].message.contains("entry 4"), "{}", d[2]);
    assert!(d[2].message.contains("repeats entry 1"), "{}", d[2]);
}

#[test]
fn readers_on_several_lines_are_reported_on_their_line() {
    let list = format!("[\n  \"{CI}\",\n  \"arn:aws:iam::123456789012:role/nope*\",\n]");
    let d = refused(&list);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (Some(5), Some(3)));
}

#[test]
fn duplicate_readers_differing_only_in_case_are_one_principal() {
    let list = format!("[\"{CI}\", \"arn:aws:iam::123456789012:role/CI\"]");
    let d = refused(&list);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].message.contains("entry 2"), "{}", d[0]);
    assert!(d[0].message.contains("repeats entry 1"), "{}", d[0]);
}

#[test]
fn at_most_ten_readers() {
    let arns: Vec<String> = (0..=MAX_READERS)
        .map(|i| format!("\"arn:aws:iam::123456789012:role/r{i}\""))
        .collect();
    let ten = format!("[{}]", arns[..MAX_READERS].join(", "));
    assert_eq!(judged(&ten).unwrap().readers.len(), MAX_READERS);

    let eleven = format!("[{}]", arns.join(", "));
    let d = refused(&eleven);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].message
            .contains("names 11 ARNs, more than the limit of 10: this is entry 11"),
        "{}",
        d[0]
    );
    let eleventh = 12
        + arns[..MAX_READERS]
            .iter()
            .map(|a| a.len() + 2)
            .sum::<usize>();
    assert_eq!((d[0].line, d[0].column), (Some(3), Some(eleventh)));
}

#[test]
fn reader_outside_the_allowed_list_is_refused_naming_the_list() {
    let mut rules = settings();
    rules.allowed_readers = vec!["arn:aws:iam::123456789012:role/ci-*".to_owned()];
    let rules = compiled(&rules);
    let ok = with_readers("[\"arn:aws:iam::123456789012:role/ci-deploy\"]");
    assert!(parse_request(ALICE, ok.as_bytes(), &rules).is_ok());

    let src = with_readers("[\"arn:aws:iam::123456789012:role/admin\"]");
    let d = parse_request(ALICE, src.as_bytes(), &rules).unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (Some(3), Some(12)));
    assert!(
        d[0].message.contains("is not in policy.allowed_readers"),
        "{}",
        d[0]
    );
    assert!(
        d[0].message
            .contains("`arn:aws:iam::123456789012:role/ci-*`"),
        "{}",
        d[0]
    );
}

#[test]
fn readers_problems_come_with_the_other_fields_in_file_order() {
    let src = format!("iam_user = \"bob\"\nreaders = [\"{CI}\"]\nreason = \"short\"\n");
    let d = diagnostics(ALICE, &src);
    let lines: Vec<_> = d.iter().map(|d| d.line).collect();
    assert_eq!(lines, [Some(1), Some(2), Some(3)], "{d:#?}");
}
