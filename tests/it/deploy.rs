//! What a deployment uses: the systemd unit in deploy/, checked by systemd's own
//! `systemd-analyze verify` and `security --offline` (Debian's systemd package), and the shell
//! completions and manual pages generated from the CLI definition.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_headroom");

/// deploy/headroom.service with ExecStart pointing at the binary under test (`verify` checks
/// that the command exists and is executable).
fn unit_under_test(dir: &Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/headroom.service"
    ))
    .unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/headroom run --config /etc/headroom/config.yaml")
    );
    let path = dir.join("headroom.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/headroom", BIN)).unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_under_test(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian's systemd package) runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=headroom",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing");
    }
    // systemd's own exposure score (0 to 10, shown; 0 to 100 to --threshold): at most 2.0.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exposure above 2.0:\n{said}");
    assert!(
        said.contains("Overall exposure level for headroom.service"),
        "{said}"
    );
    // The same check fails a unit without the hardening: the threshold means something.
    let bare: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("Protect")
                && !l.starts_with("DynamicUser")
                && !l.starts_with("SystemCall")
                && !l.starts_with("Restrict")
                && !l.starts_with("Private")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&unit, bare).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an unhardened unit passed the threshold"
    );
}

#[test]
fn completions_and_manual_pages_come_from_the_cli() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // bash parses the script, and it completes the subcommands (bash calls the function with
    // the command, the word and the previous word).
    let bash = run(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("headroom.bash");
    std::fs::write(&script, &bash).unwrap();
    let st = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success(), "bash -n on the completion script");
    let probe = format!(
        "source {}; COMP_WORDS=(headroom ''); COMP_CWORD=1; _headroom headroom '' headroom; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "run",
        "check",
        "dday",
        "config",
        "capacity",
        "migration",
        "completions",
        "man",
    ] {
        assert!(
            words.lines().any(|w| w == sub),
            "bash completes {sub}: {words}"
        );
    }
    assert!(run(&["completions", "zsh"]).starts_with("#compdef headroom"));
    assert!(run(&["completions", "fish"]).contains("complete -c headroom"));
    // The manual page renders with man(1)'s formatter and documents the commands.
    let page = run(&["man"]);
    assert!(
        page.contains(".TH headroom 1"),
        "{}",
        &page[..page.len().min(200)]
    );
    let pages = dir.path().join("man1");
    run(&["man", "--dir", pages.to_str().unwrap()]);
    for name in [
        "headroom.1",
        "headroom-run.1",
        "headroom-check-cert.1",
        "headroom-dday.1",
    ] {
        assert!(pages.join(name).is_file(), "{name} written");
    }
    let out = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(pages.join("headroom-check-cert.1"))
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("--noauth"),
        "man -l: {text}"
    );
}
