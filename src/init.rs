//! `keygate init` (DESIGN §8): creates what the configuration names and does not find, and
//! changes nothing that exists. `serve` never creates anything; this is for local
//! development, tests and operators who do not use the CloudFormation template.

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::aws::Aws;
use crate::config::{QueueBackend, Settings, StoreBackend};
use crate::ledger::LedgerError;
use crate::ledger::dynamo::{TableOutcome, ensure_table, schema};

/// Creates the missing parts and returns one line per part saying what was done.
pub async fn run(settings: &Settings, aws: &Aws) -> anyhow::Result<Vec<String>> {
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
                    "store: created DynamoDB table `{table}` (key pk/sk, indexes by_state and by_pr, on-demand billing, deletion protection)"
                ),
                TableOutcome::Existed => {
                    format!("store: DynamoDB table `{table}` exists; left as it is")
                }
            });
            done.extend(protect(&client, table, outcome).await?);
        }
    }
    match (settings.queue.backend, settings.queue.url.as_deref()) {
        (QueueBackend::Sqs, Some(url)) => done.extend(ensure_queues(aws, url).await?),
        _ => done.push("queue: in-process (the ledger is the queue): nothing to create".into()),
    }
    Ok(done)
}

/// Point-in-time recovery for a table `init` created, as the template turns it on; for a
/// table that was there, one line per protection it lacks, saying how to turn it on (`init`
/// changes nothing that exists).
async fn protect(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    outcome: TableOutcome,
) -> anyhow::Result<Vec<String>> {
    use aws_sdk_dynamodb::types::{PointInTimeRecoverySpecification, PointInTimeRecoveryStatus};
    let mut lines = Vec::new();
    if outcome == TableOutcome::Created {
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build()
            .context("cannot describe point-in-time recovery")?;
        client
            .update_continuous_backups()
            .table_name(table)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .with_context(|| {
                format!(
                    "cannot turn on point-in-time recovery for `{table}` (UpdateContinuousBackups)"
                )
            })?;
        lines.push(format!(
            "store: turned on point-in-time recovery for `{table}` (restore to any second of the last 35 days)"
        ));
        return Ok(lines);
    }
    let backups = client
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .with_context(|| {
            format!("cannot read the backups of `{table}` (DescribeContinuousBackups)")
        })?;
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    if pitr != Some(&PointInTimeRecoveryStatus::Enabled) {
        lines.push(format!(
            "store: `{table}` has no point-in-time recovery; turn it on with `aws dynamodb update-continuous-backups --table-name {table} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`"
        ));
    }
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .with_context(|| format!("cannot describe `{table}`"))?;
    let protected = described
        .table()
        .and_then(|t| t.deletion_protection_enabled())
        .unwrap_or(false);
    if !protected {
        lines.push(format!(
            "store: `{table}` has no deletion protection; turn it on with `aws dynamodb update-table --table-name {table} --deletion-protection-enabled`"
        ));
    }
    Ok(lines)
}

/// How often SQS may hand out one message before it goes to the dead-letter queue. Retries
/// send a fresh message, so this counts attempts that ended without an outcome (a crash, a
/// lease that lapsed), not retries.
pub const MAX_RECEIVES: u32 = 10;

/// The queue names `queue.url` implies: the work queue, and its dead-letter queue beside it
/// (`keygate-work.fifo` → `keygate-dead.fifo`, as the template names them).
pub fn queue_names(url: &str) -> anyhow::Result<(String, String)> {
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .with_context(|| format!("queue.url `{url}` names no queue"))?;
    let stem = name
        .strip_suffix(".fifo")
        .with_context(|| format!("queue.url `{url}` is not a FIFO queue (.fifo)"))?;
    let base = stem.strip_suffix("-work").unwrap_or(stem);
    let dead = format!("{base}-dead.fifo");
    anyhow::ensure!(
        name.len() <= 80 && dead.len() <= 80,
        "queue.url `{url}`: SQS queue names are at most 80 characters ({dead} too)"
    );
    Ok((name.to_string(), dead))
}

/// Creates the work queue `url` names and its dead-letter queue when missing; a queue that
/// exists is checked and left as it is. Returns one line per queue saying what was done.
pub async fn ensure_queues(aws: &Aws, url: &str) -> anyhow::Result<Vec<String>> {
    let (name, dead) = queue_names(url)?;
    let mut done = Vec::new();
    if aws.queue_url(&name).await?.is_some() {
        // There already: only say whether it is usable.
        crate::queue::SqsQueue::open(aws.clone(), url).await?;
        done.push(format!("queue: SQS queue `{name}` exists; left as it is"));
        return Ok(done);
    }
    let dead_url = match aws.queue_url(&dead).await? {
        Some(u) => {
            done.push(format!(
                "queue: SQS dead-letter queue `{dead}` exists; left as it is"
            ));
            u
        }
        None => {
            let u = aws
                .create_fifo_queue(&dead, fifo_attributes(None))
                .await
                .with_context(|| format!("cannot create the SQS queue `{dead}`"))?;
            done.push(format!(
                "queue: created SQS FIFO dead-letter queue `{dead}`"
            ));
            u
        }
    };
    let dead_arn = aws
        .queue_facts(&dead_url)
        .await?
        .arn
        .with_context(|| format!("SQS did not say the ARN of `{dead}`"))?;
    let created = aws
        .create_fifo_queue(&name, fifo_attributes(Some(&dead_arn)))
        .await
        .with_context(|| format!("cannot create the SQS queue `{name}`"))?;
    done.push(format!(
        "queue: created SQS FIFO queue `{name}` at {created} (after {MAX_RECEIVES} receives without an outcome a message goes to `{dead}`)"
    ));
    Ok(done)
}

/// A keygate queue's attributes: messages kept 14 days, encrypted at rest, a two-minute
/// visibility (the consumers renew it while work runs), and the redrive to `dead_arn`.
fn fifo_attributes(dead_arn: Option<&str>) -> HashMap<QueueAttributeName, String> {
    let mut attrs = HashMap::from([
        (QueueAttributeName::MessageRetentionPeriod, "1209600".into()),
        (QueueAttributeName::VisibilityTimeout, "120".into()),
        (QueueAttributeName::SqsManagedSseEnabled, "true".into()),
    ]);
    if let Some(arn) = dead_arn {
        let redrive = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": MAX_RECEIVES,
        });
        attrs.insert(QueueAttributeName::RedrivePolicy, redrive.to_string());
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_queue_is_named_beside_the_work_queue() {
        let names = |u| queue_names(u).map_err(|e| e.to_string());
        assert_eq!(
            names("https://sqs.eu-west-1.amazonaws.com/1/kg-work.fifo").unwrap(),
            ("kg-work.fifo".to_string(), "kg-dead.fifo".to_string())
        );
        assert_eq!(
            names("http://127.0.0.1:5000/123456789012/keygate.fifo/").unwrap(),
            ("keygate.fifo".to_string(), "keygate-dead.fifo".to_string())
        );
        assert!(
            names("https://sqs.x/1/plain")
                .unwrap_err()
                .contains(".fifo")
        );
        let long = format!("https://sqs.x/1/{}.fifo", "q".repeat(74));
        assert!(names(&long).unwrap_err().contains("80 characters"));
    }
}
