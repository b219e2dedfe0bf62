'use strict'

// TLS (with a throwaway CA made by openssl here), ACL users and a plain password, each against
// a redis-server of its own so that its settings cannot leak into other suites.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const tls = require('node:tls')
const Redis = require('ioredis')
const { Test } = require('@nestjs/testing')
const { Logger } = require('@nestjs/common')
const { EventEmitterModule, EventEmitter2 } = require('@nestjs/event-emitter')
const { StreamCacheModule, StreamCacheService, STREAM_CACHE_METRIC_EVENT } = require('stream-cache-native/nest')
const { StreamCache } = require('..')
const { startLocalRedis, freePort } = require('../scripts/local-redis')
const { openedCaches, quotes, settled, sleep, uniquePrefix } = require('./helpers')
const { ACL_PASSWORD, CACHE_USER_RULES, roundTrip, runsEveryOperation } = require('./acl')

const { open } = openedCaches()

describe('TLS', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-cache-tls-'))
  const file = (name) => path.join(dir, name)
  const pem = (name) => fs.readFileSync(file(name))
  let server
  let mutual
  let port
  let mutualPort

  // A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all
  // signed by that CA and valid for a day.
  function makeCertificates() {
    const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
    const key = (name) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name)
    key('ca.key')
    openssl('req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=stream-cache test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    const issue = (name, subject, extensions) => {
      key(`${name}.key`)
      openssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject)
      fs.writeFileSync(file(`${name}.ext`), extensions)
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`)
    }
    issue('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
    issue('client', '/CN=stream-cache client', 'extendedKeyUsage=clientAuth\n')
  }

  // redis-server answers only TLS on `port`; ready once a TLS PING gets +PONG.
  async function startTlsRedis(authClients) {
    const tlsPort = await freePort()
    const server = await startLocalRedis({
      port: await freePort(),
      args: ['--tls-port', String(tlsPort), '--tls-cert-file', file('server.crt'), '--tls-key-file', file('server.key'),
        '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', authClients ? 'yes' : 'no'],
    })
    const ping = () => new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') })
      socket.once('error', () => resolve(false))
      socket.once('secureConnect', () => socket.write('PING\r\n'))
      socket.once('data', (d) => {
        socket.destroy()
        resolve(d.toString().startsWith('+PONG'))
      })
    })
    while (!(await ping())) await sleep(50)
    return { ...server, tlsPort }
  }

  beforeAll(async () => {
    makeCertificates()
    server = await startTlsRedis(false)
    mutual = await startTlsRedis(true)
    port = server.tlsPort
    mutualPort = mutual.tlsPort
  })
  afterAll(() => {
    server.stop()
    mutual.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const fast = { connectTimeout: 500, commandTimeout: 1000, maxRetriesPerRequest: 0 }

  test('host/port with tls.ca (a Buffer, as fs.readFileSync gives it) verifies and works', async () => {
    const { cache } = open({ redis: { host: '127.0.0.1', port, tls: { ca: pem('ca.crt') }, keyPrefix: uniquePrefix() } })
    expect(await roundTrip(cache)).toHaveLength(3)
    expect(await cache.getHealthStatus()).toMatchObject({ status: 'healthy', nodes: [{ address: `127.0.0.1:${port}` }] })
    // The value really went through the server: read it with an independent TLS client.
    const plain = new Redis({ host: '127.0.0.1', port, db: 1, tls: { ca: pem('ca.crt') } })
    try {
      expect(await plain.dbsize()).toBeGreaterThan(0)
    } finally {
      plain.disconnect()
    }
  })

  test('a rediss:// URL with tls.ca as a string, checked against the hostname localhost', async () => {
    const ca = pem('ca.crt').toString()
    const { cache } = open({ redis: { url: `rediss://localhost:${port}`, tls: { ca }, keyPrefix: uniquePrefix() } })
    expect(await roundTrip(cache)).toHaveLength(3)
  })

  test('a server certificate from an unknown CA is refused, and rejectUnauthorized: false accepts it', async () => {
    const { cache, events } = open({ redis: { url: `rediss://127.0.0.1:${port}`, keyPrefix: uniquePrefix(), ...fast } })
    const health = await cache.getHealthStatus()
    expect(health).toMatchObject({ status: 'unhealthy', redisConnected: false })
    expect(health.lastError).toMatch(/certificate|UnknownIssuer/i)
    await cache.setData('X', quotes('X', 1))
    await settled(cache)
    expect(events.find((e) => e.metricName === 'cache_set_failed').tags.errorMessage).toMatch(/certificate|UnknownIssuer/i)

    const { cache: trusting } = open({
      redis: { url: `rediss://127.0.0.1:${port}`, tls: { rejectUnauthorized: false }, keyPrefix: uniquePrefix() },
    })
    expect((await trusting.getHealthStatus()).status).toBe('healthy')
  })

  test('a plain connection to the TLS port fails within commandTimeout instead of hanging', async () => {
    const { cache } = open({ redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix(), ...fast } })
    const started = Date.now()
    expect((await cache.getHealthStatus()).status).toBe('unhealthy')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  test('mutual TLS: the server accepts the client certificate and refuses a client without one', async () => {
    const base = { host: '127.0.0.1', port: mutualPort, keyPrefix: uniquePrefix(), ...fast }
    const { cache } = open({ redis: { ...base, tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') } } })
    expect(await roundTrip(cache)).toHaveLength(3)
    expect((await cache.getHealthStatus()).status).toBe('healthy')

    const { cache: anonymous } = open({ redis: { ...base, tls: { ca: pem('ca.crt') } } })
    expect((await anonymous.getHealthStatus()).status).toBe('unhealthy')
  })

  test('certificate options that are not PEM are refused at construction', () => {
    const err = (() => {
      try {
        return new StreamCache({ redis: { port, tls: { ca: file('ca.crt') } } })
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(RangeError)
    expect(err.code).toBe('STREAM_CACHE_INVALID_ARGUMENT')
    expect(err.message).toMatch(/options\.redis\.tls\.ca is not PEM text/)
  })
})

describe('ACL users', () => {
  let server
  let admin
  beforeAll(async () => {
    server = await startLocalRedis()
    admin = new Redis(server.url)
    await admin.call('ACL', 'SETUSER', 'quotes', 'on', `>${ACL_PASSWORD}`, ...CACHE_USER_RULES)
  })
  afterAll(async () => {
    await admin.quit()
    server.stop()
  })

  const user = (extra = {}) => ({ url: server.url, username: 'quotes', password: ACL_PASSWORD, ...extra })

  test('a user limited to the cache key pattern runs every operation', async () => {
    const { cache, events } = open({ redis: user(), maxHotCacheSize: 0 })
    await runsEveryOperation(cache, events, [server.port])
  })

  test('the ACL holds: keys outside the pattern are refused with NOPERM', async () => {
    const { cache, events } = open({ redis: user({ keyPrefix: 'other:' }) })
    await cache.setData('AAPL', quotes('AAPL', 1), 'warm')
    await settled(cache)
    const failed = events.find((e) => e.metricName === 'cache_set_failed')
    expect(failed.tags.errorMessage).toMatch(/no permissions to access one of the keys/)
    await admin.acl('LOG', 'RESET')
  })

  test('a wrong password gives a clear error that does not contain the password', async () => {
    const wrong = 'wrong-password-5512'
    const { cache, events } = open({ redis: user({ password: wrong, connectTimeout: 500, commandTimeout: 1000 }) })
    const health = await cache.getHealthStatus()
    expect(health.status).toBe('unhealthy')
    expect(health.lastError).toMatch(/^Redis refused the credentials of user "quotes"/)
    const err = await cache.clearAll().catch((e) => e)
    expect(err.code).toBe('STREAM_CACHE_REDIS_ERROR')
    expect(err.message).toBe(health.lastError)
    await settled(cache)
    const everything = JSON.stringify([health, err.message, err.stack, events, cache.stats()])
    expect(everything).not.toContain(wrong)
    expect(everything).not.toContain(ACL_PASSWORD)
  })
})

describe('a password (requirepass)', () => {
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
      await settled(cache)
      const everything = [health.lastError, err.message, err.stack, JSON.stringify(cache.stats()), ...seen].join('\n')
      expect(seen.map((e) => JSON.parse(e).metricName)).toEqual(['cache_healthCheck_failed', 'cache_setData_failed'])
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
      await settled(service)
      await moduleRef.close()
      expect(lines.some((l) => l.includes('StreamCache ready'))).toBe(true)
      expect(lines.some((l) => l.includes('failed'))).toBe(true)
      expect(events.map((e) => e.metricName)).toEqual(['cache_set_failed', 'cache_healthCheck_failed'])
      expect(lines.join('\n')).not.toContain(WRONG)
    } finally {
      Logger.overrideLogger(false)
    }
  })
})
