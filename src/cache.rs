//! The operations of spec §3, run on the JS thread up to the point where Redis is needed;
//! the Redis part runs on tokio and comes back through the [`Outbox`].
//!
//! Hot hits never get here: `index.js` serves them from its `Map` and reports them in
//! batches ([`Core::touch`]); this side keeps the hot tier's policy (see `hot`).

use std::sync::Arc;
use std::time::Instant;

use napi::JsString;

use crate::batcher::{Batcher, Job};
use crate::config::Settings;
use crate::error::{CacheError, Result};
use crate::hot::{Generation, HotTier};
use crate::js::{ClearOptions, Priority};
use crate::lifecycle::Tasks;
use crate::metrics::{Layer, Metric};
use crate::outbox::{Completion, Found, Outbox, Outcome};
use crate::points::{self, utf16_len, Decoded, Encoded};
use crate::warm::{self, Body, Command, Warm};

/// The TS service's admission rule for `priority: "auto"` (compat).
const AUTO_HOT_MAX_BYTES: usize = 10_000;
const AUTO_HOT_MAX_POINTS: u32 = 100;

/// Floats per operation row: `[id, kind, a, b]`; kinds are in `index.js` (`OP`).
pub const OP_STRIDE: usize = 4;
mod op {
    pub const DONE: f64 = 0.0;
    pub const MISS: f64 = 1.0;
    pub const FOUND: f64 = 2.0;
    pub const FAILED: f64 = 3.0;
    pub const BATCH_ITEM: f64 = 4.0;
    pub const BATCH_END: f64 = 5.0;
    pub const CLEARED: f64 = 6.0;
    pub const HEALTH: f64 = 7.0;
    pub const FOUND_POINTS: f64 = 8.0;
    pub const BATCH_POINTS: f64 = 9.0;
    pub const EVICTED: f64 = 10.0;
    pub const HEALTH_NODES: f64 = 11.0;
}

/// What `setData` (or a promotion) did with the hot tier.
pub enum Stored {
    /// No data: nothing was started.
    Nothing,
    /// Written to Redis only.
    Warm,
    /// Admitted to the hot tier too; JS adds it to its `Map` and drops these evicted keys.
    Hot(Vec<String>),
}

/// How `setData`'s value arrives: the JSON JS wrote, or canonical points to serialise later.
pub enum Serialised<'a> {
    Json(JsString<'a>),
    Points(Encoded),
}

/// A Redis value JS is parsing right now; JS answers with `settle(ticket, value)`.
struct Ticket {
    key: String,
    issued: Generation,
    started: Instant,
}

/// What one drain hands to JS.
pub struct Drained {
    pub ops: Vec<f64>,
    pub events: Vec<f64>,
    /// Decoded warm values, see [`points::encode`].
    pub points: Vec<f64>,
    pub strings: Vec<String>,
    /// Keys the cleanup timer dropped from the hot tier; JS drops them from its `Map`.
    pub expired: Vec<String>,
    /// Still busy: JS drains again on its next loop turn.
    pub again: bool,
}

