//! The boundary between Rust and JavaScript, defined once. Everything a drain hands to
//! `index.js` is rows of numbers plus a string table; the row kinds, event codes, field
//! positions and sentinels below are exported to JavaScript, which reads them from the
//! binding instead of repeating them, and Rust writes rows only through the builders here. Why rows at all: building objects through Node-API costs about a microsecond each,
//! filling a `Float64Array` almost nothing (docs/architecture.md, "Crossing Node-API").

use napi_derive::napi;

/// The fields of an ops row, by position; `Stride` is the row's length. What `a` and `b`
/// hold depends on the [`OpKind`].
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpField {
    Id = 0,
    Kind = 1,
    A = 2,
    B = 3,
    Stride = 4,
}

/// The fields of an events row, by position; `Stride` is the row's length. The string
/// fields index the drain's strings, or hold [`NO_STRING`].
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventField {
    /// An [`EventCode`].
    Code = 0,
    TimestampMs = 1,
    Value = 2,
    DataSize = 3,
    CompressionRatio = 4,
    StringA = 5,
    StringB = 6,
    Stride = 7,
}

/// The fields of one point, in decoded values and in `setPoints`' rows; `Stride` is the
/// row's length. `Symbol` indexes a string table; `C`/`Cp` are NaN when absent.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointField {
    Symbol = 0,
    P = 1,
    V = 2,
    T = 3,
    C = 4,
    Cp = 5,
    Stride = 6,
}

/// A string field that names no string.
#[napi]
pub const NO_STRING: i32 = -1;

pub const OP_STRIDE: usize = OpField::Stride as usize;
pub const EVENT_STRIDE: usize = EventField::Stride as usize;
pub const POINT_STRIDE: usize = PointField::Stride as usize;

/// One point's row.
pub fn point_row(
    symbol: f64,
    p: f64,
    v: f64,
    t: f64,
    c: Option<f64>,
    cp: Option<f64>,
) -> [f64; POINT_STRIDE] {
    let mut row = [0.0; POINT_STRIDE];
    row[PointField::Symbol as usize] = symbol;
    row[PointField::P as usize] = p;
    row[PointField::V as usize] = v;
    row[PointField::T as usize] = t;
    row[PointField::C as usize] = c.unwrap_or(f64::NAN);
    row[PointField::Cp as usize] = cp.unwrap_or(f64::NAN);
    row
}

/// One events row; the strings are indexes from [`Rows::string`], or `None`.
pub struct EventRow {
    pub code: EventCode,
    pub timestamp_ms: f64,
    pub value: f64,
    pub data_size: f64,
    pub compression_ratio: f64,
    pub string_a: Option<f64>,
    pub string_b: Option<f64>,
}

/// What an ops row `[id, kind, a, b]` says about operation `id`. `a` and `b` are per kind;
/// "string" means an index into the drain's strings.
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
    /// One key of a batch, in key order: like `Json`, or `a` [`NO_STRING`] for a miss.
    BatchJson = 4,
    /// The batch is complete.
    BatchEnd = 5,
    /// `clearAll`: `a` keys deleted, `b` keys preserved.
    Cleared = 6,
    /// `getHealthStatus`: `a` the error (string) or [`NO_STRING`] when healthy, `b` the hot tier's size.
    Health = 7,
    /// A decoded value: `a` its offset in the decoded values, `b` 1 if the hot tier took it.
    Points = 8,
    /// One key of a batch, decoded: like `Points`.
    BatchPoints = 9,
    /// The key in `a` (string) left the hot tier: JS drops it from its `Map`.
    Evicted = 10,
    /// Precedes `Health`: `a` JSON (string) of `{ nodes, coherence }`.
    HealthDetail = 11,
    /// A series write is stored: resolves with nothing. `b` 1: the hot tier took the merged
    /// series, decoded at offset `a` of the decoded values; `b` 0: JS drops its copy.
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

/// The slots at the start of the buffer a drain fills (JS owns it and passes it to every
/// drain, so no typed array is created per drain); the rows follow, ops first, then events,
/// then points. Strings come back as the drain's return value.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainHeader {
    /// Numbers of ops rows, [`OpField`]s per row, see [`OpKind`].
    OpsLength = 0,
    /// Numbers of events rows, [`EventField`]s per row, see [`EventCode`].
    EventsLength = 1,
    /// Numbers of decoded values: `[count, ...count points of PointField::Stride]` each.
    PointsLength = 2,
    /// [`DrainFlag`] bits.
    Flags = 3,
    /// How many of the returned strings, at their end, are keys that left the hot tier
    /// (expired, or changed in Redis).
    DroppedKeys = 4,
    /// Slots in the header; the first row starts here.
    Size = 5,
}

/// Bits of the header's [`DrainHeader::Flags`].
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainFlag {
    /// The hot tier was emptied (before the dropped keys left it): Redis reported a flush,
    /// or the connection was lost.
    Cleared = 1,
    /// Events are still queued: drain again on the next loop turn (the wake stays armed).
    Again = 2,
    /// The rows did not fit: only the header was written. JS passes a buffer of at least
    /// `Size` plus the three lengths to `takeSpilled`, which writes header and rows.
    Spilled = 4,
}

/// One drain: its rows (the keys that left the hot tier at the end of its strings), its
/// [`DrainFlag`] bits and how many keys left.
pub struct Drain {
    pub rows: Rows,
    pub flags: u32,
    pub dropped: usize,
}

impl Drain {
    /// See [`Rows::write`].
    pub fn write(&self, buf: &mut [f64]) -> bool {
        self.rows.write(buf, self.flags, self.dropped)
    }
}

/// A drain's rows while Rust fills them.
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
        let mut row = [0.0; OP_STRIDE];
        row[OpField::Id as usize] = id;
        row[OpField::Kind as usize] = kind as u32 as f64;
        row[OpField::A as usize] = a;
        row[OpField::B as usize] = b;
        self.ops.extend_from_slice(&row);
    }

    pub fn event(&mut self, event: EventRow) {
        let no_string = f64::from(NO_STRING);
        let mut row = [0.0; EVENT_STRIDE];
        row[EventField::Code as usize] = event.code as u32 as f64;
        row[EventField::TimestampMs as usize] = event.timestamp_ms;
        row[EventField::Value as usize] = event.value;
        row[EventField::DataSize as usize] = event.data_size;
        row[EventField::CompressionRatio as usize] = event.compression_ratio;
        row[EventField::StringA as usize] = event.string_a.unwrap_or(no_string);
        row[EventField::StringB as usize] = event.string_b.unwrap_or(no_string);
        self.events.extend_from_slice(&row);
    }

    /// Writes the header and, when they fit, the rows into `buf`; returns whether they did.
    /// `buf` holds at least [`DrainHeader::Size`] numbers (checked by the caller).
    pub fn write(&self, buf: &mut [f64], flags: u32, dropped: usize) -> bool {
        let header = DrainHeader::Size as usize;
        let (ops, events, points) = (self.ops.len(), self.events.len(), self.points.len());
        let fits = header + ops + events + points <= buf.len();
        let flags = if fits { flags } else { flags | DrainFlag::Spilled as u32 };
        buf[..header].copy_from_slice(&[
            ops as f64,
            events as f64,
            points as f64,
            flags as f64,
            dropped as f64,
        ]);
        if fits {
            buf[header..header + ops].copy_from_slice(&self.ops);
            buf[header + ops..header + ops + events].copy_from_slice(&self.events);
            buf[header + ops + events..header + ops + events + points]
                .copy_from_slice(&self.points);
        }
        fits
    }
}
