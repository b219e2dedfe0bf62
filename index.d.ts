import type { ErrorCode, OptionDefaults } from "./binding"

export type { OptionDefaults }

/** A stream data point as stored and returned (docs/contract.md, "Data"). */
export interface StreamDataPoint {
  /** Symbol. */
  s: string
  /** Price. */
  p: number
  /** Volume. */
  v: number
  /** Timestamp, ms since the epoch. */
  t: number
  /** Change. */
  c?: number
  /** Change percent. */
  cp?: number
}

/**
 * A raw quote as accepted by `setData`: either already in point form, or with the long
 * names (`symbol`, `price`/`lastPrice`, `volume`, `timestamp`, `change`, `changePercent`).
 */
export interface RawQuote {
  symbol?: string
  s?: string
  price?: number
  lastPrice?: number
  p?: number
  volume?: number
  v?: number
  timestamp?: number
  t?: number
  change?: number
  c?: number
  changePercent?: number
  cp?: number
}

/** Hot-tier admission for `setData`; `"auto"` admits values under 10,000 JSON characters and 100 points. */
export type Priority = 'hot' | 'warm' | 'auto'

export interface RedisOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; its db wins over the
   * default but not over `db`.
   */
  url?: string
  /** Default `"localhost"`. */
  host?: string
  /** Default 6379. */
  port?: number
  username?: string
  /** Never appears in an error message, log line or `stats()`. */
  password?: string
  /** Default 1, as in the TypeScript service; 0 (the only one) on a cluster. */
  db?: number
  /** Default `"stream:"`; warm keys are `<keyPrefix>stream_cache_warm<key>`. */
  keyPrefix?: string
  /** Per connection attempt, ms. Default 5000. */
  connectTimeout?: number
  /** Upper bound for any single Redis command, ms. Default 3000. */
  commandTimeout?: number
  /** Reconnection attempts per failed command. Default 3. */
  maxRetriesPerRequest?: number
  /** TLS, ioredis-style: `true` or `{}` uses the system's trusted CAs. */
  tls?: boolean | RedisTlsOptions
  /**
   * A Redis Cluster instead of one server (then leave out `url`, `host` and `port`). The
   * nodes are seeds: the client learns the others, follows MOVED/ASK and fails over.
   * `username`, `password` and `tls` apply to every node.
   */
  cluster?: { nodes: Array<string | { host?: string; port?: number }> }
  /**
   * Redis Sentinel instead of a given server (then leave out `url`, `host`, `port` and
   * `cluster`): the Sentinels name the primary of `name`, and after a failover the cache
   * asks them again and moves to the promoted replica. `username`, `password`, `db` and
   * `tls` apply to the servers they name; the Sentinels are reached over plain TCP.
   */
  sentinels?: Array<{ host?: string; port?: number }>
  /** The master group the Sentinels monitor; required with `sentinels`. */
  name?: string
  /** The Sentinels' own ACL user, when they require one. */
  sentinelUsername?: string
  /** The Sentinels' own password (`requirepass` in sentinel.conf). Never appears in an error, log or `stats()`. */
  sentinelPassword?: string
  /** `"master"` (default): reads and writes go to the primary. `"slave"`: a replica, for reads. */
  role?: 'master' | 'slave'
}

/** What a `tls` object may hold; any other key is refused rather than ignored. */
export interface RedisTlsOptions {
  /** Trusted CA certificates, PEM: `fs.readFileSync('ca.pem')`. Default: the system's. */
  ca?: string | Buffer | Array<string | Buffer>
  /** Client certificate for mutual TLS, PEM (with `key`). */
  cert?: string | Buffer
  /** Client private key for mutual TLS, PEM (with `cert`). */
  key?: string | Buffer
  /** `false` accepts any server certificate: for tests only. Default true. */
  rejectUnauthorized?: boolean
}

/** A metric event, shaped exactly as the TypeScript service emitted it (docs/contract.md, "Metric events"). */
export interface CacheMetricEvent {
  timestamp: Date
  source: 'stream-cache'
  metricType: 'cache'
  /** `cache_<operation>_<success|failed>`. */
  metricName: string
  /** Duration in ms (0 for error events). */
  metricValue: number
  tags: {
    /** `get`, `set`, or the failing method (`getData`, `setData`, `deleteData`, `clearAll`, `healthCheck`). */
    operation: string
    success: 'true' | 'false'
    component: 'StreamCache'
    cacheType?: 'stream-cache'
    layer?: 'hot' | 'warm' | 'both' | 'miss'
    /** `set` events: length of the stored JSON. */
    dataSize?: number
    /** `set` events: stored points / input items (always 1). */
    compressionRatio?: number
    errorType?: 'recoverable_error' | 'critical_error'
    errorMessage?: string
  }
}

