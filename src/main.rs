use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use headroom::cli::{CheckCli, CheckCommand, Cli, Command, ConfigCommand, MigrationCommand};

fn main() -> ExitCode {
    // `headroom check` parses with a tree of that subcommand alone (see `CheckCli`).
    let parsed = if std::env::args_os().nth(1).is_some_and(|a| a == "check") {
        CheckCli::try_parse().map(Cli::from)
    } else {
        Cli::try_parse()
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    headroom::telemetry::init_logging();
    // Exactly one rustls crypto provider for the whole process (aws-lc-rs, which the AWS SDK
    // uses too); with two in the dependency graph `ClientConfig::builder()` would panic.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    // Every future `block_on` runs is boxed: inline, the largest of them would set this
    // function's stack frame (tens of KiB, touched page by page on entry by the stack probes
    // even when a small command runs).
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match headroom::commands::config::check_config(file.path()) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Config {
            command: ConfigCommand::Plan { file },
        } => match headroom::commands::config::plan_config(file.path()) {
            Ok(text) => {
                let _ = writeln!(std::io::stdout(), "{text}");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Capacity { command } => {
            let rt = match runtime(false) {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("headroom: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(Box::pin(headroom::commands::capacity::capacity(&command))) {
                Ok(text) => {
                    let _ = writeln!(std::io::stdout(), "{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("headroom: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migration {
            command: MigrationCommand::Plan(p),
        } => match headroom::commands::capacity::migration_plan(&p) {
            Ok(text) => {
                let _ = writeln!(std::io::stdout(), "{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("headroom: {e}");
                ExitCode::from(2)
            }
        },
        Command::Dday(args) => {
            let rt = match runtime(false) {
                Ok(rt) => rt,
                Err(e) => {
                    println!("UNKNOWN: {e}");
                    return ExitCode::from(3);
                }
            };
            let (text, code) = rt.block_on(Box::pin(headroom::commands::dday::run(&args)));
            let _ = writeln!(std::io::stdout(), "{text}");
            ExitCode::from(code)
        }
        Command::Check(CheckCommand::Check { mode }) => {
            let rt = match runtime(false) {
                Ok(rt) => rt,
                Err(e) => {
                    println!("UNKNOWN: {e}");
                    return ExitCode::from(3);
                }
            };
            let (line, code) = rt.block_on(Box::pin(headroom::commands::check::run(mode)));
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::from(code)
        }
        Command::RdsToken(args) => {
            let rt = match runtime(false) {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("headroom: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(Box::pin(headroom::commands::rds_token::run(&args))) {
                Ok(token) => {
                    let _ = writeln!(std::io::stdout(), "{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("headroom: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Completions { shell } => {
            headroom::commands::docs::completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => match headroom::commands::docs::man(dir.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("headroom: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run {
            config,
            listen,
            shard,
            web_config_file,
        } => {
            let rt = match runtime(true) {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("headroom: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(Box::pin(headroom::app::run(
                &config,
                listen,
                shard,
                web_config_file.as_deref(),
            ))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("headroom: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The tokio runtime: several threads for the daemon, one for a command.
fn runtime(daemon: bool) -> Result<tokio::runtime::Runtime, String> {
    let mut b = if daemon {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// A command-line error. For `headroom check`, which Nagios runs as a plugin, the guidelines
/// want exit 3 (UNKNOWN) for usage errors, `--help` and `--version`, and output on stdout.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let is_check = std::env::args().nth(1).as_deref() == Some("check");
    if !is_check {
        e.exit();
    }
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // A closed pipe (`| head`) is no reason to panic.
            let _ = write!(std::io::stdout(), "{e}");
        }
        _ => {
            // One line, as a plugin's output must be: the error, clap's suggestion of the
            // near flag or value if it has one ("tip: a similar argument exists: '--host'"),
            // and where the help is.
            let text = e.to_string();
            let mut lines = text.lines().map(str::trim);
            let first = lines
                .next()
                .unwrap_or("usage error")
                .trim_start_matches("error: ");
            let tip = lines
                .find_map(|l| l.strip_prefix("tip: "))
                .map(|t| format!("; {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                std::io::stdout(),
                "UNKNOWN: {first}{tip} (see headroom check --help)"
            );
        }
    }
    ExitCode::from(3)
}
