//! What an operation makes of its Redis replies. Each queued command carries a [`Then`]
//! (data: what the operation knew when it started), and one function per kind turns the
//! replies into the operation's [`Completion`] and its events. They touch Redis only
//! through `status`, so they are tested here without a server.

use std::time::Instant;

use redis::Value;

use crate::completion::{Completion, Found, MergeResult, Merged, Outcome};
use crate::error::{CacheError, Result};
use crate::hot::{takes_hot, Generation, AUTO_HOT_MAX_BYTES};
use crate::js::Priority;
use crate::metrics::{elapsed_ms, Metric};
use crate::points::{self, utf16_len, Decoded};
use crate::warm::{refused_size, text, texts, Command};

/// Reads a reply that only says whether a command worked (`Warm::status`).
pub type Status<'a> = &'a dyn Fn(Option<Value>) -> Result<()>;

pub enum Then {
    Get { id: u32, key: String, issued: Generation, started: Instant },
    Set { id: u32, to_hot: bool, strict: bool, started: Instant },
    Merge(MergeThen),
    Batch { id: u32, keys: Vec<String>, chunk: usize, issued: Generation, started: Instant },
    Delete { id: u32 },
}

pub struct MergeThen {
    pub id: u32,
    pub key: String,
    pub issued: Generation,
    pub started: Instant,
    pub priority: Priority,
    pub strict: bool,
    /// `maxValueBytes`, for the refusal's message.
    pub limit: usize,
}

impl Then {
    /// `command` as sent; `replies` its replies, or the failure of the whole pipeline.
    pub fn finish(
        self,
        command: &Command,
        replies: Result<Vec<Value>>,
        status: Status,
        metrics: &mut Vec<Metric>,
    ) -> Completion {
        match self {
            Then::Get { id, key, issued, started } => {
                get(id, key, issued, started, replies, metrics)
            }
            Then::Set { id, to_hot, strict, started } => {
                let written = replies.and_then(|r| status(r.into_iter().next()));
                let outcome = set(written, to_hot, strict, started, command.json_len(), metrics);
                Completion { id, outcome }
            }
            Then::Merge(then) => merge(then, replies, status, metrics),
            Then::Batch { id, keys, chunk, issued, started } => {
                batch(id, keys, chunk, issued, started, replies, metrics)
            }
            Then::Delete { id } => {
                // Reported, not thrown (docs/contract.md, "Operations").
                if let Err(e) = replies.and_then(|r| status(r.into_iter().next())) {
                    let message = e.to_string();
                    metrics.push(Metric::Failed { op: "deleteData", critical: false, message });
                }
                Completion { id, outcome: Outcome::Done }
            }
        }
    }
}

/// compat: the TS service logged a failed read and returned null. A value found reports
/// its event when the drain has decided on its promotion.
fn get(
    id: u32,
    key: String,
    issued: Generation,
    started: Instant,
    replies: Result<Vec<Value>>,
    metrics: &mut Vec<Metric>,
) -> Completion {
    match replies.ok().and_then(|r| r.into_iter().next()).and_then(text) {
        Some(json) => {
            let found = Found { key, value: points::decode(json), issued, started };
            Completion { id, outcome: Outcome::Found(found) }
        }
        None => {
            metrics.push(Metric::Get { found: false, ms: elapsed_ms(started) });
            Completion { id, outcome: Outcome::Miss }
        }
    }
}

fn set(
    written: Result<()>,
    to_hot: bool,
    strict: bool,
    started: Instant,
    data_size: usize,
    metrics: &mut Vec<Metric>,
) -> Outcome {
    match written {
        Ok(()) => {
            metrics.push(Metric::Set { hot: to_hot, ms: elapsed_ms(started), data_size });
            Outcome::Done
        }
        Err(e) => write_failed(e, strict, started, data_size, metrics),
    }
}

