//! The AWS client factory: what every AWS poller gets its SDK clients and its turns to call
//! AWS from (the model is YACE's `pkg/clients`: a caching factory, and a limiter that goes
//! with the client).
//!
//! - One [`SdkConfig`] per (region, endpoint, role) for the whole process: the default
//!   credential chain and the AssumeRole of a role run once per key, and every client built
//!   on that config shares its credentials cache, however many targets use the key.
//! - One [`Limiter`] on AWS calls in flight over every AWS target
//!   (`aws.max_concurrent_requests`), whose limit a reload can change.
//!
//! The app builds one [`Clients`] and hands it to the pollers; a poller asks it for a
//! [`Limited`] client of each service it calls, whose [`Limited::turn`] waits for a permit
//! and then gives the client.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use aws_config::SdkConfig;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use super::{Access, ApiCounters, DEFAULT_CONCURRENCY, RetryCounter};

/// The factory. Cheap to clone: clones share the cache and the limiter.
#[derive(Debug, Clone)]
pub struct Clients {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Each key's configuration, loaded once (concurrent first users wait for the one load).
    configs: Mutex<HashMap<Access, Arc<OnceCell<Arc<SdkConfig>>>>>,
    /// How many configurations have been loaded.
    loads: AtomicUsize,
    limiter: Limiter,
}

impl Default for Clients {
    /// A factory with the default limit (`headroom check`, which polls one target once).
    fn default() -> Self {
        Clients::new(DEFAULT_CONCURRENCY)
    }
}

impl Clients {
    /// A factory whose limiter lets `max_concurrent_requests` AWS calls be in flight at once.
    pub fn new(max_concurrent_requests: usize) -> Self {
        Clients {
            inner: Arc::new(Inner {
                configs: Mutex::default(),
                loads: AtomicUsize::new(0),
                limiter: Limiter::new(max_concurrent_requests),
            }),
        }
    }

    /// Changes the limit of AWS calls in flight (a reload with a new
    /// `aws.max_concurrent_requests`); see [`Limiter::set_limit`].
    pub fn set_limit(&self, max_concurrent_requests: usize) {
        self.inner.limiter.set_limit(max_concurrent_requests);
    }

    /// The current limit of AWS calls in flight.
    pub fn limit(&self) -> usize {
        self.inner.limiter.limit()
    }

    /// The limiter every client of this factory takes its turns from.
    pub fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// The SDK configuration of `access`: loaded at the first call for its (region,
    /// endpoint, role), the same one after that.
    pub async fn sdk_config(&self, access: &Access) -> Arc<SdkConfig> {
        let cell = self
            .inner
            .configs
            .lock()
            .entry(access.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            self.inner.loads.fetch_add(1, Ordering::Relaxed);
            Arc::new(load(access).await)
        })
        .await
        .clone()
    }

    /// How many SDK configurations this factory has loaded (one per key used).
    pub fn loads(&self) -> usize {
        self.inner.loads.load(Ordering::Relaxed)
    }

    /// A poller's client of service `C` for `access`, counting its SDK retries in `api`. The
    /// client is built at its first turn, on the shared configuration of `access`.
    pub fn client<C: Service>(&self, access: &Access, api: &ApiCounters) -> Limited<C> {
        Limited {
            clients: self.clone(),
            access: access.clone(),
            api: api.clone(),
            client: OnceCell::new(),
        }
    }
}

/// The SDK configuration of one key: the SDK's default credential chain (environment,
/// profile, web identity, ECS, IMDSv2 instance role), the region and endpoint, and the role
/// assumed on top, if any.
async fn load(a: &Access) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(a.region.clone()));
    if let Some(url) = &a.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    match &a.role_arn {
        None => base,
        Some(arn) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name("headroom")
                .configure(&base)
                .build()
                .await;
            base.into_builder()
                .credentials_provider(aws_sdk_cloudwatch::config::SharedCredentialsProvider::new(
                    provider,
                ))
                .build()
        }
    }
}

/// An AWS SDK client the factory can build.
pub trait Service: Send + Sync + Sized + 'static {
    /// The `service` label of its retries.
    const NAME: &'static str;

    /// A client on `config` whose retries `retries` counts.
    fn build(config: &SdkConfig, retries: RetryCounter) -> Self;
}

macro_rules! service {
    ($sdk:ident, $name:literal) => {
        impl Service for $sdk::Client {
            const NAME: &'static str = $name;

            fn build(config: &SdkConfig, retries: RetryCounter) -> Self {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .interceptor(retries)
                        .build(),
                )
            }
        }
    };
}

service!(aws_sdk_cloudwatch, "cloudwatch");
service!(aws_sdk_rds, "rds");
service!(aws_sdk_elasticloadbalancing, "elasticloadbalancing");
service!(aws_sdk_elasticloadbalancingv2, "elasticloadbalancingv2");
service!(aws_sdk_elasticache, "elasticache");
service!(aws_sdk_route53, "route53");
service!(aws_sdk_iam, "iam");
service!(aws_sdk_ec2, "ec2");
service!(aws_sdk_cloudtrail, "cloudtrail");
service!(aws_sdk_config, "config");
service!(aws_sdk_resourcegroupstagging, "tagging");
service!(aws_sdk_sts, "sts");

