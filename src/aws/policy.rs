//! The resource policy of a secret whose request names `readers` (DESIGN §1, §3.3). Pure.
//!
//! Two statements:
//!
//! - **Allow** `secretsmanager:GetSecretValue` to exactly the reader ARNs (`Principal.AWS`).
//!   In the secret's own account this is enough for a reader that has no identity policy
//!   for the secret; a reader in another account also needs one there.
//! - **Deny** `secretsmanager:GetSecretValue` to `Principal: "*"` unless `aws:PrincipalArn`
//!   is a reader or keygate itself (`StringNotLike`). An explicit deny beats any allow, so an
//!   account-wide read permission (`secretsmanager:*` on `*`) no longer reaches the secret.
//!   AWS recommends this form over `NotPrincipal`, which must also list every assumed-role
//!   session ARN to work for roles. When the request context has no `aws:PrincipalArn`
//!   (AWS service principals), `StringNotLike` is true, so the deny applies: fail closed.
//!
//! `aws:PrincipalArn` is the role's ARN (with its path) for an assumed-role session, and the
//! ARN itself for an IAM user. Reader ARNs are checked on parse to hold no `*`, `?` or `$`
//! ([`crate::request::check_reader_arn`]), so each matches exactly one principal; they are
//! matched case-sensitively, so a reader must be written as IAM spells it.

use serde_json::{Value, json};

/// The one action both statements are about.
pub const READ_ACTION: &str = "secretsmanager:GetSecretValue";
/// `Sid` of the allow statement.
pub const ALLOW_SID: &str = "KeygateReadersMayRead";
/// `Sid` of the deny statement; its presence marks a policy keygate put.
pub const DENY_SID: &str = "KeygateNobodyElseMayRead";

/// The patterns `aws:PrincipalArn` takes for the principal keygate runs as, from the ARN
/// `sts:GetCallerIdentity` answers.
///
/// An assumed-role session `arn:P:sts::A:assumed-role/ROLE/SESSION` becomes the role:
/// `aws:PrincipalArn` is the role's ARN, which holds the role's path, but the session ARN
/// does not say the path. So two patterns: `arn:P:iam::A:role/ROLE` (no path) and
/// `arn:P:iam::A:role/*/ROLE` (any path). Role names are unique in an account whatever
/// their path, and a role name holds no `/`, `*` or `?`, so both can only match keygate's
/// own role; `role/*ROLE` would not do, as it also matches `role/not-ROLE`.
///
/// Any other ARN (an IAM user, the account root, a federated user) is what
/// `aws:PrincipalArn` holds for it, and is used as it is. Err when the ARN is not one, or
/// holds a character that `StringLike` would read as a wildcard or a policy variable.
pub fn own_principal_patterns(caller_arn: &str) -> Result<Vec<String>, String> {
    if caller_arn.is_empty() {
        return Err("GetCallerIdentity gave no ARN".into());
    }
    if let Some(c) = caller_arn
        .chars()
        .find(|c| matches!(c, '*' | '?' | '$' | '{' | '}') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "the caller ARN holds {c:?}, which a policy condition would not match literally"
        ));
    }
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    let [arn, partition, service, _region, account, resource] = parts[..] else {
        return Err("the caller ARN does not have the six parts of an ARN".into());
    };
    if arn != "arn" || partition.is_empty() || account.is_empty() || resource.is_empty() {
        return Err(
            "the caller ARN is not of the form arn:partition:service::account:resource".into(),
        );
    }
    if service == "sts"
        && let Some(rest) = resource.strip_prefix("assumed-role/")
    {
        let Some((role, session)) = rest.split_once('/') else {
            return Err("the assumed-role ARN names no session".into());
        };
        if role.is_empty() || session.is_empty() {
            return Err("the assumed-role ARN has an empty role or session name".into());
        }
        return Ok(vec![
            format!("arn:{partition}:iam::{account}:role/{role}"),
            format!("arn:{partition}:iam::{account}:role/*/{role}"),
        ]);
    }
    Ok(vec![caller_arn.to_owned()])
}

/// The resource policy for a secret only `readers` (and keygate, `own`: from
/// [`own_principal_patterns`]) may read, as a JSON document. `readers` must not be empty:
/// a secret without readers keeps no resource policy.
pub fn readers_policy(readers: &[String], own: &[String]) -> Value {
    let mut may_read: Vec<&str> = readers.iter().map(String::as_str).collect();
    may_read.extend(own.iter().map(String::as_str));
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": ALLOW_SID,
                "Effect": "Allow",
                "Principal": { "AWS": readers },
                "Action": READ_ACTION,
                "Resource": "*",
            },
            {
                "Sid": DENY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": READ_ACTION,
                "Resource": "*",
                "Condition": { "StringNotLike": { "aws:PrincipalArn": may_read } },
            },
        ],
    })
}

