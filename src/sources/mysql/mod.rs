//! The MySQL / MariaDB source: `SHOW GLOBAL STATUS`, the variables that matter, every
//! replication connection's status, an optional pt-heartbeat table, the read-only state the
//! migration's phase expects, and a transaction counter that also counts autocommit
//! statements.
//!
//! One connection per target is kept between polls (no pool: a pool's connection reset and
//! health checks would add statements to the counters being measured). Every statement the
//! poller sends is counted, so that `Questions` and `Com_select` can be corrected for
//! headroom's own traffic exactly.

mod parse;
mod ssl;

pub use parse::{
    Counters, FRESH_VARIABLES, HeartbeatRead, OwnStatements, PROCESSLIST_SQL, ProcesslistRow,
    ReplicaRow, Status, StatusOrder, TpsCounter, Window, derived_families, fresh_variables_sql,
    has_default_connection, heartbeat_families, next_baseline, parse_value, processlist_bucket,
    processlist_families, read_only_families, replica_families, status_families, variable_families,
    window,
};
pub use ssl::{RawSsl, Ssl, SslMode};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::dday::Phase;
use crate::config::{CommonTarget, Duration as CfgDuration, Secret, Validator};
use crate::model::Family;
use crate::model::{ErrorKind, PollError, Poller};
use crate::model::{Polled, SourceKind};
use crate::sources::aws::Clients;
use crate::sources::aws::rds_token::{self, TokenFor};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use std::convert::Infallible;

/// How often the poller looks again for an enabled transaction counter (someone may turn on
/// `performance_schema` instruments at run time).
const REDETECT_EVERY: Duration = Duration::from_secs(300);
/// How often the data size is read again: it grows over days, and summing
/// information_schema.TABLES opens table statistics, which is not free on a big schema.
const SIZE_EVERY: Duration = Duration::from_secs(600);
/// Default of `variables_refresh`: how often the whole `SHOW GLOBAL VARIABLES` is read.
pub const VARIABLES_REFRESH: Duration = Duration::from_secs(300);
/// `SHOW GLOBAL STATUS` in three statements sent as one, for a server whose
/// performance_schema `global_status` table leaves out the `Com_*` and `Slave_*` rows
/// (MariaDB): the whole `SHOW GLOBAL STATUS` makes such a server build a temporary table of
/// every row, with a 2,048-character value column, and read it back (half of its
/// CPU for the statement, in `memmove`, under `perf`); the table and two filtered `SHOW`s,
/// whose `LIKE` is applied before the rows are stored, cost it a fifth less (MariaDB 10.11,
/// docs/performance.md). The `Com_*` read comes first, so that the counters it holds do not
/// include the `SELECT` of the same poll.
const SPLIT_STATUS_SQL: &str = "SHOW GLOBAL STATUS LIKE 'Com\\_%'; \
     SHOW GLOBAL STATUS LIKE 'Slave\\_%'; \
     SELECT VARIABLE_NAME, VARIABLE_VALUE FROM performance_schema.global_status";
/// [`SPLIT_STATUS_SQL`] without the `Slave_*` rows, for a server whose replica status has
/// no default connection (see [`State::slave_rows`]). Each `SHOW GLOBAL STATUS LIKE` walks
/// every status variable before its `LIKE` applies: the `Slave_*` one costs MariaDB 10.11
/// nearly as much CPU for its seven rows as the `Com_*` one for 168 (docs/performance.md).
const SPLIT_STATUS_NO_SLAVE_SQL: &str = "SHOW GLOBAL STATUS LIKE 'Com\\_%'; \
     SELECT VARIABLE_NAME, VARIABLE_VALUE FROM performance_schema.global_status";
/// The `Slave_*` rows alone.
const SLAVE_STATUS_SQL: &str = "SHOW GLOBAL STATUS LIKE 'Slave\\_%'";

/// How a connection reads the status (see [`SPLIT_STATUS_SQL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusStmt {
    /// Not decided on this connection yet: `SHOW GLOBAL STATUS`, then a probe of the split.
    Probe,
    Whole,
    Split,
}

/// Data and index bytes of every table outside the server's own schemas.
const SIZE_SQL: &str = "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')";

/// One entry of `mysql:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// `host:port` of the server, e.g. `127.0.0.1:3306` or an RDS endpoint.
    pub address: String,
    /// User to log in as. It needs PROCESS, REPLICATION CLIENT (MariaDB: SLAVE MONITOR) and
    /// SELECT on performance_schema.
    pub user: String,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (one trailing newline is ignored); a relative path is
    /// relative to the config file.
    pub password_file: Option<PathBuf>,
    /// Not accepted: passwords never stand in the config. Present only to say so clearly.
    pub password: Option<serde::de::IgnoredAny>,
    /// Which counter gives transactions per second: `performance_schema`, `innodb_metrics`,
    /// `com_commit` or `questions`. Default: the first of the first two that is enabled on
    /// the server, else `com_commit` when it moves, else `questions`.
    pub tps_counter: Option<TpsCounter>,
    /// The RDS instance identifier this server is, when it is one: its facts (from an `rds`
    /// target) and its CPU (AWS/RDS CPUUtilization from a `cloudwatch` target) are recorded
    /// with its history and give its capacity model a class and a CPU ceiling.
    pub rds_instance: Option<String>,
    /// Overrides `defaults.interval`.
    pub interval: Option<CfgDuration>,
    /// Overrides `defaults.timeout`.
    pub timeout: Option<CfgDuration>,
    /// Where the target is, e.g. `us-west-2` or `dc1`: the `region` label of
    /// `headroom_target_info`, which dashboards select targets by. Default: none.
    pub region: Option<String>,
    /// A pt-heartbeat table to measure replication lag by: `{table: percona.heartbeat,
    /// server_id: 1}`. Default: none (lag from Seconds_Behind_Master only).
    pub heartbeat: Option<RawHeartbeat>,
    /// What this server is in the migration `dday:` plans: `source` (writable before the
    /// freeze, read-only from it) or `destination` (a read-only replica until `after`).
    /// Default: none (no read-only expectation, no MYSQL_READ_ONLY_AS_PLANNED).
    pub role: Option<Role>,
    /// `DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA` or `VERIFY_IDENTITY`, as the mysql
    /// client's `--ssl-mode`. Default: `VERIFY_CA` when `ssl_ca` is given, `VERIFY_IDENTITY`
    /// with `auth: iam`, else `DISABLED` (docs/configuration.md says why).
    pub ssl_mode: Option<SslMode>,
    /// PEM file of the CA certificates to verify the server's certificate with (the mysql
    /// client's `--ssl-ca`; for RDS, the region's certificate bundle from AWS). Relative to
    /// the config file.
    pub ssl_ca: Option<PathBuf>,
    /// PEM file of the client certificate (`--ssl-cert`), for a user created `REQUIRE X509`.
    /// Needs `ssl_key`.
    pub ssl_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key (`--ssl-key`).
    pub ssl_key: Option<PathBuf>,
    /// How to log in: `password` (from `password_env` or `password_file`) or `iam`, RDS IAM
    /// database authentication: a token signed for `user` with the AWS credentials of the
    /// default provider chain for `region`, as `aws rds generate-db-auth-token` signs it,
    /// sent over TLS only. Default: `password`.
    pub auth: Option<Auth>,
    /// How often the whole `SHOW GLOBAL VARIABLES` (some 600 rows, every numeric one
    /// exported as `mysql_global_variables_<name>`) is read again; between two reads each
    /// poll exports the last values, with the few a check reads (`max_connections`,
    /// `read_only`, `super_read_only`, `innodb_buffer_pool_size`) read fresh every poll in
    /// one `SELECT @@GLOBAL...`. Variables change only with `SET GLOBAL` or a restart (a
    /// restart or reconnection reads them all again at once). Default: `5m`.
    pub variables_refresh: Option<CfgDuration>,
    /// Whether to export `mysql_info_schema_processlist_threads{command,state}` and
    /// `..._seconds` (mysqld_exporter's `--collect.info_schema.processlist`, which
    /// mysqld-mixin's overview dashboard graphs): one more statement per poll, counting
    /// `information_schema.PROCESSLIST` by command and state. Default: false, as
    /// mysqld_exporter.
    pub processlist: Option<bool>,
}

