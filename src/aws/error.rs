//! AWS failures: classified for the retry decision, detailed for the log, and named by their
//! code with what to do for people (DESIGN §2, last paragraph).

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::ids::AccountAlias;

/// An AWS failure.
///
/// Two faces: `Display` is for the log and holds AWS's own message, which can name account
/// IDs, ARNs and policy details; [`public_summary`](Self::public_summary) is for pull-request
/// comments and SNS notices and holds only the operation, the error code and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{}{operation} failed: {code}: {message}", in_account(account.as_ref()))]
pub struct AwsError {
    operation: &'static str,
    code: String,
    message: String,
    origin: Origin,
    transient: bool,
    /// The member account the call was for (DESIGN §9); `None`: keygate's own.
    account: Option<AccountAlias>,
    /// How the account itself failed, before any call in it was sent.
    unavailable: Option<Unavailable>,
}

/// Why a member account could not be acted in at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unavailable {
    /// Its issuer role could not be assumed.
    Role,
    /// `[accounts]` no longer names it.
    Unconfigured,
}

/// "in AWS account `prod`: " for a member account's error in the log.
fn in_account(account: Option<&AccountAlias>) -> String {
    account
        .map(|a| format!("in AWS account `{a}`: "))
        .unwrap_or_default()
}

/// Where the error code came from: only AWS's own codes are worth showing as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// AWS answered with an error code.
    Service,
    /// No answer: timeout, connection, credentials that could not be loaded.
    Unreachable,
    /// keygate could not use an answer (or could not build a request).
    Keygate,
}

impl AwsError {
    /// An error keygate itself found in an AWS answer or request, e.g. an empty response.
    pub(super) fn keygate(operation: &'static str, code: &str, message: String) -> AwsError {
        AwsError {
            operation,
            code: code.to_string(),
            message,
            origin: Origin::Keygate,
            transient: false,
            account: None,
            unavailable: None,
        }
    }

    /// This error, of a call in `account`.
    pub(super) fn in_account(mut self, account: Option<&AccountAlias>) -> AwsError {
        self.account = account.cloned();
        self
    }

    /// This error of `AssumeRole` made the member account `account` unavailable: nothing
    /// was sent there. Retried like a transient error, since the role may be back at any
    /// time (an operator redeploys it), and it never holds up another account's work.
    pub(super) fn account_unavailable(mut self, account: &AccountAlias) -> AwsError {
        self.account = Some(account.clone());
        self.unavailable = Some(Unavailable::Role);
        self.transient = true;
        self
    }

    /// `[accounts]` no longer names `account`: nothing can be done there until it does.
    pub(super) fn unconfigured(mut self, account: &AccountAlias) -> AwsError {
        self.account = Some(account.clone());
        self.unavailable = Some(Unavailable::Unconfigured);
        self
    }

    /// The member account the failed call was for; `None`: keygate's own account.
    pub fn account(&self) -> Option<&AccountAlias> {
        self.account.as_ref()
    }

    /// The account itself failed (its role could not be assumed, or it is not configured):
    /// no call was sent there, and every other call there would fail the same way now.
    pub fn is_account_unavailable(&self) -> bool {
        self.unavailable.is_some()
    }

    /// The AWS API operation that failed, e.g. `CreateSecret`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The error code AWS answered with (`AccessDenied`, `LimitExceeded`,
    /// `ResourceExistsException`, `ThrottlingException`, …); `None` when AWS gave no answer.
    pub fn code(&self) -> Option<&str> {
        (self.origin == Origin::Service).then_some(self.code.as_str())
    }

