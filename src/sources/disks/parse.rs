//! Pure part of the disks source: one `smartctl --json -a` report read into a [`Report`],
//! judged against the target's [`Limits`] into a [`Verdict`], and the families of every disk
//! a poll saw.
//!
//! Where the fields are: smartctl's JSON mirrors its text output (`smartctl(8)`, option
//! `-j`); the key names are those smartmontools writes: `smart_status.passed`,
//! `ata_smart_attributes.table[]` (`id`, `raw.value`, `when_failed`),
//! `nvme_smart_health_information_log` (`critical_warning`, `percentage_used`,
//! `media_errors`; written by smartmontools' `nvmeprint.cpp`), `temperature.current`,
//! `power_on_time.hours` / `.minutes`, `scsi_grown_defect_list`, and
//! `smartctl.exit_status` with `smartctl.messages[]` (`string`, `severity`).

use std::borrow::Cow;

use serde_json::Value;

use crate::model::{Family, Kind, Sample};

/// ATA attribute 5, Reallocated_Sector_Ct: sectors the drive has remapped to spares.
pub const ATA_REALLOCATED: u64 = 5;
/// ATA attribute 197, Current_Pending_Sector: unstable sectors waiting to be remapped.
pub const ATA_PENDING: u64 = 197;

/// The meaning of each bit of smartctl's exit status (`smartctl(8)`, EXIT STATUS), as the
/// `meaning` label of `headroom_disk_smartctl_exit_status_bit`.
pub const EXIT_BITS: [&str; 8] = [
    // Bit 0: the command line did not parse.
    "command_line",
    // Bit 1: the device could not be opened, did not identify itself, or is in a low-power
    // mode.
    "device_open_failed",
    // Bit 2: a SMART or other command to the disk failed, or a SMART structure has a bad
    // checksum.
    "command_failed",
    // Bit 3: the SMART status check returned "DISK FAILING".
    "disk_failing",
    // Bit 4: prefail attributes at or below their threshold.
    "prefail_below_threshold",
    // Bit 5: "DISK OK", but some attributes were at or below threshold in the past.
    "past_below_threshold",
    // Bit 6: the device's error log holds errors.
    "error_log",
    // Bit 7: the device's self-test log holds errors.
    "self_test_errors",
];

/// What one report says of one disk. `None` is a field the report does not have (an NVMe
/// disk has no ATA attributes; a disk smartctl could not open has nothing but messages).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// `device.name`, e.g. `/dev/sda`.
    pub device: Option<String>,
    /// `device.protocol`: `ATA`, `NVMe`, `SCSI`.
    pub protocol: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// `smartctl.exit_status`.
    pub exit_status: Option<u8>,
    /// `smartctl.messages[]` of severity `error` (or any, when none is an error).
    pub messages: Vec<String>,
    /// `smart_status.passed`: the drive's overall-health self-assessment.
    pub passed: Option<bool>,
    /// ATA attribute 5's raw value, or SCSI's grown defect list.
    pub reallocated: Option<f64>,
    /// ATA attribute 197's raw value.
    pub pending: Option<f64>,
    /// ATA attributes failing now (`when_failed` = `now`), by name.
    pub failing_attributes: Vec<String>,
    /// NVMe `media_errors`: unrecovered data integrity errors.
    pub media_errors: Option<f64>,
    /// NVMe `percentage_used`: the vendor's estimate of the endurance used, 0 to 255.
    pub percentage_used: Option<f64>,
    /// NVMe `critical_warning`: a bit field, 0 when nothing is wrong.
    pub critical_warning: Option<u64>,
    /// `temperature.current`, °C.
    pub temperature: Option<f64>,
    /// `power_on_time.hours` (+ `minutes`), in seconds.
    pub power_on_seconds: Option<f64>,
}

/// A report that is not smartctl's JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not smartctl's JSON (no \"smartctl\" object)")]
    NotSmartctl,
}

