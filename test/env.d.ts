// The test `env` (from cloudflare:workers): the Worker's bindings from wrangler.toml plus what vitest.config.ts adds.
import type { D1Migration } from 'cloudflare:test';
import type { Env as WorkerEnv } from '../src/env';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      DB: D1Database;
      TEST_MIGRATIONS: D1Migration[];
    }
    // Types `exports.default` (from cloudflare:workers) as the Worker's own handlers.
    interface GlobalProps {
      mainModule: typeof import('../src/index');
    }
  }
}
export {};
