//! Constructor options → validated settings.
//!
//! Option names and defaults follow ioredis and the TypeScript service (docs/contract.md,
//! "Options"), so an options object written for the old service works unchanged. Validation is pure: the
//! JavaScript object is read through [`OptionSource`], which tests replace with a map.

use std::sync::Arc;
use std::time::Duration;

use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use napi_derive::napi;

use crate::error::{CacheError, Result};

/// One option value as read from JavaScript, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// `undefined` or `null`, or not present: the default applies.
    Missing,
    Bool(bool),
    Num(f64),
    Str(String),
    /// A `Buffer`.
    Bytes(Vec<u8>),
    List(Vec<Raw>),
    /// A plain object's own properties, in order.
    Map(Vec<(String, Raw)>),
    /// Any other JavaScript type, named by `typeof`.
    Other(&'static str),
}

impl Raw {
    /// What the option looked like, for error messages.
    fn shape_name(&self) -> &'static str {
        match self {
            Raw::Missing => "undefined",
            Raw::Bool(_) => "boolean",
            Raw::Num(_) => "number",
            Raw::Str(_) => "string",
            Raw::Bytes(_) => "Buffer",
            Raw::List(_) => "array",
            Raw::Map(_) => "object",
            Raw::Other(t) => t,
        }
    }

    fn field(&self, name: &str) -> &Raw {
        match self {
            Raw::Map(fields) => {
                fields.iter().find(|(k, _)| k == name).map_or(&Raw::Missing, |(_, v)| v)
            }
            _ => &Raw::Missing,
        }
    }
}

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

/// TLS beyond what a `rediss://` URL says: trusted CAs, a client certificate, verification.
#[derive(Debug, Clone)]
pub struct Tls {
    pub certificates: TlsCertificates,
    /// ioredis' `rejectUnauthorized`; `false` accepts any server certificate.
    pub verify: bool,
}

impl Tls {
    /// The crate's name for `verify`.
    pub fn mode(&self) -> redis::TlsMode {
        if self.verify {
            redis::TlsMode::Secure
        } else {
            redis::TlsMode::Insecure
        }
    }
}

/// `coherence` (docs/contract.md, "Coherence").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coherence {
    /// Redis pushes an invalidation when a warm key changes (RESP3 `CLIENT TRACKING`).
    Tracking,
    /// A hot entry may lag Redis by up to `hotCacheTTL` (the TypeScript service's behaviour).
    Ttl,
}

impl Coherence {
    pub fn name(self) -> &'static str {
        match self {
            Coherence::Tracking => "tracking",
            Coherence::Ttl => "ttl",
        }
    }
}

/// Where option values come from; `path` is dotted (`"redis.port"`).
pub trait OptionSource {
    fn get(&self, path: &str) -> Result<Raw>;
}

/// Everything the cache needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub topology: Topology,
    /// Credentials and database for every node (the cluster client takes them separately).
    pub redis: redis::RedisConnectionInfo,
    pub tls: Option<Tls>,
    /// The passwords (Redis's, Sentinel's), kept only to scrub them out of error messages.
    pub secrets: Vec<String>,
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub max_retries: usize,
    pub hot_ttl: Duration,
    pub warm_ttl_secs: u64,
    pub max_hot_size: usize,
    pub cleanup_interval: Duration,
    pub max_batch_size: usize,
    pub max_pending_metrics: usize,
    pub strict_warm_writes: bool,
    /// `waitForReplicas`: a write succeeds once this many replicas have it (`WAIT`), so a
    /// failover cannot lose it; 0 (the default) waits for none.
    pub wait_for_replicas: u32,
    /// `coherence`: how hot entries learn that their warm key changed.
    pub coherence: Coherence,
    /// `warmKeySeparator`: between `stream_cache_warm` and the caller's key.
    pub warm_key_separator: &'static str,
    /// `seriesKeyPrefixes`: keys that start with one of these hold a merged quote series.
    pub series_key_prefixes: Vec<String>,
    /// Largest JSON `setData` accepts, in UTF-8 bytes; one enormous value must not exhaust memory.
    pub max_value_bytes: usize,
    /// Whether an `onMetric` callback was given; without one no event is even built.
    pub metrics_enabled: bool,
}

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;
const DEFAULT_DB: i64 = 1;
const DEFAULT_KEY_PREFIX: &str = "stream:";
const MIB: f64 = 1024.0 * 1024.0;

