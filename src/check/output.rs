//! Plugin output as the Monitoring Plugins guidelines define it: one line
//! `STATUS: text | perfdata`, perfdata items `'label'=value[UOM];warn;crit;min;max`.

use std::fmt::Write;

use super::range::Range;
use super::state::Status;

/// One perfdata item.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    pub label: String,
    pub value: f64,
    pub uom: String,
    pub warn: Option<Range>,
    pub crit: Option<Range>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A number as perfdata wants it: plain decimal, no exponent, `U` when undetermined.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "U".to_owned();
    }
    let s = format!("{v}");
    if s.contains('e') {
        // Display never uses an exponent for f64, but be explicit about the contract.
        format!("{v:.9}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        s
    }
}

impl Perf {
    pub fn render(&self) -> String {
        // Labels are always quoted; a quote inside is doubled (guidelines §"Performance data").
        let mut s = format!(
            "'{}'={}{}",
            self.label.replace('\'', "''"),
            number(self.value),
            self.uom
        );
        let fields = [
            self.warn.as_ref().map(|r| r.to_string()),
            self.crit.as_ref().map(|r| r.to_string()),
            self.min.map(number),
            self.max.map(number),
        ];
        let last = fields.iter().rposition(Option::is_some);
        if let Some(last) = last {
            for f in &fields[..=last] {
                s.push(';');
                if let Some(f) = f {
                    s.push_str(f);
                }
            }
        }
        s
    }
}

/// The first line of plugin output: `STATUS: text | perfdata`. Semicolons in the text would
/// become colons in Nagios (base/checks.c), and `|` would start perfdata: both are replaced
/// here so what headroom shows and what Nagios stores are the same.
pub fn plugin_line(status: Status, text: &str, perf: &[Perf]) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            ';' => ':',
            '|' => '/',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    let mut line = format!("{}: {}", status.as_str(), clean.trim());
    if !perf.is_empty() {
        line.push_str(" |");
        for p in perf {
            let _ = write!(line, " {}", p.render());
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfdata_format() {
        let p = Perf {
            label: "hit ratio".into(),
            value: 97.5,
            uom: "%".into(),
            warn: Some("90:".parse().unwrap()),
            crit: Some("80:".parse().unwrap()),
            min: Some(0.0),
            max: Some(100.0),
        };
        assert_eq!(p.render(), "'hit ratio'=97.5%;90:;80:;0;100");
        let bare = Perf {
            label: "it's".into(),
            value: 3.0,
            uom: String::new(),
            warn: None,
            crit: None,
            min: Some(0.0),
            max: None,
        };
        assert_eq!(bare.render(), "'it''s'=3;;;0");
        let none = Perf { min: None, ..bare };
        assert_eq!(none.render(), "'it''s'=3");
        assert_eq!(number(f64::NAN), "U");
        assert_eq!(number(0.000596403), "0.000596403");
    }

    #[test]
    fn line_format() {
        let p = Perf {
            label: "t".into(),
            value: 0.2,
            uom: "s".into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
        };
        assert_eq!(
            plugin_line(Status::Warning, "slow; very | odd", &[p]),
            "WARNING: slow: very / odd | 't'=0.2s"
        );
        assert_eq!(plugin_line(Status::Ok, "fine", &[]), "OK: fine");
    }
}
