//! The reference pages of the book (docs/src/reference) are checked against the code: every
//! setting, command and flag, SNS event and metric keygate has must be documented there. The
//! lists come from the code itself, so a new one fails here until it is documented.

use clap::CommandFactory;
use keygate::event::NoticeEvent;

fn page(name: &str) -> String {
    let path = format!("{}/docs/src/reference/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn missing<'a>(page: &str, wanted: impl IntoIterator<Item = (String, &'a str)>) -> Vec<&'a str> {
    wanted
        .into_iter()
        .filter(|(needle, _)| !page.contains(needle.as_str()))
        .map(|(_, name)| name)
        .collect()
}

#[test]
fn every_setting_is_in_the_configuration_reference() {
    let text = page("configuration.md");
    let keys = keygate::config::Settings::keys().unwrap();
    assert!(keys.len() > 40, "{keys:?}");
    let absent: Vec<&String> = keys
        .iter()
        .filter(|k| !text.contains(&format!("`{k}`")))
        .collect();
    assert!(
        absent.is_empty(),
        "docs/src/reference/configuration.md does not document {absent:?}"
    );
}

#[test]
fn every_command_and_flag_is_in_the_commands_reference() {
    let text = page("commands.md");
    let cli = keygate::cli::Cli::command();
    let mut absent = Vec::new();
    for arg in cli.get_arguments().filter_map(|a| a.get_long()) {
        if !text.contains(&format!("--{arg}")) {
            absent.push(format!("--{arg}"));
        }
    }
    let commands: Vec<_> = cli.get_subcommands().collect();
    assert!(commands.len() > 10);
    for command in commands {
        let name = command.get_name();
        if name == "help" {
            continue;
        }
        if !text.contains(&format!("`keygate {name}")) {
            absent.push(format!("keygate {name}"));
        }
        for arg in command.get_arguments().filter_map(|a| a.get_long()) {
            if !text.contains(&format!("--{arg}")) {
                absent.push(format!("keygate {name} --{arg}"));
            }
        }
    }
    assert!(
        absent.is_empty(),
        "docs/src/reference/commands.md does not document {absent:?}"
    );
}

#[test]
fn every_notice_event_is_in_the_notices_reference() {
    let text = page("notices.md");
    let absent = missing(
        &text,
        NoticeEvent::ALL
            .iter()
            .map(|e| (format!("| `{}` |", e.as_str()), e.as_str())),
    );
    assert!(
        absent.is_empty(),
        "docs/src/reference/notices.md does not document the events {absent:?}"
    );
}

#[test]
fn every_metric_is_in_the_metrics_reference() {
    let text = page("metrics.md");
    // A family shows in the text once it has a series: one of each.
    let metrics = keygate::metrics::Metrics::new();
    metrics.delivery(
        Some("pull_request"),
        keygate::metrics::DeliveryOutcome::Queued,
    );
    metrics.intent_moved("creating", "issued", None);
    metrics.work_done(std::time::Duration::from_millis(5));
    metrics.github_call("GET", "/app", "ok".into());
    metrics.github_clock_skew(0);
    metrics.aws_call("Publish", "ok");
    let rendered = metrics
        .render(&keygate::metrics::LedgerFigures::default())
        .unwrap();
    let names: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 9, "{rendered}");
    let absent: Vec<&&str> = names
        .iter()
        .filter(|n| !text.contains(&format!("`{n}")))
        .collect();
    assert!(
        absent.is_empty(),
        "docs/src/reference/metrics.md does not document {absent:?}"
    );
}
