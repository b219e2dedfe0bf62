//! The warm tier: Redis access through the redis crate, on one server (given, or named by
//! Redis Sentinel) or a Redis Cluster.
//!
//! A single server is reached through a `ConnectionManager`, a cluster through the crate's
//! cluster connection (slot map, MOVED/ASK, failover); both multiplex every command and
//! reconnect by themselves, and both are created lazily so that constructing a cache never
//! waits for (or fails on) Redis. Every command is bounded by `commandTimeout`, so no
//! operation can hang on a dead server.

mod clear;
mod cluster;
mod command;
mod health;
mod pipeline;
mod series;
mod single;
mod tracking;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster::ClusterConfig;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionAddr, ConnectionInfo, RedisError, Value};

pub use self::clear::Cleared;
use self::cluster::{stale_view, ClusterLink, ClusterNode};
pub use self::command::{text, texts, Body, Command};
pub use self::health::{Health, NodeHealth};
pub use self::series::{refused_size, Merge};
use self::single::SingleLink;
pub use self::tracking::{Report, Sink, Tracking};
use crate::error::{describe, CacheError, Credentials, Result};
use crate::options::{Coherence, Settings, Topology};

/// The fixed part of every warm key; the caller's key follows after `warmKeySeparator`
/// (none by default, compat; `:` in the TS service's later, standardized version).
pub const WARM_KEY_INFIX: &str = "stream_cache_warm";
/// Backoff base: three retries stay within ~300 ms, so calls fail fast while Redis is away.
const MIN_RECONNECT_DELAY: Duration = Duration::from_millis(20);
/// Caps the reconnect backoff, so service resumes within about this long of Redis returning.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

#[derive(Clone)]
enum Conn {
    /// One server: given, or named by Redis Sentinel.
    Single(Arc<SingleLink>),
    Cluster(Arc<ClusterLink>),
}

#[derive(Clone)]
pub struct Warm {
    conn: Conn,
    /// `<keyPrefix>stream_cache_warm<warmKeySeparator>`
    prefix: String,
    command_timeout: Duration,
    credentials: Credentials,
    tracking: Arc<Tracking>,
    /// `waitForReplicas`: replicas that must acknowledge a burst's writes (one server only).
    wait_replicas: u32,
}

impl Warm {
    /// Must run inside the tokio runtime; does not touch the network. What Redis reports
    /// about the hot tier's keys goes to `sink`.
    pub fn new(settings: &Settings, sink: Sink) -> Result<Warm> {
        let credentials = Credentials {
            username: settings.redis.username().map(str::to_string),
            secrets: settings.secrets.clone(),
        };
        let prefix =
            format!("{}{}{}", settings.key_prefix, WARM_KEY_INFIX, settings.warm_key_separator);
        let tracked = settings.coherence == Coherence::Tracking;
        let tracking = Tracking::new(tracked, prefix.clone(), sink);
        let protocol = single::protocol(tracked);
        let invalid = |e: RedisError| {
            CacheError::Range(format!("options.redis: {}", describe(&e, &credentials)))
        };
        let conn = match &settings.topology {
            Topology::Single(info) => {
                let link = SingleLink::new(info.clone(), settings, tracked.then_some(&tracking))
                    .map_err(invalid)?;
                Conn::Single(Arc::new(link))
            }
            Topology::Sentinel(sentinel) => {
                let link = SingleLink::sentinel(sentinel, settings, tracked.then_some(&tracking))
                    .map_err(invalid)?;
                Conn::Single(Arc::new(link))
            }
            Topology::Cluster(nodes) => {
                let mut builder = ClusterClientBuilder::new(nodes.clone())
                    .retries(settings.max_retries as u32)
                    .min_retry_wait(MIN_RECONNECT_DELAY.as_millis() as u64)
                    .max_retry_wait(MAX_RECONNECT_DELAY.as_millis() as u64)
                    .use_protocol(protocol);
                if tracked {
                    builder = builder.push_sender(tracking.push_sender());
                }
                if let Some(user) = settings.redis.username() {
                    builder = builder.username(user);
                }
                if let Some(password) = settings.redis.password() {
                    builder = builder.password(password);
                }
                if let Some(tls) = &settings.tls {
                    builder = builder.certs(tls.certificates.clone()).tls(tls.mode());
                }
                let config = ClusterConfig::new()
                    .set_connection_timeout(settings.connect_timeout)
                    .set_response_timeout(settings.command_timeout);
                let client = builder.build().map_err(invalid)?;
                let link =
                    ClusterLink::new(client, config, settings.command_timeout, tracking.clone());
                Conn::Cluster(Arc::new(link))
            }
        };
        Ok(Warm {
            conn,
            prefix,
            command_timeout: settings.command_timeout,
            credentials,
            tracking,
            wait_replicas: settings.wait_for_replicas,
        })
    }

