//! The operations (docs/contract.md, "Operations"), run on the JS thread up to the point
//! where Redis is needed; the Redis part runs on tokio and comes back through the
//! [`Outbox`], and `drain` turns what came back into rows for `index.js`.
//!
//! Hot hits never get here: `index.js` serves them from its `Map` and reports them in
//! batches ([`Cache::touch`]); this side keeps the hot tier's policy (see `hot`).

mod drain;

use std::sync::Arc;
use std::time::Instant;

use napi::JsString;

use crate::batcher::{Batcher, Job};
use crate::completion::{Completion, Outcome};
use crate::error::{CacheError, Result};
use crate::hot::{takes_hot, HotTier, AUTO_HOT_MAX_BYTES};
use crate::js::{ClearOptions, Priority};
use crate::metrics::Metric;
use crate::options::{Coherence, Settings};
use crate::outbox::{now_ms, Outbox};
use crate::points::{utf16_len, Encoded};
use crate::replies::{MergeThen, Then};
use crate::tasks::Tasks;
use crate::warm::{Body, Command, Merge, Sink, Warm};
use drain::{start_expiry_timer, Ticket};

/// What `setData` (or a promotion) did with the hot tier.
pub enum Stored {
    /// No data: nothing was started.
    Nothing,
    /// The hot tier did not take it (a write goes to Redis only).
    NotHot,
    /// Admitted to the hot tier too; JS adds it to its `Map` and drops these evicted keys.
    Hot(Vec<String>),
    /// A series write: the hot tier learns the merged series when it completes.
    Later,
}

/// How `setData`'s value arrives: the JSON JS wrote, or canonical points to serialise later.
pub enum SetValue<'a> {
    Json(JsString<'a>),
    Points(Encoded),
}

pub struct Cache {
    settings: Arc<Settings>,
    hot: HotTier,
    warm: Warm,
    batcher: Arc<Batcher>,
    outbox: Arc<Outbox>,
    tasks: Tasks,
    tickets: Vec<Ticket>,
}

impl Cache {
    pub fn new(settings: Settings, outbox: Arc<Outbox>, tasks: Tasks) -> Result<Cache> {
        let reports = outbox.clone();
        let sink: Sink = Arc::new(move |report| reports.report(report));
        let warm =
            napi::bindgen_prelude::within_runtime_if_available(|| Warm::new(&settings, sink))?;
        start_expiry_timer(&tasks, outbox.clone(), settings.cleanup_interval);
        let batcher = napi::bindgen_prelude::within_runtime_if_available(|| {
            Batcher::start(warm.clone(), outbox.clone(), &tasks)
        });
        Ok(Cache {
            batcher,
            hot: HotTier::new(settings.max_hot_size, settings.hot_ttl),
            settings: Arc::new(settings),
            warm,
            outbox,
            tasks,
            tickets: Vec::new(),
        })
    }

    /// Starts the Redis read of a key JS does not hold (fresh) in its hot `Map`; the
    /// result completes `id` later.
    pub fn get(&mut self, id: u32, key: String) {
        let started = Instant::now();
        // Still in the policy means JS found it expired (reading an expired entry removes it).
        self.hot.drop_expired(&key);
        let issued = self.hot.generation();
        self.batcher.submit(Job {
            command: Command::Get(key.clone()),
            deadline: started + self.settings.command_timeout,
            then: Then::Get { id, key, issued, started },
        });
    }

    /// Stores a value of `count` points (already normalised by JS, `value` their
    /// serialisation); `count` is `None` when there was nothing to store. Refuses before
    /// changing anything.
    pub fn set(
        &mut self,
        id: u32,
        key: String,
        count: Option<u32>,
        value: SetValue,
        priority: Priority,
    ) -> Result<Stored> {
        let Some(count) = count else { return Ok(Stored::Nothing) };
        let started = Instant::now();
        let limit = self.settings.max_value_bytes;
        let too_big = |bytes: usize| {
            CacheError::Range(format!(
                "data serialises to {bytes} bytes of JSON, more than maxValueBytes ({limit})"
            ))
        };
        // compat: the TS service compared the JSON's JavaScript length (UTF-16 units).
        let sized = |json: String| match json.len() > limit {
            true => Err(too_big(json.len())),
            false => Ok((utf16_len(&json) < AUTO_HOT_MAX_BYTES, Body::json(json))),
        };
        // Points stay unserialised (the pipeline writes them) when their size bound already
        // settles both the hot-tier admission and the size limit.
        let (small, body) = match value {
            SetValue::Points(p)
                if p.max_json_len() < AUTO_HOT_MAX_BYTES.min(limit.saturating_add(1)) =>
            {
                (true, Body::points(p))
            }
            SetValue::Points(p) => sized(p.to_json())?,
            SetValue::Json(json) => {
                let unreadable = |e: napi::Error| {
                    CacheError::Type(format!("data could not be serialised: {}", e.reason))
                };
                let bytes = json.utf8_len().map_err(unreadable)?;
                if bytes > limit {
                    return Err(too_big(bytes));
                }
                sized(json.into_utf8().and_then(|s| s.into_owned()).map_err(unreadable)?)?
            }
        };
        if self.settings.series_key_prefixes.iter().any(|prefix| key.starts_with(prefix.as_str())) {
            self.merge(id, key, body, priority, started);
            return Ok(Stored::Later);
        }
        let to_hot = takes_hot(priority, small, count as usize);
        let stored = match to_hot {
            true => self.hot.insert(key.clone(), started).map_or(Stored::NotHot, Stored::Hot),
            // An older hot copy must not answer for this write, nor a read still in flight
            // promote what it read before it (docs/contract.md, "Operations").
            false => {
                self.hot.fence(&key);
                Stored::NotHot
            }
        };
        let strict = self.settings.strict_warm_writes;
        let ttl_secs = self.settings.warm_ttl_secs;
        self.batcher.submit(Job {
            command: Command::Set { key, body, ttl_secs },
            deadline: started + self.settings.command_timeout,
            then: Then::Set { id, to_hot, strict, started },
        });
        Ok(stored)
    }

