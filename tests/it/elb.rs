//! The classic ELB source against moto (server mode): load balancers, registered EC2
//! instances (moto reports running ones InService and stopped ones OutOfService), an HTTPS
//! listener with an IAM server certificate, tag filtering, and the shipped host-count checks
//! per load balancer. The HTTPS listener becomes a certificate target of its own, pointed
//! (with `connect_to`, as moto's DNS names resolve nowhere) at a real TLS server, and goes
//! away with the listener.

use crate::common;

use common::moto::{AWS_ENV, boto, reset};

use std::time::Duration;

use common::{Daemon, env, free_port, series_value, wait_for};

#[test]
fn load_balancers_health_listeners_and_checks() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    reset();
    let out = boto(&format!(
        "import boto3, datetime, subprocess, tempfile, os\n\
         kw = dict(endpoint_url='{moto}', region_name='us-west-2', aws_access_key_id='t', aws_secret_access_key='t')\n\
         d = tempfile.mkdtemp()\n\
         subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '461', '-subj', '/CN=storage.example.com', \
             '-keyout', d + '/k', '-out', d + '/c'], check=True, capture_output=True)\n\
         iam = boto3.client('iam', **kw)\n\
         arn = iam.upload_server_certificate(ServerCertificateName='storage', CertificateBody=open(d + '/c').read(), \
             PrivateKey=open(d + '/k').read())['ServerCertificateMetadata']['Arn']\n\
         ec2 = boto3.client('ec2', **kw)\n\
         ids = [i['InstanceId'] for i in ec2.run_instances(ImageId='ami-12c6146b', MinCount=4, MaxCount=4)['Instances']]\n\
         ec2.stop_instances(InstanceIds=ids[3:])\n\
         elb = boto3.client('elb', **kw)\n\
         elb.create_load_balancer(LoadBalancerName='osdp-storage-elb', AvailabilityZones=['us-west-2a'], Listeners=[\
             {{'Protocol': 'HTTP', 'LoadBalancerPort': 80, 'InstanceProtocol': 'HTTP', 'InstancePort': 8080}},\
             {{'Protocol': 'HTTPS', 'LoadBalancerPort': 443, 'InstanceProtocol': 'HTTP', 'InstancePort': 8080, 'SSLCertificateId': arn}}],\
             Tags=[{{'Key': 'service', 'Value': 'storage'}}])\n\
         elb.register_instances_with_load_balancer(LoadBalancerName='osdp-storage-elb', Instances=[{{'InstanceId': i}} for i in ids])\n\
         elb.create_load_balancer(LoadBalancerName='other-team-elb', AvailabilityZones=['us-west-2a'], Listeners=[\
             {{'Protocol': 'TCP', 'LoadBalancerPort': 25, 'InstanceProtocol': 'TCP', 'InstancePort': 25}}], Tags=[{{'Key': 'service', 'Value': 'mail'}}])\n\
         cw = boto3.client('cloudwatch', **kw)\n\
         t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)\n\
         cw.put_metric_data(Namespace='AWS/ELB', MetricData=[{{'MetricName': 'Latency', 'Dimensions': [{{'Name': 'LoadBalancerName', 'Value': 'osdp-storage-elb'}}], 'Timestamp': t, 'Value': 2.0}}])\n\
         dns = elb.describe_load_balancers(LoadBalancerNames=['osdp-storage-elb'])['LoadBalancerDescriptions'][0]['DNSName']\n\
         print(arn, dns, end='')\n"
    ));
    let (cert_arn, dns) = out.split_once(' ').unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The certificate the listener serves: storage.example.com, 461 days left.
    let (ca, _, tls) = common::certs::storage_server(dir.path());
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let config = format!(
        "defaults: {{interval: 1s}}\nelb:\n  - name: elb-us\n    region: us-west-2\n    endpoint_url: '{endpoint}'\n    tags: {{service: storage}}\n    listener_certificates:\n      server_names: {{osdp-storage-elb: storage.example.com}}\n      ca_file: {}\n      connect_to: {{'{dns}:443': '127.0.0.1:{}'}}\n    lb_metrics: {{metrics: [Latency], interval: 1s}}\n",
        ca.pem_path.display(),
        tls.port
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let text = wait_for("ELB series", Duration::from_secs(30), || {
        let t = d.metrics();
        t.contains("headroom_elb_healthy_instances{").then_some(t)
    });
    let lb = "load_balancer=\"osdp-storage-elb\"";
    assert_eq!(
        series_value(&text, "headroom_elb_healthy_instances", &[lb]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        series_value(&text, "headroom_elb_unhealthy_instances", &[lb]),
        Some(1.0)
    );
    // The tag filter left the other team's load balancer out.
    assert!(!text.contains("other-team-elb"), "{text}");
    assert!(
        text.contains(&format!(
            "protocol=\"HTTPS\",port=\"443\",certificate=\"{cert_arn}\""
        )),
        "{text}"
    );
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));
    assert!(
        series_value(
            &text,
            "headroom_aws_requests_total",
            &["operation=\"DescribeInstanceHealth\""]
        )
        .unwrap()
            >= 1.0
    );

    let checks = wait_for("the host-count checks", Duration::from_secs(30), || {
        let (_, body) = d.get("/api/checks")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let c: Vec<serde_json::Value> = v["checks"]
            .as_array()?
            .iter()
            .filter(|c| c["host"] == "osdp-storage-elb" && c["has_been_checked"] == true)
            .cloned()
            .collect();
        (c.len() == 4).then_some(c)
    });
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("HEALTHY_HOST_COUNT").as_deref(), Some("OK")); // 3 >= 2
    assert_eq!(status("UNHEALTHY_HOST_COUNT").as_deref(), Some("WARNING")); // 1 > 0
    assert_eq!(status("ELB_HEALTHY_STATUS").as_deref(), Some("CRITICAL")); // an instance out of service
    // LATENCY on the discovered load balancer, read by the discovered cloudwatch target that
    // lb_metrics makes (the other team's load balancer is not queried).
    assert_eq!(status("LATENCY").as_deref(), Some("WARNING")); // 2 s > 1
    assert_eq!(
        d.value(
            "aws_elb_latency_average",
            &[
                "target=\"elb-us/cloudwatch\"",
                "dimension_LoadBalancerName=\"osdp-storage-elb\""
            ]
        ),
        Some(2.0)
    );

    // The HTTPS listener's certificate target and its check.
    let host = "elb-us/osdp-storage-elb:443";
    let cert = wait_for(
        "the listener's certificate check",
        Duration::from_secs(30),
        || {
            let (_, body) = d.get("/api/checks")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            v["checks"]
                .as_array()?
                .iter()
                .find(|c| c["host"] == host && c["has_been_checked"] == true)
                .cloned()
        },
    );
    assert_eq!(cert["check"], "ELB_CERTIFICATE");
    assert_eq!(cert["status"], "OK", "{cert}");
    assert!(
        cert["output"]
            .as_str()
            .unwrap()
            .starts_with("OK: 461 days remaining for 'storage.example.com'."),
        "{cert}"
    );
    assert!(
        d.value("headroom_tls_up", &[&format!("target=\"{host}\"")]) == Some(1.0),
        "{}",
        d.metrics()
    );
    // Only the HTTPS listener made a target: the HTTP one on port 80 did not.
    assert!(!d.metrics().contains("osdp-storage-elb:80"));

    // The listener goes; so do its target, its series and its check.
    boto(&format!(
        "import boto3\n\
         elb = boto3.client('elb', endpoint_url='{moto}', region_name='us-west-2', aws_access_key_id='t', aws_secret_access_key='t')\n\
         elb.delete_load_balancer_listeners(LoadBalancerName='osdp-storage-elb', LoadBalancerPorts=[443])\n"
    ));
    wait_for(
        "the certificate target to go",
        Duration::from_secs(30),
        || {
            let gone_series = !d.metrics().contains(host);
            let (_, body) = d.get("/api/checks")?;
            (gone_series && !body.contains(host)).then_some(())
        },
    );
    assert!(
        d.log().contains("discovered targets changed"),
        "{}",
        d.log()
    );
}
