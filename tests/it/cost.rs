//! The cost source against moto (server mode): a fixed estate of RDS instances, ElastiCache
//! nodes, EBS volumes, a classic load balancer and the EC2 instance behind it, priced from
//! the shipped catalog/prices.yaml. The test writes the hand computation out from that table's
//! rows; the resources the table has no price for are counted as unpriced, not as 0. A second
//! target adds its own rows for those (`prices:` in the config) and prices them too.
//!
//! moto has no Price List API (nor does the cost source call one): the prices are the
//! shipped table's, and moto supplies the estate.

use crate::common;

use common::moto::{AWS_ENV, boto, reset};

use std::time::Duration;

use common::{Daemon, env, free_port, series_value, wait_for};

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

#[test]
fn monthly_cost_of_a_fixed_estate() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    reset();
    boto(&format!(
        "import boto3\n\
         kw = dict(endpoint_url='{moto}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t')\n\
         rds = boto3.client('rds', **kw)\n\
         def db(i, cls, engine, gib, st, maz=False): rds.create_db_instance(DBInstanceIdentifier=i, DBInstanceClass=cls, \
             Engine=engine, AllocatedStorage=gib, StorageType=st, MultiAZ=maz, MasterUsername='admin', MasterUserPassword='not-a-real-pw')\n\
         db('pg-main', 'db.m5.large', 'postgres', 100, 'gp3')\n\
         db('pg-ha', 'db.m5.large', 'postgres', 100, 'gp2', True)\n\
         db('my-small', 'db.t3.medium', 'mysql', 20, 'gp2')\n\
         db('my-big', 'db.r5.large', 'mysql', 50, 'gp2')\n\
         boto3.client('elasticache', **kw).create_cache_cluster(CacheClusterId='sessions', Engine='memcached', \
             CacheNodeType='cache.t3.micro', NumCacheNodes=2)\n\
         ec2 = boto3.client('ec2', **kw)\n\
         ec2.create_volume(AvailabilityZone='us-east-1a', Size=100, VolumeType='gp3')\n\
         ec2.create_volume(AvailabilityZone='us-east-1a', Size=8, VolumeType='gp3')\n\
         ids = [i['InstanceId'] for i in ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1, InstanceType='m5.large')['Instances']]\n\
         elb = boto3.client('elb', **kw)\n\
         elb.create_load_balancer(LoadBalancerName='web', AvailabilityZones=['us-east-1a'], Listeners=[\
             {{'Protocol': 'HTTP', 'LoadBalancerPort': 80, 'InstancePort': 80}}])\n\
         elb.register_instances_with_load_balancer(LoadBalancerName='web', Instances=[{{'InstanceId': i}} for i in ids])\n\
         # moto gives the instance an 8 GiB gp2 root volume: an unpriced EBS line below.\n\
         print(sorted((v['VolumeType'], v['Size']) for v in ec2.describe_volumes()['Volumes']))\n"
    ));
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    // The second target's own rows: figures made up for this test, named as such.
    let config = format!(
        "cost:\n\
         \x20 - {{name: shipped, region: us-east-1, interval: 1s, endpoint_url: '{endpoint}', budget_usd: 250}}\n\
         \x20 - name: own-rows\n    region: us-east-1\n    interval: 1s\n    endpoint_url: '{endpoint}'\n    services: [elasticache, elb]\n    prices:\n\
         \x20     - {{service: elasticache, region: us-east-1, item: cache.t3.micro, unit: hour, usd: 0.02, source: test figure}}\n\
         \x20     - {{service: elb, region: us-east-1, item: classic, unit: hour, usd: 0.03, source: test figure}}\n"
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let text = wait_for("both cost targets polled", Duration::from_secs(40), || {
        let t = d.metrics();
        (t.contains("headroom_cost_monthly_usd{target=\"shipped\"")
            && t.contains("headroom_cost_monthly_usd{target=\"own-rows\""))
        .then_some(t)
    });
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    let line = |name: &str, target: &str, service: &str, component: &str, item: &str| {
        series_value(
            &text,
            name,
            &[
                &format!("target=\"{target}\""),
                &format!("service=\"{service}\""),
                &format!("component=\"{component}\""),
                &format!("item=\"{item}\""),
            ],
        )
    };
    let usd = |s, c, i| line("headroom_cost_monthly_usd", "shipped", s, c, i);
    let unpriced = |s, c, i| line("headroom_cost_unpriced_resources", "shipped", s, c, i);
    let count = |s, c, i| line("headroom_cost_resources", "shipped", s, c, i);

    // By hand, from catalog/prices.yaml (us-east-1, 730 hours a month):
    //   rds  db.m5.large postgres single-AZ  0.171 /h x 730      = 124.83  (pg-main)
    //        db.m5.large Multi-AZ            no row               unpriced (pg-ha)
    //   rds  db.t3.medium mysql              0.068 /h x 730      =  49.64  (my-small)
    //   rds  db.r5.large mysql               no row               unpriced (my-big)
    //   rds  gp3 storage                     0.115 x 100 GB      =  11.50  (pg-main; 3,000
    //        IOPS below 400 GiB are included, moto reports none provisioned)
    //   rds  gp2 storage                     0.115 x (20 + 50)   =   8.05  (pg-ha Multi-AZ:
    //        no row, unpriced)
    //   ebs  gp3                             0.08 x (100 + 8)    =   8.64
    //   ebs  gp2 (the root volume)           no row               unpriced
    //   ec2  m5.large behind the ELB         0.096 /h x 730      =  70.08
    //   elasticache cache.t3.micro x 2       no row               unpriced
    //   elb  classic                         no row               unpriced
    assert!(
        close(usd("rds", "instance", "db.m5.large"), 124.83),
        "{text}"
    );
    assert_eq!(count("rds", "instance", "db.m5.large"), Some(2.0));
    assert_eq!(unpriced("rds", "instance", "db.m5.large"), Some(1.0));
    assert!(close(usd("rds", "instance", "db.t3.medium"), 49.64));
    assert!(close(usd("rds", "instance", "db.r5.large"), 0.0));
    assert_eq!(unpriced("rds", "instance", "db.r5.large"), Some(1.0));
    assert!(close(usd("rds", "storage", "gp3"), 11.5));
    assert!(close(usd("rds", "storage", "gp2"), 8.05));
    assert_eq!(unpriced("rds", "storage", "gp2"), Some(1.0));
    assert!(close(usd("ebs", "storage", "gp3"), 8.64));
    assert_eq!(count("ebs", "storage", "gp3"), Some(2.0));
    assert_eq!(unpriced("ebs", "storage", "gp2"), Some(1.0));
    assert!(close(usd("ec2", "instance", "m5.large"), 70.08));
    assert_eq!(unpriced("elasticache", "node", "cache.t3.micro"), Some(2.0));
    assert_eq!(unpriced("elb", "load_balancer", "classic"), Some(1.0));
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("headroom_cost_monthly_usd{target=\"shipped\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(
        (total - (124.83 + 49.64 + 11.5 + 8.05 + 8.64 + 70.08)).abs() < 1e-6,
        "{total}"
    );
    let unpriced_total: f64 = text
        .lines()
        .filter(|l| l.starts_with("headroom_cost_unpriced_resources{target=\"shipped\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        unpriced_total, 7.0,
        "pg-ha x2, my-big, gp2 root, 2 nodes, the ELB"
    );
    assert_eq!(
        series_value(&text, "headroom_cost_budget_usd", &["target=\"shipped\""]),
        Some(250.0)
    );
    assert!(
        text.contains(
            "headroom_cost_price_source_info{target=\"shipped\",source=\"cloudprice-ec2\""
        )
    );
    assert!(
        series_value(
            &text,
            "headroom_cost_price_date_timestamp_seconds",
            &["target=\"shipped\""]
        )
        .is_some()
    );

    // The config's own rows price what the shipped table does not: 2 x 0.02 x 730 and
    // 0.03 x 730.
    let own = |name, s, c, i| line(name, "own-rows", s, c, i);
    assert!(close(
        own(
            "headroom_cost_monthly_usd",
            "elasticache",
            "node",
            "cache.t3.micro"
        ),
        29.2
    ));
    assert!(close(
        own(
            "headroom_cost_monthly_usd",
            "elb",
            "load_balancer",
            "classic"
        ),
        21.9
    ));
    assert_eq!(
        own(
            "headroom_cost_unpriced_resources",
            "elb",
            "load_balancer",
            "classic"
        ),
        Some(0.0)
    );
    // services: [elasticache, elb] lists nothing else.
    assert!(!text.contains("headroom_cost_monthly_usd{target=\"own-rows\",service=\"rds\""));
}

#[test]
fn a_bad_price_row_names_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(
        &p,
        "cost:\n  - name: c\n    region: us-east-1\n    prices:\n      - {service: lambda, region: us-east-1, item: x, unit: hour, usd: 1, source: s}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["config", "check"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cost[0].prices[0]"), "{err}");
    assert!(
        err.contains("\"lambda\": one of rds, ebs, ec2, elasticache, elb"),
        "{err}"
    );
}