/// `mysql[].auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// A password from `password_env` or `password_file` (or none).
    Password,
    /// An RDS IAM authentication token, signed for each new connection.
    Iam,
}

/// `mysql[].heartbeat`: the table pt-heartbeat (Percona Toolkit) keeps up to date on the
/// source, read on this server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    /// `schema.table`, as pt-heartbeat's `--database` and `--table` name it, e.g.
    /// `percona.heartbeat`.
    pub table: String,
    /// The `server_id` of the row to read: the source's `@@server_id`, which pt-heartbeat
    /// `--update` writes its row under.
    pub server_id: u32,
    /// The replication connection (MySQL channel, MariaDB connection name) the heartbeat
    /// measures. Default: `""`, the default connection.
    pub channel: Option<String>,
    /// Whether pt-heartbeat runs with `--utc` (its `ts` is UTC). With `false`, `ts` is
    /// compared with this server's local time, as pt-heartbeat does without `--utc`.
    /// Default: true.
    pub utc: Option<bool>,
}

/// What a server is in the migration: where the data comes from, or where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The migration's source database: serves writes before the freeze, read-only from it.
    Source,
    /// The destination (the AWS side): a read-only replica until `after`, writable from then.
    Destination,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Destination => "destination",
        }
    }

    /// Whether `phase` wants a server of this role read-only.
    pub fn read_only_in(self, phase: Phase) -> bool {
        match self {
            Role::Source => phase != Phase::Before,
            Role::Destination => phase != Phase::After,
        }
    }
}

/// `mysql[].heartbeat`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// `schema.table`, each part checked to be a plain identifier.
    pub table: String,
    pub server_id: u32,
    pub channel: String,
    pub utc: bool,
}

impl Heartbeat {
    /// The lag of the row of `server_id` in microseconds, computed by the server with its own
    /// clock: pt-heartbeat's `--update` writes `ts` as `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC with
    /// `--utc`), https://docs.percona.com/percona-toolkit/pt-heartbeat.html.
    pub fn sql(&self) -> String {
        let (schema, table) = self.table.split_once('.').unwrap_or(("", &self.table));
        let now = if self.utc {
            "UTC_TIMESTAMP(6)"
        } else {
            "NOW(6)"
        };
        format!(
            "SELECT TIMESTAMPDIFF(MICROSECOND, ts, {now}) FROM `{schema}`.`{table}` WHERE server_id = {}",
            self.server_id
        )
    }
}

/// The read-only state a target should be in: its role and the phase of `dday:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnlyPlan {
    pub role: Role,
    pub phase: Phase,
}

impl ReadOnlyPlan {
    pub fn read_only(&self) -> bool {
        self.role.read_only_in(self.phase)
    }
}

/// A plain SQL identifier, as a schema or table name of `heartbeat.table` must be (so that
/// it can be quoted without escaping).
fn identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Settings> {
        self.settings(v, path, cx)
    }
}

impl RawTarget {
    fn settings(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Settings> {
        let mut ok = v.address(&format!("{path}.address"), &self.address);
        let iam = self.auth == Some(Auth::Iam);
        let mut iam_region = None;
        if iam {
            if self.password_env.is_some() || self.password_file.is_some() {
                v.error(
                    &format!("{path}.auth"),
                    "auth: iam signs a token for each connection; remove password_env and password_file",
                );
                ok = false;
            }
            match self.region.as_deref() {
                Some(r) if !r.is_empty() => iam_region = Some(r.to_owned()),
                _ => {
                    v.error(
                        &format!("{path}.auth"),
                        "auth: iam needs region: (the AWS region the token is signed for, e.g. us-west-2)",
                    );
                    ok = false;
                }
            }
            if let Some(m) = self.ssl_mode.filter(|m| !m.requires_tls()) {
                v.error(
                    &format!("{path}.ssl_mode"),
                    format!(
                        "auth: iam sends its token in clear text (mysql_clear_password), so only \
                         over TLS: {} is not accepted; use VERIFY_IDENTITY with ssl_ca",
                        m.as_str()
                    ),
                );
                ok = false;
            }
        }
        if self.password.is_some() {
            v.error(
                &format!("{path}.password"),
                "inline passwords are not accepted; use password_env or password_file",
            );
            ok = false;
        }
        if self.user.is_empty() {
            v.error(&format!("{path}.user"), "must not be empty");
            ok = false;
        }
        let secret_path = if self.password_file.is_some() {
            format!("{path}.password_file")
        } else {
            format!("{path}.password_env")
        };
        let before = v.error_count();
        let password = v.secret(
            &secret_path,
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        );
        ok &= v.error_count() == before;
        let heartbeat = match &self.heartbeat {
            None => None,
            Some(h) => {
                let parts = h.table.split_once('.');
                if parts.is_none_or(|(s, t)| !identifier(s) || !identifier(t)) {
                    v.error(
                        &format!("{path}.heartbeat.table"),
                        format!(
                            "{:?} is not schema.table (letters, digits, _ and $), e.g. percona.heartbeat",
                            h.table
                        ),
                    );
                    ok = false;
                }
                Some(Heartbeat {
                    table: h.table.clone(),
                    server_id: h.server_id,
                    channel: h.channel.clone().unwrap_or_default(),
                    utc: h.utc.unwrap_or(true),
                })
            }
        };
        let ssl = RawSsl {
            mode: self.ssl_mode,
            ca: self.ssl_ca.as_deref(),
            cert: self.ssl_cert.as_deref(),
            key: self.ssl_key.as_deref(),
        }
        .validate(
            v,
            path,
            if iam {
                SslMode::VerifyIdentity
            } else {
                SslMode::Disabled
            },
        );
        ok &= ssl.is_some();
        // Without `dday:` there is no phase, so no expectation: the role is kept for what
        // else reads it.
        let read_only_plan = self
            .role
            .zip(cx.dday.as_ref())
            .map(|(role, d)| ReadOnlyPlan {
                role,
                phase: d.phase,
            });
        let variables_refresh = v.positive(
            &format!("{path}.variables_refresh"),
            self.variables_refresh,
            VARIABLES_REFRESH,
        );
        ok.then(|| Settings {
            variables_refresh,
            processlist: self.processlist.unwrap_or(false),
            address: self.address.clone(),
            user: self.user.clone(),
            password,
            tps_counter: self.tps_counter,
            rds_instance: self.rds_instance.clone(),
            heartbeat,
            role: self.role,
            read_only_plan,
            ssl: ssl.unwrap_or_default(),
            iam_region,
        })
    }
}

/// What the IAM tokens of a target are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Iam {
    host: String,
    port: u16,
    user: String,
    region: String,
}

