//! The saturation ("knee") model of a closed benchmark: N client threads, each issuing its next
//! transaction when the last one returns, against a server whose bottleneck (here the CPU) has
//! a fixed number of cores.
//!
//! Operational analysis bounds such a system from two sides (Denning and Buzen, "The
//! Operational Analysis of Queueing Network Models", ACM Computing Surveys 10(3), 1978; Lazowska
//! et al., "Quantitative System Performance", 1984, ch. 5, asymptotic bounds):
//!
//! - below saturation each thread completes transactions at its own rate λ = 1/(D + Z) (its
//!   service demand plus the time spent outside the server), so X(N) ≤ λN;
//! - once the bottleneck's c cores are all busy, the utilization law U = X·D with U = c gives
//!   X(N) = c / D(N).
//!
//! What a real database adds past the knee is a demand per transaction that grows with the
//! threads competing for the cores (run-queue switches, mutex spinning, a longer path through
//! the lock manager): the CPU time per transaction measured on MariaDB 10.11 with sysbench
//! grows roughly linearly with the client threads past one thread per core, which is the
//! Universal Scalability Law's contention term applied to the saturated resource,
//! D(N) = D₁(1 + κ(N − 1)). Together:
//!
//! X(N) = min(λN, X₁ / (1 + κ(N − 1))),  X₁ = c / D₁.
//!
//! The USL (`super::usl`) joins the two regimes with one smooth curve. On a machine with few
//! cores throughput rises linearly to one thread per core and then declines slowly, which a
//! single σ, κ pair can only approximate: it may round off the peak or predict too steep a
//! fall (the USL e-book, Schwartz, "Practical Scalability Analysis with the Universal
//! Scalability Law", calls a knee at one thread per core a regime change outside the law).
//! The knee model has the same three free parameters and no core count to supply: the knee,
//! where the two lines cross, comes out of the data.
//!
//! The fit minimizes relative residuals, as the USL fit does for live samples. It is exact per
//! regime: for every way of splitting the points, sorted by N, into a rising part and a
//! saturated part, λ has a closed form and so does the saturated line (1/X = a + bN is linear
//! in N), and the split whose min-model has the lowest cost on all points wins.

use super::usl::Point;

/// The fitted model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knee {
    /// Throughput of one client thread below saturation, per second (`None`: every point
    /// measured was saturated, so the rising line is unknown).
    pub lambda: Option<f64>,
    /// Saturated throughput extrapolated to one thread, c / D₁ (`None`: no point measured was
    /// saturated).
    pub x1: Option<f64>,
    /// Growth of the demand per transaction per additional thread past the knee.
    pub kappa: f64,
}

impl Knee {
    /// Throughput at concurrency `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        let rising = self.lambda.map_or(f64::INFINITY, |l| l * n);
        let saturated = self
            .x1
            .map_or(f64::INFINITY, |x1| x1 / (1.0 + self.kappa * (n - 1.0)));
        rising.min(saturated)
    }

    /// The concurrency where the rising line meets the saturated one (`None` when one of
    /// them is unknown): the solution of λN(1 + κ(N − 1)) = X₁.
    pub fn knee(&self) -> Option<f64> {
        let (l, x1, k) = (self.lambda?, self.x1?, self.kappa);
        // κλN² + (1 − κ)λN − X₁ = 0, the positive root.
        if k <= 0.0 {
            return Some(x1 / l);
        }
        let (a, b, c) = (k * l, (1.0 - k) * l, -x1);
        Some((-b + (b * b - 4.0 * a * c).sqrt()) / (2.0 * a))
    }

    /// Peak throughput, at the knee (`None` when no saturation was measured).
    pub fn peak_throughput(&self) -> Option<f64> {
        let x1 = self.x1?;
        Some(match self.knee() {
            Some(n) => self.throughput(n),
            // Only saturated points: the highest is at the lowest concurrency, N → 1.
            None => x1,
        })
    }
}

