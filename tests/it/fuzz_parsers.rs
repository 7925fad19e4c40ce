//! Property-based fuzzing, continued (tests/it/fuzz.rs has the first parsers): Nagios perfdata
//! as headroom writes it, certificate fields read from DER, DNS answers, the migration
//! source's inputs (Prometheus text, selectors, JSON pointers, SQL values), and the RDS
//! DescribeDBInstances and CloudWatch GetMetricData responses through the AWS SDK's own
//! deserializers and the pollers that consume them. None may panic; each keeps its promise on
//! any input. `scripts/fuzz` runs these with many more cases, within a time bound.

use std::io::{Read as _, Write as _};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use proptest::prelude::*;

use headroom::check::output::{Perf, number, plugin_line};
use headroom::check::range::Range;
use headroom::check::state::Status;
use headroom::model::{ErrorKind, Family, PollError, Poller};
use headroom::sources::aws::Clients;
use headroom::sources::aws::cloudwatch::CloudwatchPoller;
use headroom::sources::aws::rds::{RdsPoller, Settings as RdsSettings};
use headroom::sources::dns::lookup::Question;
use headroom::sources::migration::parse::{
    Op, Selector, Series, check_pointer, json_number, parse_text, sql_number,
};
use headroom::sources::tls;

/// Cases per property: `PROPTEST_CASES` (scripts/fuzz sets it), 256 by default.
fn config() -> ProptestConfig {
    costly(1)
}

/// For a property whose case costs about `n` times a plain one (a key pair made, an HTTP
/// exchange through the AWS SDK): `n` times fewer cases, 256 / n by default.
fn costly(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
            / n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Perfdata. headroom writes perfdata and reads none, so the reader here is the test's own,
// written from the Monitoring Plugins Development Guidelines, section "Performance data":
// items separated by spaces, each `'label'=value[UOM];[warn];[crit];[min];[max]`, the label
// quoted when it holds a space, a quote inside written as two, trailing empty fields
// dropped, `U` for a value that cannot be determined.
// ---------------------------------------------------------------------------------------

/// One item as a perfdata reader sees it: label, value text, UOM, then the four fields.
#[derive(Debug, PartialEq)]
struct Item {
    label: String,
    value: String,
    uom: String,
    fields: Vec<String>,
}

/// Reads the perfdata part of a plugin line (what follows the first `|`).
fn read_perfdata(mut s: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(' ');
        if s.is_empty() {
            return Ok(out);
        }
        let (label, rest) = if let Some(r) = s.strip_prefix('\'') {
            let mut label = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(format!("unterminated label in {s:?}")),
                    Some((i, '\'')) => {
                        if r[i + 1..].starts_with('\'') {
                            label.push('\'');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => label.push(c),
                }
            };
            (label, &r[end..])
        } else {
            let end = s.find('=').ok_or_else(|| format!("no '=' in {s:?}"))?;
            (s[..end].to_owned(), &s[end..])
        };
        let rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("no '=' after the label {label:?}"))?;
        let end = rest.find(' ').unwrap_or(rest.len());
        let (item, next) = rest.split_at(end);
        let mut parts = item.split(';');
        let vu = parts.next().unwrap_or_default();
        let split = vu
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'U')))
            .unwrap_or(vu.len());
        let (value, uom) = vu.split_at(split);
        let fields: Vec<String> = parts.map(str::to_owned).collect();
        if fields.len() > 4 {
            return Err(format!("more than five fields in {item:?}"));
        }
        out.push(Item {
            label,
            value: value.to_owned(),
            uom: uom.to_owned(),
            fields,
        });
        s = next;
    }
}

/// Units of measure the guidelines list: none, seconds (and ms, us), percent, bytes (and KB,
/// MB, TB), a continuous counter.
const UOMS: [&str; 10] = ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"];

fn perf() -> impl Strategy<Value = Perf> {
    let number = prop_oneof![
        -1e6f64..1e6,
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        (-1000i64..1000).prop_map(|n| n as f64),
    ];
    let range = prop_oneof![
        Just(None),
        // Any text that is a range: whatever the parser accepts must write as perfdata.
        "[@~0-9:.\\- e+]{1,8}".prop_map(|s| s.parse::<Range>().ok()),
    ];
    (
        "[\\PC'= ;|]{1,12}",
        number.clone(),
        prop::sample::select(UOMS.to_vec()),
        range.clone(),
        range,
        prop::option::of(number.clone()),
        prop::option::of(number),
    )
        .prop_map(|(label, value, uom, warn, crit, min, max)| Perf {
            label,
            value,
            uom: uom.to_owned(),
            warn,
            crit,
            min,
            max,
        })
}

