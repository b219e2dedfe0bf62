// The baseline: the old TypeScript design of the StreamCacheService, written to the same
// behaviour contract as the native cache so the benchmark compares like with like:
// ioredis with keyPrefix and auto-pipelining, a Map hot tier with the access-count scan
// eviction, and one setImmediate per metric event into an EventEmitter2. It keeps the old
// design's flaw on purpose: queued metric callbacks outlive destroy().

import Redis from 'ioredis'
import type { EventEmitter2 } from 'eventemitter2'

export const METRIC_EVENT = 'system-status.metric.collected'

export interface StreamDataPoint {
  s: string
  p: number
  v: number
  t: number
  c?: number
  cp?: number
}

export interface BaselineOptions {
  redisUrl: string
  hotCacheTTL?: number
  warmCacheTTL?: number
  maxHotCacheSize?: number
  cleanupInterval?: number
  maxBatchSize?: number
}

interface HotEntry {
  data: StreamDataPoint[]
  timestamp: number
  accessCount: number
}

type Tags = Record<string, string | number>

const WARM = 'stream_cache_warm'

export class BaselineStreamCache {
  private readonly hot = new Map<string, HotEntry>()
  private readonly redis: Redis
  private readonly cleanupTimer: NodeJS.Timeout
  private readonly hotCacheTTL: number
  private readonly warmCacheTTL: number
  private readonly maxHotCacheSize: number
  private readonly maxBatchSize: number

  constructor(
    private readonly eventBus: EventEmitter2,
    options: BaselineOptions,
  ) {
    this.hotCacheTTL = options.hotCacheTTL ?? 5000
    this.warmCacheTTL = options.warmCacheTTL ?? 300
    this.maxHotCacheSize = options.maxHotCacheSize ?? 1000
    this.maxBatchSize = options.maxBatchSize ?? 200
    const url = new URL(options.redisUrl)
    this.redis = new Redis({
      host: url.hostname,
      port: Number(url.port || 6379),
      db: 1,
      keyPrefix: 'stream:',
      enableAutoPipelining: true,
      maxRetriesPerRequest: 3,
      connectTimeout: 5000,
      commandTimeout: 3000,
    })
    this.cleanupTimer = setInterval(() => this.cleanup(), options.cleanupInterval ?? 30000)
  }

  async getData(key: string): Promise<StreamDataPoint[] | null> {
    const start = Date.now()
    try {
      const entry = this.hot.get(key)
      if (entry !== undefined) {
        if (Date.now() - entry.timestamp < this.hotCacheTTL) {
          entry.accessCount++
          this.recordCacheMetric('get', 'hot', Date.now() - start, true)
          return entry.data
        }
        this.hot.delete(key)
      }
      const raw = await this.redis.get(WARM + key)
      if (raw) {
        const data = JSON.parse(raw) as StreamDataPoint[]
        this.setHot(key, data)
        this.recordCacheMetric('get', 'warm', Date.now() - start, true)
        return data
      }
      this.recordCacheMetric('get', 'miss', Date.now() - start, false)
      return null
    } catch (error) {
      this.recordError('getData', error)
      return null
    }
  }

  async setData(key: string, data: unknown[], priority: 'hot' | 'warm' | 'auto' = 'auto'): Promise<void> {
    if (!data || data.length === 0) return
    const start = Date.now()
    try {
      const points = this.compressData(data)
      const serialized = JSON.stringify(points)
      const size = serialized.length
      const toHot = priority === 'hot' || (priority === 'auto' && size < 10000 && data.length < 100)
      if (toHot) this.setHot(key, points)
      try {
        await this.redis.setex(WARM + key, this.warmCacheTTL, serialized)
      } catch (error) {
        this.recordError('setData', error)
      }
      this.recordCacheMetric('set', toHot ? 'both' : 'warm', Date.now() - start, true, {
        dataSize: size,
        compressionRatio: points.length / data.length,
      })
    } catch (error) {
      this.recordError('setData', error)
      throw error
    }
  }

  async getDataSince(key: string, since: number): Promise<StreamDataPoint[] | null> {
    const data = await this.getData(key)
    if (data === null) return null
    const kept = data.filter((point) => point.t > since)
    return kept.length > 0 ? kept : null
  }

