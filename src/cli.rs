//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// headroom polls memcached, MySQL/MariaDB (and its replicas), TLS endpoints (the whole
/// served chain), HTTP and WebDAV endpoints (timed by phase, from this agent's vantage), DNS,
/// a migration's copy job, the source hosts' disks (SMART, from smartctl) and AWS (CloudWatch,
/// classic and v2 load balancers, ElastiCache, RDS),
/// keeps the latest values in memory, serves them as Prometheus metrics on /metrics (a scrape
/// never triggers a poll), runs Nagios-style checks on them, says GO or NO-GO for D-day
/// (/dday), and plans capacity.
///
/// Quick start:  headroom run --config examples/demo.yaml
/// Check a file: headroom config check /etc/headroom/config.yaml
/// A migration:  headroom migration plan --size 2PB --files 1e9 --bandwidth 100Mbps --efficiency 0.8
/// D-day:        headroom dday --config /etc/headroom/config.yaml   (exit 0 GO, 2 NO-GO, 3 cannot tell)
/// Logging:      RUST_LOG=debug headroom run ...   (default: info, to stderr)
/// Install:      deploy/headroom.service (systemd), headroom completions bash, headroom man --dir DIR
#[derive(Debug, Parser)]
#[command(
    name = "headroom",
    version,
    about,
    long_about,
    verbatim_doc_comment,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `headroom check` alone: [`Cli`] without its other subcommands, for `main` to parse a
/// command line whose first argument is `check`. A Nagios server runs that command
/// thousands of times an hour, and clap builds every subcommand's arguments and help text
/// before it parses: for the whole tree that is some 160 KiB of heap, 40 page faults a run.
/// The `check` subcommand is one type, [`CheckCommand`], in both, so its help, errors and
/// values are the same (a test compares them).
#[derive(Debug, Parser)]
#[command(name = "headroom", version, propagate_version = true)]
pub struct CheckCli {
    #[command(subcommand)]
    pub command: CheckCommand,
}

impl From<CheckCli> for Cli {
    fn from(c: CheckCli) -> Self {
        Cli {
            command: Command::Check(c.command),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Run one check once, in-process, as a Nagios plugin: print `STATUS: text | perfdata`
    /// and exit 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN: timeout, usage error).
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        #[command(subcommand)]
        mode: CheckMode,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every configured target and serve /metrics, /status, /dday,
    /// /healthz and /-/ready.
    ///
    /// SIGTERM or SIGINT stop it cleanly; SIGHUP re-reads the config file (a bad file is
    /// reported and the running config kept).
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        /// The YAML configuration file.
        #[arg(short, long, value_name = "FILE", env = "HEADROOM_CONFIG")]
        config: PathBuf,
        /// Listen here instead of the config's `listen:`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Poll only shard I of N (numbered from 0): the targets whose name Prometheus'
        /// `hashmod` puts in bucket I. N agents started with 0/N .. N-1/N on one config
        /// poll every target exactly once; each one's checks, /status and /dday cover its
        /// shard and say so. It reads the secrets of its own targets only.
        #[arg(long, value_name = "I/N", env = "HEADROOM_SHARD")]
        shard: Option<crate::config::shard::Shard>,
        /// Protect every endpoint with TLS (mutual TLS too) and basic auth, as configured in
        /// FILE, in the web configuration format Prometheus' exporters share
        /// (exporter-toolkit): tls_server_config, http_server_config.headers,
        /// basic_auth_users (bcrypt hashes). Relative paths in it are relative to its
        /// directory; SIGHUP re-reads it (a bad file keeps the running one). Without it:
        /// plain HTTP, no authentication. See docs/running.md.
        #[arg(
            long = "web.config.file",
            value_name = "FILE",
            env = "HEADROOM_WEB_CONFIG_FILE"
        )]
        web_config_file: Option<PathBuf>,
    },
    #[command(flatten)]
    Check(CheckCommand),
    /// GO or NO-GO for D-day, as the running daemon judges it (its /api/dday): one line per
    /// criterion with the reason, and the exit code a runbook gates on: 0 GO, 2 NO-GO,
    /// 3 when it cannot tell (no daemon answers, a bad config or answer).
    #[command(after_help = DDAY_EXAMPLES)]
    Dday(DdayArgs),
    /// Work with configuration files: validate one, or print its CloudWatch poll plan.
    #[command(after_help = CONFIG_EXAMPLES)]
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Database capacity from the history headroom records (the embedded file) or a
    /// Prometheus-compatible server keeps of headroom's MySQL series: TPS ceilings per
    /// resource, the bottleneck, headroom, time to saturation, the smallest class that keeps
    /// 30% headroom.
    #[command(after_help = CAPACITY_EXAMPLES)]
    Capacity {
        #[command(subcommand)]
        command: CapacityCommand,
    },
    /// Plan data migrations: how long a copy takes, the bandwidth a deadline needs.
    #[command(after_help = MIGRATION_EXAMPLES)]
    Migration {
        #[command(subcommand)]
        command: MigrationCommand,
    },
    /// Print an RDS IAM database authentication token, signed with the AWS credentials of
    /// the default provider chain as `aws rds generate-db-auth-token` signs it (valid 15
    /// minutes), to compare with the AWS CLI's or to log in with the mysql client.
    #[command(after_help = RDS_TOKEN_EXAMPLES)]
    RdsToken(RdsTokenArgs),
    /// Print the shell completion script for SHELL to standard output.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output, or write one page per command
    /// (headroom.1, headroom-run.1, ...) into a directory.
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// Write headroom.1 and a page per subcommand here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `headroom rds-token`: what `aws rds generate-db-auth-token` takes.
#[derive(Debug, clap::Args)]
pub struct RdsTokenArgs {
    /// The instance's endpoint, as clients connect to it (the token is signed for it).
    #[arg(long, value_name = "HOST")]
    pub host: String,
    #[arg(long, default_value_t = 3306)]
    pub port: u16,
    /// The database user, created `IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`.
    #[arg(long)]
    pub user: String,
    /// The instance's AWS region (default: $AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
}

