//! What an invocation is, told from the event's shape alone (DESIGN §8: one function serves
//! the function URL, the SQS work queue and the schedule). Pure: no I/O, no values read
//! beyond the few fields that say what the event is.

use serde_json::Value;

/// What the Lambda service handed the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A function-URL request, or an API Gateway HTTP API request (payload format 2.0).
    Http,
    /// A batch of SQS messages from the event source mapping.
    Sqs,
    /// An EventBridge Scheduler input `{"keygate": "sweep" | "reconcile"}`.
    Scheduled(Pass),
    /// AWS Health's `AWS_RISK_CREDENTIALS_EXPOSED`, from the template's EventBridge rule
    /// (DESIGN §10): only EventBridge may invoke the function with it.
    HealthAlert,
}

pub use crate::ledger::Pass;

impl Shape {
    /// A short fixed name, for logs and the metrics' `invocation` label.
    pub fn label(self) -> &'static str {
        match self {
            Shape::Http => "http",
            Shape::Sqs => "sqs",
            Shape::Scheduled(pass) => pass.as_str(),
            Shape::HealthAlert => "health_alert",
        }
    }
}

/// An event keygate does not serve, described by its shape only: the event may hold a signed
/// webhook or anything else, so no value of it is repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("keygate cannot serve this event: {shape}")]
pub struct UnknownShape {
    pub shape: String,
}

/// Tells an event's shape.
pub fn classify(event: &Value) -> Result<Shape, UnknownShape> {
    let Some(object) = event.as_object() else {
        return Err(UnknownShape {
            shape: format!("a JSON {}, not an object", kind(event)),
        });
    };
    if let Some(records) = object.get("Records").and_then(Value::as_array) {
        let from_sqs = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
        if !records.is_empty() && records.iter().all(from_sqs) {
            return Ok(Shape::Sqs);
        }
        return Err(UnknownShape {
            shape: format!(
                "{} records, not all from SQS (eventSource \"aws:sqs\")",
                records.len()
            ),
        });
    }
    if crate::leak::is_health_leak(event) {
        return Ok(Shape::HealthAlert);
    }
    if let Some(pass) = object.get("keygate") {
        return match (pass.as_str(), object.len()) {
            (Some("sweep"), 1) => Ok(Shape::Scheduled(Pass::Sweep)),
            (Some("reconcile"), 1) => Ok(Shape::Scheduled(Pass::Reconcile)),
            _ => Err(UnknownShape {
                shape: format!(
                    "a keygate schedule input that is not {{\"keygate\": \"sweep\"}} or \
                     {{\"keygate\": \"reconcile\"}} (an object with keys {})",
                    keys(object)
                ),
            }),
        };
    }
    let http = object
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .and_then(|h| h.get("method"))
        .is_some_and(Value::is_string);
    if http && object.get("version").and_then(Value::as_str) == Some("2.0") {
        return Ok(Shape::Http);
    }
    if object.contains_key("httpMethod") {
        return Err(UnknownShape {
            shape: "an HTTP request in API Gateway's payload format 1.0; keygate takes a \
                    function URL or an HTTP API with payload format 2.0"
                .into(),
        });
    }
    Err(UnknownShape {
        shape: format!("an object with keys {}", keys(object)),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The first few key names, each cut short: enough to recognise an event, bounded in size.
fn keys(object: &serde_json::Map<String, Value>) -> String {
    const MAX_KEYS: usize = 8;
    const MAX_LEN: usize = 32;
    if object.is_empty() {
        return "(none)".into();
    }
    let mut names: Vec<String> = object
        .keys()
        .take(MAX_KEYS)
        .map(|k| {
            let short: String = k.chars().take(MAX_LEN).collect();
            format!("{short:?}")
        })
        .collect();
    if object.len() > MAX_KEYS {
        names.push(format!("and {} more", object.len() - MAX_KEYS));
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "function-url" => include_str!("fixtures/function-url-request.json"),
            "apigw-v2" => include_str!("fixtures/apigw-v2-request.json"),
            "sqs-fifo" => include_str!("fixtures/sqs-fifo-event.json"),
            "scheduler-sweep" => r#"{"keygate": "sweep"}"#,
            _ => unreachable!("no fixture {name}"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_function_url_request_and_an_http_api_request_are_http() {
        assert_eq!(classify(&fixture("function-url")), Ok(Shape::Http));
        assert_eq!(classify(&fixture("apigw-v2")), Ok(Shape::Http));
    }

    #[test]
    fn a_batch_from_the_work_queue_is_sqs() {
        assert_eq!(classify(&fixture("sqs-fifo")), Ok(Shape::Sqs));
    }

    #[test]
    fn the_schedules_inputs_name_their_pass() {
        assert_eq!(
            classify(&fixture("scheduler-sweep")),
            Ok(Shape::Scheduled(Pass::Sweep))
        );
        assert_eq!(
            classify(&json!({"keygate": "reconcile"})),
            Ok(Shape::Scheduled(Pass::Reconcile))
        );
    }

    #[test]
    fn a_schedule_input_naming_no_known_pass_is_refused_without_echoing_it() {
        let err = classify(&json!({"keygate": "drop-tables"})).unwrap_err();
        assert!(err.shape.contains("\"keygate\""), "{err}");
        assert!(!err.to_string().contains("drop-tables"), "{err}");
        let extra = classify(&json!({"keygate": "sweep", "dry": true}));
        assert!(extra.is_err(), "only the exact input runs a pass");
    }

    #[test]
    fn records_from_another_source_are_not_taken_for_work() {
        let s3 = json!({"Records": [{"eventSource": "aws:s3", "s3": {}}]});
        let err = classify(&s3).unwrap_err();
        assert!(err.shape.contains("not all from SQS"), "{err}");
        assert!(classify(&json!({"Records": []})).is_err(), "an empty batch");
    }

    #[test]
    fn an_unknown_event_is_named_by_its_keys_never_its_values() {
        // A webhook body posted straight to the function: its values may be anything.
        let event = json!({"action": "closed", "pull_request": {"body": "hunter2"}});
        let err = classify(&event).unwrap_err().to_string();
        assert!(err.contains("\"action\", \"pull_request\""), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("closed"), "{err}");
        let err = classify(&json!("a string event")).unwrap_err().to_string();
        assert!(err.contains("a JSON string"), "{err}");
        assert!(!err.contains("a string event"), "{err}");
    }

    #[test]
    fn a_rest_api_request_says_which_payload_format_keygate_takes() {
        let v1 = json!({"httpMethod": "POST", "path": "/webhook", "requestContext": {}});
        let err = classify(&v1).unwrap_err().to_string();
        assert!(err.contains("payload format 2.0"), "{err}");
    }

    #[test]
    fn a_long_list_of_keys_is_cut_short() {
        let mut object = serde_json::Map::new();
        for i in 0..20 {
            object.insert(format!("{i:02}{}", "k".repeat(100)), json!(1));
        }
        let err = classify(&Value::Object(object)).unwrap_err().to_string();
        assert!(err.contains("and 12 more"), "{err}");
        assert!(err.len() < 500, "{} characters", err.len());
    }
}
