//! docs/iam-policy.json must list exactly the AWS actions headroom calls: every call is
//! counted with `ApiCounters::request(service, operation)` (that is what
//! `headroom_aws_requests_total` reports), so the calls are read from those lines of the
//! AWS sources and compared with the policy.

use std::collections::BTreeSet;
use std::path::Path;

/// The IAM prefix of a service label: ELBv2 shares classic ELB's `elasticloadbalancing:`;
/// the Resource Groups Tagging API's is `tag:`.
fn iam_prefix(service: &str) -> &str {
    match service {
        "elasticloadbalancingv2" => "elasticloadbalancing",
        "tagging" => "tag",
        s => s,
    }
}

/// The IAM action of an operation, where it is not the operation's own name: S3's
/// ListObjectsV2 is allowed by `s3:ListBucket` (Amazon S3 API Reference, ListObjectsV2,
/// "Permissions").
fn iam_action<'a>(service: &str, op: &'a str) -> &'a str {
    match (service, op) {
        ("s3", "ListObjectsV2") => "ListBucket",
        _ => op,
    }
}

#[test]
fn policy_lists_exactly_the_calls_made() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut called = BTreeSet::new();
    // The files of src/sources/aws and of its folders (a source of several files).
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("src/sources/aws")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        // `const SERVICE: &str = "...";` names the service where a source uses one.
        let service_const = src
            .lines()
            .find_map(|l| l.trim().strip_prefix("const SERVICE: &str = \""))
            .map(|s| s.trim_end_matches("\";").to_owned());
        // Calls are counted as `.request("service", "Operation")` or `.request(SERVICE, ...)`,
        // sometimes with the method on its own line.
        let flat: String = src.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in flat.split(".request(").skip(1) {
            let args = &part[..part.find(')').unwrap()];
            let Some((svc, op)) = args.split_once(',') else {
                continue;
            };
            let svc = svc.trim();
            let svc = if svc == "SERVICE" {
                service_const.clone().expect("SERVICE used without a const")
            } else if let Some(s) = svc.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                s.to_owned()
            } else {
                continue; // not a counted call (e.g. the counter's own definition)
            };
            let op = op.trim().trim_matches('"');
            called.insert(format!("{}:{}", iam_prefix(&svc), iam_action(&svc, op)));
        }
    }
    assert!(called.len() >= 10, "found too few calls: {called:?}");
    // `auth: iam` on a mysql target signs RDS IAM authentication tokens: no API call, but the
    // credentials need `rds-db:connect` on the database user (RDS user guide, "Creating and
    // using an IAM policy for IAM database access").
    let token = std::fs::read_to_string(root.join("src/sources/aws/rds_token.rs")).unwrap();
    if token.contains(".name(\"rds-db\")") {
        called.insert("rds-db:connect".to_owned());
    }
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/iam-policy.json")).unwrap())
            .unwrap();
    let listed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed, called,
        "docs/iam-policy.json and the calls made differ"
    );
}
