//! The HTTP server: `/metrics`, `/healthz`, `/-/ready` and a small index page. Handlers only
//! read what the scheduler stored; a scrape never triggers a poll.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::check::engine::SharedBoard;
use crate::scheduler::Readiness;
use crate::store::exposition::Exposition;

mod dday;
mod status;
pub mod web;

/// OpenMetrics content type, served when the scraper asks for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone)]
pub struct AppState {
    /// The daemon's own metrics and the store's families.
    pub exposition: Arc<Exposition>,
    pub readiness: Arc<Readiness>,
    pub board: SharedBoard,
    /// The `/metrics` render in progress, shared by the scrapes that arrive meanwhile.
    pub renders: Renders,
}

/// The `/metrics` render in progress of each format and encoding. A scrape that arrives while one runs
/// waits for it and gets the same bytes, instead of starting another: five hundred
/// concurrent scrapers of ten thousand targets then cost one render at a time, not five
/// hundred (node_exporter bounds this with `--web.max-requests` and answers 503 beyond it;
/// sharing the render answers everyone). A scrape that arrives after a render has ended
/// starts a new one, so no answer is older than the scrape. A long render runs on the blocking
/// pool, so the poll tasks keep their worker threads while it encodes; a short one runs in
/// the scrape's task (see [`Renders::is_short`]).
#[derive(Debug, Clone)]
pub struct Renders {
    /// By [`Format::slot`].
    slots: Arc<parking_lot::Mutex<[Option<Arc<Render>>; 4]>>,
    /// How long the last render of each format took, in microseconds; `u64::MAX` before
    /// the first.
    took: Arc<[AtomicU64; 4]>,
}

impl Default for Renders {
    fn default() -> Self {
        Renders {
            slots: Arc::default(),
            took: Arc::new(std::array::from_fn(|_| AtomicU64::new(u64::MAX))),
        }
    }
}

/// A render whose last run took at most this long runs in the scrape's own task. Handing it
/// to the blocking pool and back costs two thread wake-ups: on one MariaDB polled and scraped
/// every 100 ms (a 210 kB exposition, most of it kept text), about four of the eleven context
/// switches of a poll and its scrape, and a fourteenth of the daemon's CPU. Inline, a render
/// holds one worker thread for as long as it runs; a millisecond delays at most the tasks
/// queued on that worker by as much, while the other workers go on (tokio's rule of thumb
/// is 10 to 100 microseconds between two awaits, so a render longer than this one goes to
/// the pool).
const SHORT_RENDER: Duration = Duration::from_millis(1);

/// What a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Format {
    openmetrics: bool,
    gzip: bool,
}

impl Format {
    fn slot(self) -> usize {
        usize::from(self.openmetrics) + 2 * usize::from(self.gzip)
    }
}

type Render = tokio::sync::OnceCell<Result<axum::body::Bytes, String>>;

impl Renders {
    /// Whether the last render of `format` took at most [`SHORT_RENDER`]. Not before the
    /// first render: an exposition's first render encodes every block.
    fn is_short(&self, format: Format) -> bool {
        self.took[format.slot()].load(Relaxed) <= SHORT_RENDER.as_micros() as u64
    }

    /// Notes how long a render of `format` took.
    fn took(&self, format: Format, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.took[format.slot()].store(micros, Relaxed);
    }

    /// The render a scrape of `format` joins: the running one, or a new one.
    fn join(&self, format: Format) -> Arc<Render> {
        let mut slots = self.slots.lock();
        let slot = &mut slots[format.slot()];
        match slot {
            Some(r) if !r.initialized() => r.clone(),
            _ => {
                let r = Arc::new(Render::new());
                *slot = Some(r.clone());
                r
            }
        }
    }
}

/// The status handlers need only the check board.
impl axum::extract::FromRef<AppState> for SharedBoard {
    fn from_ref(st: &AppState) -> SharedBoard {
        st.board.clone()
    }
}

