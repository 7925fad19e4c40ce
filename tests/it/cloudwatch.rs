//! The CloudWatch source against moto (server mode, from PyPI) through the test harness's
//! CBOR-to-JSON proxy (scripts/lib/cw_cbor_proxy.py): moto does not speak the CBOR protocol
//! of the current aws-sdk-cloudwatch (moto issue 9195); real AWS speaks both.

use crate::common;

use std::process::Command;

use common::moto::{AWS_ENV, boto, reset};
use common::{env, free_port};
use headroom::config_file as config;
use headroom::model::Poller;
use headroom::model::find_value;
use headroom::sources::aws::Clients;
use headroom::sources::aws::cloudwatch::CloudwatchPoller;
use headroom::sources::{SourceConfig, Target};

/// Puts datapoints into moto with boto3 (moto's own client) four minutes in the past, inside
/// the default window (5 periods ending 2 minutes ago).
fn put(namespace: &str, metric: &str, dim: (&str, &str), values: &[f64]) {
    let script = format!(
        "import boto3, datetime\n\
         cw = boto3.client('cloudwatch', endpoint_url='{}', region_name='eu-west-1', aws_access_key_id='test', aws_secret_access_key='test')\n\
         t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)\n\
         cw.put_metric_data(Namespace='{namespace}', MetricData=[{{'MetricName': '{metric}', 'Dimensions': [{{'Name': '{}', 'Value': '{}'}}], 'Timestamp': t, 'Value': v}} for v in {values:?}])\n",
        env("HEADROOM_TEST_MOTO"),
        dim.0,
        dim.1
    );
    boto(&script);
}

fn target(yaml_metrics: &str, endpoint: &str) -> Target {
    let src = format!(
        "cloudwatch:\n  - name: aws-eu\n    region: eu-west-1\n    endpoint_url: {endpoint}\n    metrics:\n{yaml_metrics}"
    );
    let cfg =
        config::parse(std::path::Path::new("cw.yaml"), &src).unwrap_or_else(|e| panic!("{e}"));
    cfg.targets.into_iter().next().unwrap()
}

fn poller(t: &Target) -> CloudwatchPoller {
    match &t.source {
        SourceConfig::Cloudwatch(s) => CloudwatchPoller::new(s, t.interval, &Clients::default()),
        _ => unreachable!(),
    }
}

/// One test function: the AWS credentials come from the environment (`AWS_ENV`, which
/// main.rs sets for the whole test binary).
#[test]
fn cloudwatch_against_moto() {
    let _moto = common::lock::moto();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(against_moto());
}

