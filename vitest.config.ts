import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

/**
 * Tests run inside workerd. Outbound fetches may only reach the local
 * stand-ins on 127.0.0.1 that test/node/global-setup.ts starts; anything
 * else fails loudly, so no test can touch the internet by accident.
 */
const migrations = await readD1Migrations('./migrations');

/**
 * workerd logs `disconnected: WebSocket peer disconnected` each time the pool closes a test file's runner;
 * it is no failure, and the pool prints workerd's log lines itself (to stdout or stderr by level) with no
 * setting to leave some out (it already drops a few like it). Dropped here, in the process that prints
 * them, and nothing else.
 */
const workerdNoise = /disconnected: WebSocket peer disconnected/;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) =>
    workerdNoise.test(String(chunk)) ? true : write(chunk, ...rest)) as typeof stream.write;
}

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        // A Stream secret for requests through exports.default, which get wrangler.toml's vars; tests that need
        // stand-ins pass their own bindings (test/support/fixtures.ts).
        // SIM_*: the simulation's seed and size (test/sim/simulation.test.ts; `npm run sim`).
        // ALLOW_AUTH_EMULATOR: the tests run emulator mode where they set FIREBASE_AUTH_EMULATOR_HOST, as npm start does.
        // FIREBASE_JWKS_URL, STREAM_BASE_URL: wrangler.toml's placeholder project and key are refused against the real
        // Google and Stream, so requests with its bindings alone go to (absent) stand-ins on this machine, as under npm start.
        bindings: {
          TEST_MIGRATIONS: migrations,
          ALLOW_AUTH_EMULATOR: 'true',
          FIREBASE_JWKS_URL: 'http://127.0.0.1:9/jwks',
          STREAM_BASE_URL: 'http://127.0.0.1:9/stream',
          STREAM_API_SECRET: 'test-only-secret',
          SIM_SEED: process.env.SIM_SEED ?? '',
          SIM_RUNS: process.env.SIM_RUNS ?? '',
          SIM_COMMANDS: process.env.SIM_COMMANDS ?? '',
          SIM_PATH: process.env.SIM_PATH ?? '',
          SIM_PROGRESS_SECONDS: process.env.SIM_PROGRESS_SECONDS ?? '',
        },
        outboundService: async (request: Request) => {
          const url = new URL(request.url);
          if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
            throw new Error(`Test tried to reach ${url.origin}: only 127.0.0.1 stand-ins are allowed`);
          }
          const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
          return fetch(request.url, { method: request.method, headers: request.headers, body, redirect: 'manual' });
        },
      },
    }),
  ],
  test: {
    globalSetup: ['./test/node/global-setup.ts'],
    setupFiles: ['./test/support/apply-migrations.ts', './test/support/quiet-console.ts'],
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/scripts/**', 'test/fuzz/**', 'test/client/**', '**/node_modules/**'],
    testTimeout: 20_000,
  },
});
