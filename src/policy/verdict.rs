//! What merging a pull request now would do, half by half (DESIGN §2.1), and the check
//! run's conclusion that follows. A pull request may add requests and delete others: each
//! half is judged by its own paths' owners, and the check is green only when every half it
//! has would act, so keygate never shows a green check for a merge that would leave a
//! deleted request's key live.

use super::Assessment;
use super::approval::Decision;
use super::changes::Changes;

/// One half of a pull request: the requests it adds, or those it deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// The pull request has none of these.
    Absent,
    /// Merging now acts on them: issues the added requests, revokes the deleted ones.
    Acts,
    /// Not approved (yet), or the pull request is refused as a whole: merging now refuses
    /// this half and says why.
    Refused,
}

/// The check run's state (DESIGN §4): GitHub's `in_progress`, or `completed` with
/// `success` or `failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckConclusion {
    /// Valid, but approvals are missing.
    Waiting,
    /// Merging now would act on every half (or the pull request has no request files).
    Success,
    /// Something must be fixed before merging can act.
    Failure,
}

/// What merging now would do with each half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeVerdict {
    pub additions: Half,
    pub deletions: Half,
    /// Whether something must be fixed, not merely approved.
    pub needs_fixing: bool,
    /// Whether the pull request touches keygate's requests folder at all.
    pub touches_requests: bool,
}

impl MergeVerdict {
    /// From the judgement of what the pull request adds (`a`) and the decision over what it
    /// deletes (`revocation`, by the owners of those paths).
    pub fn of(changes: &Changes, a: &Assessment, revocation: Option<&Decision>) -> MergeVerdict {
        let additions = if changes.added.is_empty() {
            Half::Absent
        } else if a.issuable() {
            Half::Acts
        } else {
            Half::Refused
        };
        let removed = changes.removed.len();
        let deletions = if removed == 0 {
            Half::Absent
        } else if a.pr_problems.is_empty()
            && revocation.is_some_and(|d| d.files.len() == removed && d.approved())
        {
            Half::Acts
        } else {
            Half::Refused
        };
        MergeVerdict {
            additions,
            deletions,
            needs_fixing: a.needs_fixing(),
            touches_requests: changes.touches_requests(),
        }
    }

    /// Every half the pull request has acts, and it has one.
    pub fn acts_wholly(&self) -> bool {
        let halves = [self.additions, self.deletions];
        halves.contains(&Half::Acts) && !halves.contains(&Half::Refused)
    }

    /// The check run's conclusion.
    pub fn conclusion(&self) -> CheckConclusion {
        if !self.touches_requests {
            CheckConclusion::Success
        } else if self.needs_fixing {
            CheckConclusion::Failure
        } else if self.acts_wholly() {
            CheckConclusion::Success
        } else {
            CheckConclusion::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RequestPath;

    fn verdict(additions: Half, deletions: Half, needs_fixing: bool) -> MergeVerdict {
        MergeVerdict {
            additions,
            deletions,
            needs_fixing,
            touches_requests: true,
        }
    }

    #[test]
    fn a_mixed_pull_request_is_green_only_when_both_halves_would_act() {
        use Half::*;
        assert_eq!(
            verdict(Acts, Acts, false).conclusion(),
            CheckConclusion::Success
        );
        assert_eq!(
            verdict(Acts, Refused, false).conclusion(),
            CheckConclusion::Waiting,
            "issuing while the deleted request's key stays live is never green"
        );
        assert_eq!(
            verdict(Refused, Acts, false).conclusion(),
            CheckConclusion::Waiting
        );
        assert_eq!(
            verdict(Acts, Absent, false).conclusion(),
            CheckConclusion::Success
        );
        assert_eq!(
            verdict(Absent, Acts, false).conclusion(),
            CheckConclusion::Success
        );
        assert_eq!(
            verdict(Acts, Acts, true).conclusion(),
            CheckConclusion::Failure
        );
    }

    fn deleting(paths: &[&str], added: &[&str], problems: &[&str]) -> (Changes, Assessment) {
        use crate::policy::problem::Problem;
        let changes = Changes {
            removed: paths.iter().map(|p| RequestPath::new(*p)).collect(),
            added: added.iter().map(|p| RequestPath::new(*p)).collect(),
            ..Changes::default()
        };
        let a = Assessment {
            pr_problems: problems
                .iter()
                .map(|p| Problem::Outside {
                    paths: vec![p.to_string()],
                })
                .collect(),
            files: Vec::new(),
            decision: None,
        };
        (changes, a)
    }

    fn approved(path: &str) -> Decision {
        use crate::policy::approval::{FileDecision, Verdict};
        Decision {
            files: vec![FileDecision {
                path: path.into(),
                owners: Vec::new(),
                approved_by: Vec::new(),
                counted: Vec::new(),
                needed: 1,
                blocked_by: Vec::new(),
                ignored: Vec::new(),
                verdict: Verdict::Approved,
            }],
        }
    }

    #[test]
    fn an_approved_deletion_acts_unless_the_pull_request_is_refused_or_unjudged() {
        let path = "requests/alice/ci.toml";
        let d = approved(path);
        let (c, a) = deleting(&[path], &[], &[]);
        assert_eq!(MergeVerdict::of(&c, &a, Some(&d)).deletions, Half::Acts);
        assert_eq!(MergeVerdict::of(&c, &a, None).deletions, Half::Refused);
        let (c, a) = deleting(&[path], &[], &["README.md"]);
        assert_eq!(MergeVerdict::of(&c, &a, Some(&d)).deletions, Half::Refused);
        let (c, a) = deleting(&[path, "requests/bob/ci.toml"], &[], &[]);
        assert_eq!(
            MergeVerdict::of(&c, &a, Some(&d)).deletions,
            Half::Refused,
            "a deleted path the decision did not judge"
        );
    }

    #[test]
    fn a_pull_request_outside_the_requests_folder_is_not_keygates_business() {
        let v = MergeVerdict {
            touches_requests: false,
            ..verdict(Half::Absent, Half::Absent, false)
        };
        assert_eq!(v.conclusion(), CheckConclusion::Success);
        assert!(!v.acts_wholly());
    }
}
