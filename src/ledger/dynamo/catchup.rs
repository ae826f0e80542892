//! What catch-up keeps (DESIGN §5), on DynamoDB: the watermark's clock on the `META` item
//! (`clock = host` until it is put on GitHub's), a `CATCHUP#<repo>#<branch>` item with how far
//! catch-up got, moved only forward, and `NOREQ#<repo>#<thousand>` items whose number sets
//! hold the merged pull requests found to touch no request file.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoLedger;
use super::io::dynamo_error;
use super::item::*;
use crate::ids::{BranchName, PrNumber, RepoName};
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

    pub(super) async fn which_without_requests(
        &self,
        repository: &RepoName,
        prs: &[PrNumber],
    ) -> Result<Vec<PrNumber>, LedgerError> {
        let mut found = Vec::new();
        for (bucket, in_bucket) in by_item(prs) {
            let Some(item) = self.get(without_requests_key(repository, bucket)).await? else {
                continue;
            };
            let known: BTreeSet<u64> = match item.get("prs") {
                Some(AttributeValue::Ns(numbers)) => {
                    numbers.iter().filter_map(|v| v.parse().ok()).collect()
                }
                _ => BTreeSet::new(),
            };
            found.extend(in_bucket.into_iter().filter(|pr| known.contains(&pr.get())));
        }
        Ok(found)
    }

    /// One `ADD` to a number set per thousand pull request numbers.
    pub(super) async fn add_without_requests(
        &self,
        repository: &RepoName,
        prs: &[PrNumber],
    ) -> Result<(), LedgerError> {
        for (bucket, in_bucket) in by_item(prs) {
            let numbers = in_bucket.iter().map(|pr| pr.get().to_string()).collect();
            self.client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(without_requests_key(repository, bucket)))
                .update_expression("ADD #prs :new SET #updated = :now")
                .expression_attribute_names("#prs", "prs")
                .expression_attribute_names("#updated", "updated_at")
                .expression_attribute_values(":new", AttributeValue::Ns(numbers))
                .expression_attribute_values(":now", n(now_ms()))
                .send()
                .await
                .map_err(|e| dynamo_error("UpdateItem", self.table(), &e))?;
        }
        Ok(())
    }
}

/// `prs` grouped by the item that holds them, each group under one of its numbers.
fn by_item(prs: &[PrNumber]) -> Vec<(PrNumber, Vec<PrNumber>)> {
    let mut groups: BTreeMap<u64, Vec<PrNumber>> = BTreeMap::new();
    for pr in prs {
        groups
            .entry(pr.get() / NUMBERS_PER_ITEM)
            .or_default()
            .push(*pr);
    }
    groups
        .into_values()
        .filter_map(|group| Some((*group.first()?, group)))
        .collect()
}
