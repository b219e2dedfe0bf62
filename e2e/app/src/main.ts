import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import { NestFactory } from '@nestjs/core'
import { StreamCacheService } from 'stream-cache-native/nest'
import { AppModule } from './app.module.js'
import { MetricsListener } from './metrics.listener.js'

// Serves on PORT (0: any free port) until SIGTERM; prints LISTENING <port> when ready.
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule)
  app.enableShutdownHooks()
  const listener = app.get(MetricsListener)
  const cache = app.get(StreamCacheService)
  const releaseMetrics = cache.onModuleDestroy.bind(cache)
  cache.onModuleDestroy = () => {
    listener.cacheClosing = true
    releaseMetrics()
  }
  await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1')
  console.log(`LISTENING ${(app.getHttpServer().address() as AddressInfo).port}`)
}

bootstrap().catch((err) => {
  console.error(err)
  process.exit(1)
})
