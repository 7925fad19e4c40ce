//! The RDS source against moto (server mode): instances in two regions created with boto3,
//! their facts as `headroom_rds_*` series, and the shipped RDS_* checks judging each
//! instance (a production backup, DR and security policy: daily snapshots, Multi-AZ,
//! encryption, no public access).

use crate::common;

use common::moto::{AWS_ENV, boto, reset};

use std::time::Duration;

use common::{Daemon, env, free_port, series_value, wait_for};

#[test]
fn rds_facts_and_policy_checks_in_two_regions() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    // A fresh account: moto keeps state between runs of the suite.
    reset();
    boto(&format!(
        "import boto3\n\
         def c(region): return boto3.client('rds', endpoint_url='{moto}', region_name=region, aws_access_key_id='t', aws_secret_access_key='t')\n\
         c('us-west-2').create_db_instance(DBInstanceIdentifier='osdp-db-proddc1', DBInstanceClass='db.r5.2xlarge', Engine='mysql', \
             AllocatedStorage=500, MasterUsername='admin', MasterUserPassword='not-a-real-pw', MultiAZ=True, StorageEncrypted=True, \
             BackupRetentionPeriod=7, StorageType='io1', Iops=12000, PubliclyAccessible=False)\n\
         c('eu-central-1').create_db_instance(DBInstanceIdentifier='osdp-db-proddc2', DBInstanceClass='db.m5.large', Engine='mysql', \
             AllocatedStorage=100, MasterUsername='admin', MasterUserPassword='not-a-real-pw', MultiAZ=False, StorageEncrypted=False, \
             BackupRetentionPeriod=7, StorageType='gp2', PubliclyAccessible=True)\n"
    ));
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let config = format!(
        // rds-eu reads through an assumed role (STS AssumeRole, which moto answers too).
        "defaults: {{interval: 1s}}\nrds:\n  - {{name: rds-us, region: us-west-2, endpoint_url: '{endpoint}'}}\n  - {{name: rds-eu, region: eu-central-1, endpoint_url: '{endpoint}', role_arn: 'arn:aws:iam::123456789012:role/headroom-readonly'}}\n"
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let checks = wait_for(
        "the RDS checks on both instances",
        Duration::from_secs(30),
        || {
            let (_, body) = d.get("/api/checks")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let rds: Vec<serde_json::Value> = v["checks"]
                .as_array()?
                .iter()
                .filter(|c| {
                    c["check"].as_str().is_some_and(|n| n.starts_with("RDS_"))
                        && c["has_been_checked"] == true
                })
                .cloned()
                .collect();
            (rds.len() == 8).then_some(rds)
        },
    );
    let state = |check: &str, host: &str| {
        checks
            .iter()
            .find(|c| c["check"] == check && c["host"] == host)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        state("RDS_MULTI_AZ", "osdp-db-proddc1").as_deref(),
        Some("OK")
    );
    assert_eq!(
        state("RDS_MULTI_AZ", "osdp-db-proddc2").as_deref(),
        Some("CRITICAL")
    );
    assert_eq!(
        state("RDS_ENCRYPTED", "osdp-db-proddc1").as_deref(),
        Some("OK")
    );
    assert_eq!(
        state("RDS_ENCRYPTED", "osdp-db-proddc2").as_deref(),
        Some("CRITICAL")
    );
    assert_eq!(
        state("RDS_NOT_PUBLIC", "osdp-db-proddc1").as_deref(),
        Some("OK")
    );
    assert_eq!(
        state("RDS_NOT_PUBLIC", "osdp-db-proddc2").as_deref(),
        Some("CRITICAL")
    );
    // moto takes an automated snapshot when it creates an instance.
    assert_eq!(
        state("RDS_BACKUP_RECENT", "osdp-db-proddc1").as_deref(),
        Some("OK")
    );

    let text = d.metrics();
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    let us = "db_instance=\"osdp-db-proddc1\"";
    assert_eq!(
        series_value(&text, "headroom_rds_allocated_storage_bytes", &[us]),
        Some(500.0 * 1073741824.0)
    );
    assert_eq!(
        series_value(&text, "headroom_rds_provisioned_iops", &[us]),
        Some(12000.0)
    );
    assert_eq!(
        series_value(&text, "headroom_rds_backup_retention_seconds", &[us]),
        Some(7.0 * 86400.0)
    );
    assert!(text.contains("headroom_rds_instance_info{target=\"rds-us\",db_instance=\"osdp-db-proddc1\",class=\"db.r5.2xlarge\",engine=\"mysql\""), "{text}");
    let age = series_value(&text, "headroom_rds_latest_snapshot_age_seconds", &[us]).unwrap();
    assert!((0.0..600.0).contains(&age), "{age}");
    assert!(
        series_value(
            &text,
            "headroom_aws_requests_total",
            &["target=\"rds-eu\"", "operation=\"DescribeDBInstances\""]
        )
        .unwrap()
            >= 1.0
    );
    // Each region sees only its own instance.
    assert_eq!(
        series_value(&text, "headroom_rds_multi_az", &["target=\"rds-eu\"", us]),
        None
    );
    assert!(!text.contains("not-a-real-pw"));
    drop(d);

    // An unreachable endpoint: the poll fails as a connect error naming the region and call.
    use headroom::model::{ErrorKind, Poller};
    use headroom::sources::aws::Access;
    use headroom::sources::aws::rds::{RdsPoller, Settings};
    let p = RdsPoller::new(
        &Settings {
            access: Access {
                region: "eu-central-1".into(),
                endpoint_url: Some(format!("http://127.0.0.1:{}", free_port())),
                role_arn: None,
            },
            instances: None,
            instance_metrics: None,
        },
        &headroom::sources::aws::Clients::default(),
    );
    // Credentials for the signer come from the environment: `AWS_ENV`, which main.rs sets
    // for the whole test binary. Nothing leaves loopback.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(p.poll()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    assert!(
        err.message
            .starts_with("eu-central-1 DescribeDBInstances: "),
        "{err}"
    );
}