/// `headroom dday`.
#[derive(Debug, clap::Args)]
pub struct DdayArgs {
    /// The daemon's config file: ask the daemon at its `listen:` address (only `listen:` is
    /// read).
    #[arg(
        short,
        long,
        value_name = "FILE",
        env = "HEADROOM_CONFIG",
        conflicts_with = "url"
    )]
    pub config: Option<PathBuf>,
    /// The daemon's base URL, e.g. http://127.0.0.1:9469.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Judge in this phase instead of the configured one: before, freeze, cutover, after.
    #[arg(long, value_name = "PHASE")]
    pub phase: Option<String>,
    /// `text` (one line per criterion) or `json` (the board as /api/dday gives it).
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    pub format: String,
    /// How long to wait for the daemon's answer, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// With --config: ask over HTTPS (the daemon runs with a --web.config.file that has
    /// `tls_server_config`). With --url, the URL's scheme says it.
    #[arg(long)]
    pub tls: bool,
    /// PEM file of the CA that signed the daemon's certificate, trusted instead of the
    /// system's roots (a private CA, a self-signed certificate).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a daemon that requires one (`client_auth_type:
    /// RequireAndVerifyClientCert`); with --key-file.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// User for HTTP basic authentication (`basic_auth_users` in the daemon's web config).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Environment variable holding the basic-auth password.
    #[arg(
        long,
        value_name = "VAR",
        requires = "user",
        conflicts_with = "password_file"
    )]
    pub password_env: Option<String>,
    /// File holding the basic-auth password (a trailing line end is ignored).
    #[arg(long, value_name = "FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// The report on the database as it runs now (HTML for people, Markdown for tickets, JSON
    /// for tools); on every database in the history without --db.
    #[command(after_help = CAPACITY_REPORT_EXAMPLES)]
    Report {
        #[command(flatten)]
        history: HistoryArgs,
        #[command(flatten)]
        current: CurrentArgs,
    },
    /// Fit the USL to your own (concurrency, throughput) measurements, one `N X` pair per
    /// line on stdin (a benchmark sweep, say), and print σ, κ, λ, the peak and predictions.
    #[command(after_help = CAPACITY_FIT_EXAMPLES)]
    Fit {
        /// Relative residuals (every point alike; the default) or absolute (the e-book's nls).
        #[arg(long, value_enum, default_value_t = Residuals::Relative)]
        residuals: Residuals,
        /// `usl` (σ, κ, λ; one smooth curve) or `knee` (linear rise to saturation, then a
        /// demand that grows with the threads: for benchmark sweeps whose throughput peaks
        /// sharply at one thread per core; see docs/capacity.md#accuracy).
        #[arg(long, value_enum, default_value_t = FitModel::Usl)]
        model: FitModel,
        /// Concurrencies to predict throughput at, comma-separated.
        #[arg(long, value_delimiter = ',')]
        predict: Vec<f64>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
    },
    /// The same, and the database (--db is required) on another class or storage.
    #[command(after_help = CAPACITY_WHAT_IF_EXAMPLES)]
    WhatIf {
        #[command(flatten)]
        history: HistoryArgs,
        #[command(flatten)]
        current: CurrentArgs,
        /// The class to assess, e.g. db.r5.2xlarge.
        #[arg(long)]
        class: String,
        /// Its storage type (default: the current one).
        #[arg(long, value_parser = clap::value_parser!(crate::capacity::catalog::StorageType))]
        storage: Option<crate::capacity::catalog::StorageType>,
        /// Its allocated storage, GiB (default: the current).
        #[arg(long)]
        gib: Option<f64>,
        /// Its provisioned IOPS (gp3 from 400 GiB, io1, io2).
        #[arg(long)]
        iops: Option<f64>,
    },
}

