//! The DynamoDB calls the ledger makes, as a few typed steps: consistent reads, paged
//! queries, and all-or-none conditional transactions.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, Select, TransactWriteItem, Update,
};

use super::item::*;
use super::{DynamoLedger, TRIES};
use crate::ledger::{DeliveryState, LedgerError};

/// A transaction cancelled by its conditions: the code of each item, in order.
pub(super) struct Cancelled(Vec<String>);

impl Cancelled {
    /// Whether item `i`'s condition failed.
    pub(super) fn failed(&self, i: usize) -> bool {
        self.0.get(i).is_some_and(|c| c == "ConditionalCheckFailed")
    }
}

/// AWS's error code and message, or the cause when AWS gave no answer.
pub(super) fn sdk_message<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("no message")),
        None => DisplayErrorContext(e).to_string(),
    }
}

pub(super) fn dynamo_error<E, R>(
    operation: &'static str,
    table: &str,
    e: &SdkError<E, R>,
) -> LedgerError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if e.code() == Some("ResourceNotFoundException") {
        return LedgerError::MissingTable {
            table: table.to_string(),
        };
    }
    LedgerError::Dynamo {
        operation,
        table: table.to_string(),
        message: sdk_message(e),
    }
}

pub(super) fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, LedgerError> {
    r.map_err(|e| LedgerError::Write(format!("cannot build a DynamoDB request: {e}")))
}

fn non_empty<K, V>(m: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!m.is_empty()).then_some(m)
}

/// Sets `$builder`'s table, key, update expression, condition and the attribute names and
/// values from the [`Change`] `$c`. A transaction's `Update` and `UpdateItem`'s fluent builder
/// have these methods alike but share no trait, so a function could not take both.
macro_rules! with_change {
    ($builder:expr, $table:expr, $key:expr, $c:expr) => {{
        let c: Change = $c;
        $builder
            .table_name($table)
            .set_key(Some($key))
            .update_expression(c.expression())
            .set_condition_expression(c.condition().map(str::to_string))
            .set_expression_attribute_names(non_empty(c.names))
            .set_expression_attribute_values(non_empty(c.values))
    }};
}

/// One page of a query, and where the next begins.
pub(super) struct Page {
    pub items: Vec<Item>,
    pub count: i64,
    pub next: Option<Item>,
}

/// A query: on the table (`index: None`, read consistently) or on an index.
pub(super) struct Query<'a> {
    pub index: Option<&'static str>,
    pub condition: &'a str,
    pub names: &'a [(&'a str, &'a str)],
    pub values: Vec<(&'a str, AttributeValue)>,
    pub filter: Option<&'a str>,
}

impl Query<'_> {
    /// The deliveries or intents of one `by_state` partition, up to `upto` (inclusive).
    pub(super) fn list(list: String, upto: Option<String>) -> Query<'static> {
        let mut values = vec![(":list", s(list))];
        let (condition, names): (_, &[_]) = match upto {
            Some(bound) => {
                values.push((":upto", s(bound)));
                (
                    "#lpk = :list AND #lsk <= :upto",
                    &[("#lpk", BY_STATE_PK), ("#lsk", BY_STATE_SK)],
                )
            }
            None => ("#lpk = :list", &[("#lpk", BY_STATE_PK)]),
        };
        Query {
            index: Some(BY_STATE),
            condition,
            names,
            values,
            filter: None,
        }
    }
}

