'use strict'

// Every operation of docs/contract.md against a real redis-server, with its events.

const { StreamCache } = require('..')
const { cacheOptions, redisClient, unreachableRedis, onCluster, settled, quotes, sleep, waitFor, setSuccessEvent, getSuccessEvent, openedCaches } = require('./helpers')

const { open, track } = openedCaches()

let redis
beforeAll(() => {
  redis = redisClient()
})
afterAll(() => redis.quit())

const names = (events) => events.map((e) => `${e.metricName}/${e.tags.layer ?? '-'}`)

test('setData normalises points the way the TS service does and serves them from hot', async () => {
  const { cache, events } = open()
  const raw = [
    { symbol: 'AAPL', price: 190.5, volume: 1200, timestamp: 1000, change: 1.5, changePercent: 0.8 },
    { s: 'AAPL', lastPrice: 191, v: 5, t: 1001 },
    { symbol: '', s: 'X', price: 0, p: 3, volume: 0, timestamp: 0, t: 0 },
    42,
  ]
  const before = Date.now()
  await cache.setData('AAPL', raw)
  const got = await cache.getData('AAPL')
  expect(got.slice(0, 2)).toEqual([
    { s: 'AAPL', p: 190.5, v: 1200, t: 1000, c: 1.5, cp: 0.8 },
    { s: 'AAPL', p: 191, v: 5, t: 1001 },
  ])
  expect(got[2]).toMatchObject({ s: 'X', p: 3, v: 0 })
  expect(got[2].t).toBeGreaterThanOrEqual(before + 2)
  expect('c' in got[2]).toBe(false)
  expect(got[3]).toBe(42)
  expect(await cache.getData('AAPL')).toBe(got)
  await settled(cache)
  expect(names(events)).toEqual(['cache_set_success/both', 'cache_get_success/hot', 'cache_get_success/hot'])
})

test('events have the exact shape of docs/contract.md', async () => {
  const { cache, events } = open()
  const points = quotes('MSFT', 3)
  await cache.setData('MSFT', points)
  await cache.getData('MSFT')
  await settled(cache)
  const [set, get] = events
  expect(set).toEqual(setSuccessEvent('both', JSON.stringify(await cache.getData('MSFT')).length))
  expect(Object.keys(set.tags)).toEqual(['operation', 'success', 'component', 'cacheType', 'layer', 'dataSize', 'compressionRatio'])
  expect(get).toEqual(getSuccessEvent('hot'))
  expect(Math.abs(set.timestamp.getTime() - Date.now())).toBeLessThan(5000)
})

test('a warm hit is read from Redis, promoted to hot, and counted as warm', async () => {
  const { cache, events } = open()
  const big = quotes('BIG', 150)
  await cache.setData('BIG', big)
  const first = await cache.getData('BIG')
  expect(first).toHaveLength(150)
  expect(first[149]).toEqual({ s: 'BIG', p: 249, v: 1491, t: big[149].timestamp })
  expect(await cache.getData('BIG')).toBe(first)
  await settled(cache)
  expect(names(events)).toEqual(['cache_set_success/warm', 'cache_get_success/warm', 'cache_get_success/hot'])
})

test('priority decides hot admission: hot forces it, warm skips it, auto uses size and count', async () => {
  const { cache, events } = open()
  await cache.setData('forced', quotes('F', 150), 'hot')
  await cache.setData('skipped', quotes('S', 2), 'warm')
  await cache.setData('auto', quotes('A', 2))
  await settled(cache)
  expect(names(events)).toEqual(['cache_set_success/both', 'cache_set_success/warm', 'cache_set_success/both'])
  expect(cache.stats().hotCacheSize).toBe(2)
})

test('a miss resolves null with a cache_get_failed/miss event; empty data is a no-op', async () => {
  const { cache, events } = open()
  expect(await cache.getData('nothing')).toBeNull()
  await cache.setData('empty', [])
  await cache.setData('missing', undefined)
  await cache.setData('missing', null)
  expect(await cache.getData('empty')).toBeNull()
  await settled(cache)
  expect(names(events)).toEqual(['cache_get_failed/miss', 'cache_get_failed/miss'])
  expect(events[0].tags.success).toBe('false')
})

