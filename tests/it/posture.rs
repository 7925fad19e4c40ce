//! The posture source against moto (server mode): an account made clean, then broken in every
//! way the source looks for, then fixed again, with boto3; SECURITY_POSTURE and LOGGING go
//! from OK to CRITICAL (naming the resources) and back, per kind.
//!
//! What moto cannot do, and how it is covered instead:
//! - GetAccountSummary: moto answers AccountMFAEnabled 0 and AccountAccessKeysPresent 0
//!   whatever is done (moto/iam/models.py: "Haven't found any information being able to
//!   activate MFA for the root account programmatically"); CreateVirtualMFADevice works but
//!   EnableMFADevice for the root user fails with NoSuchEntity ("The user with name root
//!   cannot be found"). So mfa_disabled is CRITICAL throughout here and root_access_keys OK
//!   throughout. Both values are judged in `judge::tests::root_facts_from_the_summary`, and
//!   the AWS CLI Command Reference's example output of `aws iam get-account-summary` goes
//!   through the SDK's types and the same judgment in
//!   `posture::tests::account_summary_as_the_sdk_returns_it`.
//! - An access key cannot be back-dated: `access_key_max_age_days: 0` makes any active key
//!   old, which is the same comparison.
//! - ElastiCache: moto leaves a deleted replication group listed as `deleting`, which the
//!   source does not judge (see `PosturePoller::elasticache`).

use crate::common;

use common::moto::{AWS_ENV, boto, reset};

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Daemon, env, free_port, series_value, wait_for};

/// The boto3 clients of the scripts below, all on moto in us-west-2.
fn script(body: &str) -> String {
    let moto = env("HEADROOM_TEST_MOTO");
    format!(
        "import boto3\n\
         def c(s): return boto3.client(s, endpoint_url='{moto}', region_name='us-west-2', aws_access_key_id='t', aws_secret_access_key='t')\n\
         iam, ec2, rds, ec, elb, s3, ct, cf = [c(s) for s in ['iam', 'ec2', 'rds', 'elasticache', 'elb', 's3', 'cloudtrail', 'config']]\n\
         {body}"
    )
}

/// `(host, (status, output))` of every posture check that has run.
fn posture_checks(d: &Daemon) -> Option<BTreeMap<String, (String, String)>> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(
        v["checks"]
            .as_array()?
            .iter()
            .filter(|c| {
                (c["check"] == "SECURITY_POSTURE" || c["check"] == "LOGGING")
                    && c["has_been_checked"] == true
            })
            .map(|c| {
                (
                    format!(
                        "{} {}",
                        c["check"].as_str().unwrap_or_default(),
                        c["host"].as_str().unwrap_or_default()
                    ),
                    (
                        c["status"].as_str().unwrap_or_default().to_owned(),
                        c["output"].as_str().unwrap_or_default().to_owned(),
                    ),
                )
            })
            .collect(),
    )
}

const SECURITY: [&str; 10] = [
    "mfa_disabled",
    "root_access_keys",
    "password_policy",
    "access_key_age",
    "public_rds",
    "public_ec2",
    "unencrypted_rds",
    "unencrypted_ebs",
    "unencrypted_elasticache",
    "elb_tls_policy",
];
const LOGGING: [&str; 4] = [
    "elb_access_log",
    "s3_access_log",
    "cloudtrail",
    "config_recorder",
];

/// Waits until every kind's check is in the state `want` gives it; returns the checks.
fn wait_states(
    d: &Daemon,
    what: &str,
    want: impl Fn(&str) -> &'static str,
) -> BTreeMap<String, (String, String)> {
    wait_for(what, Duration::from_secs(60), || {
        let checks = posture_checks(d)?;
        let all = SECURITY
            .iter()
            .map(|k| format!("SECURITY_POSTURE posture-us/{k}"))
            .chain(LOGGING.iter().map(|k| format!("LOGGING posture-us/{k}")));
        all.into_iter()
            .all(|host| {
                let kind = host.rsplit('/').next().unwrap();
                checks.get(&host).is_some_and(|(s, _)| s == want(kind))
            })
            .then_some(checks)
    })
}

