//! The warm tier: Redis access through the redis crate, on one server or a Redis Cluster.
//!
//! A single server is reached through a `ConnectionManager`, a cluster through the crate's
//! cluster connection (slot map, MOVED/ASK, failover); both multiplex every command and
//! reconnect by themselves, and both are created lazily so that constructing a cache never
//! waits for (or fails on) Redis. Every command is bounded by `commandTimeout`, so no
//! operation can hang on a dead server.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Client, ConnectionAddr, ConnectionInfo, RedisError, TlsMode, Value};
use serde::Serialize;

use crate::config::{Settings, Topology};
use crate::error::{CacheError, Result};
use crate::points::{utf16_len, Encoded};

/// The fixed part of every warm key; the caller's key follows with no separator (compat).
pub const WARM_KEY_INFIX: &str = "stream_cache_warm";

const SCAN_COUNT: usize = 500;
/// Backoff base: three retries stay within ~300 ms, so calls fail fast while Redis is away.
const MIN_RECONNECT_DELAY: Duration = Duration::from_millis(20);
/// Caps the reconnect backoff, so service resumes within about this long of Redis returning.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// One warm-tier command, queued for the next pipeline (see `batcher`). Keys are the
/// caller's; the prefix is added when the pipeline is built.
pub enum Command {
    Get(String),
    Set { key: String, body: Body, ttl_secs: u64 },
    /// One `MGET` per `chunk` keys.
    MGet { keys: Vec<String>, chunk: usize },
    Del(String),
}

/// A value to write: JSON already, or points the pipeline serialises off the JS thread.
pub enum Body {
    Json(String),
    Points(Encoded),
}

impl Command {
    /// The written JSON's length in UTF-16 units (compat: `dataSize`), once serialised.
    pub fn json_len(&self) -> usize {
        match self {
            Command::Set { body: Body::Json(json), .. } => utf16_len(json),
            Command::Set { body: Body::Points(points), .. } => utf16_len(&points.to_json()),
            _ => 0,
        }
    }

}

impl Body {
    /// The JSON to write; points are serialised here, once, in place.
    fn json(&mut self) -> &str {
        if let Body::Points(points) = self {
            *self = Body::Json(points.to_json());
        }
        match self {
            Body::Json(json) => json,
            Body::Points(_) => "",
        }
    }
}

/// A `GET`/`MGET` element: absent, not UTF-8 (so not our JSON) or an error reply is a miss.
pub fn text(reply: Value) -> Option<String> {
    match reply {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// The elements of a chunked `MGET`'s replies, in key order; a failed chunk is all misses.
pub fn texts(replies: Vec<Value>, keys: usize, chunk: usize) -> Vec<Option<String>> {
    let chunk = chunk.max(1);
    let mut out = Vec::with_capacity(keys);
    for reply in replies {
        let expected = chunk.min(keys - out.len());
        match reply {
            Value::Array(items) if items.len() == expected => out.extend(items.into_iter().map(text)),
            _ => out.extend((0..expected).map(|_| None)),
        }
    }
    out.resize_with(keys, || None);
    out
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// One node as the cluster announces it (`CLUSTER NODES`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNode {
    pub host: String,
    pub port: u16,
    pub master: bool,
    /// Owns hash slots: its keys exist nowhere else, so it must answer.
    pub serves_slots: bool,
}

/// One node's answer to `getHealthStatus`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeHealth {
    pub address: String,
    pub role: &'static str,
    pub connected: bool,
    pub error: Option<String>,
}

/// The outcome of a health check: the first error of a node the cache needs, and every node.
#[derive(Debug, Clone)]
pub struct Health {
    pub error: Option<String>,
    pub nodes: Vec<NodeHealth>,
}

/// Commands ready to send: one pipeline to one server, or separate commands the cluster
/// client routes by slot (a pipeline there must stay within one slot).
pub enum Outgoing {
    /// `replies`: how many of the pipeline's replies belong to each command.
    Pipeline { conn: ConnectionManager, pipe: redis::Pipeline, replies: Vec<usize> },
    Routed { conn: ClusterConnection, commands: Vec<Vec<redis::Cmd>> },
}

#[derive(Clone)]
pub struct Warm {
    conn: Conn,
    /// `host:port` of the single server, for health reports.
    address: String,
    /// `<keyPrefix>stream_cache_warm`
    prefix: String,
    command_timeout: Duration,
    secret: Option<String>,
}

/// What `clearAll` did in Redis.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Cleared {
    pub deleted: u64,
    pub preserved: u64,
}

