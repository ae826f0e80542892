//! Where request files live (`<requests_dir>/<iam_user>/<name>.toml`) and what their names may
//! be.

use super::chars::{FILE_NAME_CHARS, describe_char, echo_plain, is_file_name_char, quote};
use super::fields::check_iam_user_name;
use super::{Diagnostic, PathKind, RequestRules};

/// Says what `path` (repository-relative, `/`-separated, as git gives it) is.
pub fn classify(path: &str, rules: &RequestRules) -> PathKind {
    let dir = rules.requests_dir.trim_matches('/');
    let rest = match path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        Some(rest) if !dir.is_empty() => rest,
        _ => return PathKind::Outside,
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let file = segments.last().copied().unwrap_or_default();
    let misplaced = |why: String| PathKind::Misplaced(Diagnostic::new(path, why));
    let layout = format!("request files go at {dir}/<iam_user>/<name>.toml");

    if segments.iter().any(|s| s.is_empty()) {
        return misplaced(format!(
            "this path has an empty folder or file name; {layout}"
        ));
    }
    if has_extension(file, "md") {
        return PathKind::Documentation;
    }
    match segments.as_slice() {
        [file] => misplaced(format!(
            "this file is directly in the {dir}/ folder: put it in {dir}/<iam_user>/, \
             e.g. {dir}/<iam_user>/{}, where <iam_user> is the IAM user the key is for",
            toml_file_name(file)
        )),
        [folder, file] => {
            let mut problems = Vec::new();
            match file.strip_suffix(".toml") {
                Some("") => problems.push(format!(
                    "the file name is empty: name it, e.g. {dir}/{}/ci.toml",
                    echo_plain(folder)
                )),
                Some(stem) => {
                    if let Err(why) = check_file_name(stem) {
                        problems.push(format!(
                            "{why}: rename it, e.g. to {dir}/{}/{}.toml",
                            echo_plain(folder),
                            plain_file_name(stem)
                        ));
                    }
                }
                None if has_extension(file, "toml") => problems.push(format!(
                    "the extension must be lower-case `.toml`: rename it to {dir}/{}/{}",
                    echo_plain(folder),
                    toml_file_name(file)
                )),
                None => problems.push(format!(
                    "request files must end in `.toml`: rename it to {dir}/{}/{}",
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
                PathKind::Request {
                    folder_user: (*folder).to_owned(),
                }
            } else {
                misplaced(problems.join("; "))
            }
        }
        _ => misplaced(format!(
            "this file is nested too deep: {layout}, one folder deep; move it to {dir}/<iam_user>/{}",
            toml_file_name(file)
        )),
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
