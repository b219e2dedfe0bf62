'use strict'

// seriesKeyPrefixes: setData on a series key merges into the stored series, in Redis, so
// that concurrent writers lose no point; warmKeySeparator: the later TS service's key format.
// Runs against one server and against the cluster (jest.config.js).

const { StreamCache, compressData } = require('..')
const { cacheOptions, redisClient, uniquePrefix, settled, openedCaches, eventually } = require('./helpers')

const { open } = openedCaches({ seriesKeyPrefixes: ['quote:'], warmCacheTTL: 60 })

let redis
beforeAll(() => {
  redis = redisClient()
})
afterAll(() => redis.quit())

const T = 1_700_000_000_000
const pt = (t, p = 1, extra = {}) => ({ s: 'AAPL', p, v: 10, t, ...extra })

// Two caches (or two writes) on one prefix, and a raw look at the stored bytes.
function shared(extra = {}) {
  const keyPrefix = uniquePrefix()
  const separator = extra.warmKeySeparator ?? ''
  const stored = (key) => redis.get(`${keyPrefix}stream_cache_warm${separator}${key}`)
  return { keyPrefix, stored, open: (more = {}) => open({ ...extra, ...more, redis: { keyPrefix } }) }
}

test('merge: sorted by t, ties keep stored first then input order, duplicates dropped', async () => {
  const { open: make, stored } = shared()
  const { cache } = make()
  await cache.setData('quote:AAPL', [pt(T + 3000, 3), pt(T + 1000, 1), pt(T + 2000, 2, { c: 0.5 })])
  await cache.setData('quote:AAPL', [
    pt(T + 2000, 2, { c: 0.5 }), // duplicate of a stored point: dropped
    pt(T + 2000, 2), // same but without c: a different point, after the stored tie
    pt(T + 2000, 9),
    pt(T + 1000, 1, { c: 0.5, cp: 0.1 }),
    pt(T + 1000, 1, { c: 0.5, cp: 0.1 }), // duplicate within the input
  ])
  const expected = [
    pt(T + 1000, 1),
    pt(T + 1000, 1, { c: 0.5, cp: 0.1 }),
    pt(T + 2000, 2, { c: 0.5 }),
    pt(T + 2000, 2),
    pt(T + 2000, 9),
    pt(T + 3000, 3),
  ]
  expect(await stored('quote:AAPL')).toBe(JSON.stringify(expected))
  expect(await cache.getData('quote:AAPL')).toEqual(expected)
})

test('invalid points are dropped; other keys are still replaced', async () => {
  const { open: make, stored } = shared()
  const { cache } = make()
  await cache.setData('quote:X', [42, null, pt(T), { s: 'AAPL', p: 1, v: 1, t: -5 }, { s: 'AAPL', p: 1, v: 1, t: 'x' }])
  expect(JSON.parse(await stored('quote:X'))).toEqual([pt(T)])
  await cache.setData('plain', [pt(T)])
  await cache.setData('plain', [pt(T + 1)])
  expect(JSON.parse(await stored('plain'))).toEqual([pt(T + 1)])
})

test('pruning at the window edge: t >= latest - max(warmCacheTTL × 1000, hotCacheTTL) stays', async () => {
  const { open: make, stored } = shared()
  const { cache } = make({ warmCacheTTL: 10, hotCacheTTL: 2000 })
  await cache.setData('quote:W', [pt(T - 10_001), pt(T - 10_000), pt(T)])
  expect(JSON.parse(await stored('quote:W'))).toEqual([pt(T - 10_000), pt(T)])
})

test('a point dated more than a window ahead of the writer is dropped, the series kept', async () => {
  const { open: make, stored } = shared()
  const { cache } = make({ warmCacheTTL: 10 })
  const now = Date.now()
  await cache.setData('quote:F', [pt(now - 1000), pt(now)])
  await cache.setData('quote:F', [pt(now + 60_000, 7)])
  expect(JSON.parse(await stored('quote:F'))).toEqual([pt(now - 1000), pt(now)])
})

test('the hot tier holds the merged series, and the event reports its size', async () => {
  const { open: make, stored } = shared()
  const { cache, events } = make()
  await cache.setData('quote:H', [pt(T)], 'hot')
  await cache.setData('quote:H', [pt(T + 1)], 'hot')
  const json = await stored('quote:H')
  expect(await cache.getData('quote:H')).toEqual([pt(T), pt(T + 1)])
  await settled(cache)
  const sets = events.filter((e) => e.metricName === 'cache_set_success')
  expect(sets.map((e) => [e.tags.layer, e.tags.dataSize])).toEqual([
    ['both', JSON.stringify([pt(T)]).length],
    ['both', json.length],
  ])
  expect(events.filter((e) => e.tags.layer === 'hot')).toHaveLength(1)
})

