//! Request bodies checked against GitHub's published API description (the
//! fixture `tests/fixtures/github-request-bodies.json`, made by
//! `scripts/extract-github-bodies.sh`), answered as GitHub answers a body its
//! schema rejects: 422 `Invalid request.` with one line per problem.
//!
//! A property the description does not list is refused ("is not a permitted
//! key"): GitHub would ignore or refuse it, and either way the client would
//! believe it changed something that it did not.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::Reply;

static DESCRIPTION: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(
        "../../../../fixtures/github-request-bodies.json"
    ))
    .expect("tests/fixtures/github-request-bodies.json is JSON")
});

/// Checks `body` (`Null` when the request had none) against the operation
/// `"METHOD /path/{template}"` of the fixture.
pub(crate) fn check_body(operation: &str, body: &Value) -> Result<(), Reply> {
    let op = &DESCRIPTION["operations"][operation];
    assert!(
        op.is_object(),
        "tests/fixtures/github-request-bodies.json has no {operation}: add it to \
         scripts/extract-github-bodies.sh and re-run it"
    );
    if body.is_null() && !op["required"].as_bool().unwrap_or(false) {
        return Ok(());
    }
    let mut problems = Vec::new();
    if body.is_object() {
        check(&op["schema"], body, "", &mut problems);
    } else {
        // What GitHub says for a missing or non-object body.
        problems.push(format!(
            "For 'links/0/schema', {} is not an object.",
            ruby(body)
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Reply::json(
        422,
        json!({
            "message": format!("Invalid request.\n\n{}", problems.join("\n")),
            "documentation_url": op["documentation_url"],
            "status": "422",
        }),
    ))
}

/// The subset of JSON Schema GitHub's request bodies use: `type` (with
/// `nullable`), `enum`, `properties`, `additionalProperties`, `required`,
/// `items`, `anyOf` and `oneOf`. Lengths and counts are left to the handlers,
/// which answer them with GitHub's own messages.
fn check(schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if !schema.is_object() {
        return;
    }
    if value.is_null() && schema["nullable"] == Value::Bool(true) {
        return;
    }
    let here = if at.is_empty() { "schema" } else { at };
    if let Some(t) = schema["type"].as_str() {
        let fits = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !fits {
            let article = if matches!(t, "object" | "array" | "integer") {
                "an"
            } else {
                "a"
            };
            problems.push(format!(
                "For '{here}', {} is not {article} {t}.",
                ruby(value)
            ));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(ruby).collect();
        problems.push(format!(
            "For '{here}', {} is not a member of [{}].",
            ruby(value),
            list.join(", ")
        ));
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"].as_object();
        // Strict only where the schema says what an object holds.
        let strict = schema["type"] == "object"
            && properties.is_some()
            && !matches!(
                schema["additionalProperties"],
                Value::Bool(true) | Value::Object(_)
            );
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => check(
                    s,
                    v,
                    &format!("{at}{}properties/{key}", slash(at)),
                    problems,
                ),
                None if strict => problems.push(format!("\"{key}\" is not a permitted key.")),
                None => {}
            }
        }
        let missing: Vec<String> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|k| !object.contains_key(*k))
            .map(|k| format!("\"{k}\""))
            .collect();
        match missing.len() {
            0 => {}
            1 => problems.push(format!("{} wasn't supplied.", missing[0])),
            _ => problems.push(format!("{} weren't supplied.", missing.join(", "))),
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            check(
                &schema["items"],
                item,
                &format!("{at}{}items/{i}", slash(at)),
                problems,
            );
        }
    }
    for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        let Some(subschemas) = schema[keyword].as_array() else {
            continue;
        };
        let matched = subschemas
            .iter()
            .filter(|s| {
                let mut scratch = Vec::new();
                check(s, value, at, &mut scratch);
                scratch.is_empty()
            })
            .count();
        if matched == 0 {
            problems.push(format!("No subschema in \"{keyword}\" matched."));
        } else if exactly_one && matched > 1 {
            problems.push(format!("More than one subschema in \"{keyword}\" matched."));
        }
    }
}

fn slash(at: &str) -> &'static str {
    if at.is_empty() { "" } else { "/" }
}

/// A value as GitHub's messages print it (Ruby's `inspect`).
fn ruby(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(operation: &str, body: Value) -> Option<String> {
        let reply = check_body(operation, &body).err()?;
        assert_eq!(reply.status, 422);
        Some(reply.body?["message"].as_str()?.to_string())
    }

    const UPDATE_RUN: &str = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}";
    const CREATE_RUN: &str = "POST /repos/{owner}/{repo}/check-runs";
    const COMMENT: &str = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";

    #[test]
    fn an_update_of_a_check_run_may_not_name_its_head_sha() {
        let body = json!({ "name": "keygate", "head_sha": "abc", "status": "in_progress" });
        assert_eq!(
            message(UPDATE_RUN, body).as_deref(),
            Some("Invalid request.\n\n\"head_sha\" is not a permitted key.")
        );
        let body = json!({ "name": "keygate", "status": "in_progress" });
        assert_eq!(message(UPDATE_RUN, body), None);
        let body = json!({ "name": "keygate", "head_sha": "abc", "status": "in_progress" });
        assert_eq!(message(CREATE_RUN, body), None, "creating one needs it");
    }

    #[test]
    fn missing_mistyped_and_unlisted_values_are_refused_as_github_refuses_them() {
        let cases = [
            (COMMENT, json!({}), "\"body\" wasn't supplied."),
            (
                COMMENT,
                json!({ "body": 7 }),
                "For 'properties/body', 7 is not a string.",
            ),
            (
                COMMENT,
                Value::Null,
                "For 'links/0/schema', nil is not an object.",
            ),
            (
                CREATE_RUN,
                json!({}),
                "\"name\", \"head_sha\" weren't supplied.",
            ),
            (
                CREATE_RUN,
                json!({ "name": "k", "head_sha": "a", "status": "done" }),
                "For 'properties/status', \"done\" is not a member of",
            ),
            (
                CREATE_RUN,
                json!({ "name": "k", "head_sha": "a", "output": { "title": "t" } }),
                "\"summary\" wasn't supplied.",
            ),
            (
                UPDATE_RUN,
                json!({ "status": "completed" }),
                "No subschema in \"anyOf\" matched.",
            ),
        ];
        for (operation, body, expected) in cases {
            let got = message(operation, body.clone()).unwrap_or_default();
            assert!(got.contains(expected), "{operation} {body}: {got}");
        }
        let token = "POST /app/installations/{installation_id}/access_tokens";
        assert_eq!(message(token, Value::Null), None, "the body is optional");
        let narrowed = json!({ "permissions": { "checks": "write" } });
        assert_eq!(message(token, narrowed), None);
    }
}
