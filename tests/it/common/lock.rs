//! Turns at the services every test shares. All the integration tests are one binary, so tests
//! of different files run at once; a test that changes a shared service, or needs it to itself
//! for what it measures, holds that service's guard for its whole length (`let _x = ...;` as
//! its first line). The guards tolerate poisoning: a test that failed holding one does not fail
//! the others.
//!
//! Tests that hold more than one take them in the order of this file (MariaDB, then the scrape
//! port, then moto), so that no two tests can each wait for the other's.
//!
//! Not shared, so not here: the services' memcached (read, never written or flushed, by the
//! tests that use it), Nagios, Icinga 2, TLS servers, Knot DNS servers, private memcached and
//! moto instances (each test starts its own, on a free port and in its own directory).

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

static MARIADB: RwLock<()> = RwLock::new(());
static SCRAPE_PORT: Mutex<()> = Mutex::new(());
static MOTO: Mutex<()> = Mutex::new(());

/// The services' MariaDB to this test alone: for tests that measure its server-wide counters
/// (the transaction count that every other client's statements add to) or load it with
/// sysbench.
pub fn mariadb_alone() -> RwLockWriteGuard<'static, ()> {
    MARIADB.write().unwrap_or_else(|e| e.into_inner())
}

/// The services' MariaDB beside other tests that only add statements of their own (a
/// daemon's polls, a failed login), never beside one that holds [`mariadb_alone`].
pub fn mariadb_shared() -> RwLockReadGuard<'static, ()> {
    MARIADB.read().unwrap_or_else(|e| e.into_inner())
}

/// No sysbench load at the same time (the tests that run it hold [`mariadb_alone`]): for a
/// test that judges response times against the shipped thresholds (MEMCACHE_RESPONSE warns at
/// 0.1 s), which a 2-core machine busy with sysbench's 32 threads can exceed.
pub fn no_load() -> RwLockReadGuard<'static, ()> {
    MARIADB.read().unwrap_or_else(|e| e.into_inner())
}

/// `HEADROOM_TEST_DAEMON_PORT`, the one port the services' Prometheus scrapes: one daemon
/// listens there at a time.
pub fn scrape_port() -> MutexGuard<'static, ()> {
    SCRAPE_PORT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The services' moto, one account that tests reset and fill, and the CloudWatch CBOR proxy
/// in front of it (`HEADROOM_TEST_AWS_ENDPOINT`).
pub fn moto() -> MutexGuard<'static, ()> {
    MOTO.lock().unwrap_or_else(|e| e.into_inner())
}
