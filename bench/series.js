'use strict'

// Series merges, in a fresh process: 4 caches (instances) × 16 in flight write one point
// each per setData, on one shared key or on 64 distinct keys. For comparison, the same merge
// done the other way the issue names: an optimistic WATCH/GET/MULTI/SET/EXEC loop, in
// JavaScript over 64 ioredis connections (WATCH needs a connection of its own).
// Prints one JSON line per mode.

const Redis = require('ioredis')
const { StreamCache } = require('..')

const { redisUrl, seconds } = JSON.parse(process.argv[2])
const T0 = Date.now() - 60_000
const WINDOW = 300_000

async function lua(shared) {
  const prefix = `series-bench:${shared ? 'one' : 'many'}:`
  const caches = Array.from({ length: 4 }, () =>
    new StreamCache({ redis: { url: redisUrl, keyPrefix: prefix }, seriesKeyPrefixes: ['quote:'] }),
  )
  let n = 0
  const deadline = performance.now() + seconds * 1000
  const worker = async (cache) => {
    while (performance.now() < deadline) {
      const i = n++
      await cache.setData(shared ? 'quote:ONE' : `quote:K${i % 64}`, [{ s: 'Q', p: i, v: 1, t: T0 + i }], 'warm')
    }
  }
  const started = performance.now()
  await Promise.all(caches.flatMap((cache) => Array.from({ length: 16 }, () => worker(cache))))
  const elapsed = (performance.now() - started) / 1000
  const check = new Redis(redisUrl, { db: 1 })
  const keys = shared ? ['quote:ONE'] : Array.from({ length: 64 }, (_, i) => `quote:K${i}`)
  let points = 0
  for (const key of keys) points += JSON.parse((await check.get(`${prefix}stream_cache_warm${key}`)) ?? '[]').length
  await check.del(...keys.map((key) => `${prefix}stream_cache_warm${key}`))
  await check.quit()
  await Promise.all(caches.map((c) => c.destroy()))
  return { mode: shared ? 'lua, one key' : 'lua, 64 keys', opsPerSec: n / elapsed, writes: n, pointsStored: points }
}

// The same merge rule in JavaScript, for the WATCH loop.
function merge(stored, added) {
  const all = [...stored, ...added].map((p, i) => ({ p, i })).sort((a, b) => a.p.t - b.p.t || a.i - b.i)
  const seen = new Set()
  const latest = all.length ? all[all.length - 1].p.t : 0
  const out = []
  for (const { p } of all) {
    const text = JSON.stringify(p)
    if (p.t >= latest - WINDOW && !seen.has(text)) {
      seen.add(text)
      out.push(p)
    }
  }
  return out
}

async function watchLoop() {
  const key = 'series-bench:watch:quote:ONE'
  const conns = Array.from({ length: 64 }, () => new Redis(redisUrl, { db: 1 }))
  let n = 0
  let retries = 0
  const deadline = performance.now() + seconds * 1000
  const worker = async (redis) => {
    while (performance.now() < deadline) {
      const i = n++
      for (;;) {
        await redis.watch(key)
        const stored = JSON.parse((await redis.get(key)) ?? '[]')
        const done = await redis.multi().setex(key, 300, JSON.stringify(merge(stored, [{ s: 'Q', p: i, v: 1, t: T0 + i }]))).exec()
        if (done !== null) break
        retries++
      }
    }
  }
  const started = performance.now()
  await Promise.all(conns.map(worker))
  const elapsed = (performance.now() - started) / 1000
  const points = JSON.parse((await conns[0].get(key)) ?? '[]').length
  await conns[0].del(key)
  await Promise.all(conns.map((c) => c.quit()))
  return { mode: 'WATCH/MULTI loop, one key', opsPerSec: n / elapsed, writes: n, pointsStored: points, retries }
}

async function main() {
  for (const run of [() => lua(true), () => lua(false), watchLoop]) process.stdout.write(`${JSON.stringify(await run())}\n`)
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
})
