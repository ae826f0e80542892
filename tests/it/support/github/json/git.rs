//! Shapes of git data: changed files, commits (with their signature's
//! verification) and the contents API's files, symlinks and submodules.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::super::WEB_FLOW;
use super::super::git::{Entry, FileChange, Tree, github_base64, sub_tree_sha, tree_sha};
use super::super::model::{Account, Commit, Repo, Signature, World, ts};
use super::{node_id, url_path};

impl World {
    /// `GET /repos/{owner}/{repo}/compare/{base}...{head}`: the commits of `head` that `base`
    /// lacks, oldest first, and the files between the two.
    pub(crate) fn compare_json(&self, r: &Repo, base: &str, head: &str) -> Value {
        let ancestors = |from: &str| {
            let mut seen = std::collections::HashSet::new();
            let mut todo = vec![from.to_string()];
            while let Some(sha) = todo.pop() {
                if let Some(c) = self.commits.get(&sha)
                    && seen.insert(sha.clone())
                {
                    todo.extend(c.parents.iter().cloned());
                }
            }
            seen
        };
        let behind = ancestors(base);
        let mut ahead: Vec<&Commit> = ancestors(head)
            .iter()
            .filter(|sha| !behind.contains(*sha))
            .map(|sha| &self.commits[sha])
            .collect();
        ahead.sort_by_key(|c| c.seq);
        let changes =
            super::super::git::diff_trees(&self.commits[base].tree, &self.commits[head].tree);
        let files: Vec<Value> = changes.iter().map(|f| self.file_json(r, head, f)).collect();
        json!({
            "status": if ahead.is_empty() { "identical" } else { "ahead" },
            "ahead_by": ahead.len(),
            "behind_by": 0,
            "total_commits": ahead.len(),
            "commits": ahead.iter().map(|c| self.commit_json(r, c)).collect::<Vec<_>>(),
            "files": files,
        })
    }

    /// One entry of a files list (pull request or commit), as GitHub shows
    /// it: a symlink's patch is its target, a submodule's a `Subproject
    /// commit` line, and its `sha` the pinned commit.
    pub(crate) fn file_json(&self, r: &Repo, head: &str, f: &FileChange) -> Value {
        let full = r.full_name();
        let (patch, additions, deletions) = f.patch();
        let entry = f.new.as_ref().or(f.old.as_ref());
        let path = url_path(&f.filename);
        let mut v = json!({
            "sha": entry.map(Entry::sha),
            "filename": f.filename,
            "status": f.status,
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "blob_url": format!("https://github.com/{full}/blob/{head}/{path}"),
            "raw_url": format!("https://github.com/{full}/raw/{head}/{path}"),
            "contents_url": self.api(&format!("/repos/{full}/contents/{path}?ref={head}")),
        });
        if let Some(patch) = patch {
            v["patch"] = Value::from(patch);
        }
        if let Some(prev) = &f.previous_filename {
            v["previous_filename"] = Value::from(prev.clone());
        }
        v
    }

    /// A commit without its files (lists, branches, pull request commits).
    pub(crate) fn commit_json(&self, r: &Repo, c: &Commit) -> Value {
        let full = r.full_name();
        let u = self.api(&format!("/repos/{full}/commits/{}", c.sha));
        let tree_sha = tree_sha(&c.tree);
        json!({
            "sha": c.sha,
            "node_id": node_id("C", c.seq),
            "commit": {
                "author": git_user(&c.author, c.author_date),
                "committer": git_user(&c.committer, c.date),
                "message": c.message,
                "tree": { "sha": tree_sha, "url": self.api(&format!("/repos/{full}/git/trees/{tree_sha}")) },
                "url": self.api(&format!("/repos/{full}/git/commits/{}", c.sha)),
                "comment_count": 0,
                "verification": verification_json(c),
            },
            "url": u,
            "html_url": format!("https://github.com/{full}/commit/{}", c.sha),
            "comments_url": format!("{u}/comments"),
            "author": self.account_json(&c.author),
            "committer": self.account_json(&c.committer),
            "parents": c.parents.iter().map(|p| json!({
                "sha": p,
                "url": self.api(&format!("/repos/{full}/commits/{p}")),
                "html_url": format!("https://github.com/{full}/commit/{p}"),
            })).collect::<Vec<_>>(),
        })
    }

    /// What a commit changed against its first parent (GitHub's view of a
    /// merge commit too).
    pub(crate) fn commit_changes(&self, c: &Commit) -> Vec<FileChange> {
        let empty = Tree::new();
        let parent = c.parents.first().map(|p| &self.commits[p].tree);
        super::super::git::diff_trees(parent.unwrap_or(&empty), &c.tree)
    }

