import { defineConfig } from 'vitest/config';

/**
 * End-to-end tests, in Node: they start the real stack (`wrangler dev` running
 * the Worker in workerd, the Firebase Auth emulator, the Stream stand-in) on
 * free 127.0.0.1 ports and drive it like a user would.
 */
export default defineConfig({
  test: {
    name: 'e2e',
    include: ['test/e2e/**/*.test.ts', 'test/scripts/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    // The fuzzers' and oracles' tables (with the seed to replay) are printed when their test fails; a green
    // run prints only the summary.
    silent: 'passed-only',
  },
});
