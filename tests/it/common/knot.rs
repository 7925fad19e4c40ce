//! A private Knot DNS (Debian's `knotd`, from scripts/setup) serving `example.com` on a free
//! loopback port, from a zone file in its own temp dir that a test rewrites and has knotd
//! reload; and `kdig` (Debian's `knot-dnsutils`) to read what it serves.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_for};

/// A private knotd serving `example.com` from a zone file the test rewrites.
pub struct Knot {
    pub port: u16,
    dir: tempfile::TempDir,
    serial: u32,
    child: Option<Child>,
}

impl Knot {
    /// Starts knotd with `records` (zone-file lines relative to `example.com.`) in the zone.
    pub fn start(records: &str) -> Knot {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        // knotd.conf(5): listen on loopback only, everything under the temp dir, the zone
        // file read whole at each reload and never written back.
        std::fs::write(
            dir.path().join("knot.conf"),
            format!(
                "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n\
                 database:\n  storage: \"{d}\"\n\
                 log:\n  - target: stderr\n    any: info\n\
                 template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
                 zone:\n  - domain: example.com\n    file: example.com.zone\n"
            ),
        )
        .unwrap();
        let mut k = Knot {
            port,
            dir,
            serial: 0,
            child: None,
        };
        k.write_zone(records);
        let log = std::fs::File::create(k.dir.path().join("knotd.log")).unwrap();
        let child = Command::new("knotd")
            .arg("-c")
            .arg(k.conf())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("knotd: {e} (run scripts/setup)"));
        k.child = Some(child);
        let serial = k.serial;
        wait_for("knotd to serve the zone", Duration::from_secs(20), || {
            (k.soa_serial() == Some(serial)).then_some(())
        });
        k
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("knot.conf")
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn write_zone(&mut self, records: &str) {
        self.serial += 1;
        std::fs::write(
            self.dir.path().join("example.com.zone"),
            format!(
                "$ORIGIN example.com.\n$TTL 3600\n\
                 @ 3600 IN SOA ns1.example.com. hostmaster.example.com. {} 7200 3600 1209600 300\n\
                 @ 3600 IN NS ns1.example.com.\nns1 3600 IN A 127.0.0.1\n{records}",
                self.serial
            ),
        )
        .unwrap();
    }

    /// Rewrites the zone with a new serial and has knotd load it; returns once it serves it.
    pub fn set_zone(&mut self, records: &str) {
        self.write_zone(records);
        let out = Command::new("knotc")
            .arg("-c")
            .arg(self.conf())
            .args(["zone-reload", "example.com"])
            .output()
            .unwrap();
        assert!(out.status.success(), "knotc: {out:?}");
        let serial = self.serial;
        wait_for(
            "knotd to serve the new zone",
            Duration::from_secs(20),
            || (self.soa_serial() == Some(serial)).then_some(()),
        );
    }

    fn soa_serial(&self) -> Option<u32> {
        kdig(self.port, "example.com", "SOA")
            .first()
            .and_then(|r| r.2.split_whitespace().nth(2)?.parse().ok())
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = Command::new("knotc")
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .output();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `kdig +norec` of `name` and `rtype` at 127.0.0.1:`port`: the answer section as (TTL,
/// type, value), values without a trailing dot.
pub fn kdig(port: u16, name: &str, rtype: &str) -> Vec<(u32, String, String)> {
    let out = Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norec",
            "+noall",
            "+answer",
            "+timeout=2",
            name,
            rtype,
        ])
        .output()
        .expect("kdig not installed: run scripts/setup");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| {
                (
                    f[1].parse().unwrap(),
                    f[3].to_owned(),
                    f[4..].join(" ").trim_end_matches('.').to_owned(),
                )
            })
        })
        .collect()
}