    /// The contents API's answer for `path` holding `entry`. A symlink whose
    /// target is a regular file in the tree answers with that file (its own
    /// path and name), as GitHub does; any other symlink describes itself.
    pub(crate) fn content_json(
        &self,
        r: &Repo,
        reference: &str,
        tree: &Tree,
        path: &str,
        entry: &Entry,
    ) -> Value {
        let full = r.full_name();
        let p = url_path(path);
        let u = self.api(&format!("/repos/{full}/contents/{p}?ref={reference}"));
        let sha = entry.sha();
        let name = path.rsplit('/').next().unwrap_or(path);
        // A file's and a symlink's links: the blob, the page, the raw download.
        let blob_links = || {
            (
                self.api(&format!("/repos/{full}/git/blobs/{sha}")),
                format!("https://github.com/{full}/blob/{reference}/{p}"),
                Value::from(format!(
                    "https://raw.githubusercontent.com/{full}/{reference}/{p}"
                )),
            )
        };
        let (mut answer, (git, html, download)) = match entry {
            Entry::File(blob) => (
                json!({
                    "type": "file",
                    "encoding": "base64",
                    "size": blob.len(),
                    "content": github_base64(blob),
                }),
                blob_links(),
            ),
            Entry::Symlink(target) => {
                let resolved = resolve_link(path, target);
                if let Some((to, file @ Entry::File(_))) =
                    resolved.and_then(|t| tree.get(&t).map(|e| (t, e)))
                {
                    return self.content_json(r, reference, tree, &to, file);
                }
                let kind = json!({ "type": "symlink", "target": target, "size": target.len() });
                (kind, blob_links())
            }
            Entry::Submodule(commit) => {
                let module = format!("{}/{name}", r.owner.login);
                let kind = json!({
                    "type": "submodule",
                    "submodule_git_url": format!("https://github.com/{module}.git"),
                    "size": 0,
                });
                let git = self.api(&format!("/repos/{module}/git/trees/{commit}"));
                let html = format!("https://github.com/{module}/tree/{commit}");
                (kind, (git, html, Value::Null))
            }
        };
        // What every kind of entry says alike: its name, place and SHA, and its links.
        let common = json!({
            "name": name,
            "path": path,
            "sha": sha,
            "url": u,
            "git_url": git,
            "html_url": html,
            "download_url": download,
            "_links": { "self": u, "git": git, "html": html },
        });
        if let (Value::Object(answer), Value::Object(common)) = (&mut answer, common) {
            answer.extend(common);
        }
        answer
    }

    /// One entry of a directory listing. Submodules are listed as `file`
    /// (GitHub keeps that for compatibility); symlinks as `symlink`.
    pub(crate) fn dir_entry_json(
        &self,
        r: &Repo,
        reference: &str,
        path: &str,
        tree: &Tree,
    ) -> Value {
        let full = r.full_name();
        let p = url_path(path);
        let u = self.api(&format!("/repos/{full}/contents/{p}?ref={reference}"));
        let raw = Value::from(format!(
            "https://raw.githubusercontent.com/{full}/{reference}/{p}"
        ));
        let (kind, sha, size, download) = match tree.get(path) {
            Some(e @ Entry::File(_)) => ("file", e.sha(), e.size(), raw),
            Some(e @ Entry::Symlink(_)) => ("symlink", e.sha(), e.size(), raw),
            Some(e @ Entry::Submodule(_)) => ("file", e.sha(), 0, Value::Null),
            None => ("dir", sub_tree_sha(tree, path), 0, Value::Null),
        };
        let blob = matches!(tree.get(path), Some(Entry::File(_) | Entry::Symlink(_)));
        let git = self.api(&format!(
            "/repos/{full}/git/{}/{sha}",
            if blob { "blobs" } else { "trees" }
        ));
        let html = format!(
            "https://github.com/{full}/{}/{reference}/{p}",
            if blob { "blob" } else { "tree" }
        );
        json!({
            "type": kind,
            "size": size,
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "sha": sha,
            "url": u,
            "git_url": git,
            "html_url": html,
            "download_url": download,
            "_links": { "self": u, "git": git, "html": html },
        })
    }
}

/// `name`, `email` and `date` as git records them (web-flow is "GitHub").
fn git_user(a: &Account, date: OffsetDateTime) -> Value {
    let (name, email) = if a.login == WEB_FLOW {
        ("GitHub".to_string(), "noreply@github.com".to_string())
    } else {
        let email = format!("{}+{}@users.noreply.github.com", a.id, a.login);
        (a.login.clone(), email)
    };
    json!({ "name": name, "email": email, "date": ts(date) })
}

/// `commit.verification` as GitHub reports it. A signed commit carries the
/// signature and the signed payload (the commit object's text).
pub(crate) fn verification_json(c: &Commit) -> Value {
    let payload = || {
        let person = |a: &Account, date: OffsetDateTime| {
            let user = git_user(a, date);
            let when = date.unix_timestamp();
            format!(
                "{} <{}> {when} +0000",
                user["name"].as_str().unwrap_or_default(),
                user["email"].as_str().unwrap_or_default()
            )
        };
        let parents: String = c.parents.iter().map(|p| format!("parent {p}\n")).collect();
        format!(
            "tree {}\n{parents}author {}\ncommitter {}\n\n{}\n",
            tree_sha(&c.tree),
            person(&c.author, c.author_date),
            person(&c.committer, c.date),
            c.message
        )
    };
    let signature = format!(
        "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQBQJ{}\n-----END PGP SIGNATURE-----\n",
        &c.sha[..16]
    );
    match c.signature {
        Signature::Unsigned => json!({
            "verified": false, "reason": "unsigned", "signature": null, "payload": null,
            "verified_at": null,
        }),
        Signature::Valid => json!({
            "verified": true, "reason": "valid", "signature": signature, "payload": payload(),
            "verified_at": ts(c.date),
        }),
        Signature::Unverified(reason) => json!({
            "verified": false, "reason": reason, "signature": signature, "payload": payload(),
            "verified_at": null,
        }),
    }
}

/// Where a symlink at `path` points, as a repository path; `None` when it
/// leaves the repository or is absolute.
fn resolve_link(path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}
