'use strict'

module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/**/*.spec.js'],
  globalSetup: '<rootDir>/__test__/redis-server.js',
  globalTeardown: '<rootDir>/__test__/redis-server.js',
  testTimeout: 60_000,
}