/// The router, separate from any listener so that tests can call it directly.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/-/ready", get(ready))
        .route("/status", get(status::page))
        .route("/api/checks", get(status::api))
        .route("/dday", get(dday::page))
        .route("/api/dday", get(dday::api))
        .with_state(state)
}

/// Whether the `Accept` header asks for OpenMetrics (Prometheus sends
/// `application/openmetrics-text;version=1.0.0,...;q=0.5,text/plain;...` by default).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| part.trim().starts_with("application/openmetrics-text"))
}

/// Whether `Accept-Encoding` accepts gzip (RFC 9110 section 12.5.3: a coding listed without
/// `q=0`). Prometheus sends `Accept-Encoding: gzip`; the text compresses about 15 times.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';').map(str::trim);
            let coding = it.next().unwrap_or_default();
            let refused = it.any(|p| {
                p.strip_prefix("q=")
                    .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && !refused
        })
}

/// Encodes the exposition in OpenMetrics or in the Prometheus text format 0.0.4, gzipped if
/// asked (at the fastest level: a scrape is read once, and time to answer matters more than
/// the last bytes).
fn render(exposition: &Exposition, format: Format) -> Result<axum::body::Bytes, String> {
    let (body, _) = exposition
        .encode_shared(format.openmetrics)
        .map_err(|e| e.to_string())?;
    if !format.gzip {
        // Sent as it is, while the exposition keeps it to copy the next render's
        // unchanged blocks from.
        return Ok(axum::body::Bytes::from_owner(SharedText(body)));
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, body.as_bytes()).map_err(|e| e.to_string())?;
    Ok(gz.finish().map_err(|e| e.to_string())?.into())
}

/// An exposition text as a response body, shared with the exposition that keeps it.
struct SharedText(Arc<String>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let format = Format {
        openmetrics: wants_openmetrics(&headers),
        gzip: accepts_gzip(&headers),
    };
    let ct = if format.openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    };
    let shared = st.renders.join(format);
    // Whichever waiting scrape gets here first renders; should its client go away, the next
    // one takes over (OnceCell runs another initializer when one is dropped).
    let res = shared
        .get_or_init(|| {
            let exposition = st.exposition.clone();
            let renders = st.renders.clone();
            async move {
                let short = renders.is_short(format);
                let run = move || {
                    let began = Instant::now();
                    let body = render(&exposition, format);
                    renders.took(format, began.elapsed());
                    body
                };
                if short {
                    return run();
                }
                tokio::task::spawn_blocking(run)
                    .await
                    .unwrap_or_else(|e| Err(format!("render task failed: {e}")))
            }
        })
        .await;
    match res {
        Ok(body) if format.gzip => (
            [
                (header::CONTENT_TYPE, ct),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "Accept-Encoding"),
            ],
            body.clone(),
        )
            .into_response(),
        Ok(body) => (
            [
                (header::CONTENT_TYPE, ct),
                (header::VARY, "Accept-Encoding"),
            ],
            body.clone(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding /metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn ready(State(st): State<AppState>) -> Response {
    if st.readiness.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: some targets have not been polled yet\n",
        )
            .into_response()
    }
}

