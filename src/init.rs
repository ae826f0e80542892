//! `keygate init` (DESIGN §8): creates what the configuration names and does not find, and
//! changes nothing that exists. `serve` never creates anything; this is for local
//! development, tests and operators who do not use the CloudFormation template.

use anyhow::Context;

use crate::aws::Aws;
use crate::config::{QueueBackend, Settings, StoreBackend};
use crate::ledger::LedgerError;
use crate::ledger::dynamo::{TableOutcome, ensure_table, schema};

/// Creates the missing parts and returns one line per part saying what was done.
pub async fn run(settings: &Settings, aws: &Aws) -> anyhow::Result<Vec<String>> {
    // Refused before anything is created, so a run that fails leaves nothing half-made.
    if settings.queue.backend == QueueBackend::Sqs {
        anyhow::bail!(
            "queue.backend = \"sqs\" is not available in this keygate yet; use \"local\" (the DynamoDB ledger is its own queue)"
        );
    }
    let mut done = Vec::new();
    match settings.store.backend {
        StoreBackend::Sqlite => done.push(format!(
            "store: SQLite ledger {}: nothing to create (`keygate serve` creates the file)",
            settings.store.path.display()
        )),
        StoreBackend::Dynamodb => {
            let table = crate::startup::dynamo_table(settings)?;
            let client = aws.dynamodb();
            let outcome = ensure_table(&client, table)
                .await
                .with_context(|| format!("cannot create the DynamoDB table `{table}`"))?;
            // A table that was there is checked, never changed: say what is wrong with it.
            match schema::check(&client, table).await {
                Ok(()) => {}
                Err(e @ LedgerError::NotALedger { .. }) => return Err(e.into()),
                Err(e) => return Err(e).context("cannot check the DynamoDB table"),
            }
            done.push(match outcome {
                TableOutcome::Created => format!(
                    "store: created DynamoDB table `{table}` (key pk/sk, indexes by_state and by_pr, on-demand billing)"
                ),
                TableOutcome::Existed => {
                    format!("store: DynamoDB table `{table}` exists; left as it is")
                }
            });
        }
    }
    done.push("queue: in-process (the ledger is the queue): nothing to create".into());
    Ok(done)
}
