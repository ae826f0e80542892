//! What catch-up keeps (DESIGN §5), on DynamoDB: the watermark's clock on the `META` item
//! (`clock = host` until it is put on GitHub's), a `CATCHUP#<repo>#<branch>` item with how far
//! catch-up got, moved only forward, and a `NO_REQUESTS` item beside each merged pull
//! request's lock for one found to touch no request file, written once.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use super::DynamoLedger;
use super::io::dynamo_error;
use super::item::*;
use crate::ids::{BranchName, CommitSha, PrNumber, RepoName};
use crate::ledger::{CatchUpProgress, LedgerError, Watermark, now_ms};

impl DynamoLedger {
    pub(super) async fn read_watermark(&self) -> Result<Watermark, LedgerError> {
        let item = self.get(meta_key()).await?.ok_or_else(|| {
            LedgerError::Corrupt(format!("table `{}` has no creation time", self.table()))
        })?;
        let v = get_s(&item, "value")?;
        let at_ms = v
            .parse()
            .map_err(|_| LedgerError::Corrupt(format!("created_at `{v}`")))?;
        Ok(Watermark {
            at_ms,
            on_host_clock: opt_s(&item, "clock")?.as_deref() == Some("host"),
        })
    }

    /// The watermark moves only while the item still says it is on the host's clock.
    pub(super) async fn settle(&self, at_ms: i64) -> Result<Watermark, LedgerError> {
        let change = Change::default()
            .set("value", s(at_ms.to_string()))
            .remove("clock")
            .when("#clock = :host", &["clock"], vec![(":host", s("host"))]);
        // A failed condition: already on GitHub's clock (another replica put it there).
        let _ = self
            .transact(vec![self.update(meta_key(), change)?])
            .await?;
        self.read_watermark().await
    }

    pub(super) async fn progress(
        &self,
        repository: &RepoName,
        branch: &BranchName,
    ) -> Result<Option<CatchUpProgress>, LedgerError> {
        let Some(item) = self.get(catch_up_key(repository, branch)).await? else {
            return Ok(None);
        };
        Ok(Some(CatchUpProgress {
            from_ms: get_n(&item, "from_ms")?,
            through_ms: get_n(&item, "through_ms")?,
        }))
    }

    pub(super) async fn move_progress(
        &self,
        repository: &RepoName,
        branch: &BranchName,
        p: CatchUpProgress,
    ) -> Result<(), LedgerError> {
        let change = Change::default()
            .set("from_ms", n(p.from_ms))
            .set("through_ms", n(p.through_ms))
            .set("updated_at", n(now_ms()))
            .when(
                "attribute_not_exists(#through_ms) OR #through_ms < :through",
                &["through_ms"],
                vec![(":through", n(p.through_ms))],
            );
        // A failed condition: another pass got further; its progress stands.
        let _ = self
            .transact(vec![self.update(catch_up_key(repository, branch), change)?])
            .await?;
        Ok(())
    }

    pub(super) async fn is_without_requests(
        &self,
        repository: &RepoName,
        pr: PrNumber,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .get(without_requests_key(repository, pr))
            .await?
            .is_some())
    }

    pub(super) async fn put_without_requests(
        &self,
        repository: &RepoName,
        pulls: &[(PrNumber, CommitSha)],
    ) -> Result<(), LedgerError> {
        for (pr, sha) in pulls {
            let mut item = without_requests_key(repository, *pr);
            item.insert("merge_sha".into(), s(sha.as_str()));
            item.insert("recorded_at".into(), n(now_ms()));
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match put {
                Ok(_) => {}
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(dynamo_error("PutItem", self.table(), &e)),
            }
        }
        Ok(())
    }
}
