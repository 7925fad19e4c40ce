//! The peers' series names against headroom's, and docs/peers.md generated from the
//! comparison so that it cannot go stale.
//!
//! mysqld_exporter: Debian's `prometheus-mysqld-exporter` runs beside a headroom daemon on the
//! services' MariaDB, each scraped once both have polled. memcached_exporter is not packaged
//! in Debian: its names come from the metric list its README links to
//! (tests/fixtures/peers/memcached_exporter.txt says from which commit), against a headroom
//! daemon polling a memcached of the test's own with `slabs: true`.
//!
//! Every peer series headroom does not export under the same name must be explained in the
//! tables below, which docs/peers.md prints. `HEADROOM_BLESS=1` rewrites the page; without
//! it the test fails when the page differs from what the comparison gives.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Daemon, Memcached, env, free_port, http_get, wait_for};

/// mysqld_exporter series headroom does not export under that name (a trailing `*` is a
/// prefix), and what a user reads instead.
const MYSQLD_EXPORTER_ONLY: &[(&str, &str)] = &[
    (
        "mysql_exporter_collector_duration_seconds",
        "`headroom_poll_duration_seconds{source=\"mysql\",target}`, a histogram of whole polls. headroom reads everything of a target in one poll, in sequence on one connection, so there is no time per collector: the poll is the unit that can be late",
    ),
    (
        "mysql_exporter_last_scrape_error",
        "`1 - headroom_up{source=\"mysql\",target}`; why in `headroom_poll_errors_total{kind}` (`timeout`, `connect`, `auth`, `protocol`, `tls`) and in the log. A scrape of headroom never polls, so a scrape cannot fail the way an exporter's does",
    ),
    (
        "mysql_exporter_scrapes_total",
        "`headroom_polls_total{source=\"mysql\",target}`: polls run on headroom's schedule, not on scrapes; `headroom_polls_skipped_total` counts the ticks a slow poll made it skip",
    ),
    (
        "mysqld_exporter_build_info",
        "`headroom_build_info{version}`",
    ),
    (
        "mysql_info_schema_innodb_cmp_*",
        "not exported: `information_schema.INNODB_CMP` counts the work of InnoDB's page compression, which moves only with `ROW_FORMAT=COMPRESSED` tables, and would be one more statement every poll on every server. On by default in mysqld_exporter",
    ),
    (
        "mysql_info_schema_innodb_cmpmem_*",
        "not exported: `information_schema.INNODB_CMPMEM`, the buffer pool's compressed pages, for the same reason as `innodb_cmp`",
    ),
];

/// memcached_exporter series headroom does not export under that name, as
/// [`MYSQLD_EXPORTER_ONLY`].
const MEMCACHED_EXPORTER_ONLY: &[(&str, &str)] = &[
    (
        "memcached_accepting_conns",
        "`memcached_accepting_connections` (`accepting_conns` of `stats`)",
    ),
    (
        "memcached_lru_crawler_*",
        "not exported yet: the crawler's settings (`stats settings`, which headroom reads for other values) and its counters of `stats`",
    ),
    (
        "memcached_malloced_bytes",
        "not exported yet (`total_malloced` of `stats slabs`; with `slabs: true` the per-class `memcached_slab_current_pages` times the 1 MiB page size gives it)",
    ),
    (
        "memcached_process_cpu_seconds_total",
        "`memcached_process_user_cpu_seconds_total + memcached_process_system_cpu_seconds_total` (`rusage_user`, `rusage_system` of `stats`)",
    ),
    (
        "memcached_process_*",
        "not exported: memcached_exporter reads these from `/proc` of the memcached process (`--memcached.pid-file`), which exists only when it runs on the same host; headroom polls over the network, and ElastiCache nodes have no such host",
    ),
    (
        "memcached_proxy_*",
        "not exported: only a memcached built with its proxy (`--enable-proxy`) has these counters",
    ),
    (
        "memcached_round_robin_fallback_total",
        "not exported: a proxy counter, as `memcached_proxy_*`",
    ),
    (
        "memcached_unexpected_napi_ids_total",
        "not exported: only with memcached's NAPI ID support (`-N`, Linux)",
    ),
];

