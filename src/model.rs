//! The data model the pollers produce and everything above them reads: metric families and
//! their samples, which source a target belongs to, and why a poll failed. Bottom layer: it
//! imports nothing of the crate.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter. The family name is given without `_total`; the encoder appends it.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Untyped, as mysqld_exporter exports the generic `SHOW GLOBAL STATUS` variables.
    Untyped,
    /// An info metric: value 1, the information is in the labels. The name is given without
    /// `_info`; the encoder appends it.
    Info,
    /// A classic Prometheus histogram, the family's name without `_bucket`. Each series is
    /// one sample per bucket, labelled `le` with the bucket's upper bound (`0.005`, ...,
    /// `+Inf` last) and valued with the cumulative count, then one sample with the same
    /// labels and no `le`: the sum of the observations. The encoder writes `_bucket`, `_sum`
    /// and `_count` (the `+Inf` bucket's count).
    Histogram,
}

/// How many names [`intern`] keeps at most. The MySQL source makes about 1,100 (one per
/// numeric status and global variable of a server version), a few versions' worth fit.
pub const MAX_INTERNED: usize = 16_384;

/// `name`, made at run time (a MySQL status or variable under its prefix), as a name kept
/// for the life of the process: a poller that makes the same few hundred names every poll
/// then allocates, copies and frees none of them, when it makes a family, when the family
/// is copied and when it is dropped. Past [`MAX_INTERNED`] names, a new one is an owned copy,
/// so a server that reports a new name every poll cannot grow the set without bound.
pub fn intern(name: &str) -> Cow<'static, str> {
    static NAMES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::LazyLock::new(Default::default);
    let mut names = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(kept) = names.get(name) {
        return Cow::Borrowed(kept);
    }
    if names.len() >= MAX_INTERNED {
        return Cow::Owned(name.to_owned());
    }
    let kept: &'static str = Box::leak(name.into());
    names.insert(kept);
    Cow::Borrowed(kept)
}

/// Names made from keys by one fixed rule (a prefix and the key's characters made valid),
/// kept by key: a poller that reads the same keys every poll looks each name up instead of
/// making it again and then looking it up in [`intern`]'s set. Bounded like [`intern`]: past
/// [`MAX_INTERNED`] keys, a name is made and interned, not kept by key.
#[derive(Debug)]
pub struct NamesByKey {
    names: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<Box<str>, &'static str>>>,
}

impl NamesByKey {
    pub const fn new() -> Self {
        NamesByKey {
            names: std::sync::LazyLock::new(Default::default),
        }
    }

    /// The name of `key`: the kept one, else `make(key, buffer)` interned. `make` must give
    /// the same name for the same key every time (the rule of this set).
    pub fn get(&self, key: &str, make: impl FnOnce(&str, &mut String)) -> Cow<'static, str> {
        let mut names = self
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&kept) = names.get(key) {
            return Cow::Borrowed(kept);
        }
        let mut made = String::with_capacity(64);
        make(key, &mut made);
        let name = intern(&made);
        if let Cow::Borrowed(kept) = name
            && names.len() < MAX_INTERNED
        {
            names.insert(key.into(), kept);
        }
        name
    }
}

impl Default for NamesByKey {
    fn default() -> Self {
        Self::new()
    }
}

/// One series of a family: its own labels (the store adds `target`) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(Cow<'static, str>, String)>,
    pub value: f64,
}

/// The samples of a family: one is kept in place, so that most families (a counter or a
/// gauge without labels of its own, some 900 in a MySQL poll) take no allocation of their
/// own to build, copy or drop.
pub type Samples = smallvec::SmallVec<[Sample; 1]>;

/// A metric family as a poller produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: Kind,
    pub samples: Samples,
}

impl Family {
    /// A family with a single series without labels of its own.
    pub fn single(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
        value: f64,
    ) -> Self {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: smallvec::smallvec![Sample {
                labels: Vec::new(),
                value,
            }],
        }
    }

    /// An empty family to push labelled samples into.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> Self {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Samples::new(),
        }
    }

    /// Adds a series with one label.
    pub fn push(&mut self, key: &'static str, value: impl Into<String>, v: f64) {
        self.samples.push(Sample {
            labels: vec![(Cow::Borrowed(key), value.into())],
            value: v,
        });
    }
}

/// The value of the first series of `name` in `families` whose labels include all of
/// `labels`.
pub fn find_value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .iter()
        .filter(|f| f.name == name)
        .flat_map(|f| f.samples.iter())
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
}

/// Which source a target belongs to: its name (the config section and the `source` label) and
/// its `up` metric. Each source declares its own as a constant (`memcached::KIND`); the list
/// of sources (`sources::KINDS`) holds them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceKind {
    name: &'static str,
    up: &'static str,
}

impl SourceKind {
    pub const fn new(name: &'static str, up_metric: &'static str) -> Self {
        SourceKind {
            name,
            up: up_metric,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.name
    }

    /// The exporter-compatible `up` metric of this source (`memcached_up`, `mysql_up`), which
    /// is all a failed poll leaves in the snapshot.
    pub fn up_metric(self) -> &'static str {
        self.up
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl EncodeLabelValue for SourceKind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.name)
    }
}

