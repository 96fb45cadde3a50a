import { defineConfig } from 'vitest/config';

/**
 * Unit tests of the client provider (client/index.ts), in Node as apps run
 * it: a fake Worker behind `fetch`, a fake clock, and loopback servers for
 * what only a real `fetch` does (redirects). No stack to start: seconds.
 */
export default defineConfig({
  test: {
    name: 'client',
    include: ['test/client/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10_000,
  },
});
