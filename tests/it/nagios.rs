//! headroom and a real Nagios 4: Nagios runs `headroom check` as its service commands,
//! receives headroom's pushed passive results, and processes the same 100 results as
//! headroom's own state machine, with the same outcome at every step.

use crate::common;

use std::time::Duration;

use common::certs::storage_server;
use common::nagios::Nagios;
use common::{Daemon, env, free_port, wait_for};
use headroom::check::state::{CheckState, FlapThresholds, StateType, Status};

const HOST: &str = "define host {\n host_name HOSTNAME\n address 127.0.0.1\n check_command check_true\n max_check_attempts 1\n \
    check_interval 60\n retry_interval 1\n check_period 24x7\n contacts nobody\n notification_period 24x7\n notification_interval 0\n}\n";

fn host(name: &str) -> String {
    HOST.replace("HOSTNAME", name)
}

fn service(host: &str, name: &str, command: &str, extra: &str) -> String {
    format!(
        "define service {{\n host_name {host}\n service_description {name}\n check_command {command}\n max_check_attempts 1\n \
         check_interval 2\n retry_interval 1\n check_period 24x7\n contacts nobody\n notification_period 24x7\n \
         notification_interval 0\n{extra}}}\n"
    )
}

fn checked(n: &Nagios, host: &str, svc: &str) -> std::collections::HashMap<String, String> {
    wait_for(
        &format!("Nagios to check {host}/{svc}"),
        Duration::from_secs(30),
        || {
            n.service(host, svc)
                .filter(|s| s.get("has_been_checked").map(String::as_str) == Some("1"))
        },
    )
}

#[test]
fn nagios_runs_headroom_check_as_its_service_commands() {
    let _quiet = common::lock::no_load(); // MEMCACHE_RESPONSE must be OK (warns at 0.1 s)
    let certs = tempfile::tempdir().unwrap();
    let (ca, _, tls) = storage_server(certs.path());
    let dead = free_port();
    let objects = format!(
        "define command {{\n command_name check_true\n command_line /bin/true\n}}\n\
         define command {{\n command_name headroom_memcached\n command_line $T/headroom check memcached -H $ARG1$ -w 0.5 -c 1\n}}\n\
         define command {{\n command_name headroom_cert\n command_line $T/headroom check cert -H 127.0.0.1 -p $ARG1$ --sni storage.example.com --ca-file $T/ca.pem -w 30 -c 15\n}}\n\
         {}{}{}{}",
        host("headroom-test"),
        service(
            "headroom-test",
            "MEMCACHE_RESPONSE",
            &format!("headroom_memcached!{}", env("HEADROOM_TEST_MEMCACHED")),
            ""
        ),
        service(
            "headroom-test",
            "MEMCACHE_DOWN",
            &format!("headroom_memcached!127.0.0.1:{dead}"),
            ""
        ),
        service(
            "headroom-test",
            "ELB_CERTIFICATE",
            &format!("headroom_cert!{}", tls.port),
            ""
        ),
    );
    // The CA goes where the nagios user can read it; Nagios::start chowns its directory.
    let n = Nagios::start_with_files(&objects, &[(ca.pem_path.as_path(), "ca.pem")]);

    let s = checked(&n, "headroom-test", "MEMCACHE_RESPONSE");
    assert_eq!(s["current_state"], "0", "{s:?}");
    assert_eq!(s["check_type"], "0"); // active
    assert!(
        s["plugin_output"].starts_with("OK: stats answered in "),
        "{s:?}"
    );
    assert!(s["performance_data"].starts_with("'time'="), "{s:?}");
    assert!(s["performance_data"].ends_with("s;0.5;1"), "{s:?}");

    let s = checked(&n, "headroom-test", "MEMCACHE_DOWN");
    assert_eq!(s["current_state"], "2", "{s:?}");
    assert!(s["plugin_output"].contains("Connection refused"), "{s:?}");

    let s = checked(&n, "headroom-test", "ELB_CERTIFICATE");
    assert_eq!(s["current_state"], "0", "{s:?}");
    assert!(
        s["plugin_output"].starts_with(
            "OK: 461 days remaining for 'storage.example.com'. Certificate Expires: '"
        ),
        "{s:?}"
    );
    assert!(
        s["plugin_output"].ends_with("Hash algorithm: sha256WithRSAEncryption"),
        "{s:?}"
    );
    assert_eq!(s["performance_data"], "'days_remaining'=461;30:;15:");
}

