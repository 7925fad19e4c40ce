//! Two agents, one Prometheus (docs/http.md, "Several vantage points"): two headroom daemons,
//! one with `vantage: us-west-2` and one with `vantage: eu-central-1`, run the same WebDAV
//! round trip (same target name, same collection) against the services' nginx; a private
//! Prometheus scrapes both in one job and loads the shipped http rules. The documented
//! queries must then give one line per vantage, and the recording rule the alerts read must
//! keep them apart too.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::prom::Prometheus;
use crate::common::{Daemon, env, free_port, wait_for};

const VANTAGES: [&str; 2] = ["us-west-2", "eu-central-1"];

/// The `vantage` labels of a query's result, each once.
fn vantages(result: &[Value]) -> BTreeSet<String> {
    result
        .iter()
        .map(|r| {
            r["metric"]["vantage"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// A sample's value as a number (Prometheus sends `[time, "value"]`).
fn value(r: &Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn two_vantages_probing_one_target_stay_apart_in_one_prometheus() {
    let url = format!("{}/dav/vantage-it/", env("HEADROOM_TEST_WEBDAV_HTTP"));
    let want: BTreeSet<String> = VANTAGES.iter().map(|v| v.to_string()).collect();
    // The same config but for `vantage:`, as two agents in two places would run it.
    let daemons: Vec<Daemon> = VANTAGES
        .iter()
        .map(|v| {
            Daemon::start(
                free_port(),
                &format!(
                    "vantage: {v}\nhttp:\n  - {{name: storage-dav, url: \"{url}\", method: roundtrip, interval: 1s, timeout: 1s, region: us-west-2}}\n"
                ),
                &[],
            )
        })
        .collect();
    let targets: Vec<String> = daemons
        .iter()
        .map(|d| format!("'127.0.0.1:{}'", d.port))
        .collect();
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerts/http.rules.yml");
    let prom = Prometheus::start(&format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
         rule_files: ['{}']\n\
         scrape_configs:\n  - {{job_name: headroom, static_configs: [{{targets: [{}]}}]}}\n",
        rules.display(),
        targets.join(", ")
    ));

    // docs/http.md's query (over 1m instead of 5m): the PUT p95 as one line per vantage.
    let p95 = wait_for(
        "a PUT p95 for each vantage",
        Duration::from_secs(40),
        || {
            prom.query(
                "histogram_quantile(0.95, sum by (vantage, le) (rate(headroom_http_request_duration_seconds_bucket{method=\"PUT\",phase=\"total\"}[1m])))",
            )
            .ok()
            .filter(|r| r.len() == 2 && r.iter().all(|r| value(r).is_finite()))
        },
    );
    assert_eq!(vantages(&p95), want, "{p95:?}");
    for r in &p95 {
        // A PUT of 256 bytes to nginx on loopback: above zero, below the timeout.
        let v = value(r);
        assert!(v > 0.0 && v < 1.0, "{r}");
    }

    // probe_success per agent: the same target from both places, told apart by `vantage`
    // (and by `instance`, the agent Prometheus scraped it from).
    // Waited for rather than read once: one round trip past its 1 s timeout on a busy
    // machine fails that probe until the next.
    let up = wait_for(
        "probe_success 1 from both agents",
        Duration::from_secs(30),
        || {
            prom.query("probe_success")
                .ok()
                .filter(|up| up.len() == 2 && up.iter().all(|r| value(r) == 1.0))
        },
    );
    assert_eq!(vantages(&up), want, "{up:?}");
    let instances: BTreeSet<&str> = up
        .iter()
        .map(|r| r["metric"]["instance"].as_str().unwrap())
        .collect();
    assert_eq!(instances.len(), 2, "{up:?}");
    for r in &up {
        assert_eq!(r["metric"]["target"], "storage-dav", "{r}");
        assert_eq!(value(r), 1.0, "{r}");
    }
    // Both agents' round trips pass side by side in one collection: their objects' names
    // carry the time to the nanosecond, so neither reads or deletes the other's.
    let ok = wait_for(
        "a round trip passed from both agents",
        Duration::from_secs(30),
        || {
            prom.query("headroom_http_roundtrip_success == 1")
                .ok()
                .filter(|ok| vantages(ok) == want)
        },
    );
    assert_eq!(vantages(&ok), want, "{ok:?}");
    let mismatched = prom
        .query("headroom_http_roundtrip_failures_total{reason=\"body_mismatch\"}")
        .unwrap();
    assert_eq!(vantages(&mismatched), want, "{mismatched:?}");
    for r in &mismatched {
        assert_eq!(value(r), 0.0, "a round trip read another's object: {r}");
    }

    // The shipped recording rule that the WebDAV latency alerts read keeps `vantage`, so a
    // slow PUT from one place is an alert for that place.
    let recorded = wait_for(
        "the recorded PUT p95 for each vantage",
        Duration::from_secs(20),
        || {
            prom.query(
                "target_method:headroom_http_request_duration_seconds:p95_rate5m{method=\"PUT\"}",
            )
            .ok()
            .filter(|r| r.len() == 2)
        },
    );
    assert_eq!(vantages(&recorded), want, "{recorded:?}");
    for r in &recorded {
        assert_eq!(r["metric"]["target"], "storage-dav", "{r}");
    }
    drop(daemons);
}