test('values in Redis that are not JSON arrays are misses', async () => {
  const opts = cacheOptions()
  const { cache } = open(opts)
  const prefix = opts.redis.keyPrefix
  await redis.set(`${prefix}stream_cache_warmjunk`, '{not json')
  await redis.set(`${prefix}stream_cache_warmobj`, '{"s":"A"}')
  await redis.set(`${prefix}stream_cache_warmnum`, '12')
  for (const key of ['junk', 'obj', 'num']) expect(await cache.getData(key)).toBeNull()
  expect(await cache.getBatchData(['junk', 'obj'])).toEqual({ junk: null, obj: null })
  expect(cache.stats().hotCacheSize).toBe(0)
})

test('getDataSince keeps points with t > since, null when none are left', async () => {
  const { cache } = open()
  await cache.setData('Q', quotes('Q', 5, 1000))
  expect((await cache.getDataSince('Q', 1002)).map((p) => p.t)).toEqual([1003, 1004])
  expect(await cache.getDataSince('Q', 1004)).toBeNull()
  expect(await cache.getDataSince('none', 0)).toBeNull()
  await cache.setData('W', quotes('W', 150, 1000))
  expect((await cache.getDataSince('W', 1147)).map((p) => p.t)).toEqual([1148, 1149])
})

test('getBatchData mixes hot hits, warm hits and misses, in chunks, promotes, and reports no event', async () => {
  const { cache, events } = open({ maxBatchSize: 3 })
  await cache.setData('h1', quotes('H', 1))
  for (let i = 0; i < 7; i++) await cache.setData(`w${i}`, quotes(`W${i}`, 120))
  events.length = 0
  const keys = ['h1', 'w0', 'nope', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'alsoNope']
  const result = await cache.getBatchData(keys)
  expect(Object.keys(result)).toEqual(keys)
  expect(result.h1[0].s).toBe('H')
  for (let i = 0; i < 7; i++) expect(result[`w${i}`]).toHaveLength(120)
  expect(result.nope).toBeNull()
  expect(result.alsoNope).toBeNull()
  // Like the TS service's, a batch reports no event, for hot, warm or missing keys alike.
  await cache.setData('barrier', quotes('B', 1))
  await waitFor(() => events.length === 1)
  expect(events.map((e) => e.metricName)).toEqual(['cache_set_success'])
  expect(await cache.getData('w3')).toBe(result.w3)
  expect(await cache.getBatchData([])).toEqual({})
})

// MGET calls the server(s) answered so far, from INFO commandstats.
async function mgetCalls() {
  const servers = onCluster() ? redis.nodes('master') : [redis]
  const stats = await Promise.all(servers.map((server) => server.info('commandstats')))
  return stats.reduce((sum, text) => sum + Number(/cmdstat_mget:calls=(\d+)/.exec(text)?.[1] ?? 0), 0)
}

test('a drain too large for the shared row buffer spills into a larger one, values intact', async () => {
  const opts = cacheOptions({ maxHotCacheSize: 0 })
  const { cache } = open(opts)
  const keys = Array.from({ length: 40 }, (_, i) => `spill${i}`)
  for (const key of keys) await cache.setData(key, quotes(key, 200))
  // 40 values of 200 points are 48,000 numbers of rows, far beyond the first buffer.
  const result = await cache.getBatchData(keys)
  for (const key of keys) {
    expect(result[key]).toEqual(JSON.parse(await redis.get(`${opts.redis.keyPrefix}stream_cache_warm${key}`)))
  }
})

