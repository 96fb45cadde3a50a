#!/usr/bin/env node
// @ts-check
// Cold start: the first request of a fresh isolate, with Google's JWKS endpoint 200 ms away, when the
// data centre's cache (the Cache API, `caches.default`, src/firebase/key-set-cache.ts) is cold and warm.
//
// Each Miniflare instance is a new workerd process, so a fresh isolate. Miniflare keeps the Cache API
// in `cachePersist` (a directory) across instances:
//   cold  = a new, empty cachePersist directory;
//   warm  = a directory filled by a previous instance that served one request (its key set written
//           by ctx.waitUntil, checked to be in the cache before that instance is disposed);
//   returning = warm, and the uid is already in the registry (a returning user: isolates come and go,
//           users mostly return; a new uid costs a replica miss, then a write on the primary);
//   floor = the do-nothing Worker (bench/contenders/floor-worker.js), same bindings and setup;
//   floor+I/O = the floor that also reads the key set from a warm Cache API, imports the key and writes
//           one D1 row (bench/contenders/floor-cache-worker.js): the I/O any token verifier that records
//           uids pays on a fresh isolate.
// Measured: the wall time of the first POST /v1/token (a valid RS256 ID token) from sending it to the
// end of its answer, and the Google fetches each instance made. To see where a warm first request's
// time goes, also: the second POST /v1/token of the warm and floor instances (the steady state), and
// the first GET /healthz of a fresh Worker instance (configuration and composition, no keys).
//
// `--without-d1` runs the Worker with no D1 binding (the floors keep theirs): what the registry's read adds.
//
//   node bench/cold-start.mjs [--rounds 10] [--google-delay 200] [--without-d1]
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jwtVerify } from 'jose';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { listenOnLoopback, onStop, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import {
  FLOOR_CACHE_SCRIPT,
  FLOOR_SCRIPT,
  applyMigrations,
  deployedBindings,
  mintIdToken,
  quantile,
  sleep,
  startMiniflare,
  testSigningKey,
  watchdog,
} from './lib/harness.mjs';
import { answerHelp } from '../scripts/lib/cli.mjs';

answerHelp(import.meta.url);
// Ctrl-C or SIGTERM: stop what was started and remove the temp folder.
stopAllOnSignals();

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    'google-delay': { type: 'string', default: '200' },
    'without-d1': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(opts.rounds);
const GOOGLE_DELAY_MS = Number(opts['google-delay']);
const WITHOUT_D1 = opts['without-d1'];
const PROJECT_ID = 'bench-project';
const STREAM_API_KEY = 'benchkey';
const STREAM_API_SECRET = randomBytes(32).toString('hex');
const tmp = tempDir('cold-start-');

/** @type {Set<{ dispose: () => Promise<void> }>} instances still running, for cleanup on any exit path */
const running = new Set();
let cleanedUp = false;
const cleanup = async () => {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const mf of running) await mf.dispose().catch(() => undefined);
  running.clear();
  google.closeAllConnections();
  google.close();
  rmSync(tmp, { recursive: true, force: true });
};
const disarm = watchdog((ROUNDS * 25 + 180) * 1000, cleanup);
// Ctrl-C or SIGTERM: stopAllOnSignals (above) runs it, then exits.
onStop(cleanup);

// ---- Google's JWKS stand-in: answers after GOOGLE_DELAY_MS, with Google's own Cache-Control ----
const { kid, privateKey, jwks } = testSigningKey();
let googleFetches = 0;
const google = createServer((req, res) => {
  if (req.url !== '/jwk') return void res.writeHead(req.url === '/ping' ? 204 : 404).end();
  googleFetches++;
  setTimeout(() => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=21600, must-revalidate, no-transform' });
    res.end(JSON.stringify(jwks));
  }, GOOGLE_DELAY_MS);
});
const { url: googleUrl } = await listenOnLoopback(google);
const JWKS_URL = `${googleUrl}/jwk`;

