//! Metric events and their delivery counters (docs/contract.md, "Metric events").
//!
//! Events cross to JavaScript as rows of numbers ([`Metric::encode`], codes in
//! [`crate::wire::EventCode`]); the JS side builds the event objects.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::wire::{EventCode, EventRow, Rows};

#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// `cache_get_success` (layer `warm`) when `found`, else `cache_get_failed` (layer
    /// `miss`). Hot hits never reach Rust: `index.js` builds their events itself.
    Get { found: bool, ms: f64 },
    /// `cache_set_success`; layer `both` when the hot tier took the value too.
    Set { hot: bool, ms: f64, data_size: usize },
    /// `cache_set_failed` for the warm layer: the value stayed in hot, Redis refused it.
    SetWarmFailed { ms: f64, data_size: usize, message: String },
    /// `cache_<op>_failed`, the TypeScript service's error event; `critical` when the
    /// caller's promise rejects.
    Failed { op: &'static str, critical: bool, message: String },
    /// A `metricType: "system"` event.
    System { name: &'static str, value: f64 },
    /// The system event `coherence_fallback` (value 1): the server refused tracking, and
    /// `message` says how.
    CoherenceFallback { message: String },
}

/// Milliseconds since `since`, as events report them.
pub fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The TS service divided point counts, which normalising keeps equal (compat).
const COMPRESSION_RATIO: f64 = 1.0;

impl Metric {
    /// Appends one event row, its strings going to the rows' string table.
    pub fn encode(self, at_ms: f64, rows: &mut Rows) {
        let row = |code, value, string_a, string_b| EventRow {
            code,
            timestamp_ms: at_ms,
            value,
            data_size: 0.0,
            compression_ratio: 0.0,
            string_a,
            string_b,
        };
        let sized = |row: EventRow, data_size: usize| EventRow {
            data_size: data_size as f64,
            compression_ratio: COMPRESSION_RATIO,
            ..row
        };
        let event = match self {
            Metric::Get { found, ms } => {
                let code = if found { EventCode::GetWarm } else { EventCode::GetMiss };
                row(code, ms, None, None)
            }
            Metric::Set { hot, ms, data_size } => {
                let code = if hot { EventCode::SetBoth } else { EventCode::SetWarm };
                sized(row(code, ms, None, None), data_size)
            }
            Metric::SetWarmFailed { ms, data_size, message } => {
                let m = rows.string(message);
                sized(row(EventCode::SetWarmFailed, ms, None, Some(m)), data_size)
            }
            Metric::Failed { op, critical, message } => {
                let code =
                    if critical { EventCode::FailedCritical } else { EventCode::FailedRecoverable };
                let o = rows.string(op.to_string());
                let m = rows.string(message);
                row(code, 0.0, Some(o), Some(m))
            }
            Metric::System { name, value } => {
                let n = rows.string(name.to_string());
                row(EventCode::System, value, Some(n), None)
            }
            Metric::CoherenceFallback { message } => {
                let n = rows.string("coherence_fallback".to_string());
                let m = rows.string(message);
                row(EventCode::System, 1.0, Some(n), Some(m))
            }
        };
        rows.event(event);
    }
}

/// Delivery counters, updated from any thread.
#[derive(Default)]
pub struct Counters {
    pub emitted: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    latency_us_total: AtomicU64,
    latency_samples: AtomicU64,
    pub cleaned: AtomicU64,
    /// Keys Redis reported changed (a flush or a lost connection counts one).
    pub invalidations: AtomicU64,
    /// Hot entries those reports dropped.
    pub invalidated: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> f64 {
        counter.load(Relaxed) as f64
    }

    /// `micros` is the total wait of `events` events.
    pub fn record_latency(&self, micros: u64, events: u64) {
        self.latency_us_total.fetch_add(micros, Relaxed);
        self.latency_samples.fetch_add(events, Relaxed);
    }

    /// Mean enqueue-to-drain latency in ms, 0 before the first delivery.
    pub fn mean_latency_ms(&self) -> f64 {
        let n = self.latency_samples.load(Relaxed);
        if n == 0 {
            return 0.0;
        }
        self.latency_us_total.load(Relaxed) as f64 / n as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EventField, EVENT_STRIDE, NO_STRING};

    #[test]
    fn rows_have_a_fixed_stride_and_index_their_strings() {
        let mut rows = Rows::default();
        rows.string("already here".to_string());
        Metric::Get { found: true, ms: 0.5 }.encode(1.0, &mut rows);
        let failed = Metric::Failed { op: "setData", critical: true, message: "boom".into() };
        failed.encode(2.0, &mut rows);
        assert_eq!(rows.events.len(), 2 * EVENT_STRIDE);
        let failed = &rows.events[EVENT_STRIDE..];
        let field = |f: EventField| failed[f as usize];
        assert_eq!(field(EventField::Code), EventCode::FailedCritical as u32 as f64);
        assert_eq!(field(EventField::TimestampMs), 2.0);
        assert_eq!(rows.strings[field(EventField::StringA) as usize], "setData");
        assert_eq!(rows.strings[field(EventField::StringB) as usize], "boom");
        let get = &rows.events[..EVENT_STRIDE];
        assert_eq!(get[EventField::StringA as usize], f64::from(NO_STRING));
    }

    #[test]
    fn mean_latency() {
        let c = Counters::default();
        assert_eq!(c.mean_latency_ms(), 0.0);
        c.record_latency(1000, 1);
        c.record_latency(3000, 1);
        assert_eq!(c.mean_latency_ms(), 2.0);
    }
}
