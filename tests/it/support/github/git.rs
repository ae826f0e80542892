//! Git's side: trees (path → entry: file, symlink or submodule), the diffs
//! GitHub shows between them, and the SHAs git gives blobs, trees and commits.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::model::Change;

/// A commit's entries by path.
pub(crate) type Tree = BTreeMap<String, Entry>;

/// What a path holds: git's modes 100644, 120000 and 160000.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    File(Vec<u8>),
    /// The link's target, stored as the blob's content.
    Symlink(String),
    /// A gitlink: the commit the submodule is pinned at.
    Submodule(String),
}

impl Entry {
    /// The text git diffs for the entry (GitHub shows a submodule's change
    /// as a `Subproject commit` line).
    pub(crate) fn diff_text(&self) -> Vec<u8> {
        match self {
            Entry::File(b) => b.clone(),
            Entry::Symlink(target) => target.as_bytes().to_vec(),
            Entry::Submodule(sha) => format!("Subproject commit {sha}\n").into_bytes(),
        }
    }

    /// The object the tree points at: a blob's SHA, or the pinned commit.
    pub(crate) fn sha(&self) -> String {
        match self {
            Entry::File(b) => git_blob_sha(b),
            Entry::Symlink(target) => git_blob_sha(target.as_bytes()),
            Entry::Submodule(sha) => sha.clone(),
        }
    }

    pub(crate) fn size(&self) -> usize {
        match self {
            Entry::File(b) => b.len(),
            Entry::Symlink(target) => target.len(),
            Entry::Submodule(_) => 0,
        }
    }
}

pub(crate) fn apply_changes(base: &Tree, changes: &[Change<'_>]) -> Tree {
    let mut tree = base.clone();
    for change in changes {
        match *change {
            Change::Write(path, content) => {
                tree.insert(path.to_string(), Entry::File(content.as_bytes().to_vec()));
            }
            Change::Symlink(path, target) => {
                tree.insert(path.to_string(), Entry::Symlink(target.to_string()));
            }
            Change::Submodule(path, sha) => {
                tree.insert(path.to_string(), Entry::Submodule(sha.to_string()));
            }
            Change::Delete(path) => {
                tree.remove(path)
                    .unwrap_or_else(|| panic!("cannot delete {path}: no such file"));
            }
            Change::Rename(from, to) => {
                let content = tree
                    .remove(from)
                    .unwrap_or_else(|| panic!("cannot rename {from}: no such file"));
                tree.insert(to.to_string(), content);
            }
        }
    }
    tree
}

pub(crate) fn describe(changes: &[Change<'_>]) -> String {
    match changes {
        [Change::Write(path, _)] => format!("Update {path}"),
        [Change::Symlink(path, target)] => format!("Link {path} to {target}"),
        [Change::Submodule(path, sha)] => format!("Pin {path} at {sha}"),
        [Change::Delete(path)] => format!("Delete {path}"),
        [Change::Rename(from, to)] => format!("Rename {from} to {to}"),
        _ => format!("Change {} files", changes.len()),
    }
}

pub(crate) struct FileChange {
    pub(crate) filename: String,
    pub(crate) status: &'static str,
    pub(crate) previous_filename: Option<String>,
    pub(crate) old: Option<Entry>,
    pub(crate) new: Option<Entry>,
}

impl FileChange {
    /// GitHub's `patch`, `additions` and `deletions` for the change.
    pub(crate) fn patch(&self) -> (Option<String>, u64, u64) {
        let text = |e: &Option<Entry>| e.as_ref().map(Entry::diff_text).unwrap_or_default();
        patch(&text(&self.old), &text(&self.new))
    }
}

/// GitHub's file statuses between two trees; a path whose exact content
/// disappears and reappears elsewhere is a rename.
pub(crate) fn diff_trees(old: &Tree, new: &Tree) -> Vec<FileChange> {
    let mut changes = Vec::new();
    let mut removed: Vec<(&String, &Entry)> = old
        .iter()
        .filter(|(path, _)| !new.contains_key(*path))
        .collect();
    for (path, content) in new {
        match old.get(path) {
            Some(before) if before == content => {}
            Some(before) => changes.push(FileChange {
                filename: path.clone(),
                // A file that became a symlink (or the reverse) is a type change.
                status: if std::mem::discriminant(before) == std::mem::discriminant(content) {
                    "modified"
                } else {
                    "changed"
                },
                previous_filename: None,
                old: Some(before.clone()),
                new: Some(content.clone()),
            }),
            None => {
                let renamed_from = removed.iter().position(|(_, c)| *c == content);
                match renamed_from {
                    Some(i) => {
                        let (from, c) = removed.remove(i);
                        changes.push(FileChange {
                            filename: path.clone(),
                            status: "renamed",
                            previous_filename: Some(from.clone()),
                            old: Some(c.clone()),
                            new: Some(content.clone()),
                        });
                    }
                    None => changes.push(FileChange {
                        filename: path.clone(),
                        status: "added",
                        previous_filename: None,
                        old: None,
                        new: Some(content.clone()),
                    }),
                }
            }
        }
    }
    for (path, content) in removed {
        changes.push(FileChange {
            filename: path.clone(),
            status: "removed",
            previous_filename: None,
            old: Some(content.clone()),
            new: None,
        });
    }
    changes.sort_by(|a, b| a.filename.cmp(&b.filename));
    changes
}

pub(crate) fn apply_diff(base: &Tree, changes: &[FileChange]) -> Tree {
    let mut tree = base.clone();
    for c in changes {
        if let Some(prev) = &c.previous_filename {
            tree.remove(prev);
        }
        match &c.new {
            Some(content) => tree.insert(c.filename.clone(), content.clone()),
            None => tree.remove(&c.filename),
        };
    }
    tree
}

/// A unified diff of the whole file as one hunk, with its line counts.
pub(crate) fn patch(old: &[u8], new: &[u8]) -> (Option<String>, u64, u64) {
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return (None, 0, 0);
    };
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lines = Vec::new();
    if a.len() * b.len() > 4_000_000 {
        lines.extend(a.iter().map(|l| format!("-{l}")));
        lines.extend(b.iter().map(|l| format!("+{l}")));
    } else {
        // Longest common subsequence, walked from the start.
        let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                lines.push(format!(" {}", a[i]));
                i += 1;
                j += 1;
            } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                lines.push(format!("-{}", a[i]));
                i += 1;
            } else {
                lines.push(format!("+{}", b[j]));
                j += 1;
            }
        }
    }
    let additions = lines.iter().filter(|l| l.starts_with('+')).count() as u64;
    let deletions = lines.iter().filter(|l| l.starts_with('-')).count() as u64;
    if additions + deletions == 0 {
        return (None, 0, 0);
    }
    let range = |n: usize| {
        if n == 0 {
            "0,0".to_string()
        } else {
            format!("1,{n}")
        }
    };
    let header = format!("@@ -{} +{} @@", range(a.len()), range(b.len()));
    (
        Some(format!("{header}\n{}", lines.join("\n"))),
        additions,
        deletions,
    )
}
pub(crate) fn sha1_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        data,
    ))
}

