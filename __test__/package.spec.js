'use strict'

// What the published package holds and how it loads; e2e/run.js installs it for real.

const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { runNode } = require('./helpers')

const root = path.join(__dirname, '..')
const manifest = require('../package.json')

test('installing runs no script and pulls no build tool', () => {
  const scripts = Object.keys(manifest.scripts)
  expect(scripts.filter((s) => /^(pre|post)?install$/.test(s))).toEqual([])
  expect(manifest.dependencies).toBeUndefined()
  expect(Object.keys(manifest.devDependencies)).toEqual(expect.arrayContaining(['@napi-rs/cli', 'typescript']))
})

test('the tarball holds the loader, types, both adapter builds and the licence; no sources or binaries', () => {
  const [{ files }] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }))
  const paths = files.map((f) => f.path).sort()
  expect(paths).toEqual(
    expect.arrayContaining([
      'LICENSE', 'README.md', 'binding.d.ts', 'binding.js', 'index.d.ts', 'index.js', 'package.json',
      'nest/dist/index.d.mts', 'nest/dist/index.d.ts', 'nest/dist/index.js', 'nest/dist/index.mjs',
    ]),
  )
  expect(paths.filter((p) => /^(src|target|npm|e2e|__test__)\/|\.node$|^Cargo/.test(p))).toEqual([])
})

test('an unsupported platform gets a coded error that names it and says how to build', async () => {
  const probe = `
    Object.defineProperty(process, 'platform', { value: 'aix' })
    try { require(${JSON.stringify(root)}) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: !!e.cause })) }`
  const env = { ...process.env }
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  const { code, stdout } = await runNode(['-e', probe], { env })
  expect(code).toBe(0)
  const err = JSON.parse(stdout)
  expect(err.code).toBe('STREAM_CACHE_NO_BINARY')
  expect(err.message).toContain('no prebuilt binary for aix-x64')
  expect(err.message).toContain('npm ci && npm run build')
  expect(err.message).toContain('NAPI_RS_NATIVE_LIBRARY_PATH')
  expect(err.cause).toBe(true)
})

test('require() gets the CommonJS adapter, import the ES module one, both over the same native cache', async () => {
  const probe = `
    import { createRequire } from 'node:module'
    const esm = await import('stream-cache-native/nest')
    const cjs = createRequire(${JSON.stringify(path.join(root, 'index.js'))})('stream-cache-native/nest')
    const resolved = import.meta.resolve('stream-cache-native/nest')
    console.log(JSON.stringify({
      esm: resolved.endsWith('/nest/dist/index.mjs'),
      forRoot: [typeof esm.StreamCacheModule.forRoot, typeof cjs.StreamCacheModule.forRoot],
      event: esm.STREAM_CACHE_METRIC_EVENT === cjs.STREAM_CACHE_METRIC_EVENT,
    }))`
  const { code, stdout, stderr } = await runNode(['--input-type=module', '-e', probe], { cwd: root })
  expect(stderr).toBe('')
  expect(code).toBe(0)
  expect(JSON.parse(stdout)).toEqual({ esm: true, forRoot: ['function', 'function'], event: true })
})
