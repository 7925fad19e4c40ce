//! What the migration source reads its counters out of, pure: the Prometheus text format,
//! metric selectors, JSON pointers and SQL values.

use std::fmt;
use std::str::FromStr;

/// One sample of a Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses the Prometheus text exposition format 0.0.4, as
/// <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format> defines
/// it: `# HELP` / `# TYPE` and other `#` lines are comments, blank lines are ignored, a sample
/// is `name{label="value",...} value [timestamp]` with `\\`, `\"` and `\n` escaped in label
/// values and `NaN`, `+Inf`, `-Inf` as values. OpenMetrics text (`# EOF`, exemplars after ` #`)
/// reads the same way. A malformed line fails the whole text, as a Prometheus scrape fails.
pub fn parse_text(text: &str) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(sample(line).map_err(|e| format!("line {}: {e}: {line:?}", i + 1))?);
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Splits a metric name off the front of `s`.
fn name(s: &str) -> Result<(&str, &str), String> {
    if !s.starts_with(is_name_start) {
        return Err("expected a metric name".into());
    }
    let end = s.find(|c| !is_name_char(c)).unwrap_or(s.len());
    Ok(s.split_at(end))
}

/// Label matchers: name, operator, value.
type Matchers = Vec<(String, Op, String)>;

/// A label matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
}

/// Parses `{l="v", ...}` at the front of `s` (which starts with `{`); `ops` says whether `!=`
/// is accepted (selectors) or only `=` (samples). Returns the pairs and the rest.
fn labels(s: &str, ops: bool) -> Result<(Matchers, &str), String> {
    let mut rest = &s[1..];
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err("expected a label name or '}'".into());
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let label = rest[..end].to_owned();
        rest = rest[end..].trim_start();
        let op = if let Some(r) = rest.strip_prefix("!=") {
            if !ops {
                return Err(format!("'!=' after label {label}: only '=' in a sample"));
            }
            rest = r;
            Op::Ne
        } else if let Some(r) = rest.strip_prefix('=') {
            rest = r;
            Op::Eq
        } else {
            return Err(format!("expected '=' after label {label}"));
        };
        rest = rest.trim_start();
        let Some(r) = rest.strip_prefix('"') else {
            return Err(format!("expected a quoted value for label {label}"));
        };
        let mut value = String::new();
        let mut chars = r.char_indices();
        let close = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {label}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    Some((_, c)) => {
                        // Prometheus keeps an unknown escape as written.
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("unterminated value of label {label}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((label, op, value));
        rest = r[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// A sample value: a float, or `NaN`, `+Inf`, `-Inf` (Go's ParseFloat spellings).
fn value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("{s:?} is not a number")),
    }
}

fn sample(line: &str) -> Result<Series, String> {
    let (n, mut rest) = name(line)?;
    let mut labs = Vec::new();
    if rest.starts_with('{') {
        let (l, r) = labels(rest, false)?;
        labs = l.into_iter().map(|(k, _, v)| (k, v)).collect();
        rest = r;
    }
    if !rest.starts_with([' ', '\t']) {
        return Err("expected a space before the value".into());
    }
    let v = rest
        .split_ascii_whitespace()
        .next()
        .ok_or_else(|| "no value".to_owned())?;
    Ok(Series {
        name: n.to_owned(),
        labels: labs,
        value: value(v)?,
    })
}

/// A metric name with optional label matchers, as PromQL writes a selector:
/// `copier_files_total{state="copied", job!="test"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<(String, Op, String)>,
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (n, rest) = name(s).map_err(|_| {
            format!("{s:?} is not a metric selector: a metric name, optionally with label matchers, e.g. copier_files{{state=\"copied\"}}")
        })?;
        let mut matchers = Vec::new();
        let rest = if rest.starts_with('{') {
            let (m, r) = labels(rest, true).map_err(|e| format!("{s:?}: {e}"))?;
            matchers = m;
            r
        } else {
            rest
        };
        if !rest.trim().is_empty() {
            return Err(format!(
                "{s:?}: unexpected {:?} after the selector (only = and != matchers are supported)",
                rest.trim()
            ));
        }
        Ok(Selector {
            name: n.to_owned(),
            matchers,
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.matchers.is_empty() {
            let m: Vec<String> = self
                .matchers
                .iter()
                .map(|(k, op, v)| {
                    let op = if *op == Op::Eq { "=" } else { "!=" };
                    // Escaped as the selector is read (and as the text format escapes label
                    // values): `\\`, `\"` and `\n` only, so that what is shown reads back.
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{k}{op}\"{v}\"")
                })
                .collect();
            write!(f, "{{{}}}", m.join(","))?;
        }
        Ok(())
    }
}

