//! The ledger table's shape: what `keygate init` creates and what `serve` checks before it
//! trusts a table with the ledger.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
};

use super::io::{dynamo_error, sdk_message};
use super::item::{BY_PR, BY_PR_PK, BY_PR_SK, BY_STATE, BY_STATE_PK, BY_STATE_SK, PK, SK};
use crate::ledger::LedgerError;

/// What `ensure_table` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableOutcome {
    Created,
    /// A table of that name was there; it was left as it is.
    Existed,
}

/// The indexes keygate queries, each with its partition and sort key.
const INDEXES: [(&str, &str, &str); 2] = [
    (BY_STATE, BY_STATE_PK, BY_STATE_SK),
    (BY_PR, BY_PR_PK, BY_PR_SK),
];

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, LedgerError> {
    r.map_err(|e| LedgerError::Write(format!("cannot build a DynamoDB request: {e}")))
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, LedgerError> {
    build(
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build(),
    )
}

/// Creates the ledger table when it is missing (on-demand billing, the key schema and the
/// two indexes keygate queries) and waits for it to be active. A table that exists is left
/// untouched, whatever its shape: [`check`] says whether it can be used.
pub async fn ensure_table(client: &Client, table: &str) -> Result<TableOutcome, LedgerError> {
    if describe(client, table).await?.is_some() {
        return Ok(TableOutcome::Existed);
    }
    let mut attrs = Vec::new();
    for name in [PK, SK, BY_STATE_PK, BY_STATE_SK, BY_PR_PK, BY_PR_SK] {
        attrs.push(build(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )?);
    }
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        // As the template makes it: the ledger is the record of every key; deleting it
        // takes a deliberate change first (DESIGN §11).
        .deletion_protection_enabled(true)
        .set_attribute_definitions(Some(attrs))
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?);
    for (index, pk, sk) in INDEXES {
        req = req.global_secondary_indexes(build(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key_element(pk, KeyType::Hash)?)
                .key_schema(key_element(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build(),
        )?);
    }
    match req.send().await {
        Ok(_) => {}
        // Another `init` created it in between: it exists, which is all that was asked.
        Err(e) if e.code() == Some("ResourceInUseException") => {
            return Ok(TableOutcome::Existed);
        }
        Err(e) => return Err(dynamo_error("CreateTable", table, &e)),
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Some(d) = describe(client, table).await?
            && d.table_status() == Some(&TableStatus::Active)
        {
            return Ok(TableOutcome::Created);
        }
        if std::time::Instant::now() > deadline {
            return Err(LedgerError::Write(format!(
                "the DynamoDB table `{table}` was created but is not active after two minutes; run `keygate init` again later"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The table's description, or `None` when there is no such table.
async fn describe(client: &Client, table: &str) -> Result<Option<TableDescription>, LedgerError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(LedgerError::Write(format!(
            "cannot read the DynamoDB table `{table}` (store.table): {}",
            sdk_message(&e)
        ))),
    }
}

/// Checks that `table` exists with the keys and indexes the ledger uses: a start-up error
/// that names the table beats a failure on the first delivery.
pub async fn check(client: &Client, table: &str) -> Result<(), LedgerError> {
    let Some(d) = describe(client, table).await? else {
        return Err(LedgerError::MissingTable {
            table: table.to_string(),
        });
    };
    let problems = shape_problems(&d);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LedgerError::NotALedger {
            table: table.to_string(),
            problem: problems.join("; "),
        })
    }
}

/// What is wrong with a table's shape for the ledger, if anything.
fn shape_problems(d: &TableDescription) -> Vec<String> {
    let keys = |schema: &[KeySchemaElement]| -> Vec<(String, KeyType)> {
        schema
            .iter()
            .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
            .collect()
    };
    let want = |pk: &str, sk: &str| {
        vec![
            (pk.to_string(), KeyType::Hash),
            (sk.to_string(), KeyType::Range),
        ]
    };
    let mut problems = Vec::new();
    if keys(d.key_schema()) != want(PK, SK) {
        problems.push(format!(
            "its key must be `{PK}` (partition) and `{SK}` (sort), both strings"
        ));
    }
    for (index, pk, sk) in INDEXES {
        let found = d
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(index));
        match found {
            None => problems.push(format!("it has no index `{index}`")),
            Some(g) if keys(g.key_schema()) != want(pk, sk) => problems.push(format!(
                "index `{index}` must be keyed by `{pk}` and `{sk}`"
            )),
            Some(g)
                if g.projection().and_then(|p| p.projection_type())
                    != Some(&ProjectionType::All) =>
            {
                problems.push(format!("index `{index}` must project all attributes"))
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        return problems;
    }
    problems.push("delete it or name another store.table, then run `keygate init`".into());
    problems
}
