use std::process::ExitCode;

use clap::Parser;
use keygate::cli::{Cli, LogFormat, run};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The AWS SDK and HTTP layers stay at `info` whatever KEYGATE_LOG says: at trace level
    // they would log request and response bodies, and a CreateAccessKey response holds a
    // secret access key.
    let wanted = std::env::var("KEYGATE_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(format!(
        "{wanted},aws_smithy_runtime=info,aws_smithy_http=info,aws_smithy_runtime_api=info,aws_sdk_iam=info,aws_sdk_secretsmanager=info,hyper=info,hyper_util=info,h2=info,rustls=info"
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
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
