//! The disks source: the SMART health of the disks a migration copies from, read with
//! smartmontools' `smartctl --json -a`. A target either runs smartctl here on its
//! `devices:`, or reads a `directory:` of the JSON reports that the source hosts write
//! (`smartctl --json -a /dev/sda > DIR/<host>/sda.json` from cron, copied over), where a
//! report older than `max_age` is stale: its disk's state is unknown, whatever it said.
//!
//! `parse.rs` is the pure part: the report, the judgement against the target's limits (which
//! DISK_HEALTH reports as `headroom_disk_health`) and the families.

pub mod parse;

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::SystemTime;

use serde::Deserialize;
use tokio::io::AsyncReadExt;

use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{ErrorKind, PollError, Polled, Poller, SourceKind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use parse::{Disk, Limits, Report};

/// smartctl's JSON for one disk is a few tens of KiB; more than this is not a report.
const MAX_REPORT: u64 = 4 * 1024 * 1024;

/// One entry of `disks:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// Devices to run `smartctl --json -a` on, here, e.g. `[/dev/sda, /dev/nvme0]`
    /// (`smartctl --scan` lists them). Give either `devices` or `directory`.
    pub devices: Option<Vec<String>>,
    /// A directory of reports written on the source hosts: `<directory>/<host>/<any>.json`,
    /// each the output of `smartctl --json -a DEVICE`. Relative to the config file.
    pub directory: Option<PathBuf>,
    /// Directory mode: a report older than this (by its file's modification time) is stale,
    /// and its disk's state unknown. Default `2h`.
    pub max_age: Option<Duration>,
    /// Devices mode: the smartctl to run. Default `smartctl` (from `PATH`; Debian installs
    /// it in `/usr/sbin`). It needs to open the devices: root, or the `disk` group.
    pub smartctl: Option<PathBuf>,
    /// Devices mode: smartctl's `-d TYPE` (`sat`, `nvme`, `megaraid,0`...). Default: none,
    /// smartctl guesses.
    pub device_type: Option<String>,
    /// Devices mode: the `host` label of the disks. Default: this machine's host name.
    pub host: Option<String>,
    /// CRITICAL when a disk has more reallocated sectors than this (ATA attribute 5, SCSI
    /// grown defects). Default 0.
    pub max_reallocated_sectors: Option<u64>,
    /// CRITICAL when a disk has more sectors pending reallocation (ATA attribute 197).
    /// Default 0.
    pub max_pending_sectors: Option<u64>,
    /// CRITICAL when an NVMe disk has more media and data integrity errors. Default 0.
    pub max_media_errors: Option<u64>,
    /// WARNING at or above this temperature, °C. Default 55.
    pub temperature_warning: Option<f64>,
    /// Overrides `defaults.interval`.
    pub interval: Option<Duration>,
    /// Overrides `defaults.timeout`; a smartctl still running then is killed.
    pub timeout: Option<Duration>,
    /// Where the target is, e.g. `dc1`: the `region` label of `headroom_target_info`.
    /// Default: none.
    pub region: Option<String>,
}

/// Where a target's reports come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// smartctl run here on each device.
    Devices {
        devices: Vec<String>,
        smartctl: PathBuf,
        device_type: Option<String>,
        host: String,
    },
    /// Report files written on the hosts.
    Directory {
        dir: PathBuf,
        max_age: std::time::Duration,
    },
}

/// A validated disks target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub input: Input,
    pub limits: Limits,
}