/// The default of every numeric option, named and measured as the option is (docs/contract.md,
/// "Options"). [`Settings::from_source`] applies them; JavaScript reads them as
/// `OPTION_DEFAULTS`, which the Nest adapter logs.
#[napi(object)]
#[derive(Clone, Copy)]
pub struct OptionDefaults {
    /// ms
    #[napi(js_name = "hotCacheTTL")]
    pub hot_cache_ttl: f64,
    /// s
    #[napi(js_name = "warmCacheTTL")]
    pub warm_cache_ttl: f64,
    pub max_hot_cache_size: f64,
    /// ms
    pub cleanup_interval: f64,
    pub max_batch_size: f64,
    pub max_pending_metrics: f64,
    /// bytes
    pub max_value_bytes: f64,
    /// ms (`redis.connectTimeout`)
    pub connect_timeout: f64,
    /// ms (`redis.commandTimeout`)
    pub command_timeout: f64,
    /// `redis.maxRetriesPerRequest`
    pub max_retries_per_request: f64,
    pub wait_for_replicas: f64,
}

pub const DEFAULTS: OptionDefaults = OptionDefaults {
    hot_cache_ttl: 5000.0,
    warm_cache_ttl: 300.0,
    max_hot_cache_size: 1000.0,
    cleanup_interval: 30_000.0,
    max_batch_size: 200.0,
    max_pending_metrics: 10_000.0,
    max_value_bytes: 8.0 * MIB,
    connect_timeout: 5000.0,
    command_timeout: 3000.0,
    max_retries_per_request: 3.0,
    wait_for_replicas: 0.0,
};

