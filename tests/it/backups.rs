//! The backups source against moto (server mode): EBS volumes and their snapshots, an RDS
//! instance's automated and manual snapshots, Route 53 zone exports as S3 objects under a
//! prefix and as files of a local directory. BACKUP_AGE goes from "no backup" CRITICAL to OK
//! as backups appear, to CRITICAL when they are older than `max_age` and back, and to "no
//! backup" again when a snapshot is deleted.
//!
//! moto stamps every snapshot and object with the time it was made, so an old backup is made
//! by shortening `max_age` to 1s (a SIGHUP reload) and waiting, rather than by back-dating.

use crate::common;

use common::moto::{AWS_ENV, boto, reset};

use std::time::Duration;

use common::{Daemon, env, free_port, series_value, wait_for};

/// BACKUP_AGE's status and output per host (`<kind>-<resource>`), once every one of `n`
/// checks has been checked and `ready` holds for the set.
fn backup_checks(
    d: &Daemon,
    what: &str,
    n: usize,
    ready: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    wait_for(what, Duration::from_secs(40), || {
        let (_, body) = d.get("/api/checks")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let rows: Vec<(String, String, String)> = v["checks"]
            .as_array()?
            .iter()
            .filter(|c| c["check"] == "BACKUP_AGE" && c["has_been_checked"] == true)
            .map(|c| {
                (
                    c["host"].as_str().unwrap_or_default().to_owned(),
                    c["status"].as_str().unwrap_or_default().to_owned(),
                    c["output"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        (rows.len() == n && ready(&rows)).then_some(rows)
    })
}

fn row<'a>(rows: &'a [(String, String, String)], host: &str) -> &'a (String, String, String) {
    rows.iter()
        .find(|r| r.0 == host)
        .unwrap_or_else(|| panic!("no BACKUP_AGE on {host}: {rows:?}"))
}

#[test]
fn backup_ages_of_volumes_instances_and_zone_exports() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    reset();
    let client = |service: &str| {
        format!(
            "boto3.client('{service}', endpoint_url='{moto}', region_name='us-west-2', aws_access_key_id='t', aws_secret_access_key='t')"
        )
    };
    let (ec2, rds, s3) = (client("ec2"), client("rds"), client("s3"));
    // Two tagged volumes and one without the tag (not watched); an instance (moto gives it an
    // automated snapshot at once); an empty bucket.
    let vols = boto(&format!(
        "import boto3\n\
         ec2 = {ec2}\n\
         def vol(tags): return ec2.create_volume(AvailabilityZone='us-west-2a', Size=8, \
             TagSpecifications=[{{'ResourceType': 'volume', 'Tags': tags}}])['VolumeId']\n\
         a = vol([{{'Key': 'Backup', 'Value': 'daily'}}])\n\
         b = vol([{{'Key': 'Backup', 'Value': 'daily'}}])\n\
         c = vol([{{'Key': 'Backup', 'Value': 'none'}}])\n\
         {rds}.create_db_instance(DBInstanceIdentifier='osdp-db-proddc1', DBInstanceClass='db.m5.large', \
             Engine='mysql', AllocatedStorage=100, MasterUsername='admin', MasterUserPassword='not-a-real-pw', \
             BackupRetentionPeriod=7)\n\
         {s3}.create_bucket(Bucket='zone-exports', CreateBucketConfiguration={{'LocationConstraint': 'us-west-2'}})\n\
         print(a, b, c)\n"
    ));
    let vols: Vec<&str> = vols.split_whitespace().collect();
    let [vol_a, vol_b, vol_c] = vols[..] else {
        panic!("{vols:?}")
    };
    let exports = tempfile::tempdir().unwrap();
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let config = |max_age: &str| {
        format!(
            "backups:\n  - name: backups-us\n    region: us-west-2\n    interval: 1s\n    endpoint_url: '{endpoint}'\n    max_age: {max_age}\n\
             \x20   ebs: {{tags: {{Backup: daily}}}}\n\
             \x20   rds: {{}}\n\
             \x20   route53_exports:\n\
             \x20     - {{zone: example.com, s3: {{bucket: zone-exports, prefix: route53/example.com/}}}}\n\
             \x20     - {{zone: example.org, path: '{}'}}\n\
             \x20 - {{name: backups-one, region: us-west-2, interval: 1s, endpoint_url: '{endpoint}', max_age: {max_age}, ebs: {{volumes: ['{vol_c}']}}}}\n",
            exports.path().display()
        )
    };
    let d = Daemon::start(free_port(), &config("1h"), &AWS_ENV);
    let (ebs_a, ebs_b) = (format!("ebs-{vol_a}"), format!("ebs-{vol_b}"));
    let hosts = [
        ebs_a.as_str(),
        ebs_b.as_str(),
        "rds_automated-osdp-db-proddc1",
        "rds_manual-osdp-db-proddc1",
        "route53_export-example.com",
        "route53_export-example.org",
    ];

    // Only the automated RDS snapshot exists: everything else is CRITICAL, saying so.
    let rows = backup_checks(&d, "seven BACKUP_AGE checks", 7, |_| true);
    let auto = row(&rows, "rds_automated-osdp-db-proddc1");
    assert_eq!(auto.1, "OK", "{auto:?}");
    assert!(
        auto.2
            .starts_with("OK: newest rds_automated backup of osdp-db-proddc1 is "),
        "{auto:?}"
    );
    // Seconds old (a duration worded by units::duration: `12s`, `1m 5s`).
    assert!(auto.2.ends_with("s old (max age 1h)"), "{auto:?}");
    for host in [&ebs_a, &ebs_b] {
        let r = row(&rows, host);
        assert_eq!(r.1, "CRITICAL", "{r:?}");
        assert!(
            r.2.starts_with(&format!("CRITICAL: no ebs backup of {} found", &host[4..])),
            "{r:?}"
        );
    }
    assert_eq!(
        row(&rows, "rds_manual-osdp-db-proddc1").2,
        "CRITICAL: no rds_manual backup of osdp-db-proddc1 found"
    );
    assert_eq!(
        row(&rows, "route53_export-example.com").2,
        "CRITICAL: no route53_export backup of example.com found"
    );
    assert_eq!(row(&rows, "route53_export-example.org").1, "CRITICAL");

    let text = d.metrics();
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    let a = format!("resource=\"{vol_a}\"");
    assert_eq!(
        series_value(&text, "headroom_backup_missing", &["kind=\"ebs\"", &a]),
        Some(1.0)
    );
    assert!(
        text.contains(&format!(
            "headroom_backup_age_seconds{{target=\"backups-us\",kind=\"ebs\",{a}}} NaN"
        )),
        "{text}"
    );
    // backups-us does not watch the untagged volume (vol_c); backups-one watches it alone,
    // by id.
    assert_eq!(
        text.matches("headroom_backup_missing{target=\"backups-us\",")
            .count(),
        6,
        "{text}"
    );
    assert_eq!(
        text.matches("headroom_backup_missing{target=\"backups-one\",")
            .count(),
        1,
        "{text}"
    );
    assert!(!text.contains(&format!(
        "target=\"backups-us\",kind=\"ebs\",resource=\"{vol_c}\""
    )));
    assert_eq!(
        series_value(
            &text,
            "headroom_backup_max_age_seconds",
            &["kind=\"route53_export\"", "resource=\"example.org\""]
        ),
        Some(3600.0)
    );

    // Back them up: every check turns OK.
    boto(&format!(
        "import boto3\n\
         {ec2}.create_snapshot(VolumeId='{vol_a}')\n\
         {ec2}.create_snapshot(VolumeId='{vol_b}')\n\
         {ec2}.create_snapshot(VolumeId='{vol_c}')\n\
         {rds}.create_db_snapshot(DBInstanceIdentifier='osdp-db-proddc1', DBSnapshotIdentifier='before-cutover')\n\
         {s3}.put_object(Bucket='zone-exports', Key='route53/example.com/2026-12-05.zone', Body=b'example.com. 300 IN A 192.0.2.1')\n\
         {s3}.put_object(Bucket='zone-exports', Key='route53/example.net/2026-12-05.zone', Body=b'not this zone')\n"
    ));
    std::fs::write(
        exports.path().join("example.org.zone"),
        "example.org. 300 IN A 192.0.2.2",
    )
    .unwrap();
    let rows = backup_checks(&d, "every backup OK", 7, |rows| {
        rows.iter().all(|r| r.1 == "OK")
    });
    let ebs = row(&rows, &ebs_a);
    assert!(
        ebs.2
            .starts_with(&format!("OK: newest ebs backup of {vol_a} is ")),
        "{ebs:?}"
    );
    let text = d.metrics();
    assert_eq!(
        series_value(
            &text,
            "headroom_backup_missing",
            &["target=\"backups-one\"", &format!("resource=\"{vol_c}\"")]
        ),
        Some(0.0)
    );
    let newest = series_value(
        &text,
        "headroom_backup_newest_timestamp_seconds",
        &["kind=\"route53_export\"", "resource=\"example.com\""],
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 120.0..now + 5.0).contains(&newest),
        "{newest} vs {now}"
    );
    let age = series_value(&text, "headroom_backup_age_seconds", &["kind=\"ebs\"", &a]).unwrap();
    assert!((0.0..120.0).contains(&age), "{age}");
    assert!(
        series_value(
            &text,
            "headroom_aws_requests_total",
            &["target=\"backups-us\"", "operation=\"ListObjectsV2\""]
        )
        .unwrap()
            >= 1.0
    );

    // A max age of 1s: a few seconds later every backup is overdue, and says how old it is.
    std::fs::write(
        d.config_path(),
        format!("listen: 127.0.0.1:{}\n{}", d.port, config("1s")),
    )
    .unwrap();
    d.signal("HUP");
    let rows = backup_checks(&d, "every backup overdue", 7, |rows| {
        rows.iter().all(|r| r.1 == "CRITICAL")
    });
    let r = row(&rows, "route53_export-example.org");
    assert!(
        r.2.starts_with("CRITICAL: newest route53_export backup of example.org is "),
        "{r:?}"
    );
    assert!(r.2.ends_with("s old (max age 1s)"), "{r:?}");
    for h in hosts {
        assert!(!row(&rows, h).2.contains("no "), "{rows:?}");
    }

    // Back to 1h: OK again. Then the snapshot of one volume is deleted: that volume has no
    // backup any more, and says so.
    std::fs::write(
        d.config_path(),
        format!("listen: 127.0.0.1:{}\n{}", d.port, config("1h")),
    )
    .unwrap();
    d.signal("HUP");
    backup_checks(&d, "every backup OK again", 7, |rows| {
        rows.iter().all(|r| r.1 == "OK")
    });
    boto(&format!(
        "import boto3\n\
         ec2 = {ec2}\n\
         for s in ec2.describe_snapshots(OwnerIds=['self'], Filters=[{{'Name': 'volume-id', 'Values': ['{vol_b}']}}])['Snapshots']:\n\
         \x20   ec2.delete_snapshot(SnapshotId=s['SnapshotId'])\n"
    ));
    let rows = backup_checks(&d, "the volume without a snapshot", 7, |rows| {
        rows.iter().any(|r| r.1 == "CRITICAL")
    });
    assert_eq!(
        row(&rows, &ebs_b).2,
        format!("CRITICAL: no ebs backup of {vol_b} found")
    );
    assert_eq!(row(&rows, &ebs_a).1, "OK");
    assert!(!d.metrics().contains("not-a-real-pw"));
}

