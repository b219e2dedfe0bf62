import type { Meter } from '@opentelemetry/api'
import type { MetricsRegistration, StreamCache } from '../index'

export type { MetricsRegistration }

export interface OpenTelemetryOptions {
  /** The meter the instruments are made on. Default: `metrics.getMeter('stream-cache-native')`. */
  meter?: Meter
  /** Prefix of every instrument name. Default `"stream_cache."`. */
  prefix?: string
}

/**
 * Reports the cache as OpenTelemetry instruments: counters `<prefix>gets{layer}`,
 * `sets{layer,success}`, `errors{operation,type}`, histogram `operation.duration` (s), and
 * observable `events.pending`, `events.emitted`, `events.dropped`, `events.failed`,
 * `invalidations.received`, `hot.entries`, `redis.connected`, `coherence.mode{mode}`.
 */
export declare function collectOpenTelemetry(cache: StreamCache, options?: OpenTelemetryOptions): MetricsRegistration
