//! Discovered targets are first-class (issue 18, item 5): `headroom check NAME --config FILE
//! --host HOST` runs a check on a host that a configured target discovers, named as the daemon
//! names it on /status and in its Nagios pushes. The ElastiCache nodes come from the
//! documented DescribeCacheClusters example that tests/it/elasticache.rs serves (moto lists
//! clusters without nodes; see there), pointed at real memcached servers with `connect_to`;
//! their CPUUtilization and the RDS instances come from moto.

use crate::common;
use crate::elasticache::{ExampleServer, NODES, example_xml, node_address, put_cpu};

use common::moto::{boto, reset};
use common::{Memcached, env, headroom};

fn config_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("headroom.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_discovered_node_is_checked_by_its_host_name() {
    let _moto = common::lock::moto();
    reset();
    put_cpu("my-mem-cluster", "0001", 95.0);
    put_cpu("my-mem-cluster", "0002", 12.0);
    let server = ExampleServer::start(example_xml(&NODES));
    let (m1, m2) = (Memcached::start(), Memcached::start());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        &dir,
        &format!(
            "elasticache:\n\
             \x20 - name: cache-us\n\
             \x20   region: us-east-1\n\
             \x20   endpoint_url: http://127.0.0.1:{}\n\
             \x20   nodes:\n\
             \x20     connect_to: {{'{}:11211': '{}', '{}:11211': '{}'}}\n\
             \x20   node_metrics: {{endpoint_url: '{}'}}\n",
            server.port,
            node_address("0001"),
            m1.address(),
            node_address("0002"),
            m2.address(),
            env("HEADROOM_TEST_AWS_ENDPOINT"),
        ),
    );
    let check = |args: &[&str]| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", &cfg]);
        headroom(&all)
    };

    // A node's memcached checks, by the target name the daemon gives it.
    let (code, out, _) = check(&[
        "MEMCACHE_RESPONSE",
        "--host",
        "cache-us/my-mem-cluster/0001",
    ]);
    // (OK, or WARNING on a machine too busy to answer within 100 ms: not what is tested.)
    assert!(code == 0 || code == 1, "{out}");
    assert!(out.contains(": stats answered in "), "{out}");
    // Below its parent's name, when that names one node: the second node's server, which has
    // had a get that missed.
    m2.command("get nothing-here");
    let (code, out, _) = check(&["MEMCACHE_HITRATE", "--host", "my-mem-cluster/0002"]);
    assert_eq!(code, 2, "{out}"); // 0% hits: below 80
    assert!(
        out.starts_with("CRITICAL: Hit ratio 0") && out.contains("at cache-us/my-mem-cluster/0002"),
        "{out}"
    );
    // The nodes' CloudWatch metrics, per node, from the discovered cloudwatch target.
    let (code, out, _) = check(&["CPU_UTILIZATION", "--host", "my-mem-cluster-0001"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("CRITICAL: CPUUtilization = 95"), "{out}");
    let (code, out, _) = check(&["CPU_UTILIZATION", "--host", "my-mem-cluster-0002"]);
    assert_eq!(code, 0, "{out}");
    // A host nothing has: UNKNOWN, naming what there is.
    let (code, out, _) = check(&["MEMCACHE_RESPONSE", "--host", "my-mem-cluster/0009"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("cache-us/my-mem-cluster/0001, cache-us/my-mem-cluster/0002"),
        "{out}"
    );
    let (code, out, _) = check(&["CPU_UTILIZATION", "--host", "my-mem-cluster-0009"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("my-mem-cluster-0001 (cache-us/cloudwatch)"),
        "{out}"
    );
    // Without --host, a check of several discovered nodes says which there are.
    let (code, out, _) = check(&["MEMCACHE_RESPONSE"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("give --host"), "{out}");
}

#[test]
fn an_rds_instance_is_checked_by_its_identifier_in_any_region() {
    let _moto = common::lock::moto();
    reset();
    let moto = env("HEADROOM_TEST_MOTO");
    boto(&format!(
        "import boto3\n\
         def c(region): return boto3.client('rds', endpoint_url='{moto}', region_name=region, aws_access_key_id='t', aws_secret_access_key='t')\n\
         c('us-west-2').create_db_instance(DBInstanceIdentifier='db-us', DBInstanceClass='db.m5.large', Engine='mysql', \
             AllocatedStorage=100, MasterUsername='admin', MasterUserPassword='not-a-real-pw', MultiAZ=True)\n\
         c('eu-central-1').create_db_instance(DBInstanceIdentifier='db-eu', DBInstanceClass='db.m5.large', Engine='mysql', \
             AllocatedStorage=100, MasterUsername='admin', MasterUserPassword='not-a-real-pw', MultiAZ=False)\n\
         import datetime\n\
         t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)\n\
         boto3.client('cloudwatch', endpoint_url='{moto}', region_name='eu-central-1', aws_access_key_id='t', aws_secret_access_key='t')\
         .put_metric_data(Namespace='AWS/RDS', MetricData=[{{'MetricName': 'CPUUtilization', \
             'Dimensions': [{{'Name': 'DBInstanceIdentifier', 'Value': 'db-eu'}}], 'Timestamp': t, 'Value': 97.0}}])\n"
    ));
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        &dir,
        &format!(
            "rds:\n  - {{name: rds-us, region: us-west-2, endpoint_url: '{endpoint}'}}\n  \
             - {{name: rds-eu, region: eu-central-1, endpoint_url: '{endpoint}', instance_metrics: {{metrics: [CPUUtilization]}}}}\n\
             checks:\n  - {{name: RDS_CPU, source: cloudwatch, metric: aws_rds_cpuutilization_average, \
             per: [dimension_DBInstanceIdentifier], critical: '90', output: 'CPUUtilization = {{value}}%'}}\n"
        ),
    );
    // Two rds targets: the instance is looked for in each, in turn.
    let (code, out, _) = headroom(&["check", "RDS_MULTI_AZ", "--config", &cfg, "--host", "db-eu"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("CRITICAL: MultiAZ = 0"), "{out}");
    let (code, out, _) = headroom(&["check", "RDS_MULTI_AZ", "--config", &cfg, "--host", "db-us"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = headroom(&["check", "RDS_MULTI_AZ", "--config", &cfg, "--host", "db-xx"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("db-eu (rds-eu)") && out.contains("db-us (rds-us)"),
        "{out}"
    );
    // The instances' CloudWatch metrics, from the target rds-eu discovers, per instance.
    let (code, out, _) = headroom(&["check", "RDS_CPU", "--config", &cfg, "--host", "db-eu"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("CRITICAL: CPUUtilization = 97%"), "{out}");
    // ... and in the plan, with what each instance found adds.
    let (code, plan, _) = headroom(&["config", "plan", &cfg]);
    assert_eq!(code, 0, "{plan}");
    assert!(
        plan.contains("rds-eu/cloudwatch (instance_metrics of rds-eu): per DB instance: 1 metric, 1 query every 60s -> $0.43/month"),
        "{plan}"
    );
}

#[test]
fn discovered_node_metrics_count_in_the_cloudwatch_budget() {
    let _moto = common::lock::moto();
    reset();
    let server = ExampleServer::start(example_xml(&NODES));
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    // One metric read every second costs 2,592,000 polls x $0.01/1,000 = $25.92 a month: the
    // configured target alone fits $40. The two nodes' CPUUtilization add $51.84: $77.76 in
    // all, so every cloudwatch target is stretched by 77.76/40 = 1.944, to 2s (rounded up).
    let config = format!(
        "defaults: {{interval: 1s}}\n\
         aws: {{monthly_budget_usd: 40}}\n\
         cloudwatch:\n\
         \x20 - name: aws-us\n\
         \x20   region: us-east-1\n\
         \x20   endpoint_url: '{endpoint}'\n\
         \x20   interval: 1s\n\
         \x20   metrics: [{{namespace: AWS/ELB, name: Latency, dimensions: {{LoadBalancerName: lb}}, statistics: [Average]}}]\n\
         elasticache:\n\
         \x20 - name: cache-us\n\
         \x20   region: us-east-1\n\
         \x20   endpoint_url: http://127.0.0.1:{}\n\
         \x20   nodes: {{enabled: false}}\n\
         \x20   node_metrics: {{interval: 1s, endpoint_url: '{endpoint}'}}\n",
        server.port,
    );
    let (code, plan, _) = {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(&dir, &config);
        headroom(&["config", "plan", &cfg])
    };
    assert_eq!(code, 0, "{plan}");
    // The plan names what discovery adds, per node.
    assert!(
        plan.contains("cache-us/cloudwatch (node_metrics of cache-us): per node: 1 metric, 1 query every 1s -> $25.92/month"),
        "{plan}"
    );
    let d = common::Daemon::start(common::free_port(), &config, &common::moto::AWS_ENV);
    let interval = |t: &str| {
        d.value(
            "headroom_cloudwatch_interval_seconds",
            &[&format!("target=\"{t}\"")],
        )
    };
    common::wait_for(
        "both cloudwatch targets stretched",
        std::time::Duration::from_secs(30),
        || {
            (interval("aws-us") == Some(2.0) && interval("cache-us/cloudwatch") == Some(2.0))
                .then_some(())
        },
    );
    for t in ["aws-us", "cache-us/cloudwatch"] {
        let l = format!("target=\"{t}\"");
        assert_eq!(
            d.value("headroom_cloudwatch_configured_interval_seconds", &[&l]),
            Some(1.0)
        );
        assert_eq!(
            d.value("headroom_cloudwatch_budget_usd_per_month", &[&l]),
            Some(40.0)
        );
    }
    assert!(
        d.log().contains("interval stretched from 1s to 2s"),
        "{}",
        d.log()
    );
}
