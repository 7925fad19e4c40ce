//! Binding: which targets each check definition runs on, and for a per-resource check,
//! which resources of a target's snapshot it makes a check for.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::def::CheckDef;
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
            .collect();
        if mine.is_empty() {
            inactive.push(InactiveCheck {
                name: d.name.clone(),
                source: d.source.as_str().into(),
                reason: match &d.targets {
                    Some(names) => {
                        format!("none of its targets ({}) is configured", names.join(", "))
                    }
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
            });
        }
    }
    (out, inactive)
}

/// The resources a per-resource check runs on in a snapshot: the distinct values of its
/// `per` labels among the series of its metric that match its labels, each as (host name,
/// label matchers).
pub fn resources(def: &CheckDef, snap: &TargetSnapshot) -> Vec<(String, Vec<(String, String)>)> {
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
        let Some(values) = values.filter(|v| v.iter().all(|(_, x)| !x.is_empty())) else {
            continue;
        };
        let host = values
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("-");
        if !out.iter().any(|(h, _)| *h == host) {
            out.push((host, values));
        }
    }
    out
}
