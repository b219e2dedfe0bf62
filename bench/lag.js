'use strict'

// Invalidation lag, in a fresh process: a raw client writes a key the way the TypeScript
// service did (SETEX), and one cache polls getData (yielding to the event loop between
// reads) until it returns the new value. Lag: from the SETEX's acknowledgement to that read.
// Prints one JSON line: { samples, p50, p99, max } in ms.

const Redis = require('ioredis')
const { StreamCache } = require('..')

const { redisUrl, coherence, hotCacheTTL, samples } = JSON.parse(process.argv[2])
const turn = () => new Promise((resolve) => setImmediate(resolve))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const value = (p) => JSON.stringify([{ s: 'LAG', p, v: 1, t: 1 }])

async function main() {
  const writer = new Redis(redisUrl, { db: 1 })
  const cache = new StreamCache({ redis: { url: redisUrl, keyPrefix: 'lag:' }, coherence, hotCacheTTL })
  const lags = []
  for (let i = 0; i < samples; i++) {
    const key = `K${i % 64}`
    await writer.setex(`lag:stream_cache_warm${key}`, 300, value(i * 2))
    while ((await cache.getData(key))?.[0]?.p !== i * 2) await turn()
    // Promoted now; in ttl mode, write at a random point of the entry's life.
    if (coherence === 'ttl') await sleep(Math.random() * hotCacheTTL)
    await writer.setex(`lag:stream_cache_warm${key}`, 300, value(i * 2 + 1))
    const acked = performance.now()
    while ((await cache.getData(key))?.[0]?.p !== i * 2 + 1) await turn()
    lags.push(performance.now() - acked)
  }
  await cache.destroy()
  await writer.quit()
  lags.sort((a, b) => a - b)
  const pct = (q) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))]
  process.stdout.write(`${JSON.stringify({ samples, p50: pct(0.5), p99: pct(0.99), max: lags.at(-1) })}\n`)
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
})
