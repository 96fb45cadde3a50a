#!/usr/bin/env node
// @ts-check
// `npm start`: the whole service on 127.0.0.1, on an embedded default.
//
// Starts the Firebase Auth emulator (demo- project, no login), applies the D1
// migrations locally, and runs the Worker under `wrangler dev` in emulator
// mode with cron testing on. Without real Stream credentials in .dev.vars it
// also starts a local Stream API stand-in (users kept in memory). Prints the
// URLs and a curl sequence to try. Ctrl-C stops everything it started.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuthEmulator } from './lib/auth-emulator.mjs';
import { freePort, isMainModule, spawnGroup, stopProcessGroup, waitForUrl } from './lib/process.mjs';
import { streamAccessFrom } from './lib/stream-api.mjs';
import { RUN_FILE } from './lib/run-file.mjs';
import { serveStreamStandIn } from './lib/stream-standin.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PLACEHOLDER_SECRET = 'replace-with-your-stream-app-secret';
const LOCAL_API_KEY = 'localdevkey';
/** Where a running `npm start` says what it runs, for `npm run demo` (local values only; deleted on exit). */
export { RUN_FILE } from './lib/run-file.mjs';

/**
 * KEY=VALUE lines of .dev.vars (quotes optional, # comments).
 * @param {string} [path]
 * @returns {Record<string, string>}
 */
export function readDevVars(path = join(ROOT, '.dev.vars')) {
  /** @type {Record<string, string>} */
  const vars = {};
  if (!existsSync(path)) return vars;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trim().startsWith('#')) continue;
    vars[/** @type {string} */ (match[1])] = /** @type {string} */ (match[2]).replace(/^(['"])(.*)\1$/, '$2');
  }
  return vars;
}

function wranglerToml() {
  return readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
}

/** @param {Record<string, string>} devVars */
function projectIdFrom(devVars) {
  return devVars.FIREBASE_PROJECT_ID ?? /FIREBASE_PROJECT_ID\s*=\s*"([^"]+)"/.exec(wranglerToml())?.[1] ?? 'demo-stream-token-edge';
}

/**
 * What startLocal runs. streamAccess: where the Worker's Stream app answers (the stand-in, or the
 * real app from .dev.vars); stream: the stand-in, null with a real Stream app.
 * @typedef {{
 *   workerUrl: string;
 *   emulatorHost: string;
 *   projectId: string;
 *   realStream: boolean;
 *   adminToken: string;
 *   streamAccess: import('./lib/stream-api.mjs').StreamAccess;
 *   stream: Awaited<ReturnType<typeof serveStreamStandIn>> | null;
 *   workerOutput: () => string;
 *   stop: () => Promise<void>;
 * }} LocalStack
 */

/** Where `npm run web` serves the web example. */
const LOCAL_PAGES = ['http://127.0.0.1:5173', 'http://localhost:5173'];

/**
 * Starts everything; resolves once the Worker answers /healthz.
 * @param {{ workerPort?: number; emulatorPort?: number; persistTo?: string; verbose?: boolean; log?: (line: string) => void; corsOrigins?: string[]; vars?: Record<string, string> }} [options]
 *   vars: more Worker settings (tests: e.g. a short STREAM_TOKEN_TTL_SECONDS)
 * @returns {Promise<LocalStack>}
 */
