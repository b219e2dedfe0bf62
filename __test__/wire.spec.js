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

test('each row layout numbers its fields 0, 1, … and ends with its stride', () => {
  for (const layout of [binding.OpField, binding.EventField, binding.PointField]) {
    const fields = Object.entries(layout).filter(([, at]) => Number.isInteger(at))
    const positions = fields.map(([, at]) => at).sort((a, b) => a - b)
    expect(positions).toEqual([...Array(fields.length).keys()])
    expect(layout.Stride).toBe(fields.length - 1)
  }
  expect(binding.NO_STRING).toBeLessThan(0)
})

test('CODES and the loader\'s code are ErrorCode\'s strings, and only those', () => {
  const { CODES } = require('..')
  const { noBinaryError } = require('../js/loader')
  expect(Object.values(CODES).sort()).toEqual(Object.values(binding.ErrorCode).sort())
  expect(CODES.NO_BINARY).toBe(noBinaryError('linux-x64-gnu').code)
  for (const [name, code] of Object.entries(CODES)) expect(code).toBe(`STREAM_CACHE_${name}`)
})

test('the drain header: its slots precede the rows, and its flags are distinct bits', () => {
  const slots = values(binding.DrainHeader)
  expect(slots).toEqual([...Array(binding.DrainHeader.Size + 1).keys()])
  const flags = values(binding.DrainFlag)
  expect(flags.reduce((a, b) => a | b, 0)).toBe(flags.reduce((a, b) => a + b, 0))
})
