//! `GET /repos/{owner}/{repo}/codeowners/errors` and the branch-protection read
//! `GET /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks`, as
//! `keygate doctor` calls them.

use serde_json::{Value, json};

use super::super::git::Entry;
use super::super::model::World;
use super::{Answer, Call, Reply};

/// Where GitHub looks for CODEOWNERS, first found wins.
const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

impl World {
    /// GitHub's errors in the CODEOWNERS at `ref` (default branch when absent): a `404`
    /// when the repository has none there.
    pub(crate) fn codeowners_errors(&self, inst: u64, repo: &str, call: &Call<'_>) -> Answer {
        let docs = "/repos/repos#list-codeowners-errors";
        let r = self.repo_for(inst, repo, docs)?;
        let reference = call.q.get("ref").unwrap_or(&r.default_branch).to_string();
        let sha = self
            .resolve(r, &reference)
            .ok_or_else(|| Reply::not_found(docs))?;
        let tree = &self.commits[&sha].tree;
        let (path, text) = LOCATIONS
            .iter()
            .find_map(|p| match tree.get(*p) {
                Some(Entry::File(blob)) => Some((*p, String::from_utf8_lossy(blob).into_owned())),
                _ => None,
            })
            .ok_or_else(|| Reply::not_found(docs))?;
        Ok(Reply::json(200, json!({ "errors": errors(path, &text) })))
    }

    /// The required status checks of a protected branch. Reading branch protection takes
    /// the `administration` permission, which keygate's App does not ask for: without it
    /// GitHub answers `403`, as here.
    pub(crate) fn required_status_checks(&self, inst: u64, repo: &str, branch: &str) -> Answer {
        let docs = "/branches/branch-protection#get-status-checks-protection";
        let r = self.repo_for(inst, repo, docs)?;
        if self.installation_permissions()["administration"].is_null() {
            return Err(Reply::error(
                403,
                "Resource not accessible by integration",
                docs,
            ));
        }
        let full = r.full_name();
        match &self.required_checks {
            None => Err(Reply::error(404, "Branch not protected", docs)),
            Some(contexts) => Ok(Reply::json(
                200,
                json!({
                    "url": self.api(&format!("/repos/{full}/branches/{branch}/protection/required_status_checks")),
                    "strict": false,
                    "contexts": contexts,
                    "checks": contexts.iter().map(|c| json!({ "context": c, "app_id": null })).collect::<Vec<_>>(),
                    "contexts_url": self.api(&format!("/repos/{full}/branches/{branch}/protection/required_status_checks/contexts")),
                }),
            )),
        }
    }
}

/// GitHub's complaints about a CODEOWNERS text, in its answer's shape: owners that are not
/// `@user`, `@org/team` or an e-mail address, and patterns with `***`.
fn errors(path: &str, text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let pattern = words.next().unwrap_or_default();
        let error = |column: usize, kind: &str, suggestion: Option<String>| {
            let caret = format!("{}^", " ".repeat(column - 1));
            let hint = suggestion
                .as_deref()
                .map(|s| format!(" {s}"))
                .unwrap_or_default();
            json!({
                "line": i + 1,
                "column": column,
                "kind": kind,
                "source": line,
                "suggestion": suggestion,
                "message": format!("{kind} on line {}:{hint}\n\n  {line}\n  {caret}", i + 1),
                "path": path,
            })
        };
        if pattern.contains("***") {
            out.push(error(
                1,
                "Invalid pattern",
                Some(format!("Did you mean `{}`?", pattern.replace("***", "**"))),
            ));
            continue;
        }
        for owner in words {
            let valid_handle = owner.strip_prefix('@').is_some_and(|h| {
                !h.is_empty()
                    && h.split('/').count() <= 2
                    && h.split('/').all(|p| {
                        !p.is_empty()
                            && p.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
            });
            let email = owner
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.'));
            if !valid_handle && !email {
                let column = line.find(owner).unwrap_or(0) + 1;
                out.push(error(column, "Invalid owner", None));
            }
        }
    }
    out
}

#[test]
fn codeowners_errors_read_as_in_githubs_documentation() {
    let text = "# owners\n\n***/*.rb @monalisa\n/docs/ @acme/docs\n\n\n*.txt docs@\n";
    let got = errors(".github/CODEOWNERS", text);
    assert_eq!(
        got,
        vec![
            json!({
                "line": 3,
                "column": 1,
                "kind": "Invalid pattern",
                "source": "***/*.rb @monalisa",
                "suggestion": "Did you mean `**/*.rb`?",
                "message": "Invalid pattern on line 3: Did you mean `**/*.rb`?\n\n  ***/*.rb @monalisa\n  ^",
                "path": ".github/CODEOWNERS",
            }),
            json!({
                "line": 7,
                "column": 7,
                "kind": "Invalid owner",
                "source": "*.txt docs@",
                "suggestion": null,
                "message": "Invalid owner on line 7:\n\n  *.txt docs@\n        ^",
                "path": ".github/CODEOWNERS",
            }),
        ]
    );
}
