//! The boundary between Rust and JavaScript, defined once. Everything a drain hands to
//! `index.js` is rows of numbers plus a string table; the row kinds, event codes and strides
//! below are exported to JavaScript, which reads them from the binding instead of repeating
//! them. Why rows at all: building objects through Node-API costs about a microsecond each,
//! filling a `Float64Array` almost nothing (docs/architecture.md, "Crossing Node-API").

use napi::bindgen_prelude::Float64Array;
use napi_derive::napi;

/// Numbers per row of [`Drained::ops`]: `[id, kind, a, b]`.
#[napi]
pub const OP_STRIDE: u32 = 4;
/// Numbers per row of [`Drained::events`]:
/// `[code, timestampMs, value, dataSize, compressionRatio, stringA, stringB]`.
#[napi]
pub const EVENT_STRIDE: u32 = 7;
/// Numbers per point in [`Drained::points`] and in `setPoints`' rows:
/// `[symbol, p, v, t, c, cp]` (`symbol` indexes a string table; NaN: no `c`/`cp`).
#[napi]
pub const POINT_STRIDE: u32 = 6;

/// What an ops row `[id, kind, a, b]` says about operation `id`. `a` and `b` are per kind;
/// "string" means an index into [`Drained::strings`].
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Resolves with nothing.
    Done = 0,
    /// Resolves with `null`.
    Miss = 1,
    /// A value Redis held that Rust could not decode: `a` the JSON text (string) for JS to
    /// parse, `b` the ticket JS passes to `adoptParsed`.
    Json = 2,
    /// Rejects: `a` the message (string), `b` the error code (string).
    Failed = 3,
    /// One key of a batch, in key order: like `Json`, or `a = -1` for a miss.
    BatchJson = 4,
    /// The batch is complete.
    BatchEnd = 5,
    /// `clearAll`: `a` keys deleted, `b` keys preserved.
    Cleared = 6,
    /// `getHealthStatus`: `a` the error (string) or -1 when healthy, `b` the hot tier's size.
    Health = 7,
    /// A decoded value: `a` its offset in [`Drained::points`], `b` 1 if the hot tier took it.
    Points = 8,
    /// One key of a batch, decoded: like `Points`.
    BatchPoints = 9,
    /// The key in `a` (string) left the hot tier: JS drops it from its `Map`.
    Evicted = 10,
    /// Precedes `Health`: `a` JSON (string) of `{ nodes, coherence }`.
    HealthDetail = 11,
    /// A series write is stored: resolves with nothing. `b` 1: the hot tier took the merged
    /// series, decoded at offset `a` of [`Drained::points`]; `b` 0: JS drops its copy.
    Stored = 12,
}

/// The event an events row encodes (the first number of the row).
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCode {
    /// `cache_get_success`, layer `warm`.
    GetWarm = 0,
    /// `cache_get_failed`, layer `miss`.
    GetMiss = 1,
    /// `cache_set_success`, layer `both`.
    SetBoth = 2,
    /// `cache_set_success`, layer `warm`.
    SetWarm = 3,
    /// `cache_set_failed`, layer `warm`: `stringB` the Redis error.
    SetWarmFailed = 4,
    /// `cache_<stringA>_failed`, `errorType: recoverable_error`, `stringB` the message.
    FailedRecoverable = 5,
    /// Like `FailedRecoverable`, `errorType: critical_error`.
    FailedCritical = 6,
    /// A `metricType: "system"` event named `stringA`; `stringB`, when present, says why
    /// (`tags.reason`).
    System = 7,
}

/// Results and metric events queued since the last drain.
#[napi(object)]
pub struct Drained {
    /// Rows of [`OP_STRIDE`] numbers, see [`OpKind`].
    pub ops: Float64Array,
    /// Rows of [`EVENT_STRIDE`] numbers, see [`EventCode`].
    pub events: Float64Array,
    /// Decoded values: `[count, ...count points of POINT_STRIDE]`.
    pub points: Float64Array,
    pub strings: Vec<String>,
    /// The hot tier was emptied (before `dropped` left it): Redis reported a flush, or the
    /// connection was lost.
    pub cleared: bool,
    /// Keys that left the hot tier: expired, or changed in Redis.
    pub dropped: Vec<String>,
    /// Still busy: drain again on the next loop turn (the wake stays armed until then).
    pub again: bool,
}

/// [`Drained`] while Rust fills it.
#[derive(Default)]
pub struct Rows {
    pub ops: Vec<f64>,
    pub events: Vec<f64>,
    pub points: Vec<f64>,
    pub strings: Vec<String>,
}

impl Rows {
    /// Adds `s` to the string table; returns its index as a row number.
    pub fn string(&mut self, s: String) -> f64 {
        self.strings.push(s);
        (self.strings.len() - 1) as f64
    }

    pub fn op(&mut self, id: f64, kind: OpKind, a: f64, b: f64) {
        self.ops.extend_from_slice(&[id, kind as u32 as f64, a, b]);
    }

    pub fn into_drained(self, cleared: bool, dropped: Vec<String>, again: bool) -> Drained {
        Drained {
            ops: Float64Array::new(self.ops),
            events: Float64Array::new(self.events),
            points: Float64Array::new(self.points),
            strings: self.strings,
            cleared,
            dropped,
            again,
        }
    }
}
