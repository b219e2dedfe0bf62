'use strict'

// `npm run bench:hot-policy`: where the hot tier's policy should live, measured. The
// shipped design keeps the values in a JS Map and the policy in Rust (quick_cache); the
// alternative keeps both in JavaScript. Compared on the same traces:
// - hit rate: the shipped cache against a real Redis, counting `layer: 'hot'` events,
//   beside two JS policies replayed on the same keys (an LRU Map, and the TS service's
//   lowest-access-count scan);
// - hot-read cost: getData on keys that are all hot, shipped cache against the JS LRU.
// Results go to bench/results/hot-policy.json; the answer is in docs/architecture.md
// ("Where the hot policy lives").
//
//   npm run bench:hot-policy           REDIS_URL=redis://… to use a running server

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { StreamCache } = require('..')
const { startLocalRedis } = require('../scripts/local-redis')
const { median } = require('./workload')

const CAPACITY = 1000
const KEYS = 20_000
const REQUESTS = 100_000
const COST_CALLS = 1_000_000
const COST_ROUNDS = 5
const log = (line) => process.stderr.write(`${line}\n`)

// Deterministic, so every policy sees the same trace.
function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function zipf(n, alpha, random) {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, alpha)
  return () => {
    const x = random() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

const TRACES = {
  'zipf 0.9': () => {
    const next = zipf(KEYS, 0.9, rng(1))
    return Array.from({ length: REQUESTS }, () => `q:${next()}`)
  },
  'zipf 0.9, scans': () => {
    // A one-off sweep of 2,000 keys never read again, every 10,000 reads (a report job).
    const next = zipf(KEYS, 0.9, rng(2))
    const trace = []
    let scanned = 0
    while (trace.length < REQUESTS) {
      if (trace.length % 10_000 === 0) for (let i = 0; i < 2000; i++) trace.push(`scan:${scanned++}`)
      else trace.push(`q:${next()}`)
    }
    return trace.slice(0, REQUESTS)
  },
  'zipf 1.1, popularity shifts': () => {
    // Which symbols are popular changes every 25,000 reads.
    const next = zipf(KEYS, 1.1, rng(3))
    const random = rng(4)
    const trace = []
    for (let phase = 0; trace.length < REQUESTS; phase++) {
      const offset = Math.floor(random() * KEYS)
      for (let i = 0; i < 25_000 && trace.length < REQUESTS; i++) trace.push(`q:${(next() + offset) % KEYS}`)
    }
    return trace
  },
}

class LruPolicy {
  map = new Map()
  constructor(capacity = CAPACITY) {
    this.capacity = capacity
  }
  get(key) {
    const value = this.map.get(key)
    if (value === undefined) return undefined
    this.map.delete(key)
    this.map.set(key, value)
    return value
  }
  set(key, value) {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value)
  }
}

// The TS service's: on insert when full, the lowest access count goes, ties to the oldest.
class AccessCountPolicy {
  map = new Map()
  clock = 0
  get(key) {
    const entry = this.map.get(key)
    if (entry === undefined) return undefined
    entry.count++
    return entry.value
  }
  set(key, value) {
    if (this.map.size >= CAPACITY && !this.map.has(key)) {
      let victim
      let lowest = Infinity
      let oldest = Infinity
      for (const [k, e] of this.map) {
        if (e.count < lowest || (e.count === lowest && e.at < oldest)) [victim, lowest, oldest] = [k, e.count, e.at]
      }
      this.map.delete(victim)
    }
    this.map.set(key, { value, count: 0, at: this.clock++ })
  }
}

function replay(Policy, trace) {
  const policy = new Policy()
  let hits = 0
  for (const key of trace) {
    if (policy.get(key) !== undefined) hits++
    else policy.set(key, true)
  }
  return hits / trace.length
}

const POINTS = [{ s: 'X', p: 1, v: 1, t: 1 }]

async function shippedHitRate(redisUrl, trace) {
  let hot = 0
  let reads = 0
  const cache = new StreamCache({
    redis: { url: redisUrl },
    maxHotCacheSize: CAPACITY,
    hotCacheTTL: 3_600_000,
    onMetric: (e) => {
      if (e.metricName !== 'cache_get_success' && e.metricName !== 'cache_get_failed') return
      reads++
      if (e.tags.layer === 'hot') hot++
    },
  })
  try {
    await cache.clearAll({ force: true })
    const keys = [...new Set(trace)]
    for (let i = 0; i < keys.length; i += 500) {
      await Promise.all(keys.slice(i, i + 500).map((key) => cache.setData(key, POINTS, 'warm')))
    }
    for (const key of trace) await cache.getData(key)
    while (reads < trace.length) await new Promise((resolve) => setImmediate(resolve))
    return hot / trace.length
  } finally {
    await cache.destroy()
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))
const TURN = 1000

