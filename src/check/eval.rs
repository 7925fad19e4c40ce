//! Evaluation: one check definition against one target's latest snapshot, giving a state,
//! a status text and perfdata. Pure: no clock, no network, no shared state.

use std::time::Duration as StdDuration;

use super::def::{CheckDef, CheckKind, Unreachable};
use super::output::{self, Perf};
use super::state::{self, Status};
use crate::store::TargetSnapshot;
use crate::time::openssl_date;

/// The outcome of evaluating a check once.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub status: Status,
    /// Status text without the `STATUS: ` prefix.
    pub text: String,
    pub perf: Vec<Perf>,
    /// The value compared, when there was one (days remaining for certificates).
    pub value: Option<f64>,
}

impl Evaluation {
    fn unknown(text: String) -> Self {
        Evaluation {
            status: Status::Unknown,
            text,
            perf: Vec::new(),
            value: None,
        }
    }

    /// The plugin output line.
    pub fn line(&self) -> String {
        output::plugin_line(self.status, &self.text, &self.perf)
    }
}

/// Evaluates `def` on `target` against its latest snapshot. `max_age` is the age past which
/// data is stale; `now` is Unix seconds.
pub fn evaluate(
    def: &CheckDef,
    target: &str,
    snap: Option<&TargetSnapshot>,
    max_age: StdDuration,
    now: i64,
) -> Evaluation {
    evaluate_with(def, target, snap, &[], max_age, now)
}

/// [`evaluate`] with extra label matchers: the label values a per-resource check was made
/// for.
pub fn evaluate_with(
    def: &CheckDef,
    target: &str,
    snap: Option<&TargetSnapshot>,
    filter: &[(String, String)],
    max_age: StdDuration,
    now: i64,
) -> Evaluation {
    let Some(snap) = snap else {
        return Evaluation::unknown(format!(
            "no data yet: target '{target}' has not been polled"
        ));
    };
    if let Some(err) = &snap.error {
        // A poll that timed out, or found nothing to compute from yet, says nothing about the
        // target's state (UNKNOWN, as the plugin guidelines have it); one that was refused or
        // failed does.
        let status = match (err.kind, def.unreachable) {
            (crate::model::ErrorKind::Timeout | crate::model::ErrorKind::NoData, _)
            | (_, Unreachable::Unknown) => Status::Unknown,
            (_, Unreachable::Critical) => Status::Critical,
        };
        return Evaluation {
            status,
            text: format!("{target} could not be polled: {err}"),
            perf: Vec::new(),
            value: None,
        };
    }
    let taken = snap
        .taken_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let age = (now - taken).max(0);
    if age as u64 > max_age.as_secs() {
        return Evaluation::unknown(format!(
            "stale: the latest data from '{target}' is {} old (limit {})",
            state::duration_text(age),
            state::duration_text(max_age.as_secs() as i64)
        ));
    }
    match def.kind {
        CheckKind::Metric => evaluate_metric(def, target, snap, filter),
        CheckKind::Certificate => evaluate_certificate(def, snap, now),
    }
}

fn thresholds(def: &CheckDef, v: f64) -> Status {
    if def.critical.as_ref().is_some_and(|r| r.alerts(v)) {
        Status::Critical
    } else if def.warning.as_ref().is_some_and(|r| r.alerts(v)) {
        Status::Warning
    } else {
        Status::Ok
    }
}

fn perf(def: &CheckDef, v: f64) -> Perf {
    Perf {
        label: def.perf_label.clone(),
        value: v,
        uom: def.unit.clone(),
        warn: def.warning.clone(),
        crit: def.critical.clone(),
        min: def.min,
        max: def.max,
    }
}

