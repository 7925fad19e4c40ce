//! Evaluation: one check definition against one target's latest snapshot, giving a state,
//! a status text and perfdata. Pure: no clock, no network, no shared state.

use std::time::Duration as StdDuration;

use super::def::{CheckDef, CheckKind, Unreachable};
use super::output::{self, Perf};
use super::state::Status;
use super::template::{self, Placeholder};
use crate::model::Sample;
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
            crate::units::duration(age as f64),
            crate::units::std_duration(max_age)
        ));
    }
    match def.kind {
        CheckKind::Metric => evaluate_metric(def, target, snap, filter),
        CheckKind::Certificate => evaluate_certificate(def, snap, now),
        CheckKind::ReplicaThreads => evaluate_replica_threads(def, target, snap, filter),
        CheckKind::ReplicaLag => evaluate_replica_lag(def, target, snap, filter),
        CheckKind::ReadOnly => evaluate_read_only(def, target, snap, filter),
        CheckKind::Migration => evaluate_migration(def, snap),
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

/// The series of `name` in `snap` whose labels include all of `labels`: its labels and value.
fn find_series<'a>(
    snap: &'a TargetSnapshot,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a Sample> {
    snap.families
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| f.samples.iter())
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
}

/// At most this many names in a `{nonzero:...}` or `{zero:...}` list; the rest are counted.
const EACH_MAX: usize = 10;

/// `{nonzero:METRIC:KEY}` / `{zero:METRIC:KEY}`: label `key` of every series of `name` with
/// `labels` whose value is (`zero`) or is not 0, in order, joined with `, `; `none` when there
/// is none. A long list names the first [`EACH_MAX`] and counts the rest.
fn each_label(
    snap: &TargetSnapshot,
    name: &str,
    labels: &[(&str, &str)],
    key: &str,
    zero: bool,
) -> String {
    let mut names: Vec<&str> = snap
        .families
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| f.samples.iter())
        .filter(|s| (s.value == 0.0) == zero && !s.value.is_nan())
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .filter_map(|s| {
            s.labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    match names.len() {
        0 => "none".into(),
        n if n > EACH_MAX => format!("{} and {} more", names[..EACH_MAX].join(", "), n - EACH_MAX),
        _ => names.join(", "),
    }
}

/// A number as a status text shows it: at most six decimals.
/// A value in a status text: three significant digits (perfdata keeps the full value).
fn shown(v: f64) -> String {
    crate::units::number(v)
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
    let series = find_series(snap, &def.metric, &labels);
    // NaN is no value (a quantile of an empty window): the series is there, but absent to
    // the check, so `if_absent` and `absent_output` say why.
    let value = series.map(|s| s.value * def.scale).filter(|v| !v.is_nan());
    let fill = |p: Placeholder<'_>| -> String {
        match p {
            Placeholder::Value => value.map(shown).unwrap_or_else(|| "?".into()),
            Placeholder::Human => value
                .map(|v| crate::units::in_unit(v, &def.unit))
                .unwrap_or_else(|| "?".into()),
            Placeholder::Unit => def.unit.clone(),
            Placeholder::Target => target.to_owned(),
            Placeholder::Name => def.name.clone(),
            Placeholder::Label(k) => series
                .and_then(|s| s.labels.iter().find(|(sk, _)| sk == k))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "?".into()),
            Placeholder::Series(m) => find_series(snap, m, &labels)
                .map(|s| shown(s.value))
                .unwrap_or_else(|| "?".into()),
            Placeholder::Each { metric, key, zero } => each_label(snap, metric, &labels, key, zero),
            Placeholder::Duration(m) => find_series(snap, m, &labels)
                .filter(|s| s.value.is_finite())
                .map(|s| crate::units::duration(s.value))
                .unwrap_or_else(|| "?".into()),
        }
    };
    let Some(v) = value else {
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
            Some(t) => template::render(t, fill),
            None => format!("no value for {}{sel} from '{target}'", def.metric),
        };
        return Evaluation {
            status: def.if_absent,
            text,
            perf: Vec::new(),
            value: None,
        };
    };
    let ok_anyway = def.ok_if.as_ref().filter(|c| {
        find_series(snap, &c.metric, &labels).is_some_and(|s| !c.range.alerts(s.value))
    });
    let (status, template) = match ok_anyway {
        Some(c) => (Status::Ok, c.output.as_ref().or(def.output.as_ref())),
        None => (thresholds(def, v), def.output.as_ref()),
    };
    let text = match template {
        Some(t) => template::render(t, fill),
        None => format!("{} = {}", def.name, crate::units::in_unit(v, &def.unit)),
    };
    Evaluation {
        status,
        text,
        perf: vec![perf(def, v)],
        value: Some(v),
    }
}

/// The check's labels and a per-resource check's label values, as matchers.
fn matchers<'a>(def: &'a CheckDef, filter: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
    def.labels
        .iter()
        .chain(filter)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The first series of `name` whose labels include all of `matchers`.
fn sample<'a>(
    snap: &'a TargetSnapshot,
    name: &str,
    matchers: &[(&str, &str)],
) -> Option<&'a Sample> {
    snap.families
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| &f.samples)
        .find(|s| {
            matchers
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
}

fn label<'a>(s: &'a Sample, key: &str) -> &'a str {
    s.labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The check's `if_absent` state, with its `absent_output` or `default` as the text.
fn absent(def: &CheckDef, target: &str, default: String) -> Evaluation {
    Evaluation {
        status: def.if_absent,
        text: match &def.absent_output {
            Some(t) => t.replace("{target}", target).replace("{name}", &def.name),
            None => default,
        },
        perf: Vec::new(),
        value: None,
    }
}

/// A value judged by a kind's own rule rather than by the ranges.
fn judged(def: &CheckDef, status: Status, text: String, v: f64) -> Evaluation {
    let mut p = perf(def, v);
    p.warn = None;
    p.crit = None;
    Evaluation {
        status,
        text,
        perf: vec![p],
        value: Some(v),
    }
}

/// MYSQL_REPLICA_RUNNING: the IO and SQL threads of one replication connection. The value is
/// the number running (0, 1 or 2), judged by the ranges (`2:` is CRITICAL when either
/// stops); the text names each stopped thread and the last error the server recorded for it.
/// A target without the connection (not a replica) is `if_absent`.
fn evaluate_replica_threads(
    def: &CheckDef,
    target: &str,
    snap: &TargetSnapshot,
    filter: &[(String, String)],
) -> Evaluation {
    let m = matchers(def, filter);
    let io = snap.value("headroom_mysql_replica_io_running", &m);
    let sql = snap.value("headroom_mysql_replica_sql_running", &m);
    if io.is_none() && sql.is_none() {
        return absent(
            def,
            target,
            format!("{target} has no such replication connection"),
        );
    }
    let mut stopped = Vec::new();
    for (thread, name, running) in [("io", "IO", io), ("sql", "SQL", sql)] {
        if running == Some(1.0) {
            continue;
        }
        let mut with = m.clone();
        with.push(("thread", thread));
        let why = match sample(snap, "headroom_mysql_replica_last_error", &with) {
            Some(e) => format!("last error {}: {}", label(e, "errno"), label(e, "error")),
            None => "no error recorded".into(),
        };
        stopped.push(format!("{name} thread not running ({why})"));
    }
    let n = io.unwrap_or(0.0) + sql.unwrap_or(0.0);
    let text = if stopped.is_empty() {
        "IO and SQL threads running".to_owned()
    } else {
        stopped.join(" and ")
    };
    Evaluation {
        status: thresholds(def, n),
        text,
        perf: vec![perf(def, n)],
        value: Some(n),
    }
}