impl Iam {
    fn token_for(&self) -> TokenFor<'_> {
        TokenFor {
            host: &self.host,
            port: self.port,
            user: &self.user,
            region: &self.region,
        }
    }
}

/// A validated MySQL target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub address: String,
    pub user: String,
    pub password: Option<Secret>,
    pub tps_counter: Option<TpsCounter>,
    pub rds_instance: Option<String>,
    pub heartbeat: Option<Heartbeat>,
    pub role: Option<Role>,
    /// The role with the phase of `dday:`: present when both are set.
    pub read_only_plan: Option<ReadOnlyPlan>,
    /// TLS options (`ssl_mode`, `ssl_ca`, `ssl_cert`, `ssl_key`).
    pub ssl: Ssl,
    /// With `auth: iam`, the region RDS IAM tokens are signed for; the password is then
    /// unused.
    pub iam_region: Option<String>,
    /// How often the whole set of global variables is read (`variables_refresh`).
    pub variables_refresh: Duration,
    /// Whether the processlist series are read (`processlist`).
    pub processlist: bool,
}

impl Settings {
    /// A target with only the connection settings: no TPS counter override, no RDS
    /// instance, no heartbeat, no role.
    pub fn new(
        address: impl Into<String>,
        user: impl Into<String>,
        password: Option<Secret>,
    ) -> Self {
        Settings {
            address: address.into(),
            user: user.into(),
            password,
            tps_counter: None,
            rds_instance: None,
            heartbeat: None,
            role: None,
            read_only_plan: None,
            ssl: Ssl::default(),
            iam_region: None,
            variables_refresh: VARIABLES_REFRESH,
            processlist: false,
        }
    }
}

/// Which replica status statement the server speaks: every connection of a MariaDB
/// (`SHOW ALL SLAVES STATUS`, one row per `Connection_name`), every channel of a MySQL 8.0.22+
/// (`SHOW REPLICA STATUS`, one row per `Channel_Name`), else `SHOW SLAVE STATUS`. Each is
/// tried in that order until one parses, as mysqld_exporter's slave_status collector does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplicaStmt {
    AllSlaves,
    Replica,
    Slave,
    /// Not permitted for this user, or not supported: not asked again.
    None,
}

/// `SHOW GLOBAL VARIABLES` rows: name, value (NULL as `None`).
type Variables = Vec<(String, Option<String>)>;

#[derive(Debug)]
struct State {
    conn: Option<Conn>,
    /// Where the next window starts: the last poll's reading, or an earlier one held over a
    /// reading that went back (`held`; `parse::next_baseline`).
    prev: Option<Counters>,
    held: bool,
    transactions_total: f64,
    /// The automatically chosen counter and when it was chosen.
    detected: Option<(Instant, Option<TpsCounter>)>,
    replica: ReplicaStmt,
    /// Statements sent after the status read of the poll `prev` is from (all of those since,
    /// when it is held over).
    after_status: OwnStatements,
    /// When the data size was last read, and what it was (`None`: no table visible to the
    /// user, or not readable).
    size: Option<(Instant, Option<f64>)>,
    /// Under `VERIFY_CA`, the name the server's certificate presents, once a connection to
    /// the address's host has failed on the name alone (see [`ssl::presented_name`]).
    tls_name: Option<String>,
    /// The whole `SHOW GLOBAL VARIABLES` as last read, and when.
    variables: Option<VariablesRead>,
    /// How this connection reads the status.
    status_stmt: StatusStmt,
    /// The `Slave_*` status rows as read while the replica status had no default connection
    /// (see [`KeptSlaveRows`]). `None`: read them.
    slave_rows: Option<KeptSlaveRows>,
    /// MariaDB's replica status has no connection at all, as of the `Com_change_master` count
    /// in `slave_rows`: only `CHANGE MASTER` makes one, and it moves the count. While the
    /// status read shows the same count, `SHOW ALL SLAVES STATUS` is not sent. Set when an
    /// empty replica status was read between two status reads of one count (the poll
    /// before's and this one's), or after this poll's status read; cleared when the count
    /// moves, until the replica status read then says again.
    no_replica: bool,
    /// The order the status rows were sorted into at the last poll.
    status_order: StatusOrder,
    /// How many rows the last status read returned, to make room for the next one's.
    status_rows: usize,
    /// How many families the last poll made, likewise.
    families: usize,
    /// When a status read with statements after it in its packet last failed on a server
    /// error: for [`REDETECT_EVERY`] after, they are sent on their own again (see
    /// [`query_split_status`]).
    packed_failed: Option<Instant>,
}

/// The `Slave_*` status rows that performance_schema's table leaves out, of a server whose
/// replica status has no default connection (MariaDB's `Connection_name` ''): they describe
/// that connection, so without one they read `OFF` and zeros, and only a `CHANGE MASTER`
/// changes them (MariaDB 10.11 reads a heartbeat period of 0 until a default connection is
/// made, and 30 once it is removed). The split read leaves them out and uses these while
/// the replica status, read before it in each poll, has no default connection and
/// `Com_change_master` has not moved since they were read.
#[derive(Debug)]
struct KeptSlaveRows {
    rows: Vec<(String, Option<String>)>,
    /// `Com_change_master` when they were read.
    changes: Option<String>,
}

impl KeptSlaveRows {
    /// The `Slave_*` rows of a split read that has them.
    fn of(read: &SplitRead) -> Self {
        Self::new(&read.rows[read.slave.clone()], read)
    }