/// What a fit found.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub model: Knee,
    /// Mean absolute percentage error on the fit's own points.
    pub mape: f64,
    pub points: usize,
    /// Points assigned to the rising part and to the saturated part.
    pub rising: usize,
    pub saturated: usize,
    /// Reasons the data cannot support the fit (empty when it can).
    pub flags: Vec<String>,
}

/// Fits the model to `points` (n > 0, x > 0; others are ignored). `None` with fewer than
/// three usable points.
pub fn fit(points: &[Point]) -> Option<Fit> {
    let mut pts = super::usl::usable(points)?;
    pts.sort_by(|a, b| a.n.total_cmp(&b.n));
    let mut best: Option<(f64, Knee, usize)> = None;
    // Split after the s-th point: pts[..s] rise, pts[s..] are saturated. A split between
    // two points of the same N is not a split. The one-regime splits (all rising, all
    // saturated) go first, and a two-regime split replaces them only if it fits better.
    let n = pts.len();
    for s in [n, 0].into_iter().chain(1..n) {
        if s > 0 && s < pts.len() && pts[s - 1].n == pts[s].n {
            continue;
        }
        let lambda = rising_line(&pts[..s]);
        let (x1, kappa) = match saturated_line(&pts[s..]) {
            Some((x1, k)) => (Some(x1), k),
            None => (None, 0.0),
        };
        let model = Knee { lambda, x1, kappa };
        let c = cost(&pts, &model);
        if best.as_ref().is_none_or(|(bc, _, _)| c < *bc - 1e-12) {
            best = Some((c, model, s));
        }
    }
    let (_, model, s) = best?;
    let mape = pts
        .iter()
        .map(|p| ((model.throughput(p.n) - p.x) / p.x).abs())
        .sum::<f64>()
        / pts.len() as f64;
    let mut flags = Vec::new();
    if model.lambda.is_none() {
        flags.push(
            "every point is saturated: the knee lies below the lowest concurrency measured".into(),
        );
    }
    if model.x1.is_none() {
        flags.push("no point is saturated: throughput was still rising at the highest concurrency measured, so there is no peak".into());
    } else if pts.len() - s < 2 {
        flags.push(
            "one saturated point: the decline past the knee is not measured (κ = 0 assumed)".into(),
        );
    }
    Some(Fit {
        model,
        mape,
        points: pts.len(),
        rising: s,
        saturated: pts.len() - s,
        flags,
    })
}

/// Σ((X(N) − x)/x)².
fn cost(pts: &[Point], m: &Knee) -> f64 {
    pts.iter()
        .map(|p| ((m.throughput(p.n) - p.x) / p.x).powi(2))
        .sum()
}

/// λ minimizing Σ((λN − x)/x)²: λ = Σ(N/x) / Σ(N/x)².
fn rising_line(pts: &[Point]) -> Option<f64> {
    if pts.is_empty() {
        return None;
    }
    let (num, den) = pts.iter().fold((0.0, 0.0), |(a, b), p| {
        let r = p.n / p.x;
        (a + r, b + r * r)
    });
    (den > 0.0).then(|| num / den)
}

