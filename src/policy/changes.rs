//! What a pull request changes, and whether that shape of change may issue keys at all
//! (DESIGN §1 immutability, §2.1 no CODEOWNERS or other files beside requests). Pure.

use serde::Serialize;

use crate::facts::{ChangedFile, FileStatus};
use crate::ids::RequestPath;
use crate::policy::approval::ApprovalRules;
use crate::policy::history::{CommitFacts, History, own_outside_paths};
use crate::policy::integrity::Integrity;
use crate::policy::problem::{Problem, Rewrite};
use crate::request::{Diagnostic, PathKind, RequestRules, classify};

/// A pull request's files, sorted by what they mean to keygate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Request files the pull request adds: the requests.
    pub added: Vec<RequestPath>,
    /// Merged request files the pull request deletes: revocations.
    pub removed: Vec<RequestPath>,
    /// Request files modified or renamed, with what happened: never allowed.
    pub rewritten: Vec<(String, Rewrite)>,
    /// Files in the requests folder that cannot be requests.
    pub misplaced: Vec<Diagnostic>,
    /// Files outside the requests folder (CODEOWNERS included).
    pub outside: Vec<String>,
    /// Documentation inside the requests folder.
    pub docs: Vec<String>,
    /// Whether what was reviewed is what merges (complete file list, regular files, same
    /// blobs at head and merge, not already on the base) and the request-file cap.
    pub integrity: Integrity,
    /// What the pull request's commits, read one by one, showed (facts; phrased by policy).
    pub history: History,
}

impl Changes {
    pub fn sort(files: &[ChangedFile], rules: &RequestRules) -> Changes {
        let mut c = Changes::default();
        for f in files {
            let kind = classify(&f.path, rules);
            match (&f.status, kind) {
                (_, PathKind::Outside) => {
                    // A rename out of the requests folder still rewrites a request.
                    if let FileStatus::Renamed { from } = &f.status
                        && matches!(classify(from, rules), PathKind::Request { .. })
                    {
                        c.rewritten
                            .push((from.clone(), Rewrite::RenamedTo(f.path.clone())));
                    }
                    c.outside.push(f.path.clone());
                }
                (_, PathKind::Documentation) => {
                    if let FileStatus::Renamed { from } = &f.status
                        && matches!(classify(from, rules), PathKind::Request { .. })
                    {
                        c.rewritten
                            .push((from.clone(), Rewrite::RenamedTo(f.path.clone())));
                    }
                    c.docs.push(f.path.clone())
                }
                (FileStatus::Removed, PathKind::Request { .. }) => {
                    c.removed.push(RequestPath::new(&f.path))
                }
                (FileStatus::Removed, PathKind::Misplaced(_)) => c.outside.push(f.path.clone()),
                (_, PathKind::Misplaced(d)) => c.misplaced.push(d),
                (FileStatus::Added, PathKind::Request { .. }) => {
                    c.added.push(RequestPath::new(&f.path))
                }
                (FileStatus::Modified, PathKind::Request { .. }) => {
                    c.rewritten.push((f.path.clone(), Rewrite::Modified))
                }
                (FileStatus::Renamed { from }, PathKind::Request { .. }) => {
                    if matches!(classify(from, rules), PathKind::Request { .. }) {
                        c.rewritten
                            .push((from.clone(), Rewrite::RenamedTo(f.path.clone())));
                    } else {
                        // Moved in from elsewhere: it is new as a request.
                        c.added.push(RequestPath::new(&f.path));
                    }
                }
                (FileStatus::Other(s), PathKind::Request { .. }) => c
                    .rewritten
                    .push((f.path.clone(), Rewrite::Other(s.clone()))),
            }
        }
        c
    }