/// A number read back from perfdata: `U` is NaN (undetermined).
fn read_number(s: &str) -> Option<f64> {
    if s == "U" {
        Some(f64::NAN)
    } else {
        s.parse().ok()
    }
}

fn same_number(written: f64, read: Option<f64>) -> bool {
    match read {
        Some(r) if !written.is_finite() => r.is_nan(),
        Some(r) => r == written,
        None => false,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn perfdata_reads_back_as_written(
        items in prop::collection::vec(perf(), 1..4),
        text in "\\PC{0,30}",
        status in prop::sample::select(vec![Status::Ok, Status::Warning, Status::Critical, Status::Unknown]),
    ) {
        let line = plugin_line(status, &text, &items);
        // One line: Nagios takes the first line as the status and perfdata.
        prop_assert!(!line.contains(['\n', '\r']), "{:?}", line);
        let (head, perf) = line.split_once(" | ").unwrap();
        prop_assert!(!head.contains('|'), "{:?}", line);
        let read = read_perfdata(perf).map_err(|e| TestCaseError::fail(format!("{e}: {line:?}")))?;
        prop_assert_eq!(read.len(), items.len(), "{:?}", line);
        for (p, r) in items.iter().zip(&read) {
            prop_assert_eq!(&r.label, &p.label, "{:?}", line);
            prop_assert!(same_number(p.value, read_number(&r.value)), "{} read as {:?} in {:?}", p.value, r.value, line);
            prop_assert!(!r.value.contains('e'), "{:?}", line);
            prop_assert_eq!(&r.uom, &p.uom, "{:?}", line);
            let field = |i: usize| r.fields.get(i).map(String::as_str).unwrap_or("");
            prop_assert_eq!(field(0), p.warn.as_ref().map(Range::as_str).unwrap_or(""), "{:?}", line);
            prop_assert_eq!(field(1), p.crit.as_ref().map(Range::as_str).unwrap_or(""), "{:?}", line);
            for (i, v) in [(2, p.min), (3, p.max)] {
                match v {
                    None => prop_assert_eq!(field(i), "", "{:?}", line),
                    Some(v) => prop_assert!(same_number(v, read_number(field(i))), "{:?}", line),
                }
            }
            // The guidelines' ranges in warn and crit read back as the same ranges.
            if let Some(w) = &p.warn {
                prop_assert_eq!(&field(0).parse::<Range>().unwrap(), w);
            }
        }
    }

    #[test]
    fn a_perfdata_number_is_plain_decimal_and_exact(v in any::<f64>()) {
        let s = number(v);
        prop_assert!(!s.contains(['e', 'E']), "{}", s);
        prop_assert!(same_number(v, read_number(&s)), "{} written {}", v, s);
    }
}

// ---------------------------------------------------------------------------------------
// Certificate fields (x509-parser through src/sources/tls.rs).
// ---------------------------------------------------------------------------------------

/// A certificate made with rcgen (ECDSA P-256): its DER and what it says.
struct Made {
    der: Vec<u8>,
    cn: String,
    sans: Vec<String>,
    not_before: i64,
    not_after: i64,
}

fn make_cert(cn: &str, sans: &[String], not_before: i64, not_after: i64) -> Made {
    let mut params = rcgen::CertificateParams::new(sans.to_vec()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Made {
        der: cert.der().to_vec(),
        cn: cn.to_owned(),
        sans: sans.to_vec(),
        not_before,
        not_after,
    }
}

/// The one certificate the mutation properties start from.
fn storage_cert() -> &'static Made {
    static CERT: OnceLock<Made> = OnceLock::new();
    CERT.get_or_init(|| {
        make_cert(
            "storage.example.com",
            &["storage.example.com".into(), "www.example.com".into()],
            1_700_000_000,
            1_800_000_000,
        )
    })
}

/// Every family of a certificate poll, with the labels rendered: must not panic.
fn render_families(der: &[u8]) {
    let der = rustls::pki_types::CertificateDer::from(der.to_vec());
    if let Ok(mut facts) = tls::parse_leaf(&der, "storage.example.com") {
        if let Ok(c) = tls::parse_chain_cert(0, &der) {
            facts.chain = vec![c];
        }
        for f in tls::families(&facts, 1_750_000_000) {
            for s in &f.samples {
                let _ = (&s.labels, s.value);
            }
        }
    }
    let _ = tls::parse_chain_cert(1, &der);
}

/// Applies byte edits: flip, delete, insert, truncate.
fn mutate_bytes(src: &[u8], edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    let mut b = src.to_vec();
    for (at, op, byte) in edits {
        if b.is_empty() {
            break;
        }
        let i = at.index(b.len());
        match op % 4 {
            0 => b[i] ^= byte | 1,
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, *byte),
            _ => b.truncate(i),
        }
    }
    b
}

