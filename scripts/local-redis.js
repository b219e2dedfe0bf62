'use strict'

// Starts a throwaway redis-server on a free loopback port, for the demo and the tests.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

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

function redisCli(port, ...args) {
  const out = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' })
  if (out.error) throw new Error(`redis-cli could not run: ${out.error.message}`)
  return out.stdout
}

// Polls until every node reports `cluster_state:ok` and sees every node in its final role,
// and every replica has finished its first sync (before that it could not take over).
async function waitForCluster(ports, replicas, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  const expectedReplicas = (ports.length / (1 + replicas)) * replicas
  for (;;) {
    const ready = ports.every((port) => {
      const info = redisCli(port, 'CLUSTER', 'INFO')
      const roles = redisCli(port, 'CLUSTER', 'NODES').split('\n').filter((line) => /\bslave\b/.test(line))
      const replication = redisCli(port, 'INFO', 'replication')
      const synced = !replication.includes('role:slave') || replication.includes('master_link_status:up')
      return info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${ports.length}`) &&
        roles.length === expectedReplicas && synced
    })
    if (ready) return
    if (Date.now() > deadline) throw new Error(`cluster on ports ${ports.join(',')} did not become ready`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// A throwaway Redis Cluster on loopback: `masters` masters with `replicas` replicas each.
// Its state lives in a temporary directory that stop() removes.
async function startLocalCluster({ masters = 3, replicas = 0, args = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-cache-cluster-'))
  const count = masters * (1 + replicas)
  const ports = []
  while (ports.length < count) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  const servers = await Promise.all(
    ports.map((port) =>
      startLocalRedis({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '1000', '--dir', dir, ...args],
      }),
    ),
  )
  const stop = () => {
    for (const server of servers) server.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8' })
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`)
    await waitForCluster(ports, replicas)
  } catch (err) {
    stop()
    throw err
  }
  return { nodes: ports.map((p) => `redis://127.0.0.1:${p}`), ports, servers, stop }
}

// A primary, one replica and `sentinels` Sentinels (`redis-server --sentinel`) on loopback,
// monitoring the group `name`; `password` protects both servers, `sentinelPassword` the
// Sentinels. Their config files live in a temporary directory that stop() removes.
async function startLocalSentinel({ name = 'cache', sentinels = 3, downAfterMs = 1000, password, sentinelPassword } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-cache-sentinel-'))
  const auth = password ? ['--requirepass', password, '--masterauth', password] : []
  // No wait before the replica's first full sync.
  const primary = await startLocalRedis({ args: ['--repl-diskless-sync-delay', '0', '--dir', dir, ...auth] })
  const replica = await startLocalRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port), '--dir', dir, ...auth] })
  const started = []
  for (let i = 0; i < sentinels; i++) {
    const port = await freePort()
    const conf = path.join(dir, `sentinel-${port}.conf`)
    fs.writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} 10000`,
      ...(password ? [`sentinel auth-pass ${name} ${password}`] : []),
      ...(sentinelPassword ? [`requirepass ${sentinelPassword}`] : []),
      '',
    ].join('\n'))
    const process = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
    process.unref()
    started.push({ host: '127.0.0.1', port, process })
  }
  const stop = () => {
    for (const s of [...started.map((x) => x.process), primary.process, replica.process]) s.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForSentinels({ sentinels: started, name, primary, replica, password, sentinelPassword })
  } catch (err) {
    stop()
    throw err
  }
  return { name, primary, replica, sentinels: started.map(({ host, port }) => ({ host, port })), stop }
}

const cliAuth = (password) => (password ? ['--no-auth-warning', '-a', password] : [])

// Until the replica has synced and every Sentinel names the primary and knows the replica
// and the other Sentinels.
async function waitForSentinels({ sentinels, name, primary, replica, password, sentinelPassword }, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  const ask = (port, ...args) => redisCli(port, ...cliAuth(sentinelPassword), 'SENTINEL', ...args, name)
  for (;;) {
    const synced = redisCli(replica.port, ...cliAuth(password), 'INFO', 'replication').includes('master_link_status:up')
    const ready = synced && sentinels.every(({ port }) => {
      const replicas = ask(port, 'REPLICAS')
      const peers = ask(port, 'SENTINELS').match(/^name$/gm) ?? []
      return ask(port, 'GET-MASTER-ADDR-BY-NAME').includes(String(primary.port)) && replicas.includes(String(replica.port)) &&
        !replicas.includes('s_down') && peers.length === sentinels.length - 1
    })
    if (ready) return
    if (Date.now() > deadline) throw new Error('the Sentinels did not come to know each other and the replica in time')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

module.exports = { startLocalRedis, startLocalCluster, startLocalSentinel, freePort, waitForRedis, redisCli }
