//! The data-transfer planner behind `headroom migration plan`: how long moving a data set over
//! a link takes, what bandwidth a deadline needs, and what per-file overhead adds when there
//! are a billion files. A worked example: 2 PB over 100 Mbps is about 2,400 days.
//!
//! Units are parsed strictly, because the classic mistakes are unit mistakes: sizes are bytes
//! (`B`, decimal `kB MB GB TB PB EB` or binary `KiB MiB GiB TiB PiB EiB`), bandwidths are bits
//! per second (`bps kbps Mbps Gbps Tbps`, also `bit/s` forms) or bytes per second (`B/s`,
//! `MB/s`, `MiB/s`, ...). A bare number, a lower-case `b` for a size (bits?) or `mbps`
//! (millibits?) is an error that says what was probably meant.

use std::time::Duration;

/// A parse error, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

fn split_number(s: &str) -> Result<(f64, &str), UnitError> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(i, c)| {
            !(c.is_ascii_digit()
                || *c == '.'
                || *c == '_'
                || ((*c == 'e' || *c == 'E')
                    && s[i + 1..]
                        .starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+'))
                || ((*c == '-' || *c == '+') && *i > 0 && matches!(&s[i - 1..*i], "e" | "E")))
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let n: f64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| UnitError(format!("{s:?}: expected a number followed by a unit")))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(UnitError(format!("{s:?}: must be greater than 0")));
    }
    Ok((n, unit.trim()))
}

/// Bytes in `s`, e.g. `2PB` (2×10¹⁵), `1.5TiB`, `500 GB`.
pub fn parse_size(s: &str) -> Result<f64, UnitError> {
    let (n, unit) = split_number(s)?;
    let mult = match unit {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        "EB" => 1e18,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        "EiB" => 1024f64.powi(6),
        "" => {
            return Err(UnitError(format!(
                "{s:?}: give a unit: B, kB, MB, GB, TB, PB (powers of 1000) or KiB ... PiB (powers of 1024)"
            )));
        }
        u if u.ends_with('b') || u.ends_with("bit") || u.ends_with("bits") => {
            return Err(UnitError(format!(
                "{s:?}: a size is in bytes (B, e.g. {n}{}B); a lower-case b means bits",
                u.trim_end_matches("its")
                    .trim_end_matches("bit")
                    .trim_end_matches('b')
            )));
        }
        u => {
            return Err(UnitError(format!(
                "{s:?}: unknown unit {u:?}: B, kB, MB, GB, TB, PB, EB, KiB, MiB, GiB, TiB, PiB, EiB"
            )));
        }
    };
    Ok(n * mult)
}

/// Bits per second in `s`, e.g. `100Mbps`, `1 Gbit/s`, `125MB/s` (= 1 Gbps).
pub fn parse_bandwidth(s: &str) -> Result<f64, UnitError> {
    let (n, unit) = split_number(s)?;
    let bits = |p: &str| -> Option<f64> {
        let m = match p {
            "" => 1.0,
            "k" | "K" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            _ => return None,
        };
        Some(m)
    };
    let bytes = |p: &str| -> Option<f64> {
        let m = match p {
            "" => 1.0,
            "k" | "K" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "Ki" => 1024.0,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            _ => return None,
        };
        Some(m * 8.0)
    };
    let found = if let Some(p) = unit.strip_suffix("bps") {
        bits(p)
    } else if let Some(p) = unit.strip_suffix("bit/s") {
        bits(p)
    } else if let Some(p) = unit.strip_suffix("B/s") {
        bytes(p)
    } else {
        None
    };
    match found {
        Some(m) => Ok(n * m),
        None if unit.is_empty() => Err(UnitError(format!(
            "{s:?}: give a unit: bits per second (bps, kbps, Mbps, Gbps) or bytes per second (MB/s, MiB/s)"
        ))),
        None if unit.starts_with('m') => Err(UnitError(format!(
            "{s:?}: lower-case m is milli; for megabits per second write {n}Mbps"
        ))),
        None => Err(UnitError(format!(
            "{s:?}: unknown unit {unit:?}: bps, kbps, Mbps, Gbps, Tbps, Gbit/s, B/s, MB/s, MiB/s, GB/s"
        ))),
    }
}

/// A count such as `1e9` or `1_000_000_000`.
pub fn parse_count(s: &str) -> Result<f64, UnitError> {
    let (n, unit) = split_number(s)?;
    if !unit.is_empty() {
        return Err(UnitError(format!(
            "{s:?}: a count is a plain number, e.g. 1e9 or 1000000000"
        )));
    }
    if n.fract() != 0.0 {
        return Err(UnitError(format!("{s:?}: a count is a whole number")));
    }
    Ok(n)
}