/// Years 1950 to 9999, the range X.509 dates cover (UTCTime to 2049, GeneralizedTime after,
/// RFC 5280 section 4.1.2.5).
const YEAR_1950: i64 = -631_152_000;
const YEAR_9999_END: i64 = 253_402_300_799;

proptest! {
    #![proptest_config(costly(4))]

    #[test]
    fn any_bytes_are_a_certificate_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        render_families(&bytes);
    }

    #[test]
    fn a_mutated_certificate_is_read_or_refused(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..6)
    ) {
        render_families(&mutate_bytes(&storage_cert().der, &edits));
    }

    /// The signature is a BIT STRING at the end of the certificate that the field reader does
    /// not look into: damage there changes no name and no date.
    #[test]
    fn a_damaged_signature_changes_no_field(
        edits in prop::collection::vec((0usize..24, 1u8..=255), 1..8)
    ) {
        let made = storage_cert();
        let mut der = made.der.clone();
        let n = der.len();
        for (back, x) in &edits {
            der[n - 1 - back] ^= x;
        }
        let der = rustls::pki_types::CertificateDer::from(der);
        let f = tls::parse_leaf(&der, "storage.example.com").unwrap();
        prop_assert_eq!(&f.subject_cn, &made.cn);
        prop_assert_eq!(&f.sans, &made.sans);
        prop_assert_eq!((f.not_before, f.not_after), (made.not_before, made.not_after));
        prop_assert_eq!(f.signature_algorithm.as_str(), "ecdsa-with-SHA256");
    }

    /// Names and dates read back as they were issued, over the whole span X.509 can encode.
    #[test]
    fn names_and_dates_read_back_as_issued(
        cn in "[\\PC]{1,30}",
        sans in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]{1,8}){0,3}", 0..4),
        a in YEAR_1950..YEAR_9999_END,
        b in YEAR_1950..YEAR_9999_END,
    ) {
        let made = make_cert(&cn, &sans, a.min(b), a.max(b));
        let der = rustls::pki_types::CertificateDer::from(made.der.clone());
        let f = tls::parse_leaf(&der, "x").unwrap();
        prop_assert_eq!(&f.subject_cn, &made.cn);
        prop_assert_eq!(&f.sans, &made.sans);
        prop_assert_eq!((f.not_before, f.not_after), (made.not_before, made.not_after));
        let c = tls::parse_chain_cert(0, &der).unwrap();
        prop_assert_eq!((c.not_before, c.not_after), (made.not_before, made.not_after));
        prop_assert_eq!(&c.subject_cn, &made.cn);
        render_families(&made.der);
    }
}

// ---------------------------------------------------------------------------------------
// DNS answers: hickory-proto decodes, the dns source's `answers` and `judge` read.
// ---------------------------------------------------------------------------------------

fn question() -> Question {
    Question {
        server: "127.0.0.1:53".into(),
        name: Name::from_ascii("storage.example.com.").unwrap(),
        rtype: RecordType::A,
    }
}

