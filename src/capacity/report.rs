//! The capacity report: what was observed, the assessment on the current instance, a what-if
//! on another, and the recommendation, as JSON for tools (schema:
//! docs/capacity-report.schema.json) and Markdown for tickets.

use serde::Serialize;

use super::model::{Assessment, Observed};

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

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
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
            "\nUSL: σ {:.4}, κ {:.6}, λ {:.1} TPS per unit of concurrency; peak {} TPS at {}; {} points over concurrency {:.1} to {:.1}, mean error {:.1}%.\n",
            u.sigma,
            u.kappa,
            u.lambda,
            num(Some(u.peak_tps)),
            u.peak_concurrency.map(|n| format!("N = {n:.0}")).unwrap_or_else(|| "no peak".into()),
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
        let span = self.window.end - self.window.start;
        let span = if span >= 86_400.0 {
            format!("{:.1} days", span / 86_400.0)
        } else if span >= 3600.0 {
            format!("{:.1} hours", span / 3600.0)
        } else {
            format!("{:.0} minutes", span / 60.0)
        };
        let mut out = format!(
            "# Capacity of {}\n\nFrom {} over {span}. TPS p95 {}.\n\n",
            self.db,
            self.window.source,
            num(Some(self.observed.tps_p95)),
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
        if !self.notes.is_empty() {
            out.push_str("Notes:\n\n");
            for n in &self.notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }
}
