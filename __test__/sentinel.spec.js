'use strict'

// Redis Sentinel: a primary, a replica and three Sentinels on loopback (scripts/local-redis.js).
// The primary is killed under 64-way load; Sentinel promotes the replica and the cache
// follows it.

const Redis = require('ioredis')
const { StreamCache } = require('..')
const { startLocalSentinel, redisCli } = require('../scripts/local-redis')
const { eventually, openedCaches, quotes, sleep, uniquePrefix } = require('./helpers')

const PASSWORD = 'data-secret-1'
const SENTINEL_PASSWORD = 'sentinel-secret-2'
const DOWN_AFTER_MS = 1000
const IN_FLIGHT = 64

let group
beforeAll(async () => {
  group = await startLocalSentinel({ downAfterMs: DOWN_AFTER_MS, password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD })
})
afterAll(() => group?.stop())

const { track } = openedCaches()

function sentinelOptions(extra = {}) {
  return {
    sentinels: group.sentinels,
    name: group.name,
    password: PASSWORD,
    sentinelPassword: SENTINEL_PASSWORD,
    keyPrefix: uniquePrefix(),
    commandTimeout: 1000,
    connectTimeout: 500,
    ...extra,
  }
}

// What the Sentinels name as primary now.
function namedPrimary() {
  const out = redisCli(group.sentinels[0].port, '--no-auth-warning', '-a', SENTINEL_PASSWORD, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', group.name)
  return out.trim().split('\n').join(':')
}

test('every operation through the primary the Sentinels name; health names it; a replica serves reads', async () => {
  const redis = sentinelOptions()
  const cache = track(new StreamCache({ redis }))
  await cache.setData('A', quotes('A', 2))
  expect(await cache.getBatchData(['A', 'B'])).toEqual({ A: expect.any(Array), B: null })
  await cache.deleteData('A')
  expect(await cache.getData('A')).toBeNull()
  await cache.setData('A', quotes('A', 3))
  expect(await cache.clearAll()).toEqual({ deleted: 1, preserved: 0 })
  const health = await cache.getHealthStatus()
  expect(health).toMatchObject({ status: 'healthy', redisConnected: true, coherence: 'tracking' })
  expect(health.nodes).toEqual([{ address: namedPrimary(), role: 'master', connected: true, error: null }])

  await cache.setData('R', quotes('R', 1))
  const reader = track(new StreamCache({ redis: { ...redis, role: 'slave' } }))
  await eventually(async () => (await reader.getData('R'))?.length, 1)
  expect((await reader.getHealthStatus()).nodes).toEqual([
    { address: `127.0.0.1:${group.replica.port}`, role: 'replica', connected: true, error: null },
  ])
})

test('bad Sentinel options are coded errors; passwords appear nowhere', async () => {
  const bad = [
    [{ sentinels: [] }, RangeError, 'options.redis.sentinels must not be empty'],
    [{ sentinels: 'h:1' }, TypeError, 'options.redis.sentinels must be an array'],
    [{ sentinels: [{ port: '1' }], name: 'x' }, TypeError, 'options.redis.sentinels[0].port must be a number'],
    [{ sentinels: [{ port: 1 }] }, RangeError, 'options.redis.name (the Sentinels\' master group) is required'],
    [{ sentinels: [{ port: 1 }], name: 'x', role: 'boss' }, RangeError, 'options.redis.role must be "master" or "slave"'],
    [{ sentinels: [{ port: 1 }], name: 'x', url: 'redis://h' }, RangeError, 'leave out options.redis.url'],
    [{ sentinels: [{ port: 1 }], name: 'x', cluster: { nodes: ['redis://h'] } }, RangeError, 'either cluster or sentinels'],
  ]
  for (const [redis, ErrorClass, message] of bad) {
    let err
    try {
      new StreamCache({ redis })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ErrorClass)
    expect(err.code).toBe('STREAM_CACHE_INVALID_ARGUMENT')
    expect(err.message).toContain(message)
  }
  const events = []
  const wrong = track(
    new StreamCache({ redis: sentinelOptions({ sentinelPassword: 'wrong-sentinel-secret' }), onMetric: (e) => events.push(e) }),
  )
  await wrong.setData('K', quotes('K', 1))
  const health = await wrong.getHealthStatus()
  expect(health.status).toBe('unhealthy')
  const seen = JSON.stringify([health, events, wrong.stats()])
  for (const secret of ['wrong-sentinel-secret', PASSWORD, SENTINEL_PASSWORD]) expect(seen).not.toContain(secret)
})

// Kills the primary of a fresh group under 64-way setData + getData load and follows the
// cache until it serves from the promoted replica. Returns what was acknowledged and when.
async function failover(cacheOptions) {
  const fresh = await startLocalSentinel({ downAfterMs: DOWN_AFTER_MS, password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD })
  const redis = { ...sentinelOptions(), sentinels: fresh.sentinels }
  const cache = track(new StreamCache({ redis, hotCacheTTL: 600_000, ...cacheOptions }))
  const promoted = `127.0.0.1:${fresh.replica.port}`
  const client = new Redis({ port: fresh.replica.port, password: PASSWORD, db: 1, keyPrefix: `${redis.keyPrefix}stream_cache_warm` })
  try {
    // A hot copy from before, whose warm key is changed on the new primary afterwards.
    await cache.setData('HOT', quotes('OLD', 1))
    expect((await cache.getData('HOT'))[0].s).toBe('OLD')
    const acknowledged = [] // [key, resolved at]
    const rejected = []
    let stop = false
    const worker = async (w) => {
      for (let seq = 0; !stop; seq++) {
        const key = `W${w}:${seq}`
        try {
          await cache.setData(key, quotes(key, 1))
          acknowledged.push([key, Date.now()])
          await cache.getData(key)
        } catch (err) {
          rejected.push([err.code, err.message, Date.now()])
          await sleep(10)
        }
      }
    }
    const workers = Array.from({ length: IN_FLIGHT }, (_, w) => worker(w))
    await sleep(500)
    fresh.primary.process.kill('SIGKILL')
    const killedAt = Date.now()
    let switchedMs = null
    let followedMs = null
    while (followedMs === null) {
      if (Date.now() - killedAt > 30_000) throw new Error('the cache did not follow the new primary within 30 s')
      const named = redisCli(fresh.sentinels[0].port, '--no-auth-warning', '-a', SENTINEL_PASSWORD, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', fresh.name)
      if (switchedMs === null && named.trim().split('\n').join(':') === promoted) switchedMs = Date.now() - killedAt
      const health = await cache.getHealthStatus()
      if (health.nodes[0]?.address === promoted && health.status === 'healthy') followedMs = Date.now() - killedAt
      else await sleep(20)
    }
    await sleep(300)
    stop = true
    await Promise.all(workers)

    const missing = async (keys) => {
      const found = keys.length === 0 ? [] : await client.pipeline(keys.map((k) => ['exists', k])).exec()
      return found.filter(([, n]) => n === 0).length
    }
    const before = acknowledged.filter(([, at]) => at < killedAt).map(([k]) => k)
    const after = acknowledged.filter(([, at]) => at >= killedAt + followedMs).map(([k]) => k)
    const result = {
      switchedMs, followedMs, followedAt: killedAt + followedMs, before: before.length, lostBefore: await missing(before),
      after: after.length, lostAfter: await missing(after), rejected,
    }

    // The hot tier was emptied at the switch: a change made on the new primary is read at once.
    await client.set('HOT', JSON.stringify([{ s: 'NEW', p: 1, v: 1, t: 1 }]))
    expect((await cache.getData('HOT'))[0].s).toBe('NEW')
    // And tracking is on again on the new connection: the next foreign write reaches it.
    await client.set('HOT', JSON.stringify([{ s: 'NEWER', p: 1, v: 1, t: 1 }]))
    await eventually(async () => (await cache.getData('HOT'))[0].s, 'NEWER')
    return result
  } finally {
    client.disconnect()
    fresh.stop()
  }
}

const report = (mode, r) =>
  console.log(
    `sentinel failover (${mode}): down-after ${DOWN_AFTER_MS} ms; Sentinels switched ${r.switchedMs} ms after SIGKILL, ` +
      `the cache followed at ${r.followedMs} ms; ${r.before} setData resolved before the kill, ${r.lostBefore} of them ` +
      `missing on the new primary; ${r.after} after the follow, ${r.lostAfter} missing; ${r.rejected.length} rejected`,
  )

test('the primary dies under 64-way load: the cache follows the promoted replica, nothing stale, nothing hangs', async () => {
  // strictWarmWrites: a resolved setData is one Redis acknowledged.
  const r = await failover({ strictWarmWrites: true })
  report('strictWarmWrites', r)
  // Redis replicates asynchronously: writes resolved just before the kill may be lost (reported above).
  expect(r.lostAfter).toBe(0)
  expect(r.after).toBeGreaterThan(IN_FLIGHT)
  expect(r.rejected.every(([code]) => code === 'STREAM_CACHE_REDIS_ERROR' || code === 'STREAM_CACHE_TIMEOUT')).toBe(true)
})

test('waitForReplicas: 1 — no resolved write is lost to the failover; without a replica, writes reject', async () => {
  const r = await failover({ strictWarmWrites: true, waitForReplicas: 1 })
  report('strictWarmWrites + waitForReplicas: 1', r)
  expect(r.lostBefore).toBe(0)
  expect(r.before).toBeGreaterThan(IN_FLIGHT)
  // The promoted replica has no replica of its own: nothing written after the switch resolves.
  expect(r.after).toBe(0)
  const afterSwitch = r.rejected.filter(([, , at]) => at >= r.followedAt)
  // Each WAIT holds the connection for half the commandTimeout, so bursts queued behind it time out.
  const unreplicated = afterSwitch.filter(([code, message]) => code === 'STREAM_CACHE_REDIS_ERROR' && message.includes('waitForReplicas'))
  expect(unreplicated.length).toBeGreaterThan(0)
  expect(afterSwitch.filter(([code]) => code !== 'STREAM_CACHE_TIMEOUT')).toEqual(unreplicated)
})
