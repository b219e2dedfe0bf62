'use strict'

// Packs the package as it is published (RELEASING.md, minus `npm publish`): every binary in
// artifacts/ goes into its npm/<platform> package, the main package gets the
// optionalDependencies that `napi pre-publish` writes at release (one per target), and npm
// packs it (prepack compiles the NestJS adapter) and each platform package that has a binary.
// package.json is restored afterwards. Both napi commands insist on every target's binary,
// which a runner building one platform lacks, so only `artifacts` runs, told of those present.
//
//   node scripts/pack.js [destination]   (default target/pack; prints the tarballs as JSON)

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const { name, version, napi } = require('../package.json')
const { parseTriple } = require('@napi-rs/cli')
const napiCli = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js')

function run(cmd, args) {
  // npm is a .cmd script on Windows, which only a shell starts.
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' })
}

function pack(dest = path.join(root, 'target', 'pack')) {
  const artifacts = path.join(root, 'artifacts')
  const prefix = `${napi.binaryName}.`
  const platforms = fs.existsSync(artifacts)
    ? fs.readdirSync(artifacts).filter((f) => f.startsWith(prefix) && f.endsWith('.node')).map((f) => f.slice(prefix.length, -'.node'.length))
    : []
  if (platforms.length === 0) throw new Error('artifacts/ holds no binary: build one first (RELEASING.md, "Build")')
  fs.rmSync(dest, { recursive: true, force: true })
  fs.mkdirSync(dest, { recursive: true })
  const present = napi.targets.filter((triple) => platforms.includes(parseTriple(triple).platformArchABI))
  const config = path.join(dest, 'napi-present.json')
  fs.writeFileSync(config, JSON.stringify({ binaryName: napi.binaryName, targets: present }))
  run(process.execPath, [napiCli, 'artifacts', '--config-path', config])
  const manifest = path.join(root, 'package.json')
  const original = fs.readFileSync(manifest)
  try {
    const published = JSON.parse(original)
    published.optionalDependencies = Object.fromEntries(
      napi.targets.map((triple) => [`${name}-${parseTriple(triple).platformArchABI}`, version]),
    )
    fs.writeFileSync(manifest, `${JSON.stringify(published, null, 2)}\n`)
    run('npm', ['pack', '--pack-destination', dest])
    for (const platform of platforms) run('npm', ['pack', `./npm/${platform}`, '--pack-destination', dest])
  } finally {
    fs.writeFileSync(manifest, original)
  }
  return {
    main: path.join(dest, `${name}-${version}.tgz`),
    platforms: Object.fromEntries(platforms.map((p) => [p, path.join(dest, `${name}-${p}-${version}.tgz`)])),
  }
}

module.exports = { pack }

if (require.main === module) console.log(JSON.stringify(pack(process.argv[2] && path.resolve(process.argv[2])), null, 2))
