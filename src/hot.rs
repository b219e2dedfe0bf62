//! The hot tier's policy: which keys stay in process memory, for how long, and which one
//! leaves when it is full.
//!
//! The values themselves live in a JavaScript `Map` in `js/hot.js`, so a hot hit never
//! crosses N-API; this side only decides. JS reports its hits in batches ([`HotTier::touch`])
//! and applies every decision synchronously: each call that adds a key returns the keys
//! that left, so the two sides always hold the same keys.
//!
//! Eviction is quick_cache's policy (by its source, a modified CLOCK-Pro with S3-FIFO-like
//! reference counters): O(1) per operation and, on skewed workloads, at least the hit rate
//! of the TypeScript service's O(n) lowest-access-count scan (checked by a test below).

use std::time::{Duration, Instant};

use quick_cache::{unsync::Cache, DefaultHashBuilder, Lifecycle, UnitWeighter};

use crate::js::Priority;

/// The TS service's admission rule for `priority: "auto"` (compat).
pub const AUTO_HOT_MAX_BYTES: usize = 10_000;
const AUTO_HOT_MAX_POINTS: usize = 100;

/// Whether a value enters the hot tier (compat: the TS service's rule); `small` is JSON
/// under [`AUTO_HOT_MAX_BYTES`].
pub fn takes_hot(priority: Priority, small: bool, points: usize) -> bool {
    priority == Priority::Hot
        || (priority == Priority::Auto && small && points < AUTO_HOT_MAX_POINTS)
}

/// A point in the tier's history, used to tell whether a Redis read that started earlier
/// may still be promoted.
pub type Generation = u64;

pub struct Entry {
    written_at: Instant,
    generation: Generation,
}

/// Collects the keys the policy evicts during one insert.
#[derive(Clone, Copy, Default)]
pub struct Evictions;

impl Lifecycle<String, Entry> for Evictions {
    type RequestState = Vec<String>;

    fn on_evict(&self, state: &mut Vec<String>, key: String, _entry: Entry) {
        state.push(key);
    }
}

/// Keys removed recently enough that a Redis read of theirs may still be in flight; past
/// this many the map is forgotten and a tier-wide mark takes its place.
const RECENT_REMOVALS: usize = 4096;

pub struct HotTier {
    entries: Option<Cache<String, Entry, UnitWeighter, DefaultHashBuilder, Evictions>>,
    ttl: Duration,
    generation: Generation,
    /// A Redis read issued before a key's removal must not bring its old value back. Per
    /// key, because Redis reports changes to keys this tier never held, many per second.
    removed: std::collections::HashMap<String, Generation>,
    /// Reads issued before this mark (a clear) promote nothing.
    invalidated_at: Generation,
    /// Series writes of ours per key whose invalidation is still to come: Redis does not
    /// apply NOLOOP to a script's writes, so each reports back to its own writer once.
    own_writes: std::collections::HashMap<String, u32>,
}

