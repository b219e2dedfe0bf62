//! The JavaScript surface of stream-cache-native. Everything here only converts
//! arguments and delegates; `index.js` wraps it into the promise-returning `StreamCache`.
//! How the two sides divide the work: docs/architecture.md.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod batcher;
mod cache;
mod completion;
mod error;
mod hot;
mod js;
mod metrics;
mod options;
mod outbox;
mod points;
mod replies;
mod tasks;
mod warm;
mod wire;

use std::sync::Arc;

use napi::bindgen_prelude::{Either, Float64ArraySlice, Function, ObjectFinalize};
use napi::{Env, JsString, Unknown};
use napi_derive::napi;
use tokio_util::sync::CancellationToken;

use crate::cache::{Cache, SetValue, Stored};
use crate::error::CacheError;
use crate::metrics::Counters;
use crate::options::Settings;
use crate::outbox::Outbox;
use crate::points::Encoded;
use crate::tasks::Tasks;
use crate::wire::{Drain, DrainHeader};

/// What became of the events of the last drain.
#[napi(object)]
pub struct Delivered {
    pub emitted: u32,
    /// Callback calls that threw.
    pub failed: u32,
    /// Not delivered: the cache was destroyed or its metrics released meanwhile.
    pub dropped: u32,
}

#[napi(object)]
pub struct NativeLimits {
    pub hot_ttl_ms: f64,
    pub max_pending_metrics: f64,
}

/// Every numeric option's default (see [`options::OptionDefaults`]).
#[napi(catch_unwind)]
pub fn option_defaults() -> options::OptionDefaults {
    options::DEFAULTS
}

/// What JS is told: `false` nothing started, `true` warm only, the evicted keys when the
/// hot tier took the value, `null` when the hot tier learns it at completion (a series).
fn to_js(stored: Stored) -> Option<Either<bool, Vec<String>>> {
    match stored {
        Stored::Nothing => Some(Either::A(false)),
        Stored::NotHot => Some(Either::A(true)),
        Stored::Hot(evicted) => Some(Either::B(evicted)),
        Stored::Later => None,
    }
}

/// The delivery counters (docs/contract.md, "Lifecycle").
#[napi(object)]
pub struct NativeStats {
    pub pending_metrics: f64,
    pub emitted_metrics: f64,
    pub dropped_metrics: f64,
    pub failed_metrics: f64,
    pub mean_metric_latency_ms: f64,
    pub hot_cache_size: f64,
    pub expired_cleaned: f64,
    /// Keys Redis reported changed (a flush or a lost connection counts one).
    pub invalidations_received: f64,
    /// Hot entries dropped because of those reports.
    pub hot_entries_invalidated: f64,
    pub destroyed: bool,
}

#[napi(custom_finalize)]
pub struct NativeStreamCache {
    /// `None` once destroyed.
    core: Option<Cache>,
    outbox: Arc<Outbox>,
    /// Operations started and not yet handed back by a drain.
    in_flight: usize,
    /// A drain whose rows did not fit JS's buffer, until `take_spilled`.
    spilled: Option<Drain>,
}

impl NativeStreamCache {
    fn core(&mut self, env: &Env) -> napi::Result<&mut Cache> {
        self.core.as_mut().ok_or_else(|| CacheError::Destroyed.throw(env))
    }

    /// Counts an operation that will complete at a later drain; the first holds the event
    /// loop open, so an awaited result is never lost to process exit.
    fn started(&mut self, env: &Env) -> napi::Result<()> {
        self.in_flight += 1;
        match self.in_flight {
            1 => self.outbox.keep_alive(env, true),
            _ => Ok(()),
        }
    }

    fn store(
        &mut self,
        env: &Env,
        id: u32,
        key: Unknown,
        count: Result<Option<u32>, CacheError>,
        value: Result<SetValue, CacheError>,
        priority: Unknown,
    ) -> napi::Result<Option<Either<bool, Vec<String>>>> {
        let key = js::key(key, "key").map_err(|e| e.throw(env))?;
        let priority = js::priority(priority).map_err(|e| e.throw(env))?;
        let count = count.map_err(|e| e.throw(env))?;
        let value = value.map_err(|e| e.throw(env))?;
        let stored =
            self.core(env)?.set(id, key, count, value, priority).map_err(|e| e.throw(env))?;
        if !matches!(stored, Stored::Nothing) {
            self.started(env)?;
        }
        Ok(to_js(stored))
    }
}

