'use strict'

// docs/contract.md, "Bad input and errors": wrong types and ranges get a coded TypeError/RangeError naming the argument;
// nothing crashes and nothing cached is lost.

const { StreamCache, CODES } = require('..')
const { cacheOptions, quotes } = require('./helpers')

let cache
beforeAll(async () => {
  cache = new StreamCache(cacheOptions())
  await cache.setData('KEEP', quotes('KEEP', 3))
  await cache.setData('KEEP.WARM', quotes('KEEP', 150))
})
afterAll(() => cache.destroy())

async function expectCoded(promise, ErrorClass, mentions) {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e) => e,
  )
  expect(err).toBeInstanceOf(ErrorClass)
  expect(err.code).toBe(CODES.INVALID_ARGUMENT)
  expect(err.message).toContain(mentions)
}

test.each([
  ['getData', (c) => c.getData(undefined), TypeError, 'key'],
  ['getData', (c) => c.getData(''), TypeError, 'key'],
  ['getData', (c) => c.getData(12), TypeError, 'key'],
  ['getData', (c) => c.getData({ toString: () => 'KEEP' }), TypeError, 'key'],
  ['setData', (c) => c.setData(null, quotes('A', 1)), TypeError, 'key'],
  ['setData', (c) => c.setData('A', 'not an array'), TypeError, 'data'],
  ['setData', (c) => c.setData('A', { length: 2 }), TypeError, 'data'],
  ['setData', (c) => c.setData('A', quotes('A', 1), 'lukewarm'), RangeError, 'priority'],
  ['setData', (c) => c.setData('A', quotes('A', 1), 3), TypeError, 'priority'],
  ['setData', (c) => c.setData('A', [{ price: 10n }]), TypeError, 'JSON'],
  ['getDataSince', (c) => c.getDataSince('KEEP', '5'), TypeError, 'since'],
  ['getDataSince', (c) => c.getDataSince('KEEP', NaN), RangeError, 'since'],
  ['getDataSince', (c) => c.getDataSince('KEEP', Infinity), RangeError, 'since'],
  ['getBatchData', (c) => c.getBatchData('KEEP'), TypeError, 'keys'],
  ['getBatchData', (c) => c.getBatchData(['KEEP', 7]), TypeError, 'keys[1]'],
  ['deleteData', (c) => c.deleteData([]), TypeError, 'key'],
  ['clearAll', (c) => c.clearAll({ maxAge: -1 }), RangeError, 'maxAge'],
  ['clearAll', (c) => c.clearAll('all'), TypeError, 'options'],
])('%s rejects bad input (%#)', async (_name, call, ErrorClass, mentions) => {
  await expectCoded(call(cache), ErrorClass, mentions)
})

test.each([
  [{ redis: { port: 0 } }, RangeError, 'redis.port'],
  [{ redis: { port: 65536 } }, RangeError, 'redis.port'],
  [{ redis: { port: '6379' } }, TypeError, 'redis.port'],
  [{ redis: { url: 'not a url' } }, TypeError, 'redis.url'],
  [{ redis: { url: 'http://localhost:6379' } }, TypeError, 'redis.url'],
  [{ redis: 'localhost' }, TypeError, 'redis'],
  [{ redis: { cluster: ['redis://127.0.0.1:7000'] } }, TypeError, 'redis.cluster must be an object'],
  [{ redis: { cluster: { nodes: [] } } }, RangeError, 'redis.cluster.nodes must not be empty'],
  [{ redis: { cluster: { nodes: [{ host: 'a', port: 70000 }] } } }, RangeError, 'redis.cluster.nodes[0].port'],
  [{ redis: { cluster: { nodes: ['redis://a:1'] }, url: 'redis://b:2' } }, RangeError, 'leave out options.redis.url'],
  [{ redis: { cluster: { nodes: ['redis://a:1'] }, db: 1 } }, RangeError, 'only database 0'],
  [{ redis: { tls: 'on' } }, TypeError, 'redis.tls'],
  [{ redis: { tls: { servername: 'x' } } }, RangeError, 'redis.tls.servername is not supported'],
  [{ redis: { tls: { ca: '/etc/ssl/ca.pem' } } }, RangeError, 'redis.tls.ca is not PEM text'],
  [{ redis: { tls: { key: Buffer.from('-----BEGIN PRIVATE KEY-----') } } }, RangeError, 'cert and key'],
  [{ hotCacheTTL: -5 }, RangeError, 'hotCacheTTL'],
  [{ warmCacheTTL: 0 }, RangeError, 'warmCacheTTL'],
  [{ maxHotCacheSize: 1.5 }, RangeError, 'maxHotCacheSize'],
  [{ cleanupInterval: Infinity }, RangeError, 'cleanupInterval'],
  [{ maxPendingMetrics: -1 }, RangeError, 'maxPendingMetrics'],
  [{ strictWarmWrites: 'yes' }, TypeError, 'strictWarmWrites'],
  [{ onMetric: 'log' }, TypeError, 'onMetric'],
  [{ maxValueBytes: 0 }, RangeError, 'maxValueBytes'],
  [42, TypeError, 'options'],
])('the constructor rejects %j', (options, ErrorClass, mentions) => {
  let err
  try {
    new StreamCache(options)
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(ErrorClass)
  expect(err.code).toBe(CODES.INVALID_ARGUMENT)
  expect(err.message).toContain(mentions)
})

test('a password never appears in an error message', () => {
  let err
  try {
    new StreamCache({ redis: { url: 'redis://user:hunter2@localhost:6379/x' } })
  } catch (e) {
    err = e
  }
  expect(err.code).toBe(CODES.INVALID_ARGUMENT)
  expect(err.message).not.toContain('hunter2')
})

test('a value over maxValueBytes is refused and the value already cached stays', async () => {
  const small = new StreamCache(cacheOptions({ maxValueBytes: 2000 }))
  try {
    await small.setData('V', quotes('V', 3))
    await small.setData('W', quotes('W', 3), 'warm')
    for (const [key, priority] of [['V', 'hot'], ['W', 'warm']]) {
      const err = await small.setData(key, quotes('HUGE', 100), priority).catch((e) => e)
      expect(err).toBeInstanceOf(RangeError)
      expect(err.code).toBe(CODES.INVALID_ARGUMENT)
      expect(err.message).toMatch(/more than maxValueBytes \(2000\)/)
    }
    expect((await small.getData('V'))[0].s).toBe('V')
    expect((await small.getData('W'))[0].s).toBe('W')
  } finally {
    await small.destroy()
  }
})

test('nothing cached was lost to the bad calls', async () => {
  expect(await cache.getData('KEEP')).toHaveLength(3)
  expect(await cache.getData('KEEP.WARM')).toHaveLength(150)
})