fn str_at(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn num_at(v: &Value, ptr: &str) -> Option<f64> {
    v.pointer(ptr).and_then(Value::as_f64)
}

impl Report {
    /// Reads one `smartctl --json` document.
    pub fn parse(text: &str) -> Result<Report, ParseError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        if !v.get("smartctl").is_some_and(Value::is_object) {
            return Err(ParseError::NotSmartctl);
        }
        let messages: Vec<(String, String)> = v
            .pointer("/smartctl/messages")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| {
                        let s = m.get("string")?.as_str()?.trim().to_owned();
                        let sev = m
                            .get("severity")
                            .and_then(Value::as_str)
                            .unwrap_or("information")
                            .to_owned();
                        Some((sev, s))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let errors: Vec<String> = messages
            .iter()
            .filter(|(sev, _)| sev == "error")
            .map(|(_, s)| s.clone())
            .collect();
        let messages = if errors.is_empty() {
            messages.into_iter().map(|(_, s)| s).collect()
        } else {
            errors
        };
        let attrs = v
            .pointer("/ata_smart_attributes/table")
            .and_then(Value::as_array);
        let attr_raw = |id: u64| {
            attrs?
                .iter()
                .find(|a| a.get("id").and_then(Value::as_u64) == Some(id))
                .and_then(|a| num_at(a, "/raw/value"))
        };
        let failing_attributes = attrs
            .map(|t| {
                t.iter()
                    .filter(|a| a.get("when_failed").and_then(Value::as_str) == Some("now"))
                    .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let nvme = |k: &str| num_at(&v, &format!("/nvme_smart_health_information_log/{k}"));
        let power_on_seconds = num_at(&v, "/power_on_time/hours")
            .map(|h| h * 3600.0 + num_at(&v, "/power_on_time/minutes").unwrap_or(0.0) * 60.0);
        Ok(Report {
            device: str_at(&v, "/device/name"),
            protocol: str_at(&v, "/device/protocol"),
            model: str_at(&v, "/model_name")
                .or_else(|| str_at(&v, "/scsi_model_name"))
                .or_else(|| str_at(&v, "/product")),
            serial: str_at(&v, "/serial_number"),
            exit_status: v
                .pointer("/smartctl/exit_status")
                .and_then(Value::as_u64)
                .and_then(|s| u8::try_from(s).ok()),
            messages,
            passed: v.pointer("/smart_status/passed").and_then(Value::as_bool),
            reallocated: attr_raw(ATA_REALLOCATED)
                .or_else(|| num_at(&v, "/scsi_grown_defect_list")),
            pending: attr_raw(ATA_PENDING),
            failing_attributes,
            media_errors: nvme("media_errors"),
            percentage_used: nvme("percentage_used"),
            critical_warning: v
                .pointer("/nvme_smart_health_information_log/critical_warning")
                .and_then(Value::as_u64),
            temperature: num_at(&v, "/temperature/current"),
            power_on_seconds,
        })
    }

    /// Whether bit `n` of the exit status is set.
    pub fn bit(&self, n: u8) -> bool {
        self.exit_status.is_some_and(|s| s & (1 << n) != 0)
    }

    /// Whether smartctl could read the drive at all: it opened it and got a health status or
    /// attributes back.
    pub fn readable(&self) -> bool {
        !self.bit(0)
            && !self.bit(1)
            && (self.passed.is_some()
                || self.reallocated.is_some()
                || self.media_errors.is_some()
                || self.temperature.is_some())
    }
}

/// The target's thresholds: CRITICAL above the counts, WARNING at or above the temperature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub reallocated_sectors: f64,
    pub pending_sectors: f64,
    pub media_errors: f64,
    pub temperature_warning: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            reallocated_sectors: 0.0,
            pending_sectors: 0.0,
            media_errors: 0.0,
            temperature_warning: 55.0,
        }
    }
}

