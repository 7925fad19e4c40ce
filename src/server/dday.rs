//! `/dday`: the D-day board as a page (GO or NO-GO, one row per criterion with its evidence);
//! `/api/dday`: the same as JSON, for a runbook to gate on (documented in docs/dday.md).
//! `?phase=before|freeze|cutover|after` judges in another phase than the configured one.

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Response};
use serde::Deserialize;

use super::status::esc;
use crate::check::dday::{Board, judge};
use crate::check::engine::SharedBoard;
use crate::config::dday::Phase;
use crate::time::unix_now;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub phase: Option<String>,
}

fn board(shared: &SharedBoard, p: &Params) -> Result<Board, String> {
    let phase = match p.phase.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Phase::parse(s).ok_or_else(|| {
            format!("unknown phase {s:?}: one of before, freeze, cutover, after")
        })?),
    };
    Ok(judge(&shared.read(), phase, unix_now()))
}

pub async fn api(State(shared): State<SharedBoard>, Query(p): Query<Params>) -> Response {
    match board(&shared, &p) {
        Ok(b) => Json(b).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

pub async fn page(State(shared): State<SharedBoard>, Query(p): Query<Params>) -> Response {
    let b = match board(&shared, &p) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut h = String::with_capacity(8 * 1024);
    h.push_str(concat!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>headroom: D-day</title>",
        "<meta http-equiv=\"refresh\" content=\"30\">",
        "<style>body{font-family:sans-serif;font-size:13px;margin:1em}",
        "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}",
        "th{background:#ddd}.GO{background:#88d066}.NO-GO{background:#f88888}",
        "#decision{font-size:28px;font-weight:bold;padding:8px 16px;display:inline-block}",
        "ul{margin:0;padding-left:1.2em}td.reason{font-family:monospace}</style></head><body>"
    ));
    let when = match &b.dday {
        Some(d) => {
            let left = (b.dday_timestamp.unwrap_or_default() - b.evaluated_at) as f64;
            let rel = if left >= 0.0 {
                format!("in {}", crate::units::duration(left))
            } else {
                format!("{} ago", crate::units::duration(-left))
            };
            format!("D-day {} ({rel})", esc(d))
        }
        None => "no D-day configured (dday.at)".to_owned(),
    };
    let _ = write!(
        h,
        "<h1>D-day board</h1><p><span id=\"decision\" class=\"{0}\">{0}</span></p>\
         <p>{when}; phase <b id=\"phase\">{1}</b>; judged {2} (Unix {3})</p>",
        b.decision.as_str(),
        b.phase.as_str(),
        esc(&crate::time::openssl_date(b.evaluated_at)),
        b.evaluated_at
    );
    if let Some(scope) = &b.scope {
        let _ = write!(h, "<p id=\"scope\">This agent judges {}.</p>", esc(scope));
    }
    h.push_str(
        "<table id=\"criteria\"><thead><tr><th>Criterion</th><th>Decision</th><th>Why</th>\
         <th>Evidence (check on host: state, value, bound, measured)</th></tr></thead><tbody>",
    );
    for c in &b.criteria {
        let _ = write!(
            h,
            "<tr data-criterion=\"{}\"><td>{}</td><td class=\"{2}\">{2}</td><td class=\"reason\">{3}</td><td><ul>",
            esc(&c.name),
            esc(if c.title.is_empty() {
                &c.name
            } else {
                &c.title
            }),
            c.decision.as_str(),
            esc(&c.reason)
        );
        for e in &c.evidence {
            let value = e
                .value
                .map(crate::units::number)
                .unwrap_or_else(|| "-".into());
            let _ = write!(
                h,
                "<li><a href=\"/status?host={}\">{} on {}</a>: {}, value {}, bound {}, measured {}</li>",
                esc(&e.host),
                esc(&e.check),
                esc(&e.host),
                e.status.as_str(),
                esc(&value),
                esc(if e.bound.is_empty() { "none" } else { &e.bound }),
                if e.measured_at > 0 {
                    esc(&crate::time::openssl_date(e.measured_at))
                } else {
                    "never".into()
                }
            );
        }
        h.push_str("</ul></td></tr>");
    }
    h.push_str("</tbody></table><p><a href=\"/api/dday\">JSON</a> · <a href=\"/status\">service status</a></p></body></html>");
    Html(h).into_response()
}