    /// Takes in the pull request's commits, read one by one: their facts go to `history`, and
    /// the outside paths its own commits changed join `outside` (see
    /// [`own_outside_paths`]). `commits_total` is the pull request's `commits` count.
    pub fn read_history(
        &mut self,
        commits: &[CommitFacts],
        commits_total: u64,
        rules: &RequestRules,
    ) {
        self.history = History::read(commits, commits_total);
        for path in own_outside_paths(commits, rules) {
            if !self.outside.contains(&path) {
                self.outside.push(path);
            }
        }
    }

    /// Does this pull request concern keygate at all?
    pub fn touches_requests(&self) -> bool {
        !(self.added.is_empty()
            && self.removed.is_empty()
            && self.rewritten.is_empty()
            && self.misplaced.is_empty())
    }

    /// Problems that refuse the whole pull request.
    pub fn problems(&self, rules: &ApprovalRules) -> Vec<Problem> {
        let mut out: Vec<Problem> = self
            .rewritten
            .iter()
            .map(|(path, what)| Problem::Rewritten {
                path: path.clone(),
                what: what.clone(),
            })
            .collect();
        out.extend(self.misplaced.iter().map(|d| Problem::Misplaced {
            diagnostic: d.clone(),
        }));
        out.extend(self.integrity.refusals());
        out.extend(self.history.refusals(rules));
        if !self.outside.is_empty() && self.touches_requests() {
            out.push(Problem::Outside {
                paths: self.outside.clone(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::request::test_support::settings as rules;

    fn f(path: &str, status: FileStatus) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            status,
        }
    }

    #[test]
    fn an_added_request_file_is_a_request() {
        let c = Changes::sort(&[f("requests/alice/ci.toml", FileStatus::Added)], &rules());
        assert_eq!(c.added, vec!["requests/alice/ci.toml"]);
        assert!(c.problems(&ApprovalRules::default()).is_empty());
    }

    #[test]
    fn modifying_or_renaming_a_merged_request_is_refused() {
        let c = Changes::sort(
            &[
                f("requests/alice/ci.toml", FileStatus::Modified),
                f(
                    "requests/alice/b.toml",
                    FileStatus::Renamed {
                        from: "requests/alice/a.toml".into(),
                    },
                ),
            ],
            &rules(),
        );
        let p = c.problems(&ApprovalRules::default());
        assert_eq!(
            p,
            [
                Problem::Rewritten {
                    path: "requests/alice/ci.toml".into(),
                    what: Rewrite::Modified
                },
                Problem::Rewritten {
                    path: "requests/alice/a.toml".into(),
                    what: Rewrite::RenamedTo("requests/alice/b.toml".into())
                },
            ]
        );
    }

    #[test]
    fn codeowners_beside_a_request_is_refused_but_alone_is_not_keygates_business() {
        let files = [
            f("requests/alice/ci.toml", FileStatus::Added),
            f(".github/CODEOWNERS", FileStatus::Modified),
        ];
        let p = Changes::sort(&files, &rules()).problems(&ApprovalRules::default());
        assert_eq!(
            p,
            [Problem::Outside {
                paths: vec![".github/CODEOWNERS".into()]
            }]
        );
        let alone = Changes::sort(&files[1..], &rules());
        assert!(!alone.touches_requests());
        assert!(alone.problems(&ApprovalRules::default()).is_empty());
    }

    #[test]
    fn renaming_a_merged_request_into_documentation_is_refused() {
        let c = Changes::sort(
            &[f(
                "requests/alice/ci.md",
                FileStatus::Renamed {
                    from: "requests/alice/ci.toml".into(),
                },
            )],
            &rules(),
        );
        assert!(c.touches_requests());
        assert_eq!(
            c.problems(&ApprovalRules::default()),
            [Problem::Rewritten {
                path: "requests/alice/ci.toml".into(),
                what: Rewrite::RenamedTo("requests/alice/ci.md".into())
            }]
        );
    }

    #[test]
    fn deleted_requests_are_revocations() {
        let c = Changes::sort(
            &[f("requests/alice/ci.toml", FileStatus::Removed)],
            &rules(),
        );
        assert_eq!(c.removed, vec!["requests/alice/ci.toml"]);
    }
}
