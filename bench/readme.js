'use strict'

// The benchmarks' results as markdown: printed by each run, and written into the README
// between its `<!-- generated: NAME -->` markers, so the README's figures are always one
// run's (__test__/docs.spec.js checks them against the committed JSON).

const fs = require('node:fs')
const path = require('node:path')

const README = path.join(__dirname, '..', 'README.md')

const fmt = (n) => (n >= 100_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0))
const ms = (n) => (n < 0.1 ? `${(n * 1000).toFixed(1)}µs` : `${n.toFixed(2)}ms`)
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`
const line = (cells) => `| ${cells.join(' | ')} |`
// A table's header row and the separator under it.
const header = (cells) => [line(cells), line(Array(cells.length).fill('---'))]

// The library bench (bench/run.js, latest.json) as markdown.
function libraryReport({ commit, date, machine, node, redis, rows, writeHeavy, lag, series, replicas, ceiling, memory, settings }) {
  const out = [
    `Commit \`${commit}\`, ${date.slice(0, 10)}, ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, Node ${node}, ` +
      `Redis ${redis}; median of ${settings.reps} runs of ${settings.seconds} s each, range = slowest–fastest run; ` +
      `values of 10 points, ${settings.valueBytes} bytes of JSON.`,
    '',
    ...header(['operation', 'in flight', 'native ops/s (range)', 'baseline ops/s (range)', 'native / baseline (range)', 'target', 'p50 native / baseline', 'p99 native / baseline', 'metrics cost']),
  ]
  for (const r of rows) {
    out.push(
      line([
        r.label,
        r.inFlight,
        `${fmt(r.native.opsPerSec)} (${fmt(r.native.min)}–${fmt(r.native.max)})`,
        `${fmt(r.baseline.opsPerSec)} (${fmt(r.baseline.min)}–${fmt(r.baseline.max)})`,
        `×${r.ratio.toFixed(2)} (${r.ratioMin.toFixed(2)}–${r.ratioMax.toFixed(2)})`,
        r.target === null ? '' : `≥ ×${r.target}${r.ratio >= r.target ? ' ✓' : ' ✗'}`,
        `${ms(r.native.p50Ms)} / ${ms(r.baseline.p50Ms)}`,
        `${ms(r.native.p99Ms)} / ${ms(r.baseline.p99Ms)}${r.native.p99Ms <= r.baseline.p99Ms ? ' ✓' : ' ✗'}`,
        r.metricsCost === undefined ? '' : `${(r.metricsCost * 100).toFixed(1)}%${r.metricsCost <= 0.1 ? ' ✓' : ' ✗'}`,
      ]),
    )
  }
  out.push(
    '',
    'Coherence `"tracking"` (the default) against `"ttl"`, native, 64 in flight:',
    '',
    ...header(['operation', 'tracking ops/s (range)', 'ttl ops/s (range)', 'tracking cost']),
  )
  for (const r of rows.filter((r) => r.nativeTtl)) {
    out.push(
      line([
        r.label,
        `${fmt(r.native.opsPerSec)} (${fmt(r.native.min)}–${fmt(r.native.max)})`,
        `${fmt(r.nativeTtl.opsPerSec)} (${fmt(r.nativeTtl.min)}–${fmt(r.nativeTtl.max)})`,
        `${(r.trackingCost * 100).toFixed(1)}%${r.trackingCost <= 0.1 ? ' ✓' : ' ✗'}`,
      ]),
    )
  }
  for (const mode of ['tracking', 'ttl']) {
    const { writer, reader, readerLayers, readerInvalidations } = writeHeavy[mode]
    out.push(
      line([
        `write-heavy pair, ${mode}: writer setData / reader getData`,
        `${fmt(writer.opsPerSec)} / ${fmt(reader.opsPerSec)}`,
        `reader: hot ${readerLayers.hot}, warm ${readerLayers.warm}, invalidations ${readerInvalidations}`,
        '',
      ]),
    )
  }
  out.push(
    '',
    `Invalidation lag (foreign SETEX acknowledged → getData returns the new value), ${lag.tracking.samples} samples:`,
    '',
    `- tracking: p50 ${ms(lag.tracking.p50)}, p99 ${ms(lag.tracking.p99)}${lag.tracking.p99 <= 5 ? ' ✓' : ' ✗'} (goal ≤ 5 ms), max ${ms(lag.tracking.max)}`,
    `- ttl, hotCacheTTL 1000 ms (${lag.ttl.samples} samples): p50 ${ms(lag.ttl.p50)}, p99 ${ms(lag.ttl.p99)}, max ${ms(lag.ttl.max)}; scales with hotCacheTTL`,
  )
  out.push(
    '',
    'Series merges, 4 instances × 16 in flight (a point per write; none may be lost):',
    '',
    ...header(['merge', 'writes/s', 'writes', 'points stored', 'retries']),
    ...series.map((r) =>
      line([r.mode, fmt(r.opsPerSec), r.writes, `${r.pointsStored}${r.pointsStored === r.writes ? ' ✓' : ' ✗'}`, r.retries ?? '']),
    ),
  )
  out.push(
    '',
    '`waitForReplicas` (with `strictWarmWrites`), setData on a primary with one replica:',
    '',
    ...header(['in flight', 'no wait, writes/s', 'WAIT 1, writes/s', 'cost']),
    ...[1, 64].map((inFlight) => {
      const [off, on] = [0, 1].map((w) => replicas.find((r) => r.inFlight === inFlight && r.waitForReplicas === w))
      return line([inFlight, fmt(off.opsPerSec), fmt(on.opsPerSec), `${((1 - on.opsPerSec / off.opsPerSec) * 100).toFixed(0)}%`])
    }),
  )
  out.push(
    '',
    `Ceiling: \`${ceiling.get.command.replace(/ -h \S+ -p \d+/, '')}\` (pipelined, as the cache sends) → GET ${fmt(ceiling.get.opsPerSec)}/s, ` +
      `SET ${fmt(ceiling.set.opsPerSec)}/s; native warm getData at 64 in flight = ${(ceiling.warmGetFraction * 100).toFixed(0)}% of pipelined GET (target ≥ 50%).`,
    '',
    `Memory after ${memory.native.ops.toLocaleString('en')} mixed operations (after GC):`,
    '',
  )
  for (const impl of ['native', 'baseline']) {
    const m = memory[impl]
    out.push(`- ${impl}: RSS ${mib(m.rssBefore)} → ${mib(m.rssAfter)}, heap ${mib(m.heapBefore)} → ${mib(m.heapAfter)}`)
  }
  return out.join('\n')
}


