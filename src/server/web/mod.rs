//! `--web.config.file`: TLS, basic authentication and response headers for every endpoint,
//! configured in the web configuration format Prometheus' exporters share (exporter-toolkit's
//! docs/web-configuration.md). The file is read at start and at SIGHUP; a file that fails
//! to load at SIGHUP leaves the running one in force.

mod auth;
mod config;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use auth::{BasicAuth, Denied, credentials};
pub use config::{RawWebConfig, WebConfig, load, parse};
pub use tls::{Conn, WebListener};

use crate::config::ConfigErrors;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// The server's own security counters.
#[derive(Debug, Clone, Default)]
pub struct WebMetrics {
    /// `headroom_web_auth_failures_total{reason}`.
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// `headroom_web_tls_handshake_failures_total`.
    pub handshake_failures: Counter,
}

impl WebMetrics {
    /// Registers the counters, each reason at 0 so that a rise shows from the first failure.
    pub fn register(registry: &mut Registry) -> WebMetrics {
        let m = WebMetrics::default();
        for d in Denied::ALL {
            let _ = m
                .auth_failures
                .get_or_create(&ReasonLabels { reason: d.label() });
        }
        registry.register(
            "headroom_web_auth_failures",
            "Requests refused for want of valid basic-auth credentials (--web.config.file), by reason: missing, malformed, unknown_user, wrong_password",
            m.auth_failures.clone(),
        );
        registry.register(
            "headroom_web_tls_handshake_failures",
            "TLS handshakes with the server that failed or timed out (a client without an accepted certificate, a refused TLS version)",
            m.handshake_failures.clone(),
        );
        m
    }
}

/// A web config in force, with its authenticator.
#[derive(Debug)]
pub struct Active {
    pub config: WebConfig,
    pub auth: Arc<BasicAuth>,
}

/// The web config in force, shared by the listener and the request guard; a reload swaps it.
#[derive(Debug, Clone)]
pub struct SharedWeb {
    current: Arc<RwLock<Arc<Active>>>,
    /// Counts the configs put in force; a connection opened under an older one is closed.
    generation: Arc<AtomicU64>,
    path: Option<PathBuf>,
    pub metrics: WebMetrics,
}

impl SharedWeb {
    /// `config` read from `path` (which SIGHUP reads again); `None`: plain HTTP, no
    /// authentication, nothing to reload.
    pub fn new(path: Option<&Path>, config: WebConfig, metrics: WebMetrics) -> SharedWeb {
        SharedWeb {
            current: Arc::new(RwLock::new(Arc::new(Self::activate(config)))),
            generation: Arc::new(AtomicU64::new(0)),
            path: path.map(Path::to_path_buf),
            metrics,
        }
    }

    fn activate(config: WebConfig) -> Active {
        Active {
            auth: Arc::new(BasicAuth::new(config.users.clone())),
            config,
        }
    }

    pub fn current(&self) -> Arc<Active> {
        self.current.read().clone()
    }

    /// The config in force and its generation, read together.
    fn current_with_generation(&self) -> (u64, Arc<Active>) {
        let guard = self.current.read();
        (self.generation.load(Ordering::Relaxed), guard.clone())
    }

    /// The file of `--web.config.file`, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the file again (SIGHUP). On error the running config stays and the error is
    /// returned; the file's secrets are never part of one.
    pub fn reload(&self) -> Option<Result<String, ConfigErrors>> {
        let path = self.path.as_deref()?;
        Some(load(path).map(|cfg| {
            let summary = cfg.summary();
            let mut current = self.current.write();
            *current = Arc::new(Self::activate(cfg));
            self.generation.fetch_add(1, Ordering::Relaxed);
            summary
        }))
    }
}

/// The guard in front of every route: basic authentication when users are configured, and
/// the configured headers on every response (a refusal included).
pub async fn guard(State(web): State<SharedWeb>, req: Request, next: Next) -> Response {
    let active = web.current();
    let mut resp = if active.auth.enabled() {
        match authenticate(&active.auth, req.headers().get(header::AUTHORIZATION)).await {
            Ok(()) => next.run(req).await,
            Err(denied) => {
                web.metrics
                    .auth_failures
                    .get_or_create(&ReasonLabels {
                        reason: denied.label(),
                    })
                    .inc();
                // Neither the user name nor the password is logged: only why.
                tracing::debug!(reason = denied.label(), "request refused: basic auth");
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"headroom\"")],
                    "Unauthorized\n",
                )
                    .into_response()
            }
        }
    } else {
        next.run(req).await
    };
    for (name, value) in &active.config.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

async fn authenticate(
    auth: &Arc<BasicAuth>,
    header: Option<&axum::http::HeaderValue>,
) -> Result<(), Denied> {
    let (user, password) = credentials(header)?;
    if auth.known_good(&user, &password) {
        return Ok(());
    }
    // bcrypt is CPU work by design: off the async threads, and at most BCRYPT_AT_ONCE at a
    // time, so that a flood of bad passwords costs a core or two, not the machine.
    let _permit = BCRYPT_PERMITS.acquire().await;
    let auth = auth.clone();
    tokio::task::spawn_blocking(move || auth.check(&user, &password))
        .await
        .unwrap_or(Err(Denied::WrongPassword))
}

/// How many bcrypt verifications may run at once.
const BCRYPT_AT_ONCE: usize = 2;

static BCRYPT_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(BCRYPT_AT_ONCE);

/// `router` behind the guard.
pub fn secured(router: axum::Router, web: SharedWeb) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(web, guard))
}

#[cfg(test)]
mod tests;