/// A reply to `query` with `rcode` and A records of (ttl, address).
fn reply(query: &Message, rcode: u16, records: &[(u32, u32)]) -> Message {
    let mut m = Message::response(query.metadata.id, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.response_code = ResponseCode::from_low(rcode as u8);
    m.add_queries(query.queries.clone());
    for (ttl, ip) in records {
        m.add_answer(Record::from_rdata(
            question().name,
            *ttl,
            RData::A(A(Ipv4Addr::from(*ip))),
        ));
    }
    m
}

/// Decodes `bytes` and, if they answer `query`, judges them: must not panic, and an answer
/// holds only records of the asked type or CNAMEs.
fn read_reply(q: &Question, query: &Message, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = Message::from_vec(bytes)
        && q.answers(query, &m)
        && let Ok(a) = q.judge(m, false, 0.0)
    {
        prop_assert!(!a.records.is_empty());
        for r in &a.records {
            prop_assert!(r.rtype == "A" || r.rtype == "CNAME", "{:?}", r);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_are_a_dns_answer_or_ignored(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let q = question();
        let query = q.message().unwrap();
        read_reply(&q, &query, &bytes)?;
    }

    #[test]
    fn a_dns_answer_is_judged_by_its_response_code(
        rcode in prop_oneof![Just(0u16), 0u16..16],
        records in prop::collection::vec((any::<u32>(), any::<u32>()), 0..6),
    ) {
        let q = question();
        let query = q.message().unwrap();
        let wire = reply(&query, rcode, &records).to_vec().unwrap();
        let m = Message::from_vec(&wire).unwrap();
        prop_assert!(q.answers(&query, &m));
        match (q.judge(m, false, 0.0), rcode) {
            (Ok(a), 0) => {
                let got: Vec<(u32, String)> = a.records.iter().map(|r| (r.ttl, r.value.clone())).collect();
                let want: Vec<(u32, String)> = records.iter().map(|(t, ip)| (*t, Ipv4Addr::from(*ip).to_string())).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(a.rcode, ("NOERROR".to_owned(), 0));
            }
            (Err(e), 0) => {
                prop_assert!(records.is_empty(), "{}", e);
                prop_assert_eq!(e.kind, ErrorKind::Protocol);
            }
            (Ok(a), n) => prop_assert!(false, "rcode {} accepted: {:?}", n, a),
            (Err(e), 5 | 9) => prop_assert_eq!(e.kind, ErrorKind::Auth, "{}", e),
            (Err(e), n) => {
                prop_assert_eq!(e.kind, ErrorKind::Protocol, "{}", e);
                let name = headroom::sources::dns::lookup::rcode_name(n);
                prop_assert!(e.message.contains(&name), "{}", e);
            }
        }
    }

    #[test]
    fn a_mutated_dns_answer_is_judged_or_ignored(
        records in prop::collection::vec((any::<u32>(), any::<u32>()), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..5),
    ) {
        let q = question();
        let query = q.message().unwrap();
        let wire = reply(&query, 0, &records).to_vec().unwrap();
        read_reply(&q, &query, &mutate_bytes(&wire, &edits))?;
    }
}

// ---------------------------------------------------------------------------------------
// The migration source's inputs.
// ---------------------------------------------------------------------------------------

/// A label value escaped as the text exposition format escapes it: `\\`, `\"` and `\n`.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn series() -> impl Strategy<Value = Series> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "[\\PC\"\\\\\n]{0,8}", 0..4),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY)
        ],
    )
        .prop_map(|(name, labels, value)| Series {
            name,
            labels: labels.into_iter().collect(),
            value,
        })
}

/// A sample line as a Prometheus client library writes it (Go's float spellings).
fn exposition(s: &Series, timestamp: Option<i64>) -> String {
    let value = match s.value {
        v if v.is_nan() => "NaN".to_owned(),
        f64::INFINITY => "+Inf".to_owned(),
        f64::NEG_INFINITY => "-Inf".to_owned(),
        v => format!("{v:e}"),
    };
    let mut line = s.name.clone();
    if !s.labels.is_empty() {
        let l: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        line.push_str(&format!("{{{}}}", l.join(",")));
    }
    line.push(' ');
    line.push_str(&value);
    if let Some(t) = timestamp {
        line.push_str(&format!(" {t}"));
    }
    line
}

fn same_series(a: &Series, b: &Series) -> bool {
    a.name == b.name
        && a.labels == b.labels
        && (a.value == b.value || a.value.is_nan() && b.value.is_nan())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_exposition_reads_back_as_written(
        all in prop::collection::vec((series(), prop::option::of(any::<i64>())), 0..6),
        help in "\\PC{0,20}",
    ) {
        let mut text = String::new();
        for (s, t) in &all {
            text.push_str(&format!("# HELP {} {help}\n# TYPE {} gauge\n", s.name, s.name));
            text.push_str(&exposition(s, *t));
            text.push('\n');
        }
        let read = parse_text(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(read.len(), all.len());
        for (r, (s, _)) in read.iter().zip(&all) {
            prop_assert!(same_series(r, s), "{:?} read as {:?}\n{}", s, r, text);
        }
    }

    #[test]
    fn any_text_is_an_exposition_or_an_error(text in "[\\PC\n{}=\",# ]{0,200}") {
        let _ = parse_text(&text);
    }

    #[test]
    fn a_selector_reads_back_as_it_displays(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        matchers in prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", any::<bool>(), "\\PC{0,8}"), 0..4),
    ) {
        let sel = Selector {
            name,
            matchers: matchers
                .into_iter()
                .map(|(k, eq, v)| (k, if eq { Op::Eq } else { Op::Ne }, v))
                .collect(),
        };
        let shown = sel.to_string();
        let back: Selector = shown.parse().map_err(TestCaseError::fail)?;
        prop_assert_eq!(back, sel, "{}", shown);
    }

    #[test]
    fn any_text_is_a_selector_or_an_error(text in "[\\PC{}=!\",]{0,40}") {
        if let Ok(s) = text.parse::<Selector>() {
            let _ = s.sum(&[]);
        }
    }

    #[test]
    fn any_pointer_reads_a_number_or_an_error(
        pointer in "[/~01a-z]{0,12}",
        json in prop_oneof![
            Just(serde_json::json!({"files": {"copied": 12, "total": "40"}, "a~b": [1, "x", null]})),
            any::<i64>().prop_map(serde_json::Value::from),
            "\\PC{0,10}".prop_map(serde_json::Value::from),
            prop::sample::select(vec!["inf", "-infinity", "NaN", " 1e400", "12"]).prop_map(serde_json::Value::from),
        ],
    ) {
        // A count of files or bytes is a finite number, or an error naming the pointer.
        if check_pointer(&pointer).is_ok()
            && let Ok(v) = json_number(&json, &pointer)
        {
            prop_assert!(v.is_finite(), "{} at {:?} of {}", v, pointer, json);
        }
    }

    #[test]
    fn any_sql_text_is_a_number_or_an_error(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::sample::select(vec!["inf", "NaN", "-Infinity", "1e999", " 42 "]).prop_map(|s| s.as_bytes().to_vec()),
        ]
    ) {
        if let Ok(Some(v)) = sql_number(&mysql_async::Value::Bytes(bytes.clone())) {
            prop_assert!(v.is_finite(), "{} from {:?}", v, String::from_utf8_lossy(&bytes));
        }
    }
}

