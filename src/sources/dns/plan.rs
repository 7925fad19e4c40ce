//! The pure part of the DNS source: one lookup's answer (and the TTL Route 53 has configured)
//! as metric families, and the arithmetic of the TTL plan: by when the TTL must be at or
//! below `cutover_ttl` so that the old TTL has expired in every cache by D-day.

use std::borrow::Cow;

use crate::config::dday::{DDay, Phase};
use crate::model::{Family, Kind, Sample};

/// What a lookup gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The response code's mnemonic (`NOERROR`) and number (RFC 1035 section 4.1.1; IANA's
    /// DNS RCODEs registry).
    pub rcode: (String, u16),
    /// The AA bit: the server answered as an authority for the zone, so the TTLs are the
    /// configured ones, not a cache's countdown.
    pub authoritative: bool,
    /// The UDP answer was truncated (TC) and the one used came over TCP.
    pub truncated: bool,
    /// The answer section.
    pub records: Vec<Record>,
    /// From the first query sent to the answer used.
    pub seconds: f64,
}

/// One record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its type: the type asked for, or a CNAME on the way to it.
    pub rtype: String,
    pub ttl: u32,
    /// The address, or the canonical name without its trailing dot.
    pub value: String,
}

impl Answer {
    /// The smallest TTL of the answer's records: when the answer as a whole expires from a
    /// cache. `None` for an empty answer (which the poller refuses before this is asked).
    pub fn min_ttl(&self) -> Option<u32> {
        self.records.iter().map(|r| r.ttl).min()
    }
}

/// The cut-over plan of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The TTL planned for the switch, seconds.
    pub cutover_ttl: u32,
    /// How long before D-day the TTL must be at or below `cutover_ttl`; `None`: twice the
    /// largest TTL seen ([`default_lead_time`]).
    pub lead_time: Option<u64>,
    pub dday: DDay,
}

/// The lead time when none is configured: twice the largest TTL seen. One TTL is what it
/// takes every cache that fetched the record just before the change to drop it; the second
/// is the margin for the change to reach every authoritative server (a secondary waiting
/// for its SOA refresh, a Route 53 change still PENDING) and for the change being made later
/// in the day than planned.
pub fn default_lead_time(largest_ttl_seen: u32) -> u64 {
    2 * u64::from(largest_ttl_seen)
}

/// What the plan says at `now`, given the TTL judged and the largest one seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub lead_time: u64,
    /// Unix time by which the TTL must be at or below the plan.
    pub deadline: i64,
    /// Seconds left until then; negative once past.
    pub left: i64,
    pub lowered: bool,
}

impl Plan {
    /// `None` once the cut-over is over (`dday.phase: after`): the TTL may rise again.
    pub fn verdict(&self, judged_ttl: u32, largest_ttl_seen: u32, now: i64) -> Option<Verdict> {
        if self.dday.phase == Phase::After {
            return None;
        }
        let lead_time = self
            .lead_time
            .unwrap_or_else(|| default_lead_time(largest_ttl_seen.max(judged_ttl)));
        let deadline = self
            .dday
            .at
            .saturating_sub(i64::try_from(lead_time).unwrap_or(i64::MAX));
        Some(Verdict {
            lead_time,
            deadline,
            left: deadline.saturating_sub(now),
            lowered: judged_ttl <= self.cutover_ttl,
        })
    }
}

/// What one poll observed, for [`families`].
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The record's name (lower case, no trailing dot) and type: the `name` and `type` labels.
    pub name: &'a str,
    pub rtype: &'a str,
    pub answer: &'a Answer,
    /// The TTL configured in Route 53, when the target reads it and the record set has one
    /// (an alias record has none of its own).
    pub configured_ttl: Option<u32>,
    /// The largest TTL judged since the poller started, this poll's included.
    pub largest_ttl_seen: u32,
    pub plan: Option<&'a Plan>,
    pub now: i64,
}

/// The TTL the plan judges: the larger of the one served and the one configured in Route 53
/// (a lowered configuration not yet served, or a served TTL about to be raised again, is not
/// lowered yet).
pub fn judged_ttl(served: u32, configured: Option<u32>) -> u32 {
    configured.map_or(served, |c| c.max(served))
}