    /// Why AWS gave no answer, as far as the error says; `None` when AWS answered.
    pub fn unreachable(&self) -> Option<Unreachable> {
        (self.origin == Origin::Unreachable).then(|| Unreachable::of(&self.message))
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// AWS answered and refused the call (a service error that is not worth retrying, e.g.
    /// `AccessDenied`): nothing was done. Unlike a lost answer or a server error, which may
    /// hide a call that did its work.
    pub fn is_refusal(&self) -> bool {
        (self.origin == Origin::Service && !self.transient) || self.unavailable.is_some()
    }
    pub fn is_limit_exceeded(&self) -> bool {
        self.code == "LimitExceeded" || self.code == "LimitExceededException"
    }
    /// The name is taken (`CreateSecret` of a name that exists).
    pub fn is_already_exists(&self) -> bool {
        self.code == "ResourceExistsException" || self.code == "EntityAlreadyExists"
    }
    pub fn is_not_found(&self) -> bool {
        self.code == "NoSuchEntity" || self.code == "ResourceNotFoundException"
    }

    /// One sentence for people: the operation, AWS's error code and what to do, never AWS's
    /// message (it can hold account IDs and ARNs; the log has it). The only form of an AWS
    /// error that may go into a pull-request comment or an SNS notice.
    pub fn public_summary(&self) -> String {
        match (&self.account, self.unavailable) {
            (Some(a), Some(why)) => unavailable_summary(a, why, self),
            (Some(a), None) => format!("In AWS account `{a}`, {}", self.summary()),
            (None, _) => self.summary(),
        }
    }

    fn summary(&self) -> String {
        let op = self.operation;
        let advice = |code: &str| match &self.account {
            Some(_) if is_denied(code) => MEMBER_DENIED,
            _ => advice(op, code),
        };
        match self.origin {
            Origin::Unreachable => format!(
                "{op} could not reach AWS: the network, the endpoint or keygate's credentials \
                 failed; keygate retries on its own, and an operator should read keygate's log \
                 if this persists"
            ),
            Origin::Keygate => format!(
                "{op} gave an answer keygate cannot use; an operator should read keygate's log"
            ),
            Origin::Service if is_error_code(&self.code) => {
                format!(
                    "{op} failed with the AWS error {}: {}",
                    self.code,
                    advice(&self.code)
                )
            }
            Origin::Service => format!("{op} failed with an AWS error: {}", advice(&self.code)),
        }
    }
}

/// The advice for a denied call in a member account: its issuer role lacks the action.
const MEMBER_DENIED: &str = "keygate's issuer role in that account lacks a permission; an \
     operator must grant it (`deploy/keygate-member.yaml` grants what keygate needs, and \
     keygate's log names the exact action)";

fn is_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "AuthorizationError" | "UnauthorizedOperation"
    )
}

/// Why nothing could be done in account `a`, and what to do, for people.
fn unavailable_summary(a: &AccountAlias, why: Unavailable, e: &AwsError) -> String {
    match why {
        Unavailable::Unconfigured => format!(
            "keygate's configuration no longer names the AWS account `{a}` ([accounts.{a}]); \
             an operator must add it back for keygate to act on its keys"
        ),
        Unavailable::Role if e.origin == Origin::Service && is_error_code(&e.code) => format!(
            "keygate could not assume its issuer role in AWS account `{a}` (AssumeRole failed \
             with the AWS error {}): the role is missing, does not trust keygate's role with \
             the external ID of `accounts.{a}`, or keygate's own role may not assume it; an \
             operator must deploy `deploy/keygate-member.yaml` in that account (`keygate \
             doctor` checks it). keygate retries on its own, and work in other accounts goes on",
            e.code
        ),
        Unavailable::Role => format!(
            "keygate could not assume its issuer role in AWS account `{a}` (AssumeRole got no \
             usable answer from AWS STS); keygate retries on its own, work in other accounts \
             goes on, and an operator should read keygate's log if this persists"
        ),
    }
}

/// Why a call got no answer from AWS: each calls for a different fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// No credentials could be loaded (none configured, or their provider failed).
    Credentials,
    /// The endpoint's host name did not resolve.
    Dns,
    /// The host resolved but the connection failed (refused, reset, TLS).
    Connection,
    /// No answer in time.
    Timeout,
    /// Anything else.
    Other,
}

impl Unreachable {
    /// Reads the cause from the SDK error's chain of messages.
    fn of(message: &str) -> Unreachable {
        let m = message.to_ascii_lowercase();
        if m.contains("loading credentials") || m.contains("no credentials") {
            Unreachable::Credentials
        } else if m.contains("dns error")
            || m.contains("failed to lookup address")
            || m.contains("name or service not known")
            || m.contains("temporary failure in name resolution")
            || m.contains("no such host")
        {
            Unreachable::Dns
        } else if m.contains("timeout") || m.contains("timed out") {
            Unreachable::Timeout
        } else if m.contains("connect") || m.contains("connection") || m.contains("tls") {
            Unreachable::Connection
        } else {
            Unreachable::Other
        }
    }
}

