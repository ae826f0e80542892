//! Deliveries counted by state as they are written (DESIGN §4), so `/readyz` and `/metrics`
//! read a few items whatever the history, where counting would read every delivery ever
//! recorded.
//!
//! Every transaction that creates a delivery or moves it between states carries an `ADD` to
//! one of [`SHARDS`] counter items (`COUNTS` / `DELIVERIES#<n>`), chosen at random so that
//! writers side by side seldom touch the same item (a transaction conflicts with another on
//! any item they share). A count is the sum over the shards; one shard may go negative
//! (a delivery counted in on one shard and out on another). A table an earlier keygate
//! wrote has a base item (`DELIVERIES#BASE`) holding the deliveries counted once, when this
//! keygate first opened it.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::DynamoLedger;
use super::io::{Query, build};
use super::item::*;
use crate::ledger::{DeliveryState, LedgerError, Stats};

/// Counter items per table.
const SHARDS: u64 = 8;
const COUNTS_PK: &str = "COUNTS";
const BASE: &str = "DELIVERIES#BASE";

const STATES: [DeliveryState; 5] = [
    DeliveryState::Queued,
    DeliveryState::Coalesced,
    DeliveryState::Running,
    DeliveryState::Done,
    DeliveryState::Failed,
];

fn shard_key(shard: u64) -> Item {
    key(COUNTS_PK.into(), &format!("DELIVERIES#{shard}"))
}

/// The deliveries by state that `items` (the counter items) add up to.
pub(super) fn sum(items: &[Item]) -> Result<Stats, LedgerError> {
    let count = |state: DeliveryState| -> Result<u64, LedgerError> {
        let mut total: i64 = 0;
        for item in items {
            if item.contains_key(state.as_str()) {
                total = total.saturating_add(get_n(item, state.as_str())?);
            }
        }
        Ok(u64::try_from(total).unwrap_or(0))
    };
    Ok(Stats {
        queued: count(DeliveryState::Queued)?,
        running: count(DeliveryState::Running)?,
        done: count(DeliveryState::Done)?.saturating_add(count(DeliveryState::Coalesced)?),
        failed: count(DeliveryState::Failed)?,
    })
}

impl DynamoLedger {
    /// The counter update for one delivery moving `from` (`None`: recorded now) to `to`, to
    /// go in the same transaction as the move; `None` when it does not move.
    pub(super) fn count_move(
        &self,
        from: Option<DeliveryState>,
        to: DeliveryState,
    ) -> Result<Option<TransactWriteItem>, LedgerError> {
        if from == Some(to) {
            return Ok(None);
        }
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(shard_key(rand::random::<u64>() % SHARDS)))
            .expression_attribute_names("#to", to.as_str())
            .expression_attribute_values(":in", n(1));
        let expression = match from {
            Some(from) => {
                update = update
                    .expression_attribute_names("#from", from.as_str())
                    .expression_attribute_values(":out", n(-1));
                "ADD #to :in, #from :out"
            }
            None => "ADD #to :in",
        };
        let update = build(update.update_expression(expression).build())?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }

    /// The deliveries by state: one consistent query of the counter items.
    pub(super) async fn counted(&self) -> Result<Stats, LedgerError> {
        let q = Query {
            index: None,
            condition: "#pk = :counts",
            names: &[("#pk", PK)],
            values: vec![(":counts", s(COUNTS_PK))],
            filter: None,
        };
        sum(&self.query_all(&q).await?)
    }

    /// Whether the base item of the counts is there (a start's read: harms no table).
    pub(super) async fn counted_before(&self) -> Result<bool, LedgerError> {
        Ok(self.get(key(COUNTS_PK.into(), BASE)).await?.is_some())
    }

    /// For a table without the counts' base item (new, or written by an earlier keygate with
    /// deliveries but no counts yet): counts them once, the old way, into the base item. Run
    /// at open, before this handle moves any delivery; another replica's count, put first,
    /// is kept.
    pub(super) async fn count_first(&self) -> Result<(), LedgerError> {
        let mut item = key(COUNTS_PK.into(), BASE);
        for state in STATES {
            let counted = self.count_list(state).await?;
            item.insert(
                state.as_str().to_string(),
                n(i64::try_from(counted).unwrap_or(i64::MAX)),
            );
        }
        // Not put when another replica counted first.
        self.put_new(item).await?;
        // Every shard there from the start, so a count reads the same items at any history.
        let mut zeros = Vec::new();
        for shard in 0..SHARDS {
            let update = Update::builder()
                .table_name(self.table())
                .set_key(Some(shard_key(shard)))
                .update_expression("ADD #queued :zero")
                .expression_attribute_names("#queued", DeliveryState::Queued.as_str())
                .expression_attribute_values(":zero", n(0))
                .build();
            zeros.push(TransactWriteItem::builder().update(build(update)?).build());
        }
        let _ = self.transact(zeros).await?;
        Ok(())
    }
}
