'use strict'

// The TS service and this cache share one Redis during a rolling deploy (spec §2 compat):
// the TS side is plain ioredis with keyPrefix "stream:" in DB 1, writing JSON strings.

const Redis = require('ioredis')
const { StreamCache } = require('..')
const { redisUrl } = require('./helpers')

let ts
let cache
beforeAll(() => {
  ts = new Redis(redisUrl(), { keyPrefix: 'stream:', db: 1 })
  // The defaults are the TS app's: DB 1, keyPrefix "stream:".
  cache = new StreamCache({ redis: { url: redisUrl() } })
})
afterAll(async () => {
  await ts.del('stream_cache_warmINTEROP.TS', 'stream_cache_warmINTEROP.NATIVE')
  await cache.destroy()
  await ts.quit()
})

test('a value written by the TS service is read by getData', async () => {
  const points = [
    { s: 'INTEROP.TS', p: 10.5, v: 100, t: 1700000000000, c: 0.5, cp: 1.2 },
    { s: 'INTEROP.TS', p: 10.6, v: 50, t: 1700000000001 },
  ]
  await ts.setex('stream_cache_warmINTEROP.TS', 300, JSON.stringify(points))
  expect(await cache.getData('INTEROP.TS')).toEqual(points)
})

test('a value written by setData is byte-for-byte what the TS service writes', async () => {
  const raw = [
    { symbol: 'INTEROP.NATIVE', price: 1.25, volume: 7, timestamp: 1700000000000, change: -0.5, changePercent: -2 },
    { symbol: 'INTEROP.NATIVE', lastPrice: 1.3, volume: 8, timestamp: 1700000000001 },
  ]
  await cache.setData('INTEROP.NATIVE', raw)
  const stored = await ts.get('stream_cache_warmINTEROP.NATIVE')
  expect(stored).toBe(
    '[{"s":"INTEROP.NATIVE","p":1.25,"v":7,"t":1700000000000,"c":-0.5,"cp":-2},' +
      '{"s":"INTEROP.NATIVE","p":1.3,"v":8,"t":1700000000001}]',
  )
  const ttl = await ts.ttl('stream_cache_warmINTEROP.NATIVE')
  expect(ttl).toBeGreaterThan(290)
  expect(ttl).toBeLessThanOrEqual(300)
})
