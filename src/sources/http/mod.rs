//! The http source: probes of HTTP(S) endpoints and WebDAV servers, one request per poll
//! (GET, HEAD, PUT, DELETE, PROPFIND) or a round trip (PUT a small object with unique
//! content, GET it back and compare byte for byte, DELETE it). Each request is timed by phase
//! (resolve, connect, TLS, processing, transfer) and judged: its status against the expected
//! codes, its body against a regex. Exports blackbox_exporter's `probe_*` gauges of the
//! latest poll, and headroom's own histograms, window percentiles and counters, every series
//! labelled with the agent's `vantage`. An https URL makes the poller return a discovered tls
//! target, so the endpoint's certificate is checked too.
//!
//! `client.rs` is the timed request, `stats.rs` the pure parts (status sets, reasons,
//! histograms, window quantiles).

pub mod client;
pub mod stats;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use serde::Deserialize;
use url::Url;

use crate::config::{CommonTarget, Duration, Secret, Validator};
use crate::model::{
    ErrorKind, Family, Kind, PollError, Polled, Poller, Sample, SourceKind, TargetOf,
};
use crate::sources::discovery::Found;
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use crate::sources::tls;
use client::{Client, Failure, Progress};
use stats::{Histogram, Phase, Reason, StatusSet, Window};

/// The window of the latency percentiles when `window:` is not set.
pub const DEFAULT_WINDOW: StdDuration = StdDuration::from_secs(300);
/// Redirects followed when `max_redirects` is not set (blackbox_exporter follows them too).
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// The body a `method: PUT` target sends when `body:` is not set.
pub const DEFAULT_PUT_BODY: &str = "headroom probe\n";

/// One entry of `http:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// `http://` or `https://` URL. For `method: roundtrip`, the collection the probe object
    /// is written into, ending in `/` (e.g. `https://dav.example.com/dav/probes/`).
    pub url: String,
    /// `GET` (default), `HEAD`, `PUT`, `DELETE`, `PROPFIND` or `roundtrip` (PUT a small
    /// object, GET it back and compare, DELETE it).
    pub method: Option<String>,
    /// Status codes a response must have: codes (`200`), classes (`2xx`) and ranges
    /// (`200-299`), as blackbox_exporter's `valid_status_codes`. Default `[2xx]`. A round
    /// trip applies it to each of its three requests.
    pub valid_status_codes: Option<Vec<StatusCode>>,
    /// Follow redirects (301, 302, 303, 307, 308). Default true.
    pub follow_redirects: Option<bool>,
    /// The most redirects followed before the request fails (`redirect_loop`). Default 10.
    pub max_redirects: Option<u32>,
    /// Basic authentication's user name (RFC 7617); the password from `password_env` or
    /// `password_file`.
    pub user: Option<String>,
    /// Environment variable holding the basic-auth password.
    pub password_env: Option<String>,
    /// File holding the basic-auth password (one trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// Environment variable holding a bearer token (RFC 6750), sent as `Authorization:
    /// Bearer`.
    pub token_env: Option<String>,
    /// File holding a bearer token.
    pub token_file: Option<PathBuf>,
    /// Headers sent with every request, e.g. `{X-Probe: headroom}`. Not `Authorization`
    /// (secrets come from `*_env`/`*_file`) nor `Host`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `4` or `6`: connect only over that IP version. Default: the first address the name
    /// resolves to.
    pub ip_version: Option<u8>,
    /// A regex (Rust `regex` syntax) the body must match, or the request fails (`regex`),
    /// as blackbox_exporter's `fail_if_body_not_matches_regexp`.
    pub fail_if_body_not_matches: Option<String>,
    /// The body of a `method: PUT` request. Default: a short line of text.
    pub body: Option<String>,
    /// PEM file of CA certificates trusted besides the system store, for an https URL.
    pub ca_file: Option<PathBuf>,
    /// For an https URL, also check the endpoint's certificate as a discovered tls target
    /// (`<name>/certificate`). Default true.
    pub certificate: Option<bool>,
    /// The span of the latency percentiles (`headroom_http_request_duration_window_seconds`)
    /// the latency checks judge. Default 5m.
    pub window: Option<Duration>,
    /// Overrides `defaults.interval`.
    pub interval: Option<Duration>,
    /// Overrides `defaults.timeout`: the whole poll (every request of a round trip) must end
    /// within it; a stalled server fails the request with `timeout`.
    pub timeout: Option<Duration>,
    /// Where the target is, e.g. `us-west-2`: the `region` label of `headroom_target_info`.
    pub region: Option<String>,
}

/// An item of `valid_status_codes`: a number or a text (`2xx`, `200-299`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StatusCode {
    Code(u16),
    Text(String),
}

/// What a target does each poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Delete,
    Propfind,
    Roundtrip,
}

