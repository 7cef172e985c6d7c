/**
 * Jest runs ESM TypeScript through ts-jest (run with node --experimental-vm-modules). The gate's
 * package resolves to its TypeScript source (the agent-sts-source export condition), as for tsc.
 */
export default {
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['agent-sts-source', 'node', 'node-addons'] },
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.mjs',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.mjs',
  maxWorkers: 2,
  testTimeout: 20000,
};
