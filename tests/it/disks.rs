//! The disks source with the real smartctl (Debian's smartmontools, from scripts/setup) and
//! with a directory of reports through the daemon: DISK_HEALTH goes OK -> CRITICAL -> OK as
//! the test rewrites a disk's report, a report left to age goes stale (UNKNOWN), and the
//! D-day criterion `source_disks` follows; smartctl run here on this machine's devices gives
//! the same answer through headroom as run by hand; a smartctl that hangs is killed at the
//! poll's timeout.
//!
//! SMART answers on no device of this machine (its disk is virtio: `smartctl --scan` lists
//! nothing, and smartctl cannot open /dev/vda as ATA or detect its type), so the healthy and
//! failing reports the directory test writes are the cited real-drive reports of
//! src/sources/disks/testdata/ (README.md there), with fields changed where a disk must fail.
//! On a machine where SMART answers, `smartctl_here_agrees_with_headroom` compares a real
//! health status too.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Daemon, free_port, wait_for};

const ATA: &str = include_str!("../../src/sources/disks/testdata/ata-wdc-wd20efrx.json");
const NVME: &str = include_str!("../../src/sources/disks/testdata/nvme-samsung-mzvl21t0.json");

/// The check `name` on `host` once it has been evaluated: (status, output).
fn check(d: &Daemon, name: &str, host: &str) -> Option<(String, String)> {
    let (_, body) = d.get("/api/checks")?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == name && c["host"] == host && c["has_been_checked"] == true)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["output"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

/// Waits until DISK_HEALTH on `host` is `status`; returns its output.
fn wait_state(d: &Daemon, host: &str, status: &str) -> String {
    wait_for(
        &format!("DISK_HEALTH on {host} to be {status}"),
        Duration::from_secs(30),
        || {
            check(d, "DISK_HEALTH", host)
                .filter(|(s, _)| s == status)
                .map(|(_, o)| o)
        },
    )
}

/// The D-day board's criterion `name`.
fn criterion(d: &Daemon, name: &str) -> Value {
    let (_, body) = d.get("/api/dday").expect("no answer from /api/dday");
    let b: Value = serde_json::from_str(&body).unwrap();
    b["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no criterion {name}: {b}"))
}