/// What `migration plan` is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Bytes to move.
    pub bytes: f64,
    /// Files they are in (0: not given).
    pub files: f64,
    /// Link bandwidth, bits per second.
    pub bandwidth_bps: f64,
    /// The share of the link the transfer gets (protocol overhead, other traffic), (0, 1].
    pub efficiency: f64,
    /// Fixed cost per file (request round trips, metadata), and transfers in flight.
    pub per_file: Duration,
    pub streams: u32,
    /// Seconds until the deadline, if one was given.
    pub deadline_s: Option<f64>,
}

/// What it answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    /// Moving the bytes at the effective bandwidth.
    pub transfer_days: f64,
    /// Per-file overhead spread over the streams.
    pub per_file_days: f64,
    /// Both: bytes and per-file costs overlap only across streams, so they add.
    pub total_days: f64,
    /// The same bytes at the link's full nominal rate (no efficiency loss).
    pub nominal_days: f64,
    pub effective_bandwidth_bps: f64,
    pub average_file_bytes: Option<f64>,
    /// Link bandwidth the deadline needs at this efficiency, per-file time included; `None`
    /// without a deadline, infinite when per-file overhead alone misses it.
    pub bandwidth_for_deadline_bps: Option<f64>,
    pub deadline_days: Option<f64>,
    /// Days per-file overhead adds at a few typical per-file costs, for the table.
    pub per_file_effects: Vec<(f64, f64)>,
}

const DAY: f64 = 86_400.0;

