//! The arithmetic of a migration's progress, pure: no clock, no I/O. The poller feeds it one
//! reading of the copy job's counters at a time with the moment it was taken; it keeps the
//! samples of the rate window and says what the copy has done, how fast it goes and when it
//! reaches the target ratio.
//!
//! - **Done** is `copied + skipped`: a skipped file (already at the destination, or excluded
//!   from the copy) needs no copying, so it counts toward progress like a copied one. A
//!   failed file is not done: it is still to be copied (or decided about).
//! - **Progress ratio** = done / total (absent while total is 0).
//! - **Copy rate** = the increase of done over the samples of the rate window, divided by the
//!   time between the first and the last of them: the samples carry the times they were taken,
//!   so uneven polls weigh by their real spacing. The window keeps the newest sample at or
//!   before its start, so once warm the rate spans at least `rate_window`.
//! - **A decrease** of copied, skipped or failed is a reset: the window restarts from the new
//!   value, so no rate is ever negative. The rate of the window before the reset stands until
//!   the new window spans the whole rate window (a rate over the first seconds of a restarted
//!   copier is noise), then the new window's is given. With [`Counters::SinceStart`] the values
//!   before the reset are added to the new ones (a copier whose counters restart at 0 when it
//!   restarts, as Prometheus counters do); with [`Counters::State`] the new values are taken as
//!   they are (the job's state went back: a re-run, deleted objects).
//! - **ETA** = (target ratio × total − done) / rate: 0 once reached, absent at zero rate.
//! - **Projected time** = time of the reading + ETA; once reached, the time it was first seen
//!   reached.
//! - **Schedule slack** = D-day − projected time: negative when late.

use std::collections::VecDeque;

/// The counters of one kind of thing (files, or bytes) as the copy job reports them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Side {
    pub total: f64,
    pub copied: f64,
    pub failed: Option<f64>,
    pub skipped: Option<f64>,
}

impl Side {
    /// Copied plus skipped: what needs no more copying.
    pub fn done(&self) -> f64 {
        self.copied + self.skipped.unwrap_or(0.0)
    }

    /// Done / total; `None` while total is not positive.
    pub fn ratio(&self) -> Option<f64> {
        (self.total > 0.0).then(|| self.done() / self.total)
    }
}

/// One reading of the copy job: files and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    pub files: Side,
    pub bytes: Side,
}

/// Files or bytes: the two measures progress is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum By {
    Files,
    Bytes,
}

impl By {
    pub const ALL: [By; 2] = [By::Files, By::Bytes];

    /// The `by` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Files => "files",
            By::Bytes => "bytes",
        }
    }

    pub fn parse(s: &str) -> Option<By> {
        By::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

impl Reading {
    pub fn side(&self, by: By) -> &Side {
        match by {
            By::Files => &self.files,
            By::Bytes => &self.bytes,
        }
    }
}

/// What the copy job's numbers are, which says what a decrease means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counters {
    /// The job's state (rows of its database, objects in the bucket, a status API): taken as
    /// they are; a decrease lowers progress.
    #[default]
    State,
    /// The copier process's counters since it started: a decrease is the process restarting,
    /// and what it had counted before stays done.
    SinceStart,
}

/// Copied, skipped and failed of files, then of bytes: the counters that only grow while a
/// copy runs. Missing optional counters count as 0.
type Grow = [f64; 6];

fn grow(r: &Reading) -> Grow {
    [
        r.files.copied,
        r.files.skipped.unwrap_or(0.0),
        r.files.failed.unwrap_or(0.0),
        r.bytes.copied,
        r.bytes.skipped.unwrap_or(0.0),
        r.bytes.failed.unwrap_or(0.0),
    ]
}

/// Per-second rates over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Of done (copied + skipped).
    pub files: f64,
    pub bytes: f64,
    /// Of failed.
    pub files_failed: f64,
    pub bytes_failed: f64,
    /// Seconds between the first and the last sample the rates are over.
    pub span: f64,
}

impl Rates {
    pub fn done(&self, by: By) -> f64 {
        match by {
            By::Files => self.files,
            By::Bytes => self.bytes,
        }
    }

    fn between(a: &(f64, Grow), b: &(f64, Grow)) -> Option<Rates> {
        let dt = b.0 - a.0;
        if dt <= 0.0 {
            return None;
        }
        // Within one window every counter only grew (a decrease restarts the window), so
        // no difference is negative; `max` only guards the arithmetic.
        let r = |i: usize| ((b.1[i] - a.1[i]) / dt).max(0.0);
        Some(Rates {
            files: r(0) + r(1),
            files_failed: r(2),
            bytes: r(3) + r(4),
            bytes_failed: r(5),
            span: dt,
        })
    }
}