async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html><head><title>headroom</title></head><body>",
        "<h1>headroom ",
        env!("CARGO_PKG_VERSION"),
        "</h1><ul><li><a href=\"/metrics\">/metrics</a></li>",
        "<li><a href=\"/status\">/status</a> (checks)</li><li><a href=\"/api/checks\">/api/checks</a></li>",
        "<li><a href=\"/dday\">/dday</a> (the D-day board)</li><li><a href=\"/api/dday\">/api/dday</a></li>",
        "<li><a href=\"/healthz\">/healthz</a></li><li><a href=\"/-/ready\">/-/ready</a></li></ul>",
        "</body></html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn state() -> AppState {
        let mut reg = prometheus_client::registry::Registry::default();
        let m = crate::telemetry::SelfMetrics::register(&mut reg);
        m.add_target(crate::sources::memcached::KIND, "m1", Some("dc1"));
        let store = Arc::new(crate::store::SnapshotStore::new());
        AppState {
            exposition: Arc::new(Exposition::new(reg, store)),
            readiness: Arc::new(Readiness::default()),
            board: SharedBoard::default(),
            renders: Renders::default(),
        }
    }

    async fn get(path: &str, accept: Option<&str>) -> (StatusCode, String, String) {
        let mut req = Request::get(path);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let resp = app(state())
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn text_format_by_default() {
        let (s, ct, body) = get("/metrics", None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        assert!(
            body.contains("# TYPE headroom_poll_errors_total counter"),
            "{body}"
        );
        assert!(
            body.contains(
                "headroom_poll_errors_total{source=\"memcached\",target=\"m1\",kind=\"timeout\"} 0"
            ),
            "{body}"
        );
        assert!(body.contains("headroom_build_info{version="), "{body}");
        assert!(
            body.contains(
                "headroom_target_info{source=\"memcached\",target=\"m1\",region=\"dc1\"} 1"
            ),
            "{body}"
        );
        assert!(!body.contains("# EOF"));
    }

    #[tokio::test]
    async fn openmetrics_when_asked() {
        let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let (s, ct, body) = get("/metrics", Some(accept)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert!(
            body.contains("# TYPE headroom_poll_errors counter"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn gzip_when_accepted() {
        let st = state();
        let req = |enc: &str| {
            Request::get("/metrics")
                .header(header::ACCEPT_ENCODING, enc)
                .body(Body::empty())
                .unwrap()
        };
        let resp = app(st.clone()).oneshot(req("deflate, gzip")).await.unwrap();
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        let gz = resp.into_body().collect().await.unwrap().to_bytes();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        assert!(
            text.contains("# TYPE headroom_poll_errors_total counter"),
            "{text}"
        );
        // Refused with q=0: plain text.
        let resp = app(st).oneshot(req("gzip;q=0, identity")).await.unwrap();
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    }

    /// Scrapes that arrive while a render runs share it; one that arrives after gets a new one.
    #[test]
    fn concurrent_scrapes_share_one_render() {
        let r = Renders::default();
        let f = Format {
            openmetrics: false,
            gzip: false,
        };
        let a = r.join(f);
        let b = r.join(f);
        assert!(Arc::ptr_eq(&a, &b));
        let other = r.join(Format {
            openmetrics: true,
            gzip: false,
        });
        assert!(!Arc::ptr_eq(&a, &other));
        a.set(Ok(axum::body::Bytes::from_static(b"x"))).unwrap();
        assert!(!Arc::ptr_eq(&a, &r.join(f)));
    }

    /// A format's first render goes to the blocking pool; a render that took at most
    /// [`SHORT_RENDER`] sends the next of its format into the scrape's task, a longer one
    /// sends it back; either way the body is the same.
    #[tokio::test]
    async fn a_short_render_runs_in_the_scrapes_task() {
        let st = state();
        let text = Format {
            openmetrics: false,
            gzip: false,
        };
        let om = Format {
            openmetrics: true,
            gzip: false,
        };
        assert!(!st.renders.is_short(text) && !st.renders.is_short(om));
        let scrape = || async {
            let resp = app(st.clone())
                .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
                .await
                .unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        };
        let pooled = scrape().await;
        assert_ne!(st.renders.took[text.slot()].load(Relaxed), u64::MAX);
        assert!(
            !st.renders.is_short(om),
            "another format's render counts for its own"
        );

        st.renders.took(text, Duration::from_micros(200));
        assert!(st.renders.is_short(text) && !st.renders.is_short(om));
        st.renders.took(text, Duration::ZERO);
        assert_eq!(scrape().await, pooled);
        st.renders
            .took(text, SHORT_RENDER + Duration::from_micros(1));
        assert!(!st.renders.is_short(text));
    }

    #[tokio::test]
    async fn health_and_readiness() {
        assert_eq!(get("/healthz", None).await.0, StatusCode::OK);
        // No targets pending: ready.
        assert_eq!(get("/-/ready", None).await.0, StatusCode::OK);
        assert_eq!(get("/nope", None).await.0, StatusCode::NOT_FOUND);
    }
}
