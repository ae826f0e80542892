//! How GitHub applies the bodies of the writes keygate makes.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::json::url_path;
use super::super::model::{Annotation, CheckRun};
use super::Reply;

pub(crate) fn annotation_json(c: &CheckRun, a: &Annotation) -> Value {
    let path = url_path(&a.path);
    json!({
        "path": a.path,
        "start_line": a.start_line,
        "end_line": a.end_line,
        "start_column": null,
        "end_column": null,
        "annotation_level": a.level,
        "title": a.title,
        "message": a.message,
        "raw_details": a.raw_details,
        "blob_href": format!("https://github.com/{}/blob/{}/{path}", c.repo, c.head_sha),
    })
}

/// Applies the writable fields of a create/update body as GitHub does:
/// a conclusion completes the run; annotations are appended.
pub(crate) fn apply_check_run_fields(
    run: &mut CheckRun,
    body: &Value,
    at: OffsetDateTime,
    docs: &str,
) -> Result<(), Reply> {
    let invalid = |field: &str, message: &str| Reply::invalid("CheckRun", field, message, docs);
    if let Some(s) = body["external_id"].as_str() {
        run.external_id = Some(s.to_string());
    }
    if let Some(s) = body["details_url"].as_str() {
        run.details_url = Some(s.to_string());
    }
    if let Some(s) = body["started_at"].as_str() {
        run.started_at = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| invalid("started_at", "started_at is not a timestamp"))?;
    }
    if let Some(status) = body["status"].as_str() {
        if !matches!(status, "queued" | "in_progress" | "completed") {
            return Err(invalid("status", "status is not included in the list"));
        }
        run.status = status.to_string();
    }
    if let Some(conclusion) = body["conclusion"].as_str() {
        if !matches!(
            conclusion,
            "action_required"
                | "cancelled"
                | "failure"
                | "neutral"
                | "success"
                | "skipped"
                | "stale"
                | "timed_out"
        ) {
            return Err(invalid(
                "conclusion",
                "conclusion is not included in the list",
            ));
        }
        run.conclusion = Some(conclusion.to_string());
        run.status = "completed".to_string();
    } else if body["status"].as_str().is_some_and(|s| s != "completed") {
        run.conclusion = None;
        run.completed_at = None;
    }
    if run.status == "completed" {
        if run.conclusion.is_none() {
            return Err(invalid(
                "conclusion",
                "conclusion must be specified when status is completed",
            ));
        }
        run.completed_at = match body["completed_at"].as_str() {
            Some(s) => Some(
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| invalid("completed_at", "completed_at is not a timestamp"))?,
            ),
            None => Some(run.completed_at.unwrap_or(at)),
        };
    }
    let output = &body["output"];
    if output.is_object() {
        let (Some(title), Some(summary)) = (output["title"].as_str(), output["summary"].as_str())
        else {
            return Err(invalid("output", "output must have a title and a summary"));
        };
        for (field, value) in [
            ("title", Some(title)),
            ("summary", Some(summary)),
            ("text", output["text"].as_str()),
        ] {
            if value.is_some_and(|v| v.chars().count() > 65_535) {
                return Err(invalid(
                    field,
                    &format!("output.{field} is too long (maximum is 65535 characters)"),
                ));
            }
        }
        run.title = Some(title.to_string());
        run.summary = Some(summary.to_string());
        if let Some(text) = output["text"].as_str() {
            run.text = Some(text.to_string());
        }
        if let Some(list) = output["annotations"].as_array() {
            if list.len() > 50 {
                return Err(invalid("annotations", "at most 50 annotations per request"));
            }
            for a in list {
                let (Some(path), Some(start), Some(end), Some(level), Some(message)) = (
                    a["path"].as_str(),
                    a["start_line"].as_u64(),
                    a["end_line"].as_u64(),
                    a["annotation_level"].as_str(),
                    a["message"].as_str(),
                ) else {
                    return Err(invalid(
                        "annotations",
                        "an annotation needs path, start_line, end_line, annotation_level and message",
                    ));
                };
                if !matches!(level, "notice" | "warning" | "failure") {
                    return Err(invalid(
                        "annotation_level",
                        "annotation_level is not included in the list",
                    ));
                }
                run.annotations.push(Annotation {
                    path: path.to_string(),
                    start_line: start,
                    end_line: end,
                    level: level.to_string(),
                    message: message.to_string(),
                    title: a["title"].as_str().map(str::to_string),
                    raw_details: a["raw_details"].as_str().map(str::to_string),
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn comment_body(body: &Value, docs: &str) -> Result<String, Reply> {
    let Some(text) = body["body"].as_str() else {
        return Err(Reply::invalid(
            "IssueComment",
            "body",
            "body wasn't supplied.",
            docs,
        ));
    };
    if text.chars().count() > 65_536 {
        return Err(Reply::invalid(
            "IssueComment",
            "body",
            "body is too long (maximum is 65536 characters)",
            docs,
        ));
    }
    Ok(text.to_string())
}
