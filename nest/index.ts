// NestJS drop-in for the TypeScript StreamCacheService: the same methods and metric events,
// backed by the native StreamCache. Thin on purpose: every cache decision is native.

import {
  ConfigurableModuleBuilder,
  DynamicModule,
  Inject,
  Injectable,
  InjectionToken,
  Logger,
  Module,
  OnApplicationShutdown,
  OnModuleDestroy,
  Provider,
  ServiceUnavailableException,
} from '@nestjs/common'
import { EventEmitter2 } from '@nestjs/event-emitter'
import {
  ClearAllOptions,
  ClearAllResult,
  HealthStatus,
  MetricEvent,
  OPTION_DEFAULTS,
  Priority,
  RawQuote,
  StreamCache,
  StreamCacheError,
  StreamCacheOptions,
  StreamCacheStats,
  StreamDataPoint,
} from 'stream-cache-native'
import { collectMetrics } from 'stream-cache-native/prometheus'
import { collectOpenTelemetry } from 'stream-cache-native/opentelemetry'

/** The event the TypeScript service emitted every metric under. */
export const STREAM_CACHE_METRIC_EVENT = 'system-status.metric.collected'
/** Injection token of the module options. */
export const STREAM_CACHE_OPTIONS = 'STREAM_CACHE_OPTIONS'
/** Injection token of the event emitter metrics go to (defaults to the app's `EventEmitter2`). */
export const STREAM_CACHE_EVENT_EMITTER = 'STREAM_CACHE_EVENT_EMITTER'

const SET_DATA_FAILED = 'StreamCache setData failed: '

/** The operations of the TypeScript service's `IStreamCache`. */
export interface IStreamCache {
  getData(key: string): Promise<StreamDataPoint[] | null>
  setData(key: string, data: ReadonlyArray<RawQuote | StreamDataPoint>, priority?: Priority): Promise<void>
  getDataSince(key: string, since: number): Promise<StreamDataPoint[] | null>
  getBatchData(keys: string[]): Promise<Record<string, StreamDataPoint[] | null>>
  deleteData(key: string): Promise<void>
  clearAll(options?: ClearAllOptions): Promise<ClearAllResult | void>
}

export interface StreamCacheModuleOptions extends Omit<StreamCacheOptions, 'onMetric'> {
  /** Event name metrics are emitted under. Default `STREAM_CACHE_METRIC_EVENT`. */
  metricEventName?: string
  /**
   * Also report into prom-client (an optional peer): `true` for its global registry, or the
   * options of `collectMetrics` (`stream-cache-native/prometheus`). Typed loosely so that apps
   * without prom-client still compile.
   */
  prometheus?: true | { registry?: object; prefix?: string }
  /**
   * Also report as OpenTelemetry instruments (`@opentelemetry/api`, an optional peer): `true`
   * for the global meter provider, or the options of `collectOpenTelemetry`.
   */
  openTelemetry?: true | { meter?: object; prefix?: string }
}

interface Registration {
  /** Register the module globally. */
  isGlobal?: boolean
  /** Also provide the service under this token (e.g. the one the app's callers inject). */
  provide?: InjectionToken
  /** Where the event emitter comes from. Default `EventEmitter2` (from `EventEmitterModule`). */
  eventEmitter?: InjectionToken
}


// compat: the TS service threw a 503 with this message prefix; the native code stays on it.
function setDataFailure(err: StreamCacheError): Error {
  const message = err.message.startsWith(SET_DATA_FAILED) ? err.message : SET_DATA_FAILED + err.message
  const ErrorClass = err instanceof RangeError ? RangeError : err instanceof TypeError ? TypeError : null
  const wrapped = ErrorClass ? new ErrorClass(message, { cause: err }) : new ServiceUnavailableException(message, { cause: err })
  return Object.assign(wrapped, { code: err.code })
}

