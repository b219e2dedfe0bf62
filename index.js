'use strict'

// The promise-returning StreamCache over the native binding (src/lib.rs). JavaScript holds
// only what must be JavaScript:
// - the promises and their settling, and the user's onMetric callback;
// - the hot tier's values, so that a hit returns the very array that was stored without
//   crossing Node-API (Rust keeps the hot tier's policy: which keys stay);
// - building result values and event objects from the rows a drain hands over, because
//   creating objects through Node-API costs far more than reading numbers;
// - the compat normalisation of setData's input (compressData), which reads caller objects;
// - finding the native binary, and saying which one is missing (js/loader.js): when none
//   loads, there is no Rust to say it.
// Every number shared with Rust (row kinds, event codes, strides) comes from the binding
// (src/wire.rs). How the two sides meet: docs/architecture.md.

const { NativeStreamCache, OpKind, EventCode, DrainHeader, DrainFlag, OP_STRIDE, EVENT_STRIDE, POINT_STRIDE } =
  require('./js/loader').loadBinding()

const { observe } = require('./js/observe')

const CODES = Object.freeze({
  INVALID_ARGUMENT: 'STREAM_CACHE_INVALID_ARGUMENT',
  DESTROYED: 'STREAM_CACHE_DESTROYED',
  REDIS_ERROR: 'STREAM_CACHE_REDIS_ERROR',
  TIMEOUT: 'STREAM_CACHE_TIMEOUT',
})

// Events delivered per drain adapt so one drain's callbacks take about this long at most;
// a slow listener then costs one event per loop turn instead of stalling the loop.
const DELIVERY_BUDGET_MS = 8
const MAX_EVENTS_PER_DRAIN = 16_384
// Hot hits reported to the Rust policy per native call.
const TOUCH_BATCH = 1024

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

// Canonical points as rows `[symbol, p, v, t, c, cp]` (NaN: absent) for Rust to serialise
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
    pointRows[j] = symbols.length - 1
    pointRows[j + 1] = p
    pointRows[j + 2] = v
    pointRows[j + 3] = t
    pointRows[j + 4] = c === undefined ? NaN : c
    pointRows[j + 5] = cp === undefined ? NaN : cp
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

