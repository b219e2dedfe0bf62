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

test('the drain header: its slots precede the rows, and its flags are distinct bits', () => {
  const slots = values(binding.DrainHeader)
  expect(slots).toEqual([...Array(binding.DrainHeader.Size + 1).keys()])
  const flags = values(binding.DrainFlag)
  expect(flags.reduce((a, b) => a | b, 0)).toBe(flags.reduce((a, b) => a + b, 0))
})