/// The families of one successful lookup.
pub fn families(o: &Observed<'_>) -> Vec<Family> {
    let a = o.answer;
    let served = a.min_ttl().unwrap_or(0);
    let judged = judged_ttl(served, o.configured_ttl);
    let record = |v: f64| Sample {
        labels: vec![
            (Cow::Borrowed("name"), o.name.to_owned()),
            (Cow::Borrowed("type"), o.rtype.to_owned()),
        ],
        value: v,
    };
    let gauge = |name: &'static str, help: &'static str, v: f64| Family {
        name: name.into(),
        help: help.into(),
        kind: Kind::Gauge,
        samples: smallvec::smallvec![record(v)],
    };
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let mut out = vec![
        Family::single(
            "headroom_dns_up",
            "1 if the server answered the query with records of the type asked.",
            Kind::Gauge,
            1.0,
        ),
        Family::single(
            "headroom_dns_lookup_seconds",
            "From the first query sent to the answer used (a TCP retry after a truncated UDP answer included).",
            Kind::Gauge,
            a.seconds,
        ),
        Family {
            name: "headroom_dns_response_code".into(),
            help: "The answer's response code: its number as the value, its name in `rcode`."
                .into(),
            kind: Kind::Gauge,
            samples: smallvec::smallvec![Sample {
                labels: vec![(Cow::Borrowed("rcode"), a.rcode.0.clone())],
                value: f64::from(a.rcode.1),
            }],
        },
        Family::single(
            "headroom_dns_authoritative",
            "1 if the answer had the AA flag: the server is an authority for the zone, so the TTL is the configured one. 0: a cache answered and the TTL may be its countdown.",
            Kind::Gauge,
            b(a.authoritative),
        ),
        Family::single(
            "headroom_dns_truncated",
            "1 if the UDP answer was truncated and the answer used came over TCP.",
            Kind::Gauge,
            b(a.truncated),
        ),
        gauge(
            "headroom_dns_record_ttl_seconds",
            "The smallest TTL of the answer's records, as the server sent it.",
            f64::from(served),
        ),
    ];
    let mut info = Family::new(
        "headroom_dns_answer",
        "One series per record of the answer: its type (a CNAME on the way to the type asked shows as CNAME) and value.",
        Kind::Info,
    );
    for r in &a.records {
        let mut s = record(1.0);
        s.labels
            .push((Cow::Borrowed("record_type"), r.rtype.clone()));
        s.labels.push((Cow::Borrowed("value"), r.value.clone()));
        if !info.samples.contains(&s) {
            info.samples.push(s);
        }
    }
    out.push(info);
    if let Some(c) = o.configured_ttl {
        out.push(gauge(
            "headroom_dns_configured_ttl_seconds",
            "The record set's TTL as configured in Route 53 (ListResourceRecordSets): a change shows here before any resolver sees it.",
            f64::from(c),
        ));
    }
    out.push(gauge(
        "headroom_dns_ttl_judged_seconds",
        "The TTL the cut-over plan judges: the larger of the one served and the one configured in Route 53.",
        f64::from(judged),
    ));
    let Some((plan, v)) = o
        .plan
        .and_then(|p| Some((p, p.verdict(judged, o.largest_ttl_seen, o.now)?)))
    else {
        return out;
    };
    out.push(gauge(
        "headroom_dns_cutover_ttl_seconds",
        "The TTL planned for the cut-over (cutover_ttl).",
        f64::from(plan.cutover_ttl),
    ));
    out.push(gauge(
        "headroom_dns_ttl_lead_time_seconds",
        "How long before D-day the TTL must be at or below the planned one (lead_time; default twice the largest TTL seen).",
        v.lead_time as f64,
    ));
    out.push(gauge(
        "headroom_dns_ttl_deadline_timestamp_seconds",
        "When the TTL must be at or below the planned one: D-day minus the lead time, Unix time.",
        v.deadline as f64,
    ));
    let mut left = record(v.left as f64);
    left.labels
        .push((Cow::Borrowed("deadline"), plan.dday.format(v.deadline)));
    out.push(Family {
        name: "headroom_dns_ttl_deadline_seconds".into(),
        help: "Seconds left until the TTL must be at or below the planned one, negative once past; `deadline` is that moment in D-day's zone. Judged by DNS_TTL.".into(),
        kind: Kind::Gauge,
        samples: smallvec::smallvec![left],
    });
    out.push(gauge(
        "headroom_dns_ttl_lowered",
        "1 if the TTL judged is at or below the planned one.",
        b(v.lowered),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value;

    /// 2027-03-01T06:00:00+01:00, as src/config/dday.rs's test has it.
    const DDAY: i64 = 1_803_877_200;

    fn dday(phase: Phase) -> DDay {
        DDay {
            at: DDAY,
            offset_s: 3600,
            phase,
            margin: std::time::Duration::from_secs(7 * 86_400),
        }
    }

    fn answer(ttls: &[u32]) -> Answer {
        Answer {
            rcode: ("NOERROR".into(), 0),
            authoritative: true,
            truncated: false,
            records: ttls
                .iter()
                .enumerate()
                .map(|(i, t)| Record {
                    rtype: "A".into(),
                    ttl: *t,
                    value: format!("192.0.2.{}", 10 + i),
                })
                .collect(),
            seconds: 0.001,
        }
    }

    fn value(f: &[Family], name: &str) -> Option<f64> {
        find_value(f, name, &[("name", "storage.example.com"), ("type", "A")])
    }

    #[test]
    fn the_deadline_is_dday_minus_twice_the_largest_ttl_by_default() {
        let plan = Plan {
            cutover_ttl: 60,
            lead_time: None,
            dday: dday(Phase::Before),
        };
        let v = plan.verdict(3600, 3600, DDAY - 86_400).unwrap();
        assert_eq!(v.lead_time, 7200);
        assert_eq!(v.deadline, DDAY - 7200);
        assert_eq!(v.left, 86_400 - 7200);
        assert!(!v.lowered);
        // Lowered since: the largest TTL seen still sets the lead time.
        let v = plan.verdict(60, 3600, DDAY - 3600).unwrap();
        assert_eq!((v.deadline, v.left, v.lowered), (DDAY - 7200, -3600, true));
        // A configured lead time wins; the cut-over over, no verdict.
        let fixed = Plan {
            lead_time: Some(2 * 86_400),
            ..plan
        };
        assert_eq!(
            fixed.verdict(3600, 3600, 0).unwrap().deadline,
            DDAY - 2 * 86_400
        );
        let after = Plan {
            dday: dday(Phase::After),
            ..plan
        };
        assert_eq!(after.verdict(3600, 3600, DDAY + 1), None);
    }

    #[test]
    fn families_of_an_answer_with_a_plan() {
        let plan = Plan {
            cutover_ttl: 60,
            lead_time: None,
            dday: dday(Phase::Before),
        };
        let a = answer(&[3600, 300]);
        let now = DDAY - 3 * 3600;
        let f = families(&Observed {
            name: "storage.example.com",
            rtype: "A",
            answer: &a,
            configured_ttl: Some(600),
            largest_ttl_seen: 600,
            plan: Some(&plan),
            now,
        });
        assert_eq!(value(&f, "headroom_dns_record_ttl_seconds"), Some(300.0));
        assert_eq!(
            value(&f, "headroom_dns_configured_ttl_seconds"),
            Some(600.0)
        );
        assert_eq!(value(&f, "headroom_dns_ttl_judged_seconds"), Some(600.0));
        assert_eq!(value(&f, "headroom_dns_ttl_lowered"), Some(0.0));
        assert_eq!(
            value(&f, "headroom_dns_ttl_lead_time_seconds"),
            Some(1200.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_dns_ttl_deadline_seconds",
                &[("deadline", "2027-03-01T05:40:00+01:00")]
            ),
            Some((3 * 3600 - 1200) as f64)
        );
        assert_eq!(find_value(&f, "headroom_dns_authoritative", &[]), Some(1.0));
        assert_eq!(
            find_value(&f, "headroom_dns_response_code", &[("rcode", "NOERROR")]),
            Some(0.0)
        );
        let info: Vec<&Sample> = f
            .iter()
            .filter(|f| f.name == "headroom_dns_answer")
            .flat_map(|f| &f.samples)
            .collect();
        assert_eq!(info.len(), 2);
        // Without a plan (or with the cut-over over), no plan series.
        let f = families(&Observed {
            name: "storage.example.com",
            rtype: "A",
            answer: &a,
            configured_ttl: None,
            largest_ttl_seen: 300,
            plan: None,
            now,
        });
        assert_eq!(value(&f, "headroom_dns_ttl_judged_seconds"), Some(300.0));
        assert_eq!(value(&f, "headroom_dns_configured_ttl_seconds"), None);
        assert_eq!(value(&f, "headroom_dns_ttl_deadline_seconds"), None);
    }
}
