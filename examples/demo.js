'use strict'

// Writes and reads a few quotes through both tiers, prints every metric event and the
// counters, destroys the cache and exits. Uses REDIS_URL, or starts its own redis-server.

const { StreamCache } = require('..')
const { startLocalRedis } = require('../scripts/local-redis')

async function main() {
  const local = process.env.REDIS_URL ? null : await startLocalRedis()
  const url = process.env.REDIS_URL ?? local.url
  console.log(`Redis: ${url}${local ? ' (started for this demo)' : ''}`)

  const cache = new StreamCache({
    redis: { url, keyPrefix: 'demo:' },
    onMetric: (e) => {
      const value = e.metricType === 'system' ? String(e.metricValue) : `${e.metricValue.toFixed(3)} ms`
      console.log(`  event ${e.metricName.padEnd(20)} ${(e.tags.layer ?? '').padEnd(5)} ${value}`)
    },
  })
  const now = Date.now()
  try {
    await cache.setData('AAPL', [
      { symbol: 'AAPL', price: 189.98, volume: 1200, timestamp: now - 2000, change: 1.2, changePercent: 0.64 },
      { symbol: 'AAPL', price: 190.12, volume: 800, timestamp: now - 1000 },
    ])
    const history = Array.from({ length: 500 }, (_, i) => ({ symbol: 'MSFT', price: 410 + i / 100, volume: 10, timestamp: now - 500 + i }))
    await cache.setData('MSFT', history)
    console.log('getData(AAPL)           ->', await cache.getData('AAPL'))
    console.log('getData(MSFT)           ->', `${(await cache.getData('MSFT')).length} points (warm hit, now promoted)`)
    console.log('getDataSince(AAPL, t-1500) ->', await cache.getDataSince('AAPL', now - 1500))
    const batch = await cache.getBatchData(['AAPL', 'MSFT', 'TSLA'])
    console.log('getBatchData            ->', Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, v && v.length])))
    console.log('getHealthStatus         ->', await cache.getHealthStatus())
    await cache.reportSystemMetrics()
    console.log('clearAll                ->', await cache.clearAll())
    await new Promise((resolve) => setTimeout(resolve, 10))
    console.log('stats                   ->', cache.stats())
  } finally {
    await cache.destroy()
    local?.stop()
  }
  console.log('destroyed; stats().destroyed =', cache.stats().destroyed)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
