'use strict'

// collectMetrics(cache, { registry, prefix }): a cache's metric events and stats() as
// prom-client metrics, registered once per registry and prefix however many caches report
// into them, and removed when the last of those caches is destroyed. prom-client is an
// optional peer, loaded on the first call.

const { observe } = require('./observe')
const {
  invalidArgument, checkCache, readPrefix, METRICS, STAT_COUNTERS, DURATION_BUCKETS, countEvent, healthOf, sharedCollector, sumStats,
} = require('./integration')

class Collector {
  // cache → { detach, last }: its stats() counters as last exported, so each scrape adds only what is new.
  #caches = new Map()
  #metrics = []
  #statCounters = {}
  #sink
  #registry
  #forget

  constructor(client, registry, prefix, forget) {
    this.#registry = registry
    this.#forget = forget
    const caches = this.#caches
    const make = (Kind, name, help, more = {}) => {
      if (registry.getSingleMetric(prefix + name)) {
        throw invalidArgument(`a metric named ${prefix + name} is already registered (not by stream-cache-native): choose another prefix`)
      }
      const metric = new Kind({ name: prefix + name, help, registers: [registry], ...more })
      this.#metrics.push(metric)
      return metric
    }
    const gets = make(client.Counter, 'gets_total', METRICS.gets, { labelNames: ['layer'] })
    const sets = make(client.Counter, 'sets_total', METRICS.sets, { labelNames: ['layer', 'success'] })
    const errors = make(client.Counter, 'errors_total', METRICS.errors, { labelNames: ['operation', 'type'] })
    const duration = make(client.Histogram, 'operation_duration_seconds', METRICS.operation_duration, {
      labelNames: ['operation'],
      buckets: DURATION_BUCKETS,
    })
    this.#sink = {
      get: (labels) => gets.inc(labels),
      set: (labels) => sets.inc(labels),
      error: (labels) => errors.inc(labels),
      duration: (labels, seconds) => duration.observe(labels, seconds),
    }
    const collector = this
    for (const [field, [name, help]] of Object.entries(STAT_COUNTERS)) {
      this.#statCounters[field] = make(client.Counter, `${name}_total`, help, {
        collect() {
          for (const cache of caches.keys()) this.inc(collector.#advance(cache, field))
        },
      })
    }
    make(client.Gauge, 'events_pending', METRICS.events_pending, {
      collect() {
        this.set(sumStats(caches.keys(), 'pendingMetrics'))
      },
    })
    make(client.Gauge, 'hot_entries', METRICS.hot_entries, {
      collect() {
        this.set(sumStats(caches.keys(), 'hotCacheSize'))
      },
    })
    make(client.Gauge, 'redis_connected', METRICS.redis_connected, {
      async collect() {
        this.set((await healthOf(caches.keys())).connected)
      },
    })
    make(client.Gauge, 'coherence_mode', METRICS.coherence_mode, {
      labelNames: ['mode'],
      async collect() {
        for (const [mode, inUse] of (await healthOf(caches.keys())).modes) this.set({ mode }, inUse)
      },
    })
  }

  // What the cache's counter has gained since it was last exported.
  #advance(cache, field) {
    const { last } = this.#caches.get(cache)
    const now = cache.stats()[field]
    const delta = now - (last[field] ?? 0)
    last[field] = now
    return Math.max(0, delta)
  }

  add(cache) {
    if (!this.#caches.has(cache)) {
      const detach = cache[observe]({ onEvent: (event) => countEvent(event, this.#sink), onDestroy: () => this.#remove(cache) })
      this.#caches.set(cache, { detach, last: {} })
    }
    return { unregister: () => this.#remove(cache) }
  }

  // The cache's last counts go in before it leaves; the metrics go with the last cache.
  #remove(cache) {
    const entry = this.#caches.get(cache)
    if (entry === undefined) return
    entry.detach()
    for (const [field, counter] of Object.entries(this.#statCounters)) counter.inc(this.#advance(cache, field))
    this.#caches.delete(cache)
    if (this.#caches.size > 0) return
    for (const metric of this.#metrics) this.#registry.removeSingleMetric(metric.name)
    this.#forget()
  }
}

function collectMetrics(cache, options = {}) {
  checkCache(cache)
  const client = require('prom-client')
  const registry = options.registry ?? client.register
  const prefix = readPrefix(options.prefix, 'stream_cache_', /^[a-zA-Z_:][a-zA-Z0-9_:]*$/)
  return sharedCollector(registry, prefix, (forget) => new Collector(client, registry, prefix, forget)).add(cache)
}

module.exports = { collectMetrics }