/// What kind of trouble an AWS error code means, for [`advice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// Keygate's role may not make the call.
    Permission,
    /// AWS did not accept keygate's credentials.
    Credentials,
    /// The IAM user holds the two keys IAM allows.
    KeyQuota,
    /// Another AWS quota was reached.
    Quota,
    /// AWS slowed keygate down.
    Throttled,
    /// AWS failed inside.
    AwsInternal,
    /// A name keygate wanted is taken.
    Exists,
    /// Something keygate needs is not there.
    Missing,
    /// The KMS key could not be used.
    Kms,
    /// Another change to the same resource was under way.
    Busy,
    /// The secret's resource policy was refused (most often a `readers` ARN).
    ReadersPolicy,
    /// AWS found the request invalid.
    Invalid,
    /// Anything else.
    Other,
}

fn trouble(operation: &str, code: &str) -> Trouble {
    match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "AuthorizationError"
        | "AuthorizationErrorException"
        | "UnauthorizedOperation"
        | "KMSAccessDeniedException" => Trouble::Permission,
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken"
        | "IncompleteSignature" => Trouble::Credentials,
        "LimitExceeded" | "LimitExceededException" if operation == "CreateAccessKey" => {
            Trouble::KeyQuota
        }
        "LimitExceeded" | "LimitExceededException" | "ServiceQuotaExceededException" => {
            Trouble::Quota
        }
        "Throttling"
        | "ThrottlingException"
        | "Throttled"
        | "RequestLimitExceeded"
        | "TooManyRequestsException" => Trouble::Throttled,
        "ServiceUnavailable"
        | "ServiceFailure"
        | "InternalFailure"
        | "InternalError"
        | "InternalServiceError"
        | "InternalErrorException" => Trouble::AwsInternal,
        "ResourceExistsException" | "EntityAlreadyExists" => Trouble::Exists,
        "NoSuchEntity" | "ResourceNotFoundException" | "NotFound" | "NotFoundException" => {
            Trouble::Missing
        }
        "KMSDisabledException"
        | "KMSInvalidStateException"
        | "KMSNotFoundException"
        | "KMSOptInRequired"
        | "KMSThrottlingException"
        | "EncryptionFailure"
        | "DecryptionFailure" => Trouble::Kms,
        "EntityTemporarilyUnmodifiable"
        | "ConcurrentModification"
        | "ConcurrentModificationException" => Trouble::Busy,
        "MalformedPolicyDocumentException" | "PublicPolicyException"
            if operation == "PutResourcePolicy" =>
        {
            Trouble::ReadersPolicy
        }
        "InvalidParameter"
        | "InvalidParameterException"
        | "InvalidParameterValue"
        | "InvalidRequestException"
        | "InvalidInput"
        | "ValidationError"
        | "ValidationException"
        | "MalformedPolicyDocument"
        | "MalformedPolicyDocumentException" => Trouble::Invalid,
        _ => Trouble::Other,
    }
}