test('getBatchData sends one MGET per maxBatchSize keys, and on a cluster per hash slot', async () => {
  const opts = cacheOptions({ maxBatchSize: 20, maxHotCacheSize: 0 })
  const { cache } = open(opts)
  const keys = Array.from({ length: 50 }, (_, i) => `B${i}`)
  // Keys sharing a hash tag share a slot, so on a cluster too they go in one MGET per chunk.
  const tagged = keys.map((key) => `{AAPL}${key}`)
  for (const key of [...keys, ...tagged]) await cache.setData(key, quotes(key, 1))
  const slots = onCluster()
    ? new Set(await Promise.all(keys.map((key) => redis.cluster('KEYSLOT', `${opts.redis.keyPrefix}stream_cache_warm${key}`))))
    : null

  let before = await mgetCalls()
  const result = await cache.getBatchData(keys)
  expect(keys.every((key) => result[key][0].s === key)).toBe(true)
  // 50 keys in chunks of 20; on a cluster, each slot's keys (here nearly one per slot) alone.
  expect((await mgetCalls()) - before).toBe(onCluster() ? slots.size : 3)

  before = await mgetCalls()
  const sameSlot = await cache.getBatchData(tagged)
  expect(tagged.every((key) => sameSlot[key][0].s === key)).toBe(true)
  expect((await mgetCalls()) - before).toBe(3)
})

test('getBatchData handles __proto__ and repeated keys as plain own properties', async () => {
  const { cache } = open()
  await cache.setData('__proto__', quotes('P', 1))
  const result = await cache.getBatchData(['__proto__', 'x', 'x'])
  expect(Object.getPrototypeOf(result)).toBe(Object.prototype)
  expect(Object.keys(result)).toEqual(['__proto__', 'x'])
  expect(result.__proto__[0].s).toBe('P')
})

test('deleteData removes both tiers', async () => {
  const opts = cacheOptions()
  const { cache } = open(opts)
  await cache.setData('D', quotes('D', 2))
  await cache.deleteData('D')
  expect(await cache.getData('D')).toBeNull()
  expect(await redis.exists(`${opts.redis.keyPrefix}stream_cache_warmD`)).toBe(0)
})

test('a Redis read racing a newer write does not put stale data back in hot', async () => {
  const { cache } = open()
  await cache.setData('R', quotes('OLD', 120))
  const staleRead = cache.getData('R')
  await cache.setData('R', quotes('NEW', 1))
  await staleRead
  expect((await cache.getData('R'))[0].s).toBe('NEW')
})

test('read your own writes: a write that skips the hot tier drops the older hot copy', async () => {
  const { cache } = open()
  await cache.setData('RYW', quotes('V1', 1), 'hot')
  await cache.setData('RYW', quotes('V2', 1), 'warm')
  expect((await cache.getData('RYW'))[0].s).toBe('V2')
  await cache.setData('RYW', quotes('V3', 1))
  await cache.setData('RYW', quotes('V4', 150))
  const read = await cache.getData('RYW')
  expect([read.length, read[0].s]).toEqual([150, 'V4'])
  expect((await cache.getBatchData(['RYW'])).RYW[0].s).toBe('V4')
})

test('a Redis read racing a newer warm-only write does not put stale data back in hot', async () => {
  const { cache } = open()
  await cache.setData('RW', quotes('OLD', 120))
  const staleRead = cache.getData('RW')
  const staleBatch = cache.getBatchData(['RW'])
  await cache.setData('RW', quotes('NEW', 120))
  await Promise.all([staleRead, staleBatch])
  expect((await cache.getData('RW'))[0].s).toBe('NEW')
})

test('clearAll removes only this cache keys, even with glob characters in the prefix', async () => {
  const prefix = `test:[g]*?${Date.now()}:`
  const { cache } = open({ redis: { keyPrefix: prefix } })
  const { cache: neighbour } = open({ redis: { keyPrefix: `test:g${Date.now()}:` } })
  await cache.setData('A', quotes('A', 1))
  await cache.setData('B', quotes('B', 150))
  await neighbour.setData('A', quotes('N', 1))
  await redis.set('unrelated:stream_cache_warmA', 'keep me')
  const report = await cache.clearAll()
  expect(report).toEqual({ deleted: 2, preserved: 0 })
  expect(cache.stats().hotCacheSize).toBe(0)
  expect(await cache.getData('A')).toBeNull()
  expect((await neighbour.getData('A'))[0].s).toBe('N')
  expect(await redis.get('unrelated:stream_cache_warmA')).toBe('keep me')
  await redis.del('unrelated:stream_cache_warmA')
})

