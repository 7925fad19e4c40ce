//! The state machine of a Nagios 4 service, result by result: soft and hard states,
//! attempts, state-change times and flap detection. It follows Nagios Core 4.4's
//! `handle_async_service_check_result()` (base/checks.c) and `check_for_service_flapping()`
//! (base/flapping.c) in NagiosEnterprises/nagioscore, for a service whose host is up. The
//! integration test feeds the same 100 results to this
//! and to a real Nagios 4 and compares every step.

use serde::{Deserialize, Serialize};

/// A plugin state, with the plugin exit code as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: i64) -> Status {
        // A passive result outside 0..3 is UNKNOWN in Nagios (base/commands.c).
        match code {
            0 => Status::Ok,
            1 => Status::Warning,
            2 => Status::Critical,
            _ => Status::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StateType {
    Soft = 0,
    Hard = 1,
}

/// Entries in the flap-detection history (`MAX_STATE_HISTORY_ENTRIES`, include/objects.h).
pub const FLAP_HISTORY: usize = 21;

/// Flap thresholds in percent state change. Nagios' compiled defaults
/// (`DEFAULT_LOW_SERVICE_FLAP_THRESHOLD` 20.0, `DEFAULT_HIGH_SERVICE_FLAP_THRESHOLD` 30.0 in
/// include/defaults.h).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlapThresholds {
    pub low: f64,
    pub high: f64,
}

impl Default for FlapThresholds {
    fn default() -> Self {
        FlapThresholds {
            low: 20.0,
            high: 30.0,
        }
    }
}

/// Everything Nagios keeps about a service's state, and what retention saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    pub status: Status,
    pub state_type: StateType,
    pub attempt: u32,
    pub max_attempts: u32,
    pub last_status: Status,
    pub last_hard_status: Status,
    /// Unix seconds; 0 until the first result.
    pub last_check: i64,
    pub last_state_change: i64,
    pub last_hard_state_change: i64,
    pub has_been_checked: bool,
    /// When the first result came; durations count from it until the first state change.
    #[serde(default)]
    pub first_check: i64,
    pub history: [Status; FLAP_HISTORY],
    pub history_index: usize,
    pub percent_state_change: f64,
    pub is_flapping: bool,
    pub output: String,
    pub perfdata: String,
}

/// What one result did, for logging and pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transition {
    pub state_change: bool,
    pub hard_state_change: bool,
    pub flapping_started: bool,
    pub flapping_stopped: bool,
}

impl CheckState {
    /// A service that has not been checked: OK, HARD, attempt 1, as Nagios starts one.
    pub fn new(max_attempts: u32) -> Self {
        CheckState {
            status: Status::Ok,
            state_type: StateType::Hard,
            attempt: 1,
            max_attempts: max_attempts.max(1),
            last_status: Status::Ok,
            last_hard_status: Status::Ok,
            last_check: 0,
            last_state_change: 0,
            last_hard_state_change: 0,
            has_been_checked: false,
            first_check: 0,
            history: [Status::Ok; FLAP_HISTORY],
            history_index: 0,
            percent_state_change: 0.0,
            is_flapping: false,
            output: String::new(),
            perfdata: String::new(),
        }
    }

    /// Applies one result checked at `now` (Unix seconds).
    pub fn apply(&mut self, status: Status, now: i64, flap: FlapThresholds) -> Transition {
        self.last_status = self.status;
        self.status = status;
        let previous_check = self.last_check;
        self.last_check = now;
        if self.state_type == StateType::Soft && self.attempt < self.max_attempts {
            self.attempt += 1;
        }
        let state_change = self.status != self.last_status;
        let hard_state_change =
            self.attempt >= self.max_attempts && self.status != self.last_hard_status;
        // Nagios 4.4 (Debian 12's 4.4.6, which the integration test runs) initializes both
        // times from `last_check` before storing the new check time, so they take the
        // previous result's time (0 on the very first result). `first_check` stands in for
        // a time still 0 when a duration is shown, as the CGI falls back to program start.
        if self.last_state_change == 0 {
            self.last_state_change = previous_check;
        }
        if self.last_hard_state_change == 0 {
            self.last_hard_state_change = previous_check;
        }
        if self.first_check == 0 {
            self.first_check = now;
        }
        // A hard state change moves last_state_change too (Nagios Core base/checks.c), even
        // when the state itself stayed the same (SOFT 2/3 -> HARD 3/3).
        if state_change || hard_state_change {
            self.last_state_change = now;
        }
        if hard_state_change {
            self.last_hard_state_change = now;
        }
        if self.status == Status::Ok {
            // Hard recovery, soft recovery or still OK: all end as OK, HARD, attempt 1.
            // Nagios 4.4 stamps a soft recovery's return to HARD as a hard state change
            // time too (seen against nagios4 4.4.6 in tests/it/nagios.rs).
            if state_change && !hard_state_change && self.state_type == StateType::Soft {
                self.last_hard_state_change = now;
            }
            self.attempt = 1;
            self.state_type = StateType::Hard;
            self.last_hard_status = Status::Ok;
        } else if self.attempt < self.max_attempts {
            self.state_type = StateType::Soft;
        } else {
            self.state_type = StateType::Hard;
            self.last_hard_status = self.status;
        }
        self.has_been_checked = true;
        let (flapping_started, flapping_stopped) = self.check_flapping(flap);
        Transition {
            state_change,
            hard_state_change,
            flapping_started,
            flapping_stopped,
        }
    }

