'use strict'

// The metric integrations (js/prometheus.js, js/opentelemetry.js) against a real prom-client
// registry's text output and the OpenTelemetry SDK's in-memory exporter, on a real Redis.

const { Registry } = require('prom-client')
const {
  MeterProvider,
  PeriodicExportingMetricReader,
  InMemoryMetricExporter,
  AggregationTemporality,
} = require('@opentelemetry/sdk-metrics')
const { StreamCache } = require('..')
const { collectMetrics } = require('../js/prometheus')
const { collectOpenTelemetry } = require('../js/opentelemetry')
const { cacheOptions, eventually, openedCaches, quotes, uniquePrefix, unreachableRedis } = require('./helpers')

const { track } = openedCaches()

// Metric lines of the text exposition, without HELP/TYPE and histogram buckets.
async function samples(registry, prefix) {
  const text = await registry.metrics()
  return text.split('\n').filter((line) => line.startsWith(prefix) && !line.includes('_bucket{'))
}

// A known mix on a cache with no onMetric of its own: a write (hot and warm), a hot hit, a
// miss, a warm hit of a key another cache wrote, and one foreign write it is told about.
async function knownTraffic(cache, other) {
  await other.setData('k2', quotes('B', 2))
  await cache.setData('k1', quotes('A', 3))
  expect(await cache.getData('k1')).toHaveLength(3)
  expect(await cache.getData('nope')).toBeNull()
  expect(await cache.getData('k2')).toHaveLength(2)
  await eventually(() => cache.stats().emittedMetrics, 4)
  await other.setData('k1', quotes('A', 4))
  await eventually(() => cache.stats().invalidationsReceived, 1)
  // k1's hot copy goes at the drain after the invalidation arrives.
  await eventually(() => cache.stats().hotCacheSize, 1)
}

function pair() {
  const keyPrefix = uniquePrefix()
  const cache = track(new StreamCache(cacheOptions({ redis: { keyPrefix } })))
  const other = track(new StreamCache(cacheOptions({ redis: { keyPrefix } })))
  return { cache, other }
}

describe('prom-client', () => {
  test('gets by layer, sets, latency, event counts, invalidations, hot size, connection and coherence', async () => {
    const { cache, other } = pair()
    const registry = new Registry()
    collectMetrics(cache, { registry, prefix: 'sc_' })
    await knownTraffic(cache, other)
    // Hot-hit events are delivered on a later turn than the others: order is not fixed.
    const lines = await samples(registry, 'sc_')
    expect(lines).toHaveLength(17)
    expect(lines).toEqual(expect.arrayContaining([
      'sc_gets_total{layer="hot"} 1',
      'sc_gets_total{layer="miss"} 1',
      'sc_gets_total{layer="warm"} 1',
      'sc_sets_total{layer="both",success="true"} 1',
      expect.stringMatching(/^sc_operation_duration_seconds_sum\{operation="set"\} [0-9.e-]+$/),
      'sc_operation_duration_seconds_count{operation="set"} 1',
      expect.stringMatching(/^sc_operation_duration_seconds_sum\{operation="get"\} [0-9.e-]+$/),
      'sc_operation_duration_seconds_count{operation="get"} 3',
      'sc_events_emitted_total 4',
      'sc_events_dropped_total 0',
      'sc_events_failed_total 0',
      'sc_invalidations_received_total 1',
      'sc_events_pending 0',
      'sc_hot_entries 1',
      'sc_redis_connected 1',
      'sc_coherence_mode{mode="tracking"} 1',
      'sc_coherence_mode{mode="ttl"} 0',
    ]))
  })

  test('failed operations by method and type, and a lost connection', async () => {
    const cache = track(new StreamCache(cacheOptions({ redis: unreachableRedis() })))
    const registry = new Registry()
    collectMetrics(cache, { registry, prefix: 'sc_' })
    await cache.deleteData('k')
    await cache.setData('k', quotes('A', 1))
    await eventually(() => cache.stats().emittedMetrics, 2)
    const lines = await samples(registry, 'sc_')
    expect(lines).toEqual(
      expect.arrayContaining([
        'sc_errors_total{operation="deleteData",type="recoverable_error"} 1',
        'sc_errors_total{operation="set",type="recoverable_error"} 1',
        'sc_sets_total{layer="warm",success="false"} 1',
        'sc_redis_connected 0',
      ]),
    )
    expect(lines.filter((l) => l.startsWith('sc_errors_total'))).toHaveLength(2)
  })

  test('caches share one set of metrics; it leaves the registry with the last destroy()', async () => {
    const registry = new Registry()
    const a = track(new StreamCache(cacheOptions()))
    const b = track(new StreamCache(cacheOptions()))
    collectMetrics(a, { registry })
    collectMetrics(b, { registry })
    collectMetrics(b, { registry })
    await a.setData('k', quotes('A', 1))
    await b.setData('k', quotes('B', 1))
    await eventually(() => a.stats().emittedMetrics + b.stats().emittedMetrics, 2)
    const text = await registry.metrics()
    expect(text.match(/^# HELP stream_cache_sets_total /gm)).toHaveLength(1)
    expect(text).toContain('stream_cache_sets_total{layer="both",success="true"} 2')
    await a.destroy()
    expect(await registry.metrics()).toContain('stream_cache_events_emitted_total 2')
    await b.destroy()
    expect(await registry.metrics()).toBe('\n')
    // A cache made afterwards (a module created again) registers afresh.
    const c = track(new StreamCache(cacheOptions()))
    collectMetrics(c, { registry })
    expect(await registry.metrics()).toContain('stream_cache_gets_total')
    collectMetrics(c, { registry }).unregister()
    expect(await registry.metrics()).toBe('\n')
  })

  test('bad arguments and a name taken by someone else are coded errors', () => {
    const cache = track(new StreamCache(cacheOptions()))
    const registry = new Registry()
    expect(() => collectMetrics({}, { registry })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'STREAM_CACHE_INVALID_ARGUMENT' }))
    expect(() => collectMetrics(cache, { registry, prefix: '9x' })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'STREAM_CACHE_INVALID_ARGUMENT' }),
    )
    registry.registerMetric(new (require('prom-client').Gauge)({ name: 'mine_gets_total', help: 'not ours', registers: [] }))
    expect(() => collectMetrics(cache, { registry, prefix: 'mine_' })).toThrow(/mine_gets_total is already registered/)
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(['mine_gets_total'])
  })

  test("the user's onMetric still gets every event, and one that throws is counted", async () => {
    const seen = []
    const cache = track(
      new StreamCache(
        cacheOptions({
          onMetric: (e) => {
            seen.push(e.metricName)
            throw new Error('listener bug')
          },
        }),
      ),
    )
    const registry = new Registry()
    collectMetrics(cache, { registry, prefix: 'sc_' })
    await cache.setData('k', quotes('A', 1))
    await cache.getData('k')
    await eventually(() => cache.stats().emittedMetrics, 2)
    expect(seen).toEqual(['cache_set_success', 'cache_get_success'])
    const lines = await samples(registry, 'sc_')
    expect(lines).toEqual(expect.arrayContaining(['sc_events_failed_total 2', 'sc_gets_total{layer="hot"} 1']))
  })
})