/// A series write: Redis answers with the merged series, or with the size it refused.
fn merge(
    then: MergeThen,
    replies: Result<Vec<Value>>,
    status: Status,
    metrics: &mut Vec<Metric>,
) -> Completion {
    let MergeThen { id, key, issued, started, priority, strict, limit } = then;
    let reply = replies.and_then(|r| match r.into_iter().next() {
        Some(Value::BulkString(bytes)) => Ok(Ok(bytes)),
        Some(refused) if refused_size(&refused).is_some() => Ok(Err(refused)),
        other => status(other).map(|()| Ok(Vec::new())),
    });
    let result = match reply {
        Ok(Ok(bytes)) => {
            let json = String::from_utf8(bytes).unwrap_or_default();
            let data_size = utf16_len(&json);
            let value = points::decode(json);
            let count = match &value {
                Decoded::Points(p) => p.len(),
                Decoded::Json(_) => usize::MAX,
            };
            let to_hot = takes_hot(priority, data_size < AUTO_HOT_MAX_BYTES, count);
            metrics.push(Metric::Set { hot: to_hot, ms: elapsed_ms(started), data_size });
            MergeResult::Stored { value, to_hot }
        }
        Ok(Err(refused)) => {
            let bytes = refused_size(&refused).unwrap_or_default();
            let e = CacheError::Range(format!(
                "the merged series would be {bytes} bytes of JSON, more than maxValueBytes \
                 ({limit}); nothing was stored"
            ));
            let message = e.to_string();
            metrics.push(Metric::Failed { op: "setData", critical: true, message });
            MergeResult::Refused(Box::new(Outcome::failed(&e)))
        }
        Err(e) => MergeResult::Unknown(Box::new(write_failed(e, strict, started, 0, metrics))),
    };
    Completion { id, outcome: Outcome::Merged(Merged { key, issued, result }) }
}

/// A failed read leaves every key a miss (a failed chunk gives null for its keys) and
/// reports the TS service's one `cache_getBatchData_failed`; a read that worked reports
/// nothing, as the TS service's did (docs/contract.md).
fn batch(
    id: u32,
    keys: Vec<String>,
    chunk: usize,
    issued: Generation,
    started: Instant,
    replies: Result<Vec<Value>>,
    metrics: &mut Vec<Metric>,
) -> Completion {
    // On a cluster a failed slot group arrives as a reply that is not an array.
    let failed = match &replies {
        Err(e) => Some(e.to_string()),
        Ok(replies) => replies
            .iter()
            .find(|r| !matches!(r, Value::Array(_)))
            .map(|r| format!("a chunk of the batch failed: {r:?}")),
    };
    if let Some(message) = failed {
        metrics.push(Metric::Failed { op: "getBatchData", critical: false, message });
    }
    let texts = texts(replies.unwrap_or_default(), keys.len(), chunk);
    let items = keys
        .into_iter()
        .zip(texts)
        .map(|(key, json)| {
            json.map(|json| Found { key, value: points::decode(json), issued, started })
        })
        .collect();
    Completion { id, outcome: Outcome::Batch(items) }
}

