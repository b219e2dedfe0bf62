'use strict'

// Compiles the NestJS layer (nest/index.ts → nest/dist). Skipped, with a note, where NestJS
// is not installed: the core cache does not need it.

const { spawnSync } = require('node:child_process')
const path = require('node:path')

try {
  require.resolve('@nestjs/common')
  require.resolve('@nestjs/event-emitter')
} catch {
  console.log('stream-cache-native: NestJS not installed, skipping the stream-cache-native/nest layer')
  process.exit(0)
}
const tsc = require.resolve('typescript/bin/tsc')
const result = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, '..', 'nest')], { stdio: 'inherit' })
process.exit(result.status ?? 1)