describe('OpenTelemetry', () => {
  let provider
  let reader
  let exporter
  beforeEach(() => {
    exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    provider = new MeterProvider({ readers: [reader] })
  })
  afterEach(() => provider.shutdown())

  // name → [[attributes, value]] of the last export, sorted; a histogram's value is its count.
  async function exported() {
    exporter.reset()
    await reader.forceFlush()
    const out = {}
    for (const { scopeMetrics } of exporter.getMetrics()) {
      for (const { metrics } of scopeMetrics) {
        for (const { descriptor, dataPoints } of metrics) {
          const points = dataPoints.map((p) => [p.attributes, typeof p.value === 'number' ? p.value : p.value.count])
          out[descriptor.name] = points.sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))
        }
      }
    }
    return out
  }

  test('the same set as counters, a histogram and observable instruments', async () => {
    const { cache, other } = pair()
    collectOpenTelemetry(cache, { meter: provider.getMeter('test') })
    await knownTraffic(cache, other)
    expect(await exported()).toEqual({
      'stream_cache.sets': [[{ layer: 'both', success: 'true' }, 1]],
      'stream_cache.operation.duration': [
        [{ operation: 'get' }, 3],
        [{ operation: 'set' }, 1],
      ],
      'stream_cache.gets': [
        [{ layer: 'hot' }, 1],
        [{ layer: 'miss' }, 1],
        [{ layer: 'warm' }, 1],
      ],
      'stream_cache.events.emitted': [[{}, 4]],
      'stream_cache.events.dropped': [[{}, 0]],
      'stream_cache.events.failed': [[{}, 0]],
      'stream_cache.invalidations.received': [[{}, 1]],
      'stream_cache.events.pending': [[{}, 0]],
      'stream_cache.hot.entries': [[{}, 1]],
      'stream_cache.redis.connected': [[{}, 1]],
      'stream_cache.coherence.mode': [
        [{ mode: 'tracking' }, 1],
        [{ mode: 'ttl' }, 0],
      ],
    })
  })

  test('the counters of a destroyed cache stay counted; with the last one, the observations stop', async () => {
    const meter = provider.getMeter('test')
    const a = track(new StreamCache(cacheOptions()))
    const b = track(new StreamCache(cacheOptions()))
    collectOpenTelemetry(a, { meter })
    collectOpenTelemetry(b, { meter })
    await a.setData('k', quotes('A', 1))
    await b.setData('k', quotes('B', 1))
    await eventually(() => a.stats().emittedMetrics + b.stats().emittedMetrics, 2)
    await a.destroy()
    expect((await exported())['stream_cache.events.emitted']).toEqual([[{}, 2]])
    await b.destroy()
    const stats = jest.spyOn(b, 'stats')
    // The SDK goes on exporting the last observed values; no callback reads the caches.
    expect((await exported())['stream_cache.events.emitted']).toEqual([[{}, 2]])
    expect(stats).not.toHaveBeenCalled()
  })
})
