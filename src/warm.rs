//! The warm tier: Redis access through the redis crate, on one server or a Redis Cluster.
//!
//! A single server is reached through a `ConnectionManager`, a cluster through the crate's
//! cluster connection (slot map, MOVED/ASK, failover); both multiplex every command and
//! reconnect by themselves, and both are created lazily so that constructing a cache never
//! waits for (or fails on) Redis. Every command is bounded by `commandTimeout`, so no
//! operation can hang on a dead server.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::{Client, ConnectionAddr, ConnectionInfo, RedisError, TlsMode, Value};
use serde::Serialize;

use crate::config::{Settings, Topology};
use crate::error::{CacheError, Result};
use crate::outbox::lock;
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
    Set {
        key: String,
        body: Body,
        ttl_secs: u64,
    },
    /// One `MGET` per `chunk` keys.
    MGet {
        keys: Vec<String>,
        chunk: usize,
    },
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
            Value::Array(items) if items.len() == expected => {
                out.extend(items.into_iter().map(text))
            }
            _ => out.extend((0..expected).map(|_| None)),
        }
    }
    out.resize_with(keys, || None);
    out
}

#[derive(Clone)]
enum Conn {
    /// `address`: `host:port`, for health reports.
    Single {
        conn: ConnectionManager,
        address: String,
    },
    Cluster(Arc<ClusterLink>),
}

/// The cluster connection, and what it takes to make a new one.
///
/// The client (redis 1.8.1, and 1.3 and 1.7 alike) can stall for good after a master
/// dies: once its replica has taken over, and `redis-cli -c` reads every key again,
/// every command on the old connection still times out (seen here with the crate alone,
/// for 50 s). Its slot refresh starts and never finishes. So a command that times out,
/// or fails in a way that says the connection's view of the cluster may be out of date
/// ([`stale_view`]), retires the connection, and the next command gets a fresh one, which
/// reads the slot map anew. A connection made in such trouble may have read a map that
/// is already outdated and stall at its next refresh, so one more is made once a
/// `patience` has passed without trouble.
struct ClusterLink {
    client: ClusterClient,
    config: ClusterConfig,
    /// Connections are replaced at most once per `patience` (`commandTimeout`), so a slow
    /// cluster does not cause a reconnect storm.
    patience: Duration,
    state: Mutex<LinkState>,
}

struct LinkState {
    connection: ClusterConnection,
    made: Instant,
    /// When to make the calm-weather connection, after trouble.
    remake_at: Option<Instant>,
}

impl ClusterLink {
    fn new(client: ClusterClient, config: ClusterConfig, patience: Duration) -> ClusterLink {
        let connection = client.get_pending_async_connection_with_config(config.clone());
        let state = Mutex::new(LinkState { connection, made: Instant::now(), remake_at: None });
        ClusterLink { client, config, patience, state }
    }

    fn connection(&self) -> ClusterConnection {
        let mut state = lock(&self.state);
        if state.remake_at.is_some_and(|at| at <= Instant::now()) {
            state.remake_at = None;
            self.remake(&mut state);
        }
        state.connection.clone()
    }

    fn renew(&self) {
        let mut state = lock(&self.state);
        if state.made.elapsed() >= self.patience {
            self.remake(&mut state);
        }
        state.remake_at = Some(Instant::now() + self.patience);
    }

    fn remake(&self, state: &mut LinkState) {
        state.connection =
            self.client.get_pending_async_connection_with_config(self.config.clone());
        state.made = Instant::now();
    }
}

/// One node as the cluster announces it (`CLUSTER NODES`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNode {
    pub host: String,
    pub port: u16,
    pub master: bool,
    /// Owns hash slots: its keys exist nowhere else, so it must answer.
    pub serves_slots: bool,
    /// The cluster agrees it is down (`fail`, not the suspicion `fail?`).
    pub failed: bool,
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
    Pipeline {
        conn: ConnectionManager,
        pipe: redis::Pipeline,
        replies: Vec<usize>,
    },
    Routed {
        conn: ClusterConnection,
        commands: Vec<Routed>,
    },
}

/// One command on a cluster.
pub enum Routed {
    One(redis::Cmd),
    /// A batch read as one `MGET` per slot (and per `chunk` keys): `parts` pairs each with
    /// the positions of its keys among the batch's `keys`.
    Gather {
        parts: Vec<(redis::Cmd, Vec<usize>)>,
        keys: usize,
        chunk: usize,
    },
}

