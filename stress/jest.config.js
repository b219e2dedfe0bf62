'use strict'

module.exports = {
  rootDir: '..',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/stress/**/*.stress.js'],
  modulePathIgnorePatterns: ['<rootDir>/target/', '<rootDir>/e2e/'],
  globalSetup: '<rootDir>/stress/figures.js',
  globalTeardown: '<rootDir>/stress/figures.js',
  testTimeout: 15 * 60_000,
}
