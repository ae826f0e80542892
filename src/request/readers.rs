//! The optional `readers` field: IAM user or role ARNs the secret's resource policy will let
//! read the secret (DESIGN §1). Each must be a well-formed IAM ARN, named once, allowed by
//! `policy.allowed_readers`; at most [`MAX_READERS`].

use toml::Spanned;
use toml::de::DeValue;

use super::chars::{IAM_USER_CHARS, describe_char, is_iam_user_char, quote};
use super::fields::Checked;
use super::parse::describe_value;
use super::rules::list_patterns;
use super::{Diagnostic, IAM_USER_MAX_CHARS, MAX_READERS};

/// The AWS partitions whose IAM ARNs a request may name.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];
/// IAM's limit on a path (`/` included at both ends).
const IAM_PATH_MAX_CHARS: usize = 512;
const ARN_FORM: &str = "write it as `arn:aws:iam::<12-digit account>:role/<name>` or \
                        `arn:aws:iam::<12-digit account>:user/<name>`";

/// Checks that `arn` names one IAM user or role:
/// `arn:<aws|aws-cn|aws-us-gov>:iam::<12 digits>:<user|role>/<path/><name>`. The name and
/// each path part are 1–64 and 1+ characters of `A-Za-z0-9+=,.@_-`: stricter than IAM for
/// paths, so no wildcard or character that hides itself can reach a resource policy.
/// Err says what is wrong, in a phrase.
pub fn check_reader_arn(arn: &str) -> Result<(), String> {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return Err("it does not start with `arn:`".to_owned());
    };
    let mut parts = rest.splitn(5, ':');
    let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("it does not have the six `:`-separated parts of an ARN".to_owned());
    };
    if !PARTITIONS.contains(&partition) {
        return Err(format!(
            "the partition {} is not one of `aws`, `aws-cn` or `aws-us-gov`",
            quote(partition)
        ));
    }
    if service != "iam" {
        return Err(format!(
            "the service is {}, not `iam`: only IAM users and roles can be readers",
            quote(service)
        ));
    }
    if !region.is_empty() {
        return Err(format!(
            "it names the region {}, but IAM ARNs have none: write `iam::` with nothing between \
             the colons",
            quote(region)
        ));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the account {} is not a 12-digit AWS account ID",
            quote(account)
        ));
    }
    let Some(name_and_path) = resource
        .strip_prefix("user/")
        .or_else(|| resource.strip_prefix("role/"))
    else {
        return Err(format!(
            "the resource {} is neither `user/<name>` nor `role/<name>`",
            quote(resource)
        ));
    };
    let (path, name) = match name_and_path.rsplit_once('/') {
        Some((path, name)) => (Some(path), name),
        None => (None, name_and_path),
    };
    check_principal_part("name", name, IAM_USER_MAX_CHARS)?;
    if let Some(path) = path {
        if path.chars().count() + 2 > IAM_PATH_MAX_CHARS {
            return Err(format!(
                "the path is longer than IAM's limit of {IAM_PATH_MAX_CHARS} characters"
            ));
        }
        for part in path.split('/') {
            check_principal_part("path part", part, IAM_PATH_MAX_CHARS)?;
        }
    }
    Ok(())
}

fn check_principal_part(what: &str, part: &str, max: usize) -> Result<(), String> {
    let length = part.chars().count();
    if length == 0 {
        return Err(format!(
            "it has an empty {what} (two `/` in a row, or one at the end)"
        ));
    }
    if length > max {
        return Err(format!(
            "the {what} is {length} characters long; the limit is {max}"
        ));
    }
    if let Some((index, c)) = part
        .chars()
        .enumerate()
        .find(|(_, c)| !is_iam_user_char(*c))
    {
        return Err(format!(
            "the {what} {} holds {} at character {}; names and paths may only hold \
             {IAM_USER_CHARS}",
            quote(part),
            describe_char(c),
            index + 1
        ));
    }
    Ok(())
}

impl Checked<'_> {
    /// Judges the `readers` list whose value starts at byte `at`. Each problem is reported at
    /// the element it is about.
    pub(super) fn readers(
        &self,
        items: &[Spanned<DeValue<'_>>],
        at: usize,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Vec<String>> {
        if self.rules.allowed_readers.is_empty() {
            out.push(self.at(
                at,
                "`readers` is not allowed yet: no reader can be named until a keygate operator \
                 lists the ARNs requests may name in `policy.allowed_readers`; remove the field, \
                 or ask the keygate operators to allow readers first"
                    .to_owned(),
            ));
            return None;
        }
        let mut valid = true;
        // Entry number and ARN of each well-formed entry so far.
        let mut seen: Vec<(usize, &str)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let number = index + 1;
            let item_at = item.span().start;
            let mut refuse = |message: String| {
                valid = false;
                out.push(self.at(item_at, message));
            };
            if index == MAX_READERS {
                refuse(format!(
                    "`readers` names {} ARNs, more than the limit of {MAX_READERS}: this is \
                     entry {number}; keep at most {MAX_READERS}",
                    items.len()
                ));
            }
            let DeValue::String(arn) = item.get_ref() else {
                refuse(format!(
                    "`readers` entry {number} must be a string holding an ARN, found {}: write \
                     it in double quotes, e.g. \"arn:aws:iam::123456789012:role/ci\"",
                    describe_value(item.get_ref())
                ));
                continue;
            };
            let arn: &str = arn.as_ref();
            if let Err(why) = check_reader_arn(arn) {
                refuse(format!(
                    "`readers` entry {number} {} is not an IAM user or role ARN: {why}; \
                     {ARN_FORM}",
                    quote(arn)
                ));
                continue;
            }
            // IAM names are unique without regard to case: `role/CI` is `role/ci`.
            if let Some((first, _)) = seen.iter().find(|(_, r)| r.eq_ignore_ascii_case(arn)) {
                refuse(format!(
                    "`readers` entry {number} {} repeats entry {first}: remove it",
                    quote(arn)
                ));
            } else if !self.rules.reader_allowed(arn) {
                refuse(format!(
                    "`readers` entry {number} {} is not in policy.allowed_readers ({}): keygate \
                     lets only the principals the operators allow read a secret; remove it, or \
                     ask the keygate operators to allow it",
                    quote(arn),
                    list_patterns(&self.rules.allowed_readers)
                ));
            }
            seen.push((number, arn));
        }
        valid.then(|| seen.into_iter().map(|(_, arn)| arn.to_owned()).collect())
    }
}

#[cfg(test)]
mod tests;
