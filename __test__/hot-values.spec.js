'use strict'

// js/hot.js on its own: the JS half of the hot tier, whose keys Rust's policy decides.

const { HotValues } = require('../js/hot')

test('a hit returns the very value admitted; its key goes to the policy once per report', () => {
  const hot = new HotValues(60_000, 10)
  const value = [{ s: 'A', p: 1, v: 1, t: 1 }]
  hot.admit('A', value, [])
  expect(hot.hit('A')).toBe(value)
  expect(hot.hit('A')).toBe(value)
  expect(hot.hit('B')).toBeUndefined()
  expect(hot.takeTouched()).toEqual(['A'])
  expect(hot.takeTouched()).toBeUndefined()
  hot.hit('A')
  expect(hot.takeTouched()).toEqual(['A'])
})

test('admission drops the keys the policy evicted; true and false admit nothing', () => {
  const hot = new HotValues(60_000, 10)
  hot.admit('A', ['a'], [])
  hot.admit('B', ['b'], ['A'])
  hot.admit('C', ['c'], true)
  hot.admit('D', ['d'], false)
  expect([hot.hit('A'), hot.hit('B'), hot.hit('C'), hot.hit('D')]).toEqual([undefined, ['b'], undefined, undefined])
})

test('an expired entry is no hit, is dropped, and is not reported as one', () => {
  const hot = new HotValues(-1, 10)
  hot.admit('A', ['a'], [])
  expect(hot.hit('A')).toBeUndefined()
  expect(hot.takeTouched()).toBeUndefined()
})

test('hit keys are kept up to the bound, and are due for Rust at the bound', () => {
  const hot = new HotValues(60_000, 3)
  const keys = ['A', 'B', 'C', 'D', 'E']
  for (const key of keys) hot.admit(key, [key], [])
  hot.hit('A')
  hot.hit('B')
  expect(hot.touchesDue).toBe(false)
  for (const key of keys) hot.hit(key)
  expect(hot.touchesDue).toBe(true)
  expect(hot.takeTouched()).toEqual(['A', 'B', 'C'])
  hot.hit('A')
  hot.clear()
  expect(hot.hit('A')).toBeUndefined()
  expect(hot.takeTouched()).toBeUndefined()
})
