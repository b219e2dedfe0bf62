'use strict'

// What both implementations are asked to do: the keys, the values and the cache options,
// shared by the runner (which seeds Redis) and the worker (which measures).

const { compressData } = require('..')

const WARM_KEYS = 100_000 // far more than the hot tier holds: every warm read is a hot miss
const HOT_KEYS = 500 // fits the default hot tier of 1,000 entries
const SET_KEYS = 800 // fits too, so the baseline's O(n) eviction does not slow its sets
const BATCH_SIZE = 50
const POINTS = 10
const BASE_TIME = 1_764_000_000_000

// Prices in cents and percentages in hundredths, as a quote feed sends them.
const decimal = (hundredths) => Math.round(hundredths) / 100

function rawQuotes(symbol, seed) {
  return Array.from({ length: POINTS }, (_, i) => ({
    symbol,
    price: decimal(10_000 + ((seed * 7 + i * 13) % 1000)),
    volume: 1000 + ((seed + i) % 50) * 10,
    timestamp: BASE_TIME + i * 1000,
    change: decimal(((seed + i) % 201) - 100),
    changePercent: decimal(((seed * 3 + i) % 41) - 20),
  }))
}

const warmKey = (i) => `W${i}`
const warmValue = (i) => JSON.stringify(compressData(rawQuotes(`SYM${i % 5000}`, i)))

// Half of each value's points are newer than this.
const SINCE = BASE_TIME + (POINTS / 2) * 1000 - 1

const CACHE_OPTIONS = { hotCacheTTL: 3_600_000, warmCacheTTL: 3600 }

// Writes every warm key the way the TS service stored them; returns the server's version.
async function seed(url) {
  const Redis = require('ioredis')
  const redis = new Redis(url, { db: 1, keyPrefix: 'stream:' })
  for (let i = 0; i < WARM_KEYS; i += 10_000) {
    const pipe = redis.pipeline()
    for (let j = i; j < i + 10_000; j++) pipe.set(`stream_cache_warm${warmKey(j)}`, warmValue(j))
    await pipe.exec()
  }
  const info = await redis.info('server')
  await redis.quit()
  return info.match(/redis_version:(\S+)/)?.[1] ?? 'unknown'
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

module.exports = { seed, median, WARM_KEYS, HOT_KEYS, SET_KEYS, BATCH_SIZE, SINCE, CACHE_OPTIONS, rawQuotes, warmKey, warmValue }
