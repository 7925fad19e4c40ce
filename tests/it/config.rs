//! Config fixtures: every `*.ok.yaml` loads, every `*.bad.yaml` fails with exactly the errors
//! its `# expect:` lines give (`{file}` stands for its path). Also `headroom config check`.

use crate::common;

use std::path::Path;
use std::process::Command;

const SECRETS: [&str; 3] = [
    "hunter2-fixture-secret",
    "hunter2-inline-secret",
    "env-fixture-secret",
];

fn fixtures(suffix: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(common::fixture("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no *{suffix} fixtures");
    v
}

#[test]
fn ok_fixtures_load() {
    // HEADROOM_FIXTURE_PASSWORD=env-fixture-secret: set for the whole test binary by main.rs.
    for path in fixtures(".ok.yaml") {
        if let Err(e) = headroom::config_file::load(&path) {
            panic!("{} should load:\n{e}", path.display());
        }
    }
    let full = headroom::config_file::load(&common::fixture("config/full.ok.yaml")).unwrap();
    assert_eq!(full.targets.len(), 4);
    let debug = format!("{full:?}");
    for s in SECRETS {
        assert!(!debug.contains(s), "secret in Debug output: {debug}");
    }
}

#[test]
fn bad_fixtures_fail_with_their_expected_errors() {
    // HEADROOM_FIXTURE_PASSWORD=env-fixture-secret: set for the whole test binary by main.rs.
    // `{sections}` stands for the source sections, in the list's order, so that a fixture
    // about the top level does not change with every new source.
    let sections = headroom::sources::KINDS
        .iter()
        .map(|k| format!("`{}`", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    for path in fixtures(".bad.yaml") {
        let src = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<String> = src
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                l.replace("{file}", &path.display().to_string())
                    .replace("{sections}", &sections)
            })
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no # expect: line",
            path.display()
        );
        let got = match headroom::config_file::load(&path) {
            Ok(_) => panic!("{} loaded but should not", path.display()),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected.join("\n"), "fixture {}", path.display());
        for s in SECRETS {
            assert!(!got.contains(s), "secret in error: {got}");
        }
    }
}

#[test]
fn config_check_command_reports_and_exits() {
    let bin = env!("CARGO_BIN_EXE_headroom");
    let ok = Command::new(bin)
        .args(["config", "check"])
        .arg(common::fixture("config/full.ok.yaml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    let mut lines = stdout.lines();
    // 2 memcached checks on 2 targets, 5 MySQL checks on 2 targets (the replication checks
    // run per connection, and once on a server that is no replica); MYSQL_READ_ONLY_AS_PLANNED
    // is inactive: no target has a role.
    assert_eq!(
        lines.next(),
        Some(
            "config OK: 4 targets (2 memcached, 2 mysql, 0 tls, 0 cloudwatch, 0 rds, 0 elb, 0 elbv2, 0 elasticache, 0 capacity, 0 migration, 0 dns, 0 http, 0 disks, 0 posture, 0 backups, 0 cost); 14 checks on them; listen 0.0.0.0:9469"
        )
    );
    // Checks whose source is not configured are reported, not dropped.
    let inactive: Vec<&str> = lines.collect();
    assert!(
        inactive.contains(&"inactive check ELB_CERTIFICATE (tls): no tls target is configured"),
        "{stdout}"
    );
    assert!(
        inactive.contains(&"inactive check HEALTHY_HOST_COUNT (elb): no elb target is configured"),
        "{stdout}"
    );

    let bad = common::fixture("config/inline-password.bad.yaml");
    let out = Command::new(bin)
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}:6:15: ", bad.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2-inline-secret"), "{stderr}");

    // The file with -c, as `run -c` takes it: the same answer. Both ways at once is a usage
    // error (exit 2), not a silent pick.
    let out = Command::new(bin)
        .args(["config", "check", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), stderr);
    let both = Command::new(bin)
        .args(["config", "plan", "--config"])
        .arg(&bad)
        .arg(common::fixture("config/full.ok.yaml"))
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );

    let missing = Command::new(bin)
        .args(["config", "check", "/nonexistent/headroom.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .starts_with("/nonexistent/headroom.yaml: cannot read:")
    );
    assert!(!Path::new("/nonexistent/headroom.yaml").exists());
}

#[test]
#[allow(unsafe_code)]
fn shipped_examples_parse() {
    // HEADROOM_DEMO_MYSQL_PASSWORD=demo: set for the whole test binary by main.rs.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            headroom::config_file::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}
