//! Where request files live (`<requests_dir>/<iam_user>/<name>.toml`, or with `[accounts]`
//! `<requests_dir>/<account>/<iam_user>/<name>.toml`) and what their names may be.

use super::chars::{FILE_NAME_CHARS, describe_char, echo_plain, is_file_name_char, quote};
use super::fields::check_iam_user_name;
use super::{Diagnostic, PathKind, RequestRules};
use crate::ids::AccountAlias;

/// Says what `path` (repository-relative, `/`-separated, as git gives it) is. With
/// `[accounts]` (DESIGN §9) a request sits one folder deeper, in its account's folder.
pub fn classify(path: &str, rules: &RequestRules) -> PathKind {
    let dir = rules.requests_dir.trim_matches('/');
    let rest = match path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        Some(rest) if !dir.is_empty() => rest,
        _ => return PathKind::Outside,
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let file = segments.last().copied().unwrap_or_default();
    let misplaced = |why: String| PathKind::Misplaced(Diagnostic::new(path, why));

    if segments.iter().any(|s| s.is_empty()) {
        return misplaced(format!(
            "this path has an empty folder or file name; {}",
            layout(dir, rules)
        ));
    }
    if has_extension(file, "md") {
        return PathKind::Documentation;
    }
    if rules.accounts.is_empty() {
        return in_one_account(dir, &segments).unwrap_or_else(misplaced);
    }
    in_accounts(dir, &segments, &rules.accounts).unwrap_or_else(misplaced)
}

/// "request files go at …", for the layout `rules` use.
fn layout(dir: &str, rules: &RequestRules) -> String {
    if rules.accounts.is_empty() {
        format!("request files go at {dir}/<iam_user>/<name>.toml")
    } else {
        format!("request files go at {dir}/<account>/<iam_user>/<name>.toml")
    }
}

/// Without `[accounts]`: `<dir>/<iam_user>/<name>.toml`.
fn in_one_account(dir: &str, segments: &[&str]) -> Result<PathKind, String> {
    let file = segments.last().copied().unwrap_or_default();
    match segments {
        [file] => Err(format!(
            "this file is directly in the {dir}/ folder: put it in {dir}/<iam_user>/, \
             e.g. {dir}/<iam_user>/{}, where <iam_user> is the IAM user the key is for",
            toml_file_name(file)
        )),
        [folder, file] => match user_file(dir, folder, file) {
            Ok(()) => Ok(PathKind::Request {
                folder_user: (*folder).to_owned(),
                account: None,
            }),
            Err(problems) => Err(problems.join("; ")),
        },
        _ => Err(format!(
            "this file is nested too deep: request files go at {dir}/<iam_user>/<name>.toml, \
             one folder deep; move it to {dir}/<iam_user>/{}",
            toml_file_name(file)
        )),
    }
}

/// With `[accounts]`: `<dir>/<account>/<iam_user>/<name>.toml`, the account one of `known`.
fn in_accounts(dir: &str, segments: &[&str], known: &[AccountAlias]) -> Result<PathKind, String> {
    let file = segments.last().copied().unwrap_or_default();
    let names = known_accounts(known);
    let is_known = |folder: &str| known.iter().any(|a| a.as_str() == folder);
    match segments {
        [file] => Err(format!(
            "this file is directly in the {dir}/ folder: put it in {dir}/<account>/<iam_user>/, \
             e.g. {dir}/<account>/<iam_user>/{}, where <account> is one of {names} and \
             <iam_user> is the IAM user the key is for",
            toml_file_name(file)
        )),
        [folder, file] if is_known(folder) => Err(format!(
            "this file is directly in the folder of account {}: put it in the folder of its IAM \
             user, e.g. {dir}/{}/<iam_user>/{}",
            quote(folder),
            echo_plain(folder),
            toml_file_name(file)
        )),
        [folder, file] => Err(format!(
            "keygate issues keys in several AWS accounts, so request files go at \
             {dir}/<account>/<iam_user>/<name>.toml: move it to {dir}/<account>/{}/{}, where \
             <account> is one of {names}",
            echo_plain(folder),
            toml_file_name(file)
        )),
        [account, folder, file] => {
            let prefix = format!("{dir}/{}", echo_plain(account));
            let mut problems = match user_file(&prefix, folder, file) {
                Ok(()) => Vec::new(),
                Err(problems) => problems,
            };
            let alias = known.iter().find(|a| a.as_str() == *account);
            if alias.is_none() {
                problems.insert(
                    0,
                    format!(
                        "the folder {} is not an AWS account keygate knows: the known accounts \
                         are {names}; move the file into the folder of its account",
                        quote(account)
                    ),
                );
            }
            match (alias, problems.is_empty()) {
                (Some(alias), true) => Ok(PathKind::Request {
                    folder_user: (*folder).to_owned(),
                    account: Some(alias.clone()),
                }),
                _ => Err(problems.join("; ")),
            }
        }
        _ => Err(format!(
            "this file is nested too deep: request files go at \
             {dir}/<account>/<iam_user>/<name>.toml; move it to {dir}/<account>/<iam_user>/{}",
            toml_file_name(file)
        )),
    }
}