#[test]
fn nagios_receives_pushed_passive_results() {
    let _quiet = common::lock::no_load(); // MEMCACHE_RESPONSE must be OK (warns at 0.1 s)
    let passive = " active_checks_enabled 0\n passive_checks_enabled 1\n";
    let objects = format!(
        "define command {{\n command_name check_true\n command_line /bin/true\n}}\n{}{}{}",
        host("memc-push"),
        service("memc-push", "MEMCACHE_RESPONSE", "check_true", passive),
        service("memc-push", "MEMCACHE_HITRATE", "check_true", passive),
    );
    let n = Nagios::start(&objects);
    let config = format!(
        "defaults: {{interval: 500ms}}\nmemcached:\n  - {{name: memc-push, address: {}}}\npush:\n  nagios_command_file: {}\n",
        env("HEADROOM_TEST_MEMCACHED"),
        n.command_file().display()
    );
    let d = Daemon::start(free_port(), &config, &[]);
    let s = wait_for(
        "a pushed result in status.dat",
        Duration::from_secs(30),
        || {
            n.service("memc-push", "MEMCACHE_RESPONSE")
                .filter(|s| s["has_been_checked"] == "1")
        },
    );
    // headroom pushes nothing before its first poll of the target, so the very first
    // result Nagios gets is already the real one.
    assert_eq!(s["check_type"], "1", "{s:?}"); // passive
    assert_eq!(s["current_state"], "0", "{s:?}");
    assert!(
        s["plugin_output"].starts_with("OK: stats answered in "),
        "{s:?}"
    );
    assert!(s["performance_data"].starts_with("'time'="), "{s:?}");
    drop(d);
}

/// A deterministic sequence with runs, short blips and a flapping stretch.
fn sequence() -> Vec<Status> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut prev = Status::Ok;
    (0..100)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s = if (40..60).contains(&i) {
                // Alternate to drive flap detection over its high threshold.
                if i % 2 == 0 {
                    Status::Critical
                } else {
                    Status::Ok
                }
            } else if x % 10 < 6 {
                prev
            } else {
                [
                    Status::Ok,
                    Status::Ok,
                    Status::Warning,
                    Status::Critical,
                    Status::Unknown,
                ][(x >> 8) as usize % 5]
            };
            prev = s;
            s
        })
        .collect()
}

#[test]
fn the_same_100_results_give_the_same_states_as_nagios() {
    let objects = format!(
        "define command {{\n command_name check_true\n command_line /bin/true\n}}\n{}{}",
        host("replay-host"),
        service(
            "replay-host",
            "replay",
            "check_true",
            " active_checks_enabled 0\n passive_checks_enabled 1\n flap_detection_enabled 1\n low_flap_threshold 20\n high_flap_threshold 30\n"
        )
        .replace(" max_check_attempts 1\n", " max_check_attempts 3\n"),
    );
    let n = Nagios::start(&objects);
    let mut ours = CheckState::new(3);
    let flap = FlapThresholds {
        low: 20.0,
        high: 30.0,
    };
    let base = headroom::time::unix_now() - 1_000;
    let seq = sequence();
    let mut flapped = false;
    let mut hard_changes = 0;
    for (i, status) in seq.iter().enumerate() {
        let ts = base + i as i64 * 5;
        n.command(
            ts,
            &format!(
                "PROCESS_SERVICE_CHECK_RESULT;replay-host;replay;{};step {i}",
                status.code()
            ),
        );
        let t = ours.apply(*status, ts, flap);
        hard_changes += usize::from(t.hard_state_change);
        let s = wait_for(
            &format!("Nagios to process result {i}"),
            Duration::from_secs(20),
            || {
                n.service("replay-host", "replay")
                    .filter(|s| s["last_check"] == ts.to_string())
            },
        );
        let theirs = (
            s["current_state"].parse::<u8>().unwrap(),
            s["state_type"].parse::<u8>().unwrap(),
            s["current_attempt"].parse::<u32>().unwrap(),
            s["is_flapping"] == "1",
        );
        let mine = (
            ours.status.code(),
            ours.state_type as u8,
            ours.attempt,
            ours.is_flapping,
        );
        assert_eq!(
            mine, theirs,
            "step {i} ({status:?}): headroom (state, type, attempt, flapping) vs Nagios; status.dat: {s:?}"
        );
        if std::env::var("HEADROOM_DEBUG_REPLAY").is_ok() {
            eprintln!(
                "step {i} {status:?}: ours {mine:?} lsc {} lhsc {}; nagios {theirs:?} lsc {} lhsc {} lhs {}",
                ours.last_state_change - base,
                ours.last_hard_state_change - base,
                s["last_state_change"].parse::<i64>().unwrap() - base,
                s["last_hard_state_change"].parse::<i64>().unwrap() - base,
                s["last_hard_state"]
            );
        }
        let psc: f64 = s["percent_state_change"].parse().unwrap();
        assert!(
            (psc - ours.percent_state_change).abs() < 0.01,
            "step {i}: percent state change {psc} vs {}",
            ours.percent_state_change
        );
        assert_eq!(
            s["last_state_change"],
            ours.last_state_change.to_string(),
            "step {i}"
        );
        assert_eq!(
            s["last_hard_state_change"],
            ours.last_hard_state_change.to_string(),
            "step {i}"
        );
        flapped |= ours.is_flapping;
    }
    // The sequence exercised what it is meant to.
    assert!(flapped, "the sequence never flapped");
    assert!(hard_changes >= 5, "only {hard_changes} hard state changes");
    assert!(
        seq.iter()
            .zip(seq.iter().skip(1))
            .any(|(a, b)| *a != Status::Ok && *b == Status::Ok)
    );
    let _ = StateType::Soft;
}
