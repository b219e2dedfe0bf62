//! The wake-and-drain queue between Rust producers and the JS thread.
//!
//! Producers (tokio tasks and the JS thread itself) push operation results and metric
//! events here. Only the idle → busy transition calls the one weak, payload-free
//! ThreadsafeFunction, so a burst of thousands of events costs one wake-up, nothing
//! crosses N-API per event, a full queue drops in Rust (nothing leaks), and the weak
//! function never keeps the process alive. See docs/architecture.md, "One warm read".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use tokio_util::sync::CancellationToken;

use crate::completion::Completion;
use crate::metrics::{Counters, Metric};
use crate::warm::Report;

/// The JS drain function, weak (does not hold the event loop open), without payload.
pub type Waker = ThreadsafeFunction<(), (), (), Status, false, true>;

/// How the outbox reaches JavaScript: the addon's ThreadsafeFunction ([`Waker`]); unit
/// tests give none and watch the wake flag instead.
pub trait JsWake: Send + Sync {
    /// Asks JS to drain, without blocking; `false` once the JS environment is closing.
    fn wake(&self) -> bool;
    /// Refs or unrefs the event loop handle (see [`Outbox::keep_alive`]).
    fn keep_alive(&mut self, env: &napi::Env, on: bool) -> napi::Result<()>;
}

impl JsWake for Waker {
    fn wake(&self) -> bool {
        self.call((), ThreadsafeFunctionCallMode::NonBlocking) != Status::Closing
    }

    #[allow(deprecated)] // ref/unref is exactly this toggle; clone() cannot express it
    fn keep_alive(&mut self, env: &napi::Env, on: bool) -> napi::Result<()> {
        match on {
            true => self.refer(env),
            false => self.unref(env),
        }
    }
}

/// An event waiting for a drain, stamped when it was queued.
pub struct QueuedMetric {
    pub metric: Metric,
    pub at_ms: f64,
    pub enqueued: Instant,
}

/// Warm keys Redis reported changed since the last drain.
#[derive(Default)]
pub struct Changed {
    pub keys: Vec<String>,
    /// Any key may have changed.
    pub all: bool,
}

impl Changed {
    fn any(&self) -> bool {
        self.all || !self.keys.is_empty()
    }
}

#[derive(Default)]
struct Queues {
    done: Vec<Completion>,
    changed: Changed,
    events: VecDeque<QueuedMetric>,
    /// Places held for hot-hit events, which JS builds and delivers itself; they count
    /// against `max_events` like queued ones, so the bound covers both sides.
    reserved: usize,
}

pub struct Outbox {
    queues: Mutex<Queues>,
    wake_pending: AtomicBool,
    cleanup_due: AtomicBool,
    waker: RwLock<Option<Box<dyn JsWake>>>,
    /// Set by [`Outbox::start_events`], cleared for good by [`Outbox::stop_events`] (JS never
    /// starts them again after that); results flow either way.
    events_enabled: AtomicBool,
    max_events: usize,
    /// Cancelled when the JS environment goes away under us (worker terminated).
    closing: CancellationToken,
    pub counters: Counters,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock must not take every later call down too.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

impl Outbox {
    /// `waker` is `None` only in tests.
    pub fn new(
        waker: Option<Box<dyn JsWake>>,
        events_enabled: bool,
        max_events: usize,
        closing: CancellationToken,
    ) -> Self {
        Outbox {
            queues: Mutex::new(Queues::default()),
            wake_pending: AtomicBool::new(false),
            cleanup_due: AtomicBool::new(false),
            waker: RwLock::new(waker),
            events_enabled: AtomicBool::new(events_enabled),
            max_events,
            closing,
            counters: Counters::default(),
        }
    }

    /// Queues events stamped with one clock reading: a burst needs no clock per event.
    fn push_events(&self, queues: &mut Queues, metrics: impl IntoIterator<Item = Metric>) {
        if !self.events_enabled() {
            return;
        }
        let (at_ms, enqueued) = (now_ms(), Instant::now());
        for metric in metrics {
            if queues.events.len() + queues.reserved >= self.max_events {
                Counters::add(&self.counters.dropped, 1);
                continue;
            }
            queues.events.push_back(QueuedMetric { metric, at_ms, enqueued });
        }
    }

    pub fn record(&self, metric: Metric) {
        self.record_all(Some(metric));
    }

    pub fn record_all(&self, metrics: impl IntoIterator<Item = Metric>) {
        if !self.events_enabled() {
            return;
        }
        self.push_events(&mut lock(&self.queues), metrics);
        self.wake();
    }

    /// Queues a result together with its events, so no drain can see the events first.
    pub fn complete(&self, done: Completion, metrics: impl IntoIterator<Item = Metric>) {
        {
            let mut queues = lock(&self.queues);
            queues.done.push(done);
            self.push_events(&mut queues, metrics);
        }
        self.wake();
    }

    /// [`Outbox::complete`] for many results at once, emptying both vectors.
    pub fn complete_all(&self, done: &mut Vec<Completion>, metrics: &mut Vec<Metric>) {
        {
            let mut queues = lock(&self.queues);
            queues.done.append(done);
            self.push_events(&mut queues, metrics.drain(..));
        }
        self.wake();
    }

    /// What the warm tier's connection reported (see `warm::tracking`).
    pub fn report(&self, report: Report) {
        {
            let mut queues = lock(&self.queues);
            match report {
                Report::Keys(keys) => {
                    Counters::add(&self.counters.invalidations, keys.len() as u64);
                    queues.changed.keys.extend(keys);
                }
                Report::All => {
                    Counters::add(&self.counters.invalidations, 1);
                    queues.changed.all = true;
                }
                Report::Fallback(message) => {
                    self.push_events(&mut queues, Some(Metric::CoherenceFallback { message }));
                }
            }
        }
        self.wake();
    }

    pub fn request_cleanup(&self) {
        self.cleanup_due.store(true, Ordering::Release);
        self.wake();
    }

    pub fn take_cleanup_due(&self) -> bool {
        self.cleanup_due.swap(false, Ordering::AcqRel)
    }

    fn wake(&self) {
        if self.wake_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let waker = self.waker.read().unwrap_or_else(|p| p.into_inner());
        if let Some(waker) = waker.as_ref() {
            if !waker.wake() {
                self.closing.cancel();
            }
        }
    }

    /// Holds the event loop open while operations are in flight (and only then), so an
    /// awaited result is never lost to process exit and an idle cache never blocks it.
    pub fn keep_alive(&self, env: &napi::Env, on: bool) -> napi::Result<()> {
        let mut waker = self.waker.write().unwrap_or_else(|p| p.into_inner());
        waker.as_mut().map_or(Ok(()), |w| w.keep_alive(env, on))
    }

    /// Every queued result and change; the first half of a drain. The wake stays armed, so
    /// what is pushed until [`Outbox::take_events`] (the events the drain's own results
    /// report, among others) skips it and is left to that call. Results are never held
    /// back: a slow metric callback must not delay promises.
    pub fn take_results(&self) -> (Vec<Completion>, Changed) {
        let mut queues = lock(&self.queues);
        (std::mem::take(&mut queues.done), std::mem::take(&mut queues.changed))
    }

    /// At most `max_events` events, and whether JS must drain again on its next loop turn;
    /// the second half of a drain.
    ///
    /// The ThreadsafeFunction wakes JS for the first push after a drain, and only for that
    /// one: until the drain ends here, pushes find the wake armed and skip it, so Node's
    /// dispatcher never runs wake after wake in one turn and starves timers and I/O. What
    /// is left when the drain ends (events beyond `max_events`, results that arrived since
    /// [`Outbox::take_results`]) keeps the wake armed and asks JS to drain next turn.
    /// Deciding this under the queue lock means a push either lands before this call (and
    /// is taken, or asks for the next drain) or after it (and wakes).
    pub fn take_events(&self, max_events: usize) -> (Vec<QueuedMetric>, bool) {
        let mut queues = lock(&self.queues);
        let n = max_events.min(queues.events.len());
        let events: Vec<QueuedMetric> = queues.events.drain(..n).collect();
        let again = !queues.events.is_empty() || !queues.done.is_empty() || queues.changed.any();
        self.wake_pending.store(again, Ordering::Release);
        (events, again)
    }

    fn events_enabled(&self) -> bool {
        self.events_enabled.load(Ordering::Acquire)
    }

    /// Events are queued from now on: a cache built without `onMetric` gained a listener.
    pub fn start_events(&self) {
        self.events_enabled.store(true, Ordering::Release);
    }

