// The NestJS app of `npm run bench:http`: one controller, served by one of four backends
// chosen on the command line, so every backend pays the same framework cost per request.
//
//   node bench/dist/http/app.js <native|baseline|ioredis|constant> <redisUrl>
//
// Listens on a free loopback port and prints `{"port":…}` on stdout when ready.

import 'reflect-metadata'
import { Body, Controller, Get, Inject, Injectable, Module, OnModuleDestroy, Param, Post, Query } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter'
import Redis from 'ioredis'
import { StreamCacheModule } from 'stream-cache-native/nest'
import { compressData } from 'stream-cache-native'
import { BaselineStreamCache, METRIC_EVENT, StreamDataPoint } from '../baseline/stream-cache'
// eslint-disable-next-line @typescript-eslint/no-require-imports
const workload = require('../../workload.js') as { CACHE_OPTIONS: object; rawQuotes(s: string, seed: number): object[] }

const QUOTES = 'QUOTES'

/** What the controller needs; each backend below provides it. */
interface Quotes {
  getData(key: string): Promise<StreamDataPoint[] | null>
  setData(key: string, data: object[]): Promise<void>
  getBatchData(keys: string[]): Promise<Record<string, StreamDataPoint[] | null>>
}

@Controller()
class QuoteController {
  constructor(@Inject(QUOTES) private readonly quotes: Quotes) {}

  @Get('quote/:sym')
  get(@Param('sym') sym: string) {
    return this.quotes.getData(sym)
  }

  @Post('quote/:sym')
  async set(@Param('sym') sym: string, @Body() points: object[]) {
    await this.quotes.setData(sym, points)
    return { ok: true }
  }

  @Get('batch')
  batch(@Query('syms') syms: string) {
    return this.quotes.getBatchData(syms.split(','))
  }
}

/** Counts metric events the way an app's listener would receive them. */
@Injectable()
class MetricListener {
  events = 0
  @OnEvent(METRIC_EVENT)
  collected() {
    this.events++
  }
}

/** The old TypeScript service, as the app provided it before. */
@Injectable()
class BaselineQuotes extends BaselineStreamCache implements OnModuleDestroy {
  constructor(@Inject(EventEmitter2) bus: EventEmitter2, @Inject('REDIS_URL') redisUrl: string) {
    super(bus, { redisUrl, ...workload.CACHE_OPTIONS })
  }
  async onModuleDestroy() {
    await this.destroy()
  }
}

const WARM = 'stream_cache_warm'

/** Plain ioredis, as a team without a cache library would write it: no hot tier, no events. */
@Injectable()
class IoredisQuotes implements Quotes, OnModuleDestroy {
  private readonly redis: Redis
  constructor(@Inject('REDIS_URL') redisUrl: string) {
    const url = new URL(redisUrl)
    this.redis = new Redis({
      host: url.hostname,
      port: Number(url.port || 6379),
      db: 1,
      keyPrefix: 'stream:',
      enableAutoPipelining: true,
    })
  }
  async getData(key: string) {
    const value = await this.redis.get(WARM + key)
    return value === null ? null : (JSON.parse(value) as StreamDataPoint[])
  }
  async setData(key: string, data: object[]) {
    await this.redis.setex(WARM + key, 3600, JSON.stringify(compressData(data)))
  }
  async getBatchData(keys: string[]) {
    const values = await this.redis.mget(keys.map((key) => WARM + key))
    const out: Record<string, StreamDataPoint[] | null> = {}
    keys.forEach((key, i) => (out[key] = values[i] === null ? null : (JSON.parse(values[i] as string) as StreamDataPoint[])))
    return out
  }
  async onModuleDestroy() {
    this.redis.disconnect()
  }
}

const CONSTANT = compressData(workload.rawQuotes('CONST', 0)) as StreamDataPoint[]

/** The floor: same routes and response sizes, no cache at all. */
@Injectable()
class ConstantQuotes implements Quotes {
  async getData() {
    return CONSTANT
  }
  async setData() {}
  async getBatchData(keys: string[]) {
    const out: Record<string, StreamDataPoint[] | null> = {}
    for (const key of keys) out[key] = CONSTANT
    return out
  }
}

function backendModule(backend: string, redisUrl: string) {
  const url = { provide: 'REDIS_URL', useValue: redisUrl }
  const imports = [EventEmitterModule.forRoot()]
  if (backend === 'native') {
    imports.push(StreamCacheModule.forRoot({ redis: { url: redisUrl }, ...workload.CACHE_OPTIONS }, { provide: QUOTES }))
    return { imports, providers: [url] }
  }
  const classes: Record<string, new (...args: never[]) => unknown> = {
    baseline: BaselineQuotes,
    ioredis: IoredisQuotes,
    constant: ConstantQuotes,
  }
  if (!(backend in classes)) throw new Error(`unknown backend ${backend}`)
  return { imports, providers: [url, { provide: QUOTES, useClass: classes[backend] }] }
}

async function main() {
  const [backend, redisUrl] = process.argv.slice(2)
  const { imports, providers } = backendModule(backend, redisUrl)
  @Module({ imports, controllers: [QuoteController], providers: [MetricListener, ...providers] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false })
  app.enableShutdownHooks()
  await app.listen(0, '127.0.0.1')
  const quotes = app.get<Quotes>(QUOTES)
  // Hot keys for the hot route: written with priority hot where the backend has a hot tier.
  const hot = (quotes as { setData(key: string, data: object[], priority?: string): Promise<void> }).setData
  for (let i = 0; i < 500; i++) await hot.call(quotes, `H${i}`, workload.rawQuotes(`H${i}`, i), 'hot')
  const listener = app.get(MetricListener)
  process.on('message', () => process.send?.({ events: listener.events }))
  process.stdout.write(`${JSON.stringify({ port: app.getHttpServer().address().port })}\n`)
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
})