    /// Of `slave`, the rows that `read`'s performance_schema table leaves out: those it has
    /// (`Slave_connections`, the replicas' connection attempts to this server, among them)
    /// are read from it at every poll.
    fn new(slave: &[(String, Option<String>)], read: &SplitRead) -> Self {
        let table = &read.rows[read.rows.len() - read.from_table..];
        Self {
            rows: slave
                .iter()
                .filter(|(k, _)| !table.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
            changes: change_master_count(&read.rows),
        }
    }
}

/// `Com_change_master` (`Com_change_replication_source` on MySQL 8.0.23 and later).
fn change_master_count(rows: &[(String, Option<String>)]) -> Option<String> {
    rows.iter()
        .find(|(k, _)| {
            k.eq_ignore_ascii_case("Com_change_master")
                || k.eq_ignore_ascii_case("Com_change_replication_source")
        })
        .and_then(|(_, v)| v.clone())
}

pub struct MysqlPoller {
    address: String,
    /// Everything but TLS, which [`MysqlPoller::connect`] adds (boxed: it is large, and the
    /// pollers of every source share one enum).
    opts: Box<OptsBuilder>,
    ssl: Ssl,
    /// With `auth: iam`: what tokens are signed for (host, port, user, region) and the AWS
    /// clients whose credentials sign them.
    iam: Option<(Iam, Clients)>,
    configured_counter: Option<TpsCounter>,
    started: Instant,
    heartbeat: Option<Heartbeat>,
    read_only_plan: Option<ReadOnlyPlan>,
    variables_refresh: Duration,
    processlist: bool,
    state: Mutex<State>,
}

impl std::fmt::Debug for MysqlPoller {
    // `Opts` holds the password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlPoller")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl MysqlPoller {
    pub fn new(s: &Settings) -> Self {
        Self::with_clients(s, &Clients::default())
    }

    /// A poller whose IAM tokens (with `auth: iam`) are signed with the credentials of
    /// `clients`.
    pub fn with_clients(s: &Settings, clients: &Clients) -> Self {
        let (host, port) = s
            .address
            .rsplit_once(':')
            .map(|(h, p)| {
                (
                    h.trim_start_matches('[').trim_end_matches(']'),
                    p.parse().unwrap_or(3306),
                )
            })
            .unwrap_or((s.address.as_str(), 3306));
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(s.user.clone()))
            .pass(s.password.as_ref().map(|p| p.expose().to_owned()))
            .prefer_socket(false)
            .stmt_cache_size(0);
        let iam = s.iam_region.as_ref().map(|region| {
            (
                Iam {
                    host: host.to_owned(),
                    port,
                    user: s.user.clone(),
                    region: region.clone(),
                },
                clients.clone(),
            )
        });
        // RDS asks for the token with the mysql_clear_password plugin.
        let opts = opts.enable_cleartext_plugin(iam.is_some());
        MysqlPoller {
            address: s.address.clone(),
            opts: Box::new(opts),
            ssl: s.ssl.clone(),
            iam,
            configured_counter: s.tps_counter,
            started: Instant::now(),
            heartbeat: s.heartbeat.clone(),
            read_only_plan: s.read_only_plan,
            variables_refresh: s.variables_refresh,
            processlist: s.processlist,
            state: Mutex::new(State {
                conn: None,
                prev: None,
                held: false,
                transactions_total: 0.0,
                detected: None,
                replica: ReplicaStmt::AllSlaves,
                after_status: OwnStatements {
                    questions: 0.0,
                    selects: 0.0,
                },
                size: None,
                tls_name: None,
                variables: None,
                status_stmt: StatusStmt::Probe,
                slave_rows: None,
                no_replica: false,
                status_order: StatusOrder::default(),
                status_rows: 0,
                families: 0,
                packed_failed: None,
            }),
        }
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        if let Some(conn) = self.state.lock().await.conn.take() {
            let _ = conn.disconnect().await;
        }
    }

    fn err(&self, e: mysql_async::Error) -> PollError {
        classify(&self.address, e)
    }