/// The SHA git gives a blob: what GitHub reports as a file's `sha`.
pub(crate) fn git_blob_sha(content: &[u8]) -> String {
    let mut data = format!("blob {}\0", content.len()).into_bytes();
    data.extend_from_slice(content);
    sha1_hex(&data)
}

pub(crate) fn tree_sha(tree: &Tree) -> String {
    sub_tree_sha(tree, "")
}

pub(crate) fn sub_tree_sha(tree: &Tree, dir: &str) -> String {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let listing: String = tree
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .map(|(p, e)| format!("{p} {}\n", e.sha()))
        .collect();
    sha1_hex(format!("tree {listing}").as_bytes())
}

/// Base64 with a newline after every 60 characters, as the contents API sends.
pub(crate) fn github_base64(content: &[u8]) -> String {
    let encoded = BASE64.encode(content);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// The best common ancestor of two commits: of those reachable from both,
/// the one made last (`seq` orders commits as they were made).
pub(crate) fn merge_base(
    a: &str,
    b: &str,
    parents: impl Fn(&str) -> (u64, Vec<String>),
) -> Option<String> {
    let ancestors = |start: &str| {
        let mut seen = BTreeMap::new();
        let mut stack = vec![start.to_string()];
        while let Some(sha) = stack.pop() {
            if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(sha) {
                let (seq, ps) = parents(slot.key());
                slot.insert(seq);
                stack.extend(ps);
            }
        }
        seen
    };
    let of_a = ancestors(a);
    let of_b = ancestors(b);
    of_a.into_iter()
        .filter(|(sha, _)| of_b.contains_key(sha))
        .max_by_key(|(_, seq)| *seq)
        .map(|(sha, _)| sha)
}
