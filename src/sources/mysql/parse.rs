//! Pure parsing of MySQL/MariaDB status output and the derived series.
//!
//! Series from `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES` are named as
//! prometheus/mysqld_exporter names them (`collector/global_status.go`,
//! `global_variables.go`): `com_*` become `mysql_global_status_commands_total{command}`,
//! `handler_*` `handlers_total{handler}`, and so on; everything else numeric becomes an
//! untyped `mysql_global_status_<name>`. Derived series are headroom's own (`headroom_mysql_*`).

use std::collections::HashMap;

use crate::model::{Family, Kind, Sample};

/// Which counter the transaction rate comes from. See the MySQL Reference Manual, "Server
/// Status Variables" (`Com_xxx`, `Handler_commit`) and "Performance Schema Transaction Tables":
/// `Com_commit + Com_rollback` reads 0 for autocommit workloads and `Handler_commit`
/// over-counts, so the performance_schema and INNODB_METRICS counters come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TpsCounter {
    /// `SUM(COUNT_STAR)` of `performance_schema.events_transactions_summary_global_by_event_name`:
    /// exact, counts autocommit statements; on by default in MySQL 8.0.
    PerformanceSchema,
    /// `trx_rw_commits + trx_ro_commits + trx_nl_ro_commits + trx_rollbacks` from
    /// `information_schema.INNODB_METRICS` (needs `innodb_monitor_enable='trx_%'`).
    InnodbMetrics,
    /// `Com_commit + Com_rollback`: explicit transactions only.
    ComCommit,
    /// `Questions` (minus headroom's own statements): statements per second, used when no
    /// transaction counter is available, and labelled so.
    Questions,
}

impl TpsCounter {
    pub fn as_str(self) -> &'static str {
        match self {
            TpsCounter::PerformanceSchema => "performance_schema",
            TpsCounter::InnodbMetrics => "innodb_metrics",
            TpsCounter::ComCommit => "com_commit",
            TpsCounter::Questions => "questions",
        }
    }
}

/// Global variables read again every poll, between two reads of the whole set
/// (`variables_refresh`): the ones a check or the capacity model reads and that can be
/// changed at run time (`SET GLOBAL`, MariaDB's online buffer pool resize). They are read
/// as `SELECT @@GLOBAL.x, ...`, one row, where `SHOW GLOBAL VARIABLES` makes the server
/// build and filter the table of all of them (the MariaDB Knowledge Base, "System
/// Variables": `@@GLOBAL.var_name`). A name the server lacks (MariaDB has no
/// `super_read_only`) is left out of the statement: the whole set says which exist.
pub const FRESH_VARIABLES: &[&str] = &[
    "max_connections",
    "read_only",
    "super_read_only",
    "innodb_buffer_pool_size",
];

/// The statement reading `FRESH_VARIABLES` that exist in `known` (the last whole set), or
/// `None` when none does.
pub fn fresh_variables_sql(
    known: &[(String, Option<String>)],
) -> Option<(String, Vec<&'static str>)> {
    let names: Vec<&'static str> = FRESH_VARIABLES
        .iter()
        .copied()
        .filter(|n| known.iter().any(|(k, _)| k.eq_ignore_ascii_case(n)))
        .collect();
    if names.is_empty() {
        return None;
    }
    let cols: Vec<String> = names.iter().map(|n| format!("@@GLOBAL.{n}")).collect();
    Some((format!("SELECT {}", cols.join(", ")), names))
}

/// A status or variable value as a number, the way mysqld_exporter's `parseStatus` reads
/// them: numbers, and ON/OFF-like words. Anything else is not a metric.
pub fn parse_value(v: &str) -> Option<f64> {
    // Numbers first, and the words without a lower-cased copy: every status row and
    // variable of every poll comes through here. Most are counters: up to 15 digits are
    // below 2^53, so their integer is exactly the float `parse::<f64>` would give, for a
    // fraction of its work.
    if (1..=15).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(|n| n as f64);
    }
    if let Ok(f) = v.parse::<f64>() {
        return f.is_finite().then_some(f);
    }
    let is = |words: &[&str]| words.iter().any(|w| v.eq_ignore_ascii_case(w));
    if is(&["yes", "on", "primary"]) {
        Some(1.0)
    } else if is(&[
        "no",
        "off",
        "disabled",
        "connecting",
        "non-primary",
        "disconnected",
    ]) {
        Some(0.0)
    } else {
        None
    }
}

/// `SHOW GLOBAL STATUS` as numbers, by lower-case name, sorted by name. A sorted vector
/// rather than a hash map: the families come out in order without sorting again, and a
/// poll's few lookups are binary searches (the release build's callgrind profile had the
/// map's building and hashing and the sort of its keys at a quarter of the poll). The
/// server sends its rows nearly, not exactly, in that order (MariaDB 10.11 puts
/// `acl_package_spec_grants` after `acl_procedure_grants`, among others), so the sort is a
/// real one; a poller keeps its order for the next poll's rows ([`StatusOrder`]), which come
/// with the same names in the same order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status(pub Vec<(String, f64)>);

impl Status {
    /// From the rows as the driver returns them; each name is lower-cased in place.
    pub fn from_rows(rows: Vec<(String, Option<String>)>) -> Status {
        Status::from_rows_kept(rows, &mut StatusOrder::default())
    }

    /// [`Status::from_rows`], sorting the rows in the order `kept` holds when they come with
    /// the same names in the same order as the rows it was made for (a server's status
    /// variables stay the same from one poll to the next), and keeping this call's order in
    /// it otherwise. Where a name comes twice, its first numeric value counts.
    pub fn from_rows_kept(
        mut rows: Vec<(String, Option<String>)>,
        kept: &mut StatusOrder,
    ) -> Status {
        let same = kept.names.len() == rows.len()
            && kept.names.iter().zip(&rows).all(|(a, (b, _))| a == b);
        if !same {
            kept.names = rows.iter().map(|(k, _)| k.clone()).collect();
            let lower: Vec<String> = rows.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
            kept.order = (0..rows.len() as u32).collect();
            // Stable: of two rows of one name, the first stays first.
            kept.order
                .sort_by(|&a, &b| lower[a as usize].cmp(&lower[b as usize]));
        }
        let mut v: Vec<(String, f64)> = Vec::with_capacity(rows.len());
        for &i in &kept.order {
            let (k, val) = &mut rows[i as usize];
            let Some(x) = val.as_deref().and_then(parse_value) else {
                continue;
            };
            if v.last()
                .is_some_and(|(last, _)| last.eq_ignore_ascii_case(k))
            {
                continue;
            }
            let mut k = std::mem::take(k);
            k.make_ascii_lowercase();
            v.push((k, x));
        }
        Status(v)
    }

    pub fn get(&self, k: &str) -> Option<f64> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(k))
            .ok()
            .map(|i| self.0[i].1)
    }

    fn sum(&self, keys: &[&str]) -> f64 {
        keys.iter().filter_map(|k| self.get(k)).sum()
    }
}

/// The order [`Status::from_rows_kept`] sorted a poll's status rows into, with the names
/// it was made for, as the server sent them.
#[derive(Debug, Default)]
pub struct StatusOrder {
    names: Vec<String>,
    /// Indices of the rows, in the order of their lower-case names.
    order: Vec<u32>,
}

/// `mysql_global_status_<key>` of each status key (lower-case) that is not in a group.
static STATUS_NAMES: crate::model::NamesByKey = crate::model::NamesByKey::new();