/// A warm write Redis refused: a rejection with `strictWarmWrites`, else an event.
fn write_failed(
    e: CacheError,
    strict: bool,
    started: Instant,
    data_size: usize,
    metrics: &mut Vec<Metric>,
) -> Outcome {
    if strict {
        metrics.push(Metric::Failed { op: "setData", critical: true, message: e.to_string() });
        // compat: the TS service's message; the code tells Redis from timeout.
        return Outcome::Failed {
            code: e.code(),
            message: format!("StreamCache setData failed: {e}"),
        };
    }
    let message = e.to_string();
    metrics.push(Metric::SetWarmFailed { ms: elapsed_ms(started), data_size, message });
    Outcome::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::warm::Body;

    /// `Warm::status` stand-in: a simple string names an error reply.
    fn status(reply: Option<Value>) -> Result<()> {
        match reply {
            Some(Value::SimpleString(e)) => Err(CacheError::Redis(e)),
            Some(_) => Ok(()),
            None => Err(CacheError::Redis("no reply".into())),
        }
    }

    fn finish(
        then: Then,
        command: &Command,
        replies: Result<Vec<Value>>,
    ) -> (Outcome, Vec<Metric>) {
        let mut metrics = Vec::new();
        let completion = then.finish(command, replies, &status, &mut metrics);
        (completion.outcome, metrics)
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    const POINTS: &str = r#"[{"s":"A","p":1,"v":2,"t":3}]"#;

    fn get(key: &str) -> (Then, Command) {
        let then = Then::Get { id: 1, key: key.into(), issued: 0, started: Instant::now() };
        (then, Command::Get(key.into()))
    }

    #[test]
    fn a_read_finds_points_and_reports_nothing_until_the_drain_promotes_them() {
        let (then, command) = get("k");
        let (outcome, metrics) = finish(then, &command, Ok(vec![bulk(POINTS)]));
        assert!(matches!(outcome, Outcome::Found(Found { value: Decoded::Points(_), .. })));
        assert!(metrics.is_empty());
    }

    #[test]
    fn a_read_of_nothing_or_a_failed_read_is_a_miss_with_its_event() {
        for replies in [Ok(vec![Value::Nil]), Err(CacheError::Timeout { after_ms: 5 })] {
            let (then, command) = get("k");
            let (outcome, metrics) = finish(then, &command, replies);
            assert!(matches!(outcome, Outcome::Miss));
            assert!(matches!(metrics[..], [Metric::Get { found: false, .. }]));
        }
    }

    #[test]
    fn a_refused_write_is_an_event_or_with_strict_writes_a_rejection() {
        let command =
            Command::Set { key: "k".into(), body: Body::json(POINTS.into()), ttl_secs: 60 };
        let refused = || Ok(vec![Value::SimpleString("READONLY".into())]);
        let set = |strict| Then::Set { id: 1, to_hot: false, strict, started: Instant::now() };
        let (outcome, metrics) = finish(set(false), &command, refused());
        assert!(matches!(outcome, Outcome::Done));
        assert!(
            matches!(&metrics[..], [Metric::SetWarmFailed { data_size, .. }] if *data_size == POINTS.len())
        );
        let (outcome, metrics) = finish(set(true), &command, refused());
        assert!(matches!(outcome, Outcome::Failed { code: ErrorCode::RedisError, .. }));
        assert!(matches!(metrics[..], [Metric::Failed { op: "setData", critical: true, .. }]));
        let (outcome, metrics) = finish(set(true), &command, Ok(vec![Value::Okay]));
        // The written JSON's length, as the TS service reported it.
        assert!(matches!(outcome, Outcome::Done));
        assert!(matches!(metrics[..], [Metric::Set { hot: false, .. }]));
    }

    #[test]
    fn a_batch_keeps_what_answered_and_reports_one_failure() {
        let keys: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let command = Command::MGet { keys: keys.clone(), chunk: 2 };
        let batch = || Then::Batch {
            id: 1,
            keys: keys.clone(),
            chunk: 2,
            issued: 0,
            started: Instant::now(),
        };
        let found = |outcome: Outcome| match outcome {
            Outcome::Batch(items) => items.iter().map(Option::is_some).collect::<Vec<_>>(),
            _ => panic!("not a batch"),
        };
        let whole = Ok(vec![
            Value::Array(vec![bulk(POINTS), Value::Nil]),
            Value::Array(vec![bulk(POINTS)]),
        ]);
        let (outcome, metrics) = finish(batch(), &command, whole);
        assert_eq!(found(outcome), [true, false, true]);
        assert!(metrics.is_empty());
        let partly = Ok(vec![
            Value::Array(vec![bulk(POINTS), bulk(POINTS)]),
            Value::SimpleString("down".into()),
        ]);
        let (outcome, metrics) = finish(batch(), &command, partly);
        assert_eq!(found(outcome), [true, true, false]);
        assert!(matches!(
            metrics[..],
            [Metric::Failed { op: "getBatchData", critical: false, .. }]
        ));
        let (outcome, metrics) =
            finish(batch(), &command, Err(CacheError::Timeout { after_ms: 5 }));
        assert_eq!(found(outcome), [false, false, false]);
        assert_eq!(metrics.len(), 1);
    }

    #[test]
    fn a_merge_refused_for_size_stores_nothing_and_says_why() {
        let then = Then::Merge(MergeThen {
            id: 1,
            key: "s".into(),
            issued: 0,
            started: Instant::now(),
            priority: Priority::Auto,
            strict: false,
            limit: 100,
        });
        let command = Command::Del("s".into());
        let (outcome, metrics) = finish(then, &command, Ok(vec![Value::Int(5000)]));
        let Outcome::Merged(Merged { result: MergeResult::Refused(outcome), .. }) = outcome else {
            panic!("not refused")
        };
        assert!(matches!(*outcome, Outcome::Failed { code: ErrorCode::InvalidArgument, .. }));
        assert!(matches!(metrics[..], [Metric::Failed { op: "setData", critical: true, .. }]));
    }

    #[test]
    fn a_failed_delete_still_resolves_and_reports() {
        let (outcome, metrics) =
            finish(Then::Delete { id: 1 }, &Command::Del("k".into()), Ok(vec![]));
        assert!(matches!(outcome, Outcome::Done));
        assert!(matches!(metrics[..], [Metric::Failed { op: "deleteData", .. }]));
    }
}