impl DynamoLedger {
    /// Puts `item` outside a transaction, only if no item has its key: `false` when one had.
    pub(super) async fn put_new(&self, item: Item) -> Result<bool, LedgerError> {
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(dynamo_error("PutItem", self.table(), &e)),
        }
    }

    pub(super) async fn get(&self, key: Item) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", self.table(), &e))?;
        Ok(out.item)
    }

    pub(super) async fn page(
        &self,
        q: &Query<'_>,
        start: Option<Item>,
        count: bool,
    ) -> Result<Page, LedgerError> {
        let names = q
            .names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let values = q
            .values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut req = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression(q.condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .set_filter_expression(q.filter.map(str::to_string))
            .set_exclusive_start_key(start);
        req = match q.index {
            Some(index) => req.index_name(index),
            None => req.consistent_read(true),
        };
        if count {
            req = req.select(Select::Count);
        }
        let out = req
            .send()
            .await
            .map_err(|e| dynamo_error("Query", self.table(), &e))?;
        Ok(Page {
            count: i64::from(out.count),
            items: out.items.unwrap_or_default(),
            next: out.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    pub(super) async fn query_all(&self, q: &Query<'_>) -> Result<Vec<Item>, LedgerError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self.page(q, start, false).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    pub(super) async fn count(&self, q: &Query<'_>) -> Result<u64, LedgerError> {
        let mut total = 0;
        let mut start = None;
        loop {
            let page = self.page(q, start, true).await?;
            total += page.count.max(0) as u64;
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(total),
            }
        }
    }

    pub(super) fn update(&self, key: Item, c: Change) -> Result<TransactWriteItem, LedgerError> {
        let update = with_change!(Update::builder(), self.table(), key, c).build();
        Ok(TransactWriteItem::builder().update(build(update)?).build())
    }

    /// Puts `item` only if no item has its key.
    pub(super) fn create(&self, item: Item) -> Result<TransactWriteItem, LedgerError> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build();
        Ok(TransactWriteItem::builder().put(build(put)?).build())
    }

    pub(super) fn check(&self, key: Item, c: Change) -> Result<TransactWriteItem, LedgerError> {
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(key))
            .set_condition_expression(c.condition().map(str::to_string))
            .set_expression_attribute_names(non_empty(c.names))
            .set_expression_attribute_values(non_empty(c.values))
            .build();
        Ok(TransactWriteItem::builder()
            .condition_check(build(check)?)
            .build())
    }

    /// Writes `items` all or none. `Ok(Err(_))` when a condition failed; a conflict with
    /// another transaction in flight is tried again.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Cancelled>, LedgerError> {
        for attempt in 0..TRIES {
            // One token per attempt: the SDK's own retries of it are idempotent.
            let sent = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await;
            let e = match sent {
                Ok(_) => return Ok(Ok(())),
                Err(e) => e,
            };
            let codes = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            };
            let conflict = match &codes {
                Some(codes) => codes.iter().any(|c| c == "TransactionConflict"),
                None => e.code() == Some("TransactionInProgressException"),
            };
            if conflict && attempt + 1 < TRIES {
                let pause = 20 + rand::random::<u64>() % (40 << attempt.min(4));
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                continue;
            }
            return match codes {
                Some(codes) => Ok(Err(Cancelled(codes))),
                None => Err(dynamo_error("TransactWriteItems", self.table(), &e)),
            };
        }
        Err(LedgerError::Write(
            "DynamoDB kept reporting conflicting transactions".into(),
        ))
    }

    /// Creates `item` unless an item has its key: `None` when created, else the item there
    /// (`what` names it in the error should it vanish in between).
    pub(super) async fn create_or_get(
        &self,
        item: Item,
        what: impl FnOnce() -> String,
    ) -> Result<Option<Item>, LedgerError> {
        let key: Item = [PK, SK]
            .into_iter()
            .filter_map(|k| Some((k.to_string(), item.get(k)?.clone())))
            .collect();
        if self.transact(vec![self.create(item)?]).await?.is_ok() {
            return Ok(None);
        }
        match self.get(key).await? {
            Some(found) => Ok(Some(found)),
            None => Err(LedgerError::Corrupt(format!("{} vanished", what()))),
        }
    }

    /// Changes the item at `key` by `c` only while its `state` is still `from`: `Err` with
    /// the state found otherwise (`missing` when there is no item).
    pub(super) async fn move_from(
        &self,
        key: Item,
        c: Change,
        from: &str,
    ) -> Result<Result<(), String>, LedgerError> {
        let c = c.when("#state = :from", &["state"], vec![(":from", s(from))]);
        if self
            .transact(vec![self.update(key.clone(), c)?])
            .await?
            .is_ok()
        {
            return Ok(Ok(()));
        }
        Ok(Err(match self.get(key).await? {
            Some(item) => get_s(&item, "state")?.to_string(),
            None => "missing".into(),
        }))
    }

    /// Changes one item by `c` when its condition holds, and reads it back as changed, in
    /// one call: `None` when the condition failed.
    pub(super) async fn update_read(
        &self,
        key: Item,
        c: Change,
    ) -> Result<Option<Item>, LedgerError> {
        let sent = with_change!(self.client().update_item(), self.table(), key, c)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
            Err(e) => Err(dynamo_error("UpdateItem", self.table(), &e)),
        }
    }

    pub(super) async fn count_list(&self, state: DeliveryState) -> Result<u64, LedgerError> {
        self.count(&Query::list(delivery_list(state), None)).await
    }
}
