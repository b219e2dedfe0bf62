'use strict'

// Passwords never appear in error messages, events, logs or stats() (docs/contract.md, "Bad input and errors").

const { Test } = require('@nestjs/testing')
const { Logger } = require('@nestjs/common')
const { EventEmitterModule, EventEmitter2 } = require('@nestjs/event-emitter')
const { StreamCacheModule, StreamCacheService, STREAM_CACHE_METRIC_EVENT } = require('stream-cache-native/nest')
const { StreamCache } = require('..')
const { startLocalRedis } = require('../scripts/local-redis')
const { quotes, settleEvents } = require('./helpers')

const PASSWORD = 'corr3ct-h0rse-PASS'
const WRONG = 'wr0ng-b4ttery-PASS'
let server
beforeAll(async () => {
  server = await startLocalRedis({ args: ['--requirepass', PASSWORD] })
})
afterAll(() => server.stop())

const base = () => ({ host: '127.0.0.1', port: server.port, keyPrefix: 'security:', commandTimeout: 500, maxRetriesPerRequest: 0 })

test('the right password works, given as an option or in the URL', async () => {
  for (const redis of [{ ...base(), password: PASSWORD }, { url: `redis://:${PASSWORD}@127.0.0.1:${server.port}/1` }]) {
    const cache = new StreamCache({ redis })
    await cache.setData('S', quotes('S', 1), 'warm')
    expect(await cache.getData('S')).toHaveLength(1)
    expect((await cache.getHealthStatus()).status).toBe('healthy')
    await cache.destroy()
  }
})

test('a wrong password fails clearly, and neither password appears anywhere', async () => {
  for (const redis of [{ ...base(), password: WRONG }, { url: `redis://user:${WRONG}@127.0.0.1:${server.port}/1` }]) {
    const seen = []
    const cache = new StreamCache({ redis, strictWarmWrites: true, onMetric: (e) => seen.push(JSON.stringify(e)) })
    const health = await cache.getHealthStatus()
    expect(health.status).toBe('unhealthy')
    expect(health.lastError.length).toBeGreaterThan(0)
    const err = await cache.setData('S', quotes('S', 1)).catch((e) => e)
    expect(err.message).toMatch(/^StreamCache setData failed: /)
    await settleEvents()
    const everything = [health.lastError, err.message, err.stack, JSON.stringify(cache.stats()), ...seen].join('\n')
    expect(seen.length).toBeGreaterThan(0)
    expect(everything).not.toContain(WRONG)
    expect(everything).not.toContain(PASSWORD)
    await cache.destroy()
  }
})

test('the NestJS layer logs failures without the password', async () => {
  const lines = []
  const capture = (...args) => lines.push(args.map(String).join(' '))
  const logger = { log: capture, warn: capture, error: capture, debug: capture, verbose: capture }
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [EventEmitterModule.forRoot(), StreamCacheModule.forRoot({ redis: { ...base(), password: WRONG } })],
    })
      .setLogger(logger)
      .compile()
    await moduleRef.init()
    const events = []
    moduleRef.get(EventEmitter2).on(STREAM_CACHE_METRIC_EVENT, (e) => events.push(e))
    const service = moduleRef.get(StreamCacheService)
    await service.setData('S', quotes('S', 1))
    await service.getHealthStatus()
    await settleEvents()
    await moduleRef.close()
    expect(lines.some((l) => l.includes('StreamCache ready'))).toBe(true)
    expect(lines.some((l) => l.includes('failed'))).toBe(true)
    expect(events.length).toBeGreaterThan(0)
    expect(lines.join('\n')).not.toContain(WRONG)
  } finally {
    Logger.overrideLogger(false)
  }
})