/// S3 with an endpoint override (moto, a VPC endpoint by IP) addresses buckets by path:
/// virtual-hosted names (`bucket.host`) do not resolve there.
impl Service for aws_sdk_s3::Client {
    const NAME: &'static str = "s3";

    fn build(config: &SdkConfig, retries: RetryCounter) -> Self {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .force_path_style(config.endpoint_url().is_some())
                .interceptor(retries)
                .build(),
        )
    }
}

/// One poller's client of one service, with the factory's limiter: [`Limited::turn`] waits
/// for a permit, then gives the client (built at the first turn).
pub struct Limited<C> {
    clients: Clients,
    access: Access,
    api: ApiCounters,
    client: OnceCell<C>,
}

impl<C> std::fmt::Debug for Limited<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited")
            .field("access", &self.access)
            .field("built", &self.client.initialized())
            .finish_non_exhaustive()
    }
}

impl<C: Service> Limited<C> {
    /// Waits for a turn to call AWS, and gives the client for it. The turn lasts as long as
    /// the [`Turn`]: an AWS poll holds one for its duration (a target's calls are sequential,
    /// so polls in flight bound calls in flight).
    pub async fn turn(&self) -> Turn<'_, C> {
        let permit = self.clients.limiter().acquire().await;
        let client = self
            .client
            .get_or_init(|| async {
                C::build(
                    &*self.clients.sdk_config(&self.access).await,
                    self.api.retry_counter(C::NAME),
                )
            })
            .await;
        Turn {
            client,
            _permit: permit,
        }
    }
}

/// A client and a permit to call AWS with it; dereferences to the client.
#[derive(Debug)]
pub struct Turn<'a, C> {
    client: &'a C,
    _permit: Permit,
}

impl<C> Deref for Turn<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client
    }
}

/// At most `limit` permits held at once; the limit can change while permits are held.
/// Raising it frees the new permits at once; lowering it removes free permits at once and
/// takes back held ones as they are returned, so permits held never exceed the old limit and,
/// once enough have been returned, never the new one.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<LimiterInner>,
}

#[derive(Debug)]
struct LimiterInner {
    semaphore: Arc<Semaphore>,
    counts: Mutex<Counts>,
}

#[derive(Debug)]
struct Counts {
    /// What the permits should number.
    limit: usize,
    /// What they number: free in the semaphore plus held.
    issued: usize,
}

impl Limiter {
    /// A limiter of `limit` permits (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Limiter {
            inner: Arc::new(LimiterInner {
                semaphore: Arc::new(Semaphore::new(limit)),
                counts: Mutex::new(Counts {
                    limit,
                    issued: limit,
                }),
            }),
        }
    }

    pub fn limit(&self) -> usize {
        self.inner.counts().limit
    }

    /// Makes the limit `limit` (at least one). Permits held stay valid.
    pub fn set_limit(&self, limit: usize) {
        let limit = limit.max(1);
        let mut c = self.inner.counts();
        c.limit = limit;
        if c.issued < limit {
            self.inner.semaphore.add_permits(limit - c.issued);
            c.issued = limit;
        } else if c.issued > limit {
            c.issued -= self.inner.semaphore.forget_permits(c.issued - limit);
        }
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> Permit {
        let permit = self
            .inner
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the AWS limiter is never closed");
        Permit {
            permit: Some(permit),
            limiter: self.inner.clone(),
        }
    }

    /// A permit if one is free now.
    pub fn try_acquire(&self) -> Option<Permit> {
        let permit = self.inner.semaphore.clone().try_acquire_owned().ok()?;
        Some(Permit {
            permit: Some(permit),
            limiter: self.inner.clone(),
        })
    }
}

impl LimiterInner {
    fn counts(&self) -> parking_lot::MutexGuard<'_, Counts> {
        self.counts.lock()
    }
}

