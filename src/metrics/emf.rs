//! The same figures as `GET /metrics`, for Lambda: a CloudWatch Embedded Metric Format
//! (EMF) document written to stdout after each invocation, which CloudWatch Logs turns
//! into metrics. Nothing scrapes a Lambda function, so it reports instead.
//!
//! Each counter series becomes one metric named `<family>.<label values in order>` (e.g.
//! `deliveries.pull_request.queued`, `aws_calls.CreateAccessKey.ok`) whose value is how much
//! it grew during the invocation; work duration is `work_duration_seconds.sum` and
//! `.count`. The names come from the same bounded label values `/metrics` uses, so the set
//! of CloudWatch metrics stays bounded too. The one dimension is the function's name: one
//! document can carry one value per dimension, and labels as dimensions would need a
//! document per series.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Metrics;

/// Counter figures by EMF metric name.
pub type Figures = BTreeMap<String, f64>;

/// EMF allows at most this many metrics in one document.
pub const MAX_METRICS: usize = 100;

/// The CloudWatch namespace keygate's metrics go to.
pub const NAMESPACE: &str = "keygate";

impl Metrics {
    /// Every counter's value now, by EMF metric name (gauges are left out: they are the
    /// ledger's figures, read only when `/metrics` is asked).
    pub fn figures(&self) -> Figures {
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, &self.0.registry) {
            Ok(()) => parse(&text),
            Err(_) => Figures::new(),
        }
    }
}

/// What grew between `before` and `now`: the series whose value changed, by how much.
pub fn growth(before: &Figures, now: &Figures) -> Figures {
    now.iter()
        .filter_map(|(name, v)| {
            let d = v - before.get(name).copied().unwrap_or(0.0);
            (d != 0.0).then(|| (name.clone(), d))
        })
        .collect()
}

/// The EMF documents, one JSON line each, for `figures` at `timestamp_ms`, with the
/// dimension `function` and the property `invocation` (what kind of event it was). One
/// document unless there are more than [`MAX_METRICS`] figures.
pub fn documents(
    figures: &Figures,
    function: &str,
    invocation: &str,
    timestamp_ms: i64,
) -> Vec<String> {
    let entries: Vec<(&String, &f64)> = figures.iter().collect();
    let chunks: Vec<&[(&String, &f64)]> = if entries.is_empty() {
        vec![&[]]
    } else {
        entries.chunks(MAX_METRICS).collect()
    };
    chunks
        .into_iter()
        .map(|chunk| {
            let definitions: Vec<Value> = chunk
                .iter()
                .map(|(name, _)| json!({"Name": name, "Unit": unit(name)}))
                .collect();
            let mut doc = Map::new();
            doc.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["function"]],
                        "Metrics": definitions,
                    }],
                }),
            );
            doc.insert("function".into(), json!(function));
            doc.insert("invocation".into(), json!(invocation));
            for (name, value) in chunk {
                doc.insert((*name).clone(), json!(value));
            }
            Value::Object(doc).to_string()
        })
        .collect()
}

fn unit(name: &str) -> &'static str {
    if name.ends_with(".sum") {
        "Seconds"
    } else {
        "Count"
    }
}

/// The counter series of an OpenMetrics text, by EMF metric name: `keygate_<family>_total`
/// series and the work-duration histogram's `_sum` and `_count`.
pub fn parse(text: &str) -> Figures {
    let mut out = Figures::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, labels, value)) = split_line(line) else {
            continue;
        };
        let Some(family) = series.strip_prefix("keygate_") else {
            continue;
        };
        let name = if let Some(f) = family.strip_suffix("_total") {
            f.to_string()
        } else if let Some(f) = family.strip_suffix("_sum") {
            format!("{f}.sum")
        } else if let Some(f) = family.strip_suffix("_count") {
            format!("{f}.count")
        } else {
            continue;
        };
        let mut name = name;
        for v in labels {
            name.push('.');
            name.push_str(&v);
        }
        *out.entry(name).or_default() += value;
    }
    out
}

