// @ts-check
// Where a running `npm start` says what it serves (read by `npm run demo`, `npm run web`, the doctor,
// status and scripts/connect.mjs), and with which process id, so a file left by a run that was killed
// is recognised as stale, and a run removes the file only while it is still its own.
// Its own module: scripts/start.mjs imports scripts that need it, and a module cannot import the
// main module that is still running its top-level await.
// LOCAL_RUN_FILE moves it (the tests, so they never touch a developer's running `npm start`).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUN_FILE =
  process.env.LOCAL_RUN_FILE ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.wrangler', 'local-run.json');

/**
 * What `npm start` writes: local values only (a real Stream secret stays in .dev.vars).
 * @typedef {{
 *   pid: number;
 *   workerUrl: string;
 *   emulatorHost: string;
 *   projectId: string;
 *   realStream: boolean;
 *   adminToken: string;
 *   streamApiKey: string;
 *   stream: import('./stream-api.mjs').StreamAccess | null;
 *   pubsub?: string | null;
 * }} LocalRun
 */

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM';
  }
}

/**
 * The running `npm start`'s run file; null when there is none, it does not parse, or the process that wrote it is gone.
 * @returns {LocalRun | null}
 */
export function readLocalRun() {
  if (!existsSync(RUN_FILE)) return null;
  try {
    const run = /** @type {LocalRun} */ (JSON.parse(readFileSync(RUN_FILE, 'utf8')));
    return typeof run.pid === 'number' && alive(run.pid) ? run : null;
  } catch {
    return null;
  }
}

/** @param {Omit<LocalRun, 'pid'>} run */
export function writeLocalRun(run) {
  mkdirSync(dirname(RUN_FILE), { recursive: true });
  writeFileSync(RUN_FILE, JSON.stringify({ pid: process.pid, ...run }), { mode: 0o600 });
}

/** Removes the run file if this process wrote it (another run's file stays). */
export function removeLocalRun() {
  try {
    if (JSON.parse(readFileSync(RUN_FILE, 'utf8')).pid === process.pid) rmSync(RUN_FILE, { force: true });
  } catch {
    // none, or not ours to judge
  }
}
