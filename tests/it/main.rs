//! The integration tests, as one test binary: each file of tests/it/ is a module of it
//! (Cargo.toml: `autotests = false` and one `[[test]]`), so the dependencies, the AWS SDK above
//! all, are linked once instead of once per file. Run one file's tests with a filter:
//! `cargo test --test integration elasticache::`.
//!
//! One binary means that the tests of every file run at the same time in one process. The
//! services they share are taken in turns through the locks of [`common::lock`].

mod common;

mod capacity;
mod certs;
mod cloudwatch;
mod config;
mod daemon;
mod elasticache;
mod elb;
mod elbv2;
mod history;
mod iam_policy;
mod icinga;
mod memcached;
mod migration;
mod mysql;
mod nagios;
mod rds;
mod status;
