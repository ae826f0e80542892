//! What catch-up keeps (DESIGN §5), in SQLite: the watermark and its clock in `meta`, the
//! progress per repository and branch in `catch_up`, and the merged pull requests without
//! request files in `pulls_without_requests`.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Conn;
use crate::ids::{BranchName, PrNumber, RepoName};
use crate::ledger::{CatchUpProgress, LedgerError, Watermark, now_ms};

impl Conn {
    pub(super) fn watermark(&mut self) -> Result<Watermark, LedgerError> {
        let v: String =
            self.0
                .query_row("SELECT value FROM meta WHERE key = 'created_at'", [], |r| {
                    r.get(0)
                })?;
        let at_ms = v
            .parse()
            .map_err(|_| LedgerError::Corrupt(format!("created_at `{v}`")))?;
        let clock: Option<String> = self
            .0
            .query_row(
                "SELECT value FROM meta WHERE key = 'watermark_clock'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Watermark {
            at_ms,
            on_host_clock: clock.as_deref() == Some("host"),
        })
    }

    /// One transaction: the watermark moves only while it is still on the host's clock.
    pub(super) fn settle_watermark(&mut self, at_ms: i64) -> Result<Watermark, LedgerError> {
        let tx = self
            .0
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let host = tx.execute(
            "DELETE FROM meta WHERE key = 'watermark_clock' AND value = 'host'",
            [],
        )?;
        if host == 1 {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'created_at'",
                params![at_ms.to_string()],
            )?;
        }
        tx.commit()?;
        self.watermark()
    }

    pub(super) fn catch_up_progress(
        &mut self,
        repository: &RepoName,
        branch: &BranchName,
    ) -> Result<Option<CatchUpProgress>, LedgerError> {
        Ok(self
            .0
            .query_row(
                "SELECT from_ms, through_ms FROM catch_up WHERE repository = ?1 AND branch = ?2",
                params![repository.key(), branch.as_str()],
                |r| {
                    Ok(CatchUpProgress {
                        from_ms: r.get(0)?,
                        through_ms: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    pub(super) fn record_catch_up_progress(
        &mut self,
        repository: &RepoName,
        branch: &BranchName,
        p: CatchUpProgress,
    ) -> Result<(), LedgerError> {
        self.0.execute(
            "INSERT INTO catch_up (repository, branch, from_ms, through_ms, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (repository, branch) DO UPDATE SET \
             from_ms = excluded.from_ms, through_ms = excluded.through_ms, \
             updated_at = excluded.updated_at WHERE excluded.through_ms > catch_up.through_ms",
            params![
                repository.key(),
                branch.as_str(),
                p.from_ms,
                p.through_ms,
                now_ms()
            ],
        )?;
        Ok(())
    }

    pub(super) fn without_requests(
        &mut self,
        repository: &RepoName,
        prs: &[PrNumber],
    ) -> Result<Vec<PrNumber>, LedgerError> {
        let mut found = Vec::new();
        let mut q = self.0.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM pulls_without_requests WHERE repository = ?1 \
             AND pr_number = ?2)",
        )?;
        for pr in prs {
            if q.query_row(params![repository.key(), pr.get() as i64], |r| r.get(0))? {
                found.push(*pr);
            }
        }
        Ok(found)
    }

    /// One transaction for them all: a page of pull requests costs one commit.
    pub(super) fn record_without_requests(
        &mut self,
        repository: &RepoName,
        prs: &[PrNumber],
    ) -> Result<(), LedgerError> {
        let tx = self.0.transaction()?;
        let now = now_ms();
        for pr in prs {
            tx.execute(
                "INSERT INTO pulls_without_requests (repository, pr_number, recorded_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![repository.key(), pr.get() as i64, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