export interface SystemMetricEvent {
  timestamp: Date
  source: 'stream-cache'
  metricType: 'system'
  /** `coherence_fallback` (value 1, `tags.reason` says why): the server refused tracking. */
  metricName: 'cache_hot_size' | 'health_status' | 'coherence_fallback'
  metricValue: number
  tags: { component: 'StreamCache'; reason?: string }
}

export type MetricEvent = CacheMetricEvent | SystemMetricEvent

export interface StreamCacheOptions {
  redis?: RedisOptions
  /**
   * How long a hot entry stays valid after it was written, ms. Default 5000. With
   * `coherence: "tracking"` this is only an upper bound: a change in Redis drops the entry sooner.
   */
  hotCacheTTL?: number
  /**
   * How the hot tier learns that a warm key changed. `"tracking"` (default): Redis pushes an
   * invalidation (RESP3 `CLIENT TRACKING`) whenever anyone writes, deletes, expires or evicts
   * the key, and the entry is dropped; where the server refuses tracking the cache runs in
   * `"ttl"` mode and emits one `coherence_fallback` system event. `"ttl"`: an entry may lag
   * Redis by up to `hotCacheTTL`, as in the TypeScript service. README: "Coherence".
   */
  coherence?: 'tracking' | 'ttl'
  /**
   * Keys starting with one of these hold a quote series: `setData` merges the new points into
   * the stored series in Redis, atomically (sorted by `t`, duplicates dropped, pruned to
   * `max(warmCacheTTL × 1000, hotCacheTTL)` ms behind the latest point). Default `[]`: every
   * key is replaced, as in the TypeScript service our contract describes. README: "Quote series".
   */
  seriesKeyPrefixes?: string[]
  /**
   * Between `stream_cache_warm` and the caller's key in the warm key. `""` (default):
   * `stream:stream_cache_warmAAPL`; `":"`: `stream:stream_cache_warm:AAPL`, the format of the
   * TS service's later `StreamCacheStandardizedService`.
   */
  warmKeySeparator?: '' | ':'
  /** Redis TTL of warm entries, whole seconds. Default 300. */
  warmCacheTTL?: number
  /** Most entries in the hot tier (0 disables it). Default 1000. */
  maxHotCacheSize?: number
  /** How often expired hot entries are removed, ms. Default 30000. */
  cleanupInterval?: number
  /** Keys per MGET in `getBatchData`. Default 200. */
  maxBatchSize?: number
  /** Undelivered metric events kept at most; beyond it events are dropped and counted. Default 10000. */
  maxPendingMetrics?: number
  /** Largest value `setData` accepts, in bytes of JSON; larger ones are refused with a RangeError. Default 8 MiB. */
  maxValueBytes?: number
  /**
   * Reject `setData` when Redis refuses the write (otherwise it resolves and reports the
   * failure). Either way a value admitted to the hot tier stays there, as in the TypeScript
   * service, which wrote hot before Redis. Default false.
   */
  strictWarmWrites?: boolean
  /**
   * A write succeeds only once this many replicas hold it (`WAIT n` after each burst of
   * writes, for up to half of `commandTimeout`), so a failover cannot lose a write that
   * succeeded. With `strictWarmWrites` an unreplicated write rejects; without, it resolves
   * and reports `cache_set_failed`. One server or Sentinel only. Default 0: no wait.
   */
  waitForReplicas?: number
  /**
   * Receives every metric event, always after the operation's promise has settled and never
   * after `destroy()`. A throw is caught and counted in `stats().failedMetrics`.
   */
  onMetric?: (event: MetricEvent) => void
}

export interface ClearAllOptions {
  /** Ignore `preserveActive` and remove every key of this cache. */
  force?: boolean
  /** Keep warm keys written within the last `maxAge` seconds. */
  preserveActive?: boolean
  /** Seconds; default 3600. */
  maxAge?: number
}

export interface ClearAllResult {
  /** Warm keys removed. */
  deleted: number
  /** Warm keys kept by `preserveActive`. */
  preserved: number
}

export interface HealthStatus {
  status: 'healthy' | 'unhealthy'
  hotCacheSize: number
  redisConnected: boolean
  /** The PING error, or null when healthy. Never contains the password. */
  lastError: string | null
  /**
   * Every node: the one server, or each node the cluster announces. The status is
   * unhealthy when a node that owns hash slots does not answer; a lost replica shows here only.
   */
  nodes: RedisNodeHealth[]
  /** The coherence in force: `"ttl"` when configured so or when the server refused tracking. */
  coherence: 'tracking' | 'ttl'
}

export interface RedisNodeHealth {
  /** `host:port` */
  address: string
  role: 'master' | 'replica'
  connected: boolean
  /** The PING error, or null. */
  error: string | null
}