/// Families of `SHOW GLOBAL STATUS`, as mysqld_exporter groups them.
pub fn status_families(status: &Status) -> Vec<Family> {
    use Kind::{Counter, Gauge, Untyped};
    let mut commands = Family::new(
        "mysql_global_status_commands",
        "Total number of executed MySQL commands.",
        Counter,
    );
    let mut handlers = Family::new(
        "mysql_global_status_handlers",
        "Total number of executed MySQL handlers.",
        Counter,
    );
    let mut conn_errors = Family::new(
        "mysql_global_status_connection_errors",
        "Total number of MySQL connection errors.",
        Counter,
    );
    let mut bp_pages = Family::new(
        "mysql_global_status_buffer_pool_pages",
        "Innodb buffer pool pages by state.",
        Gauge,
    );
    let mut bp_changes = Family::new(
        "mysql_global_status_buffer_pool_page_changes",
        "Innodb buffer pool page state changes.",
        Counter,
    );
    let mut row_ops = Family::new(
        "mysql_global_status_innodb_row_ops",
        "Total number of MySQL InnoDB row operations.",
        Counter,
    );
    let mut ps_lost = Family::new(
        "mysql_global_status_performance_schema_lost",
        "Total number of MySQL instrumentations that could not be loaded or created due to memory constraints.",
        Counter,
    );
    let mut out = Vec::with_capacity(status.0.len() / 2);
    for (key, v) in &status.0 {
        let v = *v;
        let grouped = [
            ("com_", &mut commands, "command"),
            ("handler_", &mut handlers, "handler"),
            ("connection_errors_", &mut conn_errors, "error"),
            ("innodb_rows_", &mut row_ops, "operation"),
            ("performance_schema_", &mut ps_lost, "instrumentation"),
        ];
        let mut done = false;
        for (prefix, fam, label) in grouped {
            if let Some(rest) = key.strip_prefix(prefix) {
                fam.push(label, rest, v);
                done = true;
                break;
            }
        }
        if done {
            continue;
        }
        if let Some(rest) = key.strip_prefix("innodb_buffer_pool_pages_") {
            match rest {
                "data" | "free" | "misc" => bp_pages.push("state", rest, v),
                // mysqld_exporter exports dirty pages as a gauge of their own; headroom's
                // dashboards read them as a state of the pages, so both are here.
                "dirty" => {
                    bp_pages.push("state", rest, v);
                    out.push(Family::single(
                        "mysql_global_status_buffer_pool_dirty_pages",
                        "Innodb buffer pool dirty pages.",
                        Gauge,
                        v,
                    ));
                }
                _ => bp_changes.push("operation", rest, v),
            }
            continue;
        }
        let name = STATUS_NAMES.get(key, |key, name| {
            name.push_str("mysql_global_status_");
            push_sanitized(name, key);
        });
        out.push(Family::single(
            name,
            "Generic metric from SHOW GLOBAL STATUS.",
            Untyped,
            v,
        ));
    }
    for f in [
        commands,
        handlers,
        conn_errors,
        bp_pages,
        bp_changes,
        row_ops,
        ps_lost,
    ] {
        if !f.samples.is_empty() {
            out.push(f);
        }
    }
    out
}

/// Families of `SHOW GLOBAL VARIABLES`, as mysqld_exporter's global_variables collector
/// exports them: every variable with a numeric value (`ON`/`YES` 1, `OFF`/`NO` 0, see
/// [`parse_value`]) as the gauge `mysql_global_variables_<name>` (the name lower-cased,
/// anything but `[a-z0-9_]` as `_`), plus `mysql_version_info{innodb_version, version,
/// version_comment}`, `mysql_transaction_isolation{level}` and, on a Galera node,
/// `mysql_galera_variables_info{wsrep_cluster_name}` and `mysql_galera_gcache_size_bytes`.
pub fn variable_families(rows: &[(String, Option<String>)]) -> Vec<Family> {
    let mut out = Vec::with_capacity(rows.len() + 4);
    let text = |name: &str| {
        rows.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut name = String::with_capacity(64);
    for (k, v) in rows {
        if let Some(x) = v.as_deref().and_then(parse_value) {
            name.clear();
            name.push_str("mysql_global_variables_");
            push_sanitized(&mut name, &k.to_ascii_lowercase());
            out.push(Family::single(
                crate::model::intern(&name),
                "Generic gauge metric from SHOW GLOBAL VARIABLES.",
                Kind::Gauge,
                x,
            ));
        }
    }
    out.push(Family {
        name: "mysql_version_info".into(),
        help: "MySQL version and distribution.".into(),
        kind: Kind::Gauge,
        samples: smallvec::smallvec![Sample {
            labels: vec![
                ("innodb_version".into(), text("innodb_version")),
                ("version".into(), text("version")),
                ("version_comment".into(), text("version_comment")),
            ],
            value: 1.0,
        }],
    });
    // MySQL 8.0 and MariaDB 11.1 renamed tx_isolation to transaction_isolation.
    let level = Some(text("transaction_isolation"))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| text("tx_isolation"));
    if !level.is_empty() {
        let mut f = Family::new(
            "mysql_transaction_isolation",
            "MySQL transaction isolation.",
            Kind::Gauge,
        );
        f.push("level", level, 1.0);
        out.push(f);
    }
    let cluster = text("wsrep_cluster_name");
    if !cluster.is_empty() {
        let mut f = Family::new(
            "mysql_galera_variables_info",
            "PXC/Galera variables information.",
            Kind::Gauge,
        );
        f.push("wsrep_cluster_name", cluster, 1.0);
        out.push(f);
    }
    let provider = text("wsrep_provider_options");
    if !provider.is_empty() {
        out.push(Family::single(
            "mysql_galera_gcache_size_bytes",
            "PXC/Galera gcache size.",
            Kind::Gauge,
            gcache_size(&provider),
        ));
    }
    out
}

/// `gcache.size` of Galera's `wsrep_provider_options` (`...; gcache.size = 128M; ...`) in
/// bytes, a `M` or `G` suffix being binary mega- and gigabytes; 0 when it has none, as
/// mysqld_exporter reads it.
fn gcache_size(options: &str) -> f64 {
    let Some(rest) = options.split(';').find_map(|o| {
        let (k, v) = o.split_once('=')?;
        (k.trim() == "gcache.size").then(|| v.trim())
    }) else {
        return 0.0;
    };
    let (digits, unit) = rest.split_at(
        rest.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let n: f64 = digits.parse().unwrap_or(0.0);
    match unit {
        "M" => n * 1024.0 * 1024.0,
        "G" => n * 1024.0 * 1024.0 * 1024.0,
        "" => n,
        _ => 0.0,
    }
}

/// Threads of `information_schema.PROCESSLIST` by user, client host (without its port),
/// command and state, with the sum of their `TIME`, the poller's own connection left out, as
/// mysqld_exporter's info_schema.processlist collector reads it (without its `min_time`,
/// which defaults to 0).
pub const PROCESSLIST_SQL: &str = "SELECT COALESCE(USER, ''), SUBSTRING_INDEX(COALESCE(HOST, ''), ':', 1), \
     COALESCE(COMMAND, ''), COALESCE(STATE, ''), COUNT(*), COALESCE(SUM(TIME), 0) \
     FROM information_schema.PROCESSLIST WHERE ID != CONNECTION_ID() GROUP BY 1, 2, 3, 4";

/// One row of [`PROCESSLIST_SQL`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProcesslistRow {
    pub user: String,
    pub host: String,
    pub command: String,
    pub state: String,
    pub threads: f64,
    pub seconds: f64,
}