    /// A new connection with the target's TLS options. `PREFERRED` goes on in plain text
    /// when the server offers no TLS; `VERIFY_CA` verifies the chain for the name the
    /// certificate presents when it is not the host's.
    async fn connect(&self, tls_name: &mut Option<String>) -> Result<Conn, PollError> {
        let base = match &self.iam {
            None => (*self.opts).clone(),
            // A token for each new connection: it is checked at login only, and lives 15
            // minutes.
            Some((iam, clients)) => {
                let token = rds_token::token(clients, &iam.token_for())
                    .await
                    .map_err(|e| {
                        PollError::new(ErrorKind::Auth, format!("{}: {e}", self.address))
                    })?;
                (*self.opts).clone().pass(Some(token))
            }
        };
        let with =
            |ssl: Option<mysql_async::SslOpts>| -> Opts { base.clone().ssl_opts(ssl).into() };
        // MariaDB refuses a plain connection under require_secure_transport (and MySQL and
        // MariaDB one to a user created REQUIRE SSL) with the same ER_ACCESS_DENIED_ERROR
        // (1045) as a wrong password: with `DISABLED`, say that it may be either. (A server
        // that `PREFERRED` found without TLS cannot require it.)
        let plain = |e: mysql_async::Error| {
            let denied = matches!(&e, mysql_async::Error::Server(s) if s.code == 1045);
            let mut pe = self.err(e);
            if denied {
                pe.message.push_str(
                    " (a wrong user or password, or a plain-text connection where TLS is \
                     required by require_secure_transport=ON or a user created REQUIRE SSL or \
                     X509: see ssl_mode)",
                );
            }
            pe
        };
        let first = self.ssl.opts(tls_name.as_deref());
        if first.is_none() {
            return Conn::new(with(None)).await.map_err(plain);
        }
        match Conn::new(with(first)).await {
            Ok(c) => Ok(c),
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if self.ssl.mode == SslMode::Preferred => {
                tracing::debug!(target = %self.address, "server offers no TLS; PREFERRED goes on in plain text");
                Conn::new(with(None)).await.map_err(|e| self.err(e))
            }
            // Also when the name learnt before is no longer the certificate's (a new one).
            Err(e) if self.ssl.mode == SslMode::VerifyCa => {
                let Some(name) =
                    ssl::presented_name(&e).filter(|n| tls_name.as_deref() != Some(n.as_str()))
                else {
                    *tls_name = None;
                    return Err(self.err(e));
                };
                let c = Conn::new(with(self.ssl.opts(Some(&name))))
                    .await
                    .map_err(|e| self.err(e))?;
                *tls_name = Some(name);
                Ok(c)
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// The error of a statement. On a connection this very poll opened, a server that let
    /// the poller in and then closed the connection in the middle of a reply misbehaved
    /// while the connection worked: `protocol`, not `connect`. On a connection kept from an
    /// earlier poll, a close is a server gone since (restarted, killed, its wait_timeout):
    /// `connect`, and the next poll reconnects.
    fn stmt_err(&self, e: mysql_async::Error, fresh: bool) -> PollError {
        let p = classify(&self.address, e);
        if fresh && p.kind == ErrorKind::Connect {
            return PollError::new(
                ErrorKind::Protocol,
                format!(
                    "{} (the server closed a connection it had just accepted, in the middle of a reply)",
                    p.message
                ),
            );
        }
        p
    }
}

/// The last whole read of the global variables: when, the families built from them, and
/// what every poll until the next whole read needs of its rows, worked out once: the
/// statement reading those of [`FRESH_VARIABLES`] the server has, and `max_connections`.
#[derive(Debug)]
struct VariablesRead {
    at: Instant,
    families: Vec<Family>,
    /// `SELECT @@GLOBAL.x, ...` and the names it reads, in order (`None`: the server has
    /// none of them).
    fresh: Option<(String, Vec<&'static str>)>,
    max_connections: Option<f64>,
}

impl MysqlPoller {
    /// The replica status, by the statement this server takes (`replica`, lowered on a
    /// parse error and set to `None` on another server error, which is not asked again).
    /// Counts the statements it sends in `own`.
    async fn read_replica(
        &self,
        conn: &mut Conn,
        replica: &mut ReplicaStmt,
        own: &mut OwnStatements,
        reconnected: bool,
    ) -> Result<Vec<ReplicaRow>, PollError> {
        while *replica != ReplicaStmt::None {
            let sql = match *replica {
                ReplicaStmt::AllSlaves => "SHOW ALL SLAVES STATUS",
                ReplicaStmt::Replica => "SHOW REPLICA STATUS",
                _ => "SHOW SLAVE STATUS",
            };
            own.questions += 1.0;
            match conn.query::<Row, _>(sql).await {
                Ok(rows) => return Ok(rows.into_iter().map(row_pairs).collect()),
                // ER_PARSE_ERROR: not MariaDB (SHOW ALL SLAVES STATUS), or a server older than
                // MySQL 8.0.22 / MariaDB 10.5.1 (SHOW REPLICA STATUS).
                Err(mysql_async::Error::Server(e))
                    if e.code == 1064 && *replica != ReplicaStmt::Slave =>
                {
                    *replica = match *replica {
                        ReplicaStmt::AllSlaves => ReplicaStmt::Replica,
                        _ => ReplicaStmt::Slave,
                    };
                }
                Err(mysql_async::Error::Server(e)) => {
                    tracing::warn!(target = %self.address, code = e.code, "replica status not readable ({}); not asked again", e.message);
                    *replica = ReplicaStmt::None;
                }
                Err(e) => return Err(self.stmt_err(e, reconnected)),
            }
        }
        Ok(Vec::new())
    }

    /// The families of the global variables and `max_connections`: all of them read when
    /// the last whole read is older than `variables_refresh` (or the connection is new),
    /// else that read's families with [`FRESH_VARIABLES`] read again. Building ~500
    /// families from the rows once per whole read, and copying them between, costs less
    /// than building them every poll. Counts the statement it sends in `after`. `pre`: what
    /// the [`FRESH_VARIABLES`] read found, sent in the status read's packet (only when the
    /// whole read was not due).
    async fn read_variables(
        &self,
        conn: &mut Conn,
        cache: &mut Option<VariablesRead>,
        reconnected: bool,
        after: &mut OwnStatements,
        pre: Option<Option<Row>>,
    ) -> Result<(Vec<Family>, Option<f64>), PollError> {
        let max_connections = |rows: &Variables| {
            rows.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("max_connections"))
                .and_then(|(_, v)| v.as_deref().and_then(parse_value))
        };
        let whole = cache
            .take()
            .filter(|c| pre.is_some() || (!reconnected && c.at.elapsed() < self.variables_refresh));
        let Some(read) = whole else {
            after.questions += 1.0;
            let rows = query_pairs(conn, "SHOW GLOBAL VARIABLES")
                .await
                .map_err(|e| self.stmt_err(e, reconnected))?;
            let families = variable_families(&rows);
            let max = max_connections(&rows);
            *cache = Some(VariablesRead {
                at: Instant::now(),
                families: families.clone(),
                fresh: fresh_variables_sql(&rows),
                max_connections: max,
            });
            return Ok((families, max));
        };
        let mut families = read.families.clone();
        let mut max = read.max_connections;
        if let Some((sql, names)) = &read.fresh {
            after.questions += 1.0;
            after.selects += 1.0;
            let row: Option<Row> = match pre {
                Some(row) => row,
                None => conn
                    .query_first(sql)
                    .await
                    .map_err(|e| self.stmt_err(e, reconnected))?,
            };
            if let Some(r) = row {
                for (i, n) in names.iter().enumerate() {
                    let v = r
                        .get_opt::<Option<String>, _>(i)
                        .and_then(|x| x.ok())
                        .flatten();
                    for f in variable_families(&[((*n).to_owned(), v)]) {
                        if f.name == "mysql_version_info" {
                            continue;
                        }
                        if *n == "max_connections" {
                            max = f.samples.first().map(|s| s.value);
                        }
                        match families.iter_mut().find(|g| g.name == f.name) {
                            Some(g) => *g = f,
                            None => families.push(f),
                        }
                    }
                }
            }
        }
        *cache = Some(read);
        Ok((families, max))
    }
}

/// Maps a driver error to the bounded error kinds. The message comes from the server or the
/// socket; the driver never puts the password in either.
pub(crate) fn classify(addr: &str, e: mysql_async::Error) -> PollError {
    use mysql_async::{DriverError, Error, IoError};
    if let Some(why) = ssl::tls_failure(&e) {
        return PollError::new(ErrorKind::Tls, format!("{addr}: {why}"));
    }
    let kind = match &e {
        // What the packet codec refuses (a packet past max_allowed_packet, out of sequence:
        // a peer that does not speak the protocol) comes as an `Other` I/O error; data that
        // cannot be read as `InvalidData`. The peer answered, wrongly.
        Error::Io(IoError::Io(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::Other | std::io::ErrorKind::InvalidData
            ) =>
        {
            ErrorKind::Protocol
        }
        Error::Io(_) => ErrorKind::Connect,
        Error::Driver(DriverError::ConnectionClosed) => ErrorKind::Connect,
        // ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR,
        // ER_NOT_SUPPORTED_AUTH_MODE, ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR.
        Error::Server(s) if matches!(s.code, 1044 | 1045 | 1698 | 1251 | 1227 | 1142) => {
            ErrorKind::Auth
        }
        _ => ErrorKind::Protocol,
    };
    // The driver's wrappers ("Input/output error: Input/output error: ...", "Server error:
    // `...'") left out: the operating system's words, and the server's as the mysql client
    // prints them (`ERROR 1045 (28000): Access denied ...`).
    let what = match &e {
        Error::Io(IoError::Io(io)) => io.to_string(),
        Error::Server(s) => s.to_string(),
        Error::Driver(d) => d.to_string(),
        _ => e.to_string(),
    };
    PollError::new(kind, format!("{addr}: {what}"))
}

async fn query_pairs(
    conn: &mut Conn,
    sql: &str,
) -> Result<Vec<(String, Option<String>)>, mysql_async::Error> {
    conn.query::<(String, Option<String>), _>(sql).await
}

/// The rows of a split status read, in the order of its statements.
struct SplitRead {
    rows: Vec<(String, Option<String>)>,
    /// Where the `Slave_*` rows are in `rows` (empty when they were not read).
    slave: std::ops::Range<usize>,
    /// How many rows came from the performance_schema table (the last ones).
    from_table: usize,
    /// The first row of each statement sent after the status read in its packet, in order.
    tails: Vec<Option<Row>>,
}

/// [`SPLIT_STATUS_SQL`], or [`SPLIT_STATUS_NO_SLAVE_SQL`] when `slave` is false, and the
/// `tails` after it in the same packet: one round trip for the poll's statements, where each
/// statement of its own waits a network round trip for its answer. The server's cost is the
/// same either way (docs/performance.md).
///
/// The driver reports a statement's error at the end of the rows of the statement before it,
/// and the server runs none after it: a failed tail cannot be told from a failed status
/// statement, so any error fails the whole read, and the caller sends the tails on their own
/// for a while (`State::packed_failed`), where a failed transaction counter fails nothing.
async fn query_split_status(
    conn: &mut Conn,
    slave: bool,
    tails: &[&str],
    expect: usize,
) -> Result<SplitRead, mysql_async::Error> {
    let status = if slave {
        SPLIT_STATUS_SQL
    } else {
        SPLIT_STATUS_NO_SLAVE_SQL
    };
    let sql: std::borrow::Cow<'_, str> = if tails.is_empty() {
        status.into()
    } else {
        format!("{status}; {}", tails.join("; ")).into()
    };
    let mut result = conn.query_iter(sql).await?;
    // Each statement's rows straight into one vector, as large as the last read's, where
    // collecting each (`QueryResult::collect`) grows a vector of its own and copies it over.
    let mut rows: Vec<(String, Option<String>)> = Vec::with_capacity(expect);
    result
        .for_each(|row| rows.push(mysql_async::from_row(row)))
        .await?;
    let com = rows.len();
    if slave {
        result
            .for_each(|row| rows.push(mysql_async::from_row(row)))
            .await?;
    }
    let shows = rows.len();
    result
        .for_each(|row| rows.push(mysql_async::from_row(row)))
        .await?;
    let mut read = Vec::with_capacity(tails.len());
    for _ in tails {
        read.push(result.collect::<Row>().await?.into_iter().next());
    }
    result.drop_result().await?;
    Ok(SplitRead {
        from_table: rows.len() - shows,
        slave: com..shows,
        rows,
        tails: read,
    })
}

/// Whether the split read has every row of the whole `SHOW GLOBAL STATUS`, and is worth
/// it: a table with rows (performance_schema is ON) that leaves out the `Com_*` counters.
/// Where the table has them (MySQL 5.7 and later, whose `SHOW GLOBAL STATUS` reads that
/// table itself), the split would only read them twice.
fn split_covers(
    split: &[(String, Option<String>)],
    whole: &[(String, Option<String>)],
    from_table: usize,
) -> bool {
    let table = &split[split.len() - from_table..];
    if from_table == 0
        || table
            .iter()
            .any(|(k, _)| k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("com_")))
    {
        return false;
    }
    let mut names: Vec<String> = split.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    names.sort_unstable();
    whole
        .iter()
        .all(|(k, _)| names.binary_search(&k.to_ascii_lowercase()).is_ok())
}

/// The first column of the first row as a number.
async fn query_number(conn: &mut Conn, sql: &str) -> Result<Option<f64>, mysql_async::Error> {
    let v: Option<Option<String>> = conn.query_first(sql).await?;
    Ok(v.flatten().and_then(|s| s.parse().ok()))
}

/// The transaction count, and the time transactions took in picoseconds (0 while the
/// `transaction` instrument is not TIMED): its rate is the mean number of transactions in
/// flight (Little's law).
const PS_TRX_SUM: &str = "SELECT SUM(COUNT_STAR), SUM(SUM_TIMER_WAIT) FROM performance_schema.events_transactions_summary_global_by_event_name";
macro_rules! innodb_trx_names {
    () => {
        "('trx_rw_commits','trx_ro_commits','trx_nl_ro_commits','trx_rollbacks')"
    };
}
const INNODB_TRX_NAMES: &str = innodb_trx_names!();

/// Finds an enabled transaction counter. Counts the statements it sends in `own`.
async fn detect(conn: &mut Conn, own: &mut OwnStatements) -> Option<TpsCounter> {
    own.questions += 2.0;
    own.selects += 2.0;
    let instrument: Option<String> = conn
        .query_first(
            "SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'transaction'",
        )
        .await
        .ok()
        .flatten();
    let consumers: Option<i64> = conn
        .query_first(
            "SELECT COUNT(*) FROM performance_schema.setup_consumers \
             WHERE NAME IN ('global_instrumentation','thread_instrumentation') AND ENABLED = 'YES'",
        )
        .await
        .ok()
        .flatten();
    if instrument.as_deref() == Some("YES") && consumers == Some(2) {
        return Some(TpsCounter::PerformanceSchema);
    }
    own.questions += 1.0;
    own.selects += 1.0;
    // MariaDB has an ENABLED column (1/0), MySQL a STATUS column ('enabled'/'disabled').
    let rows: Vec<Row> = conn
        .query(format!(
            "SELECT * FROM information_schema.INNODB_METRICS WHERE NAME IN {INNODB_TRX_NAMES}"
        ))
        .await
        .unwrap_or_default();
    let enabled = |r: &Row| {
        r.columns_ref().iter().enumerate().any(|(i, c)| {
            let v: Option<String> = r.get_opt(i).and_then(|x| x.ok());
            match c.name_str().to_ascii_uppercase().as_str() {
                "ENABLED" => v.as_deref() == Some("1"),
                "STATUS" => v.as_deref() == Some("enabled"),
                _ => false,
            }
        })
    };
    (rows.len() == 4 && rows.iter().all(enabled)).then_some(TpsCounter::InnodbMetrics)
}

/// The statement that reads the transaction counter, for the counters read by one; the
/// others are derived from `SHOW GLOBAL STATUS` in `window`.
fn counter_sql(c: TpsCounter) -> Option<&'static str> {
    match c {
        TpsCounter::PerformanceSchema => Some(PS_TRX_SUM),
        TpsCounter::InnodbMetrics => Some(INNODB_TRX_SUM),
        TpsCounter::ComCommit | TpsCounter::Questions => None,
    }
}

const INNODB_TRX_SUM: &str = concat!(
    "SELECT SUM(COUNT) FROM information_schema.INNODB_METRICS WHERE NAME IN ",
    innodb_trx_names!()
);

/// The transaction counter from the row of [`counter_sql`], and with performance_schema the
/// time transactions took (ps).
fn counter_value(row: Option<Row>) -> Option<(f64, Option<f64>)> {
    let row = row?;
    let num = |i: usize| {
        row.get_opt::<Option<String>, _>(i)
            .and_then(|x| x.ok())
            .flatten()
            .and_then(|s| s.parse::<f64>().ok())
    };
    Some((num(0)?, num(1)))
}

impl Poller for MysqlPoller {
    type Discovered = Infallible;

