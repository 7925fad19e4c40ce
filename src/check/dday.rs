//! The D-day board: GO or NO-GO for the cut-over, with the evidence. Each criterion names the
//! checks that judge it; it is GO when every instance of those checks is OK, checked, and in
//! a HARD or SOFT OK state. Anything else is NO-GO with the reason: a problem state, a check
//! not checked yet, a check with no target to run on, a check that is not defined. Missing
//! data never reads as GO. The board is a pure function of the check states, so the daemon's
//! `/dday`, `/api/dday` and `headroom dday` judge alike.

use serde::Serialize;

use super::board::{self, CheckView};
use super::state::{StateType, Status};
use crate::config::dday::{Criterion, Phase};

/// The criteria when `dday.criteria` is not set: the questions a cut-over runbook asks.
pub fn default_criteria() -> Vec<Criterion> {
    let c = |name: &str, title: &str, checks: &[&str]| Criterion {
        name: name.into(),
        title: title.into(),
        checks: checks.iter().map(|s| (*s).to_owned()).collect(),
    };
    vec![
        c(
            "migration",
            "Files copied, or projected to be by D-day",
            &["MIGRATION_PROGRESS"],
        ),
        c(
            "replication",
            "Replica running, lag within its bound",
            &["MYSQL_REPLICA_RUNNING", "MYSQL_REPLICA_LAG"],
        ),
        c("dns", "DNS TTL lowered in time", &["DNS_TTL"]),
        c(
            "certificates",
            "Certificates valid long enough",
            &["ELB_CERTIFICATE"],
        ),
        c(
            "load_balancers",
            "Load balancers with enough healthy hosts",
            &["HEALTHY_HOST_COUNT", "TG_HEALTHY_HOST_COUNT"],
        ),
        c(
            "backups",
            "Latest backup recent enough",
            &["RDS_BACKUP_RECENT", "BACKUP_AGE"],
        ),
        c(
            "posture",
            "Security posture clean: no MFA, key, password, public or encryption finding",
            &["SECURITY_POSTURE"],
        ),
        c(
            "logging",
            "Logging on: ELB, S3, CloudTrail, AWS Config",
            &["LOGGING"],
        ),
        c(
            "read_only",
            "Databases read-only or writable as the phase expects",
            &["MYSQL_READ_ONLY_AS_PLANNED"],
        ),
        c(
            "capacity",
            "Destination database keeps its headroom",
            &["CAPACITY_HEADROOM"],
        ),
        c("source_disks", "No source disk failing", &["DISK_HEALTH"]),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decision {
    #[serde(rename = "GO")]
    Go,
    #[serde(rename = "NO-GO")]
    NoGo,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Go => "GO",
            Decision::NoGo => "NO-GO",
        }
    }
}

/// One check instance under a criterion.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub check: String,
    pub host: String,
    pub target: String,
    pub status: Status,
    /// `HARD` or `SOFT`.
    pub state_type: StateType,
    /// What the check compared with its thresholds (days for certificates); absent when it
    /// had none (the target failed, say).
    pub value: Option<f64>,
    /// The check's thresholds: `warning 30: critical 15:` in the plugin range syntax.
    pub bound: String,
    /// Unix time of the evaluation; 0 when never checked.
    pub measured_at: i64,
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CriterionResult {
    pub name: String,
    pub title: String,
    pub decision: Decision,
    /// Why NO-GO (the first problem found), or what makes it GO.
    pub reason: String,
    pub evidence: Vec<Evidence>,
}

/// The board. Its JSON (`/api/dday`, `headroom dday --format json`) is documented in
/// docs/dday.md; fields are only ever added.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub decision: Decision,
    /// Criteria that are NO-GO, by name.
    pub blocking: Vec<String>,
    pub phase: Phase,
    /// D-day in its zone (RFC 3339), when configured.
    pub dday: Option<String>,
    pub dday_timestamp: Option<i64>,
    pub evaluated_at: i64,
    pub criteria: Vec<CriterionResult>,
    /// Set when this agent judges part of the config only (`run --shard I/N`): the board
    /// covers that shard's targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Judges the board's criteria on its check states, in `phase` (`None`: the configured one,
/// or `before`).
pub fn judge(board: &board::Board, phase: Option<Phase>, now: i64) -> Board {
    let results: Vec<CriterionResult> =
        board.criteria.iter().map(|c| judge_one(c, board)).collect();
    let blocking: Vec<String> = results
        .iter()
        .filter(|r| r.decision == Decision::NoGo)
        .map(|r| r.name.clone())
        .collect();
    let dday = board.dday.as_ref();
    Board {
        decision: if blocking.is_empty() && !results.is_empty() {
            Decision::Go
        } else {
            Decision::NoGo
        },
        blocking,
        phase: phase.or(dday.map(|d| d.phase)).unwrap_or(Phase::Before),
        dday: dday.map(|d| d.format(d.at)),
        dday_timestamp: dday.map(|d| d.at),
        evaluated_at: now,
        criteria: results,
        scope: board.scope.clone(),
    }
}

