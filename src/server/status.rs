//! `/status`: the checks as an HTML table laid out like Nagios' service status screen (host,
//! service, status, last check, duration, attempt, status information), with state colours,
//! filters by state and host, and auto-refresh. `/api/checks` is the same data as JSON.

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Json, Response};
use serde::Deserialize;

use crate::check::engine::CheckView;
use crate::check::engine::SharedBoard;
use crate::check::state::{StateType, Status};

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    /// `ok`, `warning`, `critical`, `unknown`, or `problems` (everything but OK).
    pub state: Option<String>,
    pub host: Option<String>,
    /// Seconds between refreshes; 0 turns it off. Default 10.
    pub refresh: Option<u32>,
}

impl Filter {
    fn keep(&self, c: &CheckView) -> bool {
        let state_ok = match self
            .state
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("all") => true,
            Some("problems") => c.status != Status::Ok,
            Some(s) => c.status.as_str().eq_ignore_ascii_case(s),
        };
        state_ok
            && self
                .host
                .as_deref()
                .is_none_or(|h| h.is_empty() || c.host == h)
    }
}

pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `2015-08-23 08:35:29`, UTC, as Nagios 4's status screen shows times with
/// `date_format=iso8601` (Nagios Core documentation, "Main Configuration File Options").
fn when(unix: i64) -> String {
    if unix <= 0 {
        return "never".into();
    }
    let date = crate::time::openssl_date(unix); // "Nov 26 14:54:01 2016 GMT"
    let parts: Vec<&str> = date.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[0])
    .unwrap_or(0)
        + 1;
    format!("{}-{month:02}-{:0>2} {}", parts[3], parts[1], parts[2])
}

pub async fn api(State(board): State<SharedBoard>, Query(f): Query<Filter>) -> Response {
    let b = board.read();
    let checks: Vec<&CheckView> = b.checks.iter().filter(|c| f.keep(c)).collect();
    let inactive: Vec<serde_json::Value> = b
        .inactive
        .iter()
        .map(|i| serde_json::json!({"check": i.name, "source": i.source, "reason": i.reason}))
        .collect();
    let mut body = serde_json::json!({"checks": checks, "inactive": inactive});
    if let Some(scope) = &b.scope {
        body["scope"] = scope.as_str().into();
    }
    Json(body).into_response()
}

pub async fn page(State(board): State<SharedBoard>, Query(f): Query<Filter>) -> Html<String> {
    let b = board.read();
    let refresh = f.refresh.unwrap_or(10);
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>headroom: service status</title>");
    if refresh > 0 {
        let _ = write!(h, "<meta http-equiv=\"refresh\" content=\"{refresh}\">");
    }
    h.push_str(concat!(
        "<style>body{font-family:sans-serif;font-size:13px;margin:1em}",
        "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}",
        "th{background:#ddd}tr.OK td.status{background:#88d066}tr.WARNING td.status{background:#ffff00}",
        "tr.CRITICAL td.status{background:#f88888}tr.UNKNOWN td.status{background:#ff9900}",
        "tr.pending td.status{background:#ccc}nav a{margin-right:1em}td.info{font-family:monospace}td.last-check,td.duration,td.host{white-space:nowrap}",
        ".soft{font-style:italic}</style></head><body>"
    ));
    let counts = |s: Status| b.checks.iter().filter(|c| c.status == s).count();
    let _ = write!(
        h,
        "<h1>Service status</h1><nav><a href=\"?state=all\">All ({})</a><a href=\"?state=problems\">Problems ({})</a>\
         <a href=\"?state=ok\">OK ({})</a><a href=\"?state=warning\">Warning ({})</a><a href=\"?state=critical\">Critical ({})</a>\
         <a href=\"?state=unknown\">Unknown ({})</a></nav>",
        b.checks.len(),
        b.checks.iter().filter(|c| c.status != Status::Ok).count(),
        counts(Status::Ok),
        counts(Status::Warning),
        counts(Status::Critical),
        counts(Status::Unknown)
    );
    if let Some(scope) = &b.scope {
        let _ = write!(h, "<p id=\"scope\">This agent runs {}.</p>", esc(scope));
    }
    h.push_str(
        "<table id=\"checks\"><thead><tr><th>Host</th><th>Service</th><th>Status</th><th>Last Check</th>\
         <th>Duration</th><th>Attempt</th><th>Status Information</th></tr></thead><tbody>",
    );
    let mut last_host = "";
    for c in b.checks.iter().filter(|c| f.keep(c)) {
        let host_cell = if c.host != last_host {
            format!("<a href=\"?host={0}\">{0}</a>", esc(&c.host))
        } else {
            String::new()
        };
        last_host = &c.host;
        let (class, status) = if c.has_been_checked {
            (c.status.as_str(), c.status.as_str())
        } else {
            ("pending", "PENDING")
        };
        let info = match c.output.split_once(": ") {
            Some((_, rest)) if c.has_been_checked => rest.to_owned(),
            _ => c.output.clone(),
        };
        let _ = write!(
            h,
            "<tr class=\"{class}\" data-host=\"{}\" data-check=\"{}\" data-state-type=\"{}\">\
             <td class=\"host\">{host_cell}</td><td class=\"service\">{}{}</td><td class=\"status\">{status}</td>\
             <td class=\"last-check\">{}</td><td class=\"duration\">{}</td><td class=\"attempt{}\">{}/{}</td><td class=\"info\">{}</td></tr>",
            esc(&c.host),
            esc(&c.check),
            if c.state_type == StateType::Hard {
                "HARD"
            } else {
                "SOFT"
            },
            esc(&c.check),
            if c.is_flapping {
                " <span title=\"flapping\">&#8645;</span>"
            } else {
                ""
            },
            when(c.last_check),
            esc(&c.duration),
            if c.state_type == StateType::Soft {
                " soft"
            } else {
                ""
            },
            c.attempt,
            c.max_attempts,
            esc(&info),
        );
    }
    h.push_str("</tbody></table>");
    if !b.inactive.is_empty() {
        h.push_str("<h2>Inactive checks</h2><ul id=\"inactive\">");
        for i in &b.inactive {
            let _ = write!(
                h,
                "<li><b>{}</b> ({}): {}</li>",
                esc(&i.name),
                esc(&i.source),
                esc(&i.reason)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    Html(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_escaping() {
        assert_eq!(when(1_440_318_929), "2015-08-23 08:35:29");
        assert_eq!(when(0), "never");
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
