'use strict'

// coherence: "tracking" where a shared test server will not do: FLUSHDB, killed
// connections and ACL users, each on a redis-server of this file's own.

const Redis = require('ioredis')
const { startLocalRedis } = require('../scripts/local-redis')
const { openedCaches, quotes, settled, sleep, eventually } = require('./helpers')

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

// `server` is known once beforeAll has run.
const { open, destroyAll } = openedCaches(() => ({ redis: { url: server.url, keyPrefix: 'coh:' }, hotCacheTTL: 600_000 }))
afterEach(() => admin.flushdb())

const warmKey = (key) => `coh:stream_cache_warm${key}`
const written = (key, p) => JSON.stringify([{ s: key, p, v: 1, t: 1 }])
const price = (value) => value?.[0]?.p

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
    const { cache } = open({ redis: { url: own.url, commandTimeout: 300, connectTimeout: 300 } })
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
    const { cache, events } = open({ redis: { username: 'untracked', password } })
    const { cache: tracking } = open()
    await cache.setData('F', quotes('F', 1))
    await cache.setData('F', quotes('F', 1))
    expect(price(await cache.getData('F'))).toBe(100)
    expect(price(await tracking.getData('F'))).toBe(100)
    await admin.setex(warmKey('F'), 300, written('F', 5))
    // The barrier: a tracking cache has been told of the write; this one cannot be.
    await eventually(async () => price(await tracking.getData('F')), 5)
    expect(price(await cache.getData('F'))).toBe(100)
    expect((await cache.getHealthStatus()).coherence).toBe('ttl')
    await settled(cache)
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

// A proxy that forwards everything but refuses HELLO the way Redis 5 did: a RESP2-only
// server, as far as the client can tell. (Redis itself always knows HELLO.)
function resp2OnlyProxy(upstreamPort) {
  const net = require('node:net')
  // The length of the first command in `buf` when it is complete, else 0.
  const firstCommand = (buf) => {
    const lineEnd = (at) => buf.indexOf('\r\n', at)
    let end = lineEnd(0)
    if (buf[0] !== 0x2a || end < 0) return 0
    const count = Number(buf.subarray(1, end))
    let at = end + 2
    for (let i = 0; i < count; i++) {
      end = lineEnd(at)
      if (end < 0) return 0
      at = end + 2 + Number(buf.subarray(at + 1, end)) + 2
      if (at > buf.length) return 0
    }
    return at
  }
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1')
    let head = Buffer.alloc(0)
    let piping = false
    upstream.pipe(client)
    client.on('data', (chunk) => {
      if (piping) return upstream.write(chunk)
      head = Buffer.concat([head, chunk])
      const n = firstCommand(head)
      if (n === 0) return
      piping = true
      if (/^\*\d+\r\n\$5\r\nhello\r\n/i.test(head.subarray(0, n).toString())) {
        client.write('-ERR unknown command `HELLO`, with args beginning with: `3`, \r\n')
        head = head.subarray(n)
      }
      if (head.length > 0) upstream.write(head)
    })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

test('a server that cannot speak RESP3: the cache reconnects over RESP2 and works in ttl mode', async () => {
  const proxy = await resp2OnlyProxy(server.port)
  try {
    const { cache, events } = open({ redis: { url: `redis://127.0.0.1:${proxy.address().port}` } })
    await cache.setData('R', quotes('R', 1), 'warm')
    expect(price(await cache.getData('R'))).toBe(100)
    expect(await admin.get(warmKey('R'))).toContain('"s":"R"')
    const health = await cache.getHealthStatus()
    expect(health).toMatchObject({ status: 'healthy', coherence: 'ttl' })
    await settled(cache)
    expect(events.filter((e) => e.metricName === 'coherence_fallback')).toEqual([
      expect.objectContaining({ tags: { component: 'StreamCache', reason: expect.stringMatching(/resp3|HELLO/i) } }),
    ])
    expect(events.filter((e) => e.metricName.endsWith('_failed') && e.tags.layer !== 'miss')).toEqual([])
  } finally {
    await destroyAll()
    proxy.close()
  }
})