impl Settings {
    pub fn from_source(src: &dyn OptionSource) -> Result<Settings> {
        let o = Reader(src);
        let tls = tls(&src.get("redis.tls")?)?;
        let url = o.string("redis.url")?;
        let host = o.string("redis.host")?;
        let port = o.integer("redis.port", 1.0, 65535.0)?.map(|p| p as u16);
        let username = o.string("redis.username")?;
        let password = o.string("redis.password")?;
        let db = o.integer("redis.db", 0.0, i64::MAX as f64)?.map(|d| d as i64);

        let cluster = src.get("redis.cluster")?;
        let sentinels = src.get("redis.sentinels")?;
        let named_server = url.is_some() || host.is_some() || port.is_some();
        let topology = match (&cluster, &sentinels) {
            (Raw::Missing, Raw::Missing) => {
                let connection = match &url {
                    Some(url) => parse_url(url, "options.redis.url")?,
                    None => {
                        let host = host.unwrap_or_else(|| DEFAULT_HOST.to_string());
                        node_from_parts(&host, port.unwrap_or(DEFAULT_PORT), "options.redis")?
                    }
                };
                Topology::Single(connection)
            }
            (_, Raw::Missing) if named_server => {
                return Err(CacheError::Range(
                    "options.redis.cluster names the nodes; leave out options.redis.url, host and port".into(),
                ))
            }
            (_, Raw::Missing) => Topology::Cluster(cluster_nodes(&cluster)?),
            (Raw::Missing, _) if named_server => {
                return Err(CacheError::Range(
                    "options.redis.sentinels find the server; leave out options.redis.url, host and port".into(),
                ))
            }
            (Raw::Missing, _) => Topology::Sentinel(sentinel_settings(&o, &sentinels)?),
            _ => {
                return Err(CacheError::Range(
                    "options.redis: give either cluster or sentinels, not both".into(),
                ))
            }
        };
        let fallback;
        let first = match &topology {
            Topology::Single(c) => c,
            Topology::Cluster(nodes) => &nodes[0],
            Topology::Sentinel(_) => {
                fallback = node_from_parts(DEFAULT_HOST, DEFAULT_PORT, "options.redis")?;
                &fallback
            }
        };
        let mut redis = first.redis_settings().clone();
        let clustered = matches!(topology, Topology::Cluster(_));
        redis = match (db, clustered) {
            (Some(db), _) => redis.set_db(db),
            (None, true) => redis,
            (None, false) if url.as_deref().map(url_names_db) == Some(true) => redis,
            (None, false) => redis.set_db(DEFAULT_DB),
        };
        if clustered && redis.db() != 0 {
            return Err(CacheError::Range(format!(
                "options.redis.db: Redis Cluster has only database 0, got {}",
                redis.db()
            )));
        }
        if let Some(user) = &username {
            redis = redis.set_username(user);
        }
        if let Some(pass) = &password {
            redis = redis.set_password(pass);
        }
        let mut secrets: Vec<String> = redis.password().map(str::to_string).into_iter().collect();
        if let Topology::Sentinel(sentinel) = &topology {
            secrets.extend(sentinel.password.clone());
        }
        secrets.retain(|s| !s.is_empty());
        let topology = match topology {
            Topology::Single(c) => {
                Topology::Single(secure(c.set_redis_settings(redis.clone()), &tls))
            }
            Topology::Cluster(nodes) => {
                Topology::Cluster(nodes.into_iter().map(|c| secure(c, &tls)).collect())
            }
            sentinel => sentinel,
        };

        let d = &DEFAULTS;
        Ok(Settings {
            topology,
            redis,
            tls,
            secrets,
            key_prefix: o.string("redis.keyPrefix")?.unwrap_or_else(|| DEFAULT_KEY_PREFIX.into()),
            connect_timeout: o.millis("redis.connectTimeout", 1.0)?.unwrap_or(ms(d.connect_timeout)),
            command_timeout: o.millis("redis.commandTimeout", 1.0)?.unwrap_or(ms(d.command_timeout)),
            max_retries: o.integer("redis.maxRetriesPerRequest", 0.0, 1000.0)?.unwrap_or(d.max_retries_per_request)
                as usize,
            hot_ttl: o.millis("hotCacheTTL", 0.0)?.unwrap_or(ms(d.hot_cache_ttl)),
            warm_ttl_secs: o.integer("warmCacheTTL", 1.0, u32::MAX as f64)?.unwrap_or(d.warm_cache_ttl) as u64,
            max_hot_size: o.integer("maxHotCacheSize", 0.0, 10_000_000.0)?.unwrap_or(d.max_hot_cache_size)
                as usize,
            cleanup_interval: o.millis("cleanupInterval", 1.0)?.unwrap_or(ms(d.cleanup_interval)),
            max_batch_size: o.integer("maxBatchSize", 1.0, 100_000.0)?.unwrap_or(d.max_batch_size) as usize,
            max_pending_metrics: o
                .integer("maxPendingMetrics", 1.0, 100_000_000.0)?
                .unwrap_or(d.max_pending_metrics) as usize,
            strict_warm_writes: o.boolean("strictWarmWrites")?.unwrap_or(false),
            wait_for_replicas: match o.integer("waitForReplicas", 0.0, 64.0)? {
                Some(n) if n > 0.0 && clustered => {
                    return Err(CacheError::Range(
                        "options.waitForReplicas needs one server or Sentinel: on a Redis Cluster each key's \
                         replicas live behind another connection"
                            .into(),
                    ))
                }
                n => n.unwrap_or(d.wait_for_replicas) as u32,
            },
            warm_key_separator: match o.string("warmKeySeparator")?.as_deref() {
                None | Some("") => "",
                Some(":") => ":",
                Some(other) => {
                    return Err(CacheError::Range(format!(
                        "options.warmKeySeparator must be \"\" or \":\", got \"{other}\""
                    )))
                }
            },
            series_key_prefixes: o.strings("seriesKeyPrefixes")?,
            coherence: match o.string("coherence")?.as_deref() {
                None | Some("tracking") => Coherence::Tracking,
                Some("ttl") => Coherence::Ttl,
                Some(other) => {
                    return Err(CacheError::Range(format!(
                        "options.coherence must be \"tracking\" or \"ttl\", got \"{other}\""
                    )))
                }
            },
            max_value_bytes: o.integer("maxValueBytes", 1.0, 512.0 * MIB)?.unwrap_or(d.max_value_bytes)
                as usize,
            metrics_enabled: o.callback("onMetric")?,
        })
    }
}