async fn against_moto() {
    reset();
    put(
        "AWS/ELB",
        "Latency",
        ("LoadBalancerName", "osdp-storage-elb"),
        &[0.1, 0.3],
    );
    put(
        "AWS/ELB",
        "HealthyHostCount",
        ("LoadBalancerName", "osdp-storage-elb"),
        &[4.0],
    );
    put(
        "AWS/ElastiCache",
        "CPUUtilization",
        ("CacheClusterId", "osdp-memc-0001"),
        &[3.0],
    );

    let metrics = [
        "{namespace: AWS/ELB, name: Latency, dimensions: {LoadBalancerName: osdp-storage-elb}, statistics: [Average, Maximum, SampleCount]}",
        "{namespace: AWS/ELB, name: HealthyHostCount, dimensions: {LoadBalancerName: osdp-storage-elb}, statistics: [Minimum]}",
        "{namespace: AWS/ElastiCache, name: CPUUtilization, dimensions: {CacheClusterId: osdp-memc-0001}, statistics: [Average]}",
        "{namespace: AWS/ELB, name: RequestCount, dimensions: {LoadBalancerName: osdp-storage-elb}, statistics: [Sum], nil_to_zero: true}",
        "{namespace: AWS/ELB, name: SurgeQueueLength, dimensions: {LoadBalancerName: osdp-storage-elb}, statistics: [Maximum]}",
    ];
    let yaml: String = metrics.iter().map(|m| format!("      - {m}\n")).collect();
    let t = target(&yaml, &env("HEADROOM_TEST_AWS_ENDPOINT"));
    let p = poller(&t);
    let f = p.poll().await.unwrap().families;
    let lb = [
        ("dimension_LoadBalancerName", "osdp-storage-elb"),
        ("region", "eu-west-1"),
    ];
    assert_eq!(find_value(&f, "aws_elb_latency_average", &lb), Some(0.2));
    assert_eq!(find_value(&f, "aws_elb_latency_maximum", &lb), Some(0.3));
    assert_eq!(
        find_value(&f, "aws_elb_latency_sample_count", &lb),
        Some(2.0)
    );
    assert_eq!(
        find_value(&f, "aws_elb_healthy_host_count_minimum", &lb),
        Some(4.0)
    );
    assert_eq!(
        find_value(
            &f,
            "aws_elasticache_cpuutilization_average",
            &[("dimension_CacheClusterId", "osdp-memc-0001")]
        ),
        Some(3.0)
    );
    // No data: 0 where configured (a count), absent otherwise (a gauge: UNKNOWN for checks).
    assert_eq!(find_value(&f, "aws_elb_request_count_sum", &lb), Some(0.0));
    assert_eq!(
        find_value(&f, "aws_elb_surge_queue_length_maximum", &lb),
        None
    );
    let age = find_value(
        &f,
        "headroom_cloudwatch_datapoint_age_seconds",
        &[("series", "aws_elb_latency_average")],
    )
    .unwrap();
    assert!((200.0..=400.0).contains(&age), "datapoint age {age}");
    // 7 queries in one call, billed as 5 metrics.
    assert_eq!(
        find_value(
            &f,
            "headroom_aws_requests",
            &[("operation", "GetMetricData")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find_value(&f, "headroom_cloudwatch_metrics_requested", &[]),
        Some(7.0)
    );
    assert_eq!(p.plan().billed_metrics, 5);

    // 1,200 queries make exactly 3 GetMetricData calls, counted by headroom's own counter.
    let many: String = (0..400)
        .map(|i| format!("      - {{namespace: AWS/ELB, name: Latency, dimensions: {{LoadBalancerName: lb-{i}}}, statistics: [Average, Maximum, Minimum]}}\n"))
        .collect();
    let p = poller(&target(&many, &env("HEADROOM_TEST_AWS_ENDPOINT")));
    let f = p.poll().await.unwrap().families;
    assert_eq!(
        find_value(
            &f,
            "headroom_aws_requests",
            &[("operation", "GetMetricData")]
        ),
        Some(3.0)
    );
    assert_eq!(
        find_value(&f, "headroom_cloudwatch_metrics_requested", &[]),
        Some(1200.0)
    );
    // $0.01 per 1,000 metrics: 400 billed metrics every 15 s for 30 days.
    let cost = find_value(&f, "headroom_cloudwatch_estimated_cost_usd_per_month", &[]).unwrap();
    assert!(
        (cost - 400.0 * 172_800.0 * 0.01 / 1000.0).abs() < 0.01,
        "{cost}"
    );

    // A dead endpoint: the poll fails with the reason, the error is counted by code.
    let p = poller(&target(
        "      - {namespace: AWS/ELB, name: Latency, statistics: [Average]}\n",
        &format!("http://127.0.0.1:{}", free_port()),
    ));
    let err = p.poll().await.unwrap_err();
    assert!(
        err.message.contains("every GetMetricData call failed"),
        "{err}"
    );

    percentiles().await;
}

/// Percentiles. moto answers HTTP 500 to a GetMetricData query with a percentile statistic,
/// so this part runs against a stub that answers GetMetricData in the AWS JSON 1.0 protocol
/// with the response shape of the CloudWatch API reference (MetricDataResults with Id,
/// Label, Timestamps, Values, StatusCode), behind the same CBOR proxy the moto tests use. It
/// checks what headroom sends (the statistic as given, `p99`, `p99.9`), how it names what
/// comes back (YACE's names), and that it follows NextToken (the stub answers in two pages).
async fn percentiles() {
    use std::io::Write;
    let stub = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stub_port = stub.local_addr().unwrap().port();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in stub.incoming() {
            let Ok(mut stream) = stream else { continue };
            let body = common::read_http_request(&stream);
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as f64;
            // Two pages: the first query's result with a NextToken, then the others.
            let second_page = req["NextToken"] == "page-2";
            let results: Vec<serde_json::Value> = req["MetricDataQueries"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter(|(i, _)| (*i == 0) != second_page)
                .map(|(_, q)| {
                    let stat = q["MetricStat"]["Stat"].as_str().unwrap_or("").to_owned();
                    seen2.lock().unwrap().push(stat.clone());
                    let v = match stat.as_str() {
                        "p99" => 0.734,
                        "p99.9" => 1.5,
                        _ => 0.125,
                    };
                    serde_json::json!({"Id": q["Id"], "Label": "Latency", "Timestamps": [now - 180.0],
                        "Values": [v], "StatusCode": "Complete"})
                })
                .collect();
            let mut out = serde_json::json!({"MetricDataResults": results, "Messages": []});
            if !second_page {
                out["NextToken"] = "page-2".into();
            }
            let out = out.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                out.len()
            );
        }
    });
    let proxy_port = free_port();
    let mut proxy = Command::new(env("HEADROOM_TEST_PYTHON"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/lib/cw_cbor_proxy.py"
        ))
        .arg(proxy_port.to_string())
        .arg(format!("http://127.0.0.1:{stub_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for("the proxy", std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", proxy_port)).ok()
    });
    let p = poller(&target(
        "      - {namespace: AWS/ELB, name: Latency, dimensions: {LoadBalancerName: osdp-storage-elb}, statistics: [Average, p99, p99.9]}\n",
        &format!("http://127.0.0.1:{proxy_port}"),
    ));
    let f = p.poll().await;
    let _ = proxy.kill();
    let _ = proxy.wait();
    let f = f.unwrap().families;
    let mut stats = seen.lock().unwrap().clone();
    stats.sort();
    assert_eq!(stats, ["Average", "p99", "p99.9"]);
    let lb = [("dimension_LoadBalancerName", "osdp-storage-elb")];
    assert_eq!(find_value(&f, "aws_elb_latency_p99", &lb), Some(0.734));
    assert_eq!(find_value(&f, "aws_elb_latency_p99_9", &lb), Some(1.5));
    assert_eq!(find_value(&f, "aws_elb_latency_average", &lb), Some(0.125));
    // Three statistics of one metric: one billed metric.
    assert_eq!(p.plan().billed_metrics, 1);
    // NextToken was followed: two requests for one call, its queries billed once.
    assert_eq!(
        find_value(
            &f,
            "headroom_aws_requests",
            &[("operation", "GetMetricData")]
        ),
        Some(2.0)
    );
    assert_eq!(
        find_value(&f, "headroom_cloudwatch_metrics_requested", &[]),
        Some(3.0)
    );
}