@Injectable()
// Nest closes in this order: onModuleDestroy, beforeApplicationShutdown, the HTTP server
// stops (in-flight requests finish), onApplicationShutdown. So metrics stop at the first,
// while the event bus may be torn down, and the cache closes at the last, when no request
// can reach it any more.
export class StreamCacheService implements IStreamCache, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('StreamCache')
  private readonly cache: StreamCache

  constructor(
    @Inject(STREAM_CACHE_OPTIONS) options: StreamCacheModuleOptions,
    @Inject(STREAM_CACHE_EVENT_EMITTER) eventBus: EventEmitter2,
  ) {
    const { metricEventName = STREAM_CACHE_METRIC_EVENT, prometheus, openTelemetry, ...cacheOptions } = options
    this.cache = new StreamCache({
      ...cacheOptions,
      onMetric: (event: MetricEvent) => {
        if (event.metricType === 'cache' && event.tags.errorMessage) {
          this.logger.warn(`${event.tags.operation} failed: ${event.tags.errorMessage}`)
        } else if (event.metricType === 'system' && event.metricName === 'coherence_fallback') {
          this.logger.warn(`Redis refused CLIENT TRACKING, hot entries may lag Redis by up to hotCacheTTL: ${event.tags.reason}`)
        }
        eventBus.emit(metricEventName, event)
      },
    })
    this.logger.log(
      `StreamCache ready (hotCacheTTL=${options.hotCacheTTL ?? OPTION_DEFAULTS.hotCacheTTL}ms, ` +
        `warmCacheTTL=${options.warmCacheTTL ?? OPTION_DEFAULTS.warmCacheTTL}s, ` +
        `maxHotCacheSize=${options.maxHotCacheSize ?? OPTION_DEFAULTS.maxHotCacheSize}, coherence=${options.coherence ?? 'tracking'})`,
    )
    // Both unregister when the cache is destroyed (onApplicationShutdown).
    if (prometheus) collectMetrics(this.cache, (prometheus === true ? {} : prometheus) as Parameters<typeof collectMetrics>[1])
    if (openTelemetry) {
      collectOpenTelemetry(this.cache, (openTelemetry === true ? {} : openTelemetry) as Parameters<typeof collectOpenTelemetry>[1])
    }
  }

  getData(key: string): Promise<StreamDataPoint[] | null> {
    return this.cache.getData(key)
  }

  setData(key: string, data: ReadonlyArray<RawQuote | StreamDataPoint>, priority: Priority = 'auto'): Promise<void> {
    return this.cache.setData(key, data, priority).catch((err: StreamCacheError) => {
      throw setDataFailure(err)
    })
  }

  getDataSince(key: string, since: number): Promise<StreamDataPoint[] | null> {
    return this.cache.getDataSince(key, since)
  }

  getBatchData(keys: string[]): Promise<Record<string, StreamDataPoint[] | null>> {
    return this.cache.getBatchData(keys)
  }

  deleteData(key: string): Promise<void> {
    return this.cache.deleteData(key)
  }

  clearAll(options?: ClearAllOptions): Promise<ClearAllResult> {
    return this.cache.clearAll(options)
  }

  getHealthStatus(): Promise<HealthStatus> {
    return this.cache.getHealthStatus()
  }

  reportSystemMetrics(): Promise<void> {
    return this.cache.reportSystemMetrics()
  }

  stats(): StreamCacheStats {
    return this.cache.stats()
  }

  /** No metric reaches the event bus from here on; requests still in flight are served. */
  onModuleDestroy(): void {
    this.cache.releaseMetrics()
  }

  /** The HTTP server has stopped: ends the native cache (Redis connection, timers). */
  async onApplicationShutdown(): Promise<void> {
    await this.cache.destroy()
    this.logger.debug('StreamCache destroyed')
  }
}

// Nest's ConfigurableModuleBuilder makes forRoot/forRootAsync; the extras are the
// registration options, kept out of the options the service gets.
const { ConfigurableModuleClass, ASYNC_OPTIONS_TYPE } = new ConfigurableModuleBuilder<StreamCacheModuleOptions>({
  optionsInjectionToken: STREAM_CACHE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setExtras<Registration>({ isGlobal: false, provide: undefined, eventEmitter: undefined }, (definition, extras) => {
    const providers: Provider[] = [
      ...(definition.providers ?? []),
      { provide: STREAM_CACHE_EVENT_EMITTER, useExisting: extras.eventEmitter ?? EventEmitter2 },
      StreamCacheService,
    ]
    const exported: InjectionToken[] = [StreamCacheService]
    if (extras.provide) {
      providers.push({ provide: extras.provide, useExisting: StreamCacheService })
      exported.push(extras.provide)
    }
    return { ...definition, global: extras.isGlobal ?? false, providers, exports: exported }
  })
  .build()

@Module({})
export class StreamCacheModule extends ConfigurableModuleClass {
  static forRoot(options: StreamCacheModuleOptions = {}, registration: Registration = {}): DynamicModule {
    return super.forRoot({ ...options, ...registration })
  }
}

/** `forRootAsync`'s options: `imports`, `useFactory`/`inject` (or `useClass`, `useExisting`) and the registration options. */
export type StreamCacheModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE
