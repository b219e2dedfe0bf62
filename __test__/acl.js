'use strict'

// What a least-privilege ACL user needs, and a check that it runs every operation: shared
// by the ACL tests on one server (secure.spec.js) and on a cluster (failover.spec.js,
// whose cluster it borrows instead of starting a third).

const { redisCli } = require('../scripts/local-redis')
const { quotes, settled } = require('./helpers')

// Reads that reach Redis: a value written, the hot tier bypassed, read back.
async function roundTrip(cache, key = 'RT') {
  await cache.setData(key, quotes(key, 3), 'warm')
  return cache.getData(key)
}

// What the cache needs and nothing more, on its own key pattern (README, "ACL users").
const CACHE_USER_RULES = ['resetkeys', '~stream:*', 'resetchannels', '-@all',
  '+get', '+setex', '+mget', '+del', '+unlink', '+scan', '+ttl', '+ping', '+select', '+client|tracking']
const CLUSTER_USER_RULES = [...CACHE_USER_RULES, '+cluster|slots', '+cluster|nodes']
const ACL_PASSWORD = 'correct-horse-battery-staple-71'

// Every operation through the ACL user, with no failure reported and no ACL denial logged
// on `ports` (the client's library-name announcement on Redis >= 7.2 aside: it is sent
// and its refusal ignored).
async function runsEveryOperation(cache, events, ports) {
  expect(await roundTrip(cache, 'AAPL')).toHaveLength(3)
  expect(Object.keys(await cache.getBatchData(['AAPL', 'MSFT', 'GOOG']))).toEqual(['AAPL', 'MSFT', 'GOOG'])
  await cache.deleteData('AAPL')
  expect(await cache.getData('AAPL')).toBeNull()
  await cache.setData('GOOG', quotes('GOOG', 1))
  expect(await cache.clearAll({ preserveActive: true, maxAge: 0 })).toEqual({ deleted: 1, preserved: 0 })
  expect((await cache.getHealthStatus()).status).toBe('healthy')
  await settled(cache)
  expect(events.filter((e) => e.metricName.endsWith('_failed') && e.tags.layer !== 'miss')).toEqual([])
  for (const port of ports) {
    const denied = redisCli(port, 'ACL', 'LOG').split('\n').filter((line, i, lines) => lines[i - 1] === 'object')
    expect(denied.filter((command) => command !== 'client|setinfo')).toEqual([])
  }
}

module.exports = { ACL_PASSWORD, CACHE_USER_RULES, CLUSTER_USER_RULES, roundTrip, runsEveryOperation }
