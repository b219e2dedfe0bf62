//! The operations (docs/contract.md, "Operations"), run on the JS thread up to the point
//! where Redis is needed; the Redis part runs on tokio and comes back through the
//! [`Outbox`]. The drain turns what came back into rows for `index.js` (see `wire`).
//!
//! Hot hits never get here: `index.js` serves them from its `Map` and reports them in
//! batches ([`Cache::touch`]); this side keeps the hot tier's policy (see `hot`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use napi::JsString;

use crate::batcher::{Batcher, Job};
use crate::completion::{Completion, Found, MergeResult, Merged, Outcome};
use crate::error::{CacheError, Result};
use crate::hot::{takes_hot, Generation, HotTier, AUTO_HOT_MAX_BYTES};
use crate::js::{ClearOptions, Priority};
use crate::metrics::{elapsed_ms, Counters, Metric};
use crate::options::{Coherence, Settings};
use crate::outbox::{now_ms, Outbox};
use crate::points::{self, utf16_len, Decoded, Encoded};
use crate::replies::{MergeThen, Then};
use crate::tasks::Tasks;
use crate::warm::{Body, Command, Merge, NodeHealth, Sink, Warm};
use crate::wire::{Drain, DrainFlag, OpKind, Rows, NO_STRING, OP_STRIDE};

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

/// A Redis value JS is parsing right now; JS answers with `adoptParsed(ticket, found)`.
struct Ticket {
    key: String,
    issued: Generation,
    started: Instant,
    /// A `getData` read reports its event; a batch's keys report none (compat).
    reports: bool,
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

    /// JS built a ticket's value (`found`), or found it was not a JSON array (a miss,
    /// compat). Promotes it unless a newer write or delete won; see [`Stored`].
    pub fn adopt_parsed(&mut self, ticket: u32, found: bool) -> Result<Stored> {
        let Some(ticket) = self.tickets.get(ticket as usize) else {
            return Err(CacheError::Range(format!("unknown ticket {ticket}")));
        };
        let (key, issued, started) = (ticket.key.clone(), ticket.issued, ticket.started);
        if ticket.reports {
            self.outbox.record(Metric::Get { found, ms: elapsed_ms(started) });
        }
        if !found {
            return Ok(Stored::Nothing);
        }
        Ok(self.hot.promote(key, issued, Instant::now()).map_or(Stored::NotHot, Stored::Hot))
    }

    /// Hits JS served from its `Map`, reported in bulk so the policy sees each access.
    /// (Their events JS builds itself.)
    pub fn touch(&mut self, keys: Vec<String>) {
        for key in &keys {
            self.hot.touch(key);
        }
    }

    /// Appends the rows of one value Redis returned. Decoded points are promoted right
    /// here: a `points` row, then one `Evicted` row per key that left. JSON that JS must
    /// parse gets a ticket for `adopt_parsed` instead: a `json` row. Only a `getData` read
    /// reports an event: the TS service's `getBatchData` reported none for its keys.
    fn found_rows(&mut self, id: f64, found: Found, out: &mut Rows, kinds: (OpKind, OpKind)) {
        let Found { key, value, issued, started } = found;
        let reports = kinds.0 == OpKind::Points;
        match value {
            Decoded::Points(p) => {
                let at = points::encode(p, &mut out.points, &mut out.strings);
                if reports {
                    self.outbox.record(Metric::Get { found: true, ms: elapsed_ms(started) });
                }
                let evicted = self.hot.promote(key, issued, Instant::now());
                out.op(id, kinds.0, at, if evicted.is_some() { 1.0 } else { 0.0 });
                for key in evicted.into_iter().flatten() {
                    let key = out.string(key);
                    out.op(id, OpKind::Evicted, key, 0.0);
                }
            }
            Decoded::Json(json) => {
                self.tickets.push(Ticket { key, issued, started, reports });
                let (text, ticket) = (out.string(json), (self.tickets.len() - 1) as f64);
                out.op(id, kinds.1, text, ticket);
            }
        }
    }

    /// A series write's rows: the merged series enters the hot tier unless the rule keeps
    /// it out, or the key changed or was deleted since the write was issued.
    fn merged_rows(&mut self, id: f64, merged: Merged, out: &mut Rows) {
        let Merged { key, issued, result } = merged;
        let (value, to_hot) = match result {
            MergeResult::Stored { value, to_hot } => (value, to_hot),
            MergeResult::Refused(outcome) => {
                self.hot.own_write_ended(&key, Some(false));
                return self.outcome_rows(id, *outcome, out);
            }
            MergeResult::Unknown(outcome) => {
                self.hot.own_write_ended(&key, None);
                return self.outcome_rows(id, *outcome, out);
            }
        };
        if let (true, Decoded::Points(p)) = (to_hot, value) {
            if let Some(evicted) = self.hot.admit(key.clone(), issued, Instant::now()) {
                let at = points::encode(p, &mut out.points, &mut out.strings);
                out.op(id, OpKind::Stored, at, 1.0);
                for key in evicted {
                    let key = out.string(key);
                    out.op(id, OpKind::Evicted, key, 0.0);
                }
                return;
            }
        }
        self.hot.fence(&key);
        out.op(id, OpKind::Stored, -1.0, 0.0);
    }