/// A turn to call AWS, until dropped. Returned to the limiter, or retired if the limit has
/// been lowered below the permits issued.
#[derive(Debug)]
pub struct Permit {
    permit: Option<OwnedSemaphorePermit>,
    limiter: Arc<LimiterInner>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut c = self.limiter.counts();
        if c.issued > c.limit {
            permit.forget();
            c.issued -= 1;
        } else {
            drop(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(region: &str, endpoint: Option<&str>, role: Option<&str>) -> Access {
        Access {
            region: region.into(),
            endpoint_url: endpoint.map(str::to_owned),
            role_arn: role.map(str::to_owned),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn one_config_per_region_endpoint_and_role() {
        rt().block_on(async {
            let clients = Clients::new(5);
            let a = access("eu-west-1", Some("http://127.0.0.1:1"), None);
            // Concurrent first users wait for the one load.
            let (x, y) = tokio::join!(clients.sdk_config(&a), clients.sdk_config(&a));
            assert!(Arc::ptr_eq(&x, &y));
            assert!(Arc::ptr_eq(&x, &clients.sdk_config(&a.clone()).await));
            assert_eq!(clients.loads(), 1);
            // A clone of the factory shares its cache.
            assert!(Arc::ptr_eq(&x, &clients.clone().sdk_config(&a).await));
            assert_eq!(clients.loads(), 1);

            let role = "arn:aws:iam::123456789012:role/r";
            let others = [
                access("us-east-1", Some("http://127.0.0.1:1"), None),
                access("eu-west-1", Some("http://127.0.0.1:2"), None),
                access("eu-west-1", None, None),
                access("eu-west-1", Some("http://127.0.0.1:1"), Some(role)),
            ];
            for (n, o) in others.iter().enumerate() {
                let c = clients.sdk_config(o).await;
                assert!(!Arc::ptr_eq(&x, &c), "{o:?}");
                assert_eq!(clients.loads(), n + 2);
                assert_eq!(
                    c.region().map(|r| r.as_ref()),
                    Some(o.region.as_str()),
                    "{o:?}"
                );
                assert_eq!(c.endpoint_url(), o.endpoint_url.as_deref(), "{o:?}");
            }
            for o in &others {
                clients.sdk_config(o).await;
            }
            assert_eq!(clients.loads(), 5);
            // A separate factory has a cache of its own.
            assert!(!Arc::ptr_eq(&x, &Clients::new(5).sdk_config(&a).await));
        });
    }

    #[test]
    fn pollers_clients_share_the_config_of_their_key() {
        rt().block_on(async {
            let clients = Clients::new(5);
            let a = access("eu-west-1", Some("http://127.0.0.1:1"), None);
            let cw: Limited<aws_sdk_cloudwatch::Client> =
                clients.client(&a, &ApiCounters::default());
            let rds: Limited<aws_sdk_rds::Client> = clients.client(&a, &ApiCounters::default());
            let other: Limited<aws_sdk_rds::Client> = clients.client(
                &access("us-east-1", Some("http://127.0.0.1:1"), None),
                &ApiCounters::default(),
            );
            assert_eq!(clients.loads(), 0, "nothing loads before the first turn");
            {
                let c = cw.turn().await;
                assert_eq!(c.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
            }
            rds.turn().await;
            rds.turn().await;
            assert_eq!(clients.loads(), 1);
            other.turn().await;
            assert_eq!(clients.loads(), 2);
            // A turn holds a permit.
            let t = cw.turn().await;
            assert_eq!(clients.limiter().inner.semaphore.available_permits(), 4);
            drop(t);
            assert_eq!(clients.limiter().inner.semaphore.available_permits(), 5);
        });
    }

    /// Takes every permit free now.
    fn take_all(l: &Limiter) -> Vec<Permit> {
        std::iter::from_fn(|| l.try_acquire()).collect()
    }

    #[test]
    fn the_limit_bounds_permits_held_and_can_change() {
        let clients = Clients::new(2);
        let l = clients.limiter();
        assert_eq!(clients.limit(), 2);
        let mut held = take_all(l);
        assert_eq!(held.len(), 2);

        // Raised while held: the new permits are free at once.
        clients.set_limit(4);
        assert_eq!(clients.limit(), 4);
        held.extend(take_all(l));
        assert_eq!(held.len(), 4);

        // Lowered while held: no permit is free until those held are below the new limit.
        clients.set_limit(1);
        assert_eq!(clients.limit(), 1);
        for n in [3, 2, 1] {
            held.pop();
            assert!(l.try_acquire().is_none(), "{n} held");
        }
        held.pop();
        held.extend(take_all(l));
        assert_eq!(held.len(), 1);
        drop(held);
        assert_eq!(take_all(l).len(), 1);

        // Lowered with permits free: they go at once.
        clients.set_limit(3);
        assert_eq!(take_all(l).len(), 3);
        clients.set_limit(2);
        assert_eq!(take_all(l).len(), 2);

        // Lowered, then raised again before the held permits came back.
        let mut held = take_all(l);
        clients.set_limit(1);
        clients.set_limit(3);
        held.extend(take_all(l));
        assert_eq!(held.len(), 3);
        drop(held);
        assert_eq!(take_all(l).len(), 3);

        // Zero means one, as the config's validation has it.
        clients.set_limit(0);
        assert_eq!(take_all(l).len(), 1);
    }

    #[test]
    fn waiters_get_the_permits_a_raised_limit_adds() {
        rt().block_on(async {
            let clients = Clients::new(1);
            let first = clients.limiter().acquire().await;
            let c = clients.clone();
            let second = tokio::spawn(async move { c.limiter().acquire().await });
            tokio::task::yield_now().await;
            assert!(!second.is_finished());
            clients.set_limit(2);
            let second = tokio::time::timeout(std::time::Duration::from_secs(5), second)
                .await
                .expect("a raised limit lets a waiter in")
                .unwrap();
            drop((first, second));
        });
    }
}
