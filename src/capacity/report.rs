//! The capacity report: what was observed, the assessment on the current instance, a what-if
//! on another, and the recommendation, as JSON for tools (schema:
//! docs/capacity-report.schema.json) and Markdown for tickets.

use serde::Serialize;

use super::model::{Assessment, Charts, Observed};
pub use super::prices::CostInfo;

/// Everything a report says.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub db: String,
    pub generated_at: f64,
    pub window: WindowInfo,
    pub observed: ObservedInfo,
    pub current: Assessment,
    /// The what-if instance, when one was asked for.
    pub what_if: Option<Assessment>,
    /// The smallest class keeping 30% headroom for the higher of the p95 and the trend at
    /// the horizon.
    pub recommended_class: Option<String>,
    pub horizon_days: f64,
    /// The monthly price of the current and the recommended class, when a region was given.
    pub cost: Option<CostInfo>,
    /// What the HTML report's charts draw (the current instance).
    pub charts: Charts,
    /// Where the inputs came from and what they leave out.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowInfo {
    pub start: f64,
    pub end: f64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservedInfo {
    pub tps_p95: f64,
    pub usl_points: Vec<(f64, f64)>,
    pub read_iops_per_trx: Option<f64>,
    pub write_iops_per_trx: Option<f64>,
    pub bytes_per_trx: Option<f64>,
    pub miss_ratio: Option<f64>,
    pub buffer_pool_bytes: Option<f64>,
    pub hold_seconds: Option<f64>,
    pub usable_connections: Option<f64>,
    pub daily_peaks: Vec<f64>,
    pub db_bytes: Option<f64>,
    pub db_growth_bytes_per_day: Option<f64>,
}

impl From<&Observed> for ObservedInfo {
    fn from(o: &Observed) -> Self {
        ObservedInfo {
            tps_p95: o.tps_p95,
            usl_points: o.samples.iter().map(|p| (p.n, p.x)).collect(),
            read_iops_per_trx: o.read_iops_per_trx,
            write_iops_per_trx: o.write_iops_per_trx,
            bytes_per_trx: o.bytes_per_trx,
            miss_ratio: o.miss_ratio,
            buffer_pool_bytes: o.buffer_pool_bytes,
            hold_seconds: o.hold_seconds,
            usable_connections: o.usable_connections,
            daily_peaks: o.daily_peaks.clone(),
            db_bytes: o.db_bytes,
            db_growth_bytes_per_day: o.db_growth_bytes_per_day,
        }
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => super::transfer::sig3(x),
        Some(_) => "∞".into(),
        None => "-".into(),
    }
}

/// " Data 1.2 TiB, growing 3.4 GiB a day." (empty when the size is not known).
fn size_text(o: &ObservedInfo) -> String {
    let Some(b) = o.db_bytes else {
        return String::new();
    };
    let growth = o
        .db_growth_bytes_per_day
        .map(|g| {
            format!(
                ", {} {} a day",
                if g < 0.0 { "shrinking" } else { "growing" },
                bytes(g.abs())
            )
        })
        .unwrap_or_default();
    format!(" Data and indexes {}{growth}.", bytes(b))
}

/// Bytes in binary units.
fn bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{} {}", super::transfer::sig3(v), units[u])
}

/// A window's length for people: `3d 4h`, `4h 12m`.
fn span(seconds: f64) -> String {
    crate::units::duration(seconds)
}

fn pct(v: Option<f64>) -> String {
    v.map(crate::units::ratio).unwrap_or_else(|| "-".into())
}