/// A command or state as mysqld_exporter's processlist collector buckets it: lower case,
/// `;`, `,`, `:`, `.`, `(` and `)` dropped, spaces and `-` as `_`, empty as `unknown`.
pub fn processlist_bucket(s: &str) -> String {
    if s.is_empty() {
        return "unknown".into();
    }
    s.to_lowercase()
        .chars()
        .filter(|c| !matches!(c, ';' | ',' | ':' | '.' | '(' | ')'))
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

/// `mysql_info_schema_processlist_threads{command, state}`,
/// `mysql_info_schema_processlist_seconds{command, state}`,
/// `mysql_info_schema_processlist_processes_by_user{mysql_user}` and
/// `mysql_info_schema_processlist_processes_by_host{client_host}` (an empty host as
/// `unknown`), as mysqld_exporter exports them. Rows that fall in the same bucket once
/// sanitised are summed.
pub fn processlist_families(rows: &[ProcesslistRow]) -> Vec<Family> {
    use std::collections::BTreeMap;
    let mut buckets: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    let mut users: BTreeMap<&str, f64> = BTreeMap::new();
    let mut hosts: BTreeMap<&str, f64> = BTreeMap::new();
    for r in rows {
        let e = buckets
            .entry((processlist_bucket(&r.command), processlist_bucket(&r.state)))
            .or_default();
        e.0 += r.threads;
        e.1 += r.seconds;
        *users.entry(&r.user).or_default() += r.threads;
        let host = if r.host.is_empty() {
            "unknown"
        } else {
            &r.host
        };
        *hosts.entry(host).or_default() += r.threads;
    }
    let mut by_user = Family::new(
        "mysql_info_schema_processlist_processes_by_user",
        "The number of processes by user.",
        Kind::Gauge,
    );
    for (u, n) in users {
        by_user.push("mysql_user", u, n);
    }
    let mut by_host = Family::new(
        "mysql_info_schema_processlist_processes_by_host",
        "The number of processes by host.",
        Kind::Gauge,
    );
    for (h, n) in hosts {
        by_host.push("client_host", h, n);
    }
    let mut threads = Family::new(
        "mysql_info_schema_processlist_threads",
        "The number of threads split by current state.",
        Kind::Gauge,
    );
    let mut seconds = Family::new(
        "mysql_info_schema_processlist_seconds",
        "The number of seconds threads have used split by current state.",
        Kind::Gauge,
    );
    for ((command, state), (n, secs)) in buckets {
        let labels = vec![("command".into(), command), ("state".into(), state)];
        threads.samples.push(Sample {
            labels: labels.clone(),
            value: n,
        });
        seconds.samples.push(Sample {
            labels,
            value: secs,
        });
    }
    [threads, seconds, by_user, by_host]
        .into_iter()
        .filter(|f| !f.samples.is_empty())
        .collect()
}

/// One row of `SHOW ALL SLAVES STATUS` / `SHOW REPLICA STATUS` / `SHOW SLAVE STATUS`, by
/// column name.
pub type ReplicaRow = Vec<(String, Option<String>)>;

/// The value of the first of `names` that the row has (MySQL 8.0.22 renamed `Master_*` and
/// `Slave_*` columns to `Source_*` and `Replica_*`), or `None` when it has none of them.
fn column<'a>(row: &'a ReplicaRow, names: &[&str]) -> Option<Option<&'a str>> {
    row.iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v.as_deref())
}

/// Whether replica status rows have the default connection, which the server's `Slave_*`
/// status variables describe: a row whose `Connection_name` (MariaDB) or `Channel_Name`
/// (MySQL) is empty, or that has neither (`SHOW SLAVE STATUS` of a single-source server).
pub fn has_default_connection(rows: &[ReplicaRow]) -> bool {
    rows.iter().any(|row| {
        column(row, &["Connection_name", "Channel_Name"]).is_none_or(|v| v.unwrap_or("").is_empty())
    })
}

/// Error texts as one line: the check output and the label carry them.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every replication connection of a server, one row each:
/// - `mysql_slave_status_<column>` for every numeric column, as mysqld_exporter names them
///   (collector/slave_status.go), labelled `channel_name` (MySQL), `connection_name`
///   (MariaDB), `master_host` and `master_uuid`;
/// - headroom's own, labelled `channel` (the connection's name whatever the server calls it;
///   `""` is the default connection): `headroom_mysql_replica_lag_seconds`
///   (Seconds_Behind_Master, which keeps its `channel_name` and `connection_name` labels too),
///   `headroom_mysql_replica_io_running`, `headroom_mysql_replica_sql_running`, and
///   `headroom_mysql_replica_last_error_info{thread, errno, error}` while a thread has an error
///   recorded. The error text is a label: it changes only when a new error replaces it (a
///   reconnecting IO thread repeats the same text), so the series is as stable as the error.
pub fn replica_families(rows: &[ReplicaRow]) -> Vec<Family> {
    let mut by_name: HashMap<String, Family> = HashMap::new();
    let mut lag = Family::new(
        "headroom_mysql_replica_lag_seconds",
        "Seconds_Behind_Master (Seconds_Behind_Source) of each replication connection; absent when NULL (the SQL thread not running, or the IO thread never connected).",
        Kind::Gauge,
    );
    let mut io = Family::new(
        "headroom_mysql_replica_io_running",
        "1 when the replication IO (receiver) thread of the connection runs (Slave_IO_Running / Replica_IO_Running is Yes); 0 for No and for Connecting (still trying to connect to its source).",
        Kind::Gauge,
    );
    let mut sql = Family::new(
        "headroom_mysql_replica_sql_running",
        "1 when the replication SQL (applier) thread of the connection runs (Slave_SQL_Running / Replica_SQL_Running is Yes), else 0.",
        Kind::Gauge,
    );
    let mut errors = Family::new(
        "headroom_mysql_replica_last_error",
        "The last error of a replication thread (thread io or sql) while one is recorded (Last_IO_Errno / Last_SQL_Errno not 0): its number and text.",
        Kind::Info,
    );
    for row in rows {
        let col = |names: &[&str]| column(row, names).flatten().unwrap_or_default().to_owned();
        let channel_name = col(&["Channel_Name"]);
        let connection_name = col(&["Connection_name"]);
        let channel = if channel_name.is_empty() {
            connection_name.clone()
        } else {
            channel_name.clone()
        };
        let labels = vec![
            ("channel_name".into(), channel_name.clone()),
            ("connection_name".into(), connection_name.clone()),
            ("master_host".into(), col(&["Master_Host", "Source_Host"])),
            ("master_uuid".into(), col(&["Master_UUID", "Source_UUID"])),
        ];
        for (k, v) in row {
            let Some(x) = v.as_deref().and_then(parse_value) else {
                continue;
            };
            let name = format!("mysql_slave_status_{}", sanitize(&k.to_ascii_lowercase()));
            by_name
                .entry(name.clone())
                .or_insert_with(|| {
                    Family::new(
                        name,
                        "Generic metric from SHOW SLAVE STATUS.",
                        Kind::Untyped,
                    )
                })
                .samples
                .push(Sample {
                    labels: labels.clone(),
                    value: x,
                });
        }
        let own = |extra: &[(&'static str, String)]| {
            let mut l: Vec<(std::borrow::Cow<'static, str>, String)> =
                vec![("channel".into(), channel.clone())];
            l.extend(extra.iter().map(|(k, v)| ((*k).into(), v.clone())));
            l
        };
        if let Some(secs) = parse_value(&col(&["Seconds_Behind_Master", "Seconds_Behind_Source"])) {
            lag.samples.push(Sample {
                labels: own(&[
                    ("channel_name", channel_name.clone()),
                    ("connection_name", connection_name.clone()),
                ]),
                value: secs,
            });
        }
        for (fam, names) in [
            (&mut io, ["Slave_IO_Running", "Replica_IO_Running"]),
            (&mut sql, ["Slave_SQL_Running", "Replica_SQL_Running"]),
        ] {
            if let Some(v) = column(row, &names) {
                let yes = v.is_some_and(|v| v.eq_ignore_ascii_case("yes"));
                fam.samples.push(Sample {
                    labels: own(&[]),
                    value: if yes { 1.0 } else { 0.0 },
                });
            }
        }
        for (thread, errno, error) in [
            ("io", "Last_IO_Errno", "Last_IO_Error"),
            ("sql", "Last_SQL_Errno", "Last_SQL_Error"),
        ] {
            let n = col(&[errno]);
            if n.is_empty() || n == "0" {
                continue;
            }
            errors.samples.push(Sample {
                labels: own(&[
                    ("thread", thread.to_owned()),
                    ("errno", n),
                    ("error", one_line(&col(&[error]))),
                ]),
                value: 1.0,
            });
        }
    }
    let mut out: Vec<Family> = by_name.into_values().collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    for f in [lag, io, sql, errors] {
        if !f.samples.is_empty() {
            out.push(f);
        }
    }
    out
}

/// What one read of a pt-heartbeat table gave.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatRead<'a> {
    pub table: &'a str,
    pub server_id: u32,
    /// The replication connection it measures.
    pub channel: &'a str,
    /// Seconds between the row's `ts` and the server's clock, or why there is none.
    pub lag: Result<f64, String>,
}

/// `headroom_mysql_heartbeat_lag_seconds{channel}` when the row was read (a row newer than
/// the server's clock, clocks apart, counts as no lag), and
/// `headroom_mysql_heartbeat_info{channel, table, server_id, error}`, which says that a
/// heartbeat is configured and, when it could not be read, why.
pub fn heartbeat_families(h: &HeartbeatRead<'_>) -> Vec<Family> {
    let mut out = Vec::new();
    if let Ok(lag) = h.lag {
        let mut f = Family::new(
            "headroom_mysql_heartbeat_lag_seconds",
            "Seconds since the source wrote the pt-heartbeat row this server has applied (its ts against this server's clock): replication lag that keeps growing while the SQL thread is stopped or stalled.",
            Kind::Gauge,
        );
        f.push("channel", h.channel, lag.max(0.0));
        out.push(f);
    }
    out.push(Family {
        name: "headroom_mysql_heartbeat".into(),
        help: "The pt-heartbeat table configured for this target; error is why it could not be read (empty when it was).".into(),
        kind: Kind::Info,
        samples: smallvec::smallvec![Sample {
            labels: vec![
                ("channel".into(), h.channel.to_owned()),
                ("table".into(), h.table.to_owned()),
                ("server_id".into(), h.server_id.to_string()),
                ("error".into(), h.lag.as_ref().err().map(|e| one_line(e)).unwrap_or_default()),
            ],
            value: 1.0,
        }],
    });
    out
}

/// `headroom_mysql_read_only_expected{role, phase}`: 1 when the phase of `dday:` wants a
/// server of this role read-only, 0 when it wants it writable.
pub fn read_only_families(role: &str, phase: &str, read_only: bool) -> Vec<Family> {
    vec![Family {
        name: "headroom_mysql_read_only_expected".into(),
        help: "1 when the migration's phase wants this server read-only (a source from the freeze on, a destination until after), 0 when it wants it writable.".into(),
        kind: Kind::Gauge,
        samples: smallvec::smallvec![Sample {
            labels: vec![
                ("role".into(), role.to_owned()),
                ("phase".into(), phase.to_owned()),
            ],
            value: if read_only { 1.0 } else { 0.0 },
        }],
    }]
}

/// Metric names allow `[a-zA-Z0-9_]`; status names are already that, but be safe.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_sanitized(&mut out, s);
    out
}