/// catalog/update-prices.py on a fixture in the layout of the AWS Price List bulk API (region
/// index, then the region's offer file: products by SKU with productFamily and attributes,
/// terms.OnDemand with priceDimensions; AWS Billing User Guide, "Getting price list files
/// using the AWS Price List Bulk API" and "Reading the service price list files"). The
/// fixture's RDS, EC2 and EBS products carry the figures of catalog/prices.yaml's rows, and
/// the script rebuilds those rows; its ElastiCache and ELB products carry made-up figures
/// (no shipped row to reproduce) and are read as given. Licensed engines, Windows, readable
/// standbys, unused reservations and per-GB load balancer charges are left out.
#[test]
fn update_prices_rebuilds_the_shipped_rows_from_offer_files() {
    use headroom::capacity::prices::{Query, Table, Unit, shipped};
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/catalog/update-prices.py"
        ))
        .arg("--base")
        .arg(common::fixture("offers"))
        .args(["--region", "us-east-1", "--today", "2026-12-05"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("10 rows from 4 offer files"), "{err}");
    // CloudWatch's fixture price is headroom's $0.01 per 1,000 metrics: no warning.
    assert!(!err.contains("GetMetricData"), "{err}");
    let built: Table = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(built.prices.len(), 10);
    let src = &built.sources["AmazonRDS-us-east-1"];
    assert_eq!(
        (src.date.as_str(), src.read.as_str()),
        ("2026-12-01", "2026-12-05")
    );
    assert!(!src.third_party);
    let table = shipped();
    let mut reproduced = 0;
    for r in &built.prices {
        r.check().unwrap();
        if r.service == "elasticache" || r.service == "elb" {
            assert_eq!(r.usd, 0.5, "{r:?}");
            continue;
        }
        let engines: Vec<Option<&str>> = match &r.engines {
            Some(es) => es.iter().map(|e| Some(e.as_str())).collect(),
            None => vec![None],
        };
        for engine in engines {
            let q = Query {
                service: &r.service,
                region: &r.region,
                item: &r.item,
                unit: r.unit,
                engine,
                deployment: r.deployment.as_deref(),
            };
            let shipped_row = table
                .find(&q)
                .unwrap_or_else(|| panic!("no shipped row for {q:?}"));
            assert_eq!(shipped_row.usd, r.usd, "{q:?}");
            assert_eq!(shipped_row.included, r.included, "{q:?}");
            reproduced += 1;
        }
    }
    // db.m5.large postgres, db.t3.medium mysql and postgres, RDS gp2, gp3 and gp3 IOPS,
    // m5.large, EBS gp3.
    assert_eq!(reproduced, 8);
    assert!(
        built
            .prices
            .iter()
            .all(|r| r.usd != 0.5 || r.service == "elasticache" || r.service == "elb")
    );
    let classic = built
        .prices
        .iter()
        .filter(|r| r.service == "elb" && r.unit == Unit::Hour)
        .count();
    assert_eq!(
        classic, 2,
        "classic and application hours, no per-GB charge"
    );
}
