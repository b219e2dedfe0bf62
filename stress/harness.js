'use strict'

const { StreamCache, CODES } = require('..')

const SHORT = Boolean(process.env.STRESS_SHORT)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const points = (n, s = 'S') => Array.from({ length: n }, (_, t) => ({ s, p: 100 + t, v: t + 1, t: 1_700_000_000_000 + t }))

/**
 * 64-way mixed load until stop(): hot and warm writes (strict, so failures are visible),
 * hot/warm/missing reads, batches, incremental reads and deletes. Every operation's
 * latency and outcome is kept; an outcome that is neither a result, null, nor an error
 * with one of our codes counts as bad.
 */
function mixedLoad(cache, { concurrency = 64 } = {}) {
  const stats = { ok: 0, nulls: 0, errors: {}, bad: [], maxMs: 0, lastWriteOkAt: 0, started: 0 }
  let stopped = false
  const ops = [
    () => cache.setData(`h${stats.started % 20}`, points(2)),
    () => cache.setData(`w${stats.started % 20}`, points(150)).then(() => (stats.lastWriteOkAt = Date.now())),
    () => cache.getData(`h${stats.started % 20}`),
    () => cache.getData(`w${stats.started % 20}`),
    () => cache.getData('never-written'),
    () => cache.getBatchData(['h1', 'w1', 'w2', 'nope']),
    () => cache.getDataSince(`w${stats.started % 20}`, 1_700_000_000_100),
    () => cache.deleteData(`d${stats.started % 20}`),
  ]
  const known = new Set(Object.values(CODES))
  // Each worker walks through every kind in turn. (Picking by a shared counter aliases:
  // workers whose turns come 8 apart would draw the same hot hit forever, an endless
  // microtask chain that starves the event loop.)
  const worker = async (w) => {
    for (let i = w; !stopped; i++) {
      stats.started++
      const op = ops[i % ops.length]
      const t0 = performance.now()
      try {
        const result = await op()
        if (result === null) stats.nulls++
        else stats.ok++
      } catch (err) {
        if (known.has(err?.code)) stats.errors[err.code] = (stats.errors[err.code] ?? 0) + 1
        else stats.bad.push(String(err?.stack ?? err))
      }
      stats.maxMs = Math.max(stats.maxMs, performance.now() - t0)
    }
  }
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w))
  return {
    stats,
    /** Resets the latency maximum, to measure one phase. */
    phase() {
      stats.maxMs = 0
    },
    /** Stops the workers and resolves true once every operation has settled, false if not within `ms`. */
    async stop(ms = 5000) {
      stopped = true
      return Promise.race([Promise.all(workers).then(() => true), sleep(ms).then(() => false)])
    },
  }
}

async function waitUntil(predicate, ms) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await sleep(2)
  }
  return true
}

function newCache(url, { redis, ...rest } = {}) {
  return new StreamCache({ redis: { url, keyPrefix: 'stress:', ...redis }, ...rest })
}

module.exports = { SHORT, sleep, points, mixedLoad, waitUntil, newCache }