/// What one reading gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The reading with what came before a reset added ([`Counters::SinceStart`]), or as read.
    pub reading: Reading,
    /// `None` until the window holds two samples; after a reset, the rate of the window
    /// before it until the new one is full.
    pub rates: Option<Rates>,
    /// Whether this reading showed a reset.
    pub reset: bool,
}

/// The rate window and what it remembers between readings.
#[derive(Debug, Clone)]
pub struct Tracker {
    window: f64,
    mode: Counters,
    /// The previous reading as read (before offsets).
    last_raw: Option<Grow>,
    /// What was counted before the resets, added to readings ([`Counters::SinceStart`]).
    offset: Grow,
    /// (time, counters with offsets), oldest first.
    samples: VecDeque<(f64, Grow)>,
    /// The rates of the window before a reset, until the new one gives its own.
    kept: Option<Rates>,
    /// When each measure was first seen at or above the target ratio.
    reached_at: [Option<f64>; 2],
    resets: u64,
}

impl Tracker {
    /// A tracker whose rates are over `window_s` seconds.
    pub fn new(window_s: f64, mode: Counters) -> Self {
        Tracker {
            window: window_s,
            mode,
            last_raw: None,
            offset: [0.0; 6],
            samples: VecDeque::new(),
            kept: None,
            reached_at: [None, None],
            resets: 0,
        }
    }

    /// Resets seen so far.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Takes a reading made at `t` (Unix seconds). A reading not later than the previous one
    /// is not added to the window (the rates stay those of the window).
    pub fn observe(&mut self, t: f64, raw: &Reading) -> Observed {
        let g = grow(raw);
        let reset = self
            .last_raw
            .is_some_and(|last| g.iter().zip(last.iter()).any(|(now, before)| now < before));
        if reset {
            self.resets += 1;
            if self.mode == Counters::SinceStart
                && let Some(last) = self.last_raw
            {
                for i in 0..6 {
                    if g[i] < last[i] {
                        self.offset[i] += last[i];
                    }
                }
            }
            self.kept = self.current();
            self.samples.clear();
        }
        self.last_raw = Some(g);
        let mut eff = g;
        for (e, o) in eff.iter_mut().zip(self.offset.iter()) {
            *e += o;
        }
        if self.samples.back().is_none_or(|(last_t, _)| t > *last_t) {
            self.samples.push_back((t, eff));
        }
        // Keep the newest sample at or before the window's start, drop older ones.
        let start = t - self.window;
        while self.samples.len() > 2 && self.samples[1].0 <= start {
            self.samples.pop_front();
        }
        let rates = self.current();
        if self.rates_now().is_some_and(|r| r.span >= self.window) {
            self.kept = None;
        }
        let mut reading = *raw;
        if self.mode == Counters::SinceStart {
            reading.files.copied = eff[0];
            reading.files.skipped = raw.files.skipped.map(|_| eff[1]);
            reading.files.failed = raw.files.failed.map(|_| eff[2]);
            reading.bytes.copied = eff[3];
            reading.bytes.skipped = raw.bytes.skipped.map(|_| eff[4]);
            reading.bytes.failed = raw.bytes.failed.map(|_| eff[5]);
        }
        Observed {
            reading,
            rates,
            reset,
        }
    }

    /// The rates to give: the window's, except that after a reset the rate of the window
    /// before it stands until the new window spans the whole rate window (a rate over the
    /// first seconds of a restarted copier is noise).
    fn current(&self) -> Option<Rates> {
        match (self.rates_now(), self.kept) {
            (Some(r), Some(k)) if r.span < self.window => Some(k),
            (Some(r), _) => Some(r),
            (None, k) => k,
        }
    }

    fn rates_now(&self) -> Option<Rates> {
        match (self.samples.front(), self.samples.back()) {
            (Some(a), Some(b)) if self.samples.len() >= 2 => Rates::between(a, b),
            _ => None,
        }
    }

    /// Where one measure stands against `target` (a ratio) at `t`, the time of the reading,
    /// remembering when it was first reached.
    pub fn project(&mut self, by: By, o: &Observed, target: f64, t: f64) -> Projection {
        let side = o.reading.side(by);
        let i = by as usize;
        let ratio = side.ratio();
        let reached = ratio.is_some_and(|r| r >= target);
        if reached {
            self.reached_at[i].get_or_insert(t);
        } else {
            self.reached_at[i] = None;
        }
        let rate = o.rates.map(|r| r.done(by));
        let eta = if reached {
            Some(0.0)
        } else {
            match (ratio, rate) {
                (Some(_), Some(rate)) if rate > 0.0 => {
                    Some(((target * side.total - side.done()) / rate).max(0.0))
                }
                _ => None,
            }
        };
        let projected = if reached {
            self.reached_at[i]
        } else {
            eta.map(|e| t + e)
        };
        Projection {
            ratio,
            reached,
            rate,
            eta,
            projected,
        }
    }
}

