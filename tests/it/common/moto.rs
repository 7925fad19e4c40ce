//! Helpers for the tests that run against moto (scripts/services starts it): boto3 scripts
//! with moto's own client, a reset between tests, and the credentials the daemon signs with.

use std::process::Command;

/// Credentials for the SDK's signer; moto accepts any. IMDS is off so nothing leaves loopback.
pub const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Runs a Python script with the virtualenv that has boto3; returns its stdout.
pub fn boto(script: &str) -> String {
    let out = Command::new(super::env("HEADROOM_TEST_PYTHON"))
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Empties moto: it keeps state between runs of the suite.
pub fn reset() {
    boto(&format!(
        "import urllib.request; urllib.request.urlopen(urllib.request.Request('{}/moto-api/reset', method='POST'))",
        super::env("HEADROOM_TEST_MOTO")
    ));
}

/// A moto server of a test's own (the services' one is shared by every test), for tests that
/// stop it mid-run. Killed on drop.
pub struct PrivateMoto {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateMoto {
    pub fn start() -> PrivateMoto {
        let mut m = PrivateMoto {
            port: super::free_port(),
            child: None,
        };
        m.restart();
        m
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let python = std::path::PathBuf::from(super::env("HEADROOM_TEST_PYTHON"));
        let server = python.with_file_name("moto_server");
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", server.display()));
        self.child = Some(child);
        let port = self.port;
        super::wait_for("moto to listen", std::time::Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        self.stop();
    }
}
