//! headroom: a monitoring and capacity-planning daemon.
//!
//! Layers, each importing only those below it (CI checks that no `src/` modules import each
//! other in a circle, `scripts/check-imports`): the [`config`] primitives, the [`model`] the
//! pollers produce, the [`time`] helpers and [`units`] (numbers as text for people) at the
//! bottom; the [`sources`] (their one list is
//! `sources/mod.rs`), the [`store`], the [`check`]s and the [`capacity`] model in the domain;
//! the [`scheduler`], the [`server`] and the [`telemetry`] as services; and at the top the
//! config file's schema ([`config_file`]), the [`cli`], the [`commands`] and the [`app`] that
//! wires them. `docs/architecture.md` draws the data flow.

#![forbid(unsafe_code)]

// Top: assembles, owns no domain logic.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config_file;
// Services.
pub mod scheduler;
pub mod server;
pub mod telemetry;
// Domain.
pub mod capacity;
pub mod check;
pub mod sources;
pub mod store;
// Bottom: imports nothing of the crate.
pub mod config;
pub mod model;
pub mod time;
pub mod units;
