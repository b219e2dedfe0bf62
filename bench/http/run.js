'use strict'

// `npm run bench:http`: the package where users measure it, a NestJS app over HTTP.
// One app (bench/http/app.ts), four backends in four server processes: the native cache
// through its Nest module, the old TypeScript service (bench/baseline), plain ioredis, and
// a constant answer (the framework's own cost). autocannon loads one server at a time from
// its own process; rounds rotate the backends' order so drift hits each alike.
//
//   npm run bench:http                 5 rounds of 5 s per row (about 9 minutes)
//   npm run bench:http -- --quick      1 round of 1 s per row, to check the harness (CI)
//   REDIS_URL=redis://host:6379        use that server instead of starting one
//   HTTP_ROUNDS=3 HTTP_SECONDS=3       rounds and seconds per measurement
//
// CPU per request comes from the server's utime+stime in /proc/<pid>/stat (all its threads,
// the tokio ones too) over the measured window; it holds up on a busy machine where req/s
// does not. The cache's own share is that minus the constant backend's CPU on the same row.

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startLocalRedis } = require('../../scripts/local-redis')
const w = require('../workload')
const { fmt, httpReport, writeReadmeSection } = require('../readme')

const ROOT = path.join(__dirname, '..', '..')
const RESULTS = path.join(__dirname, '..', 'results')
const quick = process.argv.includes('--quick')
const ROUNDS = Number(process.env.HTTP_ROUNDS ?? (quick ? 1 : 5))
const SECONDS = Number(process.env.HTTP_SECONDS ?? (quick ? 1 : 5))
const WARMUP_SECONDS = quick ? 1 : 3
const BACKENDS = ['baseline', 'native', 'ioredis', 'constant']
const ROUTES = [
  { route: 'hotGet', label: 'hot GET' },
  { route: 'warmGet', label: 'warm GET' },
  { route: 'post', label: 'POST (setData, 10 points)' },
  { route: 'batch', label: 'batch of 50' },
]
const CONNECTIONS = [1, 32]
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }))

const log = (line) => process.stderr.write(`${line}\n`)

function startServer(backend, redisUrl) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'dist', 'http', 'app.js'), backend, redisUrl], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const line = out.split('\n')[0]
      if (out.includes('\n')) resolve({ backend, child, port: JSON.parse(line).port })
    })
    child.on('exit', (code) => reject(new Error(`${backend} server exited with ${code} before it was ready`)))
  })
}

// The server's CPU so far, in µs: fields 14 and 15 of /proc/<pid>/stat, after the comm field.
function cpuMicros(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_US
}

function load(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'load.js'), JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`load.js ended with ${code}`))))
  })
}

async function measure(server, route, connections) {
  const before = cpuMicros(server.child.pid)
  const result = await load({ port: server.port, route, connections, seconds: SECONDS })
  const cpu = cpuMicros(server.child.pid) - before
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`${server.backend} ${route}: ${result.errors} errors, ${result.non2xx} non-2xx responses`)
  }
  return { ...result, cpuPerRequest: cpu / result.requests }
}

function metricEvents(server) {
  return new Promise((resolve) => {
    server.child.once('message', (m) => resolve(m.events))
    server.child.send('events?')
  })
}

async function main() {
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', path.join(__dirname, 'tsconfig.json')], {
    stdio: 'inherit',
  })
  const local = process.env.REDIS_URL ? null : await startLocalRedis()
  const redisUrl = process.env.REDIS_URL ?? local.url
  const servers = []
  try {
    log(`== seeding ${w.WARM_KEYS} warm keys into ${redisUrl}`)
    const redisVersion = await w.seed(redisUrl)
    for (const backend of BACKENDS) servers.push(await startServer(backend, redisUrl))
    const byName = Object.fromEntries(servers.map((s) => [s.backend, s]))
    log(`== warming up ${BACKENDS.join(', ')} (${WARMUP_SECONDS} s per route)`)
    for (const server of servers) {
      for (const { route } of ROUTES) await load({ port: server.port, route, connections: 8, seconds: WARMUP_SECONDS })
    }
    const samples = {}
    for (let round = 0; round < ROUNDS; round++) {
      const order = BACKENDS.map((_, i) => BACKENDS[(i + round) % BACKENDS.length])
      for (const { route, label } of ROUTES) {
        for (const connections of CONNECTIONS) {
          const key = `${route}/${connections}`
          samples[key] ??= { route, label, connections, runs: Object.fromEntries(BACKENDS.map((b) => [b, []])) }
          for (const backend of order) {
            const m = await measure(byName[backend], route, connections)
            samples[key].runs[backend].push(m)
            log(`round ${round + 1}/${ROUNDS} ${label} x${connections} ${backend}: ${fmt(m.reqPerSec)} req/s, ${m.cpuPerRequest.toFixed(0)} µs CPU/req`)
          }
        }
      }
    }
    const rows = Object.values(samples).map(({ runs, ...row }) => ({
      ...row,
      backends: Object.fromEntries(
        Object.entries(runs).map(([backend, ms]) => [
          backend,
          {
            reqPerSec: w.median(ms.map((m) => m.reqPerSec)),
            p50: w.median(ms.map((m) => m.p50)),
            p99: w.median(ms.map((m) => m.p99)),
            cpuPerRequest: w.median(ms.map((m) => m.cpuPerRequest)),
            runs: ms.map((m) => Math.round(m.reqPerSec)),
          },
        ]),
      ),
    }))
    const events = {}
    for (const server of servers) events[server.backend] = await metricEvents(server)
    const report = {
      when: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(),
      machine: `${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, Redis ${redisVersion}`,
      rounds: ROUNDS,
      secondsPerRun: SECONDS,
      metricEventsDelivered: events,
      rows,
    }
    fs.mkdirSync(RESULTS, { recursive: true })
    fs.writeFileSync(path.join(RESULTS, quick ? 'http-quick.json' : 'http.json'), `${JSON.stringify(report, null, 2)}\n`)
    console.log(httpReport(report))
    if (!quick) writeReadmeSection('bench:http', httpReport(report))
  } finally {
    for (const server of servers) server.child.kill('SIGTERM')
    await local?.stop()
  }
}

main().catch((err) => {
  log(err.stack ?? String(err))
  process.exit(1)
})
