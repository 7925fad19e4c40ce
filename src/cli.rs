//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// headroom polls memcached and MySQL (and, later, AWS), keeps the latest values in memory
/// and serves them as Prometheus metrics on /metrics. A scrape never triggers a poll.
///
/// Quick start:  headroom run --config examples/demo.yaml
/// Check a file: headroom config check /etc/headroom/config.yaml
/// Logging:      RUST_LOG=debug headroom run ...   (default: info, to stderr)
#[derive(Debug, Parser)]
#[command(
    name = "headroom",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every configured target and serve /metrics, /healthz and /-/ready.
    ///
    /// SIGTERM or SIGINT stop it cleanly; SIGHUP re-reads the config file (a bad file is
    /// reported and the running config kept).
    Run {
        /// The YAML configuration file.
        #[arg(short, long, value_name = "FILE", env = "HEADROOM_CONFIG")]
        config: PathBuf,
        /// Listen here instead of the config's `listen:`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file: print every error as FILE:LINE:COLUMN: message and exit
    /// 1, or print a summary and exit 0. Secrets are read to check they exist, never printed.
    Check {
        /// The YAML configuration file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}