// ns per hot getData over `size` hot keys, in loop turns of TURN calls so each turn's
// work (the shipped cache's report of hits to Rust) is counted. With 1,000 keys each key
// recurs before the shipped cache reports (1,024 keys a report), so most hits cost no
// crossing; with 20,000 every hit goes to Rust once.
async function readCost(getData, size) {
  const keys = Array.from({ length: size }, (_, i) => `q:${i}`)
  const started = process.hrtime.bigint()
  for (let done = 0; done < COST_CALLS; done += TURN) {
    for (let i = done; i < done + TURN; i++) getData(keys[i % size])
    await tick()
  }
  return Number(process.hrtime.bigint() - started) / COST_CALLS
}

async function costs(redisUrl, size) {
  const cache = new StreamCache({ redis: { url: redisUrl }, maxHotCacheSize: size, hotCacheTTL: 3_600_000 })
  const lru = new LruPolicy(size)
  try {
    for (let i = 0; i < size; i += 500) {
      const keys = Array.from({ length: Math.min(500, size - i) }, (_, k) => `q:${i + k}`)
      await Promise.all(keys.map((key) => cache.setData(key, POINTS, 'hot')))
      for (const key of keys) lru.set(key, { value: POINTS, expires: performance.now() + 3_600_000 })
    }
    const jsLru = (key) => {
      const entry = lru.get(key)
      if (entry !== undefined && performance.now() <= entry.expires) return Promise.resolve(entry.value)
      return Promise.resolve(null)
    }
    const cost = { hotKeys: size, shipped: [], jsLru: [] }
    for (let round = 0; round < COST_ROUNDS; round++) {
      cost.shipped.push(await readCost((key) => cache.getData(key), size))
      cost.jsLru.push(await readCost(jsLru, size))
    }
    const kept = cache.stats().hotCacheSize
    if (kept !== size) throw new Error(`the shipped cache kept ${kept} of ${size} hot keys`)
    log(`   ${size} keys: shipped ${median(cost.shipped).toFixed(0)} ns (runs ${fmtRuns(cost.shipped)})`)
    log(`   ${size} keys: JS LRU  ${median(cost.jsLru).toFixed(0)} ns (runs ${fmtRuns(cost.jsLru)})`)
    return cost
  } finally {
    await cache.destroy()
  }
}

async function main() {
  const local = process.env.REDIS_URL ? null : await startLocalRedis()
  const redisUrl = process.env.REDIS_URL ?? local.url
  try {
    log(`== hit rate, hot tier of ${CAPACITY} over ${KEYS} keys, ${REQUESTS} reads per trace`)
    const rates = []
    for (const [name, make] of Object.entries(TRACES)) {
      const trace = make()
      const row = {
        trace: name,
        shipped: await shippedHitRate(redisUrl, trace),
        jsLru: replay(LruPolicy, trace),
        tsAccessCount: replay(AccessCountPolicy, trace),
      }
      rates.push(row)
      log(`   ${name}: shipped ${pct(row.shipped)}, JS LRU ${pct(row.jsLru)}, TS access count ${pct(row.tsAccessCount)}`)
    }
    log(`== hot-read cost, ${COST_CALLS} getData calls, median of ${COST_ROUNDS}`)
    const cost = [await costs(redisUrl, 1000), await costs(redisUrl, 20_000)]
    const date = new Date().toISOString().slice(0, 10)
    const result = { commit: commit(), date, capacity: CAPACITY, keys: KEYS, requests: REQUESTS, rates, costNs: cost }
    fs.writeFileSync(path.join(__dirname, 'results', 'hot-policy.json'), `${JSON.stringify(result, null, 2)}\n`)
    log('written: bench/results/hot-policy.json')
  } finally {
    local?.stop()
  }
}

const commit = () => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).trim()
const pct = (x) => `${(100 * x).toFixed(1)}%`
const fmtRuns = (runs) => runs.map((x) => x.toFixed(0)).join('/')

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
