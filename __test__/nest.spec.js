'use strict'

// The NestJS drop-in, with real @nestjs/testing, EventEmitterModule, ConfigModule and Redis.

const path = require('node:path')
const Redis = require('ioredis')
const { Test } = require('@nestjs/testing')
const { Inject, Logger } = require('@nestjs/common')
const { EventEmitterModule, EventEmitter2 } = require('@nestjs/event-emitter')
const { ConfigModule, ConfigService } = require('@nestjs/config')
const { StreamCacheModule, StreamCacheService, STREAM_CACHE_METRIC_EVENT, STREAM_CACHE_OPTIONS } = require('stream-cache-native/nest')
const { CODES } = require('..')
const { Registry } = require('prom-client')
const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require('@opentelemetry/sdk-metrics')
const { redisUrl, uniquePrefix, quotes, settled, sleep, setSuccessEvent, getSuccessEvent, runNode, eventually } = require('./helpers')

Logger.overrideLogger(false)

function forRoot(extra = {}, registration) {
  return StreamCacheModule.forRoot({ redis: { url: redisUrl(), keyPrefix: uniquePrefix() }, ...extra }, registration)
}

async function start(imports) {
  const moduleRef = await Test.createTestingModule({ imports: [EventEmitterModule.forRoot(), ...imports] }).compile()
  await moduleRef.init()
  const events = []
  moduleRef.get(EventEmitter2).on(STREAM_CACHE_METRIC_EVENT, (e) => events.push(e))
  return { moduleRef, service: moduleRef.get(StreamCacheService), events }
}

async function exerciseEveryOperation(service) {
  await service.setData('AAPL', quotes('AAPL', 3, 1000))
  await service.setData('MSFT', quotes('MSFT', 150, 1000))
  expect(await service.getData('AAPL')).toEqual([
    { s: 'AAPL', p: 100, v: 1, t: 1000 },
    { s: 'AAPL', p: 101, v: 11, t: 1001 },
    { s: 'AAPL', p: 102, v: 21, t: 1002 },
  ])
  expect(await service.getData('MSFT')).toHaveLength(150)
  expect((await service.getDataSince('MSFT', 1147)).map((p) => p.t)).toEqual([1148, 1149])
  const batch = await service.getBatchData(['AAPL', 'MSFT', 'NONE'])
  expect([batch.AAPL.length, batch.MSFT.length, batch.NONE]).toEqual([3, 150, null])
  await service.deleteData('AAPL')
  expect(await service.getData('AAPL')).toBeNull()
  expect(await service.clearAll()).toEqual({ deleted: 1, preserved: 0 })
  expect(await service.getData('MSFT')).toBeNull()
  expect(await service.getHealthStatus()).toMatchObject({ status: 'healthy', redisConnected: true })
}

test('forRoot serves every operation against Redis', async () => {
  const { moduleRef, service } = await start([forRoot()])
  try {
    await exerciseEveryOperation(service)
  } finally {
    await moduleRef.close()
  }
})

test('forRootAsync with ConfigModule and ConfigService serves every operation', async () => {
  const keyPrefix = uniquePrefix()
  const { moduleRef, service } = await start([
    StreamCacheModule.forRootAsync({
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ CACHE_REDIS_URL: redisUrl() })] })],
      inject: [ConfigService],
      useFactory: (config) => ({ redis: { url: config.get('CACHE_REDIS_URL'), keyPrefix }, maxHotCacheSize: 50 }),
    }),
  ])
  try {
    await exerciseEveryOperation(service)
  } finally {
    await moduleRef.close()
  }
})

test('forRootAsync with useClass, and the registration options kept out of the cache options', async () => {
  const keyPrefix = uniquePrefix()
  class CacheConfig {
    create() {
      return { redis: { url: redisUrl(), keyPrefix } }
    }
  }
  const { moduleRef, service } = await start([
    StreamCacheModule.forRootAsync({ useClass: CacheConfig, provide: 'QUOTES', isGlobal: true }),
  ])
  try {
    expect(moduleRef.get('QUOTES')).toBe(service)
    // `provide` and `isGlobal` register the module; they are no cache options.
    expect(moduleRef.get(STREAM_CACHE_OPTIONS)).toEqual({ redis: { url: redisUrl(), keyPrefix } })
    await exerciseEveryOperation(service)
  } finally {
    await moduleRef.close()
  }
})

