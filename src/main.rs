use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use keygate::cli::{Cli, LogFormat, run};
use tracing::Level;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, filter, fmt};

/// Target prefixes of crates that see raw requests and responses. A CreateSecret request body
/// holds a secret access key, and the SigV4 signer (`aws_sigv4`, driven by `aws_runtime`)
/// traces whole canonical requests, so these never log below `info`, whatever KEYGATE_LOG
/// asks for. `aws_` covers every AWS SDK crate, present and future; `lambda_` the Lambda
/// runtime, which traces every event it receives whole (webhooks with their signatures).
const TRANSPORT: [&str; 9] = [
    "aws_", "hyper", "h2", "rustls", "octocrab", "tower", "reqwest", "http", "lambda_",
];

/// Dependencies speak only when `KEYGATE_LOG` names them: keygate logs every failure it
/// meets in its own words, and their lines repeat it, often with debug structures (the AWS
/// SDK's credential chain prints whole HTTP responses). octocrab logs every failed request
/// as an error that keygate reports anyway, so it is off unless named.
const QUIET: [(&str, &str); 9] = [
    ("aws_", "error"),
    ("hyper", "error"),
    ("h2", "error"),
    ("rustls", "error"),
    ("octocrab", "off"),
    ("tower", "error"),
    ("reqwest", "error"),
    ("http", "error"),
    ("lambda_", "error"),
];

/// The filter directives for `KEYGATE_LOG` (`info` when unset or empty): what it asks for,
/// then each quiet dependency it does not name at its quiet level. `KEYGATE_LOG=debug`
/// is keygate's own debug lines; `KEYGATE_LOG=info,aws_config=warn` adds the SDK's warnings.
fn directives(wanted: Option<&str>) -> String {
    let wanted = wanted
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .unwrap_or("info");
    let mut all = wanted.to_string();
    for (target, level) in QUIET {
        if !wanted.contains(target) {
            all.push_str(&format!(",{target}={level}"));
        }
    }
    all
}

/// Whether a log target belongs to a transport crate, and so is capped at `info`.
fn is_transport(target: &str) -> bool {
    TRANSPORT.iter().any(|p| target.starts_with(p))
}

fn main() -> ExitCode {
    let args = keygate::cli::arguments(
        std::env::args_os().collect(),
        std::env::var_os("AWS_LAMBDA_RUNTIME_API"),
    );
    let cli = Cli::parse_from(args);
    let wanted = std::env::var("KEYGATE_LOG").ok();
    let levels = EnvFilter::try_new(directives(wanted.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(None)));
    // A second, fixed filter: no directive, however specific, lifts the transport cap.
    let cap = filter::filter_fn(|m| !(is_transport(m.target()) && *m.level() > Level::INFO));
    // Colour codes only for a person at a terminal, never in a file or a log collector.
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let layer = match cli.log_format {
        LogFormat::Json => layer.json().boxed(),
        LogFormat::Text => layer.boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(levels).with_filter(cap))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keygate: {e:#}");
            // Configuration and usage problems, and a ledger another keygate holds, exit 2.
            if ledger_locked(&e) || e.downcast_ref::<keygate::config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Whether the error says another keygate holds the ledger.
#[cfg(feature = "service")]
fn ledger_locked(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<keygate::ledger::LedgerError>(),
            Some(keygate::ledger::LedgerError::Locked { .. })
        )
    })
}

/// A keygate without the service has no ledger to find locked.
#[cfg(not(feature = "service"))]
fn ledger_locked(_: &anyhow::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::{directives, is_transport};

    #[test]
    fn dependencies_are_quiet_unless_named() {
        let d = directives(None);
        assert!(d.starts_with("info,"), "{d}");
        assert!(
            d.contains("aws_=error") && d.contains("octocrab=off"),
            "{d}"
        );
        assert_eq!(
            directives(Some("  ")),
            d,
            "an empty KEYGATE_LOG is the default"
        );
        let d = directives(Some("debug,aws_config=warn"));
        assert!(d.starts_with("debug,aws_config=warn,"), "{d}");
        assert!(!d.contains("aws_=error"), "named, so not quietened: {d}");
        assert!(d.contains("octocrab=off"), "{d}");
        let d = directives(Some("warn,octocrab=error"));
        assert!(!d.contains("octocrab=off"), "{d}");
    }

    #[test]
    fn the_aws_signer_and_runtime_are_capped_like_the_rest_of_the_sdk() {
        for target in [
            "aws_sigv4::http_request::sign",
            "aws_runtime::auth::sigv4",
            "aws_smithy_runtime::client::orchestrator",
            "aws_sdk_secretsmanager::operation::create_secret",
            "aws_config::default_provider",
        ] {
            assert!(is_transport(target), "{target}");
        }
    }

    #[test]
    fn http_clients_and_servers_are_capped() {
        for target in [
            "hyper::proto::h1::io",
            "hyper_util::client::legacy::pool",
            "h2::codec",
            "rustls::conn",
            "reqwest::connect",
            "octocrab",
            "tower::buffer",
            "tower_http::trace",
            "http_body_util",
            "lambda_runtime::layers::api_response",
            "lambda_runtime_api_client",
        ] {
            assert!(is_transport(target), "{target}");
        }
    }

    #[test]
    fn keygate_own_targets_are_not_capped() {
        for target in [
            "keygate",
            "keygate::aws",
            "keygate::server",
            "keygate::workflow",
        ] {
            assert!(!is_transport(target), "{target}");
        }
    }
}
