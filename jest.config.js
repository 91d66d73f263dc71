/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // the fault tests run separately (npm run test:faults): child processes, kill -9, Postgres restarts
  testPathIgnorePatterns: ['/node_modules/', '/test/faults/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  setupFiles: ['reflect-metadata'],
  testTimeout: 60000,
  // Each test file gets its own database; two workers keep the 2-core machine busy without thrashing.
  maxWorkers: 2,
};