    /// `check_for_service_flapping()`: only hard states and soft recoveries enter the
    /// history (a soft recovery is HARD OK by the time Nagios records it). Each change
    /// between adjacent entries weighs from 0.75 (oldest) to 1.25 (newest).
    fn check_flapping(&mut self, t: FlapThresholds) -> (bool, bool) {
        if self.state_type == StateType::Soft && self.status != Status::Ok {
            return (false, false);
        }
        self.history[self.history_index] = self.status;
        self.history_index = (self.history_index + 1) % FLAP_HISTORY;
        let mut changes = 0.0;
        let mut prev = self.history[self.history_index];
        for x in 1..FLAP_HISTORY {
            let cur = self.history[(self.history_index + x) % FLAP_HISTORY];
            if cur != prev {
                changes += (x as f64 - 1.0) * (1.25 - 0.75) / (FLAP_HISTORY as f64 - 2.0) + 0.75;
            }
            prev = cur;
        }
        self.percent_state_change = changes * 100.0 / (FLAP_HISTORY as f64 - 1.0);
        let p = self.percent_state_change;
        let flapping = if p > t.low && p < t.high {
            return (false, false);
        } else {
            p >= t.high
        };
        let started = flapping && !self.is_flapping;
        let stopped = !flapping && self.is_flapping;
        self.is_flapping = flapping;
        (started, stopped)
    }

    /// Start of the current state, for its duration: the last state change, or the first
    /// result if the state never changed.
    pub fn state_since(&self) -> i64 {
        if self.last_state_change > 0 {
            self.last_state_change
        } else {
            self.first_check
        }
    }

    /// `3/5`, as the Nagios CGI prints the attempt.
    pub fn attempt_text(&self) -> String {
        format!("{}/{}", self.attempt, self.max_attempts)
    }
}

/// A duration as Nagios' status CGI prints it (`get_time_breakdown()`, common/shared.c):
/// `58d 15h 25m 10s`.
pub fn duration_text(seconds: i64) -> String {
    let s = seconds.max(0);
    format!(
        "{}d {}h {}m {}s",
        s / 86_400,
        s % 86_400 / 3_600,
        s % 3_600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn run(max: u32, seq: &[Status]) -> Vec<(Status, StateType, u32)> {
        let mut s = CheckState::new(max);
        seq.iter()
            .enumerate()
            .map(|(i, st)| {
                s.apply(*st, 1000 + i as i64, FlapThresholds::default());
                (s.status, s.state_type, s.attempt)
            })
            .collect()
    }

    /// The sequence a real Nagios 4.4 logs with max_check_attempts 3 (base/checks.c).
    #[test]
    fn soft_hard_and_soft_recovery() {
        use StateType::*;
        let got = run(3, &[Warning, Warning, Warning, Ok, Critical, Critical, Ok]);
        assert_eq!(
            got,
            vec![
                (Warning, Soft, 1),
                (Warning, Soft, 2),
                (Warning, Hard, 3),
                (Ok, Hard, 1),
                (Critical, Soft, 1),
                (Critical, Soft, 2),
                (Ok, Hard, 1), // soft recovery ends HARD OK
            ]
        );
    }

    #[test]
    fn hard_stays_at_max_and_changes_between_problems_are_hard() {
        let mut s = CheckState::new(2);
        let f = FlapThresholds::default();
        s.apply(Critical, 10, f);
        let t = s.apply(Critical, 20, f);
        assert!(t.hard_state_change);
        assert_eq!(
            (s.state_type, s.attempt_text().as_str()),
            (StateType::Hard, "2/2")
        );
        s.apply(Critical, 30, f);
        assert_eq!(s.attempt, 2);
        let t = s.apply(Warning, 40, f);
        assert!(t.state_change && t.hard_state_change);
        assert_eq!(
            (s.state_type, s.last_state_change, s.last_hard_state_change),
            (StateType::Hard, 40, 40)
        );
    }

    #[test]
    fn max_attempts_one_is_immediately_hard() {
        let got = run(1, &[Critical]);
        assert_eq!(got, vec![(Critical, StateType::Hard, 1)]);
    }

    /// Alternating hard results: the curve of `check_for_service_flapping()`.
    #[test]
    fn flapping_starts_and_stops() {
        let mut s = CheckState::new(1);
        let f = FlapThresholds::default();
        let mut started_at = None;
        for i in 0..21 {
            let t = s.apply(if i % 2 == 0 { Critical } else { Ok }, i, f);
            if t.flapping_started {
                started_at = Some((i, s.percent_state_change));
            }
        }
        let (i, p) = started_at.expect("never started flapping");
        // The k-th newest change weighs 0.75 + (20-k)/38. Five changes give 29.93% (between
        // the thresholds: undecided); six give (6*0.75 + (14+..+19)/38) * 5 = 35.53%.
        assert_eq!(i, 5);
        assert!((p - 35.526).abs() < 0.001, "{p}");
        for i in 21..60 {
            s.apply(Ok, i, f);
        }
        assert!(!s.is_flapping);
        assert_eq!(s.percent_state_change, 0.0);
    }

    #[test]
    fn durations_print_like_the_cgi() {
        assert_eq!(
            duration_text(58 * 86_400 + 15 * 3_600 + 25 * 60 + 10),
            "58d 15h 25m 10s"
        );
        assert_eq!(duration_text(303), "0d 0h 5m 3s");
    }
}
