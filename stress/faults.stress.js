'use strict'

// Redis outages and hostile callbacks against real redis-server processes this file owns.

const { startLocalRedis, freePort } = require('../scripts/local-redis')
const { CODES } = require('..')
const { record } = require('./figures')
const { SHORT, sleep, points, mixedLoad, waitUntil, newCache } = require('./harness')

const COMMAND_TIMEOUT = 1000
// Timer and scheduling slack on a loaded 2-core machine, on top of commandTimeout.
const SLACK_MS = 250

test('Redis killed (SIGKILL) under 64-way load and restarted 3 s later', async () => {
  let redis = await startLocalRedis()
  const cache = newCache(redis.url, { redis: { commandTimeout: COMMAND_TIMEOUT }, strictWarmWrites: true, onMetric: () => {} })
  const load = mixedLoad(cache)
  await sleep(1000)
  const before = { ...load.stats, errors: { ...load.stats.errors } }
  load.phase()
  redis.process.kill('SIGKILL')
  await sleep(3000)
  const outageMaxMs = load.stats.maxMs
  const outageOps = load.stats.ok + load.stats.nulls - before.ok - before.nulls
  redis = await startLocalRedis({ port: redis.port })
  const upAt = Date.now()
  const recovered = await waitUntil(() => load.stats.lastWriteOkAt > upAt, 10_000)
  const recoveryMs = load.stats.lastWriteOkAt - upAt
  await sleep(300)
  const settled = await load.stop()
  await cache.destroy()
  redis.stop()

  const failed = Object.values(load.stats.errors).reduce((a, b) => a + b, 0)
  record('SIGKILL outage, 64-way', 'operations settled during the 3 s outage', outageOps + failed - Object.values(before.errors).reduce((a, b) => a + b, 0))
  record('SIGKILL outage, 64-way', 'slowest operation during the outage', `${outageMaxMs.toFixed(0)} ms`, `<= commandTimeout ${COMMAND_TIMEOUT} ms (+${SLACK_MS})`)
  record('SIGKILL outage, 64-way', 'coded errors (all phases)', JSON.stringify(load.stats.errors))
  record('SIGKILL outage, 64-way', 'recovery after restart', `${recoveryMs} ms`, '< 1000 ms')
  expect(settled).toBe(true)
  expect(load.stats.bad).toEqual([])
  expect(outageMaxMs).toBeLessThanOrEqual(COMMAND_TIMEOUT + SLACK_MS)
  expect(failed).toBeGreaterThan(0)
  expect(recovered).toBe(true)
  expect(recoveryMs).toBeLessThan(1000)
})

test('Redis paused (SIGSTOP) for longer than commandTimeout, then resumed', async () => {
  const redis = await startLocalRedis()
  const cache = newCache(redis.url, { redis: { commandTimeout: COMMAND_TIMEOUT }, strictWarmWrites: true })
  const load = mixedLoad(cache)
  await sleep(500)
  load.phase()
  const timeoutsBefore = load.stats.errors[CODES.TIMEOUT] ?? 0
  redis.process.kill('SIGSTOP')
  await sleep(COMMAND_TIMEOUT * 2)
  const health = await cache.getHealthStatus()
  const pausedMaxMs = load.stats.maxMs
  redis.process.kill('SIGCONT')
  const resumedAt = Date.now()
  const recovered = await waitUntil(() => load.stats.lastWriteOkAt > resumedAt, 10_000)
  const recoveryMs = load.stats.lastWriteOkAt - resumedAt
  const settled = await load.stop()
  await cache.destroy()
  redis.stop()

  const timeouts = (load.stats.errors[CODES.TIMEOUT] ?? 0) - timeoutsBefore
  record('SIGSTOP pause, 64-way', `STREAM_CACHE_TIMEOUT rejections during a ${COMMAND_TIMEOUT * 2} ms pause`, timeouts)
  record('SIGSTOP pause, 64-way', 'slowest operation while paused', `${pausedMaxMs.toFixed(0)} ms`, `<= ${COMMAND_TIMEOUT} ms (+${SLACK_MS})`)
  record('SIGSTOP pause, 64-way', 'health while paused', `${health.status}: ${health.lastError}`)
  record('SIGSTOP pause, 64-way', 'recovery after SIGCONT', `${recoveryMs} ms`, '< 1000 ms')
  expect(settled).toBe(true)
  expect(load.stats.bad).toEqual([])
  expect(timeouts).toBeGreaterThan(0)
  expect(pausedMaxMs).toBeLessThanOrEqual(COMMAND_TIMEOUT + SLACK_MS)
  expect(health).toMatchObject({ status: 'unhealthy', redisConnected: false })
  expect(health.lastError).toMatch(/did not answer within/)
  expect(recovered).toBe(true)
  expect(recoveryMs).toBeLessThan(1000)
})

