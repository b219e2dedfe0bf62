//! The drain: what Redis answered, turned into rows for `index.js` (see `wire`), each found
//! value promoted into the hot tier on the way; the tickets for values JS parses itself
//! (`adoptParsed`); and the timer that asks for a drain to expire hot entries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Cache, Stored};
use crate::completion::{Completion, Found, MergeResult, Merged, Outcome};
use crate::error::{CacheError, Result};
use crate::hot::Generation;
use crate::metrics::{elapsed_ms, Counters, Metric};
use crate::outbox::Outbox;
use crate::points::{self, Decoded};
use crate::tasks::Tasks;
use crate::warm::NodeHealth;
use crate::wire::{Drain, DrainFlag, OpKind, Rows, EVENT_STRIDE, NO_STRING, OP_STRIDE};

/// A Redis value JS is parsing right now; JS answers with `adoptParsed(ticket, found)`.
pub(super) struct Ticket {
    key: String,
    issued: Generation,
    started: Instant,
    /// A `getData` read reports its event; a batch's keys report none (compat).
    reports: bool,
}

impl Cache {
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
        out.events.reserve(queued.len() * EVENT_STRIDE);
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
}

/// Asks the JS thread to drop expired hot entries every `every` (`cleanupInterval`): the
/// hot tier lives on the JS thread, so the timer only wakes it.
pub(super) fn start_expiry_timer(tasks: &Tasks, outbox: Arc<Outbox>, every: Duration) {
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
