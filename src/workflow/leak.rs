//! Leaked keys (DESIGN §10): a report names a key by its ID, or shows its secret, which is
//! matched by the fingerprint recorded at issuance (never by reading stored secrets). A key
//! keygate issued is deactivated at once, whatever its stage, and people are told where it
//! leaked; a key keygate did not issue is only logged. Making things safer needs no approval.

use secrecy::ExposeSecret;
use time::OffsetDateTime;
use tracing::instrument;

use super::sweep::contain_key;
use super::{StepError, Workflow};
use crate::ids::AccessKeyId;
use crate::leak::{LeakReport, from_github_alert};
use crate::ledger::{Job, KeyLife, Leak, Store};
use crate::life::LifecycleRules;

/// What became of one key a report named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contained {
    /// keygate issued it: deactivated now (or its deactivation finished).
    Deactivated { access_key_id: AccessKeyId },
    /// keygate issued it and acted on a leak of it before, or its life is over.
    AlreadyDone { access_key_id: AccessKeyId },
}

/// Acts on a leak report: every key keygate issued that it names is deactivated.
#[instrument(skip_all, fields(source = report.source.as_str()))]
pub async fn contain(
    wf: &Workflow,
    rules: &LifecycleRules,
    report: &LeakReport,
) -> Result<Vec<Contained>, StepError> {
    let mut lives: Vec<KeyLife> = Vec::new();
    for id in &report.access_key_ids {
        match wf.ledger.key_life(id.clone()).await? {
            Some(life) => lives.push(life),
            None => {
                tracing::warn!(access_key_id = %id, location = %report.location, "a leaked access key keygate did not issue: only logged");
            }
        }
    }
    if !report.fingerprints.is_empty() {
        let live = wf.ledger.keys_to_sweep().await?;
        let matched = live.into_iter().filter(|l| {
            l.origin
                .fingerprint
                .as_ref()
                .is_some_and(|f| report.fingerprints.contains(f))
        });
        for life in matched {
            if !lives.iter().any(|l| l.access_key_id == life.access_key_id) {
                lives.push(life);
            }
        }
        if lives.is_empty() {
            tracing::warn!(location = %report.location, "a leaked secret access key matches no key keygate issued: only logged");
        }
    }
    let mut out = Vec::new();
    for mut life in lives {
        let leak = Leak {
            source: report.source.as_str().to_string(),
            location: report.location.clone(),
            reported_at: OffsetDateTime::now_utc(),
        };
        let access_key_id = life.access_key_id.clone();
        if contain_key(wf, rules, &mut life, leak).await? {
            tracing::warn!(access_key_id = %access_key_id, iam_user = %life.iam_user, "a leaked key keygate issued was deactivated");
            out.push(Contained::Deactivated { access_key_id });
        } else {
            tracing::info!(access_key_id = %access_key_id, "a leak of this key was acted on before, or its life is over");
            out.push(Contained::AlreadyDone { access_key_id });
        }
    }
    Ok(out)
}

/// A secret scanning alert's delivery: read the alert with a token scoped to its repository,
/// then act on what it shows.
pub(super) async fn on_github_alert(wf: &Workflow, job: &Job) -> Result<(), StepError> {
    let repo = job.event.repository.as_str();
    let number = job.event.pr.get();
    let gh = wf.github.repo(job.event.installation.get(), repo)?;
    let alert = gh.secret_scanning_alert(number).await?;
    if !alert.secret_type.starts_with("aws_") {
        tracing::info!(secret_type = %alert.secret_type, alert = number, "not an AWS secret; nothing to do");
        return Ok(());
    }
    let found = match gh.secret_scanning_location(number).await {
        Ok(Some(l)) => {
            let line = l.line.map(|n| format!(" line {n}")).unwrap_or_default();
            let commit = l
                .commit
                .as_deref()
                .map(|c| format!(" (commit {})", super::short(c)))
                .unwrap_or_default();
            format!("`{}`{line}{commit}, ", l.path)
        }
        Ok(None) => String::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read where the alert's secret was found");
            String::new()
        }
    };
    let location = format!(
        "repository {repo}, {found}secret scanning alert #{number} ({})",
        alert.html_url
    );
    let report = from_github_alert(&alert.secret_type, alert.secret.expose_secret(), location);
    drop(alert);
    if report.is_empty() {
        tracing::warn!(
            alert = number,
            "the alert shows no AWS key keygate can match"
        );
        return Ok(());
    }
    contain(wf, &wf.settings.lifecycle, &report).await?;
    Ok(())
}