fn assessment_md(out: &mut String, title: &str, a: &Assessment) {
    out.push_str(&format!("## {title}: {}\n\n", a.class));
    out.push_str(&format!(
        "Maximum TPS **{}**, set by **{}**; headroom against the p95: **{}**. Confidence: **{:?}**.\n\n",
        num(a.max_tps),
        a.bottleneck.map(|b| b.as_str()).unwrap_or("nothing measured"),
        pct(a.headroom),
        a.confidence.level
    ));
    out.push_str("| resource | max TPS | how |\n|---|---:|---|\n");
    for b in &a.bounds {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            b.resource.as_str(),
            num(Some(b.max_tps)),
            b.basis.replace('|', "/")
        ));
    }
    if let Some((early, likely, late)) = a.days_to_saturation {
        out.push_str(&format!(
            "\nDaily peaks reach 80% of the maximum in about **{} days** (80% interval {} to {} days).\n",
            num(Some(likely)),
            num(Some(early)),
            num(Some(late))
        ));
    }
    if let Some(u) = &a.usl {
        out.push_str(&format!(
            "\nUSL: σ {:.4}, κ {:.6}, λ {:.1} TPS per unit of concurrency; {}; {} points over concurrency {:.1} to {:.1}, mean error {:.1}%.\n",
            u.sigma,
            u.kappa,
            u.lambda,
            match u.peak_concurrency {
                Some(n) => format!("peak {} TPS at N = {n:.0}", num(Some(u.peak_tps))),
                // κ = 0: throughput only approaches λ/σ, it never turns down.
                None => format!("no peak, approaching {} TPS", num(Some(u.peak_tps))),
            },
            u.points,
            u.n_range.0,
            u.n_range.1,
            u.mape * 100.0
        ));
    }
    if !a.confidence.reasons.is_empty() {
        out.push_str("\nWhy the confidence is what it is:\n\n");
        for r in &a.confidence.reasons {
            out.push_str(&format!("- {r}\n"));
        }
    }
    out.push('\n');
}

impl Report {
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Markdown for tickets.
    pub fn markdown(&self) -> String {
        let span = span(self.window.end - self.window.start);
        let mut out = format!(
            "# Capacity of {}\n\nFrom {} over {span}. TPS p95 {}.{}\n\n",
            self.db,
            self.window.source,
            num(Some(self.observed.tps_p95)),
            size_text(&self.observed),
        );
        assessment_md(&mut out, "Now", &self.current);
        if let Some(w) = &self.what_if {
            assessment_md(&mut out, "What if", w);
        }
        match &self.recommended_class {
            Some(c) => out.push_str(&format!(
                "Smallest class keeping 30% headroom at {} days: **{c}**.\n\n",
                self.horizon_days
            )),
            None => out.push_str("No recommended class (see the notes).\n\n"),
        }
        if let Some(c) = &self.cost {
            out.push_str(&c.markdown());
        }
        if !self.notes.is_empty() {
            out.push_str("Notes:\n\n");
            for n in &self.notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }
}

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A step of 1, 2 or 5 times a power of ten giving about five ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// A tick label: as many decimals as the step needs, thousands grouped.
fn tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let s = format!("{v:.decimals$}");
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

/// One chart's frame: plot area, axes with ticks and labels; maps data to pixels.
struct Frame {
    x_max: f64,
    y_max: f64,
    svg: String,
}

const W: f64 = 640.0;
const H: f64 = 320.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

impl Frame {
    fn new(class: &str, title: &str, x_label: &str, y_label: &str, x_max: f64, y_max: f64) -> Self {
        let xs = tick_step(x_max);
        let ys = tick_step(y_max);
        let x_max = (x_max / xs).ceil().max(1.0) * xs;
        let y_max = (y_max / ys).ceil().max(1.0) * ys;
        let mut f = Frame {
            x_max,
            y_max,
            svg: format!(
                "<svg class=\"chart {class}\" role=\"img\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
                esc(title)
            ),
        };
        let (x0, y0) = (LEFT, H - BOTTOM);
        let mut t = 0.0;
        while t <= y_max + ys / 2.0 {
            let y = f.y(t);
            f.svg.push_str(&format!(
                "<line class=\"grid\" x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                W - RIGHT,
                x0 - 6.0,
                y + 4.0,
                tick(t, ys)
            ));
            t += ys;
        }
        let mut t = 0.0;
        while t <= x_max + xs / 2.0 {
            let x = f.x(t);
            f.svg.push_str(&format!(
                "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y0 + 4.0,
                y0 + 16.0,
                tick(t, xs)
            ));
            t += xs;
        }
        f.svg.push_str(&format!(
            "<line class=\"axis\" x1=\"{x0}\" y1=\"{TOP}\" x2=\"{x0}\" y2=\"{y0}\"/><line class=\"axis\" x1=\"{x0}\" y1=\"{y0}\" x2=\"{:.1}\" y2=\"{y0}\"/><text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text class=\"label\" transform=\"rotate(-90)\" x=\"{:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            W - RIGHT,
            (x0 + W - RIGHT) / 2.0,
            H - 8.0,
            esc(x_label),
            -(TOP + y0) / 2.0,
            esc(y_label)
        ));
        f
    }

