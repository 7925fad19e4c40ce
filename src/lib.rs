//! headroom: a monitoring and capacity-planning daemon.
//!
//! The module tree follows `shared/DESIGN.md`: configuration is read and validated in two
//! phases ([`config`]), the [`scheduler`] polls every target of every [`sources`] module on its
//! own interval and writes what it got into the [`store`], and the [`server`] serves that store
//! as Prometheus metrics without ever triggering a poll. [`app`] wires these together.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod app;
pub mod capacity;
pub mod check;
pub mod cli;
pub mod config;
pub mod scheduler;
pub mod server;
pub mod sources;
pub mod store;
pub mod telemetry;