/// A disk's state, as the Nagios states DISK_HEALTH reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    Warning,
    Critical,
    /// The state is not known: smartctl could not read the drive, or the report is stale.
    Unknown,
}

impl Verdict {
    /// The value of `headroom_disk_health`: 0, 1, 2, and NaN for unknown (no value, which a
    /// check reads as absent).
    pub fn value(self) -> f64 {
        match self {
            Verdict::Ok => 0.0,
            Verdict::Warning => 1.0,
            Verdict::Critical => 2.0,
            Verdict::Unknown => f64::NAN,
        }
    }
}

/// A number as the texts show it (`34`, not `34.0`: `f64`'s `Display`).
fn count(v: f64) -> String {
    v.to_string()
}

/// One disk of a poll: where it is, and its report or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// The host the disk is in.
    pub host: String,
    /// The device as configured or as the report's file is named, when the report does not
    /// name it.
    pub device: String,
    pub report: Result<Report, String>,
    /// The report file's age, seconds (directory mode).
    pub age: Option<f64>,
    /// Whether that age is past the target's `max_age`.
    pub stale: bool,
    /// `max_age`, for the text.
    pub max_age: Option<f64>,
}

impl Disk {
    /// The device as the labels show it: the report's `device.name`, else the configured
    /// device or the report file's name.
    pub fn device(&self) -> &str {
        self.report
            .as_ref()
            .ok()
            .and_then(|r| r.device.as_deref())
            .unwrap_or(&self.device)
    }

    /// `host`, `device`, `disk`, `model`, `serial`: the labels of every series of the disk.
    pub fn labels(&self) -> Vec<(Cow<'static, str>, String)> {
        let (model, serial) = match &self.report {
            Ok(r) => (
                r.model.clone().unwrap_or_default(),
                r.serial.clone().unwrap_or_default(),
            ),
            Err(_) => Default::default(),
        };
        vec![
            (Cow::Borrowed("host"), self.host.clone()),
            (Cow::Borrowed("device"), self.device().to_owned()),
            (
                Cow::Borrowed("disk"),
                format!("{}:{}", self.host, self.device()),
            ),
            (Cow::Borrowed("model"), model),
            (Cow::Borrowed("serial"), serial),
        ]
    }