/// The saturated line 1/X = a + bN (b ≥ 0), minimizing Σ(x(a + bN) − 1)², which is the
/// relative residual of 1/X to first order; returned as (X₁, κ) with X₁ = 1/(a + b) and
/// κ = b/(a + b).
fn saturated_line(pts: &[Point]) -> Option<(f64, f64)> {
    if pts.is_empty() {
        return None;
    }
    // Normal equations of Σ(a·x + b·N·x − 1)².
    let (mut sxx, mut sxnx, mut snxnx, mut sx, mut snx) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in pts {
        let (u, v) = (p.x, p.n * p.x);
        sxx += u * u;
        sxnx += u * v;
        snxnx += v * v;
        sx += u;
        snx += v;
    }
    let det = sxx * snxnx - sxnx * sxnx;
    let flat = || (sx / sxx, 0.0);
    let (a, b) = if pts.len() >= 2 && det.abs() > 1e-12 * sxx * snxnx {
        let a = (sx * snxnx - snx * sxnx) / det;
        let b = (sxx * snx - sxnx * sx) / det;
        if b >= 0.0 && a + b > 0.0 {
            (a, b)
        } else {
            // Throughput that rises within the saturated part: no demand growth measured.
            flat()
        }
    } else {
        flat()
    };
    let d1 = a + b;
    (d1 > 0.0).then(|| (1.0 / d1, b / d1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(d: &[(f64, f64)]) -> Vec<Point> {
        d.iter().map(|&(n, x)| Point { n, x }).collect()
    }

    #[test]
    fn recovers_a_known_model() {
        let truth = Knee {
            lambda: Some(800.0),
            x1: Some(1700.0),
            kappa: 0.01,
        };
        let d: Vec<(f64, f64)> = [1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 64.0]
            .iter()
            .map(|&n| (n, truth.throughput(n)))
            .collect();
        let f = fit(&points(&d)).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() / b < 1e-9;
        assert!(close(f.model.lambda.unwrap(), 800.0), "{f:?}");
        assert!(close(f.model.x1.unwrap(), 1700.0), "{f:?}");
        assert!(close(f.model.kappa, 0.01), "{f:?}");
        assert_eq!((f.rising, f.saturated), (2, 6));
        assert!(f.mape < 1e-9 && f.flags.is_empty(), "{f:?}");
        // The knee: λN = X₁/(1 + κ(N − 1)) at N ≈ 2.09, where both give the peak.
        let n = f.model.knee().unwrap();
        assert!((800.0 * n - truth.throughput(n)).abs() < 1e-6);
        assert!((n - 2.1018).abs() < 1e-3, "{n}");
        assert!(close(f.model.peak_throughput().unwrap(), 800.0 * n));
    }

    /// The oltp_read_write sweep of MariaDB 10.11 on a 2-vCPU VM (sysbench 1.0.20, client and
    /// server on the same two cores, medians of 3 sweeps on a quiet machine; measured for this
    /// project, see docs/capacity.md#accuracy): a rise to two threads, then a slow decline.
    /// The knee model follows every point within 5%, and its peak the measured one.
    #[test]
    fn follows_a_measured_sweep() {
        let sweep = [
            (2.0, 1479.0),
            (4.0, 1536.0),
            (8.0, 1514.0),
            (16.0, 1414.0),
            (32.0, 1225.0),
            (64.0, 1068.0),
        ];
        let f = fit(&points(&sweep)).unwrap();
        assert!(f.mape < 0.03, "{f:?}");
        for &(n, x) in &sweep {
            let e = (f.model.throughput(n) - x) / x;
            assert!(e.abs() < 0.05, "N = {n}: {e}");
        }
        let peak = f.model.peak_throughput().unwrap();
        assert!((peak / 1536.0 - 1.0).abs() < 0.05, "{peak}");
    }

    #[test]
    fn unsaturated_and_all_saturated_data_are_flagged() {
        let rising: Vec<(f64, f64)> = (1..=6).map(|n| (n as f64, 100.0 * n as f64)).collect();
        let f = fit(&points(&rising)).unwrap();
        assert!((f.model.lambda.unwrap() - 100.0).abs() < 1e-9, "{f:?}");
        assert_eq!(f.model.peak_throughput(), None);
        assert!(f.flags[0].starts_with("no point is saturated"), "{f:?}");

        let falling: Vec<(f64, f64)> = (1..=6)
            .map(|n| (n as f64, 1000.0 / (1.0 + 0.1 * (n as f64 - 1.0))))
            .collect();
        let f = fit(&points(&falling)).unwrap();
        assert_eq!(f.model.lambda, None, "{f:?}");
        assert!((f.model.peak_throughput().unwrap() - 1000.0).abs() < 1e-6);
        assert!(f.flags[0].starts_with("every point is saturated"), "{f:?}");

        assert!(fit(&points(&rising[..2])).is_none());
    }
}