// ---------------------------------------------------------------------------------------
// RDS DescribeDBInstances and CloudWatch GetMetricData responses. The AWS SDK reads them with
// deserializers of its own that it does not export, so the responses go the way real ones
// do: over HTTP from a local endpoint (no real AWS can be made to answer like this) into the
// rds and cloudwatch pollers, which call the SDK and build their families from what it read.
// What is fuzzed is that whole path: SDK deserializer, the pollers' use of its output, and
// the families. The SDK signs with the test credentials of main.rs; nothing leaves loopback.
// ---------------------------------------------------------------------------------------

/// The bodies the endpoint answers with: (content type, body) per operation.
#[derive(Default)]
struct Bodies {
    instances: Vec<u8>,
    snapshots: Vec<u8>,
    metric_data: Vec<u8>,
}

/// A local HTTP/1.1 endpoint (keep-alive, Content-Length framing, RFC 9112) answering each
/// request with 200 and the body of its operation: RDS's Query protocol names it in the
/// form body (`Action=...`), CloudWatch's RPC v2 CBOR protocol in the path
/// (`/service/<shape>/operation/<name>`, Smithy "RPC v2 CBOR" specification).
fn endpoint(bodies: Arc<Mutex<Bodies>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_nodelay(true).ok();
            let bodies = bodies.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + 4 + len {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body =
                        String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + len]).to_string();
                    buf.drain(..head_end + 4 + len);
                    let (ctype, extra, out) = {
                        let b = bodies.lock().unwrap();
                        if head.contains("/operation/GetMetricData") {
                            (
                                "application/cbor",
                                "smithy-protocol: rpc-v2-cbor\r\n",
                                b.metric_data.clone(),
                            )
                        } else if body.contains("Action=DescribeDBSnapshots") {
                            ("text/xml", "", b.snapshots.clone())
                        } else {
                            ("text/xml", "", b.instances.clone())
                        }
                    };
                    let mut reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\n\r\n",
                        out.len()
                    )
                    .into_bytes();
                    reply.extend_from_slice(&out);
                    if s.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// DescribeDBInstances' response in the shape of the example in the Amazon RDS API
/// Reference (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBInstances.html>,
/// "Examples"), with the fields the rds source reads; `fields` replace the values by name,
/// and `marker` adds a pagination marker.
fn rds_instances(fields: &[(&str, String)], marker: Option<&str>) -> String {
    let mut f: Vec<(&str, String)> = vec![
        ("AllocatedStorage", "100".into()),
        ("AvailabilityZone", "us-west-2b".into()),
        ("BackupRetentionPeriod", "7".into()),
        ("DBInstanceClass", "db.r5.large".into()),
        ("DBInstanceIdentifier", "osdp-db-proddc1".into()),
        ("DBInstanceStatus", "available".into()),
        ("Engine", "mysql".into()),
        ("EngineVersion", "8.0.35".into()),
        ("Iops", "3000".into()),
        ("LatestRestorableTime", "2025-03-23T18:15:00Z".into()),
        ("MultiAZ", "true".into()),
        ("PubliclyAccessible", "false".into()),
        ("StorageEncrypted", "true".into()),
        ("StorageThroughput", "125".into()),
        ("StorageType", "gp3".into()),
    ];
    for (k, v) in fields {
        if let Some(e) = f.iter_mut().find(|(n, _)| n == k) {
            e.1 = v.clone();
        }
    }
    let inner: String = f
        .iter()
        .map(|(k, v)| format!("        <{k}>{v}</{k}>\n"))
        .collect();
    let marker = marker
        .map(|m| format!("    <Marker>{m}</Marker>\n"))
        .unwrap_or_default();
    format!(
        "<DescribeDBInstancesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n  <DescribeDBInstancesResult>\n{marker}    <DBInstances>\n      <DBInstance>\n{inner}      </DBInstance>\n    </DBInstances>\n  </DescribeDBInstancesResult>\n  <ResponseMetadata>\n    <RequestId>9135fff3-8509-11e0-bd9b-a7b1ece36d51</RequestId>\n  </ResponseMetadata>\n</DescribeDBInstancesResponse>\n"
    )
}

