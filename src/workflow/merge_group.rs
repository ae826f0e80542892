//! Merge queues (DESIGN §4): on `merge_group` `checks_requested`, the `keygate` check run on
//! the group's head commit, so a required `keygate` check never stalls a merge queue. Each
//! pull request in the group is judged as its own check run judges it (what a merge now
//! would do: the same facts, `policy::assess` and [`check::check_run`]); the group passes only
//! when every one of them would, and a group whose content cannot be accounted for fails.
//! keygate checks each merge again on its own when it lands, as always.

use std::collections::BTreeSet;

use super::check::{self, CHECK_NAME};
use super::gather::Moment;
use super::render::md;
use super::{StepError, Workflow};
use crate::github::client::{CheckOutput, CheckState, RepoClient};
use crate::ids::{PrNumber, RequestPath};
use crate::ledger::Job;

/// The pull requests a merge group holds: the one its branch names
/// (`gh-readonly-queue/<base>/pr-<N>-<sha>`, from the delivery) and every one the commits it
/// adds to the base name, as GitHub writes them (`Merge pull request #N from …`, or a
/// squash's `Title (#N)`). Sorted.
pub(super) fn group_pulls(named: u64, messages: &[&str]) -> Vec<u64> {
    let mut prs: BTreeSet<u64> = BTreeSet::from([named]);
    prs.extend(messages.iter().filter_map(|m| pull_of_message(m)));
    prs.into_iter().collect()
}

/// The pull request a merge or squash commit's first line names, if any.
fn pull_of_message(message: &str) -> Option<u64> {
    let first = message.lines().next()?.trim_end();
    let number = |digits: &str| digits.parse::<u64>().ok().filter(|n| *n > 0);
    if let Some(rest) = first.strip_prefix("Merge pull request #") {
        return number(rest.split(' ').next()?);
    }
    let open = first.strip_suffix(')')?.rfind("(#")?;
    number(first.get(open + 2..first.len() - 1)?)
}

/// Paths under the requests folder that the group changes and none of its pull requests
/// does: content nobody judged.
pub(super) fn unaccounted<'a>(
    group_files: &'a [String],
    requests_dir: &str,
    judged: &BTreeSet<String>,
) -> Vec<&'a str> {
    let folder = format!("{}/", requests_dir.trim_matches('/'));
    group_files
        .iter()
        .filter(|f| f.starts_with(&folder) && !judged.contains(*f))
        .map(String::as_str)
        .collect()
}

/// One pull request of the group, judged: a line for the summary, and whether a merge now
/// would pass.
async fn judge_one(
    wf: &Workflow,
    gh: &RepoClient,
    job: &Job,
    pr: u64,
    judged: &mut BTreeSet<String>,
) -> Result<(String, bool), StepError> {
    let mut one = job.clone();
    one.event.pr = PrNumber(pr);
    let listing = wf
        .list(gh, &one, Moment::Open)
        .await
        .map_err(StepError::from)?;
    let info = &listing.pr;
    if info.state != crate::github::client::PullState::Open
        || info.base_ref != wf.settings.branch.as_str()
    {
        let line = format!(
            "- #{pr}: not an open pull request into {}",
            md::code(wf.settings.branch.as_str())
        );
        return Ok((line, false));
    }
    let facts = wf.judge(gh, listing, Moment::Open).await?;
    let c = &facts.changes;
    judged.extend(c.added.iter().chain(&c.removed).map(RequestPath::to_string));
    judged.extend(c.docs.iter().cloned());
    judged.extend(c.rewritten.iter().map(|(p, _)| p.clone()));
    judged.extend(c.misplaced.iter().map(|d| d.path.clone()));
    let keys = check::live_keys(wf, &c.removed).await?;
    let (state, output) = check::check_run(&facts, &keys);
    let title = output.title;
    let ready = state == CheckState::Success;
    let word = if ready { "ready" } else { "not ready" };
    Ok((format!("- #{pr}: {word}: {}", md::text(&title)), ready))
}

/// `merge_group` `checks_requested`: the group's check run on its head commit.
pub(super) async fn on_checks_requested(
    wf: &Workflow,
    gh: &RepoClient,
    job: &Job,
) -> Result<(), StepError> {
    let Some(head) = job.event.merge_commit.clone() else {
        tracing::warn!("a merge group delivery without its head commit: nothing to report on");
        return Ok(());
    };
    let compared = gh
        .compare(wf.settings.branch.as_str(), head.as_str())
        .await?;
    let messages: Vec<&str> = compared.commits.iter().map(|(_, m)| m.as_str()).collect();
    let prs = group_pulls(job.event.pr.get(), &messages);
    let mut lines = Vec::new();
    let mut passes = compared.complete;
    if !compared.complete {
        lines.push("- GitHub did not list all of the group's commits and files".to_string());
    }
    let mut judged = BTreeSet::new();
    for pr in &prs {
        let (line, ready) = judge_one(wf, gh, job, *pr, &mut judged).await?;
        passes &= ready;
        lines.push(line);
    }
    for path in unaccounted(&compared.files, &wf.settings.rules.requests_dir, &judged) {
        passes = false;
        lines.push(format!(
            "- {} changes in the group, and no pull request of it changes it",
            md::code(path)
        ));
    }
    let state = if passes {
        CheckState::Success
    } else {
        CheckState::Failure
    };
    let title = if passes {
        format!("merge group of {} pull request(s): ready", prs.len())
    } else {
        "merge group: not every pull request in it would pass".to_string()
    };
    let summary = format!(
        "The `{CHECK_NAME}` check of a merge group judges each pull request in it as its \
         own check does:\n\n{}\n\nkeygate checks each merge again on its own when it lands.",
        lines.join("\n")
    );
    let output = CheckOutput {
        title,
        summary,
        annotations: Vec::new(),
    };
    check::put_check(wf, gh, head.as_str(), state, &output).await?;
    tracing::info!(conclusion = state.conclusion().unwrap_or(""), pulls = ?prs, "merge group check run put");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_holds_the_pull_request_its_branch_names_and_those_its_commits_name() {
        let messages = [
            "Merge pull request #12 from acme/ci-key\n\nA key for CI",
            "Nightly backups (#7)",
            "A commit of a rebase, naming none",
            "Fix (#x) and (#0)",
            "Merge pull request #12 from acme/ci-key",
        ];
        assert_eq!(group_pulls(15, &messages), [7, 12, 15]);
        assert_eq!(group_pulls(3, &[]), [3]);
        assert_eq!(pull_of_message("Title (#42)\n\nbody (#9)"), Some(42));
        assert_eq!(pull_of_message("Merge pull request #42"), Some(42));
        assert_eq!(pull_of_message("Merged #42"), None);
    }

    #[test]
    fn a_request_path_no_pull_request_of_the_group_changes_is_unaccounted() {
        let files = vec![
            "requests/alice/ci.toml".to_string(),
            "requests/bob/ci.toml".to_string(),
            "docs/x.md".to_string(),
        ];
        let judged = BTreeSet::from(["requests/alice/ci.toml".to_string()]);
        assert_eq!(
            unaccounted(&files, "requests", &judged),
            ["requests/bob/ci.toml"]
        );
        assert_eq!(unaccounted(&files, "/requests/", &judged).len(), 1);
    }
}