impl Selector {
    fn matches(&self, s: &Series) -> bool {
        s.name == self.name
            && self.matchers.iter().all(|(k, op, v)| {
                // A label that is absent has the empty value, as in PromQL.
                let have = s
                    .labels
                    .iter()
                    .find(|(sk, _)| sk == k)
                    .map(|(_, sv)| sv.as_str())
                    .unwrap_or("");
                (have == v) == (*op == Op::Eq)
            })
    }

    /// The sum of every series that matches (a copier with one series per worker adds up);
    /// `None` when none does.
    pub fn sum(&self, series: &[Series]) -> Option<f64> {
        let mut found = false;
        let mut sum = 0.0;
        for s in series.iter().filter(|s| self.matches(s)) {
            found = true;
            sum += s.value;
        }
        found.then_some(sum)
    }
}

/// Checks a JSON pointer's syntax (RFC 6901, <https://www.rfc-editor.org/rfc/rfc6901>): empty
/// (the whole document) or `/`-separated reference tokens, where `~` is only written as `~0`
/// or `~1`.
pub fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "{p:?} is not a JSON pointer: it starts with '/' (RFC 6901), e.g. /files/copied"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "{p:?}: '~' is written '~0' and '/' inside a key '~1' (RFC 6901)"
            ));
        }
    }
    Ok(())
}

/// The number at `pointer` in `doc`: a JSON number, or a string holding one (some APIs send
/// big counts as strings).
pub fn json_number(doc: &serde_json::Value, pointer: &str) -> Result<f64, String> {
    match doc.pointer(pointer) {
        None => Err(format!("nothing at {pointer}")),
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| format!("{pointer}: {n} is not a number")),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            // Rust's float syntax reads "inf" and "NaN"; no count is either.
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{pointer}: {s:?} is not a number")),
        Some(other) => Err(format!(
            "{pointer}: expected a number, found {}",
            match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Array(_) => "an array",
                _ => "an object",
            }
        )),
    }
}