const uid = `cold${randomBytes(6).toString('hex')}`;
const idToken = await mintIdToken({ privateKey, kid, projectId: PROJECT_ID, uid, name: 'Cold Start' });
const bindings = {
  FIREBASE_PROJECT_ID: PROJECT_ID,
  STREAM_API_KEY,
  STREAM_API_SECRET,
  FIREBASE_JWKS_URL: JWKS_URL,
  STREAM_BASE_URL: 'http://127.0.0.1:9/stream',
};

process.stderr.write('building the bundle (wrangler deploy --dry-run)…\n');
const bundle = buildBundle(join(tmp, 'worker')).path;
// The Worker gets the Durable Object and Rate Limiting bindings wrangler.toml gives it.
const deployed = await deployedBindings();
// Node's fetch sets itself up on its first call: pay that before anything is timed.
await (await fetch(`${googleUrl}/ping`)).arrayBuffer();

/**
 * A fresh instance: the Worker bundle or the floor, its cache in `cacheDir`, a D1 registry with
 * the migrations applied (both, so that the setup before the first request is the same).
 * @param {'worker' | 'floor' | 'floor-cache'} which
 * @param {string} cacheDir
 * @param {boolean} [returning] the uid is in the registry already (seen alive just now)
 */
async function instance(which, cacheDir, returning = false) {
  const withD1 = !(WITHOUT_D1 && which === 'worker');
  const started = await startMiniflare({
    scriptPath: which === 'worker' ? bundle : which === 'floor-cache' ? FLOOR_CACHE_SCRIPT : FLOOR_SCRIPT,
    bindings: which === 'worker' ? bindings : which === 'floor-cache' ? { JWKS_URL } : {},
    ...(which === 'worker' ? deployed : {}),
    ...(withD1 ? { d1Databases: { DB: 'cold-start-registry' } } : {}),
    cache: true,
    cachePersist: cacheDir,
  });
  running.add(started.mf);
  if (withD1) await applyMigrations(started.mf);
  if (returning && withD1) {
    const db = await started.mf.getD1Database('DB');
    await db.prepare("INSERT INTO stream_users (uid, tenant, first_seen_at, alive_at) VALUES (?1, '', ?2, ?2)").bind(uid, Date.now()).run();
  }
  return {
    ...started,
    dispose: async () => {
      await started.mf.dispose();
      running.delete(started.mf);
    },
  };
}

/**
 * The first request of an instance, timed from sending it to the end of its answer.
 * @param {string} url
 */
async function firstToken(url) {
  const t0 = performance.now();
  const response = await fetch(`${url}/v1/token`, { method: 'POST', headers: { Authorization: `Bearer ${idToken}` } });
  const body = await response.text();
  return { ms: performance.now() - t0, status: response.status, body };
}

/**
 * The Worker's answer must be a Stream token for the caller (the floor's is a constant).
 * @param {{ status: number; body: string }} answer
 */
async function checkToken(answer) {
  if (answer.status !== 200) throw new Error(`first request answered ${answer.status}: ${answer.body.slice(0, 300)}`);
  const { payload } = await jwtVerify(JSON.parse(answer.body).token, new TextEncoder().encode(STREAM_API_SECRET), {
    algorithms: ['HS256'],
  });
  if (payload.user_id !== uid) throw new Error(`token for ${payload.user_id}, expected ${uid}`);
}

/**
 * Waits until the key set is in the instance's Cache API (written by ctx.waitUntil after the answer).
 * @param {import('miniflare').Miniflare} mf
 * @returns {Promise<number | undefined>} ms waited, undefined if it never appeared
 */
async function keySetCached(mf) {
  const caches = await mf.getCaches();
  const t0 = performance.now();
  while (performance.now() - t0 < 3000) {
    const hit = await caches.default.match(JWKS_URL);
    if (hit) {
      await hit.arrayBuffer();
      return performance.now() - t0;
    }
    await sleep(20);
  }
  return undefined;
}

