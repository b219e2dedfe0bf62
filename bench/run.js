'use strict'

// `npm run bench`: the native cache against the old TypeScript design (bench/baseline),
// same Redis, same run. Every measurement is its own process (bench/worker.js); rows
// alternate baseline and native so drift on a noisy machine hits both alike.
//
//   npm run bench                  full run (about 9 minutes on 2 cores)
//   npm run bench -- --quick       one short repetition per row, to check the harness (CI);
//                                  writes quick.json / quick.svg, not the committed results
//   REDIS_URL=redis://host:6379    use that server instead of starting one
//   BENCH_REPS=5 BENCH_SECONDS=1   repetitions per row and seconds per measurement

const { spawn, spawnSync, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startLocalRedis } = require('../scripts/local-redis')
const { drawRatios } = require('./chart')
const w = require('./workload')
const { fmt, ms, libraryReport, writeReadmeSection } = require('./readme')
const { seed, median } = w

const ROOT = path.join(__dirname, '..')
const RESULTS = path.join(__dirname, 'results')
const quick = process.argv.includes('--quick')
const REPS = Number(process.env.BENCH_REPS ?? (quick ? 1 : 5))
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 0.3 : 1))
const WARMUP = quick ? 0.1 : 0.3
const MEMORY_OPS = quick ? 50_000 : 1_000_000

const OPERATIONS = [
  { op: 'set', label: 'setData (10 points)', target: 3 },
  { op: 'warmGet', label: 'getData, warm', target: 3 },
  { op: 'hotGet', label: 'getData, hot', target: 1 },
  { op: 'batch', label: 'getBatchData (50 keys)', target: 3 },
  { op: 'since', label: 'getDataSince, hot', target: null },
]
const IN_FLIGHT = [1, 64]

function log(line) {
  process.stderr.write(`${line}\n`)
}

function measure(spec, nodeArgs = []) {
  const run = spawnSync(process.execPath, [...nodeArgs, path.join(__dirname, 'worker.js'), JSON.stringify(spec)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  })
  if (run.status !== 0) throw new Error(`worker failed for ${JSON.stringify(spec)}:\n${run.stderr}`)
  const result = JSON.parse(run.stdout.trim().split('\n').pop())
  if (result.events < result.expectedEvents) {
    throw new Error(`${spec.impl} ${spec.op}: ${result.events} of ${result.expectedEvents} metric events arrived`)
  }
  if (result.nulls > 0) throw new Error(`${spec.impl} ${spec.op}: ${result.nulls} reads found nothing`)
  return result
}

// Like measure, for several workers at once (the write-heavy pair).
function measureTogether(specs) {
  return Promise.all(
    specs.map(
      (spec) =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, [path.join(__dirname, 'worker.js'), JSON.stringify(spec)])
          let out = ''
          let err = ''
          child.stdout.on('data', (d) => (out += d))
          child.stderr.on('data', (d) => (err += d))
          child.on('close', (code) =>
            code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`worker failed: ${err}`)),
          )
        }),
    ),
  )
}