/// One measure against the target ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    pub ratio: Option<f64>,
    pub reached: bool,
    /// Done per second over the window.
    pub rate: Option<f64>,
    /// Seconds from the reading to the target ratio: 0 once reached, `None` at zero rate (or
    /// before there is a rate).
    pub eta: Option<f64>,
    /// Unix time the target ratio is (or was) reached.
    pub projected: Option<f64>,
}

/// How late or early a projection lands: D-day minus the projected time, seconds.
pub fn slack(dday_at: i64, projected: f64) -> f64 {
    dday_at as f64 - projected
}

/// A span of time for people (its size: a slack of either sign), as `units::duration`
/// words every duration: `19d 3h`, `2h 5m`, `45m`, `30s`.
pub fn human_duration(seconds: f64) -> String {
    crate::units::duration(seconds.abs())
}

/// A rate of `by` for people: `1,234 files/s`, `12.5 MB/s` (decimal units).
pub fn human_rate(by: By, per_second: f64) -> String {
    match by {
        By::Files => format!("{} files/s", sig(per_second)),
        By::Bytes if per_second <= 0.0 => "0 B/s".into(),
        By::Bytes => format!("{}/s", crate::units::bytes(per_second)),
    }
}

fn sig(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        crate::units::sig3(v)
    }
}

