'use strict'

// Jest global setup and teardown (the same module): a throwaway redis-server on a free
// loopback port, unless REDIS_URL points at one already. Tests read the URL from process.env.

const { startLocalRedis } = require('../scripts/local-redis')

module.exports = async function redisServer() {
  if (globalThis.__redisServer) {
    globalThis.__redisServer.stop()
    globalThis.__redisServer = undefined
    return
  }
  if (process.env.REDIS_URL) return
  globalThis.__redisServer = await startLocalRedis()
  process.env.REDIS_URL = globalThis.__redisServer.url
}
