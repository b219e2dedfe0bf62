'use strict'

// src/wire.rs defines the rows a drain hands over; index.js must handle every kind of them.

const binding = require('../binding.js')
const { StreamCache } = require('..')

const values = (e) => Object.values(e).filter(Number.isInteger).sort((a, b) => a - b)

test('every row kind and event code Rust defines has a handler in index.js, and no other', () => {
  const handled = StreamCache[Symbol.for('stream-cache-native.wire')]()
  expect(handled.ops.sort((a, b) => a - b)).toEqual(values(binding.OpKind))
  expect(handled.events.sort((a, b) => a - b)).toEqual(values(binding.EventCode))
  expect(values(binding.OpKind).length).toBeGreaterThan(10)
})

test('strides come from Rust', () => {
  expect([binding.OP_STRIDE, binding.EVENT_STRIDE, binding.POINT_STRIDE]).toEqual([4, 7, 6])
})