/// A ratio as a percentage for people (`units::ratio`): `95.3%`, and `99.95%` is not `100%`.
pub fn percent(ratio: f64) -> String {
    crate::units::ratio(ratio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(files: f64, bytes: f64) -> Reading {
        Reading {
            files: Side {
                total: 1000.0,
                copied: files,
                failed: Some(0.0),
                skipped: None,
            },
            bytes: Side {
                total: 1e6,
                copied: bytes,
                failed: None,
                skipped: None,
            },
        }
    }

    #[test]
    fn skipped_counts_as_done_and_failed_does_not() {
        let s = Side {
            total: 100.0,
            copied: 50.0,
            failed: Some(10.0),
            skipped: Some(20.0),
        };
        assert_eq!(s.done(), 70.0);
        assert_eq!(s.ratio(), Some(0.7));
        assert_eq!(Side::default().ratio(), None);
    }

    #[test]
    fn rate_over_uneven_polls_is_the_real_rate() {
        // 10 files/s, polled at 0, 1, 3.5, 4, 9 s.
        let mut t = Tracker::new(60.0, Counters::State);
        let first = t.observe(0.0, &reading(0.0, 0.0));
        assert_eq!(first.rates, None);
        for s in [1.0, 3.5, 4.0, 9.0] {
            let o = t.observe(s, &reading(10.0 * s, 1000.0 * s));
            let r = o.rates.unwrap();
            assert!((r.files - 10.0).abs() < 1e-9, "{r:?}");
            assert!((r.bytes - 1000.0).abs() < 1e-9, "{r:?}");
            assert_eq!(r.span, s);
        }
    }

    #[test]
    fn the_window_slides_and_keeps_one_sample_at_its_start() {
        // 10/s for 100 s, then 2/s: a 30 s window forgets the fast part.
        let mut t = Tracker::new(30.0, Counters::State);
        let mut v = 0.0;
        let mut last = None;
        for s in 0..=200 {
            let s = s as f64;
            if s > 0.0 {
                v += if s <= 100.0 { 10.0 } else { 2.0 };
            }
            last = t.observe(s, &reading(v, v)).rates;
        }
        let r = last.unwrap();
        assert!((r.files - 2.0).abs() < 1e-9, "{r:?}");
        assert_eq!(r.span, 30.0);
        // Polls slower than the window: the rate spans the two newest.
        let mut t = Tracker::new(30.0, Counters::State);
        t.observe(0.0, &reading(0.0, 0.0));
        t.observe(60.0, &reading(600.0, 0.0));
        let r = t.observe(120.0, &reading(900.0, 0.0)).rates.unwrap();
        assert_eq!((r.files, r.span), (5.0, 60.0));
    }

    #[test]
    fn a_reset_never_gives_a_negative_rate() {
        let mut t = Tracker::new(60.0, Counters::State);
        for s in 0..10 {
            t.observe(s as f64, &reading(100.0 + 10.0 * s as f64, 0.0));
        }
        // The job's state went back to 0 (a re-run): progress follows, the rate of the window
        // before stands until the new window spans the 60 s, then the new one's (4/s) is given.
        let o = t.observe(10.0, &reading(0.0, 0.0));
        assert!(o.reset);
        assert_eq!(o.reading.files.copied, 0.0);
        assert_eq!(o.rates.unwrap().files, 10.0);
        for s in 11..70 {
            let o = t.observe(s as f64, &reading(4.0 * (s - 10) as f64, 0.0));
            assert!(!o.reset);
            assert_eq!(o.rates.unwrap().files, 10.0, "at {s}");
        }
        let o = t.observe(70.0, &reading(240.0, 0.0));
        assert_eq!(o.rates.unwrap().files, 4.0);
        assert_eq!(o.rates.unwrap().span, 60.0);
        assert_eq!(t.resets(), 1);
        // A second reset before the new window is full keeps the same rate.
        let mut t = Tracker::new(60.0, Counters::State);
        t.observe(0.0, &reading(0.0, 0.0));
        t.observe(60.0, &reading(600.0, 0.0));
        t.observe(61.0, &reading(0.0, 0.0));
        t.observe(62.0, &reading(50.0, 0.0));
        let o = t.observe(63.0, &reading(0.0, 0.0));
        assert_eq!(o.rates.unwrap().files, 10.0);
    }

    #[test]
    fn since_start_counters_keep_what_was_counted_before_a_restart() {
        let mut t = Tracker::new(60.0, Counters::SinceStart);
        for s in 0..=10 {
            t.observe(s as f64, &reading(10.0 * s as f64, 0.0));
        }
        // Restarted between 10 and 11 s, and counted 5 since.
        let o = t.observe(11.0, &reading(5.0, 0.0));
        assert!(o.reset);
        assert_eq!(o.reading.files.copied, 105.0);
        assert_eq!(o.rates.unwrap().files, 10.0);
        let o = t.observe(12.0, &reading(15.0, 0.0));
        assert_eq!(o.reading.files.copied, 115.0);
        assert_eq!(o.rates.unwrap().files, 10.0);
        // The ETA moves by what was copied between the last reading and the restart (5 files,
        // half a second at 10/s), not by everything copied before it.
        let before = {
            let mut t = Tracker::new(60.0, Counters::SinceStart);
            t.observe(0.0, &reading(0.0, 0.0));
            let o = t.observe(10.0, &reading(100.0, 0.0));
            t.project(By::Files, &o, 0.999, 10.0).projected.unwrap()
        };
        let after = t.project(By::Files, &o, 0.999, 12.0).projected.unwrap();
        assert!((after - before - 0.5).abs() < 1e-9, "{before} -> {after}");
        // The failed counter was 0 and stays 0: nothing to add.
        assert_eq!(o.reading.files.failed, Some(0.0));
    }

    #[test]
    fn eta_and_projection() {
        let mut t = Tracker::new(60.0, Counters::State);
        t.observe(1000.0, &reading(0.0, 0.0));
        let o = t.observe(1010.0, &reading(100.0, 1000.0));
        // Files: 10/s, 0.999 × 1000 − 100 = 899 to go: 89.9 s.
        let p = t.project(By::Files, &o, 0.999, 1010.0);
        assert!((p.eta.unwrap() - 89.9).abs() < 1e-9, "{p:?}");
        assert!((p.projected.unwrap() - 1099.9).abs() < 1e-9);
        assert_eq!(p.ratio, Some(0.1));
        assert!(!p.reached);
        // Zero rate: no ETA, no projection.
        let o = t.observe(1020.0, &reading(100.0, 1000.0));
        let o2 = t.observe(2000.0, &reading(100.0, 1000.0));
        assert!(o.rates.unwrap().files > 0.0);
        let p = t.project(By::Files, &o2, 0.999, 2000.0);
        assert_eq!(p.rate, Some(0.0));
        assert_eq!((p.eta, p.projected), (None, None));
        // Reached: ETA 0, projected when first seen reached.
        let o = t.observe(2010.0, &reading(999.0, 1000.0));
        let p = t.project(By::Files, &o, 0.999, 2010.0);
        assert!(p.reached);
        assert_eq!((p.eta, p.projected), (Some(0.0), Some(2010.0)));
        let o = t.observe(2020.0, &reading(1000.0, 1000.0));
        assert_eq!(
            t.project(By::Files, &o, 0.999, 2020.0).projected,
            Some(2010.0)
        );
        assert_eq!(slack(2100, 2010.0), 90.0);
    }

    #[test]
    fn people_text() {
        assert_eq!(
            human_duration(19.0 * 86_400.0 + 3.0 * 3600.0 + 59.0),
            "19d 3h"
        );
        assert_eq!(human_duration(7500.0), "2h 5m");
        assert_eq!(human_duration(-2700.0), "45m");
        assert_eq!(human_duration(30.0), "30s");
        assert_eq!(human_rate(By::Files, 1234.0), "1,234 files/s");
        assert_eq!(human_rate(By::Bytes, 12.5e6), "12.5 MB/s");
        assert_eq!(human_rate(By::Files, 0.0), "0 files/s");
        assert_eq!(human_rate(By::Bytes, 0.0), "0 B/s");
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.45), "45%");
        assert_eq!(percent(0.123456), "12.3%");
    }
}
