'use strict'

// The TS service and this cache share one Redis during a rolling deploy (docs/contract.md, compat):
// the TS side is plain ioredis with keyPrefix "stream:" in DB 1, writing JSON strings.

const { StreamCache, compressData } = require('..')
const { redisClient, redisOptions } = require('./helpers')

let ts
let cache
beforeAll(() => {
  ts = redisClient({ keyPrefix: 'stream:' })
  // The defaults are the TS app's: DB 1 (on a cluster, DB 0, its only one), keyPrefix "stream:".
  cache = new StreamCache({ redis: redisOptions() })
})
afterAll(async () => {
  await Promise.all([ts.del('stream_cache_warmINTEROP.TS'), ts.del('stream_cache_warmINTEROP.NATIVE')])
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

test('a float -0 in stored JSON keeps its sign, and integers read back as JSON.parse gives them', async () => {
  // Float literals: Rust decodes these (an integer -0 it leaves to JSON.parse).
  const json = '[{"s":"INTEROP.TS","p":-0.0,"v":5,"t":1700000000000,"c":-0.0e0,"cp":7}]'
  await ts.setex('stream_cache_warmINTEROP.TS', 300, json)
  const reader = new StreamCache({ redis: redisOptions(), maxHotCacheSize: 0 })
  const [value] = await reader.getData('INTEROP.TS')
  await reader.destroy()
  expect(value).toStrictEqual(JSON.parse(json)[0])
  expect([Object.is(value.p, -0), Object.is(value.c, -0), value.v, value.cp]).toEqual([true, true, 5, 7])
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

// Canonical points cross as rows and Rust writes and reads their JSON (src/points.rs); the
// bytes and the values must still be exactly JSON.stringify's and JSON.parse's.
const { rng } = require('./helpers')

function uniform(seed) {
  const r = rng(seed)
  return () => r.int(2 ** 32) / 2 ** 32
}

function randomNumber(next) {
  switch (Math.floor(next() * 9)) {
    case 0:
      return Math.round(next() * 1e6) / 100
    case 1:
      return Math.floor(next() * 2 ** 53) * (next() < 0.5 ? -1 : 1)
    case 2:
      return (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20)
    case 3:
      return next() * 1e22
    case 4:
      return -0
    case 5:
      return Number.MIN_VALUE * Math.floor(next() * 1000)
    case 6:
      return Number.MAX_VALUE * next()
    case 7:
      return 1.7e12 + Math.floor(next() * 1e9)
    default:
      return next()
  }
}

function randomQuotes(next, n) {
  const symbols = ['AAPL', 'BRK.B', 'é€🙂', 'a b', '', 'X'.repeat(40)]
  return Array.from({ length: n }, () => {
    const item = { s: symbols[Math.floor(next() * symbols.length)], p: randomNumber(next), v: randomNumber(next), t: randomNumber(next) }
    if (next() < 0.6) item.c = randomNumber(next)
    if (next() < 0.6) item.cp = randomNumber(next)
    return item
  })
}

test('setData writes exactly JSON.stringify bytes for 2,000 random values', async () => {
  const next = uniform(11)
  const mismatches = []
  for (let i = 0; i < 2000; i++) {
    // Normalised first: a falsy t becomes Date.now() + i, which must not differ between calls.
    const points = compressData(randomQuotes(next, 1 + Math.floor(next() * 12)))
    await cache.setData('INTEROP.FUZZ', points, 'warm')
    const stored = await ts.get('stream_cache_warmINTEROP.FUZZ')
    const expected = JSON.stringify(points)
    if (stored !== expected) mismatches.push({ stored, expected })
  }
  await ts.del('stream_cache_warmINTEROP.FUZZ')
  expect(mismatches.slice(0, 3)).toEqual([])
})

test('getData returns exactly JSON.parse values for 2,000 random stored values', async () => {
  const next = uniform(12)
  const reader = new StreamCache({ redis: redisOptions(), maxHotCacheSize: 0 })
  const mismatches = []
  for (let i = 0; i < 2000; i++) {
    const json = JSON.stringify(randomQuotes(next, 1 + Math.floor(next() * 12)))
    await ts.setex('stream_cache_warmINTEROP.FUZZ', 300, json)
    const [got, batch] = await Promise.all([reader.getData('INTEROP.FUZZ'), reader.getBatchData(['INTEROP.FUZZ'])])
    const expected = JSON.parse(json)
    // toStrictEqual tells -0 from 0 and an absent key from an undefined one.
    for (const value of [got, batch['INTEROP.FUZZ']]) {
      try {
        expect(value).toStrictEqual(expected)
        expect(value.map(Object.keys)).toEqual(expected.map(Object.keys))
      } catch {
        mismatches.push({ json, value })
      }
    }
  }
  await reader.destroy()
  await ts.del('stream_cache_warmINTEROP.FUZZ')
  expect(mismatches.slice(0, 3)).toEqual([])
}, 60_000)
