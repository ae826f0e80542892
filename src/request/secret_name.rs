//! The secret-name template, and the Secrets Manager name rules its result must meet.

use super::chars::{SECRET_NAME_CHARS, describe_char, is_secret_name_char, quote};
use super::{SAMPLE_PR, SAMPLE_TIMESTAMP, SECRET_NAME_MAX_CHARS};
use crate::ids::SecretName;

/// The inputs of a secret-name template.
#[derive(Debug, Clone, Copy)]
pub struct SecretNameInputs<'a> {
    pub iam_user: &'a str,
    /// UTC `YYYYmmddHHMMSS`.
    pub timestamp: &'a str,
    pub pr: u64,
    /// The request file's name without folder and `.toml`.
    pub request: &'a str,
}

/// Renders a secret-name template. Placeholders: `{iam_user}`, `{timestamp}`, `{pr}`,
/// `{request}`. Err explains an unknown placeholder, an unmatched brace, or why the rendered
/// name is not a valid Secrets Manager name (naming the offending character).
pub fn render_secret_name(template: &str, inputs: &SecretNameInputs) -> Result<SecretName, String> {
    let known = "{iam_user}, {timestamp}, {pr} and {request}";
    let mut out = String::new();
    let mut rest = template;
    while let Some(brace) = rest.find(['{', '}']) {
        let (literal, tail) = rest.split_at(brace);
        out.push_str(literal);
        let Some(inner) = tail.strip_prefix('{') else {
            return Err(format!(
                "the template {} has a `}}` without a matching `{{`; placeholders are {known}",
                quote(template)
            ));
        };
        let Some((name, after)) = inner.split_once('}') else {
            return Err(format!(
                "the template {} has a `{{` that is never closed; placeholders are {known}",
                quote(template)
            ));
        };
        match name {
            "iam_user" => out.push_str(inputs.iam_user),
            "timestamp" => out.push_str(inputs.timestamp),
            "pr" => out.push_str(&inputs.pr.to_string()),
            "request" => out.push_str(inputs.request),
            other => {
                return Err(format!(
                    "unknown placeholder {} in the template {}; placeholders are {known}",
                    quote(&format!("{{{other}}}")),
                    quote(template)
                ));
            }
        }
        rest = after;
    }
    out.push_str(rest);
    check_secret_name(&out)?;
    Ok(SecretName::new(out))
}

/// Sample inputs with the given user and request name, to check a template before any PR.
pub(super) fn sample_inputs<'a>(iam_user: &'a str, request: &'a str) -> SecretNameInputs<'a> {
    SecretNameInputs {
        iam_user,
        timestamp: SAMPLE_TIMESTAMP,
        pr: SAMPLE_PR,
        request,
    }
}

fn check_secret_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if length == 0 {
        return Err("the rendered secret name is empty".to_owned());
    }
    if length > SECRET_NAME_MAX_CHARS {
        return Err(format!(
            "the rendered secret name is {length} characters long; Secrets Manager allows at \
             most {SECRET_NAME_MAX_CHARS}"
        ));
    }
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| !is_secret_name_char(*c))
    {
        Some((index, c)) => Err(format!(
            "the secret name {} is not a valid Secrets Manager name: {} at character {} is not \
             allowed (only {SECRET_NAME_CHARS})",
            quote(name),
            describe_char(c),
            index + 1
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
