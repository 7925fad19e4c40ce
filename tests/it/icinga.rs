//! headroom pushing check results to a real Icinga 2 (Debian's icinga2-bin) through its
//! REST API, set up as Icinga 2's documentation (doc/12-icinga2-api.md) describes: a private
//! CA, an API listener on a free loopback port, an ApiUser, and the objects the results are for.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::certs::{Ca, leaf_with_names};
use common::{Daemon, env, free_port, wait_for};

struct Icinga {
    dir: tempfile::TempDir,
    port: u16,
}

impl Icinga {
    fn start(objects: &str) -> Icinga {
        let dir = tempfile::Builder::new()
            .prefix("headroom-icinga")
            .tempdir()
            .unwrap();
        let t = dir.path().display().to_string();
        for sub in ["data/certs", "log", "cache", "spool", "run"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let def: Vec<String> = [
            format!("-DDataDir={t}/data"),
            format!("-DLogDir={t}/log"),
            format!("-DCacheDir={t}/cache"),
            format!("-DSpoolDir={t}/spool"),
            format!("-DInitRunDir={t}/run"),
            "-DRunAsUser=root".into(),
            "-DRunAsGroup=root".into(),
        ]
        .into();
        let run = |args: &[&str]| {
            let out = Command::new("icinga2")
                .args(args)
                .args(&def)
                .output()
                .expect("icinga2 not installed: run scripts/setup");
            assert!(
                out.status.success(),
                "icinga2 {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // The API certificate, from the test's own CA: Icinga's `pki new-cert` names only the
        // node, and the test reaches the API at 127.0.0.1, so this one carries an IP SAN too.
        let certs = dir.path().join("data/certs");
        let ca = Ca::new(&certs);
        let hour = time::Duration::hours(1);
        let (c, k) = leaf_with_names(
            &certs,
            "headroom-test",
            "headroom-test",
            &["headroom-test", "127.0.0.1"],
            -hour,
            time::Duration::days(30),
            Some(&ca),
        );
        assert!(c.ends_with("headroom-test.pem"));
        std::fs::rename(&c, certs.join("headroom-test.crt")).unwrap();
        let _ = k; // already at certs/headroom-test.key
        std::fs::copy(&ca.pem_path, certs.join("ca.crt")).unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("icinga2.conf"),
            format!(
                "const PluginDir = \"/usr/lib/nagios/plugins\"\nconst PluginContribDir = \"/usr/lib/nagios/plugins\"\n\
                 const ManubulonPluginDir = \"/usr/lib/nagios/plugins\"\ninclude <itl>\ninclude <plugins>\n\
                 const NodeName = \"headroom-test\"\nobject Endpoint NodeName {{}}\nobject Zone \"master\" {{ endpoints = [ NodeName ] }}\n\
                 object CheckerComponent \"checker\" {{}}\n\
                 object ApiListener \"api\" {{ bind_host = \"127.0.0.1\"; bind_port = {port} }}\n\
                 object ApiUser \"headroom\" {{ password = \"icinga-test-password\"; permissions = [ \"actions/process-check-result\", \"objects/query/*\", \"status/query\" ] }}\n\
                 {objects}"
            ),
        )
        .unwrap();
        let conf = format!("{t}/icinga2.conf");
        run(&["daemon", "-C", "-c", &conf]);
        run(&[
            "daemon",
            "-c",
            &conf,
            "-d",
            "-e",
            &format!("{t}/log/icinga2.err"),
        ]);
        let i = Icinga { dir, port };
        wait_for("the Icinga 2 API", Duration::from_secs(30), || {
            i.get("/v1/status/IcingaApplication")
                .filter(|(c, _)| *c == 200)
        });
        i
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("data/certs/ca.pem")
    }

    /// GET with curl, verifying the API's certificate against Icinga's CA.
    fn get(&self, path: &str) -> Option<(u16, serde_json::Value)> {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--cacert"])
            .arg(self.ca())
            .args([
                "-u",
                "headroom:icinga-test-password",
                "-H",
                "Accept: application/json",
            ])
            .arg(format!("https://127.0.0.1:{}{path}", self.port))
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n')?;
        Some((
            code.trim().parse().ok()?,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        ))
    }
}

impl Drop for Icinga {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("run/icinga2/icinga2.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        // Older layouts put the pid file directly under InitRunDir.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("run/icinga2.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        std::thread::sleep(Duration::from_millis(200));
        let _ = Path::new("/");
    }
}

#[test]
fn results_are_pushed_to_icinga2() {
    // MEMCACHE_RESPONSE must be OK: it warns at 0.1 s, which sysbench's load can exceed.
    let _quiet = common::lock::no_load();
    let icinga = Icinga::start(
        "object Host \"memc-push\" { check_command = \"dummy\"; enable_active_checks = false }\n\
         object Service \"MEMCACHE_RESPONSE\" { host_name = \"memc-push\"; check_command = \"dummy\"; enable_active_checks = false }\n\
         object Service \"MEMCACHE_HITRATE\" { host_name = \"memc-push\"; check_command = \"dummy\"; enable_active_checks = false }\n",
    );
    let secret = "icinga-test-password";
    let config = format!(
        "defaults: {{interval: 500ms}}\nmemcached:\n  - {{name: memc-push, address: {}}}\n\
         push:\n  icinga2:\n    url: https://127.0.0.1:{}\n    user: headroom\n    password_env: ICINGA_PW\n    ca_file: {}\n",
        env("HEADROOM_TEST_MEMCACHED"),
        icinga.port,
        icinga.ca().display()
    );
    let d = Daemon::start(free_port(), &config, &[("ICINGA_PW", secret)]);
    let r = wait_for(
        "a pushed result in Icinga 2",
        Duration::from_secs(40),
        || {
            let (code, v) = icinga.get("/v1/objects/services/memc-push!MEMCACHE_RESPONSE?attrs=last_check_result&attrs=state")?;
            (code == 200).then_some(())?;
            let attrs = v["results"][0]["attrs"].clone();
            (!attrs["last_check_result"].is_null()).then_some(attrs)
        },
    );
    let lcr = &r["last_check_result"];
    assert_eq!(r["state"], 0.0, "{r}");
    assert!(
        lcr["output"]
            .as_str()
            .unwrap()
            .starts_with("OK: stats answered in "),
        "{r}"
    );
    assert_eq!(lcr["check_source"], "headroom");
    assert!(
        lcr["performance_data"][0]
            .as_str()
            .unwrap()
            .starts_with("'time'="),
        "{r}"
    );
    assert!(!d.log().contains(secret));
}