    /// The name the texts give the disk: `nas-1:/dev/sda (ST4000 ZR547BZ8)`.
    fn named(&self) -> String {
        let mut s = format!("{}:{}", self.host, self.device());
        if let Ok(r) = &self.report {
            let id: Vec<&str> = [r.model.as_deref(), r.serial.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !id.is_empty() {
                s.push_str(&format!(" ({})", id.join(" ")));
            }
        }
        s
    }

    /// The disk's state and the text that says why.
    pub fn judge(&self, limits: &Limits) -> (Verdict, String) {
        let name = self.named();
        let r = match &self.report {
            Err(e) => return (Verdict::Unknown, format!("{name}: {e}")),
            Ok(r) => r,
        };
        if self.stale {
            return (
                Verdict::Unknown,
                format!(
                    "{name}: report is stale, {} old (max_age {}): is smartctl still run on {}?",
                    crate::units::duration(self.age.unwrap_or_default()),
                    crate::units::duration(self.max_age.unwrap_or_default()),
                    self.host
                ),
            );
        }
        if !r.readable() {
            let why = if r.messages.is_empty() {
                format!(
                    "smartctl could not read the device (exit status {})",
                    r.exit_status.map(u32::from).unwrap_or_default()
                )
            } else {
                format!("smartctl: {}", r.messages.join("; "))
            };
            return (Verdict::Unknown, format!("{name}: {why}"));
        }
        let mut critical = Vec::new();
        let mut warning = Vec::new();
        if r.passed == Some(false) || r.bit(3) {
            critical.push("SMART overall-health self-assessment FAILED".to_owned());
        }
        if !r.failing_attributes.is_empty() {
            critical.push(format!(
                "attributes failing now: {}",
                r.failing_attributes.join(", ")
            ));
        } else if r.bit(4) {
            critical.push("prefail attributes at or below threshold".to_owned());
        }
        let mut over = |what: &str, v: Option<f64>, max: f64| {
            if let Some(v) = v.filter(|v| *v > max) {
                critical.push(format!("{} {what} (max {})", count(v), count(max)));
            }
        };
        over(
            "reallocated sectors",
            r.reallocated,
            limits.reallocated_sectors,
        );
        over("pending sectors", r.pending, limits.pending_sectors);
        over("media errors", r.media_errors, limits.media_errors);
        if let Some(w) = r.critical_warning.filter(|w| *w != 0) {
            critical.push(format!("NVMe critical warning 0x{w:02x}"));
        }
        if let Some(t) = r.temperature.filter(|t| *t >= limits.temperature_warning) {
            warning.push(format!(
                "temperature {}°C (warning at {}°C)",
                count(t),
                count(limits.temperature_warning)
            ));
        }
        if let Some(p) = r.percentage_used.filter(|p| *p >= 100.0) {
            warning.push(format!("{}% of its rated endurance used", count(p)));
        }
        if r.bit(7) {
            warning.push("the self-test log holds errors".to_owned());
        }
        let (verdict, problems) = if !critical.is_empty() {
            critical.extend(warning);
            (Verdict::Critical, critical)
        } else if !warning.is_empty() {
            (Verdict::Warning, warning)
        } else {
            (Verdict::Ok, Vec::new())
        };
        let text = if problems.is_empty() {
            format!("{name}: {}", summary(r))
        } else {
            format!("{name}: {}. {}", problems.join(", "), summary(r))
        };
        (verdict, text)
    }
}

/// What the report says, in short: `SMART passed, 0 reallocated, 0 pending, 34°C, 10423 h`.
fn summary(r: &Report) -> String {
    let mut parts = Vec::new();
    match r.passed {
        Some(true) => parts.push("SMART passed".to_owned()),
        Some(false) => parts.push("SMART failed".to_owned()),
        None => {}
    }
    if let Some(v) = r.reallocated {
        parts.push(format!("{} reallocated", count(v)));
    }
    if let Some(v) = r.pending {
        parts.push(format!("{} pending", count(v)));
    }
    if let Some(v) = r.media_errors {
        parts.push(format!("{} media errors", count(v)));
    }
    if let Some(v) = r.percentage_used {
        parts.push(format!("{}% used", count(v)));
    }
    if let Some(v) = r.temperature {
        parts.push(format!("{}°C", count(v)));
    }
    if let Some(v) = r.power_on_seconds {
        parts.push(format!("{} h on", count((v / 3600.0).floor())));
    }
    parts.join(", ")
}

/// The families of a poll's disks.
pub fn families(disks: &[Disk], limits: &Limits) -> Vec<Family> {
    let gauge = |name: &'static str, help: &'static str| Family::new(name, help, Kind::Gauge);
    let mut health = gauge(
        "headroom_disk_health",
        "The disk's state as DISK_HEALTH reports it: 0 OK, 1 WARNING, 2 CRITICAL, NaN unknown (smartctl could not read it, or its report is stale); detail says why.",
    );
    let mut passed = gauge(
        "headroom_disk_smart_passed",
        "SMART overall-health self-assessment (smart_status.passed): 1 passed, 0 failed.",
    );
    let mut realloc = gauge(
        "headroom_disk_reallocated_sectors",
        "Reallocated sectors: the raw value of ATA attribute 5 (SCSI: the grown defect list).",
    );
    let mut pending = gauge(
        "headroom_disk_pending_sectors",
        "Sectors pending reallocation: the raw value of ATA attribute 197.",
    );
    let mut media = gauge(
        "headroom_disk_nvme_media_errors",
        "NVMe media and data integrity errors (media_errors).",
    );
    let mut used = gauge(
        "headroom_disk_nvme_endurance_used_ratio",
        "NVMe percentage_used / 100: the vendor's estimate of the rated endurance used (may exceed 1).",
    );
    let mut warn = gauge(
        "headroom_disk_nvme_critical_warning",
        "NVMe critical_warning bit field: 0 when nothing is wrong.",
    );
    let mut temp = gauge(
        "headroom_disk_temperature_celsius",
        "The drive's current temperature (temperature.current).",
    );
    let mut power_on = gauge(
        "headroom_disk_power_on_seconds",
        "The drive's power-on time (power_on_time), in seconds.",
    );
    let mut exit = gauge(
        "headroom_disk_smartctl_exit_status",
        "smartctl's exit status for the disk (a bit field, smartctl(8) EXIT STATUS).",
    );
    let mut bits = gauge(
        "headroom_disk_smartctl_exit_status_bit",
        "Each bit of smartctl's exit status, 0 or 1, with its meaning (smartctl(8) EXIT STATUS).",
    );
    let mut age = gauge(
        "headroom_disk_report_age_seconds",
        "Age of the disk's report file (directory mode).",
    );
    let mut stale = gauge(
        "headroom_disk_report_stale",
        "1 when the disk's report file is older than the target's max_age (directory mode).",
    );
    for d in disks {
        let labels = d.labels();
        let put = |f: &mut Family, v: Option<f64>| {
            if let Some(v) = v {
                f.samples.push(Sample {
                    labels: labels.clone(),
                    value: v,
                });
            }
        };
        let (verdict, text) = d.judge(limits);
        if let Some(a) = d.age {
            put(&mut age, Some(a));
            put(&mut stale, Some(f64::from(u8::from(d.stale))));
        }
        if let Ok(r) = &d.report {
            put(&mut passed, r.passed.map(|p| f64::from(u8::from(p))));
            put(&mut realloc, r.reallocated);
            put(&mut pending, r.pending);
            put(&mut media, r.media_errors);
            put(&mut used, r.percentage_used.map(|p| p / 100.0));
            put(&mut warn, r.critical_warning.map(|w| w as f64));
            put(&mut temp, r.temperature);
            put(&mut power_on, r.power_on_seconds);
            put(&mut exit, r.exit_status.map(f64::from));
            if r.exit_status.is_some() {
                for (n, meaning) in EXIT_BITS.iter().enumerate() {
                    let mut l = labels.clone();
                    l.push((Cow::Borrowed("bit"), n.to_string()));
                    l.push((Cow::Borrowed("meaning"), (*meaning).to_owned()));
                    bits.samples.push(Sample {
                        labels: l,
                        value: f64::from(u8::from(r.bit(n as u8))),
                    });
                }
            }
        }
        let mut l = labels.clone();
        l.push((Cow::Borrowed("detail"), text));
        health.samples.push(Sample {
            labels: l,
            value: verdict.value(),
        });
    }
    let mut out = vec![
        health, passed, realloc, pending, media, used, warn, temp, power_on, exit, bits, age, stale,
    ];
    out.retain(|f| !f.samples.is_empty());
    out.push(Family::single(
        "headroom_disks_seen",
        "Disks in the target's latest poll (devices configured, or report files found).",
        Kind::Gauge,
        disks.len() as f64,
    ));
    out
}

#[cfg(test)]
mod tests {
    //! This machine's disk is virtio: SMART does not answer on it (see
    //! `testdata/README.md`), so these run on reports of real drives, cited there, and on
    //! what smartctl printed here for devices it could not read. The failing disks are those
    //! reports with fields changed, as each test says.
    use super::*;

