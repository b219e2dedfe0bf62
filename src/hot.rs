//! The hot tier: which keys stay in process memory, for how long, and which one leaves
//! when it is full.
//!
//! Eviction is quick_cache's S3-FIFO-style policy: O(1) per operation and, on skewed
//! workloads, at least the hit rate of the TypeScript service's O(n) lowest-access-count
//! scan (checked by a test below). The tier only decides; it never frees a value itself.
//! Every value that leaves is handed back to the caller, because releasing a JavaScript
//! reference needs the JS thread's `Env`.

use std::time::{Duration, Instant};

use quick_cache::{unsync::Cache, DefaultHashBuilder, Lifecycle, UnitWeighter};

/// A point in the tier's history, used to tell whether a Redis read that started earlier
/// may still be promoted.
pub type Generation = u64;

pub struct Entry<V> {
    value: V,
    written_at: Instant,
    generation: Generation,
}

/// Collects what the policy evicts during one insert.
#[derive(Clone, Copy, Default)]
pub struct Evictions;

impl<V> Lifecycle<String, Entry<V>> for Evictions {
    type RequestState = Vec<V>;

    fn on_evict(&self, state: &mut Vec<V>, _key: String, entry: Entry<V>) {
        state.push(entry.value);
    }
}

pub enum Lookup<'a, V> {
    Hit(&'a V),
    Miss,
    /// The entry had outlived its TTL and was removed; its value must be released.
    Expired(V),
}

pub struct HotTier<V> {
    entries: Option<Cache<String, Entry<V>, UnitWeighter, DefaultHashBuilder, Evictions>>,
    ttl: Duration,
    generation: Generation,
    /// Last delete/clear: a Redis read issued before it must not resurrect old data.
    invalidated_at: Generation,
}

