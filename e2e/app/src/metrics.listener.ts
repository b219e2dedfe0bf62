import { Injectable, OnApplicationShutdown } from '@nestjs/common'
import { OnEvent } from '@nestjs/event-emitter'
import { STREAM_CACHE_METRIC_EVENT } from 'stream-cache-native/nest'
import type { MetricEvent } from 'stream-cache-native'

/**
 * The app's consumer of the cache's metric events, as the stock-quote API has one. For the
 * shutdown check it prints E2E_LATE_EVENT for any event after the cache's onModuleDestroy
 * began (main.ts sets cacheClosing) and an E2E_REPORT line at shutdown.
 */
@Injectable()
export class MetricsListener implements OnApplicationShutdown {
  received = 0
  cacheClosing = false

  @OnEvent(STREAM_CACHE_METRIC_EVENT)
  record(event: MetricEvent): void {
    this.received++
    if (this.cacheClosing) console.log(`E2E_LATE_EVENT ${event.metricName}`)
  }

  onApplicationShutdown(): void {
    console.log(`E2E_REPORT ${JSON.stringify({ received: this.received })}`)
  }
}
