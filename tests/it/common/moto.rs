//! Helpers for the tests that run against moto (scripts/services starts it): boto3 scripts
//! with moto's own client, a reset between tests, and the credentials the daemon signs with.

use std::process::Command;

use super::Failed;

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
    /// Its stderr, for the panic when it does not come up.
    log: tempfile::NamedTempFile,
}

impl PrivateMoto {
    /// On a free port. The port is free when asked for, not necessarily when moto binds it
    /// (another test may take it in between): a server that exits at once is started again
    /// on another port, up to three times.
    pub fn start() -> PrivateMoto {
        for attempt in 1..=3 {
            match PrivateMoto::start_on(super::free_port()) {
                Ok(m) => return m,
                Err(Failed::Exited(why)) if attempt < 3 => eprintln!("{why}\ntrying another port"),
                Err(f) => panic!("moto did not start (attempt {attempt} of 3): {f}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// On `port`.
    pub fn start_on(port: u16) -> Result<PrivateMoto, Failed> {
        let mut m = PrivateMoto {
            port,
            child: None,
            log: tempfile::NamedTempFile::new().unwrap(),
        };
        m.spawn()?;
        Ok(m)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port, empty.
    pub fn restart(&mut self) {
        if let Err(f) = self.spawn() {
            panic!("moto did not start again: {f}");
        }
    }

    /// Stops the one running, if any, starts moto and waits until it listens itself (a generous
    /// limit: it listens in about 0.4 s on an idle machine, but a loaded one runs many tests at
    /// once); Err with the end of its stderr when it exits first or does not listen in time.
    fn spawn(&mut self) -> Result<(), Failed> {
        self.stop();
        let _ = self.log.as_file().set_len(0);
        let python = std::path::PathBuf::from(super::env("HEADROOM_TEST_PYTHON"));
        let server = python.with_file_name("moto_server");
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(self.log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", server.display()));
        let port = self.port;
        let limit = std::time::Duration::from_secs(90);
        let pid = child.id();
        let up = super::wait_up(&mut child, limit, || super::listens(pid, port));
        self.child = Some(child);
        let Err(e) = up else { return Ok(()) };
        let tail = super::log_tail(self.log.path());
        self.stop();
        Err(Failed::of(
            &format!("moto_server on port {port}"),
            e,
            limit,
            &tail,
        ))
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