/** @typedef {'cold' | 'warm' | 'returning' | 'floor' | 'floor-cache'} Case */
/** @type {Record<Case, { ms: number[]; fetches: number[]; second: number[] }>} */
const results = {
  cold: { ms: [], fetches: [], second: [] },
  warm: { ms: [], fetches: [], second: [] },
  returning: { ms: [], fetches: [], second: [] },
  floor: { ms: [], fetches: [], second: [] },
  'floor-cache': { ms: [], fetches: [], second: [] },
};
/** @type {number[]} first GET /healthz of a fresh Worker instance */
const healthzFirst = [];
/** @type {number[]} per round, warm − floor */
const pairedWarmMinusFloor = [];
/** @type {(number | undefined)[]} */
const putWaits = [];

/** @param {Case} which */
async function measure(which) {
  const cacheDir = mkdtempSync(join(tmp, `${which}-`));
  if (which === 'warm' || which === 'returning' || which === 'floor-cache') {
    // The previous instance: serves one request, writes the key set to the cache, is disposed.
    const filler = await instance('worker', cacheDir);
    await checkToken(await firstToken(filler.url));
    putWaits.push(await keySetCached(filler.mf));
    await sleep(100);
    await filler.dispose();
  }
  const measured = await instance(which === 'floor' || which === 'floor-cache' ? which : 'worker', cacheDir, which === 'returning');
  const before = googleFetches;
  const answer = await firstToken(measured.url);
  if (which === 'floor-cache' && !JSON.parse(answer.body).cached)
    throw new Error('the floor+cache instance found no key set in the Cache API');
  if (which !== 'floor' && which !== 'floor-cache') await checkToken(answer);
  const second = await firstToken(measured.url);
  results[which].second.push(second.ms);
  // Anything the instance still does after its answer (the cache write, a background fetch) counts too.
  await sleep(GOOGLE_DELAY_MS + 300);
  await measured.dispose();
  results[which].ms.push(answer.ms);
  results[which].fetches.push(googleFetches - before);
  return answer.ms;
}