/// `s` onto `out` with every character but ASCII letters, digits and `_` made `_`.
fn push_sanitized(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

/// What one poll read that the derived series need.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    /// Seconds since the poller started, when the status was read.
    pub at: f64,
    pub uptime: f64,
    pub questions: f64,
    pub reads: f64,
    pub writes: f64,
    pub com_commit_rollback: f64,
    pub bp_reads: f64,
    pub bp_read_requests: f64,
    /// The transaction counter that was read this poll, if any.
    pub trx: Option<(TpsCounter, f64)>,
    /// performance_schema's summed transaction time, picoseconds, read with the counter.
    pub trx_time_ps: Option<f64>,
}

/// How far each of [`Counters::plain`] went from `prev` to `cur`, in its order; None when
/// one went back.
fn steps(prev: &Counters, cur: &Counters) -> Option<[f64; 6]> {
    let (a, b) = (prev.plain(), cur.plain());
    let mut out = [0.0; 6];
    for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
        let d = b - a;
        if d >= 0.0 {
            *o = d;
        } else {
            return None;
        }
    }
    Some(out)
}

/// Statements that count as writes in the read/write mix.
const WRITE_COMMANDS: &[&str] = &[
    "com_insert",
    "com_insert_select",
    "com_update",
    "com_update_multi",
    "com_delete",
    "com_delete_multi",
    "com_replace",
    "com_replace_select",
    "com_load",
];

impl Counters {
    pub fn new(
        at: f64,
        s: &Status,
        trx: Option<(TpsCounter, f64)>,
        trx_time_ps: Option<f64>,
    ) -> Counters {
        Counters {
            at,
            uptime: s.get("uptime").unwrap_or(0.0),
            questions: s.get("questions").unwrap_or(0.0),
            reads: s.get("com_select").unwrap_or(0.0),
            writes: s.sum(WRITE_COMMANDS),
            com_commit_rollback: s.sum(&["com_commit", "com_rollback"]),
            bp_reads: s.get("innodb_buffer_pool_reads").unwrap_or(0.0),
            bp_read_requests: s.get("innodb_buffer_pool_read_requests").unwrap_or(0.0),
            trx,
            trx_time_ps,
        }
    }

    /// The plain counters a window takes the difference of, each only going up while the
    /// server runs: questions, reads, writes, COMMITs and ROLLBACKs, buffer pool reads from
    /// disk, buffer pool read requests. Named once, for [`window`] and [`went_back`].
    fn plain(&self) -> [f64; 6] {
        [
            self.questions,
            self.reads,
            self.writes,
            self.com_commit_rollback,
            self.bp_reads,
            self.bp_read_requests,
        ]
    }
}

/// Statements headroom itself issues between two status reads, so that they do not count
/// as the workload's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OwnStatements {
    pub questions: f64,
    pub selects: f64,
}

/// Rates over one poll window. `None` when the window cannot give one: the server restarted
/// (Uptime went back), the interval was empty, or a counter went backwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub seconds: f64,
    /// Transactions in the window and the counter they came from.
    pub transactions: Option<(TpsCounter, f64)>,
    pub questions: f64,
    pub reads: f64,
    pub writes: f64,
    pub bp_miss_ratio: Option<f64>,
    /// Mean transactions in flight: performance_schema's transaction time over the window's
    /// length (Little's law). `None` without that counter or while the instrument is not
    /// timed (the time stands still while transactions complete).
    pub trx_concurrency: Option<f64>,
}

/// Computes the window between two polls. With `Auto`-chosen counters `prev` and `cur` may
/// name different transaction counters (a re-detection switched them); then no transaction
/// rate comes out of this window.
pub fn window(prev: &Counters, cur: &Counters, own: OwnStatements) -> Option<Window> {
    let dt = cur.at - prev.at;
    if dt <= 0.0 || cur.uptime < prev.uptime {
        return None;
    }
    let delta = |a: f64, b: f64| (b - a >= 0.0).then_some(b - a);
    let [questions, reads, writes, commits, r, rr] = steps(prev, cur)?;
    let questions = (questions - own.questions).max(0.0);
    let reads = (reads - own.selects).max(0.0);
    let transactions = match (prev.trx, cur.trx) {
        (Some((pc, pv)), Some((cc, cv))) if pc == cc => delta(pv, cv).map(|d| (cc, d)),
        (_, None) if commits > 0.0 => Some((TpsCounter::ComCommit, commits)),
        (_, None) => Some((TpsCounter::Questions, questions)),
        _ => None,
    };
    let trx_concurrency = match (prev.trx_time_ps, cur.trx_time_ps, transactions) {
        (Some(a), Some(b), Some((TpsCounter::PerformanceSchema, n))) if n > 0.0 => {
            delta(a, b).filter(|d| *d > 0.0).map(|d| d / 1e12 / dt)
        }
        _ => None,
    };
    Some(Window {
        seconds: dt,
        transactions,
        trx_concurrency,
        questions,
        reads,
        writes,
        bp_miss_ratio: (rr > 0.0).then(|| (r / rr).min(1.0)),
    })
}

/// Whether `cur` read a counter lower than `prev` did while the server kept running (Uptime
/// went on, and the transaction counter is the same one).
///
/// The performance_schema transaction summary can: the global row is the sum of the
/// finished sessions' totals and the live sessions' own, and a session that ends while the
/// sum is being made can be missed. Measured on MariaDB 10.11, reading the sum back to back
/// while three clients connected, ran 20 transactions each and left, in a loop: two readings
/// of 8,000 went back, one by 20 (a whole session) and one by 2; read every half millisecond
/// through 12 ends of a 16-thread sysbench run, it went back once, by 77, one thread's share.
/// Taken as the new starting point, such a reading would count those transactions again at
/// the next poll: a CI run counted 5,652 against sysbench's 5,367 as its 16 threads left.
pub fn went_back(prev: &Counters, cur: &Counters) -> bool {
    if cur.uptime < prev.uptime {
        return false; // a restart: the counters start again
    }
    let trx = match (prev.trx, cur.trx) {
        (Some((pc, pv)), Some((cc, cv))) if pc == cc => cv < pv,
        _ => false,
    };
    trx || steps(prev, cur).is_none()
        || matches!((prev.trx_time_ps, cur.trx_time_ps), (Some(a), Some(b)) if b < a)
}

