//! Status text templates: a check's `output`, `absent_output` and `ok_if.output`.
//!
//! Placeholders: `{value}` (the value judged, to three significant digits: `0.953`, `95.3`,
//! `1235`), `{human}` (the value in the check's unit, worded for people: `53s`, `4h 12m`,
//! `412ms`, `95.3%`, `1.33 GB`), `{unit}`, `{target}`, `{name}` (the check's name), `{label:KEY}`
//! (label `KEY` of the series judged) and `{value:METRIC}` (the value of another series of the
//! same target, the first that has the check's `labels` and, for a `per` check, its resource's
//! labels), `{duration:METRIC}` (that value, in seconds, as a duration: `3h 12m`, `53s`),
//! `{nonzero:METRIC:KEY}` and `{zero:METRIC:KEY}` (label `KEY` of every series of
//! `METRIC` found so, whose value is / is not 0, joined with `, `: the resources a count
//! counts). A template is checked when the check is loaded, so a misspelt placeholder is a
//! config error with its position rather than text on the status page.

/// One placeholder of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder<'a> {
    Value,
    /// `{human}`: the value in the check's unit, for people.
    Human,
    Unit,
    Target,
    Name,
    /// `{label:KEY}`.
    Label(&'a str),
    /// `{value:METRIC}`.
    Series(&'a str),
    /// `{nonzero:METRIC:KEY}` (`zero: false`) or `{zero:METRIC:KEY}` (`zero: true`).
    Each {
        metric: &'a str,
        key: &'a str,
        zero: bool,
    },
    /// `{duration:METRIC}`: the series' value, in seconds, as a duration.
    Duration(&'a str),
}

/// A piece of a template: text as written, or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Slot(Placeholder<'a>),
}

fn placeholder(inner: &str) -> Option<Placeholder<'_>> {
    let named = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    match inner {
        "value" => Some(Placeholder::Value),
        "human" => Some(Placeholder::Human),
        "unit" => Some(Placeholder::Unit),
        "target" => Some(Placeholder::Target),
        "name" => Some(Placeholder::Name),
        _ => match inner.split_once(':') {
            Some(("label", k)) if named(k) && !k.contains(':') => Some(Placeholder::Label(k)),
            Some(("value", m)) if named(m) => Some(Placeholder::Series(m)),
            Some((which @ ("nonzero" | "zero"), rest)) => match rest.rsplit_once(':') {
                // Metric names may hold ':' (recording rules), label names may not.
                Some((metric, key)) if named(metric) && named(key) => Some(Placeholder::Each {
                    metric,
                    key,
                    zero: which == "zero",
                }),
                _ => None,
            },
            Some(("duration", m)) if named(m) => Some(Placeholder::Duration(m)),
            _ => None,
        },
    }
}

/// Splits a template; `Err` names the first placeholder that is not one.
fn pieces(t: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("unclosed '{{' in {t:?}"));
        };
        let inner = &after[..close];
        match placeholder(inner) {
            Some(p) => out.push(Piece::Slot(p)),
            None => {
                return Err(format!(
                    "unknown placeholder {{{inner}}}: use {{value}}, {{unit}}, {{target}}, {{name}}, {{label:KEY}}, {{value:METRIC}}, {{duration:METRIC}}, {{nonzero:METRIC:KEY}} or {{zero:METRIC:KEY}}"
                ));
            }
        }
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Whether `t` is a valid template; the error says what is wrong.
pub fn check(t: &str) -> Result<(), String> {
    pieces(t).map(|_| ())
}

/// The template with each placeholder replaced by `fill`'s text for it. A template that is
/// not valid (it was checked at load, so only a shipped file could hold one) is shown as
/// written.
pub fn render(t: &str, mut fill: impl FnMut(Placeholder<'_>) -> String) -> String {
    match pieces(t) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(s) => s.to_owned(),
                Piece::Slot(p) => fill(p),
            })
            .collect(),
        Err(_) => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_read_and_filled() {
        let t = "{label:name} TTL {value:headroom_dns_ttl_judged_seconds}s by {label:deadline}, {value}{unit} at {target} ({name}) {duration:x}";
        check(t).unwrap();
        let s = render(t, |p| match p {
            Placeholder::Label(k) => format!("<{k}>"),
            Placeholder::Series(m) => format!("[{m}]"),
            Placeholder::Duration(m) => format!("({m})"),
            Placeholder::Value => "5".into(),
            Placeholder::Human => unreachable!(),
            Placeholder::Unit => "s".into(),
            Placeholder::Target => "t".into(),
            Placeholder::Name => "N".into(),
            Placeholder::Each { .. } => unreachable!(),
        });
        assert_eq!(
            s,
            "<name> TTL [headroom_dns_ttl_judged_seconds]s by <deadline>, 5s at t (N) (x)"
        );
        assert_eq!(render("no slots", |_| unreachable!()), "no slots");
        let each = "{nonzero:headroom_posture_finding:resource} / {zero:a:b:c}";
        check(each).unwrap();
        let s = render(each, |p| match p {
            Placeholder::Each { metric, key, zero } => format!("{metric}|{key}|{zero}"),
            _ => unreachable!(),
        });
        assert_eq!(s, "headroom_posture_finding|resource|false / a:b|c|true");
    }

    #[test]
    fn bad_placeholders_are_refused() {
        assert!(
            check("{valeu}")
                .unwrap_err()
                .contains("unknown placeholder {valeu}")
        );
        assert!(check("{label:}").is_err());
        assert!(check("{label:a:b}").is_err());
        assert!(check("{value:a b}").is_err());
        assert!(check("{nonzero:metric}").is_err());
        assert!(check("{zero::key}").is_err());
        assert!(check("{duration:}").is_err());
        assert!(check("left {open").unwrap_err().contains("unclosed"));
    }
}
