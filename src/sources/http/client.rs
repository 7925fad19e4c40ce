//! One HTTP/1.1 request, timed phase by phase: resolve (`tokio::net::lookup_host`), TCP
//! connect, TLS handshake (tokio-rustls), then hyper's low-level HTTP/1 connection for the
//! request, the response's first byte (its headers) and the end of its body. A new connection
//! per request, as blackbox_exporter's http prober makes one per probe, so that every request
//! shows its connect and TLS phases. Redirects are followed here, hop by hop, each hop's
//! phases added to the request's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use url::{Host, Url};

use super::stats::{Phase, Reason};

/// At most this much of a body is kept (for the regex and the round trip's comparison); the
/// rest is counted and dropped.
pub const BODY_KEPT: usize = 4 << 20;

/// What a request is sent with, besides its method, URL and body.
#[derive(Clone)]
pub struct Client {
    /// Extra headers: `Authorization` from the secrets, the configured ones.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `Some(n)`: follow at most n redirects; `None`: do not follow.
    pub max_redirects: Option<u32>,
    /// 4 or 6 to use only addresses of that family.
    pub ip_version: Option<u8>,
    pub tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: only their names.
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Client")
            .field("headers", &names)
            .field("max_redirects", &self.max_redirects)
            .field("ip_version", &self.ip_version)
            .finish_non_exhaustive()
    }
}

/// The trust anchors: the system's store and `ca_file`, as the tls source trusts.
pub fn tls_connector(roots: RootCertStore) -> tokio_rustls::TlsConnector {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 only (docs/http.md): say so in ALPN (RFC 7301), so that a server that would
    // pick h2 does not.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// How far a request got, kept outside its future so that a timeout can say where it was.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Seconds spent in each phase, summed over the redirect hops.
    pub phases: [f64; 5],
    /// The phase under way.
    pub current: Option<Phase>,
    /// When the current phase started.
    pub since: Option<Instant>,
    /// Whether any response (its headers) came back: the server was reached.
    pub answered: bool,
    pub redirects: u32,
    /// Whether the latest hop used TLS.
    pub tls: bool,
    /// The URL of the latest hop.
    pub url: Option<Url>,
}

impl Progress {
    fn enter(&mut self, phase: Phase) {
        self.close();
        self.current = Some(phase);
        self.since = Some(Instant::now());
    }

    /// Ends the current phase, adding its time.
    fn close(&mut self) {
        if let (Some(p), Some(t)) = (self.current.take(), self.since.take()) {
            self.phases[p as usize] += t.elapsed().as_secs_f64();
        }
    }

    /// Ends the phase under way at a timeout, counting its time too.
    pub fn stop(&mut self) -> Option<Phase> {
        let p = self.current;
        self.close();
        p
    }

    pub fn phase(&self, p: Phase) -> f64 {
        self.phases[p as usize]
    }
}

/// A response read to its end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The body's first [`BODY_KEPT`] bytes.
    pub body: Vec<u8>,
    /// Bytes of body received.
    pub length: u64,
}

/// A request that failed: the reason label and a message for the status text (never a
/// secret: it is built from the URL, the status and errors of the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }
}

