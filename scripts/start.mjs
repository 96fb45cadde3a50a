#!/usr/bin/env node
// @ts-check
// `npm start`: the whole service on 127.0.0.1, on an embedded default.
//
// Starts the Firebase Auth emulator (demo- project, no login), applies the D1
// migrations locally, and runs the Worker under `wrangler dev` in emulator
// mode. Without real Stream credentials in .dev.vars it also starts a local
// Stream API stand-in (users kept in memory) and connects Stream's official
// client once; with them, it checks the real app once (GET /app). Prints the
// URLs and a curl sequence to try. Ctrl-C stops everything it started.
//
//   npm start [-- --port N --emulator-port N --standin-port N --verbose]
//
// Ports (all on 127.0.0.1; an environment variable or the option):
//   PORT               --port           the Worker (wrangler dev)           default 8787
//   AUTH_EMULATOR_PORT --emulator-port  the Firebase Auth emulator          default 9099
//   STANDIN_PORT       --standin-port   the Stream stand-in                 default: a free one
// A port already in use (another npm start?) stops it before it starts anything.
// --verbose prints what wrangler dev says.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuthEmulator } from './lib/auth-emulator.mjs';
import { parseCli } from './lib/cli.mjs';
import { freePort, isMainModule, onStop, portInUse, spawnGroup, stopAllOnSignals, stopProcessGroup, waitForUrl } from './lib/process.mjs';
import { checkStreamApp, streamAccessFrom } from './lib/stream-api.mjs';
import { removeLocalRun, writeLocalRun } from './lib/run-file.mjs';
import { serveStreamStandIn } from './lib/stream-standin.mjs';
import { servePubSubPush } from './lib/pubsub-push-standin.mjs';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PLACEHOLDER_SECRET = 'replace-with-your-stream-app-secret';
const LOCAL_API_KEY = 'localdevkey';
/** The default ports, and the environment variables and options that change them. */
export const PORTS = {
  worker: { env: 'PORT', option: 'port', fallback: 8787, what: 'the Worker' },
  emulator: { env: 'AUTH_EMULATOR_PORT', option: 'emulator-port', fallback: 9099, what: 'the Firebase Auth emulator' },
  standIn: { env: 'STANDIN_PORT', option: 'standin-port', fallback: 0, what: 'the Stream stand-in' },
};

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
 *   pubsub: Awaited<ReturnType<typeof servePubSubPush>> | null;
 *   workerOutput: () => string;
 *   stop: () => Promise<void>;
 * }} LocalStack
 */

/** Where `npm run web` serves the web example. */
const LOCAL_PAGES = ['http://127.0.0.1:5173', 'http://localhost:5173'];