/// A SQL value as a number: integers, floats, and the text protocol's bytes (DECIMAL from a
/// `SUM()` arrives as text). `None` for NULL; an error for anything else.
pub fn sql_number(v: &mysql_async::Value) -> Result<Option<f64>, String> {
    use mysql_async::Value;
    match v {
        Value::NULL => Ok(None),
        Value::Int(i) => Ok(Some(*i as f64)),
        Value::UInt(u) => Ok(Some(*u as f64)),
        Value::Float(f) => Ok(Some(f64::from(*f))),
        Value::Double(d) => Ok(Some(*d)),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b);
            s.trim()
                .parse::<f64>()
                .ok()
                // "inf", "NaN" and "1e999" parse as floats; no count is any of them.
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{s:?} is not a number"))
        }
        other => Err(format!("{other:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the exposition formats page, with a copier's series added.
    const TEXT: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
copier_files{state="copied",worker="a"} 100
copier_files{state="copied",worker="b"} 250
copier_files{state="total"} 1e6
copier_nan NaN
"#;

    #[test]
    fn parses_the_documented_example() {
        let s = parse_text(TEXT).unwrap();
        assert_eq!(s.len(), 9);
        assert_eq!(s[0].name, "http_requests_total");
        assert_eq!(
            s[0].labels,
            vec![
                ("method".to_owned(), "post".to_owned()),
                ("code".to_owned(), "200".to_owned())
            ]
        );
        assert_eq!(s[0].value, 1027.0);
        assert_eq!(s[1].value, 3.0);
        assert_eq!(s[2].labels[0].1, r"C:\DIR\FILE.TXT");
        assert_eq!(s[2].labels[1].1, "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(s[2].value, 1.458255915e9);
        assert_eq!(s[3].labels, vec![]);
        assert_eq!(s[4].value, f64::INFINITY);
        assert!(s[8].value.is_nan());
    }

    #[test]
    fn selectors_sum_what_they_match() {
        let s = parse_text(TEXT).unwrap();
        let sel = |x: &str| x.parse::<Selector>().unwrap();
        assert_eq!(sel("copier_files{state=\"copied\"}").sum(&s), Some(350.0));
        assert_eq!(
            sel("copier_files{state=\"copied\", worker!=\"a\"}").sum(&s),
            Some(250.0)
        );
        assert_eq!(sel("copier_files{state=\"total\"}").sum(&s), Some(1e6));
        // Absent labels are empty, as in PromQL.
        assert_eq!(sel("copier_files{worker=\"\"}").sum(&s), Some(1e6));
        assert_eq!(sel("http_requests_total").sum(&s), Some(1030.0));
        assert_eq!(sel("copier_files{state=\"failed\"}").sum(&s), None);
        assert_eq!(
            sel("copier_files{state=\"copied\",worker!=\"a\"}").to_string(),
            "copier_files{state=\"copied\",worker!=\"a\"}"
        );
    }

    /// Found by tests/it/fuzz_parsers.rs: a value with a character Rust's `Debug` escapes
    /// (`\u{cc6}`) was shown in a form the selector reader cannot read back.
    #[test]
    fn a_selector_shows_as_it_is_read() {
        for v in ["\u{cc6}", "a\"b\\c\nd", "tab\there", "é"] {
            let s = Selector {
                name: "a".into(),
                matchers: vec![("_".into(), Op::Ne, v.into())],
            };
            assert_eq!(s.to_string().parse::<Selector>(), Ok(s.clone()), "{s}");
        }
    }

    #[test]
    fn bad_text_and_selectors_say_where() {
        let e = parse_text("ok 1\nbad{x=1} 2\n").unwrap_err();
        assert!(
            e.starts_with("line 2: expected a quoted value for label x"),
            "{e}"
        );
        let e = parse_text("m{a=\"b\" 1\n").unwrap_err();
        assert!(e.contains("expected ',' or '}'"), "{e}");
        let e = parse_text("m one\n").unwrap_err();
        assert!(e.contains("\"one\" is not a number"), "{e}");
        assert!(parse_text("m{a!=\"b\"} 1\n").is_err());
        assert!("9lives".parse::<Selector>().is_err());
        assert!("m{a=~\"x.*\"}".parse::<Selector>().is_err());
        assert!("m extra".parse::<Selector>().is_err());
        // OpenMetrics: an exemplar after the value, and # EOF.
        let s = parse_text("a_total 5 # {trace_id=\"x\"} 1\n# EOF\n").unwrap();
        assert_eq!(s[0].value, 5.0);
    }

    #[test]
    fn json_pointers() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"files": {"copied": 12, "total": "1000"}, "a/b": {"m~n": 3.5}, "x": null}"#,
        )
        .unwrap();
        assert_eq!(json_number(&doc, "/files/copied"), Ok(12.0));
        assert_eq!(json_number(&doc, "/files/total"), Ok(1000.0));
        assert_eq!(json_number(&doc, "/a~1b/m~0n"), Ok(3.5));
        assert_eq!(
            json_number(&doc, "/files/failed").unwrap_err(),
            "nothing at /files/failed"
        );
        assert_eq!(
            json_number(&doc, "/x").unwrap_err(),
            "/x: expected a number, found null"
        );
        assert!(check_pointer("/files/copied").is_ok());
        assert!(check_pointer("").is_ok());
        assert!(
            check_pointer("files/copied")
                .unwrap_err()
                .contains("starts with '/'")
        );
        assert!(check_pointer("/a~2").is_err());
        // Found by tests/it/fuzz_parsers.rs: a string Rust reads as a non-finite float.
        for t in ["inf", "NaN", "-infinity", "1e400"] {
            let e = json_number(&serde_json::Value::from(t), "").unwrap_err();
            assert!(e.contains("is not a number"), "{e}");
        }
    }

    #[test]
    fn sql_values() {
        use mysql_async::Value;
        assert_eq!(sql_number(&Value::Int(-3)), Ok(Some(-3.0)));
        assert_eq!(sql_number(&Value::UInt(7)), Ok(Some(7.0)));
        assert_eq!(
            sql_number(&Value::Bytes(b"12345.50".to_vec())),
            Ok(Some(12345.5))
        );
        assert_eq!(sql_number(&Value::NULL), Ok(None));
        assert!(sql_number(&Value::Bytes(b"n/a".to_vec())).is_err());
        // Found by tests/it/fuzz_parsers.rs: text Rust reads as a non-finite float.
        for t in ["inf", "NaN", "-Infinity", "1e999"] {
            assert!(
                sql_number(&Value::Bytes(t.as_bytes().to_vec())).is_err(),
                "{t}"
            );
        }
    }
}
