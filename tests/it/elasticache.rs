//! The ElastiCache source.
//!
//! moto (5.2.5) lists cache clusters but returns no `CacheNodes` even with
//! `ShowCacheNodeInfo`, so node discovery cannot be tested against it. That part is covered
//! by the DescribeCacheClusters response that AWS documents as its example (example id
//! `describecacheclusters-1475012269754`, "Lists the details for the cache cluster
//! my-mem-cluster", in the ElastiCache API examples shipped with the AWS SDKs): the same
//! cluster and nodes, written out as the API's XML (Query protocol) and served over HTTP by
//! this test. Its node endpoints resolve nowhere, so `connect_to` points them at two real
//! memcached servers. The nodes' CPUUtilization comes from moto's CloudWatch, which does
//! serve it.

use crate::common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::moto::{AWS_ENV, boto, reset};
use common::{Daemon, Memcached, env, free_port, series_value, wait_for};

/// One node of the documented example: (id, availability zone).
pub(crate) const NODES: [(&str, &str); 2] = [("0001", "us-east-1b"), ("0002", "us-east-1a")];

pub(crate) fn node_address(id: &str) -> String {
    format!("my-mem-cluster.ameaqx.{id}.use1.cache.amazonaws.com")
}

/// The documented example's response with the given nodes of it.
pub(crate) fn example_xml(nodes: &[(&str, &str)]) -> String {
    let nodes: String = nodes
        .iter()
        .map(|(id, zone)| {
            format!(
                "<CacheNode><CacheNodeCreateTime>2016-12-21T21:59:43.794Z</CacheNodeCreateTime>\
                 <CacheNodeId>{id}</CacheNodeId><CacheNodeStatus>available</CacheNodeStatus>\
                 <CustomerAvailabilityZone>{zone}</CustomerAvailabilityZone>\
                 <Endpoint><Address>{}</Address><Port>11211</Port></Endpoint>\
                 <ParameterGroupStatus>in-sync</ParameterGroupStatus></CacheNode>",
                node_address(id)
            )
        })
        .collect();
    format!(
        "<DescribeCacheClustersResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
         <DescribeCacheClustersResult><CacheClusters><CacheCluster>\
         <AutoMinorVersionUpgrade>true</AutoMinorVersionUpgrade>\
         <CacheClusterCreateTime>2016-12-21T21:59:43.794Z</CacheClusterCreateTime>\
         <CacheClusterId>my-mem-cluster</CacheClusterId>\
         <CacheClusterStatus>available</CacheClusterStatus>\
         <CacheNodeType>cache.t2.medium</CacheNodeType>\
         <CacheNodes>{nodes}</CacheNodes>\
         <CacheParameterGroup><CacheNodeIdsToReboot/>\
         <CacheParameterGroupName>default.memcached1.4</CacheParameterGroupName>\
         <ParameterApplyStatus>in-sync</ParameterApplyStatus></CacheParameterGroup>\
         <CacheSecurityGroups/><CacheSubnetGroupName>default</CacheSubnetGroupName>\
         <ClientDownloadLandingPage>https://console.aws.amazon.com/elasticache/home#client-download:</ClientDownloadLandingPage>\
         <ConfigurationEndpoint><Address>my-mem-cluster.ameaqx.cfg.use1.cache.amazonaws.com</Address><Port>11211</Port></ConfigurationEndpoint>\
         <Engine>memcached</Engine><EngineVersion>1.4.24</EngineVersion>\
         <NumCacheNodes>{}</NumCacheNodes><PendingModifiedValues/>\
         <PreferredAvailabilityZone>Multiple</PreferredAvailabilityZone>\
         <PreferredMaintenanceWindow>wed:06:00-wed:07:00</PreferredMaintenanceWindow>\
         </CacheCluster></CacheClusters></DescribeCacheClustersResult>\
         <ResponseMetadata><RequestId>5e3d6a2c-0000-4000-8000-000000000000</RequestId></ResponseMetadata>\
         </DescribeCacheClustersResponse>",
        NODES.len()
    )
}