/// This machine's host name, from the kernel.
fn local_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let devices_only = |v: &mut Validator<'_>, field: &str, set: bool| {
            if set {
                v.error(
                    &format!("{path}.{field}"),
                    format!("{field} applies to devices:, not to directory:"),
                );
            }
        };
        let input = match (&self.devices, &self.directory) {
            (Some(_), Some(_)) => {
                v.error(path, "give either devices or directory, not both");
                None
            }
            (None, None) => {
                v.error(
                    path,
                    "give devices (smartctl run here) or directory (reports written on the hosts)",
                );
                None
            }
            (Some(devices), None) => {
                if self.max_age.is_some() {
                    v.error(
                        &format!("{path}.max_age"),
                        "max_age applies to directory:, not to devices:",
                    );
                }
                if devices.is_empty() {
                    v.error(&format!("{path}.devices"), "the list is empty");
                }
                for (i, d) in devices.iter().enumerate() {
                    if d.trim().is_empty() || d.starts_with('-') {
                        v.error(
                            &format!("{path}.devices[{i}]"),
                            format!("{d:?} is not a device (e.g. /dev/sda)"),
                        );
                    } else if devices[..i].contains(d) {
                        v.error(
                            &format!("{path}.devices[{i}]"),
                            format!("{d} is listed twice"),
                        );
                    }
                }
                if let Some(t) = &self.device_type
                    && (t.trim().is_empty() || t.starts_with('-') || t.contains(' '))
                {
                    v.error(
                        &format!("{path}.device_type"),
                        format!("{t:?} is not a smartctl device type (e.g. sat, nvme)"),
                    );
                }
                Some(Input::Devices {
                    devices: devices.clone(),
                    smartctl: self
                        .smartctl
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("smartctl")),
                    device_type: self.device_type.clone(),
                    host: self.host.clone().unwrap_or_else(local_host),
                })
            }
            (None, Some(dir)) => {
                devices_only(v, "smartctl", self.smartctl.is_some());
                devices_only(v, "device_type", self.device_type.is_some());
                devices_only(v, "host", self.host.is_some());
                let max_age = v.positive(
                    &format!("{path}.max_age"),
                    self.max_age,
                    std::time::Duration::from_secs(2 * 3600),
                );
                Some(Input::Directory {
                    dir: v.relative(dir),
                    max_age,
                })
            }
        };
        let dflt = Limits::default();
        let temperature_warning = self.temperature_warning.unwrap_or(dflt.temperature_warning);
        if !temperature_warning.is_finite() {
            v.error(
                &format!("{path}.temperature_warning"),
                "must be a number of °C",
            );
        }
        let limits = Limits {
            reallocated_sectors: self
                .max_reallocated_sectors
                .map_or(dflt.reallocated_sectors, |n| n as f64),
            pending_sectors: self
                .max_pending_sectors
                .map_or(dflt.pending_sectors, |n| n as f64),
            media_errors: self
                .max_media_errors
                .map_or(dflt.media_errors, |n| n as f64),
            temperature_warning,
        };
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            input: input?,
            limits,
        })
    }
}

#[derive(Debug)]
pub struct DisksPoller {
    settings: Settings,
}

/// Runs `smartctl --json -a [-d TYPE] DEVICE` and reads what it printed.
async fn smartctl(
    bin: &PathBuf,
    device_type: Option<&str>,
    device: &str,
) -> Result<Result<Report, String>, PollError> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["--json", "-a"]);
    if let Some(t) = device_type {
        cmd.args(["-d", t]);
    }
    cmd.arg(device)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // The poll's timeout drops this future: the child is killed with it.
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        PollError::new(
            ErrorKind::Connect,
            format!("cannot run {}: {e}", bin.display()),
        )
    })?;
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_REPORT)
            .read_to_end(&mut out)
            .await
            .map_err(|e| {
                PollError::new(
                    ErrorKind::Protocol,
                    format!("reading {}: {e}", bin.display()),
                )
            })?;
    }
    let status = child.wait().await.map_err(|e| {
        PollError::new(
            ErrorKind::Protocol,
            format!("waiting for {}: {e}", bin.display()),
        )
    })?;
    let text = String::from_utf8_lossy(&out);
    Ok(match Report::parse(&text) {
        Ok(mut r) => {
            // The process's status is the authority; the JSON repeats it.
            if let Some(code) = status.code().and_then(|c| u8::try_from(c).ok()) {
                r.exit_status = Some(code);
            }
            Ok(r)
        }
        Err(e) => Err(format!(
            "smartctl printed no report ({status}): {e}{}",
            if text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", text.trim().chars().take(200).collect::<String>())
            }
        )),
    })
}