    fn x(&self, v: f64) -> f64 {
        LEFT + (v / self.x_max).clamp(0.0, 1.05) * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        (H - BOTTOM) - (v / self.y_max).clamp(0.0, 1.05) * (H - BOTTOM - TOP)
    }

    /// A horizontal line across the plot, labelled at its right end.
    fn level(&mut self, class: &str, v: f64, label: &str) {
        let y = self.y(v);
        self.svg.push_str(&format!(
            "<line class=\"{class}\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"{class}-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - RIGHT,
            W - RIGHT + 4.0,
            y + 4.0,
            esc(label)
        ));
    }

    fn path(&mut self, class: &str, pts: &[(f64, f64)]) {
        if pts.len() < 2 {
            return;
        }
        let d: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, (a, b))| {
                format!(
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { "L" },
                    self.x(*a),
                    self.y(*b)
                )
            })
            .collect();
        self.svg
            .push_str(&format!("<path class=\"{class}\" d=\"{}\"/>", d.join(" ")));
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// TPS against concurrency: the observed points, the fitted USL curve and each resource's
/// ceiling.
fn tps_chart(r: &Report) -> String {
    let a = &r.current;
    let pts = &r.observed.usl_points;
    let curve = &r.charts.usl_curve;
    let x_max = pts
        .iter()
        .chain(curve.iter())
        .map(|p| p.0)
        .fold(1.0, f64::max);
    let finite = |v: f64| v.is_finite().then_some(v);
    let observed_max = pts.iter().map(|p| p.1).fold(r.observed.tps_p95, f64::max);
    let ceilings: Vec<f64> = a.bounds.iter().filter_map(|b| finite(b.max_tps)).collect();
    // Ceilings far above what was seen would flatten the data: those past 4× are listed,
    // not drawn.
    let y_max = ceilings
        .iter()
        .copied()
        .chain(a.max_tps.filter(|m| m.is_finite()))
        .filter(|c| *c <= observed_max * 4.0)
        .chain(curve.iter().map(|p| p.1))
        .fold(observed_max.max(1.0), f64::max)
        * 1.05;
    let mut f = Frame::new(
        "tps-vs-concurrency",
        &format!("{}: TPS against concurrency", r.db),
        "concurrency (transactions in flight; see the notes)",
        "transactions per second",
        x_max,
        y_max,
    );
    for b in &a.bounds {
        if b.max_tps.is_finite() && b.max_tps <= y_max {
            f.level(
                "ceiling",
                b.max_tps,
                &format!("{} {}", b.resource.as_str(), num(Some(b.max_tps))),
            );
        }
    }
    // The maximum differs from every ceiling when it is capped at twice what was observed.
    if let Some(m) = a.max_tps.filter(|m| m.is_finite() && *m <= y_max)
        && !a.bounds.iter().any(|b| b.max_tps == m)
    {
        f.level("ceiling", m, &format!("max {} (capped)", num(Some(m))));
    }
    f.level(
        "p95",
        r.observed.tps_p95,
        &format!("p95 {}", num(Some(r.observed.tps_p95))),
    );
    f.path("fit", curve);
    for (n, x) in pts {
        let (cx, cy) = (f.x(*n), f.y(*x));
        f.svg.push_str(&format!(
            "<circle class=\"observed\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"4\"><title>N {n:.2}: {} TPS</title></circle>",
            num(Some(*x))
        ));
    }
    f.finish()
}

/// Daily peaks, the forecast band to the horizon and the maximum.
fn history_chart(r: &Report) -> String {
    let peaks = &r.observed.daily_peaks;
    let fc = &r.charts.forecast;
    let days = peaks.len() as f64;
    let last = (days - 1.0).max(0.0);
    let x_max = (last + fc.last().map(|p| p.0).unwrap_or(0.0)).max(1.0);
    let max_tps = r.current.max_tps.filter(|m| m.is_finite());
    let y_max = peaks
        .iter()
        .copied()
        .chain(fc.iter().map(|p| p.3))
        .chain(max_tps)
        .fold(r.observed.tps_p95.max(1.0), f64::max)
        * 1.05;
    let mut f = Frame::new(
        "history",
        &format!("{}: daily peak TPS and forecast", r.db),
        "days from the start of the window",
        "daily peak TPS",
        x_max,
        y_max,
    );
    if let Some(m) = max_tps {
        f.level("ceiling", m, &format!("max {}", num(Some(m))));
        f.level("saturation", 0.8 * m, "80% of max");
    }
    if fc.len() >= 2 {
        let upper: Vec<String> = fc
            .iter()
            .map(|(d, _, _, hi)| format!("{:.1},{:.1}", f.x(last + d), f.y(*hi)))
            .collect();
        let lower: Vec<String> = fc
            .iter()
            .rev()
            .map(|(d, lo, _, _)| format!("{:.1},{:.1}", f.x(last + d), f.y(*lo)))
            .collect();
        f.svg.push_str(&format!(
            "<polygon class=\"band\" points=\"{} {}\"><title>80% interval of the trend</title></polygon>",
            upper.join(" "),
            lower.join(" ")
        ));
        let mid: Vec<(f64, f64)> = fc.iter().map(|(d, _, m, _)| (last + d, *m)).collect();
        f.path("trend", &mid);
    }
    let line: Vec<(f64, f64)> = peaks
        .iter()
        .enumerate()
        .map(|(i, p)| (i as f64, *p))
        .collect();
    f.path("peaks", &line);
    for (d, p) in &line {
        let (cx, cy) = (f.x(*d), f.y(*p));
        f.svg.push_str(&format!(
            "<circle class=\"peak\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\"><title>day {d:.0}: {} TPS</title></circle>",
            num(Some(*p))
        ));
    }
    if peaks.len() < 7 {
        f.svg.push_str(&format!(
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} of history: a trend needs 7</text>",
            (LEFT + W - RIGHT) / 2.0,
            TOP + 24.0,
            match peaks.len() {
                1 => "1 whole day".to_owned(),
                n => format!("{n} whole days"),
            }
        ));
    }
    f.finish()
}

