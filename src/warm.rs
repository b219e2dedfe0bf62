//! The warm tier: Redis access through the redis crate's `ConnectionManager`.
//!
//! The manager multiplexes every command over one connection and reconnects by itself;
//! it is created lazily so that constructing a cache never waits for (or fails on) Redis.
//! Every command is bounded by `commandTimeout`, so no operation can hang on a dead server.

use std::future::Future;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Value};

use crate::config::Settings;
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

    /// How many replies this command takes from the pipeline's answer.
    pub fn replies(&self) -> usize {
        match self {
            Command::MGet { keys, chunk } => keys.len().div_ceil((*chunk).max(1)),
            _ => 1,
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
pub struct Warm {
    conn: ConnectionManager,
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
        let client = Client::open(settings.connection.clone())
            .map_err(|e| CacheError::Range(format!("options.redis: {}", redact(&e, &settings.secret))))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout))
            .set_number_of_retries(settings.max_retries)
            .set_min_delay(MIN_RECONNECT_DELAY)
            .set_max_delay(MAX_RECONNECT_DELAY);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| CacheError::Redis(redact(&e, &settings.secret)))?;
        Ok(Warm {
            conn,
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
            Ok(Err(e)) if e.is_timeout() => Err(self.timeout()),
            Ok(Err(e)) => Err(CacheError::Redis(redact(&e, &self.secret))),
            Err(_) => Err(self.timeout()),
        }
    }

    /// `commands` as one pipeline in which an error reply answers only its own command.
    /// Points are serialised here, in place, so `json_len` then reads the written JSON.
    pub fn pipeline<'a>(&self, commands: impl Iterator<Item = &'a mut Command>) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for command in commands {
            match command {
                Command::Get(key) => {
                    pipe.cmd("GET").arg(self.key(key));
                }
                Command::Set { key, body, ttl_secs } => {
                    if let Body::Points(points) = body {
                        *body = Body::Json(points.to_json());
                    }
                    if let Body::Json(json) = body {
                        pipe.cmd("SETEX").arg(self.key(key)).arg(*ttl_secs).arg(json.as_str());
                    }
                }
                Command::MGet { keys, chunk } => {
                    for part in keys.chunks((*chunk).max(1)) {
                        let cmd = pipe.cmd("MGET");
                        for key in part {
                            cmd.arg(self.key(key));
                        }
                    }
                }
                Command::Del(key) => {
                    pipe.cmd("DEL").arg(self.key(key));
                }
            }
        }
        pipe
    }

    /// Sends a pipeline; a transport failure or passing `deadline` fails all of it.
    pub async fn send(&self, pipe: redis::Pipeline, deadline: Instant) -> Result<Vec<Value>> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(self.timeout());
        }
        let mut conn = self.conn.clone();
        self.run_within(remaining, pipe.query_async(&mut conn)).await
    }

    /// A `SETEX`/`DEL` reply: an error reply becomes the command's error.
    pub fn status(&self, reply: Option<Value>) -> Result<()> {
        match reply {
            Some(Value::ServerError(e)) => Err(CacheError::Redis(redact(&e.into(), &self.secret))),
            Some(_) => Ok(()),
            None => Err(CacheError::Redis("Redis sent no reply for the command".into())),
        }
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        self.run(redis::cmd("PING").query_async::<()>(&mut conn)).await
    }

    /// Removes this cache's keys with SCAN + UNLINK (never KEYS). With `keep_younger_than`,
    /// keys written less than that many seconds ago stay; their age is `warm_ttl - TTL`.
    pub async fn clear(&self, keep_younger_than: Option<u64>, warm_ttl_secs: u64) -> Result<Cleared> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let mut cleared = Cleared::default();
        let mut cursor: u64 = 0;
        loop {
            let scan = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT).clone();
            let (next, keys): (u64, Vec<Vec<u8>>) = self.run(scan.query_async(&mut conn)).await?;
            let doomed = match keep_younger_than {
                _ if keys.is_empty() => keys,
                None => keys,
                Some(max_age) => {
                    let mut ttls = redis::pipe();
                    for key in &keys {
                        ttls.cmd("TTL").arg(key);
                    }
                    let ttls: Vec<i64> = self.run(ttls.query_async(&mut conn)).await?;
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
                let n: u64 = self.run(redis::cmd("UNLINK").arg(&doomed).query_async(&mut conn)).await?;
                cleared.deleted += n;
            }
            if next == 0 {
                return Ok(cleared);
            }
            cursor = next;
        }
    }
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