/// Why a poll failed, in the bounded set used as the `kind` label of
/// `headroom_poll_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The poll did not finish within its timeout.
    Timeout,
    /// The target could not be reached (refused, unreachable, TLS or DNS failure).
    Connect,
    /// The target refused the credentials or the privileges.
    Auth,
    /// The target answered, but not with what was expected.
    Protocol,
    /// The API refused the call for its rate (AWS throttling), after the SDK's retries.
    Throttled,
    /// The source answered but holds nothing to compute from yet (a capacity model before
    /// its database has a minute of history).
    NoData,
    /// The TLS layer failed: an untrusted or mismatched certificate, a refused client
    /// certificate, or a server without TLS where TLS is required.
    Tls,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Auth,
        ErrorKind::Protocol,
        ErrorKind::Throttled,
        ErrorKind::NoData,
        ErrorKind::Tls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Auth => "auth",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Throttled => "throttled",
            ErrorKind::NoData => "no_data",
            ErrorKind::Tls => "tls",
        }
    }
}

impl EncodeLabelValue for ErrorKind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

/// A failed poll: its kind and a message fit for logs and the status page. Messages are
/// built from addresses and server replies, never from credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}", kind = .kind.as_str())]
pub struct PollError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PollError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PollError {
            kind,
            message: message.into(),
        }
    }
}

/// A target: its name, its schedule and its source's settings `S`. The list of sources
/// (`sources::Target`) has `S` = every source's settings; a discovering source returns the
/// targets it found with its own type of settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetOf<S> {
    pub name: Arc<str>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Where the target is: its AWS region, or the `region:` of its config entry (a
    /// discovered target inherits its parent's). The `region` label of
    /// `headroom_target_info`, which dashboards select targets by.
    pub region: Option<Arc<str>>,
    pub source: S,
}

impl<S> TargetOf<S> {
    /// The same target with its settings turned into another type.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> TargetOf<T> {
        TargetOf {
            name: self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region,
            source: f(self.source),
        }
    }
}

/// What one successful poll gives. `D` is the settings of the targets the source discovers
/// (`Infallible` for a source that discovers none).
#[derive(Debug)]
pub struct Polled<D = Infallible> {
    /// The target's metric families (without the `target` label, which the store adds).
    pub families: Vec<Family>,
    /// For a source that discovers other targets (ElastiCache nodes, ELB listeners): the
    /// complete set it found this time, named relative to this target (the scheduler puts
    /// `<this target>/` in front). `None` for sources that discover nothing.
    pub discovered: Option<Vec<TargetOf<D>>>,
}

impl<D> From<Vec<Family>> for Polled<D> {
    fn from(families: Vec<Family>) -> Self {
        Polled {
            families,
            discovered: None,
        }
    }
}

/// What every source implements: fetch and parse once.
pub trait Poller: Send + Sync {
    /// The settings of the targets this source discovers.
    type Discovered;
    /// Polls the target once.
    fn poll(&self) -> impl Future<Output = Result<Polled<Self::Discovered>, PollError>> + Send;
    /// Releases connections before the target goes away.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_by_key_is_made_once() {
        let names = NamesByKey::new();
        let made = std::cell::Cell::new(0);
        let rule = |key: &str, name: &mut String| {
            made.set(made.get() + 1);
            name.push_str("names_by_key_test_");
            name.push_str(key);
        };
        let first = names.get("a", rule);
        assert_eq!(first, "names_by_key_test_a");
        let again = names.get("a", rule);
        assert_eq!(again, "names_by_key_test_a");
        match (first, again) {
            // Kept: the rule ran once, and both are the one interned copy.
            (Cow::Borrowed(a), Cow::Borrowed(b)) => {
                assert!(std::ptr::eq(a, b));
                assert_eq!(made.get(), 1);
            }
            // The interned set was full (another test fills it): nothing is kept by key.
            (Cow::Owned(_), Cow::Owned(_)) => assert_eq!(made.get(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(names.get("b", rule), "names_by_key_test_b");
    }

    #[test]
    fn an_interned_name_is_kept_once_and_the_set_is_bounded() {
        let a = intern("mysql_global_status_intern_test");
        let b = intern(&String::from("mysql_global_status_intern_test"));
        let (Cow::Borrowed(a), Cow::Borrowed(b)) = (a, b) else {
            panic!("interned names are borrowed");
        };
        assert_eq!(a, "mysql_global_status_intern_test");
        assert!(std::ptr::eq(a, b), "one copy of the name");
        // Fill the set (other tests' names count too), then a new name is an owned copy and
        // a kept one is still borrowed.
        for i in 0..MAX_INTERNED {
            let _ = intern(&format!("intern_test_fill_{i}"));
        }
        assert!(
            matches!(intern("intern_test_past_the_cap"), Cow::Owned(n) if n == "intern_test_past_the_cap")
        );
        assert!(matches!(
            intern("mysql_global_status_intern_test"),
            Cow::Borrowed(_)
        ));
    }
}
