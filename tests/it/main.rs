//! The integration tests, as one test binary: each file of tests/it/ is a module of it
//! (Cargo.toml: `autotests = false` and one `[[test]]`), so the dependencies, the AWS SDK above
//! all, are linked once instead of once per file. Run one file's tests with a filter:
//! `cargo test --test integration elasticache::`.
//!
//! One binary means that the tests of every file run at the same time in one process. The
//! services they share are taken in turns through the locks of [`common::lock`], and the
//! environment variables tests need in-process are set once, below, before any thread starts.

mod common;

mod backups;
mod capacity;
mod certs;
mod cli;
mod cloudwatch;
mod config;
mod cost;
mod daemon;
mod dashboards;
mod dday;
mod deploy;
mod discovered;
mod disks;
mod dns;
mod drills;
mod elasticache;
mod elb;
mod elbv2;
mod fuzz;
mod fuzz_parsers;
mod history;
mod hostile;
mod hostile_wire;
mod http;
mod iam_policy;
mod icinga;
mod load;
mod memcached;
mod migration;
mod migration_progress;
mod mysql;
mod mysql_peers;
mod mysql_tls;
mod mysql_vars;
mod nagios;
mod posture;
mod rds;
mod replication;
mod secrets;
mod settled;
mod shard;
mod status;
mod tags;
mod vantage;
mod webcfg;

/// The environment that tests read in this process: credentials for the AWS SDK's signer (the
/// CloudWatch and RDS pollers some tests build themselves; moto accepts any, and IMDS is off so
/// nothing leaves loopback) and the secrets the config fixtures and the shipped examples name.
/// Every test used to set these itself, each time to the same values; with every file's tests
/// in one process, setting them while other threads run would race the reads of the C
/// libraries underneath (edition 2024 makes `set_var` unsafe for that reason), so they are set
/// here, from the process's `.init_array`, before `main` and the test threads. Child processes
/// inherit them, which changes nothing: every daemon given an AWS target is passed the same
/// `AWS_ENV` explicitly, and no test expects these variables unset.
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".init_array")]
static SET_TEST_ENV: extern "C" fn() = set_test_env;

#[allow(unsafe_code)]
extern "C" fn set_test_env() {
    let vars = common::moto::AWS_ENV.into_iter().chain([
        ("HEADROOM_FIXTURE_PASSWORD", "env-fixture-secret"),
        ("HEADROOM_DEMO_MYSQL_PASSWORD", "demo"),
        ("HEADROOM_DEMO_COPYJOB_PASSWORD", "demo"),
    ]);
    for (k, v) in vars {
        // SAFETY: runs before `main`, while the process has a single thread.
        unsafe { std::env::set_var(k, v) };
    }
}
