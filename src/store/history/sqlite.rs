//! The embedded history: per-database rollups in one SQLite file (through rusqlite's bundled
//! SQLite, so nothing has to be installed), created on first use. One row per database per
//! minute, kept 14 days, and one per hour, kept 2 years; the capacity model reads them when
//! no Prometheus-compatible server holds the history (`history: {prometheus: URL}`).
//!
//! Durability: the file is in WAL mode and every rollup is one transaction, so a process
//! killed during a write (kill -9) loses at most that rollup (and the minute still being
//! accumulated in memory), and the file reopens as it was before it. `synchronous=NORMAL`
//! keeps that guarantee for a crash of the process; after a power loss the last transactions
//! before it may be lost too (SQLite's documented trade-off for WAL mode).

use std::path::Path;

use super::{Inputs, Series, Window, percentile};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// How long per-minute rows are kept.
pub const MINUTE_RETENTION_S: i64 = 14 * 86_400;
/// How long hourly rows are kept.
pub const HOUR_RETENTION_S: i64 = 730 * 86_400;

const SCHEMA_VERSION: i64 = 1;

/// Which rollup to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
}

impl Resolution {
    fn table(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Resolution::Minute => 60,
            Resolution::Hour => 3600,
        }
    }
}

/// One database over one minute or one hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub db: String,
    /// Start of the period, Unix seconds.
    pub ts: i64,
    /// Polls the period averages.
    pub samples: u32,
    /// Transactions per second: the mean over the period, and for a minute the median, 95th
    /// percentile and maximum of its polls; for an hour those of its minutes' means (the max
    /// is the largest poll).
    pub tps_mean: f64,
    pub tps_p50: f64,
    pub tps_p95: f64,
    pub tps_max: f64,
    /// Mean `Threads_running` (server-side concurrency, headroom's own thread excluded).
    pub concurrency: Option<f64>,
    /// Mean transactions in flight from performance_schema's transaction time, where the
    /// server has it (client round trips inside transactions included).
    pub trx_concurrency: Option<f64>,
    /// Mean `Threads_connected`.
    pub connections: Option<f64>,
    /// Mean CPU utilization, percent, where a CPU series is known (an RDS instance's
    /// CloudWatch CPUUtilization).
    pub cpu: Option<f64>,
    /// InnoDB device reads and writes per second, and bytes read + written per second.
    pub read_iops: Option<f64>,
    pub write_iops: Option<f64>,
    pub io_bytes: Option<f64>,
    /// Buffer pool reads from disk over logical read requests in the period.
    pub miss_ratio: Option<f64>,
    pub buffer_pool_bytes: Option<f64>,
    pub max_connections: Option<f64>,
    /// Data and index bytes of its tables (the latest reading in the period).
    pub db_bytes: Option<f64>,
}

/// What the database runs on, as last recorded (from the RDS API through an rds target).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    pub rds_instance: String,
    pub class: String,
    pub storage_type: String,
    pub gib: f64,
    pub iops: Option<f64>,
    pub updated: i64,
}

/// The store: one SQLite connection.
#[derive(Debug)]
pub struct HistoryStore {
    conn: Connection,
    /// The hour of the last write: the first write of a new hour rolls every database's
    /// closed hours (one that stopped being written too), the others only those written.
    last_hour: Option<i64>,
}

const COLUMNS: &str = "db, ts, samples, tps_mean, tps_p50, tps_p95, tps_max, concurrency, trx_concurrency, connections, cpu, read_iops, write_iops, io_bytes, miss_ratio, buffer_pool_bytes, max_connections, db_bytes";

fn table_sql(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
            db TEXT NOT NULL, ts INTEGER NOT NULL, samples INTEGER NOT NULL,
            tps_mean REAL NOT NULL, tps_p50 REAL NOT NULL, tps_p95 REAL NOT NULL, tps_max REAL NOT NULL,
            concurrency REAL, trx_concurrency REAL, connections REAL, cpu REAL, read_iops REAL, write_iops REAL,
            io_bytes REAL, miss_ratio REAL, buffer_pool_bytes REAL, max_connections REAL, db_bytes REAL,
            PRIMARY KEY (db, ts)) WITHOUT ROWID;"
    )
}

/// The file's schema version (`None` in a new file).
fn schema_version(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .optional()
}

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

