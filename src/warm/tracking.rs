//! Server-assisted invalidation (docs/contract.md, "Coherence"): Redis pushes the name of a
//! warm key whenever anyone writes, deletes, expires or evicts it, and the hot tier drops
//! its copy.
//!
//! Tracking is `CLIENT TRACKING ON BCAST PREFIX <warm prefix> NOLOOP` on the RESP3
//! connection the cache already uses; `BCAST` because a key this cache only wrote must be
//! covered too (default tracking remembers reads only), `NOLOOP` so that our own writes do
//! not evict our own fresh entries (except a script's writes, which Redis echoes: see
//! `HotTier::expect_own_write`). A connection made anew has no tracking, and pushes sent
//! while none was up are lost: so every lost connection clears the hot tier, and the next
//! burst of commands re-enables tracking ahead of its own commands, on the same connection.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use redis::{ErrorKind, PushInfo, PushKind, RedisError, Value};

use crate::error::{describe, Credentials};

/// What the connection tells the hot tier.
pub enum Report {
    /// These keys (the caller's, without the warm prefix) changed in Redis.
    Keys(Vec<String>),
    /// Anything may have changed: a flush, or a connection lost or remade.
    All,
    /// The server refused tracking; the cache carries on in TTL mode. Says why.
    Fallback(String),
}

pub type Sink = Arc<dyn Fn(Report) + Send + Sync>;

/// No tracking, for good (`coherence: "ttl"`, or the server refused it).
const OFF: u8 = 0;
/// The connection has no tracking yet: the next burst enables it.
const WANTED: u8 = 1;
/// The enabling command is on its way.
const ENABLING: u8 = 2;
const ON: u8 = 3;

pub struct Tracking {
    state: AtomicU8,
    /// A burst failed while tracking was not on: the hot tier took entries that Redis may
    /// have changed unseen, so they go when tracking comes back.
    troubled: AtomicBool,
    prefix: String,
    sink: Sink,
}

impl Tracking {
    pub fn new(enabled: bool, prefix: String, sink: Sink) -> Arc<Tracking> {
        let state = AtomicU8::new(if enabled { WANTED } else { OFF });
        Arc::new(Tracking { state, troubled: AtomicBool::new(false), prefix, sink })
    }

    /// Whether the cache is in tracking mode (it stays so while reconnecting).
    pub fn in_force(&self) -> bool {
        self.state.load(Ordering::Acquire) != OFF
    }

    pub(super) fn retry_due(&self) -> bool {
        self.state.load(Ordering::Acquire) == WANTED && self.troubled.load(Ordering::Acquire)
    }

    /// Receives the connection's pushes; must not block (it runs on the connection's task).
    pub(super) fn push_sender(self: &Arc<Self>) -> impl Fn(PushInfo) -> Result<(), ()> {
        let tracking = Arc::clone(self);
        move |push: PushInfo| {
            tracking.received(push);
            Ok(())
        }
    }

    fn received(&self, push: PushInfo) {
        match push.kind {
            PushKind::Invalidate => match push.data.into_iter().next() {
                Some(Value::Array(keys)) => {
                    let keys = keys.into_iter().filter_map(|k| self.caller_key(k)).collect();
                    (self.sink)(Report::Keys(keys));
                }
                // FLUSHDB / FLUSHALL: a null instead of keys.
                _ => (self.sink)(Report::All),
            },
            PushKind::Disconnection => self.lost(),
            _ => {}
        }
    }

    fn caller_key(&self, key: Value) -> Option<String> {
        let Value::BulkString(bytes) = key else { return None };
        let key = String::from_utf8(bytes).ok()?;
        key.strip_prefix(self.prefix.as_str()).map(str::to_string)
    }

    /// The connection went away (or was replaced): pushes may have been missed.
    pub(super) fn lost(&self) {
        let state = self.state.load(Ordering::Acquire);
        if state == OFF {
            return;
        }
        self.state.store(WANTED, Ordering::Release);
        (self.sink)(Report::All);
    }