fn assessment_html(out: &mut String, title: &str, a: &Assessment) {
    out.push_str(&format!(
        "<h3>{}: {}</h3><p>Maximum TPS <b>{}</b>, set by <b>{}</b>; headroom against the p95 <b>{}</b>; confidence <b class=\"conf-{:?}\">{:?}</b>.</p>",
        esc(title),
        esc(&a.class),
        num(a.max_tps),
        a.bottleneck.map(|b| b.as_str()).unwrap_or("nothing measured"),
        pct(a.headroom),
        a.confidence.level,
        a.confidence.level
    ));
    out.push_str("<table><tr><th>resource</th><th>max TPS</th><th>how</th></tr>");
    for b in &a.bounds {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            b.resource.as_str(),
            num(Some(b.max_tps)),
            esc(&b.basis)
        ));
    }
    out.push_str("</table>");
    if let Some((early, likely, late)) = a.days_to_saturation {
        out.push_str(&format!(
            "<p>Daily peaks reach 80% of the maximum in about <b>{} days</b> (80% interval {} to {} days).</p>",
            num(Some(likely)),
            num(Some(early)),
            num(Some(late))
        ));
    }
    if !a.confidence.reasons.is_empty() {
        out.push_str("<ul class=\"reasons\">");
        for r in &a.confidence.reasons {
            out.push_str(&format!("<li>{}</li>", esc(r)));
        }
        out.push_str("</ul>");
    }
}

