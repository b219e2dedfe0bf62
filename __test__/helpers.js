'use strict'

const { freePort, waitForRedis } = require('../scripts/local-redis')
const { randomUUID } = require('node:crypto')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function redisUrl() {
  const url = process.env.REDIS_URL
  if (!url) throw new Error('REDIS_URL is not set: run the tests through `npm test`')
  return url
}

// Each test gets its own key prefix, so tests never see each other's keys.
function uniquePrefix() {
  return `test:${randomUUID().slice(0, 8)}:`
}

function cacheOptions(extra = {}) {
  const { redis, ...rest } = extra
  return { redis: { url: redisUrl(), keyPrefix: uniquePrefix(), ...redis }, ...rest }
}

async function waitFor(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

// One macrotask turn plus a little, enough for queued wakes to be drained.
const settleEvents = () => new Promise((resolve) => setTimeout(resolve, 20))

function quotes(symbol, n, t0 = 1_700_000_000_000) {
  return Array.from({ length: n }, (_, i) => ({ symbol, price: 100 + i, volume: 10 * i + 1, timestamp: t0 + i }))
}

// The events of spec §4 as the TypeScript service emitted them, for exact comparisons.
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
  setSuccessEvent,
  getSuccessEvent, freePort, waitForRedis, sleep, redisUrl, uniquePrefix, cacheOptions, waitFor, settleEvents, quotes }