test('clearAll preserveActive keeps keys written within maxAge, force ignores it', async () => {
  const opts = cacheOptions({ warmCacheTTL: 300 })
  const { cache } = open(opts)
  const key = (k) => `${opts.redis.keyPrefix}stream_cache_warm${k}`
  await cache.setData('fresh', quotes('F', 1))
  await redis.setex(key('old'), 100, '[]')
  expect(await cache.clearAll({ preserveActive: true, maxAge: 60 })).toEqual({ deleted: 1, preserved: 1 })
  expect(await redis.exists(key('fresh'))).toBe(1)
  expect(await cache.clearAll({ preserveActive: true, force: true })).toEqual({ deleted: 1, preserved: 0 })
})

test('hot entries expire after hotCacheTTL; the cleanup timer removes them and counts it', async () => {
  const { cache, events } = open({ hotCacheTTL: 50, cleanupInterval: 20 })
  await cache.setData('T', quotes('T', 1))
  await cache.setData('U', quotes('U', 1))
  expect(cache.stats().hotCacheSize).toBe(2)
  await waitFor(() => cache.stats().expiredCleaned === 2)
  expect(cache.stats().hotCacheSize).toBe(0)
  events.length = 0
  expect(await cache.getData('T')).toHaveLength(1)
  await settled(cache)
  expect(names(events)).toEqual(['cache_get_success/warm'])
})

test('the hot tier never holds more than maxHotCacheSize entries', async () => {
  const { cache } = open({ maxHotCacheSize: 10 })
  for (let i = 0; i < 50; i++) await cache.setData(`k${i}`, quotes('K', 1))
  expect(cache.stats().hotCacheSize).toBeLessThanOrEqual(10)
  for (let i = 0; i < 50; i++) expect(await cache.getData(`k${i}`)).toHaveLength(1)
})

test('getHealthStatus and reportSystemMetrics', async () => {
  const { cache, events } = open()
  await cache.setData('S', quotes('S', 1))
  const health = await cache.getHealthStatus()
  expect(health).toMatchObject({ status: 'healthy', hotCacheSize: 1, redisConnected: true, lastError: null })
  const node = { address: expect.stringMatching(/^127\.0\.0\.1:\d+$/), role: 'master', connected: true, error: null }
  expect(health.nodes).toEqual(Array(onCluster() ? 3 : 1).fill(node))
  await cache.reportSystemMetrics()
  await settled(cache)
  const system = events.filter((e) => e.metricType === 'system')
  expect(system.map((e) => [e.metricName, e.metricValue])).toEqual([
    ['cache_hot_size', 1],
    ['health_status', 1],
  ])
  expect(system[0].tags).toEqual({ component: 'StreamCache' })
})

