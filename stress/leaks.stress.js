'use strict'

// Memory over many lifetimes and over time, each in a child process of its own.

const path = require('node:path')
const { startLocalRedis } = require('../scripts/local-redis')
const { record } = require('./figures')
const { SHORT } = require('./harness')
const { runNode } = require('../__test__/helpers')

let redis
beforeAll(async () => {
  redis = await startLocalRedis()
})
afterAll(() => redis.stop())

// Runs a fixture against this file's Redis; it must exit cleanly and print JSON last.
async function child(args) {
  const { code, signal, stdout, stderr } = await runNode(args, {
    timeoutMs: 30 * 60_000,
    env: { ...process.env, REDIS_URL: redis.url },
  })
  if (code !== 0 || stderr) throw new Error(`exit ${code} ${signal ?? ''}\n${stderr}`)
  return JSON.parse(stdout.trim().split('\n').at(-1))
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
  const run = async (mode) => {
    const { rssAfterWarmup, growth } = await child(['--expose-gc', fixture('workers.js'), String(cycles), mode])
    return { rss: rssAfterWarmup, growth }
  }
  // Node itself keeps about 10 KiB per terminated worker (seen with workers that never
  // load the addon), so the addon is judged by what it adds to that.
  const bare = await run('bare')
  const ours = await run('cache')
  const added = ours.growth - bare.growth
  record(`${cycles} worker cycles`, 'RSS trend after warm-up (fitted), with cache / bare Node', `${mib(ours.growth)} / ${mib(bare.growth)}`, '')
  record(`${cycles} worker cycles`, 'RSS growth the addon adds', mib(added), '< 5% of RSS')
  expect(added).toBeLessThan(0.05 * ours.rss)
})

test('soak: 64-way mixed load, RSS within ±5% after warm-up', async () => {
  const seconds = SHORT ? 45 : 600
  const { samples, ops, bad, settled } = await child([fixture('soak.js'), String(seconds)])
  // The baseline window must come after warm-up in short mode too: RSS still climbs in the
  // first seconds while V8 sizes its heap, which made a 0-10 s baseline read as growth.
  const warm = Math.max(15, Math.floor(seconds / 4))
  // RSS saws by several MiB with V8's GC cycles (a 10-minute run stayed in one 90-98 MiB
  // band with no trend). So the level is the median of 10-second windows: the baseline is
  // the last warm-up window, and every later window is held to ±5% of it. Raw extremes
  // are reported too.
  const rss = samples.map((s) => s.rss)
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
  const base = median(rss.slice(warm - 10, warm))
  const windows = []
  for (let i = warm; i + 10 <= rss.length; i += 10) windows.push(median(rss.slice(i, i + 10)))
  const worst = windows.map((w) => (w - base) / base).reduce((a, d) => (Math.abs(d) > Math.abs(a) ? d : a), 0)
  const after = rss.slice(warm)
  const heapTotals = samples.slice(warm).map((s) => s.heapTotal)
  const label = `soak ${seconds} s, 64-way`
  record(label, 'operations', ops.toLocaleString('en'))
  record(label, `RSS baseline (median of ${warm - 10}-${warm} s)`, mib(base))
  record(label, 'largest deviation of a 10 s RSS median', `${(worst * 100).toFixed(1)} %`, '±5 %')
  record(label, 'raw RSS after warm-up, min-max', `${mib(Math.min(...after))} - ${mib(Math.max(...after))}`)
  record(label, 'V8 heapTotal after warm-up, min-max', `${mib(Math.min(...heapTotals))} - ${mib(Math.max(...heapTotals))}`)
  expect(settled).toBe(true)
  expect(bad).toBe(0)
  expect(Math.abs(worst)).toBeLessThanOrEqual(0.05)
})
