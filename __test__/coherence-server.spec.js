'use strict'

// coherence: "tracking" where a shared test server will not do: FLUSHDB, killed
// connections and ACL users, each on a redis-server of this file's own.

const Redis = require('ioredis')
const { StreamCache } = require('..')
const { startLocalRedis } = require('../scripts/local-redis')
const { quotes, sleep } = require('./helpers')

let server
let admin
beforeAll(async () => {
  server = await startLocalRedis()
  admin = new Redis(server.url, { db: 1 })
})
afterAll(async () => {
  await admin.quit()
  server.stop()
})

let caches = []
function open(redis = {}, extra = {}) {
  const events = []
  const cache = new StreamCache({
    redis: { url: server.url, keyPrefix: 'coh:', ...redis },
    hotCacheTTL: 600_000,
    onMetric: (e) => events.push(e),
    ...extra,
  })
  caches.push(cache)
  return { cache, events }
}
afterEach(async () => {
  await Promise.all(caches.map((c) => c.destroy()))
  caches = []
  await admin.flushdb()
})

const warmKey = (key) => `coh:stream_cache_warm${key}`
const written = (key, p) => JSON.stringify([{ s: key, p, v: 1, t: 1 }])
const price = (value) => value?.[0]?.p

async function eventually(read, expected, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    last = await read()
    if (last === expected) return
    await sleep(2)
  }
  expect(last).toBe(expected)
}

async function healthy(cache) {
  for (let i = 0; i < 200; i++) {
    if ((await cache.getHealthStatus()).status === 'healthy') return
    await sleep(25)
  }
  throw new Error('the cache did not reconnect')
}

test('FLUSHDB drops every hot entry', async () => {
  const { cache } = open()
  await cache.setData('A', quotes('A', 1))
  await cache.setData('B', quotes('B', 1), 'hot')
  await admin.flushdb()
  await eventually(() => cache.getData('A'), null)
  expect(await cache.getData('B')).toBeNull()
})

test('a killed connection, then a foreign write: the old value is never served once reconnected', async () => {
  const { cache } = open()
  await admin.setex(warmKey('K'), 300, written('K', 1))
  expect(price(await cache.getData('K'))).toBe(1)
  expect(price(await cache.getData('K'))).toBe(1)

  await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await admin.setex(warmKey('K'), 300, written('K', 2))
  await healthy(cache)
  expect(price(await cache.getData('K'))).toBe(2)

  // Tracking is back on the new connection: the next foreign write is seen as well.
  expect(price(await cache.getData('K'))).toBe(2)
  await admin.setex(warmKey('K'), 300, written('K', 3))
  await eventually(async () => price(await cache.getData('K')), 3)
})

test('an entry written while Redis was away is dropped when tracking comes back', async () => {
  const own = await startLocalRedis()
  try {
    const { cache } = open({ url: own.url, commandTimeout: 300, connectTimeout: 300 })
    await cache.getHealthStatus()
    own.stop()
    while ((await cache.getHealthStatus()).status === 'healthy') await sleep(10)
    // The write fails in Redis but its hot copy is kept, as in the TS service.
    await cache.setData('W', quotes('W', 1), 'hot')
    expect(price(await cache.getData('W'))).toBe(100)
    const back = await startLocalRedis({ port: own.port })
    const other = new Redis(back.url, { db: 1 })
    await other.setex(warmKey('W'), 300, written('W', 4))
    await other.quit()
    await healthy(cache)
    await eventually(async () => price(await cache.getData('W')), 4)
    back.stop()
  } finally {
    own.stop()
  }
})

describe('a user without CLIENT TRACKING', () => {
  const password = 'tracking-denied-pass-1'
  beforeAll(async () => {
    await admin.call('ACL', 'SETUSER', 'untracked', 'on', `>${password}`, 'resetkeys', '~coh:*', '-@all',
      '+get', '+setex', '+mget', '+del', '+unlink', '+scan', '+ttl', '+ping', '+select')
  })

  test('the cache works in TTL mode and says so once', async () => {
    const { cache, events } = open({ username: 'untracked', password })
    await cache.setData('F', quotes('F', 1))
    await cache.setData('F', quotes('F', 1))
    expect(price(await cache.getData('F'))).toBe(100)
    await admin.setex(warmKey('F'), 300, written('F', 5))
    await sleep(50)
    expect(price(await cache.getData('F'))).toBe(100)
    expect((await cache.getHealthStatus()).coherence).toBe('ttl')
    await sleep(20)
    const fallbacks = events.filter((e) => e.metricName === 'coherence_fallback')
    expect(fallbacks).toEqual([
      {
        timestamp: expect.any(Date),
        source: 'stream-cache',
        metricType: 'system',
        metricName: 'coherence_fallback',
        metricValue: 1,
        tags: { component: 'StreamCache', reason: expect.stringMatching(/NOPERM|permission/i) },
      },
    ])
    expect(events.filter((e) => e.metricName.endsWith('_failed'))).toEqual([])
  })
})
