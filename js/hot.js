'use strict'

// The hot tier's values, on the JS thread: a hit returns the very array stored, with no
// crossing. Which keys stay is Rust's decision (src/hot.rs; why there:
// docs/architecture.md, "Where the hot policy lives"): each native call that admits a key
// answers with the keys that left, and the hits go back in bulk so the policy sees them.

// Hit keys handed to Rust per native call, at most.
const TOUCH_BATCH = 1024

class HotValues {
  // key → { value, expires (performance.now() ms), report: the last report its hit went in }
  #entries = new Map()
  #ttlMs
  // Hit keys not yet handed to Rust; at most `maxTouched`, beyond which the policy misses
  // a few accesses rather than memory growing.
  #touched = []
  #maxTouched
  // Which report to Rust the hits now gathered go in. A key goes in each report once: the
  // policy needs which keys were used since it last heard (quick_cache counts two uses at
  // most), and each repeat would cost a string crossing Node-API, about 120 ns a hit.
  #report = 0

  constructor(ttlMs, maxTouched) {
    this.#ttlMs = ttlMs
    this.#maxTouched = maxTouched
  }

  // When the last hit was served (performance.now()), for its event's latency.
  lastHitAt = 0

  // The value of a fresh entry, or undefined; an expired one is dropped (Rust learns of
  // it when the read that follows reaches it).
  hit(key) {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    const now = performance.now()
    if (now > entry.expires) {
      this.#entries.delete(key)
      return undefined
    }
    if (entry.report !== this.#report && this.#touched.length < this.#maxTouched) {
      entry.report = this.#report
      this.#touched.push(key)
    }
    this.lastHitAt = now
    return entry.value
  }

  // `stored`: what Rust answered for a write or promotion (src/lib.rs): `true` written to
  // Redis only, `false` nothing stored, or the keys the admission evicted.
  admit(key, value, stored) {
    if (typeof stored === 'boolean') return
    this.#entries.set(key, { value, expires: performance.now() + this.#ttlMs, report: -1 })
    for (const evicted of stored) this.#entries.delete(evicted)
  }

  delete(key) {
    this.#entries.delete(key)
  }

  clear() {
    this.#entries.clear()
    this.#touched = []
  }

  // Whether enough hits have gathered to be worth a native call of their own.
  get touchesDue() {
    return this.#touched.length >= Math.min(TOUCH_BATCH, this.#maxTouched)
  }

  // The hit keys since the last call, or undefined when there were none.
  takeTouched() {
    if (this.#touched.length === 0) return undefined
    const touched = this.#touched
    this.#touched = []
    this.#report++
    return touched
  }
}

module.exports = { HotValues }