/// MYSQL_REPLICA_LAG: one replication connection's lag in seconds, judged by the ranges. The
/// pt-heartbeat lag when the target has a heartbeat for the connection (it keeps growing
/// while the SQL thread is stopped or stalled, when Seconds_Behind_Master is NULL or 0), else
/// Seconds_Behind_Master. UNKNOWN when the configured heartbeat cannot be read, or without a
/// heartbeat while Seconds_Behind_Master is NULL. A target without the connection is
/// `if_absent`.
fn evaluate_replica_lag(
    def: &CheckDef,
    target: &str,
    snap: &TargetSnapshot,
    filter: &[(String, String)],
) -> Evaluation {
    let m = matchers(def, filter);
    if snap
        .value("headroom_mysql_replica_io_running", &m)
        .is_none()
    {
        return absent(
            def,
            target,
            format!("{target} has no such replication connection"),
        );
    }
    let secs = crate::units::duration;
    let sbm = snap.value("headroom_mysql_replica_lag_seconds", &m);
    let sbm_text = sbm.map(secs).unwrap_or_else(|| "NULL".into());
    let (v, text) = match sample(snap, "headroom_mysql_heartbeat", &m) {
        Some(hb) => {
            let (table, id) = (label(hb, "table"), label(hb, "server_id"));
            match snap.value("headroom_mysql_heartbeat_lag_seconds", &m) {
                Some(v) => (
                    v,
                    format!(
                        "{} behind its source by the heartbeat in {table} (server_id {id}), Seconds_Behind_Master {sbm_text}",
                        secs(v)
                    ),
                ),
                None => {
                    return Evaluation::unknown(format!(
                        "heartbeat {table} (server_id {id}) not readable ({}), Seconds_Behind_Master {sbm_text}",
                        label(hb, "error")
                    ));
                }
            }
        }
        None => match sbm {
            Some(v) => (
                v,
                format!(
                    "{} behind its source (Seconds_Behind_Master, no heartbeat configured)",
                    secs(v)
                ),
            ),
            None => {
                return Evaluation::unknown(
                    "lag unknown: Seconds_Behind_Master is NULL (the SQL thread is not running, or the IO thread never connected: see MYSQL_REPLICA_RUNNING) and no heartbeat is configured".into(),
                );
            }
        },
    };
    let v = (v * 1000.0).round() / 1000.0;
    Evaluation {
        status: thresholds(def, v),
        text,
        perf: vec![perf(def, v)],
        value: Some(v),
    }
}

/// MYSQL_READ_ONLY_AS_PLANNED: `read_only` against what the phase of `dday:` expects of the
/// target's role (headroom_mysql_read_only_expected): CRITICAL when they differ, whatever the
/// ranges.
fn evaluate_read_only(
    def: &CheckDef,
    target: &str,
    snap: &TargetSnapshot,
    filter: &[(String, String)],
) -> Evaluation {
    let m = matchers(def, filter);
    let Some(plan) = sample(snap, "headroom_mysql_read_only_expected", &m) else {
        return absent(
            def,
            target,
            format!("no read-only plan for {target}: it needs a role and dday a phase"),
        );
    };
    let Some(actual) = snap.value("mysql_global_variables_read_only", &[]) else {
        return Evaluation::unknown(format!("{target} did not report read_only"));
    };
    let on = |v: bool| if v { "ON" } else { "OFF" };
    let (read_only, expected) = (actual != 0.0, plan.value != 0.0);
    // MariaDB has no super_read_only: then nothing is said of it.
    let super_ro = snap
        .value("mysql_global_variables_super_read_only", &[])
        .map(|v| format!(", super_read_only {}", on(v != 0.0)))
        .unwrap_or_default();
    let (role, phase) = (label(plan, "role"), label(plan, "phase"));
    let wants = if expected { "read-only" } else { "writable" };
    let why = match role {
        "source" => "a source is writable before the freeze and read-only from freeze on",
        "destination" => "a destination is a read-only replica until after, writable from after",
        _ => "",
    };
    let (status, joint) = if read_only == expected {
        (Status::Ok, "as")
    } else {
        (Status::Critical, "but")
    };
    let text = format!(
        "read_only {}{super_ro}, {joint} phase {phase} expects the {role} {wants} ({why})",
        on(read_only)
    );
    judged(def, status, text, if read_only { 1.0 } else { 0.0 })
}

/// A certificate of the served chain as the tls source describes it in the snapshot.
struct Served<'a> {
    position: usize,
    role: &'a str,
    /// The subject's CN, or the whole subject when it has none.
    cn: &'a str,
    alg: &'a str,
    hash: &'a str,
    not_before: i64,
    not_after: i64,
}

impl Served<'_> {
    /// How the status text names it: the server name for the leaf, else its role, CN and
    /// position.
    fn named(&self, server_name: &str) -> String {
        if self.position == 0 {
            format!("'{server_name}'")
        } else {
            format!("{} of '{server_name}'", self.short())
        }
    }

    fn short(&self) -> String {
        if self.position == 0 {
            format!("leaf '{}'", self.cn)
        } else {
            format!(
                "{} '{}' (chain position {})",
                self.role, self.cn, self.position
            )
        }
    }
}

/// The served chain from the tls source's `headroom_tls_chain_certificate*` series, in order.
fn served_chain(snap: &TargetSnapshot) -> Vec<Served<'_>> {
    let mut chain: Vec<Served<'_>> = snap
        .families
        .iter()
        .filter(|f| f.name == "headroom_tls_chain_certificate")
        .flat_map(|f| &f.samples)
        .filter_map(|s| {
            let p = label(s, "position");
            let at = |metric: &str| snap.value(metric, &[("position", p)]).map(|v| v as i64);
            let cn = match label(s, "subject_cn") {
                "" => label(s, "subject"),
                cn => cn,
            };
            Some(Served {
                position: p.parse().ok()?,
                role: label(s, "role"),
                cn,
                alg: label(s, "signature_algorithm"),
                hash: label(s, "signature_hash"),
                not_before: at("headroom_tls_chain_certificate_not_before_timestamp_seconds")?,
                not_after: at("headroom_tls_chain_certificate_not_after_timestamp_seconds")?,
            })
        })
        .collect();
    chain.sort_by_key(|c| c.position);
    chain
}

