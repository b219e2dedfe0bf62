//! What an operation's Redis part hands back to the JS thread: one [`Completion`] per
//! operation, queued in the outbox and turned into rows at the next drain.

use std::time::Instant;

use crate::error::{CacheError, ErrorCode};
use crate::hot::Generation;
use crate::points::Decoded;
use crate::warm::Cleared;

/// A value Redis returned, for JS to build (or parse) before it is handed out or promoted.
pub struct Found {
    pub key: String,
    pub value: Decoded,
    pub issued: Generation,
    pub started: Instant,
}

/// A series write's result.
pub struct Merged {
    pub key: String,
    pub issued: Generation,
    pub result: MergeResult,
}

pub enum MergeResult {
    /// The merged series Redis now holds; `to_hot`: the admission rule (compat) takes it.
    Stored { value: Decoded, to_hot: bool },
    /// Nothing was written (the merge would exceed `maxValueBytes`): what the caller gets.
    Refused(Box<Outcome>),
    /// Failed, and whether Redis wrote is unknown (a timeout, a lost connection).
    Unknown(Box<Outcome>),
}

pub enum Outcome {
    Done,
    Merged(Merged),
    Miss,
    Found(Found),
    /// Results for a batch's hot misses, in the order they were asked for.
    Batch(Vec<Option<Found>>),
    Cleared(Cleared),
    Health(crate::warm::Health),
    Failed {
        code: ErrorCode,
        message: String,
    },
}

impl Outcome {
    pub fn failed(err: &CacheError) -> Outcome {
        Outcome::Failed { code: err.code(), message: err.to_string() }
    }
}

pub struct Completion {
    pub id: u32,
    pub outcome: Outcome,
}