impl HotTier {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::with(
                capacity,
                capacity as u64,
                UnitWeighter,
                DefaultHashBuilder::default(),
                Evictions,
            )
        });
        HotTier {
            entries,
            ttl,
            generation: 0,
            removed: Default::default(),
            invalidated_at: 0,
            own_writes: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |c| c.len())
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.written_at) > self.ttl
    }

    /// Records a hit JS served; `false` when the key is not (or no longer) in the tier.
    pub fn touch(&mut self, key: &str) -> bool {
        self.entries.as_mut().is_some_and(|c| c.get(key).is_some())
    }

    /// Drops a key JS found expired (or no longer held); unlike [`HotTier::fence`] it does
    /// not hold back reads already under way.
    pub fn drop_expired(&mut self, key: &str) {
        if let Some(cache) = self.entries.as_mut() {
            cache.remove(key);
        }
    }

    /// Admits `key`, written now. `None` when the tier is disabled; otherwise the keys
    /// that left to make room (the key itself, when replaced, stays).
    pub fn insert(&mut self, key: String, now: Instant) -> Option<Vec<String>> {
        self.generation += 1;
        let generation = self.generation;
        let cache = self.entries.as_mut()?;
        let entry = Entry { written_at: now, generation };
        if let Some(mut slot) = cache.peek_mut(key.as_str()) {
            *slot = entry;
            return Some(Vec::new());
        }
        let mut evicted = Vec::new();
        cache.insert_with_lifecycle(key, entry, &mut evicted);
        Some(evicted)
    }

    /// [`HotTier::insert`] for a value read from Redis by a request issued at `issued`,
    /// unless the key was written, deleted or cleared since (then `None`).
    pub fn promote(
        &mut self,
        key: String,
        issued: Generation,
        now: Instant,
    ) -> Option<Vec<String>> {
        let newer = self
            .entries
            .as_ref()
            .and_then(|c| c.peek(key.as_str()))
            .is_some_and(|e| e.generation > issued && !self.expired(e, now));
        if newer || self.changed_since(&key, issued) {
            return None;
        }
        self.insert(key, now)
    }

    /// Whether `key` was removed, or the tier cleared, after `issued`.
    fn changed_since(&self, key: &str, issued: Generation) -> bool {
        self.invalidated_at > issued || self.removed.get(key).is_some_and(|at| *at > issued)
    }

    /// [`HotTier::insert`] for the result of a write issued at `issued`, unless the key was
    /// removed or the tier cleared since (then `None`).
    pub fn admit(&mut self, key: String, issued: Generation, now: Instant) -> Option<Vec<String>> {
        if self.changed_since(&key, issued) {
            return None;
        }
        self.insert(key, now)
    }

    /// Drops `key` because its warm value changed, and fences it: a read issued before now
    /// will not promote its older value. `true` when the tier held it.
    pub fn fence(&mut self, key: &str) -> bool {
        self.generation += 1;
        if self.removed.len() >= RECENT_REMOVALS {
            self.removed.clear();
            self.invalidated_at = self.generation;
        }
        self.removed.insert(key.to_string(), self.generation);
        self.entries.as_mut().is_some_and(|c| c.remove(key).is_some())
    }

    /// A series write of ours to `key` is under way (see `own_writes`).
    pub fn expect_own_write(&mut self, key: &str) {
        *self.own_writes.entry(key.to_string()).or_default() += 1;
    }

    /// That write ended; `wrote`: Redis stored it, so its report is still to come (`None`:
    /// unknown, so nothing is awaited and the key's copy goes).
    pub fn own_write_ended(&mut self, key: &str, wrote: Option<bool>) {
        match wrote {
            Some(true) => {}
            Some(false) => match self.own_writes.get_mut(key) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    self.own_writes.remove(key);
                }
            },
            None => {
                self.own_writes.remove(key);
                self.fence(key);
            }
        }
    }

    /// Redis reported `key` changed: drops it (`true` when the tier held it), unless the
    /// report is the echo of a series write of ours.
    pub fn redis_changed(&mut self, key: &str) -> bool {
        if let Some(n) = self.own_writes.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.own_writes.remove(key);
            }
            return false;
        }
        self.fence(key)
    }

    pub fn clear(&mut self) {
        self.generation += 1;
        self.invalidated_at = self.generation;
        self.removed.clear();
        self.own_writes.clear();
        if let Some(cache) = self.entries.as_mut() {
            cache.clear();
        }
    }

    pub fn remove_expired(&mut self, now: Instant) -> Vec<String> {
        let ttl = self.ttl;
        let Some(cache) = self.entries.as_mut() else { return Vec::new() };
        let stale: Vec<String> = cache
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.written_at) > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &stale {
            cache.remove(key.as_str());
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, Zipf};

    use super::*;

    const TTL: Duration = Duration::from_secs(3600);

    #[test]
    fn insert_touch_forget_and_expiry() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(10, Duration::from_millis(100));
        assert_eq!(hot.insert("a".into(), t0), Some(vec![]));
        assert!(hot.touch("a"));
        assert_eq!(hot.insert("a".into(), t0), Some(vec![]), "a replaced key stays");
        hot.drop_expired("a");
        assert!(!hot.touch("a"));
        hot.insert("b".into(), t0);
        assert_eq!(hot.remove_expired(t0 + Duration::from_millis(50)), Vec::<String>::new());
        assert_eq!(hot.remove_expired(t0 + Duration::from_secs(1)), vec!["b".to_string()]);
        assert_eq!(hot.len(), 0);
    }

    #[test]
    fn never_exceeds_capacity_and_reports_every_key_that_leaves() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(50, TTL);
        let mut left = 0;
        for i in 0..1000 {
            left += hot.insert(format!("k{i}"), t0).map_or(0, |evicted| evicted.len());
            assert!(hot.len() <= 50);
        }
        assert_eq!(left + hot.len(), 1000, "every key is either still in or reported as evicted");
    }

    #[test]
    fn stale_redis_reads_do_not_overwrite_newer_writes_or_resurrect_deletes() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(10, TTL);
        let issued = hot.generation();
        hot.insert("k".into(), t0);
        assert_eq!(hot.promote("k".into(), issued, t0), None);

        let issued = hot.generation();
        hot.fence("k");
        assert_eq!(hot.promote("k".into(), issued, t0), None);

        let issued = hot.generation();
        assert_eq!(hot.promote("k".into(), issued, t0), Some(vec![]));
        assert!(hot.touch("k"));

        let issued = hot.generation();
        assert!(hot.fence("k"));
        assert!(!hot.fence("other"));
        assert_eq!(hot.promote("other".into(), issued - 1, t0), None, "removed after its read");
        assert_eq!(hot.promote("k2".into(), issued, t0), Some(vec![]), "other keys promote");

        let issued = hot.generation();
        for i in 0..=RECENT_REMOVALS {
            hot.fence(&format!("r{i}"));
        }
        assert_eq!(hot.promote("k3".into(), issued, t0), None, "past the limit: a tier-wide mark");
    }

    #[test]
    fn the_echo_of_an_own_series_write_is_expected_once() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(10, TTL);
        hot.expect_own_write("s");
        let issued = hot.generation();
        assert_eq!(hot.admit("s".into(), issued, t0), Some(vec![]));
        assert!(!hot.redis_changed("s"), "the echo passes");
        assert!(hot.touch("s"));
        assert!(hot.redis_changed("s"), "the next report is someone else's");

        hot.expect_own_write("s");
        hot.own_write_ended("s", Some(false));
        hot.insert("s".into(), t0);
        assert!(hot.redis_changed("s"), "nothing was written, so nothing is awaited");

        hot.expect_own_write("u");
        hot.insert("u".into(), t0);
        hot.own_write_ended("u", None);
        assert!(!hot.touch("u"), "unknown outcome: the copy goes");
    }

    #[test]
    fn disabled_tier_keeps_nothing() {
        let mut hot = HotTier::new(0, TTL);
        assert_eq!(hot.insert("a".into(), Instant::now()), None);
        assert!(!hot.touch("a"));
    }
    /// The TypeScript service's policy: evict the lowest access count, ties to the oldest write.
    struct ScanLfu {
        entries: HashMap<u64, (u64, u64)>,
        capacity: usize,
        clock: u64,
    }

    impl ScanLfu {
        fn get(&mut self, key: u64) -> bool {
            self.clock += 1;
            match self.entries.get_mut(&key) {
                Some(e) => {
                    e.0 += 1;
                    true
                }
                None => false,
            }
        }
        fn insert(&mut self, key: u64) {
            self.clock += 1;
            if self.entries.len() >= self.capacity {
                let victim = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (count, at))| (*count, *at))
                    .map(|(k, _)| *k);
                if let Some(victim) = victim {
                    self.entries.remove(&victim);
                }
            }
            self.entries.insert(key, (1, self.clock));
        }
    }

    /// Read-through workload: every miss is fetched and inserted, as getData does.
    fn hit_rates(exponent: f64, keys: u64, capacity: usize, requests: usize) -> (f64, f64) {
        let zipf = Zipf::new(keys as f64, exponent).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let t0 = Instant::now();
        let mut ours = HotTier::new(capacity, TTL);
        let mut theirs = ScanLfu { entries: HashMap::new(), capacity, clock: 0 };
        let (mut our_hits, mut their_hits) = (0usize, 0usize);
        for _ in 0..requests {
            let key = zipf.sample(&mut rng) as u64;
            let name = key.to_string();
            if ours.touch(&name) {
                our_hits += 1;
            } else {
                ours.insert(name, t0);
            }
            if theirs.get(key) {
                their_hits += 1;
            } else {
                theirs.insert(key);
            }
        }
        (our_hits as f64 / requests as f64, their_hits as f64 / requests as f64)
    }

    #[test]
    fn zipf_hit_rate_at_least_the_typescript_policy() {
        for (exponent, keys, capacity) in
            [(0.8, 20_000, 200), (1.0, 20_000, 200), (1.2, 50_000, 500)]
        {
            let (ours, theirs) = hit_rates(exponent, keys, capacity, 200_000);
            println!("zipf s={exponent} keys={keys} cap={capacity}: ours {ours:.4}, scan-LFU {theirs:.4}");
            assert!(ours >= theirs, "s={exponent}: ours {ours:.4} < scan-LFU {theirs:.4}");
        }
    }
}