/// A failed AWS call reads as one line, the service's code and message: the bucket of a zone
/// export deleted under a running daemon makes its check CRITICAL with S3's NoSuchBucket, and
/// none of the SDK's debug dump (the raw response, its headers, the error's metadata).
#[test]
fn an_aws_error_is_one_line_with_the_service_code_and_message() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    reset();
    let s3 = format!(
        "boto3.client('s3', endpoint_url='{moto}', region_name='us-west-2', aws_access_key_id='t', aws_secret_access_key='t')"
    );
    boto(&format!(
        "import boto3\n\
         s3 = {s3}\n\
         s3.create_bucket(Bucket='zone-exports', CreateBucketConfiguration={{'LocationConstraint': 'us-west-2'}})\n\
         s3.put_object(Bucket='zone-exports', Key='route53/example.com/2026-12-05.zone', Body=b'x')\n"
    ));
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let d = Daemon::start(
        free_port(),
        &format!(
            "backups:\n  - name: backups-us\n    region: us-west-2\n    interval: 1s\n    endpoint_url: '{endpoint}'\n    max_age: 1h\n\
             \x20   route53_exports:\n\
             \x20     - {{zone: example.com, s3: {{bucket: zone-exports, prefix: route53/example.com/}}}}\n"
        ),
        &AWS_ENV,
    );
    backup_checks(&d, "the export OK", 1, |rows| rows[0].1 == "OK");
    boto(&format!(
        "import boto3\n\
         s3 = {s3}\n\
         s3.delete_object(Bucket='zone-exports', Key='route53/example.com/2026-12-05.zone')\n\
         s3.delete_bucket(Bucket='zone-exports')\n"
    ));
    // The object goes first, so a poll between the two calls finds the bucket empty and
    // says "no route53_export backup ... found": that CRITICAL is right, and not the one
    // this test is about. It waits past it for the poll that finds no bucket.
    let rows = backup_checks(&d, "the export's bucket gone", 1, |rows| {
        rows[0].1 == "CRITICAL" && !rows[0].2.contains("backup of example.com found")
    });
    let text = &rows[0].2;
    assert!(
        text.contains("us-west-2 ListObjectsV2: service error: NoSuchBucket: ")
            && text.contains("The specified bucket does not exist"),
        "{text}"
    );
    for dump in ["ErrorMetadata", "x-amz", "raw:", "Response {", "\n"] {
        assert!(!text.contains(dump), "{dump:?} in {text}");
    }
}
