import { BeforeApplicationShutdown, Injectable, OnModuleInit } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/**
 * Node's server.close() leaves busy keep-alive connections open, so under steady load Nest's
 * app.close() would wait for the clients to hang up. Once shutdown begins, every response
 * asks its client to close the connection, and close() ends within one round trip.
 */
@Injectable()
export class HttpDrain implements OnModuleInit, BeforeApplicationShutdown {
  private draining = false

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const server: Server = this.adapterHost.httpAdapter.getHttpServer()
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (this.draining) res.setHeader('Connection', 'close')
    })
  }

  beforeApplicationShutdown(): void {
    this.draining = true
  }
}