/// DescribeDBSnapshots' response in the shape of the Amazon RDS API Reference's example
/// (API_DescribeDBSnapshots.html): one automated snapshot of the instance.
const RDS_SNAPSHOTS: &str = "<DescribeDBSnapshotsResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n  <DescribeDBSnapshotsResult>\n    <DBSnapshots>\n      <DBSnapshot>\n        <DBInstanceIdentifier>osdp-db-proddc1</DBInstanceIdentifier>\n        <DBSnapshotIdentifier>rds:osdp-db-proddc1-2025-03-23-06-10</DBSnapshotIdentifier>\n        <SnapshotCreateTime>2025-03-23T06:10:43.221Z</SnapshotCreateTime>\n        <SnapshotType>automated</SnapshotType>\n        <Status>available</Status>\n      </DBSnapshot>\n    </DBSnapshots>\n  </DescribeDBSnapshotsResult>\n  <ResponseMetadata>\n    <RequestId>c4191173-8506-11e0-90aa-eb648410240d</RequestId>\n  </ResponseMetadata>\n</DescribeDBSnapshotsResponse>\n";

/// A poller on the local endpoint, its runtime, and the bodies it will be answered with;
/// taken in turns (one case at a time).
struct Rig<P> {
    rt: tokio::runtime::Runtime,
    poller: P,
    bodies: Arc<Mutex<Bodies>>,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn rds_rig() -> &'static Mutex<Rig<RdsPoller>> {
    static RIG: OnceLock<Mutex<Rig<RdsPoller>>> = OnceLock::new();
    RIG.get_or_init(|| {
        let bodies = Arc::new(Mutex::new(Bodies::default()));
        let url = endpoint(bodies.clone());
        let poller = RdsPoller::new(
            &RdsSettings {
                access: headroom::sources::aws::Access {
                    region: "us-west-2".into(),
                    endpoint_url: Some(url),
                    role_arn: None,
                },
                instances: None,
                instance_metrics: None,
            },
            &Clients::default(),
        );
        Mutex::new(Rig {
            rt: rt(),
            poller,
            bodies,
        })
    })
}

/// One poll against the given bodies, which must end well within the scheduler's timeout
/// (5 s here; a poll that runs on is a finding). A response that cannot be read is a
/// `protocol` error: the endpoint answered.
fn poll_with<P: Poller>(
    rig: &Mutex<Rig<P>>,
    set: impl FnOnce(&mut Bodies),
) -> Result<Result<Vec<Family>, PollError>, TestCaseError> {
    let rig = rig.lock().unwrap_or_else(|e| e.into_inner());
    set(&mut rig.bodies.lock().unwrap());
    let out = rig
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), rig.poller.poll()).await });
    let Ok(out) = out else {
        return Err(TestCaseError::fail("the poll outlived 5 s"));
    };
    Ok(match out {
        Ok(p) => Ok(p.families),
        Err(e) => {
            prop_assert_eq!(e.kind, ErrorKind::Protocol, "{}", e);
            Err(e)
        }
    })
}

/// Applies character edits (delete, insert, replace, duplicate a slice) to a text.
fn mutate_text(src: &str, edits: &[(prop::sample::Index, u8, String)]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for (at, op, text) in edits {
        if chars.is_empty() {
            break;
        }
        let i = at.index(chars.len());
        match op % 4 {
            0 => {
                chars.remove(i);
            }
            1 => {
                for (k, c) in text.chars().enumerate() {
                    chars.insert(i + k, c);
                }
            }
            2 => chars[i] = text.chars().next().unwrap_or('<'),
            _ => {
                let end = (i + 40).min(chars.len());
                let slice: Vec<char> = chars[i..end].to_vec();
                chars.splice(i..i, slice);
            }
        }
    }
    chars.into_iter().collect()
}

