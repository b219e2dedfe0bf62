'use strict'

// How the metric integrations (js/prometheus.js, js/opentelemetry.js) attach to a StreamCache
// without widening its public API: a method named by this symbol,
//   cache[observe]({ onEvent(event), onDestroy() }) → detach()
// onEvent sees every metric event (before the user's onMetric; it must not throw), and
// starts events on a cache built without onMetric; onDestroy runs inside destroy().
module.exports = { observe: Symbol('stream-cache-native.observe') }
