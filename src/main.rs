use std::process::ExitCode;

use clap::Parser;
use keygate::cli::{Cli, LogFormat, run};
use tracing::Level;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, filter, fmt};

/// Targets that see raw requests and responses. A CreateSecret request body holds a secret
/// access key, so these never log below `info`, whatever KEYGATE_LOG asks for.
const TRANSPORT: [&str; 8] = [
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "hyper",
    "h2",
    "rustls",
    "octocrab",
    "tower",
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let wanted = std::env::var("KEYGATE_LOG").unwrap_or_else(|_| "info".into());
    let levels = EnvFilter::try_new(&wanted).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second, fixed filter: no directive, however specific, lifts the transport cap.
    let cap = filter::filter_fn(|m| {
        let transport = TRANSPORT.iter().any(|p| m.target().starts_with(p));
        !(transport && *m.level() > Level::INFO)
    });
    let layer = fmt::layer().with_writer(std::io::stderr);
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
            // Configuration and usage problems exit 2, as documented.
            if e.downcast_ref::<keygate::config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