impl Method {
    const ALL: [(Method, &'static str); 6] = [
        (Method::Get, "GET"),
        (Method::Head, "HEAD"),
        (Method::Put, "PUT"),
        (Method::Delete, "DELETE"),
        (Method::Propfind, "PROPFIND"),
        (Method::Roundtrip, "roundtrip"),
    ];

    pub fn as_str(self) -> &'static str {
        Method::ALL
            .iter()
            .find(|(m, _)| *m == self)
            .map(|(_, s)| *s)
            .unwrap_or("GET")
    }

    /// The `method` labels a target of this method has.
    fn labels(self) -> &'static [&'static str] {
        match self {
            Method::Roundtrip => &["PUT", "GET", "DELETE"],
            Method::Get => &["GET"],
            Method::Head => &["HEAD"],
            Method::Put => &["PUT"],
            Method::Delete => &["DELETE"],
            Method::Propfind => &["PROPFIND"],
        }
    }
}

/// A compiled `fail_if_body_not_matches`, compared by its text.
#[derive(Debug, Clone)]
pub struct BodyRegex(pub regex::bytes::Regex);

impl PartialEq for BodyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// The `Authorization` a target sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

/// A validated http target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub url: Url,
    pub method: Method,
    pub expect: StatusSet,
    /// `None`: redirects are not followed.
    pub max_redirects: Option<u32>,
    pub auth: Option<Auth>,
    pub headers: Vec<(String, String)>,
    pub ip_version: Option<u8>,
    pub body_regex: Option<BodyRegex>,
    pub body: String,
    pub ca_file: Option<PathBuf>,
    pub certificate: bool,
    pub window: StdDuration,
    /// The target's timeout: the poll's own deadline is a little shorter, so that a stalled
    /// request is reported as such before the scheduler abandons the poll.
    pub timeout: StdDuration,
    /// The `vantage:` of the config: where this agent probes from.
    pub vantage: String,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let at = |field: &str| format!("{path}.{field}");
        let method = match self.method.as_deref() {
            None => Some(Method::Get),
            Some(m) => {
                let found = Method::ALL
                    .iter()
                    .find(|(_, s)| s.eq_ignore_ascii_case(m))
                    .map(|(k, _)| *k);
                if found.is_none() {
                    v.error(
                        &at("method"),
                        format!("unknown method {m:?}: one of GET, HEAD, PUT, DELETE, PROPFIND, roundtrip"),
                    );
                }
                found
            }
        };
        let url = match Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if method == Some(Method::Roundtrip) && !u.path().ends_with('/') {
                    v.error(
                        &at("url"),
                        "a round trip writes its object into a collection: the URL must end with '/'",
                    );
                }
                if !u.username().is_empty() || u.password().is_some() {
                    v.error(
                        &at("url"),
                        "credentials in the URL are not accepted; use user with password_env or password_file",
                    );
                }
                Some(u)
            }
            Ok(u) => {
                v.error(
                    &at("url"),
                    format!(
                        "{:?}: only http:// and https:// URLs with a host",
                        u.as_str()
                    ),
                );
                None
            }
            Err(e) => {
                v.error(&at("url"), format!("{:?} is not a URL: {e}", self.url));
                None
            }
        };
        let expect = match &self.valid_status_codes {
            None => StatusSet::default(),
            Some(items) => {
                let texts: Vec<String> = items
                    .iter()
                    .map(|c| match c {
                        StatusCode::Code(n) => n.to_string(),
                        StatusCode::Text(t) => t.clone(),
                    })
                    .collect();
                StatusSet::parse(texts.iter().map(String::as_str)).unwrap_or_else(|e| {
                    v.error(&at("valid_status_codes"), e);
                    StatusSet::default()
                })
            }
        };
        let follow = self.follow_redirects.unwrap_or(true);
        if !follow && self.max_redirects.is_some() {
            v.error(
                &at("max_redirects"),
                "max_redirects needs follow_redirects (redirects are not followed)",
            );
        }
        let auth = self.auth(v, path);
        let mut headers = Vec::new();
        for (k, val) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes());
            match name {
                Err(_) => v.error(&at("headers"), format!("{k:?} is not a header name")),
                Ok(n) if n == hyper::header::AUTHORIZATION || n == hyper::header::PROXY_AUTHORIZATION => v.error(
                    &at("headers"),
                    format!("{k}: credentials are not accepted inline; use user with password_env/password_file, or token_env/token_file"),
                ),
                Ok(n) if n == hyper::header::HOST || n == hyper::header::CONTENT_LENGTH => v.error(
                    &at("headers"),
                    format!("{k} is set by the probe from the URL and the body"),
                ),
                Ok(_) if HeaderValue::from_str(val).is_err() => v.error(
                    &at("headers"),
                    format!("{k}: {val:?} is not a header value"),
                ),
                Ok(_) => headers.push((k.clone(), val.clone())),
            }
        }
        if let Some(ipv) = self.ip_version
            && ipv != 4
            && ipv != 6
        {
            v.error(&at("ip_version"), format!("{ipv}: 4 or 6"));
        }
        let body_regex = self.fail_if_body_not_matches.as_ref().and_then(|r| {
            regex::bytes::Regex::new(r)
                .map(BodyRegex)
                .map_err(|e| {
                    v.error(
                        &at("fail_if_body_not_matches"),
                        format!("invalid regex: {e}"),
                    );
                })
                .ok()
        });
        if self.body.is_some() && method != Some(Method::Put) {
            v.error(
                &at("body"),
                "only a PUT target sends a body (a round trip makes its own)",
            );
        }
        let https = url.as_ref().is_some_and(|u| u.scheme() == "https");
        let ca_file = self.ca_file.as_ref().map(|f| {
            let f = v.relative(f);
            if !https {
                v.error(&at("ca_file"), "ca_file is for https URLs");
            } else if let Err(e) = tls::load_pem(&f) {
                v.error(&at("ca_file"), e);
            }
            f
        });
        let window = v.positive(&at("window"), self.window, DEFAULT_WINDOW);
        let (_, default_timeout) = v.default_schedule();
        let timeout = self.timeout.map(|d| d.0).unwrap_or(default_timeout);
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            url: url?,
            method: method?,
            expect,
            max_redirects: follow.then(|| self.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS)),
            auth,
            headers,
            ip_version: self.ip_version,
            body_regex,
            body: self.body.clone().unwrap_or_else(|| DEFAULT_PUT_BODY.into()),
            ca_file,
            certificate: self.certificate.unwrap_or(true),
            window,
            timeout,
            vantage: cx.vantage.clone(),
        })
    }
}

