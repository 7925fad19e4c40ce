//! Threshold ranges exactly as the Monitoring Plugins Development Guidelines define them
//! (monitoring-plugins `doc/developer-guidelines.sgml`, "Threshold and ranges"; the classic
//! `parse_range_string` / `check_range` in `lib/utils_base.c`): `[@]start:end`, both ends
//! inclusive, `start` 0 when omitted, `~` for minus infinity, an empty end for plus
//! infinity. A value outside the range alerts; with `@`, a value inside it does.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub start: f64,
    pub end: f64,
    /// `@`: alert when the value is inside.
    pub inside: bool,
    /// The text as written, for perfdata and messages.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid range {text:?}: {why} (ranges are [@]start:end, e.g. 10, 10:, ~:10, 10:20, @10:20)"
)]
pub struct RangeError {
    pub text: String,
    pub why: &'static str,
}

impl Range {
    /// Whether `value` raises an alert against this range.
    pub fn alerts(&self, value: f64) -> bool {
        let within = value >= self.start && value <= self.end;
        if self.inside { within } else { !within }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Range, RangeError> {
        let err = |why| RangeError {
            text: s.to_owned(),
            why,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let (inside, body) = match t.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let num = |x: &str| -> Result<f64, RangeError> {
            x.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| err("not a number"))
        };
        let (start, end) = match body.split_once(':') {
            None => (0.0, num(body)?),
            Some((a, b)) => {
                let start = match a {
                    "~" => f64::NEG_INFINITY,
                    "" => return Err(err("missing start before ':'")),
                    _ => num(a)?,
                };
                let end = if b.is_empty() { f64::INFINITY } else { num(b)? };
                (start, end)
            }
        };
        if start > end {
            return Err(err("start is greater than end"));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: t.to_owned(),
        })
    }
}

impl<'de> serde::Deserialize<'de> for Range {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Range, D::Error> {
        // Accept `warning: 10` as well as `warning: "10:"`; errors point at the value.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Range;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a range such as \"10:20\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Range, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Range, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Range, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Range, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guideline's ranges as monitoring-plugins' `check_range()` judges them (its
    /// `lib/tests/test_utils.c`), row by row: for each
    /// range, whether x = 0, 5, 9, 10, 11, 20, 21, -1 alerts.
    #[test]
    fn guideline_table() {
        let xs = [0.0, 5.0, 9.0, 10.0, 11.0, 20.0, 21.0, -1.0];
        let rows: [(&str, [bool; 8]); 8] = [
            ("10", [false, false, false, false, true, true, true, true]),
            ("10:", [true, true, true, false, false, false, false, true]),
            (
                "~:10",
                [false, false, false, false, true, true, true, false],
            ),
            ("10:20", [true, true, true, false, false, false, true, true]),
            (
                "@10:20",
                [false, false, false, true, true, true, false, false],
            ),
            ("~:0", [false, true, true, true, true, true, true, false]),
            ("@~:10", [true, true, true, true, false, false, false, true]),
            ("5:6", [true, false, true, true, true, true, true, true]),
        ];
        for (text, want) in rows {
            let r: Range = text.parse().unwrap();
            for (x, w) in xs.iter().zip(want) {
                assert_eq!(r.alerts(*x), w, "range {text} x={x}");
            }
        }
        // monitoring-plugins lib/tests/test_utils.c: @1:1 alerts only on 1.
        let r: Range = "@1:1".parse().unwrap();
        assert!(r.alerts(1.0) && !r.alerts(0.99) && !r.alerts(1.01));
    }

    #[test]
    fn guideline_examples() {
        // -w10 -c20: CRIT if >20 or <0, else WARN if >10.
        let (w, c): (Range, Range) = ("10".parse().unwrap(), "20".parse().unwrap());
        assert!(c.alerts(21.0) && c.alerts(-0.5) && !c.alerts(20.0));
        assert!(w.alerts(10.5) && !w.alerts(10.0));
        // Decimal and negative ends.
        let r: Range = "-5.5:-1".parse().unwrap();
        assert!(!r.alerts(-5.5) && !r.alerts(-1.0) && r.alerts(0.0));
        assert_eq!(r.to_string(), "-5.5:-1");
    }

    #[test]
    fn invalid_ranges() {
        for s in ["", "2:1", "abc", ":5", "1:x", "@", "10::20", "nan", "inf"] {
            assert!(s.parse::<Range>().is_err(), "{s:?} parsed");
        }
        let e = "2:1".parse::<Range>().unwrap_err();
        assert!(e.to_string().contains("start is greater than end"), "{e}");
    }
}