fn ms(n: f64) -> Duration {
    Duration::from_secs_f64(n / 1000.0)
}

fn parse_url(url: &str, what: &str) -> Result<ConnectionInfo> {
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

fn node_from_parts(host: &str, port: u16, what: &str) -> Result<ConnectionInfo> {
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
fn cluster_nodes(cluster: &Raw) -> Result<Vec<ConnectionInfo>> {
    if !matches!(cluster, Raw::Map(_)) {
        return Err(CacheError::Type(format!(
            "options.redis.cluster must be an object like {{ nodes: [...] }}, got {}",
            cluster.shape_name()
        )));
    }
    let nodes = match cluster.field("nodes") {
        Raw::List(nodes) if !nodes.is_empty() => nodes,
        Raw::List(_) => {
            return Err(CacheError::Range("options.redis.cluster.nodes must not be empty".into()))
        }
        other => {
            return Err(CacheError::Type(format!(
                "options.redis.cluster.nodes must be an array of URLs or {{ host, port }}, got {}",
                other.shape_name()
            )))
        }
    };
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
fn sentinel_settings(o: &Reader, sentinels: &Raw) -> Result<SentinelSettings> {
    let list = match sentinels {
        Raw::List(list) if !list.is_empty() => list,
        Raw::List(_) => {
            return Err(CacheError::Range("options.redis.sentinels must not be empty".into()))
        }
        other => {
            return Err(CacheError::Type(format!(
                "options.redis.sentinels must be an array of {{ host, port }}, got {}",
                other.shape_name()
            )))
        }
    };
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

/// `redis.tls` the ioredis way: `true`/`{}` turns TLS on; `ca`, `cert` and `key` are PEM
/// (strings or Buffers, `ca` also an array of them); `rejectUnauthorized: false` skips
/// verification. Keys this client would silently ignore are refused instead.
fn tls(raw: &Raw) -> Result<Option<Tls>> {
    const KNOWN: [&str; 4] = ["ca", "cert", "key", "rejectUnauthorized"];
    let fields = match raw {
        Raw::Missing | Raw::Bool(false) => return Ok(None),
        Raw::Bool(true) => &Vec::new(),
        Raw::Map(fields) => fields,
        other => {
            return Err(CacheError::Type(format!(
            "options.redis.tls must be true or an object like {{ ca, rejectUnauthorized }}, got {}",
            other.shape_name()
        )))
        }
    };
    if let Some((name, _)) =
        fields.iter().find(|(k, v)| !KNOWN.contains(&k.as_str()) && *v != Raw::Missing)
    {
        return Err(CacheError::Range(format!(
            "options.redis.tls.{name} is not supported; supported are {}",
            KNOWN.join(", ")
        )));
    }
    let ca = match raw.field("ca") {
        Raw::List(items) => {
            let mut all = Vec::new();
            for (i, item) in items.iter().enumerate() {
                all.extend(pem(item, &format!("ca[{i}]"))?.unwrap_or_default());
                all.push(b'\n');
            }
            Some(all)
        }
        one => pem(one, "ca")?,
    };
    let client_tls = match (pem(raw.field("cert"), "cert")?, pem(raw.field("key"), "key")?) {
        (Some(client_cert), Some(client_key)) => Some(ClientTlsConfig { client_cert, client_key }),
        (None, None) => None,
        _ => {
            return Err(CacheError::Range(
                "options.redis.tls: cert and key must be given together".into(),
            ))
        }
    };
    if let Some(ca) = &ca {
        check_ca(ca)?;
    }
    if let Some(client) = &client_tls {
        check_client_identity(client)?;
    }
    let verify = match raw.field("rejectUnauthorized") {
        Raw::Missing => true,
        Raw::Bool(b) => *b,
        other => {
            return Err(CacheError::Type(format!(
                "options.redis.tls.rejectUnauthorized must be a boolean, got {}",
                other.shape_name()
            )))
        }
    };
    Ok(Some(Tls { certificates: TlsCertificates { client_tls, root_cert: ca }, verify }))
}

/// A PEM option's bytes. Contents are checked here only for being PEM at all; a bad
/// certificate inside is reported when the client is built.
fn pem(raw: &Raw, name: &str) -> Result<Option<Vec<u8>>> {
    let bytes = match raw {
        Raw::Missing => return Ok(None),
        Raw::Str(s) => s.as_bytes().to_vec(),
        Raw::Bytes(b) => b.clone(),
        other => {
            return Err(CacheError::Type(format!(
                "options.redis.tls.{name} must be PEM text (a string or Buffer), got {}",
                other.shape_name()
            )))
        }
    };
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(CacheError::Range(format!(
            "options.redis.tls.{name} is not PEM text; pass the file's contents, e.g. fs.readFileSync(path)"
        )));
    }
    Ok(Some(bytes))
}

fn bad_pem(name: &str, e: impl std::fmt::Display) -> CacheError {
    CacheError::Range(format!("options.redis.tls.{name} could not be used: {e}"))
}

/// Every CA certificate parses as a trust anchor, so a bad one fails here, not at connect.
fn check_ca(ca: &[u8]) -> Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.map_err(|e| bad_pem("ca", e))?).map_err(|e| bad_pem("ca", e))?;
    }
    Ok(())
}

