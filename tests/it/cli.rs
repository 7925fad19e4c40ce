//! The command line as a new user meets it: every subcommand's `--help` ends with examples,
//! and a misspelt flag gets clap's suggestion of the near one (its `suggestions` feature,
//! on by default), in plain use and in the one-line form of a Nagios plugin.

use clap::CommandFactory;

use crate::common::headroom;

/// Every subcommand's path (`["capacity", "report"]`, ...), the groups included.
fn paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut p = prefix.to_vec();
        p.push(sub.get_name().to_owned());
        out.push(p.clone());
        paths(sub, &p, out);
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    let mut all = Vec::new();
    paths(&headroom::cli::Cli::command(), &[], &mut all);
    // run, check (cert, memcached, mysql), dday, config (check, plan), capacity (report, fit,
    // what-if), migration (plan), rds-token, completions, man.
    assert!(all.len() >= 18, "{all:?}");
    let mut missing = Vec::new();
    for p in &all {
        for flag in ["--help", "-h"] {
            let mut args: Vec<&str> = p.iter().map(String::as_str).collect();
            args.push(flag);
            let (code, out, err) = headroom(&args);
            // `headroom check ... --help` exits 3 as a plugin's help does; the rest 0.
            let want = if p[0] == "check" { 3 } else { 0 };
            assert_eq!(code, want, "headroom {}: {err}", args.join(" "));
            let Some((_, examples)) = out.split_once("\nExamples:\n") else {
                missing.push(args.join(" "));
                continue;
            };
            // At least one example line, and it runs this very subcommand.
            let call = format!("headroom {}", p.join(" "));
            if !examples.lines().any(|l| l.contains(&call)) {
                missing.push(format!("{} (no `{call}` example)", args.join(" ")));
            }
        }
    }
    assert!(missing.is_empty(), "no Examples: section in {missing:?}");
}

#[test]
fn a_misspelt_flag_suggests_the_near_one() {
    let (code, _, err) = headroom(&["run", "--confg", "x.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unexpected argument '--confg'") && err.contains("'--config'"),
        "{err}"
    );
    let (code, _, err) = headroom(&["capacity", "report", "--prometeus", "http://p:9090"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'--prometheus'"), "{err}");
    // A misspelt subcommand too.
    let (code, _, err) = headroom(&["capactiy"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'capacity'"), "{err}");
}

#[test]
fn a_plugins_usage_error_is_one_line_with_the_suggestion() {
    // A Nagios plugin prints one line on stdout and exits 3 (UNKNOWN) on a usage error.
    let (code, out, _) = headroom(&["check", "memcached", "--hots", "127.0.0.1:1"]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("UNKNOWN: unexpected argument '--hots'") && out.contains("'--host'"),
        "{out}"
    );
    // A named check's flags are parsed apart; they suggest too.
    let (code, out, _) = headroom(&["check", "MEMCACHE_HITRATE", "--confg", "x.yaml"]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("'--config'"), "{out}");
    // And a misspelt check name, the shipped checks' or the file's (case aside); no guess
    // for a name near none.
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.yaml");
    let (code, out, _) = headroom(&["check", "memcache_hitrat", "--config", demo]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        out,
        format!(
            "UNKNOWN: no check named memcache_hitrat in {demo} or the shipped checks: did you mean MEMCACHE_HITRATE?\n"
        )
    );
    let (code, out, _) = headroom(&["check", "DISK_SPACE", "--config", demo]);
    assert_eq!(code, 3, "{out}");
    assert!(out.ends_with("or the shipped checks\n"), "{out}");
}