/// A throttling error as the Query protocol returns it (AWS "Query API error responses":
/// `ErrorResponse/Error/{Type,Code,Message}` with HTTP 400; `Throttling` is the code the
/// Query services use for rate limits).
const THROTTLED: &str = "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
    <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
    <RequestId>5e3d6a2c-0000-4000-8000-000000000001</RequestId></ErrorResponse>";

/// Serves `body` (changeable) to every POST, after `throttle` throttling errors; records the
/// request bodies and the most requests it had in hand at once (read and not yet answered).
/// Each connection has a thread of its own, and each answer waits `delay_ms`.
pub(crate) struct ExampleServer {
    pub(crate) port: u16,
    pub(crate) body: Arc<Mutex<String>>,
    requests: Arc<Mutex<Vec<String>>>,
    throttle: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl ExampleServer {
    pub(crate) fn start(body: String) -> ExampleServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(Mutex::new(body));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let throttle = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let shared = (
            body.clone(),
            requests.clone(),
            throttle.clone(),
            delay_ms.clone(),
            max_in_flight.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (b, r, th, delay, max) = shared.clone();
                let in_flight = in_flight.clone();
                std::thread::spawn(move || {
                    let req = common::read_http_request(&stream);
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst) as u64));
                    r.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&req).into_owned());
                    let throttled = th
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let (status, body) = if throttled {
                        ("400 Bad Request", THROTTLED.to_owned())
                    } else {
                        ("200 OK", b.lock().unwrap().clone())
                    };
                    // No longer in flight before the answer goes out: once the client has it,
                    // it releases its permit and may send the next request at once, and that
                    // one must not find this one still counted. So the count is always at most
                    // what the client holds (a request is counted only between reading it
                    // whole and answering it).
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        ExampleServer {
            port,
            body,
            requests,
            throttle,
            delay_ms,
            max_in_flight,
        }
    }
}

pub(crate) fn put_cpu(cluster: &str, node: &str, value: f64) {
    boto(&format!(
        "import boto3, datetime\n\
         cw = boto3.client('cloudwatch', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t')\n\
         t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)\n\
         cw.put_metric_data(Namespace='AWS/ElastiCache', MetricData=[{{'MetricName': 'CPUUtilization', \
             'Dimensions': [{{'Name': 'CacheClusterId', 'Value': '{cluster}'}}, {{'Name': 'CacheNodeId', 'Value': '{node}'}}], \
             'Timestamp': t, 'Value': {value}}}])\n",
        env("HEADROOM_TEST_MOTO")
    ));
}

fn checks(d: &Daemon) -> Option<Vec<serde_json::Value>> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(v["checks"].as_array()?.clone())
}

fn check<'a>(
    all: &'a [serde_json::Value],
    name: &str,
    host: &str,
) -> Option<&'a serde_json::Value> {
    all.iter()
        .find(|c| c["check"] == name && c["host"] == host && c["has_been_checked"] == true)
}