impl HistoryStore {
    /// Opens the store, creating the file and its tables on first use.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let conn = Connection::open(path).map_err(err(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err(path))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err(path))?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             {}
             {}
             CREATE TABLE IF NOT EXISTS instance (
                db TEXT PRIMARY KEY, rds_instance TEXT NOT NULL, class TEXT NOT NULL,
                storage_type TEXT NOT NULL, gib REAL NOT NULL, iops REAL, updated INTEGER NOT NULL);",
            table_sql("minute"),
            table_sql("hour")
        ))
        .map_err(err(path))?;
        let version = schema_version(&conn).map_err(err(path))?;
        match version.as_deref() {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(err(path))?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(format!(
                    "{}: history schema version {v}, this headroom reads version {SCHEMA_VERSION}",
                    path.display()
                ));
            }
        }
        Ok(HistoryStore {
            conn,
            last_hour: None,
        })
    }

    /// Opens an existing store for reading (the capacity commands): a missing file is an
    /// error, not an empty history.
    pub fn open_read(path: &Path) -> Result<Self, String> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err(path))?;
        let version = schema_version(&conn)
            .map_err(|e| format!("{}: not a headroom history file: {e}", path.display()))?;
        if version.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
            return Err(format!(
                "{}: history schema version {}, this headroom reads version {SCHEMA_VERSION}",
                path.display(),
                version.unwrap_or_else(|| "none".into())
            ));
        }
        Ok(HistoryStore {
            conn,
            last_hour: None,
        })
    }

    /// Writes closed minutes in one transaction; in the same transaction rolls every hour
    /// before `now`'s hour that has minutes and no hourly row yet into one (of the databases
    /// written, and at the first write of an hour of every database), and applies the
    /// retention when it did.
    pub fn write(&mut self, minutes: &[Rollup], now: i64) -> Result<usize, rusqlite::Error> {
        let hour = now - now.rem_euclid(3600);
        let dbs: Vec<String> = if self.last_hour != Some(hour) {
            dbs_in(&self.conn, "minute")?
                .into_iter()
                .chain(minutes.iter().map(|m| m.db.clone()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        } else {
            minutes
                .iter()
                .map(|m| m.db.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO minute ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
            ))?;
            for m in minutes {
                insert_row(&mut insert, m)?;
            }
        }
        let hours = roll_hours(&tx, &dbs, hour, now)?;
        tx.commit()?;
        self.last_hour = Some(hour);
        Ok(hours)
    }

    /// Writes hourly rows directly, in one transaction: for imports of history kept elsewhere
    /// and for benchmarks (the daemon rolls its hours from its minutes).
    pub fn write_hours(&mut self, hours: &[Rollup]) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO hour ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
            ))?;
            for h in hours {
                insert_row(&mut st, h)?;
            }
        }
        tx.commit()
    }

    /// Records what the database runs on (when it changed).
    pub fn set_instance(&self, db: &str, f: &InstanceFacts) -> Result<(), rusqlite::Error> {
        self.conn.execute(
            "INSERT OR REPLACE INTO instance (db, rds_instance, class, storage_type, gib, iops, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![db, f.rds_instance, f.class, f.storage_type, f.gib, f.iops, f.updated],
        )?;
        Ok(())
    }

    /// What the database ran on when last recorded.
    pub fn instance(&self, db: &str) -> Result<Option<InstanceFacts>, String> {
        self.conn
            .query_row(
                "SELECT rds_instance, class, storage_type, gib, iops, updated FROM instance WHERE db = ?1",
                [db],
                |r| {
                    Ok(InstanceFacts {
                        rds_instance: r.get(0)?,
                        class: r.get(1)?,
                        storage_type: r.get(2)?,
                        gib: r.get(3)?,
                        iops: r.get(4)?,
                        updated: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| format!("history: {e}"))
    }

    /// Every database with rows, by name.
    pub fn dbs(&self) -> Result<Vec<String>, String> {
        let mut all = dbs_in(&self.conn, "hour").map_err(|e| format!("history: {e}"))?;
        all.extend(dbs_in(&self.conn, "minute").map_err(|e| format!("history: {e}"))?);
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// The rows of `db` with `start <= ts < end`, oldest first.
    pub fn rows(
        &self,
        res: Resolution,
        db: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<Rollup>, String> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {} WHERE db = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
                res.table()
            ))
            .map_err(|e| format!("history: {e}"))?;
        st.query_map(params![db, start, end], read_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| format!("history: {e}"))
    }

    /// The per-minute mean TPS of `db` with `start <= ts < end` (what a percentile needs,
    /// without reading the other columns).
    pub fn minute_tps(&self, db: &str, start: i64, end: i64) -> Result<Vec<f64>, String> {
        let mut st = self
            .conn
            .prepare_cached("SELECT tps_mean FROM minute WHERE db = ?1 AND ts >= ?2 AND ts < ?3")
            .map_err(|e| format!("history: {e}"))?;
        st.query_map(params![db, start, end], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| format!("history: {e}"))
    }

    /// SQLite's own consistency check ("ok" when the file is sound).
    pub fn integrity(&self) -> Result<String, String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| format!("history: {e}"))
    }
}