impl<V> HotTier<V> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::with(capacity, capacity as u64, UnitWeighter, DefaultHashBuilder::default(), Evictions)
        });
        HotTier { entries, ttl, generation: 0, invalidated_at: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |c| c.len())
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }

    fn expired(&self, entry: &Entry<V>, now: Instant) -> bool {
        now.saturating_duration_since(entry.written_at) > self.ttl
    }

    pub fn get(&mut self, key: &str, now: Instant) -> Lookup<'_, V> {
        let Some(cache) = self.entries.as_mut() else { return Lookup::Miss };
        match cache.peek(key) {
            None => return Lookup::Miss,
            Some(entry) if now.saturating_duration_since(entry.written_at) > self.ttl => {
                return match cache.remove(key) {
                    Some((_, entry)) => Lookup::Expired(entry.value),
                    None => Lookup::Miss,
                };
            }
            Some(_) => {}
        }
        match cache.get(key) {
            Some(entry) => Lookup::Hit(&entry.value),
            None => Lookup::Miss,
        }
    }

    /// Writes `value` under `key`; returns the values that left the tier (the replaced one
    /// and any evicted), or `value` itself when the tier is disabled.
    pub fn insert(&mut self, key: String, value: V, now: Instant) -> Vec<V> {
        self.generation += 1;
        let generation = self.generation;
        let Some(cache) = self.entries.as_mut() else { return vec![value] };
        let entry = Entry { value, written_at: now, generation };
        if let Some(mut slot) = cache.peek_mut(key.as_str()) {
            let old = std::mem::replace(&mut *slot, entry);
            return vec![old.value];
        }
        let mut evicted = Vec::new();
        cache.insert_with_lifecycle(key, entry, &mut evicted);
        evicted
    }

    /// Inserts a value read from Redis by a request issued at `issued`, unless the key
    /// was written, deleted or cleared since; then the value comes back as `Err`.
    pub fn promote(
        &mut self,
        key: String,
        value: V,
        issued: Generation,
        now: Instant,
    ) -> Result<Vec<V>, V> {
        let newer = self
            .entries
            .as_ref()
            .and_then(|c| c.peek(key.as_str()))
            .is_some_and(|e| e.generation > issued && !self.expired(e, now));
        if newer || self.invalidated_at > issued {
            return Err(value);
        }
        Ok(self.insert(key, value, now))
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.generation += 1;
        self.invalidated_at = self.generation;
        self.entries.as_mut()?.remove(key).map(|(_, e)| e.value)
    }

    pub fn clear(&mut self) -> Vec<V> {
        self.generation += 1;
        self.invalidated_at = self.generation;
        match self.entries.as_mut() {
            Some(cache) => cache.drain().map(|(_, e)| e.value).collect(),
            None => Vec::new(),
        }
    }

    pub fn remove_expired(&mut self, now: Instant) -> Vec<V> {
        let ttl = self.ttl;
        let Some(cache) = self.entries.as_mut() else { return Vec::new() };
        let stale: Vec<String> = cache
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.written_at) > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        stale.iter().filter_map(|k| cache.remove(k.as_str())).map(|(_, e)| e.value).collect()
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
    fn hit_miss_expiry_and_release() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(10, Duration::from_millis(100));
        assert!(hot.insert("a".into(), 1, t0).is_empty());
        assert!(matches!(hot.get("a", t0 + Duration::from_millis(100)), Lookup::Hit(1)));
        assert!(matches!(hot.get("a", t0 + Duration::from_millis(101)), Lookup::Expired(1)));
        assert!(matches!(hot.get("a", t0), Lookup::Miss));
        assert_eq!(hot.insert("b".into(), 2, t0), Vec::<i32>::new());
        assert_eq!(hot.insert("b".into(), 3, t0), vec![2], "a replaced value is handed back");
        assert_eq!(hot.remove_expired(t0 + Duration::from_secs(1)), vec![3]);
        assert_eq!(hot.len(), 0);
    }

    #[test]
    fn never_exceeds_capacity_and_hands_back_every_value() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(50, TTL);
        let mut released = 0;
        for i in 0..1000 {
            released += hot.insert(format!("k{i}"), i, t0).len();
            assert!(hot.len() <= 50);
        }
        released += hot.clear().len();
        assert_eq!(released, 1000, "every inserted value leaves exactly once");
    }

    #[test]
    fn stale_redis_reads_do_not_overwrite_newer_writes_or_resurrect_deletes() {
        let t0 = Instant::now();
        let mut hot = HotTier::new(10, TTL);
        let issued = hot.generation();
        hot.insert("k".into(), "new", t0);
        assert_eq!(hot.promote("k".into(), "old", issued, t0).unwrap_err(), "old");

        let issued = hot.generation();
        hot.remove("k");
        assert!(hot.promote("k".into(), "old", issued, t0).is_err());

        let issued = hot.generation();
        assert!(hot.promote("k".into(), "fresh", issued, t0).is_ok());
        assert!(matches!(hot.get("k", t0), Lookup::Hit(&"fresh")));
    }

    #[test]
    fn disabled_tier_keeps_nothing() {
        let mut hot = HotTier::new(0, TTL);
        assert_eq!(hot.insert("a".into(), 1, Instant::now()), vec![1]);
        assert!(matches!(hot.get("a", Instant::now()), Lookup::Miss));
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
                let victim = self.entries.iter().min_by_key(|(_, (count, at))| (*count, *at)).map(|(k, _)| *k);
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
            if matches!(ours.get(&name, t0), Lookup::Hit(_)) {
                our_hits += 1;
            } else {
                ours.insert(name, (), t0);
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
        for (exponent, keys, capacity) in [(0.8, 20_000, 200), (1.0, 20_000, 200), (1.2, 50_000, 500)] {
            let (ours, theirs) = hit_rates(exponent, keys, capacity, 200_000);
            println!("zipf s={exponent} keys={keys} cap={capacity}: ours {ours:.4}, scan-LFU {theirs:.4}");
            assert!(ours >= theirs, "s={exponent}: ours {ours:.4} < scan-LFU {theirs:.4}");
        }
    }
}
