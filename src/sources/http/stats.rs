//! The pure parts of the http source: the set of expected status codes, the bounded failure
//! reasons and phases, the latency histograms and the window of samples the latency checks'
//! percentiles come from. Nothing here touches the network or the clock: times are given.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// The buckets of `headroom_http_request_duration_seconds`, in seconds: from a request on the
/// same LAN (5 ms) to one across an ocean on a bad day (10 s), as WAN latency spreads.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The quantiles of `headroom_http_request_duration_window_seconds`, with the `percentile`
/// label each gets. Not `quantile`: Prometheus' exposition format reserves that label for
/// summaries (promtool's lint says so), and these are gauges of a sliding window.
pub const QUANTILES: [(f64, &str); 4] = [(0.5, "50"), (0.9, "90"), (0.95, "95"), (0.99, "99")];

/// Status codes a response may have to pass: single codes (`200`), classes (`2xx`) and
/// inclusive ranges (`200-299`), as blackbox_exporter's `valid_status_codes` lists codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    /// Any 2xx, blackbox_exporter's default.
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    /// Parses the items of `valid_status_codes`; an error names the item.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in items {
            let item = item.trim();
            let code = |s: &str| -> Result<u16, String> {
                s.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| {
                        format!("{item:?} is not a status code (100 to 599), a class like 2xx or a range like 200-299")
                    })
            };
            let range =
                if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
                    let c = code(&format!("{class}00"))?;
                    (c, c + 99)
                } else if let Some((lo, hi)) = item.split_once('-') {
                    let (lo, hi) = (code(lo)?, code(hi)?);
                    if lo > hi {
                        return Err(format!("{item:?}: the range's start is above its end"));
                    }
                    (lo, hi)
                } else {
                    let c = code(item)?;
                    (c, c)
                };
            out.push(range);
        }
        if out.is_empty() {
            return Err("the list is empty: give at least one code (default 2xx)".into());
        }
        Ok(StatusSet(out))
    }

    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| match (lo, hi) {
                (lo, hi) if lo == hi => lo.to_string(),
                (lo, hi) if lo % 100 == 0 && hi == lo + 99 => format!("{}xx", lo / 100),
                (lo, hi) => format!("{lo}-{hi}"),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Why a request failed: the bounded `reason` label of
/// `headroom_http_request_failures_total` and `headroom_http_roundtrip_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The name did not resolve (or not to an address of the `ip_version` asked for).
    Resolve,
    /// The TCP connection was refused or could not be made.
    Connect,
    /// The TLS handshake failed (untrusted certificate, wrong name, protocol).
    Tls,
    /// The target's timeout ran out before the response's end.
    Timeout,
    /// The status code is not among the expected ones.
    Status,
    /// A round trip's GET returned other bytes than its PUT stored.
    BodyMismatch,
    /// The body does not match `fail_if_body_not_matches`.
    Regex,
    /// A redirect led back to a URL already visited, or past `max_redirects`.
    RedirectLoop,
    /// The server broke HTTP/1.1 (or the connection closed mid-response).
    Protocol,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::Resolve,
        Reason::Connect,
        Reason::Tls,
        Reason::Timeout,
        Reason::Status,
        Reason::BodyMismatch,
        Reason::Regex,
        Reason::RedirectLoop,
        Reason::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Resolve => "resolve",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Timeout => "timeout",
            Reason::Status => "status",
            Reason::BodyMismatch => "body_mismatch",
            Reason::Regex => "regex",
            Reason::RedirectLoop => "redirect_loop",
            Reason::Protocol => "protocol",
        }
    }
}

/// The phases of one request, as blackbox_exporter names them in
/// `probe_http_duration_seconds{phase}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Name resolution.
    Resolve,
    /// The TCP handshake.
    Connect,
    /// The TLS handshake (0 on plain HTTP).
    Tls,
    /// From the request being sent to the response's first byte (its headers).
    Processing,
    /// From the response's first byte to the end of its body.
    Transfer,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Tls,
        Phase::Processing,
        Phase::Transfer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Processing => "processing",
            Phase::Transfer => "transfer",
        }
    }

    /// How a status text says where a request was when it stalled.
    pub fn waiting_for(self) -> &'static str {
        match self {
            Phase::Resolve => "resolving the name",
            Phase::Connect => "connecting",
            Phase::Tls => "in the TLS handshake",
            Phase::Processing => "waiting for the response's first byte",
            Phase::Transfer => "reading the body",
        }
    }
}

/// Cumulative counts of observations in [`BUCKETS`] (and `+Inf`), and their sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bucket's bound, then the total (`+Inf`).
    pub cumulative: [u64; BUCKETS.len() + 1],
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.cumulative[i] += 1;
            }
        }
        self.cumulative[BUCKETS.len()] += 1;
        self.sum += seconds;
    }

    pub fn count(&self) -> u64 {
        self.cumulative[BUCKETS.len()]
    }
}

