//! Numbers as text for people: the one place headroom turns a ratio, a duration, a count of
//! bytes or a plain number into the words of a check line, the status page, the D-day board
//! or a report. Bottom layer: imports nothing of the crate.
//!
//! Machine-read output keeps full precision in base units and does not come here: the
//! Prometheus exposition, the JSON APIs and Nagios perfdata (whose values the Monitoring
//! Plugins guidelines want in their UOM, unrounded:
//! <https://nagios-plugins.org/doc/guidelines.html#AEN200>; see `check::output::number`).
//!
//! Rules, so every page reads the same:
//! - a plain number: whole numbers as they are, others to three significant digits
//!   (`0.953`, `95.3`, `1235`), never an exponent;
//! - a percentage: one decimal (`95.3%`), two near 100 so `99.95%` is not shown as `100%`,
//!   two significant digits under 1% (`0.042%`);
//! - a duration: the two largest units from days down to seconds (`3d 4h`, `4h 12m`,
//!   `2m 5s`, `53s`), a tenth of a second under 10 s (`5.3s`), milliseconds and
//!   microseconds under a second (`412ms`, `1.25ms`, `85µs`);
//! - bytes and bits per second: decimal (SI) units with three significant digits
//!   (`1.33 GB`, `100 Mbps`).

/// Trailing zeros (and a trailing point) of a decimal off.
fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `v` with `sig` significant digits, no exponent, trailing zeros trimmed.
fn significant(v: f64, sig: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (sig - 1 - magnitude).max(0) as usize;
    trim(format!("{v:.decimals$}"))
}

/// A plain number for people: whole numbers as they are, others to three significant
/// digits, never an exponent: `42`, `0.953`, `95.3`, `1235`; `NaN` and infinities as `?`.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "?".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    if v.abs() >= 100.0 {
        return format!("{v:.0}");
    }
    significant(v, 3)
}

/// A percentage for people, `p` in percent: `95.3%`, `100%`, `99.95%`, `0.042%`.
pub fn percent(p: f64) -> String {
    if !p.is_finite() {
        return "?%".into();
    }
    let a = p.abs();
    let s = if a == 0.0 {
        "0".into()
    } else if a < 1.0 {
        significant(p, 2)
    } else if (99.9..100.0).contains(&a) {
        // 99.95 is not 100: keep the second decimal (and never round up to 100).
        trim(format!("{:.2}", (p * 100.0).trunc() / 100.0))
    } else {
        trim(format!("{p:.1}"))
    };
    format!("{s}%")
}

/// A ratio (1 = 100%) as a percentage for people: `0.953214` is `95.3%`.
pub fn ratio(r: f64) -> String {
    percent(r * 100.0)
}

/// A duration in seconds for people: `3d 4h`, `4h 12m`, `2m 5s`, `53s`, `5.3s`, `412ms`,
/// `85µs`; negative durations with a `-`; `NaN` and infinities as `?`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "?".into();
    }
    let sign = if seconds < 0.0 { "-" } else { "" };
    let a = seconds.abs();
    let body = if a == 0.0 {
        "0s".into()
    } else if a < 1e-3 {
        format!("{}µs", significant(a * 1e6, 3))
    } else if a < 0.9995 {
        format!("{}ms", significant(a * 1e3, 3))
    } else if a < 9.95 {
        format!("{}s", trim(format!("{a:.1}")))
    } else {
        whole_seconds(a.round() as u64)
    };
    format!("{sign}{body}")
}

/// Whole seconds in the two largest units: `3d 4h`, `4h 12m`, `2m 5s`, `53s` (a zero second
/// unit left out: `3d`, `4h`, `2m`).
fn whole_seconds(s: u64) -> String {
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    let pair = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    if d > 0 {
        pair(d, "d", h, "h")
    } else if h > 0 {
        pair(h, "h", m, "m")
    } else if m > 0 {
        pair(m, "m", sec, "s")
    } else {
        format!("{sec}s")
    }
}

/// A `std::time::Duration` for people, as [`duration`].
pub fn std_duration(d: std::time::Duration) -> String {
    duration(d.as_secs_f64())
}

/// Three significant digits, no exponent, thousands separated: `2,315`, `12.5`, `0.801`
/// (for amounts in reports, where a separator helps read large numbers).
pub fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return "?".into();
    }
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::from(if v < 0.0 { "-" } else { "" });
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Bytes for people, decimal (SI) units: `512 B`, `1.33 GB`, `2.00 PB`.
pub fn bytes(b: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = b;
    let mut i = 0;
    while v.abs() >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        return format!("{} B", number(v));
    }
    format!("{} {}", sig3(v), units[i])
}

