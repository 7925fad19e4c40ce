//! Settled CloudWatch data (issue 18, item 4): a datapoint that arrives late for a bucket that
//! was already read changes that bucket's aggregate. A cloudwatch target exports a bucket only
//! `delay` after it closed, so a partial bucket (a Sum too low: a "drop" on a graph) is never
//! exported. Against moto through the CBOR proxy, with 10s periods so the test takes seconds.
//!
//! moto's GetMetricData (moto/cloudwatch/models.py, 5.2) keeps the points with
//! `StartTime <= Timestamp < EndTime`, makes buckets of `Period` from `StartTime` on and
//! stamps each with its start: the same half-open buckets as CloudWatch. A point put with an
//! explicit `Timestamp` lands in the bucket of that timestamp whenever it is put, which is how
//! this test makes a point arrive late.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::env;
use common::moto::reset;
use headroom::config_file as config;
use headroom::model::{Family, Poller, find_value};
use headroom::sources::aws::Clients;
use headroom::sources::aws::cloudwatch::CloudwatchPoller;
use headroom::sources::{SourceConfig, Target};

const PERIOD: u64 = 10;
const DELAY: u64 = 8;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Puts points into moto from one boto3 process, started (and its first request made) before
/// the test's timing windows: a process start with boto3's imports takes a second or more on
/// a busy machine, which the windows (a few seconds each) should not have to hold.
struct Putter {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Putter {
    fn start(run: &str) -> Putter {
        let script = format!(
            "import sys, boto3, datetime\n\
             cw = boto3.client('cloudwatch', endpoint_url='{}', region_name='eu-west-1', aws_access_key_id='test', aws_secret_access_key='test')\n\
             for line in sys.stdin:\n\
             \x20   at, value = line.split()\n\
             \x20   t = datetime.datetime.fromtimestamp(int(at), datetime.timezone.utc)\n\
             \x20   cw.put_metric_data(Namespace='Headroom/Settled', MetricData=[{{'MetricName': 'Requests', 'Dimensions': [{{'Name': 'Run', 'Value': '{run}'}}], 'Timestamp': t, 'Value': float(value)}}])\n\
             \x20   print('put', flush=True)\n",
            env("HEADROOM_TEST_MOTO"),
        );
        let mut child = Command::new(env("HEADROOM_TEST_PYTHON"))
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Putter {
            child,
            stdin,
            stdout,
        }
    }

    /// Puts `value` for `Requests{Run=run}` at the Unix time `at`, and waits until moto took it.
    fn put(&mut self, at: u64, value: f64) {
        writeln!(self.stdin, "{at} {value}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "put",
            "boto3 did not put the point (its error is above)"
        );
    }
}

impl Drop for Putter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cloudwatch target reading `Sum` of `Requests{Run=run}` in 10s periods over `length`
/// seconds, with `delay`.
fn poller(run: &str, length: u64, delay: u64) -> CloudwatchPoller {
    let src = format!(
        "cloudwatch:\n  - name: settled\n    region: eu-west-1\n    endpoint_url: {}\n    \
         period: {PERIOD}s\n    length: {length}s\n    delay: {delay}s\n    metrics:\n      \
         - {{namespace: Headroom/Settled, name: Requests, dimensions: {{Run: {run}}}, statistics: [Sum]}}\n",
        env("HEADROOM_TEST_AWS_ENDPOINT")
    );
    let cfg =
        config::parse(std::path::Path::new("settled.yaml"), &src).unwrap_or_else(|e| panic!("{e}"));
    let t: Target = cfg.targets.into_iter().next().unwrap();
    match &t.source {
        SourceConfig::Cloudwatch(s) => CloudwatchPoller::new(s, t.interval, &Clients::default()),
        _ => unreachable!(),
    }
}

fn sum(f: &[Family]) -> Option<f64> {
    find_value(f, "aws_headroom_settled_requests_sum", &[])
}

async fn sleep_until(t: f64) {
    let wait = t - now();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
}

#[test]
fn a_bucket_is_exported_only_once_it_has_settled() {
    let _moto = common::lock::moto();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(settled());
}

async fn settled() {
    reset();
    let run = format!("r{}", std::process::id());
    // `delay: 0s` reads a bucket as soon as it has closed; the default-like delay waits.
    let eager = poller(&run, 30, 0);
    let settled = poller(&run, 30, DELAY);
    // A window that is not whole periods long: its start is rounded down to a period
    // boundary, so its buckets are the same as the others'. (Starting it unaligned made moto
    // cut its buckets from there, and the newest of them held only the late point: 5.)
    let unaligned = poller(&run, 25, DELAY);
    // A point an hour back, out of every window the targets read: boto3's first request
    // (loading the service's model) is made here, not in a window.
    let mut putter = Putter::start(&run);
    putter.put(now() as u64 - 3600, 1.0);

    // Start early in a bucket, so that the first point is put while its bucket is open.
    let mut t = now();
    if t % PERIOD as f64 > 2.0 {
        sleep_until((t / PERIOD as f64).ceil() * PERIOD as f64 + 0.2).await;
        t = now();
    }
    let b = (t as u64) / PERIOD * PERIOD;
    putter.put(b + 1, 10.0);

    // The bucket is still open: neither target exports it.
    let f = eager.poll().await.unwrap().families;
    assert_eq!(sum(&f), None, "the open bucket was exported: {f:?}");
    assert_eq!(sum(&settled.poll().await.unwrap().families), None);
    assert_eq!(sum(&unaligned.poll().await.unwrap().families), None);

    // Closed but not settled: read at once, the bucket has only the first point.
    sleep_until((b + PERIOD) as f64 + 0.3).await;
    assert_eq!(sum(&eager.poll().await.unwrap().families), Some(10.0));
    assert_eq!(sum(&settled.poll().await.unwrap().families), None);

    // A point of that bucket arrives late (CloudWatch accepts points for past timestamps):
    // the bucket read at once changes from 10 to 15 after it was exported.
    putter.put(b + PERIOD - 1, 5.0);
    assert!(
        now() < (b + PERIOD + DELAY) as f64,
        "the late point took too long to put; the test's timing does not hold"
    );
    assert_eq!(sum(&eager.poll().await.unwrap().families), Some(15.0));
    assert_eq!(
        sum(&settled.poll().await.unwrap().families),
        None,
        "the bucket was exported before it settled"
    );

    // `delay` after the bucket closed: the settled target exports it, whole, the first time.
    sleep_until((b + PERIOD + DELAY) as f64 + 0.3).await;
    let f = settled.poll().await.unwrap().families;
    assert_eq!(sum(&f), Some(15.0), "{f:?}");
    assert_eq!(sum(&unaligned.poll().await.unwrap().families), Some(15.0));
    // The age is counted from the bucket's start: at least a period and the delay.
    let age = find_value(
        &f,
        "headroom_cloudwatch_datapoint_age_seconds",
        &[("series", "aws_headroom_settled_requests_sum")],
    )
    .unwrap();
    assert!(
        age >= (PERIOD + DELAY) as f64 && age < (PERIOD + DELAY + 5) as f64,
        "{age}"
    );
}