describe('with Redis unreachable', () => {
  const down = { redis: { ...unreachableRedis(), connectTimeout: 200, commandTimeout: 300, maxRetriesPerRequest: 0 } }

  test('reads miss, health says unhealthy, writes still land in hot and report the warm failure', async () => {
    const { cache, events } = open(down)
    expect(await cache.getData('x')).toBeNull()
    const health = await cache.getHealthStatus()
    expect(health).toMatchObject({ status: 'unhealthy', redisConnected: false })
    expect(typeof health.lastError).toBe('string')
    await cache.setData('x', quotes('X', 1))
    expect(await cache.getData('x')).toHaveLength(1)
    expect(await cache.getBatchData(['x', 'y'])).toMatchObject({ y: null })
    await cache.deleteData('x')
    await settled(cache)
    const setFailed = events.find((e) => e.metricName === 'cache_set_failed')
    expect(setFailed.tags).toMatchObject({ operation: 'set', success: 'false', layer: 'warm', errorType: 'recoverable_error' })
    expect(events.map((e) => e.metricName)).toEqual(
      expect.arrayContaining(['cache_get_failed', 'cache_healthCheck_failed', 'cache_deleteData_failed']),
    )
    // The batch's read failed once: one event for the method, none per key.
    const batchFailed = events.filter((e) => e.tags.operation === 'getBatchData')
    expect(batchFailed).toHaveLength(1)
    expect(batchFailed[0]).toMatchObject({ metricName: 'cache_getBatchData_failed', tags: { errorType: 'recoverable_error' } })
  })

  test('strictWarmWrites rejects setData with the TS service message and a code', async () => {
    const { cache, events } = open({ ...down, strictWarmWrites: true })
    const err = await cache.setData('x', quotes('X', 1)).catch((e) => e)
    expect(err.message).toMatch(/^StreamCache setData failed: /)
    expect(['STREAM_CACHE_REDIS_ERROR', 'STREAM_CACHE_TIMEOUT']).toContain(err.code)
    await settled(cache)
    expect(events.at(-1)).toMatchObject({ metricName: 'cache_setData_failed', tags: { errorType: 'critical_error' } })
  })

  test('clearAll rejects with a coded error after emptying hot', async () => {
    const { cache } = open(down)
    await cache.setData('x', quotes('X', 1))
    const err = await cache.clearAll().catch((e) => e)
    expect(['STREAM_CACHE_REDIS_ERROR', 'STREAM_CACHE_TIMEOUT']).toContain(err.code)
    expect(cache.stats().hotCacheSize).toBe(0)
  })
})

test('a cache without onMetric builds no events at all', async () => {
  const cache = track(new StreamCache(cacheOptions()))
  await cache.setData('n', quotes('N', 1))
  await cache.getData('n')
  await sleep(10)
  expect(cache.stats()).toMatchObject({ pendingMetrics: 0, emittedMetrics: 0, droppedMetrics: 0 })
})

test('clearAll walks SCAN pages that hold none of its keys', async () => {
  const noise = Array.from({ length: 3000 }, (_, i) => `noise:${i}`)
  // One command per key: on a cluster a multi-key command must stay within one slot.
  await Promise.all(noise.map((key) => redis.set(key, 'x')))
  try {
    const { cache } = open()
    await cache.setData('only', quotes('O', 1))
    expect(await cache.clearAll({ preserveActive: true, maxAge: 0 })).toEqual({ deleted: 1, preserved: 0 })
    await cache.setData('only', quotes('O', 1))
    expect(await cache.clearAll({ preserveActive: true })).toEqual({ deleted: 0, preserved: 1 })
  } finally {
    await Promise.all(noise.map((key) => redis.del(key)))
  }
})

// docs/architecture.md, "Crossing Node-API": the calls each operation makes, counted on the
// binding's prototype (the class index.js instantiates).
function countNativeCalls() {
  const proto = require('../binding.js').NativeStreamCache.prototype
  const names = []
  const originals = Object.getOwnPropertyNames(proto)
    .filter((name) => name !== 'constructor' && typeof proto[name] === 'function')
    .map((name) => [name, proto[name]])
  for (const [name, original] of originals) {
    proto[name] = function (...args) {
      names.push(name)
      return original.apply(this, args)
    }
  }
  return {
    names,
    stop: () => originals.forEach(([name, original]) => (proto[name] = original)),
  }
}

test('an isolated warm getData crosses Node-API three times: get, flush and one drain', async () => {
  const keyPrefix = `calls:${process.pid}:${Date.now()}:`
  await open({ redis: { keyPrefix } }).cache.setData('k', quotes('K', 2))
  const { cache, events } = open({ redis: { keyPrefix } })
  // Connected, and its own events delivered, before counting.
  await cache.getData('first')
  await waitFor(() => events.length === 1)
  const calls = countNativeCalls()
  let value
  try {
    value = await cache.getData('k')
    // The barrier: a second drain after the first read would be scheduled before this one.
    await cache.getData('missing')
  } finally {
    calls.stop()
  }
  expect(value).toHaveLength(2)
  expect(calls.names).toEqual(['get', 'flush', 'drain', 'get', 'flush', 'drain'])
  expect(names(events)).toEqual(['cache_get_failed/miss', 'cache_get_success/warm', 'cache_get_failed/miss'])
})