    async fn close(&self) {
        MysqlPoller::close(self).await;
    }

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let mut st = self.state.lock().await;
        // Taken out while in use: if the poll is cancelled by its timeout, the connection is
        // dropped with it instead of being reused in an unknown state.
        let (mut conn, reconnected) = match st.conn.take() {
            Some(c) => (c, false),
            None => {
                let mut name = st.tls_name.take();
                let c = self.connect(&mut name).await;
                st.tls_name = name;
                (c?, true)
            }
        };
        if reconnected {
            // The connect itself sends statements; do not bill them to the workload.
            st.prev = None;
            st.status_stmt = StatusStmt::Probe;
            st.slave_rows = None;
            st.no_replica = false;
        }
        // The statements of this poll that the status read counts (in `Questions` and
        // `Com_select`), and those it does not (after it); the first is the status read itself.
        let mut before = OwnStatements {
            questions: 1.0,
            selects: 0.0,
        };
        let mut after = OwnStatements {
            questions: 0.0,
            selects: 0.0,
        };
        let counter = match self.configured_counter {
            Some(c) => Some(c),
            None => match st.detected {
                Some((at, c)) if at.elapsed() < REDETECT_EVERY && !reconnected => c,
                _ => {
                    let c = detect(&mut conn, &mut before).await;
                    st.detected = Some((Instant::now(), c));
                    c
                }
            },
        };