    /// A series write (docs/contract.md, "Series"): Redis merges and answers with the merged
    /// series, which the hot tier then takes under the usual admission rule.
    fn merge(&mut self, id: u32, key: String, body: Body, priority: Priority, started: Instant) {
        let settings = &self.settings;
        let merge = Merge {
            ttl_secs: settings.warm_ttl_secs,
            window_ms: (settings.warm_ttl_secs * 1000).max(settings.hot_ttl.as_millis() as u64),
            max_bytes: settings.max_value_bytes,
            now_ms: now_ms(),
        };
        let (strict, limit) = (settings.strict_warm_writes, settings.max_value_bytes);
        let issued = self.hot.generation();
        if self.warm.coherence() == Coherence::Tracking {
            self.hot.expect_own_write(&key);
        }
        self.batcher.submit(Job {
            command: Command::Merge { key: key.clone(), body, merge },
            deadline: started + settings.command_timeout,
            then: Then::Merge(MergeThen { id, key, issued, started, priority, strict, limit }),
        });
    }

    /// Starts the Redis reads of the keys a batch did not find in JS's hot `Map`; one
    /// completion for `id` follows.
    pub fn batch(&mut self, id: u32, missing: Vec<String>) {
        let started = Instant::now();
        for key in &missing {
            self.hot.drop_expired(key);
        }
        let issued = self.hot.generation();
        let chunk = self.settings.max_batch_size;
        self.batcher.submit(Job {
            command: Command::MGet { keys: missing.clone(), chunk },
            deadline: started + self.settings.command_timeout,
            then: Then::Batch { id, keys: missing, chunk, issued, started },
        });
    }

    pub fn delete(&mut self, id: u32, key: String) {
        self.hot.fence(&key);
        self.batcher.submit(Job {
            command: Command::Del(key),
            deadline: Instant::now() + self.settings.command_timeout,
            then: Then::Delete { id },
        });
    }

    pub fn clear_all(&mut self, id: u32, options: ClearOptions) {
        self.hot.clear();
        let (warm, outbox, ttl) =
            (self.warm.clone(), self.outbox.clone(), self.settings.warm_ttl_secs);
        self.tasks.spawn(async move {
            let (outcome, metric) = match warm.clear(options.keep_younger_than, ttl).await {
                Ok(cleared) => (Outcome::Cleared(cleared), None),
                Err(e) => {
                    let metric =
                        Metric::Failed { op: "clearAll", critical: true, message: e.to_string() };
                    (Outcome::failed(&e), Some(metric))
                }
            };
            outbox.complete(Completion { id, outcome }, metric);
        });
    }

    /// With `report_system`, the system metrics follow the health check's result (and its
    /// failure event, if any) from the same task; the hot size is the one at the call.
    pub fn health(&mut self, id: u32, report_system: bool) {
        let (warm, outbox) = (self.warm.clone(), self.outbox.clone());
        let hot_size = self.hot.len() as f64;
        self.tasks.spawn(async move {
            let health = warm.health().await;
            let mut metrics = Vec::new();
            if let Some(message) = health.error.clone() {
                metrics.push(Metric::Failed { op: "healthCheck", critical: false, message });
            }
            if report_system {
                let healthy = if health.error.is_none() { 1.0 } else { 0.0 };
                metrics.push(Metric::System { name: "cache_hot_size", value: hot_size });
                metrics.push(Metric::System { name: "health_status", value: healthy });
            }
            outbox.complete(Completion { id, outcome: Outcome::Health(health) }, metrics);
        });
    }

    /// Hits JS served from its `Map`, reported in bulk so the policy sees each access.
    /// (Their events JS builds itself.)
    pub fn touch(&mut self, keys: Vec<String>) {
        for key in &keys {
            self.hot.touch(key);
        }
    }

    pub fn flush(&self) {
        self.batcher.flush();
    }

    pub fn hot_size(&self) -> usize {
        self.hot.len()
    }

    pub fn hot_ttl(&self) -> std::time::Duration {
        self.hot.ttl()
    }

    /// Stops every task, empties the hot tier and releases the JS callback
    /// (docs/contract.md, "Lifecycle").
    pub fn destroy(self) {
        let Cache { tasks, mut hot, outbox, .. } = self;
        drop(tasks);
        hot.clear();
        drop(outbox.shut());
    }
}