pub struct Core {
    settings: Arc<Settings>,
    hot: HotTier,
    warm: Warm,
    batcher: Arc<Batcher>,
    outbox: Arc<Outbox>,
    tasks: Tasks,
    tickets: Vec<Ticket>,
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl Core {
    pub fn new(settings: Settings, outbox: Arc<Outbox>, tasks: Tasks) -> Result<Core> {
        let warm = napi::bindgen_prelude::within_runtime_if_available(|| Warm::connect(&settings))?;
        tasks.start_cleanup_timer(outbox.clone(), settings.cleanup_interval);
        let batcher = napi::bindgen_prelude::within_runtime_if_available(|| {
            Batcher::start(warm.clone(), outbox.clone(), &tasks)
        });
        Ok(Core {
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
        // Still in the policy means JS found it expired (spec §2: reading it deletes it).
        self.hot.forget(&key);
        let issued = self.hot.generation();
        self.batcher.submit(Job {
            command: Command::Get(key.clone()),
            deadline: started + self.settings.command_timeout,
            // compat: the TS service logged a failed read and returned null.
            finish: Box::new(move |_, _, replies, metrics| {
                match replies.ok().and_then(|r| r.into_iter().next()).and_then(warm::text) {
                    Some(json) => {
                        let value = points::decode(json);
                        Completion {
                            id,
                            outcome: Outcome::Found(Found { key, value, issued, started }),
                        }
                    }
                    None => {
                        metrics.push(Metric::Get { layer: Layer::Miss, ms: elapsed_ms(started) });
                        Completion { id, outcome: Outcome::Miss }
                    }
                }
            }),
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
        value: Serialised,
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
        // Points stay unserialised (the pipeline writes them) when their size bound already
        // settles both the hot-tier admission and the size limit.
        let body = match value {
            Serialised::Points(p)
                if p.max_json_len() < AUTO_HOT_MAX_BYTES.min(limit.saturating_add(1)) =>
            {
                Body::Points(p)
            }
            Serialised::Points(p) => Body::Json(p.to_json()),
            Serialised::Json(json) => {
                let unreadable = |e: napi::Error| {
                    CacheError::Type(format!("data could not be serialised: {}", e.reason))
                };
                let bytes = json.utf8_len().map_err(unreadable)?;
                if bytes > limit {
                    return Err(too_big(bytes));
                }
                Body::Json(json.into_utf8().and_then(|s| s.into_owned()).map_err(unreadable)?)
            }
        };
        let small = match &body {
            Body::Json(json) if json.len() > limit => return Err(too_big(json.len())),
            // compat: the TS service compared the JSON's JavaScript length (UTF-16 units).
            Body::Json(json) => utf16_len(json) < AUTO_HOT_MAX_BYTES,
            Body::Points(_) => true,
        };
        let to_hot = priority == Priority::Hot
            || (priority == Priority::Auto && small && count < AUTO_HOT_MAX_POINTS);
        let stored = match to_hot {
            true => self.hot.insert(key.clone(), started).map_or(Stored::Warm, Stored::Hot),
            false => Stored::Warm,
        };
        let layer = if to_hot { Layer::Both } else { Layer::Warm };
        let strict = self.settings.strict_warm_writes;
        let ttl_secs = self.settings.warm_ttl_secs;
        self.batcher.submit(Job {
            command: Command::Set { key, body, ttl_secs },
            deadline: started + self.settings.command_timeout,
            finish: Box::new(move |warm, command, replies, metrics| {
                let data_size = command.json_len();
                let written = replies.and_then(|r| warm.status(r.into_iter().next()));
                let outcome = match written {
                    Ok(()) => {
                        metrics.push(Metric::Set { layer, ms: elapsed_ms(started), data_size });
                        Outcome::Done
                    }
                    Err(e) if strict => {
                        metrics.push(Metric::Failed {
                            op: "setData",
                            critical: true,
                            message: e.to_string(),
                        });
                        // compat: the TS service's message; the code still tells Redis from timeout.
                        Outcome::Failed {
                            code: e.code(),
                            message: format!("StreamCache setData failed: {e}"),
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        metrics.push(Metric::SetWarmFailed {
                            ms: elapsed_ms(started),
                            data_size,
                            message,
                        });
                        Outcome::Done
                    }
                };
                Completion { id, outcome }
            }),
        });
        Ok(stored)
    }

    /// Starts the Redis reads of the keys a batch did not find in JS's hot `Map`; one
    /// completion for `id` follows.
    pub fn batch(&mut self, id: u32, missing: Vec<String>) {
        let started = Instant::now();
        for key in &missing {
            self.hot.forget(key);
        }
        let issued = self.hot.generation();
        let chunk = self.settings.max_batch_size;
        self.batcher.submit(Job {
            command: Command::MGet { keys: missing.clone(), chunk },
            deadline: started + self.settings.command_timeout,
            // A failed read leaves every key a miss (spec §3: per-key errors give null).
            finish: Box::new(move |_, _, replies, metrics| {
                let replies = warm::texts(replies.unwrap_or_default(), missing.len(), chunk);
                let items = missing
                    .into_iter()
                    .zip(replies)
                    .map(|(key, json)| match json {
                        Some(json) => {
                            Some(Found { key, value: points::decode(json), issued, started })
                        }
                        None => {
                            metrics
                                .push(Metric::Get { layer: Layer::Miss, ms: elapsed_ms(started) });
                            None
                        }
                    })
                    .collect();
                Completion { id, outcome: Outcome::Batch(items) }
            }),
        });
    }

    pub fn delete(&mut self, id: u32, key: String) {
        self.hot.remove(&key);
        self.batcher.submit(Job {
            command: Command::Del(key),
            deadline: Instant::now() + self.settings.command_timeout,
            // Reported, not thrown (spec §3).
            finish: Box::new(move |warm, _, replies, metrics| {
                if let Err(e) = replies.and_then(|r| warm.status(r.into_iter().next())) {
                    metrics.push(Metric::Failed {
                        op: "deleteData",
                        critical: false,
                        message: e.to_string(),
                    });
                }
                Completion { id, outcome: Outcome::Done }
            }),
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

    pub fn health(&mut self, id: u32) {
        let (warm, outbox) = (self.warm.clone(), self.outbox.clone());
        self.tasks.spawn(async move {
            let health = warm.health().await;
            let metric = health.error.clone().map(|message| Metric::Failed {
                op: "healthCheck",
                critical: false,
                message,
            });
            outbox.complete(Completion { id, outcome: Outcome::Health(health) }, metric);
        });
    }

    pub fn report_system(&mut self, healthy: bool) {
        self.outbox.record(Metric::System { name: "cache_hot_size", value: self.hot.len() as f64 });
        self.outbox.record(Metric::System {
            name: "health_status",
            value: if healthy { 1.0 } else { 0.0 },
        });
    }

    /// JS built a ticket's value (`found`), or found it was not a JSON array (a miss,
    /// compat). Promotes it unless a newer write or delete won; see [`Stored`].
    pub fn settle(&mut self, ticket: u32, found: bool) -> Result<Stored> {
        let Some(ticket) = self.tickets.get(ticket as usize) else {
            return Err(CacheError::Range(format!("unknown ticket {ticket}")));
        };
        let (key, issued, started) = (ticket.key.clone(), ticket.issued, ticket.started);
        if !found {
            self.outbox.record(Metric::Get { layer: Layer::Miss, ms: elapsed_ms(started) });
            return Ok(Stored::Nothing);
        }
        self.outbox.record(Metric::Get { layer: Layer::Warm, ms: elapsed_ms(started) });
        Ok(self.hot.promote(key, issued, Instant::now()).map_or(Stored::Warm, Stored::Hot))
    }

    /// Hits JS served from its `Map`, reported in bulk so the policy sees each access.
    /// (Their events JS builds itself.)
    pub fn touch(&mut self, keys: Vec<String>) {
        for key in &keys {
            self.hot.touch(key);
        }
    }

    /// Appends the rows of one value Redis returned. Decoded points are promoted right
    /// here: `[id, points kind, offset, 1 if admitted]`, then one `EVICTED` row per key that
    /// left. JSON that JS must parse gets a ticket for `settle` instead: `[id, json kind,
    /// string, ticket]`.
    fn found_rows(&mut self, id: f64, found: Found, out: &mut Drained, kinds: (f64, f64)) {
        let Found { key, value, issued, started } = found;
        match value {
            Decoded::Points(p) => {
                let at = points::encode(p, &mut out.points, &mut out.strings);
                self.outbox.record(Metric::Get { layer: Layer::Warm, ms: elapsed_ms(started) });
                let evicted = self.hot.promote(key, issued, Instant::now());
                out.ops.extend_from_slice(&[
                    id,
                    kinds.0,
                    at,
                    if evicted.is_some() { 1.0 } else { 0.0 },
                ]);
                for key in evicted.into_iter().flatten() {
                    out.strings.push(key);
                    out.ops.extend_from_slice(&[
                        id,
                        op::EVICTED,
                        (out.strings.len() - 1) as f64,
                        0.0,
                    ]);
                }
            }
            Decoded::Json(json) => {
                self.tickets.push(Ticket { key, issued, started });
                out.strings.push(json);
                let (at, ticket) =
                    ((out.strings.len() - 1) as f64, (self.tickets.len() - 1) as f64);
                out.ops.extend_from_slice(&[id, kinds.1, at, ticket]);
            }
        }
    }

    /// Results and up to `max_events` events queued since the last drain, for `index.js`.
    pub fn drain(&mut self, max_events: usize) -> Drained {
        self.tickets.clear();
        let mut expired = Vec::new();
        if self.outbox.take_cleanup_due() {
            expired = self.hot.remove_expired(Instant::now());
            crate::metrics::Counters::add(&self.outbox.counters.cleaned, expired.len() as u64);
        }
        let (done, queued, again) = self.outbox.take(max_events);
        let mut out = Drained {
            ops: Vec::with_capacity(done.len() * OP_STRIDE),
            events: Vec::new(),
            points: Vec::new(),
            strings: Vec::new(),
            expired,
            again,
        };
        for Completion { id, outcome } in done {
            let id = id as f64;
            let row = match outcome {
                Outcome::Done => [id, op::DONE, 0.0, 0.0],
                Outcome::Miss => [id, op::MISS, 0.0, 0.0],
                Outcome::Found(found) => {
                    self.found_rows(id, found, &mut out, (op::FOUND_POINTS, op::FOUND));
                    continue;
                }
                Outcome::Batch(items) => {
                    for item in items {
                        match item {
                            Some(found) => self.found_rows(
                                id,
                                found,
                                &mut out,
                                (op::BATCH_POINTS, op::BATCH_ITEM),
                            ),
                            None => out.ops.extend_from_slice(&[id, op::BATCH_ITEM, -1.0, -1.0]),
                        }
                    }
                    [id, op::BATCH_END, 0.0, 0.0]
                }
                Outcome::Cleared(c) => [id, op::CLEARED, c.deleted as f64, c.preserved as f64],
                Outcome::Health(health) => {
                    // Rare and small: the node list crosses as JSON.
                    out.strings
                        .push(serde_json::to_string(&health.nodes).unwrap_or_else(|_| "[]".into()));
                    out.ops.extend_from_slice(&[
                        id,
                        op::HEALTH_NODES,
                        (out.strings.len() - 1) as f64,
                        0.0,
                    ]);
                    let error = match health.error {
                        Some(message) => {
                            out.strings.push(message);
                            (out.strings.len() - 1) as f64
                        }
                        None => -1.0,
                    };
                    [id, op::HEALTH, error, self.hot.len() as f64]
                }
                Outcome::Failed { code, message } => {
                    out.strings.push(message);
                    out.strings.push(code.to_string());
                    let n = out.strings.len() as f64;
                    [id, op::FAILED, n - 2.0, n - 1.0]
                }
            };
            out.ops.extend_from_slice(&row);
        }
        out.events.reserve(queued.len() * crate::metrics::EVENT_STRIDE);
        let now = Instant::now();
        let mut waited_us = 0;
        for q in &queued {
            waited_us += now.saturating_duration_since(q.enqueued).as_micros() as u64;
        }
        self.outbox.counters.record_latency(waited_us, queued.len() as u64);
        for q in queued {
            q.metric.encode(q.at_ms, &mut out.events, &mut out.strings);
        }
        out
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

    /// Stops every task, empties the hot tier and releases the JS callback (spec §5).
    pub fn destroy(mut self) {
        self.tasks.cancel();
        self.hot.clear();
        drop(self.outbox.shut());
    }
}
