'use strict'

// Starts a throwaway redis-server on a free loopback port, for the demo and the tests.

const { spawn, spawnSync } = require('node:child_process')
const net = require('node:net')

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function waitForRedis(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1')
      sock.once('error', () => resolve(false))
      sock.once('data', (d) => {
        sock.destroy()
        // A password-protected server answers NOAUTH: it is up all the same.
        resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()))
      })
      sock.once('connect', () => sock.write('PING\r\n'))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function startLocalRedis({ port, args = [] } = {}) {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('redis-server is not installed: `apt-get install redis-server`, or set REDIS_URL to a running server')
  }
  const chosen = port ?? (await freePort())
  const server = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  )
  server.unref()
  await waitForRedis(chosen)
  return { url: `redis://127.0.0.1:${chosen}`, port: chosen, process: server, stop: () => server.kill('SIGTERM') }
}

module.exports = { startLocalRedis, freePort, waitForRedis }
