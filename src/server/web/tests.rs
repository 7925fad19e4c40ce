//! The web config parser (each field, errors located) and the guard's decisions.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use tower::ServiceExt;

use super::*;

/// A temp dir holding a CA (`ca.pem`), a server certificate it signed for localhost and
/// 127.0.0.1 (`server.pem`, `server.key`) and an unrelated key (`other.key`).
fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let server =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = server
        .signed_by(&server_key, &rcgen::Issuer::from_params(&ca, &ca_key))
        .unwrap();
    let w = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    w("ca.pem", ca_cert.pem());
    w("server.pem", server_cert.pem());
    w("server.key", server_key.serialize_pem());
    w(
        "other.key",
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    dir
}

fn parse_in(dir: &tempfile::TempDir, src: &str) -> Result<WebConfig, String> {
    parse(&dir.path().join("web.yml"), src).map_err(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    })
}

fn err_in(dir: &tempfile::TempDir, src: &str) -> String {
    match parse_in(dir, src) {
        Ok(c) => panic!("accepted: {}", c.summary()),
        Err(e) => e,
    }
}

#[test]
fn every_field_parses() {
    let dir = pki();
    // Relative paths are resolved against the web config file's directory.
    let src = r#"
tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  client_allowed_sans: [prometheus.example]
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305
    - TLS_AES_128_GCM_SHA256
  prefer_server_cipher_suites: false
  curve_preferences: [X25519, CurveP256, CurveP384, X25519MLKEM768]
http_server_config:
  http2: true
  headers:
    Content-Security-Policy: "default-src 'self'"
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    X-XSS-Protection: "1; mode=block"
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: $2b$10$l1lZXIrU97BTRAFvdxPOhe771X7f/OOX5ZXCctUJYIYpTnKPYGVBe
"#;
    let cfg = parse_in(&dir, src).unwrap();
    let tls = cfg.tls.as_ref().unwrap();
    assert!(!tls.ignore_client_order);
    assert_eq!(cfg.headers.len(), 5);
    assert_eq!(cfg.users.len(), 1);
    assert_eq!(
        cfg.summary(),
        "TLS (TLS 1.2..1.3, client certificates: RequireAndVerifyClientCert), basic auth: 1 user, 5 response headers"
    );
    // The cipher suites: TLS 1.3's all, then the two TLS 1.2 ones named, in their order.
    let suites: Vec<_> = tls
        .crypto_provider()
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_none())
        .map(|s| s.suite().as_str().unwrap())
        .collect();
    assert_eq!(
        suites,
        [
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        ]
    );
    assert_eq!(tls.crypto_provider().kx_groups.len(), 4);
}

#[test]
fn empty_file_is_plain_http() {
    let dir = pki();
    let cfg = parse_in(&dir, "# nothing yet\n").unwrap();
    assert!(cfg.tls.is_none() && cfg.users.is_empty());
    assert_eq!(cfg.summary(), "plain HTTP, no basic auth");
    let only_tls12 = parse_in(
        &dir,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  max_version: TLS12\n",
    )
    .unwrap();
    assert!(only_tls12.summary().starts_with("TLS (TLS 1.2..1.2"));
}