test('a series write by another instance drops the hot copy; the writer\'s own echo does not', async () => {
  const { open: make } = shared()
  const a = make({ hotCacheTTL: 600_000 }).cache
  const b = make({ hotCacheTTL: 600_000 }).cache
  await a.setData('quote:Z', [pt(T)], 'hot')
  await b.setData('quote:Z', [pt(T + 1)], 'hot')
  await eventually(() => a.getData('quote:Z'), [pt(T), pt(T + 1)])
  expect(await b.getData('quote:Z')).toEqual([pt(T), pt(T + 1)])
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(b.stats().hotEntriesInvalidated).toBe(0)
})

test('several caches × several writer loops on one key lose no point', async () => {
  const { open: make, stored } = shared()
  const writers = Array.from({ length: 3 }, () => make({ hotCacheTTL: 600_000 }).cache)
  const loops = []
  for (const [w, cache] of writers.entries()) {
    for (let loop = 0; loop < 4; loop++) {
      loops.push(
        (async () => {
          for (let i = 0; i < 25; i++) await cache.setData('quote:C', [pt(T + (w * 4 + loop) * 1000 + i, w)])
        })(),
      )
    }
  }
  await Promise.all(loops)
  const series = JSON.parse(await stored('quote:C'))
  expect(series).toHaveLength(300)
  expect(series.map((p) => p.t)).toEqual([...series.map((p) => p.t)].sort((a, b) => a - b))
})

test('a value written by the old service is the base of the merge', async () => {
  const { keyPrefix, open: make, stored } = shared()
  const old = compressData([{ symbol: 'AAPL', price: 189.99, volume: 100, timestamp: T, change: -0.1, changePercent: 1e-7 }])
  await redis.setex(`${keyPrefix}stream_cache_warmquote:OLD`, 300, JSON.stringify(old))
  const { cache } = make()
  await cache.setData('quote:OLD', [{ symbol: 'AAPL', price: 190.01, volume: 5, timestamp: T + 1 }])
  expect(await stored('quote:OLD')).toBe(JSON.stringify([...old, { s: 'AAPL', p: 190.01, v: 5, t: T + 1 }]))
})

test('warmKeySeparator ":" reads and writes the standardized service\'s keys', async () => {
  const { keyPrefix, open: make, stored } = shared({ warmKeySeparator: ':' })
  await redis.setex(`${keyPrefix}stream_cache_warm:quote:S`, 300, JSON.stringify([pt(T)]))
  const { cache } = make()
  expect(await cache.getData('quote:S')).toEqual([pt(T)])
  await cache.setData('quote:S', [pt(T + 5)])
  expect(JSON.parse(await stored('quote:S'))).toEqual([pt(T), pt(T + 5)])
  await cache.deleteData('quote:S')
  expect(await stored('quote:S')).toBeNull()
})

test('bad input and oversized merges are refused, and the stored series is kept', async () => {
  const { open: make, stored } = shared()
  const { cache } = make({ maxValueBytes: 200 })
  await cache.setData('quote:B', [pt(T)])
  const before = await stored('quote:B')
  const notArray = await cache.setData('quote:B', 'AAPL').catch((e) => e)
  expect(notArray).toBeInstanceOf(TypeError)
  expect(notArray.code).toBe('STREAM_CACHE_INVALID_ARGUMENT')
  const points = Array.from({ length: 5 }, (_, i) => pt(T + 1 + i))
  await cache.setData('quote:B', points.slice(0, 2))
  const grown = await stored('quote:B')
  const tooBig = await cache.setData('quote:B', points.slice(2)).catch((e) => e)
  expect(tooBig).toBeInstanceOf(RangeError)
  expect(tooBig.code).toBe('STREAM_CACHE_INVALID_ARGUMENT')
  expect(tooBig.message).toMatch(/merged series would be \d+ bytes of JSON, more than maxValueBytes \(200\)/)
  expect(await stored('quote:B')).toBe(grown)
  expect(JSON.parse(grown).slice(0, 1)).toEqual(JSON.parse(before))
  expect(await cache.getData('quote:B')).toEqual(JSON.parse(grown))
})

test('bad options are coded errors', () => {
  for (const [options, Class, pattern] of [
    [{ seriesKeyPrefixes: 'quote:' }, TypeError, /seriesKeyPrefixes must be an array of strings/],
    [{ seriesKeyPrefixes: [''] }, RangeError, /seriesKeyPrefixes\[0\] must not be empty/],
    [{ warmKeySeparator: '/' }, RangeError, /warmKeySeparator must be "" or ":"/],
  ]) {
    let err
    try {
      new StreamCache(cacheOptions(options))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(Class)
    expect(err.code).toBe('STREAM_CACHE_INVALID_ARGUMENT')
    expect(err.message).toMatch(pattern)
  }
})
