//! What was reviewed is what merges (DESIGN §2.1): the file list is complete, each request
//! is a regular file whose content at the merge is the content approved at the head, and
//! none was already on the base. Also the cap on request files per pull request. Pure: the
//! workflow reads the blobs; this module judges them and phrases every refusal.

use serde::Serialize;

use crate::facts::{Blob, EntryKind};
use crate::policy::problem::{Moment, Problem};

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

    /// Every reason these facts refuse the pull request.
    pub fn refusals(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if (self.files_listed as u64) < self.changed_files {
            out.push(if self.changed_files > MAX_LISTED_FILES {
                Problem::TooManyFiles {
                    changed: self.changed_files,
                }
            } else {
                Problem::FilesUnlisted {
                    listed: self.files_listed,
                    changed: self.changed_files,
                }
            });
        }
        if self.too_many_requests() {
            out.push(Problem::TooManyRequests {
                added: self.requests_added,
                max: self.max_requests,
            });
        }
        out.extend(self.blobs.iter().filter_map(blob_refusal));
        out
    }
}

fn blob_refusal(b: &RequestBlobs) -> Option<Problem> {
    let path = b.path.clone();
    if b.on_base {
        return Some(Problem::AlreadyOnBase { path });
    }
    for (at, blob) in [(Moment::Head, &b.at_head), (Moment::Merge, &b.at_merge)] {
        match blob {
            None => return Some(Problem::NotAt { path, at }),
            Some(blob) if blob.kind != EntryKind::File => {
                let kind = blob.kind;
                return Some(Problem::NotAFile { path, at, kind });
            }
            Some(_) => {}
        }
    }
    match (&b.at_head, &b.at_merge) {
        (Some(head), Some(merge)) if head.sha != merge.sha => Some(Problem::ChangedSinceApproval {
            path,
            head: head.sha.clone(),
            merge: merge.sha.clone(),
        }),
        _ => None,
    }
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
        assert_eq!(
            r,
            [Problem::ChangedSinceApproval {
                path: "requests/alice/ci.toml".into(),
                head: "aaa1111".into(),
                merge: "bbb2222".into()
            }]
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
            assert!(
                matches!(&r[0], Problem::NotAFile { at: Moment::Head, kind: k, .. } if *k == kind),
                "{kind:?}: {r:?}"
            );
        }
        let r = blobs(file("aaa"), None, false).refusals();
        assert!(
            matches!(
                &r[0],
                Problem::NotAt {
                    at: Moment::Merge,
                    ..
                }
            ),
            "{r:?}"
        );
    }

    #[test]
    fn a_request_already_on_the_base_is_refused() {
        let r = blobs(file("aaa"), file("aaa"), true).refusals();
        assert!(matches!(&r[0], Problem::AlreadyOnBase { .. }), "{r:?}");
    }

    #[test]
    fn a_truncated_file_list_is_refused() {
        let mut i = blobs(file("a"), file("a"), false);
        i.files_listed = 3_000;
        i.changed_files = 3_001;
        assert_eq!(i.refusals()[0], Problem::TooManyFiles { changed: 3_001 });
        i.changed_files = 2;
        i.files_listed = 1;
        assert_eq!(
            i.refusals()[0],
            Problem::FilesUnlisted {
                listed: 1,
                changed: 2
            }
        );
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
        assert_eq!(
            i.refusals(),
            [Problem::TooManyRequests { added: 11, max: 10 }]
        );
    }
}
