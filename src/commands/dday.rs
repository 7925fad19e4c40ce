//! `headroom dday`: asks the running daemon for its D-day board (`/api/dday`) and prints it
//! with the exit code a runbook gates on. The daemon's judgment is the one that counts: it
//! has the checks' soft and hard states and the rates measured over their windows, which
//! one poll from here would not.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cli::DdayArgs;
use crate::config::Secret;
use crate::config_file;

/// Exit codes.
pub const GO: u8 = 0;
pub const NO_GO: u8 = 2;
pub const CANNOT_TELL: u8 = 3;

/// Runs the command: (what to print on stdout, exit code).
pub async fn run(a: &DdayArgs) -> (String, u8) {
    match fetch(a).await {
        Ok(board) => {
            let code = match board["decision"].as_str() {
                Some("GO") => GO,
                Some("NO-GO") => NO_GO,
                _ => {
                    return (
                        format!("UNKNOWN: the daemon's answer has no decision: {board}"),
                        CANNOT_TELL,
                    );
                }
            };
            let text = if a.format == "json" {
                serde_json::to_string_pretty(&board).unwrap_or_default()
            } else {
                render(&board)
            };
            (text, code)
        }
        Err(e) => (format!("UNKNOWN: cannot tell: {e}"), CANNOT_TELL),
    }
}

async fn fetch(a: &DdayArgs) -> Result<Value, String> {
    if !matches!(a.format.as_str(), "text" | "json") {
        return Err(format!("unknown --format {:?}: text or json", a.format));
    }
    let base = match (&a.url, &a.config) {
        (Some(u), _) => u.trim_end_matches('/').to_owned(),
        (None, Some(path)) => {
            let scheme = if a.tls { "https" } else { "http" };
            format!("{scheme}://{}", config_file::listen_of(path)?)
        }
        (None, None) => return Err("give --config FILE or --url URL".into()),
    };
    let mut url = format!("{base}/api/dday");
    if let Some(p) = &a.phase {
        url.push_str(&format!("?phase={p}"));
    }
    let client = client(a)?;
    let mut req = client.get(&url);
    if let Some(user) = &a.user {
        let password =
            Secret::from_env_or_file(a.password_env.as_deref(), a.password_file.as_deref())?;
        req = req.basic_auth(user, password.as_ref().map(Secret::expose));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("no headroom daemon answers at {base} ({})", chain(&e)))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {}", body.trim()));
    }
    serde_json::from_str(&body).map_err(|e| format!("{url}: not the board's JSON ({e})"))
}

/// The HTTP client, with the TLS settings of the command line.
fn client(a: &DdayArgs) -> Result<reqwest::Client, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs_f64(a.timeout.max(0.1)));
    if let Some(ca) = &a.ca_file {
        let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("{}: no PEM certificate in it", ca.display()))?;
        b = b.tls_certs_only(certs);
    }
    if let (Some(cert), Some(key)) = (&a.cert_file, &a.key_file) {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(key)?);
        // The error says which files, never what is in them (the key).
        let id = reqwest::Identity::from_pem(&pem).map_err(|_| {
            format!(
                "{} and {}: not a PEM certificate and its private key",
                cert.display(),
                key.display()
            )
        })?;
        b = b.identity(id);
    }
    b.build().map_err(|e| chain(&e))
}

/// An error and its causes on one line: reqwest's own message ("error sending request")
/// says little without them (the certificate problem, the refused connection).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// `NO-GO for D-day 2027-03-01T06:00:00+01:00 (phase before): 2 of 8 criteria block`, then
/// one line per criterion.
pub fn render(b: &Value) -> String {
    let criteria = b["criteria"].as_array().cloned().unwrap_or_default();
    let blocking = b["blocking"].as_array().map_or(0, Vec::len);
    let mut out = format!(
        "{} for D-day {} (phase {}): {}",
        b["decision"].as_str().unwrap_or("?"),
        b["dday"].as_str().unwrap_or("(not configured)"),
        b["phase"].as_str().unwrap_or("?"),
        if blocking == 0 {
            format!("all {} criteria GO", criteria.len())
        } else {
            format!("{blocking} of {} criteria block", criteria.len())
        }
    );
    for c in &criteria {
        out.push_str(&format!(
            "\n{:<6} {}: {}",
            c["decision"].as_str().unwrap_or("?"),
            c["name"].as_str().unwrap_or("?"),
            c["reason"].as_str().unwrap_or("")
        ));
    }
    out
}
