'use strict'

// What the metric integrations (js/prometheus.js, js/opentelemetry.js) check their
// arguments with: the same coded errors as the cache's own.

const { CODES } = require('../index.js')
const { observe } = require('./observe')

function invalidArgument(message, ErrorClass = RangeError) {
  return Object.assign(new ErrorClass(message), { code: CODES.INVALID_ARGUMENT })
}

function checkCache(cache) {
  if (typeof cache?.[observe] !== 'function') throw invalidArgument('cache must be a StreamCache', TypeError)
}

function readPrefix(prefix, fallback, pattern) {
  if (prefix === undefined) return fallback
  if (typeof prefix !== 'string' || (prefix !== '' && !pattern.test(prefix))) {
    throw invalidArgument(`prefix must be a string matching ${pattern}, got ${JSON.stringify(prefix)}`)
  }
  return prefix
}


// The metrics both integrations export, named in Prometheus's words: js/prometheus.js adds
// the unit suffixes, js/opentelemetry.js writes `_` as `.`.
const METRICS = {
  gets: 'getData lookups (a batch counts each key) by the layer that answered',
  sets: 'setData calls by the layers written and their outcome',
  errors: 'Failed operations by method and error type',
  operation_duration: 'Operation latency',
  events_pending: 'Metric events queued and not yet delivered',
  hot_entries: 'Entries in the hot (in-process) tier',
  redis_connected: '1 when every cache reaches Redis, else 0',
  coherence_mode: 'The coherence in force (1 for the mode in use)',
}
// stats() fields that only grow, exported as counters.
const STAT_COUNTERS = {
  emittedMetrics: ['events_emitted', 'Metric events handed to listeners'],
  droppedMetrics: ['events_dropped', 'Metric events dropped (queue full, released or destroyed)'],
  failedMetrics: ['events_failed', 'Metric events whose onMetric callback threw'],
  invalidationsReceived: ['invalidations_received', 'Invalidation messages received from Redis (coherence "tracking")'],
}
// Seconds: from a hot hit (0) to a Redis round trip under load.
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const COHERENCE_MODES = ['tracking', 'ttl']

// Hands what one metric event counts for to `sink` ({ get, set, error, duration }).
function countEvent(event, sink) {
  if (event.metricType !== 'cache') return
  const { operation, layer, success, errorType } = event.tags
  if (errorType !== undefined) sink.error({ operation, type: errorType })
  if (operation === 'get') sink.get({ layer })
  else if (operation === 'set') sink.set({ layer, success })
  if (operation === 'get' || operation === 'set') sink.duration({ operation }, event.metricValue / 1000)
}

// One getHealthStatus() per cache (a PING to each node), reduced to what is exported.
async function healthOf(caches) {
  const all = await Promise.all([...caches].map((cache) => cache.getHealthStatus().catch(() => null)))
  return {
    connected: all.every((h) => h?.redisConnected) ? 1 : 0,
    modes: COHERENCE_MODES.map((mode) => [mode, all.some((h) => h?.coherence === mode) ? 1 : 0]),
  }
}

// One collector per owner (a registry or a meter) and prefix, however many caches report
// into it; `create(forget)` makes it, and it calls `forget()` when its last cache is gone.
const collectors = new WeakMap()
function sharedCollector(owner, prefix, create) {
  let byPrefix = collectors.get(owner)
  if (byPrefix === undefined) collectors.set(owner, (byPrefix = new Map()))
  let collector = byPrefix.get(prefix)
  if (collector === undefined) {
    collector = create(() => byPrefix.delete(prefix))
    byPrefix.set(prefix, collector)
  }
  return collector
}

function sumStats(caches, field) {
  let total = 0
  for (const cache of caches) total += cache.stats()[field]
  return total
}

module.exports = {
  invalidArgument,
  checkCache,
  readPrefix,
  METRICS,
  STAT_COUNTERS,
  DURATION_BUCKETS,
  countEvent,
  healthOf,
  sharedCollector,
  sumStats,
}
