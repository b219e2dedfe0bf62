'use strict'

// One load run, in its own process so the client's CPU is never the server's:
//   node bench/http/load.js '{"port":…,"route":"warmGet","connections":32,"seconds":5}'
// Prints one JSON line: requests, req/s, p50/p99 in ms, errors and non-2xx responses.

const autocannon = require('autocannon')
const w = require('../workload')

const spec = JSON.parse(process.argv[2])
const HOT_KEYS = 500 // bench/http/app.ts writes H0..H499 with priority hot

const bodies = Array.from({ length: 16 }, (_, i) => JSON.stringify(w.rawQuotes(`SET${i}`, i)))
const batches = w.WARM_KEYS / w.BATCH_SIZE
// Deterministic spread over the keys: every warm key is read about once per run.
const spread = (n, size) => (n * 7919) % size

let n = 0
const ROUTES = {
  hotGet: (req) => ({ ...req, method: 'GET', path: `/quote/H${n++ % HOT_KEYS}` }),
  warmGet: (req) => ({ ...req, method: 'GET', path: `/quote/${w.warmKey(spread(n++, w.WARM_KEYS))}` }),
  post: (req) => {
    const i = n++
    return {
      ...req,
      method: 'POST',
      path: `/quote/S${i % w.SET_KEYS}`,
      headers: { 'content-type': 'application/json' },
      body: bodies[i & 15],
    }
  },
  batch: (req) => {
    const first = spread(n++, batches) * w.BATCH_SIZE
    const syms = Array.from({ length: w.BATCH_SIZE }, (_, k) => w.warmKey(first + k)).join(',')
    return { ...req, method: 'GET', path: `/batch?syms=${syms}` }
  },
}

// autocannon's own percentiles are whole milliseconds; these keep the fraction.
const times = []
const instance = autocannon(
  {
    url: `http://127.0.0.1:${spec.port}`,
    connections: spec.connections,
    duration: spec.seconds,
    requests: [{ setupRequest: ROUTES[spec.route] }],
  },
  (err, result) => {
    if (err) {
      process.stderr.write(`${err.stack ?? err}\n`)
      process.exit(1)
    }
    const out = {
      requests: result.requests.total,
      seconds: result.duration,
      reqPerSec: result.requests.total / result.duration,
      p50: percentile(0.5),
      p99: percentile(0.99),
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
    }
    process.stdout.write(`${JSON.stringify(out)}\n`)
  },
)
instance.on('response', (client, status, bytes, ms) => times.push(ms))

function percentile(q) {
  times.sort((a, b) => a - b)
  return Number(times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2))
}
