'use strict'

// Metric event objects (docs/contract.md, "Metric events") from the events rows a drain
// hands over (src/wire.rs, EventField).

const { EventCode, EventField, NO_STRING } = require('./loader').loadBinding()

const {
  TimestampMs: TIMESTAMP,
  Value: VALUE,
  DataSize: DATA_SIZE,
  CompressionRatio: COMPRESSION_RATIO,
  StringA: STRING_A,
  StringB: STRING_B,
} = EventField

// One builder per EventCode (src/wire.rs): (rows, strings, offset) → the event object of
// docs/contract.md, "Metric events". Each is one literal, so every event of a kind shares
// one hidden class.
const EVENT_BUILDERS = {
  [EventCode.GetWarm]: (r, s, i) => getEvent(r[i + TIMESTAMP], r[i + VALUE], 'warm'),
  [EventCode.GetMiss]: (r, s, i) => getEvent(r[i + TIMESTAMP], r[i + VALUE], 'miss'),
  [EventCode.SetBoth]: (r, s, i) => setEvent(r, i, 'both'),
  [EventCode.SetWarm]: (r, s, i) => setEvent(r, i, 'warm'),
  [EventCode.SetWarmFailed]: (r, s, i) => setEvent(r, i, 'warm', s[r[i + STRING_B]]),
  [EventCode.FailedRecoverable]: (r, s, i) => errorEvent(r, s, i, 'recoverable_error'),
  [EventCode.FailedCritical]: (r, s, i) => errorEvent(r, s, i, 'critical_error'),
  [EventCode.System]: (r, s, i) => ({
    timestamp: new Date(r[i + TIMESTAMP]),
    source: 'stream-cache',
    metricType: 'system',
    metricName: s[r[i + STRING_A]],
    metricValue: r[i + VALUE],
    tags: r[i + STRING_B] === NO_STRING ? { component: 'StreamCache' } : { component: 'StreamCache', reason: s[r[i + STRING_B]] },
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
    timestamp: new Date(r[i + TIMESTAMP]),
    source: 'stream-cache',
    metricType: 'cache',
    metricName: success ? 'cache_set_success' : 'cache_set_failed',
    metricValue: r[i + VALUE],
    tags: {
      operation: 'set',
      success: success ? 'true' : 'false',
      component: 'StreamCache',
      cacheType: 'stream-cache',
      layer,
      dataSize: r[i + DATA_SIZE],
      compressionRatio: r[i + COMPRESSION_RATIO],
    },
  }
  if (!success) Object.assign(event.tags, { errorType: 'recoverable_error', errorMessage })
  return event
}

// compat: the TS service's error event, `cache_<method>_failed`.
function errorEvent(r, s, i, errorType) {
  const operation = s[r[i + STRING_A]]
  return {
    timestamp: new Date(r[i + TIMESTAMP]),
    source: 'stream-cache',
    metricType: 'cache',
    metricName: `cache_${operation}_failed`,
    metricValue: 0,
    tags: { operation, success: 'false', component: 'StreamCache', errorType, errorMessage: s[r[i + STRING_B]] },
  }
}

module.exports = { EVENT_BUILDERS, getEvent }