    const ATA: &str = include_str!("testdata/ata-wdc-wd20efrx.json");
    const NVME: &str = include_str!("testdata/nvme-samsung-mzvl21t0.json");
    const NO_DEVICE: &str = include_str!("testdata/smartctl-7.3-no-such-device.json");
    const NOT_PERMITTED: &str = include_str!("testdata/smartctl-7.3-virtio-sat-not-permitted.json");
    const UNKNOWN_TYPE: &str = include_str!("testdata/smartctl-7.3-virtio-unknown-type.json");

    fn disk(report: Result<Report, String>) -> Disk {
        Disk {
            host: "nas-1".into(),
            device: "sdb".into(),
            report,
            age: None,
            stale: false,
            max_age: None,
        }
    }

    /// The ATA report with `edit` applied to its JSON.
    fn ata_with(edit: impl FnOnce(&mut Value)) -> Report {
        let mut v: Value = serde_json::from_str(ATA).unwrap();
        edit(&mut v);
        Report::parse(&v.to_string()).unwrap()
    }

    fn set_raw(v: &mut Value, id: u64, raw: u64) {
        let t = v["ata_smart_attributes"]["table"].as_array_mut().unwrap();
        let a = t.iter_mut().find(|a| a["id"] == id).unwrap();
        a["raw"]["value"] = raw.into();
    }