/// Writes a report atomically (as a collector copying files in should: write, then rename).
fn write_report(path: &Path, json: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The WD Red's report as a dying disk writes it: SMART FAILED (exit status bit 3), 12
/// reallocated and 3 pending sectors.
fn failing_ata() -> String {
    let mut v: Value = serde_json::from_str(ATA).unwrap();
    v["smart_status"]["passed"] = false.into();
    v["smartctl"]["exit_status"] = 8.into();
    for a in v["ata_smart_attributes"]["table"].as_array_mut().unwrap() {
        match a["id"].as_u64() {
            Some(5) => a["raw"]["value"] = 12.into(),
            Some(197) => a["raw"]["value"] = 3.into(),
            _ => {}
        }
    }
    v.to_string()
}

#[test]
fn disk_health_follows_the_reports_in_the_directory() {
    let reports = tempfile::tempdir().unwrap();
    let nas1 = reports.path().join("nas-1");
    let nas2 = reports.path().join("nas-2");
    std::fs::create_dir_all(&nas1).unwrap();
    std::fs::create_dir_all(&nas2).unwrap();
    let sdb = nas1.join("sdb.json");
    let nvme = nas2.join("nvme0.json");
    write_report(&sdb, ATA);
    write_report(&nvme, NVME);
    // An older report of the same disk left behind under another name: the newest speaks.
    let old = nas1.join("sdb-before-rename.json");
    write_report(&old, &failing_ata());
    let status = Command::new("touch")
        .args(["-d", "30 minutes ago"])
        .arg(&old)
        .status()
        .unwrap();
    assert!(status.success());
    // Not reports: ignored.
    std::fs::write(nas1.join("notes.txt"), "not a report").unwrap();
    std::fs::write(reports.path().join("stray.json"), ATA).unwrap();

    let port = free_port();
    let config = format!(
        "dday:\n  at: 2031-03-01T06:00:00+01:00\n\
         disks:\n  - {{name: source-disks, directory: '{}', max_age: 1h, interval: 1s, timeout: 1s}}\n",
        reports.path().display()
    );
    let d = Daemon::start(port, &config, &[]);

    let out = wait_state(&d, "nas-1:/dev/sdb", "OK");
    assert_eq!(
        out,
        "OK: nas-1:/dev/sdb (WDC WD20EFRX-68EUZN0 REDACTED): SMART passed, 0 reallocated, 0 pending, 34°C, 47657 h on"
    );
    let out = wait_state(&d, "nas-2:/dev/nvme0", "OK");
    assert!(out.contains("0 media errors, 16% used, 29°C"), "{out}");
    let c = wait_for("source_disks GO", Duration::from_secs(20), || {
        let c = criterion(&d, "source_disks");
        (c["decision"] == "GO").then_some(c)
    });
    assert_eq!(c["title"], "No source disk failing", "{c}");
    let sdb_labels = ["disk=\"nas-1:/dev/sdb\"", "model=\"WDC WD20EFRX-68EUZN0\""];
    assert_eq!(
        d.value("headroom_disk_smart_passed", &sdb_labels),
        Some(1.0)
    );
    assert_eq!(
        d.value("headroom_disk_temperature_celsius", &sdb_labels),
        Some(34.0)
    );
    assert_eq!(
        d.value("headroom_disk_report_stale", &sdb_labels),
        Some(0.0)
    );
    assert_eq!(
        d.value("headroom_disks_seen", &["target=\"source-disks\""]),
        Some(2.0)
    );
    // The disks' series pass Prometheus' own lint.
    let text = d.metrics();
    let ours: String = text
        .lines()
        .filter(|l| l.contains("headroom_disk"))
        .map(|l| format!("{l}\n"))
        .collect();
    crate::common::promtool_check_metrics(&ours).unwrap();

    // The disk starts failing: CRITICAL, naming it and why; the D-day row turns NO-GO.
    write_report(&sdb, &failing_ata());
    let out = wait_state(&d, "nas-1:/dev/sdb", "CRITICAL");
    assert!(
        out.starts_with(
            "CRITICAL: nas-1:/dev/sdb (WDC WD20EFRX-68EUZN0 REDACTED): SMART overall-health self-assessment FAILED, \
             12 reallocated sectors (max 0), 3 pending sectors (max 0). SMART failed"
        ),
        "{out}"
    );
    assert_eq!(
        d.value("headroom_disk_smart_passed", &sdb_labels),
        Some(0.0)
    );
    assert_eq!(
        d.value("headroom_disk_reallocated_sectors", &sdb_labels),
        Some(12.0)
    );
    assert_eq!(
        d.value(
            "headroom_disk_smartctl_exit_status_bit",
            &["disk=\"nas-1:/dev/sdb\"", "meaning=\"disk_failing\""]
        ),
        Some(1.0)
    );
    let c = wait_for("source_disks NO-GO", Duration::from_secs(20), || {
        let c = criterion(&d, "source_disks");
        (c["decision"] == "NO-GO").then_some(c)
    });
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("DISK_HEALTH on nas-1:/dev/sdb: CRITICAL"),
        "{c}"
    );
    // The other disk is untouched.
    assert_eq!(
        check(&d, "DISK_HEALTH", "nas-2:/dev/nvme0").unwrap().0,
        "OK"
    );

    // The disk is replaced: OK again, and the row GO.
    write_report(&sdb, ATA);
    wait_state(&d, "nas-1:/dev/sdb", "OK");
    wait_for("source_disks GO again", Duration::from_secs(20), || {
        (criterion(&d, "source_disks")["decision"] == "GO").then_some(())
    });

    // nas-2 stops writing its report: three hours old is past max_age, its disk's state is
    // unknown whatever the report said.
    let status = Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(&nvme)
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_state(&d, "nas-2:/dev/nvme0", "UNKNOWN");
    assert!(
        out.contains("report is stale, 3h") && out.contains("(max_age 1h)"),
        "{out}"
    );
    assert_eq!(
        d.value("headroom_disk_report_stale", &["disk=\"nas-2:/dev/nvme0\""]),
        Some(1.0)
    );
    let age = d
        .value(
            "headroom_disk_report_age_seconds",
            &["disk=\"nas-2:/dev/nvme0\""],
        )
        .unwrap();
    assert!((10_800.0..10_900.0).contains(&age), "{age}");

    // A report that is not smartctl's JSON: UNKNOWN with the parser's reason.
    write_report(&nvme, "smartctl: command not found\n");
    let out = wait_state(&d, "nas-2:nvme0", "UNKNOWN");
    assert!(out.contains("nvme0.json: not JSON"), "{out}");
}