/// The client certificate and key parse and belong together.
fn check_client_identity(client: &ClientTlsConfig) -> Result<()> {
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&client.client_cert)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad_pem("cert", e))?;
    let key = PrivateKeyDer::from_pem_slice(&client.client_key).map_err(|e| bad_pem("key", e))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_pem("cert", e))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad_pem("key", e))?;
    Ok(())
}

/// Puts a node on TLS when `redis.tls` asks for it (a `rediss://` URL already is).
fn secure(connection: ConnectionInfo, tls: &Option<Tls>) -> ConnectionInfo {
    let Some(tls) = tls else { return connection };
    let addr = match connection.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: !tls.verify,
                tls_params: None,
            }
        }
        other => other.clone(),
    };
    connection.set_addr(addr)
}

/// Whether a `redis://host/N` URL chooses its own database, which then beats the default.
fn url_names_db(url: &str) -> bool {
    redis::parse_redis_url(url).map(|u| !u.path().trim_matches('/').is_empty()).unwrap_or(false)
}

/// The URL with any password replaced, so it can appear in a message.
fn redact_url(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Some(u) => u.to_string(),
        None => "(unparsable)".to_string(),
    }
}

/// Typed accessors that turn a [`Raw`] into a value or a coded error naming the option.
struct Reader<'a>(&'a dyn OptionSource);

