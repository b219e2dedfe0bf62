//! Quote series (docs/contract.md, "Series"): keys whose `setData` merges the new points
//! into what Redis holds. The merge runs in Redis as one Lua script (`merge.lua`), so any
//! number of writers on one key lose no point; a hot copy is only a cache of the result.

use redis::Value;

const MERGE: &str = include_str!("merge.lua");

/// What a merge needs besides the key and the new points.
#[derive(Debug, Clone, Copy)]
pub struct Merge {
    pub ttl_secs: u64,
    /// Points older than the latest one by more than this are pruned.
    pub window_ms: u64,
    pub max_bytes: usize,
    /// The writer's clock: points dated beyond it by more than a window are dropped.
    pub now_ms: f64,
}

/// `EVAL` with the script's text: Redis caches it by digest, and unlike `EVALSHA` there is
/// no NOSCRIPT to recover from inside a pipeline, after a restart or on a new node.
pub(super) fn command(warm_key: String, points_json: &str, merge: &Merge) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(MERGE).arg(1).arg(warm_key).arg(points_json);
    cmd.arg(merge.ttl_secs).arg(merge.window_ms).arg(merge.max_bytes).arg(merge.now_ms as i64);
    cmd
}

/// The size the merged series would have had, when the script refused it.
pub fn refused_size(reply: &Value) -> Option<usize> {
    match reply {
        Value::Int(bytes) => usize::try_from(*bytes).ok(),
        _ => None,
    }
}
