//! The ALB/NLB (ELBv2) source against moto (server mode): an application and a network load
//! balancer, target groups with registered EC2 instances, HTTPS and TLS listeners with ACM
//! certificates, tag filtering, the per-target-group checks, and certificate targets made
//! from the TLS listeners (pointed with `connect_to` at a real TLS server: moto's DNS names
//! resolve nowhere).
//!
//! moto 5.2.5 reports registered running instances `healthy` and stopped ones `unused`; it
//! never reports `unhealthy`, so the unhealthy count is 0 here and its arithmetic is covered
//! by the unit test in src/sources/aws/elbv2.rs.

use crate::common;

use std::time::Duration;

use common::moto::{AWS_ENV, boto, reset};
use common::{Daemon, env, free_port, series_value, wait_for};

#[test]
fn target_groups_listeners_and_checks() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    reset();
    let out = boto(&format!(
        "import boto3, subprocess, tempfile\n\
         kw = dict(endpoint_url='{moto}', region_name='eu-west-1', aws_access_key_id='t', aws_secret_access_key='t')\n\
         d = tempfile.mkdtemp()\n\
         subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '90', '-subj', '/CN=storage.example.com', \
             '-keyout', d + '/k', '-out', d + '/c'], check=True, capture_output=True)\n\
         cert = boto3.client('acm', **kw).import_certificate(Certificate=open(d + '/c', 'rb').read(), PrivateKey=open(d + '/k', 'rb').read())['CertificateArn']\n\
         ec2 = boto3.client('ec2', **kw)\n\
         vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
         s1 = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.1.0/24', AvailabilityZone='eu-west-1a')['Subnet']['SubnetId']\n\
         s2 = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.2.0/24', AvailabilityZone='eu-west-1b')['Subnet']['SubnetId']\n\
         ids = [i['InstanceId'] for i in ec2.run_instances(ImageId='ami-12c6146b', MinCount=5, MaxCount=5, SubnetId=s1)['Instances']]\n\
         elb = boto3.client('elbv2', **kw)\n\
         alb = elb.create_load_balancer(Name='storage-alb', Subnets=[s1, s2], Type='application', Tags=[{{'Key': 'service', 'Value': 'storage'}}])['LoadBalancers'][0]\n\
         nlb = elb.create_load_balancer(Name='webdav-nlb', Subnets=[s1, s2], Type='network', Tags=[{{'Key': 'service', 'Value': 'storage'}}])['LoadBalancers'][0]\n\
         other = elb.create_load_balancer(Name='mail-alb', Subnets=[s1, s2], Type='application', Tags=[{{'Key': 'service', 'Value': 'mail'}}])['LoadBalancers'][0]\n\
         web = elb.create_target_group(Name='storage-web', Protocol='HTTP', Port=8080, VpcId=vpc, TargetType='instance')['TargetGroups'][0]['TargetGroupArn']\n\
         dav = elb.create_target_group(Name='webdav', Protocol='TCP', Port=8443, VpcId=vpc, TargetType='instance')['TargetGroups'][0]['TargetGroupArn']\n\
         elb.register_targets(TargetGroupArn=web, Targets=[{{'Id': i}} for i in ids[:4]])\n\
         elb.register_targets(TargetGroupArn=dav, Targets=[{{'Id': ids[4]}}])\n\
         ec2.stop_instances(InstanceIds=[ids[3], ids[4]])\n\
         fwd = lambda tg: [{{'Type': 'forward', 'TargetGroupArn': tg}}]\n\
         elb.create_listener(LoadBalancerArn=alb['LoadBalancerArn'], Protocol='HTTP', Port=80, DefaultActions=fwd(web))\n\
         elb.create_listener(LoadBalancerArn=alb['LoadBalancerArn'], Protocol='HTTPS', Port=443, Certificates=[{{'CertificateArn': cert}}], DefaultActions=fwd(web))\n\
         elb.create_listener(LoadBalancerArn=nlb['LoadBalancerArn'], Protocol='TLS', Port=8443, Certificates=[{{'CertificateArn': cert}}], DefaultActions=fwd(dav))\n\
         print(cert, alb['DNSName'], nlb['DNSName'], end='')\n"
    ));
    let parts: Vec<&str> = out.split(' ').collect();
    let (cert_arn, alb_dns, nlb_dns) = (parts[0], parts[1], parts[2]);
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, tls) = common::certs::storage_server(dir.path());
    let config = format!(
        "defaults: {{interval: 1s}}\n\
         elbv2:\n\
         \x20 - name: lb-eu\n\
         \x20   region: eu-west-1\n\
         \x20   endpoint_url: '{}'\n\
         \x20   tags: {{service: storage}}\n\
         \x20   listener_certificates:\n\
         \x20     server_names: {{storage-alb: storage.example.com, webdav-nlb: storage.example.com}}\n\
         \x20     ca_file: {}\n\
         \x20     connect_to: {{'{alb_dns}:443': '127.0.0.1:{port}', '{nlb_dns}:8443': '127.0.0.1:{port}'}}\n",
        env("HEADROOM_TEST_AWS_ENDPOINT"),
        ca.pem_path.display(),
        port = tls.port
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let text = wait_for("ELBv2 series", Duration::from_secs(30), || {
        let t = d.metrics();
        t.contains("headroom_elbv2_healthy_targets{").then_some(t)
    });
    let web = "target_group=\"storage-web\"";
    let dav = "target_group=\"webdav\"";
    assert_eq!(
        series_value(&text, "headroom_elbv2_healthy_targets", &[web]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        series_value(&text, "headroom_elbv2_targets", &[web, "state=\"unused\""]),
        Some(1.0)
    );
    assert_eq!(
        series_value(&text, "headroom_elbv2_healthy_targets", &[dav]),
        Some(0.0)
    );
    assert!(
        text.contains("target_group=\"webdav\",load_balancer=\"webdav-nlb\",protocol=\"TCP\",port=\"8443\",target_type=\"instance\""),
        "{text}"
    );
    assert!(
        text.contains("load_balancer=\"storage-alb\",type=\"application\""),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "load_balancer=\"webdav-nlb\",protocol=\"TLS\",port=\"8443\",certificate=\"{cert_arn}\""
        )),
        "{text}"
    );
    // The tag filter left the other team's load balancer out.
    assert!(!text.contains("mail-alb"), "{text}");
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));

    let all = wait_for("the checks", Duration::from_secs(30), || {
        let (_, body) = d.get("/api/checks")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let c: Vec<serde_json::Value> = v["checks"]
            .as_array()?
            .iter()
            .filter(|c| c["has_been_checked"] == true)
            .cloned()
            .collect();
        (c.len() == 6).then_some(c)
    });
    let status = |check: &str, host: &str| {
        all.iter()
            .find(|c| c["check"] == check && c["host"] == host)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {check} on {host}: {all:?}"))
    };
    assert_eq!(status("TG_HEALTHY_HOST_COUNT", "storage-web"), "OK"); // 3 >= 2
    assert_eq!(status("TG_HEALTHY_HOST_COUNT", "webdav"), "CRITICAL"); // 0 < 1
    assert_eq!(status("TG_UNHEALTHY_HOST_COUNT", "storage-web"), "OK");
    assert_eq!(status("TG_UNHEALTHY_HOST_COUNT", "webdav"), "OK");
    // One certificate target per TLS listener (HTTPS on the ALB, TLS on the NLB; not HTTP).
    assert_eq!(status("ELB_CERTIFICATE", "lb-eu/storage-alb:443"), "OK");
    assert_eq!(status("ELB_CERTIFICATE", "lb-eu/webdav-nlb:8443"), "OK");
    assert!(!d.metrics().contains("storage-alb:80"));
}
