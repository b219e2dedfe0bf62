'use strict'

// collectOpenTelemetry(cache, { meter, prefix }): the metrics of js/prometheus.js as
// OpenTelemetry instruments: counters and a histogram fed by the metric events, observable
// instruments read from stats() and getHealthStatus() at each collection. Instruments are
// made once per meter and prefix; their observation callback goes with the last cache
// destroyed. @opentelemetry/api is an optional peer, loaded on the first call.

const { observe } = require('./observe')
const { checkCache, readPrefix, METRICS, STAT_COUNTERS, DURATION_BUCKETS, countEvent, healthOf, sharedCollector, sumStats } =
  require('./integration')
const { version } = require('../package.json')

const otelName = (name) => name.replaceAll('_', '.')

class Collector {
  #caches = new Map()
  // Counts of caches already gone, so the observed counters never go back.
  #retired = Object.fromEntries(Object.keys(STAT_COUNTERS).map((field) => [field, 0]))
  #sink
  #meter
  #observables
  #callback
  #forget

  constructor(meter, prefix, forget) {
    this.#meter = meter
    this.#forget = forget
    const counter = (name) => meter.createCounter(prefix + otelName(name), { description: METRICS[name] })
    const [gets, sets, errors] = ['gets', 'sets', 'errors'].map(counter)
    const duration = meter.createHistogram(`${prefix}operation.duration`, {
      description: METRICS.operation_duration,
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    })
    this.#sink = {
      get: (labels) => gets.add(1, labels),
      set: (labels) => sets.add(1, labels),
      error: (labels) => errors.add(1, labels),
      duration: (labels, seconds) => duration.record(seconds, labels),
    }
    const counters = Object.entries(STAT_COUNTERS).map(([field, [name, description]]) => [
      field,
      meter.createObservableCounter(prefix + otelName(name), { description }),
    ])
    const gauge = (name) => meter.createObservableGauge(prefix + otelName(name), { description: METRICS[name] })
    const [pending, hot, connected, coherence] = ['events_pending', 'hot_entries', 'redis_connected', 'coherence_mode'].map(gauge)
    this.#observables = [...counters.map(([, c]) => c), pending, hot, connected, coherence]
    this.#callback = async (result) => {
      const caches = [...this.#caches.keys()]
      for (const [field, c] of counters) result.observe(c, this.#retired[field] + sumStats(caches, field))
      result.observe(pending, sumStats(caches, 'pendingMetrics'))
      result.observe(hot, sumStats(caches, 'hotCacheSize'))
      const health = await healthOf(caches)
      result.observe(connected, health.connected)
      for (const [mode, inUse] of health.modes) result.observe(coherence, inUse, { mode })
    }
    meter.addBatchObservableCallback(this.#callback, this.#observables)
  }

  add(cache) {
    if (!this.#caches.has(cache)) {
      const detach = cache[observe]({ onEvent: (event) => countEvent(event, this.#sink), onDestroy: () => this.#remove(cache) })
      this.#caches.set(cache, detach)
    }
    return { unregister: () => this.#remove(cache) }
  }

  #remove(cache) {
    const detach = this.#caches.get(cache)
    if (detach === undefined) return
    detach()
    this.#caches.delete(cache)
    const stats = cache.stats()
    for (const field of Object.keys(STAT_COUNTERS)) this.#retired[field] += stats[field]
    if (this.#caches.size > 0) return
    this.#meter.removeBatchObservableCallback(this.#callback, this.#observables)
    this.#forget()
  }
}

function collectOpenTelemetry(cache, options = {}) {
  checkCache(cache)
  const meter = options.meter ?? require('@opentelemetry/api').metrics.getMeter('stream-cache-native', version)
  const prefix = readPrefix(options.prefix, 'stream_cache.', /^[a-zA-Z][a-zA-Z0-9_.\-/]*$/)
  return sharedCollector(meter, prefix, (forget) => new Collector(meter, prefix, forget)).add(cache)
}

module.exports = { collectOpenTelemetry }