#[derive(Clone)]
pub struct Warm {
    conn: Conn,
    /// `<keyPrefix>stream_cache_warm`
    prefix: String,
    command_timeout: Duration,
    credentials: Credentials,
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
        let credentials = Credentials {
            username: settings.redis.username().map(str::to_string),
            secret: settings.secret.clone(),
        };
        let invalid = |e: RedisError| {
            CacheError::Range(format!("options.redis: {}", describe(&e, &credentials)))
        };
        let conn = match &settings.topology {
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
                    .map_err(|e| CacheError::Redis(describe(&e, &credentials)))?;
                Conn::Single { conn, address: address_of(info) }
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
                let link = ClusterLink::new(client, config, settings.command_timeout);
                Conn::Cluster(Arc::new(link))
            }
        };
        Ok(Warm {
            conn,
            prefix: format!("{}{}", settings.key_prefix, WARM_KEY_INFIX),
            command_timeout: settings.command_timeout,
            credentials,
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
            Ok(Err(e)) => (Err(self.failed(&e)), stale_view(&e)),
            Err(_) => (Err(self.timeout()), true),
        };
        if let (true, Conn::Cluster(link)) = (stale, &self.conn) {
            link.renew();
        }
        result
    }

    /// One command, routed by its key on a cluster.
    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T> {
        match &self.conn {
            Conn::Single { conn, .. } => self.run(cmd.query_async(&mut conn.clone())).await,
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

    /// `commands` ready to send. Points are serialised here, in place, so `json_len` then
    /// reads the written JSON.
    pub fn prepare<'a>(&self, commands: impl Iterator<Item = &'a mut Command>) -> Outgoing {
        match &self.conn {
            Conn::Cluster(link) => Outgoing::Routed {
                conn: link.connection(),
                commands: commands.map(|c| self.routed(c)).collect(),
            },
            Conn::Single { conn, .. } => {
                // An error reply then answers only its own command.
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                let mut replies = Vec::new();
                for command in commands {
                    match command {
                        Command::MGet { keys, chunk } => {
                            let parts = keys.chunks((*chunk).max(1));
                            replies.push(parts.len());
                            for part in parts {
                                pipe.add_command(self.mget(part.iter()));
                            }
                        }
                        other => {
                            replies.push(1);
                            pipe.add_command(self.single(other));
                        }
                    }
                }
                Outgoing::Pipeline { conn: conn.clone(), pipe, replies }
            }
        }
    }

    /// A command of one key.
    fn single(&self, command: &mut Command) -> redis::Cmd {
        let mut cmd;
        match command {
            Command::Get(key) => {
                cmd = redis::cmd("GET");
                cmd.arg(self.key(key));
            }
            Command::Set { key, body, ttl_secs } => {
                cmd = redis::cmd("SETEX");
                cmd.arg(self.key(key)).arg(*ttl_secs).arg(body.json());
            }
            Command::Del(key) => {
                cmd = redis::cmd("DEL");
                cmd.arg(self.key(key));
            }
            Command::MGet { keys, .. } => cmd = self.mget(keys.iter()),
        }
        cmd
    }

    fn mget<'k>(&self, keys: impl Iterator<Item = &'k String>) -> redis::Cmd {
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        cmd
    }

    /// On a cluster a batch read is grouped by slot here: each part is then a single-slot
    /// command the client routes, retries and re-routes after a failover like any other.
    /// (Its own multi-slot MGET split silently skips a node it has no connection to, and
    /// such a skip never triggers the slot-map refresh that a failover needs.)
    fn routed(&self, command: &mut Command) -> Routed {
        let Command::MGet { keys, chunk } = command else {
            return Routed::One(self.single(command));
        };
        let chunk = (*chunk).max(1);
        let parts = slot_groups(keys.iter().map(|key| self.key(key)))
            .into_iter()
            .flat_map(|group| group.chunks(chunk).map(<[usize]>::to_vec).collect::<Vec<_>>())
            .map(|at| (self.mget(at.iter().map(|&i| &keys[i])), at))
            .collect();
        Routed::Gather { parts, keys: keys.len(), chunk }
    }

    /// Sends prepared commands: one result per command, holding its replies. A transport
    /// failure, or passing `deadline`, fails every command. On a cluster a batch read keeps
    /// the parts that answered; a failed part's keys read as misses.
    pub async fn send(&self, outgoing: Outgoing, deadline: Instant) -> Vec<Result<Vec<Value>>> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match outgoing {
            Outgoing::Pipeline { mut conn, pipe, replies } => {
                let sent = match remaining.is_zero() {
                    true => Err(self.timeout()),
                    false => {
                        self.run_within(remaining, pipe.query_async::<Vec<Value>>(&mut conn)).await
                    }
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
                join_all(
                    commands.into_iter().map(|command| self.send_routed(&conn, command, remaining)),
                )
                .await
            }
        }
    }

    /// One command on a cluster; each part has its own time limit, so a slot whose master
    /// is failing costs only that slot's keys. A batch read's replies are put back in key
    /// order and in `chunk`-sized arrays, the shape one server's pipeline gives, for [`texts`].
    async fn send_routed(
        &self,
        conn: &ClusterConnection,
        command: Routed,
        limit: Duration,
    ) -> Result<Vec<Value>> {
        match command {
            Routed::One(cmd) => {
                let mut conn = conn.clone();
                self.run_within(limit, cmd.query_async::<Value>(&mut conn)).await.map(|v| vec![v])
            }
            Routed::Gather { parts, keys, chunk } => {
                let replies =
                    join_all(parts.iter().map(|(cmd, _)| {
                        let mut conn = conn.clone();
                        async move {
                            self.run_within(limit, cmd.query_async::<Vec<Value>>(&mut conn)).await
                        }
                    }))
                    .await;
                let mut values = vec![Value::Nil; keys];
                for ((_, at), reply) in parts.iter().zip(replies) {
                    for (&i, value) in at.iter().zip(reply.unwrap_or_default()) {
                        values[i] = value;
                    }
                }
                let mut values = values.into_iter();
                Ok((0..keys.div_ceil(chunk))
                    .map(|_| Value::Array(values.by_ref().take(chunk).collect()))
                    .collect())
            }
        }
    }

    /// A `SETEX`/`DEL` reply: an error reply becomes the command's error.
    pub fn status(&self, reply: Option<Value>) -> Result<()> {
        match reply {
            Some(Value::ServerError(e)) => {
                Err(CacheError::Redis(describe(&e.into(), &self.credentials)))
            }
            Some(_) => Ok(()),
            None => Err(CacheError::Redis("Redis sent no reply for the command".into())),
        }
    }

    /// PINGs the server, or every node of the cluster. Unhealthy when a node that owns
    /// slots does not answer; a lost replica shows in its node entry only.
    pub async fn health(&self) -> Health {
        if let Conn::Single { address, .. } = &self.conn {
            let error = self.query::<()>(redis::cmd("PING")).await.err().map(|e| e.to_string());
            let node = NodeHealth {
                address: address.clone(),
                role: "master",
                connected: error.is_none(),
                error: error.clone(),
            };
            return Health { error, nodes: vec![node] };
        }
        let nodes = match self.cluster_nodes().await {
            Ok(nodes) => nodes,
            Err(e) => return Health { error: Some(e.to_string()), nodes: Vec::new() },
        };
        // A node the cluster has failed is not pinged: the client dropped it from its map.
        let pings = join_all(nodes.iter().map(|node| async move {
            match node.failed {
                true => Err(CacheError::Redis("the cluster marks this node as failed".into())),
                false => self.query_node::<()>(Some(node), redis::cmd("PING")).await,
            }
        }))
        .await;
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
    ///
    /// On a cluster a pass that times out runs once more: the timeout has retired a
    /// connection that may have stalled (see [`ClusterLink`]), and SCAN + UNLINK can safely
    /// start over, counting on from where the first pass stopped.
    pub async fn clear(
        &self,
        keep_younger_than: Option<u64>,
        warm_ttl_secs: u64,
    ) -> Result<Cleared> {
        let mut cleared = Cleared::default();
        let first = self.clear_pass(keep_younger_than, warm_ttl_secs, &mut cleared).await;
        match (first, &self.conn) {
            (Err(CacheError::Timeout { .. }), Conn::Cluster(_)) => {
                self.clear_pass(keep_younger_than, warm_ttl_secs, &mut cleared).await?
            }
            (first, _) => first?,
        }
        Ok(cleared)
    }

    async fn clear_pass(
        &self,
        keep_younger_than: Option<u64>,
        warm_ttl_secs: u64,
        cleared: &mut Cleared,
    ) -> Result<()> {
        let masters = match self.conn {
            Conn::Single { .. } => vec![None],
            Conn::Cluster(_) => self
                .cluster_nodes()
                .await?
                .into_iter()
                .filter(|n| n.serves_slots)
                .map(Some)
                .collect(),
        };
        for node in &masters {
            self.clear_node(node.as_ref(), keep_younger_than, warm_ttl_secs, cleared).await?;
        }
        Ok(())
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
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .clone();
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
                self.unlink(doomed, cleared).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// One `UNLINK` on one server; on a cluster one per slot, each routed like any command.
    /// `deleted` counts what Redis confirmed, also when another part failed.
    async fn unlink(&self, keys: Vec<Vec<u8>>, cleared: &mut Cleared) -> Result<()> {
        let groups = match self.conn {
            Conn::Single { .. } => vec![(0..keys.len()).collect()],
            Conn::Cluster(_) => slot_groups(keys.iter()),
        };
        let unlinks = groups.into_iter().map(|group| {
            let mut cmd = redis::cmd("UNLINK");
            for i in group {
                cmd.arg(&keys[i]);
            }
            self.query::<u64>(cmd)
        });
        let mut failure = Ok(());
        for result in join_all(unlinks).await {
            match result {
                Ok(n) => cleared.deleted += n,
                Err(e) => failure = failure.and(Err(e)),
            }
        }
        failure
    }

    async fn ttls(&self, keys: &[Vec<u8>]) -> Result<Vec<i64>> {
        match &self.conn {
            Conn::Single { conn, .. } => {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("TTL").arg(key);
                }
                self.run(pipe.query_async(&mut conn.clone())).await
            }
            Conn::Cluster(_) => {
                let ttls = join_all(
                    keys.iter().map(|key| self.query::<i64>(redis::cmd("TTL").arg(key).clone())),
                )
                .await;
                ttls.into_iter().collect()
            }
        }
    }
}

