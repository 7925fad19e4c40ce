//! The Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted to (concurrency,
//! throughput) samples by bounded nonlinear least squares.
//!
//! Why these choices: nonlinear least squares with λ free is what Baron Schwartz's e-book
//! "Practical Scalability Analysis with the Universal Scalability Law" (`nls` in R) and
//! codahale/usl4j (Levenberg–Marquardt) do, and needs no N=1 point, unlike Gunther's quadratic
//! transform. Live samples are fitted on relative residuals, because their variance grows with
//! N; the e-book fits absolute ones, and
//! [`Residuals::Absolute`] reproduces its numbers. σ is bounded to [0, 1] and κ to ≥ 0 so
//! that a fit never claims superlinear scaling or a negative coherency cost, and a fit that
//! lands on a bound says so.

/// One observation: concurrency and throughput at it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub n: f64,
    pub x: f64,
}

/// The fitted law.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usl {
    /// Contention: the share of work that is serialized.
    pub sigma: f64,
    /// Coherency (crosstalk): the only term that makes throughput fall.
    pub kappa: f64,
    /// Throughput of one worker.
    pub lambda: f64,
}

impl Usl {
    /// Throughput at concurrency `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        self.lambda * n / self.denominator(n)
    }

    fn denominator(&self, n: f64) -> f64 {
        1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0)
    }

    /// Response time at concurrency `n` by Little's law, R = N / X.
    pub fn response_time(&self, n: f64) -> f64 {
        self.denominator(n) / self.lambda
    }

    /// The concurrency of peak throughput, ⌊√((1−σ)/κ)⌋; `None` without a coherency term
    /// (throughput then only approaches λ/σ).
    pub fn peak_concurrency(&self) -> Option<f64> {
        (self.kappa > 0.0).then(|| ((1.0 - self.sigma) / self.kappa).sqrt().floor().max(1.0))
    }

    /// Peak throughput X(N*), or the asymptote λ/σ without coherency (∞ without either).
    pub fn peak_throughput(&self) -> f64 {
        match self.peak_concurrency() {
            Some(n) => self.throughput(n),
            None if self.sigma > 0.0 => self.lambda / self.sigma,
            None => f64::INFINITY,
        }
    }

    /// The largest concurrency whose response time stays within `r` (seconds), solving
    /// R(N) = r for N; `None` when even N = 1 is slower.
    pub fn concurrency_for_response_time(&self, r: f64) -> Option<f64> {
        let (s, k, l) = (self.sigma, self.kappa, self.lambda);
        if self.response_time(1.0) > r {
            return None;
        }
        // κN² + (σ−κ)N + (1−σ−λr) = 0, the positive root.
        if k <= 0.0 {
            return Some(if s > 0.0 {
                (l * r - 1.0 + s) / s
            } else {
                f64::INFINITY
            });
        }
        let b = s - k;
        let c = 1.0 - s - l * r;
        Some((-b + (b * b - 4.0 * k * c).sqrt()) / (2.0 * k))
    }
}

/// What a fit found, and why it may not be trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub usl: Usl,
    /// Mean absolute percentage error of the fit on its own points.
    pub mape: f64,
    pub points: usize,
    pub n_min: f64,
    pub n_max: f64,
    /// Reasons the data cannot support the fit (empty when it can).
    pub flags: Vec<String>,
}

/// Fewest points a fit is made from (usl4j's minimum; the e-book uses a dozen or more).
pub const MIN_POINTS: usize = 6;
/// Smallest spread of concurrency, max/min, that can separate σ from κ.
pub const MIN_SPREAD: f64 = 3.0;

/// What the fit minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residuals {
    /// Σ((X(N) − x)/x)²: every point counts alike (for live samples).
    Relative,
    /// Σ(X(N) − x)²: the e-book's `nls` (high-throughput points weigh more).
    Absolute,
}

impl Residuals {
    fn weight(self, x: f64) -> f64 {
        match self {
            Residuals::Relative => x,
            Residuals::Absolute => 1.0,
        }
    }
}

/// The points a model can be fitted to (n and x positive and finite), or `None` when fewer
/// than three are: both models have (at least) three parameters.
pub fn usable(points: &[Point]) -> Option<Vec<Point>> {
    let pts: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.n > 0.0 && p.x > 0.0 && p.n.is_finite() && p.x.is_finite())
        .collect();
    (pts.len() >= 3).then_some(pts)
}