    /// No event is queued from now on; those queued or reserved are dropped and counted.
    /// Pushes check the flag under the queue lock, so none slips in after the clear.
    pub fn stop_events(&self) {
        self.events_enabled.store(false, Ordering::Release);
        let mut queues = lock(&self.queues);
        Counters::add(&self.counters.dropped, (queues.events.len() + queues.reserved) as u64);
        queues.reserved = 0;
        queues.events.clear();
    }

    pub fn max_events(&self) -> usize {
        self.max_events
    }

    pub fn pending_events(&self) -> usize {
        let queues = lock(&self.queues);
        queues.events.len() + queues.reserved
    }

    /// Reserves places for `n` hot-hit events; returns how many fit, counting the rest
    /// as dropped.
    pub fn reserve(&self, n: usize) -> usize {
        if !self.events_enabled() {
            return 0;
        }
        let mut queues = lock(&self.queues);
        let free = self.max_events.saturating_sub(queues.events.len() + queues.reserved);
        let granted = n.min(free);
        queues.reserved += granted;
        Counters::add(&self.counters.dropped, (n - granted) as u64);
        granted
    }

    /// JS delivered `n` reserved events (`failed` of them threw), after `waited_ms` in all.
    pub fn release(&self, n: usize, failed: usize, waited_ms: f64) {
        let mut queues = lock(&self.queues);
        let n = n.min(queues.reserved);
        queues.reserved -= n;
        Counters::add(&self.counters.emitted, n as u64);
        Counters::add(&self.counters.failed, failed.min(n) as u64);
        self.counters.record_latency((waited_ms.max(0.0) * 1000.0) as u64, n as u64);
    }

    /// Drops everything queued (counting the events) and hands back the waker so the
    /// caller releases it on the JS thread. Later pushes are still counted, never sent.
    pub fn shut(&self) -> Option<Box<dyn JsWake>> {
        let waker = self.waker.write().unwrap_or_else(|p| p.into_inner()).take();
        self.wake_pending.store(true, Ordering::Release);
        let mut queues = lock(&self.queues);
        Counters::add(&self.counters.dropped, (queues.events.len() + queues.reserved) as u64);
        queues.reserved = 0;
        queues.events.clear();
        queues.done.clear();
        queues.changed = Changed::default();
        waker
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completion::Outcome;

    fn outbox(max_events: usize) -> Outbox {
        Outbox::new(None, true, max_events, CancellationToken::new())
    }

    fn done(id: u32) -> Completion {
        Completion { id, outcome: Outcome::Done }
    }

    fn event() -> Metric {
        Metric::Get { found: true, ms: 0.0 }
    }

    /// Whether a push now would call the ThreadsafeFunction: the wake is disarmed.
    fn would_wake(o: &Outbox) -> bool {
        !o.wake_pending.load(Ordering::Acquire)
    }

    #[test]
    fn one_wake_per_drain_and_nothing_left_behind() {
        let o = outbox(100);
        assert!(would_wake(&o));
        o.complete(done(1), [event()]);
        assert!(!would_wake(&o), "the first push wakes JS");
        o.complete(done(2), []);
        let (results, _) = o.take_results();
        assert_eq!(results.len(), 2);
        // Reported by a result while the drain builds its rows: no wake, and it is taken.
        o.record(event());
        assert!(!would_wake(&o));
        let (events, again) = o.take_events(100);
        assert_eq!((events.len(), again), (2, false));
        assert!(would_wake(&o), "after a complete drain the next push wakes JS");
    }

    #[test]
    fn a_result_between_the_two_halves_asks_for_the_next_drain() {
        let o = outbox(100);
        o.complete(done(1), []);
        let _ = o.take_results();
        // Its push found the wake armed and skipped it: the drain must not end quietly.
        o.complete(done(2), []);
        let (_, again) = o.take_events(100);
        assert!(again);
        assert!(!would_wake(&o), "the wake stays armed until JS drains again");
        let (results, _) = o.take_results();
        assert_eq!(results.len(), 1);
        assert!(!o.take_events(100).1);
    }

    #[test]
    fn events_beyond_the_per_drain_limit_ask_for_the_next_drain() {
        let o = outbox(100);
        o.record_all([event(), event(), event()]);
        let _ = o.take_results();
        let (events, again) = o.take_events(2);
        assert_eq!((events.len(), again), (2, true));
        let _ = o.take_results();
        let (events, again) = o.take_events(2);
        assert_eq!((events.len(), again), (1, false));
    }
}