impl RawTarget {
    fn auth(&self, v: &mut Validator<'_>, path: &str) -> Option<Auth> {
        let basic = self.password_env.is_some() || self.password_file.is_some();
        let bearer = self.token_env.is_some() || self.token_file.is_some();
        if basic && bearer {
            v.error(
                &format!("{path}.token_env"),
                "give basic auth (user and password_*) or a bearer token (token_*), not both",
            );
            return None;
        }
        if basic || self.user.is_some() {
            let Some(user) = self
                .user
                .clone()
                .filter(|u| !u.is_empty() && !u.contains(':'))
            else {
                v.error(
                    &format!("{path}.user"),
                    "basic auth needs a user name without ':' (RFC 7617)",
                );
                return None;
            };
            let field = if self.password_file.is_some() {
                "password_file"
            } else {
                "password_env"
            };
            let Some(password) = v.secret(
                &format!("{path}.{field}"),
                self.password_env.as_deref(),
                self.password_file.as_deref(),
            ) else {
                if !basic {
                    v.error(
                        &format!("{path}.user"),
                        "a user needs password_env or password_file",
                    );
                }
                return None;
            };
            return Some(Auth::Basic { user, password });
        }
        if bearer {
            let field = if self.token_file.is_some() {
                "token_file"
            } else {
                "token_env"
            };
            return v
                .secret(
                    &format!("{path}.{field}"),
                    self.token_env.as_deref(),
                    self.token_file.as_deref(),
                )
                .map(Auth::Bearer);
        }
        None
    }
}

/// Base64 (RFC 4648 section 4, with padding) for basic auth.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One request as the poll saw it.
#[derive(Debug)]
struct Outcome {
    method: &'static str,
    progress: Progress,
    status: Option<u16>,
    length: u64,
    /// The whole request, redirects included.
    total: f64,
    /// Whether the response came back whole (its latency is a sample of the window).
    completed: bool,
    failure: Option<Failure>,
    /// What the status text says on success.
    summary: String,
}

/// The counters and windows a poller keeps across polls.
#[derive(Debug, Default)]
struct State {
    requests: BTreeMap<(&'static str, u16), u64>,
    failures: BTreeMap<(&'static str, Reason), u64>,
    roundtrip_failures: BTreeMap<Reason, u64>,
    histograms: BTreeMap<(&'static str, Option<Phase>), Histogram>,
    windows: BTreeMap<&'static str, Window>,
}

/// Polls one http target.
pub struct HttpPoller {
    settings: Settings,
    name: Arc<str>,
    interval: StdDuration,
    client: tokio::sync::OnceCell<Client>,
    state: Mutex<State>,
    /// Makes each round trip's object name unique within the process.
    sequence: AtomicU64,
}

impl std::fmt::Debug for HttpPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPoller")
            .field("url", &self.settings.url.as_str())
            .field("method", &self.settings.method)
            .finish_non_exhaustive()
    }
}

impl HttpPoller {
    pub fn new(s: &Settings, at: Spawn<'_>) -> Self {
        let mut state = State::default();
        for m in s.method.labels() {
            for r in Reason::ALL {
                state.failures.insert((m, r), 0);
            }
            // Every method the target sends has its window from the start, so its latency
            // check is bound at once and says UNKNOWN while no request has completed.
            state.windows.insert(m, Window::default());
        }
        if s.method == Method::Roundtrip {
            for r in Reason::ALL {
                state.roundtrip_failures.insert(r, 0);
            }
        }
        HttpPoller {
            settings: s.clone(),
            name: Arc::from(at.name),
            interval: at.interval,
            client: tokio::sync::OnceCell::new(),
            state: Mutex::new(state),
            sequence: AtomicU64::new(0),
        }
    }

