//! The shipped Grafana dashboards (`dashboards/*.json`) and Prometheus rules (`alerts/*.yml`)
//! against real servers: a private Prometheus loads the shipped rules and scrapes headroom
//! running the demo's configuration (`examples/demo.yaml`) against real memcached, MariaDB,
//! the moto AWS emulator filled by the demo's own script, an `openssl s_server` and nginx
//! serving WebDAV over HTTP and HTTPS; every query of every panel must then return data. A private Alertmanager receives the shipped
//! alerts when a real memcached is stopped, and sees them resolve when it is back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::prom::{Alertmanager, Prometheus, rule_files};
use crate::common::{self, Daemon, Memcached, env, free_port, wait_for};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Series the demo cannot produce here, each with the reason; any other query that returns
/// nothing fails. moto 5.2.5 answers a GetMetricData query with a percentile statistic
/// (`p99`) with HTTP 500 (its statistics are Sum, Average, Minimum, Maximum and SampleCount
/// only), and a failed query would fail the whole batch, so the demo does not ask for it.
/// `tests/it/cloudwatch.rs` covers percentiles against a GetMetricData response shaped as
/// the API reference documents it, and the name `aws_elb_latency_p99` is a unit test of
/// `src/sources/aws/naming.rs`; against AWS the panel gets it from `statistics: [p99]`.
const CANNOT_IN_EMULATOR: &[(&str, &str)] = &[(
    "aws_elb_latency_p99",
    "moto cannot compute percentile statistics",
)];

/// One query of a panel (or of a template variable) of a dashboard.
#[derive(Debug, Clone)]
struct Query {
    dashboard: String,
    panel: String,
    expr: String,
}

fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("dashboards"))
        .expect("dashboards/ missing")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in dashboards/");
    files
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let title = v["title"].as_str().unwrap_or("?").to_owned();
            (title, v)
        })
        .collect()
}

/// Every panel's queries, rows' nested panels included.
fn panel_queries(title: &str, d: &Value) -> Vec<Query> {
    fn walk(title: &str, panels: &Value, out: &mut Vec<Query>) {
        for p in panels.as_array().into_iter().flatten() {
            walk(title, &p["panels"], out);
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(Query {
                        dashboard: title.to_owned(),
                        panel: p["title"].as_str().unwrap_or("?").to_owned(),
                        expr: expr.to_owned(),
                    });
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(title, &d["panels"], &mut out);
    out
}

/// The `label_values(selector, label)` queries of a dashboard's template variables.
fn variable_queries(title: &str, d: &Value) -> Vec<(Query, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or_else(|| v["query"].as_str())
            .or_else(|| v["definition"].as_str())
            .unwrap_or_default();
        let inner = q
            .trim()
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{title}: variable {}: not label_values(): {q}", v["name"]));
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("{title}: variable {}: {q}", v["name"]));
        out.push((
            Query {
                dashboard: title.to_owned(),
                panel: format!("variable {}", v["name"].as_str().unwrap_or("?")),
                expr: selector.trim().to_owned(),
            },
            label.trim().to_owned(),
        ));
    }
    out
}