/// Aborts the connection's task when the request is done or dropped (a timeout), so that a
/// stalled server does not keep a task and a socket.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Client {
    /// Sends `method` to `url` with `body`, following redirects as configured. Fails only for
    /// what keeps a response from being read; the caller judges the status and the body.
    pub async fn request(
        &self,
        method: &hyper::Method,
        url: &Url,
        body: &Bytes,
        extra: &[(HeaderName, HeaderValue)],
        p: &mut Progress,
    ) -> Result<Response, Failure> {
        let mut method = method.clone();
        let mut body = body.clone();
        let mut url = url.clone();
        let mut visited = vec![url.clone()];
        loop {
            let r = self.hop(&method, &url, &body, extra, p).await?;
            let Some(max) = self.max_redirects else {
                return Ok(r.response);
            };
            let Some(location) = r.location.filter(|_| is_redirect(r.response.status)) else {
                return Ok(r.response);
            };
            let next = url.join(&location).map_err(|e| {
                Failure::new(
                    Reason::Protocol,
                    format!(
                        "{} {url}: status {} with an unusable Location {location:?}: {e}",
                        method, r.response.status
                    ),
                )
            })?;
            if visited.contains(&next) {
                return Err(Failure::new(
                    Reason::RedirectLoop,
                    format!(
                        "redirect loop: {url} redirects ({}) to {next}, already visited after {} redirect(s)",
                        r.response.status, p.redirects
                    ),
                ));
            }
            if p.redirects >= max {
                return Err(Failure::new(
                    Reason::RedirectLoop,
                    format!(
                        "more than max_redirects ({max}) redirects, the last from {url} to {next}"
                    ),
                ));
            }
            p.redirects += 1;
            // RFC 9110 section 15.4.4: a 303 is followed with GET (and no body); 307 and 308
            // keep the method and body (15.4.8, 15.4.9), as curl also keeps them for 301/302.
            if r.response.status == 303 && method != hyper::Method::HEAD {
                method = hyper::Method::GET;
                body = Bytes::new();
            }
            visited.push(next.clone());
            url = next;
        }
    }

    async fn hop(
        &self,
        method: &hyper::Method,
        url: &Url,
        body: &Bytes,
        extra: &[(HeaderName, HeaderValue)],
        p: &mut Progress,
    ) -> Result<Hop, Failure> {
        p.url = Some(url.clone());
        let port = url.port_or_known_default().unwrap_or(80);
        p.enter(Phase::Resolve);
        let addrs = self.resolve(url, port).await?;
        p.enter(Phase::Connect);
        // Each address in the resolver's order until one accepts (`localhost` may come as
        // ::1 first while the server listens on 127.0.0.1 only).
        let mut tried = Vec::new();
        let mut connected = None;
        for addr in &addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(t) => {
                    connected = Some(t);
                    break;
                }
                Err(e) => tried.push(format!("{addr}: {e}")),
            }
        }
        let Some(tcp) = connected else {
            return Err(Failure::new(
                Reason::Connect,
                format!("{method} {url}: connect to {}", tried.join("; ")),
            ));
        };
        // Small requests: send them now rather than wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        if url.scheme() == "https" {
            p.enter(Phase::Tls);
            let name = match url.host() {
                Some(Host::Domain(d)) => ServerName::try_from(d.to_owned()).map_err(|e| {
                    Failure::new(Reason::Tls, format!("{method} {url}: server name: {e}"))
                })?,
                Some(Host::Ipv4(ip)) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
                Some(Host::Ipv6(ip)) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
                None => return Err(Failure::new(Reason::Protocol, format!("{url}: no host"))),
            };
            let stream = self.tls.connect(name, tcp).await.map_err(|e| {
                Failure::new(Reason::Tls, format!("{method} {url}: TLS handshake: {e}"))
            })?;
            p.tls = true;
            exchange(stream, method, url, body, &self.headers, extra, p).await
        } else {
            p.tls = false;
            exchange(tcp, method, url, body, &self.headers, extra, p).await
        }
    }

    async fn resolve(&self, url: &Url, port: u16) -> Result<Vec<SocketAddr>, Failure> {
        let fits = |a: &SocketAddr| match self.ip_version {
            Some(4) => a.is_ipv4(),
            Some(6) => a.is_ipv6(),
            _ => true,
        };
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Domain(d)) => tokio::net::lookup_host((d, port))
                .await
                .map_err(|e| {
                    Failure::new(Reason::Resolve, format!("{url}: cannot resolve {d}: {e}"))
                })?
                .collect(),
            None => return Err(Failure::new(Reason::Protocol, format!("{url}: no host"))),
        };
        let fitting: Vec<SocketAddr> = addrs.iter().copied().filter(fits).collect();
        if !fitting.is_empty() {
            return Ok(fitting);
        }
        Err(Failure::new(
            Reason::Resolve,
            format!(
                "{url}: no IPv{} address (found {})",
                self.ip_version.unwrap_or(4),
                addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// One hop's response and where it redirects to.
struct Hop {
    response: Response,
    location: Option<String>,
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The HTTP/1.1 exchange on a connected stream: the request, the headers (processing), the
/// body (transfer).
async fn exchange<S>(
    stream: S,
    method: &hyper::Method,
    url: &Url,
    body: &Bytes,
    headers: &[(HeaderName, HeaderValue)],
    extra: &[(HeaderName, HeaderValue)],
    p: &mut Progress,
) -> Result<Hop, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let protocol = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(Reason::Protocol, format!("{method} {url}: {what}: {e}"))
    };
    p.enter(Phase::Processing);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| protocol("HTTP/1.1 handshake", &e))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        // Its errors come back through the request's future.
        let _ = conn.await;
    }));
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut req = hyper::Request::builder()
        .method(method.clone())
        .uri(target)
        .header(hyper::header::HOST, host)
        .header(
            hyper::header::USER_AGENT,
            concat!("headroom/", env!("CARGO_PKG_VERSION")),
        );
    for (k, v) in headers.iter().chain(extra) {
        req = req.header(k, v);
    }
    if !body.is_empty() || *method == hyper::Method::PUT {
        req = req.header(hyper::header::CONTENT_LENGTH, body.len());
    }
    let req = req
        .body(Full::new(body.clone()))
        .map_err(|e| protocol("request", &e))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| protocol("no response", &e))?;
    p.answered = true;
    p.enter(Phase::Transfer);
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut incoming = resp.into_body();
    let mut kept = Vec::new();
    let mut length = 0u64;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| protocol("body", &e))?;
        if let Ok(data) = frame.into_data() {
            length += data.len() as u64;
            let room = BODY_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    p.close();
    Ok(Hop {
        response: Response {
            status,
            body: kept,
            length,
        },
        location,
    })
}
