//! Nagios-style checks: definitions (shipped in `checks/*.yaml` and in the user's config),
//! their evaluation against the snapshot store, and the state machine that turns results into
//! soft and hard states. Checks read the snapshot, never the network: evaluating one costs a
//! map lookup.
//!
//! The modules, by job:
//! - [`def`]: the YAML form of a check, its validation, and the shipped check files;
//! - [`eval`]: one definition against one snapshot, giving a state, text and perfdata;
//! - [`bind`]: which targets (and, per resource, which resources) each check runs on;
//! - [`engine`]: the engine that schedules evaluations, keeps the states and publishes them;
//! - [`push`]: results sent elsewhere, to a Nagios command file or the Icinga 2 API;
//! - [`state`], [`range`], [`output`], [`template`], [`retention`]: the Nagios state machine,
//!   threshold ranges, plugin output and perfdata, status text templates, and the state file.

pub mod bind;
pub mod board;
pub mod dday;
pub mod def;
pub mod engine;
pub mod eval;
pub mod output;
pub mod push;
pub mod range;
pub mod retention;
pub mod state;
pub mod template;

pub use bind::{InactiveCheck, Instance, instances, resources};
pub use def::{
    CheckDef, CheckKind, DEFAULT_MAX_ATTEMPTS, PerHost, RawCheck, SHIPPED, Unreachable, parse_list,
    shipped, validate_check, validate_list,
};
pub use eval::{Evaluation, evaluate, evaluate_with};
