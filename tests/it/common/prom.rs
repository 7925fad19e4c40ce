//! A private Prometheus server and a private Alertmanager (Debian's `prometheus` and
//! `prometheus-alertmanager`), each on a free loopback port with its data in a temp dir,
//! killed on drop: for the tests that load the shipped rules and query the shipped dashboards'
//! expressions. (The services' Prometheus scrapes one fixed port and loads no rules.)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{free_port, http_get, wait_for};

pub struct Prometheus {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Prometheus {
    /// Starts Prometheus with `config` as its prometheus.yml and waits until it is ready.
    pub fn start(config: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus not installed: run scripts/setup");
        let mut p = Prometheus { port, dir, child };
        wait_for("Prometheus to be ready", Duration::from_secs(30), || {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("prometheus exited ({status}):\n{}\n{config}", p.log());
            }
            http_get(&p.address(), "/-/ready").filter(|(s, _)| *s == 200)
        });
        p
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GET `path` of the HTTP API; the `data` of a `success` answer, or the error.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) =
            http_get(&self.address(), path).ok_or_else(|| format!("no answer to {path}"))?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| format!("{path}: HTTP {status}, not JSON ({e}): {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{path}: {}: {}", v["errorType"], v["error"]));
        }
        Ok(v["data"].clone())
    }

    /// An instant query: the result vector (or the error Prometheus gave).
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("/api/v1/query?query={}", urlencode(expr)))?;
        match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => Ok(data["result"].as_array().unwrap().clone()),
            // A scalar or string answers with one value: data, not nothing.
            _ => Ok(vec![data["result"].clone()]),
        }
    }

    /// The values of `label` among the series `selector` selects (Grafana's
    /// `label_values(selector, label)`).
    pub fn label_values(&self, selector: &str, label: &str) -> Result<Vec<String>, String> {
        let data = self.api(&format!(
            "/api/v1/label/{label}/values?match[]={}",
            urlencode(selector)
        ))?;
        Ok(data
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Alertmanager {
    pub port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Alertmanager {
    /// Starts an Alertmanager whose one route groups nothing away and waits a second at most:
    /// the test reads what arrived through its API, so the receiver sends nowhere.
    pub fn start() -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alertmanager.yml");
        std::fs::write(
            &file,
            "route:\n  receiver: api-only\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: api-only\n",
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.path={}", dir.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No cluster: it would listen on 0.0.0.0:9094.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager not installed: run scripts/setup");
        let am = Alertmanager {
            port,
            _dir: dir,
            child,
        };
        wait_for("Alertmanager to be ready", Duration::from_secs(30), || {
            http_get(&am.address(), "/-/ready").filter(|(s, _)| *s == 200)
        });
        am
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The alerts it holds that are still firing (API v2; resolved ones are left out).
    pub fn firing(&self) -> Vec<Value> {
        let (status, body) = http_get(&self.address(), "/api/v2/alerts?active=true")
            .expect("no answer from Alertmanager");
        assert_eq!(status, 200, "{body}");
        let all: Vec<Value> = serde_json::from_str(&body).unwrap();
        all.into_iter()
            .filter(|a| a["status"]["state"] == "active")
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter (RFC 3986 unreserved characters pass).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every rule file shipped in `alerts/` (the tests' case files live in `alerts/tests/`).
pub fn rule_files(repo: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo.join("alerts"))
        .expect("alerts/ missing")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule files in alerts/");
    files
}