export async function startLocal(options = {}) {
  const log = options.log ?? ((/** @type {string} */ line) => process.stdout.write(line));
  const devVars = readDevVars();
  const realStream = Boolean(devVars.STREAM_API_SECRET && devVars.STREAM_API_SECRET !== PLACEHOLDER_SECRET && devVars.STREAM_API_KEY);
  const projectId = projectIdFrom(devVars);
  const workerPort = options.workerPort ?? 8787;
  const persistTo = options.persistTo ?? join(ROOT, '.wrangler', 'state');
  /** @type {(() => Promise<void>)[]} */
  const stops = [];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => undefined);
  };

  try {
    log(`Starting the Firebase Auth emulator (project ${projectId})…\n`);
    const emulator = await startAuthEmulator(projectId, { port: options.emulatorPort ?? 9099, root: ROOT });
    stops.push(emulator.stop);

    /** @type {Record<string, string>} */
    const vars = {
      FIREBASE_AUTH_EMULATOR_HOST: emulator.host,
      FIREBASE_PROJECT_ID: projectId,
      // The local pages this stack serves (the web example), not '*': emulator mode refuses any other origin anyway.
      CORS_ALLOWED_ORIGINS: devVars.CORS_ALLOWED_ORIGINS ?? (options.corsOrigins ?? LOCAL_PAGES).join(','),
    };
    // The admin routes, with a token of this run (unless .dev.vars has one): `POST /v1/admin/reconcile/run` is
    // how the cron is triggered locally. Not wrangler's --test-scheduled: its /__scheduled answers any web page
    // that fetches it (issue 17).
    const adminToken = devVars.ADMIN_TOKEN ?? randomBytes(24).toString('hex');
    if (!devVars.ADMIN_TOKEN) vars.ADMIN_TOKEN = adminToken;
    Object.assign(vars, options.vars ?? {});
    /** @type {LocalStack['stream']} */
    let stream = null;
    if (!realStream) {
      const secret = randomBytes(24).toString('hex');
      stream = await serveStreamStandIn({ apiKey: LOCAL_API_KEY, secret, port: await freePort() });
      stops.push(stream.close);
      Object.assign(vars, { STREAM_BASE_URL: stream.url, STREAM_API_KEY: LOCAL_API_KEY, STREAM_API_SECRET: secret });
    }

    log('Applying D1 migrations locally…\n');
    execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'), ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo, '--config', join(ROOT, 'wrangler.toml')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    });

    log('Starting the Worker (wrangler dev)…\n');
    // --config always: wrangler otherwise prefers a wrangler.json(c) in any parent folder over our wrangler.toml.
    const args = ['dev', '--config', join(ROOT, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(workerPort), '--persist-to', persistTo, '--show-interactive-dev-session=false'];
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`);
    const { child: worker, output: workerOutput } = spawnGroup(join(ROOT, 'node_modules', '.bin', 'wrangler'), args, {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      onOutput: options.verbose ? log : undefined,
    });
    stops.push(() => stopProcessGroup(worker));
    const workerUrl = `http://127.0.0.1:${workerPort}`;
    const healthz = `${workerUrl}/healthz`;
    const timeoutMs = 90_000;
    const ready = await waitForUrl(healthz, { timeoutMs, isAlive: () => worker.exitCode === null });
    if (ready !== 'ready') {
      const why = ready === 'exited' ? `process for ${healthz} exited` : `${healthz} did not answer within ${timeoutMs / 1000} s`;
      throw new Error(`${why}\n--- wrangler dev said ---\n${workerOutput()}`);
    }
    const streamAccess = stream
      ? { baseUrl: stream.url, apiKey: LOCAL_API_KEY, secret: /** @type {string} */ (vars.STREAM_API_SECRET) }
      : streamAccessFrom(devVars);
    return { workerUrl, emulatorHost: emulator.host, projectId, stream, streamAccess, realStream, adminToken, workerOutput, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * @param {string} workerUrl
 * @param {string} emulatorHost host:port
 */
export function curlSequence(workerUrl, emulatorHost) {
  return [
    '# 1. Sign up a user on the Auth emulator and keep its ID token',
    `ID_TOKEN=$(curl -s -X POST 'http://${emulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=local' \\`,
    `  -H 'Content-Type: application/json' -d '{"returnSecureToken":true}' \\`,
    `  | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).idToken')`,
    '# 2. Create the Stream user and get a Stream token (REST)',
    `curl -s -X POST ${workerUrl}/v1/users/me -H "Authorization: Bearer $ID_TOKEN"; echo`,
    '# 3. The same through the Firebase callable protocol',
    `curl -s -X POST ${workerUrl}/getStreamUserToken -H "Authorization: Bearer $ID_TOKEN" \\`,
    `  -H 'Content-Type: application/json' -d '{"data":null}'; echo`,
  ].join('\n');
}

if (isMainModule(import.meta.url)) {
  const verbose = process.argv.includes('--verbose');
  /** @type {LocalStack | undefined} */
  let running;
  const shutdown = async () => {
    process.stdout.write('\nStopping…\n');
    await running?.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  try {
    running = await startLocal({ verbose, workerPort: Number(process.env.PORT ?? 8787) });
    const { workerUrl, emulatorHost, projectId, realStream, adminToken } = running;
    // Only what the demo needs to find this run; a real Stream secret stays in .dev.vars, where the demo reads it.
    writeFileSync(RUN_FILE, JSON.stringify({ workerUrl, emulatorHost, projectId, realStream, adminToken, stream: realStream ? null : running.streamAccess }));
    const stopRunning = running.stop;
    running.stop = async () => {
      rmSync(RUN_FILE, { force: true });
      await stopRunning();
    };
  } catch (error) {
    console.error(`npm start failed: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
  const { workerUrl, emulatorHost, stream, realStream, streamAccess } = /** @type {LocalStack} */ (running);
  // Stream's official client, connected through client/index.ts's token provider (with the stand-in only).
  let connected = '';
  if (stream) {
    const { connectDemo } = await import('./connect.mjs');
    connected = await connectDemo({ workerUrl, emulatorHost, streamAccess })
      .then(({ uid, name, connectionId }) => `  ✓ stream-chat (Stream's official client) connected as ${uid} (${name ?? 'no name'}), connection ${connectionId},\n    with a token from ${workerUrl} through client/index.ts's token provider. Again: node scripts/connect.mjs\n`)
      .catch((error) => `  ✗ stream-chat could not connect: ${error instanceof Error ? error.message : error}\n`);
  }
  console.log(`
stream-token-edge is running locally
  Worker (wrangler dev):      ${workerUrl}
  Run the cron now:           curl -X POST ${workerUrl}/v1/admin/reconcile/run -H "Authorization: Bearer ${running?.adminToken}"
  Firebase Auth emulator:     http://${emulatorHost}
  Stream API:                 ${realStream || !stream ? 'your real Stream app (from .dev.vars)' : `${stream.url}   ← a LOCAL STAND-IN, not Stream (users kept in memory)`}
${realStream ? '' : '  To use your real Stream app: cp .dev.vars.example .dev.vars, fill in STREAM_API_KEY and STREAM_API_SECRET, restart.\n'}
${connected}
Try it (copy-paste into another terminal):

${curlSequence(workerUrl, emulatorHost)}

Ctrl-C stops everything.`);
}