/// The plan for `r` (pure).
pub fn plan(r: &Request) -> Plan {
    let effective = r.bandwidth_bps * r.efficiency;
    let transfer_s = r.bytes * 8.0 / effective;
    let streams = f64::from(r.streams.max(1));
    let overhead_s = |per_file_s: f64| r.files * per_file_s / streams;
    let per_file_s = overhead_s(r.per_file.as_secs_f64());
    let bandwidth_for_deadline_bps = r.deadline_s.map(|d| {
        let left = d - per_file_s;
        if left <= 0.0 {
            f64::INFINITY
        } else {
            r.bytes * 8.0 / left / r.efficiency
        }
    });
    Plan {
        transfer_days: transfer_s / DAY,
        per_file_days: per_file_s / DAY,
        total_days: (transfer_s + per_file_s) / DAY,
        nominal_days: r.bytes * 8.0 / r.bandwidth_bps / DAY,
        effective_bandwidth_bps: effective,
        average_file_bytes: (r.files > 0.0).then(|| r.bytes / r.files),
        bandwidth_for_deadline_bps,
        deadline_days: r.deadline_s.map(|d| d / DAY),
        per_file_effects: if r.files > 0.0 {
            [0.001, 0.01, 0.05, 0.1]
                .iter()
                .map(|&ms| (ms * 1000.0, overhead_s(ms) / DAY))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// Bits per second for people: `100 Mbps`, `1.33 Gbps` (`units::bps`).
pub fn human_bps(bps: f64) -> String {
    crate::units::bps(bps)
}

/// Bytes for people, decimal units (`units::bytes`).
pub fn human_bytes(b: f64) -> String {
    crate::units::bytes(b)
}

/// Three significant digits, no exponent, thousands separated (`units::sig3`).
pub fn sig3(v: f64) -> String {
    crate::units::sig3(v)
}

/// The text `migration plan` prints.
pub fn render(r: &Request, p: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} over {} at {:.0}% efficiency ({} effective)\n",
        human_bytes(r.bytes),
        human_bps(r.bandwidth_bps),
        r.efficiency * 100.0,
        human_bps(p.effective_bandwidth_bps)
    ));
    out.push_str(&format!(
        "  transfer: {} days ({} years); at the full nominal rate {} days\n",
        sig3(p.transfer_days),
        sig3(p.transfer_days / 365.25),
        sig3(p.nominal_days)
    ));
    if let Some(avg) = p.average_file_bytes {
        out.push_str(&format!(
            "  files: {} averaging {}; per-file overhead {} ms over {} stream(s) adds {} days: {} days in all\n",
            sig3(r.files),
            human_bytes(avg),
            r.per_file.as_secs_f64() * 1000.0,
            r.streams.max(1),
            sig3(p.per_file_days),
            sig3(p.total_days)
        ));
        out.push_str("  per-file overhead at other costs (same streams):");
        for (ms, days) in &p.per_file_effects {
            out.push_str(&format!(" {ms} ms: +{} days;", sig3(*days)));
        }
        out.pop();
        out.push('\n');
    }
    if let (Some(need), Some(days)) = (p.bandwidth_for_deadline_bps, p.deadline_days) {
        if need.is_finite() {
            out.push_str(&format!(
                "  deadline in {} days: needs {} of link at {:.0}% efficiency ({:.1}x the {} given)\n",
                sig3(days),
                human_bps(need),
                r.efficiency * 100.0,
                need / r.bandwidth_bps,
                human_bps(r.bandwidth_bps)
            ));
        } else {
            out.push_str(&format!(
                "  deadline in {} days: per-file overhead alone takes {} days; more streams or fewer, larger files are needed before bandwidth helps\n",
                sig3(days),
                sig3(p.per_file_days)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_petabytes_over_100_mbps() {
        // 2 PB over 100 Mbps: 1,852 days at the nominal rate, 2,315 at 80% efficiency (the
        // rounded "2PB / 100 Mbps = 2400 days" of an example migration plan).
        let r = Request {
            bytes: parse_size("2PB").unwrap(),
            files: parse_count("1e9").unwrap(),
            bandwidth_bps: parse_bandwidth("100Mbps").unwrap(),
            efficiency: 0.8,
            per_file: Duration::ZERO,
            streams: 1,
            deadline_s: Some(365.0 * DAY),
        };
        let p = plan(&r);
        assert!((p.nominal_days - 1851.85).abs() < 0.01, "{p:?}");
        assert!((p.transfer_days - 2314.81).abs() < 0.01, "{p:?}");
        assert_eq!(p.average_file_bytes, Some(2e6));
        // A year needs 2e15*8/(365 d)/0.8 = 634 Mbps of link.
        let need = p.bandwidth_for_deadline_bps.unwrap();
        assert!((need / 1e6 - 634.2).abs() < 0.1, "{need}");
        // 10 ms per file on one stream: 1e9 x 0.01 s = 115.7 days.
        assert!((p.per_file_effects[1].1 - 115.74).abs() < 0.01, "{p:?}");
        let text = render(&r, &p);
        assert!(text.contains("transfer: 2,315 days"), "{text}");
    }

    #[test]
    fn per_file_overhead_can_make_a_deadline_unreachable() {
        let r = Request {
            bytes: 1e12,
            files: 1e9,
            bandwidth_bps: 1e9,
            efficiency: 1.0,
            per_file: Duration::from_millis(50),
            streams: 4,
            deadline_s: Some(30.0 * DAY),
        };
        let p = plan(&r);
        // 1e9 files x 50 ms / 4 streams = 144.7 days > 30.
        assert!((p.per_file_days - 144.68).abs() < 0.01, "{p:?}");
        assert_eq!(p.bandwidth_for_deadline_bps, Some(f64::INFINITY));
        assert!(render(&r, &p).contains("per-file overhead alone takes 145 days"));
    }

    #[test]
    fn units_are_strict() {
        assert_eq!(parse_size("1.5TiB").unwrap(), 1.5 * 1024f64.powi(4));
        assert_eq!(parse_size("500 GB").unwrap(), 5e11);
        assert_eq!(parse_bandwidth("1 Gbit/s").unwrap(), 1e9);
        assert_eq!(parse_bandwidth("125MB/s").unwrap(), 1e9);
        assert_eq!(parse_bandwidth("10Gbps").unwrap(), 1e10);
        assert_eq!(parse_count("1_000_000").unwrap(), 1e6);
        for (bad, says) in [
            (parse_size("2"), "give a unit"),
            (parse_size("2Pb"), "a lower-case b means bits"),
            (parse_size("2PB/s"), "unknown unit"),
            (parse_size("-1PB"), "expected a number"),
            (parse_size("0PB"), "greater than 0"),
            (parse_bandwidth("100"), "give a unit"),
            (parse_bandwidth("100mbps"), "write 100Mbps"),
            (parse_bandwidth("100MB"), "unknown unit"),
            (parse_count("1e9 files"), "plain number"),
            (parse_count("2.5"), "whole number"),
        ] {
            let e = bad.unwrap_err().to_string();
            assert!(e.contains(says), "{e:?} should say {says:?}");
        }
        assert_eq!(
            parse_size("2Pb").unwrap_err().to_string(),
            "\"2Pb\": a size is in bytes (B, e.g. 2PB); a lower-case b means bits"
        );
    }
}
