//! What the check engine publishes for the status page, the APIs and the D-day board: one
//! view per check instance, the checks with nothing to run on, and the D-day plan. Written by
//! the engine, read by the server and `check::dday`.

use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;

use super::bind::InactiveCheck;
use super::state::{StateType, Status};

/// One row of the status page and of `/api/checks`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    pub check: String,
    pub host: String,
    /// The target whose data the check judged.
    pub target: String,
    /// The thresholds, `warning 30:, critical 15:` (plugin range syntax).
    pub bound: String,
    pub status: Status,
    pub state_type: StateType,
    pub attempt: u32,
    pub max_attempts: u32,
    pub has_been_checked: bool,
    pub last_check: i64,
    pub last_state_change: i64,
    pub last_hard_state_change: i64,
    /// `58d 15h 25m 10s` since the last state change.
    pub duration: String,
    pub output: String,
    pub perfdata: String,
    pub is_flapping: bool,
    pub percent_state_change: f64,
    /// The value compared with the thresholds at the latest evaluation (none when the target
    /// failed or the series was absent).
    pub value: Option<f64>,
}

/// What the status page and the API read.
#[derive(Debug, Default)]
pub struct Board {
    pub checks: Vec<CheckView>,
    pub inactive: Vec<InactiveCheck>,
    /// Per-resource checks bound to a target, whether or not it has resources yet.
    pub per_resource: Vec<String>,
    /// `dday:` and the D-day board's criteria (the defaults when the config has none).
    pub dday: Option<crate::config::dday::DDay>,
    pub criteria: Vec<crate::config::dday::Criterion>,
    /// What part of the config this agent runs, when not all of it (`run --shard`): shown on
    /// /status and /dday and in their JSON.
    pub scope: Option<String>,
}

pub type SharedBoard = Arc<RwLock<Board>>;
