'use strict'

// The promise-returning StreamCache over the native binding. It holds only what must be
// JavaScript: pending promises, the user's onMetric callback, and the step that turns
// drained rows into results and event objects. Cache policy, Redis and metrics live in Rust.

const { NativeStreamCache } = require('./binding.js')

const CODES = Object.freeze({
  INVALID_ARGUMENT: 'STREAM_CACHE_INVALID_ARGUMENT',
  DESTROYED: 'STREAM_CACHE_DESTROYED',
  REDIS_ERROR: 'STREAM_CACHE_REDIS_ERROR',
  TIMEOUT: 'STREAM_CACHE_TIMEOUT',
})

// Row kinds of `drain().ops`, as written by src/cache.rs.
const OP = { DONE: 0, MISS: 1, FOUND: 2, FAILED: 3, BATCH_ITEM: 4, BATCH_END: 5, CLEARED: 6, HEALTH: 7 }
const OP_STRIDE = 4
const EVENT_STRIDE = 7
// Events delivered per drain adapt so one drain's callbacks take about this long at most;
// a slow listener then costs one event per loop turn instead of stalling the loop.
const DELIVERY_BUDGET_MS = 8
const MAX_EVENTS_PER_DRAIN = 16_384

function codedError(message, code, ErrorClass = Error) {
  const err = new ErrorClass(message)
  err.code = code
  return err
}

const REALM_ERRORS = { TypeError, RangeError, Error }

// Native errors are built in the addon's realm; under jest or vm they would fail
// `instanceof TypeError` in the caller's. Rebuild them here, keeping message and code.
function adopt(err) {
  const Local = REALM_ERRORS[err?.name]
  if (Local === undefined || err instanceof Local) return err
  return codedError(err.message, err.code, Local)
}

function destroyedError() {
  return codedError('StreamCache has been destroyed', CODES.DESTROYED)
}

// compat: the TS service's compressData, `||` truthiness and all (spec §1).
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