/// What to do about an AWS error code, for the people who read the comment and the notice.
fn advice(operation: &str, code: &str) -> &'static str {
    match trouble(operation, code) {
        Trouble::Permission => {
            "keygate's AWS role lacks a permission; an operator must grant it (keygate's log names \
             the exact action)"
        }
        Trouble::Credentials => {
            "AWS did not accept keygate's credentials; an operator must check the credentials \
             keygate runs with"
        }
        Trouble::KeyQuota => {
            "the IAM user already has the 2 access keys IAM allows; delete one that is no longer \
             used, then open a new request"
        }
        Trouble::Quota => "an AWS quota was reached; an operator must raise it or free capacity",
        Trouble::Throttled => {
            "AWS throttled keygate's calls; keygate retries on its own, and an operator should \
             look if this persists"
        }
        Trouble::AwsInternal => {
            "AWS had an internal error; keygate retries on its own, and an operator should look \
             if this persists"
        }
        Trouble::Exists => {
            "something of that name already exists and keygate did not create it; an operator \
             must remove or rename it (for a secret, or change `aws.secret_name`)"
        }
        Trouble::Missing => {
            "something keygate needs does not exist (the IAM user, the secret or the SNS topic); \
             keygate's log says which"
        }
        Trouble::Kms => {
            "the KMS key could not be used; an operator must check `aws.kms_key_id` and the key's \
             policy"
        }
        Trouble::Busy => {
            "another change to the same resource was under way; redeliver the event once it has \
             settled"
        }
        Trouble::ReadersPolicy => {
            "AWS refused the secret's resource policy, most often because a `readers` ARN names \
             no existing IAM user or role; check each reader's ARN as IAM shows it, then open a \
             new request"
        }
        Trouble::Invalid => {
            "AWS refused the request as invalid; an operator must read keygate's log"
        }
        Trouble::Other => "an operator must read keygate's log for the details",
    }
}

/// AWS error codes are short identifiers; anything else is not shown, whoever sent it.
fn is_error_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// Turns an SDK error into an [`AwsError`], deciding whether another attempt may succeed.
pub(super) fn classify<E>(
    operation: &'static str,
    e: aws_sdk_iam::error::SdkError<E, aws_sdk_iam::config::http::HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_iam::error::SdkError;
    let server_error = e
        .raw_response()
        .is_some_and(|r| r.status().as_u16() >= 500 || r.status().as_u16() == 429);
    let transient = server_error
        || matches!(
            e,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
    let (code, message, origin) = match &e {
        SdkError::ServiceError(s) => (
            s.err().code().unwrap_or("ServiceError").to_string(),
            s.err().message().unwrap_or_default().to_string(),
            Origin::Service,
        ),
        other => (
            "Unreachable".to_string(),
            first_line(other),
            Origin::Unreachable,
        ),
    };
    let throttled = matches!(
        code.as_str(),
        "Throttling"
            | "ThrottlingException"
            | "ServiceUnavailable"
            | "ServiceFailure"
            | "InternalFailure"
            | "InternalServiceError"
            | "RequestLimitExceeded"
    );
    AwsError {
        operation,
        code,
        message,
        origin,
        transient: transient || throttled,
        account: None,
        unavailable: None,
    }
}

fn first_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s.lines().next().unwrap_or_default().to_string()
}

