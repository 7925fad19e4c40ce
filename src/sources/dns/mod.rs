//! The DNS source: one record (`record` and `type`) asked of one server, the zone's
//! authoritative server, so that the TTL read is the one configured and not a cache's
//! countdown. Exports the TTL, the answer's records, the response code and the AA flag; with
//! `route53:`, the TTL the record set is configured with in Route 53 as well; with
//! `cutover_ttl` (and `dday:`), by when the TTL must be lowered for the old one to have
//! expired in every cache before D-day, which the DNS_TTL check judges.
//!
//! `lookup.rs` is the exchange with the server, `plan.rs` the pure part (families and the
//! plan's arithmetic).

pub mod lookup;
pub mod plan;

use std::convert::Infallible;

use hickory_proto::rr::{Name, RecordType};
use parking_lot::Mutex;
use serde::Deserialize;

use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{PollError, Polled, Poller, SourceKind};
use crate::sources::aws::route53;
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use crate::time::unix_now;

/// The record types a target can ask for.
pub const TYPES: [RecordType; 3] = [RecordType::A, RecordType::AAAA, RecordType::CNAME];

/// One entry of `dns:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// `host:port` of the zone's authoritative server, e.g. `ns-123.awsdns-45.com:53`: a
    /// resolver's answer carries its cache's countdown, not the TTL configured.
    pub server: String,
    /// The name asked, e.g. `storage.example.com`.
    pub record: String,
    /// `A` (default), `AAAA` or `CNAME`.
    #[serde(rename = "type")]
    pub rtype: Option<String>,
    /// The TTL planned for the cut-over, e.g. `60s`: DNS_TTL judges whether the TTL is at or
    /// below it in time. Needs `dday.at`.
    pub cutover_ttl: Option<Duration>,
    /// How long before D-day the TTL must be at or below `cutover_ttl`. Default: twice the
    /// largest TTL seen.
    pub lead_time: Option<Duration>,
    /// Where the zone is in Route 53: the record set's configured TTL is read too.
    pub route53: Option<RawRoute53>,
    /// Overrides `defaults.interval`.
    pub interval: Option<Duration>,
    /// Overrides `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Where the target is, e.g. `us-west-2` or `dc1`: the `region` label of
    /// `headroom_target_info`. Default: none.
    pub region: Option<String>,
}

/// `dns[].route53`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute53 {
    /// The hosted zone's id, e.g. `Z0123456789ABCDEFGHIJ`.
    pub zone_id: String,
    /// The region the SDK signs for. Default `us-east-1`, where Route 53's global endpoint
    /// is.
    pub region: Option<String>,
    /// Endpoint override (the tests point it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume (cross-account), as for every AWS target.
    pub role_arn: Option<String>,
}

/// A validated DNS target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub question: lookup::Question,
    /// The record's name as the labels show it: lower case, without the trailing dot.
    pub record: String,
    pub plan: Option<plan::Plan>,
    pub route53: Option<route53::Zone>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        v.address(&format!("{path}.server"), &self.server);
        let name = match Name::from_utf8(&self.record) {
            Ok(mut n) if !self.record.trim().is_empty() && !self.record.contains(' ') => {
                n.set_fqdn(true);
                Some(n)
            }
            Ok(_) => {
                v.error(
                    &format!("{path}.record"),
                    format!("{:?} is not a domain name", self.record),
                );
                None
            }
            Err(e) => {
                v.error(
                    &format!("{path}.record"),
                    format!("{:?} is not a domain name: {e}", self.record),
                );
                None
            }
        };
        let rtype = match self.rtype.as_deref() {
            None => Some(RecordType::A),
            Some(t) => {
                let found = TYPES
                    .into_iter()
                    .find(|k| k.to_string().eq_ignore_ascii_case(t));
                if found.is_none() {
                    v.error(
                        &format!("{path}.type"),
                        format!("unknown record type {t:?}: one of A, AAAA, CNAME"),
                    );
                }
                found
            }
        };
        let plan = self.plan(v, path, cx);
        let route53 = self.route53.as_ref().and_then(|r| {
            let p = format!("{path}.route53");
            if r.zone_id.trim_start_matches("/hostedzone/").is_empty() {
                v.error(&format!("{p}.zone_id"), "the hosted zone's id is empty");
            }
            let region = r.region.as_deref().unwrap_or("us-east-1");
            let access =
                crate::sources::aws::validate_access(v, &p, region, &r.endpoint_url, &r.role_arn)?;
            Some(route53::Zone {
                zone_id: r.zone_id.clone(),
                access,
            })
        });
        if v.error_count() != before {
            return None;
        }
        let name = name?;
        Some(Settings {
            record: name
                .to_lowercase()
                .to_ascii()
                .trim_end_matches('.')
                .to_owned(),
            question: lookup::Question {
                server: self.server.clone(),
                name,
                rtype: rtype?,
            },
            plan,
            route53,
        })
    }
}