function measureLag(spec) {
  const run = spawnSync(process.execPath, [path.join(__dirname, 'lag.js'), JSON.stringify(spec)], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`lag run failed for ${JSON.stringify(spec)}:\n${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').pop())
}

function summarise(runs) {
  const rates = runs.map((r) => r.opsPerSec)
  return {
    opsPerSec: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    p50Ms: median(runs.map((r) => r.p50)),
    p99Ms: median(runs.map((r) => r.p99)),
    runs: rates.map(Math.round),
  }
}

function redisBenchmark(port, test, valueBytes) {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', test, '-d', String(valueBytes), '-P', '64', '-c', '1']
  const rates = []
  for (let i = 0; i < Math.max(1, Math.min(REPS, 3)); i++) {
    const out = execFileSync('redis-benchmark', [...args, '-n', String(quick ? 100_000 : 1_000_000), '--csv'], {
      encoding: 'utf8',
    })
    const row = out.split('\n').find((line) => line.startsWith(`"${test.toUpperCase()}"`))
    rates.push(Number(row.split(',')[1].replaceAll('"', '')))
  }
  return { command: `redis-benchmark ${args.join(' ')}`, opsPerSec: median(rates), runs: rates.map(Math.round) }
}

async function main() {
  fs.mkdirSync(RESULTS, { recursive: true })
  log('== compiling the TypeScript baseline')
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', path.join(__dirname, 'tsconfig.json')], {
    stdio: 'inherit',
  })
  const local = process.env.REDIS_URL ? null : await startLocalRedis()
  const redisUrl = process.env.REDIS_URL ?? local.url
  const port = Number(new URL(redisUrl).port || 6379)
  try {
    log(`== seeding ${w.WARM_KEYS} warm keys into ${redisUrl}`)
    const redisVersion = await seed(redisUrl)
    const valueBytes = Buffer.byteLength(w.warmValue(0))
    const base = { redisUrl, seconds: SECONDS, warmupSeconds: WARMUP }

    const rows = []
    for (const { op, label, target } of OPERATIONS) {
      for (const inFlight of IN_FLIGHT) {
        const runs = { baseline: [], native: [], nativeQuiet: [], nativeTtl: [] }
        for (let rep = 0; rep < REPS; rep++) {
          const order = rep % 2 ? ['native', 'baseline'] : ['baseline', 'native']
          for (const impl of order) runs[impl].push(measure({ ...base, impl, op, inFlight, metrics: true }))
          if (inFlight === 64) {
            runs.nativeQuiet.push(measure({ ...base, impl: 'native', op, inFlight, metrics: false }))
            runs.nativeTtl.push(measure({ ...base, impl: 'native', op, inFlight, metrics: true, coherence: 'ttl' }))
          }
        }
        const pairs = runs.native.map((r, i) => r.opsPerSec / runs.baseline[i].opsPerSec)
        const row = {
          op,
          label,
          inFlight,
          target: inFlight === 64 ? target : null,
          baseline: summarise(runs.baseline),
          native: summarise(runs.native),
          ratio: median(runs.native.map((r) => r.opsPerSec)) / median(runs.baseline.map((r) => r.opsPerSec)),
          ratioMin: Math.min(...pairs),
          ratioMax: Math.max(...pairs),
        }
        if (runs.nativeQuiet.length > 0) {
          row.nativeWithoutMetrics = summarise(runs.nativeQuiet)
          row.metricsCost = 1 - row.native.opsPerSec / row.nativeWithoutMetrics.opsPerSec
          row.nativeTtl = summarise(runs.nativeTtl)
          row.trackingCost = 1 - row.native.opsPerSec / row.nativeTtl.opsPerSec
        }
        rows.push(row)
        log(`   ${label} @${inFlight}: native ${fmt(row.native.opsPerSec)}/s, baseline ${fmt(row.baseline.opsPerSec)}/s, ×${row.ratio.toFixed(2)}`)
      }
    }

    log('== coherence: one writer and one reader process, 64 in flight each, on the same 800 keys')
    const writeHeavy = {}
    for (const coherence of ['tracking', 'ttl']) {
      const pairs = []
      for (let rep = 0; rep < REPS; rep++) {
        const common = { ...base, impl: 'native', inFlight: 64, metrics: true, coherence }
        pairs.push(await measureTogether([{ ...common, op: 'set' }, { ...common, op: 'readWritten' }]))
      }
      writeHeavy[coherence] = {
        writer: summarise(pairs.map(([writer]) => writer)),
        reader: summarise(pairs.map(([, reader]) => reader)),
        readerLayers: pairs.at(-1)[1].layers,
        readerInvalidations: pairs.at(-1)[1].invalidations,
      }
      log(`   ${coherence}: writer ${fmt(writeHeavy[coherence].writer.opsPerSec)}/s, reader ${fmt(writeHeavy[coherence].reader.opsPerSec)}/s`)
    }

    log('== invalidation lag: a foreign SETEX acknowledged → getData on another instance returns it')
    const lag = {
      tracking: measureLag({ redisUrl, coherence: 'tracking', hotCacheTTL: 5000, samples: quick ? 200 : 2000 }),
      ttl: measureLag({ redisUrl, coherence: 'ttl', hotCacheTTL: 1000, samples: quick ? 4 : 40 }),
    }
    log(`   tracking: p50 ${ms(lag.tracking.p50)}, p99 ${ms(lag.tracking.p99)}, max ${ms(lag.tracking.max)}`)
    log(`   ttl (hotCacheTTL 1000 ms): p50 ${ms(lag.ttl.p50)}, p99 ${ms(lag.ttl.p99)}, max ${ms(lag.ttl.max)}`)

    log('== series merges (seriesKeyPrefixes): 4 instances × 16 in flight, one point per setData')
    const seriesRun = spawnSync(process.execPath, [path.join(__dirname, 'series.js'), JSON.stringify({ redisUrl, seconds: quick ? 0.5 : 3 })], {
      encoding: 'utf8',
    })
    if (seriesRun.status !== 0) throw new Error(`series run failed:\n${seriesRun.stderr}`)
    const series = seriesRun.stdout.trim().split('\n').map((line) => JSON.parse(line))
    for (const r of series) log(`   ${r.mode}: ${fmt(r.opsPerSec)}/s, ${r.writes} writes, ${r.pointsStored} points stored`)

    log('== waitForReplicas: setData on a primary with one replica, without and with WAIT 1')
    const replicasRun = spawnSync(process.execPath, [path.join(__dirname, 'replicas.js'), JSON.stringify({ seconds: quick ? 0.5 : 3 })], {
      encoding: 'utf8',
    })
    if (replicasRun.status !== 0) throw new Error(`replicas run failed:\n${replicasRun.stderr}`)
    const replicas = replicasRun.stdout.trim().split('\n').map((line) => JSON.parse(line))
    for (const r of replicas) log(`   waitForReplicas ${r.waitForReplicas}, ${r.inFlight} in flight: ${fmt(r.opsPerSec)}/s`)

    log(`== redis-benchmark, ${valueBytes}-byte values`)
    const ceiling = { get: redisBenchmark(port, 'get', valueBytes), set: redisBenchmark(port, 'set', valueBytes) }
    const warm64 = rows.find((r) => r.op === 'warmGet' && r.inFlight === 64)
    ceiling.warmGetFraction = warm64.native.opsPerSec / ceiling.get.opsPerSec

    log(`== memory after ${MEMORY_OPS.toLocaleString('en')} mixed operations`)
    const memory = {}
    for (const impl of ['baseline', 'native']) {
      const r = measure({ ...base, impl, op: 'mixed', inFlight: 64, metrics: true, seconds: 3600, maxOps: MEMORY_OPS }, ['--expose-gc'])
      memory[impl] = { ops: r.ops, ...r.memory }
    }

    const report = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      node: process.version,
      redis: redisVersion,
      settings: { reps: REPS, seconds: SECONDS, warmupSeconds: WARMUP, valueBytes, quick },
      rows,
      writeHeavy,
      lag,
      series,
      replicas,
      ceiling,
      memory,
    }
    const [json, svg] = quick ? ['quick.json', 'quick.svg'] : ['latest.json', 'ratios.svg']
    fs.writeFileSync(path.join(RESULTS, json), `${JSON.stringify(report, null, 2)}\n`)
    fs.writeFileSync(path.join(RESULTS, svg), drawRatios(report))
    console.log(libraryReport(report))
    log(`written: bench/results/${json}, bench/results/${svg}`)
    if (!quick) writeReadmeSection('bench', libraryReport(report))
  } finally {
    local?.stop()
  }
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