    /// Whether the burst being prepared must enable tracking first; claims that job.
    pub(super) fn claim(&self) -> bool {
        self.state.compare_exchange(WANTED, ENABLING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// `CLIENT TRACKING` off, then on: turning it on twice would be refused (an overlapping
    /// prefix), and a lost-connection report may arrive after tracking is already back.
    pub(super) fn commands(&self) -> [redis::Cmd; 2] {
        let mut off = redis::cmd("CLIENT");
        off.arg("TRACKING").arg("OFF");
        let mut on = redis::cmd("CLIENT");
        on.arg("TRACKING").arg("ON").arg("BCAST").arg("PREFIX").arg(&self.prefix).arg("NOLOOP");
        [off, on]
    }

    /// Tracking will never work with this server: ttl mode from now on, said once.
    pub(super) fn refused(&self, e: RedisError, credentials: &Credentials) {
        if self.state.swap(OFF, Ordering::AcqRel) != OFF {
            (self.sink)(Report::Fallback(describe(&e, credentials)));
        }
    }

    /// What became of [`Tracking::commands`].
    pub(super) fn enabled(&self, outcome: Enabled, credentials: &Credentials) {
        match outcome {
            Enabled::On => {
                let was =
                    self.state.compare_exchange(ENABLING, ON, Ordering::AcqRel, Ordering::Acquire);
                if was.is_ok() && self.troubled.swap(false, Ordering::AcqRel) {
                    (self.sink)(Report::All);
                }
            }
            Enabled::Failed => {
                self.troubled.store(true, Ordering::Release);
                let _ = self.state.compare_exchange(
                    ENABLING,
                    WANTED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            Enabled::Refused(e) => self.refused(e, credentials),
        }
    }
}

/// What became of enabling tracking.
pub(super) enum Enabled {
    On,
    /// Not now (the connection failed): the next burst tries again.
    Failed,
    /// Never: the server answered with an error (no `CLIENT` for this ACL user, a proxy
    /// that does not know the command, tracking disabled) or cannot speak RESP3.
    Refused(RedisError),
}

impl Enabled {
    /// From the replies to [`Tracking::commands`], sent in one pipeline.
    pub(super) fn from_replies(replies: Vec<Value>) -> Enabled {
        for reply in replies {
            if let Value::ServerError(e) = reply {
                return Enabled::Refused(e.into());
            }
        }
        Enabled::On
    }

    /// From the error a cluster node answered them with: the command's own refusal, or a
    /// server without RESP3, is for good; the rest (a lost connection, credentials refused
    /// while reconnecting) is "not now".
    pub(super) fn from_error(e: RedisError) -> Enabled {
        let refused = matches!(e.code(), Some("NOPERM" | "ERR" | "NOPROTO"))
            || e.kind() == ErrorKind::RESP3NotSupported;
        if refused {
            Enabled::Refused(e)
        } else {
            Enabled::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn recorder() -> (Arc<Tracking>, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let sink: Sink = Arc::new(move |r| {
            let line = match r {
                Report::Keys(keys) => format!("keys {}", keys.join(",")),
                Report::All => "all".to_string(),
                Report::Fallback(_) => "fallback".to_string(),
            };
            log.lock().unwrap().push(line);
        });
        (Tracking::new(true, "p:w".into(), sink), seen)
    }

    fn push(kind: PushKind, data: Vec<Value>) -> PushInfo {
        PushInfo { kind, data }
    }

    #[test]
    fn invalidations_name_the_callers_keys_and_a_flush_names_none() {
        let (tracking, seen) = recorder();
        let keys = vec![Value::BulkString(b"p:wAAPL".to_vec()), Value::BulkString(b"x".to_vec())];
        tracking.received(push(PushKind::Invalidate, vec![Value::Array(keys)]));
        tracking.received(push(PushKind::Invalidate, vec![Value::Nil]));
        assert_eq!(*seen.lock().unwrap(), ["keys AAPL", "all"]);
    }

    #[test]
    fn a_lost_connection_clears_and_the_next_burst_enables_again() {
        let creds = Credentials::default();
        let (tracking, seen) = recorder();
        assert!(tracking.claim());
        assert!(!tracking.claim(), "one burst enables");
        tracking.enabled(Enabled::On, &creds);
        assert!(!tracking.claim());
        tracking.received(push(PushKind::Disconnection, vec![]));
        assert!(tracking.claim());
        let dropped = RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        tracking.enabled(Enabled::from_error(dropped), &creds);
        assert!(tracking.claim(), "a failed burst leaves it wanted");
        tracking.enabled(Enabled::from_replies(vec![Value::Okay, Value::Okay]), &creds);
        assert_eq!(*seen.lock().unwrap(), ["all", "all"], "entries taken meanwhile are dropped");
        assert!(tracking.in_force());
    }

    #[test]
    fn a_refused_command_falls_back_once_and_stays_off() {
        let creds = Credentials::default();
        let (tracking, seen) = recorder();
        assert!(tracking.claim());
        let refused = redis::parse_redis_value(b"-NOPERM User has no permissions\r\n").unwrap();
        tracking.enabled(Enabled::from_replies(vec![Value::Okay, refused]), &creds);
        assert!(!tracking.in_force());
        tracking.received(push(PushKind::Disconnection, vec![]));
        assert!(!tracking.claim(), "no second try");
        assert_eq!(*seen.lock().unwrap(), ["fallback"]);
    }
}