const loadAtStart = loadavg()[0] ?? 0;
try {
  /** @type {Case[]} */
  const order = ['cold', 'warm', 'returning', 'floor', 'floor-cache'];
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order, so no case always runs right after another (a shared machine drifts).
    const cases = [...order.slice(round % order.length), ...order.slice(0, round % order.length)];
    /** @type {Partial<Record<Case, number>>} */
    const times = {};
    for (const which of cases) times[which] = await measure(which);
    {
      const probe = await instance('worker', mkdtempSync(join(tmp, 'healthz-')));
      const t0 = performance.now();
      const response = await fetch(`${probe.url}/healthz`);
      await response.text();
      healthzFirst.push(performance.now() - t0);
      await probe.dispose();
    }
    pairedWarmMinusFloor.push(/** @type {number} */ (times.warm) - /** @type {number} */ (times.floor));
    process.stderr.write(`round ${round}: ${cases.map((c) => `${c} ${/** @type {number} */ (times[c]).toFixed(1)} ms`).join(', ')}\n`);
  }

  const fmt = (/** @type {number} */ ms) => ms.toFixed(1);
  console.log(
    `# Cold start: first POST /v1/token of a fresh isolate (Google JWKS stand-in answers after ${GOOGLE_DELAY_MS} ms), ${ROUNDS} rounds`,
  );
  console.log(
    `(node ${process.version}, ${new Date().toISOString()}, load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end; wall time from sending the request to the end of the answer, Node fetch over 127.0.0.1)`,
  );
  console.log(
    `(the Worker: the bundle wrangler deploy --dry-run builds, ${WITHOUT_D1 ? 'no D1 binding (--without-d1)' : 'a D1 registry'}, wrangler.toml's Durable Objects ${Object.keys(deployed.durableObjects).join(', ') || 'none'} and rate limits ${Object.keys(deployed.ratelimits).join(', ') || 'none'}; the floors: a D1 registry)`,
  );
  console.log('');
  console.log('| case | median ms | p90 ms | min–max ms | Google fetches per instance |');
  console.log('|---|---:|---:|---:|---|');
  /** @type {[Case, string][]} */
  const labels = [
    ['cold', 'this Worker, cold cache (empty cachePersist)'],
    ['warm', 'this Worker, warm cache (cachePersist filled by a previous instance), a new uid'],
    ['returning', 'this Worker, warm cache, a returning uid (its row in the registry)'],
    ['floor', 'floor (do-nothing Worker)'],
    ['floor-cache', 'floor + one Cache API read of the key set, its import and one D1 row written (warm cache)'],
  ];
  for (const [which, label] of labels) {
    const { ms, fetches } = results[which];
    console.log(
      `| ${label} | ${fmt(quantile(ms, 0.5))} | ${fmt(quantile(ms, 0.9))} | ${fmt(Math.min(...ms))}–${fmt(Math.max(...ms))} | ${fetches.join(', ')} |`,
    );
  }
  console.log('');
  const warmMinusFloor = quantile(results.warm.ms, 0.5) - quantile(results.floor.ms, 0.5);
  const verdict = (/** @type {number} */ d) => (d <= 10 ? '✓' : '✗');
  console.log(
    `- warm − floor: ${fmt(warmMinusFloor)} ms (medians), p90 − p90 ${fmt(quantile(results.warm.ms, 0.9) - quantile(results.floor.ms, 0.9))} ms, per-round differences median ${fmt(quantile(pairedWarmMinusFloor, 0.5))} ms / p90 ${fmt(quantile(pairedWarmMinusFloor, 0.9))} ms (target ≤ 10 ms) ${verdict(warmMinusFloor)}`,
  );
  const returningMinusFloor = quantile(results.returning.ms, 0.5) - quantile(results.floor.ms, 0.5);
  console.log(
    `- returning − floor: ${fmt(returningMinusFloor)} ms (medians), p90 − p90 ${fmt(quantile(results.returning.ms, 0.9) - quantile(results.floor.ms, 0.9))} ms (target ≤ 10 ms) ${verdict(returningMinusFloor)}`,
  );
  console.log(
    `- warm − (floor + I/O): ${fmt(quantile(results.warm.ms, 0.5) - quantile(results['floor-cache'].ms, 0.5))} ms (medians): what this Worker's own code adds to the I/O any token verifier that records uids pays on its first request; (floor + I/O) − floor: ${fmt(quantile(results['floor-cache'].ms, 0.5) - quantile(results.floor.ms, 0.5))} ms`,
  );
  console.log(
    `- cold − floor: ${fmt(quantile(results.cold.ms, 0.5) - quantile(results.floor.ms, 0.5))} ms (medians; includes the ${GOOGLE_DELAY_MS} ms Google answer)`,
  );
  console.log(
    `- breakdown (medians): second POST /v1/token of the same instance: warm ${fmt(quantile(results.warm.second, 0.5))} ms, floor ${fmt(quantile(results.floor.second, 0.5))} ms; first GET /healthz of a fresh Worker instance ${fmt(quantile(healthzFirst, 0.5))} ms (floor's first request ${fmt(quantile(results.floor.ms, 0.5))} ms)`,
  );
  const warmFetches = results.warm.fetches.reduce((a, b) => a + b, 0);
  console.log(
    `- Google fetches: cold ${results.cold.fetches.reduce((a, b) => a + b, 0)} in ${ROUNDS} instances, warm ${warmFetches} in ${ROUNDS} instances (target 0) ${warmFetches === 0 ? '✓: the warm instances read the key set from the Cache API' : '✗'}`,
  );
  const waits = putWaits.filter((w) => w !== undefined);
  console.log(
    `- key set found in the filler instance's Cache API after its answer: ${waits.length}/${putWaits.length} (polled from Node via mf.getCaches(); waited up to ${fmt(Math.max(0, ...waits))} ms)`,
  );
} finally {
  disarm();
  await cleanup();
}
