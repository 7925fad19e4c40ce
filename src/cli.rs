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
    /// Run one check once, in-process, as a Nagios plugin: print `STATUS: text | perfdata`
    /// and exit 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN: timeout, usage error).
    ///
    ///   headroom check ELB_CERTIFICATE --config FILE [--host TARGET]
    ///   headroom check cert -H storage.example.com -p 443 -w 30 -c 15
    ///   headroom check memcached -H 127.0.0.1:11211 -w 0.1 -c 0.5
    ///   headroom check mysql -H db:3306 -u monitor --password-env PW --metric connections -w 80 -c 90
    #[command(verbatim_doc_comment)]
    Check {
        #[command(subcommand)]
        mode: CheckMode,
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
    /// Print each CloudWatch target's poll plan: queries, GetMetricData calls, billed
    /// metrics and cost per month, beside what YACE's model (one billed metric per
    /// statistic) would make of the same metrics.
    Plan {
        /// The YAML configuration file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Thresholds and timeout shared by the ad-hoc checks.
#[derive(Debug, Clone, clap::Args)]
pub struct Thresholds {
    /// WARNING range (plugin guideline syntax: 10, 10:, ~:10, 10:20, @10:20).
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub warning: Option<String>,
    /// CRITICAL range.
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub critical: Option<String>,
    /// Seconds before the check gives up with UNKNOWN.
    #[arg(short, long, value_name = "SECONDS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Debug, Subcommand)]
pub enum CheckMode {
    /// A TLS certificate: days left against -w/-c (whole days, e.g. -w 30 -c 15 warns below
    /// 30 and is critical below 15), CRITICAL if expired, not yet valid, for another host or
    /// untrusted. The OK line is the seed's ELB_CERTIFICATE line.
    Cert {
        /// Host name or address to connect to.
        #[arg(short = 'H', long)]
        host: String,
        #[arg(short, long, default_value_t = 443)]
        port: u16,
        /// Name to send as SNI and check the certificate against (default: -H).
        #[arg(long)]
        sni: Option<String>,
        /// PEM file of extra trust anchors.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        #[command(flatten)]
        thresholds: Thresholds,
    },
    /// memcached `stats`: its response time in seconds (default), or the hit ratio in percent.
    Memcached {
        /// host:port (port 11211 if omitted).
        #[arg(short = 'H', long)]
        host: String,
        #[arg(long, value_enum, default_value_t = MemcachedMetric::Response)]
        metric: MemcachedMetric,
        #[command(flatten)]
        thresholds: Thresholds,
    },
    /// MySQL / MariaDB: connections in use (% of max_connections, default), replica lag (s),
    /// threads running, or transactions per second (two polls one second apart).
    Mysql {
        /// host:port (port 3306 if omitted).
        #[arg(short = 'H', long)]
        host: String,
        #[arg(short, long)]
        user: String,
        /// Environment variable holding the password.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        /// File holding the password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = MysqlMetric::Connections)]
        metric: MysqlMetric,
        #[command(flatten)]
        thresholds: Thresholds,
    },
    /// Any check of a configuration (shipped or your own) by name, e.g. MEMCACHE_HITRATE.
    #[command(external_subcommand)]
    Named(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MemcachedMetric {
    Response,
    Hitrate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MysqlMetric {
    Connections,
    ReplicaLag,
    ThreadsRunning,
    Tps,
}

/// `headroom check NAME --config FILE [--host TARGET]`.
#[derive(Debug, Parser)]
#[command(name = "headroom check NAME", no_binary_name = true)]
pub struct NamedCheck {
    /// The check's name, e.g. ELB_CERTIFICATE.
    pub name: String,
    /// The configuration that defines the check and its targets.
    #[arg(short = 'C', long, value_name = "FILE", env = "HEADROOM_CONFIG")]
    pub config: PathBuf,
    /// The target to check, when the check runs on several.
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Seconds before the check gives up with UNKNOWN (default: the target's timeout).
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}
