//! Binding: which targets each check definition runs on, and for a per-resource check,
//! which resources of a target's snapshot it makes a check for.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::def::{CheckDef, CheckKind, PerHost};
use crate::sources::SourceConfig;
use crate::store::TargetSnapshot;

/// A check that names a source this build or this config does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactiveCheck {
    pub name: String,
    pub source: String,
    pub reason: String,
}

/// A check bound to one target: what the engine schedules.
#[derive(Debug, Clone)]
pub struct Instance {
    pub def: Arc<CheckDef>,
    /// The host the check reports as: the target's name, or for a per-resource check the
    /// resource's label values.
    pub host: Arc<str>,
    /// The target whose snapshot the check reads.
    pub target: Arc<str>,
    /// Label values of the resource, for a per-resource check.
    pub filter: Vec<(String, String)>,
    /// A per-resource check's template: not evaluated itself, it makes one instance per
    /// resource found in the target's snapshot.
    pub template: bool,
    pub interval: StdDuration,
    pub retry: StdDuration,
    pub max_age: StdDuration,
    /// How often the target is polled: how early a poll's fresh data may be judged, and how
    /// long past due the engine waits for it (see `Engine::tick`).
    pub poll_interval: StdDuration,
}

/// Binds every active check to the targets it runs on.
pub fn instances(
    defs: &[CheckDef],
    targets: &[crate::sources::Target],
) -> (Vec<Instance>, Vec<InactiveCheck>) {
    let mut out = Vec::new();
    let mut inactive = Vec::new();
    for d in defs {
        let d = Arc::new(d.clone());
        let mine: Vec<&crate::sources::Target> = targets
            .iter()
            .filter(|t| t.kind() == d.source)
            .filter(|t| {
                d.targets
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n.as_str() == &*t.name))
            })
            .filter(|t| judges(&d, &t.source))
            .collect();
        if mine.is_empty() {
            inactive.push(InactiveCheck {
                name: d.name.clone(),
                source: d.source.as_str().into(),
                reason: match &d.targets {
                    Some(names) => {
                        format!("none of its targets ({}) is configured", names.join(", "))
                    }
                    None if d.kind == CheckKind::ReadOnly => format!(
                        "no {} target has a `role:` with a `dday:` phase to expect read_only from",
                        d.source
                    ),
                    None => format!("no {} target is configured", d.source),
                },
            });
            continue;
        }
        for t in mine {
            out.push(Instance {
                def: d.clone(),
                host: t.name.clone(),
                target: t.name.clone(),
                filter: Vec::new(),
                template: !d.per.is_empty(),
                interval: d.check_interval.unwrap_or(t.interval),
                retry: d.retry_interval.unwrap_or(t.interval),
                max_age: d.max_age.unwrap_or(t.interval * 3 + t.timeout),
                poll_interval: t.interval,
            });
        }
    }
    (out, inactive)
}

/// Whether a target has what the check judges: the read-only check needs a target with a
/// read-only plan (a `role:` and a `dday:` phase); a metric check needs a target that can
/// export its series with its labels (its source says which: an http target that sends no
/// PUT never has a PUT latency); every other check runs on every target of its source.
fn judges(def: &CheckDef, target: &SourceConfig) -> bool {
    match (def.kind, target) {
        (CheckKind::ReadOnly, SourceConfig::Mysql(s)) => s.read_only_plan.is_some(),
        (CheckKind::ReadOnly, _) => false,
        (CheckKind::Metric, _) => target.may_export(&def.metric, &def.labels),
        _ => true,
    }
}

/// The resources a per-resource check runs on in a snapshot: the distinct values of its
/// `per` labels among the series of its metric that match its labels, each as (host name,
/// label matchers). With `per_host: target` the host is `<target>/<values>` (the target for
/// empty values), and a target without any resource gets one, named after it, with empty
/// values.
pub fn resources(def: &CheckDef, snap: &TargetSnapshot) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = found(def, snap);
    if def.per_host == PerHost::Target && out.is_empty() {
        let empty = def.per.iter().map(|p| (p.clone(), String::new())).collect();
        out.push((snap.target.to_string(), empty));
    }
    out
}

fn found(def: &CheckDef, snap: &TargetSnapshot) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for s in snap
        .families
        .iter()
        .filter(|f| f.name == def.metric)
        .flat_map(|f| &f.samples)
    {
        let matches = def
            .labels
            .iter()
            .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v));
        if !matches {
            continue;
        }
        let values: Option<Vec<(String, String)>> = def
            .per
            .iter()
            .map(|p| {
                s.labels
                    .iter()
                    .find(|(k, _)| k == p)
                    .map(|(k, v)| (k.to_string(), v.clone()))
            })
            .collect();
        let Some(values) = values
            .filter(|v| def.per_host == PerHost::Target || v.iter().all(|(_, x)| !x.is_empty()))
        else {
            continue;
        };
        let joined = values
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("-");
        let host = match def.per_host {
            PerHost::Values => joined,
            PerHost::Target if values.iter().all(|(_, x)| x.is_empty()) => snap.target.to_string(),
            PerHost::Target => format!("{}/{joined}", snap.target),
        };
        if !out.iter().any(|(h, _)| *h == host) {
            out.push((host, values));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Kind};
    use std::time::SystemTime;

    fn snap(target: &str, channels: &[&str]) -> TargetSnapshot {
        let mut f = Family::new("headroom_mysql_replica_io_running", "", Kind::Gauge);
        for c in channels {
            f.push("channel", *c, 1.0);
        }
        TargetSnapshot {
            source: crate::sources::mysql::KIND,
            target: Arc::from(target),
            families: vec![f],
            taken_at: SystemTime::now(),
            error: None,
        }
    }

    #[test]
    fn replication_connections_are_hosts_of_their_target() {
        let def = crate::check::def::shipped()
            .into_iter()
            .find(|d| d.name == "MYSQL_REPLICA_RUNNING")
            .unwrap();
        let hosts =
            |s: &TargetSnapshot| -> Vec<(String, Vec<(String, String)>)> { resources(&def, s) };
        let ch = |v: &str| vec![("channel".to_owned(), v.to_owned())];
        // MariaDB's default connection is the target itself; a named one is <target>/<name>.
        assert_eq!(
            hosts(&snap("db-1", &["", "aws"])),
            vec![
                ("db-1".to_owned(), ch("")),
                ("db-1/aws".to_owned(), ch("aws"))
            ]
        );
        // Two targets with a channel of the same name never share a host.
        assert_eq!(
            hosts(&snap("db-2", &["aws"])),
            vec![("db-2/aws".to_owned(), ch("aws"))]
        );
        // Not a replica: one check on the target, which finds no connection.
        assert_eq!(hosts(&snap("db-3", &[])), vec![("db-3".to_owned(), ch(""))]);
    }
}