/// What Grafana would send for the template variables: every `$var`/`${var}` a regex
/// matching all its values (the dashboards select with `=~`), the interval macros a fixed
/// duration.
fn substitute(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(b) = after.strip_prefix('{') {
            let end = b.find('}').expect("unclosed ${");
            (&b[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let name = name.split(':').next().unwrap();
        out.push_str(match name {
            "__rate_interval" => "1m",
            "__interval" => "15s",
            "__range" => "5m",
            n if n.starts_with("__") => panic!("unexpected macro ${n} in {expr}"),
            _ => ".*",
        });
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The metric names a PromQL expression selects: identifiers outside strings, label
/// matchers, range brackets and label lists, that are neither functions, aggregations nor
/// keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Words followed by a list of labels in parentheses, and other words that are not names.
    const LABEL_LISTS: &str = "by without on ignoring group_left group_right";
    const KEYWORDS: &str = "and or unless bool offset sum min max avg group stddev stdvar count \
                            count_values bottomk topk quantile inf nan atan2";
    let is = |list: &str, w: &str| list.split_whitespace().any(|k| k.eq_ignore_ascii_case(w));
    let b = expr.as_bytes();
    // The index after the string literal that starts at `i`.
    let past_string = |mut i: usize| {
        let quote = b[i];
        i += 1;
        while i < b.len() && b[i] != quote {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i + 1
    };
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut label_list_next = false;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = past_string(i),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                while i < b.len() && b[i] != close {
                    i = if matches!(b[i], b'"' | b'\'') {
                        past_string(i)
                    } else {
                        i + 1
                    };
                }
                i += 1;
            }
            b'0'..=b'9' | b'.' => {
                // A number or a duration (1e-3, 0.5, 5m, 1h30m).
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'.'
                        || (matches!(b[i], b'-' | b'+') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
            }
            b'(' if label_list_next => {
                while i < b.len() && b[i] != b')' {
                    i += 1;
                }
                i += 1;
                label_list_next = false;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().as_bytes().first();
                if is(LABEL_LISTS, word) {
                    label_list_next = true;
                } else if !is(KEYWORDS, word) && next != Some(&b'(') {
                    names.insert(word.to_owned());
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_reads_promql() {
    let got = metric_names(
        r#"sum without (command) (rate(memcached_commands_total{command="get",status=~"hit|x"}[5m] offset 1m)) / on(target) group_left(region) headroom_target_info * 1e-3 > bool 0.5 or vector(0) unless target:foo:rate5m"#,
    );
    let want: BTreeSet<String> = [
        "memcached_commands_total",
        "headroom_target_info",
        "target:foo:rate5m",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        substitute(r#"rate(x{target=~"$target",r=~"${region}"}[$__rate_interval])"#),
        r#"rate(x{target=~".*",r=~".*"}[1m])"#
    );
}

/// The names of the recording rules in the shipped rule files.
fn recorded_names(files: &[PathBuf]) -> BTreeSet<String> {
    rules(files)
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect()
}

/// Every rule of the shipped rule files, as JSON.
fn rules(files: &[PathBuf]) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        let y: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let v: Value = serde_json::to_value(y).unwrap();
        for g in v["groups"].as_array().unwrap() {
            out.extend(g["rules"].as_array().unwrap().iter().cloned());
        }
    }
    out
}

/// One of the scripts `scripts/demo` runs beside the daemon (`scripts/lib/NAME.py ARGS`),
/// killed on drop: the AWS estate in moto, the copy job.
struct DemoScript(Child);

impl DemoScript {
    fn start(dir: &Path, name: &str, args: &[&str]) -> DemoScript {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        DemoScript(
            Command::new(env("HEADROOM_TEST_PYTHON"))
                .arg(repo().join(format!("scripts/lib/{name}.py")))
                .args(args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for DemoScript {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `examples/demo.yaml` pointed at this test's servers and files (it names the services'
/// default ports and paths).
fn demo_config(
    memcached: &str,
    copier_port: u16,
    history: &Path,
    state: &Path,
    smart: &Path,
) -> String {
    let demo = std::fs::read_to_string(repo().join("examples/demo.yaml")).unwrap();
    let mut out = String::new();
    for line in demo.lines() {
        if line.starts_with("listen:") {
            continue; // Daemon::start sets it
        }
        let line = line
            .replace("127.0.0.1:19411", memcached)
            .replace("127.0.0.1:19406", &env("HEADROOM_TEST_MYSQL"))
            .replace("127.0.0.1:19407", &env("HEADROOM_TEST_MYSQL_REPLICA"))
            .replace("http://127.0.0.1:19451", &env("HEADROOM_TEST_AWS_ENDPOINT"))
            .replace("127.0.0.1:19443", &env("HEADROOM_TEST_TLS"))
            .replace("../.services/tls/ca.pem", &env("HEADROOM_TEST_TLS_CA"))
            .replace("127.0.0.1:19480", &format!("127.0.0.1:{copier_port}"))
            .replace("127.0.0.1:19453", &env("HEADROOM_TEST_DNS"))
            .replace("http://127.0.0.1:19481", &env("HEADROOM_TEST_WEBDAV_HTTP"))
            .replace(
                "https://localhost:19482",
                &env("HEADROOM_TEST_WEBDAV_HTTPS"),
            )
            .replace("../.services/demo-smart", &smart.display().to_string())
            .replace(
                "../.services/demo-history.sqlite",
                &history.display().to_string(),
            )
            .replace(
                "../.services/demo-checks.json",
                &state.display().to_string(),
            );
        out.push_str(&line);
        out.push('\n');
    }
    assert!(out.contains(&history.display().to_string()), "{out}");
    assert!(out.contains(&env("HEADROOM_TEST_TLS_CA")), "{out}");
    assert!(out.contains(&env("HEADROOM_TEST_WEBDAV_HTTP")), "{out}");
    assert!(out.contains(&env("HEADROOM_TEST_WEBDAV_HTTPS")), "{out}");
    out
}

/// The demo's `vantage:` (the top-level key of `examples/demo.yaml`).
fn demo_vantage() -> String {
    let demo = std::fs::read_to_string(repo().join("examples/demo.yaml")).unwrap();
    demo.lines()
        .find_map(|l| l.strip_prefix("vantage:"))
        .map(|v| v.split('#').next().unwrap().trim().to_owned())
        .filter(|v| !v.is_empty())
        .expect("examples/demo.yaml sets no vantage:")
}

/// What `scripts/demo` does before it starts the daemon: a WebDAV PUT of the object that the
/// demo's download and HEAD probes read (`dav-download`, `dav-head`), with curl as there.
fn put_demo_object() {
    let url = format!("{}/dav/demo/hello.txt", env("HEADROOM_TEST_WEBDAV_HTTP"));
    let mut curl = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "-T", "-", &url])
        .stdin(Stdio::piped())
        .spawn()
        .expect("curl not installed: run scripts/setup");
    std::io::Write::write_all(
        &mut curl.stdin.take().unwrap(),
        b"hello from the headroom demo\n",
    )
    .unwrap();
    assert!(curl.wait().unwrap().success(), "curl PUT {url}");
}

/// The scrape config of `docs/dashboards.md`'s section on the peers' mixins, for `address`.
fn mixin_scrape_configs(address: &str) -> Vec<serde_yaml_ng::Value> {
    let doc = std::fs::read_to_string(repo().join("docs/dashboards.md")).unwrap();
    let section = doc
        .split("<!-- mixin-relabel:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- mixin-relabel:end -->").next())
        .expect("docs/dashboards.md: no mixin-relabel markers");
    let yaml = section
        .split("```yaml")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("docs/dashboards.md: no yaml block between the mixin-relabel markers");
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&yaml.replace("HEADROOM_ADDRESS", address)).unwrap();
    // As written, but beside this test's own job: renamed, and scraped as often.
    let mut jobs = v["scrape_configs"].as_sequence().unwrap().clone();
    for j in &mut jobs {
        let name = j["job_name"].as_str().unwrap().to_owned();
        j["job_name"] = format!("mixins-{name}").into();
        j["scrape_interval"] = "1s".into();
        j["scrape_timeout"] = "1s".into();
    }
    jobs
}

/// prometheus.yml scraping `daemon` every second, with the shipped rules (`for:` of alerts
/// replaced by `alert_for` when given) and `extra` scrape jobs.
fn prometheus_config(
    dir: &Path,
    daemon: &str,
    alert_for: Option<&str>,
    alertmanager: Option<&str>,
    extra: Vec<serde_yaml_ng::Value>,
) -> String {
    let mut files = Vec::new();
    for (i, f) in rule_files(&repo()).iter().enumerate() {
        let mut y: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        if let Some(d) = alert_for {
            for g in y["groups"].as_sequence_mut().unwrap() {
                for r in g["rules"].as_sequence_mut().unwrap() {
                    if r.get("alert").is_some() {
                        r["for"] = d.into();
                    }
                }
            }
        }
        let out = dir.join(format!("rules-{i}.yml"));
        std::fs::write(&out, serde_yaml_ng::to_string(&y).unwrap()).unwrap();
        files.push(out.display().to_string());
    }
    let mut jobs = vec![
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&format!(
            "{{job_name: headroom, scrape_interval: 1s, scrape_timeout: 1s, static_configs: [{{targets: ['{daemon}']}}]}}"
        ))
        .unwrap(),
    ];
    jobs.extend(extra);
    let mut cfg: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}",
    )
    .unwrap();
    cfg["rule_files"] = files.into();
    cfg["scrape_configs"] = jobs.into();
    if let Some(am) = alertmanager {
        cfg["alerting"] = serde_yaml_ng::from_str(&format!(
            "{{alertmanagers: [{{static_configs: [{{targets: ['{am}']}}]}}]}}"
        ))
        .unwrap();
    }
    serde_yaml_ng::to_string(&cfg).unwrap()
}

/// Runs statements as the load user with the `mariadb` client.
fn sql(statements: &str) {
    let mysql = env("HEADROOM_TEST_MYSQL");
    let (host, port) = mysql.rsplit_once(':').unwrap();
    let out = Command::new("mariadb")
        .args([
            "-h",
            host,
            "-P",
            port,
            "-u",
            &env("HEADROOM_TEST_LOAD_USER"),
            "-e",
            statements,
        ])
        .env("MYSQL_PWD", env("HEADROOM_TEST_LOAD_PASSWORD"))
        .output()
        .expect("mariadb client not installed: run scripts/setup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The binary `cargo build --all-targets` made of `examples/synth_history.rs`.
fn synth_history() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap();
    let p = profile.join("examples/synth_history");
    assert!(
        p.exists(),
        "{} missing: build with `cargo build --all-targets` (scripts/test does)",
        p.display()
    );
    p
}

#[test]
fn every_panel_query_returns_data_from_the_demo() {
    let _mariadb = common::lock::mariadb_shared();
    let _moto = common::lock::moto();
    let dir = tempfile::tempdir().unwrap();

    // The demo's estate in moto (reset first by the script), with datapoints coming.
    let _aws = DemoScript::start(dir.path(), "demo_aws", &[&env("HEADROOM_TEST_MOTO")]);
    // pt-heartbeat on the demo's source, which its replica target reads the lag from.
    let _heartbeat = common::replica::PtHeartbeat::start();
    // A month of the demo database's history, so the capacity model has a trend of daily
    // peaks to forecast saturation from (it needs seven days), through headroom's own store.
    let history = dir.path().join("history.sqlite");
    let out = Command::new(synth_history())
        .arg(&history)
        .arg("osdp-db-proddc1")
        .arg("30")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A memcached of this test's own, which it sends gets and sets to.
    let memcached = Memcached::start();
    // The demo's copy job: the US job in MariaDB, the EU job as JSON on a port of its own.
    let copier_port = free_port();
    let _copier = DemoScript::start(
        dir.path(),
        "demo_copier",
        &[
            &env("HEADROOM_TEST_MYSQL"),
            &env("HEADROOM_TEST_LOAD_USER"),
            &env("HEADROOM_TEST_LOAD_PASSWORD"),
            &copier_port.to_string(),
        ],
    );
    // The object the demo's WebDAV download and HEAD probes read.
    put_demo_object();
    // The source hosts' SMART reports, as scripts/demo writes them.
    let smart = dir.path().join("smart");
    for (host, file, report) in [
        ("nas-1", "sdb.json", "ata-wdc-wd20efrx.json"),
        ("nas-2", "nvme0.json", "nvme-samsung-mzvl21t0.json"),
    ] {
        std::fs::create_dir_all(smart.join(host)).unwrap();
        std::fs::copy(
            repo().join("src/sources/disks/testdata").join(report),
            smart.join(host).join(file),
        )
        .unwrap();
    }
    let config = demo_config(
        &memcached.address(),
        copier_port,
        &history,
        &dir.path().join("checks.json"),
        &smart,
    );
    let password = env("HEADROOM_TEST_MYSQL_PASSWORD");
    let mut envs = common::moto::AWS_ENV.to_vec();
    envs.push(("HEADROOM_DEMO_MYSQL_PASSWORD", &password));
    let copyjob = env("HEADROOM_TEST_COPYJOB_PASSWORD");
    envs.push(("HEADROOM_DEMO_COPYJOB_PASSWORD", &copyjob));
    let port = free_port();
    let daemon = Daemon::start(port, &config, &envs);
    let daemon_addr = format!("127.0.0.1:{port}");
    let prom = Prometheus::start(&prometheus_config(
        dir.path(),
        &daemon_addr,
        None,
        None,
        mixin_scrape_configs(&daemon_addr),
    ));

    // Light traffic while the queries are tried, as scripts/demo makes: gets with hits and
    // misses (the hit ratio's rates), and reads and writes on the database (the read/write
    // mix and the buffer pool's hit ratio over the last poll need some in every interval).
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = std::thread::spawn({
        let addr = memcached.address();
        let stop = stop.clone();
        move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                common::memcached_command(&addr, &format!("set k{} 0 300 5\r\nhello", i % 10));
                common::memcached_command(&addr, &format!("get k{}", i % 20));
                sql(&format!(
                    "CREATE TABLE IF NOT EXISTS headroom_test.dashboard_load (id INT PRIMARY KEY, v INT); \
                     REPLACE INTO headroom_test.dashboard_load VALUES ({}, {i}); \
                     SELECT SUM(v) FROM headroom_test.dashboard_load;",
                    i % 100
                ));
                i += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    });

    let mut queries = Vec::new();
    let mut variables = Vec::new();
    for (title, d) in dashboards() {
        queries.extend(panel_queries(&title, &d));
        variables.extend(variable_queries(&title, &d));
    }
    assert!(queries.len() >= 30, "only {} panel queries", queries.len());
    let skipped = |q: &Query| {
        CANNOT_IN_EMULATOR
            .iter()
            .any(|(m, _)| metric_names(&q.expr).iter().all(|n| n == m))
    };

    // Until every query answers (the first polls, two scrapes for rates, the rules'
    // first evaluations), for two minutes at most.
    let end = Instant::now() + Duration::from_secs(120);
    let failures = loop {
        let mut failures = Vec::new();
        for q in queries.iter().filter(|q| !skipped(q)) {
            match prom.query(&substitute(&q.expr)) {
                Ok(r) if !r.is_empty() => {}
                Ok(_) => failures.push(format!(
                    "{} / {}: no data: {}",
                    q.dashboard, q.panel, q.expr
                )),
                Err(e) => failures.push(format!("{} / {}: {e}: {}", q.dashboard, q.panel, q.expr)),
            }
        }
        for (q, label) in &variables {
            match prom.label_values(&substitute(&q.expr), label) {
                Ok(v) if v.iter().any(|s| !s.is_empty()) => {}
                Ok(v) => failures.push(format!(
                    "{} / {}: label_values({}, {label}) gave {v:?}",
                    q.dashboard, q.panel, q.expr
                )),
                Err(e) => failures.push(format!("{} / {}: {e}", q.dashboard, q.panel)),
            }
        }
        if failures.is_empty() || Instant::now() > end {
            break failures;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} queries returned nothing:\n{}\n\nheadroom's log:\n{}\nPrometheus' log:\n{}",
        failures.len(),
        queries.len() + variables.len(),
        failures.join("\n"),
        daemon.log(),
        prom.log()
    );
    eprintln!(
        "{} panel queries and {} variables of {} dashboards returned data ({} skipped: {:?})",
        queries.len(),
        variables.len(),
        dashboards().len(),
        queries.iter().filter(|q| skipped(q)).count(),
        CANNOT_IN_EMULATOR
    );
    // The WebDAV board among them, its `vantage` variable offering the demo's vantage only.
    let webdav = queries
        .iter()
        .filter(|q| q.dashboard.contains("WebDAV"))
        .count();
    assert!(webdav >= 20, "only {webdav} WebDAV board queries");
    let offered = prom.label_values("probe_success", "vantage").unwrap();
    assert_eq!(
        offered,
        [demo_vantage()],
        "the WebDAV board's vantage variable"
    );
    // And the board shows the probes passing: a failed request has its latencies too, so
    // data alone would not tell a demo whose probes all fail (no object to GET, say).
    let probes = wait_for("every http probe to pass", Duration::from_secs(20), || {
        prom.query("probe_success")
            .ok()
            .filter(|r| r.len() >= 4 && r.iter().all(|r| r["value"][1] == "1"))
    });
    eprintln!(
        "http probes passing: {:?}",
        probes
            .iter()
            .map(|r| r["metric"]["target"].as_str().unwrap_or("?"))
            .collect::<BTreeSet<_>>()
    );

    // Every metric a dashboard or a rule names is one headroom exports (or a recording rule
    // of the shipped files): a renamed metric cannot leave a panel or an alert behind.
    let files = rule_files(&repo());
    let recorded = recorded_names(&files);
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    for q in &queries {
        for n in metric_names(&q.expr) {
            used.entry(n)
                .or_insert_with(|| format!("{} / {}", q.dashboard, q.panel));
        }
    }
    for r in rules(&files) {
        let what = format!(
            "rule {}",
            r["alert"].as_str().or(r["record"].as_str()).unwrap()
        );
        for n in metric_names(r["expr"].as_str().unwrap()) {
            used.entry(n).or_insert_with(|| what.clone());
        }
    }
    // Series registered only when the daemon runs with --web.config.file, which the demo does
    // not: tests/it/webcfg.rs scrapes them from a daemon that does.
    const ONLY_WITH_WEB_CONFIG: &[&str] = &[
        "headroom_web_auth_failures_total",
        "headroom_web_tls_handshake_failures_total",
    ];
    // Until every target has been polled once (each has its own phase in its interval).
    let mut unknown = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let exported: BTreeSet<String> = daemon
            .metrics()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
            .collect();
        unknown = used
            .iter()
            .filter(|(n, _)| {
                !(exported.contains(*n)
                    || recorded.contains(*n)
                    || CANNOT_IN_EMULATOR.iter().any(|(m, _)| m == n)
                    || ONLY_WITH_WEB_CONFIG.contains(&n.as_str()))
            })
            .map(|(n, w)| format!("{n} (in {w})"))
            .collect();
        if unknown.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(unknown.is_empty(), "not exported by headroom: {unknown:?}");
    assert!(used.len() >= 30, "{used:?}");

    // The peers' mixins: the documented relabelling gives each target its own `instance`.
    let mixin_job = mixin_scrape_configs(&daemon_addr)[0]["job_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let up = wait_for(
        "mysql_up with instance = the target",
        Duration::from_secs(20),
        || {
            prom.query(&format!(
                "mysql_up{{job=\"{mixin_job}\",instance=\"osdp-db-proddc1\"}} == 1"
            ))
            .ok()
            .filter(|r| r.len() == 1)
        },
    );
    assert_eq!(up[0]["metric"]["target"], "osdp-db-proddc1", "{up:?}");
    let mc = prom
        .query(&format!(
            "memcached_up{{job=\"{mixin_job}\",instance=\"osdp-memc-proddc1-0001\"}}"
        ))
        .unwrap();
    assert_eq!(mc.len(), 1, "{mc:?}");
}

/// The alerts of the given name Alertmanager holds as firing, by their labels.
fn firing(am: &Alertmanager, name: &str) -> Vec<BTreeMap<String, String>> {
    am.firing()
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .map(|a| {
            let mut m: BTreeMap<String, String> = a["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            for (k, v) in a["annotations"].as_object().unwrap() {
                m.insert(
                    format!("annotation:{k}"),
                    v.as_str().unwrap_or_default().to_owned(),
                );
            }
            m
        })
        .collect()
}

#[test]
fn shipped_alerts_reach_alertmanager_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let mut memcached = Memcached::start();
    let port = free_port();
    let daemon = Daemon::start(
        port,
        &format!(
            "memcached:\n  - {{name: cache-eu-1, address: '{}', interval: 1s, timeout: 1s, region: eu-central-1}}\n",
            memcached.address()
        ),
        &[],
    );
    let am = Alertmanager::start();
    // The shipped rules as they are, but for their `for:` durations: a second instead of
    // minutes (`promtool test rules` in alerts/check tests the shipped durations).
    let prom = Prometheus::start(&prometheus_config(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        Some("1s"),
        Some(&am.address()),
        Vec::new(),
    ));
    wait_for("the first scrape", Duration::from_secs(20), || {
        prom.query("headroom_up{source=\"memcached\"} == 1")
            .ok()
            .filter(|r| !r.is_empty())
    });
    assert!(firing(&am, "HeadroomTargetDown").is_empty());

    memcached.stop();
    let down = wait_for(
        "HeadroomTargetDown at Alertmanager",
        Duration::from_secs(60),
        || Some(firing(&am, "HeadroomTargetDown")).filter(|a| !a.is_empty()),
    );
    let a = &down[0];
    assert_eq!(a["target"], "cache-eu-1", "{a:?}");
    assert_eq!(a["source"], "memcached", "{a:?}");
    assert_eq!(a["region"], "eu-central-1", "{a:?}");
    assert!(
        ["warning", "critical"].contains(&a["severity"].as_str()),
        "{a:?}"
    );
    assert!(a["annotation:description"].contains("cache-eu-1"), "{a:?}");
    assert!(
        a["annotation:runbook_url"].contains("docs/alerts.md#"),
        "{a:?}"
    );
    // The memcached checks go CRITICAL ("connection refused"), HARD after their attempts.
    let crit = wait_for(
        "HeadroomCheckCritical at Alertmanager",
        Duration::from_secs(60),
        || {
            Some(firing(&am, "HeadroomCheckCritical"))
                .filter(|a| a.iter().any(|a| a["check"] == "MEMCACHE_RESPONSE"))
        },
    );
    let a = crit
        .iter()
        .find(|a| a["check"] == "MEMCACHE_RESPONSE")
        .unwrap();
    assert_eq!(a["host"], "cache-eu-1", "{a:?}");
    assert_eq!(a["target"], "cache-eu-1", "{a:?}");
    assert_eq!(a["severity"], "critical", "{a:?}");
    assert!(
        a["annotation:summary"].contains("MEMCACHE_RESPONSE"),
        "{a:?}"
    );

    memcached.restart();
    wait_for("both alerts to resolve", Duration::from_secs(60), || {
        (firing(&am, "HeadroomTargetDown").is_empty()
            && firing(&am, "HeadroomCheckCritical").is_empty())
        .then_some(())
    });
    drop(daemon);
}