// A warm value Rust decoded (src/points.rs): `[count, ...count × [symbol, p, v, t, c, cp]]`,
// NaN for an absent c/cp. Builds what JSON.parse would have, key order included.
function buildPoints(rows, at, strings) {
  const count = rows[at]
  const out = new Array(count)
  for (let k = 0, j = at + 1; k < count; k++, j += POINT_STRIDE) {
    const point = { s: strings[rows[j]], p: rows[j + 1], v: rows[j + 2], t: rows[j + 3] }
    const c = rows[j + 4]
    if (c === c) point.c = c
    const cp = rows[j + 5]
    if (cp === cp) point.cp = cp
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

// One builder per EventCode (src/wire.rs): (row, strings, offset) → the event object of
// docs/contract.md, "Metric events". Each is one literal, so every event of a kind shares
// one hidden class.
const EVENT_BUILDERS = {
  [EventCode.GetWarm]: (r, s, i) => getEvent(r[i + 1], r[i + 2], 'warm'),
  [EventCode.GetMiss]: (r, s, i) => getEvent(r[i + 1], r[i + 2], 'miss'),
  [EventCode.SetBoth]: (r, s, i) => setEvent(r, i, 'both'),
  [EventCode.SetWarm]: (r, s, i) => setEvent(r, i, 'warm'),
  [EventCode.SetWarmFailed]: (r, s, i) => setEvent(r, i, 'warm', s[r[i + 6]]),
  [EventCode.FailedRecoverable]: (r, s, i) => errorEvent(r, s, i, 'recoverable_error'),
  [EventCode.FailedCritical]: (r, s, i) => errorEvent(r, s, i, 'critical_error'),
  [EventCode.System]: (r, s, i) => ({
    timestamp: new Date(r[i + 1]),
    source: 'stream-cache',
    metricType: 'system',
    metricName: s[r[i + 5]],
    metricValue: r[i + 2],
    tags: r[i + 6] < 0 ? { component: 'StreamCache' } : { component: 'StreamCache', reason: s[r[i + 6]] },
  }),
}

// compat: a miss is `cache_get_failed`, layer `miss`.
function getEvent(timestamp, metricValue, layer) {
  const success = layer !== 'miss'
  return {
    timestamp: new Date(timestamp),
    source: 'stream-cache',
    metricType: 'cache',
    metricName: success ? 'cache_get_success' : 'cache_get_failed',
    metricValue,
    tags: { operation: 'get', success: success ? 'true' : 'false', component: 'StreamCache', cacheType: 'stream-cache', layer },
  }
}

// `errorMessage` given: the warm write failed (ours: the TS service reported success).
function setEvent(r, i, layer, errorMessage) {
  const success = errorMessage === undefined
  const event = {
    timestamp: new Date(r[i + 1]),
    source: 'stream-cache',
    metricType: 'cache',
    metricName: success ? 'cache_set_success' : 'cache_set_failed',
    metricValue: r[i + 2],
    tags: {
      operation: 'set',
      success: success ? 'true' : 'false',
      component: 'StreamCache',
      cacheType: 'stream-cache',
      layer,
      dataSize: r[i + 3],
      compressionRatio: r[i + 4],
    },
  }
  if (!success) Object.assign(event.tags, { errorType: 'recoverable_error', errorMessage })
  return event
}

// compat: the TS service's error event, `cache_<method>_failed`.
function errorEvent(r, s, i, errorType) {
  const operation = s[r[i + 5]]
  return {
    timestamp: new Date(r[i + 1]),
    source: 'stream-cache',
    metricType: 'cache',
    metricName: `cache_${operation}_failed`,
    metricValue: 0,
    tags: { operation, success: 'false', component: 'StreamCache', errorType, errorMessage: s[r[i + 6]] },
  }
}

// Caches with operations in flight. The caller's continuation is reachable only through
// a cache's pending promises, so while any are pending the cache must be a GC root, just
// as Rust holds the event loop for it. Idle caches stay collectable.
const busy = new Set()

class StreamCache {
  #native
  // What delivery calls: the user's onMetric, or that and the observers (js/observe.js).
  #onMetric
  #userOnMetric
  #observers = new Set()
  #metricsReleased = false
  #pending = new Map()
  #nextId = 0
  #destroyed = false
  #eventsPerDrain = 1
  // What became of the last drain's events, told to Rust at the next drain.
  #delivered = { emitted: 0, failed: 0, dropped: 0 }
  #drainScheduled = false
  #flushQueued = false
  // What every drain writes into (src/wire.rs, DrainHeader); replaced by a larger one when
  // a drain spills.
  #rows = new Float64Array(4096)
  // The hot tier's values: key → { value, expires }. Rust decides which keys stay (see
  // src/hot.rs); every call that admits a key returns the keys that left.
  #hot = new Map()
  #hotTtl
  // Hot hits: keys for the policy, handed to Rust in bulk, and the hits' events, which
  // JS builds and delivers itself from a count. Each event first gets a place in Rust's
  // bounded metric queue (reserveEvents), so one bound and one set of counters cover all.
  #touched = []
  #maxPending
  #hotFlushScheduled = false
  #hotHits = 0
  #hotHitTimes = 0
  #hotEvents = 0
  #hotEventTimes = 0

  constructor(options) {
    // The native side holds the wake function strongly; a WeakRef keeps that from pinning
    // an idle cache, so one dropped without destroy() can still be collected.
    const self = new WeakRef(this)
    try {
      this.#native = new NativeStreamCache(options, () => self.deref()?.#drain())
    } catch (err) {
      throw adopt(err)
    }
    this.#userOnMetric = options?.onMetric ?? null
    this.#onMetric = this.#userOnMetric
    const limits = this.#native.limits()
    this.#hotTtl = limits.hotTtlMs
    this.#maxPending = limits.maxPendingMetrics
  }

  // The value of a fresh hot entry, or undefined; an expired one is dropped. A batch's
  // hits report no event (`reports` false), as the TS service's did not.
  #hotHit(key, reports = true) {
    const entry = this.#hot.get(key)
    if (entry === undefined) return undefined
    const now = performance.now()
    if (now > entry.expires) {
      this.#hot.delete(key)
      return undefined
    }
    if (this.#touched.length < this.#maxPending) this.#touched.push(key)
    if (reports && this.#onMetric !== null) {
      this.#hotHits++
      this.#hotHitTimes += now
    }
    if (!this.#hotFlushScheduled) {
      this.#hotFlushScheduled = true
      setImmediate(() => this.#flushHot())
    }
    return entry.value
  }

  // The hits' events, and their keys once enough have gathered: a burst of hits costs
  // one native call per TOUCH_BATCH keys, not one per loop turn.
  #flushHot() {
    this.#hotFlushScheduled = false
    if (this.#destroyed) return
    if (this.#touched.length >= Math.min(TOUCH_BATCH, this.#maxPending)) this.#drain()
    this.#reserveHot()
    if (this.#hotEvents === 0) return
    const started = performance.now()
    const batch = Math.min(this.#hotEvents, this.#eventsPerDrain)
    const meanHitTime = this.#hotEventTimes / this.#hotEvents
    const timestamp = Date.now()
    let emitted = 0
    let failed = 0
    for (; emitted < batch; emitted++) {
      const callback = this.#onMetric
      if (this.#destroyed || callback === null) break
      try {
        // A Map lookup takes well under a microsecond: like the TS service's millisecond
        // clock, a hot hit's event reports 0.
        callback(getEvent(timestamp, 0, 'hot'))
      } catch {
        failed++
      }
    }
    if (this.#destroyed) return
    this.#native.deliveredReserved(emitted, failed, emitted * (started - meanHitTime))
    this.#hotEvents -= emitted
    this.#hotEventTimes -= emitted * meanHitTime
    this.#adaptBatch(performance.now() - started)
    if (this.#hotEvents > 0 && !this.#destroyed && !this.#hotFlushScheduled) {
      this.#hotFlushScheduled = true
      setImmediate(() => this.#flushHot())
    }
  }

  // `stored` is what the native side answered for a write or promotion (src/lib.rs).
  #admit(key, value, stored) {
    if (typeof stored === 'boolean') return
    this.#hot.set(key, { value, expires: performance.now() + this.#hotTtl })
    for (const evicted of stored) this.#hot.delete(evicted)
  }

  // Turns the hits counted so far into reserved events; those that do not fit the metric
  // bound are dropped and counted by Rust.
  #reserveHot() {
    if (this.#hotHits === 0) return
    const granted = this.#native.reserveEvents(this.#hotHits)
    this.#hotEvents += granted
    this.#hotEventTimes += (granted * this.#hotHitTimes) / this.#hotHits
    this.#hotHits = 0
    this.#hotHitTimes = 0
  }

  #scheduleDrain() {
    if (this.#drainScheduled) return
    this.#drainScheduled = true
    setImmediate(() => this.#drain())
  }

  // See DELIVERY_BUDGET_MS.
  #adaptBatch(tookMs) {
    if (tookMs > DELIVERY_BUDGET_MS) this.#eventsPerDrain = Math.max(1, this.#eventsPerDrain >>> 1)
    else if (tookMs < DELIVERY_BUDGET_MS / 4) this.#eventsPerDrain = Math.min(MAX_EVENTS_PER_DRAIN, this.#eventsPerDrain * 2)
  }

  #id() {
    this.#nextId = (this.#nextId + 1) >>> 0
    return this.#nextId
  }

  // Every operation that queued Redis work waits here, so this is where its flush is
  // scheduled: at the end of the loop turn, so every request a server read in one poll
  // shares one pipeline and one wake of the tokio thread.
  #wait(id, extra) {
    if (this.#pending.size === 0) busy.add(this)
    if (!this.#flushQueued) {
      this.#flushQueued = true
      setImmediate(() => {
        this.#flushQueued = false
        if (!this.#destroyed) this.#native.flush()
      })
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, extra ? { resolve, reject, ...extra } : { resolve, reject })
    })
  }

  #finish(id) {
    this.#pending.delete(id)
    if (this.#pending.size === 0) busy.delete(this)
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

  // getData and getDataSince skip #run's closures: a hot hit must cost no more than the
  // JS Map lookup it is.
  getData(key) {
    if (this.#destroyed) return Promise.reject(destroyedError())
    const hit = this.#hotHit(key)
    if (hit !== undefined) return Promise.resolve(hit)
    const id = this.#id()
    try {
      this.#native.get(id, key)
    } catch (err) {
      return Promise.reject(adopt(err))
    }
    return this.#wait(id, { key })
  }

  getDataSince(key, since) {
    if (this.#destroyed) return Promise.reject(destroyedError())
    // A bad `since` must reach the native check even when the key is hot.
    const hit = Number.isFinite(since) ? this.#hotHit(key) : undefined
    if (hit !== undefined) return Promise.resolve(pointsSince(hit, since))
    const id = this.#id()
    try {
      this.#native.getSince(id, key, since)
    } catch (err) {
      return Promise.reject(adopt(err))
    }
    return this.#wait(id, { key }).then((points) => (points === null ? null : pointsSince(points, since)))
  }

  setData(key, data, priority = 'auto') {
    if (this.#destroyed) return Promise.reject(destroyedError())
    const id = this.#id()
    let stored
    let points
    try {
      if (!Array.isArray(data)) {
        stored = this.#native.set(id, key, data, '', priority)
      } else {
        const normalised = normalise(data)
        points = normalised.points
        stored =
          normalised.json !== undefined
            ? this.#native.set(id, key, points, normalised.json, priority)
            : this.#native.setPoints(id, key, normalised.rows, normalised.symbols, priority)
      }
    } catch (err) {
      return Promise.reject(adopt(err))
    }
    if (stored === false) return Promise.resolve()
    // A series: the merged value arrives with the completion (OpKind.Stored).
    if (stored === null) return this.#wait(id, { key })
    // Written to Redis only: the Map must not answer with an older value.
    if (stored === true) this.#hot.delete(key)
    else this.#admit(key, points, stored)
    return this.#wait(id)
  }

  getBatchData(input) {
    const keys = keyList(input)
    if (keys === null) {
      // The native check names the bad argument (and reads it the same way).
      return this.#run(
        (id) => this.#native.batch(id, input),
        (_, id) => this.#wait(id, { result: {}, missing: keyList(input) ?? [], next: 0 }),
      )
    }
    if (this.#destroyed) return Promise.reject(destroyedError())
    const result = {}
    const missing = []
    for (let i = 0; i < keys.length; i++) {
      const hit = this.#hotHit(keys[i], false)
      put(result, keys[i], hit ?? null)
      if (hit === undefined) missing.push(keys[i])
    }
    if (missing.length === 0) return Promise.resolve(result)
    return this.#run(
      (id) => this.#native.batch(id, missing),
      (_, id) => this.#wait(id, { result, missing, next: 0 }),
    )
  }

  deleteData(key) {
    return this.#run(
      (id) => this.#native.delete(id, key),
      (_, id) => {
        this.#hot.delete(key)
        return this.#wait(id)
      },
    )
  }

  clearAll(options) {
    return this.#run(
      (id) => this.#native.clearAll(id, options),
      (_, id) => {
        this.#hot.clear()
        return this.#wait(id)
      },
    )
  }

  getHealthStatus() {
    return this.#run((id) => this.#native.health(id, false), (_, id) => this.#wait(id))
  }

  async reportSystemMetrics() {
    await this.#run((id) => this.#native.health(id, true), (_, id) => this.#wait(id))
  }

  stats() {
    if (!this.#destroyed) this.#reserveHot()
    const s = this.#native.stats()
    const told = this.#delivered
    return {
      pendingMetrics: s.pendingMetrics,
      emittedMetrics: s.emittedMetrics + told.emitted,
      droppedMetrics: s.droppedMetrics + told.dropped,
      failedMetrics: s.failedMetrics + told.failed,
      meanMetricLatencyMs: s.meanMetricLatencyMs,
      hotCacheSize: s.hotCacheSize,
      expiredCleaned: s.expiredCleaned,
      invalidationsReceived: s.invalidationsReceived,
      hotEntriesInvalidated: s.hotEntriesInvalidated,
      destroyed: s.destroyed,
    }
  }

  // Undelivered events are dropped and counted like destroy()'s; `onMetric` is let go.
  releaseMetrics() {
    if (this.#destroyed || this.#metricsReleased) return
    this.#metricsReleased = true
    this.#reserveHot()
    this.#onMetric = null
    this.#userOnMetric = null
    this.#hotEvents = 0
    this.#hotEventTimes = 0
    this.#native.releaseMetrics()
  }

  destroy() {
    if (!this.#destroyed) {
      // Hits not yet reserved become reserved events, which destroy drops and counts.
      this.#reserveHot()
      this.#destroyed = true
      this.#onMetric = null
      this.#userOnMetric = null
      this.#native.destroy()
      this.#hot.clear()
      this.#touched = []
      this.#hotEvents = 0
      busy.delete(this)
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const p of pending) p.reject(destroyedError())
      const observers = [...this.#observers]
      this.#observers.clear()
      for (const o of observers) o.onDestroy?.()
    }
    return Promise.resolve()
  }

  // js/observe.js
  [observe](observer) {
    if (this.#destroyed) throw destroyedError()
    this.#observers.add(observer)
    if (!this.#metricsReleased && observer.onEvent) {
      if (this.#onMetric === null) this.#native.startMetrics()
      this.#composeOnMetric()
    }
    return () => {
      if (this.#observers.delete(observer) && !this.#metricsReleased && !this.#destroyed) this.#composeOnMetric()
    }
  }

  #composeOnMetric() {
    const user = this.#userOnMetric
    const listeners = [...this.#observers].filter((o) => o.onEvent).map((o) => o.onEvent)
    this.#onMetric =
      listeners.length === 0
        ? user
        : (event) => {
            for (const listener of listeners) listener(event)
            if (user !== null) user(event)
          }
  }

  // Runs on the JS thread when Rust has queued something, then once per loop turn while
  // anything flows (see Outbox::take). Settles first, then delivers events, so an event
  // never reaches the callback before its operation has settled.
  #drain() {
    this.#drainScheduled = false
    if (this.#destroyed) return
    let touched
    if (this.#touched.length > 0) {
      touched = this.#touched
      this.#touched = []
    }
    const delivered = this.#delivered
    this.#delivered = { emitted: 0, failed: 0, dropped: 0 }
    let rows = this.#rows
    const strings = this.#native.drain(this.#eventsPerDrain, touched, delivered, rows)
    const opsEnd = DrainHeader.Size + rows[DrainHeader.OpsLength]
    const eventsEnd = opsEnd + rows[DrainHeader.EventsLength]
    const flags = rows[DrainHeader.Flags]
    if (flags & DrainFlag.Spilled) {
      rows = this.#rows = new Float64Array(2 * (eventsEnd + rows[DrainHeader.PointsLength]))
      this.#native.takeSpilled(rows)
    }
    if (flags & DrainFlag.Cleared) this.#hot.clear()
    for (let k = rows[DrainHeader.DroppedKeys]; k > 0; k--) this.#hot.delete(strings[strings.length - k])
    for (let i = DrainHeader.Size; i < opsEnd; i += OP_STRIDE) this.#complete(rows, i, eventsEnd, strings)
    if (eventsEnd > opsEnd) this.#deliver(rows, opsEnd, eventsEnd, strings)
    if (flags & DrainFlag.Again) this.#scheduleDrain()
  }

  // One handler per OpKind (src/wire.rs): (cache, pending entry, id, a, b, rows, pointsAt, strings).
  static #handlers = {
    [OpKind.Done]: (c, p, id) => {
      c.#finish(id)
      p.resolve()
    },
    [OpKind.Miss]: (c, p, id) => {
      c.#finish(id)
      p.resolve(null)
    },
    [OpKind.Json]: (c, p, id, a, b, rows, pointsAt, strings) => {
      c.#finish(id)
      const value = parseArray(strings[a])
      c.#admit(p.key, value, c.#native.adoptParsed(b, value !== null))
      p.resolve(value)
    },
    [OpKind.Points]: (c, p, id, a, b, rows, pointsAt, strings) => {
      c.#finish(id)
      const value = buildPoints(rows, pointsAt + a, strings)
      if (b === 1) c.#admit(p.key, value, [])
      p.resolve(value)
    },
    [OpKind.BatchJson]: (c, p, id, a, b, rows, pointsAt, strings) => {
      const key = p.missing[p.next++]
      const value = a >= 0 ? parseArray(strings[a]) : null
      if (a >= 0) c.#admit(key, value, c.#native.adoptParsed(b, value !== null))
      put(p.result, key, value)
    },
    [OpKind.BatchPoints]: (c, p, id, a, b, rows, pointsAt, strings) => {
      const key = p.missing[p.next++]
      const value = buildPoints(rows, pointsAt + a, strings)
      if (b === 1) c.#admit(key, value, [])
      put(p.result, key, value)
    },
    [OpKind.BatchEnd]: (c, p, id) => {
      c.#finish(id)
      p.resolve(p.result)
    },
    [OpKind.Cleared]: (c, p, id, a, b) => {
      c.#finish(id)
      p.resolve({ deleted: a, preserved: b })
    },
    [OpKind.HealthDetail]: (c, p, id, a, b, rows, pointsAt, strings) => {
      p.detail = JSON.parse(strings[a])
    },
    [OpKind.Health]: (c, p, id, a, b, rows, pointsAt, strings) => {
      c.#finish(id)
      p.resolve({
        status: a < 0 ? 'healthy' : 'unhealthy',
        hotCacheSize: b,
        redisConnected: a < 0,
        lastError: a < 0 ? null : strings[a],
        nodes: p.detail.nodes,
        coherence: p.detail.coherence,
      })
    },
    [OpKind.Failed]: (c, p, id, a, b, rows, pointsAt, strings) => {
      c.#finish(id)
      p.reject(codedError(strings[a], strings[b], strings[b] === CODES.INVALID_ARGUMENT ? RangeError : Error))
    },
    [OpKind.Stored]: (c, p, id, a, b, rows, pointsAt, strings) => {
      c.#finish(id)
      if (b === 1) c.#admit(p.key, buildPoints(rows, pointsAt + a, strings), [])
      else c.#hot.delete(p.key)
      p.resolve()
    },
    // Follows the row that admitted a value; names no pending operation of its own.
    [OpKind.Evicted]: (c, p, id, a, b, rows, pointsAt, strings) => c.#hot.delete(strings[a]),
  }

  // The kinds and codes this file handles, for the test that every one Rust defines is.
  static [Symbol.for('stream-cache-native.wire')]() {
    return { ops: Object.keys(StreamCache.#handlers).map(Number), events: Object.keys(EVENT_BUILDERS).map(Number) }
  }

  // `pointsAt`: where the drain's decoded values start in `rows`.
  #complete(rows, i, pointsAt, strings) {
    const id = rows[i]
    const kind = rows[i + 1]
    const p = this.#pending.get(id)
    if (p === undefined && kind !== OpKind.Evicted) return
    StreamCache.#handlers[kind](this, p, id, rows[i + 2], rows[i + 3], rows, pointsAt, strings)
  }

  #deliver(rows, start, end, strings) {
    const started = performance.now()
    let emitted = 0
    let failed = 0
    let dropped = 0
    for (let i = start; i < end; i += EVENT_STRIDE) {
      const callback = this.#onMetric
      if (this.#destroyed || callback === null) {
        dropped = (end - i) / EVENT_STRIDE
        break
      }
      emitted++
      try {
        callback(EVENT_BUILDERS[rows[i]](rows, strings, i))
      } catch {
        failed++
      }
    }
    const told = this.#delivered
    told.emitted += emitted
    told.failed += failed
    told.dropped += dropped
    this.#adaptBatch(performance.now() - started)
  }
}

module.exports = { StreamCache, CODES, compressData }
