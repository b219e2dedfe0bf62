import { INestApplication } from '@nestjs/common'
import { Test } from '@nestjs/testing'
import request from 'supertest'
import { AppModule } from '../src/app.module.js'

// Runs with --detectOpenHandles and without --forceExit: jest must end by itself after
// app.close(), so the cache may leave nothing running.
describe('quotes API over HTTP', () => {
  let app: INestApplication

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile()
    app = moduleRef.createNestApplication()
    await app.init()
  })

  afterAll(async () => {
    await app.close()
  })

  it('stores quotes and reads them back', async () => {
    const quotes = [{ symbol: 'E2E', price: 190.5, volume: 1200, timestamp: 1_700_000_000_000 }]
    await request(app.getHttpServer()).post('/quotes/E2E').send(quotes).expect(201, { stored: 1 })
    await request(app.getHttpServer())
      .get('/quotes/E2E')
      .expect(200, { symbol: 'E2E', points: [{ s: 'E2E', p: 190.5, v: 1200, t: 1_700_000_000_000 }] })
  })

  it('answers 404 for a symbol it never saw', async () => {
    await request(app.getHttpServer()).get('/quotes/NEVER').expect(404)
  })

  it('reports Redis health', async () => {
    const res = await request(app.getHttpServer()).get('/health').expect(200)
    expect(res.body).toMatchObject({ status: 'healthy', redisConnected: true })
  })
})
