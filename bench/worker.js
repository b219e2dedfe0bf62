'use strict'

// One measurement in a fresh process: one implementation, one operation, one concurrency.
// Prints a JSON line with throughput, latency percentiles, delivered events and memory.
//
// Throughput counts until every operation has settled AND every metric event it caused
// has reached the listener, so neither design can look faster by deferring event work.

const { EventEmitter2 } = require('eventemitter2')
const { StreamCache } = require('..')
const { BaselineStreamCache, METRIC_EVENT } = require('./dist/stream-cache.js')
const w = require('./workload')

const spec = JSON.parse(process.argv[2])
const YIELD_EVERY = 16 // each worker lets the event loop turn this often, as requests would
const SAMPLE_EVERY = 4 // latency of every 4th operation: timing each one costs a hot hit ~8%

const bus = new EventEmitter2()
const layers = { hot: 0, warm: 0, miss: 0, both: 0, other: 0 }
let events = 0
bus.on(METRIC_EVENT, (event) => {
  events++
  const layer = event.tags.layer
  if (layer in layers) layers[layer]++
  else layers.other++
})

function createCache() {
  if (spec.impl === 'baseline') {
    return new BaselineStreamCache(bus, { redisUrl: spec.redisUrl, ...w.CACHE_OPTIONS })
  }
  const onMetric = spec.metrics ? (event) => bus.emit(METRIC_EVENT, event) : undefined
  return new StreamCache({ redis: { url: spec.redisUrl }, ...w.CACHE_OPTIONS, coherence: spec.coherence, onMetric })
}

const quoteSets = Array.from({ length: 16 }, (_, i) => w.rawQuotes(`SET${i}`, i))
const setKeys = Array.from({ length: w.SET_KEYS }, (_, i) => `S${i}`)
const hotKeys = Array.from({ length: w.HOT_KEYS }, (_, i) => `H${i}`)
const warmKeys = Array.from({ length: w.WARM_KEYS }, (_, i) => w.warmKey(i))
const batches = Array.from({ length: w.WARM_KEYS / w.BATCH_SIZE }, (_, i) =>
  warmKeys.slice(i * w.BATCH_SIZE, (i + 1) * w.BATCH_SIZE),
)

// Each operation returns how many metric events it causes.
const OPERATIONS = {
  set: (cache, n) => cache.setData(setKeys[n % setKeys.length], quoteSets[n & 15]).then(() => 1),
  warmGet: (cache, n) => cache.getData(warmKeys[n % warmKeys.length]).then(check),
  hotGet: (cache, n) => cache.getData(hotKeys[n % hotKeys.length]).then(check),
  // The reader of the write-heavy pair: reads the keys another process keeps writing.
  readWritten: (cache, n) => cache.getData(setKeys[n % setKeys.length]).then(check),
  since: (cache, n) => cache.getDataSince(hotKeys[n % hotKeys.length], w.SINCE).then(check),
  batch: (cache, n) =>
    cache.getBatchData(batches[n % batches.length]).then((result) => {
      for (const key in result) if (result[key] === null) nulls++
      return 0 // a batch reports no events (docs/contract.md, "Metric events")
    }),
}
// The memory run's mix; batches are left out so a million operations take seconds.
const MIXED = ['set', 'warmGet', 'hotGet', 'since']
OPERATIONS.mixed = (cache, n) => OPERATIONS[MIXED[n % MIXED.length]](cache, n >>> 3)

let nulls = 0
function check(points) {
  if (points === null) nulls++
  return 1
}

const turn = () => new Promise((resolve) => setImmediate(resolve))

async function runPhase(cache, { seconds, maxOps }) {
  const op = OPERATIONS[spec.op]
  const samples = []
  let next = 0
  let expectedEvents = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  const worker = async () => {
    for (let i = 1; ; i++) {
      if (next >= maxOps || performance.now() >= deadline) return
      const n = next++
      let caused
      if (i % SAMPLE_EVERY === 0) {
        const t0 = performance.now()
        caused = await op(cache, n)
        samples.push(performance.now() - t0)
      } else {
        caused = await op(cache, n)
      }
      expectedEvents += caused
      if (i % YIELD_EVERY === 0) await turn()
    }
  }
  events = 0
  for (const k in layers) layers[k] = 0
  await Promise.all(Array.from({ length: spec.inFlight }, worker))
  const wanted = spec.impl === 'baseline' || spec.metrics ? expectedEvents : 0
  const waitUntil = performance.now() + 10_000
  while (events < wanted && performance.now() < waitUntil) await turn()
  const elapsed = (performance.now() - started) / 1000
  samples.sort((a, b) => a - b)
  const pct = (q) => (samples.length ? samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] : null)
  return {
    ops: next,
    seconds: elapsed,
    opsPerSec: next / elapsed,
    p50: pct(0.5),
    p90: pct(0.9),
    p99: pct(0.99),
    p999: pct(0.999),
    events,
    expectedEvents: wanted,
    layers: { ...layers },
    nulls,
  }
}

async function main() {
  const cache = createCache()
  for (let i = 0; i < hotKeys.length; i++) await cache.setData(hotKeys[i], quoteSets[i & 15], 'hot')
  if (spec.op === 'readWritten') for (const key of setKeys) await cache.setData(key, quoteSets[0], 'warm')
  await runPhase(cache, { seconds: spec.warmupSeconds, maxOps: Infinity })
  global.gc?.()
  const before = process.memoryUsage()
  nulls = 0
  const result = await runPhase(cache, { seconds: spec.seconds, maxOps: spec.maxOps ?? Infinity })
  global.gc?.()
  const after = process.memoryUsage()
  result.memory = { rssBefore: before.rss, rssAfter: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed }
  if (spec.impl === 'native') {
    result.dropped = cache.stats().droppedMetrics
    result.invalidations = cache.stats().invalidationsReceived
  }
  await cache.destroy()
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
})
