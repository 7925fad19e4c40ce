//! Route 53: the TTL a record set is configured with, read with ListResourceRecordSets. Not a
//! source of its own: a `dns:` target with `route53:` reads it beside its lookup, so that one
//! snapshot holds both the TTL served and the one configured, and a TTL change shows before
//! any resolver sees it.

use aws_sdk_route53::types::RrType;

use super::{Access, ApiCounters, Clients, Limited};
use crate::model::{ErrorKind, PollError};

const SERVICE: &str = "route53";

/// Where a record set is: its hosted zone, and how to call Route 53.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// The hosted zone's id (`Z0123456789ABCDEFGHIJ`; a `/hostedzone/` prefix is accepted).
    pub zone_id: String,
    pub access: Access,
}

/// Reads the configured TTL of one record set.
pub struct Reader {
    zone: Zone,
    client: Limited<aws_sdk_route53::Client>,
    api: ApiCounters,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

/// A record type Route 53 names, from its text (`A`, `AAAA`, `CNAME`).
fn rr_type(t: &str) -> RrType {
    RrType::from(t)
}

/// A Route 53 record name as DNS names it: lower case, without the trailing dot. Route 53
/// returns names with the dot and writes `*` as `\052` (the octal escapes of the
/// ListResourceRecordSets reference:
/// <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html>).
fn plain(name: &str) -> String {
    name.trim_end_matches('.')
        .replace("\\052", "*")
        .to_ascii_lowercase()
}

impl Reader {
    pub fn new(zone: &Zone, clients: &Clients) -> Self {
        let api = ApiCounters::default();
        Reader {
            zone: zone.clone(),
            client: clients.client(&zone.access, &api),
            api,
        }
    }

    /// `headroom_aws_requests_total` and friends of this reader.
    pub fn api(&self) -> &ApiCounters {
        &self.api
    }

    /// The largest TTL among the record sets of `name` and `rtype` (several with weighted,
    /// latency or failover routing); `None` when they are all aliases, which have no TTL of
    /// their own (Route 53 answers an alias with the TTL of its target:
    /// <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html>).
    /// A name without such a record set is an error.
    pub async fn configured_ttl(&self, name: &str, rtype: &str) -> Result<Option<u32>, PollError> {
        let client = self.client.turn().await;
        let zone = self.zone.zone_id.trim_start_matches("/hostedzone/");
        let want = plain(name);
        let mut found = false;
        let mut ttl: Option<u32> = None;
        let mut start = (format!("{want}."), rr_type(rtype), None::<String>);
        loop {
            self.api.request(SERVICE, "ListResourceRecordSets");
            let out = client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(&start.0)
                .start_record_type(start.1.clone())
                .set_start_record_identifier(start.2.clone())
                .max_items(100)
                .send()
                .await
                .map_err(|e| {
                    super::call_failed(
                        &self.api,
                        SERVICE,
                        &self.zone.access.region,
                        "ListResourceRecordSets",
                        e,
                    )
                })?;
            // Record sets come sorted by name and type from the start asked for: the ones of
            // this name and type first, then others.
            let mut past = false;
            for set in out.resource_record_sets() {
                if plain(set.name()) != want || set.r#type().as_str() != rtype {
                    past = true;
                    break;
                }
                found = true;
                if let Some(t) = set.ttl() {
                    let t = u32::try_from(t.max(0)).unwrap_or(u32::MAX);
                    ttl = Some(ttl.map_or(t, |x| x.max(t)));
                }
            }
            match (
                past || !out.is_truncated(),
                out.next_record_name(),
                out.next_record_type(),
            ) {
                (false, Some(n), Some(t)) => {
                    start = (
                        n.to_owned(),
                        t.clone(),
                        out.next_record_identifier().map(str::to_owned),
                    );
                }
                _ => break,
            }
        }
        if !found {
            return Err(PollError::new(
                ErrorKind::Protocol,
                format!("Route 53 hosted zone {zone} has no {rtype} record set for {want}"),
            ));
        }
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_dns_writes_them() {
        assert_eq!(plain("Storage.Example.com."), "storage.example.com");
        assert_eq!(plain("\\052.example.com."), "*.example.com");
    }
}