    fn outcome_rows(&mut self, id: f64, outcome: Outcome, out: &mut Rows) {
        let no_string = f64::from(NO_STRING);
        match outcome {
            Outcome::Done => out.op(id, OpKind::Done, 0.0, 0.0),
            Outcome::Merged(merged) => self.merged_rows(id, merged, out),
            Outcome::Miss => out.op(id, OpKind::Miss, 0.0, 0.0),
            Outcome::Found(found) => {
                self.found_rows(id, found, out, (OpKind::Points, OpKind::Json))
            }
            Outcome::Batch(items) => {
                for item in items {
                    match item {
                        Some(found) => self.found_rows(
                            id,
                            found,
                            out,
                            (OpKind::BatchPoints, OpKind::BatchJson),
                        ),
                        None => out.op(id, OpKind::BatchJson, no_string, no_string),
                    }
                }
                out.op(id, OpKind::BatchEnd, 0.0, 0.0)
            }
            Outcome::Cleared(c) => {
                out.op(id, OpKind::Cleared, c.deleted as f64, c.preserved as f64)
            }
            Outcome::Health(health) => {
                // Rare and small: the details cross as JSON.
                let detail = serde_json::json!({
                    "nodes": health.nodes.iter().map(NodeHealth::to_json).collect::<Vec<_>>(),
                    "coherence": self.warm.coherence().name(),
                });
                let detail = out.string(detail.to_string());
                out.op(id, OpKind::HealthDetail, detail, 0.0);
                let error = health.error.map_or(no_string, |message| out.string(message));
                out.op(id, OpKind::Health, error, self.hot.len() as f64)
            }
            Outcome::Failed { code, message } => {
                let (message, code) = (out.string(message), out.string(code.as_str().to_owned()));
                out.op(id, OpKind::Failed, message, code)
            }
        }
    }

    /// Results and up to `max_events` events queued since the last drain, for `index.js`,
    /// and how many operations this completes.
    pub fn drain(&mut self, max_events: usize) -> (Drain, usize) {
        self.tickets.clear();
        let mut dropped = Vec::new();
        if self.outbox.take_cleanup_due() {
            dropped = self.hot.remove_expired(Instant::now());
            Counters::add(&self.outbox.counters.cleaned, dropped.len() as u64);
        }
        let (done, changed) = self.outbox.take_results();
        // Before the results: a read that raced a change must not promote the old value.
        let cleared = changed.all;
        let before = self.hot.len();
        if cleared {
            self.hot.clear();
        }
        for key in changed.keys {
            if self.hot.redis_changed(&key) {
                dropped.push(key);
            }
        }
        Counters::add(&self.outbox.counters.invalidated, (before - self.hot.len()) as u64);
        let finished = done.len();
        let mut out = Rows { ops: Vec::with_capacity(done.len() * OP_STRIDE), ..Rows::default() };
        for Completion { id, outcome } in done {
            self.outcome_rows(id as f64, outcome, &mut out);
        }
        // After the results, so the events they report go out in this drain too.
        let (queued, again) = self.outbox.take_events(max_events);
        out.events.reserve(queued.len() * crate::wire::EVENT_STRIDE);
        let now = Instant::now();
        let mut waited_us = 0;
        for q in &queued {
            waited_us += now.saturating_duration_since(q.enqueued).as_micros() as u64;
        }
        self.outbox.counters.record_latency(waited_us, queued.len() as u64);
        for q in queued {
            q.metric.encode(q.at_ms, &mut out);
        }
        let mut flags = 0;
        if cleared {
            flags |= DrainFlag::Cleared as u32;
        }
        if again {
            flags |= DrainFlag::Again as u32;
        }
        let dropped_count = dropped.len();
        out.strings.extend(dropped);
        (Drain { rows: out, flags, dropped: dropped_count }, finished)
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

/// Asks the JS thread to drop expired hot entries every `every` (`cleanupInterval`): the
/// hot tier lives on the JS thread, so the timer only wakes it.
fn start_expiry_timer(tasks: &Tasks, outbox: Arc<Outbox>, every: Duration) {
    tasks.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            outbox.request_cleanup();
        }
    });
}
