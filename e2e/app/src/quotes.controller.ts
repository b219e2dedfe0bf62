import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common'
import { StreamCacheService } from 'stream-cache-native/nest'
import type { RawQuote } from 'stream-cache-native'

@Controller()
export class QuotesController {
  constructor(private readonly cache: StreamCacheService) {}

  @Post('quotes/:symbol')
  @HttpCode(201)
  async store(@Param('symbol') symbol: string, @Body() quotes: RawQuote[]): Promise<{ stored: number }> {
    await this.cache.setData(symbol, quotes)
    return { stored: quotes.length }
  }

  @Get('quotes/:symbol')
  async read(@Param('symbol') symbol: string): Promise<{ symbol: string; points: unknown[] }> {
    const points = await this.cache.getData(symbol)
    if (points === null) throw new NotFoundException(`no quotes for ${symbol}`)
    return { symbol, points }
  }

  @Get('health')
  health(): Promise<unknown> {
    return this.cache.getHealthStatus()
  }
}
