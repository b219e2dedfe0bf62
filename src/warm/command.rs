//! What the cache asks of Redis per operation, and how the replies read.

use redis::Value;

use super::series::Merge;
use crate::points::{utf16_len, Encoded};

/// One warm-tier command, queued for the next pipeline (see `batcher`). Keys are the
/// caller's; the prefix is added when the pipeline is built.
pub enum Command {
    Get(String),
    Set {
        key: String,
        body: Body,
        ttl_secs: u64,
    },
    /// One `MGET` per `chunk` keys.
    MGet {
        keys: Vec<String>,
        chunk: usize,
    },
    Del(String),
    /// `setData` on a series key: merge `body`'s points into the stored series.
    Merge {
        key: String,
        body: Body,
        merge: Merge,
    },
}

/// A value to write. Points arrive unserialised and become JSON in the pipeline, off the JS
/// thread; from then on `json` holds what was written.
pub struct Body {
    json: String,
    points: Option<Encoded>,
}

impl Command {
    /// The written JSON's length in UTF-16 units (compat: `dataSize`), once it is written.
    pub fn json_len(&self) -> usize {
        match self {
            Command::Set { body, .. } => utf16_len(&body.json),
            _ => 0,
        }
    }
}

impl Body {
    pub fn json(json: String) -> Body {
        Body { json, points: None }
    }

    pub fn points(points: Encoded) -> Body {
        Body { json: String::new(), points: Some(points) }
    }

    /// The JSON to write; points are serialised here, once.
    pub(super) fn written(&mut self) -> &str {
        if let Some(points) = self.points.take() {
            self.json = points.to_json();
        }
        &self.json
    }
}

/// A `GET`/`MGET` element: absent, not UTF-8 (so not our JSON) or an error reply is a miss.
pub fn text(reply: Value) -> Option<String> {
    match reply {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// The elements of a chunked `MGET`'s replies, in key order; a failed chunk is all misses.
pub fn texts(replies: Vec<Value>, keys: usize, chunk: usize) -> Vec<Option<String>> {
    let chunk = chunk.max(1);
    let mut out = Vec::with_capacity(keys);
    for reply in replies {
        let expected = chunk.min(keys - out.len());
        match reply {
            Value::Array(items) if items.len() == expected => {
                out.extend(items.into_iter().map(text))
            }
            _ => out.extend((0..expected).map(|_| None)),
        }
    }
    out.resize_with(keys, || None);
    out
}
