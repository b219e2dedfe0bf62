'use strict'

// A master of a 3-master, 3-replica cluster dies; its replica takes over, and the cache
// recovers by itself: the client learns the new slot map and every key is readable again.
// Before that, the same cluster serves the least-privilege ACL user's test (one cluster
// fewer per run).

const Redis = require('ioredis')
const { StreamCache } = require('..')
const { startLocalCluster, redisCli } = require('../scripts/local-redis')
const { quotes, settled, sleep, uniquePrefix } = require('./helpers')
const { ACL_PASSWORD, CLUSTER_USER_RULES, runsEveryOperation } = require('./acl')

let cluster
beforeAll(async () => {
  cluster = await startLocalCluster({ masters: 3, replicas: 1 })
})
afterAll(() => cluster?.stop())

const replOffset = (port, field) => Number(new RegExp(`${field}:(\\d+)`).exec(redisCli(port, 'INFO', 'replication'))?.[1])

test('an ACL user limited to the cache keys, allowed the two topology commands, runs every operation', async () => {
  for (const port of cluster.ports) redisCli(port, 'ACL', 'SETUSER', 'quotes', 'on', `>${ACL_PASSWORD}`, ...CLUSTER_USER_RULES)
  const events = []
  const redis = { cluster: { nodes: cluster.nodes }, username: 'quotes', password: ACL_PASSWORD }
  const cache = new StreamCache({ redis, maxHotCacheSize: 0, onMetric: (e) => events.push(e) })
  try {
    await runsEveryOperation(cache, events, cluster.ports)
  } finally {
    await cache.destroy()
  }
})

test('killing a master that has a replica: the cache recovers after failover', async () => {
  const commandTimeout = 1000
  const events = []
  const redis = { cluster: { nodes: cluster.nodes }, keyPrefix: uniquePrefix(), commandTimeout, connectTimeout: 500 }
  const cache = new StreamCache({ redis, maxHotCacheSize: 0, onMetric: (e) => events.push(e) })
  // A second instance holding hot copies (coherence: "tracking"), for the no-gap rule.
  const watcher = new StreamCache({ redis, hotCacheTTL: 600_000 })
  try {
    const keys = Array.from({ length: 200 }, (_, i) => `SYM${i}`)
    for (const key of keys) await cache.setData(key, quotes(key, 2))
    for (const key of keys.slice(0, 30)) expect((await watcher.getData(key))[0].s).toBe(key)
    const before = await cache.getHealthStatus()
    const masters = before.nodes.filter((n) => n.role === 'master')
    expect(before.status).toBe('healthy')
    expect(masters).toHaveLength(3)
    expect(before.nodes.filter((n) => n.role === 'replica')).toHaveLength(3)

    // The victim's replica must hold every write before the master dies.
    const victim = Number(masters[0].address.split(':')[1])
    const replica = cluster.ports.find((p) => redisCli(p, 'INFO', 'replication').includes(`master_port:${victim}`))
    while (replOffset(replica, 'slave_repl_offset') < replOffset(victim, 'master_repl_offset')) await sleep(20)
    cluster.servers[cluster.ports.indexOf(victim)].process.kill('SIGKILL')
    const killedAt = Date.now()

    // During the failover reads may miss, but nothing throws or hangs. Only batch reads run
    // here: they alone must lead the client to the new slot map.
    let batch = {}
    const missing = () => keys.filter((key) => batch[key]?.[0]?.s !== key)
    while (missing().length > 0) {
      if (Date.now() - killedAt > 30_000) {
        const view = redisCli(replica, 'CLUSTER', 'NODES')
        throw new Error(`${missing().length} keys still unreadable 30 s after the kill; cluster:\n${view}`)
      }
      batch = await cache.getBatchData(keys)
      if (missing().length > 0) await sleep(100)
    }
    const recoveredMs = Date.now() - killedAt
    console.log(`failover: all 200 keys readable again ${recoveredMs} ms after SIGKILL of master :${victim}`)

    // The connection made during the failover is replaced once a commandTimeout passes
    // without trouble (src/warm.rs, ClusterLink); from then on everything is exact again.
    await sleep(commandTimeout + 100)

    const after = await cache.getHealthStatus()
    expect(after.status).toBe('healthy')
    expect(after.nodes).toEqual(
      expect.arrayContaining([
        { address: `127.0.0.1:${victim}`, role: 'master', connected: false, error: expect.any(String) },
        { address: `127.0.0.1:${replica}`, role: 'master', connected: true, error: null },
      ]),
    )
    for (const key of keys.slice(0, 20)) expect((await cache.getData(key))[0].s).toBe(key)
    await settled(cache)
    events.length = 0
    await cache.setData('AFTER', quotes('AFTER', 1))
    expect((await cache.getData('AFTER'))[0].s).toBe('AFTER')
    expect(await cache.clearAll()).toEqual({ deleted: 201, preserved: 0 })
    await settled(cache)
    expect(events.map((e) => e.metricName)).toEqual(['cache_set_success', 'cache_get_success'])

    // Foreign writes after the failover, some on the promoted replica: the watcher's copies
    // from before the kill are never served once it is connected again.
    const writer = new Redis.Cluster([{ host: '127.0.0.1', port: replica }])
    try {
      for (const key of keys.slice(0, 30)) {
        await writer.setex(`${redis.keyPrefix}stream_cache_warm${key}`, 300, JSON.stringify([{ s: key, p: 999, v: 1, t: 1 }]))
      }
    } finally {
      writer.disconnect()
    }
    const deadline = Date.now() + 10_000
    const stale = async () => {
      const left = []
      for (const key of keys.slice(0, 30)) if ((await watcher.getData(key))?.[0]?.p !== 999) left.push(key)
      return left
    }
    let left = await stale()
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(50)
      left = await stale()
    }
    expect(left).toEqual([])
  } finally {
    await cache.destroy()
    await watcher.destroy()
  }
})