/// No value is NaN or infinite, but the snapshot age, `+Inf` when there is no snapshot
/// (docs/metrics.md).
fn finite_values(fams: &[Family]) -> Result<(), TestCaseError> {
    for f in fams {
        for s in &f.samples {
            let none =
                f.name == "headroom_rds_latest_snapshot_age_seconds" && s.value == f64::INFINITY;
            prop_assert!(s.value.is_finite() || none, "{} = {}", f.name, s.value);
        }
    }
    Ok(())
}

// A minimal CBOR encoder (RFC 8949) for CloudWatch's responses: unsigned and negative
// integers, text, arrays, maps, tags, doubles (section 3).
#[derive(Debug, Clone)]
enum Cbor {
    Int(i64),
    F(f64),
    T(String),
    A(Vec<Cbor>),
    M(Vec<(String, Cbor)>),
    /// Tag 1: epoch-based date/time (section 3.4.2), how the protocol sends timestamps.
    Time(Box<Cbor>),
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..24 => out.push(m | n as u8),
        24..256 => out.extend([m | 24, n as u8]),
        256..65536 => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        65536..4_294_967_296 => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

fn cbor(v: &Cbor, out: &mut Vec<u8>) {
    match v {
        Cbor::Int(i) if *i >= 0 => cbor_head(out, 0, *i as u64),
        Cbor::Int(i) => cbor_head(out, 1, (-1 - *i) as u64),
        Cbor::F(f) => {
            out.push(0xfb);
            out.extend(f.to_be_bytes());
        }
        Cbor::T(s) => {
            cbor_head(out, 3, s.len() as u64);
            out.extend(s.as_bytes());
        }
        Cbor::A(a) => {
            cbor_head(out, 4, a.len() as u64);
            for x in a {
                cbor(x, out);
            }
        }
        Cbor::M(m) => {
            cbor_head(out, 5, m.len() as u64);
            for (k, x) in m {
                cbor(&Cbor::T(k.clone()), out);
                cbor(x, out);
            }
        }
        Cbor::Time(t) => {
            cbor_head(out, 6, 1);
            cbor(t, out);
        }
    }
}

/// GetMetricData's response in the shape of the Amazon CloudWatch API Reference's
/// (API_GetMetricData.html, "Response Elements"; API_MetricDataResult.html): one result per
/// query, newest datapoint first, each timestamp with its value.
fn metric_data(results: Vec<(Cbor, Vec<Cbor>, Vec<Cbor>)>, token: Option<&str>) -> Vec<u8> {
    let mut top = vec![(
        "MetricDataResults".to_owned(),
        Cbor::A(
            results
                .into_iter()
                .map(|(id, ts, vs)| {
                    Cbor::M(vec![
                        ("Id".into(), id),
                        ("Label".into(), Cbor::T("Latency".into())),
                        ("Timestamps".into(), Cbor::A(ts)),
                        ("Values".into(), Cbor::A(vs)),
                        ("StatusCode".into(), Cbor::T("Complete".into())),
                    ])
                })
                .collect(),
        ),
    )];
    top.push(("Messages".into(), Cbor::A(vec![])));
    if let Some(t) = token {
        top.push(("NextToken".into(), Cbor::T(t.into())));
    }
    let mut out = Vec::new();
    cbor(&Cbor::M(top), &mut out);
    out
}

fn now() -> f64 {
    headroom::time::unix_now_f64()
}

fn cloudwatch_rig() -> &'static Mutex<Rig<CloudwatchPoller>> {
    static RIG: OnceLock<Mutex<Rig<CloudwatchPoller>>> = OnceLock::new();
    RIG.get_or_init(|| {
        let bodies = Arc::new(Mutex::new(Bodies::default()));
        let url = endpoint(bodies.clone());
        let src = format!(
            "cloudwatch:\n  - name: aws-eu\n    region: eu-west-1\n    endpoint_url: {url}\n    metrics:\n      - {{namespace: AWS/ELB, name: Latency, dimensions: {{LoadBalancerName: osdp-storage-elb}}, statistics: [Average]}}\n"
        );
        let cfg = headroom::config_file::parse(std::path::Path::new("cw.yaml"), &src)
            .unwrap_or_else(|e| panic!("{e}"));
        let t = cfg.targets.into_iter().next().unwrap();
        let poller = match &t.source {
            headroom::sources::SourceConfig::Cloudwatch(s) => {
                CloudwatchPoller::new(s, t.interval, &Clients::default())
            }
            _ => unreachable!(),
        };
        Mutex::new(Rig {
            rt: rt(),
            poller,
            bodies,
        })
    })
}

fn cbor_time() -> impl Strategy<Value = Cbor> {
    prop_oneof![
        4 => (-600.0f64..0.0).prop_map(|d| Cbor::Time(Box::new(Cbor::F((now() + d - 300.0).floor())))),
        1 => any::<f64>().prop_map(|f| Cbor::Time(Box::new(Cbor::F(f)))),
        1 => any::<i64>().prop_map(|i| Cbor::Time(Box::new(Cbor::Int(i)))),
        1 => any::<i64>().prop_map(Cbor::Int),
        1 => "\\PC{0,6}".prop_map(Cbor::T),
    ]
}

fn cbor_value() -> impl Strategy<Value = Cbor> {
    prop_oneof![
        4 => (0.0f64..10.0).prop_map(Cbor::F),
        1 => any::<f64>().prop_map(Cbor::F),
        1 => any::<i64>().prop_map(Cbor::Int),
        1 => "\\PC{0,6}".prop_map(Cbor::T),
    ]
}

proptest! {
    #![proptest_config(costly(8))]

    #[test]
    fn an_rds_response_of_any_values_is_read_or_refused(
        fields in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "AllocatedStorage", "BackupRetentionPeriod", "Iops", "StorageThroughput",
                    "LatestRestorableTime", "MultiAZ", "PubliclyAccessible", "StorageEncrypted",
                    "DBInstanceIdentifier", "Engine",
                ]),
                prop_oneof![
                    any::<i32>().prop_map(|n| n.to_string()),
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_map(|n| n.to_string()),
                    Just("true".to_owned()),
                    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z",
                    "[\\PC]{0,10}".prop_map(|s| s.replace('&', "&amp;").replace('<', "&lt;")),
                ],
            ),
            0..5,
        ),
        marker in prop::option::weighted(0.2, "[a-zA-Z0-9]{1,8}"),
    ) {
        let xml = rds_instances(&fields, marker.as_deref());
        let out = poll_with(rds_rig(), |b| {
            b.instances = xml.clone().into_bytes();
            b.snapshots = RDS_SNAPSHOTS.as_bytes().to_vec();
        })?;
        if let Ok(fams) = out {
            finite_values(&fams)?;
            // The one instance is reported under its identifier.
            let info = fams.iter().find(|f| f.name == "headroom_rds_instance").unwrap();
            prop_assert_eq!(info.samples.len(), 1, "{}", xml);
        }
    }

    #[test]
    fn a_mutated_rds_response_is_read_or_refused(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), "[\\PC<>/]{0,4}"), 1..5),
        which in any::<bool>(),
    ) {
        let instances = rds_instances(&[], None);
        let (i, s) = if which {
            (mutate_text(&instances, &edits), RDS_SNAPSHOTS.to_owned())
        } else {
            (instances, mutate_text(RDS_SNAPSHOTS, &edits))
        };
        if let Ok(fams) = poll_with(rds_rig(), |b| {
            b.instances = i.into_bytes();
            b.snapshots = s.into_bytes();
        })? {
            finite_values(&fams)?;
        }
    }

    #[test]
    fn a_metric_data_response_of_any_values_is_read_or_refused(
        results in prop::collection::vec(
            (
                prop_oneof![
                    4 => Just(Cbor::T("q0".into())),
                    1 => "q?[0-9]{0,22}".prop_map(Cbor::T),
                    1 => any::<i64>().prop_map(Cbor::Int),
                ],
                prop::collection::vec(cbor_time(), 0..4),
                prop::collection::vec(cbor_value(), 0..4),
            ),
            0..3,
        ),
        token in prop::option::weighted(0.2, "[a-zA-Z0-9]{1,8}"),
    ) {
        let body = metric_data(results, token.as_deref());
        let out = poll_with(cloudwatch_rig(), |b| b.metric_data = body)?;
        if let Ok(fams) = out {
            // The datapoint's age is never negative and never NaN.
            if let Some(age) = fams.iter().find(|f| f.name == "headroom_cloudwatch_datapoint_age_seconds") {
                for s in &age.samples {
                    prop_assert!(s.value >= 0.0, "age {}", s.value);
                }
            }
        }
    }

    #[test]
    fn a_mutated_metric_data_response_is_read_or_refused(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..5),
    ) {
        let t = (now() - 400.0).floor();
        let body = metric_data(
            vec![(
                Cbor::T("q0".into()),
                vec![Cbor::Time(Box::new(Cbor::F(t))), Cbor::Time(Box::new(Cbor::F(t - 60.0)))],
                vec![Cbor::F(0.25), Cbor::F(0.1)],
            )],
            None,
        );
        let _ = poll_with(cloudwatch_rig(), |b| b.metric_data = mutate_bytes(&body, &edits))?;
    }
}