  // Like the TS service's (upstream 3fbb5432): no metric event for the keys, only on failure.
  async getBatchData(keys: string[]): Promise<Record<string, StreamDataPoint[] | null>> {
    const result: Record<string, StreamDataPoint[] | null> = {}
    const missing: string[] = []
    const now = Date.now()
    for (const key of keys) {
      const entry = this.hot.get(key)
      if (entry !== undefined && now - entry.timestamp < this.hotCacheTTL) {
        entry.accessCount++
        result[key] = entry.data
      } else {
        missing.push(key)
      }
    }
    for (let i = 0; i < missing.length; i += this.maxBatchSize) {
      const chunk = missing.slice(i, i + this.maxBatchSize)
      try {
        const values = await this.redis.mget(chunk.map((key) => WARM + key))
        chunk.forEach((key, j) => {
          const raw = values[j]
          let data: StreamDataPoint[] | null = null
          if (raw) {
            try {
              data = JSON.parse(raw) as StreamDataPoint[]
            } catch {
              data = null
            }
          }
          result[key] = data
          if (data !== null) this.setHot(key, data)
        })
      } catch (error) {
        for (const key of chunk) result[key] = null
        this.recordError('getBatchData', error)
      }
    }
    return result
  }

  async deleteData(key: string): Promise<void> {
    this.hot.delete(key)
    try {
      await this.redis.del(WARM + key)
    } catch (error) {
      this.recordError('deleteData', error)
    }
  }

  async destroy(): Promise<void> {
    clearInterval(this.cleanupTimer)
    this.hot.clear()
    await this.redis.quit()
  }

  private compressData(data: unknown[]): StreamDataPoint[] {
    const now = Date.now()
    return data.map((raw, i) => {
      if (typeof raw !== 'object' || raw === null) return raw as StreamDataPoint
      const item = raw as Record<string, unknown>
      const point: StreamDataPoint = {
        s: (item.symbol || item.s || '') as string,
        p: (item.price || item.lastPrice || item.p || 0) as number,
        v: (item.volume || item.v || 0) as number,
        t: (item.timestamp || item.t || now + i) as number,
      }
      const c = item.change || item.c
      if (c !== undefined) point.c = c as number
      const cp = item.changePercent || item.cp
      if (cp !== undefined) point.cp = cp as number
      return point
    })
  }

  // O(n) per insert once full: the lowest access count goes, ties to the oldest write.
  private setHot(key: string, data: StreamDataPoint[]): void {
    if (this.hot.size >= this.maxHotCacheSize && !this.hot.has(key)) {
      let victim: string | undefined
      let lowest = Infinity
      let oldest = Infinity
      for (const [k, entry] of this.hot) {
        if (entry.accessCount < lowest || (entry.accessCount === lowest && entry.timestamp < oldest)) {
          victim = k
          lowest = entry.accessCount
          oldest = entry.timestamp
        }
      }
      if (victim !== undefined) this.hot.delete(victim)
    }
    this.hot.set(key, { data, timestamp: Date.now(), accessCount: 0 })
  }

  private cleanup(): void {
    const now = Date.now()
    for (const [key, entry] of this.hot) {
      if (now - entry.timestamp >= this.hotCacheTTL) this.hot.delete(key)
    }
  }

  private recordCacheMetric(operation: string, layer: string, duration: number, success: boolean, extra: Tags = {}): void {
    setImmediate(() => {
      this.eventBus.emit(METRIC_EVENT, {
        timestamp: new Date(),
        source: 'stream-cache',
        metricType: 'cache',
        metricName: `cache_${operation}_${success ? 'success' : 'failed'}`,
        metricValue: duration,
        tags: { operation, success: String(success), component: 'StreamCache', cacheType: 'stream-cache', layer, ...extra },
      })
    })
  }

  private recordError(method: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error)
    setImmediate(() => {
      this.eventBus.emit(METRIC_EVENT, {
        timestamp: new Date(),
        source: 'stream-cache',
        metricType: 'cache',
        metricName: `cache_${method}_failed`,
        metricValue: 0,
        tags: { operation: method, success: 'false', component: 'StreamCache', errorType: 'recoverable_error', errorMessage: message },
      })
    })
  }
}
