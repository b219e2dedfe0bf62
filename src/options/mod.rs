//! Constructor options → validated settings, one concern per file: `raw` (values as read,
//! and typed accessors), `js` (reading them from the JavaScript object), `redis` (where
//! Redis is: URL, host and port, cluster nodes, Sentinels), `tls`, and here the settings
//! and every default.
//!
//! Option names and defaults follow ioredis and the TypeScript service (docs/contract.md,
//! "Options"), so an options object written for the old service works unchanged. Validation
//! is pure: the options are read through [`OptionSource`], which tests replace with a map.

use std::time::Duration;

use napi_derive::napi;

use crate::error::{CacheError, Result};

mod js;
mod raw;
mod redis;
mod tls;

pub use self::js::JsOptions;
use self::raw::Reader;
pub use self::raw::{OptionSource, Raw};
use self::redis::{
    cluster_nodes, node_from_parts, parse_url, sentinel_settings, url_names_db, DEFAULT_DB,
    DEFAULT_HOST, DEFAULT_PORT,
};
pub use self::redis::{SentinelSettings, Topology};
pub use self::tls::Tls;
use self::tls::{secure, tls};

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

/// Everything the cache needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub topology: Topology,
    /// Credentials and database for every node (the cluster client takes them separately).
    pub redis: ::redis::RedisConnectionInfo,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ::redis::ConnectionAddr;

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
    const PEM: &str = include_str!("../../__test__/fixtures/ca.pem");

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
