'use strict'

// The docs quote facts that live in code; these checks keep them from drifting apart.

const fs = require('node:fs')
const path = require('node:path')
const { OPTION_DEFAULTS } = require('..')

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')

test("the README's Options table gives OPTION_DEFAULTS' defaults", () => {
  const documented = {}
  for (const [, names, value] of readme.matchAll(/^\| `([^|]+)` \| ([^|]+) \|/gm)) {
    const number = /^`?(\d+)`?( (ms|s))?$/.exec(value.trim())
    const mib = /^(\d+) MiB$/.exec(value.trim())
    const shown = number ? Number(number[1]) : mib ? Number(mib[1]) * 1024 * 1024 : undefined
    documented[names.replace(/^redis\./, '')] ??= shown
  }
  for (const [option, value] of Object.entries(OPTION_DEFAULTS)) expect([option, documented[option]]).toEqual([option, value])
})

test("docs/contract.md's Options give OPTION_DEFAULTS' defaults", () => {
  const contract = fs.readFileSync(path.join(__dirname, '..', 'docs', 'contract.md'), 'utf8')
  const options = contract.slice(contract.indexOf('## Options'), contract.indexOf('### How long'))
  const documented = {}
  for (const [, name, digits, unit] of options.matchAll(/`(\w+)`\s+\(([\d,]+)( MiB)?/g)) {
    documented[name] = Number(digits.replace(/,/g, '')) * (unit ? 1024 * 1024 : 1)
  }
  for (const [option, value] of Object.entries(OPTION_DEFAULTS)) expect([option, documented[option]]).toEqual([option, value])
})

test("the README's benchmark tables are the committed results, as bench/readme.js renders them", () => {
  const { libraryReport, httpReport, readmeSection } = require('../bench/readme')
  const results = (file) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'bench', 'results', file), 'utf8'))
  expect(readmeSection('bench')).toBe(`${libraryReport(results('latest.json'))}\n`)
  expect(readmeSection('bench:http')).toBe(`${httpReport(results('http.json'))}\n`)
})