/// The ELB_CERTIFICATE OK line (HariSekhon/Nagios-Plugins check_ssl_cert.pl's, plus the hash
/// algorithm), on the earliest-expiring certificate the server sends (named when it is not
/// the leaf); CRITICAL with the reason for a certificate that is expired, not yet valid,
/// issued for another name, not trusted or signed with SHA-1 or weaker, and for a stapled
/// OCSP response saying revoked (WARNING: unknown, stale or unreadable).
fn evaluate_certificate(def: &CheckDef, snap: &TargetSnapshot, now: i64) -> Evaluation {
    use crate::sources::tls::weak_hash;
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
    let name = info("server_name");
    let leaf_alg = info("signature_algorithm");
    let leaf_cn = info("subject_cn");
    let mut chain = served_chain(snap);
    if chain.is_empty() {
        // A snapshot without the chain's series: the leaf alone.
        chain.push(Served {
            position: 0,
            role: "leaf",
            cn: &leaf_cn,
            alg: &leaf_alg,
            hash: "",
            not_before: not_before as i64,
            not_after: not_after as i64,
        });
    }
    let Some(first) = chain.iter().min_by_key(|c| (c.not_after, c.position)) else {
        return Evaluation::unknown("no certificate data".into());
    };
    let who = first.named(&name);
    let alg = if first.position == 0 {
        leaf_alg.as_str()
    } else {
        first.alg
    };
    let left = first.not_after - now;
    // Whole days, rounded down as check_ssl_cert.pl and check_http -C do.
    let days = left.div_euclid(86_400);
    let mut problems: Vec<String> = Vec::new();
    let text = if left < 0 {
        format!(
            "Certificate EXPIRED {} days ago for {who}. Certificate Expired: '{}'. Hash algorithm: {alg}",
            (-left) / 86_400,
            openssl_date(first.not_after)
        )
    } else {
        format!(
            "{days} days remaining for {who}. Certificate Expires: '{}'. Hash algorithm: {alg}",
            openssl_date(first.not_after)
        )
    };
    for c in &chain {
        if now < c.not_before {
            problems.push(if c.position == 0 {
                format!("not valid before '{}'", openssl_date(c.not_before))
            } else {
                format!(
                    "{} not valid before '{}'",
                    c.short(),
                    openssl_date(c.not_before)
                )
            });
        }
    }
    if snap.value("headroom_tls_certificate_hostname_match", &[]) != Some(1.0) {
        let sans = info("sans");
        problems.push(format!(
            "not valid for '{name}' (CN '{leaf_cn}'{})",
            if sans.is_empty() {
                String::new()
            } else {
                format!(", names {sans}")
            }
        ));
    }
    // Absent with `verify: false` (or `--noauth`): trust is not judged.
    if let Some(trusted) = snap.value("headroom_tls_certificate_trusted", &[])
        && trusted != 1.0
    {
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
    // Sentences after the certificate's, each with the state it calls for.
    let mut notes: Vec<(Status, String)> = Vec::new();
    // The signature on a root the server sends is never checked by a client (the root is a
    // trust anchor, taken from the client's own store), so only the others count.
    let weak: Vec<String> = chain
        .iter()
        .filter(|c| c.role != "root" && weak_hash(c.hash))
        .map(|c| {
            let hash = match c.hash {
                "sha1" => "SHA-1",
                "sha0" => "SHA-0",
                "md5" => "MD5",
                "md4" => "MD4",
                _ => "MD2",
            };
            format!("{} signed with {hash} ({})", c.short(), c.alg)
        })
        .collect();
    if !weak.is_empty() {
        notes.push((
            Status::Critical,
            format!("Weak signature: {}", weak.join(", ")),
        ));
    }
    if snap.value("headroom_tls_ocsp_stapled", &[]) == Some(1.0) {
        let is = |s: &str| snap.value("headroom_tls_ocsp_status", &[("status", s)]) == Some(1.0);
        if is("revoked") {
            let revoked = find_series(snap, "headroom_tls_ocsp_revocation_timestamp_seconds", &[]);
            let since = revoked
                .map(|s| format!(" since '{}'", openssl_date(s.value as i64)))
                .unwrap_or_default();
            let reason = match revoked.map(|s| label(s, "reason")) {
                Some(r) if !r.is_empty() => format!(" ({r})"),
                _ => String::new(),
            };
            notes.push((
                Status::Critical,
                format!("OCSP: certificate revoked{since}{reason}"),
            ));
        } else if is("unknown") {
            notes.push((
                Status::Warning,
                "OCSP: the stapled response does not know the certificate (status unknown)".into(),
            ));
        } else if !is("good") {
            notes.push((
                Status::Warning,
                "OCSP: the stapled response is unreadable".into(),
            ));
        }
        if let Some(next) = snap.value("headroom_tls_ocsp_next_update_timestamp_seconds", &[])
            && (next as i64) < now
        {
            notes.push((
                Status::Warning,
                format!(
                    "OCSP: the stapled response is stale since '{}' (nextUpdate)",
                    openssl_date(next as i64)
                ),
            ));
        }
    }
    let value = days as f64;
    let mut status = thresholds(def, value);
    let mut text = text;
    if left < 0 {
        status = Status::Critical;
    }
    if !problems.is_empty() {
        status = Status::Critical;
        text.push_str(". Certificate ");
        text.push_str(&problems.join(", "));
    }
    for (s, note) in notes {
        status = worse(status, s);
        text.push_str(". ");
        text.push_str(&note);
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

/// The worse of two states for a check judging several things: CRITICAL, then WARNING,
/// then UNKNOWN, then OK.
fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Ok => 0,
        Status::Unknown => 1,
        Status::Warning => 2,
        Status::Critical => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// MIGRATION_PROGRESS: by files and by bytes (or the one `labels: {by: ...}` names), the
/// projected time of the target ratio against D-day and its margin, read from the migration
/// source's series. See checks/migration.yaml and docs/migration.md.
fn evaluate_migration(def: &CheckDef, snap: &TargetSnapshot) -> Evaluation {
    use crate::config::dday::{DDay, Phase};
    use crate::sources::migration::progress::{By, human_duration, human_rate, percent};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    // D-day and its zone, from the info series (its `at` label is RFC 3339 in the zone the
    // plan was written in); UTC dates when there is none.
    let at_label = snap
        .families
        .iter()
        .filter(|f| f.name == "headroom_migration_dday")
        .flat_map(|f| &f.samples)
        .flat_map(|s| &s.labels)
        .find(|(k, _)| k == "at")
        .map(|(_, v)| v.clone());
    let dday_at = snap.value("headroom_migration_dday_timestamp_seconds", &[]);
    let margin = snap
        .value("headroom_migration_dday_margin_seconds", &[])
        .unwrap_or(0.0);
    let dday = DDay {
        at: dday_at.unwrap_or(0.0) as i64,
        offset_s: at_label
            .as_deref()
            .and_then(|a| OffsetDateTime::parse(a, &Rfc3339).ok())
            .map(|t| t.offset().whole_seconds())
            .unwrap_or(0),
        phase: Phase::Before,
        margin: StdDuration::from_secs_f64(margin.max(0.0)),
    };
    let target = snap
        .value("headroom_migration_target_ratio", &[])
        .unwrap_or(crate::sources::migration::DEFAULT_TARGET_RATIO);
    let only = def
        .labels
        .iter()
        .find(|(k, _)| k == "by")
        .and_then(|(_, v)| By::parse(v));
    let mut status = Status::Ok;
    let mut parts: Vec<String> = Vec::new();
    let mut perf_items: Vec<Perf> = Vec::new();
    let mut min_slack: Option<f64> = None;
    let mut stalled = false;
    let mut all_reached = true;
    for by in By::ALL.into_iter().filter(|b| only.is_none_or(|o| o == *b)) {
        let l = [("by", by.as_str())];
        let Some(ratio) = snap.value("headroom_migration_progress_ratio", &l) else {
            status = worse(status, Status::Unknown);
            all_reached = false;
            parts.push(format!("{} total is 0: no progress ratio", by.as_str()));
            continue;
        };
        perf_items.push(Perf {
            label: by.as_str().into(),
            value: (ratio * 100.0 * 1e4).round() / 1e4,
            uom: "%".into(),
            warn: None,
            crit: None,
            min: Some(0.0),
            max: Some(100.0),
        });
        let rate = snap.value(
            &format!("headroom_migration_copy_rate_{}_per_second", by.as_str()),
            &[],
        );
        if let Some(r) = rate {
            perf_items.push(Perf {
                label: format!("{}_rate", by.as_str()),
                value: (r * 1e3).round() / 1e3,
                uom: if by == By::Bytes {
                    "B".into()
                } else {
                    String::new()
                },
                warn: None,
                crit: None,
                min: Some(0.0),
                max: None,
            });
        }
        let pct = percent(ratio);
        if snap.value("headroom_migration_target_reached", &l) == Some(1.0) {
            parts.push(format!(
                "{} {pct}: target {} reached",
                by.as_str(),
                percent(target)
            ));
            continue;
        }
        all_reached = false;
        let Some(rate) = rate else {
            status = worse(status, Status::Unknown);
            parts.push(format!(
                "{} {pct}, no copy rate yet (it takes two readings)",
                by.as_str()
            ));
            continue;
        };
        let rate_text = human_rate(by, rate);
        let projected = snap.value("headroom_migration_projected_timestamp_seconds", &l);
        let Some(projected) = projected.filter(|_| rate > 0.0) else {
            stalled = true;
            if dday_at.is_some() {
                status = worse(status, Status::Critical);
            }
            parts.push(format!(
                "{} {pct} at {rate_text}: no progress, {} is never reached at this rate",
                by.as_str(),
                percent(target)
            ));
            continue;
        };
        parts.push(format!(
            "{} {pct} at {rate_text}, {} projected {}",
            by.as_str(),
            percent(target),
            dday.format(projected.round() as i64)
        ));
        if let Some(at) = dday_at {
            let slack = at - projected;
            min_slack = Some(min_slack.map_or(slack, |m: f64| m.min(slack)));
            status = worse(
                status,
                if slack < 0.0 {
                    Status::Critical
                } else if slack < margin {
                    Status::Warning
                } else {
                    Status::Ok
                },
            );
        }
    }
    match dday_at {
        None if !all_reached => {
            status = worse(status, Status::Unknown);
            parts.push("D-day is not configured (dday.at): the projection cannot be judged".into());
        }
        None => {}
        Some(at) => {
            let when = dday.format(at as i64);
            let m = human_duration(margin);
            parts.push(match min_slack {
                Some(s) if s < 0.0 => {
                    format!("D-day {when}: projected {} after it", human_duration(s))
                }
                Some(s) if s < margin => format!(
                    "D-day {when}: {} to spare, inside the margin of {m}",
                    human_duration(s)
                ),
                Some(s) => format!("D-day {when}: {} to spare (margin {m})", human_duration(s)),
                None if stalled => format!("D-day {when}: the copy makes no progress"),
                None => format!("D-day {when} (margin {m})"),
            });
        }
    }
    if let Some(s) = min_slack {
        perf_items.push(Perf {
            label: def.perf_label.clone(),
            value: s.round(),
            uom: "s".into(),
            warn: format!("{}:", margin.round()).parse().ok(),
            crit: "0:".parse().ok(),
            min: None,
            max: None,
        });
    }
    Evaluation {
        status,
        text: parts.join(". "),
        perf: perf_items,
        value: min_slack.map(f64::round),
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
    fn a_nan_value_is_no_value() {
        // A percentile of an empty window is NaN: the check says why instead of comparing it
        // (NaN violates no range, so compared it would read OK).
        let d = def(
            "- {name: P95, source: memcached, metric: p95, unit: s, warning: \"1\", critical: \"3\", absent_output: \"nothing completed within {label:window}\"}\n",
        );
        let mut f = Family::new("p95", "", Kind::Gauge);
        f.samples.push(Sample {
            labels: vec![("window".into(), "5m".into())],
            value: f64::NAN,
        });
        let e = evaluate(
            &d,
            "m1",
            Some(&snap(vec![f], None)),
            StdDuration::from_secs(60),
            crate::time::unix_now(),
        );
        assert_eq!(e.status, Status::Unknown);
        assert_eq!(e.line(), "UNKNOWN: nothing completed within 5m");
    }

    #[test]
    fn texts_are_for_people_and_perfdata_keeps_every_digit() {
        let now = crate::time::unix_now();
        let age = StdDuration::from_secs(60);
        let on = |yaml: &str, v: f64| {
            let d = def(yaml);
            evaluate(
                &d,
                "m1",
                Some(&snap(vec![Family::single("x", "", Kind::Gauge, v)], None)),
                age,
                now,
            )
            .line()
        };
        // `{human}` in the check's unit; the perfdata value unrounded, in its UOM.
        assert_eq!(
            on(
                "- {name: LAG, source: memcached, metric: x, unit: s, output: \"{human} behind\"}\n",
                15_127.477167
            ),
            "OK: 4h 12m behind | 'lag'=15127.477167s"
        );
        assert_eq!(
            on(
                "- {name: HIT, source: memcached, metric: x, scale: 100, unit: \"%\", output: \"Hit ratio {human}\"}\n",
                0.953214
            ),
            "OK: Hit ratio 95.3% | 'hit'=95.3214%"
        );
        // `{value}` to three significant digits; no template: NAME = the value in its unit.
        assert_eq!(
            on(
                "- {name: R, source: memcached, metric: x, output: \"ratio {value}\"}\n",
                0.953214
            ),
            "OK: ratio 0.953 | 'r'=0.953214"
        );
        assert_eq!(
            on(
                "- {name: T, source: memcached, metric: x, unit: s}\n",
                53.477167
            ),
            "OK: T = 53s | 't'=53.477167s"
        );
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
                .starts_with("UNKNOWN: stale: the latest data from 'm1' is 1h old"),
            "{}",
            stale.line()
        );
    }

    /// DNS_TTL as shipped: the time left judged while the TTL is above the plan (`ok_if`),
    /// the record, the TTLs and the deadline in the text (`{label:...}`, `{value:...}`).
    #[test]
    fn dns_ttl_judges_the_time_left_only_while_the_ttl_is_above_the_plan() {
        use crate::config::dday::{DDay, Phase};
        use crate::sources::dns::plan::{self, Answer, Observed, Plan, Record};
        let d = crate::check::shipped()
            .into_iter()
            .find(|d| d.name == "DNS_TTL")
            .unwrap();
        // 2027-03-01T06:00:00+01:00
        let dday = DDay {
            at: 1_803_877_200,
            offset_s: 3600,
            phase: Phase::Before,
            margin: StdDuration::from_secs(7 * 86_400),
        };
        let p = Plan {
            cutover_ttl: 60,
            lead_time: Some(2 * 86_400),
            dday,
        };
        let at = |ttl: u32, now: i64| {
            let a = Answer {
                rcode: ("NOERROR".into(), 0),
                authoritative: true,
                truncated: false,
                records: vec![Record {
                    rtype: "A".into(),
                    ttl,
                    value: "192.0.2.10".into(),
                }],
                seconds: 0.001,
            };
            let f = plan::families(&Observed {
                name: "storage.example.com",
                rtype: "A",
                answer: &a,
                configured_ttl: None,
                largest_ttl_seen: ttl,
                plan: Some(&p),
                now,
            });
            let mut s = snap(f, None);
            s.taken_at = SystemTime::UNIX_EPOCH + StdDuration::from_secs(now as u64);
            evaluate(&d, "storage-dns", Some(&s), StdDuration::from_secs(60), now)
        };
        let deadline = dday.at - 2 * 86_400;
        let far = at(3600, deadline - 3 * 86_400);
        assert_eq!(far.status, Status::Ok, "{}", far.line());
        let soon = at(3600, deadline - 3600);
        assert_eq!(
            soon.line(),
            "WARNING: storage.example.com A TTL 3600s, above the planned 60s: lower it by 2027-02-27T06:00:00+01:00 (1h left) | 'time_left'=3600s;86400:;0:"
        );
        let late = at(3600, deadline + 60);
        assert_eq!(late.status, Status::Critical, "{}", late.line());
        assert!(late.text.contains("(-1m left)"), "{}", late.text);
        let lowered = at(60, deadline + 60);
        assert_eq!(
            lowered.text,
            "storage.example.com A TTL 60s, at or below the planned 60s (deadline 2027-02-27T06:00:00+01:00)"
        );
        assert_eq!(lowered.status, Status::Ok);
        // No plan: nothing to judge.
        let mut up = snap(
            vec![Family::single("headroom_dns_up", "", Kind::Gauge, 1.0)],
            None,
        );
        up.taken_at = SystemTime::UNIX_EPOCH + StdDuration::from_secs(deadline as u64);
        let none = evaluate(
            &d,
            "storage-dns",
            Some(&up),
            StdDuration::from_secs(60),
            deadline,
        );
        assert_eq!(none.status, Status::Ok);
        assert!(
            none.text
                .starts_with("no TTL lowering planned for storage-dns"),
            "{}",
            none.text
        );
    }

    /// SECURITY_POSTURE and LOGGING as shipped: the resources of a kind named through
    /// `{nonzero:...}` and `{zero:...}`, the first ten of a long list.
    #[test]
    fn posture_checks_name_the_resources() {
        use crate::sources::aws::posture::{KIND, judge};
        let findings: Vec<judge::Finding> = (1..=12)
            .map(|i| judge::Finding::new(judge::UNENCRYPTED_EBS, format!("vol-{i:02}"), ""))
            .collect();
        let logging =
            [("main", false), ("org", true), ("audit", false)].map(|(r, on)| judge::Logging {
                kind: judge::CLOUDTRAIL,
                resource: r.into(),
                enabled: on,
            });
        let s = TargetSnapshot {
            source: KIND,
            target: Arc::from("posture-us"),
            families: judge::families(
                &[judge::PUBLIC_RDS, judge::UNENCRYPTED_EBS],
                &findings,
                &logging,
            ),
            taken_at: SystemTime::now(),
            error: None,
        };
        let at = |check: &str, kind: &str| {
            evaluate_with(
                &shipped(check),
                "posture-us",
                Some(&s),
                &[("kind".to_owned(), kind.to_owned())],
                StdDuration::from_secs(300),
                crate::time::unix_now(),
            )
        };
        let ebs = at("SECURITY_POSTURE", "unencrypted_ebs");
        assert_eq!(ebs.status, Status::Critical);
        assert_eq!(
            ebs.text,
            "12 unencrypted_ebs finding(s): vol-01, vol-02, vol-03, vol-04, vol-05, vol-06, vol-07, vol-08, vol-09, vol-10 and 2 more"
        );
        let rds = at("SECURITY_POSTURE", "public_rds");
        assert_eq!(
            (rds.status, rds.text.as_str()),
            (Status::Ok, "no public_rds finding")
        );
        let trails = at("LOGGING", "cloudtrail");
        assert_eq!(trails.status, Status::Critical);
        assert_eq!(trails.text, "cloudtrail off: audit, main");
    }

    fn mysql_snap(families: Vec<Family>) -> TargetSnapshot {
        TargetSnapshot {
            source: crate::sources::mysql::KIND,
            target: Arc::from("db-1"),
            families,
            taken_at: SystemTime::now(),
            error: None,
        }
    }

    fn shipped(name: &str) -> CheckDef {
        crate::check::def::shipped()
            .into_iter()
            .find(|d| d.name == name)
            .unwrap()
    }

    fn on(def: &CheckDef, snap: &TargetSnapshot, channel: &str) -> Evaluation {
        let filter = vec![("channel".to_owned(), channel.to_owned())];
        let now = crate::time::unix_now();
        evaluate_with(
            def,
            "db-1",
            Some(snap),
            &filter,
            StdDuration::from_secs(60),
            now,
        )
    }

    fn connection(cols: &[(&str, Option<&str>)]) -> crate::sources::mysql::ReplicaRow {
        cols.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect()
    }

    /// BACKUP_AGE (checks/backups.yaml) on the backups source's own families: the age and max
    /// age named as durations, over max age CRITICAL, no backup CRITICAL saying so.
    #[test]
    fn backup_age_names_the_resource_and_its_age() {
        use crate::sources::aws::backups::{Backup, BackupKind, families};
        let d = shipped("BACKUP_AGE");
        let now = 1_000_000.0;
        let b = |kind, resource: &str, newest| Backup {
            kind,
            resource: resource.into(),
            newest,
            max_age_s: 86_400,
        };
        let s = snap(
            families(
                &[
                    b(BackupKind::Ebs, "vol-1", Some(now - 3_725.0)),
                    b(BackupKind::RdsManual, "db1", Some(now - 93_784.0)),
                    b(BackupKind::Route53Export, "example.com", None),
                ],
                now,
            ),
            None,
        );
        let at = |kind: &str, resource: &str| {
            let filter = vec![
                ("kind".to_owned(), kind.to_owned()),
                ("resource".to_owned(), resource.to_owned()),
            ];
            evaluate_with(
                &d,
                "backups-us",
                Some(&s),
                &filter,
                StdDuration::from_secs(60),
                crate::time::unix_now(),
            )
        };
        let ok = at("ebs", "vol-1");
        assert_eq!(ok.status, Status::Ok);
        assert!(
            ok.line()
                .starts_with("OK: newest ebs backup of vol-1 is 1h 2m old (max age 1d) | "),
            "{}",
            ok.line()
        );
        let old = at("rds_manual", "db1");
        assert_eq!(old.status, Status::Critical);
        assert!(
            old.line()
                .starts_with("CRITICAL: newest rds_manual backup of db1 is 1d 2h old"),
            "{}",
            old.line()
        );
        let none = at("route53_export", "example.com");
        assert_eq!(none.status, Status::Critical);
        assert_eq!(
            none.line(),
            "CRITICAL: no route53_export backup of example.com found"
        );
    }

    #[test]
    fn replica_running_names_the_stopped_thread_and_its_error() {
        use crate::sources::mysql::replica_families;
        let d = shipped("MYSQL_REPLICA_RUNNING");
        let healthy = connection(&[
            ("Connection_name", Some("")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Seconds_Behind_Master", Some("0")),
            ("Last_IO_Errno", Some("0")),
            ("Last_SQL_Errno", Some("0")),
        ]);
        let broken = connection(&[
            ("Connection_name", Some("aws")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("No")),
            ("Seconds_Behind_Master", None),
            ("Last_IO_Errno", Some("0")),
            ("Last_SQL_Errno", Some("1062")),
            (
                "Last_SQL_Error",
                Some(
                    "Could not execute Write_rows_v1 event on table headroom_test.t; Duplicate entry '1' for key 'PRIMARY', Error_code: 1062",
                ),
            ),
        ]);
        let snap = mysql_snap(replica_families(&[healthy, broken]));
        let ok = on(&d, &snap, "");
        assert_eq!(
            ok.line(),
            "OK: IO and SQL threads running | 'threads_running'=2;;2:;0;2"
        );
        let bad = on(&d, &snap, "aws");
        assert_eq!(bad.status, Status::Critical);
        assert_eq!(
            bad.line(),
            "CRITICAL: SQL thread not running (last error 1062: Could not execute Write_rows_v1 event on table headroom_test.t: Duplicate entry '1' for key 'PRIMARY', Error_code: 1062) | 'threads_running'=1;;2:;0;2"
        );
        let io_stopped = connection(&[
            ("Connection_name", Some("")),
            ("Slave_IO_Running", Some("No")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Last_IO_Errno", Some("0")),
        ]);
        let e = on(&d, &mysql_snap(replica_families(&[io_stopped])), "");
        assert_eq!(e.status, Status::Critical);
        assert!(
            e.text
                .starts_with("IO thread not running (no error recorded)"),
            "{}",
            e.text
        );
        // Not a replica: OK, as the shipped definition says.
        let none = on(&d, &mysql_snap(Vec::new()), "");
        assert_eq!(none.line(), "OK: db-1 is not a replica");
    }

    #[test]
    fn replica_lag_prefers_the_heartbeat() {
        use crate::sources::mysql::{HeartbeatRead, heartbeat_families, replica_families};
        let d = shipped("MYSQL_REPLICA_LAG");
        // The SQL thread stopped: Seconds_Behind_Master is NULL, the heartbeat keeps counting.
        let stalled = connection(&[
            ("Connection_name", Some("")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("No")),
            ("Seconds_Behind_Master", None),
        ]);
        let mut families = replica_families(std::slice::from_ref(&stalled));
        families.extend(heartbeat_families(&HeartbeatRead {
            table: "percona.heartbeat",
            server_id: 1,
            channel: "",
            lag: Ok(75.25),
        }));
        let e = on(&d, &mysql_snap(families), "");
        assert_eq!(e.status, Status::Warning);
        assert_eq!(
            e.line(),
            "WARNING: 1m 15s behind its source by the heartbeat in percona.heartbeat (server_id 1), Seconds_Behind_Master NULL | 'lag'=75.25s;60;300;0"
        );
        // Without a heartbeat, NULL is no lag at all: UNKNOWN, and why.
        let e = on(
            &d,
            &mysql_snap(replica_families(std::slice::from_ref(&stalled))),
            "",
        );
        assert_eq!(e.status, Status::Unknown);
        assert!(
            e.text
                .starts_with("lag unknown: Seconds_Behind_Master is NULL"),
            "{}",
            e.text
        );
        // A heartbeat configured but unreadable is said so, not replaced silently.
        let mut families = replica_families(&[stalled]);
        families.extend(heartbeat_families(&HeartbeatRead {
            table: "percona.heartbeat",
            server_id: 1,
            channel: "",
            lag: Err("error 1146: Table 'percona.heartbeat' doesn't exist".into()),
        }));
        let e = on(&d, &mysql_snap(families), "");
        assert_eq!(e.status, Status::Unknown);
        assert!(e.text.contains("not readable (error 1146"), "{}", e.text);
        // Seconds_Behind_Master when there is no heartbeat.
        let behind = connection(&[
            ("Connection_name", Some("")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("Yes")),
            ("Seconds_Behind_Master", Some("400")),
        ]);
        let e = on(&d, &mysql_snap(replica_families(&[behind])), "");
        assert_eq!(e.status, Status::Critical);
        assert_eq!(
            e.text,
            "6m 40s behind its source (Seconds_Behind_Master, no heartbeat configured)"
        );
    }

    #[test]
    fn read_only_against_the_plan() {
        use crate::sources::mysql::read_only_families;
        let d = shipped("MYSQL_READ_ONLY_AS_PLANNED");
        let snap = |read_only: &str, role, phase, expected| {
            let mut f = vec![Family::single(
                "mysql_global_variables_read_only",
                "",
                Kind::Gauge,
                crate::sources::mysql::parse_value(read_only).unwrap(),
            )];
            f.extend(read_only_families(role, phase, expected));
            mysql_snap(f)
        };
        let now = crate::time::unix_now();
        let ev =
            |s: &TargetSnapshot| evaluate(&d, "db-1", Some(s), StdDuration::from_secs(60), now);
        let ok = ev(&snap("OFF", "source", "before", false));
        assert_eq!(
            ok.line(),
            "OK: read_only OFF, as phase before expects the source writable (a source is writable before the freeze and read-only from freeze on) | 'read_only'=0;;;0;1"
        );
        let bad = ev(&snap("OFF", "source", "freeze", true));
        assert_eq!(bad.status, Status::Critical);
        assert!(
            bad.text
                .starts_with("read_only OFF, but phase freeze expects the source read-only"),
            "{}",
            bad.text
        );
        assert_eq!(
            ev(&snap("ON", "destination", "cutover", true)).status,
            Status::Ok
        );
        assert_eq!(
            ev(&snap("ON", "destination", "after", false)).status,
            Status::Critical
        );
    }

    /// A migration target's snapshot: 1000 files and 1000 bytes, `copied` of each done at
    /// `rate` per second over the last 10 s, read at `t`; D-day `dday` seconds after `t` in
    /// zone +01:00 with `margin`.
    fn migration_snap(copied: f64, rate: f64, t: f64, dday: Option<(f64, u64)>) -> TargetSnapshot {
        use crate::config::dday::{DDay, Phase};
        use crate::sources::migration::progress::{By, Counters, Reading, Side, Tracker};
        use crate::sources::migration::{FieldMap, HttpInput, Input, Settings, SideMap, families};
        let map = || SideMap {
            total: "/t".to_owned(),
            copied: "/c".to_owned(),
            failed: None,
            skipped: None,
        };
        let settings = Settings {
            input: Input::Http(HttpInput {
                url: "http://x/".into(),
                token: None,
                pointers: FieldMap {
                    files: map(),
                    bytes: map(),
                },
            }),
            target_ratio: 0.999,
            rate_window: StdDuration::from_secs(60),
            counters: Counters::State,
            dday: dday.map(|(after, margin)| DDay {
                at: (t + after) as i64,
                offset_s: 3600,
                phase: Phase::Before,
                margin: StdDuration::from_secs(margin),
            }),
        };
        let side = |c: f64| Side {
            total: 1000.0,
            copied: c,
            failed: None,
            skipped: None,
        };
        let r = |c: f64| Reading {
            files: side(c),
            bytes: side(c),
        };
        let mut tr = Tracker::new(60.0, Counters::State);
        tr.observe(t - 10.0, &r(copied - 10.0 * rate));
        let o = tr.observe(t, &r(copied));
        let ps: Vec<_> = By::ALL
            .into_iter()
            .map(|b| (b, tr.project(b, &o, 0.999, t)))
            .collect();
        let mut s = snap(families(&settings, &o, &ps, t, 0), None);
        s.source = crate::sources::migration::KIND;
        s
    }

    #[test]
    fn migration_progress_against_dday() {
        let d = def("- {name: MIGRATION_PROGRESS, source: migration, kind: migration}\n");
        let t = 1_800_000_000.0;
        let ev = |s: &TargetSnapshot| {
            evaluate(
                &d,
                "copy",
                Some(s),
                StdDuration::from_secs(1e9 as u64),
                t as i64,
            )
        };
        // 899 files to go at 10/s: 89.9 s; D-day 1000 s after t, margin 600 s: 910 s spare.
        let ok = ev(&migration_snap(100.0, 10.0, t, Some((1000.0, 600))));
        assert_eq!(
            ok.line(),
            "OK: files 10% at 10.0 files/s, 99.9% projected 2027-01-15T09:01:30+01:00. bytes 10% at 10 B/s, 99.9% projected 2027-01-15T09:01:30+01:00. D-day 2027-01-15T09:16:40+01:00: 15m 10s to spare (margin 10m) | 'files'=10%;;;0;100 'files_rate'=10;;;0 'bytes'=10%;;;0;100 'bytes_rate'=10B;;;0 'slack'=910s;600:;0:"
        );
        assert_eq!(ok.value, Some(910.0));
        let warn = ev(&migration_snap(100.0, 10.0, t, Some((1000.0, 950))));
        assert_eq!(warn.status, Status::Warning);
        assert!(
            warn.text
                .ends_with("15m 10s to spare, inside the margin of 15m 50s"),
            "{}",
            warn.text
        );
        let late = ev(&migration_snap(100.0, 10.0, t, Some((50.0, 600))));
        assert_eq!(late.status, Status::Critical);
        assert!(
            late.text.ends_with(": projected 40s after it"),
            "{}",
            late.text
        );
        assert_eq!(late.value, Some(-40.0));
        let stalled = ev(&migration_snap(100.0, 0.0, t, Some((1000.0, 600))));
        assert_eq!(stalled.status, Status::Critical);
        assert!(
            stalled.text.starts_with(
                "files 10% at 0 files/s: no progress, 99.9% is never reached at this rate"
            ),
            "{}",
            stalled.text
        );
        assert!(
            stalled.text.ends_with("the copy makes no progress"),
            "{}",
            stalled.text
        );
        // Without dday: UNKNOWN, saying so; reached needs no D-day.
        let no_dday = ev(&migration_snap(100.0, 10.0, t, None));
        assert_eq!(no_dday.status, Status::Unknown);
        assert!(
            no_dday
                .text
                .ends_with("D-day is not configured (dday.at): the projection cannot be judged"),
            "{}",
            no_dday.text
        );
        assert!(
            no_dday.text.contains("projected 2027-01-15T08:01:30Z"),
            "{}",
            no_dday.text
        );
        let done = ev(&migration_snap(999.0, 0.0, t, None));
        assert_eq!(done.status, Status::Ok);
        assert_eq!(
            done.text,
            "files 99.9%: target 99.9% reached. bytes 99.9%: target 99.9% reached"
        );
        // One measure only.
        let d = def("- {name: M, source: migration, kind: migration, labels: {by: bytes}}\n");
        let only = evaluate(
            &d,
            "copy",
            Some(&migration_snap(100.0, 10.0, t, Some((1000.0, 600)))),
            StdDuration::from_secs(1e9 as u64),
            t as i64,
        );
        assert!(only.text.starts_with("bytes 10%"), "{}", only.text);
        // Thresholds come from dday:, and only the migration source has this kind.
        let e = parse_list(
            Path::new("c.yaml"),
            "- {name: M, source: migration, kind: migration, warning: \"1:\"}\n",
            "",
        )
        .unwrap_err();
        assert!(e[0].contains("set them in dday:"), "{e:?}");
        let e = parse_list(
            Path::new("c.yaml"),
            "- {name: M, source: mysql, kind: migration}\n",
            "",
        )
        .unwrap_err();
        assert!(e[0].contains("run on the migration source"), "{e:?}");
    }

    /// A served chain as the tls source reports it: the leaf for storage.example.com with
    /// `days` left, an intermediate and a root (each `(days left, hash)`), judged at `now`.
    fn chain_facts(
        now: i64,
        leaf: (i64, &'static str),
        intermediate: (i64, &'static str),
        root: (i64, &'static str),
    ) -> crate::sources::tls::CertFacts {
        use crate::sources::tls::{CertFacts, ChainCert, Role};
        let alg = |h: &str| match h {
            "sha1" => "sha1WithRSAEncryption".to_owned(),
            h => format!("{h}WithRSAEncryption"),
        };
        let cert =
            |position: usize, role, cn: &str, issuer: &str, (days, hash): (i64, &'static str)| {
                ChainCert {
                    position,
                    role,
                    subject_cn: cn.into(),
                    subject: format!("CN={cn}"),
                    issuer_cn: issuer.into(),
                    issuer: format!("CN={issuer}"),
                    serial: format!("0{position}"),
                    not_before: now - 86_400,
                    not_after: now + days * 86_400 + 3600,
                    signature_algorithm: alg(hash),
                    signature_hash: hash,
                }
            };
        let chain = vec![
            cert(
                0,
                Role::Leaf,
                "storage.example.com",
                "Headroom Test Intermediate",
                leaf,
            ),
            cert(
                1,
                Role::Intermediate,
                "Headroom Test Intermediate",
                "Headroom Test Root",
                intermediate,
            ),
            cert(
                2,
                Role::Root,
                "Headroom Test Root",
                "Headroom Test Root",
                root,
            ),
        ];
        CertFacts {
            server_name: "storage.example.com".into(),
            subject_cn: "storage.example.com".into(),
            subject: "CN=storage.example.com".into(),
            issuer: "CN=Headroom Test Intermediate".into(),
            sans: vec!["storage.example.com".into()],
            serial: "00".into(),
            not_before: chain[0].not_before,
            not_after: chain[0].not_after,
            signature_algorithm: chain[0].signature_algorithm.clone(),
            trusted: true,
            trust_checked: true,
            hostname_match: true,
            trust_error: None,
            handshake_seconds: 0.01,
            chain,
            ocsp: None,
        }
    }

    fn judge(def: &CheckDef, f: &crate::sources::tls::CertFacts, now: i64) -> Evaluation {
        let s = TargetSnapshot {
            source: crate::sources::tls::KIND,
            target: Arc::from("storage"),
            families: crate::sources::tls::families(f, now),
            taken_at: SystemTime::now(),
            error: None,
        };
        evaluate(def, "storage", Some(&s), StdDuration::from_secs(60), now)
    }

    #[test]
    fn certificate_chain_earliest_expiry_weak_signatures_and_ocsp() {
        use crate::sources::tls::ocsp::{CertStatus, Response};
        let now = crate::time::unix_now();
        let d =
            def("- {name: C, source: tls, kind: certificate, warning: '30:', critical: '3:'}\n");
        // A healthy chain keeps the seed's line, whatever the root's own signature.
        let healthy = chain_facts(now, (461, "sha256"), (1000, "sha256"), (3000, "sha1"));
        let ok = judge(&d, &healthy, now);
        assert_eq!(
            ok.line(),
            format!(
                "OK: 461 days remaining for 'storage.example.com'. Certificate Expires: '{}'. Hash algorithm: sha256WithRSAEncryption | 'days_remaining'=461;30:;3:",
                openssl_date(healthy.not_after)
            )
        );
        // The intermediate expires first: its days, its name and position.
        let f = chain_facts(now, (365, "sha256"), (5, "sha384"), (3000, "sha256"));
        let warn = judge(&d, &f, now);
        assert_eq!(warn.status, Status::Warning);
        assert_eq!(
            warn.text,
            format!(
                "5 days remaining for intermediate 'Headroom Test Intermediate' (chain position 1) of 'storage.example.com'. Certificate Expires: '{}'. Hash algorithm: sha384WithRSAEncryption",
                openssl_date(f.chain[1].not_after)
            )
        );
        assert_eq!(warn.value, Some(5.0));
        // Expired: CRITICAL, and still named.
        let mut f = chain_facts(now, (365, "sha256"), (0, "sha256"), (3000, "sha256"));
        f.chain[1].not_after = now - 2 * 86_400 - 60;
        let expired = judge(&d, &f, now);
        assert_eq!(expired.status, Status::Critical);
        assert!(
            expired.text.starts_with("Certificate EXPIRED 2 days ago for intermediate 'Headroom Test Intermediate' (chain position 1) of 'storage.example.com'. Certificate Expired: '"),
            "{}",
            expired.text
        );
        // SHA-1 on the leaf or an intermediate: CRITICAL naming it; on the root: nothing.
        let f = chain_facts(now, (461, "sha1"), (1000, "md5"), (3000, "sha1"));
        let weak = judge(&d, &f, now);
        assert_eq!(weak.status, Status::Critical);
        assert!(
            weak.text.ends_with(". Weak signature: leaf 'storage.example.com' signed with SHA-1 (sha1WithRSAEncryption), intermediate 'Headroom Test Intermediate' (chain position 1) signed with MD5 (md5WithRSAEncryption)"),
            "{}",
            weak.text
        );
        // OCSP: revoked is CRITICAL with the time and reason; unknown, stale and unreadable
        // are WARNING; good adds nothing.
        let staple = |status, next: i64| {
            let mut f = healthy.clone();
            f.ocsp = Some(Ok(Response {
                status,
                produced_at: now - 60,
                this_update: now - 60,
                next_update: Some(now + next),
            }));
            judge(&d, &f, now)
        };
        assert_eq!(staple(CertStatus::Good, 86_400).line(), ok.line());
        let revoked = staple(
            CertStatus::Revoked {
                at: 1_704_067_200,
                reason: Some("keyCompromise"),
            },
            86_400,
        );
        assert_eq!(revoked.status, Status::Critical);
        assert!(
            revoked.text.ends_with("Hash algorithm: sha256WithRSAEncryption. OCSP: certificate revoked since 'Jan  1 00:00:00 2024 GMT' (keyCompromise)"),
            "{}",
            revoked.text
        );
        let unknown = staple(CertStatus::Unknown, 86_400);
        assert_eq!(unknown.status, Status::Warning);
        assert!(
            unknown.text.ends_with("(status unknown)"),
            "{}",
            unknown.text
        );
        let stale = staple(CertStatus::Good, -60);
        assert_eq!(stale.status, Status::Warning);
        assert!(
            stale
                .text
                .contains("OCSP: the stapled response is stale since '"),
            "{}",
            stale.text
        );
        let mut f = healthy.clone();
        f.ocsp = Some(Err("truncated".into()));
        let unreadable = judge(&d, &f, now);
        assert_eq!(unreadable.status, Status::Warning);
        assert!(
            unreadable
                .text
                .ends_with("OCSP: the stapled response is unreadable")
        );
        // Trust not verified (verify: false): no trust judgement, the rest as before.
        let mut f = healthy.clone();
        f.trust_checked = false;
        f.trusted = false;
        assert_eq!(judge(&d, &f, now).line(), ok.line());
        f.trust_checked = true;
        f.trust_error = Some("unknown issuer".into());
        let untrusted = judge(&d, &f, now);
        assert_eq!(untrusted.status, Status::Critical);
        assert!(
            untrusted
                .text
                .ends_with(". Certificate chain not trusted: unknown issuer")
        );
        // An intermediate not yet valid.
        let mut f = healthy.clone();
        f.chain[1].not_before = now + 86_400;
        let early = judge(&d, &f, now);
        assert_eq!(early.status, Status::Critical);
        assert!(early.text.contains(". Certificate intermediate 'Headroom Test Intermediate' (chain position 1) not valid before '"), "{}", early.text);
    }
}
