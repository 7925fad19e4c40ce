//! Writes a synthetic embedded history for benchmarks: N databases with a year of hourly
//! rollups and the last 14 days of per-minute ones, through headroom's own store code (so the
//! file is exactly what the daemon writes). Used by bench/capacity-report-timing.
//!
//!   cargo run --release --example synth_history -- FILE [DATABASES] [DAYS]
//!
//! DATABASES is a count (named `db000`, `db001`, ...; default 100) or a comma-separated list
//! of names (the tests give a configured mysql target's name).
//!
//! Each database gets a daily cycle, a growth trend and noise, a concurrency that follows a
//! USL curve (so the model has something to fit), CPU proportional to TPS, and the facts of
//! an RDS instance (db.r5.large .. db.r5.4xlarge, gp3).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use headroom::store::history::{HistoryStore, InstanceFacts, Rollup};

/// A small deterministic generator (xorshift64*), so every run writes the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: synth_history FILE [DATABASES] [DAYS]")?,
    );
    let names: Vec<String> = match args.next() {
        None => (0..100).map(|d| format!("db{d:03}")).collect(),
        Some(s) => match s.parse::<usize>() {
            Ok(n) => (0..n).map(|d| format!("db{d:03}")).collect(),
            Err(_) => s.split(',').map(str::to_owned).collect(),
        },
    };
    let dbs = names.len();
    let days: i64 = args
        .next()
        .map_or(Ok(365), |s| s.parse())
        .map_err(|e| format!("{e}"))?;
    let _ = std::fs::remove_file(&path);
    let mut store = HistoryStore::open(&path)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let now = now - now % 60;
    let start = now - days * 86_400;
    let minutes_from = now - 14 * 86_400;
    let classes = [
        "db.r5.large",
        "db.r5.xlarge",
        "db.r5.2xlarge",
        "db.r5.4xlarge",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (d, db) in names.into_iter().enumerate() {
        let base = 200.0 + 40.0 * d as f64;
        let growth = 0.002 + 0.00002 * d as f64; // per day, relative
        let lambda = base / 2.0;
        let tps_at = |t: i64, noise: f64| {
            let day = (t - start) as f64 / 86_400.0;
            let hour = ((t % 86_400) as f64) / 3600.0;
            let daily = 0.65 + 0.35 * (std::f64::consts::PI * (hour - 8.0) / 12.0).sin().max(-0.6);
            base * (1.0 + growth * day) * daily * (0.9 + 0.2 * noise)
        };
        // Concurrency from the USL's inverse (σ 0.05, κ 0.0005): the N that gives this TPS.
        let conc = |x: f64| {
            let mut n = 1.0;
            for _ in 0..40 {
                let f = lambda * n / (1.0 + 0.05 * (n - 1.0) + 0.0005 * n * (n - 1.0));
                n *= (x / f).clamp(0.5, 2.0);
            }
            n
        };
        let row = |ts: i64, x: f64, samples: u32| Rollup {
            db: db.clone(),
            ts,
            samples,
            tps_mean: x,
            tps_p50: x * 0.98,
            tps_p95: x * 1.15,
            tps_max: x * 1.3,
            concurrency: Some(conc(x)),
            trx_concurrency: Some(conc(x) * 1.2),
            connections: Some(50.0 + conc(x) * 4.0),
            cpu: Some((x / (base * 8.0) * 100.0).min(100.0)),
            read_iops: Some(x * 0.4),
            write_iops: Some(x * 0.8),
            io_bytes: Some(x * 30_000.0),
            miss_ratio: Some(0.002),
            buffer_pool_bytes: Some(12.0 * 1024.0 * 1024.0 * 1024.0),
            max_connections: Some(1365.0),
            db_bytes: Some(
                (200.0 + d as f64)
                    * 1024.0
                    * 1024.0
                    * 1024.0
                    * (1.0 + 0.001 * (ts - start) as f64 / 86_400.0),
            ),
        };
        let hours: Vec<Rollup> = (start / 3600..minutes_from / 3600)
            .map(|h| {
                let ts = h * 3600;
                row(ts, tps_at(ts, rng.next()), 240)
            })
            .collect();
        store.write_hours(&hours).map_err(|e| e.to_string())?;
        // The last 14 days as the daemon writes them: minutes, rolled into hours.
        let mut t = minutes_from - minutes_from % 3600;
        while t < now {
            let batch: Vec<Rollup> = (0..60)
                .map(|i| t + 60 * i)
                .filter(|ts| *ts < now)
                .map(|ts| row(ts, tps_at(ts, rng.next()), 4))
                .collect();
            store
                .write(&batch, (t + 3600).min(now))
                .map_err(|e| e.to_string())?;
            t += 3600;
        }
        store
            .set_instance(
                &db,
                &InstanceFacts {
                    rds_instance: db.clone(),
                    class: classes[d % classes.len()].into(),
                    storage_type: "gp3".into(),
                    gib: 500.0,
                    iops: Some(12_000.0),
                    updated: now,
                },
            )
            .map_err(|e| e.to_string())?;
    }
    eprintln!(
        "wrote {} databases x {days} days (hours) + 14 days (minutes) to {}",
        dbs,
        path.display()
    );
    Ok(())
}