/// The exporter's Go runtime and process: left out of the comparison (they describe the
/// exporter, not the database).
const RUNTIME_PREFIXES: &[&str] = &["go_", "process_", "promhttp_"];

/// Series names of an exposition (`name{...} value` and `name value` lines).
fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| !RUNTIME_PREFIXES.iter().any(|p| n.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

/// The explanation of `name`, by exact name first, then by the longest prefix.
fn explained<'a>(table: &'a [(&'a str, &'a str)], name: &str) -> Option<(&'a str, &'a str)> {
    table.iter().copied().find(|(k, _)| *k == name).or_else(|| {
        table
            .iter()
            .copied()
            .filter(|(k, _)| k.strip_suffix('*').is_some_and(|p| name.starts_with(p)))
            .max_by_key(|(k, _)| k.len())
    })
}

/// The part of a name families are grouped by in the page: `mysql_global_status_*` and the
/// like, else the name itself.
fn group(name: &str) -> String {
    for p in [
        "mysql_global_status_",
        "mysql_global_variables_",
        "mysql_slave_status_",
        "mysql_info_schema_processlist_",
        "memcached_slab_",
    ] {
        if name.starts_with(p) {
            return format!("{p}*");
        }
    }
    name.to_owned()
}

/// One peer's section of the page: the names both export, grouped, and the peer's names
/// headroom lacks with their explanation. Fails on an unexplained one.
fn section(
    out: &mut String,
    peer: &BTreeSet<String>,
    ours: &BTreeSet<String>,
    table: &[(&str, &str)],
) -> Vec<String> {
    let mut same: BTreeMap<String, usize> = BTreeMap::new();
    let mut missing: BTreeMap<&str, (&str, Vec<&str>)> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for n in peer {
        if ours.contains(n) {
            *same.entry(group(n)).or_default() += 1;
        } else if let Some((k, why)) = explained(table, n) {
            missing.entry(k).or_insert((why, Vec::new())).1.push(n);
        } else {
            unexplained.push(n.clone());
        }
    }
    out.push_str("Exported by both under the same name:\n\n| series | names |\n|---|---|\n");
    for (g, n) in &same {
        out.push_str(&format!("| `{g}` | {n} |\n"));
    }
    out.push_str("\nExported by the peer only, and what to read in headroom instead:\n\n| peer series | headroom |\n|---|---|\n");
    for (k, why) in table {
        let seen = match missing.get(k) {
            Some((_, names)) if k.ends_with('*') => format!(" ({} names here)", names.len()),
            Some(_) => String::new(),
            None => " (not in this comparison)".to_owned(),
        };
        out.push_str(&format!("| `{k}`{seen} | {why} |\n"));
    }
    unexplained
}

