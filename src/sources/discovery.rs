//! Targets that one source finds for another: the nodes of an ElastiCache cluster become
//! memcached targets, the HTTPS listeners of a load balancer become certificate (tls) targets.
//!
//! A discovering poller returns the complete set it found in [`super::Polled::discovered`],
//! each named relative to itself; the scheduler names them `<parent>/<relative name>`, starts
//! the new ones, stops the vanished ones (their series go with them) and keeps them while the
//! parent's polls fail, so an API outage does not make every node disappear.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use crate::config::{Duration, Validator};
use crate::model::TargetOf;

use super::aws::cloudwatch;
use super::{memcached, tls};

/// The settings of a target one source finds for another.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// An ElastiCache memcached node.
    Memcached(memcached::Settings),
    /// The certificate of a load balancer's TLS listener.
    Tls(tls::Settings),
    /// The CloudWatch metrics of what was found (nodes, load balancers, DB instances).
    Cloudwatch(cloudwatch::Settings),
}

/// How the targets a source discovers are polled (`nodes:` of an `elasticache:` target,
/// `listener_certificates:` of an `elb:` target).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChildren {
    /// Set to false to discover nothing. Default true.
    pub enabled: Option<bool>,
    /// Poll interval of each discovered target. Default: `defaults.interval`.
    pub interval: Option<Duration>,
    /// Poll timeout of each discovered target. Default: `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Connect somewhere else than the discovered address, as curl's `--connect-to` does:
    /// `{"discovered-host:port": "host:port"}` (an SSH tunnel, a NAT, a test). Names used in
    /// TLS (SNI, certificate name) stay the discovered ones.
    #[serde(default)]
    pub connect_to: BTreeMap<String, String>,
}

/// Validated [`RawChildren`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Children {
    pub enabled: bool,
    pub interval: StdDuration,
    pub timeout: StdDuration,
    pub connect_to: BTreeMap<String, String>,
}

impl RawChildren {
    pub fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<Children> {
        let before = v.error_count();
        let (dflt_interval, dflt_timeout) = v.default_schedule();
        let interval = v.positive(&format!("{path}.interval"), self.interval, dflt_interval);
        let timeout = v.positive(&format!("{path}.timeout"), self.timeout, dflt_timeout);
        for (from, to) in &self.connect_to {
            v.address(&format!("{path}.connect_to"), from);
            v.address(&format!("{path}.connect_to"), to);
        }
        (v.error_count() == before).then(|| Children {
            enabled: self.enabled.unwrap_or(true),
            interval,
            timeout,
            connect_to: self.connect_to.clone(),
        })
    }
}

impl Children {
    /// Where to connect for a discovered `host:port`.
    pub fn address(&self, host: &str, port: i32) -> String {
        let discovered = format!("{host}:{port}");
        self.connect_to
            .get(&discovered)
            .cloned()
            .unwrap_or(discovered)
    }

    /// A discovered target named `relative` (the scheduler prefixes the parent's name).
    pub fn target(&self, relative: String, source: Found) -> TargetOf<Found> {
        TargetOf {
            name: Arc::from(relative),
            interval: self.interval,
            timeout: self.timeout,
            // The scheduler gives it its parent's.
            region: None,
            source,
        }
    }
}

/// The sources (by config section) whose targets discover targets of the source `child`:
/// what `headroom check` polls to find a host that no configured target has. Names, not
/// kinds: the discovering sources import this module.
pub fn finders(child: &str) -> &'static [&'static str] {
    match child {
        "memcached" => &["elasticache"],
        "tls" => &["elb", "elbv2", "http"],
        "cloudwatch" => &["elasticache", "elb", "elbv2", "rds"],
        _ => &[],
    }
}

/// The name of a discovered target: its parent's, a slash, its own. Configured names cannot
/// contain a slash, so the two never collide.
pub fn child_name(parent: &str, relative: &str) -> Arc<str> {
    Arc::from(format!("{parent}/{relative}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_maps_only_the_listed_address() {
        let c = Children {
            enabled: true,
            interval: StdDuration::from_secs(15),
            timeout: StdDuration::from_secs(5),
            connect_to: BTreeMap::from([(
                "a.example:11211".to_owned(),
                "127.0.0.1:19411".to_owned(),
            )]),
        };
        assert_eq!(c.address("a.example", 11211), "127.0.0.1:19411");
        assert_eq!(c.address("b.example", 11211), "b.example:11211");
        assert_eq!(c.address("a.example", 11212), "a.example:11212");
    }
}