fn insert_row(st: &mut rusqlite::CachedStatement<'_>, m: &Rollup) -> rusqlite::Result<usize> {
    st.execute(params![
        m.db,
        m.ts,
        m.samples,
        m.tps_mean,
        m.tps_p50,
        m.tps_p95,
        m.tps_max,
        m.concurrency,
        m.trx_concurrency,
        m.connections,
        m.cpu,
        m.read_iops,
        m.write_iops,
        m.io_bytes,
        m.miss_ratio,
        m.buffer_pool_bytes,
        m.max_connections,
        m.db_bytes
    ])
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Rollup> {
    Ok(Rollup {
        db: r.get(0)?,
        ts: r.get(1)?,
        samples: r.get(2)?,
        tps_mean: r.get(3)?,
        tps_p50: r.get(4)?,
        tps_p95: r.get(5)?,
        tps_max: r.get(6)?,
        concurrency: r.get(7)?,
        trx_concurrency: r.get(8)?,
        connections: r.get(9)?,
        cpu: r.get(10)?,
        read_iops: r.get(11)?,
        write_iops: r.get(12)?,
        io_bytes: r.get(13)?,
        miss_ratio: r.get(14)?,
        buffer_pool_bytes: r.get(15)?,
        max_connections: r.get(16)?,
        db_bytes: r.get(17)?,
    })
}

/// The databases with rows in `table`, by name: a skip scan of the primary key (one index
/// lookup per database, not a scan of every row).
fn dbs_in(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare_cached(&format!(
        "WITH RECURSIVE d(db) AS (
             SELECT MIN(db) FROM {table}
             UNION ALL
             SELECT (SELECT MIN(db) FROM {table} WHERE db > d.db) FROM d WHERE d.db IS NOT NULL)
         SELECT db FROM d WHERE db IS NOT NULL"
    ))?;
    st.query_map([], |r| r.get(0))?.collect()
}

/// Rolls every hour of `dbs` before `before` that has minutes and no hourly row into one,
/// and applies the retention to a database that got one. Each database costs index range
/// lookups only (the primary key is (db, ts)).
fn roll_hours(
    tx: &rusqlite::Transaction<'_>,
    dbs: &[String],
    before: i64,
    now: i64,
) -> Result<usize, rusqlite::Error> {
    let mut rolled = 0;
    for db in dbs {
        let before_db = rolled;
        // Only minutes after the database's newest hourly row can make a new hour.
        let from: i64 = tx
            .prepare_cached("SELECT COALESCE(MAX(ts) + 3600, 0) FROM hour WHERE db = ?1")?
            .query_row([db], |r| r.get(0))?;
        let hours: Vec<i64> = {
            let mut st = tx.prepare_cached(
                "SELECT DISTINCT ts / 3600 * 3600 FROM minute WHERE db = ?1 AND ts >= ?2 AND ts < ?3",
            )?;
            st.query_map(params![db, from, before], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        for h in hours {
            let minutes: Vec<Rollup> = {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM minute WHERE db = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts"
                ))?;
                st.query_map(params![db, h, h + 3600], read_row)?
                    .collect::<Result<_, _>>()?
            };
            if let Some(hour) = hour_of(&minutes) {
                let mut st = tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO hour ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
                ))?;
                insert_row(&mut st, &hour)?;
                rolled += 1;
            }
        }
        if rolled > before_db {
            tx.prepare_cached("DELETE FROM minute WHERE db = ?1 AND ts < ?2")?
                .execute(params![db, now - MINUTE_RETENTION_S])?;
            tx.prepare_cached("DELETE FROM hour WHERE db = ?1 AND ts < ?2")?
                .execute(params![db, now - HOUR_RETENTION_S])?;
        }
    }
    Ok(rolled)
}