impl Warm {
    /// Must run inside the tokio runtime; does not touch the network.
    pub fn connect(settings: &Settings) -> Result<Warm> {
        let invalid = |e: RedisError| CacheError::Range(format!("options.redis: {}", redact(&e, &settings.secret)));
        let (conn, address) = match &settings.topology {
            Topology::Single(info) => {
                let client = match &settings.tls {
                    Some(tls) => Client::build_with_tls(info.clone(), tls.certificates.clone()),
                    None => Client::open(info.clone()),
                }
                .map_err(invalid)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_response_timeout(Some(settings.command_timeout))
                    .set_number_of_retries(settings.max_retries)
                    .set_min_delay(MIN_RECONNECT_DELAY)
                    .set_max_delay(MAX_RECONNECT_DELAY);
                let conn = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| CacheError::Redis(redact(&e, &settings.secret)))?;
                (Conn::Single(conn), address_of(info))
            }
            Topology::Cluster(nodes) => {
                let mut builder = ClusterClientBuilder::new(nodes.clone())
                    .retries(settings.max_retries as u32)
                    .min_retry_wait(MIN_RECONNECT_DELAY.as_millis() as u64)
                    .max_retry_wait(MAX_RECONNECT_DELAY.as_millis() as u64);
                if let Some(user) = settings.redis.username() {
                    builder = builder.username(user);
                }
                if let Some(password) = settings.redis.password() {
                    builder = builder.password(password);
                }
                if let Some(tls) = &settings.tls {
                    let mode = if tls.verify { TlsMode::Secure } else { TlsMode::Insecure };
                    builder = builder.certs(tls.certificates.clone()).tls(mode);
                }
                let config = ClusterConfig::new()
                    .set_connection_timeout(settings.connect_timeout)
                    .set_response_timeout(settings.command_timeout);
                let client = builder.build().map_err(invalid)?;
                let address = nodes.iter().map(address_of).collect::<Vec<_>>().join(",");
                (Conn::Cluster(client.get_pending_async_connection_with_config(config)), address)
            }
        };
        Ok(Warm {
            conn,
            address,
            prefix: format!("{}{}", settings.key_prefix, WARM_KEY_INFIX),
            command_timeout: settings.command_timeout,
            secret: settings.secret.clone(),
        })
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
            CacheError::Redis(redact(e, &self.secret))
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
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.failed(&e)),
            Err(_) => Err(self.timeout()),
        }
    }

    /// One command, routed by its key on a cluster.
    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T> {
        match &self.conn {
            Conn::Single(conn) => self.run(cmd.query_async(&mut conn.clone())).await,
            Conn::Cluster(conn) => self.run(cmd.query_async(&mut conn.clone())).await,
        }
    }

    /// One command to one cluster node (`None`: the single server).
    async fn query_node<T: redis::FromRedisValue>(&self, node: Option<&ClusterNode>, cmd: redis::Cmd) -> Result<T> {
        match (&self.conn, node) {
            (Conn::Cluster(conn), Some(node)) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                });
                let value = self.run(conn.clone().route_command(cmd, route)).await?;
                redis::from_redis_value(value).map_err(|e| self.failed(&e.into()))
            }
            _ => self.query(cmd).await,
        }
    }

    /// `commands` ready to send. Points are serialised here, in place, so `json_len` then
    /// reads the written JSON.
    pub fn prepare<'a>(&self, commands: impl Iterator<Item = &'a mut Command>) -> Outgoing {
        let commands: Vec<Vec<redis::Cmd>> = commands.map(|command| self.cmds(command)).collect();
        match &self.conn {
            Conn::Cluster(conn) => Outgoing::Routed { conn: conn.clone(), commands },
            Conn::Single(conn) => {
                // An error reply then answers only its own command.
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                let replies = commands.iter().map(Vec::len).collect();
                for cmd in commands.into_iter().flatten() {
                    pipe.add_command(cmd);
                }
                Outgoing::Pipeline { conn: conn.clone(), pipe, replies }
            }
        }
    }

    fn cmds(&self, command: &mut Command) -> Vec<redis::Cmd> {
        match command {
            Command::Get(key) => vec![redis::cmd("GET").arg(self.key(key)).clone()],
            Command::Set { key, body, ttl_secs } => {
                vec![redis::cmd("SETEX").arg(self.key(key)).arg(*ttl_secs).arg(body.json()).clone()]
            }
            // On a cluster the client splits each MGET by slot and sends the parts to their
            // nodes at once, over one connection per node.
            Command::MGet { keys, chunk } => keys
                .chunks((*chunk).max(1))
                .map(|part| {
                    let mut cmd = redis::cmd("MGET");
                    for key in part {
                        cmd.arg(self.key(key));
                    }
                    cmd
                })
                .collect(),
            Command::Del(key) => vec![redis::cmd("DEL").arg(self.key(key)).clone()],
        }
    }

    /// Sends prepared commands: one result per command, holding its replies. A transport
    /// failure, or passing `deadline`, fails every command. On a cluster, a command of
    /// several parts (a chunked MGET) keeps its other parts when one fails; that part's
    /// reply is `Nil`, which reads as misses.
    pub async fn send(&self, outgoing: Outgoing, deadline: Instant) -> Vec<Result<Vec<Value>>> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match outgoing {
            Outgoing::Pipeline { mut conn, pipe, replies } => {
                let sent = match remaining.is_zero() {
                    true => Err(self.timeout()),
                    false => self.run_within(remaining, pipe.query_async::<Vec<Value>>(&mut conn)).await,
                };
                match sent {
                    Ok(values) => {
                        let mut values = values.into_iter();
                        replies.into_iter().map(|n| Ok(values.by_ref().take(n).collect())).collect()
                    }
                    Err(e) => replies.iter().map(|_| Err(e.clone())).collect(),
                }
            }
            Outgoing::Routed { conn, commands } => {
                let count = commands.len();
                let sends = commands.into_iter().map(|cmds| {
                    let conn = conn.clone();
                    async move {
                        let parts = join_all(cmds.into_iter().map(|cmd| {
                            let mut conn = conn.clone();
                            async move { cmd.query_async::<Value>(&mut conn).await }
                        }))
                        .await;
                        match <[_; 1]>::try_from(parts) {
                            Ok([one]) => one.map(|v| vec![v]).map_err(|e| self.failed(&e)),
                            Err(parts) => Ok(parts.into_iter().map(|part| part.unwrap_or(Value::Nil)).collect()),
                        }
                    }
                });
                match tokio::time::timeout(remaining, join_all(sends)).await {
                    Ok(results) => results,
                    Err(_) => (0..count).map(|_| Err(self.timeout())).collect(),
                }
            }
        }
    }

    /// A `SETEX`/`DEL` reply: an error reply becomes the command's error.
    pub fn status(&self, reply: Option<Value>) -> Result<()> {
        match reply {
            Some(Value::ServerError(e)) => Err(CacheError::Redis(redact(&e.into(), &self.secret))),
            Some(_) => Ok(()),
            None => Err(CacheError::Redis("Redis sent no reply for the command".into())),
        }
    }

    /// PINGs the server, or every node of the cluster. Unhealthy when a node that owns
    /// slots does not answer; a lost replica shows in its node entry only.
    pub async fn health(&self) -> Health {
        let Conn::Cluster(_) = self.conn else {
            let error = self.query::<()>(redis::cmd("PING")).await.err().map(|e| e.to_string());
            let node = NodeHealth { address: self.address.clone(), role: "master", connected: error.is_none(), error: error.clone() };
            return Health { error, nodes: vec![node] };
        };
        let nodes = match self.cluster_nodes().await {
            Ok(nodes) => nodes,
            Err(e) => return Health { error: Some(e.to_string()), nodes: Vec::new() },
        };
        let pings = join_all(nodes.iter().map(|node| self.query_node::<()>(Some(node), redis::cmd("PING")))).await;
        let mut error = None;
        let nodes = nodes
            .into_iter()
            .zip(pings)
            .map(|(node, ping)| {
                let address = format!("{}:{}", node.host, node.port);
                let failure = ping.err().map(|e| format!("{address}: {e}"));
                if node.serves_slots && error.is_none() {
                    error = failure.clone();
                }
                let role = if node.master { "master" } else { "replica" };
                NodeHealth { address, role, connected: failure.is_none(), error: failure }
            })
            .collect();
        Health { error, nodes }
    }

    /// The nodes the cluster knows, from any node's `CLUSTER NODES`.
    async fn cluster_nodes(&self) -> Result<Vec<ClusterNode>> {
        let text: String = self.query(redis::cmd("CLUSTER").arg("NODES").clone()).await?;
        Ok(parse_cluster_nodes(&text))
    }

    /// Removes this cache's keys with SCAN + UNLINK (never KEYS), on every master of a
    /// cluster. With `keep_younger_than`, keys written less than that many seconds ago
    /// stay; their age is `warm_ttl - TTL`.
    pub async fn clear(&self, keep_younger_than: Option<u64>, warm_ttl_secs: u64) -> Result<Cleared> {
        let masters = match self.conn {
            Conn::Single(_) => vec![None],
            Conn::Cluster(_) => self.cluster_nodes().await?.into_iter().filter(|n| n.serves_slots).map(Some).collect(),
        };
        let mut cleared = Cleared::default();
        for node in &masters {
            self.clear_node(node.as_ref(), keep_younger_than, warm_ttl_secs, &mut cleared).await?;
        }
        Ok(cleared)
    }

    async fn clear_node(
        &self,
        node: Option<&ClusterNode>,
        keep_younger_than: Option<u64>,
        warm_ttl_secs: u64,
        cleared: &mut Cleared,
    ) -> Result<()> {
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let mut cursor: u64 = 0;
        loop {
            let scan = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT).clone();
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query_node(node, scan).await?;
            let doomed = match keep_younger_than {
                _ if keys.is_empty() => keys,
                None => keys,
                Some(max_age) => {
                    let ttls = self.ttls(&keys).await?;
                    let mut doomed = Vec::new();
                    for (key, ttl) in keys.into_iter().zip(ttls) {
                        let age = warm_ttl_secs as i64 - ttl;
                        if ttl > 0 && age < max_age as i64 {
                            cleared.preserved += 1;
                        } else {
                            doomed.push(key);
                        }
                    }
                    doomed
                }
            };
            if !doomed.is_empty() {
                // On a cluster the client splits a multi-key UNLINK by slot and sums the parts.
                cleared.deleted += self.query::<u64>(redis::cmd("UNLINK").arg(&doomed).clone()).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn ttls(&self, keys: &[Vec<u8>]) -> Result<Vec<i64>> {
        match &self.conn {
            Conn::Single(conn) => {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("TTL").arg(key);
                }
                self.run(pipe.query_async(&mut conn.clone())).await
            }
            Conn::Cluster(_) => {
                let ttls = join_all(keys.iter().map(|key| self.query::<i64>(redis::cmd("TTL").arg(key).clone()))).await;
                ttls.into_iter().collect()
            }
        }
    }
}

fn address_of(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port}"),
        other => other.to_string(),
    }
}

/// `CLUSTER NODES` lines: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong>
/// <epoch> <link> [<slot> ...]`. Nodes without an address (`noaddr`) are left out.
pub fn parse_cluster_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let port = port.parse().ok().filter(|p| *p != 0)?;
            let flags = fields.get(2)?;
            let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
            if host.is_empty() || flags.split(',').any(|f| f == "noaddr" || f == "handshake") {
                return None;
            }
            let master = flags.split(',').any(|f| f == "master");
            Some(ClusterNode { host, port, master, serves_slots: master && fields.len() > 8 })
        })
        .collect()
}

/// Escapes Redis glob metacharacters so a key prefix like `app[1]*` matches only itself.
pub fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The error's text with the password scrubbed, in case a server or URL echoed it.
fn redact(err: &RedisError, secret: &Option<String>) -> String {
    let text = err.to_string();
    match secret {
        Some(s) if text.contains(s.as_str()) => text.replace(s.as_str(), "***"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("stream:stream_cache_warm"), "stream:stream_cache_warm");
        assert_eq!(escape_glob("a*b?c[d]e\\"), "a\\*b\\?c\\[d\\]e\\\\");
    }
}