#[test]
fn documented_nodes_become_memcached_targets_and_vanish_with_their_node() {
    let _moto = common::lock::moto();
    reset();
    put_cpu("my-mem-cluster", "0001", 95.0);
    put_cpu("my-mem-cluster", "0002", 12.0);
    let server = ExampleServer::start(example_xml(&NODES));
    let (m1, m2) = (Memcached::start(), Memcached::start());
    let config = format!(
        "defaults: {{interval: 1s}}\n\
         elasticache:\n\
         \x20 - name: cache-us\n\
         \x20   region: us-east-1\n\
         \x20   endpoint_url: http://127.0.0.1:{}\n\
         \x20   nodes:\n\
         \x20     connect_to: {{'{}:11211': '{}', '{}:11211': '{}'}}\n\
         \x20   node_metrics: {{interval: 1s, endpoint_url: '{}'}}\n",
        server.port,
        node_address("0001"),
        m1.address(),
        node_address("0002"),
        m2.address(),
        env("HEADROOM_TEST_AWS_ENDPOINT"),
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let t1 = "target=\"cache-us/my-mem-cluster/0001\"";
    let t2 = "target=\"cache-us/my-mem-cluster/0002\"";
    let text = wait_for("both nodes polled", Duration::from_secs(30), || {
        let t = d.metrics();
        (series_value(&t, "memcached_up", &[t1]) == Some(1.0)
            && series_value(&t, "memcached_up", &[t2]) == Some(1.0))
        .then_some(t)
    });
    // The request asked for node info; without it AWS leaves the endpoints out.
    assert!(
        server.requests.lock().unwrap()[0].contains("ShowCacheNodeInfo=true"),
        "{:?}",
        server.requests.lock().unwrap()
    );
    // Each node is read with `stats` from the server `connect_to` names: an item stored in
    // the first shows on node 0001 only.
    assert_eq!(m1.command("set k 0 0 1\r\nx"), "STORED\r\n");
    wait_for(
        "the item counted on node 0001",
        Duration::from_secs(10),
        || (d.value("memcached_current_items", &[t1]) == Some(1.0)).then_some(()),
    );
    assert_eq!(d.value("memcached_current_items", &[t2]), Some(0.0));
    // A discovered node is in its parent's region, for the dashboards' region variable.
    assert_eq!(
        d.value(
            "headroom_target_info",
            &["source=\"memcached\"", t1, "region=\"us-east-1\""]
        ),
        Some(1.0),
        "{}",
        d.metrics()
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_elasticache_cluster_nodes",
            &["cache_cluster=\"my-mem-cluster\""]
        ),
        Some(2.0)
    );
    assert!(
        text.contains("engine=\"memcached\",engine_version=\"1.4.24\",node_type=\"cache.t2.medium\",status=\"available\""),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "headroom_elasticache_node_info{{target=\"cache-us\",cache_cluster=\"my-mem-cluster\",cache_node=\"0001\",status=\"available\",availability_zone=\"us-east-1b\",address=\"{}:11211\",node_target=\"cache-us/my-mem-cluster/0001\"",
            node_address("0001")
        )),
        "{text}"
    );
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));

    // The shipped memcached checks run on every node, and CPU_UTILIZATION per node from the
    // discovered CloudWatch target.
    let all = wait_for("checks on the nodes", Duration::from_secs(40), || {
        let all = checks(&d)?;
        (check(&all, "MEMCACHE_RESPONSE", "cache-us/my-mem-cluster/0002").is_some()
            && check(&all, "CPU_UTILIZATION", "my-mem-cluster-0001").is_some()
            && check(&all, "CPU_UTILIZATION", "my-mem-cluster-0002").is_some())
        .then_some(all)
    });
    assert_eq!(
        check(&all, "CPU_UTILIZATION", "my-mem-cluster-0001").unwrap()["status"],
        "CRITICAL"
    ); // 95% > 90
    assert_eq!(
        check(&all, "CPU_UTILIZATION", "my-mem-cluster-0002").unwrap()["status"],
        "OK"
    );
    assert_eq!(
        d.value(
            "aws_elasticache_cpuutilization_average",
            &[
                "dimension_CacheNodeId=\"0001\"",
                "target=\"cache-us/cloudwatch\""
            ]
        ),
        Some(95.0)
    );

    // Node 0002 goes from the cluster: its target, series and checks go; 0001 stays.
    *server.body.lock().unwrap() = example_xml(&NODES[..1]);
    wait_for("node 0002 to go", Duration::from_secs(30), || {
        let t = d.metrics();
        let (_, body) = d.get("/api/checks")?;
        (!t.contains("my-mem-cluster/0002")
            && !t.contains("dimension_CacheNodeId=\"0002\"")
            && !body.contains("my-mem-cluster/0002")
            && !body.contains("my-mem-cluster-0002"))
        .then_some(())
    });
    assert_eq!(d.value("memcached_up", &[t1]), Some(1.0));

    // The API fails: the nodes found before are kept (an outage does not drop them), the
    // failure is counted, and the daemon keeps serving.
    *server.body.lock().unwrap() = "not xml".into();
    wait_for("the failed poll counted", Duration::from_secs(30), || {
        (d.value("headroom_elasticache_up", &[]) == Some(0.0)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.value("memcached_up", &[t1]), Some(1.0), "{}", d.metrics());
    drop(m2);
}

#[test]
fn moto_lists_clusters_without_nodes() {
    let _moto = common::lock::moto();
    reset();
    boto(&format!(
        "import boto3\n\
         ec = boto3.client('elasticache', endpoint_url='{}', region_name='eu-west-1', aws_access_key_id='t', aws_secret_access_key='t')\n\
         ec.create_cache_cluster(CacheClusterId='storage-cache', Engine='memcached', CacheNodeType='cache.m5.large', NumCacheNodes=3)\n\
         ec.create_cache_cluster(CacheClusterId='sessions', Engine='redis', CacheNodeType='cache.t3.small', NumCacheNodes=1)\n",
        env("HEADROOM_TEST_MOTO")
    ));
    let config = format!(
        "defaults: {{interval: 1s}}\nelasticache:\n  - {{name: cache-eu, region: eu-west-1, endpoint_url: '{}', clusters: [storage-cache]}}\n",
        env("HEADROOM_TEST_AWS_ENDPOINT")
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let text = wait_for("cluster series", Duration::from_secs(30), || {
        let t = d.metrics();
        t.contains("headroom_elasticache_cluster_nodes{")
            .then_some(t)
    });
    assert_eq!(
        series_value(
            &text,
            "headroom_elasticache_cluster_nodes",
            &["cache_cluster=\"storage-cache\""]
        ),
        Some(3.0),
        "{text}"
    );
    // Only the cluster asked for; moto gives no nodes, so nothing is discovered.
    assert!(!text.contains("sessions"), "{text}");
    assert!(!text.contains("headroom_elasticache_node_info{"), "{text}");
    assert!(!text.contains("cache-eu/"), "{text}");
    assert_eq!(
        series_value(
            &text,
            "headroom_aws_requests_total",
            &["operation=\"DescribeCacheClusters\""]
        )
        .map(|n| n >= 1.0),
        Some(true)
    );
}

#[test]
fn throttling_is_retried_and_counted_by_code() {
    // Five throttles: the first poll's three attempts all fail (the SDK's standard mode makes
    // three), the second poll succeeds on its third attempt.
    let server = ExampleServer::start(example_xml(&NODES));
    server.throttle.store(5, Ordering::SeqCst);
    let config = format!(
        "elasticache:\n  - {{name: cache-us, region: us-east-1, endpoint_url: 'http://127.0.0.1:{}', interval: 1s, timeout: 20s, nodes: {{enabled: false}}, node_metrics: {{metrics: []}}}}\n",
        server.port
    );
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    let text = wait_for(
        "a poll through the throttling",
        Duration::from_secs(60),
        || {
            let t = d.metrics();
            (series_value(&t, "headroom_elasticache_up", &[]) == Some(1.0)).then_some(t)
        },
    );
    let retried = |code: &str| {
        series_value(
            &text,
            "headroom_aws_retries_total",
            &[
                "operation=\"DescribeCacheClusters\"",
                &format!("code=\"{code}\""),
            ],
        )
    };
    assert_eq!(retried("Throttling"), Some(4.0), "{text}");
    assert_eq!(
        series_value(&text, "headroom_aws_errors_total", &["code=\"Throttling\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_poll_errors_total",
            &["target=\"cache-us\"", "kind=\"throttled\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(server.throttle.load(Ordering::SeqCst), 0);
    // 3 + 3 attempts; later polls (interval 1s) may have come since, without retries.
    assert!(server.requests.lock().unwrap().len() >= 6);
}

#[test]
fn calls_in_flight_stay_within_the_limit() {
    // Eight targets polled every second against an API that takes 400 ms to answer: without
    // a limit all eight would be in flight at once.
    let server = ExampleServer::start(example_xml(&NODES));
    server.delay_ms.store(400, Ordering::SeqCst);
    let mut config = String::from("aws: {max_concurrent_requests: 2}\nelasticache:\n");
    for i in 0..8 {
        config.push_str(&format!(
            "  - {{name: c{i}, region: us-east-1, endpoint_url: 'http://127.0.0.1:{}', interval: 1s, timeout: 10s, nodes: {{enabled: false}}, node_metrics: {{metrics: []}}}}\n",
            server.port
        ));
    }
    let d = Daemon::start(free_port(), &config, &AWS_ENV);
    wait_for("twenty calls", Duration::from_secs(60), || {
        (server.requests.lock().unwrap().len() >= 20).then_some(())
    });
    let max = server.max_in_flight.load(Ordering::SeqCst);
    assert_eq!(max, 2, "most calls in flight at once: {max}");
    assert_eq!(
        d.value("headroom_elasticache_up", &["target=\"c7\""]),
        Some(1.0)
    );
}

#[test]
fn a_reload_changes_the_limit_on_calls_in_flight() {
    // Eight targets polled every second against an API that takes a second to answer: a
    // limit of up to eight calls in flight is always reached.
    let server = ExampleServer::start(example_xml(&NODES));
    server.delay_ms.store(1000, Ordering::SeqCst);
    let config = |limit: usize| {
        let mut config = format!("aws: {{max_concurrent_requests: {limit}}}\nelasticache:\n");
        for i in 0..8 {
            config.push_str(&format!(
                "  - {{name: c{i}, region: us-east-1, endpoint_url: 'http://127.0.0.1:{}', interval: 1s, timeout: 30s, nodes: {{enabled: false}}, node_metrics: {{metrics: []}}}}\n",
                server.port
            ));
        }
        config
    };
    let d = Daemon::start(free_port(), &config(2), &AWS_ENV);
    let answered = || server.requests.lock().unwrap().len();
    let wait_answers = |n: usize| {
        let from = answered();
        wait_for("calls answered", Duration::from_secs(60), || {
            (answered() >= from + n).then_some(())
        });
    };
    let reload = |limit: usize, times: usize| {
        std::fs::write(
            d.config_path(),
            format!("listen: 127.0.0.1:{}\n{}", d.port, config(limit)),
        )
        .unwrap();
        d.signal("HUP");
        wait_for("the reload", Duration::from_secs(20), || {
            (d.log()
                .matches("aws.max_concurrent_requests changed")
                .count()
                >= times)
                .then_some(())
        });
    };
    wait_answers(6);
    assert_eq!(server.max_in_flight.load(Ordering::SeqCst), 2);

    // Raised: the new turns are free at once.
    reload(5, 1);
    server.max_in_flight.store(0, Ordering::SeqCst);
    wait_answers(10);
    let max = server.max_in_flight.load(Ordering::SeqCst);
    assert_eq!(
        max, 5,
        "most calls in flight at once after raising the limit to 5: {max}"
    );

    // Lowered: the calls in flight finish (within a second), then one at a time.
    reload(1, 2);
    wait_answers(5);
    server.max_in_flight.store(0, Ordering::SeqCst);
    wait_answers(3);
    let max = server.max_in_flight.load(Ordering::SeqCst);
    assert_eq!(
        max, 1,
        "most calls in flight at once after lowering the limit to 1: {max}"
    );
    assert!(d.log().contains("old=5 new=1"), "{}", d.log());
}
