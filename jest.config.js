'use strict'

// Two projects: every suite against one redis-server, and the behaviour suites (operations,
// interop, coherence, series) again against a local 3-master Redis Cluster. Each starts its own Redis.
// target/ and e2e/ hold the packed package and its test apps, not test code.
const shared = { testEnvironment: 'node', modulePathIgnorePatterns: ['<rootDir>/target/', '<rootDir>/e2e/'] }

module.exports = {
  testTimeout: 60_000,
  projects: [
    {
      ...shared,
      displayName: 'single',
      testMatch: ['<rootDir>/__test__/**/*.spec.js'],
      globalSetup: '<rootDir>/__test__/redis-server.js',
      globalTeardown: '<rootDir>/__test__/redis-server.js',
    },
    {
      ...shared,
      displayName: 'cluster',
      testMatch: ['<rootDir>/__test__/{operations,interop,coherence,series}.spec.js'],
      globals: { STREAM_CACHE_TARGET: 'cluster' },
      globalSetup: '<rootDir>/__test__/redis-cluster.js',
      globalTeardown: '<rootDir>/__test__/redis-cluster.js',
    },
  ],
}
