//! Where Redis is: one server (URL, or host and port), cluster seed nodes, or Sentinels.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::raw::{Raw, Reader};
use crate::error::{CacheError, Result};

/// Where the warm tier lives.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per cache, never moved in a hot path
pub enum Topology {
    Single(ConnectionInfo),
    /// Seed nodes of a Redis Cluster; the client discovers the others and the slot map.
    Cluster(Vec<ConnectionInfo>),
    /// A primary and its replicas behind Redis Sentinel, which names the primary.
    Sentinel(SentinelSettings),
}

/// `redis.sentinels` and what goes with them (ioredis' names).
#[derive(Debug, Clone)]
pub struct SentinelSettings {
    /// `host:port` of each Sentinel.
    pub sentinels: Vec<(String, u16)>,
    /// `redis.name`: the master group the Sentinels monitor.
    pub name: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `redis.role`: read and write through the primary, or read from a replica.
    pub replica: bool,
}

pub(super) const DEFAULT_HOST: &str = "localhost";
pub(super) const DEFAULT_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;
pub(super) const DEFAULT_DB: i64 = 1;

pub(super) fn parse_url(url: &str, what: &str) -> Result<ConnectionInfo> {
    let malformed = || {
        CacheError::Type(format!(
            "{what} is not a valid redis:// or rediss:// URL: {}",
            redact_url(url)
        ))
    };
    let parsed = redis::parse_redis_url(url).ok_or_else(malformed)?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(malformed());
    }
    url.into_connection_info().map_err(|_| malformed())
}

pub(super) fn node_from_parts(host: &str, port: u16, what: &str) -> Result<ConnectionInfo> {
    if host.is_empty() {
        return Err(CacheError::Range(format!("{what}.host must not be empty")));
    }
    ConnectionAddr::Tcp(host.to_string(), port)
        .into_connection_info()
        .map_err(|_| CacheError::Range(format!("{what}.host is not a valid host")))
}

/// `{ host, port }` of a node; each has a default, as in ioredis.
fn host_and_port(node: &Raw, what: &str, default_port: u16) -> Result<(String, u16)> {
    let host = match node.field("host") {
        Raw::Missing => DEFAULT_HOST.to_string(),
        Raw::Str(h) => h.clone(),
        other => {
            return Err(CacheError::Type(format!(
                "{what}.host must be a string, got {}",
                other.shape_name()
            )))
        }
    };
    let port = match node.field("port") {
        Raw::Missing => default_port,
        Raw::Num(p) if p.fract() == 0.0 && (1.0..=65535.0).contains(p) => *p as u16,
        Raw::Num(p) => {
            return Err(CacheError::Range(format!(
                "{what}.port must be an integer from 1 to 65535, got {p}"
            )))
        }
        other => {
            return Err(CacheError::Type(format!(
                "{what}.port must be a number, got {}",
                other.shape_name()
            )))
        }
    };
    Ok((host, port))
}

/// `redis.cluster.nodes`: URLs or `{ host, port }` objects, as ioredis' Cluster takes them.
pub(super) fn cluster_nodes(cluster: &Raw) -> Result<Vec<ConnectionInfo>> {
    if !matches!(cluster, Raw::Map(_)) {
        return Err(CacheError::Type(format!(
            "options.redis.cluster must be an object like {{ nodes: [...] }}, got {}",
            cluster.shape_name()
        )));
    }
    let nodes = cluster
        .field("nodes")
        .non_empty_list("redis.cluster.nodes", "an array of URLs or { host, port }")?;
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let what = format!("options.redis.cluster.nodes[{i}]");
            match node {
                Raw::Str(url) => parse_url(url, &what),
                Raw::Map(_) => {
                    let (host, port) = host_and_port(node, &what, DEFAULT_PORT)?;
                    node_from_parts(&host, port, &what)
                }
                other => Err(CacheError::Type(format!(
                    "{what} must be a URL string or {{ host, port }}, got {}",
                    other.shape_name()
                ))),
            }
        })
        .collect()
}

/// `redis.sentinels` (`[{ host, port }]`, as ioredis takes them), `name`, `role` and the
/// Sentinels' own credentials.
pub(super) fn sentinel_settings(o: &Reader, sentinels: &Raw) -> Result<SentinelSettings> {
    let list = sentinels.non_empty_list("redis.sentinels", "an array of { host, port }")?;
    let sentinels = list
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let what = format!("options.redis.sentinels[{i}]");
            if !matches!(node, Raw::Map(_)) {
                return Err(CacheError::Type(format!(
                    "{what} must be {{ host, port }}, got {}",
                    node.shape_name()
                )));
            }
            let (host, port) = host_and_port(node, &what, DEFAULT_SENTINEL_PORT)?;
            node_from_parts(&host, port, &what)?;
            Ok((host, port))
        })
        .collect::<Result<Vec<_>>>()?;
    let name = match o.string("redis.name")? {
        Some(name) if !name.is_empty() => name,
        _ => {
            return Err(CacheError::Range(
                "options.redis.name (the Sentinels' master group) is required with options.redis.sentinels".into(),
            ))
        }
    };
    let replica = match o.string("redis.role")?.as_deref() {
        None | Some("master") => false,
        Some("slave") | Some("replica") => true,
        Some(other) => {
            return Err(CacheError::Range(format!(
                "options.redis.role must be \"master\" or \"slave\", got \"{other}\""
            )))
        }
    };
    Ok(SentinelSettings {
        sentinels,
        name,
        username: o.string("redis.sentinelUsername")?,
        password: o.string("redis.sentinelPassword")?,
        replica,
    })
}

/// Whether a `redis://host/N` URL chooses its own database, which then beats the default.
pub(super) fn url_names_db(url: &str) -> bool {
    redis::parse_redis_url(url).map(|u| !u.path().trim_matches('/').is_empty()).unwrap_or(false)
}

/// The URL with any password replaced, so it can appear in a message.
pub(super) fn redact_url(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Some(u) => u.to_string(),
        None => "(unparsable)".to_string(),
    }
}
