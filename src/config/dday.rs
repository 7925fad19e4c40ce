//! `dday:`: the cut-over the migration is planned around. What reads it: the migration
//! source (is the copy projected to finish in time?), the DNS source (has the TTL been
//! lowered in time?) and the D-day board (the phase each criterion is judged in).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Duration, Validator};

/// Where the move stands, which says what each system should be doing (the source
/// database writable before the freeze and read-only from it, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Copying and replicating; the source serves writes.
    Before,
    /// The source is read-only; the last changes replicate.
    Freeze,
    /// Traffic moves to the destination.
    Cutover,
    /// The destination serves everything.
    After,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Before, Phase::Freeze, Phase::Cutover, Phase::After];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::Freeze => "freeze",
            Phase::Cutover => "cutover",
            Phase::After => "after",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// `dday:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDDay {
    /// The moment of the cut-over, RFC 3339 with its offset, e.g. `2027-03-01T06:00:00+01:00`.
    pub at: Option<String>,
    /// Where the move stands now: `before` (default), `freeze`, `cutover` or `after`.
    pub phase: Option<Phase>,
    /// How long before D-day a projection must land to be on schedule (WARNING inside it).
    /// Default 7d.
    pub margin: Option<Duration>,
    /// The D-day board's criteria, each judged by the checks it names. Default: migration,
    /// replication, DNS, certificates, load balancers, backups, read-only, capacity.
    pub criteria: Option<Vec<Criterion>>,
}

/// One row of the D-day board: GO when every instance of its checks is OK.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Short name, e.g. `replication`: what `blocking` lists in the board's JSON.
    pub name: String,
    /// What it asks, for people: `Replica running, lag within its bound`.
    #[serde(default)]
    pub title: String,
    /// The checks that judge it (names of shipped checks or checks of your own).
    pub checks: Vec<String>,
}

/// `dday:`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DDay {
    /// Unix time of the cut-over.
    pub at: i64,
    /// The offset it was written with, in seconds east of UTC, so that dates are shown in the
    /// zone the plan was made in.
    pub offset_s: i32,
    pub phase: Phase,
    pub margin: std::time::Duration,
}

/// The default of `dday.margin`.
pub const DEFAULT_MARGIN: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

impl RawDDay {
    /// `dday.criteria`, checked: `None` when not set (the board's defaults apply) or after
    /// recording errors.
    pub fn criteria(&self, v: &mut Validator<'_>, path: &str) -> Option<Vec<Criterion>> {
        let list = self.criteria.as_ref()?;
        let before = v.error_count();
        for (i, c) in list.iter().enumerate() {
            let at = format!("{path}.criteria[{i}]");
            if c.name.trim().is_empty() {
                v.error(&format!("{at}.name"), "a criterion needs a name");
            } else if list[..i].iter().any(|o| o.name == c.name) {
                v.error(
                    &format!("{at}.name"),
                    format!("duplicate criterion {:?}", c.name),
                );
            }
            if c.checks.is_empty() {
                v.error(
                    &format!("{at}.checks"),
                    "a criterion needs at least one check to judge it",
                );
            }
        }
        (v.error_count() == before).then(|| list.clone())
    }

    /// `None` when the section is absent (no `at`), or after recording errors.
    pub fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<DDay> {
        let Some(at) = &self.at else {
            if self.phase.is_some() || self.margin.is_some() {
                // (criteria alone are fine: the board judges them without a date)
                v.error(
                    &format!("{path}.at"),
                    "dday needs `at`, the moment of the cut-over (RFC 3339, e.g. 2027-03-01T06:00:00+01:00)",
                );
            }
            return None;
        };
        let Ok(t) = OffsetDateTime::parse(at, &Rfc3339) else {
            v.error(
                &format!("{path}.at"),
                format!(
                    "{at:?} is not a date and time with its zone: RFC 3339, e.g. 2027-03-01T06:00:00+01:00 or 2027-03-01T05:00:00Z"
                ),
            );
            return None;
        };
        let margin = v.positive(&format!("{path}.margin"), self.margin, DEFAULT_MARGIN);
        Some(DDay {
            at: t.unix_timestamp(),
            offset_s: t.offset().whole_seconds(),
            phase: self.phase.unwrap_or(Phase::Before),
            margin,
        })
    }
}

impl DDay {
    /// A Unix time in D-day's zone, RFC 3339 (`2027-03-01T06:00:00+01:00`).
    pub fn format(&self, unix: i64) -> String {
        let offset =
            time::UtcOffset::from_whole_seconds(self.offset_s).unwrap_or(time::UtcOffset::UTC);
        OffsetDateTime::from_unix_timestamp(unix)
            .map(|t| t.to_offset(offset))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("@{unix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Positions;
    use std::path::Path;

    fn validate(yaml: &str) -> (Option<DDay>, Vec<String>) {
        let raw: RawDDay = serde_yaml_ng::from_str(yaml).unwrap();
        let pos = Positions::index(yaml);
        let mut v = Validator::new(
            Path::new("t.yaml"),
            &pos,
            (
                std::time::Duration::from_secs(15),
                std::time::Duration::from_secs(5),
            ),
        );
        let d = raw.validate(&mut v, "dday");
        let errs = match v.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.message.clone()).collect(),
        };
        (d, errs)
    }

    #[test]
    fn reads_a_moment_with_its_zone() {
        let (d, errs) = validate("at: 2027-03-01T06:00:00+01:00\nphase: freeze\n");
        assert!(errs.is_empty(), "{errs:?}");
        let d = d.unwrap();
        // 2027-03-01T05:00:00Z (date -d 2027-03-01T05:00:00Z +%s)
        assert_eq!(d.at, 1_803_877_200);
        assert_eq!(d.phase, Phase::Freeze);
        assert_eq!(d.margin, DEFAULT_MARGIN);
        assert_eq!(d.format(d.at), "2027-03-01T06:00:00+01:00");
        assert_eq!(d.format(d.at + 86_400), "2027-03-02T06:00:00+01:00");
    }

    #[test]
    fn refuses_a_moment_without_zone_and_a_section_without_at() {
        let (d, errs) = validate("at: 2027-03-01 06:00\n");
        assert!(d.is_none());
        assert!(errs[0].contains("RFC 3339"), "{errs:?}");
        let (d, errs) = validate("phase: before\n");
        assert!(d.is_none());
        assert!(errs[0].contains("needs `at`"), "{errs:?}");
        let (d, errs) = validate("{}");
        assert!(d.is_none() && errs.is_empty());
    }
}