test('Redis not reachable at start, appearing later', async () => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const t0 = performance.now()
  const cache = newCache(url, { strictWarmWrites: true })
  const constructMs = performance.now() - t0
  let slowest = 0
  const codes = new Set()
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    const [get, set] = await Promise.allSettled([cache.getData(`absent${i}`), cache.setData('x', points(1))])
    slowest = Math.max(slowest, performance.now() - t)
    expect(get).toEqual({ status: 'fulfilled', value: null })
    codes.add(set.reason?.code)
  }
  const down = await cache.getHealthStatus()
  const redis = await startLocalRedis({ port })
  const upAt = Date.now()
  let health = down
  while (health.status !== 'healthy' && Date.now() - upAt < 10_000) health = await cache.getHealthStatus()
  const healthyAfter = Date.now() - upAt
  await cache.setData('x', points(1))
  expect((await cache.getData('x'))[0].s).toBe('S')
  await cache.destroy()
  redis.stop()

  record('Redis absent at start', 'constructor time', `${constructMs.toFixed(2)} ms`, 'no wait for Redis')
  record('Redis absent at start', 'slowest get+set while absent', `${slowest.toFixed(0)} ms`, '< commandTimeout 3000 ms')
  record('Redis absent at start', 'healthy after Redis appeared', `${healthyAfter} ms`)
  expect(constructMs).toBeLessThan(100)
  expect([...codes]).toEqual([CODES.REDIS_ERROR])
  expect(slowest).toBeLessThan(3000)
  expect(down).toMatchObject({ status: 'unhealthy', redisConnected: false })
  expect(health.status).toBe('healthy')
})

test('destroy() with 10,000 operations in flight', async () => {
  const redis = await startLocalRedis()
  let destroyed = false
  let callsAfter = 0
  const cache = newCache(redis.url, { onMetric: () => destroyed && callsAfter++ })
  await cache.setData('hot', points(2))
  const ops = []
  for (let i = 0; i < 10_000; i++) {
    const op = [() => cache.setData(`w${i % 100}`, points(150)), () => cache.getData(`w${i % 100}`), () => cache.getData('hot'), () => cache.getBatchData(['hot', `w${i % 7}`])][i % 4]
    ops.push(op().then(() => 'resolved', (e) => e.code))
  }
  const t0 = performance.now()
  await cache.destroy()
  destroyed = true
  const outcomes = await Promise.race([Promise.all(ops), sleep(1000).then(() => null)])
  const settleMs = performance.now() - t0
  await sleep(100)
  redis.stop()

  const counts = outcomes && outcomes.reduce((m, o) => ({ ...m, [o]: (m[o] ?? 0) + 1 }), {})
  record('destroy() with 10,000 in flight', 'all settled after destroy()', `${settleMs.toFixed(1)} ms`, '< 1000 ms')
  record('destroy() with 10,000 in flight', 'outcomes', JSON.stringify(counts))
  record('destroy() with 10,000 in flight', 'callbacks after destroy()', callsAfter, '0')
  expect(outcomes).not.toBeNull()
  expect(Object.keys(counts).sort()).toEqual(expect.arrayContaining([CODES.DESTROYED]))
  expect(Object.keys(counts).every((k) => k === 'resolved' || k === CODES.DESTROYED)).toBe(true)
  expect(callsAfter).toBe(0)
})

test('a callback that throws, and one that blocks 100 ms per event, under load', async () => {
  const redis = await startLocalRedis()
  const seconds = SHORT ? 3 : 10
  const max = 100
  const results = []
  for (const kind of ['throws', 'blocks']) {
    let maxPendingSeen = 0
    let calls = 0
    const cache = newCache(redis.url, {
      maxPendingMetrics: max,
      onMetric: () => {
        calls++
        maxPendingSeen = Math.max(maxPendingSeen, cache.stats().pendingMetrics)
        if (kind === 'throws') throw new Error('listener bug')
        const until = performance.now() + 100
        while (performance.now() < until);
      },
    })
    const rss0 = process.memoryUsage().rss
    const load = mixedLoad(cache)
    await sleep(seconds * 1000)
    const settled = await load.stop(30_000)
    const rssGrowth = process.memoryUsage().rss - rss0
    const stats = cache.stats()
    await cache.destroy()
    results.push({ kind, settled, calls, maxPendingSeen, stats, rssGrowth, bad: load.stats.bad })
    record(`callback ${kind}, ${seconds} s of 64-way load`, 'callback calls / failed / dropped', `${calls} / ${stats.failedMetrics} / ${stats.droppedMetrics}`)
    record(`callback ${kind}, ${seconds} s of 64-way load`, 'most pending events seen', maxPendingSeen, `<= maxPendingMetrics ${max}`)
    record(`callback ${kind}, ${seconds} s of 64-way load`, 'RSS growth', `${(rssGrowth / 2 ** 20).toFixed(1)} MiB`)
  }
  redis.stop()
  for (const r of results) {
    expect(r.settled).toBe(true)
    expect(r.bad).toEqual([])
    expect(r.maxPendingSeen).toBeLessThanOrEqual(max)
    expect(r.stats.pendingMetrics).toBeLessThanOrEqual(max)
    expect(r.calls).toBeGreaterThan(0)
  }
  const [throws, blocks] = results
  expect(throws.stats.failedMetrics).toBe(throws.calls)
  expect(blocks.stats.droppedMetrics).toBeGreaterThan(0)
})