// Normalises and serialises the caller's data; whatever that data throws (a getter, a
// BigInt, a cycle) becomes a coded TypeError instead of escaping as is.
function prepare(data) {
  try {
    const points = compressData(data)
    return { points, json: JSON.stringify(points) }
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

// A key such as "__proto__" must become an own property, not a prototype change.
function put(target, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

const CACHE_TAGS = { component: 'StreamCache', cacheType: 'stream-cache' }

function cacheEvent(timestamp, operation, success, value, extraTags) {
  return {
    timestamp: new Date(timestamp),
    source: 'stream-cache',
    metricType: 'cache',
    metricName: `cache_${operation}_${success ? 'success' : 'failed'}`,
    metricValue: value,
    tags: { operation, success: String(success), ...extraTags },
  }
}

// Event codes of src/metrics.rs, in order: (row, strings) → the spec §4 event object.
const EVENT_BUILDERS = [
  (r, s, i) => cacheEvent(r[i + 1], 'get', true, r[i + 2], { ...CACHE_TAGS, layer: 'hot' }),
  (r, s, i) => cacheEvent(r[i + 1], 'get', true, r[i + 2], { ...CACHE_TAGS, layer: 'warm' }),
  (r, s, i) => cacheEvent(r[i + 1], 'get', false, r[i + 2], { ...CACHE_TAGS, layer: 'miss' }),
  (r, s, i) =>
    cacheEvent(r[i + 1], 'set', true, r[i + 2], { ...CACHE_TAGS, layer: 'both', dataSize: r[i + 3], compressionRatio: r[i + 4] }),
  (r, s, i) =>
    cacheEvent(r[i + 1], 'set', true, r[i + 2], { ...CACHE_TAGS, layer: 'warm', dataSize: r[i + 3], compressionRatio: r[i + 4] }),
  (r, s, i) =>
    cacheEvent(r[i + 1], 'set', false, r[i + 2], {
      ...CACHE_TAGS,
      layer: 'warm',
      dataSize: r[i + 3],
      compressionRatio: r[i + 4],
      errorType: 'recoverable_error',
      errorMessage: s[r[i + 6]],
    }),
  (r, s, i) =>
    cacheEvent(r[i + 1], s[r[i + 5]], false, 0, {
      component: 'StreamCache',
      errorType: 'recoverable_error',
      errorMessage: s[r[i + 6]],
    }),
  (r, s, i) =>
    cacheEvent(r[i + 1], s[r[i + 5]], false, 0, {
      component: 'StreamCache',
      errorType: 'critical_error',
      errorMessage: s[r[i + 6]],
    }),
  (r, s, i) => ({
    timestamp: new Date(r[i + 1]),
    source: 'stream-cache',
    metricType: 'system',
    metricName: s[r[i + 5]],
    metricValue: r[i + 2],
    tags: { component: 'StreamCache' },
  }),
]

// Caches with operations in flight. The caller's continuation is reachable only through
// a cache's pending promises, so while any are pending the cache must be a GC root, just
// as the event loop is held for it (keepAlive). Idle caches stay collectable.
const busy = new Set()

class StreamCache {
  #native
  #onMetric
  #pending = new Map()
  #nextId = 0
  #destroyed = false
  #eventsPerDrain = 1

  constructor(options) {
    // The native side holds the wake function strongly; a WeakRef keeps that from pinning
    // an idle cache, so one dropped without destroy() can still be collected.
    const self = new WeakRef(this)
    try {
      this.#native = new NativeStreamCache(options, () => self.deref()?.#drain())
    } catch (err) {
      throw adopt(err)
    }
    this.#onMetric = options?.onMetric ?? null
  }

  #id() {
    this.#nextId = (this.#nextId + 1) >>> 0
    return this.#nextId
  }

  #wait(id, extra) {
    if (this.#pending.size === 0) {
      busy.add(this)
      this.#native.keepAlive(true)
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, extra ? { resolve, reject, ...extra } : { resolve, reject })
    })
  }

  #finish(id) {
    this.#pending.delete(id)
    if (this.#pending.size === 0) {
      busy.delete(this)
      this.#native.keepAlive(false)
    }
  }

  // The synchronous native half of an operation, then `finish` with its result. A throw
  // (a bad argument) and any call after destroy() become rejected promises.
  #run(start, finish) {
    if (this.#destroyed) return Promise.reject(destroyedError())
    const id = this.#id()
    let started
    try {
      started = start(id)
    } catch (err) {
      return Promise.reject(adopt(err))
    }
    return finish(started, id)
  }

  getData(key) {
    return this.#run(
      (id) => this.#native.get(id, key),
      (hit, id) => (hit !== null ? Promise.resolve(hit) : this.#wait(id)),
    )
  }

  getDataSince(key, since) {
    return this.#run(
      (id) => this.#native.getSince(id, key, since),
      (hit, id) =>
        hit !== null
          ? Promise.resolve(pointsSince(hit, since))
          : this.#wait(id).then((points) => (points === null ? null : pointsSince(points, since))),
    )
  }

  setData(key, data, priority = 'auto') {
    return this.#run(
      (id) => {
        if (!Array.isArray(data)) return this.#native.set(id, key, data, '', priority)
        const { points, json } = prepare(data)
        return this.#native.set(id, key, points, json, priority)
      },
      (started, id) => (started ? this.#wait(id) : Promise.resolve()),
    )
  }

  getBatchData(keys) {
    return this.#run(
      (id) => this.#native.batch(id, keys),
      (hits, id) => {
        const result = {}
        const missing = []
        for (let i = 0; i < keys.length; i++) {
          const hit = hits[i] ?? null
          put(result, keys[i], hit)
          if (hit === null) missing.push(keys[i])
        }
        return missing.length === 0 ? Promise.resolve(result) : this.#wait(id, { result, missing, next: 0 })
      },
    )
  }

  deleteData(key) {
    return this.#run((id) => this.#native.delete(id, key), (_, id) => this.#wait(id))
  }

  clearAll(options) {
    return this.#run((id) => this.#native.clearAll(id, options), (_, id) => this.#wait(id))
  }

  getHealthStatus() {
    return this.#run((id) => this.#native.health(id), (_, id) => this.#wait(id))
  }

  async reportSystemMetrics() {
    const health = await this.getHealthStatus()
    if (!this.#destroyed) this.#native.reportSystem(health.status === 'healthy')
  }

  stats() {
    const s = this.#native.stats()
    return {
      pendingMetrics: s.pendingMetrics,
      emittedMetrics: s.emittedMetrics,
      droppedMetrics: s.droppedMetrics,
      failedMetrics: s.failedMetrics,
      meanMetricLatencyMs: s.meanMetricLatencyMs,
      hotCacheSize: s.hotCacheSize,
      expiredCleaned: s.expiredCleaned,
      destroyed: s.destroyed,
    }
  }

  destroy() {
    if (!this.#destroyed) {
      this.#destroyed = true
      this.#onMetric = null
      this.#native.destroy()
      busy.delete(this)
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const p of pending) p.reject(destroyedError())
    }
    return Promise.resolve()
  }

  // Runs on the JS thread when Rust has queued something, then once per loop turn while
  // anything flows (see Outbox::take). Settles first, then delivers events, so an event
  // never reaches the callback before its operation has settled.
  #drain() {
    if (this.#destroyed) return
    const { ops, events, strings, again } = this.#native.drain(this.#eventsPerDrain)
    for (let i = 0; i < ops.length; i += OP_STRIDE) {
      this.#settle(ops[i], ops[i + 1], ops[i + 2], ops[i + 3], strings)
    }
    if (events.length > 0) this.#deliver(events, strings)
    if (again) setImmediate(() => this.#drain())
  }

  #settle(id, kind, a, b, strings) {
    const p = this.#pending.get(id)
    if (p === undefined) return
    switch (kind) {
      case OP.DONE:
        this.#finish(id)
        return p.resolve()
      case OP.MISS:
        this.#finish(id)
        return p.resolve(null)
      case OP.FOUND: {
        this.#finish(id)
        const value = parseArray(strings[a])
        this.#native.settle(b, value)
        return p.resolve(value)
      }
      case OP.BATCH_ITEM: {
        let value = null
        if (a >= 0) {
          value = parseArray(strings[a])
          this.#native.settle(b, value)
        }
        put(p.result, p.missing[p.next++], value)
        return
      }
      case OP.BATCH_END:
        this.#finish(id)
        return p.resolve(p.result)
      case OP.CLEARED:
        this.#finish(id)
        return p.resolve({ deleted: a, preserved: b })
      case OP.HEALTH:
        this.#finish(id)
        return p.resolve({
          status: a < 0 ? 'healthy' : 'unhealthy',
          hotCacheSize: b,
          redisConnected: a < 0,
          lastError: a < 0 ? null : strings[a],
        })
      case OP.FAILED:
        this.#finish(id)
        return p.reject(codedError(strings[a], strings[b]))
    }
  }

  #deliver(rows, strings) {
    const started = performance.now()
    let emitted = 0
    let failed = 0
    let dropped = 0
    for (let i = 0; i < rows.length; i += EVENT_STRIDE) {
      const callback = this.#onMetric
      if (this.#destroyed || callback === null) {
        dropped = (rows.length - i) / EVENT_STRIDE
        break
      }
      emitted++
      try {
        callback(EVENT_BUILDERS[rows[i]](rows, strings, i))
      } catch {
        failed++
      }
    }
    this.#native.delivered(emitted, failed, dropped)
    const took = performance.now() - started
    if (took > DELIVERY_BUDGET_MS) this.#eventsPerDrain = Math.max(1, this.#eventsPerDrain >>> 1)
    else if (took < DELIVERY_BUDGET_MS / 4) this.#eventsPerDrain = Math.min(MAX_EVENTS_PER_DRAIN, this.#eventsPerDrain * 2)
  }
}

module.exports = { StreamCache, CODES, compressData }