/// An hour from its minutes: means weighted by each minute's polls, TPS percentiles over the
/// minutes' means, the largest poll, the latest buffer pool size and max_connections.
pub fn hour_of(minutes: &[Rollup]) -> Option<Rollup> {
    let first = minutes.first()?;
    let w: f64 = minutes.iter().map(|m| f64::from(m.samples)).sum();
    if w <= 0.0 {
        return None;
    }
    let mean = |f: &dyn Fn(&Rollup) -> Option<f64>| -> Option<f64> {
        let (s, n) = minutes
            .iter()
            .filter_map(|m| f(m).map(|v| (v * f64::from(m.samples), f64::from(m.samples))))
            .fold((0.0, 0.0), |(a, b), (v, k)| (a + v, b + k));
        (n > 0.0).then(|| s / n)
    };
    let means: Vec<f64> = minutes.iter().map(|m| m.tps_mean).collect();
    let last = |f: &dyn Fn(&Rollup) -> Option<f64>| minutes.iter().rev().find_map(f);
    Some(Rollup {
        db: first.db.clone(),
        ts: first.ts - first.ts.rem_euclid(3600),
        samples: minutes.iter().map(|m| m.samples).sum(),
        tps_mean: mean(&|m| Some(m.tps_mean)).unwrap_or(0.0),
        tps_p50: percentile(&means, 0.5),
        tps_p95: percentile(&means, 0.95),
        tps_max: minutes.iter().map(|m| m.tps_max).fold(0.0, f64::max),
        concurrency: mean(&|m| m.concurrency),
        trx_concurrency: mean(&|m| m.trx_concurrency),
        connections: mean(&|m| m.connections),
        cpu: mean(&|m| m.cpu),
        read_iops: mean(&|m| m.read_iops),
        write_iops: mean(&|m| m.write_iops),
        io_bytes: mean(&|m| m.io_bytes),
        miss_ratio: mean(&|m| m.miss_ratio),
        buffer_pool_bytes: last(&|m| m.buffer_pool_bytes),
        max_connections: last(&|m| m.max_connections),
        db_bytes: last(&|m| m.db_bytes),
    })
}

