'use strict'

// What the published package holds and how it loads; e2e/run.js installs it for real.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const vm = require('node:vm')
const { platformName } = require('../js/loader')
const { runNode } = require('./helpers')

const root = path.join(__dirname, '..')
const manifest = require('../package.json')
// The napi CLI's reading of each target (Node's platform and arch, abi, the npm/ folder name); it is
// an ES module jest cannot load, so a plain Node child reads it.
const targets = JSON.parse(
  execFileSync(process.execPath, ['-e', `
    const { parseTriple } = require('@napi-rs/cli')
    console.log(JSON.stringify(require('./package.json').napi.targets.map(parseTriple)))`], { cwd: root, encoding: 'utf8' }),
)

// A stand-in for `process` on a target: glibc shows in the report's header, musl only as its
// loader among the shared objects.
function fakeProcess({ platform, arch, abi }) {
  const musl = abi === 'musl'
  const report = {
    header: musl ? {} : { glibcVersionRuntime: '2.17' },
    sharedObjects: musl ? [`/lib/ld-musl-${arch === 'x64' ? 'x86_64' : 'aarch64'}.so.1`] : ['/lib/libc.so.6'],
  }
  return { platform, arch, report: { getReport: () => report } }
}

// Runs the generated binding.js as that platform's process would, and returns what it tried
// to require. `fs` fails, so musl is told from the report, as where /usr/bin/ldd is absent.
function requiredByGeneratedLoader(fake) {
  const required = []
  const fakeRequire = (id) => {
    if (id === 'fs') return { readFileSync: () => { throw new Error('ENOENT') } }
    required.push(id)
    throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
  }
  const proc = new Proxy(process, {
    get: (target, key) => (key in fake ? fake[key] : key === 'env' ? {} : Reflect.get(target, key)),
  })
  const module = { exports: {} }
  const source = fs.readFileSync(path.join(root, 'binding.js'), 'utf8')
  expect(() => vm.runInNewContext(source, { require: fakeRequire, process: proc, module, exports: module.exports, console })).toThrow(
    'Cannot find native binding',
  )
  return required
}

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
      'LICENSE', 'README.md', 'binding.d.ts', 'binding.js', 'index.d.ts', 'index.js', 'js/loader.js', 'package.json',
      'nest/dist/index.d.mts', 'nest/dist/index.d.ts', 'nest/dist/index.js', 'nest/dist/index.mjs',
    ]),
  )
  expect(paths.filter((p) => /^(src|target|npm|e2e|__test__)\/|\.node$|^Cargo/.test(p))).toEqual([])
})

// Requires the package in a Node child that claims to run on `platform`, after `setup`;
// returns the error it threw.
async function errorOnPlatform(platform, setup = '') {
  const probe = `
    ${setup}
    Object.defineProperty(process, 'platform', { value: '${platform}' })
    try { require(${JSON.stringify(root)}) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: !!e.cause })) }`
  const env = { ...process.env }
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  const { code, stdout } = await runNode(['-e', probe], { env })
  expect(code).toBe(0)
  return JSON.parse(stdout)
}

test('an unsupported platform gets a coded error that names it and says how to build', async () => {
  const err = await errorOnPlatform('aix')
  expect(err.code).toBe('STREAM_CACHE_NO_BINARY')
  expect(err.message).toContain(`no prebuilt binary for aix-${process.arch}`)
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

describe.each(targets.map((target) => [target.triple, target]))('target %s', (triple, target) => {
  const dir = path.join(root, 'npm', target.platformArchABI)

  test('has its generated package, for its os, cpu and libc only', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    expect(pkg.name).toBe(`${manifest.name}-${target.platformArchABI}`)
    expect(pkg.version).toBe(manifest.version)
    expect(pkg.main).toBe(`${manifest.napi.binaryName}.${target.platformArchABI}.node`)
    expect(pkg.files).toEqual([pkg.main])
    expect(pkg.os).toEqual([target.platform])
    expect(pkg.cpu).toEqual([target.arch])
    expect(pkg.libc).toEqual(target.platform === 'linux' ? [target.abi === 'musl' ? 'musl' : 'glibc'] : undefined)
  })

  test('a process there is named for it, and the generated loader asks for its package', () => {
    const fake = fakeProcess(target)
    expect(platformName(fake)).toBe(target.platformArchABI)
    const required = requiredByGeneratedLoader(fake)
    expect(required).toContain(`./${manifest.napi.binaryName}.${target.platformArchABI}.node`)
    expect(required).toContain(`${manifest.name}-${target.platformArchABI}`)
  })
})

test('musl is told from glibc by the diagnostic report', () => {
  const glibc = fakeProcess({ platform: 'linux', arch: 'arm64', abi: 'gnu' })
  const musl = fakeProcess({ platform: 'linux', arch: 'arm64', abi: 'musl' })
  expect(platformName(glibc)).toBe('linux-arm64-gnu')
  expect(platformName(musl)).toBe('linux-arm64-musl')
  expect(platformName(process)).toBe(`linux-${process.arch}-gnu`)
})

test('every platform package is a published target, and the package names each in its error', async () => {
  const dirs = fs.readdirSync(path.join(root, 'npm')).sort()
  expect(dirs).toEqual(targets.map((t) => t.platformArchABI).sort())
  // napi pre-publish writes optionalDependencies at release time; the error lists them.
  const err = await errorOnPlatform('freebsd', `
    const manifest = require(${JSON.stringify(path.join(root, 'package.json'))})
    manifest.optionalDependencies = Object.fromEntries(${JSON.stringify(dirs)}.map((d) => [manifest.name + '-' + d, manifest.version]))`)
  expect(err.code).toBe('STREAM_CACHE_NO_BINARY')
  expect(err.message).toBe(
    `${manifest.name} has no prebuilt binary for freebsd-${process.arch} (prebuilt: ${dirs.join(', ')}). ` +
      `Build it from source with Rust installed: in a checkout of ${manifest.name}, \`npm ci && npm run build\`, ` +
      `then run the app with NAPI_RS_NATIVE_LIBRARY_PATH=<checkout>/${manifest.name}.freebsd-${process.arch}.node ` +
      `(README: "Other platforms").`,
  )
})
