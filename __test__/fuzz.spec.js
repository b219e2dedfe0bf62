'use strict'

// Bad input, fuzzed (docs/contract.md): at least 100,000 randomized calls. Each must resolve with a
// contract result or reject with a coded TypeError/RangeError; nothing crashes, and data
// cached before the fuzz is intact afterwards. FUZZ_CALLS lowers the count for runs under
// emulation only (scripts/test-arm64.sh).

const { StreamCache, CODES } = require('..')
const { cacheOptions, quotes, rng } = require('./helpers')

const CALLS = Number(process.env.FUZZ_CALLS || 100_000)
const SEED = Number(process.env.FUZZ_SEED || 20261125)

function deep(depth) {
  let v = { s: 'deep' }
  for (let i = 0; i < depth; i++) v = i % 2 ? { change: v } : [v]
  return v
}

const HUGE_KEY = 'k'.repeat(1 << 20)
const MILLION = Array.from({ length: 1_000_000 }, (_, i) => ({ s: 'M', p: i, v: 1, t: i }))
const throwing = new Proxy([], {
  get(target, prop) {
    if (prop === 'length') throw new Error('getter exploded')
    return Reflect.get(target, prop)
  },
})

function junk(r) {
  switch (r.int(24)) {
    case 0: return undefined
    case 1: return null
    case 2: return r.int(1000) - 500
    case 3: return NaN
    case 4: return Infinity
    case 5: return -Infinity
    case 6: return ''
    case 7: return HUGE_KEY
    case 8: return '\u0000\uffff\ud800\udfff\ud800'
    case 9: return '日本語キー🙂'
    case 10: return '\u0001\u0002\u00ff\x7f'
    case 11: return `key:${r.int(50)}`
    case 12: return Symbol('s')
    case 13: return 10n ** 30n
    case 14: return () => 'fn'
    case 15: return new Date(r.int(1e12))
    case 16: return Buffer.from([0, 255, 1])
    case 17: return { length: 3, 0: 'a' }
    case 18: return [r.int(3), 'x', null]
    case 19: return [{ symbol: 'F', price: NaN, volume: Infinity, timestamp: -Infinity, change: NaN }]
    case 20: return [deep(1 + r.int(2000))]
    case 21: return r.chance(0.01) ? MILLION : quotes('F', 1 + r.int(5))
    case 22: return throwing
    default: return { redis: { port: r.pick([0, -1, 70000, 6379.5, '6379', null]) }, hotCacheTTL: r.pick([-1, NaN, '5', 10]) }
  }
}

function expectedOutcome(settled) {
  if (settled.status === 'fulfilled') return null
  const err = settled.reason
  const coded = (err instanceof TypeError || err instanceof RangeError) && err.code === CODES.INVALID_ARGUMENT
  return coded ? null : `${err?.constructor?.name}: ${err?.code} ${String(err?.message).slice(0, 120)}`
}

test(`${CALLS.toLocaleString('en')} randomized bad calls: coded errors or contract results, nothing lost`, async () => {
  const cache = new StreamCache(cacheOptions({ maxHotCacheSize: 100 }))
  const keep = { 'KEEP:hot': quotes('KEEP', 3), 'KEEP:warm': quotes('KEEPW', 150) }
  for (const [key, points] of Object.entries(keep)) await cache.setData(key, points)
  const before = await cache.getBatchData(Object.keys(keep))

  const r = rng(SEED)
  const problems = []
  let calls = 0
  while (calls < CALLS) {
    const batch = []
    for (let i = 0; i < 500 && calls < CALLS; i++, calls++) {
      const a = junk(r)
      const b = junk(r)
      const c = junk(r)
      let outcome
      try {
        switch (r.int(9)) {
          case 0: outcome = cache.getData(a); break
          case 1: outcome = cache.setData(a, b, r.chance(0.5) ? c : undefined); break
          case 2: outcome = cache.getDataSince(a, b); break
          case 3: outcome = cache.getBatchData(r.chance(0.5) ? [a, b] : a); break
          case 4: outcome = cache.deleteData(a); break
          // Only invalid options: a valid clearAll would rightly wipe the protected keys.
          case 5: outcome = cache.clearAll(typeof a === 'object' || a === undefined ? { maxAge: -1 - r.int(9) } : a); break
          case 6: outcome = Promise.resolve().then(() => new StreamCache(a).destroy()); break
          case 7: outcome = cache.getBatchData([`key:${r.int(50)}`, a]); break
          default: outcome = cache.setData(`key:${r.int(50)}`, a, b); break
        }
      } catch (err) {
        problems.push(`threw synchronously: ${err?.message}`)
        continue
      }
      batch.push(outcome)
    }
    for (const settled of await Promise.allSettled(batch)) {
      const problem = expectedOutcome(settled)
      if (problem) problems.push(problem)
    }
  }
  const summary = [...new Set(problems)].slice(0, 20)
  expect({ calls, problems: problems.length, examples: summary }).toEqual({ calls: CALLS, problems: 0, examples: [] })
  expect(await cache.getBatchData(Object.keys(keep))).toEqual(before)
  expect(before['KEEP:warm']).toHaveLength(150)
  await cache.destroy()
})
