'use strict'

// What waitForReplicas costs, in a fresh process: setData against a primary with one replica
// (both started here, on loopback), without waiting and with `WAIT 1` after each burst, at 1
// and 64 in flight. Prints one JSON line per mode.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { StreamCache } = require('..')
const { startLocalRedis, redisCli } = require('../scripts/local-redis')

const { seconds } = JSON.parse(process.argv[2])

async function writes(url, waitForReplicas, inFlight) {
  const cache = new StreamCache({ redis: { url, keyPrefix: 'replicas-bench:' }, waitForReplicas, strictWarmWrites: true })
  let n = 0
  const deadline = performance.now() + seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      const i = n++
      await cache.setData(`K${i % 1000}`, [{ s: 'Q', p: i, v: 1, t: i }], 'warm')
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: inFlight }, worker))
  const elapsed = (performance.now() - started) / 1000
  await cache.destroy()
  return { waitForReplicas, inFlight, opsPerSec: n / elapsed, writes: n }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-cache-replicas-'))
  const primary = await startLocalRedis({ args: ['--repl-diskless-sync-delay', '0', '--dir', dir] })
  const replica = await startLocalRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port), '--dir', dir] })
  try {
    while (!redisCli(replica.port, 'INFO', 'replication').includes('master_link_status:up')) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    for (const inFlight of [1, 64]) {
      for (const wait of [0, 1]) console.log(JSON.stringify(await writes(primary.url, wait, inFlight)))
    }
  } finally {
    primary.stop()
    replica.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
