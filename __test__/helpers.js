'use strict'

const { spawn } = require('node:child_process')
const Redis = require('ioredis')
const { randomUUID } = require('node:crypto')
const { freePort, waitForRedis } = require('../scripts/local-redis')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function redisUrl() {
  const url = process.env.REDIS_URL
  if (!url) throw new Error('REDIS_URL is not set: run the tests through `npm test`')
  return url
}

// The jest project decides which Redis the behaviour suite runs against (jest.config.js).
const onCluster = () => globalThis.STREAM_CACHE_TARGET === 'cluster'

function clusterNodes() {
  const nodes = process.env.REDIS_CLUSTER_NODES
  if (!nodes) throw new Error('REDIS_CLUSTER_NODES is not set: run the tests through `npm test`')
  return nodes.split(',')
}

// The `redis` options that reach the test Redis: one server (DB 1, the default) or the cluster.
function redisOptions() {
  return onCluster() ? { cluster: { nodes: clusterNodes() } } : { url: redisUrl() }
}

// Options that reach nothing: connections are refused at once.
function unreachableRedis() {
  return onCluster() ? { cluster: { nodes: ['redis://127.0.0.1:1'] } } : { url: 'redis://127.0.0.1:1' }
}

// A plain ioredis client on the same Redis the cache uses, for checking what it wrote.
function redisClient(options = {}) {
  if (!onCluster()) return new Redis(redisUrl(), { db: 1, ...options })
  const seeds = clusterNodes().map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }))
  return new Redis.Cluster(seeds, { redisOptions: options, keyPrefix: options.keyPrefix })
}

// Each test gets its own key prefix, so tests never see each other's keys.
function uniquePrefix() {
  return `test:${randomUUID().slice(0, 8)}:`
}

// Options for a cache on the test Redis under a fresh key prefix; when `redis` names a
// server of its own (a test's own redis-server, an unreachable one), it is used as given.
function cacheOptions(extra = {}) {
  const { redis = {}, ...rest } = extra
  const own = ['url', 'host', 'cluster', 'sentinels'].some((name) => redis[name] !== undefined)
  return { redis: own ? redis : { ...redisOptions(), keyPrefix: uniquePrefix(), ...redis }, ...rest }
}

async function waitFor(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

// The caches a test file opens, each with the events it received; all are destroyed after
// each test (or at `destroyAll()`). Call at the top of a test file. `defaults` may be a
// function, for options known only once a beforeAll has run; their `redis` and `extra`'s merge.
function openedCaches(defaults = {}) {
  const { StreamCache } = require('..')
  let caches = []
  const track = (cache) => {
    caches.push(cache)
    return cache
  }
  const destroyAll = async () => {
    await Promise.all(caches.map((c) => c.destroy()))
    caches = []
  }
  afterEach(destroyAll)
  const open = (extra = {}) => {
    const base = typeof defaults === 'function' ? defaults() : defaults
    const events = []
    const redis = { ...base.redis, ...extra.redis }
    const options = cacheOptions({ ...base, onMetric: (e) => events.push(e), ...extra, redis })
    return { cache: track(new StreamCache(options)), events }
  }
  return { open, track, destroyAll }
}

// Reads until `read()` gives `expected` (compared as JSON), yielding between reads; then
// asserts the last read, so a timeout fails with what was read instead.
async function eventually(read, expected, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    last = await read()
    if (JSON.stringify(last) === JSON.stringify(expected)) return
    await sleep(2)
  }
  expect(last).toEqual(expected)
}

// Until `cache` (or the Nest service over one) holds no undelivered event: every event of
// the operations awaited so far has reached onMetric, or was counted as dropped.
const settled = (cache) => waitFor(() => cache.stats().pendingMetrics === 0)

function quotes(symbol, n, t0 = 1_700_000_000_000) {
  return Array.from({ length: n }, (_, i) => ({ symbol, price: 100 + i, volume: 10 * i + 1, timestamp: t0 + i }))
}

// Runs `node ...args` to its end; resolves with its exit code, signal and output. A child
// still running after `timeoutMs` is killed and the promise rejects.
function runNode(args, { timeoutMs = 60_000, env = process.env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

// A small seeded PRNG (xorshift32), so a failing randomized run can be replayed.
function rng(seed) {
  let s = seed >>> 0 || 1
  const next = () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 4294967296
  }
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)], chance: (p) => next() < p }
}

// The events of docs/contract.md as the TypeScript service emitted them, for exact comparisons.
function cacheEvent(metricName, tags) {
  return {
    timestamp: expect.any(Date),
    source: 'stream-cache',
    metricType: 'cache',
    metricName,
    metricValue: expect.any(Number),
    tags: { component: 'StreamCache', ...tags },
  }
}

const setSuccessEvent = (layer, dataSize = expect.any(Number)) =>
  cacheEvent('cache_set_success', { operation: 'set', success: 'true', cacheType: 'stream-cache', layer, dataSize, compressionRatio: 1 })

const getSuccessEvent = (layer) =>
  cacheEvent('cache_get_success', { operation: 'get', success: 'true', cacheType: 'stream-cache', layer })

module.exports = {
  runNode,
  rng,
  setSuccessEvent,
  getSuccessEvent, freePort, waitForRedis, sleep, redisUrl, uniquePrefix, cacheOptions, waitFor, settled, quotes,
  openedCaches,
  eventually,
  onCluster,
  clusterNodes,
  redisOptions,
  redisClient,
  unreachableRedis,
}