/// Every `<dir>/<host>/*.json` report, with its age.
async fn read_directory(
    dir: &PathBuf,
    max_age: std::time::Duration,
) -> Result<Vec<Disk>, PollError> {
    let io = |what: &str, p: &std::path::Path, e: std::io::Error| {
        PollError::new(
            ErrorKind::Connect,
            format!("cannot {what} {}: {e}", p.display()),
        )
    };
    let mut hosts = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| io("read the directory", dir, e))?;
    let now = SystemTime::now();
    let mut disks = Vec::new();
    while let Some(h) = hosts
        .next_entry()
        .await
        .map_err(|e| io("read the directory", dir, e))?
    {
        let hpath = h.path();
        if !h.file_type().await.is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let host = h.file_name().to_string_lossy().into_owned();
        if host.starts_with('.') {
            continue;
        }
        let mut files = tokio::fs::read_dir(&hpath)
            .await
            .map_err(|e| io("read the directory", &hpath, e))?;
        while let Some(f) = files
            .next_entry()
            .await
            .map_err(|e| io("read the directory", &hpath, e))?
        {
            let p = f.path();
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let stem = name.trim_end_matches(".json").to_owned();
            let meta = match tokio::fs::metadata(&p).await {
                Ok(m) if m.is_file() => m,
                _ => continue,
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            let report = if meta.len() > MAX_REPORT {
                Err(format!("{} is larger than {MAX_REPORT} bytes", p.display()))
            } else {
                match tokio::fs::read_to_string(&p).await {
                    Ok(text) => Report::parse(&text).map_err(|e| format!("{}: {e}", p.display())),
                    Err(e) => Err(format!("cannot read {}: {e}", p.display())),
                }
            };
            disks.push(Disk {
                host: host.clone(),
                device: stem,
                report,
                age: Some(age.as_secs_f64()),
                stale: age > max_age,
                max_age: Some(max_age.as_secs_f64()),
            });
        }
    }
    if disks.is_empty() {
        return Err(PollError::new(
            ErrorKind::NoData,
            format!("no report in {} (<host>/<device>.json)", dir.display()),
        ));
    }
    // Two reports naming the same device of a host (a renamed file left behind): the newest
    // one speaks for the disk, so that its series are one set.
    disks.sort_by(|a, b| {
        (&a.host, a.device()).cmp(&(&b.host, b.device())).then(
            a.age
                .unwrap_or_default()
                .total_cmp(&b.age.unwrap_or_default()),
        )
    });
    disks.dedup_by(|later, first| later.host == first.host && later.device() == first.device());
    Ok(disks)
}

impl Poller for DisksPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let disks = match &self.settings.input {
            Input::Devices {
                devices,
                smartctl: bin,
                device_type,
                host,
            } => {
                let mut disks = Vec::with_capacity(devices.len());
                for d in devices {
                    disks.push(Disk {
                        host: host.clone(),
                        device: d.clone(),
                        report: smartctl(bin, device_type.as_deref(), d).await?,
                        age: None,
                        stale: false,
                        max_age: None,
                    });
                }
                disks
            }
            Input::Directory { dir, max_age } => read_directory(dir, *max_age).await?,
        };
        Ok(parse::families(&disks, &self.settings.limits).into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("disks", "headroom_disks_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = DisksPoller;

    fn poller(&self, _at: Spawn<'_>) -> DisksPoller {
        DisksPoller {
            settings: self.clone(),
        }
    }

    fn may_export(&self, metric: &str, _labels: &[(String, String)]) -> bool {
        match &self.input {
            Input::Devices { .. } => !metric.starts_with("headroom_disk_report_"),
            Input::Directory { .. } => true,
        }
    }
}
