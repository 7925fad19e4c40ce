//! MySQL over TLS against a private MariaDB started with `require_secure_transport=ON` and
//! certificates made with the openssl CLI in the test's temp dir: each `ssl_mode`, a wrong
//! CA, a certificate for another name, a client certificate for a user created `REQUIRE
//! X509`, a server without TLS, `headroom check mysql` with the same options, and the daemon
//! living on with a `tls` error.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Daemon, env, free_port, headroom, wait_for};
use headroom::config::Secret;
use headroom::model::{ErrorKind, Poller};
use headroom::sources::mysql::{MysqlPoller, Settings, Ssl, SslMode};

const PASSWORD: &str = "tls-monitor-pw";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (run scripts/setup)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`, `<name>.key`), self-signed.
fn ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN=headroom test {name}"),
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A leaf (`<name>.pem`, `<name>.key`) signed by CA `ca` with the X.509v3 extensions `ext`
/// (RFC 5280 section 4.2: subjectAltName, extendedKeyUsage).
fn leaf(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("basicConstraints=CA:FALSE\n{ext}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-days",
            "2",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

/// A MariaDB of its own with TLS required of every TCP client: its certificate names
/// `localhost` only (not 127.0.0.1), signed by `ca`; users `monitor` (password) and `x509`
/// (password and a client certificate signed by `ca`, `REQUIRE X509`).
pub struct TlsMariaDb {
    pub dir: tempfile::TempDir,
    pub port: u16,
    _child: common::KillOnDrop,
}

impl TlsMariaDb {
    pub fn start() -> TlsMariaDb {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        ca(p, "ca");
        ca(p, "other-ca");
        leaf(
            p,
            "ca",
            "server",
            "localhost",
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth",
        );
        leaf(
            p,
            "ca",
            "client",
            "headroom monitor",
            "extendedKeyUsage=clientAuth",
        );
        std::fs::write(
            p.join("init.sql"),
            format!(
                "CREATE USER 'monitor'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                 GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'monitor'@'%';\n\
                 CREATE USER 'x509'@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE X509;\n\
                 GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'x509'@'%';\n"
            ),
        )
        .unwrap();
        let d = p.display();
        let (port, child) = common::private_mariadb(
            p,
            &format!(
                "ssl_ca={d}/ca.pem\nssl_cert={d}/server.pem\nssl_key={d}/server.key\n\
                 require_secure_transport=ON\ninit-file={d}/init.sql\n"
            ),
        );
        TlsMariaDb {
            dir,
            port,
            _child: common::KillOnDrop(child),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Runs SQL as root over the server's socket (unix_socket authentication).
    #[allow(dead_code)] // used by the RDS IAM test
    pub fn sql(&self, sql: &str) {
        common::root_sql(self.dir.path(), sql);
    }
}

fn settings(address: String, user: &str, ssl: Ssl) -> Settings {
    Settings {
        ssl,
        ..Settings::new(address, user, Some(Secret::new(PASSWORD.to_owned())))
    }
}

fn ssl(mode: SslMode, ca: Option<PathBuf>) -> Ssl {
    Ssl {
        mode,
        ca,
        identity: None,
    }
}

async fn poll(s: &Settings) -> Result<(), headroom::model::PollError> {
    let p = MysqlPoller::new(s);
    let r = p.poll().await.map(|_| ());
    p.close().await;
    r
}

#[tokio::test]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB for the whole test; the test's own runtime runs nothing else that takes it"
)]
async fn each_ssl_mode_against_a_server_that_requires_tls() {
    // A failed login and a few polls on the services' MariaDB, at the end.
    let _db = common::lock::mariadb_shared();
    let db = TlsMariaDb::start();
    let ip = format!("127.0.0.1:{}", db.port);
    let name = format!("localhost:{}", db.port);
    let ca = Some(db.path("ca.pem"));

    // DISABLED: the server refuses the plain connection. MariaDB answers with the same
    // ER_ACCESS_DENIED_ERROR (1045) as for a wrong password, so the kind is `auth`; the
    // message says it may be either, in the server's words as the mysql client prints them.
    let e = poll(&settings(
        ip.clone(),
        "monitor",
        ssl(SslMode::Disabled, None),
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "{e}");
    assert!(
        e.message.contains(&format!(
            "{ip}: ERROR 1045 (28000): Access denied for user 'monitor'"
        )) && e.message.contains(
            "(a wrong user or password, or a plain-text connection where TLS is required \
                 by require_secure_transport=ON"
        ),
        "{e}"
    );

    // PREFERRED and REQUIRED encrypt without verifying: no CA needed.
    for mode in [SslMode::Preferred, SslMode::Required] {
        poll(&settings(ip.clone(), "monitor", ssl(mode, None)))
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    }

    // VERIFY_CA verifies the chain, not the name: 127.0.0.1 is not in the certificate.
    poll(&settings(
        ip.clone(),
        "monitor",
        ssl(SslMode::VerifyCa, ca.clone()),
    ))
    .await
    .unwrap();
    // VERIFY_IDENTITY wants the name too: refused by IP, accepted by the name it carries.
    let e = poll(&settings(
        ip.clone(),
        "monitor",
        ssl(SslMode::VerifyIdentity, ca.clone()),
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Tls, "{e}");
    assert!(e.message.contains("not valid for name"), "{e}");
    poll(&settings(
        name.clone(),
        "monitor",
        ssl(SslMode::VerifyIdentity, ca.clone()),
    ))
    .await
    .unwrap();

    // A CA that did not sign the server's certificate.
    for mode in [SslMode::VerifyCa, SslMode::VerifyIdentity] {
        let e = poll(&settings(
            name.clone(),
            "monitor",
            ssl(mode, Some(db.path("other-ca.pem"))),
        ))
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Tls, "{mode:?}: {e}");
        assert!(e.message.contains("UnknownIssuer"), "{mode:?}: {e}");
        assert!(!e.message.contains(PASSWORD));
    }

    // A user created REQUIRE X509: refused without a client certificate, let in with one.
    let e = poll(&settings(ip.clone(), "x509", ssl(SslMode::Required, None)))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth, "{e}");
    let with_cert = Ssl {
        identity: Some((db.path("client.pem"), db.path("client.key"))),
        ..ssl(SslMode::VerifyIdentity, ca.clone())
    };
    poll(&settings(name.clone(), "x509", with_cert))
        .await
        .unwrap();

    // A server without TLS (the services' MariaDB): REQUIRED refuses to go on in plain text,
    // PREFERRED goes on.
    let plain = env("HEADROOM_TEST_MYSQL");
    let plain_settings = |mode| Settings {
        ssl: ssl(mode, None),
        ..Settings::new(
            plain.clone(),
            env("HEADROOM_TEST_MYSQL_USER"),
            Some(Secret::new(env("HEADROOM_TEST_MYSQL_PASSWORD"))),
        )
    };
    let e = poll(&plain_settings(SslMode::Required)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Tls, "{e}");
    assert!(e.message.contains("does not offer TLS"), "{e}");
    poll(&plain_settings(SslMode::Preferred)).await.unwrap();

    // `headroom check mysql` with the same options.
    let pw = db.path("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let check = |host: &str, mode: &str, ca: &Path| {
        headroom(&[
            "check",
            "mysql",
            "-H",
            host,
            "-u",
            "monitor",
            "--password-file",
            pw.to_str().unwrap(),
            "--ssl-mode",
            mode,
            "--ssl-ca",
            ca.to_str().unwrap(),
            "-w",
            "80",
            "-c",
            "90",
        ])
    };
    let (code, out, err) = check(&name, "VERIFY_IDENTITY", &db.path("ca.pem"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK"), "{out}");
    let (code, out, err) = check(&ip, "VERIFY_CA", &db.path("ca.pem"));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = check(&name, "VERIFY_IDENTITY", &db.path("other-ca.pem"));
    assert!(code == 2 || code == 3, "{code} {out}");
    assert!(
        out.contains("tls") && out.contains("UnknownIssuer"),
        "{out}"
    );
    let (code, out, _) = headroom(&[
        "check",
        "mysql",
        "-H",
        &ip,
        "-u",
        "monitor",
        "--password-file",
        pw.to_str().unwrap(),
        "--ssl-mode",
        "DISABLED",
    ]);
    assert!(code == 2 || code == 3, "{code} {out}");
    assert!(out.contains("require_secure_transport"), "{out}");
}

/// The daemon with one good target and one whose CA is wrong: the bad one is `tls` in the
/// error counter and its check says why; the good one is polled; the daemon answers on.
#[test]
fn the_daemon_reports_a_wrong_ca_and_lives_on() {
    let db = TlsMariaDb::start();
    let config = format!(
        "defaults: {{interval: 1s, timeout: 3s}}\n\
         mysql:\n\
         \x20 - {{name: good, address: 'localhost:{p}', user: monitor, password_env: HR_PW, ssl_mode: VERIFY_IDENTITY, ssl_ca: '{ca}'}}\n\
         \x20 - {{name: wrong-ca, address: 'localhost:{p}', user: monitor, password_env: HR_PW, ssl_mode: VERIFY_IDENTITY, ssl_ca: '{other}'}}\n",
        p = db.port,
        ca = db.path("ca.pem").display(),
        other = db.path("other-ca.pem").display(),
    );
    let d = Daemon::start(free_port(), &config, &[("HR_PW", PASSWORD)]);
    wait_for(
        "a tls error on wrong-ca and mysql_up 1 on good",
        Duration::from_secs(20),
        || {
            let tls = d.value(
                "headroom_poll_errors_total",
                &["target=\"wrong-ca\"", "kind=\"tls\""],
            )?;
            let up = d.value("mysql_up", &["target=\"good\""])?;
            (tls >= 1.0 && up == 1.0).then_some(())
        },
    );
    let (status, output) = wait_for(
        "MYSQL_CONNECTIONS on wrong-ca to be evaluated",
        Duration::from_secs(20),
        || {
            let (_, body) = d.get("/api/checks")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            v["checks"].as_array()?.iter().find_map(|c| {
                (c["check"] == "MYSQL_CONNECTIONS"
                    && c["host"] == "wrong-ca"
                    && c["has_been_checked"] == true)
                    .then(|| {
                        (
                            c["status"].as_str().unwrap_or_default().to_owned(),
                            c["output"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
            })
        },
    );
    assert!(
        status == "CRITICAL" || status == "UNKNOWN",
        "{status}: {output}"
    );
    assert!(
        output.contains("tls") && output.contains("UnknownIssuer"),
        "{output}"
    );
    assert!(!d.log().contains(PASSWORD));
    assert_eq!(d.get("/healthz").map(|(s, _)| s), Some(200));
}

/// The AWS CLI of the checkout's virtualenv (scripts/setup installs awscli from PyPI), else
/// the one on PATH.
fn aws_cli() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("aws")
    }
}

/// Runs `program args` under Debian's faketime with the clock frozen at `at` (UTC), fixed
/// AWS credentials and nothing else of the AWS configuration: stdout, or the failure.
fn frozen(at: &str, session: Option<&str>, program: &Path, args: &[&str]) -> (i32, String) {
    let mut c = Command::new("faketime");
    c.arg("-f").arg(at).arg(program).args(args);
    c.env("TZ", "UTC")
        // tokio's timers read the monotonic clock: leave it running.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    match session {
        Some(t) => c.env("AWS_SESSION_TOKEN", t),
        None => c.env_remove("AWS_SESSION_TOKEN"),
    };
    let out = c
        .output()
        .expect("faketime (Debian's faketime; run scripts/setup)");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{text}{}",
            if out.status.success() {
                String::new()
            } else {
                format!("\n{err}")
            }
        ),
    )
}

/// RDS IAM database authentication: the token headroom signs equals the AWS CLI's `rds
/// generate-db-auth-token` for the same credentials, host, port, user, region and instant;
/// and `check mysql --iam-region` logs in with it over TLS. No local server validates IAM
/// tokens (RDS does it with its own AWSAuthenticationPlugin), so the connect path is proven
/// by a MariaDB user whose password is the token, over TLS.
#[test]
fn rds_iam_token_equals_the_aws_clis_and_logs_in_over_tls() {
    let db = TlsMariaDb::start();
    // A frozen instant a minute or two ahead, inside the test certificates' validity.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = time::OffsetDateTime::from_unix_timestamp((now / 60 + 2) * 60).unwrap();
    let at = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:00",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute()
    );
    let headroom_bin = Path::new(env!("CARGO_BIN_EXE_headroom"));
    let port = db.port.to_string();
    for (host, user, session) in [
        ("localhost", "iam_user", None),
        (
            "db1.abcdefghijkl.us-west-2.rds.amazonaws.com",
            "jane doe/ops",
            Some("FwoGZXIvYXdzEXAMPLE//token+with=chars"),
        ),
    ] {
        let (code, cli) = frozen(
            &at,
            session,
            &aws_cli(),
            &[
                "rds",
                "generate-db-auth-token",
                "--hostname",
                host,
                "--port",
                &port,
                "--username",
                user,
                "--region",
                "us-west-2",
            ],
        );
        assert_eq!(code, 0, "aws: {cli}");
        let (code, ours) = frozen(
            &at,
            session,
            headroom_bin,
            &[
                "rds-token",
                "--host",
                host,
                "--port",
                &port,
                "--user",
                user,
                "--region",
                "us-west-2",
            ],
        );
        assert_eq!(code, 0, "headroom: {ours}");
        assert_eq!(ours, cli, "at {at} for {user}@{host}");
        assert!(ours.contains("X-Amz-Expires=900"), "{ours}");
    }

    // The login: a user whose password is the token of `at`, allowed over TLS only.
    let (_, token) = frozen(
        &at,
        None,
        headroom_bin,
        &[
            "rds-token",
            "--host",
            "localhost",
            "--port",
            &port,
            "--user",
            "iam_user",
            "--region",
            "us-west-2",
        ],
    );
    db.sql(&format!(
        "CREATE USER 'iam_user'@'%' IDENTIFIED BY '{token}' REQUIRE SSL; \
         GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'iam_user'@'%';"
    ));
    let host = format!("localhost:{port}");
    let ca = db.path("ca.pem");
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "mysql",
            "-H",
            &host,
            "-u",
            "iam_user",
            "--iam-region",
            "us-west-2",
            "--ssl-ca",
            ca.to_str().unwrap(),
            "-w",
            "80",
            "-c",
            "90",
        ];
        args.extend_from_slice(extra);
        frozen(&at, None, headroom_bin, &args)
    };
    let (code, out) = check(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK"), "{out}");
    assert!(
        !out.contains("X-Amz-Signature"),
        "the token is never printed: {out}"
    );
    // Never in plain text.
    let (code, out) = check(&["--ssl-mode", "PREFERRED"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("only over TLS"), "{out}");

    // The same refusal in a config file, named by file, line and column.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iam.yaml");
    std::fs::write(
        &file,
        format!(
            "mysql:\n  - name: rds-db\n    address: '{host}'\n    user: iam_user\n    auth: iam\n    region: us-west-2\n    ssl_mode: DISABLED\n"
        ),
    )
    .unwrap();
    let (code, out, err) = headroom(&["config", "check", file.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("iam.yaml:7:") && err.contains("DISABLED is not accepted"),
        "{out}{err}"
    );
}
