//! A pull request's problems (`policy::problem`) in words, for the check run, the comment and
//! the notices. The one place they are phrased.

use crate::facts::EntryKind;
use crate::policy::history::MAX_LISTED_COMMITS;
use crate::policy::integrity::MAX_LISTED_FILES;
use crate::policy::problem::{Moment, Problem, Rewrite};

/// One problem as a sentence for the people on the pull request.
pub fn problem(p: &Problem) -> String {
    match p {
        Problem::Rewritten { path, what } => format!(
            "`{path}` was {}: a merged request file never changes. Leave it as it is and add a new request file instead.",
            rewrite(what)
        ),
        Problem::Misplaced { diagnostic } => diagnostic.to_string(),
        Problem::TooManyFiles { changed } => format!(
            "the pull request changes {changed} files, more than GitHub lists ({MAX_LISTED_FILES}), so keygate cannot see them all; open a pull request with just the request files"
        ),
        Problem::FilesUnlisted { listed, changed } => format!(
            "GitHub listed {listed} of the pull request's {changed} changed files, so keygate cannot see what it changes; push again or redeliver the event"
        ),
        Problem::TooManyRequests { added, max } => format!(
            "the pull request adds {added} request files, more than the {max} one pull request may add (policy.max_requests_per_pr); split it into smaller pull requests"
        ),
        Problem::AlreadyOnBase { path } => format!(
            "`{path}` already exists on the base branch, so this pull request does not add it; a request file is added once, by one pull request"
        ),
        Problem::NotAt { path, at } => format!(
            "`{path}` is not in the pull request's {} commit; push it again",
            moment(*at)
        ),
        Problem::NotAFile { path, at, kind } => format!(
            "`{path}` is {} at the {}, not a regular file; a request must be a plain TOML file",
            kind_name(*kind),
            moment(*at)
        ),
        Problem::ChangedSinceApproval { path, head, merge } => format!(
            "`{path}` at the merge is not the file approved at the pull request's head (blob {} instead of {}); what was reviewed must be what merges",
            short(merge),
            short(head)
        ),
        _ => history_and_owners(p).unwrap_or_default(),
    }
}

/// The problems of the history, the surroundings and the owners; `None` for the others,
/// which [`problem`] phrases.
fn history_and_owners(p: &Problem) -> Option<String> {
    Some(match p {
        Problem::TooManyCommits { commits } => format!(
            "the pull request has {commits} commits, more than GitHub lists ({MAX_LISTED_COMMITS}), so keygate cannot see who pushed them all; open a new pull request with just the request file"
        ),
        Problem::UnlinkedCommits { shas: list } => format!(
            "commit {} was written by an e-mail address linked to no GitHub account, so keygate cannot tell who pushed it; link the address to its account or commit again",
            shas(list)
        ),
        Problem::UnverifiedCommits { shas: list } => format!(
            "commit {} has no signature GitHub verified, and this repository requires every commit of a request pull request to be signed (policy.require_verified_commits), so keygate cannot trust who wrote it; sign the commits and push them again",
            shas(list)
        ),
        Problem::Outside { paths } => outside(paths),
        Problem::InvalidOwners {
            location,
            line,
            message,
        } => format!(
            "`{location}` on the base branch has an invalid line, so keygate issues nothing until it is fixed: line {line}: {message}"
        ),
        Problem::NoOwnersFile => "the base branch has no CODEOWNERS file (.github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS), so no request has an owner who could approve it".into(),
        Problem::UnreadableOwners { location, why } => format!(
            "`{location}` on the base branch cannot be used ({why}), so no request has an owner"
        ),
        Problem::Expired { request_ttl_hours } => format!(
            "expired: the requests waited more than {request_ttl_hours} hours (policy.request_ttl_hours) for their approvals; open a new pull request"
        ),
        _ => return None,
    })
}

/// Each problem as a sentence.
pub fn problems(list: &[Problem]) -> Vec<String> {
    list.iter().map(problem).collect()
}

fn rewrite(what: &Rewrite) -> String {
    match what {
        Rewrite::Modified => "modified".into(),
        Rewrite::RenamedTo(to) => format!("renamed to {to}"),
        Rewrite::Other(status) => status.clone(),
    }
}

