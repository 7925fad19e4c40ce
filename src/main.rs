use std::process::ExitCode;

use clap::Parser;
use headroom::cli::{Cli, Command, ConfigCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    headroom::telemetry::init_logging();
    // Exactly one rustls crypto provider for the whole process (aws-lc-rs, which the AWS SDK
    // uses too); with two in the dependency graph `ClientConfig::builder()` would panic.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    match cli.command {
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match headroom::app::check_config(&file) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config, listen } => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("headroom: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(headroom::app::run(&config, listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("headroom: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