impl Reader<'_> {
    fn wrong_type(path: &str, expected: &str, got: &Raw) -> CacheError {
        CacheError::Type(format!("options.{path} must be {expected}, got {}", got.shape_name()))
    }

    fn number(&self, path: &str) -> Result<Option<f64>> {
        match self.0.get(path)? {
            Raw::Missing => Ok(None),
            Raw::Num(n) if n.is_finite() => Ok(Some(n)),
            Raw::Num(n) => {
                Err(CacheError::Range(format!("options.{path} must be finite, got {n}")))
            }
            other => Err(Self::wrong_type(path, "a number", &other)),
        }
    }

    fn integer(&self, path: &str, min: f64, max: f64) -> Result<Option<f64>> {
        match self.number(path)? {
            None => Ok(None),
            Some(n) if n.fract() == 0.0 && n >= min && n <= max => Ok(Some(n)),
            Some(n) => Err(CacheError::Range(format!(
                "options.{path} must be an integer from {min} to {max}, got {n}"
            ))),
        }
    }

    fn millis(&self, path: &str, min: f64) -> Result<Option<Duration>> {
        match self.number(path)? {
            None => Ok(None),
            Some(n) if n >= min && n <= 31_536_000_000.0 => {
                Ok(Some(Duration::from_secs_f64(n / 1000.0)))
            }
            Some(n) => Err(CacheError::Range(format!(
                "options.{path} must be at least {min} ms (and at most a year), got {n}"
            ))),
        }
    }

    fn string(&self, path: &str) -> Result<Option<String>> {
        match self.0.get(path)? {
            Raw::Missing => Ok(None),
            Raw::Str(s) => Ok(Some(s)),
            other => Err(Self::wrong_type(path, "a string", &other)),
        }
    }

    /// A list of non-empty strings; missing is empty.
    fn strings(&self, path: &str) -> Result<Vec<String>> {
        let items = match self.0.get(path)? {
            Raw::Missing => return Ok(Vec::new()),
            Raw::List(items) => items,
            other => return Err(Self::wrong_type(path, "an array of strings", &other)),
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Raw::Str(s) if !s.is_empty() => Ok(s),
                Raw::Str(_) => {
                    Err(CacheError::Range(format!("options.{path}[{i}] must not be empty")))
                }
                other => Err(Self::wrong_type(&format!("{path}[{i}]"), "a string", &other)),
            })
            .collect()
    }

    fn boolean(&self, path: &str) -> Result<Option<bool>> {
        match self.0.get(path)? {
            Raw::Missing => Ok(None),
            Raw::Bool(b) => Ok(Some(b)),
            other => Err(Self::wrong_type(path, "a boolean", &other)),
        }
    }

    fn callback(&self, path: &str) -> Result<bool> {
        match self.0.get(path)? {
            Raw::Missing => Ok(false),
            Raw::Other("function") => Ok(true),
            other => Err(Self::wrong_type(path, "a function", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Map(HashMap<&'static str, Raw>);

    impl OptionSource for Map {
        fn get(&self, path: &str) -> Result<Raw> {
            Ok(self.0.get(path).cloned().unwrap_or(Raw::Missing))
        }
    }

    fn settings(pairs: &[(&'static str, Raw)]) -> Result<Settings> {
        Settings::from_source(&Map(pairs.iter().cloned().collect()))
    }

    #[test]
    fn defaults_match_the_typescript_service() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.redis.db(), 1);
        assert_eq!(s.key_prefix, "stream:");
        assert_eq!(s.hot_ttl, ms(5000.0));
        assert_eq!(s.warm_ttl_secs, 300);
        assert_eq!(s.max_hot_size, 1000);
        assert_eq!(s.cleanup_interval, ms(30_000.0));
        assert_eq!(s.max_batch_size, 200);
        assert_eq!(s.max_pending_metrics, 10_000);
        assert_eq!(s.command_timeout, ms(3000.0));
        assert!(!s.strict_warm_writes);
        assert_eq!(s.max_value_bytes, 8 * 1024 * 1024);
        assert_eq!(s.coherence, Coherence::Tracking);
        assert_eq!(s.warm_key_separator, "");
        assert!(s.series_key_prefixes.is_empty());
    }

    #[test]
    fn url_database_wins_over_default_but_not_over_explicit_db() {
        let s = settings(&[("redis.url", Raw::Str("redis://127.0.0.1:7777/4".into()))]).unwrap();
        assert_eq!(s.redis.db(), 4);
        let s = settings(&[("redis.url", Raw::Str("redis://127.0.0.1:7777".into()))]).unwrap();
        assert_eq!(s.redis.db(), 1);
        let s = settings(&[
            ("redis.url", Raw::Str("redis://127.0.0.1:7777/4".into())),
            ("redis.db", Raw::Num(2.0)),
        ])
        .unwrap();
        assert_eq!(s.redis.db(), 2);
    }

    #[test]
    fn bad_values_are_coded_errors_naming_the_option() {
        let cases: Vec<(&'static str, Raw, bool)> = vec![
            ("redis.port", Raw::Num(70000.0), false),
            ("redis.port", Raw::Str("6379".into()), true),
            ("hotCacheTTL", Raw::Num(-1.0), false),
            ("warmCacheTTL", Raw::Num(0.5), false),
            ("maxHotCacheSize", Raw::Num(f64::NAN), false),
            ("strictWarmWrites", Raw::Num(1.0), true),
            ("maxValueBytes", Raw::Num(0.0), false),
            ("redis.url", Raw::Str("http://x".into()), true),
            ("coherence", Raw::Str("pubsub".into()), false),
            ("coherence", Raw::Bool(true), true),
            ("warmKeySeparator", Raw::Str("/".into()), false),
            ("seriesKeyPrefixes", Raw::Str("quote:".into()), true),
            ("seriesKeyPrefixes", Raw::List(vec![Raw::Str("".into())]), false),
            ("seriesKeyPrefixes", Raw::List(vec![Raw::Num(1.0)]), true),
        ];
        for (path, raw, is_type) in cases {
            let err = settings(&[(path, raw.clone())]).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidArgument);
            assert_eq!(matches!(err, CacheError::Type(_)), is_type, "{path} {raw:?}: {err}");
            assert!(err.to_string().contains(path), "{err} should name {path}");
        }
    }

    #[test]
    fn passwords_never_appear_in_messages() {
        let err = settings(&[("redis.url", Raw::Str("ftp://u:hunter2@h:1/0".into()))]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let s = settings(&[("redis.password", Raw::Str("hunter2".into()))]).unwrap();
        assert_eq!(s.secrets, vec!["hunter2".to_string()]);
    }

    fn map(fields: &[(&str, Raw)]) -> Raw {
        Raw::Map(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    /// A real CA certificate (its key was discarded); parsing is checked, not trust.
    const PEM: &str = include_str!("../__test__/fixtures/ca.pem");

    #[test]
    fn cluster_nodes_take_urls_or_host_and_port_and_only_database_0() {
        let nodes = Raw::List(vec![
            Raw::Str("redis://10.0.0.1:7000".into()),
            map(&[("host", Raw::Str("10.0.0.2".into())), ("port", Raw::Num(7001.0))]),
            map(&[("port", Raw::Num(7002.0))]),
        ]);
        let s = settings(&[("redis.cluster", map(&[("nodes", nodes.clone())]))]).unwrap();
        let Topology::Cluster(seeds) = &s.topology else { panic!("not a cluster") };
        let addrs: Vec<String> = seeds.iter().map(|c| c.addr().to_string()).collect();
        assert_eq!(addrs, ["10.0.0.1:7000", "10.0.0.2:7001", "localhost:7002"]);
        assert_eq!(s.redis.db(), 0);

        let err = settings(&[
            ("redis.cluster", map(&[("nodes", nodes.clone())])),
            ("redis.db", Raw::Num(1.0)),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("only database 0"), "{err}");
        let err = settings(&[
            ("redis.cluster", map(&[("nodes", nodes)])),
            ("redis.url", Raw::Str("redis://h".into())),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("leave out"), "{err}");
    }

    #[test]
    fn bad_cluster_nodes_are_coded_errors_naming_the_node() {
        let cases: Vec<(Raw, &str, bool)> = vec![
            (Raw::Str("redis://h".into()), "options.redis.cluster must be an object", true),
            (map(&[]), "options.redis.cluster.nodes must be an array", true),
            (map(&[("nodes", Raw::List(vec![]))]), "must not be empty", false),
            (map(&[("nodes", Raw::List(vec![Raw::Num(1.0)]))]), "nodes[0] must be a URL", true),
            (
                map(&[("nodes", Raw::List(vec![Raw::Str("http://h".into())]))]),
                "nodes[0] is not a valid",
                true,
            ),
            (
                map(&[("nodes", Raw::List(vec![map(&[("port", Raw::Num(0.0))])]))]),
                "nodes[0].port must be an integer",
                false,
            ),
            (
                map(&[("nodes", Raw::List(vec![map(&[("host", Raw::Str("".into()))])]))]),
                "nodes[0].host must not be empty",
                false,
            ),
        ];
        for (cluster, message, is_type) in cases {
            let err = settings(&[("redis.cluster", cluster.clone())]).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidArgument);
            assert!(err.to_string().contains(message), "{cluster:?}: {err}");
            assert_eq!(matches!(err, CacheError::Type(_)), is_type, "{cluster:?}: {err}");
        }
    }

    #[test]
    fn sentinels_take_host_and_port_a_name_a_role_and_their_own_password() {
        let sentinels = Raw::List(vec![
            map(&[("host", Raw::Str("s1".into())), ("port", Raw::Num(26380.0))]),
            map(&[("host", Raw::Str("s2".into()))]),
        ]);
        let s = settings(&[
            ("redis.sentinels", sentinels.clone()),
            ("redis.name", Raw::Str("quotes".into())),
            ("redis.role", Raw::Str("slave".into())),
            ("redis.password", Raw::Str("data-pw".into())),
            ("redis.sentinelPassword", Raw::Str("sentinel-pw".into())),
        ])
        .unwrap();
        let Topology::Sentinel(sentinel) = &s.topology else { panic!("not sentinel") };
        assert_eq!(sentinel.sentinels, vec![("s1".into(), 26380), ("s2".into(), 26379)]);
        assert_eq!((sentinel.name.as_str(), sentinel.replica), ("quotes", true));
        assert_eq!(s.redis.db(), 1);
        assert_eq!(s.secrets, vec!["data-pw".to_string(), "sentinel-pw".to_string()]);
        let err = settings(&[("redis.sentinels", sentinels), ("waitForReplicas", Raw::Num(1.0))])
            .unwrap_err();
        assert!(err.to_string().contains("options.redis.name"), "{err}");
    }

    #[test]
    fn wait_for_replicas_is_refused_on_a_cluster() {
        let nodes = Raw::List(vec![Raw::Str("redis://h:7000".into())]);
        let err = settings(&[
            ("redis.cluster", map(&[("nodes", nodes)])),
            ("waitForReplicas", Raw::Num(1.0)),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("options.waitForReplicas needs one server"), "{err}");
        let s = settings(&[("waitForReplicas", Raw::Num(2.0))]).unwrap();
        assert_eq!(s.wait_for_replicas, 2);
    }

    #[test]
    fn tls_is_ioredis_shaped_and_switches_every_node_to_tls() {
        let tls = map(&[
            ("ca", Raw::List(vec![Raw::Str(PEM.into()), Raw::Bytes(PEM.as_bytes().to_vec())])),
            ("rejectUnauthorized", Raw::Bool(false)),
        ]);
        let s = settings(&[("redis.tls", tls), ("redis.host", Raw::Str("db".into()))]).unwrap();
        let Topology::Single(c) = &s.topology else { panic!("not single") };
        assert!(
            matches!(c.addr(), ConnectionAddr::TcpTls { insecure: true, .. }),
            "{:?}",
            c.addr()
        );
        let tls = s.tls.unwrap();
        assert!(!tls.verify);
        assert_eq!(tls.certificates.root_cert.map(|c| c.len()), Some(2 * PEM.len() + 2));

        let s = settings(&[("redis.tls", Raw::Bool(true))]).unwrap();
        let Topology::Single(c) = &s.topology else { panic!("not single") };
        assert!(matches!(c.addr(), ConnectionAddr::TcpTls { insecure: false, .. }));

        let s = settings(&[("redis.url", Raw::Str("rediss://h:6380".into()))]).unwrap();
        let Topology::Single(c) = &s.topology else { panic!("not single") };
        assert!(matches!(c.addr(), ConnectionAddr::TcpTls { .. }));
        assert!(s.tls.is_none());
    }

    #[test]
    fn bad_tls_options_are_refused_not_ignored() {
        let cases: Vec<(Raw, &str)> = vec![
            (Raw::Str("yes".into()), "options.redis.tls must be true or an object"),
            (
                map(&[("servername", Raw::Str("h".into()))]),
                "options.redis.tls.servername is not supported",
            ),
            (
                map(&[("ca", Raw::Str("/etc/ssl/ca.pem".into()))]),
                "options.redis.tls.ca is not PEM text",
            ),
            (map(&[("ca", Raw::Num(1.0))]), "options.redis.tls.ca must be PEM text"),
            (map(&[("cert", Raw::Str(PEM.into()))]), "cert and key must be given together"),
            (
                map(&[("rejectUnauthorized", Raw::Str("false".into()))]),
                "rejectUnauthorized must be a boolean",
            ),
            (
                map(&[("ca", Raw::Str(PEM.replace("MII", "AAA")))]),
                "options.redis.tls.ca could not be used",
            ),
            (
                map(&[
                    ("cert", Raw::Str(PEM.into())),
                    (
                        "key",
                        Raw::Str(
                            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                        ),
                    ),
                ]),
                "options.redis.tls.key could not be used",
            ),
        ];
        for (tls, message) in cases {
            let err = settings(&[("redis.tls", tls.clone())]).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidArgument);
            assert!(err.to_string().contains(message), "{tls:?}: {err}");
        }
    }
}
