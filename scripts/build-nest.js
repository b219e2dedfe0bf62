'use strict'

// Compiles the NestJS adapter (nest/index.ts) twice: CommonJS (dist/index.js) for NestJS 11
// apps and an ES module (dist/index.mjs) for NestJS 12 apps, so each app loads the adapter
// in its own module system and shares its @nestjs/* instances. The .mjs extension, not a
// nested package.json, marks the module: the package's own name must keep resolving to
// its root. Runs at build time and before packing, never on install.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const nest = path.join(__dirname, '..', 'nest')
const dist = path.join(nest, 'dist')
const tsc = (config) => spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(nest, config)], { stdio: 'inherit' })

fs.rmSync(dist, { recursive: true, force: true })
for (const config of ['tsconfig.json', 'tsconfig.esm.json']) {
  const result = tsc(config)
  if (result.status !== 0) process.exit(result.status ?? 1)
}
const esm = path.join(dist, 'esm')
fs.renameSync(path.join(esm, 'index.js'), path.join(dist, 'index.mjs'))
fs.renameSync(path.join(esm, 'index.d.ts'), path.join(dist, 'index.d.mts'))
fs.rmSync(esm, { recursive: true })
