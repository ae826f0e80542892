//! `keygate doctor` in each account of `[accounts]` (DESIGN §9): it assumes the account's
//! issuer role, checks that the role is the one configured, in the account configured, and
//! that Secrets Manager answers in the account's region.

use super::{Check, Verdict};
use crate::aws::{AwsError, SESSION_NAME};
use crate::config::{Account, Settings};

const NAME: &str = "aws account";

/// One line per account (none without `[accounts]`).
pub(super) async fn checks(settings: &Settings, aws: &crate::aws::Aws) -> Vec<Check> {
    let aws = aws.clone().with_accounts(&settings.accounts);
    let mut out = Vec::new();
    for account in settings.accounts.iter() {
        let member = match aws.in_account(Some(&account.alias)) {
            Ok(member) => member,
            Err(e) => {
                out.push(Check::fail(
                    NAME,
                    e.to_string(),
                    "report this as a keygate bug",
                ));
                continue;
            }
        };
        out.push(check(settings, account, member).await);
    }
    out
}

async fn check(settings: &Settings, account: &Account, member: &crate::aws::Aws) -> Check {
    let alias = &account.alias;
    let who = format!("`{alias}` ({})", account.account_id);
    let arn = match member.caller_arn().await {
        Ok(arn) => arn,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{who}: cannot assume {}: {e}", account.role_arn),
                format!(
                    "deploy deploy/keygate-member.yaml in account {} (its KeygateRoleArn this \
                     keygate's role, its ExternalId accounts.{alias}.external_id), and let \
                     keygate's role assume it (sts:AssumeRole, as deploy/iam-policy.json grants)",
                    account.account_id
                ),
            );
        }
    };
    let expected = format!(
        ":sts::{}:assumed-role/{}/{SESSION_NAME}",
        account.account_id, account.role_name
    );
    if !arn.ends_with(&expected) {
        return Check::fail(
            NAME,
            format!("{who}: assumed {}, but acting as {arn}", account.role_arn),
            format!("correct accounts.{alias}.role_arn: keygate acts in the account it names"),
        );
    }
    let region = member.region().unwrap_or_else(|| "its region".into());
    match secrets_answer(settings, member).await {
        Ok(()) => Check::ok(
            NAME,
            format!("{who}: acting as {arn}; Secrets Manager answers in {region}"),
        ),
        Err(e) if e.code().is_some_and(is_denied) => Check::with(
            NAME,
            Verdict::Warn,
            format!(
                "{who}: acting as {arn}; the role may not describe the secret names aws.secret_name renders ({})",
                e.code().unwrap_or_default()
            ),
            "the member stack's SecretPrefix must begin the names aws.secret_name renders",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("{who}: acting as {arn}, but Secrets Manager in {region} fails: {e}"),
            format!("check accounts.{alias}.region and that the region is enabled in the account"),
        ),
    }
}

/// Whether Secrets Manager in the member's region answers keygate, by describing a secret
/// that does not exist, named as keygate names secrets (not found is the good answer).
async fn secrets_answer(settings: &Settings, member: &crate::aws::Aws) -> Result<(), AwsError> {
    let probe = crate::request::render_secret_name(
        &settings.aws.secret_name,
        &crate::request::SecretNameInputs {
            iam_user: "keygate-doctor",
            timestamp: crate::request::SAMPLE_TIMESTAMP,
            pr: crate::request::SAMPLE_PR,
            request: "probe",
        },
    )
    .unwrap_or_else(|_| "keygate-doctor/probe".into());
    member.describe_secret(&probe).await.map(drop)
}

fn is_denied(code: &str) -> bool {
    matches!(code, "AccessDenied" | "AccessDeniedException")
}