#[napi]
impl NativeStreamCache {
    /// `wake` is called (weakly, without arguments) whenever results or events are queued.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: Unknown, wake: Function<(), ()>) -> napi::Result<Self> {
        let settings = options::JsOptions::new(options, "options")
            .and_then(|o| Settings::from_source(&o))
            .map_err(|e| e.throw(&env))?;
        let waker = wake
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .callee_handled::<false>()
            .build()?;
        let cancel = CancellationToken::new();
        let outbox = Arc::new(Outbox::new(
            Some(Box::new(waker)),
            settings.metrics_enabled,
            settings.max_pending_metrics,
            cancel.clone(),
        ));
        let core =
            Cache::new(settings, outbox.clone(), Tasks::new(cancel)).map_err(|e| e.throw(&env))?;
        Ok(NativeStreamCache { core: Some(core), outbox, in_flight: 0, spilled: None })
    }

    /// Starts the Redis read of a key the JS hot `Map` does not hold; completes `id`.
    #[napi(catch_unwind)]
    pub fn get(&mut self, env: &Env, id: u32, key: Unknown) -> napi::Result<()> {
        let key = js::key(key, "key").map_err(|e| e.throw(env))?;
        self.core(env)?.get(id, key);
        self.started(env)
    }

    /// `get` after checking `since`, for `getDataSince`.
    #[napi(catch_unwind)]
    pub fn get_since(
        &mut self,
        env: &Env,
        id: u32,
        key: Unknown,
        since: Unknown,
    ) -> napi::Result<()> {
        let key = js::key(key, "key").map_err(|e| e.throw(env))?;
        js::since(since).map_err(|e| e.throw(env))?;
        self.core(env)?.get(id, key);
        self.started(env)
    }

    /// `false` when there was no data; otherwise a write for `id` started (see `to_js`).
    #[napi(catch_unwind)]
    pub fn set(
        &mut self,
        env: &Env,
        id: u32,
        key: Unknown,
        data: Unknown,
        json: JsString,
        priority: Unknown,
    ) -> napi::Result<Option<Either<bool, Vec<String>>>> {
        self.store(env, id, key, js::point_count(data), Ok(SetValue::Json(json)), priority)
    }

    /// `set` for canonical points, handed over as rows of `PointField`s (see `wire`) and
    /// their symbols; the JSON is written off the JS thread.
    #[napi(catch_unwind)]
    pub fn set_points(
        &mut self,
        env: &Env,
        id: u32,
        key: Unknown,
        rows: &[f64],
        symbols: Vec<String>,
        priority: Unknown,
    ) -> napi::Result<Option<Either<bool, Vec<String>>>> {
        let encoded = Encoded::new(rows.to_vec(), symbols);
        let count = encoded.as_ref().map(|e| (e.len() > 0).then_some(e.len() as u32));
        let count = count.map_err(Clone::clone);
        self.store(env, id, key, count, encoded.map(SetValue::Points), priority)
    }

    /// Starts the Redis reads of the keys a batch did not find in the JS hot `Map`.
    #[napi(catch_unwind)]
    pub fn batch(&mut self, env: &Env, id: u32, keys: Unknown) -> napi::Result<()> {
        let keys = js::keys(keys).map_err(|e| e.throw(env))?;
        self.core(env)?.batch(id, keys);
        self.started(env)
    }

    #[napi(catch_unwind)]
    pub fn delete(&mut self, env: &Env, id: u32, key: Unknown) -> napi::Result<()> {
        let key = js::key(key, "key").map_err(|e| e.throw(env))?;
        self.core(env)?.delete(id, key);
        self.started(env)
    }

    #[napi(catch_unwind)]
    pub fn clear_all(&mut self, env: &Env, id: u32, options: Unknown) -> napi::Result<()> {
        let options = js::clear_options(options).map_err(|e| e.throw(env))?;
        self.core(env)?.clear_all(id, options);
        self.started(env)
    }

    /// PINGs Redis; with `report_system`, the system metrics follow from the same task.
    #[napi(catch_unwind)]
    pub fn health(&mut self, env: &Env, id: u32, report_system: bool) -> napi::Result<()> {
        self.core(env)?.health(id, report_system);
        self.started(env)
    }

    /// Answers a `Json` row: whether the text JS parsed was a JSON array. Returns the evicted
    /// keys when the value entered the hot tier, `false` otherwise.
    #[napi(catch_unwind)]
    pub fn adopt_parsed(
        &mut self,
        env: &Env,
        ticket: u32,
        found: bool,
    ) -> napi::Result<Option<Either<bool, Vec<String>>>> {
        self.core(env)?.adopt_parsed(ticket, found).map(to_js).map_err(|e| e.throw(env))
    }

    /// Takes what JS did since the last drain (the hot hits it served, for the eviction
    /// policy, and what became of the last drain's events), then writes every queued result
    /// and at most `max_events` metric events into `buf` (see `DrainHeader`). Returns the
    /// rows' strings, or nothing when there are none.
    #[napi(catch_unwind)]
    pub fn drain(
        &mut self,
        env: &Env,
        max_events: u32,
        touched: Option<Vec<String>>,
        delivered: Delivered,
        mut buf: Float64ArraySlice,
    ) -> napi::Result<Option<Vec<String>>> {
        // SAFETY: this runs on the JS thread and no JavaScript runs until it returns.
        let buf = unsafe { buf.as_mut() };
        if buf.len() < DrainHeader::Size as usize {
            return Err(CacheError::Range(
                "buf must hold at least DrainHeader.Size numbers".into(),
            )
            .throw(env));
        }
        let c = &self.outbox.counters;
        Counters::add(&c.emitted, delivered.emitted as u64);
        Counters::add(&c.failed, delivered.failed as u64);
        Counters::add(&c.dropped, delivered.dropped as u64);
        let core = self.core(env)?;
        if let Some(keys) = touched {
            core.touch(keys);
        }
        let (mut drain, finished) = core.drain(max_events as usize);
        self.in_flight = self.in_flight.saturating_sub(finished);
        if finished > 0 && self.in_flight == 0 {
            self.outbox.keep_alive(env, false)?;
        }
        let strings = std::mem::take(&mut drain.rows.strings);
        if !drain.write(buf) {
            self.spilled = Some(drain);
        }
        Ok((!strings.is_empty()).then_some(strings))
    }

    /// Writes the rows of a drain that did not fit (`DrainFlag.Spilled`) into a larger `buf`.
    #[napi(catch_unwind)]
    pub fn take_spilled(&mut self, env: &Env, mut buf: Float64ArraySlice) -> napi::Result<()> {
        // SAFETY: as in `drain`.
        let buf = unsafe { buf.as_mut() };
        match self.spilled.take() {
            Some(drain) if drain.write(buf) => Ok(()),
            _ => Err(CacheError::Range("buf is too small for the spilled drain".into()).throw(env)),
        }
    }

    /// Sends the Redis commands the operations since the last flush queued (`Batcher`).
    #[napi(catch_unwind)]
    pub fn flush(&mut self, env: &Env) -> napi::Result<()> {
        self.core(env)?.flush();
        Ok(())
    }

    /// Places for `n` hot-hit events in the bounded metric queue; returns how many fit.
    #[napi(catch_unwind)]
    pub fn reserve_events(&self, n: u32) -> u32 {
        self.outbox.reserve(n as usize) as u32
    }

    /// JS delivered `delivered` reserved events, `failed` of them threw, after `waited_ms`.
    #[napi(catch_unwind)]
    pub fn delivered_reserved(&self, delivered: u32, failed: u32, waited_ms: f64) {
        self.outbox.release(delivered as usize, failed as usize, waited_ms);
    }

    /// Starts metric events for a cache built without `onMetric`, when a metrics integration
    /// (js/observe.js) listens.
    #[napi(catch_unwind)]
    pub fn start_metrics(&self) {
        self.outbox.start_events();
    }

    /// Ends metric delivery for good while operations go on (`StreamCache.releaseMetrics`).
    #[napi(catch_unwind)]
    pub fn release_metrics(&self) {
        self.outbox.stop_events();
    }

    /// Settings the JS side needs: its `Map` applies the hot TTL, and bounds the hit keys
    /// it keeps for the policy like the metric queue.
    #[napi(catch_unwind)]
    pub fn limits(&self, env: &Env) -> napi::Result<NativeLimits> {
        let core = self.core.as_ref().ok_or_else(|| CacheError::Destroyed.throw(env))?;
        Ok(NativeLimits {
            hot_ttl_ms: core.hot_ttl().as_secs_f64() * 1000.0,
            max_pending_metrics: self.outbox.max_events() as f64,
        })
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativeStats {
        let c = &self.outbox.counters;
        NativeStats {
            pending_metrics: self.outbox.pending_events() as f64,
            emitted_metrics: Counters::get(&c.emitted),
            dropped_metrics: Counters::get(&c.dropped),
            failed_metrics: Counters::get(&c.failed),
            mean_metric_latency_ms: c.mean_latency_ms(),
            hot_cache_size: self.core.as_ref().map_or(0, |c| c.hot_size()) as f64,
            expired_cleaned: Counters::get(&c.cleaned),
            invalidations_received: Counters::get(&c.invalidations),
            hot_entries_invalidated: Counters::get(&c.invalidated),
            destroyed: self.core.is_none(),
        }
    }

    /// Idempotent; after it returns no result or event reaches JS again.
    #[napi(catch_unwind)]
    pub fn destroy(&mut self) {
        if let Some(core) = self.core.take() {
            core.destroy();
        }
    }
}

impl ObjectFinalize for NativeStreamCache {
    /// Garbage-collected without `destroy()`: stop the tasks and free the hot tier.
    fn finalize(mut self, _env: Env) -> napi::Result<()> {
        self.destroy();
        Ok(())
    }
}

/// One tokio worker: the Redis traffic is one pipeline loop per cache, and on a small
/// machine a second worker only adds cross-thread wake-ups against the JS thread. Every
/// worker_threads environment runs this again; only the first may build a runtime.
#[napi_derive::module_init]
fn init() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(install_runtime);
}

fn install_runtime() {
    if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("stream-cache-io")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