/// Fits the law to `points` (n > 0, x > 0; others are ignored). Returns `None` with fewer
/// than three usable points (three parameters); otherwise a fit with its flags.
pub fn fit(points: &[Point], residuals: Residuals) -> Option<Fit> {
    let pts = usable(points)?;
    // Start as the e-book does (σ = 0.1, κ = 0.01) with λ from the best per-worker rate seen,
    // and also from no contention at all; keep the better end.
    let lambda0 = pts.iter().map(|p| p.x / p.n).fold(0.0, f64::max);
    let starts = [
        Usl {
            sigma: 0.1,
            kappa: 0.01,
            lambda: lambda0,
        },
        Usl {
            sigma: 0.0,
            kappa: 0.0,
            lambda: lambda0,
        },
    ];
    let usl = starts
        .into_iter()
        .map(|s| levenberg_marquardt(&pts, s, residuals))
        .min_by(|a, b| cost(&pts, a, residuals).total_cmp(&cost(&pts, b, residuals)))?;
    let n_min = pts.iter().map(|p| p.n).fold(f64::INFINITY, f64::min);
    let n_max = pts.iter().map(|p| p.n).fold(0.0, f64::max);
    let mape = pts
        .iter()
        .map(|p| ((usl.throughput(p.n) - p.x) / p.x).abs())
        .sum::<f64>()
        / pts.len() as f64;
    let mut flags = Vec::new();
    let levels = {
        let mut ns: Vec<f64> = pts.iter().map(|p| p.n).collect();
        ns.sort_by(f64::total_cmp);
        ns.dedup();
        ns.len()
    };
    if levels < MIN_POINTS {
        flags.push(format!(
            "only {levels} concurrency levels: a fit needs at least {MIN_POINTS}"
        ));
    }
    if n_max / n_min < MIN_SPREAD {
        flags.push(format!(
            "concurrency spans {:.1}x ({n_min:.1} to {n_max:.1}): at least {MIN_SPREAD}x is needed to tell contention from coherency",
            n_max / n_min
        ));
    }
    if usl.kappa <= 0.0 {
        flags.push("no coherency cost found (κ = 0): the data shows no peak".into());
    }
    if usl.sigma <= 0.0 {
        flags.push("σ at its bound 0: the data looks superlinear".into());
    }
    if usl.sigma >= 1.0 {
        flags.push(
            "σ at its bound 1: throughput did not grow with concurrency in the data (the peak is at its lowest level)".into(),
        );
    }
    Some(Fit {
        usl,
        mape,
        points: pts.len(),
        n_min,
        n_max,
        flags,
    })
}

/// Sum of squared (weighted) residuals.
fn cost(pts: &[Point], u: &Usl, w: Residuals) -> f64 {
    pts.iter()
        .map(|p| ((u.throughput(p.n) - p.x) / w.weight(p.x)).powi(2))
        .sum()
}

fn clamp(u: Usl) -> Usl {
    Usl {
        sigma: u.sigma.clamp(0.0, 1.0),
        kappa: u.kappa.max(0.0),
        lambda: u.lambda.max(f64::MIN_POSITIVE),
    }
}

/// Projected Levenberg–Marquardt on (σ, κ, λ); the Jacobian is analytic.
fn levenberg_marquardt(pts: &[Point], start: Usl, w: Residuals) -> Usl {
    let mut u = clamp(start);
    let mut mu = 1e-3;
    let mut c = cost(pts, &u, w);
    for _ in 0..500 {
        // Normal equations JᵀJ δ = −Jᵀr.
        let mut jtj = [[0.0f64; 3]; 3];
        let mut jtr = [0.0f64; 3];
        for p in pts {
            let d = u.denominator(p.n);
            let model = u.lambda * p.n / d;
            let wx = w.weight(p.x);
            let r = (model - p.x) / wx;
            let g = [
                -u.lambda * p.n * (p.n - 1.0) / (d * d) / wx,
                -u.lambda * p.n * p.n * (p.n - 1.0) / (d * d) / wx,
                p.n / d / wx,
            ];
            for i in 0..3 {
                jtr[i] += g[i] * r;
                for j in 0..3 {
                    jtj[i][j] += g[i] * g[j];
                }
            }
        }
        let mut improved = false;
        for _ in 0..30 {
            let mut a = jtj;
            for (i, row) in a.iter_mut().enumerate() {
                row[i] += mu * jtj[i][i].max(1e-30);
            }
            let Some(delta) = solve3(a, [-jtr[0], -jtr[1], -jtr[2]]) else {
                mu *= 10.0;
                continue;
            };
            let next = clamp(Usl {
                sigma: u.sigma + delta[0],
                kappa: u.kappa + delta[1],
                lambda: u.lambda + delta[2],
            });
            let nc = cost(pts, &next, w);
            if nc < c {
                let small = (c - nc) <= 1e-15 * c.max(1e-300);
                u = next;
                c = nc;
                mu = (mu / 10.0).max(1e-12);
                improved = !small;
                break;
            }
            mu *= 10.0;
        }
        if !improved {
            break;
        }
    }
    u
}

