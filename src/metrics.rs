//! Metric events (spec §4) and the delivery counters of spec §5.
//!
//! Events cross to JavaScript as rows of numbers ([`Metric::encode`]); the JS side builds
//! the event objects, because building them through N-API costs about a microsecond each.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Floats per event row: `[code, timestampMs, value, dataSize, compressionRatio, stringA, stringB]`.
pub const EVENT_STRIDE: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Warm,
    Both,
    Miss,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// `cache_get_success` (warm) or `cache_get_failed` (miss). Hot hits never reach Rust:
    /// `index.js` builds their events itself.
    Get { layer: Layer, ms: f64 },
    /// `cache_set_success`; layer `both` when the hot tier took the value too.
    Set { layer: Layer, ms: f64, data_size: usize },
    /// `cache_set_failed` for the warm layer: the value stayed in hot, Redis refused it.
    SetWarmFailed { ms: f64, data_size: usize, message: String },
    /// `cache_<op>_failed`, the TypeScript service's error event; `critical` when the
    /// caller's promise rejects.
    Failed { op: &'static str, critical: bool, message: String },
    /// A `metricType: "system"` event.
    System { name: &'static str, value: f64 },
}

/// Event codes shared with `index.js` (`EVENT_BUILDERS`).
mod code {
    pub const GET_WARM: f64 = 0.0;
    pub const GET_MISS: f64 = 1.0;
    pub const SET_BOTH: f64 = 2.0;
    pub const SET_WARM: f64 = 3.0;
    pub const SET_WARM_FAILED: f64 = 4.0;
    pub const FAILED_RECOVERABLE: f64 = 5.0;
    pub const FAILED_CRITICAL: f64 = 6.0;
    pub const SYSTEM: f64 = 7.0;
}

/// The TS service divided point counts, which normalising keeps equal (compat).
const COMPRESSION_RATIO: f64 = 1.0;

impl Metric {
    /// Appends one event row to `rows`, pushing its strings to `strings`.
    pub fn encode(self, at_ms: f64, rows: &mut Vec<f64>, strings: &mut Vec<String>) {
        let mut text = |s: String| {
            strings.push(s);
            (strings.len() - 1) as f64
        };
        let row: [f64; EVENT_STRIDE] = match self {
            Metric::Get { layer, ms } => {
                let code = match layer {
                    Layer::Warm | Layer::Both => code::GET_WARM,
                    Layer::Miss => code::GET_MISS,
                };
                [code, at_ms, ms, 0.0, 0.0, -1.0, -1.0]
            }
            Metric::Set { layer, ms, data_size } => {
                let code = if layer == Layer::Both { code::SET_BOTH } else { code::SET_WARM };
                [code, at_ms, ms, data_size as f64, COMPRESSION_RATIO, -1.0, -1.0]
            }
            Metric::SetWarmFailed { ms, data_size, message } => {
                let m = text(message);
                [code::SET_WARM_FAILED, at_ms, ms, data_size as f64, COMPRESSION_RATIO, -1.0, m]
            }
            Metric::Failed { op, critical, message } => {
                let code = if critical { code::FAILED_CRITICAL } else { code::FAILED_RECOVERABLE };
                let o = text(op.to_string());
                let m = text(message);
                [code, at_ms, 0.0, 0.0, 0.0, o, m]
            }
            Metric::System { name, value } => {
                let n = text(name.to_string());
                [code::SYSTEM, at_ms, value, 0.0, 0.0, n, -1.0]
            }
        };
        rows.extend_from_slice(&row);
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

    #[test]
    fn rows_have_a_fixed_stride_and_index_their_strings() {
        let mut rows = Vec::new();
        let mut strings = vec!["already here".to_string()];
        Metric::Get { layer: Layer::Warm, ms: 0.5 }.encode(1.0, &mut rows, &mut strings);
        Metric::Failed { op: "setData", critical: true, message: "boom".into() }.encode(
            2.0,
            &mut rows,
            &mut strings,
        );
        assert_eq!(rows.len(), 2 * EVENT_STRIDE);
        assert_eq!(&rows[EVENT_STRIDE..], &[code::FAILED_CRITICAL, 2.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
        assert_eq!(strings, ["already here", "setData", "boom"]);
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
