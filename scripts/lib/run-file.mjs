// @ts-check
// Where a running `npm start` says what it serves (read by `npm run demo` and scripts/connect.mjs).
// Its own module: scripts/start.mjs imports scripts that need it, and a module cannot import the
// main module that is still running its top-level await.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUN_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.wrangler', 'local-run.json');