#[test]
fn posture_findings_and_logging_go_critical_and_back() {
    let _moto = common::lock::moto();
    reset();
    // A clean account: a password policy that meets the minimum, a private encrypted
    // database, an encrypted Redis group, a load balancer whose TLS listener uses the
    // TLS 1.2 policy and logs, a bucket that logs, a trail and a recorder running.
    boto(&script(
        "iam.update_account_password_policy(MinimumPasswordLength=16, PasswordReusePrevention=24, RequireSymbols=True)\n\
         rds.create_db_instance(DBInstanceIdentifier='db-private', DBInstanceClass='db.m5.large', Engine='mysql', AllocatedStorage=100, \
             MasterUsername='admin', MasterUserPassword='not-a-real-pw', StorageEncrypted=True, PubliclyAccessible=False)\n\
         ec.create_replication_group(ReplicationGroupId='sessions', ReplicationGroupDescription='s', Engine='redis', \
             CacheNodeType='cache.t3.micro', AtRestEncryptionEnabled=True, TransitEncryptionEnabled=True)\n\
         for b in ['audit-src', 'audit-logs']: s3.create_bucket(Bucket=b, CreateBucketConfiguration={'LocationConstraint': 'us-west-2'})\n\
         s3.put_bucket_acl(Bucket='audit-logs', ACL='log-delivery-write')\n\
         s3.put_bucket_logging(Bucket='audit-src', BucketLoggingStatus={'LoggingEnabled': {'TargetBucket': 'audit-logs', 'TargetPrefix': 'src/'}})\n\
         elb.create_load_balancer(LoadBalancerName='web', AvailabilityZones=['us-west-2a'], Listeners=[{'Protocol': 'HTTPS', \
             'LoadBalancerPort': 443, 'InstanceProtocol': 'HTTP', 'InstancePort': 80, 'SSLCertificateId': 'arn:aws:iam::123456789012:server-certificate/web'}])\n\
         for name, ref in [('tls12', 'ELBSecurityPolicy-TLS-1-2-2017-01'), ('tls-old', 'ELBSecurityPolicy-2016-08')]:\n\
         \x20   elb.create_load_balancer_policy(LoadBalancerName='web', PolicyName=name, PolicyTypeName='SSLNegotiationPolicyType', \
             PolicyAttributes=[{'AttributeName': 'Reference-Security-Policy', 'AttributeValue': ref}])\n\
         elb.set_load_balancer_policies_of_listener(LoadBalancerName='web', LoadBalancerPort=443, PolicyNames=['tls12'])\n\
         elb.modify_load_balancer_attributes(LoadBalancerName='web', LoadBalancerAttributes={'AccessLog': {'Enabled': True, 'S3BucketName': 'audit-logs', 'EmitInterval': 5}})\n\
         ct.create_trail(Name='main', S3BucketName='audit-logs')\n\
         ct.start_logging(Name='main')\n\
         cf.put_configuration_recorder(ConfigurationRecorder={'name': 'default', 'roleARN': 'arn:aws:iam::123456789012:role/config'})\n\
         cf.put_delivery_channel(DeliveryChannel={'name': 'default', 's3BucketName': 'audit-logs'})\n\
         cf.start_configuration_recorder(ConfigurationRecorderName='default')\n",
    ));
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let config = format!(
        "defaults: {{interval: 1s}}\nposture:\n  - name: posture-us\n    region: us-west-2\n    endpoint_url: '{endpoint}'\n    interval: 1s\n    \
         access_key_max_age_days: 0\n    password_policy: {{min_length: 14, require_symbols: true}}\n    s3_buckets: [audit-src]\n"
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);

    // Clean: everything OK but the root user's MFA, which moto cannot turn on.
    let clean = |k: &str| {
        if k == "mfa_disabled" {
            "CRITICAL"
        } else {
            "OK"
        }
    };
    let checks = wait_states(&d, "the posture checks, clean", clean);
    // The status text without its `STATUS: ` prefix.
    let out = |checks: &BTreeMap<String, (String, String)>, host: &str| {
        let (status, text) = &checks[host];
        text.strip_prefix(&format!("{status}: "))
            .unwrap_or(text)
            .to_owned()
    };
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/public_rds"),
        "no public_rds finding"
    );
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/mfa_disabled"),
        "1 mfa_disabled finding(s): account"
    );
    assert_eq!(
        out(&checks, "LOGGING posture-us/cloudtrail"),
        "cloudtrail on: main"
    );
    assert_eq!(
        out(&checks, "LOGGING posture-us/s3_access_log"),
        "s3_access_log on: audit-src"
    );
    let text = d.metrics();
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    for k in SECURITY.iter().filter(|k| **k != "mfa_disabled") {
        assert_eq!(
            series_value(
                &text,
                "headroom_posture_findings",
                &[&format!("kind=\"{k}\"")]
            ),
            Some(0.0),
            "{k}"
        );
    }
    assert_eq!(
        series_value(
            &text,
            "headroom_logging_enabled",
            &["kind=\"elb_access_log\"", "resource=\"web\""]
        ),
        Some(1.0)
    );

    // Broken: no password policy, an access key (older than 0 days), a public unencrypted
    // database, an instance with a public address and its unencrypted root volume, an
    // unencrypted volume, a Redis group unencrypted at rest, the listener on the 2016 policy,
    // and every log off. The volume comes before the instance: a poll reads the instances,
    // then the volumes, so one that sees the instance sees both volumes (the other way round,
    // a poll between the two calls sees every check CRITICAL with one volume).
    boto(&script(
        "iam.delete_account_password_policy()\n\
         iam.create_user(UserName='deploy')\n\
         print(iam.create_access_key(UserName='deploy')['AccessKey']['AccessKeyId'])\n\
         rds.create_db_instance(DBInstanceIdentifier='db-public', DBInstanceClass='db.m5.large', Engine='mysql', AllocatedStorage=100, \
             MasterUsername='admin', MasterUserPassword='not-a-real-pw', StorageEncrypted=False, PubliclyAccessible=True)\n\
         ec2.create_volume(AvailabilityZone='us-west-2a', Size=10, Encrypted=False)\n\
         ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1)\n\
         ec.create_replication_group(ReplicationGroupId='cache-plain', ReplicationGroupDescription='p', Engine='redis', \
             CacheNodeType='cache.t3.micro', AtRestEncryptionEnabled=False, TransitEncryptionEnabled=True)\n\
         elb.set_load_balancer_policies_of_listener(LoadBalancerName='web', LoadBalancerPort=443, PolicyNames=['tls-old'])\n\
         elb.modify_load_balancer_attributes(LoadBalancerName='web', LoadBalancerAttributes={'AccessLog': {'Enabled': False}})\n\
         s3.put_bucket_logging(Bucket='audit-src', BucketLoggingStatus={})\n\
         ct.stop_logging(Name='main')\n\
         cf.stop_configuration_recorder(ConfigurationRecorderName='default')\n",
    ));
    let checks = wait_states(&d, "the posture checks, broken", |k| {
        if k == "root_access_keys" {
            "OK"
        } else {
            "CRITICAL"
        }
    });
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/public_rds"),
        "1 public_rds finding(s): db-public"
    );
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/unencrypted_rds"),
        "1 unencrypted_rds finding(s): db-public"
    );
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/password_policy"),
        "1 password_policy finding(s): account"
    );
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/elb_tls_policy"),
        "1 elb_tls_policy finding(s): web:443"
    );
    assert_eq!(
        out(
            &checks,
            "SECURITY_POSTURE posture-us/unencrypted_elasticache"
        ),
        "1 unencrypted_elasticache finding(s): cache-plain"
    );
    assert!(
        out(&checks, "SECURITY_POSTURE posture-us/access_key_age")
            .starts_with("1 access_key_age finding(s): deploy/"),
        "{checks:?}"
    );
    // The instance's root volume and the volume made apart.
    assert!(
        out(&checks, "SECURITY_POSTURE posture-us/unencrypted_ebs")
            .starts_with("2 unencrypted_ebs finding(s): vol-"),
        "{checks:?}"
    );
    assert!(
        out(&checks, "SECURITY_POSTURE posture-us/public_ec2")
            .starts_with("1 public_ec2 finding(s): i-"),
        "{checks:?}"
    );
    for (k, r) in [
        ("elb_access_log", "web"),
        ("s3_access_log", "audit-src"),
        ("cloudtrail", "main"),
        ("config_recorder", "default"),
    ] {
        assert_eq!(
            out(&checks, &format!("LOGGING posture-us/{k}")),
            format!("{k} off: {r}")
        );
    }
    let text = d.metrics();
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    assert_eq!(
        series_value(
            &text,
            "headroom_posture_finding",
            &[
                "kind=\"password_policy\"",
                "resource=\"account\"",
                "detail=\"no password policy\""
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_posture_finding",
            &[
                "kind=\"elb_tls_policy\"",
                "detail=\"ELBSecurityPolicy-2016-08\""
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_logging_disabled",
            &["kind=\"config_recorder\""]
        ),
        Some(1.0)
    );
    for op in [
        "GetAccountSummary",
        "GetAccountPasswordPolicy",
        "ListAccessKeys",
        "DescribeVolumes",
        "DescribeLoadBalancerPolicies",
        "GetBucketLogging",
        "GetTrailStatus",
        "DescribeConfigurationRecorderStatus",
    ] {
        assert!(
            series_value(
                &text,
                "headroom_aws_requests_total",
                &[&format!("operation=\"{op}\"")]
            )
            .is_some_and(|n| n >= 1.0),
            "{op}"
        );
    }
    assert!(!text.contains("not-a-real-pw"));

    // Fixed: everything back as it was.
    boto(&script(
        "iam.update_account_password_policy(MinimumPasswordLength=16, PasswordReusePrevention=24, RequireSymbols=True)\n\
         for k in iam.list_access_keys(UserName='deploy')['AccessKeyMetadata']: iam.delete_access_key(UserName='deploy', AccessKeyId=k['AccessKeyId'])\n\
         rds.delete_db_instance(DBInstanceIdentifier='db-public', SkipFinalSnapshot=True)\n\
         ids = [i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances']]\n\
         ec2.terminate_instances(InstanceIds=ids)\n\
         for v in ec2.describe_volumes()['Volumes']: ec2.delete_volume(VolumeId=v['VolumeId'])\n\
         ec.delete_replication_group(ReplicationGroupId='cache-plain')\n\
         elb.set_load_balancer_policies_of_listener(LoadBalancerName='web', LoadBalancerPort=443, PolicyNames=['tls12'])\n\
         elb.modify_load_balancer_attributes(LoadBalancerName='web', LoadBalancerAttributes={'AccessLog': {'Enabled': True, 'S3BucketName': 'audit-logs', 'EmitInterval': 5}})\n\
         s3.put_bucket_logging(Bucket='audit-src', BucketLoggingStatus={'LoggingEnabled': {'TargetBucket': 'audit-logs', 'TargetPrefix': 'src/'}})\n\
         ct.start_logging(Name='main')\n\
         cf.start_configuration_recorder(ConfigurationRecorderName='default')\n",
    ));
    let checks = wait_states(&d, "the posture checks, fixed", clean);
    assert_eq!(
        out(&checks, "LOGGING posture-us/config_recorder"),
        "config_recorder on: default"
    );
    assert_eq!(
        out(&checks, "SECURITY_POSTURE posture-us/elb_tls_policy"),
        "no elb_tls_policy finding"
    );
    // The findings that were fixed left no series behind.
    let text = d.metrics();
    assert!(!text.contains("kind=\"public_rds\",resource="), "{text}");
}