/// `name{a="x",b="y"} 1.5` → (`name`, [`x`, `y`], 1.5).
fn split_line(line: &str) -> Option<(&str, Vec<String>, f64)> {
    let (series, rest) = match line.find('{') {
        Some(open) => (&line[..open], &line[open + 1..]),
        None => {
            let (series, value) = line.split_once(' ')?;
            return Some((series, Vec::new(), value.trim().parse().ok()?));
        }
    };
    let mut values = Vec::new();
    let mut chars = rest.char_indices();
    let after = loop {
        // `key="value"` pairs until `}`.
        let (_, c) = chars.next()?;
        match c {
            '}' => break chars.next().map(|(i, _)| i)?,
            ',' | ' ' => continue,
            _ => {}
        }
        while chars.next()?.1 != '"' {}
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '"' => break,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                other => value.push(other),
            }
        }
        values.push(value);
    };
    let value = rest[after..].trim().split(' ').next()?.parse().ok()?;
    Some((series, values, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::DeliveryOutcome;
    use std::time::Duration;

    #[test]
    fn counters_are_named_by_family_and_label_values() {
        let m = Metrics::new();
        m.delivery(Some("pull_request"), DeliveryOutcome::Queued);
        m.delivery(Some("pull_request"), DeliveryOutcome::Queued);
        m.aws_call("CreateAccessKey", "ok");
        m.github_call("GET", "/repos/acme/r/pulls/7/files", "ok".into());
        m.intent_moved("creating", "issued", None);
        m.work_done(Duration::from_millis(1500));
        let f = m.figures();
        assert_eq!(f["deliveries.pull_request.queued"], 2.0);
        assert_eq!(f["aws_calls.CreateAccessKey.ok"], 1.0);
        assert_eq!(f["github_calls.GET /repos/*/*/pulls/*/files.ok"], 1.0);
        assert_eq!(f["issuances.issued"], 1.0);
        assert_eq!(f["work_duration_seconds.sum"], 1.5);
        assert_eq!(f["work_duration_seconds.count"], 1.0);
        assert!(
            f.keys()
                .all(|k| !k.contains("bucket") && !k.starts_with("keys")),
            "no buckets, no gauges: {f:?}"
        );
    }

    #[test]
    fn only_what_grew_during_the_invocation_is_reported() {
        let m = Metrics::new();
        m.aws_call("ListAccessKeys", "ok");
        let before = m.figures();
        m.aws_call("ListAccessKeys", "ok");
        m.aws_call("CreateSecret", "ThrottlingException");
        let grew = growth(&before, &m.figures());
        assert_eq!(
            grew,
            Figures::from([
                ("aws_calls.CreateSecret.ThrottlingException".into(), 1.0),
                ("aws_calls.ListAccessKeys.ok".into(), 1.0),
            ])
        );
        assert!(growth(&m.figures(), &m.figures()).is_empty());
    }

    #[test]
    fn a_document_declares_namespace_dimension_and_each_metric_it_carries() {
        let figures = Figures::from([
            ("deliveries.pull_request.queued".into(), 1.0),
            ("work_duration_seconds.sum".into(), 0.25),
        ]);
        let docs = documents(&figures, "acme-keygate", "http", 1_700_000_000_123);
        assert_eq!(docs.len(), 1);
        assert!(!docs[0].contains('\n'), "one line");
        let doc: Value = serde_json::from_str(&docs[0]).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "keygate");
        assert_eq!(directive["Dimensions"], json!([["function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "deliveries.pull_request.queued", "Unit": "Count"},
                {"Name": "work_duration_seconds.sum", "Unit": "Seconds"},
            ])
        );
        assert_eq!(doc["function"], "acme-keygate");
        assert_eq!(doc["invocation"], "http");
        assert_eq!(doc["deliveries.pull_request.queued"], 1.0);
        assert_eq!(doc["work_duration_seconds.sum"], 0.25);
    }

    #[test]
    fn more_metrics_than_emf_allows_are_split_across_documents() {
        let figures: Figures = (0..150).map(|i| (format!("m{i:03}"), 1.0)).collect();
        let docs = documents(&figures, "f", "sqs", 0);
        assert_eq!(docs.len(), 2);
        let sizes: Vec<usize> = docs
            .iter()
            .map(|d| {
                let v: Value = serde_json::from_str(d).unwrap();
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [100, 50]);
    }

    #[test]
    fn escaped_label_values_read_back_as_written() {
        let text = "keygate_aws_calls_total{operation=\"Op\",status=\"a\\\"b\\\\c\"} 3\n# EOF\n";
        assert_eq!(
            parse(text),
            Figures::from([("aws_calls.Op.a\"b\\c".into(), 3.0)])
        );
    }
}