/// Bits per second for people: `100 Mbps`, `1.33 Gbps`; `unreachable` when infinite.
pub fn bps(bps: f64) -> String {
    if !bps.is_finite() {
        return "unreachable".into();
    }
    let (v, u) = if bps >= 1e12 {
        (bps / 1e12, "Tbps")
    } else if bps >= 1e9 {
        (bps / 1e9, "Gbps")
    } else if bps >= 1e6 {
        (bps / 1e6, "Mbps")
    } else if bps >= 1e3 {
        (bps / 1e3, "kbps")
    } else {
        (bps, "bps")
    };
    format!("{} {u}", sig3(v))
}

/// A count and its noun: `1 query`, `2 queries`, `0 queries`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A value in a Nagios perfdata unit of measure (`s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `GB`,
/// `TB`, `c` or none) for people: seconds as a [`duration`], `%` as a [`percent`], bytes in
/// decimal units, anything else a [`number`] followed by its unit.
pub fn in_unit(v: f64, uom: &str) -> String {
    match uom {
        "s" => duration(v),
        "ms" => duration(v / 1e3),
        "us" => duration(v / 1e6),
        "%" => percent(v),
        "B" => bytes(v),
        "KB" => bytes(v * 1e3),
        "MB" => bytes(v * 1e6),
        "GB" => bytes(v * 1e9),
        "TB" => bytes(v * 1e12),
        // A counter is a count.
        "c" | "" => number(v),
        u => format!("{}{u}", number(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_agrees_with_its_noun() {
        assert_eq!(count(0, "query", "queries"), "0 queries");
        assert_eq!(count(1, "query", "queries"), "1 query");
        assert_eq!(
            count(2, "billed metric", "billed metrics"),
            "2 billed metrics"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number(42.0), "42");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.953214), "0.953");
        assert_eq!(number(95.3214), "95.3");
        assert_eq!(number(1234.6), "1235");
        assert_eq!(number(0.000123456), "0.000123");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::NAN), "?");
        assert_eq!(number(1e20), "100000000000000000000");
    }

    #[test]
    fn percentages() {
        assert_eq!(ratio(0.953214), "95.3%");
        assert_eq!(ratio(1.0), "100%");
        assert_eq!(ratio(0.9995), "99.95%");
        assert_eq!(ratio(0.99999), "99.99%");
        assert_eq!(percent(0.0423), "0.042%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(5.0), "5%");
        assert_eq!(percent(-12.34), "-12.3%");
        assert_eq!(percent(250.0), "250%");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(53.477167), "53s");
        assert_eq!(duration(4.0 * 3600.0 + 12.0 * 60.0 + 7.0), "4h 12m");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0 + 59.0), "3d 4h");
        assert_eq!(duration(86_400.0), "1d");
        assert_eq!(duration(125.0), "2m 5s");
        assert_eq!(duration(120.2), "2m");
        assert_eq!(duration(5.31), "5.3s");
        assert_eq!(duration(9.96), "10s");
        assert_eq!(duration(0.41234), "412ms");
        assert_eq!(duration(0.99971), "1s");
        assert_eq!(duration(0.00125), "1.25ms");
        assert_eq!(duration(0.000085), "85µs");
        assert_eq!(duration(0.0), "0s");
        assert_eq!(duration(-90.0), "-1m 30s");
        assert_eq!(duration(f64::INFINITY), "?");
        assert_eq!(std_duration(std::time::Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1.33e9), "1.33 GB");
        assert_eq!(bytes(2e15), "2.00 PB");
        assert_eq!(bps(1e8), "100 Mbps");
        assert_eq!(bps(f64::INFINITY), "unreachable");
        assert_eq!(sig3(2315.4), "2,315");
        assert_eq!(sig3(-2315.4), "-2,315");
        assert_eq!(sig3(12.54), "12.5");
    }

    #[test]
    fn perfdata_units() {
        assert_eq!(in_unit(53.477167, "s"), "53s");
        assert_eq!(in_unit(95.3214, "%"), "95.3%");
        assert_eq!(in_unit(12.5, "ms"), "12.5ms");
        assert_eq!(in_unit(1500.0, "B"), "1.50 kB");
        assert_eq!(in_unit(17.0, "c"), "17");
        assert_eq!(in_unit(0.953214, ""), "0.953");
        assert_eq!(in_unit(3.0, "ops"), "3ops");
    }
}