impl RawTarget {
    fn plan(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<plan::Plan> {
        let whole_seconds = |v: &mut Validator<'_>, field: &str, d: Duration| {
            if d.0.subsec_nanos() != 0 {
                v.error(
                    &format!("{path}.{field}"),
                    "a TTL is a whole number of seconds",
                );
            }
            d.0.as_secs()
        };
        let Some(cutover) = self.cutover_ttl else {
            if self.lead_time.is_some() {
                v.error(
                    &format!("{path}.lead_time"),
                    "lead_time needs cutover_ttl, the TTL planned for the cut-over",
                );
            }
            return None;
        };
        let cutover_ttl = whole_seconds(v, "cutover_ttl", cutover);
        // RFC 2181 section 8: a TTL is a 31-bit number of seconds.
        let Some(cutover_ttl) = u32::try_from(cutover_ttl)
            .ok()
            .filter(|t| *t <= 0x7fff_ffff)
        else {
            v.error(
                &format!("{path}.cutover_ttl"),
                "a TTL is at most 2147483647 seconds (RFC 2181 section 8)",
            );
            return None;
        };
        let lead_time = self.lead_time.map(|d| {
            v.positive(&format!("{path}.lead_time"), Some(d), d.0)
                .as_secs()
        });
        let Some(dday) = cx.dday else {
            v.error(
                &format!("{path}.cutover_ttl"),
                "cutover_ttl needs `dday.at`, the moment of the cut-over, in the config",
            );
            return None;
        };
        Some(plan::Plan {
            cutover_ttl,
            lead_time,
            dday,
        })
    }
}

/// Polls one record.
pub struct DnsPoller {
    settings: Settings,
    route53: Option<route53::Reader>,
    /// The largest TTL judged since the poller started (the default lead time is twice it).
    largest: Mutex<u32>,
}

impl std::fmt::Debug for DnsPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsPoller")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DnsPoller {
    pub fn new(s: &Settings, aws: &crate::sources::aws::Clients) -> Self {
        DnsPoller {
            settings: s.clone(),
            route53: s.route53.as_ref().map(|z| route53::Reader::new(z, aws)),
            largest: Mutex::new(0),
        }
    }
}

impl Poller for DnsPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let s = &self.settings;
        let rtype = s.question.rtype.to_string();
        let configured = async {
            match &self.route53 {
                Some(r) => r.configured_ttl(&s.record, &rtype).await,
                None => Ok(None),
            }
        };
        let (answer, configured) = tokio::join!(s.question.lookup(), configured);
        let answer = answer?;
        let configured = configured?;
        let judged = plan::judged_ttl(answer.min_ttl().unwrap_or(0), configured);
        let largest = {
            let mut l = self.largest.lock();
            *l = (*l).max(judged);
            *l
        };
        let mut families = plan::families(&plan::Observed {
            name: &s.record,
            rtype: &rtype,
            answer: &answer,
            configured_ttl: configured,
            largest_ttl_seen: largest,
            plan: s.plan.as_ref(),
            now: unix_now(),
        });
        if let Some(r) = &self.route53 {
            families.extend(r.api().families());
        }
        Ok(families.into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("dns", "headroom_dns_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = DnsPoller;

    fn poller(&self, at: Spawn<'_>) -> DnsPoller {
        DnsPoller::new(self, at.aws)
    }
}