    /// The client, built once: reading the system trust store takes a blocking thread.
    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let s = &self.settings;
                let ca_file = s.ca_file.clone();
                let roots = tokio::task::spawn_blocking(move || roots(ca_file.as_deref()))
                    .await
                    .unwrap_or_else(|_| rustls::RootCertStore::empty());
                let mut headers = Vec::new();
                match &s.auth {
                    Some(Auth::Basic { user, password }) => {
                        let v = format!(
                            "Basic {}",
                            base64(format!("{user}:{}", password.expose()).as_bytes())
                        );
                        if let Ok(mut v) = HeaderValue::from_str(&v) {
                            v.set_sensitive(true);
                            headers.push((hyper::header::AUTHORIZATION, v));
                        }
                    }
                    Some(Auth::Bearer(token)) => {
                        if let Ok(mut v) =
                            HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                        {
                            v.set_sensitive(true);
                            headers.push((hyper::header::AUTHORIZATION, v));
                        }
                    }
                    None => {}
                }
                for (k, v) in &s.headers {
                    if let (Ok(k), Ok(v)) = (
                        HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(v),
                    ) {
                        headers.push((k, v));
                    }
                }
                Client {
                    headers,
                    max_redirects: s.max_redirects,
                    ip_version: s.ip_version,
                    tls: client::tls_connector(roots),
                }
            })
            .await
    }

    /// One request to `url`, judged against the expected status and, when `check_regex`,
    /// the body regex. Never fails: a failure is in the outcome.
    async fn request(
        &self,
        method: &'static str,
        url: &Url,
        body: Bytes,
        deadline: tokio::time::Instant,
        check_regex: bool,
    ) -> (Outcome, Vec<u8>) {
        let client = self.client().await;
        let m = hyper::Method::from_bytes(method.as_bytes()).unwrap_or(hyper::Method::GET);
        let depth = [(
            HeaderName::from_static("depth"),
            HeaderValue::from_static("0"),
        )];
        // PROPFIND without Depth means infinity (RFC 4918 section 9.1): ask for the
        // resource itself unless the headers say otherwise.
        let extra: &[(HeaderName, HeaderValue)] = if method == "PROPFIND"
            && !self
                .settings
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("depth"))
        {
            &depth
        } else {
            &[]
        };
        let mut p = Progress::default();
        let start = Instant::now();
        let r =
            tokio::time::timeout_at(deadline, client.request(&m, url, &body, extra, &mut p)).await;
        let total = start.elapsed().as_secs_f64();
        let mut o = Outcome {
            method,
            progress: p,
            status: None,
            length: 0,
            total,
            completed: false,
            failure: None,
            summary: String::new(),
        };
        let shown = o.progress.url.clone().unwrap_or_else(|| url.clone());
        let r = match r {
            Err(_) => {
                let stalled = o.progress.stop().unwrap_or(Phase::Resolve);
                o.failure = Some(Failure::new(
                    Reason::Timeout,
                    format!(
                        "{method} {shown}: no complete response within {}, stalled {}",
                        crate::units::duration(total),
                        stalled.waiting_for()
                    ),
                ));
                return (o, Vec::new());
            }
            Ok(Err(f)) => {
                o.failure = Some(f);
                return (o, Vec::new());
            }
            Ok(Ok(r)) => r,
        };
        o.status = Some(r.status);
        o.length = r.length;
        o.completed = true;
        let redirects = match o.progress.redirects {
            0 => String::new(),
            n => format!(" after {n} redirect(s)"),
        };
        if !self.settings.expect.contains(r.status) {
            o.failure = Some(Failure::new(
                Reason::Status,
                format!(
                    "{method} {shown}: status {}{}, expected {}",
                    r.status,
                    reason_phrase(r.status),
                    self.settings.expect
                ),
            ));
        } else if let Some(re) = self.settings.body_regex.as_ref().filter(|_| check_regex)
            && !re.0.is_match(&r.body)
        {
            o.failure = Some(Failure::new(
                Reason::Regex,
                format!(
                    "{method} {shown}: the body ({} bytes) does not match /{}/",
                    r.length,
                    re.0.as_str()
                ),
            ));
        }
        o.summary = format!(
            "{method} {shown}: status {}{}{redirects}, {} bytes",
            r.status,
            reason_phrase(r.status),
            r.length
        );
        (o, r.body)
    }

    /// PUT, GET and compare, DELETE: the outcomes of the requests made, and the round trip's
    /// failure if any.
    async fn roundtrip(&self, deadline: tokio::time::Instant) -> (Vec<Outcome>, Option<Failure>) {
        let s = &self.settings;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let token = format!("{:x}-{:x}-{seq}", now.as_secs(), now.subsec_nanos());
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let object = s
            .url
            .join(&format!("headroom-probe-{safe}-{token}.txt"))
            .unwrap_or_else(|_| s.url.clone());
        // Unique content: the token, then filler derived from it, 256 bytes in all.
        let mut content = format!("headroom round trip {} {token}\n", self.name).into_bytes();
        let mut x = now.subsec_nanos() as u64 ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        while content.len() < 256 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            content.push(b'a' + (x % 26) as u8);
        }
        content.truncate(256);
        let mut outcomes = Vec::new();
        let (put, _) = self
            .request(
                "PUT",
                &object,
                Bytes::from(content.clone()),
                deadline,
                false,
            )
            .await;
        let put_failed = put.failure.clone();
        outcomes.push(put);
        if let Some(f) = put_failed {
            return (outcomes, Some(step("PUT", f)));
        }
        let (mut get, body) = self
            .request("GET", &object, Bytes::new(), deadline, false)
            .await;
        if get.failure.is_none()
            && let Some(at) = stats::first_difference(&content, &body)
        {
            get.failure = Some(Failure::new(
                Reason::BodyMismatch,
                format!(
                    "GET returned other bytes than PUT stored: expected {} bytes, got {} bytes, first difference at byte {at}",
                    content.len(),
                    get.length
                ),
            ));
        }
        let mut failure = get.failure.clone().map(|f| step("GET", f));
        outcomes.push(get);
        // Delete even after a bad GET, so that failed polls leave nothing behind.
        let (delete, _) = self
            .request("DELETE", &object, Bytes::new(), deadline, false)
            .await;
        if failure.is_none() {
            failure = delete.failure.clone().map(|f| step("DELETE", f));
        }
        outcomes.push(delete);
        (outcomes, failure)
    }

    /// Counts the outcomes into the state and returns the families of this poll.
    fn record(
        &self,
        outcomes: &[Outcome],
        roundtrip: Option<&Option<Failure>>,
        duration: f64,
    ) -> Vec<Family> {
        let s = &self.settings;
        let now = Instant::now();
        let mut st = self.state.lock();
        for o in outcomes {
            if let Some(code) = o.status {
                *st.requests.entry((o.method, code)).or_default() += 1;
            }
            if let Some(f) = &o.failure {
                *st.failures.entry((o.method, f.reason)).or_default() += 1;
            }
            if o.completed {
                for ph in Phase::ALL {
                    st.histograms
                        .entry((o.method, Some(ph)))
                        .or_default()
                        .observe(o.progress.phase(ph));
                }
                st.histograms
                    .entry((o.method, None))
                    .or_default()
                    .observe(o.total);
                st.windows
                    .entry(o.method)
                    .or_default()
                    .push(now, o.total, s.window);
            }
        }
        if let Some(Some(f)) = roundtrip {
            *st.roundtrip_failures.entry(f.reason).or_default() += 1;
        }
        for w in st.windows.values_mut() {
            w.expire(now, s.window);
        }
        families(&Observed {
            settings: s,
            outcomes,
            roundtrip,
            duration,
            state: &st,
        })
    }
}