fn judge_one(c: &Criterion, board: &board::Board) -> CriterionResult {
    let mut evidence = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for name in &c.checks {
        let rows: Vec<&CheckView> = board.checks.iter().filter(|v| &v.check == name).collect();
        if rows.is_empty() {
            let inactive = board.inactive.iter().find(|i| &i.name == name);
            problems.push(match inactive {
                Some(i) => format!("{name}: {}", i.reason),
                None if board.per_resource.contains(name) => {
                    format!("{name}: its targets report no resource to judge yet")
                }
                None => format!("{name}: no such check is defined"),
            });
            continue;
        }
        for v in rows {
            if !v.has_been_checked {
                problems.push(format!("{name} on {}: not checked yet", v.host));
            } else if v.status != Status::Ok {
                problems.push(format!("{name} on {}: {}", v.host, v.output));
            }
            evidence.push(Evidence {
                check: v.check.clone(),
                host: v.host.clone(),
                target: v.target.clone(),
                status: v.status,
                state_type: v.state_type,
                value: v.value,
                bound: v.bound.clone(),
                measured_at: v.last_check,
                output: v.output.clone(),
            });
        }
    }
    let (decision, reason) = if problems.is_empty() {
        (
            Decision::Go,
            format!(
                "{} OK",
                crate::units::count(evidence.len() as u64, "check", "checks")
            ),
        )
    } else {
        (Decision::NoGo, problems.join("; "))
    };
    CriterionResult {
        name: c.name.clone(),
        title: c.title.clone(),
        decision,
        reason,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::bind::InactiveCheck;

    fn view(check: &str, host: &str, status: Status, checked: bool) -> CheckView {
        CheckView {
            check: check.into(),
            host: host.into(),
            target: host.into(),
            bound: "warning 30:, critical 15:".into(),
            status,
            state_type: StateType::Hard,
            attempt: 1,
            max_attempts: 3,
            has_been_checked: checked,
            last_check: if checked { 1_800_000_000 } else { 0 },
            last_state_change: 0,
            last_hard_state_change: 0,
            duration: String::new(),
            output: format!("{}: {check} on {host}", status.as_str()),
            perfdata: String::new(),
            is_flapping: false,
            percent_state_change: 0.0,
            value: Some(42.0),
        }
    }

    fn board(criteria: &[(&str, &[&str])], checks: Vec<CheckView>) -> board::Board {
        board::Board {
            checks,
            criteria: criteria
                .iter()
                .map(|(name, checks)| Criterion {
                    name: (*name).into(),
                    title: (*name).into(),
                    checks: checks.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn go_only_when_every_instance_is_ok_and_checked() {
        let mut b = board(
            &[("lb", &["A", "B"]), ("certs", &["C"])],
            vec![
                view("A", "lb-1", Status::Ok, true),
                view("B", "tg-1", Status::Ok, true),
                view("C", "www", Status::Ok, true),
            ],
        );
        let j = judge(&b, None, 0);
        assert_eq!(j.decision, Decision::Go, "{j:?}");
        assert!(j.blocking.is_empty());
        assert_eq!(j.phase, Phase::Before);
        assert_eq!(j.criteria[0].reason, "2 checks OK");
        assert_eq!(j.criteria[0].evidence[1].value, Some(42.0));
        assert_eq!(j.criteria[1].evidence[0].bound, "warning 30:, critical 15:");

        b.checks[1].status = Status::Warning;
        b.checks[1].output = "WARNING: 1 healthy host".into();
        let j = judge(&b, Some(Phase::Freeze), 0);
        assert_eq!(j.decision, Decision::NoGo);
        assert_eq!(j.phase, Phase::Freeze);
        assert_eq!(j.blocking, ["lb"]);
        assert_eq!(j.criteria[0].reason, "B on tg-1: WARNING: 1 healthy host");
        assert_eq!(j.criteria[1].decision, Decision::Go);

        b.checks[1].status = Status::Ok;
        b.checks[2].has_been_checked = false;
        let j = judge(&b, None, 0);
        assert_eq!(j.blocking, ["certs"]);
        assert_eq!(j.criteria[1].reason, "C on www: not checked yet");
    }

    #[test]
    fn missing_data_is_no_go_with_the_reason() {
        let mut b = board(
            &[
                ("dns", &["DNS_TTL"]),
                ("backups", &["RDS_BACKUP_RECENT"]),
                ("lb", &["TG_HEALTHY_HOST_COUNT"]),
            ],
            Vec::new(),
        );
        b.inactive = vec![InactiveCheck {
            name: "RDS_BACKUP_RECENT".into(),
            source: "rds".into(),
            reason: "no rds target is configured".into(),
        }];
        b.per_resource = vec!["TG_HEALTHY_HOST_COUNT".into()];
        let j = judge(&b, None, 0);
        assert_eq!(j.decision, Decision::NoGo);
        assert_eq!(j.blocking, ["dns", "backups", "lb"]);
        assert_eq!(j.criteria[0].reason, "DNS_TTL: no such check is defined");
        assert_eq!(
            j.criteria[1].reason,
            "RDS_BACKUP_RECENT: no rds target is configured"
        );
        assert_eq!(
            j.criteria[2].reason,
            "TG_HEALTHY_HOST_COUNT: its targets report no resource to judge yet"
        );
        // No criteria at all is not a GO either.
        let j = judge(&board(&[], Vec::new()), None, 0);
        assert_eq!(j.decision, Decision::NoGo);
    }

    #[test]
    fn bounds_are_the_check_thresholds() {
        let defs = crate::check::shipped();
        let cert = defs.iter().find(|d| d.name == "ELB_CERTIFICATE").unwrap();
        assert_eq!(cert.thresholds_text(), "warning 30:, critical 15:");
        let migration = defs
            .iter()
            .find(|d| d.name == "MIGRATION_PROGRESS")
            .unwrap();
        assert!(
            migration
                .thresholds_text()
                .starts_with("projected by D-day minus dday.margin"),
            "{}",
            migration.thresholds_text()
        );
        // The default criteria name only checks that exist or are planned: none empty.
        assert!(default_criteria().iter().all(|c| !c.checks.is_empty()));
    }
}
