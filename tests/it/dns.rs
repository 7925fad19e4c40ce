//! The dns source against a real authoritative DNS server: Knot DNS (Debian's `knot`, from
//! scripts/setup), started by each test on a free loopback port with its own configuration
//! and zone in a temp dir. The test edits the zone and has knotd reload it (`knotc
//! zone-reload`), and reads the same records with `kdig` (Debian's `knot-dnsutils`) to compare.
//! Also: NXDOMAIN, REFUSED, nothing listening and a server that never answers, each with its
//! error kind and check state while the daemon keeps running; Route 53's configured TTL from
//! moto; config errors with their positions.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::knot::{Knot, kdig};
use common::moto::{AWS_ENV, boto, reset};
use common::{Daemon, env, free_port, wait_for};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `ts` in the zone `+01:00`, RFC 3339: how the checks show dates of a D-day written with
/// that offset.
fn in_plus_one(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .unwrap()
        .to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap())
        .format(&Rfc3339)
        .unwrap()
}

/// The checks of `/api/checks` that have been evaluated, as (check, host) -> (status, output).
fn check(d: &Daemon, name: &str, host: &str) -> Option<(String, String)> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == name && c["host"] == host && c["has_been_checked"] == true)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["output"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

/// Waits until DNS_TTL on `host` is `status`; returns its output.
fn wait_state(d: &Daemon, host: &str, status: &str) -> String {
    wait_for(
        &format!("DNS_TTL on {host} to be {status}"),
        Duration::from_secs(30),
        || {
            check(d, "DNS_TTL", host)
                .filter(|(s, _)| s == status)
                .map(|(_, o)| o)
        },
    )
}

const ZONE: &str = "storage 3600 IN A 192.0.2.10\nstorage 3600 IN A 192.0.2.11\n\
                    www 3600 IN CNAME storage.example.com.\n";

/// 120 addresses: about 2 KB of answer, more than the 1232 bytes headroom's EDNS allows over
/// UDP, so the server truncates and headroom asks again over TCP.
fn big() -> String {
    (1..=120)
        .map(|i| format!("big 300 IN A 198.51.100.{i}\n"))
        .collect()
}

#[test]
fn ttl_follows_the_zone_and_dns_ttl_goes_from_critical_to_ok() {
    let mut knot = Knot::start(&format!("{ZONE}{}", big()));
    let server = knot.server();
    // A UDP socket that takes queries and never answers (a server behind a firewall that
    // drops them); and a port nobody listens on, which the kernel answers with ICMP port
    // unreachable.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let nobody = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    // D-day in an hour, written in +01:00. With a TTL of 3600 the default lead time is twice
    // that: the deadline passed an hour ago.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let dday = now + 3600;
    let config = format!(
        "defaults: {{interval: 1s, timeout: 1s}}\n\
         dday: {{at: '{}'}}\n\
         dns:\n\
         \x20 - {{name: storage-dns, server: '{server}', record: storage.example.com, cutover_ttl: 60s}}\n\
         \x20 - {{name: www, server: '{server}', record: WWW.Example.com., type: a}}\n\
         \x20 - {{name: big, server: '{server}', record: big.example.com}}\n\
         \x20 - {{name: nx, server: '{server}', record: nope.example.com, cutover_ttl: 60s}}\n\
         \x20 - {{name: refused, server: '{server}', record: storage.example.org}}\n\
         \x20 - {{name: nobody, server: '{nobody}', record: storage.example.com}}\n\
         \x20 - {{name: silent, server: '{silent_addr}', record: storage.example.com}}\n",
        in_plus_one(dday)
    );
    let d = Daemon::start(free_port(), &config, &[]);

    // CRITICAL: D-day is inside the lead time and the TTL is 3600, above the planned 60.
    let deadline = in_plus_one(dday - 7200);
    let out = wait_state(&d, "storage-dns", "CRITICAL");
    assert!(
        out.starts_with(&format!(
            "CRITICAL: storage.example.com A TTL 3600s, above the planned 60s: lower it by {deadline} ("
        )),
        "{out}"
    );
    // Every target that answers has answered once.
    let text = wait_for(
        "the answering targets' first lookups",
        Duration::from_secs(30),
        || {
            let text = d.metrics();
            ["storage-dns", "www", "big"]
                .iter()
                .all(|t| {
                    common::series_value(&text, "headroom_dns_up", &[&format!("target=\"{t}\"")])
                        == Some(1.0)
                })
                .then_some(text)
        },
    );
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    let rec = [
        "target=\"storage-dns\"",
        "name=\"storage.example.com\"",
        "type=\"A\"",
    ];
    let v = |name: &str, labels: &[&str]| common::series_value(&text, name, labels);
    // The TTL and the records are what kdig reads from the same server.
    let dig = kdig(knot.port, "storage.example.com", "A");
    assert_eq!(dig.len(), 2, "{dig:?}");
    assert_eq!(
        v("headroom_dns_record_ttl_seconds", &rec),
        Some(f64::from(dig[0].0))
    );
    assert_eq!(v("headroom_dns_record_ttl_seconds", &rec), Some(3600.0));
    for (_, t, value) in &dig {
        let value_label = format!("value=\"{value}\"");
        let type_label = format!("record_type=\"{t}\"");
        assert_eq!(
            v(
                "headroom_dns_answer_info",
                &[rec[0], &type_label, &value_label]
            ),
            Some(1.0),
            "{value} missing:\n{text}"
        );
    }
    assert_eq!(v("headroom_dns_authoritative", &[rec[0]]), Some(1.0));
    assert_eq!(
        v("headroom_dns_response_code", &[rec[0], "rcode=\"NOERROR\""]),
        Some(0.0)
    );
    assert_eq!(v("headroom_dns_truncated", &[rec[0]]), Some(0.0));
    let took = v("headroom_dns_lookup_seconds", &[rec[0]]).unwrap();
    assert!(took > 0.0 && took < 1.0, "{took}");
    assert_eq!(v("headroom_dns_ttl_lowered", &rec), Some(0.0));
    assert_eq!(v("headroom_dns_ttl_lead_time_seconds", &rec), Some(7200.0));
    assert_eq!(
        v("headroom_dns_ttl_deadline_timestamp_seconds", &rec),
        Some((dday - 7200) as f64)
    );
    let left = v(
        "headroom_dns_ttl_deadline_seconds",
        &[rec[0], &format!("deadline=\"{deadline}\"")],
    )
    .unwrap();
    assert!((-3700.0..=-3600.0).contains(&left), "{left}");

    // The CNAME chain, asked as WWW.Example.com. of type a: labels in lower case, the CNAME
    // and the addresses, each as kdig has them.
    let www = kdig(knot.port, "www.example.com", "A");
    assert_eq!(www.len(), 3, "{www:?}");
    for (_, t, value) in &www {
        assert_eq!(
            v(
                "headroom_dns_answer_info",
                &[
                    "target=\"www\"",
                    "name=\"www.example.com\"",
                    "type=\"A\"",
                    &format!("record_type=\"{t}\""),
                    &format!("value=\"{value}\"")
                ]
            ),
            Some(1.0),
            "{t} {value}:\n{text}"
        );
    }
    // No plan on it: DNS_TTL has nothing to judge.
    let (s, out) = check(&d, "DNS_TTL", "www").unwrap();
    assert_eq!(s, "OK", "{out}");
    assert!(out.contains("no TTL lowering planned for www"), "{out}");

    // 120 records do not fit the UDP answer: truncated, asked again over TCP, all there.
    assert_eq!(v("headroom_dns_truncated", &["target=\"big\""]), Some(1.0));
    let big_records = text
        .lines()
        .filter(|l| l.starts_with("headroom_dns_answer_info{target=\"big\""))
        .count();
    assert_eq!(big_records, 120);
    assert_eq!(big_records, kdig(knot.port, "big.example.com", "A").len());

    // Failures: each its kind, each check with the reason; the daemon keeps polling the rest.
    let failing = wait_for(
        "the failing targets' checks",
        Duration::from_secs(30),
        || {
            let nx = check(&d, "DNS_TTL", "nx")?;
            let refused = check(&d, "DNS_TTL", "refused")?;
            let nobody = check(&d, "DNS_TTL", "nobody")?;
            let silent = check(&d, "DNS_TTL", "silent")?;
            Some((nx, refused, nobody, silent))
        },
    );
    let (nx, refused, nobody_c, silent_c) = failing;
    assert_eq!(nx.0, "CRITICAL", "{nx:?}");
    assert_eq!(
        nx.1,
        format!(
            "CRITICAL: nx could not be polled: protocol: nope.example.com A at {server}: NXDOMAIN: the name does not exist"
        )
    );
    assert_eq!(refused.0, "CRITICAL", "{refused:?}");
    assert!(
        refused
            .1
            .contains("could not be polled: auth: storage.example.org A at")
            && refused.1.contains("REFUSED"),
        "{refused:?}"
    );
    assert_eq!(nobody_c.0, "CRITICAL", "{nobody_c:?}");
    assert!(
        nobody_c.1.contains("could not be polled: connect: ")
            && nobody_c.1.contains("Connection refused"),
        "{nobody_c:?}"
    );
    assert_eq!(silent_c.0, "UNKNOWN", "{silent_c:?}");
    assert!(
        silent_c.1.contains("could not be polled: timeout"),
        "{silent_c:?}"
    );
    let text = d.metrics();
    for (target, kind) in [
        ("nx", "protocol"),
        ("refused", "auth"),
        ("nobody", "connect"),
        ("silent", "timeout"),
    ] {
        let errors = common::series_value(
            &text,
            "headroom_poll_errors_total",
            &[&format!("target=\"{target}\""), &format!("kind=\"{kind}\"")],
        )
        .unwrap_or(0.0);
        assert!(errors >= 1.0, "{target}: no {kind} error:\n{text}");
        assert_eq!(
            common::series_value(&text, "headroom_dns_up", &[&format!("target=\"{target}\"")]),
            Some(0.0)
        );
    }

    // The TTL lowered in the zone and reloaded: headroom follows, DNS_TTL goes OK.
    knot.set_zone(&format!(
        "{}{}",
        ZONE.replace("storage 3600", "storage 60"),
        big()
    ));
    assert_eq!(kdig(knot.port, "storage.example.com", "A")[0].0, 60);
    let out = wait_state(&d, "storage-dns", "OK");
    assert_eq!(
        out,
        format!(
            "OK: storage.example.com A TTL 60s, at or below the planned 60s (deadline {deadline})"
        )
    );
    let text = d.metrics();
    assert_eq!(
        common::series_value(&text, "headroom_dns_record_ttl_seconds", &rec),
        Some(60.0)
    );
    assert_eq!(
        common::series_value(&text, "headroom_dns_ttl_lowered", &rec),
        Some(1.0)
    );
    // The largest TTL seen (3600) still sets the lead time: caches may hold it for an hour.
    assert_eq!(
        common::series_value(&text, "headroom_dns_ttl_lead_time_seconds", &rec),
        Some(7200.0)
    );
    // Still serving, the failing targets still polled.
    assert_eq!(d.get("/healthz").map(|(s, _)| s), Some(200));
    assert!(d.log().contains("nope.example.com"), "{}", d.log());
    drop(silent);
}

#[test]
fn route53_configured_ttl_from_moto() {
    let _moto = common::lock::moto();
    reset();
    let moto = env("HEADROOM_TEST_MOTO");
    // A hosted zone with the record at 3600, as boto3 creates it (Route 53's API speaks
    // REST-XML, which moto serves directly: no protocol proxy in between).
    let client = format!(
        "import boto3\n\
         c = boto3.client('route53', endpoint_url='{moto}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t')\n"
    );
    let upsert = |ttl: u32| {
        format!(
            "c.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={{'Changes': [{{'Action': 'UPSERT', 'ResourceRecordSet': \
             {{'Name': 'storage.example.com.', 'Type': 'A', 'TTL': {ttl}, 'ResourceRecords': [{{'Value': '192.0.2.10'}}, {{'Value': '192.0.2.11'}}]}}}}]}})\n"
        )
    };
    let zone = boto(&format!(
        "{client}zone = c.create_hosted_zone(Name='example.com.', CallerReference='headroom-dns-test')['HostedZone']['Id']\n{}print(zone)\n",
        upsert(3600)
    ))
    .trim()
    .to_owned();
    assert!(zone.starts_with("/hostedzone/"), "{zone}");
    // The authoritative server already serves 60: the configuration in Route 53 says 3600,
    // which is what resolvers get once it propagates, so the TTL is not lowered yet.
    let knot = Knot::start(&ZONE.replace("storage 3600", "storage 60"));
    let server = knot.server();
    let dday = OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let zone_id = zone.trim_start_matches("/hostedzone/");
    let config = format!(
        "defaults: {{interval: 1s, timeout: 5s}}\n\
         dday: {{at: '{}'}}\n\
         dns:\n\
         \x20 - name: storage-dns\n\
         \x20   server: '{server}'\n\
         \x20   record: storage.example.com\n\
         \x20   cutover_ttl: 60s\n\
         \x20   route53: {{zone_id: {zone_id}, endpoint_url: '{moto}'}}\n\
         \x20 - name: www\n\
         \x20   server: '{server}'\n\
         \x20   record: www.example.com\n\
         \x20   route53: {{zone_id: '{zone}', endpoint_url: '{moto}'}}\n",
        in_plus_one(dday)
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let rec = [
        "target=\"storage-dns\"",
        "name=\"storage.example.com\"",
        "type=\"A\"",
    ];
    let out = wait_state(&d, "storage-dns", "CRITICAL");
    assert!(
        out.starts_with("CRITICAL: storage.example.com A TTL 3600s, above the planned 60s"),
        "{out}"
    );
    let text = d.metrics();
    let v = |name: &str| common::series_value(&text, name, &rec);
    assert_eq!(v("headroom_dns_configured_ttl_seconds"), Some(3600.0));
    assert_eq!(v("headroom_dns_record_ttl_seconds"), Some(60.0));
    assert_eq!(v("headroom_dns_ttl_judged_seconds"), Some(3600.0));
    assert!(
        common::series_value(
            &text,
            "headroom_aws_requests_total",
            &[
                rec[0],
                "service=\"route53\"",
                "operation=\"ListResourceRecordSets\""
            ]
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    // No A record set for www in the hosted zone: a protocol error naming it.
    let (s, www) = wait_for("DNS_TTL on www", Duration::from_secs(30), || {
        check(&d, "DNS_TTL", "www")
    });
    assert_eq!(s, "CRITICAL", "{www}");
    assert!(
        www.contains(&format!(
            "protocol: Route 53 hosted zone {zone_id} has no A record set for www.example.com"
        )),
        "{www}"
    );

    // The TTL lowered in Route 53: the configured TTL follows before any resolver could see
    // it, and DNS_TTL goes OK.
    boto(&format!("{client}zone = '{zone}'\n{}", upsert(60)));
    let out = wait_state(&d, "storage-dns", "OK");
    assert!(
        out.starts_with("OK: storage.example.com A TTL 60s, at or below the planned 60s"),
        "{out}"
    );
    assert_eq!(
        d.value("headroom_dns_configured_ttl_seconds", &rec),
        Some(60.0)
    );
}

/// Runs `headroom config check` on `body` in `dir`: (exit code, stderr, the file).
fn config_check(dir: &Path, body: &str) -> (i32, String, PathBuf) {
    let path = dir.join("config.yaml");
    std::fs::write(&path, body).unwrap();
    let (code, _, err) = common::headroom(&["config", "check", path.to_str().unwrap()]);
    (code, err, path)
}

#[test]
fn config_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, path) = config_check(
        dir.path(),
        "dns:\n\
         \x20 - name: a\n\
         \x20   server: 127.0.0.1\n\
         \x20   record: storage.example.com\n\
         \x20 - name: b\n\
         \x20   server: 127.0.0.1:53\n\
         \x20   record: storage.example.com\n\
         \x20   type: MX\n\
         \x20 - name: c\n\
         \x20   server: 127.0.0.1:53\n\
         \x20   record: storage.example.com\n\
         \x20   cutover_ttl: 60s\n\
         \x20   route53: {zone_id: Z1, endpoint_url: 'ftp://moto'}\n",
    );
    assert_eq!(code, 1, "{err}");
    let f = path.display();
    for line in [
        format!(
            "{f}:3:13: dns[0].server: invalid address \"127.0.0.1\": expected host:port, e.g. 127.0.0.1:11211"
        ),
        format!("{f}:8:11: dns[1].type: unknown record type \"MX\": one of A, AAAA, CNAME"),
        format!(
            "{f}:12:18: dns[2].cutover_ttl: cutover_ttl needs `dday.at`, the moment of the cut-over, in the config"
        ),
        format!("{f}:13:42: dns[2].route53.endpoint_url: \"ftp://moto\" is not an http(s) URL"),
    ] {
        assert!(err.contains(&line), "missing {line:?} in:\n{err}");
    }
}