/// The AWS endpoint dies mid-run (moto stopped) and comes back: the target's polls fail as
/// `connect` errors, the daemon keeps serving (and its other targets keep polling), and the
/// target recovers by itself.
#[test]
fn dead_endpoint_is_counted_and_recovered_from() {
    let mut moto = common::moto::PrivateMoto::start();
    let create = |url: &str| {
        boto(&format!(
            "import boto3\n\
             boto3.client('rds', endpoint_url='{url}', region_name='us-west-2', aws_access_key_id='t', aws_secret_access_key='t')\
             .create_db_instance(DBInstanceIdentifier='osdp-db-proddc1', DBInstanceClass='db.r5.large', Engine='mysql', \
             AllocatedStorage=100, MasterUsername='admin', MasterUserPassword='not-a-real-pw')\n"
        ))
    };
    create(&moto.url());
    let mc = common::Memcached::start();
    let config = format!(
        "defaults: {{interval: 1s, timeout: 3s}}\nrds:\n  - {{name: rds-us, region: us-west-2, endpoint_url: '{}'}}\nmemcached:\n  - {{name: cache, address: '{}'}}\n",
        moto.url(),
        mc.address()
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let up = |d: &Daemon| d.value("headroom_up", &["source=\"rds\"", "target=\"rds-us\""]);
    wait_for("rds-us up", Duration::from_secs(30), || {
        (up(&d) == Some(1.0)).then_some(())
    });
    let connect_errors = |d: &Daemon| {
        d.value(
            "headroom_poll_errors_total",
            &["target=\"rds-us\"", "kind=\"connect\""],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(connect_errors(&d), 0.0);

    moto.stop();
    wait_for("rds-us down", Duration::from_secs(30), || {
        (up(&d) == Some(0.0) && connect_errors(&d) >= 1.0).then_some(())
    });
    let text = d.metrics();
    // Only `up 0` is left of the target: no stale instance facts.
    assert_eq!(
        series_value(&text, "headroom_rds_up", &["target=\"rds-us\""]),
        Some(0.0)
    );
    assert!(!text.contains("headroom_rds_instance_info{"), "{text}");
    // The daemon and its other target carry on.
    assert_eq!(d.get("/healthz").map(|(s, _)| s), Some(200));
    let polls = |d: &Daemon| {
        d.value("headroom_polls_total", &["target=\"cache\""])
            .unwrap()
    };
    let before = polls(&d);
    wait_for(
        "the memcached target still polled",
        Duration::from_secs(10),
        || (polls(&d) >= before + 2.0).then_some(()),
    );

    moto.restart(); // an empty account again
    create(&moto.url());
    wait_for("rds-us recovered", Duration::from_secs(30), || {
        (up(&d) == Some(1.0) && d.metrics().contains("db_instance=\"osdp-db-proddc1\""))
            .then_some(())
    });
    assert!(d.log().contains("target recovered"), "{}", d.log());
}