/// The known accounts for a message: "`dev`, `prod`".
pub(super) fn known_accounts(known: &[AccountAlias]) -> String {
    known
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checks of `<prefix>/<folder>/<file>`: the file's name and extension, the folder's
/// IAM user name. Each problem says what to rename.
fn user_file(prefix: &str, folder: &str, file: &str) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    match file.strip_suffix(".toml") {
        Some("") => problems.push(format!(
            "the file name is empty: name it, e.g. {prefix}/{}/ci.toml",
            echo_plain(folder)
        )),
        Some(stem) => {
            if let Err(why) = check_file_name(stem) {
                problems.push(format!(
                    "{why}: rename it, e.g. to {prefix}/{}/{}.toml",
                    echo_plain(folder),
                    plain_file_name(stem)
                ));
            }
        }
        None if has_extension(file, "toml") => problems.push(format!(
            "the extension must be lower-case `.toml`: rename it to {prefix}/{}/{}",
            echo_plain(folder),
            toml_file_name(file)
        )),
        None => problems.push(format!(
            "request files must end in `.toml`: rename it to {prefix}/{}/{}",
            echo_plain(folder),
            toml_file_name(file)
        )),
    }
    if let Err(why) = check_iam_user_name(folder) {
        problems.push(format!(
            "the folder name {} is not a valid IAM user name ({why}); the folder must be \
             named exactly after the IAM user",
            quote(folder)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The account whose folder holds the request at `path`; `None` without `[accounts]` or
/// when `path` is no request.
pub fn account_of(path: &str, rules: &RequestRules) -> Option<AccountAlias> {
    match classify(path, rules) {
        PathKind::Request { account, .. } => account,
        _ => None,
    }
}

/// Checks a request file's name without `.toml`: only `A-Za-z0-9._-`. The name goes into
/// comments, check runs, notices and perhaps the secret name, where a space, a slash or a
/// character that hides itself would mislead; so only plain names are requests.
fn check_file_name(stem: &str) -> Result<(), String> {
    match stem
        .chars()
        .enumerate()
        .find(|(_, c)| !is_file_name_char(*c))
    {
        Some((index, c)) => Err(format!(
            "the file name {} holds {} at character {}; request file names may only hold \
             {FILE_NAME_CHARS}, and end in `.toml`",
            quote(stem),
            describe_char(c),
            index + 1
        )),
        None => Ok(()),
    }
}

/// `stem` with every character a file name may not hold replaced by `-`, for advice.
fn plain_file_name(stem: &str) -> String {
    let plain: String = stem
        .chars()
        .take(60)
        .map(|c| if is_file_name_char(c) { c } else { '-' })
        .collect();
    let trimmed = plain.trim_matches('-');
    if trimmed.is_empty() {
        "ci".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Checks `policy.requests_dir`: a repository-relative folder, no leading or trailing `/`, no
/// `.` or `..` segments, no backslash. The error names the key.
pub fn check_requests_dir(dir: &str) -> Result<(), String> {
    let bad = dir.is_empty()
        || dir.starts_with('/')
        || dir.ends_with('/')
        || dir.contains('\\')
        || dir
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        Err(format!(
            "policy.requests_dir {} must be a repository-relative folder such as \"requests\", \
             without leading or trailing `/`, `.` or `..`",
            quote(dir)
        ))
    } else {
        Ok(())
    }
}

/// The file name without folder and `.toml`: the `{request}` placeholder.
pub(super) fn request_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".toml").unwrap_or(file)
}

fn has_extension(file: &str, extension: &str) -> bool {
    file.rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(extension))
}

/// `file` renamed to end in `.toml`, for advice.
fn toml_file_name(file: &str) -> String {
    let stem = match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        Some(_) => "<name>",
        None => file,
    };
    format!("{}.toml", echo_plain(stem))
}

#[cfg(test)]
mod tests;