/// Where the history is and how much of it to read.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("history_from").required(true).args(["config", "store", "prometheus"])))]
pub struct HistoryArgs {
    /// headroom's config file: its `history:` (the embedded file or a Prometheus server), its
    /// `catalog:`, and what each database runs on (`capacity:` targets, `mysql[].rds_instance`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The embedded history file the daemon records (`history.sqlite`, by default
    /// headroom-history.sqlite beside its config file).
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Prometheus-compatible server that scrapes headroom (its HTTP API base URL).
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// The database (its mysql target's name) to assess. Default: every database in the
    /// history.
    #[arg(long)]
    pub db: Option<String>,
    /// Assess only the databases of shard I of N, as `headroom run --shard I/N` polls them
    /// (Prometheus' hashmod of the database's name); the report says so.
    #[arg(long, value_name = "I/N", env = "HEADROOM_SHARD")]
    pub shard: Option<crate::config::shard::Shard>,
    /// Days of history to read.
    #[arg(long, default_value_t = 7.0)]
    pub days: f64,
    /// Days ahead the recommendation must hold.
    #[arg(long, default_value_t = 90.0)]
    pub horizon: f64,
    /// What each point averages (and the least step of the query), e.g. 1m. Prometheus
    /// history only: the embedded one has minutes (hours past 14 days).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub resolution: std::time::Duration,
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The instance the database runs on: from headroom's RDS facts, or given. Without either,
/// from the config (with --config) or from the facts recorded in the embedded history.
#[derive(Debug, Clone, clap::Args)]
pub struct CurrentArgs {
    /// Read class, storage type, size and IOPS of this RDS instance as headroom's rds target
    /// saw it (headroom_rds_* series, or the facts recorded with the embedded history), and
    /// its CPU from AWS/RDS CPUUtilization.
    #[arg(long, value_name = "ID", conflicts_with = "current_class")]
    pub rds_instance: Option<String>,
    /// The class it runs on, e.g. db.r5.large (with --current-storage and --current-gib).
    #[arg(long, value_name = "CLASS", requires_all = ["current_storage", "current_gib"])]
    pub current_class: Option<String>,
    /// Its storage type: gp2, gp3, io1 or io2.
    #[arg(long, value_name = "TYPE", requires = "current_class")]
    pub current_storage: Option<crate::capacity::catalog::StorageType>,
    /// Its allocated storage, GiB.
    #[arg(long, value_name = "GIB", requires = "current_class")]
    pub current_gib: Option<f64>,
    /// Its provisioned IOPS (gp3 from 400 GiB, io1, io2).
    #[arg(long, value_name = "IOPS", requires = "current_class")]
    pub current_iops: Option<f64>,
    /// AWS region whose prices (catalog/prices.yaml) the report's cost uses, e.g.
    /// us-east-1. Default: the `region` of the database's capacity target in --config;
    /// without either, the report has no cost.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FitModel {
    /// The Universal Scalability Law.
    Usl,
    /// Asymptotic bounds with a demand growing past the knee (relative residuals only).
    Knee,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Residuals {
    Relative,
    Absolute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown, for tickets.
    Md,
    /// JSON (docs/capacity-report.schema.json), for tools.
    Json,
    /// One HTML page with SVG charts (no scripts, no external files), for people.
    Html,
}

#[derive(Debug, Subcommand)]
pub enum MigrationCommand {
    /// How long moving a data set takes, what bandwidth a deadline needs, and what per-file
    /// overhead adds.
    ///
    /// Sizes are bytes (B, kB, MB, GB, TB, PB, EB; KiB ... EiB), bandwidths bits per second
    /// (bps, kbps, Mbps, Gbps, Tbps, Gbit/s) or bytes per second (MB/s, MiB/s, GB/s). Units
    /// are required and case matters: 2Pb (bits) and 100mbps (millibits) are refused.
    #[command(after_help = MIGRATION_PLAN_EXAMPLES)]
    Plan(MigrationPlan),
}

/// `headroom migration plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrationPlan {
    /// Bytes to move, e.g. 2PB or 1.5PiB.
    #[arg(long, value_parser = crate::capacity::transfer::parse_size)]
    pub size: f64,
    /// How many files they are in, e.g. 1e9.
    #[arg(long, value_parser = crate::capacity::transfer::parse_count)]
    pub files: Option<f64>,
    /// Link bandwidth, e.g. 100Mbps, 10Gbps, 125MB/s.
    #[arg(long, value_parser = crate::capacity::transfer::parse_bandwidth)]
    pub bandwidth: f64,
    /// Share of the link the copy really gets (protocol overhead, other traffic), 0 < e <= 1.
    #[arg(long, default_value_t = 1.0, value_parser = parse_efficiency)]
    pub efficiency: f64,
    /// Finish by this date (YYYY-MM-DD, UTC midnight): prints the bandwidth it needs.
    #[arg(long, value_name = "DATE", value_parser = crate::time::parse_date)]
    pub deadline: Option<i64>,
    /// Fixed cost per file (round trips, metadata), e.g. 10ms. Needs --files.
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    pub per_file_overhead: std::time::Duration,
    /// Files copied at once (per-file overhead overlaps across them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub streams: u32,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

fn parse_efficiency(s: &str) -> Result<f64, String> {
    let e: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give a fraction such as 0.8"))?;
    if e > 0.0 && e <= 1.0 {
        Ok(e)
    } else if e > 1.0 && e <= 100.0 {
        Err(format!("{s} is more than 1: give a fraction (0.8 for 80%)"))
    } else {
        Err(format!("{s} is not in (0, 1]"))
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<crate::config::Duration>()
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file: print every error as FILE:LINE:COLUMN: message and exit
    /// 1, or print a summary and exit 0. Secrets are read to check they exist, never printed.
    #[command(after_help = CONFIG_CHECK_EXAMPLES)]
    Check {
        #[command(flatten)]
        file: ConfigFileArg,
    },
    /// Print each CloudWatch target's poll plan: queries, GetMetricData calls, billed
    /// metrics and cost per month, beside what YACE's model (one billed metric per
    /// statistic) would make of the same metrics.
    #[command(after_help = CONFIG_PLAN_EXAMPLES)]
    Plan {
        #[command(flatten)]
        file: ConfigFileArg,
    },
}

/// The file of `config check` and `config plan`: given as an argument, or with `-c` as `run`
/// takes it.
#[derive(Debug, clap::Args)]
pub struct ConfigFileArg {
    /// The YAML configuration file.
    #[arg(value_name = "FILE", required_unless_present = "config")]
    file: Option<PathBuf>,
    /// The same file, as `run` takes it.
    #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
    config: Option<PathBuf>,
}

impl ConfigFileArg {
    /// The file given.
    pub fn path(&self) -> &std::path::Path {
        self.file
            .as_deref()
            .or(self.config.as_deref())
            .expect("clap requires FILE or --config")
    }
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
    /// A TLS certificate chain: days left on the earliest-expiring certificate the server
    /// sends (leaf or intermediate, named when it is not the leaf) against -w/-c (whole days,
    /// e.g. -w 30 -c 15 warns below 30 and is critical below 15); CRITICAL if one is expired
    /// or not yet valid, the leaf is for another host or untrusted, a certificate is signed
    /// with SHA-1 or weaker (a root the server sends aside), or the stapled OCSP response
    /// says revoked (WARNING if it says unknown or is stale). The OK line is the one
    /// HariSekhon/Nagios-Plugins' check_ssl_cert.pl prints, plus the hash algorithm.
    #[command(after_help = CHECK_CERT_EXAMPLES)]
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
        /// Do not verify the chain against trust anchors (an internal endpoint whose private
        /// CA you do not have): expiry, host name, signatures and OCSP are still checked.
        /// check_ssl_cert's -A/--noauth; --insecure as curl users know it.
        #[arg(
            short = 'A',
            long,
            visible_alias = "insecure",
            conflicts_with = "ca_file"
        )]
        noauth: bool,
        #[command(flatten)]
        thresholds: Thresholds,
    },
    /// memcached `stats`: its response time in seconds (default), or the hit ratio in percent.
    #[command(after_help = CHECK_MEMCACHED_EXAMPLES)]
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
    /// replica threads running (IO and SQL: CRITICAL below 2 unless -c says otherwise), threads
    /// running, or transactions per second (two polls one second apart).
    #[command(after_help = CHECK_MYSQL_EXAMPLES)]
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
        #[command(flatten)]
        ssl: MysqlSslArgs,
        /// Log in with an RDS IAM authentication token signed for this AWS region (as `auth:
        /// iam` does) instead of a password; TLS only (default --ssl-mode VERIFY_IDENTITY).
        #[arg(long, value_name = "REGION", conflicts_with_all = ["password_env", "password_file"])]
        iam_region: Option<String>,
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

/// The TLS options of `check mysql`, named as the mysql client's.
#[derive(Debug, Clone, clap::Args)]
pub struct MysqlSslArgs {
    /// DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY, as the mysql client's
    /// --ssl-mode (default: VERIFY_CA with --ssl-ca, else DISABLED), e.g. --ssl-mode
    /// VERIFY_IDENTITY --ssl-ca rds-global-bundle.pem.
    #[arg(long, value_name = "MODE", value_parser = parse_ssl_mode)]
    pub ssl_mode: Option<crate::sources::mysql::SslMode>,
    /// PEM file of the CA certificates that sign the server's certificate.
    #[arg(long, value_name = "FILE")]
    pub ssl_ca: Option<PathBuf>,
    /// PEM file of the client certificate (for a user created REQUIRE X509).
    #[arg(long, value_name = "FILE", requires = "ssl_key")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[arg(long, value_name = "FILE", requires = "ssl_cert")]
    pub ssl_key: Option<PathBuf>,
}

fn parse_ssl_mode(s: &str) -> Result<crate::sources::mysql::SslMode, String> {
    s.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MysqlMetric {
    Connections,
    ReplicaLag,
    ReplicaRunning,
    ThreadsRunning,
    Tps,
}

/// `headroom check NAME --config FILE [--host TARGET]`.
#[derive(Debug, Parser)]
#[command(
    name = "headroom check NAME",
    no_binary_name = true,
    after_help = CHECK_NAMED_EXAMPLES
)]
pub struct NamedCheck {
    /// The check's name, e.g. ELB_CERTIFICATE.
    pub name: String,
    /// The configuration that defines the check and its targets. Only the secrets of the
    /// target the check polls are read: another target's password variable may be unset.
    #[arg(short = 'C', long, value_name = "FILE", env = "HEADROOM_CONFIG")]
    pub config: PathBuf,
    /// The host to check, as the daemon names it on /status and in its pushes: a target
    /// (db-1), a discovered one (cache-us/my-mem-cluster/0001, or my-mem-cluster/0001 when
    /// unique), or the resource of a per-resource check (my-mem-cluster-0001, an RDS instance
    /// id). Needed when the check runs on several. A host no configured target has is looked
    /// for among what the configured ones discover (one poll of each).
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Seconds before the check gives up with UNKNOWN (default: the target's timeout).
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

// The "Examples:" section every subcommand's --help ends with (clap's `after_help`, shown by
// both -h and --help). `tests/it/cli.rs` runs --help for every subcommand and looks for it.

const RUN_EXAMPLES: &str = "\
Examples:
  headroom run --config examples/demo.yaml
  headroom run --config /etc/headroom/config.yaml --listen 127.0.0.1:9469
  headroom run --config /etc/headroom/config.yaml --shard 0/3     # the first of three agents
  headroom run --config config.yaml --web.config.file web.yml     # TLS and basic auth
  RUST_LOG=debug headroom run --config config.yaml                # more logging (stderr)";

const CHECK_EXAMPLES: &str = "\
Examples:
  headroom check ELB_CERTIFICATE --config /etc/headroom/config.yaml --host elb-prod
  headroom check MEMCACHE_RESPONSE --config config.yaml --host cache-us/my-mem-cluster/0001
  headroom check cert -H storage.example.com -p 443 -w 30 -c 15
  headroom check memcached -H 127.0.0.1:11211 -w 0.1 -c 0.5
  headroom check mysql -H db:3306 -u monitor --password-env PW --metric connections -w 80 -c 90
Each mode has its own help: headroom check cert --help";

const CHECK_CERT_EXAMPLES: &str = "\
Examples:
  headroom check cert -H storage.example.com -w 30 -c 15
  headroom check cert -H 10.0.0.5 -p 8443 --sni storage.example.com --ca-file internal-ca.pem
  headroom check cert -H intranet.local --insecure -w 14 -c 7   # a private CA you do not have";

const CHECK_MEMCACHED_EXAMPLES: &str = "\
Examples:
  headroom check memcached -H 127.0.0.1:11211 -w 0.1 -c 0.5              # response time, s
  headroom check memcached -H cache1 --metric hitrate -w 90: -c 80:      # hit ratio below 90% warns";

const CHECK_MYSQL_EXAMPLES: &str = "\
Examples:
  headroom check mysql -H db:3306 -u monitor --password-env PW -w 80 -c 90
  headroom check mysql -H replica1 -u monitor --password-file /etc/headroom/pw --metric replica-lag -w 30 -c 300
  headroom check mysql -H db1.abc.us-west-2.rds.amazonaws.com -u monitor --iam-region us-west-2 --metric tps";

const CHECK_NAMED_EXAMPLES: &str = "\
Examples:
  headroom check MEMCACHE_HITRATE --config /etc/headroom/config.yaml
  headroom check ELB_CERTIFICATE -C /etc/headroom/config.yaml -H elb-prod -t 20";

const DDAY_EXAMPLES: &str = "\
Examples:
  headroom dday --config /etc/headroom/config.yaml     # the daemon at the config's listen:
  headroom dday --url http://agent-eu:9469 --phase cutover --format json";

const CONFIG_EXAMPLES: &str = "\
Examples:
  headroom config check /etc/headroom/config.yaml
  headroom config plan /etc/headroom/config.yaml";

const CONFIG_CHECK_EXAMPLES: &str = "\
Examples:
  headroom config check /etc/headroom/config.yaml
  headroom config check -c examples/demo.yaml && systemctl reload headroom";

const CONFIG_PLAN_EXAMPLES: &str = "\
Examples:
  headroom config plan /etc/headroom/config.yaml";

const CAPACITY_EXAMPLES: &str = "\
Examples:
  headroom capacity report --config /etc/headroom/headroom.yaml --format html --out capacity.html
  headroom capacity report --store /var/lib/headroom/headroom-history.sqlite --db db1 --format json
  headroom capacity what-if --config headroom.yaml --db db1 --class db.r5.2xlarge --storage gp3 --iops 12000
  printf '1 955\\n2 1879\\n4 3549\\n' | headroom capacity fit --predict 8";

const CAPACITY_REPORT_EXAMPLES: &str = "\
Examples:
  headroom capacity report --config /etc/headroom/headroom.yaml --format html --out capacity.html
  headroom capacity report --store /var/lib/headroom/headroom-history.sqlite --db db1 --format json
  headroom capacity report --prometheus http://prom:9090 --db osdp-db-proddc1 --rds-instance osdp-db-proddc1
  headroom capacity report --prometheus URL --db db1 --current-class db.r5.large --current-storage gp3 --current-gib 500";

const CAPACITY_FIT_EXAMPLES: &str = "\
Examples:
  printf '1 955\\n2 1879\\n4 3549\\n8 6531\\n16 9897\\n32 12074\\n' | headroom capacity fit --predict 24,48
  headroom capacity fit --residuals absolute --format json < sweep.txt";

const CAPACITY_WHAT_IF_EXAMPLES: &str = "\
Examples:
  headroom capacity what-if --config headroom.yaml --db db1 --class db.r5.2xlarge --storage gp3 --iops 12000
  headroom capacity what-if --store headroom-history.sqlite --db db1 --current-class db.r5.large \\
    --current-storage gp2 --current-gib 500 --class db.r6g.xlarge";

const MIGRATION_EXAMPLES: &str = "\
Examples:
  headroom migration plan --size 2PB --files 1e9 --bandwidth 100Mbps --efficiency 0.8
  headroom migration plan --size 2PB --bandwidth 1Gbps --deadline 2027-06-30";

const MIGRATION_PLAN_EXAMPLES: &str = "\
Examples:
  headroom migration plan --size 2PB --files 1e9 --bandwidth 100Mbps --efficiency 0.8
  headroom migration plan --size 2PB --bandwidth 1Gbps --deadline 2027-06-30
  headroom migration plan --size 500TiB --files 2e8 --bandwidth 10Gbps --per-file-overhead 20ms --streams 32 --format json";

const RDS_TOKEN_EXAMPLES: &str = "\
Examples:
  headroom rds-token --host db1.abc.us-west-2.rds.amazonaws.com --user monitor --region us-west-2
  mysql -h db1.abc.us-west-2.rds.amazonaws.com -u monitor --enable-cleartext-plugin \\
    --ssl-mode=VERIFY_IDENTITY --ssl-ca=global-bundle.pem \\
    --password=\"$(headroom rds-token --host db1.abc.us-west-2.rds.amazonaws.com --user monitor)\"";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  headroom completions bash > /etc/bash_completion.d/headroom
  headroom completions zsh > \"${fpath[1]}/_headroom\"
  headroom completions fish > ~/.config/fish/completions/headroom.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  headroom man | man -l -
  headroom man --dir /usr/local/share/man/man1";

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// What clap makes of `args`: the parsed command, or the text and kind of its error
    /// (help, version, usage errors with their suggestions).
    fn outcome<P: Parser + Into<Cli>>(args: &[&str]) -> String {
        match P::try_parse_from(args) {
            Ok(p) => format!("{:?}", p.into()),
            Err(e) => format!("{:?}: {}", e.kind(), e),
        }
    }

    /// `main` parses `headroom check …` with [`CheckCli`]: it must answer every such command
    /// line exactly as the whole [`Cli`] does.
    #[test]
    fn check_cli_parses_as_the_whole_cli() {
        let modes: Vec<String> = CheckCli::command()
            .find_subcommand("check")
            .expect("check")
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert!(modes.len() >= 3, "{modes:?}");
        let mut lines: Vec<Vec<String>> = [
            vec!["check"],
            vec!["check", "--help"],
            vec!["check", "-h"],
            vec!["check", "--version"],
            vec!["check", "memcahced"],
            vec![
                "check",
                "memcached",
                "-H",
                "127.0.0.1:11211",
                "-w",
                "0.5",
                "-c",
                "1",
            ],
            vec!["check", "memcached", "--host", "m:1", "--metric", "hitrate"],
            vec!["check", "memcached", "-H", "m:1", "--metric", "hitrat"],
            vec!["check", "cert", "-H", "example.com", "-p", "not-a-port"],
            vec!["check", "MEMCACHE_HITRATE", "--config", "c.yaml", "-H", "m"],
        ]
        .iter()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .collect();
        for m in &modes {
            for extra in [&["--help"][..], &[], &["--hots", "x"], &["-H"]] {
                let mut l = vec!["check".to_string(), m.clone()];
                l.extend(extra.iter().map(|s| s.to_string()));
                lines.push(l);
            }
        }
        for l in lines {
            let args: Vec<&str> = std::iter::once("headroom")
                .chain(l.iter().map(String::as_str))
                .collect();
            let whole = outcome::<Cli>(&args);
            assert_eq!(outcome::<CheckCli>(&args), whole, "{args:?}");
            assert!(!whole.is_empty());
        }
    }
}