#[test]
fn errors_name_line_and_column() {
    let dir = pki();
    let cases: &[(&str, &str)] = &[
        // serde's own: an unknown field, in each section.
        (
            "tls_server_config:\n  cert_file: server.pem\n  keyfile: server.key\n",
            "DIR/web.yml:3:3: tls_server_config: unknown field `keyfile`",
        ),
        (
            "http_server_config:\n  headers:\n    X-Powered-By: me\n",
            "DIR/web.yml:3:5: http_server_config.headers: unknown field `X-Powered-By`",
        ),
        (
            "basic_auth: {}\n",
            "DIR/web.yml:1:1: unknown field `basic_auth`",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireClientCert\n",
            "DIR/web.yml:4:21: tls_server_config.client_auth_type: unknown value \"RequireClientCert\"",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n",
            "DIR/web.yml:4:16: tls_server_config.min_version: TLS10 is not supported: rustls implements TLS 1.2 and 1.3 only",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  max_version: TLS14\n",
            "DIR/web.yml:4:16: tls_server_config.max_version: unknown TLS version \"TLS14\"",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS13\n  max_version: TLS12\n",
            "DIR/web.yml:4:16: tls_server_config.min_version: Tls13 is above max_version Tls12",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n",
            "DIR/web.yml:6:7: tls_server_config.cipher_suites[1]: cipher suite \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not available",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  curve_preferences: [X25519, CurveP521]\n",
            "DIR/web.yml:4:31: tls_server_config.curve_preferences[1]: CurveP521 is not available in rustls",
        ),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n",
            "DIR/web.yml:2:14: tls_server_config.cert_file: cannot read DIR/missing.pem:",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: other.key\n",
            "DIR/web.yml:3:13: tls_server_config.key_file: key_file (DIR/other.key) with cert_file (DIR/server.pem):",
        ),
        (
            "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
            "DIR/web.yml:2:14: tls_server_config.cert_file: cert_file (DIR/server.key): no certificate",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n",
            "DIR/web.yml:3:13: tls_server_config.key_file: key_file (DIR/server.pem): no usable private key",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n",
            "DIR/web.yml:5:19: tls_server_config.client_ca_file: client_ca_file (DIR/server.key): no certificate",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
            "DIR/web.yml:4:21: tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_ca_file: ca.pem\n",
            "DIR/web.yml:4:19: tls_server_config.client_ca_file: a client CA is set but client_auth_type is NoClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  client_allowed_sans: [a]\n",
            "DIR/web.yml:6:24: tls_server_config.client_allowed_sans: needs client_auth_type RequireAnyClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key: inline\n",
            "DIR/web.yml:3:8: tls_server_config.key: an inline private key is not accepted",
        ),
        (
            "tls_server_config:\n  key_file: server.key\n",
            "DIR/web.yml:2:3: tls_server_config: cert_file and key_file are required",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "DIR/web.yml:3:22: http_server_config.headers.X-Frame-Options: \"allow\" is not accepted: expected deny or sameorigin",
        ),
        (
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
            "DIR/web.yml:3:29: http_server_config.headers.X-Content-Type-Options: \"sniff\" is not accepted: expected nosniff",
        ),
        (
            "rate_limit:\n  interval: 1s\n  burst: 20\n",
            "DIR/web.yml:2:3: rate_limit: not supported by headroom",
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            "DIR/web.yml:2:10: basic_auth_users.alice: not a bcrypt hash",
        ),
    ];
    for (src, want) in cases {
        let got = err_in(&dir, src);
        assert!(got.starts_with(want), "for\n{src}\nwant {want}\n got {got}");
    }
    // A password pasted where its hash belongs is not echoed back.
    assert!(!err_in(&dir, "basic_auth_users:\n  alice: hunter2\n").contains("hunter2"));
}

/// A router behind the guard with one user, alice, whose password is `s3cret`.
fn guarded() -> (axum::Router, SharedWeb, Registry) {
    let mut registry = Registry::default();
    let metrics = WebMetrics::register(&mut registry);
    let config = WebConfig {
        users: BTreeMap::from([("alice".to_owned(), bcrypt::hash("s3cret", 4).unwrap())]),
        headers: vec![(
            axum::http::HeaderName::from_static("x-frame-options"),
            axum::http::HeaderValue::from_static("deny"),
        )],
        ..WebConfig::default()
    };
    let web = SharedWeb::new(None, config, metrics);
    let router = axum::Router::new().route("/metrics", get(|| async { "up 1\n" }));
    (secured(router, web.clone()), web, registry)
}

