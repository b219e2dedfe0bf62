import type { Registry } from 'prom-client'
import type { MetricsRegistration, StreamCache } from '../index'

export type { MetricsRegistration }

export interface PrometheusOptions {
  /** Where the metrics go. Default: prom-client's global `register`. */
  registry?: Registry
  /** Prefix of every metric name. Default `"stream_cache_"`. */
  prefix?: string
}

/**
 * Reports the cache into a prom-client registry: `<prefix>gets_total{layer}`,
 * `sets_total{layer,success}`, `errors_total{operation,type}`,
 * `operation_duration_seconds{operation}`, `events_pending`, `events_emitted_total`,
 * `events_dropped_total`, `events_failed_total`, `invalidations_received_total`,
 * `hot_entries`, `redis_connected` and `coherence_mode{mode}`. Caches sharing a registry and
 * prefix share the metrics (summed); nothing is registered twice.
 */
export declare function collectMetrics(cache: StreamCache, options?: PrometheusOptions): MetricsRegistration