        // Replica status first: whether it has a default connection decides whether the
        // status read needs its `Slave_*` rows. Not sent while it is known to have no
        // connection at all and nothing could have made one (`State::no_replica`; the status
        // read below checks).
        let skip_replica = st.no_replica;
        let mut replica_rows: Vec<ReplicaRow> = Vec::new();
        if !skip_replica {
            replica_rows = self
                .read_replica(&mut conn, &mut st.replica, &mut before, reconnected)
                .await?;
        }
        st.no_replica = false;

        let default_connection = match st.replica {
            ReplicaStmt::None => None,
            _ => Some(has_default_connection(&replica_rows)),
        };
        if default_connection != Some(false) {
            st.slave_rows = None;
        }
        // What the statements after the status read found when they were sent in its packet.
        let mut pre_variables = None;
        let mut pre_counter = None;
        let status_rows = if st.status_stmt == StatusStmt::Split {
            let kept = st.slave_rows.take();
            // `Questions` is in the last statement's rows: all of them count in it. The
            // `SELECT` comes after the `Com_select` read.
            before.questions += if kept.is_some() { 1.0 } else { 2.0 };
            after.selects += 1.0;
            // In the same packet: the variables a check reads fresh (when the whole read is
            // not due) and the transaction counter; each on its own again for a while after
            // such a read failed (`State::packed_failed`), where the counter's failure fails
            // nothing.
            let packed = st
                .packed_failed
                .is_none_or(|at| at.elapsed() >= REDETECT_EVERY);
            let variables_sql = st
                .variables
                .as_ref()
                .filter(|c| packed && !reconnected && c.at.elapsed() < self.variables_refresh)
                .and_then(|c| c.fresh.as_ref())
                .map(|(sql, _)| sql.as_str());
            let counter_tail = counter.and_then(counter_sql).filter(|_| packed);
            let tails: Vec<&str> = variables_sql.into_iter().chain(counter_tail).collect();
            let mut read =
                match query_split_status(&mut conn, kept.is_none(), &tails, st.status_rows).await {
                    Ok(read) => read,
                    Err(e) => {
                        if !tails.is_empty() && matches!(e, mysql_async::Error::Server(_)) {
                            st.packed_failed = Some(Instant::now());
                        }
                        return Err(self.stmt_err(e, reconnected));
                    }
                };
            let mut found = std::mem::take(&mut read.tails).into_iter();
            if variables_sql.is_some() {
                pre_variables = found.next();
            }
            if counter_tail.is_some() {
                pre_counter = found.next();
            }
            match kept {
                Some(mut kept) => {
                    let moved = change_master_count(&read.rows) != kept.changes;
                    if moved {
                        // A connection made (and removed) since they were read.
                        after.questions += 1.0;
                        let slave = query_pairs(&mut conn, SLAVE_STATUS_SQL)
                            .await
                            .map_err(|e| self.stmt_err(e, reconnected))?;
                        kept = KeptSlaveRows::new(&slave, &read);
                    }
                    if skip_replica && moved {
                        // Read after the status read: a later CHANGE MASTER moves the
                        // count past this one's.
                        replica_rows = self
                            .read_replica(&mut conn, &mut st.replica, &mut after, reconnected)
                            .await?;
                    }
                    // Empty, and no CHANGE MASTER since the status read before it (the poll
                    // before's when it was read first, this one's when it was read after).
                    // Only where the count is there to say, on MariaDB's AllSlaves; a new
                    // connection starts again (`reconnected` above).
                    st.no_replica = st.replica == ReplicaStmt::AllSlaves
                        && kept.changes.is_some()
                        && replica_rows.is_empty()
                        && (skip_replica || !moved);
                    read.rows.extend(kept.rows.iter().cloned());
                    st.slave_rows = Some(kept);
                }
                None if default_connection == Some(false) => {
                    st.slave_rows = Some(KeptSlaveRows::of(&read));
                }
                None => {}
            }
            read.rows
        } else {
            query_pairs(&mut conn, "SHOW GLOBAL STATUS")
                .await
                .map_err(|e| self.stmt_err(e, reconnected))?
        };
        let at = self.started.elapsed().as_secs_f64();
        if st.status_stmt == StatusStmt::Probe {
            after.questions += 3.0;
            after.selects += 1.0;
            st.status_stmt = match query_split_status(&mut conn, true, &[], status_rows.len()).await
            {
                Ok(split) if split_covers(&split.rows, &status_rows, split.from_table) => {
                    tracing::debug!(target = %self.address, "status read as performance_schema.global_status and the Com_ and Slave_ rows");
                    if default_connection == Some(false) {
                        st.slave_rows = Some(KeptSlaveRows::of(&split));
                    }
                    StatusStmt::Split
                }
                Ok(_) => StatusStmt::Whole,
                Err(mysql_async::Error::Server(e)) => {
                    tracing::debug!(target = %self.address, code = e.code, "performance_schema.global_status not readable ({}); SHOW GLOBAL STATUS stays", e.message);
                    StatusStmt::Whole
                }
                Err(e) => return Err(self.stmt_err(e, reconnected)),
            };
        }
        let (trx, trx_time) = match counter.and_then(|c| Some((c, counter_sql(c)?))) {
            Some((c, sql)) => {
                after.questions += 1.0;
                after.selects += 1.0;
                let read = match pre_counter {
                    Some(row) => Ok(row),
                    None => conn.query_first::<Row, _>(sql).await,
                };
                match read.map(counter_value) {
                    Ok(Some((v, time))) => (Some((c, v)), time),
                    Ok(None) => (None, None),
                    Err(e) => {
                        tracing::debug!(target = %self.address, error = %e, "transaction counter unavailable");
                        (None, None)
                    }
                }
            }
            None => (None, None),
        };
        let (variables, max_connections) = self
            .read_variables(
                &mut conn,
                &mut st.variables,
                reconnected,
                &mut after,
                pre_variables,
            )
            .await?;
        let processlist = if self.processlist {
            after.questions += 1.0;
            after.selects += 1.0;
            let rows: Vec<(String, String, String, String, f64, f64)> = conn
                .query(PROCESSLIST_SQL)
                .await
                .map_err(|e| self.stmt_err(e, reconnected))?;
            Some(
                rows.into_iter()
                    .map(
                        |(user, host, command, state, threads, seconds)| ProcesslistRow {
                            user,
                            host,
                            command,
                            state,
                            threads,
                            seconds,
                        },
                    )
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        };

        if st.size.is_none_or(|(t, _)| t.elapsed() >= SIZE_EVERY) {
            after.questions += 1.0;
            after.selects += 1.0;
            // NULL when the user sees no table: it needs a privilege on the schemas (SELECT,
            // or SHOW VIEW...) for information_schema to list them.
            let size = match query_number(&mut conn, SIZE_SQL).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!(target = %self.address, error = %e, "data size not readable");
                    None
                }
            };
            st.size = Some((Instant::now(), size));
        }