    /// Tracking was lost and a try to enable it again failed.
    pub fn tracking_retry_due(&self) -> bool {
        self.tracking.retry_due()
    }

    /// The coherence in force: `tracking`, unless the server refused it.
    pub fn coherence(&self) -> Coherence {
        if self.tracking.in_force() {
            Coherence::Tracking
        } else {
            Coherence::Ttl
        }
    }

    pub fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    fn timeout(&self) -> CacheError {
        CacheError::Timeout { after_ms: self.command_timeout.as_millis() as u64 }
    }

    fn failed(&self, e: &RedisError) -> CacheError {
        if e.is_timeout() {
            self.timeout()
        } else {
            CacheError::Redis(describe(e, &self.credentials))
        }
    }

    async fn run<T, F>(&self, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, RedisError>>,
    {
        self.run_within(self.command_timeout, fut).await
    }

    async fn run_within<T, F>(&self, limit: Duration, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, RedisError>>,
    {
        let (result, stale) = match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => (Ok(v), false),
            Ok(Err(e)) => {
                self.notice(&e);
                (Err(self.failed(&e)), stale_view(&e))
            }
            Err(_) => {
                let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
                self.notice(&timed_out.into());
                (Err(self.timeout()), true)
            }
        };
        if let (true, Conn::Cluster(link)) = (stale, &self.conn) {
            link.renew();
        }
        result
    }

    /// A server that cannot speak RESP3: from now on RESP2, in ttl mode. Behind Sentinel,
    /// an error a failover causes: the Sentinels are asked again.
    fn notice(&self, e: &RedisError) {
        let Conn::Single(link) = &self.conn else { return };
        link.failed(e);
        if e.kind() == redis::ErrorKind::RESP3NotSupported && link.downgrade() {
            self.tracking.refused(e.clone(), &self.credentials);
        }
    }

    /// Whether the last burst failed only because the server cannot speak RESP3, and the
    /// connection has been remade over RESP2 since: then it is worth sending again.
    pub fn take_resend(&self) -> bool {
        match &self.conn {
            Conn::Single(link) => link.take_resend(),
            Conn::Cluster(_) => false,
        }
    }

    /// One command, routed by its key on a cluster.
    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T> {
        match &self.conn {
            Conn::Single(link) => {
                self.run(async { cmd.query_async(&mut link.connection().await?).await }).await
            }
            Conn::Cluster(link) => self.run(cmd.query_async(&mut link.connection())).await,
        }
    }

    /// One command to one cluster node (`None`: the single server).
    async fn query_node<T: redis::FromRedisValue>(
        &self,
        node: Option<&ClusterNode>,
        cmd: redis::Cmd,
    ) -> Result<T> {
        match (&self.conn, node) {
            (Conn::Cluster(link), Some(node)) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                });
                let value = self.run(link.connection().route_command(cmd, route)).await?;
                redis::from_redis_value(value).map_err(|e| self.failed(&e.into()))
            }
            _ => self.query(cmd).await,
        }
    }

    /// A `SETEX`/`DEL` reply: an error reply becomes the command's error.
    pub fn status(&self, reply: Option<Value>) -> Result<()> {
        match reply {
            Some(Value::ServerError(e)) => {
                let e = e.into();
                // READONLY: behind Sentinel, the server was demoted; ask which one took over.
                self.notice(&e);
                Err(CacheError::Redis(describe(&e, &self.credentials)))
            }
            Some(_) => Ok(()),
            None => Err(CacheError::Redis("Redis sent no reply for the command".into())),
        }
    }
}

pub(super) fn address_of(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => other.to_string(),
    }
}
