//! A real Nagios 4 (Debian's nagios4-core) in a private directory, configured as Nagios Core's
//! "Main Configuration File Options" allow (`interval_length=1`, so intervals are seconds),
//! with `status.dat` read back after each step.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Nagios {
    pub dir: tempfile::TempDir,
}

impl Nagios {
    /// Starts Nagios with `objects` (host, service and command definitions) added to the
    /// minimal set; `$T` in them stands for the Nagios directory.
    pub fn start(objects: &str) -> Nagios {
        Self::start_with_files(objects, &[])
    }

    /// Like [`start`](Self::start), with files copied into the Nagios directory first
    /// (`(source, name)`), readable by the nagios user.
    pub fn start_with_files(objects: &str, files: &[(&Path, &str)]) -> Nagios {
        let dir = tempfile::Builder::new()
            .prefix("headroom-nagios")
            .tempdir()
            .unwrap();
        let t = dir.path().to_str().unwrap().to_owned();
        for sub in ["var", "spool", "rw"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("nagios.cfg"),
            format!(
                "log_file={t}/var/nagios.log\ncfg_file={t}/objects.cfg\nobject_cache_file={t}/var/objects.cache\n\
                 precached_object_file={t}/var/objects.precache\nstatus_file={t}/var/status.dat\nstatus_update_interval=1\n\
                 nagios_user=nagios\nnagios_group=nagios\ncheck_external_commands=1\ncommand_file={t}/rw/nagios.cmd\n\
                 query_socket={t}/rw/nagios.qh\nlock_file={t}/var/nagios.lock\ntemp_file={t}/var/nagios.tmp\ntemp_path={t}/var\n\
                 check_result_path={t}/spool\nstate_retention_file={t}/var/retention.dat\nretain_state_information=0\n\
                 interval_length=1\ncheck_result_reaper_frequency=1\nmax_service_check_spread=1\nmax_host_check_spread=1\n\
                 service_inter_check_delay_method=n\nhost_inter_check_delay_method=n\nservice_check_timeout=20\n\
                 service_check_timeout_state=u\nenable_notifications=0\nenable_flap_detection=1\n\
                 low_service_flap_threshold=20.0\nhigh_service_flap_threshold=30.0\ncheck_for_updates=0\nuse_syslog=0\n\
                 log_initial_states=1\nlog_service_retries=1\nlog_passive_checks=1\naccept_passive_service_checks=1\n"
            ),
        )
        .unwrap();
        let base = "define timeperiod {\n timeperiod_name 24x7\n alias 24x7\n sunday 00:00-24:00\n monday 00:00-24:00\n \
             tuesday 00:00-24:00\n wednesday 00:00-24:00\n thursday 00:00-24:00\n friday 00:00-24:00\n saturday 00:00-24:00\n}\n\
             define contact {\n contact_name nobody\n host_notifications_enabled 0\n service_notifications_enabled 0\n \
             host_notification_period 24x7\n service_notification_period 24x7\n host_notification_options n\n \
             service_notification_options n\n host_notification_commands noop\n service_notification_commands noop\n}\n\
             define command {\n command_name noop\n command_line /bin/true\n}\n";
        std::fs::write(
            dir.path().join("objects.cfg"),
            format!("{base}{}", objects.replace("$T", &t)),
        )
        .unwrap();
        // The headroom binary and anything the objects name must be readable by the nagios
        // user wherever the checkout lives: copy the binary in.
        std::fs::copy(env!("CARGO_BIN_EXE_headroom"), dir.path().join("headroom")).unwrap();
        for (src, name) in files {
            std::fs::copy(src, dir.path().join(name)).unwrap();
        }
        let st = Command::new("chown")
            .args(["-R", "nagios:nagios", &t])
            .status()
            .unwrap();
        assert!(
            st.success(),
            "chown failed: run the tests as root (scripts/test)"
        );
        let pre = Command::new("/usr/sbin/nagios4")
            .arg("-v")
            .arg(dir.path().join("nagios.cfg"))
            .output()
            .unwrap();
        assert!(
            pre.status.success(),
            "nagios4 -v failed:\n{}",
            String::from_utf8_lossy(&pre.stdout)
        );
        let run = Command::new("/usr/sbin/nagios4")
            .arg("-d")
            .arg(dir.path().join("nagios.cfg"))
            .status()
            .unwrap();
        assert!(run.success());
        let n = Nagios { dir };
        super::wait_for(
            "Nagios to write status.dat",
            Duration::from_secs(20),
            || n.dir.path().join("var/status.dat").exists().then_some(()),
        );
        n
    }

    pub fn command_file(&self) -> PathBuf {
        self.dir.path().join("rw/nagios.cmd")
    }

    /// Sends one external command (`PROCESS_SERVICE_CHECK_RESULT;...`) stamped `ts`.
    pub fn command(&self, ts: i64, cmd: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.command_file())
            .unwrap();
        writeln!(f, "[{ts}] {cmd}").unwrap();
    }

    /// The `servicestatus` block of `host`/`service` in status.dat.
    pub fn service(&self, host: &str, service: &str) -> Option<HashMap<String, String>> {
        let text = std::fs::read_to_string(self.dir.path().join("var/status.dat")).ok()?;
        parse_status(&text).into_iter().find(|b| {
            b.get("host_name").map(String::as_str) == Some(host)
                && b.get("service_description").map(String::as_str) == Some(service)
        })
    }
}

impl Drop for Nagios {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("var/nagios.lock")) {
            let pid = pid.trim().to_owned();
            let _ = Command::new("kill").arg(&pid).status();
            for _ in 0..50 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The `servicestatus {}` blocks of a status.dat file.
pub fn parse_status(text: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: Option<HashMap<String, String>> = None;
    for line in text.lines() {
        let l = line.trim();
        if l == "servicestatus {" {
            cur = Some(HashMap::new());
        } else if l == "}" {
            if let Some(b) = cur.take() {
                out.push(b);
            }
        } else if let Some(b) = cur.as_mut()
            && let Some((k, v)) = l.split_once('=')
        {
            b.insert(k.to_owned(), v.to_owned());
        }
    }
    out
}
