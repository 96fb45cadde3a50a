#!/usr/bin/env node
// `npm start`: the whole service on 127.0.0.1, on an embedded default.
//
// Starts the Firebase Auth emulator (demo- project, no login), applies the D1
// migrations locally, and runs the Worker under `wrangler dev` in emulator
// mode with cron testing on. Without real Stream credentials in .dev.vars it
// also starts a local Stream API stand-in (users kept in memory). Prints the
// URLs and a curl sequence to try. Ctrl-C stops everything it started.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startAuthEmulator } from './lib/auth-emulator.mjs';
import { serveStreamStandIn } from './lib/stream-standin.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PLACEHOLDER_SECRET = 'replace-with-your-stream-app-secret';
const LOCAL_API_KEY = 'localdevkey';
/** Where a running `npm start` says what it runs, for `npm run demo` (local values only; deleted on exit). */
export const RUN_FILE = join(ROOT, '.wrangler', 'local-run.json');

/** KEY=VALUE lines of .dev.vars (quotes optional, # comments). */
export function readDevVars(path = join(ROOT, '.dev.vars')) {
  const vars = {};
  if (!existsSync(path)) return vars;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trim().startsWith('#')) continue;
    vars[match[1]] = match[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return vars;
}

function wranglerToml() {
  return readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
}

function projectIdFrom(devVars) {
  return devVars.FIREBASE_PROJECT_ID ?? /FIREBASE_PROJECT_ID\s*=\s*"([^"]+)"/.exec(wranglerToml())?.[1] ?? 'demo-stream-token-edge';
}

async function waitFor(url, timeoutMs, isAlive) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`process for ${url} exited`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

function killGroup(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts everything; resolves once the Worker answers /healthz.
 * @param {{ workerPort?: number; emulatorPort?: number; persistTo?: string; verbose?: boolean; log?: (line: string) => void }} options
 */
export async function startLocal(options = {}) {
  const log = options.log ?? ((line) => process.stdout.write(line));
  const devVars = readDevVars();
  const realStream = Boolean(devVars.STREAM_API_SECRET && devVars.STREAM_API_SECRET !== PLACEHOLDER_SECRET && devVars.STREAM_API_KEY);
  const projectId = projectIdFrom(devVars);
  const workerPort = options.workerPort ?? 8787;
  const persistTo = options.persistTo ?? join(ROOT, '.wrangler', 'state');
  const stops = [];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => undefined);
  };

  try {
    log(`Starting the Firebase Auth emulator (project ${projectId})…\n`);
    const emulator = await startAuthEmulator(projectId, { port: options.emulatorPort ?? 9099, root: ROOT });
    stops.push(emulator.stop);

    const vars = {
      FIREBASE_AUTH_EMULATOR_HOST: emulator.host,
      FIREBASE_PROJECT_ID: projectId,
      CORS_ALLOWED_ORIGINS: devVars.CORS_ALLOWED_ORIGINS ?? '*',
    };
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
    const args = ['dev', '--config', join(ROOT, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(workerPort), '--persist-to', persistTo, '--test-scheduled', '--show-interactive-dev-session=false'];
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`);
    const worker = spawn(join(ROOT, 'node_modules', '.bin', 'wrangler'), args, {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    });
    let workerOutput = '';
    const collect = (chunk) => {
      workerOutput += chunk;
      if (options.verbose) log(String(chunk));
    };
    worker.stdout.on('data', collect);
    worker.stderr.on('data', collect);
    stops.push(async () => {
      killGroup(worker);
      await new Promise((resolve) => {
        if (worker.exitCode !== null) return resolve(undefined);
        const timer = setTimeout(() => {
          killGroup(worker, 'SIGKILL');
          resolve(undefined);
        }, 5000);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    });
    const workerUrl = `http://127.0.0.1:${workerPort}`;
    try {
      await waitFor(`${workerUrl}/healthz`, 90_000, () => worker.exitCode === null);
    } catch (error) {
      throw new Error(`${error.message}\n--- wrangler dev said ---\n${workerOutput}`);
    }
    const streamAccess = realStream
      ? { baseUrl: devVars.STREAM_BASE_URL ?? 'https://chat.stream-io-api.com', apiKey: devVars.STREAM_API_KEY, secret: devVars.STREAM_API_SECRET }
      : { baseUrl: stream.url, apiKey: LOCAL_API_KEY, secret: vars.STREAM_API_SECRET };
    return { workerUrl, emulatorHost: emulator.host, projectId, stream, streamAccess, realStream, workerOutput: () => workerOutput, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

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

if (import.meta.url === `file://${process.argv[1]}`) {
  const verbose = process.argv.includes('--verbose');
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
    const { workerUrl, emulatorHost, projectId, realStream } = running;
    // Only what the demo needs to find this run; a real Stream secret stays in .dev.vars, where the demo reads it.
    writeFileSync(RUN_FILE, JSON.stringify({ workerUrl, emulatorHost, projectId, realStream, stream: realStream ? null : running.streamAccess }));
    const stopRunning = running.stop;
    running.stop = async () => {
      rmSync(RUN_FILE, { force: true });
      await stopRunning();
    };
  } catch (error) {
    console.error(`npm start failed: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
  const { workerUrl, emulatorHost, stream, realStream } = running;
  console.log(`
stream-token-edge is running locally
  Worker (wrangler dev):      ${workerUrl}      (cron: ${workerUrl}/__scheduled)
  Firebase Auth emulator:     http://${emulatorHost}
  Stream API:                 ${realStream ? 'your real Stream app (from .dev.vars)' : `${stream.url}   ← a LOCAL STAND-IN, not Stream (users kept in memory)`}
${realStream ? '' : '  To use your real Stream app: cp .dev.vars.example .dev.vars, fill in STREAM_API_KEY and STREAM_API_SECRET, restart.\n'}
Try it (copy-paste into another terminal):

${curlSequence(workerUrl, emulatorHost)}

Ctrl-C stops everything.`);
}
