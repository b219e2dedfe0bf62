'use strict'

// Runs the jest suite against the package as npm installs it on this platform: packs the
// tarballs (scripts/pack.js), installs the main one and this platform's binary package into
// a clean project, copies __test__/ into the installed package (so the tests' `require('..')`
// and their child processes load the installed files), and runs jest there. The release
// workflow runs it on every platform's own runner; package.spec.js and docs.spec.js check
// the checkout (npm/, the packing itself, the docs against the code), not an install, so
// they are left out.
//
//   node scripts/test-packed.js [jest arguments]

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { pack } = require('./pack')
const { platformName } = require('../js/loader')

const root = path.join(__dirname, '..')
const work = path.join(root, 'target', 'packed')
const manifest = require('../package.json')
// What the tests themselves load; the package needs none of it.
const TEST_DEPENDENCIES = ['jest', 'ioredis', '@nestjs/common', '@nestjs/core', '@nestjs/config', '@nestjs/event-emitter',
  '@nestjs/testing', 'eventemitter2', 'reflect-metadata', 'rxjs', 'prom-client', '@opentelemetry/api', '@opentelemetry/sdk-metrics']

function run(cmd, args, cwd) {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' })
}

function main() {
  const platform = platformName(process)
  const { main: mainTarball, platforms } = pack(path.join(work, 'pack'))
  if (!platforms[platform]) throw new Error(`artifacts/ has no ${platform} binary to test`)
  const project = path.join(work, 'project')
  fs.rmSync(project, { recursive: true, force: true })
  fs.mkdirSync(project, { recursive: true })
  fs.writeFileSync(path.join(project, 'package.json'), '{ "private": true }\n')
  const testDeps = TEST_DEPENDENCIES.map((dep) => `${dep}@${manifest.devDependencies[dep]}`)
  run('npm', ['install', '--no-audit', '--no-fund', mainTarball, platforms[platform], ...testDeps], project)

  const installed = path.join(project, 'node_modules', manifest.name)
  fs.cpSync(path.join(root, '__test__'), path.join(installed, '__test__'), { recursive: true })
  fs.mkdirSync(path.join(installed, 'scripts'), { recursive: true })
  fs.copyFileSync(path.join(root, 'scripts', 'local-redis.js'), path.join(installed, 'scripts', 'local-redis.js'))
  const config = require('../jest.config.js')
  const installedConfig = {
    ...config,
    rootDir: installed,
    projects: config.projects.map((p) => ({
      ...p,
      rootDir: installed,
      // Jest skips node_modules by default, and the installed package lives there. The
      // checkout's own files (the manifest, docs and bench results) are not installed.
      testPathIgnorePatterns: ['/__test__/(package|docs)\\.spec\\.js$'],
      haste: { retainAllFiles: true },
    })),
  }
  const configFile = path.join(installed, 'jest.packed.config.json')
  fs.writeFileSync(configFile, JSON.stringify(installedConfig, null, 2))
  const jest = path.join(project, 'node_modules', 'jest', 'bin', 'jest.js')
  console.log(`== jest on the installed ${manifest.name} with ${path.basename(platforms[platform])}`)
  run(process.execPath, [jest, '--config', configFile, '--runInBand', ...process.argv.slice(2)], installed)
}

try {
  main()
} catch (err) {
  console.error(err.message)
  process.exitCode = 1
}