/// Reads the database's history from the embedded store: its minutes for a window of up to
/// 14 days, its hours for a longer one (the TPS p95 from the last week's minutes either way).
pub fn observe(store: &HistoryStore, w: &Window) -> Result<Inputs, String> {
    let (start, end) = (w.start.floor() as i64, w.end.ceil() as i64);
    let res = if end - start <= MINUTE_RETENTION_S {
        Resolution::Minute
    } else {
        Resolution::Hour
    };
    let rows = store.rows(res, &w.target, start, end)?;
    let week_start = start.max(end - 7 * 86_400);
    let week: Vec<f64> = match res {
        Resolution::Minute => rows
            .iter()
            .filter(|r| r.ts >= week_start)
            .map(|r| r.tps_mean)
            .collect(),
        Resolution::Hour => store.minute_tps(&w.target, week_start, end)?,
    };
    let at = |f: &dyn Fn(&Rollup) -> Option<f64>| -> Series {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (r.ts as f64, v)))
            .collect()
    };
    let weighted = |f: &dyn Fn(&Rollup) -> Option<f64>| {
        let (s, n) = rows
            .iter()
            .filter_map(|r| f(r).map(|v| (v * f64::from(r.samples), f64::from(r.samples))))
            .fold((0.0, 0.0), |(a, b), (v, k)| (a + v, b + k));
        (n > 0.0).then(|| s / n)
    };
    // Whole days from the start of the window.
    let days = ((end - start) / 86_400) as usize;
    let mut peaks = vec![f64::NAN; days];
    for r in &rows {
        let d = ((r.ts - start) / 86_400) as usize;
        if d < days {
            peaks[d] = if peaks[d].is_nan() {
                r.tps_max
            } else {
                peaks[d].max(r.tps_max)
            };
        }
    }
    let cpu = at(&|r| r.cpu);
    Ok(Inputs {
        tps: at(&|r| Some(r.tps_mean)),
        concurrency: at(&|r| r.concurrency),
        trx_concurrency: at(&|r| r.trx_concurrency),
        reads: at(&|r| r.read_iops),
        writes: at(&|r| r.write_iops),
        bytes: at(&|r| r.io_bytes),
        cpu_source: (!cpu.is_empty())
            .then(|| "CPUUtilization recorded with the history".to_owned()),
        cpu,
        miss_ratio: weighted(&|r| r.miss_ratio),
        buffer_pool_bytes: rows.iter().rev().find_map(|r| r.buffer_pool_bytes),
        max_connections: rows.iter().rev().find_map(|r| r.max_connections),
        db_bytes: at(&|r| r.db_bytes),
        daily_peaks: peaks.into_iter().filter(|p| !p.is_nan()).collect(),
        tps_p95: (!week.is_empty()).then(|| percentile(&week, 0.95)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(db: &str, ts: i64, tps: f64) -> Rollup {
        Rollup {
            db: db.into(),
            ts,
            samples: 4,
            tps_mean: tps,
            tps_p50: tps,
            tps_p95: tps * 1.1,
            tps_max: tps * 1.2,
            concurrency: Some(2.0),
            connections: Some(10.0),
            read_iops: Some(tps * 0.5),
            max_connections: Some(151.0),
            ..Rollup::default()
        }
    }

    #[test]
    fn minutes_roll_into_hours_once_the_hour_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/history.sqlite");
        let mut s = HistoryStore::open(&path).unwrap();
        let h0 = 1_800_000_000; // an hour boundary
        // 60 minutes of hour 0 at 100..159 TPS, and the first minute of hour 1.
        let mins: Vec<Rollup> = (0..60)
            .map(|i| minute("db1", h0 + 60 * i, 100.0 + i as f64))
            .collect();
        assert_eq!(s.write(&mins, h0 + 3599).unwrap(), 0, "hour not over");
        assert!(
            s.rows(Resolution::Hour, "db1", 0, i64::MAX)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.write(&[minute("db1", h0 + 3600, 500.0)], h0 + 3660)
                .unwrap(),
            1
        );
        let hours = s.rows(Resolution::Hour, "db1", 0, i64::MAX).unwrap();
        assert_eq!(hours.len(), 1);
        let h = &hours[0];
        assert_eq!((h.ts, h.samples), (h0, 240));
        assert!((h.tps_mean - 129.5).abs() < 1e-9, "{h:?}");
        assert_eq!(h.tps_p50, 129.0);
        assert_eq!(h.tps_p95, 156.0); // nearest rank: the 57th of 60
        assert!((h.tps_max - 159.0 * 1.2).abs() < 1e-9);
        assert!((h.read_iops.unwrap() - 64.75).abs() < 1e-9);
        assert_eq!(h.cpu, None);
        // A later write does not roll the same hour again.
        assert_eq!(
            s.write(&[minute("db1", h0 + 3660, 500.0)], h0 + 3720)
                .unwrap(),
            0
        );
        // Reopened: the rows are there; another database is listed.
        drop(s);
        let mut s = HistoryStore::open(&path).unwrap();
        s.write(&[minute("db2", h0, 1.0)], h0 + 60).unwrap();
        assert_eq!(s.dbs().unwrap(), vec!["db1", "db2"]);
        assert_eq!(
            s.rows(Resolution::Minute, "db1", h0, h0 + 3600)
                .unwrap()
                .len(),
            60
        );
        assert_eq!(s.integrity().unwrap(), "ok");
    }

    #[test]
    fn retention_drops_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = HistoryStore::open(&dir.path().join("h.sqlite")).unwrap();
        let now = 1_800_000_000; // an hour boundary
        let old = now - MINUTE_RETENTION_S - 7200;
        s.write(
            &[minute("db1", old, 1.0), minute("db1", now - 120, 2.0)],
            now - 60,
        )
        .unwrap();
        // Rolling the old hour applies the retention: its minute goes, its hour stays; the
        // minute of the hour in progress is not rolled yet.
        assert_eq!(s.rows(Resolution::Minute, "db1", 0, now).unwrap().len(), 1);
        let hours = s.rows(Resolution::Hour, "db1", 0, now).unwrap();
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].ts, old);
    }

    #[test]
    fn reading_a_missing_or_foreign_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = HistoryStore::open_read(&dir.path().join("none.sqlite")).unwrap_err();
        assert!(e.contains("none.sqlite"), "{e}");
        let foreign = dir.path().join("foreign.sqlite");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = HistoryStore::open_read(&foreign).unwrap_err();
        assert!(e.contains("not a headroom history file"), "{e}");
    }
}