/// A read's answer where a missing thing is an answer, not an error: `Ok(None)` for AWS's
/// "no such entity" or "resource not found", the answer or the error otherwise.
pub fn found<T>(answer: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_answer_names_its_cause() {
        let cases = [
            (
                "dispatch failure: other: an error occurred while loading credentials: failed to load IMDS session token",
                Unreachable::Credentials,
            ),
            (
                "dispatch failure: io error: client error (Connect): dns error: failed to lookup address information: Name or service not known",
                Unreachable::Dns,
            ),
            (
                "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)",
                Unreachable::Connection,
            ),
            (
                "timeout: operation timeout (all attempts including retries) occurred after 3s",
                Unreachable::Timeout,
            ),
            ("something else", Unreachable::Other),
        ];
        for (message, cause) in cases {
            assert_eq!(Unreachable::of(message), cause, "{message}");
        }
    }

    const RAW: &str = "User: arn:aws:sts::123456789012:assumed-role/keygate/i-0abc is not \
                       authorized to perform: secretsmanager:CreateSecret on resource: \
                       arn:aws:secretsmanager:us-east-1:123456789012:secret:alice/x";

    fn service(operation: &'static str, code: &str) -> AwsError {
        AwsError {
            operation,
            code: code.into(),
            message: RAW.into(),
            origin: Origin::Service,
            transient: false,
            account: None,
            unavailable: None,
        }
    }

    #[test]
    fn the_public_summary_names_the_code_and_what_to_do_but_never_the_message() {
        let e = service("CreateSecret", "AccessDeniedException");
        let public = e.public_summary();
        assert_eq!(
            public,
            "CreateSecret failed with the AWS error AccessDeniedException: keygate's AWS role \
             lacks a permission; an operator must grant it (keygate's log names the exact action)"
        );
        assert!(!public.contains("123456789012") && !public.contains("arn:"));
        // The log keeps everything.
        assert!(e.to_string().contains(RAW));
    }

    #[test]
    fn each_common_code_gets_its_own_advice() {
        for (op, code, says) in [
            (
                "CreateAccessKey",
                "LimitExceeded",
                "already has the 2 access keys",
            ),
            ("CreateSecret", "LimitExceededException", "quota"),
            ("CreateSecret", "ResourceExistsException", "already exists"),
            ("Publish", "ThrottlingException", "throttled"),
            ("ListAccessKeys", "Throttling", "throttled"),
            ("GetUser", "NoSuchEntity", "does not exist"),
            ("CreateSecret", "KMSDisabledException", "aws.kms_key_id"),
            ("GetUser", "InvalidClientTokenId", "credentials"),
            (
                "PutResourcePolicy",
                "MalformedPolicyDocumentException",
                "`readers` ARN",
            ),
            (
                "PutResourcePolicy",
                "PublicPolicyException",
                "`readers` ARN",
            ),
            ("Publish", "SomethingNew", "read keygate's log"),
        ] {
            let public = service(op, code).public_summary();
            assert!(public.contains(code), "{public}");
            assert!(public.contains(says), "{code}: {public}");
        }
    }

    #[test]
    fn a_code_that_is_no_identifier_is_not_shown() {
        let public =
            service("Publish", "Evil code: arn:aws:iam::123456789012:root").public_summary();
        assert!(!public.contains("123456789012"), "{public}");
        assert!(public.contains("failed with an AWS error"), "{public}");
    }

    #[test]
    fn only_codes_aws_answered_with_are_codes() {
        assert_eq!(
            service("GetUser", "AccessDenied").code(),
            Some("AccessDenied")
        );
        let unreachable = AwsError {
            origin: Origin::Unreachable,
            ..service("GetUser", "Unreachable")
        };
        assert_eq!(unreachable.code(), None);
        assert!(!unreachable.public_summary().contains(RAW));
        assert!(unreachable.public_summary().contains("could not reach AWS"));
        let ours = AwsError::keygate("CreateAccessKey", "EmptyResponse", RAW.into());
        assert_eq!(ours.code(), None);
        assert!(!ours.public_summary().contains("arn:"));
    }

    #[test]
    fn an_account_that_cannot_be_assumed_is_named_retried_and_never_shows_the_arn() {
        let prod = AccountAlias::new("prod");
        let e = service("AssumeRole", "AccessDenied").account_unavailable(&prod);
        assert!(e.is_transient(), "the role may be back at any time");
        assert!(e.is_account_unavailable() && e.is_refusal());
        let public = e.public_summary();
        for says in [
            "AWS account `prod`",
            "AccessDenied",
            "deploy/keygate-member.yaml",
            "retries on its own",
            "other accounts goes on",
        ] {
            assert!(public.contains(says), "{says}: {public}");
        }
        assert!(
            !public.contains("123456789012") && !public.contains("arn:"),
            "{public}"
        );
        assert!(
            e.to_string()
                .starts_with("in AWS account `prod`: AssumeRole failed")
        );
    }

    #[test]
    fn a_call_denied_in_a_member_account_names_the_account_and_its_issuer_role() {
        let e = service("CreateSecret", "AccessDeniedException")
            .in_account(Some(&AccountAlias::new("dev")));
        assert!(!e.is_transient() && !e.is_account_unavailable());
        let public = e.public_summary();
        assert!(
            public.starts_with("In AWS account `dev`, CreateSecret failed with the AWS error AccessDeniedException: keygate's issuer role in that account"),
            "{public}"
        );
        let own = service("CreateSecret", "AccessDeniedException").public_summary();
        assert!(own.starts_with("CreateSecret failed"), "unchanged: {own}");
    }

    #[test]
    fn an_account_no_longer_configured_says_so() {
        let e = AwsError::keygate("AssumeRole", "UnknownAccount", "x".into())
            .unconfigured(&AccountAlias::new("old"));
        assert!(!e.is_transient());
        assert!(
            e.public_summary().contains("[accounts.old]"),
            "{}",
            e.public_summary()
        );
    }
}