/// Debian installs smartctl in /usr/sbin, which a non-root user's PATH may lack.
fn smartctl_bin() -> &'static str {
    if Path::new("/usr/sbin/smartctl").exists() {
        "/usr/sbin/smartctl"
    } else {
        "smartctl"
    }
}

/// smartctl's JSON for `device`, run here: (exit status, report).
fn smartctl_here(device: &str) -> (i32, Value) {
    let out = Command::new(smartctl_bin())
        .args(["--json", "-a", device])
        .output()
        .expect("smartctl (scripts/setup installs smartmontools)");
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn smartctl_here_agrees_with_headroom() {
    // Every device `smartctl --scan` lists, the virtio disk (on which SMART does not answer)
    // and a device that does not exist.
    let scan = Command::new(smartctl_bin()).arg("--scan").output().unwrap();
    let mut devices: Vec<String> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    if Path::new("/dev/vda").exists() {
        devices.push("/dev/vda".into());
    }
    devices.push("/dev/headroom-no-such-disk".into());
    let port = free_port();
    let list = devices
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let d = Daemon::start(
        port,
        &format!(
            "disks:\n  - {{name: here, devices: [{list}], smartctl: {}, host: this-host, interval: 1s, timeout: 20s}}\n",
            smartctl_bin()
        ),
        &[],
    );
    for dev in &devices {
        let (code, report) = smartctl_here(dev);
        let host = format!("this-host:{dev}");
        let labels = [format!("disk=\"{host}\"")];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let status = wait_for(
            &format!("headroom's exit status for {dev}"),
            Duration::from_secs(30),
            || d.value("headroom_disk_smartctl_exit_status", &labels),
        );
        assert_eq!(status, f64::from(code), "{dev}");
        match report["smart_status"]["passed"].as_bool() {
            Some(passed) => {
                // SMART answered: the same health through headroom.
                assert_eq!(
                    d.value("headroom_disk_smart_passed", &labels),
                    Some(f64::from(u8::from(passed))),
                    "{dev}"
                );
            }
            None => {
                // It did not: UNKNOWN with smartctl's own message.
                let message = report["smartctl"]["messages"][0]["string"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let out = wait_state(&d, &host, "UNKNOWN");
                assert_eq!(out, format!("UNKNOWN: {host}: smartctl: {message}"));
            }
        }
    }
}

#[test]
fn a_hung_smartctl_is_killed_at_the_poll_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = dir.path().join("smartctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 300\n",
            pidfile.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["+x"])
        .arg(&script)
        .status()
        .unwrap();
    let port = free_port();
    let d = Daemon::start(
        port,
        &format!(
            "disks:\n  - {{name: hung, devices: [/dev/sda], smartctl: '{}', interval: 10s, timeout: 1s}}\n",
            script.display()
        ),
        &[],
    );
    let pid = wait_for("the script to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    });
    wait_for("the poll to time out", Duration::from_secs(20), || {
        d.value(
            "headroom_poll_errors_total",
            &["target=\"hung\"", "kind=\"timeout\""],
        )
        .filter(|v| *v >= 1.0)
    });
    // The process is gone (not a zombie either: tokio reaps killed children).
    wait_for(
        "the hung smartctl to be killed",
        Duration::from_secs(10),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            match stat {
                None => Some(()),
                Some(s) if s.split_whitespace().nth(2) == Some("Z") => None,
                Some(_) => None,
            }
        },
    );
    assert_eq!(
        d.value("headroom_disks_up", &["target=\"hung\""]),
        Some(0.0)
    );
}