/**
 * What `collectMetrics` (`stream-cache-native/prometheus`) and `collectOpenTelemetry`
 * (`stream-cache-native/opentelemetry`) return.
 */
export interface MetricsRegistration {
  /** Stops reporting this cache; the metrics go with the last cache reporting into them. `destroy()` does this too. */
  unregister(): void
}

/** Delivery and hot-tier counters (docs/contract.md, "Lifecycle"). */
export interface StreamCacheStats {
  /** Events queued and not yet delivered. */
  pendingMetrics: number
  /** Callback invocations (including ones that threw). */
  emittedMetrics: number
  /** Events dropped: queue full, no longer deliverable, or discarded by `destroy()`. */
  droppedMetrics: number
  /** Callback invocations that threw. */
  failedMetrics: number
  /** Mean time from an event being queued to being handed to JavaScript, ms. */
  meanMetricLatencyMs: number
  hotCacheSize: number
  /** Hot entries removed by the cleanup timer. */
  expiredCleaned: number
  /** Keys Redis reported changed (`coherence: "tracking"`); a flush or a lost connection counts one. */
  invalidationsReceived: number
  /** Hot entries dropped because Redis reported their key changed. */
  hotEntriesInvalidated: number
  destroyed: boolean
}

/** Every `code` this package's errors carry (generated from src/error.rs). */
export type StreamCacheErrorCode = `${ErrorCode}`

/** Every error this package produces carries one of these codes. */
export interface StreamCacheError extends Error {
  code: StreamCacheErrorCode
}

/** The codes by short name: `CODES.TIMEOUT === 'STREAM_CACHE_TIMEOUT'`. */
export declare const CODES: {
  readonly [C in StreamCacheErrorCode as C extends `STREAM_CACHE_${infer Name}` ? Name : never]: C
}

/** Every numeric option's default, in the option's unit (ms, s, bytes; docs/contract.md, "Options"). */
export declare const OPTION_DEFAULTS: Readonly<OptionDefaults>

/** The TypeScript service's `compressData`: raw quotes to points, `||` semantics and all. */
export declare function compressData(data: ReadonlyArray<RawQuote | unknown>): Array<StreamDataPoint | unknown>

/**
 * A two-tier cache of stream data points: an in-process hot tier and a Redis warm tier.
 * Construction never waits for Redis. Call `destroy()` when done (the NestJS adapter calls
 * `releaseMetrics()` in `onModuleDestroy` and `destroy()` in `onApplicationShutdown`).
 *
 * @throws TypeError | RangeError with code `STREAM_CACHE_INVALID_ARGUMENT` for invalid options.
 */
export declare class StreamCache {
  constructor(options?: StreamCacheOptions)
  /** Hot hit, else Redis; `null` on a miss, on a Redis error, or for a value that is not a JSON array. */
  getData(key: string): Promise<StreamDataPoint[] | null>
  /** Points of `getData(key)` with `t > since`; `null` when none are left. */
  getDataSince(key: string, since: number): Promise<StreamDataPoint[] | null>
  /**
   * Normalises and stores `data`; empty or missing data does nothing. Resolves after the Redis
   * write; a failed write rejects only with `strictWarmWrites` (message `StreamCache setData failed: …`).
   */
  setData(key: string, data: ReadonlyArray<RawQuote | StreamDataPoint> | null | undefined, priority?: Priority): Promise<void>
  /** One property per key, `null` for a miss; Redis is asked once for all hot misses. */
  getBatchData(keys: readonly string[]): Promise<Record<string, StreamDataPoint[] | null>>
  /** Removes the key from both tiers; a Redis error is reported as an event, not thrown. */
  deleteData(key: string): Promise<void>
  /** Empties hot and removes this cache's warm keys (SCAN + UNLINK, only under its own prefix). */
  clearAll(options?: ClearAllOptions): Promise<ClearAllResult>
  /** PINGs Redis; never rejects for a Redis failure. */
  getHealthStatus(): Promise<HealthStatus>
  /** Emits the system metrics `cache_hot_size` and `health_status`. */
  reportSystemMetrics(): Promise<void>
  stats(): StreamCacheStats
  /**
   * Ends metric delivery for good while the cache keeps serving: undelivered events are dropped
   * and counted, no later event is built, and `onMetric` is released. For shutdowns where the
   * event consumer goes away before the cache's last callers (NestJS's `onModuleDestroy` runs
   * before the HTTP server stops). Idempotent; a no-op after `destroy()`.
   */
  releaseMetrics(): void
  /**
   * Idempotent. Rejects every pending operation with `STREAM_CACHE_DESTROYED`, drops undelivered
   * events, stops the cleanup timer, closes Redis and releases `onMetric`. After it is called,
   * `onMetric` is never invoked again and every call rejects with `STREAM_CACHE_DESTROYED`.
   */
  destroy(): Promise<void>
}
