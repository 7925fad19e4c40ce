//! Property-based fuzzing of every parser that reads what a peer or a user wrote: threshold
//! ranges, memcached's `stats`, stapled OCSP responses, smartctl's JSON, HTTP status sets, the
//! config file and check files (mutations of the shipped ones). None may panic; each must keep
//! its promise on any input (a range alerts exactly as the plugin guidelines define; a
//! memcached reply that validates exports no negative or non-finite counter; a config error
//! names its file, and its line and column lie inside the file). `cargo fuzz` needs a nightly
//! toolchain; proptest runs on the stable one. The suite runs 256 cases a property;
//! `scripts/fuzz` runs many more for a bounded time.

use std::path::Path;

use proptest::prelude::*;

use headroom::check::range::Range;
use headroom::sources::memcached::{Stats, families};

/// Cases per property: `PROPTEST_CASES` (scripts/fuzz sets it), 256 by default.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A range as the guidelines write it, and what it means: alert outside `lo..=hi` (inside
/// with `@`).
#[derive(Debug, Clone)]
struct RangeCase {
    text: String,
    lo: f64,
    hi: f64,
    inside: bool,
}

impl RangeCase {
    fn alerts(&self, v: f64) -> bool {
        (self.lo..=self.hi).contains(&v) == self.inside
    }
}

fn range() -> impl Strategy<Value = RangeCase> {
    (-1000i64..1000, 0i64..1000, 0u8..5).prop_map(|(a, w, form)| {
        let (a, b) = (a as f64, (a + w) as f64);
        let case = |text: String, lo, hi, inside| RangeCase {
            text,
            lo,
            hi,
            inside,
        };
        match form {
            // `10`: from 0 to 10.
            0 => case(format!("{}", b.abs()), 0.0, b.abs(), false),
            1 => case(format!("{a}:{b}"), a, b, false),
            // `10:`: 10 and above.
            2 => case(format!("{a}:"), a, f64::INFINITY, false),
            // `~:10`: 10 and below.
            3 => case(format!("~:{b}"), f64::NEG_INFINITY, b, false),
            _ => case(format!("@{a}:{b}"), a, b, true),
        }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ranges_alert_as_the_guidelines_define(c in range(), v in -2000.0f64..2000.0) {
        let r: Range = c.text.parse().unwrap();
        prop_assert_eq!(r.alerts(v), c.alerts(v), "{} at {}", c.text, v);
        prop_assert_eq!(r.as_str(), c.text.as_str());
    }

    #[test]
    fn any_text_is_a_range_or_an_error(s in "\\PC{0,24}") {
        let _ = s.parse::<Range>();
    }

    #[test]
    fn a_validated_memcached_reply_exports_no_negative_counter(
        lines in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "uptime", "time", "bytes", "curr_items", "total_items", "get_hits",
                    "get_misses", "cmd_set", "cas_hits", "evictions", "curr_connections",
                    "limit_maxbytes", "rusage_user", "rusage_system", "version", "threads",
                ]),
                prop_oneof![
                    any::<u64>().prop_map(|n| n.to_string()),
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_map(|n| n.to_string()),
                    "[0-9]{1,6}[.:][0-9]{1,6}",
                    "\\PC{0,12}",
                ],
            ),
            0..20,
        )
    ) {
        let text: String = lines
            .iter()
            .map(|(k, v)| format!("STAT {k} {v}\r\n"))
            .chain(std::iter::once("END\r\n".to_owned()))
            .collect();
        if let Ok(stats) = Stats::parse(&text)
            && stats.validate().is_ok()
        {
            for f in families(&stats, None, 0.001, None) {
                if f.name.starts_with("memcached_") {
                    for s in &f.samples {
                        prop_assert!(s.value.is_finite() && s.value >= 0.0, "{} = {} from {}", f.name, s.value, text);
                    }
                }
            }
        }
    }

    #[test]
    fn any_bytes_are_a_memcached_reply_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(s) = Stats::parse(&text) {
            let _ = s.validate();
            let _ = families(&s, Some(&s), 0.0, None);
        }
    }

    #[test]
    fn any_bytes_are_an_ocsp_response_or_an_error(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        serial in prop::collection::vec(any::<u8>(), 1..20),
    ) {
        let _ = headroom::sources::tls::ocsp::parse(&bytes, &serial);
    }

    #[test]
    fn any_json_is_a_smartctl_report_or_an_error(json in json_value(3)) {
        let text = json.to_string();
        let _ = headroom::sources::disks::parse::Report::parse(&text);
    }

    #[test]
    fn any_text_is_a_status_set_or_an_error(items in prop::collection::vec("\\PC{0,8}", 0..5)) {
        let _ = headroom::sources::http::stats::StatusSet::parse(items.iter().map(String::as_str));
    }

    #[test]
    fn a_mutated_config_is_loaded_or_refused_with_positions_inside_the_file(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, "\\PC{0,3}"), 1..4)
    ) {
        let src = include_str!("../../examples/demo.yaml");
        let mutated = mutate(src, &edits);
        let file = Path::new("demo.yaml");
        if let Err(errors) = headroom::config_file::parse(file, &mutated) {
            let lines = mutated.lines().count().max(1);
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert_eq!(&e.file, file);
                if let Some(p) = e.pos {
                    prop_assert!(p.line >= 1 && p.line <= lines + 1 && p.col >= 1, "{} in a file of {} lines", e, lines);
                }
            }
        }
    }

    #[test]
    fn a_mutated_check_file_is_loaded_or_refused_naming_it(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, "\\PC{0,3}"), 1..4)
    ) {
        let src = include_str!("../../checks/mysql.yaml");
        let mutated = mutate(src, &edits);
        if let Err(errors) = headroom::check::def::parse_list(Path::new("checks/mysql.yaml"), &mutated, "") {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(e.starts_with("checks/mysql.yaml"), "{}", e);
            }
        }
    }
}

/// Applies edits at character positions: delete one, insert text, replace one, or swap a
/// line's indentation.
fn mutate(src: &str, edits: &[(prop::sample::Index, u8, String)]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for (at, op, text) in edits {
        if chars.is_empty() {
            break;
        }
        let i = at.index(chars.len());
        match op {
            0 => {
                chars.remove(i);
            }
            1 => {
                for (k, c) in text.chars().enumerate() {
                    chars.insert(i + k, c);
                }
            }
            2 => {
                chars[i] = text.chars().next().unwrap_or(':');
            }
            _ => chars.insert(i, ' '),
        }
    }
    chars.into_iter().collect()
}

/// Arbitrary JSON, `depth` levels deep, with smartctl's key names among the keys.
fn json_value(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        "\\PC{0,10}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "smartctl",
                        "exit_status",
                        "device",
                        "name",
                        "info_name",
                        "model_name",
                        "serial_number",
                        "smart_status",
                        "passed",
                        "ata_smart_attributes",
                        "table",
                        "id",
                        "raw",
                        "value",
                        "temperature",
                        "current",
                        "power_on_time",
                        "hours",
                        "nvme_smart_health_information_log",
                        "media_errors",
                        "percentage_used",
                        "critical_warning",
                        "messages",
                        "string",
                        "severity",
                        "local_time",
                        "time_t",
                    ])
                    .prop_map(str::to_owned),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