/// The reading the next poll's window starts from, and whether it is held over: `cur`, unless
/// a counter went back ([`went_back`]) and the baseline was not held last poll; then `prev`
/// is kept for one poll, and the next window spans two. Still lower one poll later, the
/// counters were reset (`FLUSH STATUS`, a `TRUNCATE` of the summary table): `cur` is the new
/// start, and the polls between give no rate.
pub fn next_baseline(prev: Option<Counters>, cur: Counters, held: bool) -> (Counters, bool) {
    match prev {
        Some(p) if !held && went_back(&p, &cur) => (p, true),
        _ => (cur, false),
    }
}

/// The derived `headroom_mysql_*` families of one poll.
pub fn derived_families(
    status: &Status,
    max_connections: Option<f64>,
    win: Option<&Window>,
    transactions_total: f64,
) -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let mut out = Vec::new();
    let connected = status.get("threads_connected");
    // The poller's own connection is running SHOW GLOBAL STATUS when it reads this, and each
    // connected replica's Binlog Dump thread counts as running for as long as it is
    // connected. MariaDB counts those in Slaves_connected
    // (https://mariadb.com/kb/en/replication-and-binary-log-status-variables/#slaves_connected);
    // MySQL has no such counter.
    let replicas = status.get("slaves_connected").unwrap_or(0.0);
    let running = status
        .get("threads_running")
        .map(|r| (r - 1.0 - replicas).max(0.0));
    if let Some(r) = running {
        out.push(Family::single(
            "headroom_mysql_threads_running",
            "Threads_running without headroom's own connection and the Binlog Dump threads of connected replicas (MariaDB's Slaves_connected): server-side concurrency.",
            Gauge,
            r,
        ));
    }
    if let (Some(c), Some(m)) = (connected, max_connections.filter(|m| *m > 0.0)) {
        let mut f = Family::new(
            "headroom_mysql_connections_used_ratio",
            "Threads against max_connections: connected, running, and the high-water mark Max_used_connections.",
            Gauge,
        );
        f.push("threads", "connected", c / m);
        if let Some(r) = running {
            f.push("threads", "running", r / m);
        }
        if let Some(u) = status.get("max_used_connections") {
            f.push("threads", "max_used", u / m);
        }
        out.push(f);
    }
    if let (Some(r), Some(rr)) = (
        status.get("innodb_buffer_pool_reads"),
        status.get("innodb_buffer_pool_read_requests"),
    ) {
        let mut f = Family::new(
            "headroom_mysql_buffer_pool_hit_ratio",
            "1 - Innodb_buffer_pool_reads / Innodb_buffer_pool_read_requests: since the server started, and over the last poll interval.",
            Gauge,
        );
        if rr > 0.0 {
            f.push("window", "since_start", 1.0 - (r / rr).min(1.0));
        }
        if let Some(m) = win.and_then(|w| w.bp_miss_ratio) {
            f.push("window", "last_poll", 1.0 - m);
        }
        if !f.samples.is_empty() {
            out.push(f);
        }
    }
    out.push(Family::single(
        "headroom_mysql_transactions",
        "Transactions counted by headroom since it started, from the counter named by headroom_mysql_tps_source_info.",
        Counter,
        transactions_total,
    ));
    let Some(w) = win else { return out };
    if let Some((counter, n)) = w.transactions {
        out.push(Family::single(
            "headroom_mysql_transactions_per_second",
            "Transactions per second over the last poll interval (statements per second when the counter is `questions`).",
            Gauge,
            n / w.seconds,
        ));
        let mut info = Family::new(
            "headroom_mysql_tps_source",
            "The counter the transaction rate came from: performance_schema, innodb_metrics, com_commit or questions.",
            Kind::Info,
        );
        info.push("counter", counter.as_str(), 1.0);
        out.push(info);
    }
    if let Some(c) = w.trx_concurrency {
        out.push(Family::single(
            "headroom_mysql_transaction_concurrency",
            "Mean transactions in flight over the last poll interval: performance_schema's transaction time over elapsed time (Little's law), client round trips inside transactions included.",
            Gauge,
            c,
        ));
    }
    out.push(Family::single(
        "headroom_mysql_queries_per_second",
        "Questions per second over the last poll interval, without headroom's own statements.",
        Gauge,
        w.questions / w.seconds,
    ));
    let mut mix = Family::new(
        "headroom_mysql_statements_per_second",
        "SELECT (read) and INSERT/UPDATE/DELETE/REPLACE/LOAD (write) statements per second over the last poll interval.",
        Gauge,
    );
    mix.push("kind", "read", w.reads / w.seconds);
    mix.push("kind", "write", w.writes / w.seconds);
    out.push(mix);
    if w.reads + w.writes > 0.0 {
        out.push(Family::single(
            "headroom_mysql_read_ratio",
            "Reads / (reads + writes) over the last poll interval.",
            Gauge,
            w.reads / (w.reads + w.writes),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value as value;

    /// The rows of one status read: a name and a value (`None` for SQL NULL).
    fn rows(r: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        r.iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    /// The status as a sort of its own would give it: the numeric rows, lower-cased, sorted,
    /// the first of each name.
    fn sorted_afresh(rows: &[(String, Option<String>)]) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = rows
            .iter()
            .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), parse_value(v.as_deref()?)?)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    }

    #[test]
    fn a_kept_order_gives_what_a_fresh_sort_gives() {
        let polls = [
            // The first poll sorts; the second has the same names with other values (one of
            // them not numeric now) and uses the kept order.
            rows(&[
                ("Com_select", Some("5")),
                ("Uptime", Some("10")),
                ("Aborted_clients", Some("1")),
                ("Acl_procedure_grants", Some("0")),
                ("Acl_package_spec_grants", Some("0")),
                ("Rpl_status", Some("AUTH_MASTER")),
            ]),
            rows(&[
                ("Com_select", Some("9")),
                ("Uptime", Some("11")),
                ("Aborted_clients", Some("")),
                ("Acl_procedure_grants", None),
                ("Acl_package_spec_grants", Some("3")),
                ("Rpl_status", Some("OFF")),
            ]),
            // A name twice, in two cases, its first value not a number: the second counts.
            rows(&[
                ("Slave_running", Some("n/a")),
                ("Com_select", Some("12")),
                ("SLAVE_RUNNING", Some("ON")),
                ("Uptime", Some("12")),
            ]),
            // The same names again, now both numeric: the first counts.
            rows(&[
                ("Slave_running", Some("OFF")),
                ("Com_select", Some("13")),
                ("SLAVE_RUNNING", Some("ON")),
                ("Uptime", Some("13")),
            ]),
            // The same names in another order, then one more and one fewer.
            rows(&[
                ("Uptime", Some("14")),
                ("SLAVE_RUNNING", Some("ON")),
                ("Com_select", Some("14")),
                ("Slave_running", Some("OFF")),
            ]),
            rows(&[
                ("Uptime", Some("15")),
                ("SLAVE_RUNNING", Some("ON")),
                ("Com_select", Some("15")),
                ("Slave_running", Some("OFF")),
                ("Bytes_sent", Some("7")),
            ]),
            rows(&[("Uptime", Some("16")), ("Bytes_sent", Some("8"))]),
            rows(&[]),
        ];
        let mut kept = StatusOrder::default();
        for (i, r) in polls.iter().enumerate() {
            let got = Status::from_rows_kept(r.clone(), &mut kept);
            assert_eq!(got.0, sorted_afresh(r), "poll {i}");
            assert_eq!(got, Status::from_rows(r.clone()), "poll {i}");
        }
        assert_eq!(
            Status::from_rows(polls[1].clone()).0,
            [
                ("acl_package_spec_grants".to_owned(), 3.0),
                ("com_select".to_owned(), 9.0),
                ("rpl_status".to_owned(), 0.0),
                ("uptime".to_owned(), 11.0),
            ]
        );
        assert_eq!(
            Status::from_rows(polls[2].clone()).get("slave_running"),
            Some(1.0)
        );
        assert_eq!(
            Status::from_rows(polls[3].clone()).get("slave_running"),
            Some(0.0)
        );
    }

    fn status(rows: &[(&str, &str)]) -> Status {
        Status::from_rows(
            rows.iter()
                .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
                .collect(),
        )
    }

    #[test]
    fn values_read_as_mysqld_exporter_reads_them() {
        for (v, want) in [
            ("0", Some(0.0)),
            ("007", Some(7.0)),
            ("123456789012345", Some(123_456_789_012_345.0)),
            // 16 digits and more take the float path, and round as it does.
            ("9007199254740993", Some(9_007_199_254_740_992.0)),
            ("18446744073709551616", Some(18_446_744_073_709_551_616.0)),
            ("-5", Some(-5.0)),
            ("0.25", Some(0.25)),
            ("1e3", Some(1000.0)),
            ("ON", Some(1.0)),
            ("off", Some(0.0)),
            ("Primary", Some(1.0)),
            ("", None),
            ("inf", None),
            ("NaN", None),
            ("AUTH_MASTER", None),
            ("12a", None),
        ] {
            assert_eq!(parse_value(v), want, "{v:?}");
        }
        // The integer path gives the float path's value.
        for n in [0u64, 1, 42, 999_999_999_999_999] {
            let s = n.to_string();
            assert_eq!(parse_value(&s), s.parse::<f64>().ok(), "{s}");
        }
    }

    #[test]
    fn groups_like_mysqld_exporter() {
        let s = status(&[
            ("Com_select", "10"),
            ("Handler_commit", "7"),
            ("Innodb_buffer_pool_pages_data", "100"),
            ("Innodb_buffer_pool_pages_flushed", "5"),
            ("Innodb_rows_read", "42"),
            ("Threads_connected", "3"),
            ("Slave_running", "OFF"),
            ("Ssl_cipher", ""),
            ("Rpl_status", "AUTH_MASTER"),
        ]);
        let f = status_families(&s);
        assert_eq!(
            value(&f, "mysql_global_status_commands", &[("command", "select")]),
            Some(10.0)
        );
        assert_eq!(
            value(&f, "mysql_global_status_handlers", &[("handler", "commit")]),
            Some(7.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_global_status_buffer_pool_pages",
                &[("state", "data")]
            ),
            Some(100.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_global_status_buffer_pool_page_changes",
                &[("operation", "flushed")]
            ),
            Some(5.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_global_status_innodb_row_ops",
                &[("operation", "read")]
            ),
            Some(42.0)
        );
        assert_eq!(
            value(&f, "mysql_global_status_threads_connected", &[]),
            Some(3.0)
        );
        assert_eq!(
            value(&f, "mysql_global_status_slave_running", &[]),
            Some(0.0)
        );
        assert!(f.iter().all(|f| f.name != "mysql_global_status_ssl_cipher"
            && f.name != "mysql_global_status_rpl_status"));
    }

    #[test]
    fn window_prefers_transaction_counter_and_subtracts_own_statements() {
        let own = OwnStatements {
            questions: 4.0,
            selects: 1.0,
        };
        let mk = |at, q, trx| Counters {
            at,
            uptime: 100.0 + at,
            questions: q,
            reads: q / 2.0,
            writes: 0.0,
            com_commit_rollback: 0.0,
            bp_reads: 0.0,
            bp_read_requests: 0.0,
            trx,
            trx_time_ps: None,
        };
        let ps = |v| Some((TpsCounter::PerformanceSchema, v));
        let w = window(&mk(0.0, 100.0, ps(10.0)), &mk(2.0, 304.0, ps(210.0)), own).unwrap();
        assert_eq!(w.transactions, Some((TpsCounter::PerformanceSchema, 200.0)));
        assert_eq!(w.questions, 200.0);
        assert_eq!(w.reads, 101.0);
        // No transaction counter and no COMMITs: statements, labelled as such.
        let w = window(&mk(0.0, 100.0, None), &mk(2.0, 304.0, None), own).unwrap();
        assert_eq!(w.transactions, Some((TpsCounter::Questions, 200.0)));
        // Counter switched between polls: no rate rather than a wrong one.
        let im = Some((TpsCounter::InnodbMetrics, 5.0));
        let w = window(&mk(0.0, 100.0, ps(10.0)), &mk(2.0, 304.0, im), own).unwrap();
        assert_eq!(w.transactions, None);
        // Restart: Uptime went back.
        let mut restarted = mk(2.0, 304.0, ps(210.0));
        restarted.uptime = 1.0;
        assert!(window(&mk(0.0, 100.0, ps(10.0)), &restarted, own).is_none());
        // Transaction time: 3 s of transactions in 2 s of window is 1.5 in flight; a time that
        // stands still (the instrument not TIMED) gives nothing, not 0.
        let timed = |at, q, trx, t: f64| Counters {
            trx_time_ps: Some(t * 1e12),
            ..mk(at, q, trx)
        };
        let w = window(
            &timed(0.0, 100.0, ps(10.0), 7.0),
            &timed(2.0, 304.0, ps(210.0), 10.0),
            own,
        )
        .unwrap();
        assert_eq!(w.trx_concurrency, Some(1.5));
        let w = window(
            &timed(0.0, 100.0, ps(10.0), 7.0),
            &timed(2.0, 304.0, ps(210.0), 7.0),
            own,
        )
        .unwrap();
        assert_eq!(w.trx_concurrency, None);
    }

    /// Sums the transactions of a run of readings as the poller does: one window per poll,
    /// from the baseline `next_baseline` keeps.
    fn count_transactions(readings: &[(f64, f64)]) -> (f64, Vec<Option<f64>>) {
        let own = OwnStatements {
            questions: 0.0,
            selects: 0.0,
        };
        let (mut prev, mut held, mut total, mut rates) = (None::<Counters>, false, 0.0, vec![]);
        for (i, &(uptime, trx)) in readings.iter().enumerate() {
            let cur = Counters {
                at: i as f64,
                uptime,
                questions: 0.0,
                reads: 0.0,
                writes: 0.0,
                com_commit_rollback: 0.0,
                bp_reads: 0.0,
                bp_read_requests: 0.0,
                trx: Some((TpsCounter::PerformanceSchema, trx)),
                trx_time_ps: None,
            };
            let w = prev.as_ref().and_then(|p| window(p, &cur, own));
            let n = w
                .as_ref()
                .and_then(|w| w.transactions.map(|(_, n)| (n, w.seconds)));
            total += n.map_or(0.0, |(n, _)| n);
            rates.push(n.map(|(n, s)| n / s));
            let (baseline, h) = next_baseline(prev, cur, held);
            (prev, held) = (Some(baseline), h);
        }
        (total, rates)
    }

    #[test]
    fn a_reading_that_goes_back_is_not_counted_twice() {
        // performance_schema's sum missed a session of 300 transactions for one reading as it
        // disconnected (5,000 then 4,700 then 5,000): the run counted 5,000 - 1,000, not 300
        // more, and the window after the dip spans two polls.
        let (total, rates) = count_transactions(&[
            (10.0, 1000.0),
            (11.0, 5000.0),
            (12.0, 4700.0),
            (13.0, 5000.0),
        ]);
        assert_eq!(total, 4000.0);
        assert_eq!(rates, [None, Some(4000.0), None, Some(0.0)]);
        // A dip that the workload outgrows by the next poll: still counted once.
        let (total, _) =
            count_transactions(&[(10.0, 0.0), (11.0, 100.0), (12.0, 90.0), (13.0, 250.0)]);
        assert_eq!(total, 250.0);
        // Still lower one poll later: the counters were reset (a TRUNCATE of the summary table);
        // counting starts again from the second low reading.
        let (total, rates) = count_transactions(&[
            (10.0, 1000.0),
            (11.0, 5000.0),
            (12.0, 20.0),
            (13.0, 50.0),
            (14.0, 80.0),
        ]);
        assert_eq!(total, 4030.0);
        assert_eq!(rates, [None, Some(4000.0), None, None, Some(30.0)]);
        // A restart (Uptime went back) is not held over: the next window counts from it.
        let (total, _) =
            count_transactions(&[(10.0, 1000.0), (11.0, 5000.0), (1.0, 3.0), (2.0, 13.0)]);
        assert_eq!(total, 4010.0);
    }

    #[test]
    fn derived_ratios() {
        let s = status(&[
            ("Threads_connected", "50"),
            ("Threads_running", "11"),
            ("Max_used_connections", "80"),
            ("Innodb_buffer_pool_reads", "10"),
            ("Innodb_buffer_pool_read_requests", "1000"),
        ]);
        let w = Window {
            seconds: 2.0,
            transactions: Some((TpsCounter::InnodbMetrics, 300.0)),
            questions: 600.0,
            reads: 300.0,
            writes: 100.0,
            bp_miss_ratio: Some(0.5),
            trx_concurrency: Some(2.5),
        };
        let f = derived_families(&s, Some(200.0), Some(&w), 1234.0);
        assert_eq!(
            value(&f, "headroom_mysql_transaction_concurrency", &[]),
            Some(2.5)
        );
        assert_eq!(value(&f, "headroom_mysql_threads_running", &[]), Some(10.0));
        assert_eq!(
            value(
                &f,
                "headroom_mysql_connections_used_ratio",
                &[("threads", "connected")]
            ),
            Some(0.25)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_connections_used_ratio",
                &[("threads", "max_used")]
            ),
            Some(0.4)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_buffer_pool_hit_ratio",
                &[("window", "since_start")]
            ),
            Some(0.99)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_buffer_pool_hit_ratio",
                &[("window", "last_poll")]
            ),
            Some(0.5)
        );
        assert_eq!(
            value(&f, "headroom_mysql_transactions_per_second", &[]),
            Some(150.0)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_tps_source",
                &[("counter", "innodb_metrics")]
            ),
            Some(1.0)
        );
        assert_eq!(value(&f, "headroom_mysql_read_ratio", &[]), Some(0.75));
        assert_eq!(value(&f, "headroom_mysql_transactions", &[]), Some(1234.0));
    }

    fn row(cols: &[(&str, Option<&str>)]) -> ReplicaRow {
        cols.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn default_connection() {
        let named = |n: &str| row(&[("Connection_name", Some(n)), ("Master_Port", Some("3306"))]);
        assert!(!has_default_connection(&[]));
        assert!(!has_default_connection(&[named("aws")]));
        assert!(has_default_connection(&[named("aws"), named("")]));
        // MySQL's channels, and a single-source server's SHOW SLAVE STATUS without either column.
        assert!(!has_default_connection(&[row(&[(
            "Channel_Name",
            Some("eu")
        )])]));
        assert!(has_default_connection(&[row(&[(
            "channel_name",
            Some("")
        )])]));
        assert!(has_default_connection(&[row(&[(
            "Master_Port",
            Some("3306")
        )])]));
    }

    #[test]
    fn replica_rows() {
        let r = row(&[
            ("Master_Host", Some("10.0.0.1")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Seconds_Behind_Master", Some("7")),
            ("Connection_name", Some("")),
        ]);
        let f = replica_families(&[r]);
        assert_eq!(
            value(
                &f,
                "mysql_slave_status_seconds_behind_master",
                &[("master_host", "10.0.0.1")]
            ),
            Some(7.0)
        );
        assert_eq!(
            value(&f, "mysql_slave_status_slave_io_running", &[]),
            Some(1.0)
        );
        assert_eq!(
            value(&f, "headroom_mysql_replica_lag_seconds", &[("channel", "")]),
            Some(7.0)
        );
        // NULL lag (SQL thread stopped) gives no lag series.
        let stopped = row(&[("Seconds_Behind_Master", None)]);
        assert!(
            replica_families(&[stopped])
                .iter()
                .all(|f| f.name != "headroom_mysql_replica_lag_seconds")
        );
    }

    /// Two connections of a MariaDB 10.11 replica (the columns that matter, as
    /// `SHOW ALL SLAVES STATUS` printed them on scripts/services' replica): the default one
    /// replicating, and `aws` pointed at a port nobody listens on.
    #[test]
    fn every_mariadb_connection_with_its_threads_and_errors() {
        let default = row(&[
            ("Connection_name", Some("")),
            ("Master_Host", Some("127.0.0.1")),
            ("Master_Port", Some("19506")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Last_Errno", Some("0")),
            ("Last_Error", Some("")),
            ("Seconds_Behind_Master", Some("0")),
            ("Last_IO_Errno", Some("0")),
            ("Last_IO_Error", Some("")),
            ("Last_SQL_Errno", Some("0")),
            ("Last_SQL_Error", Some("")),
            ("Master_Server_Id", Some("1")),
        ]);
        let aws = row(&[
            ("Connection_name", Some("aws")),
            ("Master_Host", Some("127.0.0.1")),
            ("Master_Port", Some("1")),
            ("Slave_IO_Running", Some("Connecting")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Last_Errno", Some("0")),
            ("Last_Error", Some("")),
            ("Seconds_Behind_Master", None),
            ("Last_IO_Errno", Some("2003")),
            (
                "Last_IO_Error",
                Some(
                    "error connecting to master 'repl@127.0.0.1:1' - retry-time: 1  maximum-retries: 100000  message: Can't connect to server on '127.0.0.1' (111 \"Connection refused\")",
                ),
            ),
            ("Last_SQL_Errno", Some("0")),
            ("Last_SQL_Error", Some("")),
            ("Master_Server_Id", Some("0")),
        ]);
        let f = replica_families(&[default, aws]);
        let io = |c| value(&f, "headroom_mysql_replica_io_running", &[("channel", c)]);
        let sql = |c| value(&f, "headroom_mysql_replica_sql_running", &[("channel", c)]);
        assert_eq!((io(""), sql("")), (Some(1.0), Some(1.0)));
        // Connecting is not running (mysqld_exporter reads it as 0 too).
        assert_eq!((io("aws"), sql("aws")), (Some(0.0), Some(1.0)));
        assert_eq!(
            value(
                &f,
                "mysql_slave_status_slave_io_running",
                &[("connection_name", "aws"), ("channel_name", "")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_replica_lag_seconds",
                &[("channel", "aws")]
            ),
            None
        );
        let errors: Vec<&Sample> = f
            .iter()
            .filter(|f| f.name == "headroom_mysql_replica_last_error")
            .flat_map(|f| &f.samples)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let l = |k: &str| {
            errors[0]
                .labels
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(l("channel"), Some("aws"));
        assert_eq!(l("thread"), Some("io"));
        assert_eq!(l("errno"), Some("2003"));
        // Whitespace runs become one space.
        assert_eq!(
            l("error"),
            Some(
                "error connecting to master 'repl@127.0.0.1:1' - retry-time: 1 maximum-retries: 100000 message: Can't connect to server on '127.0.0.1' (111 \"Connection refused\")"
            )
        );
    }

    /// MySQL 8.0.22+ `SHOW REPLICA STATUS` names its columns Replica_* and Source_* and a
    /// channel by Channel_Name
    /// (https://dev.mysql.com/doc/refman/8.0/en/show-replica-status.html); no MySQL server
    /// runs in the tests, so the row is written from that page's column list.
    #[test]
    fn mysql_8_channels() {
        let r = row(&[
            ("Replica_IO_State", Some("")),
            ("Source_Host", Some("db-onprem")),
            ("Replica_IO_Running", Some("Yes")),
            ("Replica_SQL_Running", Some("No")),
            ("Seconds_Behind_Source", None),
            ("Last_SQL_Errno", Some("1062")),
            (
                "Last_SQL_Error",
                Some("Coordinator stopped because there were error(s) in the worker(s)."),
            ),
            ("Source_UUID", Some("3e11fa47-71ca-11e1-9e33-c80aa9429562")),
            ("Channel_Name", Some("aws")),
        ]);
        let f = replica_families(&[r]);
        assert_eq!(
            value(
                &f,
                "headroom_mysql_replica_sql_running",
                &[("channel", "aws")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_slave_status_replica_io_running",
                &[
                    ("channel_name", "aws"),
                    ("master_host", "db-onprem"),
                    ("master_uuid", "3e11fa47-71ca-11e1-9e33-c80aa9429562")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_replica_last_error",
                &[("channel", "aws"), ("thread", "sql"), ("errno", "1062")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn heartbeat_and_read_only_plan() {
        let read = HeartbeatRead {
            table: "percona.heartbeat",
            server_id: 1,
            channel: "",
            lag: Ok(2.5),
        };
        let f = heartbeat_families(&read);
        assert_eq!(
            value(
                &f,
                "headroom_mysql_heartbeat_lag_seconds",
                &[("channel", "")]
            ),
            Some(2.5)
        );
        assert_eq!(
            value(
                &f,
                "headroom_mysql_heartbeat",
                &[("error", ""), ("server_id", "1")]
            ),
            Some(1.0)
        );
        // A heartbeat ahead of the server's clock is no lag, not a negative one.
        let ahead = HeartbeatRead {
            lag: Ok(-0.3),
            ..read.clone()
        };
        assert_eq!(
            value(
                &heartbeat_families(&ahead),
                "headroom_mysql_heartbeat_lag_seconds",
                &[]
            ),
            Some(0.0)
        );
        let missing = HeartbeatRead {
            lag: Err("no row for server_id 1 in percona.heartbeat".into()),
            ..read
        };
        let f = heartbeat_families(&missing);
        assert_eq!(value(&f, "headroom_mysql_heartbeat_lag_seconds", &[]), None);
        assert_eq!(
            value(
                &f,
                "headroom_mysql_heartbeat",
                &[("error", "no row for server_id 1 in percona.heartbeat")]
            ),
            Some(1.0)
        );
        let f = read_only_families("source", "freeze", true);
        assert_eq!(
            value(
                &f,
                "headroom_mysql_read_only_expected",
                &[("role", "source"), ("phase", "freeze")]
            ),
            Some(1.0)
        );
    }

    fn vars(rows: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        rows.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect()
    }

    /// Rows as MariaDB 10.11's `SHOW GLOBAL VARIABLES` prints them on scripts/services'
    /// server (a few of its ~650).
    #[test]
    fn every_numeric_variable_as_mysqld_exporter_names_it() {
        let rows = vars(&[
            ("aria_block_size", Some("8192")),
            ("autocommit", Some("ON")),
            ("big_tables", Some("OFF")),
            ("binlog_format", Some("MIXED")),
            ("character_set_server", Some("utf8mb4")),
            ("innodb_version", Some("10.11.6")),
            ("long_query_time", Some("10.000000")),
            ("max_connections", Some("151")),
            ("transaction_isolation", Some("REPEATABLE-READ")),
            ("version", Some("10.11.6-MariaDB-0+deb12u1")),
            ("version_comment", Some("Debian 12")),
            ("wsrep_cluster_name", Some("")),
            ("sql_mode", None),
        ]);
        let f = variable_families(&rows);
        let v = |n: &str| value(&f, n, &[]);
        assert_eq!(v("mysql_global_variables_aria_block_size"), Some(8192.0));
        assert_eq!(v("mysql_global_variables_autocommit"), Some(1.0));
        assert_eq!(v("mysql_global_variables_big_tables"), Some(0.0));
        assert_eq!(v("mysql_global_variables_long_query_time"), Some(10.0));
        assert_eq!(v("mysql_global_variables_max_connections"), Some(151.0));
        assert_eq!(v("mysql_global_variables_binlog_format"), None);
        assert_eq!(v("mysql_global_variables_sql_mode"), None);
        assert_eq!(
            value(
                &f,
                "mysql_version_info",
                &[("version", "10.11.6-MariaDB-0+deb12u1")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_transaction_isolation",
                &[("level", "REPEATABLE-READ")]
            ),
            Some(1.0)
        );
        // Not a Galera node: no Galera series.
        assert!(f.iter().all(|f| !f.name.starts_with("mysql_galera")));
        let galera = vars(&[
            ("wsrep_cluster_name", Some("prod")),
            (
                "wsrep_provider_options",
                Some("base_port = 4567; gcache.size = 128M; gcache.page_size = 128M;"),
            ),
        ]);
        let f = variable_families(&galera);
        assert_eq!(
            value(&f, "mysql_galera_gcache_size_bytes", &[]),
            Some(128.0 * 1024.0 * 1024.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_galera_variables_info",
                &[("wsrep_cluster_name", "prod")]
            ),
            Some(1.0)
        );
        assert_eq!(
            gcache_size("gcache.size = 2G"),
            2.0 * 1024.0 * 1024.0 * 1024.0
        );
        assert_eq!(gcache_size("base_port = 4567"), 0.0);
    }

    #[test]
    fn fresh_variables_between_whole_reads() {
        // MariaDB: no super_read_only, so it is not asked for.
        let whole = vars(&[
            ("max_connections", Some("151")),
            ("read_only", Some("OFF")),
            ("innodb_buffer_pool_size", Some("134217728")),
            ("wait_timeout", Some("28800")),
        ]);
        let (sql, names) = fresh_variables_sql(&whole).unwrap();
        assert_eq!(
            sql,
            "SELECT @@GLOBAL.max_connections, @@GLOBAL.read_only, @@GLOBAL.innodb_buffer_pool_size"
        );
        assert_eq!(
            names,
            ["max_connections", "read_only", "innodb_buffer_pool_size"]
        );
        // SELECT @@GLOBAL.read_only answers 1 where SHOW said ON: the same number.
        let merged = vars(&[
            ("max_connections", Some("500")),
            ("read_only", Some("1")),
            ("wait_timeout", Some("28800")),
        ]);
        let f = variable_families(&merged);
        assert_eq!(
            value(&f, "mysql_global_variables_max_connections", &[]),
            Some(500.0)
        );
        assert_eq!(
            value(&f, "mysql_global_variables_read_only", &[]),
            Some(1.0)
        );
        assert_eq!(
            value(&f, "mysql_global_variables_wait_timeout", &[]),
            Some(28800.0)
        );
        assert!(fresh_variables_sql(&vars(&[("wait_timeout", Some("1"))])).is_none());
    }

    #[test]
    fn processlist_buckets_as_mysqld_exporter() {
        assert_eq!(processlist_bucket("Query"), "query");
        assert_eq!(processlist_bucket(""), "unknown");
        assert_eq!(
            processlist_bucket("Waiting for table metadata lock"),
            "waiting_for_table_metadata_lock"
        );
        assert_eq!(
            processlist_bucket("Master has sent all binlog to slave; waiting for more updates"),
            "master_has_sent_all_binlog_to_slave_waiting_for_more_updates"
        );
        assert_eq!(processlist_bucket("Binlog Dump"), "binlog_dump");
        assert_eq!(
            processlist_bucket("Slave_IO-thread (x.y)"),
            "slave_io_thread_xy"
        );
        let row =
            |user: &str, host: &str, command: &str, state: &str, threads, seconds| ProcesslistRow {
                user: user.into(),
                host: host.into(),
                command: command.into(),
                state: state.into(),
                threads,
                seconds,
            };
        let rows = vec![
            row("app", "10.0.0.5", "Sleep", "", 3.0, 30.0),
            row("app", "10.0.0.6", "Query", "Sending data", 2.0, 1.0),
            // Two states that bucket the same are summed.
            row("report", "10.0.0.6", "Query", "sending data", 1.0, 4.0),
            // A server thread has no host.
            row("system user", "", "Daemon", "InnoDB purge worker", 1.0, 0.0),
        ];
        let f = processlist_families(&rows);
        let l = |c, s| [("command", c), ("state", s)];
        assert_eq!(
            value(
                &f,
                "mysql_info_schema_processlist_threads",
                &l("sleep", "unknown")
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_info_schema_processlist_threads",
                &l("query", "sending_data")
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_info_schema_processlist_seconds",
                &l("query", "sending_data")
            ),
            Some(5.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_info_schema_processlist_processes_by_user",
                &[("mysql_user", "app")]
            ),
            Some(5.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "10.0.0.6")]
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &f,
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "unknown")]
            ),
            Some(1.0)
        );
        assert!(processlist_families(&[]).is_empty());
    }

    #[test]
    fn threads_running_leaves_out_replicas_binlog_dump_threads() {
        // A primary with one replica connected and nothing else running: Threads_running
        // counts headroom's SHOW GLOBAL STATUS and the replica's Binlog Dump thread.
        let s = status(&[("Threads_running", "2"), ("Slaves_connected", "1")]);
        let f = derived_families(&s, None, None, 0.0);
        assert_eq!(value(&f, "headroom_mysql_threads_running", &[]), Some(0.0));
    }
}