/// The `total` latencies of one method over the target's `window:`, for its percentiles.
#[derive(Debug, Clone, Default)]
pub struct Window {
    samples: VecDeque<(Instant, f64)>,
}

impl Window {
    /// Adds a sample taken at `at` and forgets those older than `span` before `at`.
    pub fn push(&mut self, at: Instant, seconds: f64, span: Duration) {
        self.samples.push_back((at, seconds));
        self.expire(at, span);
    }

    /// Forgets the samples older than `span` before `now`.
    pub fn expire(&mut self, now: Instant, span: Duration) {
        while let Some(&(t, _)) = self.samples.front() {
            if now.saturating_duration_since(t) > span {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `q` quantile (0 < q <= 1) by the nearest-rank method: the smallest sample with at
    /// least `q` of the samples at or below it. `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut sorted: Vec<f64> = self.samples.iter().map(|(_, s)| *s).collect();
        sorted.sort_by(f64::total_cmp);
        nearest_rank(&sorted, q)
    }
}

/// The nearest-rank quantile of sorted values: the value of rank ceil(q * n).
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A window's span as its label shows it: `5m`, `1h`, `90s`.
pub fn span_text(d: Duration) -> String {
    let (ms, s) = (d.as_millis(), d.as_secs());
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if s > 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s > 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Where two bodies first differ, for a round trip's reason: `None` when they are equal.
pub fn first_difference(expected: &[u8], got: &[u8]) -> Option<usize> {
    if expected == got {
        return None;
    }
    Some(
        expected
            .iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(got.len())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_take_codes_classes_and_ranges() {
        let s = StatusSet::parse(["200", "3xx", "401-403"]).unwrap();
        for (code, yes) in [
            (200, true),
            (201, false),
            (301, true),
            (399, true),
            (400, false),
            (401, true),
            (403, true),
            (404, false),
        ] {
            assert_eq!(s.contains(code), yes, "{code}");
        }
        assert_eq!(s.to_string(), "200, 3xx, 401-403");
        assert!(StatusSet::default().contains(204));
        assert!(!StatusSet::default().contains(500));
        assert_eq!(StatusSet::default().to_string(), "2xx");
        assert!(StatusSet::parse(["2000"]).unwrap_err().contains("\"2000\""));
        assert!(StatusSet::parse(["9xx"]).is_err());
        assert!(StatusSet::parse(["299-200"]).unwrap_err().contains("above"));
        assert!(StatusSet::parse([]).is_err());
    }

    #[test]
    fn nearest_rank_quantiles() {
        // 1..=100: the p95 is the 95th value, the median the 50th.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.95), Some(95.0));
        assert_eq!(nearest_rank(&v, 0.5), Some(50.0));
        assert_eq!(nearest_rank(&v, 0.99), Some(99.0));
        // Few samples: the p99 of 3 is the largest.
        assert_eq!(nearest_rank(&[0.1, 0.2, 0.3], 0.99), Some(0.3));
        assert_eq!(nearest_rank(&[0.1, 0.2, 0.3], 0.5), Some(0.2));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn window_forgets_old_samples() {
        let t0 = Instant::now();
        let span = Duration::from_secs(300);
        let mut w = Window::default();
        w.push(t0, 5.0, span);
        for i in 1..=9 {
            w.push(t0 + Duration::from_secs(i * 30), 0.1 * i as f64, span);
        }
        // At 270 s every sample is inside the 5 minutes: the slow first one is the p99.
        assert_eq!(w.len(), 10);
        assert_eq!(w.quantile(0.99), Some(5.0));
        // At 330 s the first (t0) is more than 5 minutes old.
        w.push(t0 + Duration::from_secs(330), 0.2, span);
        assert_eq!(w.len(), 10);
        assert!((w.quantile(0.99).unwrap() - 0.9).abs() < 1e-9);
        w.expire(t0 + Duration::from_secs(10_000), span);
        assert!(w.is_empty());
        assert_eq!(w.quantile(0.5), None);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        for s in [0.003, 0.02, 0.02, 7.0, 12.0] {
            h.observe(s);
        }
        assert_eq!(h.cumulative[0], 1); // <= 0.005
        assert_eq!(h.cumulative[2], 3); // <= 0.025
        assert_eq!(h.cumulative[BUCKETS.len() - 1], 4); // <= 10
        assert_eq!(h.count(), 5);
        assert!((h.sum - 19.043).abs() < 1e-9);
    }

    #[test]
    fn spans_read_as_written() {
        assert_eq!(span_text(Duration::from_secs(300)), "5m");
        assert_eq!(span_text(Duration::from_secs(7200)), "2h");
        assert_eq!(span_text(Duration::from_secs(90)), "90s");
        assert_eq!(span_text(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn first_difference_names_the_byte() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"ab"), Some(2));
        assert_eq!(first_difference(b"", b"x"), Some(0));
    }
}