test('prometheus and openTelemetry options: one set of metrics for two modules, gone when both close', async () => {
  const registry = new Registry()
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  const meter = provider.getMeter('nest')
  const options = { prometheus: { registry }, openTelemetry: { meter } }
  const first = await start([forRoot(options)])
  const second = await start([forRoot(options)])
  try {
    await first.service.setData('P', quotes('P', 1))
    await second.service.setData('P', quotes('P', 1))
    const sets = 'stream_cache_sets_total{layer="both",success="true"} 2'
    await eventually(async () => (await registry.metrics()).includes(sets), true)
    expect((await registry.metrics()).match(/^# HELP stream_cache_sets_total /gm)).toHaveLength(1)
    await reader.forceFlush()
    const otelSets = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((m) => m.metrics)).find((m) => m.descriptor.name === 'stream_cache.sets')
    expect(otelSets.dataPoints.map((p) => [p.attributes, p.value])).toEqual([[{ layer: 'both', success: 'true' }, 2]])
    await first.moduleRef.close()
    expect(await registry.metrics()).toContain(sets)
    await second.moduleRef.close()
    expect(await registry.metrics()).toBe('\n')
  } finally {
    await first.moduleRef.close()
    await second.moduleRef.close()
    await provider.shutdown()
  }
})

test('metric events reach EventEmitter2 listeners with the exact shape of docs/contract.md', async () => {
  const { moduleRef, service, events } = await start([forRoot()])
  try {
    await service.setData('EV', quotes('EV', 2))
    await service.getData('EV')
    await settled(service)
    expect(events).toEqual([setSuccessEvent('both'), getSuccessEvent('hot')])
  } finally {
    await moduleRef.close()
  }
})

test('the event name, the event emitter and the service token can be overridden', async () => {
  const { EventEmitter } = require('node:events')
  const custom = new EventEmitter()
  const received = []
  custom.on('quotes.cache.metric', (e) => received.push(e.metricName))
  const busModule = { module: class BusModule {}, global: true, providers: [{ provide: 'BUS', useValue: custom }], exports: ['BUS'] }
  const moduleRef = await Test.createTestingModule({
    imports: [busModule, forRoot({ metricEventName: 'quotes.cache.metric' }, { provide: 'STREAM_CACHE', eventEmitter: 'BUS' })],
  }).compile()
  await moduleRef.init()
  try {
    const service = moduleRef.get('STREAM_CACHE')
    expect(service).toBe(moduleRef.get(StreamCacheService))
    await service.setData('O', quotes('O', 1))
    await settled(service)
    expect(received).toEqual(['cache_set_success'])
  } finally {
    await moduleRef.close()
  }
})

test('setData failures keep the TS service message prefix and the native code', async () => {
  const { moduleRef, service } = await start([
    forRoot({ redis: { url: 'redis://127.0.0.1:1', commandTimeout: 300, maxRetriesPerRequest: 0 }, strictWarmWrites: true }),
  ])
  try {
    const redisDown = await service.setData('X', quotes('X', 1)).catch((e) => e)
    expect(redisDown.message).toMatch(/^StreamCache setData failed: /)
    expect([CODES.REDIS_ERROR, CODES.TIMEOUT]).toContain(redisDown.code)
    expect(redisDown.getStatus()).toBe(503)
    const badInput = await service.setData('X', 'not an array').catch((e) => e)
    expect(badInput).toBeInstanceOf(TypeError)
    expect(badInput.message).toBe('StreamCache setData failed: data must be an array, got string')
    expect(badInput.code).toBe(CODES.INVALID_ARGUMENT)
  } finally {
    await moduleRef.close()
  }
})

test('from onModuleDestroy on no listener call ever happens, for operations issued right before close', async () => {
  const url = redisUrl()
  const keyPrefix = uniquePrefix()
  let afterClose = 0
  let beforeClose = 0
  const rounds = 200
  for (let round = 0; round < rounds; round++) {
    const moduleRef = await Test.createTestingModule({
      imports: [EventEmitterModule.forRoot(), StreamCacheModule.forRoot({ redis: { url, keyPrefix } })],
    }).compile()
    await moduleRef.init()
    let closed = false
    moduleRef.get(EventEmitter2).on(STREAM_CACHE_METRIC_EVENT, () => (closed ? afterClose++ : beforeClose++))
    const service = moduleRef.get(StreamCacheService)
    const releaseMetrics = service.onModuleDestroy.bind(service)
    service.onModuleDestroy = () => {
      closed = true
      releaseMetrics()
    }
    const ops = []
    for (let i = 0; i < 1 + (round % 25); i++) {
      ops.push(service.setData(`k${i % 5}`, quotes('K', i % 2 ? 150 : 2)).catch(() => {}))
      ops.push(service.getData(`k${(i + round) % 7}`).catch(() => {}))
      ops.push(service.getBatchData([`k${i % 5}`, 'none']).catch(() => {}))
    }
    if (round % 3 === 0) await sleep(round % 4)
    await moduleRef.close()
    await Promise.all(ops)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await sleep(50)
  console.log(`nest: ${afterClose} listener calls after onModuleDestroy over ${rounds} rounds (${beforeClose} before)`)
  expect(beforeClose).toBeGreaterThan(0)
  expect(afterClose).toBe(0)
})

test('between onModuleDestroy and onApplicationShutdown the service serves, silently; then it is destroyed', async () => {
  const seen = {}
  class ShutdownProbe {
    constructor(service) {
      this.service = service
    }
    async beforeApplicationShutdown() {
      await this.service.setData('LATE', quotes('LATE', 2, 1000))
      seen.read = await this.service.getData('LATE')
      seen.batch = await this.service.getBatchData(['LATE', 'NONE'])
      seen.stats = this.service.stats()
    }
  }
  Inject(StreamCacheService)(ShutdownProbe, undefined, 0)
  const { moduleRef, service, events } = await start([
    { module: class ProbeModule {}, imports: [forRoot({}, { isGlobal: true })], providers: [ShutdownProbe] },
  ])
  await service.setData('EARLY', quotes('EARLY', 1, 1000))
  await settled(service)
  expect(events.map((e) => e.metricName)).toEqual(['cache_set_success'])
  await moduleRef.close()
  // A delivery already queued from the tokio thread would run before this turn's check phase.
  await new Promise((resolve) => setImmediate(resolve))
  expect(events).toHaveLength(1)
  expect(seen.read).toHaveLength(2)
  expect(seen.batch.LATE).toHaveLength(2)
  expect(seen.batch.NONE).toBeNull()
  expect(seen.stats.destroyed).toBe(false)
  expect(service.stats().destroyed).toBe(true)
  await expect(service.getData('LATE')).rejects.toMatchObject({ code: CODES.DESTROYED })
})

test('interop: the Nest service and the TS service (plain ioredis, keyPrefix stream:, DB 1) read each other', async () => {
  const { moduleRef, service } = await start([StreamCacheModule.forRoot({ redis: { url: redisUrl() } })])
  const ts = new Redis(redisUrl(), { keyPrefix: 'stream:', db: 1 })
  try {
    const points = [{ s: 'NEST.TS', p: 5.5, v: 10, t: 1700000000000, c: 0.1 }]
    await ts.setex('stream_cache_warmNEST.TS', 300, JSON.stringify(points))
    expect(await service.getData('NEST.TS')).toEqual(points)
    await service.setData('NEST.NATIVE', [{ symbol: 'NEST.NATIVE', price: 2, volume: 3, timestamp: 1700000000000 }])
    expect(await ts.get('stream_cache_warmNEST.NATIVE')).toBe('[{"s":"NEST.NATIVE","p":2,"v":3,"t":1700000000000}]')
  } finally {
    await ts.del('stream_cache_warmNEST.TS', 'stream_cache_warmNEST.NATIVE')
    await ts.quit()
    await moduleRef.close()
  }
})

test('heap grows by less than 1 MB over 1,000 compile → close cycles', async () => {
  const script = path.join(__dirname, 'fixtures', 'nest-cycles.js')
  const { code, stderr, stdout } = await runNode(['--expose-gc', script, '1000'])
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  const growth = Number(/HEAP_GROWTH (-?\d+)/.exec(stdout)[1])
  console.log(`nest: heap growth over 1,000 compile → close cycles: ${(growth / 1024).toFixed(1)} KiB`)
  expect(growth).toBeLessThan(1024 * 1024)
})
