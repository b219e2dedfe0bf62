import { Module } from '@nestjs/common'
import { ConfigModule, ConfigService } from '@nestjs/config'
import { EventEmitterModule } from '@nestjs/event-emitter'
import { StreamCacheModule } from 'stream-cache-native/nest'
import { HttpDrain } from './http-drain.js'
import { MetricsListener } from './metrics.listener.js'
import { QuotesController } from './quotes.controller.js'

@Module({
  imports: [
    ConfigModule.forRoot(),
    EventEmitterModule.forRoot(),
    StreamCacheModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        redis: { url: config.get<string>('REDIS_URL'), keyPrefix: config.get<string>('KEY_PREFIX') ?? 'stream:' },
      }),
    }),
  ],
  controllers: [QuotesController],
  providers: [HttpDrain, MetricsListener],
})
export class AppModule {}