/// Whether an error may come from a cluster connection whose view of the cluster is out of
/// date: a lost or refused connection, a node it no longer knows, a redirect or a
/// cluster that is (for now) down.
fn stale_view(e: &RedisError) -> bool {
    e.is_unrecoverable_error()
        || e.is_cluster_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
}

/// Positions of `keys`, grouped by hash slot, in first-seen order.
fn slot_groups<K: AsRef<[u8]>>(keys: impl Iterator<Item = K>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slots: HashMap<Slot, usize> = HashMap::new();
    for (i, key) in keys.enumerate() {
        let group = *slots.entry(Slot::for_key(key)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(i);
    }
    groups
}

fn address_of(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
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
            let failed = flags.split(',').any(|f| f == "fail");
            Some(ClusterNode {
                host,
                port,
                master,
                serves_slots: master && fields.len() > 8,
                failed,
            })
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
/// Who the cache connects as: the user, named in errors, and the password, scrubbed from them.
#[derive(Clone, Default)]
struct Credentials {
    username: Option<String>,
    secret: Option<String>,
}

/// The error's text with the password scrubbed, in case a server or URL echoed it. Where
/// the client's own words are cryptic (a refused AUTH, a node it holds no connection to),
/// the cause is spelled out.
fn describe(err: &RedisError, credentials: &Credentials) -> String {
    let mut text = err.to_string();
    match err.kind() {
        redis::ErrorKind::AuthenticationFailed => {
            let user = credentials.username.as_deref().unwrap_or("default");
            text = format!(
                "Redis refused the credentials of user \"{user}\" (wrong password, unknown or disabled user): {text}"
            );
        }
        redis::ErrorKind::ClusterConnectionNotFound => {
            text = format!(
                "not connected: the node is not in the cluster's current slot map ({text})"
            );
        }
        _ => {}
    }
    match &credentials.secret {
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

    #[test]
    fn cluster_nodes_lines_give_address_role_and_slot_ownership() {
        let text = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001,node-b.example slave a1 0 1700 1 connected
c3 127.0.0.1:7002@17002 master,fail - 1700 1690 2 disconnected
d4 :0@0 master,noaddr - 1700 1690 3 disconnected 5461-10922
e5 [::1]:7004@17004 master - 0 1700 4 connected 10923-16383
";
        let nodes = parse_cluster_nodes(text);
        let summary: Vec<(String, u16, bool, bool, bool)> = nodes
            .into_iter()
            .map(|n| (n.host, n.port, n.master, n.serves_slots, n.failed))
            .collect();
        assert_eq!(
            summary,
            [
                ("127.0.0.1".to_string(), 7000, true, true, false),
                ("127.0.0.1".to_string(), 7001, false, false, false),
                ("127.0.0.1".to_string(), 7002, true, false, true),
                ("::1".to_string(), 7004, true, true, false),
            ]
        );
    }

    #[test]
    fn keys_are_grouped_by_slot_in_first_seen_order() {
        let keys = ["{AAPL}:1", "MSFT", "{AAPL}:2", "GOOG", "MSFT"];
        let groups = slot_groups(keys.iter());
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0], [0, 2]);
        assert!(groups.iter().any(|g| g == &[1, 4]));
        let mut all: Vec<usize> = groups.concat();
        all.sort();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }
}