fn evaluate_metric(
    def: &CheckDef,
    target: &str,
    snap: &TargetSnapshot,
    filter: &[(String, String)],
) -> Evaluation {
    let labels: Vec<(&str, &str)> = def
        .labels
        .iter()
        .chain(filter)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let Some(raw) = snap.value(&def.metric, &labels) else {
        let sel = if labels.is_empty() {
            String::new()
        } else {
            format!(
                "{{{}}}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let text = match &def.absent_output {
            Some(t) => t.replace("{target}", target).replace("{name}", &def.name),
            None => format!("no value for {}{sel} from '{target}'", def.metric),
        };
        return Evaluation {
            status: def.if_absent,
            text,
            perf: Vec::new(),
            value: None,
        };
    };
    let v = raw * def.scale;
    let shown = output::number((v * 1e6).round() / 1e6);
    let text = match &def.output {
        Some(t) => t
            .replace("{value}", &shown)
            .replace("{unit}", &def.unit)
            .replace("{target}", target)
            .replace("{name}", &def.name),
        None => format!("{} = {shown}{}", def.name, def.unit),
    };
    Evaluation {
        status: thresholds(def, v),
        text,
        perf: vec![perf(def, v)],
        value: Some(v),
    }
}

/// The ELB_CERTIFICATE OK line (HariSekhon/Nagios-Plugins check_ssl_cert.pl's, plus the hash
/// algorithm), and CRITICAL with the reason for a certificate that is expired, not yet valid,
/// issued for another name or not trusted.
fn evaluate_certificate(def: &CheckDef, snap: &TargetSnapshot, now: i64) -> Evaluation {
    let info = |label: &str| -> String {
        snap.families
            .iter()
            .filter(|f| f.name == "headroom_tls_certificate")
            .flat_map(|f| &f.samples)
            .flat_map(|s| &s.labels)
            .find(|(k, _)| k == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (Some(not_after), Some(not_before)) = (
        snap.value("headroom_tls_certificate_not_after_timestamp_seconds", &[]),
        snap.value("headroom_tls_certificate_not_before_timestamp_seconds", &[]),
    ) else {
        return Evaluation::unknown("no certificate data".into());
    };
    let (not_after, not_before) = (not_after as i64, not_before as i64);
    let name = info("server_name");
    let alg = info("signature_algorithm");
    let left = not_after - now;
    // Whole days, rounded down as check_ssl_cert.pl and check_http -C do.
    let days = left.div_euclid(86_400);
    let mut problems: Vec<String> = Vec::new();
    let text = if left < 0 {
        problems.push("expired".into());
        format!(
            "Certificate EXPIRED {} days ago for '{name}'. Certificate Expired: '{}'. Hash algorithm: {alg}",
            (-left) / 86_400,
            openssl_date(not_after)
        )
    } else {
        format!(
            "{days} days remaining for '{name}'. Certificate Expires: '{}'. Hash algorithm: {alg}",
            openssl_date(not_after)
        )
    };
    if now < not_before {
        problems.push(format!("not valid before '{}'", openssl_date(not_before)));
    }
    if snap.value("headroom_tls_certificate_hostname_match", &[]) != Some(1.0) {
        let sans = info("sans");
        let cn = info("subject_cn");
        problems.push(format!(
            "not valid for '{name}' (CN '{cn}'{})",
            if sans.is_empty() {
                String::new()
            } else {
                format!(", names {sans}")
            }
        ));
    }
    if snap.value("headroom_tls_certificate_trusted", &[]) != Some(1.0) {
        let why = info("trust_error");
        problems.push(format!(
            "chain not trusted: {}",
            if why.is_empty() {
                "unknown reason".into()
            } else {
                why
            }
        ));
    }
    let value = days as f64;
    let mut status = thresholds(def, value);
    let mut text = text;
    if !problems.is_empty() {
        status = Status::Critical;
        let extra: Vec<&String> = problems
            .iter()
            .filter(|p| p.as_str() != "expired")
            .collect();
        if !extra.is_empty() {
            text.push_str(". Certificate ");
            text.push_str(
                &extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    let mut p = perf(def, value);
    p.uom = String::new();
    Evaluation {
        status,
        text,
        perf: vec![p],
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::def::parse_list;
    use crate::model::{ErrorKind, PollError};
    use crate::model::{Family, Kind};
    use std::path::Path;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn snap(families: Vec<Family>, error: Option<PollError>) -> TargetSnapshot {
        TargetSnapshot {
            source: crate::sources::memcached::KIND,
            target: Arc::from("m1"),
            families,
            taken_at: SystemTime::now(),
            error,
        }
    }

    fn def(yaml: &str) -> CheckDef {
        let mut d = parse_list(Path::new("t.yaml"), yaml, "").unwrap();
        d.remove(0)
    }

    #[test]
    fn metric_check_states_and_output() {
        let d = def(
            "- {name: MEMCACHE_RESPONSE, source: memcached, metric: rtt, unit: s, warning: \"0.1\", critical: \"0.5\", output: \"took {value}s\"}\n",
        );
        let now = crate::time::unix_now();
        let age = StdDuration::from_secs(60);
        let ok = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.02)],
                None,
            )),
            age,
            now,
        );
        assert_eq!(
            ok.line(),
            "OK: took 0.02s | 'memcache_response'=0.02s;0.1;0.5"
        );
        let w = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.2)],
                None,
            )),
            age,
            now,
        );
        assert_eq!(w.status, Status::Warning);
        let c = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.7)],
                None,
            )),
            age,
            now,
        );
        assert_eq!(c.status, Status::Critical);
        let none = evaluate(&d, "m1", None, age, now);
        assert_eq!(
            none.line(),
            "UNKNOWN: no data yet: target 'm1' has not been polled"
        );
        let down = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![],
                Some(PollError::new(ErrorKind::Connect, "refused")),
            )),
            age,
            now,
        );
        assert_eq!(
            down.line(),
            "CRITICAL: m1 could not be polled: connect: refused"
        );
        let slow = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![],
                Some(PollError::new(ErrorKind::Timeout, "no answer")),
            )),
            age,
            now,
        );
        assert_eq!(slow.status, Status::Unknown);
        let stale = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.02)],
                None,
            )),
            age,
            now + 3600,
        );
        assert!(
            stale
                .line()
                .starts_with("UNKNOWN: stale: the latest data from 'm1' is 0d 1h 0m 0s old"),
            "{}",
            stale.line()
        );
    }
}
