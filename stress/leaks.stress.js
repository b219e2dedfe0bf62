'use strict'

// Memory over many lifetimes and over time, each in a child process of its own.

const path = require('node:path')
const { spawn } = require('node:child_process')
const { startLocalRedis } = require('../scripts/local-redis')
const { record } = require('./figures')
const { SHORT } = require('./harness')

let redis
beforeAll(async () => {
  redis = await startLocalRedis()
})
afterAll(() => redis.stop())

function child(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { env: { ...process.env, REDIS_URL: redis.url } })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d) => (stdout += d))
    proc.stderr.on('data', (d) => (stderr += d))
    proc.on('exit', (code, signal) => {
      if (code !== 0 || stderr) reject(new Error(`exit ${code} ${signal ?? ''}\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)))
    })
  })
}
const fixture = (name) => path.join(__dirname, 'fixtures', name)
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`

test('create → use → destroy cycles: heap and RSS stay flat', async () => {
  const cycles = SHORT ? 3000 : 10_000
  // See fixtures/cycles.js for why the young generation is fixed.
  const flags = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16']
  const { heap, rss } = await child([...flags, fixture('cycles.js'), String(cycles), '5000'])
  record(`${cycles.toLocaleString('en')} create/use/destroy cycles`, 'heap growth after GC', `${(heap / 1024).toFixed(1)} KiB`, '< 64 KiB')
  record(`${cycles.toLocaleString('en')} create/use/destroy cycles`, 'RSS growth after GC', mib(rss), '< 2 MiB')
  expect(heap).toBeLessThan(64 * 1024)
  expect(rss).toBeLessThan(2 * 2 ** 20)
})

test('worker_threads create → load → terminate cycles: no crash, RSS flat', async () => {
  const cycles = SHORT ? 200 : 1000
  const { rssAfterWarmup, rssEnd } = await child(['--expose-gc', fixture('workers.js'), String(cycles)])
  const growth = rssEnd - rssAfterWarmup
  record(`${cycles} worker cycles`, 'RSS growth after warm-up', mib(growth), '< 5% of RSS')
  expect(Math.abs(growth)).toBeLessThan(0.05 * rssAfterWarmup)
})

test('soak: 64-way mixed load, RSS within ±5% after warm-up', async () => {
  const seconds = SHORT ? 30 : 600
  const { samples, ops, bad, settled } = await child([fixture('soak.js'), String(seconds)])
  const warm = Math.max(10, Math.floor(seconds / 4))
  // RSS saws by a few MiB with V8's GC cycles: the baseline is the median of the last five
  // warm-up samples, and every later sample is held to it.
  const base = samples.slice(warm - 5, warm).sort((a, b) => a - b)[2]
  const deviations = samples.slice(warm).map((s) => (s - base) / base)
  const worst = deviations.reduce((a, d) => (Math.abs(d) > Math.abs(a) ? d : a), 0)
  record(`soak ${seconds} s, 64-way`, 'operations', ops.toLocaleString('en'))
  record(`soak ${seconds} s, 64-way`, `RSS baseline (median, ${warm - 5}-${warm} s)`, mib(base))
  record(`soak ${seconds} s, 64-way`, 'largest RSS deviation after warm-up', `${(worst * 100).toFixed(1)} %`, '±5 %')
  expect(settled).toBe(true)
  expect(bad).toBe(0)
  expect(Math.abs(worst)).toBeLessThanOrEqual(0.05)
})