/// The daemon: the shipped LATENCY check runs once per load balancer found in the CloudWatch
/// series (the ELB is the host, as on a Nagios status screen), with `Latency = <value>s` output.
#[test]
fn per_resource_checks_follow_the_load_balancers() {
    let _moto = common::lock::moto();
    reset();
    put(
        "AWS/ELB",
        "Latency",
        ("LoadBalancerName", "osdp-webdav-elb"),
        &[0.5],
    );
    put(
        "AWS/ELB",
        "Latency",
        ("LoadBalancerName", "osdp-rest-elb"),
        &[2.0],
    );
    let config = format!(
        "cloudwatch:\n  - name: aws-eu\n    region: eu-west-1\n    interval: 1s\n    endpoint_url: {}\n    metrics:\n\
         \x20     - {{namespace: AWS/ELB, name: Latency, dimensions: {{LoadBalancerName: osdp-webdav-elb}}, statistics: [Average]}}\n\
         \x20     - {{namespace: AWS/ELB, name: Latency, dimensions: {{LoadBalancerName: osdp-rest-elb}}, statistics: [Average]}}\n",
        env("HEADROOM_TEST_AWS_ENDPOINT")
    );
    let d = common::Daemon::start(free_port(), &config, &AWS_ENV);
    let checks = common::wait_for(
        "LATENCY on both load balancers",
        std::time::Duration::from_secs(30),
        || {
            let (_, body) = d.get("/api/checks")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let lat: Vec<serde_json::Value> = v["checks"]
                .as_array()?
                .iter()
                .filter(|c| c["check"] == "LATENCY" && c["has_been_checked"] == true)
                .cloned()
                .collect();
            (lat.len() == 2).then_some(lat)
        },
    );
    let by_host = |h: &str| checks.iter().find(|c| c["host"] == h).cloned().unwrap();
    let ok = by_host("osdp-webdav-elb");
    assert_eq!(ok["status"], "OK", "{ok}");
    assert!(
        ok["output"]
            .as_str()
            .unwrap()
            .starts_with("OK: Latency = 500ms"),
        "{ok}"
    );
    // 2 s is above the shipped WARNING threshold (1 s).
    let slow = by_host("osdp-rest-elb");
    assert_eq!(slow["status"], "WARNING", "{slow}");
    let text = d.metrics();
    assert_eq!(
        common::series_value(
            &text,
            "headroom_check_value",
            &["check=\"LATENCY\"", "host=\"osdp-rest-elb\""]
        ),
        Some(2.0)
    );

    // The same check as a plugin, on one resource.
    let run = |host: &str| {
        Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["check", "LATENCY", "--config"])
            .arg(d.config_path())
            .args(["--host", host])
            .envs(AWS_ENV)
            .output()
            .unwrap()
    };
    let out = run("osdp-rest-elb");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("WARNING: Latency = 2s | 'latency'=2s;1;5"),
        "{stdout}"
    );
    let out = run("no-such-elb");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with("UNKNOWN: no \"no-such-elb\" among the LATENCY resources"),
        "{stdout}"
    );
}