/**
 * Starts everything; resolves once the Worker answers /healthz.
 * @param {{ workerPort?: number; emulatorPort?: number; standInPort?: number; persistTo?: string; verbose?: boolean; log?: (line: string) => void; corsOrigins?: string[]; vars?: Record<string, string>; deletionEvents?: boolean }} [options]
 *   vars: more Worker settings (tests: e.g. a short STREAM_TOKEN_TTL_SECONDS)
 *   deletionEvents: false runs no Pub/Sub push stand-in (tests of the self-service path alone)
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
    stops.length = 0;
  };

  try {
    log(`Starting the Firebase Auth emulator (project ${projectId})…\n`);
    const emulator = await startAuthEmulator(projectId, { port: options.emulatorPort ?? 9099, root: ROOT });
    stops.push(emulator.stop);

    /** @type {Record<string, string>} */
    const vars = {
      FIREBASE_AUTH_EMULATOR_HOST: emulator.host,
      // The development-only switch emulator mode needs besides the host (never in a deployed configuration).
      ALLOW_AUTH_EMULATOR: 'true',
      FIREBASE_PROJECT_ID: projectId,
      // The local pages this stack serves (the web example), not '*': emulator mode refuses any other origin anyway.
      CORS_ALLOWED_ORIGINS: devVars.CORS_ALLOWED_ORIGINS ?? (options.corsOrigins ?? LOCAL_PAGES).join(','),
    };
    // The admin routes, with a token of this run (unless .dev.vars has one): `POST /v1/admin/reconcile/run` is
    // how the cron is triggered locally. Not wrangler's --test-scheduled: its /__scheduled answers any web page
    // that fetches it, so any site the developer visits could run the cron.
    const adminToken = devVars.ADMIN_TOKEN ?? randomBytes(24).toString('hex');
    if (!devVars.ADMIN_TOKEN) vars.ADMIN_TOKEN = adminToken;
    // Deletion events: a Pub/Sub push stand-in that watches the emulator and pushes signed events (unless
    // .dev.vars configures the route itself).
    /** @type {LocalStack['pubsub']} */
    let pubsub = null;
    if (!devVars.DELETION_EVENTS_AUDIENCE && options.deletionEvents !== false) {
      pubsub = await servePubSubPush({ workerUrl: `http://127.0.0.1:${workerPort}`, log: options.verbose ? log : undefined });
      stops.push(pubsub.close);
      Object.assign(vars, {
        DELETION_EVENTS_AUDIENCE: pubsub.audience,
        DELETION_EVENTS_SERVICE_ACCOUNT: pubsub.serviceAccount,
        GOOGLE_OIDC_JWKS_URL: pubsub.jwksUrl,
      });
    }
    Object.assign(vars, options.vars ?? {});
    /** @type {LocalStack['stream']} */
    let stream = null;
    if (!realStream) {
      const secret = randomBytes(24).toString('hex');
      stream = await serveStreamStandIn({ apiKey: LOCAL_API_KEY, secret, port: options.standInPort || (await freePort()) });
      const forget = onStop(stream.close);
      const close = stream.close;
      stops.push(async () => {
        forget();
        await close();
      });
      Object.assign(vars, { STREAM_BASE_URL: stream.url, STREAM_API_KEY: LOCAL_API_KEY, STREAM_API_SECRET: secret });
    }

    log('Applying D1 migrations locally…\n');
    // A child of its own, not execFileSync: a signal must be able to stop it like the others.
    const migrate = spawnGroup(
      join(ROOT, 'node_modules', '.bin', 'wrangler'),
      ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo, '--config', join(ROOT, 'wrangler.toml')],
      {
        cwd: ROOT,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
      },
    );
    const migrated = await new Promise((resolve) => migrate.child.once('exit', (code) => resolve(code)));
    if (migrated !== 0) throw new Error(`wrangler d1 migrations apply failed (exit ${migrated}):\n${migrate.output()}`);

    log('Starting the Worker (wrangler dev)…\n');
    // --config always: wrangler otherwise prefers a wrangler.json(c) in any parent folder over our wrangler.toml.
    const args = [
      'dev',
      '--config',
      join(ROOT, 'wrangler.toml'),
      '--ip',
      '127.0.0.1',
      '--port',
      String(workerPort),
      '--persist-to',
      persistTo,
      '--show-interactive-dev-session=false',
    ];
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
    const tenants = (vars.FIREBASE_TENANT_IDS ?? devVars.FIREBASE_TENANT_IDS ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    await pubsub?.watchEmulator({ emulatorHost: emulator.host, projectId, tenants });
    const streamAccess = stream
      ? { baseUrl: stream.url, apiKey: LOCAL_API_KEY, secret: /** @type {string} */ (vars.STREAM_API_SECRET) }
      : streamAccessFrom(devVars);
    return { workerUrl, emulatorHost: emulator.host, projectId, stream, pubsub, streamAccess, realStream, adminToken, workerOutput, stop };
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

/**
 * The ports a run asks for: the option, else the environment variable, else the default.
 * @param {Record<string, string | boolean | undefined>} values parsed options
 * @param {NodeJS.ProcessEnv} env
 * @returns {{ worker: number; emulator: number; standIn: number }}
 * @throws {Error} naming the setting that is not a port
 */
export function portsFrom(values, env) {
  /** @param {keyof typeof PORTS} name */
  const one = (name) => {
    const { env: variable, option, fallback } = PORTS[name];
    const given = values[option] ?? env[variable];
    if (given === undefined || given === '') return fallback;
    const port = Number(given);
    if (!Number.isInteger(port) || port < (fallback === 0 ? 0 : 1) || port > 65535)
      throw new Error(`${variable} (--${option}) must be a port number, not "${given}"`);
    return port;
  };
  return { worker: one('worker'), emulator: one('emulator'), standIn: one('standIn') };
}

/**
 * The line that says which of `ports` is taken and how to pick others; null when all are free.
 * @param {{ worker: number; emulator: number; standIn: number }} ports
 */
export async function busyPortLine(ports) {
  for (const name of /** @type {(keyof typeof PORTS)[]} */ (['worker', 'emulator', 'standIn'])) {
    const port = ports[name];
    if (port === 0 || !(await portInUse(port))) continue;
    const suggestions = [];
    for (const other of /** @type {(keyof typeof PORTS)[]} */ (['worker', 'emulator'])) {
      let next = ports[other] + 1;
      while (next < 65535 && (await portInUse(next))) next++;
      suggestions.push(`${PORTS[other].env}=${next}`);
    }
    return `npm start: port ${port} (${PORTS[name].what}) is already in use, by another npm start or something else: stop that, or pick other ports, e.g. ${suggestions.join(' ')} npm start`;
  }
  return null;
}

/**
 * The line about Stream that npm start prints once the Worker answers: with the stand-in, Stream's official
 * client connected through the token provider; with a real app from .dev.vars, GET /app with its key and secret.
 * @param {Pick<LocalStack, 'workerUrl' | 'emulatorHost' | 'stream' | 'streamAccess'>} stack
 */
export async function streamCheckLine(stack) {
  if (!stack.stream) {
    const app = await checkStreamApp(stack.streamAccess);
    return app.ok
      ? `  ✓ your Stream app "${app.name}" accepts STREAM_API_KEY ${stack.streamAccess.apiKey} and STREAM_API_SECRET from .dev.vars (GET /app)`
      : `  ✗ your Stream app: ${app.fix}; then restart npm start`;
  }
  const { connectDemo } = await import('./connect.mjs');
  return connectDemo(stack)
    .then(
      ({ uid, name, connectionId }) =>
        `  ✓ stream-chat (Stream's official client) connected as ${uid} (${name ?? 'no name'}), connection ${connectionId},\n    with a token from ${stack.workerUrl} through client/index.ts's token provider. Again: node scripts/connect.mjs`,
    )
    .catch((error) => `  ✗ stream-chat could not connect: ${error instanceof Error ? error.message : error}`);
}

if (isMainModule(import.meta.url)) {
  const { values } = parseCli(import.meta.url, {
    verbose: { type: 'boolean', default: false },
    port: { type: 'string' },
    'emulator-port': { type: 'string' },
    'standin-port': { type: 'string' },
  });
  /** @type {{ worker: number; emulator: number; standIn: number }} */
  let ports;
  try {
    ports = portsFrom(values, process.env);
  } catch (error) {
    console.error(`npm start: ${error instanceof Error ? error.message : error}`);
    process.exit(2);
  }
  // Before anything starts: a second run would otherwise read the first one's /healthz as its own.
  const busy = await busyPortLine(ports);
  if (busy) {
    console.error(busy);
    process.exit(1);
  }
  stopAllOnSignals({
    beforeStop: () => {
      process.stdout.write('\nStopping…\n');
      removeLocalRun();
    },
  });
  process.on('exit', removeLocalRun);
  /** @type {LocalStack} */
  let running;
  try {
    running = await startLocal({
      verbose: values.verbose,
      workerPort: ports.worker,
      emulatorPort: ports.emulator,
      standInPort: ports.standIn,
    });
  } catch (error) {
    console.error(`npm start failed: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
  const { workerUrl, emulatorHost, projectId, stream, realStream, streamAccess, adminToken } = running;
  // Only what the demo and the web example need to find this run; a real Stream secret stays in .dev.vars.
  writeLocalRun({
    workerUrl,
    emulatorHost,
    projectId,
    realStream,
    adminToken,
    streamApiKey: streamAccess.apiKey,
    stream: stream ? streamAccess : null,
    pubsub: running.pubsub?.url ?? null,
  });
  const streamLine = await streamCheckLine(running);
  console.log(`
stream-token-edge is running locally
  Worker (wrangler dev):      ${workerUrl}
  Run the cron now:           curl -X POST ${workerUrl}/v1/admin/reconcile/run -H "Authorization: Bearer ${adminToken}"
  Firebase Auth emulator:     http://${emulatorHost}
${running?.pubsub ? `  Deletion events:            ${running.pubsub.url}   ← a Pub/Sub push stand-in: an account deleted in the emulator is pushed to /v1/events/user-deleted\n` : ''}  Stream API:                 ${stream ? `${stream.url}   ← a LOCAL STAND-IN, not Stream (users kept in memory)` : `your real Stream app (from .dev.vars), ${streamAccess.baseUrl}`}
  Web example:                npm run web   (in another terminal: serves a page connected to this run)
${realStream ? '' : '  To use your real Stream app: cp .dev.vars.example .dev.vars, fill in STREAM_API_KEY and STREAM_API_SECRET, restart.\n'}
${streamLine}

Try it (copy-paste into another terminal):

${curlSequence(workerUrl, emulatorHost)}

Ctrl-C stops everything.`);
}