async fn call(router: &axum::Router, auth: Option<&str>) -> Response {
    let mut req = Request::get("/metrics");
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[tokio::test]
async fn guard_decides_and_counts() {
    let (router, web, registry) = guarded();
    let count = |reason: &'static str| {
        web.metrics
            .auth_failures
            .get_or_create(&ReasonLabels { reason })
            .get()
    };
    let r = call(&router, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"headroom\""
    );
    // The configured headers are on a refusal too.
    assert_eq!(r.headers()["x-frame-options"], "deny");
    assert_eq!(count("missing"), 1);

    let r = call(&router, Some(&basic("alice", "wrong-pw-1"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count("wrong_password"), 1);
    let r = call(&router, Some(&basic("bob", "s3cret"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count("unknown_user"), 1);
    let r = call(&router, Some("Basic ****")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count("malformed"), 1);

    for _ in 0..3 {
        let r = call(&router, Some(&basic("alice", "s3cret"))).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-frame-options"], "deny");
    }
    assert_eq!(
        web.current().auth.cached(),
        1,
        "bcrypt ran once for three requests"
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("headroom_web_auth_failures_total{reason=\"wrong_password\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("headroom_web_tls_handshake_failures_total 0"),
        "{text}"
    );
    assert!(!text.contains("wrong-pw-1") && !text.contains("s3cret"));
}

#[tokio::test]
async fn no_users_no_guard() {
    let web = SharedWeb::new(None, WebConfig::default(), WebMetrics::default());
    let router = secured(
        axum::Router::new().route("/metrics", get(|| async { "up 1\n" })),
        web.clone(),
    );
    assert_eq!(call(&router, None).await.status(), StatusCode::OK);
    assert!(web.reload().is_none(), "no file, nothing to reload");
}

#[test]
fn reload_keeps_the_running_config_when_the_new_one_is_broken() {
    let dir = pki();
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        "basic_auth_users:\n  alice: $2b$10$l1lZXIrU97BTRAFvdxPOhe771X7f/OOX5ZXCctUJYIYpTnKPYGVBe\n",
    )
    .unwrap();
    let web = SharedWeb::new(Some(&path), load(&path).unwrap(), WebMetrics::default());
    std::fs::write(&path, "basic_auth_users:\n  alice: [not, a, hash]\n").unwrap();
    let err = web.reload().unwrap().unwrap_err().to_string();
    assert!(err.contains("web.yml:2:10"), "{err}");
    assert_eq!(web.current().config.users.len(), 1);
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    )
    .unwrap();
    let summary = web.reload().unwrap().unwrap();
    assert!(summary.starts_with("TLS ("), "{summary}");
    assert!(web.current().config.users.is_empty());
    assert!(web.current().config.tls.is_some());
}

#[test]
fn basic_auth_without_tls_is_flagged() {
    let dir = pki();
    let cfg = parse_in(
        &dir,
        "basic_auth_users:\n  alice: $2b$10$l1lZXIrU97BTRAFvdxPOhe771X7f/OOX5ZXCctUJYIYpTnKPYGVBe\n",
    )
    .unwrap();
    assert_eq!(
        cfg.summary(),
        "plain HTTP, basic auth: 1 user, WARNING: without tls_server_config passwords cross the network readable"
    );
}

#[test]
fn the_documented_example_loads() {
    // docs/running.md, "Securing the endpoints": its first YAML block is a web config.
    let doc = include_str!("../../../docs/running.md");
    let section = &doc[doc.find("## Securing the endpoints").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let dir = pki();
    std::fs::copy(dir.path().join("ca.pem"), dir.path().join("clients-ca.pem")).unwrap();
    let cfg = parse_in(&dir, example).unwrap();
    assert!(cfg.tls.is_some());
    assert_eq!(cfg.headers.len(), 2);
    // The example user's hash is of the password the comment gives.
    let auth = BasicAuth::new(cfg.users);
    assert_eq!(auth.check("prometheus", "example-only"), Ok(()));
}
