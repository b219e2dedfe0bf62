'use strict'

// Caller values to what crosses to Rust, and decoded rows back to values: the compat
// normalisation of setData's input, the point rows (src/wire.rs, PointField), and the
// argument shapes the class checks before any native call.

const { PointField } = require('./loader').loadBinding()
const { CODES, codedError } = require('./errors')

const { Symbol: SYMBOL, P, V, T, C, Cp: CP, Stride: POINT_STRIDE } = PointField

// compat: the TS service's compressData, `||` truthiness and all (docs/contract.md, "Data").
function compressData(data) {
  const now = Date.now()
  const out = new Array(data.length)
  for (let i = 0; i < data.length; i++) {
    const item = data[i]
    if (typeof item === 'object' && item !== null) {
      const point = {
        s: item.symbol || item.s || '',
        p: item.price || item.lastPrice || item.p || 0,
        v: item.volume || item.v || 0,
        t: item.timestamp || item.t || now + i,
      }
      const c = item.change || item.c
      if (c !== undefined) point.c = c
      const cp = item.changePercent || item.cp
      if (cp !== undefined) point.cp = cp
      out[i] = point
    } else {
      out[i] = item
    }
  }
  return out
}

// Symbols JSON.stringify writes as they are: no quote, backslash or control character,
// and no surrogate (a lone one could not even reach Rust intact).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/
let pointRows = new Float64Array(64 * POINT_STRIDE)

// Canonical points as PointField rows (NaN: absent c/cp) for Rust to serialise
// off the JS thread (src/points.rs), or null when any point is not canonical.
function encodePoints(points) {
  if (pointRows.length < points.length * POINT_STRIDE) pointRows = new Float64Array(points.length * POINT_STRIDE * 2)
  const symbols = []
  for (let k = 0, j = 0; k < points.length; k++, j += POINT_STRIDE) {
    const point = points[k]
    if (typeof point !== 'object' || point === null) return null
    const { s, p, v, t, c, cp } = point
    if (typeof s !== 'string' || !Number.isFinite(p) || !Number.isFinite(v) || !Number.isFinite(t)) return null
    if ((c !== undefined && !Number.isFinite(c)) || (cp !== undefined && !Number.isFinite(cp))) return null
    if (symbols.length === 0 || symbols[symbols.length - 1] !== s) {
      if (NEEDS_ESCAPE.test(s)) return null
      symbols.push(s)
    }
    pointRows[j + SYMBOL] = symbols.length - 1
    pointRows[j + P] = p
    pointRows[j + V] = v
    pointRows[j + T] = t
    pointRows[j + C] = c === undefined ? NaN : c
    pointRows[j + CP] = cp === undefined ? NaN : cp
  }
  return { rows: pointRows.subarray(0, points.length * POINT_STRIDE), symbols }
}

// Normalises the caller's data and encodes or serialises it; whatever that data throws (a
// getter, a BigInt, a cycle) becomes a coded TypeError instead of escaping as is.
function normalise(data) {
  try {
    const points = compressData(data)
    const encoded = encodePoints(points)
    return encoded === null ? { points, json: JSON.stringify(points) } : { points, ...encoded }
  } catch (err) {
    throw codedError(`data could not be read or serialised to JSON: ${err?.message}`, CODES.INVALID_ARGUMENT, TypeError)
  }
}

function pointsSince(points, since) {
  const kept = points.filter((p) => p != null && p.t > since)
  return kept.length > 0 ? kept : null
}

function parseArray(json) {
  try {
    const value = JSON.parse(json)
    return Array.isArray(value) ? value : null
  } catch {
    return null
  }
}

// An integral number as V8's small integer, as JSON.parse makes it: read from a
// Float64Array it would be a heap-allocated double, one more object per field for the GC.
// -0 stays a double, or it would lose its sign.
const int = (n) => ((n | 0) === n && (n !== 0 || 1 / n > 0) ? n | 0 : n)

// A warm value Rust decoded (src/points.rs): `[count, ...count PointField rows]`, NaN for
// an absent c/cp. Builds what JSON.parse would have, key order included.
function buildPoints(rows, at, strings) {
  const count = rows[at]
  const out = new Array(count)
  for (let k = 0, j = at + 1; k < count; k++, j += POINT_STRIDE) {
    const s = strings[rows[j + SYMBOL]]
    const p = int(rows[j + P])
    const v = int(rows[j + V])
    const t = int(rows[j + T])
    const c = rows[j + C]
    const cp = rows[j + CP]
    // One literal when both are present: a literal has room for its own properties only,
    // and each added later costs a map transition and a property store outside the object.
    if (c === c && cp === cp) {
      out[k] = { s, p, v, t, c: int(c), cp: int(cp) }
      continue
    }
    const point = { s, p, v, t }
    if (c === c) point.c = int(c)
    if (cp === cp) point.cp = int(cp)
    out[k] = point
  }
  return out
}

// The keys as a plain array when all are non-empty strings, else null (the native check
// then names the bad one). Each element is read once: a getter may throw, or change.
function keyList(keys) {
  if (!Array.isArray(keys)) return null
  try {
    const list = new Array(keys.length)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      if (typeof key !== 'string' || key === '') return null
      list[i] = key
    }
    return list
  } catch {
    return null
  }
}

// A key such as "__proto__" must become an own property, not a prototype change.
function put(target, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

module.exports = { compressData, normalise, pointsSince, parseArray, buildPoints, keyList, put }