fn moment(at: Moment) -> &'static str {
    match at {
        Moment::Head => "head",
        Moment::Merge => "merge",
    }
}

fn outside(paths: &[String]) -> String {
    let mut listed: Vec<String> = paths.iter().take(5).map(|p| format!("`{p}`")).collect();
    if paths.len() > 5 {
        listed.push(format!("and {} more", paths.len() - 5));
    }
    let owners = paths.iter().any(|p| p.ends_with("CODEOWNERS"));
    format!(
        "this pull request also changes {}: {} need their own pull request; keep only request files here.",
        listed.join(", "),
        if owners {
            "ownership (CODEOWNERS) and repository changes"
        } else {
            "repository changes"
        }
    )
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

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn shas(list: &[String]) -> String {
    let mut shown: Vec<String> = list
        .iter()
        .take(5)
        .map(|s| format!("`{}`", s.chars().take(7).collect::<String>()))
        .collect();
    if list.len() > 5 {
        shown.push(format!("and {} more", list.len() - 5));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_named_by_short_sha_and_long_lists_are_cut_after_five() {
        let list: Vec<String> = (1..=7u8)
            .map(|i| format!("{i}{i}{i}{i}{i}{i}{i}{}", "0".repeat(33)))
            .collect();
        assert!(
            problem(&Problem::UnverifiedCommits { shas: list }).starts_with(
                "commit `1111111`, `2222222`, `3333333`, `4444444`, `5555555`, and 2 more has no"
            )
        );
        assert_eq!(
            problem(&Problem::UnlinkedCommits {
                shas: vec!["bbbbbbb2222".into()]
            }),
            "commit `bbbbbbb` was written by an e-mail address linked to no GitHub account, so keygate cannot tell who pushed it; link the address to its account or commit again"
        );
    }

    #[test]
    fn what_was_reviewed_must_be_what_merges_names_both_blobs() {
        let text = problem(&Problem::ChangedSinceApproval {
            path: "requests/alice/ci.toml".into(),
            head: "aaa1111xyz".into(),
            merge: "bbb2222xyz".into(),
        });
        assert_eq!(
            text,
            "`requests/alice/ci.toml` at the merge is not the file approved at the pull request's head (blob bbb2222 instead of aaa1111); what was reviewed must be what merges"
        );
    }

    #[test]
    fn every_problem_has_its_own_sentence() {
        let all = [
            Problem::TooManyFiles { changed: 3_001 },
            Problem::FilesUnlisted {
                listed: 1,
                changed: 2,
            },
            Problem::TooManyRequests { added: 11, max: 10 },
            Problem::AlreadyOnBase { path: "p".into() },
            Problem::NotAt {
                path: "p".into(),
                at: Moment::Merge,
            },
            Problem::NotAFile {
                path: "p".into(),
                at: Moment::Head,
                kind: EntryKind::Symlink,
            },
            Problem::TooManyCommits { commits: 300 },
            Problem::Outside {
                paths: vec!["CODEOWNERS".into()],
            },
            Problem::NoOwnersFile,
            Problem::Expired {
                request_ttl_hours: 24,
            },
        ];
        let texts = problems(&all);
        for (p, t) in all.iter().zip(&texts) {
            assert!(!t.is_empty(), "{p:?}");
        }
        assert!(texts[0].contains("more than GitHub lists (3000)"));
        assert!(texts[1].contains("listed 1 of the pull request's 2"));
        assert!(
            texts[2].contains("adds 11 request files") && texts[2].contains("max_requests_per_pr")
        );
        assert!(texts[3].contains("already exists on the base branch"));
        assert!(texts[4].contains("not in the pull request's merge commit"));
        assert!(texts[5].contains("a symbolic link at the head, not a regular file"));
        assert!(texts[6].contains("300 commits, more than GitHub lists (250)"));
        assert!(texts[7].contains("ownership (CODEOWNERS)"));
        assert!(texts[9].starts_with("expired: the requests waited more than 24 hours"));
    }
}
