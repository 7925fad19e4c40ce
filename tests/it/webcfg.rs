//! `run --web.config.file`: the endpoints behind TLS, mutual TLS and basic auth, as real
//! clients see them: a real Prometheus scraping over TLS with basic auth (right and wrong
//! passwords) and with a client certificate, curl and `openssl s_client` refused at the
//! handshake, a real headless Chromium loading /status over HTTPS with basic auth, and
//! SIGHUP swapping the web config (a broken one kept out). Certificates are made with the
//! openssl command line in the test's temp dir.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::prom::Prometheus;
use common::{free_port, series_value, wait_for};

/// The right password and a wrong one: neither may appear in the log or /metrics.
const PASSWORD: &str = "correct-horse-7f3a19";
const WRONG_PASSWORD: &str = "wrong-battery-91c2d4";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl not installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate it signs for localhost and 127.0.0.1, and a client
/// certificate (clientAuth) for Prometheus, P-256 keys, in `dir`.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=headroom test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        ),
        (
            "client",
            "subjectAltName=DNS:prometheus.test\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

/// `headroom run --web.config.file`, killed on drop.
struct Secured {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Secured {
    fn start(dir: &Path) -> Secured {
        let port = free_port();
        // One memcached target on a port where nothing listens: the daemon has something to
        // poll and report, and needs no service.
        std::fs::write(
            dir.join("config.yaml"),
            format!(
                "listen: 127.0.0.1:{port}\ndefaults: {{interval: 1s, timeout: 500ms}}\n\
                 memcached:\n  - {{name: memc-gone, address: 127.0.0.1:{}}}\n",
                free_port()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .arg("run")
            .arg("--config")
            .arg(dir.join("config.yaml"))
            // Relative: resolved against the web config's directory, not the working one.
            .arg("--web.config.file")
            .arg(dir.join("web.yml"))
            .env("RUST_LOG", "debug")
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Secured {
            port,
            dir: dir.to_path_buf(),
            child,
        };
        wait_for(
            "the daemon to serve /healthz over TLS",
            Duration::from_secs(20),
            || {
                let (code, body, _) = d.curl(&["-u", &format!("alice:{PASSWORD}")], "/healthz");
                (code == 0 && body.ends_with("200")).then_some(())
            },
        );
        d
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// curl over TLS trusting the test CA: exit code, body and then the HTTP status (000 when
    /// none came), stderr.
    fn curl(&self, args: &[&str], path: &str) -> (i32, String, String) {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-w",
                "\n%{http_code}",
                "--cacert",
            ])
            .arg(self.dir.join("ca.pem"))
            .args(args)
            .arg(self.url(path))
            .output()
            .expect("curl not installed");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// /metrics as alice, over TLS (with the client certificate, which every phase accepts).
    fn metrics(&self) -> String {
        let (code, body, err) = self.curl(
            &[
                "-u",
                &format!("alice:{PASSWORD}"),
                "--cert",
                &self.dir.join("client.pem").display().to_string(),
                "--key",
                &self.dir.join("client.key").display().to_string(),
            ],
            "/metrics",
        );
        assert!(code == 0 && body.ends_with("\n200"), "{code} {err} {body}");
        body
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn reload(&self, web: &str) {
        std::fs::write(self.dir.join("web.yml"), web).unwrap();
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// `openssl s_client` limited to one TLS version: whether the handshake succeeded, and
    /// what it printed.
    fn s_client(&self, version: &str) -> (bool, String) {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", self.port),
                version,
            ])
            .arg("-CAfile")
            .arg(self.dir.join("ca.pem"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for Secured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The latest `up` of a job, as Prometheus has it.
fn up(prom: &Prometheus, job: &str) -> Option<f64> {
    let r = prom.query(&format!("up{{job=\"{job}\"}}")).ok()?;
    r.first()?["value"][1].as_str()?.parse().ok()
}

fn wait_up(prom: &Prometheus, job: &str, want: f64) {
    wait_for(
        &format!("Prometheus to see up{{job={job:?}}} == {want}"),
        Duration::from_secs(40),
        || (up(prom, job) == Some(want)).then_some(()),
    );
}

/// The SHA-256 of the server key's SubjectPublicKeyInfo, base64: what Chromium's
/// `--ignore-certificate-errors-spki-list` pins (it has no flag to trust a CA file, and the
/// test must not touch the user's NSS database).
fn spki_pin(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn tls_basic_auth_and_mtls_against_prometheus_chromium_curl_and_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_pki(dir);
    // Cost 6 rather than htpasswd's 10: the daemon under test is a debug build, where bcrypt
    // is many times slower; the cost changes nothing of the decision.
    let hash = bcrypt::hash(PASSWORD, 6).unwrap();
    let users = format!("basic_auth_users:\n  alice: {hash}\n");
    // Phase 1: TLS 1.3 only, basic auth, relative paths, a response header.
    let phase1 = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS13\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n{users}"
    );
    std::fs::write(dir.join("web.yml"), phase1).unwrap();
    std::fs::write(dir.join("alice.pw"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(dir.join("wrong.pw"), format!("{WRONG_PASSWORD}\n")).unwrap();
    let d = Secured::start(dir);
    assert!(
        d.log()
            .contains(&format!("serving https://127.0.0.1:{}/metrics", d.port))
    );

    let p = |f: &str| dir.join(f).display().to_string();
    let target = format!("static_configs: [{{targets: ['127.0.0.1:{}']}}]", d.port);
    let prom = Prometheus::start(&format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n\
         - job_name: good\n  scheme: https\n  tls_config: {{ca_file: {ca}}}\n  basic_auth: {{username: alice, password_file: {good}}}\n  {target}\n\
         - job_name: wrong\n  scheme: https\n  tls_config: {{ca_file: {ca}}}\n  basic_auth: {{username: alice, password_file: {wrong}}}\n  {target}\n\
         - job_name: mtls\n  scheme: https\n  tls_config: {{ca_file: {ca}, cert_file: {cert}, key_file: {key}}}\n  basic_auth: {{username: alice, password_file: {good}}}\n  {target}\n",
        ca = p("ca.pem"),
        good = p("alice.pw"),
        wrong = p("wrong.pw"),
        cert = p("client.pem"),
        key = p("client.key"),
    ));

    // Prometheus over TLS with the right password: up 1; with the wrong one: up 0, counted.
    wait_up(&prom, "good", 1.0);
    wait_up(&prom, "wrong", 0.0);
    wait_up(&prom, "mtls", 1.0);
    let failures = wait_for(
        "a wrong password counted, in what Prometheus scraped",
        Duration::from_secs(20),
        || {
            let r = prom
                .query("headroom_web_auth_failures_total{job=\"good\",reason=\"wrong_password\"}")
                .ok()?;
            let v: f64 = r.first()?["value"][1].as_str()?.parse().ok()?;
            (v >= 2.0).then_some(v)
        },
    );
    eprintln!("wrong passwords counted: {failures}");
    let wrong_scrape = prom.query("scrape_samples_scraped{job=\"wrong\"}").unwrap();
    assert_eq!(
        wrong_scrape[0]["value"][1], "0",
        "the wrong password got no data"
    );

    // curl: no credentials, 401 with the challenge and the configured header.
    let (code, body, _) = d.curl(&["-D", "-"], "/metrics");
    assert_eq!(code, 0);
    assert!(body.starts_with("HTTP/1.1 401"), "{body}");
    let lower = body.to_ascii_lowercase();
    assert!(lower.contains("www-authenticate: basic"), "{body}");
    assert!(lower.contains("x-content-type-options: nosniff"), "{body}");
    assert!(
        !body.contains("headroom_"),
        "no data without credentials: {body}"
    );
    // Every API is behind it, and plain HTTP gets no answer worth the name.
    for path in [
        "/status",
        "/api/checks",
        "/api/dday",
        "/dday",
        "/-/ready",
        "/",
    ] {
        let (_, body, _) = d.curl(&[], path);
        assert!(body.ends_with("\n401"), "{path}: {body}");
    }
    assert!(
        common::http_get(&format!("127.0.0.1:{}", d.port), "/metrics")
            .is_none_or(|(s, _)| s != 200),
        "plain HTTP must not serve /metrics"
    );

    // min_version TLS13: a TLS 1.2 client is refused at the handshake, a TLS 1.3 one is not.
    let (ok12, text12) = d.s_client("-tls1_2");
    assert!(!ok12, "TLS 1.2 was accepted:\n{text12}");
    assert!(text12.contains("alert protocol version"), "{text12}");
    let (ok13, text13) = d.s_client("-tls1_3");
    assert!(ok13 && text13.contains("TLSv1.3"), "{text13}");

    // A real Chromium loads /status over HTTPS with basic auth; the page is in the DOM.
    let dom = common::chromium(
        &[
            "--dump-dom",
            &format!("--ignore-certificate-errors-spki-list={}", spki_pin(dir)),
        ],
        &format!("https://alice:{PASSWORD}@127.0.0.1:{}/status", d.port),
    );
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        text.contains("<h1>Service status</h1>"),
        "{text}\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    // Without credentials Chromium gets the refusal, not the page.
    let dom = common::chromium(
        &[
            "--dump-dom",
            &format!("--ignore-certificate-errors-spki-list={}", spki_pin(dir)),
        ],
        &d.url("/status"),
    );
    assert!(!String::from_utf8_lossy(&dom.stdout).contains("Service status"));

    // `headroom dday`, the runbook's gate, through TLS and basic auth: it trusts the test CA
    // with --ca-file and reads the password from a file. Without them it cannot tell (3),
    // and says why.
    let url = format!("https://127.0.0.1:{}", d.port);
    let gate = |extra: &[&str]| {
        let (code, out, err) = common::headroom(&[&["dday", "--url", &url], extra].concat());
        (code, format!("{out}{err}"))
    };
    let (ca, pw, wrong) = (p("ca.pem"), p("alice.pw"), p("wrong.pw"));
    let (code, out) = gate(&["--ca-file", &ca, "--user", "alice", "--password-file", &pw]);
    assert!(code == 0 || code == 2, "GO or NO-GO expected: {code} {out}");
    assert!(out.contains("for D-day"), "{out}");
    let (code, out) = gate(&["--ca-file", &ca]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("HTTP 401"), "{out}");
    let (code, out) = gate(&[
        "--ca-file",
        &ca,
        "--user",
        "alice",
        "--password-file",
        &wrong,
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("HTTP 401"), "{out}");
    let (code, out) = gate(&["--user", "alice", "--password-file", &pw]);
    assert_eq!(code, 3, "{out}");
    assert!(out.to_ascii_lowercase().contains("certificate"), "{out}");
    // The password reaches neither its output nor its errors.
    assert!(!out.contains(PASSWORD));

    // Phase 2, by SIGHUP: mutual TLS, RequireAndVerifyClientCert, and no basic auth.
    let handshakes_before = series_value(
        &d.metrics(),
        "headroom_web_tls_handshake_failures_total",
        &[],
    )
    .unwrap();
    d.reload(concat!(
        "tls_server_config:\n",
        "  cert_file: server.pem\n",
        "  key_file: server.key\n",
        "  client_auth_type: RequireAndVerifyClientCert\n",
        "  client_ca_file: ca.pem\n",
        "  client_allowed_sans: [prometheus.test]\n",
    ));
    wait_for("the web config reloaded", Duration::from_secs(10), || {
        d.log()
            .contains("SIGHUP: web config reloaded: TLS")
            .then_some(())
    });
    // Prometheus with its client certificate scrapes; without one it is refused.
    wait_up(&prom, "good", 0.0);
    wait_up(&prom, "mtls", 1.0);
    // curl without a client certificate: refused in the handshake, no HTTP status at all.
    let (code, body, err) = d.curl(&[], "/healthz");
    assert_ne!(code, 0, "{body}");
    assert!(body.ends_with("000"), "{body} {err}");
    // headroom dday with the client certificate gets through; without it, the reason.
    let (cert, key) = (p("client.pem"), p("client.key"));
    let (code, out) = gate(&["--ca-file", &ca, "--cert-file", &cert, "--key-file", &key]);
    assert!(code == 0 || code == 2, "GO or NO-GO expected: {code} {out}");
    let (code, out) = gate(&["--ca-file", &ca]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no headroom daemon answers"), "{out}");
    // openssl s_client too. Over TLS 1.2 the refusal ends the handshake itself (over 1.3 the
    // client may finish its side before the server's alert arrives).
    let (ok, text) = d.s_client("-tls1_2");
    assert!(!ok, "a client without a certificate got through:\n{text}");
    let after = series_value(
        &d.metrics(),
        "headroom_web_tls_handshake_failures_total",
        &[],
    )
    .unwrap();
    assert!(after > handshakes_before, "{handshakes_before} -> {after}");

    // Phase 3: a broken file is reported and the running config stays.
    d.reload("tls_server_config:\n  cert_file: server.pem\n  key_file: nowhere.key\n");
    wait_for(
        "the broken web config reported",
        Duration::from_secs(10),
        || {
            d.log()
                .contains("SIGHUP: web config not reloaded, the running one stays")
                .then_some(())
        },
    );
    assert!(
        d.log()
            .contains("web.yml:3:13: tls_server_config.key_file: cannot read"),
        "{}",
        d.log()
    );
    let (code, _, _) = d.curl(&[], "/healthz");
    assert_ne!(code, 0, "still mutual TLS");
    let _ = d.metrics(); // with the client certificate: still served

    // Neither password is in the log or the metrics.
    let metrics = d.metrics();
    let log = d.log();
    for secret in [PASSWORD, WRONG_PASSWORD] {
        assert!(!log.contains(secret), "a password in the log");
        assert!(!metrics.contains(secret), "a password in /metrics");
    }
}

#[test]
fn a_bad_web_config_stops_the_start_naming_every_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{}\nmemcached:\n  - {{name: m, address: 127.0.0.1:{}}}\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS11\n",
    )
    .unwrap();
    let (code, _, err) = common::headroom(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--web.config.file",
        web.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let web = web.display();
    for want in [
        format!(
            "{web}:2:14: tls_server_config.cert_file: cannot read {}/server.pem",
            dir.display()
        ),
        format!("{web}:4:16: tls_server_config.min_version: TLS11 is not supported"),
    ] {
        assert!(err.contains(&want), "want {want}\n in {err}");
    }
}
