//! What was reviewed is what merges (DESIGN §2.1): the file list is complete, each request
//! is a regular file whose content at the merge is the content approved at the head, and
//! none was already on the base. Also the cap on request files per pull request. Pure: the
//! workflow reads the blobs; this module judges them and phrases every refusal.

use serde::Serialize;

use crate::facts::{Blob, EntryKind};

/// GitHub lists at most this many files of a pull request.
pub const MAX_LISTED_FILES: u64 = 3_000;

/// One request path as it stands at the approved head, at the merge (or the head again
/// before a merge) and on the base before the merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestBlobs {
    pub path: String,
    pub at_head: Option<Blob>,
    pub at_merge: Option<Blob>,
    /// The path already existed on the base the pull request merges into.
    pub on_base: bool,
}

/// The facts integrity is judged on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// Files GitHub listed for the pull request.
    pub files_listed: usize,
    /// The pull request's `changed_files`.
    pub changed_files: u64,
    /// Request files the pull request adds, and the cap (`policy.max_requests_per_pr`).
    pub requests_added: usize,
    pub max_requests: u32,
    /// Each request's blobs; empty when they were not read (too many requests).
    pub blobs: Vec<RequestBlobs>,
}

impl Integrity {
    /// More request files than allowed: nothing of them is read.
    pub fn too_many_requests(&self) -> bool {
        self.requests_added > self.max_requests as usize
    }

    /// Every reason these facts refuse the pull request, as sentences for people.
    pub fn refusals(&self) -> Vec<String> {
        let mut out = Vec::new();
        if (self.files_listed as u64) < self.changed_files {
            out.push(if self.changed_files > MAX_LISTED_FILES {
                format!(
                    "the pull request changes {} files, more than GitHub lists ({MAX_LISTED_FILES}), so keygate cannot see them all; open a pull request with just the request files",
                    self.changed_files
                )
            } else {
                format!(
                    "GitHub listed {} of the pull request's {} changed files, so keygate cannot see what it changes; push again or redeliver the event",
                    self.files_listed, self.changed_files
                )
            });
        }
        if self.too_many_requests() {
            out.push(format!(
                "the pull request adds {} request files, more than the {} one pull request may add (policy.max_requests_per_pr); split it into smaller pull requests",
                self.requests_added, self.max_requests
            ));
        }
        for b in &self.blobs {
            out.extend(blob_refusal(b));
        }
        out
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "a file",
        EntryKind::Dir => "a folder",
        EntryKind::Symlink => "a symbolic link",
        EntryKind::Submodule => "a submodule",
        EntryKind::Other => "not a regular file",
    }
}

fn blob_refusal(b: &RequestBlobs) -> Option<String> {
    let path = &b.path;
    if b.on_base {
        return Some(format!(
            "`{path}` already exists on the base branch, so this pull request does not add it; a request file is added once, by one pull request"
        ));
    }
    for (at, blob) in [("head", &b.at_head), ("merge", &b.at_merge)] {
        match blob {
            None => {
                return Some(format!(
                    "`{path}` is not in the pull request's {at} commit; push it again"
                ));
            }
            Some(blob) if blob.kind != EntryKind::File => {
                return Some(format!(
                    "`{path}` is {} at the {at}, not a regular file; a request must be a plain TOML file",
                    kind_name(blob.kind)
                ));
            }
            Some(_) => {}
        }
    }
    match (&b.at_head, &b.at_merge) {
        (Some(head), Some(merge)) if head.sha != merge.sha => Some(format!(
            "`{path}` at the merge is not the file approved at the pull request's head (blob {} instead of {}); what was reviewed must be what merges",
            short(&merge.sha),
            short(&head.sha)
        )),
        _ => None,
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(sha: &str) -> Option<Blob> {
        Some(Blob {
            kind: EntryKind::File,
            sha: sha.into(),
        })
    }

    fn blobs(at_head: Option<Blob>, at_merge: Option<Blob>, on_base: bool) -> Integrity {
        Integrity {
            files_listed: 1,
            changed_files: 1,
            requests_added: 1,
            max_requests: 10,
            blobs: vec![RequestBlobs {
                path: "requests/alice/ci.toml".into(),
                at_head,
                at_merge,
                on_base,
            }],
        }
    }

    #[test]
    fn a_regular_file_merged_as_approved_passes() {
        assert!(blobs(file("aaa"), file("aaa"), false).refusals().is_empty());
    }

    #[test]
    fn content_changed_between_approval_and_merge_is_refused() {
        let r = blobs(file("aaa1111"), file("bbb2222"), false).refusals();
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].contains("what was reviewed must be what merges"),
            "{r:?}"
        );
        assert!(
            r[0].contains("bbb2222") && r[0].contains("aaa1111"),
            "{r:?}"
        );
    }

    #[test]
    fn symlinks_submodules_and_missing_files_are_refused() {
        for kind in [EntryKind::Symlink, EntryKind::Submodule, EntryKind::Dir] {
            let link = Some(Blob {
                kind,
                sha: "aaa".into(),
            });
            let r = blobs(link, file("aaa"), false).refusals();
            assert!(r[0].contains("not a regular file"), "{kind:?}: {r:?}");
        }
        let r = blobs(file("aaa"), None, false).refusals();
        assert!(
            r[0].contains("not in the pull request's merge commit"),
            "{r:?}"
        );
    }

    #[test]
    fn a_request_already_on_the_base_is_refused() {
        let r = blobs(file("aaa"), file("aaa"), true).refusals();
        assert!(r[0].contains("already exists on the base branch"), "{r:?}");
    }

    #[test]
    fn a_truncated_file_list_is_refused() {
        let mut i = blobs(file("a"), file("a"), false);
        i.files_listed = 3_000;
        i.changed_files = 3_001;
        assert!(i.refusals()[0].contains("more than GitHub lists"));
        i.changed_files = 2;
        i.files_listed = 1;
        assert!(i.refusals()[0].contains("listed 1 of the pull request's 2"));
    }

    #[test]
    fn more_requests_than_the_cap_are_refused() {
        let i = Integrity {
            files_listed: 11,
            changed_files: 11,
            requests_added: 11,
            max_requests: 10,
            blobs: Vec::new(),
        };
        assert!(i.too_many_requests());
        let r = i.refusals();
        assert!(r[0].contains("adds 11 request files") && r[0].contains("max_requests_per_pr"));
    }
}