/// Whether `document` (a secret's resource policy as `GetResourcePolicy` answers it) holds
/// keygate's deny statement: after a crash, the sign that the policy went on.
pub fn has_readers_deny(document: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let statements = match &v["Statement"] {
        Value::Array(s) => s.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return false,
    };
    statements
        .iter()
        .any(|s| s["Sid"] == DENY_SID && s["Effect"] == "Deny" && s["Principal"] == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/keygate/i-0abc";

    #[test]
    fn an_assumed_role_session_is_matched_as_its_role_with_or_without_a_path() {
        assert_eq!(
            own_principal_patterns(ROLE_SESSION).unwrap(),
            [
                "arn:aws:iam::123456789012:role/keygate",
                "arn:aws:iam::123456789012:role/*/keygate",
            ]
        );
        assert_eq!(
            own_principal_patterns("arn:aws-cn:sts::123456789012:assumed-role/kg/s@x.com").unwrap()
                [0],
            "arn:aws-cn:iam::123456789012:role/kg"
        );
    }

    #[test]
    fn a_user_or_root_is_matched_as_itself() {
        for arn in [
            "arn:aws:iam::123456789012:user/ops/keygate",
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:federated-user/keygate",
        ] {
            assert_eq!(own_principal_patterns(arn).unwrap(), [arn]);
        }
    }

    #[test]
    fn a_caller_arn_that_would_act_as_a_wildcard_or_is_malformed_is_refused() {
        for bad in [
            "",
            "arn:aws:iam::123456789012:user/*",
            "arn:aws:iam::123456789012:user/a?",
            "arn:aws:iam::123456789012:user/${aws:username}",
            "arn:aws:sts::123456789012:assumed-role/keygate",
            "arn:aws:sts::123456789012:assumed-role//s",
            "not-an-arn",
            "arn:aws:iam::123456789012",
        ] {
            assert!(own_principal_patterns(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_policy_allows_exactly_the_readers_and_denies_all_but_readers_and_keygate() {
        let readers = vec![
            "arn:aws:iam::123456789012:role/ci".to_owned(),
            "arn:aws:iam::123456789012:user/deploy".to_owned(),
        ];
        let own = own_principal_patterns(ROLE_SESSION).unwrap();
        let doc = readers_policy(&readers, &own);
        assert_eq!(
            doc,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "KeygateReadersMayRead",
                        "Effect": "Allow",
                        "Principal": { "AWS": [
                            "arn:aws:iam::123456789012:role/ci",
                            "arn:aws:iam::123456789012:user/deploy",
                        ] },
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": "*",
                    },
                    {
                        "Sid": "KeygateNobodyElseMayRead",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": "*",
                        "Condition": { "StringNotLike": { "aws:PrincipalArn": [
                            "arn:aws:iam::123456789012:role/ci",
                            "arn:aws:iam::123456789012:user/deploy",
                            "arn:aws:iam::123456789012:role/keygate",
                            "arn:aws:iam::123456789012:role/*/keygate",
                        ] } },
                    },
                ],
            })
        );
        assert!(has_readers_deny(&doc.to_string()));
    }

    /// `tests/secret_policy_eval.py` evaluates this fixture (readers `role/ci/deploy-ci` and
    /// `user/backup`, keygate running as the role `keygate`): it must be what keygate builds.
    #[test]
    fn the_evaluated_fixture_is_the_document_keygate_builds() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/secret_policy.json")).unwrap();
        let readers = vec![
            "arn:aws:iam::123456789012:role/ci/deploy-ci".to_owned(),
            "arn:aws:iam::123456789012:user/backup".to_owned(),
        ];
        let own =
            own_principal_patterns("arn:aws:sts::123456789012:assumed-role/keygate/run-1").unwrap();
        assert_eq!(readers_policy(&readers, &own), fixture);
    }

    #[test]
    fn only_a_policy_with_keygates_deny_counts_as_put() {
        assert!(!has_readers_deny(""));
        assert!(!has_readers_deny("{}"));
        assert!(!has_readers_deny(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"Other","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}"#
        ));
        assert!(has_readers_deny(
            r#"{"Statement":{"Sid":"KeygateNobodyElseMayRead","Effect":"Deny","Principal":"*"}}"#
        ));
    }
}
