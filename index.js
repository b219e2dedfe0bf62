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
// The rest lives beside it in js/: the hot values (hot.js), the row codec (codec.js), event
// objects (events.js), coded errors (errors.js), the binary's loader (loader.js). Every number and name shared
// with Rust (row kinds and fields, event codes, error codes) comes from the binding
// (src/wire.rs, src/error.rs). How the two sides meet: docs/architecture.md.

const { NativeStreamCache, OpKind, OpField, EventField, DrainHeader, DrainFlag, NO_STRING, optionDefaults } =
  require('./js/loader').loadBinding()
const { observe } = require('./js/observe')
const { CODES, adopt, codedError, destroyedError } = require('./js/errors')
const { compressData, normalise, pointsSince, parseArray, buildPoints, keyList, put } = require('./js/codec')
const { EVENT_BUILDERS, getEvent } = require('./js/events')
const { HotValues } = require('./js/hot')

const { Id: ID, Kind: KIND, A, B, Stride: OP_STRIDE } = OpField
const EVENT_STRIDE = EventField.Stride

// Events delivered per drain adapt so one drain's callbacks take about this long at most;
// a slow listener then costs one event per loop turn instead of stalling the loop.
const DELIVERY_BUDGET_MS = 8
const MAX_EVENTS_PER_DRAIN = 16_384

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
  #hot
  // Hot hits' events, which JS builds and delivers itself from a count. Each first gets a
  // place in Rust's bounded metric queue (reserveEvents), so one bound and one set of
  // counters cover all.
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
    this.#hot = new HotValues(limits.hotTtlMs, limits.maxPendingMetrics)
  }

  // A batch's hits report no event (`reports` false), as the TS service's did not.
  #hotHit(key, reports = true) {
    const value = this.#hot.hit(key)
    if (value === undefined) return undefined
    if (reports && this.#onMetric !== null) {
      this.#hotHits++
      this.#hotHitTimes += this.#hot.lastHitAt
    }
    if (!this.#hotFlushScheduled) {
      this.#hotFlushScheduled = true
      setImmediate(() => this.#flushHot())
    }
    return value
  }

  // The hits' events, and their keys once enough have gathered: a burst of hits costs
  // one native call per batch of keys (js/hot.js), not one per loop turn.
  #flushHot() {
    this.#hotFlushScheduled = false
    if (this.#destroyed) return
    if (this.#hot.touchesDue) this.#drain()
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
    else this.#hot.admit(key, points, stored)
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
    const touched = this.#hot.takeTouched()
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
      c.#hot.admit(p.key, value, c.#native.adoptParsed(b, value !== null))
      p.resolve(value)
    },
    [OpKind.Points]: (c, p, id, a, b, rows, pointsAt, strings) => {
      c.#finish(id)
      const value = buildPoints(rows, pointsAt + a, strings)
      if (b) c.#hot.admit(p.key, value, [])
      p.resolve(value)
    },
    [OpKind.BatchJson]: (c, p, id, a, b, rows, pointsAt, strings) => {
      const key = p.missing[p.next++]
      const value = a === NO_STRING ? null : parseArray(strings[a])
      if (a !== NO_STRING) c.#hot.admit(key, value, c.#native.adoptParsed(b, value !== null))
      put(p.result, key, value)
    },
    [OpKind.BatchPoints]: (c, p, id, a, b, rows, pointsAt, strings) => {
      const key = p.missing[p.next++]
      const value = buildPoints(rows, pointsAt + a, strings)
      if (b) c.#hot.admit(key, value, [])
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
        status: a === NO_STRING ? 'healthy' : 'unhealthy',
        hotCacheSize: b,
        redisConnected: a === NO_STRING,
        lastError: a === NO_STRING ? null : strings[a],
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
      if (b) c.#hot.admit(p.key, buildPoints(rows, pointsAt + a, strings), [])
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
    const id = rows[i + ID]
    const kind = rows[i + KIND]
    const p = this.#pending.get(id)
    if (p === undefined && kind !== OpKind.Evicted) return
    StreamCache.#handlers[kind](this, p, id, rows[i + A], rows[i + B], rows, pointsAt, strings)
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

// Every numeric option's default, from src/options/mod.rs.
const OPTION_DEFAULTS = Object.freeze(optionDefaults())

module.exports = { StreamCache, CODES, OPTION_DEFAULTS, compressData }
