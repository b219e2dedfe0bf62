'use strict'

// coherence: "tracking" against a real Redis (one server, and the cluster project): a hot
// entry goes as soon as Redis reports its warm key changed, whoever changed it. No timing
// asserts here: the lag figures live in the benchmark (bench/run.js, "invalidation lag").

const { StreamCache } = require('..')
const { cacheOptions, redisClient, uniquePrefix, quotes, openedCaches, eventually } = require('./helpers')

// A long hotCacheTTL: only an invalidation can explain a new value.
const { open } = openedCaches({ hotCacheTTL: 600_000 })

let redis
beforeAll(() => {
  redis = redisClient()
})
afterAll(() => redis.quit())

// Two caches on one key prefix, as two instances of one service.
function pair(extra) {
  const keyPrefix = uniquePrefix()
  const a = open({ redis: { keyPrefix }, ...extra })
  const b = open({ redis: { keyPrefix }, ...extra })
  return { a: a.cache, b: b.cache, bEvents: b.events, keyPrefix, warmKey: (key) => `${keyPrefix}stream_cache_warm${key}` }
}

const price = (value) => value?.[0]?.p

test('a write by another instance drops the hot copy, whether it came from a write or a read', async () => {
  const { a, b } = pair()
  await a.setData('READ', quotes('READ', 2))
  expect(price(await b.getData('READ'))).toBe(100)
  expect(price(await b.getData('READ'))).toBe(100)
  await b.setData('WRITTEN', quotes('WRITTEN', 2), 'hot')

  await a.setData('READ', quotes('READ', 2).map((q) => ({ ...q, price: 200 })))
  await a.setData('WRITTEN', quotes('WRITTEN', 2).map((q) => ({ ...q, price: 300 })))
  await eventually(async () => price(await b.getData('READ')), 200)
  await eventually(async () => price(await b.getData('WRITTEN')), 300)
  expect(b.stats().hotEntriesInvalidated).toBeGreaterThanOrEqual(2)
  expect(b.stats().invalidationsReceived).toBeGreaterThanOrEqual(2)
  expect((await b.getHealthStatus()).coherence).toBe('tracking')
})

test('getBatchData promotions are invalidated too', async () => {
  const { a, b } = pair()
  await a.setData('X', quotes('X', 1))
  await a.setData('Y', quotes('Y', 1))
  expect(Object.values(await b.getBatchData(['X', 'Y'])).map(price)).toEqual([100, 100])
  await a.setData('Y', quotes('Y', 1).map((q) => ({ ...q, price: 101 })))
  await eventually(async () => Object.values(await b.getBatchData(['X', 'Y'])).map(price), [100, 101])
})

test('writes in the TS service\'s way: SETEX, DEL and expiry each drop the entry', async () => {
  const { a, warmKey } = pair()
  for (const key of ['SETEX', 'DEL', 'EXPIRE']) await a.setData(key, quotes(key, 1))
  await redis.setex(warmKey('SETEX'), 300, JSON.stringify([{ s: 'SETEX', p: 7, v: 1, t: 1 }]))
  await redis.del(warmKey('DEL'))
  await redis.pexpire(warmKey('EXPIRE'), 1)
  await eventually(async () => price(await a.getData('SETEX')), 7)
  await eventually(() => a.getData('DEL'), null)
  // Redis expires a key lazily when it is read, or when its sampling finds it; on a busy
  // database the sampling may take longer than the wait. Reading it makes Redis expire it.
  await eventually(() => redis.exists(warmKey('EXPIRE')), 0)
  await eventually(() => a.getData('EXPIRE'), null)
})

test('its own writes keep its own fresh entries (NOLOOP)', async () => {
  const { a, warmKey } = pair()
  const points = quotes('OWN', 2)
  // One hash tag: one slot, so on a cluster too one connection carries all their invalidations, in order.
  await a.setData('{own}BARRIER', quotes('BARRIER', 1), 'hot')
  await a.setData('{own}OWN', points, 'hot')
  await a.setData('{own}OTHER', quotes('OTHER', 2), 'hot')
  // The barrier: a foreign write after them. Once its invalidation is in, one for an own
  // write would be too.
  await redis.setex(warmKey('{own}BARRIER'), 60, JSON.stringify([{ s: 'BARRIER', p: 9, v: 1, t: 1 }]))
  await eventually(async () => price(await a.getData('{own}BARRIER')), 9)
  const hit = await a.getData('{own}OWN')
  expect(hit).toEqual(points.map((q) => ({ s: q.symbol, p: q.price, v: q.volume, t: q.timestamp })))
  expect(a.stats().hotEntriesInvalidated).toBe(1)
})

test('read your own writes in both modes: a warm-only write replaces the older hot copy', async () => {
  for (const coherence of ['tracking', 'ttl']) {
    const { cache } = open({ coherence })
    await cache.setData('K', quotes('K', 1), 'hot')
    await cache.setData('K', quotes('K', 1).map((q) => ({ ...q, price: 5 })), 'warm')
    expect(price(await cache.getData('K'))).toBe(5)
    await cache.deleteData('K')
    expect(await cache.getData('K')).toBeNull()
  }
})

test('coherence: "ttl" keeps today\'s behaviour: the hot copy answers until it expires', async () => {
  const { a, b, keyPrefix } = pair({ coherence: 'ttl' })
  const tracking = open({ redis: { keyPrefix } }).cache
  await a.setData('T', quotes('T', 1))
  expect(price(await b.getData('T'))).toBe(100)
  expect(price(await tracking.getData('T'))).toBe(100)
  await a.setData('T', quotes('T', 1).map((q) => ({ ...q, price: 9 })))
  // The barrier: a tracking cache has been told of the write; b, in "ttl", is not.
  await eventually(async () => price(await tracking.getData('T')), 9)
  expect(price(await b.getData('T'))).toBe(100)
  expect((await b.getHealthStatus()).coherence).toBe('ttl')
  expect(b.stats().invalidationsReceived).toBe(0)
})

test('a bad coherence option is a coded RangeError', () => {
  let err
  try {
    new StreamCache(cacheOptions({ coherence: 'pubsub' }))
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(RangeError)
  expect(err.code).toBe('STREAM_CACHE_INVALID_ARGUMENT')
  expect(err.message).toMatch(/options\.coherence must be "tracking" or "ttl"/)
})
