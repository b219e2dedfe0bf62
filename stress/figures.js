'use strict'

// The stress suite's figures: tests record them, and the jest global teardown (this module)
// prints them as one table. Global setup (also this module) starts an empty record.

const fs = require('node:fs')
const path = require('node:path')

const FILE = path.join(__dirname, '..', 'target', 'stress-figures.jsonl')

function record(scenario, figure, value, limit = '') {
  fs.mkdirSync(path.dirname(FILE), { recursive: true })
  fs.appendFileSync(FILE, `${JSON.stringify({ scenario, figure, value, limit })}\n`)
}

function table() {
  const rows = fs.existsSync(FILE)
    ? fs.readFileSync(FILE, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : []
  const cells = [['scenario', 'figure', 'value', 'limit'], ...rows.map((r) => [r.scenario, r.figure, String(r.value), String(r.limit)])]
  const widths = cells[0].map((_, i) => Math.max(...cells.map((c) => c[i].length)))
  const line = (c) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`
  return [line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n')
}

module.exports = async function figures() {
  if (globalThis.__stressStarted) {
    const mode = process.env.STRESS_SHORT ? 'short mode (STRESS_SHORT=1)' : 'full mode'
    console.log(`\nstream-cache-native stress figures, ${mode}:\n${table()}\n`)
    return
  }
  globalThis.__stressStarted = true
  fs.rmSync(FILE, { force: true })
}
module.exports.record = record