/// Solves a 3×3 system by Gaussian elimination with partial pivoting.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..3 {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for i in (0..3).rev() {
        let s: f64 = (i + 1..3).map(|k| a[i][k] * x[k]).sum();
        x[i] = (b[i] - s) / a[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The e-book's MySQL example (Schwartz, "Practical Scalability Analysis with the
    /// Universal Scalability Law", VividCortex; the same 32 points are usl4j's test data):
    /// throughput of a MySQL benchmark at 1..32 client threads.
    pub const EBOOK: [(f64, f64); 32] = [
        (1.0, 955.16),
        (2.0, 1878.91),
        (3.0, 2688.01),
        (4.0, 3548.68),
        (5.0, 4315.54),
        (6.0, 5130.43),
        (7.0, 5931.37),
        (8.0, 6531.08),
        (9.0, 7219.8),
        (10.0, 7867.61),
        (11.0, 8278.71),
        (12.0, 8646.7),
        (13.0, 9047.84),
        (14.0, 9426.55),
        (15.0, 9645.37),
        (16.0, 9897.24),
        (17.0, 10097.6),
        (18.0, 10240.5),
        (19.0, 10532.39),
        (20.0, 10798.52),
        (21.0, 11151.43),
        (22.0, 11518.63),
        (23.0, 11806.0),
        (24.0, 12089.37),
        (25.0, 12075.41),
        (26.0, 12177.29),
        (27.0, 12211.41),
        (28.0, 12158.93),
        (29.0, 12155.27),
        (30.0, 12118.04),
        (31.0, 12140.4),
        (32.0, 12074.39),
    ];

    fn points(d: &[(f64, f64)]) -> Vec<Point> {
        d.iter().map(|&(n, x)| Point { n, x }).collect()
    }

    #[test]
    fn reproduces_the_ebook_mysql_example() {
        let f = fit(&points(&EBOOK), Residuals::Absolute).unwrap();
        // The book: λ = 995.6486, σ = 0.02671591, κ = 0.0007690945, peak at N = 35.
        let close = |a: f64, b: f64| (a - b).abs() / b < 1e-4;
        assert!(close(f.usl.lambda, 995.6486), "{f:?}");
        assert!(close(f.usl.sigma, 0.02671591), "{f:?}");
        assert!(close(f.usl.kappa, 0.0007690945), "{f:?}");
        assert_eq!(f.usl.peak_concurrency(), Some(35.0));
        assert!((f.usl.peak_throughput() - 12_341.0).abs() < 1.0, "{f:?}");
        assert!(f.flags.is_empty(), "{:?}", f.flags);
        // Relative residuals weigh the low-N points as much as the high ones and land
        // elsewhere on the same data (near Gunther's transform: σ 0.020, κ 0.00088), with
        // almost the same peak.
        let r = fit(&points(&EBOOK), Residuals::Relative).unwrap();
        assert!((r.usl.lambda - 960.2).abs() < 1.0, "{r:?}");
        assert!((r.usl.sigma - 0.0206).abs() < 0.0005, "{r:?}");
        assert!((r.usl.kappa - 0.000886).abs() < 0.00001, "{r:?}");
        assert_eq!(r.usl.peak_concurrency(), Some(33.0));
        assert!((r.usl.peak_throughput() / f.usl.peak_throughput() - 1.0).abs() < 0.02);
    }

    #[test]
    fn response_time_and_latency_bound() {
        let u = Usl {
            sigma: 0.02671591,
            kappa: 0.0007690945,
            lambda: 995.6486,
        };
        // R(N) = N / X(N), and solving R(N) = r gives N back.
        let n = 17.0;
        let r = u.response_time(n);
        assert!((r - n / u.throughput(n)).abs() < 1e-12);
        assert!((u.concurrency_for_response_time(r).unwrap() - n).abs() < 1e-6);
        assert_eq!(u.concurrency_for_response_time(1e-6), None);
    }

    #[test]
    fn thin_data_is_flagged() {
        // Four points spanning 2x: a fit, but one that cannot be trusted.
        let f = fit(&points(&EBOOK[3..7]), Residuals::Relative).unwrap();
        assert!(
            f.flags[0].starts_with("only 4 concurrency levels"),
            "{:?}",
            f.flags
        );
        assert!(
            f.flags[1].starts_with("concurrency spans 1.8x"),
            "{:?}",
            f.flags
        );
        assert!(fit(&points(&EBOOK[..2]), Residuals::Relative).is_none());
    }

    #[test]
    fn linear_data_has_no_peak() {
        let d: Vec<(f64, f64)> = (1..=10).map(|n| (n as f64, 100.0 * n as f64)).collect();
        let f = fit(&points(&d), Residuals::Relative).unwrap();
        assert!((f.usl.lambda - 100.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.usl.peak_concurrency(), None);
        assert!(
            f.flags.iter().any(|x| x.contains("no peak")),
            "{:?}",
            f.flags
        );
    }
}
