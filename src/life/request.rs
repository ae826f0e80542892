//! The one life of a request file (DESIGN §5): the merges on `github.branch` that added and
//! deleted it, in merge order. Whatever order their deliveries arrive in, the order of the
//! merges decides: an approved deletion merged after the addition wins even when the
//! addition's delivery comes last. Pure: the ledger stores a [`RequestLife`], the workflow
//! reads it, asks these functions, and writes it back only from the version it read.

use time::OffsetDateTime;

use crate::ids::{AccountAlias, PrNumber, RepoName, RequestPath};

/// A merge on the branch that added or deleted a request file: its pull request, and when it
/// merged by GitHub's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeMark {
    pub pr: PrNumber,
    pub merged_at: OffsetDateTime,
}

/// One request file's life, keyed by repository and path: the latest merge known to add it,
/// and the latest known to delete it. `version` counts the writes: a write goes through only
/// from the version it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLife {
    pub repository: RepoName,
    pub path: RequestPath,
    /// The AWS account of the request (its account folder's, DESIGN §9), as first written;
    /// `None`: keygate's own account.
    pub account: Option<AccountAlias>,
    pub added: Option<MergeMark>,
    pub deleted: Option<MergeMark>,
    /// 0 before the first write.
    pub version: u64,
}

/// May the merge that added the file issue its key?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes: no later merge deleted the file.
    Issue,
    /// No: a merge at or after it deleted the file (its delivery came first).
    DeletedSince(MergeMark),
    /// No: the file was added again by a later merge, so it was deleted in between (that
    /// deletion's delivery has not come yet); the later addition is the one that issues.
    AddedAgainSince(MergeMark),
}

impl RequestLife {
    /// A file keygate has seen no merge of.
    pub fn new(repository: RepoName, path: RequestPath) -> RequestLife {
        RequestLife {
            repository,
            path,
            account: None,
            added: None,
            deleted: None,
            version: 0,
        }
    }

    /// The merge `merge` added the file: records it, and says whether it may issue. A merge
    /// in the same second as a deletion counts as before it: a deleted request never keeps
    /// a key on a tie.
    pub fn admit(&mut self, merge: MergeMark) -> Admission {
        if let Some(d) = self.deleted.filter(|d| d.merged_at >= merge.merged_at) {
            return Admission::DeletedSince(d);
        }
        if let Some(a) = self
            .added
            .filter(|a| a.merged_at > merge.merged_at && a.pr != merge.pr)
        {
            return Admission::AddedAgainSince(a);
        }
        if self.added.is_none_or(|a| a.merged_at <= merge.merged_at) {
            self.added = Some(merge);
        }
        Admission::Issue
    }

    /// The merge `merge` deleted the file: recorded when it is the latest known deletion.
    /// Returns whether the life changed.
    pub fn delete(&mut self, merge: MergeMark) -> bool {
        if self.deleted.is_some_and(|d| d.merged_at >= merge.merged_at) {
            return false;
        }
        self.deleted = Some(merge);
        true
    }

    /// The deletion that ends a key issued for the addition merged at `added_at`, if a merge
    /// at or after it deleted the file. A key whose addition time is unknown (recorded by an
    /// earlier keygate) counts as older than any deletion.
    pub fn deleted_since(&self, added_at: Option<OffsetDateTime>) -> Option<MergeMark> {
        self.deleted
            .filter(|d| added_at.is_none_or(|a| d.merged_at >= a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn mark(pr: u64, merged_at: OffsetDateTime) -> MergeMark {
        MergeMark {
            pr: PrNumber(pr),
            merged_at,
        }
    }

    fn life() -> RequestLife {
        RequestLife::new(RepoName::new("acme/requests"), "requests/ci/x.toml".into())
    }

    const T1: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);
    const T2: OffsetDateTime = datetime!(2026-12-01 11:00 UTC);
    const T3: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    #[test]
    fn a_deletion_whose_delivery_came_first_still_wins_over_the_earlier_addition() {
        let mut l = life();
        assert!(l.delete(mark(8, T2)));
        assert_eq!(l.admit(mark(7, T1)), Admission::DeletedSince(mark(8, T2)));
        assert_eq!(l.added, None, "the superseded addition is not recorded");
    }

    #[test]
    fn in_merge_order_the_addition_issues_and_the_deletion_ends_its_key() {
        let mut l = life();
        assert_eq!(l.admit(mark(7, T1)), Admission::Issue);
        assert_eq!(l.deleted_since(Some(T1)), None);
        l.delete(mark(8, T2));
        assert_eq!(l.deleted_since(Some(T1)), Some(mark(8, T2)));
    }

    #[test]
    fn a_deletion_never_ends_the_key_of_a_later_addition_at_the_same_path() {
        let mut l = life();
        assert_eq!(l.admit(mark(9, T3)), Admission::Issue);
        l.delete(mark(8, T2));
        assert_eq!(l.deleted_since(Some(T3)), None, "#9 re-added it after #8");
        assert_eq!(
            l.admit(mark(7, T1)),
            Admission::DeletedSince(mark(8, T2)),
            "#7's file was deleted by #8"
        );
    }

    #[test]
    fn an_addition_older_than_a_known_readdition_never_issues() {
        let mut l = life();
        assert_eq!(l.admit(mark(9, T3)), Admission::Issue);
        assert_eq!(
            l.admit(mark(7, T1)),
            Admission::AddedAgainSince(mark(9, T3))
        );
    }

    #[test]
    fn the_same_merge_admitted_again_issues_again_and_a_tie_goes_to_the_deletion() {
        let mut l = life();
        assert_eq!(l.admit(mark(7, T1)), Admission::Issue);
        assert_eq!(l.admit(mark(7, T1)), Admission::Issue, "a retry of #7");
        let mut tied = life();
        tied.delete(mark(8, T1));
        assert_eq!(
            tied.admit(mark(7, T1)),
            Admission::DeletedSince(mark(8, T1))
        );
        assert!(!tied.delete(mark(6, T1 - time::Duration::hours(1))));
        assert_eq!(tied.deleted_since(None), Some(mark(8, T1)));
    }
}