/// Debian's prometheus-mysqld-exporter on a free port, killed on drop.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn peer_series_are_exported_or_explained_and_the_page_is_current() {
    let _mariadb = common::lock::mariadb_shared();
    let mysql = env("HEADROOM_TEST_MYSQL");
    let user = env("HEADROOM_TEST_MYSQL_USER");
    let password = env("HEADROOM_TEST_MYSQL_PASSWORD");
    // A memcached of its own: the services' one is read, never written, by the tests.
    let private = Memcached::start();
    let memcached = format!("127.0.0.1:{}", private.port);
    // One item, so that memcached has a slab class (its slab series exist only then).
    let stored = common::memcached_command(&memcached, "set headroom-peers 0 0 1\r\nx");
    assert!(stored.contains("STORED"), "{stored}");

    let eport = free_port();
    let _exporter = Exporter(
        Command::new("prometheus-mysqld-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{eport}"))
            // Off by default in mysqld_exporter; headroom's `processlist: true` below.
            .arg("--collect.info_schema.processlist")
            .env("DATA_SOURCE_NAME", format!("{user}:{password}@({mysql})/"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-mysqld-exporter not installed: run scripts/setup"),
    );
    let version = Command::new("prometheus-mysqld-exporter")
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned()
        + &String::from_utf8_lossy(&version.stderr);
    let version = version
        .lines()
        .next()
        .unwrap_or_default()
        .split(" (")
        .next()
        .unwrap_or_default()
        .to_owned();

    let daemon = Daemon::start(
        free_port(),
        &format!(
            "defaults: {{interval: 1s, timeout: 5s}}\n\
             mysql:\n  - {{name: db, address: {mysql}, user: {user}, password_env: PEERS_PW, processlist: true}}\n\
             memcached:\n  - {{name: cache, address: {memcached}, slabs: true}}\n"
        ),
        &[("PEERS_PW", &password)],
    );
    wait_for("both targets polled", Duration::from_secs(30), || {
        let m = daemon.metrics();
        (common::series_value(&m, "mysql_up", &[]) == Some(1.0)
            && common::series_value(&m, "memcached_up", &[]) == Some(1.0))
        .then_some(())
    });
    let ours = names(&daemon.metrics());
    let exporter_text = wait_for("mysqld_exporter to answer", Duration::from_secs(20), || {
        http_get(&format!("127.0.0.1:{eport}"), "/metrics")
            .filter(|(s, b)| *s == 200 && b.contains("mysql_up 1"))
            .map(|(_, b)| b)
    });
    let mysqld = names(&exporter_text);
    let server = exporter_text
        .lines()
        .find(|l| l.starts_with("mysql_version_info{"))
        .and_then(|l| {
            l.split("version=\"")
                .nth(2)
                .or(l.split("version=\"").nth(1))
        })
        .and_then(|v| v.split('"').next())
        .unwrap_or_default()
        .to_owned();

    let fixture = std::fs::read_to_string(common::fixture("peers/memcached_exporter.txt")).unwrap();
    let memcached_names: BTreeSet<String> = fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let source = fixture
        .lines()
        .filter(|l| l.starts_with('#'))
        .flat_map(str::split_whitespace)
        .find(|w| w.starts_with("https://"))
        .expect("the fixture names its source")
        .to_owned();

    let mut page = String::from(
        "# Peer metric names\n\n\
         <!-- Generated by tests/it/mysql_peers.rs from a live comparison: HEADROOM_BLESS=1 \
         scripts/test mysql_peers rewrites it. Do not edit by hand. -->\n\n\
         Which series of the exporters headroom replaces it exports under the same name, and \
         what to read instead where it does not. Every name below comes from a comparison the \
         integration tests run, so this page fails the tests when it goes stale. The peers' Go \
         runtime and process series (`go_*`, `process_*`, `promhttp_*`) describe the exporter \
         itself and are left out. What each series means: [metrics](metrics.md).\n\n",
    );
    page.push_str(&format!(
        "## mysqld_exporter\n\n\
         Debian's `prometheus-mysqld-exporter` ({version}) with its default collectors and \
         `--collect.info_schema.processlist`, against headroom with `processlist: true`, both \
         scraped after polling the same MariaDB ({server}) from scripts/services. Names that \
         exist only on a replica (`mysql_slave_status_*`) or on other servers (MySQL's \
         variables) follow the same rule, one name per variable or column.\n\n"
    ));
    let mut unexplained = section(&mut page, &mysqld, &ours, MYSQLD_EXPORTER_ONLY);
    page.push_str(&format!(
        "\n## memcached_exporter\n\n\
         memcached_exporter is not packaged in Debian: its names are the metric list its \
         README links to ([metrics.md]({source}), kept in \
         `tests/fixtures/peers/memcached_exporter.txt`), against headroom polling a \
         memcached holding one item, with `slabs: true` (the `memcached_slab_*` series exist only with \
         it).\n\n"
    ));
    unexplained.extend(section(
        &mut page,
        &memcached_names,
        &ours,
        MEMCACHED_EXPORTER_ONLY,
    ));
    assert!(
        unexplained.is_empty(),
        "peer series headroom lacks and tests/it/mysql_peers.rs does not explain: {unexplained:?}"
    );

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/peers.md");
    if std::env::var_os("HEADROOM_BLESS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == page,
        "docs/peers.md is stale; HEADROOM_BLESS=1 rewrites it. It should read:\n{page}"
    );
}
