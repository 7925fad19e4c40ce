//! YACE parity on discovered load balancers, against moto (server mode): CloudWatch series of
//! classic (AWS/ELB) and application and network load balancers (AWS/ApplicationELB,
//! AWS/NetworkELB) read through `lb_metrics:` / `nlb_metrics:` with their default metric sets,
//! load balancers selected by tag (`search_tags`, a regular expression on the value), the
//! listed tags as `tag_<Key>` labels with `name` (the ARN) and `account_id`, and one
//! `aws_<namespace>_info` series per load balancer with all its tags.
//!
//! Classic load balancers' tags come from ELB DescribeTags and their account from STS
//! GetCallerIdentity; ALB/NLB tags from the Resource Groups Tagging API (GetResources). moto
//! serves all three, and its account is 123456789012.

use crate::common;

use std::time::Duration;

use common::moto::{AWS_ENV, boto, reset};
use common::{Daemon, env, free_port, series_value};

const ACCOUNT: &str = "123456789012";

#[test]
fn tags_info_and_load_balancer_metrics() {
    let _moto = common::lock::moto();
    let moto = env("HEADROOM_TEST_MOTO");
    reset();
    // Points four minutes old: inside the default window (five periods ending two minutes
    // ago), so settled.
    let out = boto(&format!(
        "import boto3, datetime\n\
         kw = dict(endpoint_url='{moto}', region_name='eu-west-1', aws_access_key_id='t', aws_secret_access_key='t')\n\
         elb = boto3.client('elb', **kw)\n\
         for name, tags in [('web-elb', {{'team': 'storage', 'env': 'prod'}}), ('batch-elb', {{'team': 'batch', 'env': 'dev'}})]:\n\
         \x20   elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=['eu-west-1a'], Listeners=[\
                 {{'Protocol': 'HTTP', 'LoadBalancerPort': 80, 'InstanceProtocol': 'HTTP', 'InstancePort': 8080}}],\
                 Tags=[{{'Key': k, 'Value': v}} for k, v in tags.items()])\n\
         ec2 = boto3.client('ec2', **kw)\n\
         vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
         s1 = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.1.0/24', AvailabilityZone='eu-west-1a')['Subnet']['SubnetId']\n\
         s2 = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.2.0/24', AvailabilityZone='eu-west-1b')['Subnet']['SubnetId']\n\
         v2 = boto3.client('elbv2', **kw)\n\
         def lb(name, kind, tags):\n\
         \x20   return v2.create_load_balancer(Name=name, Subnets=[s1, s2], Type=kind, Tags=[{{'Key': k, 'Value': v}} for k, v in tags.items()])['LoadBalancers'][0]['LoadBalancerArn']\n\
         api = lb('api-alb', 'application', {{'team': 'api', 'env': 'prod'}})\n\
         dev = lb('dev-alb', 'application', {{'team': 'api', 'env': 'dev'}})\n\
         dav = lb('dav-nlb', 'network', {{'env': 'prod-eu', 'cost center': 'cc-7'}})\n\
         dim = lambda arn: arn.split(':loadbalancer/')[1]\n\
         cw = boto3.client('cloudwatch', **kw)\n\
         t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)\n\
         def put(ns, metric, name, value, v):\n\
         \x20   cw.put_metric_data(Namespace=ns, MetricData=[{{'MetricName': metric, 'Dimensions': [{{'Name': name, 'Value': value}}], 'Timestamp': t, 'Value': v}}])\n\
         put('AWS/ELB', 'HTTPCode_Backend_2XX', 'LoadBalancerName', 'web-elb', 40.0)\n\
         put('AWS/ELB', 'HTTPCode_Backend_5XX', 'LoadBalancerName', 'web-elb', 3.0)\n\
         put('AWS/ELB', 'HTTPCode_ELB_5XX', 'LoadBalancerName', 'web-elb', 2.0)\n\
         put('AWS/ELB', 'Latency', 'LoadBalancerName', 'web-elb', 0.25)\n\
         put('AWS/ELB', 'HTTPCode_Backend_2XX', 'LoadBalancerName', 'batch-elb', 99.0)\n\
         put('AWS/ApplicationELB', 'RequestCount', 'LoadBalancer', dim(api), 7.0)\n\
         put('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', 'LoadBalancer', dim(api), 1.0)\n\
         put('AWS/ApplicationELB', 'RequestCount', 'LoadBalancer', dim(dev), 99.0)\n\
         put('AWS/NetworkELB', 'ActiveFlowCount', 'LoadBalancer', dim(dav), 5.0)\n\
         print(api, dav, end='')\n"
    ));
    let (api, dav) = out.split_once(' ').unwrap();
    let endpoint = env("HEADROOM_TEST_AWS_ENDPOINT");
    let tag_config = "    search_tags: [{key: env, value: '^prod'}]\n    exported_tags: [team]\n";
    let config = format!(
        "defaults: {{interval: 1s}}\n\
         elb:\n  - name: classic\n    region: eu-west-1\n    endpoint_url: '{endpoint}'\n{tag_config}    lb_metrics: {{interval: 1s}}\n\
         elbv2:\n  - name: v2\n    region: eu-west-1\n    endpoint_url: '{endpoint}'\n{tag_config}    lb_metrics: {{interval: 1s}}\n    nlb_metrics: {{interval: 1s}}\n"
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        let t = d.metrics();
        if t.contains("aws_elb_httpcode_backend_2_xx_sum{")
            && t.contains("aws_applicationelb_request_count_sum{")
            && t.contains("aws_networkelb_active_flow_count_average{")
        {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the load balancers' series never came:\n{t}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // promtool parses it all; its only complaints are about YACE's names, kept on purpose
    // for the dashboards made for YACE: CamelCase `dimension_`/`tag_` labels (which the age
    // of each series repeats) and `_sum`.
    if let Err(e) = common::promtool_check_metrics(&text) {
        for line in e.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                (line.starts_with("aws_") || line.starts_with("headroom_cloudwatch_datapoint_age"))
                    && (line.contains("should be written in 'snake_case'")
                        || line.contains("should not have \"_sum\" suffix")),
                "promtool: {line}"
            );
        }
    }

    // Classic: the HTTP code counts of the default set, summed, with the ARN, account and
    // the exported tag.
    let web_arn = format!("arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:loadbalancer/web-elb");
    let web = [
        "target=\"classic/cloudwatch\"",
        "dimension_LoadBalancerName=\"web-elb\"",
        &format!("name=\"{web_arn}\""),
        &format!("account_id=\"{ACCOUNT}\""),
        "tag_team=\"storage\"",
    ];
    let v = |name: &str, labels: &[&str]| series_value(&text, name, labels);
    assert_eq!(
        v("aws_elb_httpcode_backend_2_xx_sum", &web),
        Some(40.0),
        "{text}"
    );
    assert_eq!(v("aws_elb_httpcode_backend_5_xx_sum", &web), Some(3.0));
    assert_eq!(v("aws_elb_httpcode_elb_5_xx_sum", &web), Some(2.0));
    assert_eq!(v("aws_elb_latency_average", &web), Some(0.25));
    // env=dev does not match ^prod: neither its series nor its info exist.
    assert!(!text.contains("batch-elb"), "{text}");
    assert_eq!(
        v(
            "aws_elb_info",
            &[
                "target=\"classic\"",
                &format!("name=\"{web_arn}\""),
                "region=\"eu-west-1\"",
                "tag_env=\"prod\"",
                "tag_team=\"storage\""
            ]
        ),
        Some(0.0),
        "{text}"
    );

    // ALB: LoadBalancer is the ARN's app/<name>/<id>.
    let alb = [
        "target=\"v2/cloudwatch\"",
        &format!(
            "dimension_LoadBalancer=\"{}\"",
            api.split_once(":loadbalancer/").unwrap().1
        ),
        &format!("name=\"{api}\""),
        &format!("account_id=\"{ACCOUNT}\""),
        "tag_team=\"api\"",
    ];
    assert_eq!(
        v("aws_applicationelb_request_count_sum", &alb),
        Some(7.0),
        "{text}"
    );
    assert_eq!(
        v("aws_applicationelb_httpcode_target_5_xx_count_sum", &alb),
        Some(1.0)
    );
    assert!(!text.contains("dev-alb"), "{text}");
    // NLB: selected (prod-eu matches ^prod), no team tag: the label is there, empty.
    let nlb = [
        &format!(
            "dimension_LoadBalancer=\"{}\"",
            dav.split_once(":loadbalancer/").unwrap().1
        ),
        &format!("name=\"{dav}\""),
        "tag_team=\"\"",
    ];
    assert_eq!(
        v("aws_networkelb_active_flow_count_average", &nlb),
        Some(5.0),
        "{text}"
    );
    // Every tag on the info series, sanitized as YACE does ("cost center" -> tag_cost_center).
    assert_eq!(
        v(
            "aws_networkelb_info",
            &[
                &format!("name=\"{dav}\""),
                "tag_cost_center=\"cc-7\"",
                "tag_env=\"prod-eu\""
            ]
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        v(
            "aws_applicationelb_info",
            &[&format!("name=\"{api}\""), "tag_team=\"api\""]
        ),
        Some(0.0)
    );
    for op in ["GetResources", "GetCallerIdentity"] {
        assert!(
            v(
                "headroom_aws_requests_total",
                &[&format!("operation=\"{op}\"")]
            )
            .unwrap_or(0.0)
                >= 1.0,
            "{op}: {text}"
        );
    }
}
