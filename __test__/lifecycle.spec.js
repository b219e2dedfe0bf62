'use strict'

// One test per lifecycle promise of docs/contract.md, "Lifecycle".

const path = require('node:path')
const Redis = require('ioredis')
const { StreamCache, CODES } = require('..')
const { cacheOptions, redisUrl, settled, quotes, sleep, waitFor, runNode, rng } = require('./helpers')

const fixture = (name) => path.join(__dirname, 'fixtures', name)

test('1. destroy() is idempotent and safe at any time', async () => {
  const cache = new StreamCache(cacheOptions({ onMetric: () => {} }))
  await Promise.all([cache.destroy(), cache.destroy()])
  await cache.destroy()
  expect(cache.stats().destroyed).toBe(true)
  const fresh = new StreamCache(cacheOptions())
  const inFlight = fresh.getData('x')
  fresh.destroy()
  await expect(fresh.destroy()).resolves.toBeUndefined()
  await expect(inFlight).rejects.toMatchObject({ code: CODES.DESTROYED })
})

test('2. the callback is never called after destroy(), over 1,000 randomized interleavings', async () => {
  const url = redisUrl()
  const prefix = `interleave:${process.pid}:`
  const seed = new StreamCache({ redis: { url, keyPrefix: prefix } })
  for (let i = 0; i < 5; i++) await seed.setData(`W${i}`, quotes(`W${i}`, 150))
  await seed.destroy()

  let callsAfterDestroy = 0
  let callsBeforeDestroy = 0
  let unexpected = []
  const trials = 1000
  for (let trial = 1; trial <= trials; trial++) {
    const { int: r } = rng(trial * 7919)
    let destroyed = false
    const cache = new StreamCache({
      redis: { url, keyPrefix: prefix },
      maxPendingMetrics: 1 + r(20_000),
      onMetric: () => (destroyed ? callsAfterDestroy++ : callsBeforeDestroy++),
    })
    const ops = []
    const track = (p) =>
      ops.push(p.catch((e) => (e.code === CODES.DESTROYED ? null : unexpected.push(`${trial}: ${e.code} ${e.message}`))))
    const op = () => {
      switch (r(8)) {
        case 0: return track(cache.setData(`H${r(5)}`, quotes('H', 1 + r(3))))
        case 1: return track(cache.setData(`W${r(5)}`, quotes('W', 150)))
        case 2: return track(cache.getData(`H${r(5)}`))
        case 3: return track(cache.getData(`W${r(8)}`))
        case 4: return track(cache.getBatchData([`W${r(5)}`, `H${r(5)}`, 'none']))
        case 5: return track(cache.getDataSince(`W${r(5)}`, r(100)))
        case 6: return track(cache.getHealthStatus())
        default: return track(cache.reportSystemMetrics())
      }
    }
    const bursts = 1 + r(6)
    const destroyAfterBurst = r(bursts + 1)
    for (let b = 0; b < bursts; b++) {
      const size = 1 + r(40)
      for (let i = 0; i < size; i++) op()
      if (b === destroyAfterBurst) break
      switch (r(4)) {
        case 0: await null; break
        case 1: await new Promise((resolve) => setImmediate(resolve)); break
        case 2: await sleep(r(3)); break
        default: break
      }
    }
    const done = cache.destroy()
    destroyed = true
    await done
    const settled = await Promise.race([Promise.all(ops).then(() => true), sleep(5000).then(() => false)])
    if (!settled) unexpected.push(`${trial}: an operation did not settle`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await sleep(50)
  console.log(
    `lifecycle: ${callsAfterDestroy} callbacks after destroy over ${trials} randomized trials ` +
      `(${callsBeforeDestroy} delivered before destroy)`,
  )
  expect(unexpected).toEqual([])
  expect(callsBeforeDestroy).toBeGreaterThan(1000)
  expect(callsAfterDestroy).toBe(0)
})

test('3. destroy() releases the callback so it can be garbage-collected', async () => {
  const { code, stdout, stderr } = await runNode(['--expose-gc', fixture('callback-gc.js')])
  expect(stderr).toBe('')
  expect(code).toBe(0)
  expect(stdout.trim().split('\n')).toEqual(['RETAINED', 'COLLECTED', 'destroyed=true'])
})

test('releaseMetrics(): operations go on and the callback is never called again, over 300 randomized interleavings', async () => {
  const url = redisUrl()
  const prefix = `release:${process.pid}:`
  let callsAfterRelease = 0
  let callsBeforeRelease = 0
  let dropped = 0
  const unexpected = []
  for (let trial = 1; trial <= 300; trial++) {
    const { int: r } = rng(trial * 104729)
    let released = false
    const cache = new StreamCache({
      redis: { url, keyPrefix: prefix },
      maxPendingMetrics: 1 + r(5_000),
      onMetric: () => (released ? callsAfterRelease++ : callsBeforeRelease++),
    })
    const ops = []
    const burst = () => {
      for (let i = 0, n = 1 + r(30); i < n; i++) {
        const key = `K${r(4)}`
        if (r(2) === 0) ops.push(cache.setData(key, quotes(key, 1 + r(3))))
        else ops.push(cache.getData(key))
      }
    }
    burst()
    switch (r(3)) {
      case 0: await new Promise((resolve) => setImmediate(resolve)); break
      case 1: await sleep(r(3)); break
      default: break
    }
    burst()
    cache.releaseMetrics()
    released = true
    const left = cache.stats().pendingMetrics
    if (left !== 0) unexpected.push(`${trial}: ${left} events still queued right after releaseMetrics()`)
    burst()
    const results = await Promise.allSettled(ops)
    for (const res of results) if (res.status === 'rejected') unexpected.push(`${trial}: ${res.reason.code} ${res.reason.message}`)
    // Written after the release, read back from Redis (hot tier off the path for W keys).
    await cache.setData(`W${trial}`, quotes('W', 150))
    const back = await cache.getData(`W${trial}`)
    if (back?.length !== 150) unexpected.push(`${trial}: read back ${back?.length}`)
    const stats = cache.stats()
    if (stats.pendingMetrics !== 0) unexpected.push(`${trial}: ${stats.pendingMetrics} events still pending`)
    dropped += stats.droppedMetrics
    cache.releaseMetrics()
    await cache.destroy()
  }
  await sleep(50)
  expect(unexpected).toEqual([])
  console.log(`lifecycle: ${callsAfterRelease} callbacks after releaseMetrics() over 300 trials (${callsBeforeRelease} before, ${dropped} dropped)`)
  expect(callsBeforeRelease).toBeGreaterThan(100)
  expect(dropped).toBeGreaterThan(100)
  expect(callsAfterRelease).toBe(0)
})

test('releaseMetrics() lets the callback be garbage-collected while the cache serves', async () => {
  const { code, stdout, stderr } = await runNode(['--expose-gc', fixture('callback-gc.js'), 'release'])
  expect(stderr).toBe('')
  expect(code).toBe(0)
  expect(stdout.trim().split('\n')).toEqual(['RETAINED', 'COLLECTED', 'serving=true', 'destroyed=true'])
})

test('3. destroy() closes the Redis connection', async () => {
  const admin = new Redis(redisUrl())
  const db = 7
  const clientsInDb = async () => (await admin.client('LIST')).split('\n').filter((l) => l.includes(` db=${db} `)).length
  try {
    const before = await clientsInDb()
    const cache = new StreamCache(cacheOptions({ redis: { db } }))
    await cache.getData('anything')
    expect(await clientsInDb()).toBe(before + 1)
    await cache.destroy()
    const deadline = Date.now() + 3000
    while ((await clientsInDb()) > before && Date.now() < deadline) await sleep(20)
    expect(await clientsInDb()).toBe(before)
  } finally {
    admin.disconnect()
  }
})

test('an unreferenced cache is kept alive by its own pending operations, even under GC', async () => {
  const { code, stdout, stderr } = await runNode(['--expose-gc', fixture('gc-while-pending.js')])
  expect({ code, stderr, stdout: stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'DONE' })
})

test('idle caches dropped without destroy() are garbage-collected', async () => {
  const { code, stdout, stderr } = await runNode(['--expose-gc', fixture('forgotten-caches.js')])
  expect({ code, stderr, stdout: stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'COLLECTED 200/200' })
})

// Node lists timers and sockets here but not napi ThreadsafeFunctions; that those never
// hold the process is what the "exits by itself" tests check.
test('3. after destroy() the cache leaves no active resource that Node reports', async () => {
  const countByType = () => process.getActiveResourcesInfo().reduce((m, t) => m.set(t, (m.get(t) ?? 0) + 1), new Map())
  const before = countByType()
  const cache = new StreamCache(cacheOptions({ cleanupInterval: 10, onMetric: () => {} }))
  await cache.setData('A', quotes('A', 1))
  await cache.getBatchData(['A', 'B'])
  await cache.getHealthStatus()
  await cache.destroy()
  await sleep(20)
  // Other tests' handles may close meanwhile; none may have been added.
  const grown = [...countByType()].filter(([type, n]) => n > (before.get(type) ?? 0))
  expect(grown).toEqual([])
})

test('4. operations in flight settle at destroy(); later calls reject with STREAM_CACHE_DESTROYED', async () => {
  const cache = new StreamCache(cacheOptions({ onMetric: () => {} }))
  await cache.setData('hot', quotes('H', 1))
  const inFlight = []
  for (let i = 0; i < 200; i++) {
    inFlight.push(cache.setData(`w${i}`, quotes('W', 150)))
    inFlight.push(cache.getData(`w${i}`))
    inFlight.push(cache.getBatchData([`w${i}`, 'hot']))
  }
  inFlight.push(cache.getHealthStatus(), cache.clearAll(), cache.deleteData('hot'))
  await cache.destroy()
  const results = await Promise.race([Promise.allSettled(inFlight), sleep(2000).then(() => 'hung')])
  expect(results).not.toBe('hung')
  for (const r of results) {
    if (r.status === 'rejected') expect(r.reason.code).toBe(CODES.DESTROYED)
  }
  for (const call of [
    () => cache.getData('hot'),
    () => cache.setData('x', quotes('X', 1)),
    () => cache.getDataSince('x', 0),
    () => cache.getBatchData(['x']),
    () => cache.deleteData('x'),
    () => cache.clearAll(),
    () => cache.getHealthStatus(),
    () => cache.reportSystemMetrics(),
  ]) {
    const err = await call().catch((e) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe(CODES.DESTROYED)
  }
})

// Held open, it would run into runNode's timeout (a kill, not a time limit on the exit).
test('5. a script that never calls destroy() exits by itself after its last line', async () => {
  const { code, signal, stdout, stderr } = await runNode([fixture('never-destroyed.js')], { timeoutMs: 20_000 })
  expect(stderr).toBe('')
  expect(signal).toBeNull()
  expect(code).toBe(0)
  expect(stdout).toMatch(/^LAST_LINE \d+$/m)
})

test('6. a throwing callback neither crashes nor stops later deliveries', async () => {
  let calls = 0
  const cache = new StreamCache(
    cacheOptions({
      onMetric: () => {
        calls++
        throw new Error('listener bug')
      },
    }),
  )
  await cache.setData('A', quotes('A', 1))
  for (let i = 0; i < 20; i++) await cache.getData('A')
  await settled(cache)
  expect(calls).toBe(21)
  expect(cache.stats()).toMatchObject({ emittedMetrics: 21, failedMetrics: 21 })
  await cache.getData('A')
  await settled(cache)
  expect(calls).toBe(22)
  await cache.destroy()
})

test('7. pending events are bounded by maxPendingMetrics; the rest are dropped and counted', async () => {
  const seen = []
  const cache = new StreamCache(cacheOptions({ maxPendingMetrics: 100, onMetric: (e) => seen.push(e) }))
  await cache.setData('A', quotes('A', 1))
  await settled(cache)
  seen.length = 0
  for (let i = 0; i < 5000; i++) cache.getData('A')
  expect(cache.stats()).toMatchObject({ pendingMetrics: 100, droppedMetrics: 4900 })
  await settled(cache)
  expect(seen).toHaveLength(100)
  expect(cache.stats()).toMatchObject({ pendingMetrics: 0, droppedMetrics: 4900 })
  expect(cache.stats().meanMetricLatencyMs).toBeGreaterThan(0)

  // With the JS thread blocked, Rust keeps completing writes; the queue must stay at 100.
  const writes = []
  for (let i = 0; i < 300; i++) writes.push(cache.setData(`w${i}`, quotes('W', 150)))
  // The writes go out to Redis as one pipeline at the end of this loop turn.
  await new Promise((resolve) => setImmediate(resolve))
  const giveUp = Date.now() + 10_000
  while (cache.stats().droppedMetrics < 4900 + 200 && Date.now() < giveUp);
  expect(cache.stats()).toMatchObject({ pendingMetrics: 100, droppedMetrics: 4900 + 200 })
  await Promise.all(writes)
  await cache.destroy()
})

test('7. a slow listener does not hold back the promises: events are fed in small drains', async () => {
  let calls = 0
  const cache = new StreamCache(
    cacheOptions({
      onMetric: () => {
        calls++
        const until = performance.now() + 20
        while (performance.now() < until);
      },
    }),
  )
  await cache.setData('hot', quotes('H', 1))
  await cache.setData('warm', quotes('W', 150))
  await settled(cache)
  calls = 0
  for (let i = 0; i < 200; i++) cache.getData('hot')
  let callsBeforeRead
  await cache.getData('warm').then(() => (callsBeforeRead = calls))
  await waitFor(() => calls === 201, 20_000)
  expect(callsBeforeRead).toBeLessThan(200)
  expect(cache.stats()).toMatchObject({ droppedMetrics: 0, emittedMetrics: 203 })
  await cache.destroy()
})

test('8. terminating a worker with thousands of queued events, 100 times, neither crashes nor hangs', async () => {
  const { code, signal, stdout, stderr } = await runNode([fixture('worker-terminate.js'), '100'], { timeoutMs: 120_000 })
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' })
  expect(stdout.trim()).toBe('TERMINATED 100')
})