/// One self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched) for the
/// reports of one or more databases.
pub fn html(reports: &[Report]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>headroom capacity report</title><style>\
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}td.n{text-align:right}\
section.db{border-top:2px solid #444;margin-top:2em}\
svg.chart{display:block;margin:1em 0;background:#fff}\
.grid{stroke:#eee}.axis{stroke:#888}.tick,.label{font-size:11px;fill:#555}\
.observed{fill:#1f77b4}.fit{fill:none;stroke:#1f77b4;stroke-width:2}\
.ceiling{stroke:#d62728;stroke-dasharray:6 4}.ceiling-label{font-size:11px;fill:#d62728}\
.p95{stroke:#2ca02c;stroke-dasharray:2 3}.p95-label{font-size:11px;fill:#2ca02c}\
.saturation{stroke:#ff7f0e;stroke-dasharray:4 4}.saturation-label{font-size:11px;fill:#ff7f0e}\
.band{fill:#9467bd;fill-opacity:.2;stroke:none}.trend{fill:none;stroke:#9467bd;stroke-width:2;stroke-dasharray:5 3}\
.peaks{fill:none;stroke:#444}.peak{fill:#444}.empty{font-size:12px;fill:#888}\
.conf-Low{color:#d62728}.conf-Medium{color:#ff7f0e}.conf-High{color:#2ca02c}\
</style></head><body><h1>Capacity report</h1>",
    );
    out.push_str("<table><tr><th>database</th><th>class</th><th>max TPS</th><th>bottleneck</th><th>p95 TPS</th><th>headroom</th><th>80% of max in</th><th>recommended</th><th>confidence</th></tr>");
    for r in reports {
        let a = &r.current;
        out.push_str(&format!(
            "<tr><td><a href=\"#db-{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"conf-{:?}\">{:?}</td></tr>",
            esc(&r.db),
            esc(&r.db),
            esc(&a.class),
            num(a.max_tps),
            a.bottleneck.map(|b| b.as_str()).unwrap_or("-"),
            num(Some(r.observed.tps_p95)),
            pct(a.headroom),
            a.days_to_saturation
                .map(|(_, d, _)| format!("{} days", num(Some(d))))
                .unwrap_or_else(|| "-".into()),
            esc(r.recommended_class.as_deref().unwrap_or("-")),
            a.confidence.level,
            a.confidence.level
        ));
    }
    out.push_str("</table>");
    for r in reports {
        out.push_str(&format!(
            "<section class=\"db\" id=\"db-{}\"><h2>{}</h2><p>From {} over {}; TPS p95 {}.{}</p>",
            esc(&r.db),
            esc(&r.db),
            esc(&r.window.source),
            span(r.window.end - r.window.start),
            num(Some(r.observed.tps_p95)),
            esc(&size_text(&r.observed))
        ));
        out.push_str(&tps_chart(r));
        out.push_str(&history_chart(r));
        assessment_html(&mut out, "Now", &r.current);
        if let Some(w) = &r.what_if {
            assessment_html(&mut out, "What if", w);
        }
        out.push_str(&match &r.recommended_class {
            Some(c) => format!(
                "<p>Smallest class keeping 30% headroom at {} days: <b>{}</b>.</p>",
                r.horizon_days,
                esc(c)
            ),
            None => "<p>No recommended class (see the notes).</p>".into(),
        });
        if let Some(c) = &r.cost {
            out.push_str("<p class=\"cost\">");
            out.push_str(&esc(c.markdown().trim()).replace('\n', "<br>"));
            out.push_str("</p>");
        }
        if !r.notes.is_empty() {
            out.push_str("<h3>Notes</h3><ul>");
            for n in &r.notes {
                out.push_str(&format!("<li>{}</li>", esc(n)));
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::catalog::{StorageType, shipped, storage};
    use crate::capacity::model::{Instance, assess, charts};
    use crate::capacity::usl::Point;

    fn report(db: &str) -> Report {
        let usl = crate::capacity::usl::Usl {
            sigma: 0.05,
            kappa: 0.001,
            lambda: 1000.0,
        };
        let obs = Observed {
            tps_p95: 5000.0,
            samples: [1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0]
                .iter()
                .map(|n| Point {
                    n: *n,
                    x: usl.throughput(*n),
                })
                .collect(),
            cpu: Some((0.5, 4000.0)),
            read_iops_per_trx: Some(0.2),
            write_iops_per_trx: Some(0.3),
            usable_connections: Some(1000.0),
            hold_seconds: Some(0.002),
            daily_peaks: (0..10)
                .map(|d| 4000.0 + 50.0 * f64::from(d) + 30.0 * f64::from(d % 3 - 1))
                .collect(),
            ..Observed::default()
        };
        let class = shipped()
            .into_iter()
            .find(|c| c.name == "db.r5.large")
            .unwrap();
        let inst = Instance {
            class,
            storage: storage(StorageType::Gp3, 500.0, Some(12000.0), None).unwrap(),
        };
        let a = assess(&obs, &inst, &inst);
        Report {
            schema_version: 1,
            db: db.into(),
            generated_at: 0.0,
            window: WindowInfo {
                start: 0.0,
                end: 10.0 * 86_400.0,
                source: "test".into(),
            },
            observed: ObservedInfo::from(&obs),
            charts: charts(&obs, &a, 90.0),
            current: a,
            what_if: None,
            recommended_class: Some("db.r5.xlarge".into()),
            horizon_days: 90.0,
            cost: None,
            notes: vec!["a <note>".into()],
        }
    }

    #[test]
    fn cost_beside_the_recommendation() {
        let t = crate::capacity::prices::shipped();
        let mut r = report("db1");
        // db.t3.medium has a MySQL row (0.068/h); db.t4g.large too (0.073/h); db.r5.xlarge
        // has none.
        r.cost = Some(crate::capacity::prices::cost_of(
            &t,
            "us-east-1",
            "db.t3.medium",
            Some("db.t4g.large"),
        ));
        let c = r.cost.clone().unwrap();
        assert!((c.current_usd_per_month.unwrap() - 49.64).abs() < 1e-9);
        assert!((c.recommended_usd_per_month.unwrap() - 53.29).abs() < 1e-9);
        assert!((c.change_usd_per_month.unwrap() - 3.65).abs() < 1e-9);
        let md = r.markdown();
        assert!(
            md.contains("Cost (instance hours, on-demand, mysql single-az in us-east-1, 730 h a month): db.t3.medium $49.64/month now; recommended db.t4g.large $53.29/month (+$3.65/month)."),
            "{md}"
        );
        assert!(md.contains("Prices: reintech.io"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["cost"]["current_class"], "db.t3.medium");
        assert!(html(&[r]).contains("<p class=\"cost\">Cost (instance hours"));
        // An unpriced class says so, never $0.
        let c =
            crate::capacity::prices::cost_of(&t, "us-east-1", "db.r5.large", Some("db.r5.xlarge"));
        assert_eq!(c.current_usd_per_month, None);
        assert_eq!(c.unpriced, vec!["db.r5.large", "db.r5.xlarge"]);
        assert!(c.markdown().contains("db.r5.large unpriced now; recommended db.r5.xlarge unpriced.\nNo price for db.r5.large, db.r5.xlarge in us-east-1 (mysql single-az)"), "{}", c.markdown());
    }

    #[test]
    fn html_has_both_charts_with_every_point_and_no_script() {
        let r = report("db<1>");
        assert!(r.charts.usl_curve.len() > 10);
        assert_eq!(r.charts.forecast.len(), 31);
        let page = html(&[r.clone(), report("db2")]);
        assert_eq!(
            page.matches("<svg class=\"chart tps-vs-concurrency\"")
                .count(),
            2
        );
        assert_eq!(page.matches("<svg class=\"chart history\"").count(), 2);
        // 8 concurrency points and 10 daily peaks per database.
        assert_eq!(page.matches("<circle class=\"observed\"").count(), 16);
        assert_eq!(page.matches("<circle class=\"peak\"").count(), 20);
        assert_eq!(page.matches("<polygon class=\"band\"").count(), 2);
        assert_eq!(page.matches("<path class=\"fit\"").count(), 2);
        assert!(!page.contains("<script"));
        // Names and notes are escaped.
        assert!(page.contains("db&lt;1&gt;") && !page.contains("db<1>"));
        assert!(page.contains("a &lt;note&gt;"));
        // The forecast band widens with the horizon: its low end below its high end.
        let (_, lo, mid, hi) = *r.charts.forecast.last().unwrap();
        assert!(lo < mid && mid < hi, "{lo} {mid} {hi}");
    }

    #[test]
    fn ticks_are_readable() {
        assert_eq!(tick(0.0, 500.0), "0");
        assert_eq!(tick(12500.0, 2500.0), "12,500");
        assert_eq!(tick(0.4, 0.2), "0.4");
        assert_eq!(tick(0.05, 0.05), "0.05");
        assert_eq!(tick_step(97.0), 20.0);
        assert_eq!(tick_step(1.0), 0.2);
    }
}
