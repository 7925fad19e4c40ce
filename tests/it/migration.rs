//! `headroom migration plan`, the binary: 2 PB over 100 Mbps, JSON for scripts, and bad
//! units refused with the flag named and exit status 2.

use crate::common;

/// `headroom migration plan ARGS`.
fn run(args: &[&str]) -> (i32, String, String) {
    common::headroom(&[&["migration", "plan"], args].concat())
}

#[test]
fn two_petabytes_over_100_mbps() {
    let (code, out, err) = run(&[
        "--size",
        "2PB",
        "--files",
        "1e9",
        "--bandwidth",
        "100Mbps",
        "--efficiency",
        "0.8",
    ]);
    assert_eq!(code, 0, "{err}");
    // The rounded "2PB / 100 Mbps = 2400 days"; exactly 2,315 at 80% and 1,852 at 100%.
    assert!(
        out.contains("transfer: 2,315 days (6.34 years); at the full nominal rate 1,852 days"),
        "{out}"
    );
    assert!(out.contains("1,000,000,000 averaging 2.00 MB"), "{out}");
    assert!(out.contains("10 ms: +116 days"), "{out}");
}

#[test]
fn json_for_scripts() {
    let (code, out, _) = run(&[
        "--size",
        "2PB",
        "--files",
        "1e9",
        "--bandwidth",
        "1Gbps",
        "--efficiency",
        "0.8",
        "--per-file-overhead",
        "10ms",
        "--streams",
        "16",
        "--deadline",
        "2099-01-01",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = &v["plan"];
    assert!(
        (p["transfer_days"].as_f64().unwrap() - 231.48).abs() < 0.01,
        "{v}"
    );
    // 1e9 files x 10 ms / 16 streams.
    assert!(
        (p["per_file_days"].as_f64().unwrap() - 7.234).abs() < 0.001,
        "{v}"
    );
    assert!(
        p["bandwidth_for_deadline_bps"].as_f64().unwrap() < 1e9 * 0.1,
        "{v}"
    );
}

#[test]
fn bad_units_are_refused_with_the_flag_named() {
    for (args, says) in [
        (
            vec!["--size", "2Pb", "--bandwidth", "100Mbps"],
            "invalid value '2Pb' for '--size <SIZE>': \"2Pb\": a size is in bytes",
        ),
        (
            vec!["--size", "2PB", "--bandwidth", "100mbps"],
            "for megabits per second write 100Mbps",
        ),
        (vec!["--size", "2PB", "--bandwidth", "100"], "give a unit"),
        (
            vec![
                "--size",
                "2PB",
                "--bandwidth",
                "1Gbps",
                "--efficiency",
                "80",
            ],
            "give a fraction (0.8 for 80%)",
        ),
        (
            vec![
                "--size",
                "2PB",
                "--bandwidth",
                "1Gbps",
                "--deadline",
                "2027-02-30",
            ],
            "is not a date",
        ),
        (
            vec![
                "--size",
                "2PB",
                "--bandwidth",
                "1Gbps",
                "--deadline",
                "2001-01-01",
            ],
            "--deadline is not in the future",
        ),
        (
            vec![
                "--size",
                "2PB",
                "--bandwidth",
                "1Gbps",
                "--per-file-overhead",
                "5ms",
            ],
            "--per-file-overhead needs --files",
        ),
        (
            vec!["--size", "2PB", "--bandwidth", "1Gbps", "--streams", "0"],
            "--streams",
        ),
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
    }
}
