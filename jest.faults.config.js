/** Fault tests: real child processes, kill -9, a private Postgres restarted under load. Run serially. */
const base = require('./jest.config.js');
module.exports = {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.faults.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test/faults/global-setup.js',
  setupFilesAfterEnv: ['<rootDir>/test/faults/cleanup.ts'],
  maxWorkers: 1,
  testTimeout: 180000,
};