/// A round trip's failure: its step in front of the request's detail.
fn step(method: &str, f: Failure) -> Failure {
    let detail = if f.detail.starts_with(method) {
        f.detail
    } else {
        format!("{method}: {}", f.detail)
    };
    Failure::new(f.reason, detail)
}

/// The reason phrase of common codes (RFC 9110 section 15, RFC 4918 for 207), for texts.
fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => " OK",
        201 => " Created",
        204 => " No Content",
        207 => " Multi-Status",
        301 => " Moved Permanently",
        302 => " Found",
        304 => " Not Modified",
        307 => " Temporary Redirect",
        308 => " Permanent Redirect",
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        405 => " Method Not Allowed",
        409 => " Conflict",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

/// The system trust store plus `ca_file` (unreadable system entries skipped).
fn roots(ca_file: Option<&std::path::Path>) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(f) = ca_file {
        match tls::load_pem(f) {
            Ok(certs) => {
                roots.add_parsable_certificates(certs);
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
    roots
}

/// What one poll's families are made from.
struct Observed<'a> {
    settings: &'a Settings,
    outcomes: &'a [Outcome],
    /// For a round trip: its failure, if any.
    roundtrip: Option<&'a Option<Failure>>,
    duration: f64,
    state: &'a State,
}

/// The families of one poll: blackbox_exporter's gauges, then headroom's own. Every series
/// carries `vantage`.
fn families(o: &Observed<'_>) -> Vec<Family> {
    let vantage = o.settings.vantage.as_str();
    let labels = |pairs: &[(&'static str, &str)]| -> Vec<(Cow<'static, str>, String)> {
        let mut l: Vec<(Cow<'static, str>, String)> = pairs
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned()))
            .collect();
        l.push((Cow::Borrowed("vantage"), vantage.to_owned()));
        l
    };
    let sample = |pairs: &[(&'static str, &str)], value: f64| Sample {
        labels: labels(pairs),
        value,
    };
    let family =
        |name: &'static str, help: &'static str, kind: Kind, samples: Vec<Sample>| Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: samples.into(),
        };
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let success = o.outcomes.iter().all(|x| x.failure.is_none());
    let last = o.outcomes.last();
    let mut out = vec![
        family(
            "probe_success",
            "1 if every request of the latest poll passed (a round trip: all three), as blackbox_exporter.",
            Kind::Gauge,
            vec![sample(&[], b(success))],
        ),
        family(
            "probe_duration_seconds",
            "How long the latest poll took, every request included.",
            Kind::Gauge,
            vec![sample(&[], o.duration)],
        ),
        family(
            "probe_http_ssl",
            "1 if the final request of the latest poll used TLS.",
            Kind::Gauge,
            vec![sample(&[], b(last.is_some_and(|l| l.progress.tls)))],
        ),
        family(
            "probe_failed_due_to_regex",
            "1 if a body did not match fail_if_body_not_matches in the latest poll.",
            Kind::Gauge,
            vec![sample(
                &[],
                b(o.outcomes.iter().any(|x| {
                    x.failure
                        .as_ref()
                        .is_some_and(|f| f.reason == Reason::Regex)
                })),
            )],
        ),
    ];
    let per_method = |f: &dyn Fn(&Outcome) -> Option<f64>| -> Vec<Sample> {
        o.outcomes
            .iter()
            .filter_map(|x| f(x).map(|v| sample(&[("method", x.method)], v)))
            .collect()
    };
    out.push(family(
        "probe_http_status_code",
        "Status code of the latest response of each method (0 without a response).",
        Kind::Gauge,
        per_method(&|x| Some(x.status.map_or(0.0, f64::from))),
    ));
    out.push(family(
        "probe_http_content_length",
        "Body bytes received in the latest response of each method.",
        Kind::Gauge,
        per_method(&|x| Some(x.length as f64)),
    ));
    out.push(family(
        "probe_http_redirects",
        "Redirects followed by the latest request of each method.",
        Kind::Gauge,
        per_method(&|x| Some(f64::from(x.progress.redirects))),
    ));
    let mut phases = Vec::new();
    for x in o.outcomes {
        for ph in Phase::ALL {
            phases.push(sample(
                &[("method", x.method), ("phase", ph.as_str())],
                x.progress.phase(ph),
            ));
        }
    }
    out.push(family(
        "probe_http_duration_seconds",
        "Seconds of the latest request of each method by phase (resolve, connect, tls, processing: request sent to first byte, transfer: first byte to end of body), redirects summed.",
        Kind::Gauge,
        phases,
    ));
    out.push(family(
        "headroom_http_request_result",
        "1 if the latest request of each method passed its expectations, 0 if not; reason and detail say why (a status text, never a secret).",
        Kind::Gauge,
        o.outcomes
            .iter()
            .map(|x| {
                let (reason, detail) = match &x.failure {
                    Some(f) => (f.reason.as_str(), f.detail.as_str()),
                    None => ("", x.summary.as_str()),
                };
                sample(
                    &[("method", x.method), ("reason", reason), ("detail", detail)],
                    b(x.failure.is_none()),
                )
            })
            .collect(),
    ));
    // Histograms: buckets then the sum, per (method, phase).
    let mut hist = Vec::new();
    for ((method, phase), h) in &o.state.histograms {
        let phase = phase.map_or("total", Phase::as_str);
        for (i, n) in h.cumulative.iter().enumerate() {
            let le = stats::BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            hist.push(sample(
                &[("method", method), ("phase", phase), ("le", &le)],
                *n as f64,
            ));
        }
        hist.push(sample(&[("method", method), ("phase", phase)], h.sum));
    }
    out.push(family(
        "headroom_http_request_duration_seconds",
        "Seconds of each request that got its whole response, by method and phase (total: the whole request, redirects included).",
        Kind::Histogram,
        hist,
    ));
    let window = stats::span_text(o.settings.window);
    let mut quantiles = Vec::new();
    let mut counts = Vec::new();
    for (method, w) in &o.state.windows {
        for (q, qs) in stats::QUANTILES {
            let l = [
                ("method", *method),
                ("percentile", qs),
                ("window", window.as_str()),
            ];
            // NaN while the window holds no request: no value, as a summary reports a
            // quantile of no observations, and a check reads it as absent.
            quantiles.push(sample(&l, w.quantile(q).unwrap_or(f64::NAN)));
            counts.push(sample(&l, w.len() as f64));
        }
    }
    out.push(family(
        "headroom_http_request_duration_window_seconds",
        "Quantiles (nearest rank) of the total seconds of the requests that got their whole response within the target's window, by method.",
        Kind::Gauge,
        quantiles,
    ));
    out.push(family(
        "headroom_http_request_duration_window_samples",
        "How many requests the window quantile of the same labels was computed from.",
        Kind::Gauge,
        counts,
    ));
    out.push(family(
        "headroom_http_requests",
        "Requests that got a response, by method and status code.",
        Kind::Counter,
        o.state
            .requests
            .iter()
            .map(|((m, code), n)| sample(&[("method", m), ("code", &code.to_string())], *n as f64))
            .collect(),
    ));
    out.push(family(
        "headroom_http_request_failures",
        "Requests that failed their expectations, by method and reason (resolve, connect, tls, timeout, status, body_mismatch, regex, redirect_loop, protocol).",
        Kind::Counter,
        o.state
            .failures
            .iter()
            .map(|((m, r), n)| sample(&[("method", m), ("reason", r.as_str())], *n as f64))
            .collect(),
    ));
    if let Some(rt) = o.roundtrip {
        out.push(family(
            "headroom_http_roundtrip_success",
            "1 if the latest round trip (PUT, GET and compare, DELETE) passed.",
            Kind::Gauge,
            vec![sample(&[], b(rt.is_none()))],
        ));
        let (reason, detail) = match rt {
            Some(f) => (f.reason.as_str(), f.detail.clone()),
            None => ("", "PUT, GET (same bytes) and DELETE passed".to_owned()),
        };
        out.push(family(
            "headroom_http_roundtrip_result",
            "The latest round trip: 1 if it passed, 0 if not; reason and detail say which step failed and why.",
            Kind::Gauge,
            vec![sample(&[("reason", reason), ("detail", &detail)], b(rt.is_none()))],
        ));
        out.push(family(
            "headroom_http_roundtrip_failures",
            "Round trips that failed, by the reason of the step that failed.",
            Kind::Counter,
            o.state
                .roundtrip_failures
                .iter()
                .map(|(r, n)| sample(&[("reason", r.as_str())], *n as f64))
                .collect(),
        ));
    }
    out.retain(|f| !f.samples.is_empty());
    out
}

impl Poller for HttpPoller {
    type Discovered = Found;

    async fn poll(&self) -> Result<Polled<Found>, PollError> {
        let s = &self.settings;
        let start = Instant::now();
        // A little before the scheduler's timeout (a tenth of it, at most half a second, as
        // blackbox_exporter keeps 0.5 s of the scrape timeout), so that a stalled server is
        // reported as a failed request rather than an abandoned poll.
        let margin = (s.timeout / 10).min(StdDuration::from_millis(500));
        let deadline = tokio::time::Instant::from_std(start + s.timeout.saturating_sub(margin));
        let (outcomes, roundtrip) = match s.method {
            Method::Roundtrip => {
                let (o, f) = self.roundtrip(deadline).await;
                (o, Some(f))
            }
            m => {
                let method = m.labels()[0];
                let body = if m == Method::Put {
                    Bytes::from(s.body.clone().into_bytes())
                } else {
                    Bytes::new()
                };
                let (o, _) = self.request(method, &s.url, body, deadline, true).await;
                (vec![o], None)
            }
        };
        let families = self.record(&outcomes, roundtrip.as_ref(), start.elapsed().as_secs_f64());
        // Nothing answered: the target cannot be reached, and the poll fails with the reason,
        // so that every check of the target says so (the counters above still count it).
        if !outcomes.iter().any(|o| o.progress.answered)
            && let Some(f) = outcomes.first().and_then(|o| o.failure.as_ref())
        {
            let kind = match f.reason {
                Reason::Timeout => ErrorKind::Timeout,
                Reason::Protocol => ErrorKind::Protocol,
                _ => ErrorKind::Connect,
            };
            return Err(PollError::new(kind, f.detail.clone()));
        }
        Ok(Polled {
            families,
            discovered: Some(self.discovered()),
        })
    }
}

impl HttpPoller {
    /// The certificate of an https URL, as a tls target named `certificate`.
    fn discovered(&self) -> Vec<TargetOf<Found>> {
        let s = &self.settings;
        if s.url.scheme() != "https" || !s.certificate {
            return Vec::new();
        }
        let (Some(host), Some(port)) = (s.url.host_str(), s.url.port_or_known_default()) else {
            return Vec::new();
        };
        let server_name = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        vec![TargetOf {
            name: Arc::from("certificate"),
            interval: self.interval,
            timeout: s.timeout,
            // The scheduler gives it its parent's.
            region: None,
            source: Found::Tls(tls::Settings {
                address: format!("{host}:{port}"),
                server_name,
                ca_file: s.ca_file.clone(),
                verify: true,
            }),
        }]
    }
}

/// This source, as the `source` label and the config section name it. A failed poll leaves
/// `probe_success 0`, as blackbox_exporter reports a probe that failed.
pub const KIND: SourceKind = SourceKind::new("http", "probe_success");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = HttpPoller;

    fn poller(&self, at: Spawn<'_>) -> HttpPoller {
        HttpPoller::new(self, at)
    }

    /// A target exports series of the methods it sends only, and round-trip series only if
    /// it makes round trips.
    fn may_export(&self, metric: &str, labels: &[(String, String)]) -> bool {
        let sends = labels
            .iter()
            .filter(|(k, _)| k == "method")
            .all(|(_, m)| self.method.labels().contains(&m.as_str()));
        let roundtrip =
            !metric.starts_with("headroom_http_roundtrip_") || self.method == Method::Roundtrip;
        sends && roundtrip
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Positions;
    use std::path::Path;

    /// Validates `http:` entries as the config loader does; the errors as FILE:LINE:COL.
    fn validate(src: &str, vantage: &str) -> Result<Vec<Settings>, String> {
        #[derive(Deserialize)]
        struct Doc {
            http: Vec<RawTarget>,
        }
        let doc: Doc = serde_yaml_ng::from_str(src).map_err(|e| e.to_string())?;
        let positions = Positions::index(src);
        let mut v = Validator::new(
            Path::new("t.yaml"),
            &positions,
            (StdDuration::from_secs(15), StdDuration::from_secs(5)),
        );
        let cx = Context {
            vantage: vantage.into(),
            ..Context::default()
        };
        let out: Vec<Settings> = doc
            .http
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.validate(&mut v, &format!("http[{i}]"), &cx))
            .collect();
        v.finish().map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn a_full_target_validates() {
        let s = validate(
            "http:\n  - name: dav\n    url: https://dav.example.com/dav/\n    method: roundtrip\n    valid_status_codes: [200, 2xx, \"300-304\"]\n    max_redirects: 3\n    headers: {X-Probe: headroom}\n    ip_version: 6\n    window: 10m\n    timeout: 3s\n",
            "us-west-2",
        )
        .unwrap();
        let s = &s[0];
        assert_eq!(s.method, Method::Roundtrip);
        assert!(s.expect.contains(304) && !s.expect.contains(305));
        assert_eq!(s.max_redirects, Some(3));
        assert_eq!(s.ip_version, Some(6));
        assert_eq!(s.window, StdDuration::from_secs(600));
        assert_eq!(s.timeout, StdDuration::from_secs(3));
        assert_eq!(s.vantage, "us-west-2");
        assert!(s.certificate);
        let d = validate("http:\n  - {name: a, url: \"http://h/\"}\n", "").unwrap();
        assert_eq!(d[0].method, Method::Get);
        assert_eq!(d[0].max_redirects, Some(DEFAULT_MAX_REDIRECTS));
        assert_eq!(d[0].timeout, StdDuration::from_secs(5));
        assert_eq!(d[0].window, DEFAULT_WINDOW);
    }

    #[test]
    fn errors_are_located() {
        let e = validate(
            "http:\n  - name: a\n    url: ftp://h/x\n    method: POST\n  - name: b\n    url: http://h/dav\n    method: roundtrip\n    valid_status_codes: [2000]\n    ip_version: 5\n    headers: {Authorization: Basic eA==}\n    fail_if_body_not_matches: \"(\"\n",
            "",
        )
        .unwrap_err();
        for want in [
            "t.yaml:3:10: http[0].url: \"ftp://h/x\": only http:// and https:// URLs with a host",
            "t.yaml:4:13: http[0].method: unknown method \"POST\"",
            "t.yaml:6:10: http[1].url: a round trip writes its object into a collection",
            "t.yaml:8:25: http[1].valid_status_codes: \"2000\" is not a status code",
            "t.yaml:9:17: http[1].ip_version: 5: 4 or 6",
            "t.yaml:10:14: http[1].headers: Authorization: credentials are not accepted inline",
            "t.yaml:11:31: http[1].fail_if_body_not_matches: invalid regex",
        ] {
            assert!(e.contains(want), "{want}\nnot in\n{e}");
        }
        // The header's value (a credential) is not repeated in the error.
        assert!(!e.contains("eA=="), "{e}");
    }

    #[test]
    fn secrets_come_from_files_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let s = validate(
            &format!(
                "http:\n  - {{name: a, url: \"http://h/\", user: probe, password_file: {}}}\n",
                f.display()
            ),
            "",
        )
        .unwrap();
        assert_eq!(
            s[0].auth,
            Some(Auth::Basic {
                user: "probe".into(),
                password: Secret::new("s3cret".into())
            })
        );
        assert!(!format!("{:?}", s[0]).contains("s3cret"));
        let e = validate(
            "http:\n  - {name: a, url: \"http://h/\", user: probe}\n",
            "",
        )
        .unwrap_err();
        assert!(
            e.contains("http[0].user: a user needs password_env or password_file"),
            "{e}"
        );
        let e = validate(
            "http:\n  - {name: a, url: \"http://h/\", token_env: HEADROOM_TEST_UNSET_TOKEN_X}\n",
            "",
        )
        .unwrap_err();
        assert!(
            e.contains("environment variable HEADROOM_TEST_UNSET_TOKEN_X is not set"),
            "{e}"
        );
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        // RFC 4648 section 10.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