        let heartbeat = match &self.heartbeat {
            None => None,
            Some(h) => {
                after.questions += 1.0;
                after.selects += 1.0;
                let read = match conn.query_first::<Option<i64>, _>(h.sql()).await {
                    Ok(Some(Some(us))) => Ok(us as f64 / 1e6),
                    Ok(Some(None)) => Err(format!(
                        "ts of server_id {} in {} is not a date and time",
                        h.server_id, h.table
                    )),
                    Ok(None) => Err(format!(
                        "no row for server_id {} in {}",
                        h.server_id, h.table
                    )),
                    // A missing table or privilege is the heartbeat's problem, not the poll's.
                    Err(mysql_async::Error::Server(e)) => {
                        Err(format!("error {}: {}", e.code, e.message))
                    }
                    Err(e) => return Err(self.stmt_err(e, reconnected)),
                };
                if let Err(why) = &read {
                    tracing::debug!(target = %self.address, "heartbeat not read: {why}");
                }
                Some(HeartbeatRead {
                    table: &h.table,
                    server_id: h.server_id,
                    channel: &h.channel,
                    lag: read,
                })
            }
        };

        st.status_rows = status_rows.len();
        let status = Status::from_rows_kept(status_rows, &mut st.status_order);
        let cur = Counters::new(at, &status, trx, trx_time);
        let own = OwnStatements {
            questions: st.after_status.questions + before.questions,
            selects: st.after_status.selects + before.selects,
        };
        let win = st.prev.as_ref().and_then(|p| window(p, &cur, own));
        if let Some((_, n)) = win.as_ref().and_then(|w| w.transactions) {
            st.transactions_total += n;
        }

        // As many families as the last poll's, room made once.
        let mut out = Vec::with_capacity(st.families);
        out.push(Family::single(
            "mysql_up",
            "Whether the MySQL server is up.",
            crate::model::Kind::Gauge,
            1.0,
        ));
        out.extend(status_families(&status));
        out.extend(variables);
        if let Some(rows) = &processlist {
            out.extend(processlist_families(rows));
        }
        out.extend(replica_families(&replica_rows));
        if let Some(h) = &heartbeat {
            out.extend(heartbeat_families(h));
        }
        if let Some(plan) = &self.read_only_plan {
            out.extend(read_only_families(
                plan.role.as_str(),
                plan.phase.as_str(),
                plan.read_only(),
            ));
        }
        out.extend(derived_families(
            &status,
            max_connections,
            win.as_ref(),
            st.transactions_total,
        ));
        if let Some((_, Some(b))) = st.size {
            out.push(Family::single(
                "headroom_mysql_data_size_bytes",
                "Data and index size of the tables outside the server's own schemas (information_schema.TABLES, read every 10 minutes).",
                crate::model::Kind::Gauge,
                b,
            ));
        }

        let (baseline, held) = next_baseline(st.prev.take(), cur, st.held);
        st.prev = Some(baseline);
        st.held = held;
        st.after_status = if held {
            OwnStatements {
                questions: own.questions + after.questions,
                selects: own.selects + after.selects,
            }
        } else {
            after
        };
        st.families = out.len();
        st.conn = Some(conn);
        Ok(out.into())
    }
}

/// A row as (column name, value) pairs, NULL as `None`.
fn row_pairs(r: Row) -> ReplicaRow {
    let names: Vec<String> = r
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let v = r
                .get_opt::<Option<String>, _>(i)
                .and_then(|x| x.ok())
                .flatten();
            (n, v)
        })
        .collect()
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("mysql", "mysql_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = MysqlPoller;

    fn poller(&self, at: Spawn<'_>) -> MysqlPoller {
        MysqlPoller::with_clients(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_as_each_phase_expects_of_each_role() {
        use Phase::*;
        let table = [
            (Role::Source, [false, true, true, true]),
            (Role::Destination, [true, true, true, false]),
        ];
        for (role, expected) in table {
            for (phase, ro) in [Before, Freeze, Cutover, After].into_iter().zip(expected) {
                assert_eq!(role.read_only_in(phase), ro, "{role:?} in {phase:?}");
            }
        }
    }

    #[test]
    fn kept_slave_rows_are_those_the_table_leaves_out() {
        let pair = |k: &str, v: &str| (k.to_owned(), Some(v.to_owned()));
        // As MariaDB 10.11 sends them: the Com_ rows, the Slave_ rows, the table.
        let read = SplitRead {
            rows: vec![
                pair("Com_change_master", "2"),
                pair("Com_select", "9"),
                pair("Slave_connections", "1"),
                pair("Slave_heartbeat_period", "30.000"),
                pair("Slave_running", "OFF"),
                pair("SLAVE_CONNECTIONS", "1"),
                pair("SLAVES_CONNECTED", "1"),
            ],
            slave: 2..5,
            from_table: 2,
            tails: Vec::new(),
        };
        let kept = KeptSlaveRows::of(&read);
        assert_eq!(
            kept.rows,
            [
                pair("Slave_heartbeat_period", "30.000"),
                pair("Slave_running", "OFF")
            ]
        );
        assert_eq!(kept.changes.as_deref(), Some("2"));
    }

    #[test]
    fn heartbeat_statement() {
        let h = Heartbeat {
            table: "percona.heartbeat".into(),
            server_id: 1,
            channel: String::new(),
            utc: true,
        };
        assert_eq!(
            h.sql(),
            "SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) FROM `percona`.`heartbeat` WHERE server_id = 1"
        );
        let local = Heartbeat { utc: false, ..h };
        assert!(local.sql().contains("NOW(6)"));
        assert!(identifier("heartbeat") && identifier("db_1$"));
        assert!(!identifier("x`; DROP") && !identifier("") && !identifier("a.b"));
    }
}