const ratio = (a, b) => (a / b).toFixed(2)

// The HTTP bench (bench/http/run.js, http.json) as markdown.
function httpReport({ when, commit, machine, rounds, secondsPerRun, metricEventsDelivered, rows }) {
  const backends = Object.keys(rows[0].backends)
  const lines = [
    `Commit \`${commit}\`, ${when.slice(0, 10)}, ${machine}; median of ${rounds} rounds of ${secondsPerRun} s per row.`,
    '',
    '| route | conns | req/s TS / native / ioredis / constant | native/TS | native/ioredis | p50 / p99 ms TS / native / ioredis | CPU µs/req TS / native / ioredis / constant | cache share µs/req TS / native |',
    '|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    const b = r.backends
    const share = (name) => (b[name].cpuPerRequest - b.constant.cpuPerRequest).toFixed(0)
    lines.push(
      `| ${r.label} | ${r.connections} | ${backends.map((k) => fmt(b[k].reqPerSec)).join(' / ')} | ` +
        `${ratio(b.native.reqPerSec, b.baseline.reqPerSec)} | ${ratio(b.native.reqPerSec, b.ioredis.reqPerSec)} | ` +
        `${['baseline', 'native', 'ioredis'].map((k) => `${b[k].p50}/${b[k].p99}`).join(' · ')} | ` +
        `${backends.map((k) => b[k].cpuPerRequest.toFixed(0)).join(' / ')} | ${share('baseline')} / ${share('native')} |`,
    )
  }
  lines.push('', `Metric events the app's listener received: ${Object.entries(metricEventsDelivered).map(([k, n]) => `${k} ${n}`).join(', ')}.`)
  return lines.join('\n')
}


const markers = (name) => [`<!-- generated: ${name} -->\n`, `<!-- end generated: ${name} -->`]

// The README's block `name`, or undefined when it has none.
function readmeSection(name, readme = fs.readFileSync(README, 'utf8')) {
  const [begin, end] = markers(name)
  const from = readme.indexOf(begin)
  const to = readme.indexOf(end)
  return from < 0 || to < from ? undefined : readme.slice(from + begin.length, to)
}

function writeReadmeSection(name, markdown) {
  const readme = fs.readFileSync(README, 'utf8')
  const old = readmeSection(name, readme)
  if (old === undefined) throw new Error(`README.md has no ${markers(name)[0].trim()} block`)
  const [begin] = markers(name)
  fs.writeFileSync(README, readme.replace(`${begin}${old}`, `${begin}${markdown}\n`))
}

module.exports = { fmt, ms, libraryReport, httpReport, readmeSection, writeReadmeSection }