    #[test]
    fn reads_a_healthy_ata_disk() {
        let r = Report::parse(ATA).unwrap();
        assert_eq!(r.device.as_deref(), Some("/dev/sdb"));
        assert_eq!(r.protocol.as_deref(), Some("ATA"));
        assert_eq!(r.model.as_deref(), Some("WDC WD20EFRX-68EUZN0"));
        assert_eq!(r.passed, Some(true));
        assert_eq!(r.reallocated, Some(0.0));
        assert_eq!(r.pending, Some(0.0));
        assert_eq!(r.temperature, Some(34.0));
        assert_eq!(r.power_on_seconds, Some(47657.0 * 3600.0));
        assert_eq!(r.exit_status, Some(0));
        assert_eq!(r.media_errors, None);
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Ok);
        assert_eq!(
            text,
            "nas-1:/dev/sdb (WDC WD20EFRX-68EUZN0 REDACTED): SMART passed, 0 reallocated, 0 pending, 34°C, 47657 h on"
        );
    }

    #[test]
    fn reads_a_healthy_nvme_disk() {
        let r = Report::parse(NVME).unwrap();
        assert_eq!(r.protocol.as_deref(), Some("NVMe"));
        assert_eq!(r.media_errors, Some(0.0));
        assert_eq!(r.percentage_used, Some(16.0));
        assert_eq!(r.critical_warning, Some(0));
        assert_eq!(r.reallocated, None);
        assert_eq!(r.temperature, Some(29.0));
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Ok, "{text}");
        assert!(text.contains("0 media errors, 16% used, 29°C"), "{text}");
    }

    #[test]
    fn a_failing_disk_is_critical_and_named() {
        // The WD Red's report as a dying disk would write it: the overall assessment FAILED
        // (exit status bit 3), 12 reallocated and 3 pending sectors.
        let r = ata_with(|v| {
            v["smart_status"]["passed"] = false.into();
            v["smartctl"]["exit_status"] = 8.into();
            set_raw(v, 5, 12);
            set_raw(v, 197, 3);
        });
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Critical);
        assert_eq!(
            text,
            "nas-1:/dev/sdb (WDC WD20EFRX-68EUZN0 REDACTED): SMART overall-health self-assessment FAILED, \
             12 reallocated sectors (max 0), 3 pending sectors (max 0). \
             SMART failed, 12 reallocated, 3 pending, 34°C, 47657 h on"
        );
    }

    #[test]
    fn sector_counts_are_judged_against_the_limits() {
        let r = ata_with(|v| set_raw(v, 5, 8));
        let lax = Limits {
            reallocated_sectors: 8.0,
            ..Limits::default()
        };
        assert_eq!(disk(Ok(r.clone())).judge(&lax).0, Verdict::Ok);
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Critical);
        assert!(text.contains("8 reallocated sectors (max 0)"), "{text}");
        // A pending sector alone (the parser reads 197's raw value).
        let r = ata_with(|v| set_raw(v, 197, 1));
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Critical);
        assert!(text.contains("1 pending sectors (max 0)"), "{text}");
    }

    #[test]
    fn a_failing_attribute_is_critical() {
        // Attribute 5 past its threshold now, as smartctl marks it (`when_failed: now`,
        // exit status bit 4).
        let r = ata_with(|v| {
            let t = v["ata_smart_attributes"]["table"].as_array_mut().unwrap();
            t[1]["when_failed"] = "now".into();
            v["smartctl"]["exit_status"] = 16.into();
        });
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Critical);
        assert!(
            text.contains("attributes failing now: Reallocated_Sector_Ct"),
            "{text}"
        );
    }

    #[test]
    fn a_hot_disk_is_a_warning() {
        let r = ata_with(|v| v["temperature"]["current"] = 58.into());
        let (v, text) = disk(Ok(r.clone())).judge(&Limits::default());
        assert_eq!(v, Verdict::Warning);
        assert!(
            text.contains("temperature 58°C (warning at 55°C)"),
            "{text}"
        );
        // Critical outranks the warning and keeps it in the text.
        let r = ata_with(|v| {
            v["temperature"]["current"] = 58.into();
            set_raw(v, 197, 2);
        });
        let (v, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(v, Verdict::Critical);
        assert!(
            text.contains("2 pending sectors (max 0), temperature 58°C"),
            "{text}"
        );
    }

    #[test]
    fn nvme_media_errors_and_wear() {
        let mut v: Value = serde_json::from_str(NVME).unwrap();
        v["nvme_smart_health_information_log"]["media_errors"] = 4.into();
        let r = Report::parse(&v.to_string()).unwrap();
        let (s, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(s, Verdict::Critical);
        assert!(text.contains("4 media errors (max 0)"), "{text}");

        let mut v: Value = serde_json::from_str(NVME).unwrap();
        v["nvme_smart_health_information_log"]["percentage_used"] = 103.into();
        let r = Report::parse(&v.to_string()).unwrap();
        let (s, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(s, Verdict::Warning);
        assert!(text.contains("103% of its rated endurance used"), "{text}");

        let mut v: Value = serde_json::from_str(NVME).unwrap();
        v["nvme_smart_health_information_log"]["critical_warning"] = 4.into();
        let r = Report::parse(&v.to_string()).unwrap();
        let (s, text) = disk(Ok(r)).judge(&Limits::default());
        assert_eq!(s, Verdict::Critical);
        assert!(text.contains("NVMe critical warning 0x04"), "{text}");
    }

    #[test]
    fn devices_smartctl_cannot_read_are_unknown_with_its_message() {
        // Captured here with smartctl 7.3 (testdata/README.md).
        for (json, status, message) in [
            (
                NO_DEVICE,
                2,
                "Smartctl open device: /dev/nope failed: No such device",
            ),
            (
                NOT_PERMITTED,
                2,
                "Smartctl open device: /dev/vda [SAT] failed: Operation not permitted",
            ),
            (UNKNOWN_TYPE, 1, "/dev/vda: Unable to detect device type"),
        ] {
            let r = Report::parse(json).unwrap();
            assert_eq!(r.exit_status, Some(status));
            assert!(!r.readable());
            let (v, text) = disk(Ok(r)).judge(&Limits::default());
            assert_eq!(v, Verdict::Unknown);
            assert_eq!(text, format!("nas-1:sdb: smartctl: {message}"));
        }
    }

    #[test]
    fn a_warning_message_with_a_readable_disk_is_not_unknown() {
        // Shaped as the report of smartmontools ticket 1860: exit status 4 (a command
        // failed) and a warning message, with the health status read.
        let r = ata_with(|v| {
            v["smartctl"]["exit_status"] = 4.into();
            v["smartctl"]["messages"] = serde_json::json!([
                {"string": "Warning: This result is based on an Attribute check.", "severity": "warning"}
            ]);
        });
        assert!(r.bit(2) && r.readable());
        assert_eq!(
            r.messages,
            ["Warning: This result is based on an Attribute check."]
        );
        assert_eq!(disk(Ok(r)).judge(&Limits::default()).0, Verdict::Ok);
    }

    #[test]
    fn not_a_report() {
        assert!(matches!(
            Report::parse("smartctl: not found"),
            Err(ParseError::Json(_))
        ));
        assert_eq!(Report::parse("{}"), Err(ParseError::NotSmartctl));
        let (v, text) = disk(Err("sdb.json: not JSON: x".into())).judge(&Limits::default());
        assert_eq!(
            (v, text.as_str()),
            (Verdict::Unknown, "nas-1:sdb: sdb.json: not JSON: x")
        );
    }

    #[test]
    fn a_stale_report_is_unknown_whatever_it_says() {
        let mut d = disk(Ok(Report::parse(ATA).unwrap()));
        d.age = Some(10_800.4);
        d.max_age = Some(7200.0);
        d.stale = true;
        let (v, text) = d.judge(&Limits::default());
        assert_eq!(v, Verdict::Unknown);
        assert_eq!(
            text,
            "nas-1:/dev/sdb (WDC WD20EFRX-68EUZN0 REDACTED): report is stale, 3h old (max_age 2h): is smartctl still run on nas-1?"
        );
    }

    #[test]
    fn families_label_every_disk_alike() {
        let failing = ata_with(|v| {
            v["smart_status"]["passed"] = false.into();
            v["smartctl"]["exit_status"] = 8.into();
        });
        let mut other = disk(Ok(failing));
        other.host = "nas-2".into();
        let disks = [
            disk(Ok(Report::parse(ATA).unwrap())),
            other,
            disk(Ok(Report::parse(NO_DEVICE).unwrap())),
        ];
        let fams = families(&disks, &Limits::default());
        let find = |name: &str, disk: &str| {
            fams.iter()
                .filter(|f| f.name == name)
                .flat_map(|f| &f.samples)
                .find(|s| s.labels.iter().any(|(k, v)| k == "disk" && v == disk))
                .map(|s| s.value)
        };
        assert_eq!(find("headroom_disk_health", "nas-1:/dev/sdb"), Some(0.0));
        assert_eq!(find("headroom_disk_health", "nas-2:/dev/sdb"), Some(2.0));
        assert!(find("headroom_disk_health", "nas-1:sdb").unwrap().is_nan());
        assert_eq!(
            find("headroom_disk_smart_passed", "nas-2:/dev/sdb"),
            Some(0.0)
        );
        assert_eq!(find("headroom_disk_smart_passed", "nas-1:sdb"), None);
        assert_eq!(
            find("headroom_disk_smartctl_exit_status", "nas-1:sdb"),
            Some(2.0)
        );
        let bit = |disk: &str, meaning: &str| {
            fams.iter()
                .filter(|f| f.name == "headroom_disk_smartctl_exit_status_bit")
                .flat_map(|f| &f.samples)
                .find(|s| {
                    s.labels.iter().any(|(k, v)| k == "disk" && v == disk)
                        && s.labels.iter().any(|(k, v)| k == "meaning" && v == meaning)
                })
                .map(|s| s.value)
        };
        assert_eq!(bit("nas-1:sdb", "device_open_failed"), Some(1.0));
        assert_eq!(bit("nas-2:/dev/sdb", "disk_failing"), Some(1.0));
        assert_eq!(bit("nas-1:/dev/sdb", "disk_failing"), Some(0.0));
        assert_eq!(
            find("headroom_disk_temperature_celsius", "nas-1:/dev/sdb"),
            Some(34.0)
        );
        assert!(
            fams.iter()
                .all(|f| f.name != "headroom_disk_report_age_seconds")
        );
        assert_eq!(
            crate::model::find_value(&fams, "headroom_disks_seen", &[]),
            Some(3.0)
        );
    }
}
