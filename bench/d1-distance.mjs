#!/usr/bin/env node
// @ts-check
// Distance to D1: what a token costs when D1's primary is far away and its read replicas are near, and
// what a D1 outage does to tokens. The project's real bundle (as `wrangler deploy --dry-run` builds it),
// served by workerd through Miniflare's API, behind bench/lib/distant-d1-worker.js: a wrapper that hands
// the Worker a `DB` binding modelling a primary `--primary-ms` away and replicas `--replica-ms` away
// (reads through `withSession`), counts the statements each token request sends where, on the critical
// path or in the background, and switches D1 off on demand.
//
// Scenarios, each on a fresh Miniflare instance (a fresh isolate) whose registry holds `--users` returning
// users (migrations applied, rows inserted; `--stale-share` of them with `alive_at` two days old, the rest
// within the last 30 minutes); each user fetches one token (POST /v1/token), so no isolate sees a user twice:
//   returning       every registered user once;
//   new             `--users` uids the registry has never seen;
//   outage          D1 down (every statement fails as D1 fails), after the isolate served `--warmup` users
//                   with D1 up: `--outage-users` returning users and as many new ones, interleaved;
//   outage, cold    the same, on an isolate that starts during the outage.
// A project-level deployment (no FIREBASE_TENANT_IDS). Every 200 is checked: a Stream token that verifies
// with the app secret and names the caller. Background work (ctx.waitUntil) is waited for before counting.
// After each outage, D1 comes back; for up to `--recovery-seconds`, one more new user fetches a token each
// second (a live isolate), background work is waited for, and the registry is read: when it holds all of the
// outage's new uids, and how many it holds at the end.
// Each user comes from an address of its own (`CF-Connecting-IP`, as Cloudflare's edge sets it), so the
// Worker's per-address limits see what real users would make them see.
//
//   node bench/d1-distance.mjs [--primary-ms 80] [--replica-ms 5] [--lag-ms 0] [--users 1000]
//                              [--outage-users 100] [--stale-share 0.1] [--concurrency 10] [--warmup 10] [--recovery-seconds 35]
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { jwtVerify } from 'jose';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { parseCli } from '../scripts/lib/cli.mjs';
import { listenOnLoopback, onStop, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import { StreamStandIn, readNodeRequest, writeNodeResponse } from '../scripts/lib/stream-standin.mjs';
import {
  ROOT,
  applyMigrations,
  deployedBindings,
  mintIdToken,
  quantile,
  sleep,
  startMiniflare,
  testSigningKey,
  watchdog,
} from './lib/harness.mjs';

const { values: opts } = parseCli(import.meta.url, {
  'primary-ms': { type: 'string', default: '80' },
  'replica-ms': { type: 'string', default: '5' },
  'lag-ms': { type: 'string', default: '0' },
  users: { type: 'string', default: '1000' },
  'outage-users': { type: 'string', default: '100' },
  'stale-share': { type: 'string', default: '0.1' },
  concurrency: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '10' },
  'recovery-seconds': { type: 'string', default: '35' },
});
const PRIMARY_MS = Number(opts['primary-ms']);
const REPLICA_MS = Number(opts['replica-ms']);
const LAG_MS = Number(opts['lag-ms']);
const USERS = Number(opts.users);
const OUTAGE_USERS = Number(opts['outage-users']);
const STALE_SHARE = Number(opts['stale-share']);
const CONCURRENCY = Number(opts.concurrency);
const WARMUP = Number(opts.warmup);
const RECOVERY_S = Number(opts['recovery-seconds']);
if (![PRIMARY_MS, REPLICA_MS, LAG_MS].every((ms) => ms >= 0) || !(USERS >= 1) || !(OUTAGE_USERS >= 1) || !(OUTAGE_USERS <= USERS)) {
  throw new Error('need --primary-ms, --replica-ms, --lag-ms ≥ 0 and 1 ≤ --outage-users ≤ --users');
}
if (!(STALE_SHARE >= 0 && STALE_SHARE <= 1) || !(CONCURRENCY >= 1) || !(WARMUP >= 1))
  throw new Error('need 0 ≤ --stale-share ≤ 1, --concurrency ≥ 1, --warmup ≥ 1');

const PROJECT_ID = 'bench-project';
const STREAM_API_KEY = 'benchkey';
const STREAM_API_SECRET = randomBytes(32).toString('hex');
/** Every STALE_EVERY-th registered user has an old alive_at (0: none). */
const STALE_EVERY = STALE_SHARE > 0 ? Math.round(1 / STALE_SHARE) : 0;
const SECRET_KEY = new TextEncoder().encode(STREAM_API_SECRET);
const tmp = tempDir('d1-distance-');

/** @type {Set<import('miniflare').Miniflare>} */
const running = new Set();
let cleanedUp = false;
const cleanup = async () => {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const mf of running) await mf.dispose().catch(() => undefined);
  running.clear();
  stubs.closeAllConnections();
  stubs.close();
  rmSync(tmp, { recursive: true, force: true });
};
// Generous: each request waits at most a few primary round trips, plus four instances' start-up.
const disarm = watchdog(((2 * USERS + 4 * OUTAGE_USERS + 8 * WARMUP) * (4 * PRIMARY_MS + 200)) / CONCURRENCY + 300_000, cleanup);
// Ctrl-C or SIGTERM: stopAllOnSignals runs it, then exits.
stopAllOnSignals();
onStop(cleanup);

// ---- Google's keys and Stream: local stand-ins ----
const { kid, privateKey, jwks } = testSigningKey();
const stream = new StreamStandIn({ apiKey: STREAM_API_KEY, secret: STREAM_API_SECRET });
const stubs = createServer(async (req, res) => {
  const path = new URL(/** @type {string} */ (req.url), 'http://x').pathname;
  if (path === '/jwk') {
    return res
      .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=21600, must-revalidate, no-transform' })
      .end(JSON.stringify(jwks));
  }
  if (path.startsWith('/stream/')) {
    try {
      return writeNodeResponse(res, await stream.handle(await readNodeRequest(req, path.slice('/stream'.length))));
    } catch {
      return res.destroy();
    }
  }
  res.writeHead(404).end();
});
const { url: stubsUrl } = await listenOnLoopback(stubs);

// ---- the Worker: the real bundle, and the wrapper in front of it ----
process.stderr.write('building the bundle (wrangler deploy --dry-run)…\n');
const bundle = buildBundle(join(tmp, 'bundle')).path;
const moduleDir = join(tmp, 'modules');
mkdirSync(moduleDir);
copyFileSync(bundle, join(moduleDir, 'worker.js'));
copyFileSync(join(ROOT, 'bench', 'lib', 'distant-d1-worker.js'), join(moduleDir, 'entry.js'));
const deployed = await deployedBindings();
const compatibilityFlags = await wranglerFlags();

/** wrangler.toml's compatibility flags, and what the wrapper needs (AsyncLocalStorage). */
async function wranglerFlags() {
  const { unstable_readConfig } = await import('wrangler');
  /** @type {string[]} */
  const flags = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') }).compatibility_flags ?? [];
  return flags.some((flag) => flag.startsWith('nodejs_compat') || flag === 'nodejs_als') ? flags : [...flags, 'nodejs_als'];
}

/** The Worker's log lines since the last reset, by `event` (JSON lines) or as "other" lines. */
let logged = new Map();
/** @param {string} line */
function onWorkerLine(line) {
  let event = 'other line';
  try {
    event = String(JSON.parse(line).event ?? event);
  } catch {
    // not one of the Worker's JSON lines
  }
  logged.set(event, (logged.get(event) ?? 0) + 1);
}

let instances = 0;
/** A fresh instance (a new workerd process: a fresh isolate) with a registry of `registered` users. */
async function instance(/** @type {User[]} */ registered, /** @type {string | undefined} */ cachePersist = undefined) {
  const started = await startMiniflare({
    ...(cachePersist ? { cachePersist } : {}),
    scriptPath: join(moduleDir, 'entry.js'),
    compatibilityFlags,
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }],
    bindings: {
      FIREBASE_PROJECT_ID: PROJECT_ID,
      STREAM_API_KEY,
      STREAM_API_SECRET,
      FIREBASE_JWKS_URL: `${stubsUrl}/jwk`,
      STREAM_BASE_URL: `${stubsUrl}/stream`,
      BENCH_SETTINGS: JSON.stringify({ primaryMs: PRIMARY_MS, replicaMs: REPLICA_MS, lagMs: LAG_MS }),
    },
    ...deployed,
    d1Databases: { BENCH_D1: `distance-registry-${++instances}` },
    handleRuntimeStdio: (stdout, stderr) => {
      for (const output of [stdout, stderr]) createInterface({ input: output }).on('line', onWorkerLine);
    },
  });
  running.add(started.mf);
  await applyMigrations(started.mf, 'BENCH_D1');
  const db = await started.mf.getD1Database('BENCH_D1');
  const now = Date.now();
  for (let i = 0; i < registered.length; i += 100) {
    await db.batch(
      registered.slice(i, i + 100).map((user, j) => {
        const aliveAt = STALE_EVERY > 0 && (i + j) % STALE_EVERY === 0 ? now - 2 * 86_400_000 : now - Math.floor(Math.random() * 1_800_000);
        return db
          .prepare(`INSERT INTO stream_users (uid, tenant, first_seen_at, alive_at) VALUES (?1, '', ?2, ?3)`)
          .bind(user.uid, now - 30 * 86_400_000, aliveAt);
      }),
    );
  }
  return { ...started, db };
}

// ---- users ----
/** @typedef {{ uid: string; idToken: string; address: string }} User address: its CF-Connecting-IP */
let addresses = 0;
/** A documentation address of its own (198.18.0.0/15, RFC 2544's benchmarking range). */
const nextAddress = () => {
  const n = addresses++ % 131_072;
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
};
/** @param {string} prefix @param {number} count @returns {Promise<User[]>} */
async function users(prefix, count) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const uid = `${prefix}${i}x${randomBytes(5).toString('hex')}`;
      return {
        uid,
        address: nextAddress(),
        idToken: await mintIdToken({ privateKey, kid, projectId: PROJECT_ID, uid, name: `User ${i}` }),
      };
    }),
  );
}

/**
 * @typedef {{ status: number; code: string; ok: boolean; outsideMs: number; workerMs: number; d1Ms: number; localMs: number; modelMs: number }} Answer ok: 200 with a valid token for the
 *   caller; d1Ms: the part of workerMs spent in D1 round trips on the critical path; localMs: the part of d1Ms the local D1
 *   took to run the statements (Miniflare's SQLite behind a Durable Object, slower than D1's sub-millisecond reads);
 *   modelMs: the modelled distance of those trips alone
 * @typedef {{ requests: number; primary: { critical: number; background: number }; primaryTrips: { critical: number; background: number };
 *   replica: { critical: number; background: number }; replicaTrips: { critical: number; background: number }; failed: number; staleReads: number; writes: number }} Counts
 */

/** One token request, timed from outside and inside, its answer checked. @param {string} url @param {User} user @returns {Promise<Answer>} */
async function fetchToken(url, user) {
  const t0 = performance.now();
  const response = await fetch(`${url}/v1/token`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${user.idToken}`, 'CF-Connecting-IP': user.address },
  });
  const text = await response.text();
  const outsideMs = performance.now() - t0;
  const workerMs = Number(response.headers.get('x-bench-worker-ms'));
  const d1Ms = Number(response.headers.get('x-bench-d1-ms'));
  const localMs = Number(response.headers.get('x-bench-d1-local-ms'));
  const modelMs = Number(response.headers.get('x-bench-d1-model-ms'));
  let ok = false;
  let code = String(response.status);
  try {
    const body = JSON.parse(text);
    if (response.status === 200) {
      const { payload } = await jwtVerify(body.token, SECRET_KEY, { algorithms: ['HS256'] });
      ok = payload.user_id === user.uid && body.user_id === user.uid;
      code = ok ? 'token' : 'wrong token';
    } else code = body.code ?? code;
  } catch {
    code = response.status === 200 ? 'invalid token' : code;
  }
  return { status: response.status, code, ok, outsideMs, workerMs, d1Ms, localMs, modelMs };
}

/** All users, `CONCURRENCY` at a time. @param {string} url @param {User[]} list */
async function fetchAll(url, list) {
  /** @type {Answer[]} */
  const answers = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, list.length) }, async () => {
      while (next < list.length) answers.push(await fetchToken(url, /** @type {User} */ (list[next++])));
    }),
  );
  return answers;
}

/** @param {string} url @param {string} path @param {unknown} [body] */
async function control(url, path, body) {
  const response = await fetch(`${url}/__bench/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`/__bench/${path} answered ${response.status}`);
  return response.json();
}

/** Waits until no background work or statement is running (twice in a row), then answers the counts. @param {string} url @returns {Promise<Counts>} */
async function settled(url) {
  const t0 = Date.now();
  let quiet = 0;
  while (Date.now() - t0 < 120_000) {
    const stats = await control(url, 'stats');
    quiet = stats.pending === 0 ? quiet + 1 : 0;
    if (quiet >= 2) return stats.counts;
    await sleep(100);
  }
  throw new Error('background work still running after 120 s');
}

/** How many of `uids` the registry holds. @param {import('@cloudflare/workers-types').D1Database} db @param {string[]} uids */
async function registered(db, uids) {
  const row = await db
    .prepare('SELECT count(*) AS n FROM stream_users WHERE uid IN (SELECT value FROM json_each(?1))')
    .bind(JSON.stringify(uids))
    .first();
  return Number(/** @type {{ n: number }} */ (row).n);
}

/**
 * @typedef {{ name: string; answers: Answer[]; counts: Counts; note: string; logs: Map<string, number> }} Result logs: the Worker's log lines by event
 */

/**
 * @param {string} name
 * @param {{ known: User[]; ask: User[]; outage?: 'warm' | 'cold' | 'cold-cache'; newUids?: string[] }} plan
 *   cold-cache: before the outage, another isolate of the same data centre (same Cache API) served a few users
 * @returns {Promise<Result>}
 */
async function scenario(name, plan) {
  let cachePersist;
  if (plan.outage === 'cold-cache') {
    cachePersist = tempDir('d1-distance-cache-');
    process.stderr.write(`${name}: an earlier isolate of the data centre serves ${WARMUP} users…\n`);
    const earlier = await instance(plan.known, cachePersist);
    const warm = await fetchAll(earlier.url, await users('earlier', WARMUP));
    if (!warm.every((a) => a.ok)) throw new Error('the earlier isolate did not serve its users');
    await settled(earlier.url);
    await earlier.mf.dispose();
    running.delete(earlier.mf);
  }
  process.stderr.write(`${name}: starting an instance, ${plan.known.length} registered users…\n`);
  const { mf, url, db } = await instance(plan.known, cachePersist);
  try {
    if (plan.outage === 'cold' || plan.outage === 'cold-cache') await control(url, 'outage', { down: true });
    else {
      const warm = await fetchAll(url, await users('warm', WARMUP));
      if (!warm.every((a) => a.ok)) throw new Error(`warm-up: ${warm.filter((a) => !a.ok).length} of ${warm.length} got no token`);
      await settled(url);
      if (plan.outage === 'warm') await control(url, 'outage', { down: true });
    }
    await control(url, 'reset', {});
    logged = new Map();
    process.stderr.write(`${name}: ${plan.ask.length} token requests…\n`);
    const answers = await fetchAll(url, plan.ask);
    const counts = await settled(url);
    const logs = logged;
    let note = '';
    const newUids = plan.newUids ?? [];
    if (plan.outage) {
      await control(url, 'outage', { down: false });
      const back = Date.now();
      const late = await users('after', RECOVERY_S);
      let held = 0;
      for (let i = 0; i < RECOVERY_S && held < newUids.length; i++) {
        await fetchAll(url, late.slice(i, i + 1));
        await settled(url);
        held = await registered(db, newUids);
        if (held < newUids.length) await sleep(Math.max(0, back + (i + 1) * 1000 - Date.now()));
      }
      const seconds = ((Date.now() - back) / 1000).toFixed(0);
      note = `after D1 came back: ${held} of the outage's ${newUids.length} new uids in the registry ${held === newUids.length ? `within ${seconds} s` : `after ${seconds} s`} (one more user each second)`;
    } else if (newUids.length > 0) {
      note = `${await registered(db, newUids)} of ${newUids.length} new uids in the registry once background work finished`;
    }
    if (counts.requests !== answers.length) throw new Error(`the wrapper saw ${counts.requests} requests, ${answers.length} were sent`);
    return { name, answers, counts, note, logs };
  } finally {
    await mf.dispose();
    running.delete(mf);
  }
}

const loadAtStart = loadavg()[0] ?? 0;
const startedAt = Date.now();
try {
  const known = await users('known', USERS);
  const fresh = await users('new', USERS);
  const interleave = (/** @type {User[]} */ a, /** @type {User[]} */ b) => a.flatMap((user, i) => [user, /** @type {User} */ (b[i])]);
  const outageNew = await users('outagenew', OUTAGE_USERS);
  const coldNew = await users('coldnew', OUTAGE_USERS);
  const coldCacheNew = await users('coldcachenew', OUTAGE_USERS);
  /** @type {Result[]} */
  const results = [
    await scenario('returning users', { known, ask: known }),
    await scenario('new users', { known, ask: fresh, newUids: fresh.map((u) => u.uid) }),
    await scenario('D1 down (isolate started before)', {
      known,
      ask: interleave(known.slice(0, OUTAGE_USERS), outageNew),
      outage: 'warm',
      newUids: outageNew.map((u) => u.uid),
    }),
    await scenario('D1 down (isolate started during the outage)', {
      known,
      ask: interleave(known.slice(-OUTAGE_USERS), coldNew),
      outage: 'cold',
      newUids: coldNew.map((u) => u.uid),
    }),
    await scenario("D1 down (isolate started during the outage, the data centre's cache knows)", {
      known,
      ask: interleave(known.slice(-OUTAGE_USERS), coldCacheNew),
      outage: 'cold-cache',
      newUids: coldCacheNew.map((u) => u.uid),
    }),
  ];

  const f2 = (/** @type {number} */ n) => n.toFixed(2);
  const f0 = (/** @type {number} */ n) => n.toFixed(0);
  const staleCount = STALE_EVERY > 0 ? Math.ceil(USERS / STALE_EVERY) : 0;
  console.log(
    `# Distance to D1: primary ${PRIMARY_MS} ms away, replicas ${REPLICA_MS} ms away${LAG_MS > 0 ? `, replicas ${LAG_MS} ms behind` : ''}`,
  );
  console.log(
    `(node ${process.version}, ${new Date().toISOString()}, ${((Date.now() - startedAt) / 1000).toFixed(0)} s, load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end; ` +
      `the bundle wrangler deploy --dry-run builds, in workerd through Miniflare, behind bench/lib/distant-d1-worker.js; ` +
      `${USERS} registered users, ${staleCount} of them with alive_at 2 days old, the rest within 30 min; ${CONCURRENCY} requests at a time; each uid asks once)`,
  );
  console.log('');
  console.log(
    '| scenario | token requests | 200 with a valid token | primary statements / token, critical path | primary statements / token, background | primary round trips / token, critical path | replica statements / token | p50 / p95 ms inside the Worker | p50 / p95 ms from outside | token rate one D1 database sustains, fleet-wide |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, answers, counts } of results) {
    const n = answers.length;
    const ok = answers.filter((a) => a.ok).length;
    const primaryTotal = (counts.primary.critical + counts.primary.background) / n;
    const rate = ok === 0 ? '—' : primaryTotal === 0 ? 'unbounded by D1' : `${f0(1000 / primaryTotal)} tokens/s`;
    const inside = answers.map((a) => a.workerMs);
    const outside = answers.map((a) => a.outsideMs);
    console.log(
      `| ${name} | ${n} | ${ok} (${f0((100 * ok) / n)} %) | ${f2(counts.primary.critical / n)} | ${f2(counts.primary.background / n)} | ${f2(counts.primaryTrips.critical / n)} | ${f2((counts.replica.critical + counts.replica.background) / n)} | ` +
        `${f0(quantile(inside, 0.5))} / ${f0(quantile(inside, 0.95))} | ${f0(quantile(outside, 0.5))} / ${f0(quantile(outside, 0.95))} | ${rate} |`,
    );
  }
  console.log('');
  for (const { name, answers, counts, note, logs } of results) {
    /** @type {Map<string, number>} */
    const codes = new Map();
    for (const a of answers) if (!a.ok) codes.set(`${a.status} ${a.code}`, (codes.get(`${a.status} ${a.code}`) ?? 0) + 1);
    const other =
      codes.size === 0 ? 'no other answers' : `other answers: ${[...codes].map(([code, count]) => `${count} × ${code}`).join(', ')}`;
    const failed = counts.failed > 0 ? `; ${counts.failed} statements failed (D1 down)` : '';
    const stale = counts.staleReads > 0 ? `; ${counts.staleReads} replica reads missed a row written less than ${LAG_MS} ms before` : '';
    const lines = logs.size === 0 ? 'nothing logged' : `logged: ${[...logs].map(([event, count]) => `${count} × ${event}`).join(', ')}`;
    const own = answers.map((a) => a.workerMs - a.d1Ms);
    const waits = answers.map((a) => a.d1Ms);
    const local = answers.map((a) => a.localMs);
    const model = answers.map((a) => a.workerMs - a.d1Ms + a.modelMs);
    const time =
      `inside the Worker, p50 ${f0(quantile(waits, 0.5))} ms waiting on D1 (of which ${f0(quantile(local, 0.5))} ms the local D1 running the statements) and ${f0(quantile(own, 0.5))} ms not; ` +
      `the Worker's own time plus the modelled round trips alone (no local execution, no timer delay): p50 ${f0(quantile(model, 0.5))} / p95 ${f0(quantile(model, 0.95))} ms`;
    console.log(
      `- ${name}: ${other}; ${time}; ${counts.writes} write statements run${failed}${stale}; ${lines}${note ? `; ${note}` : ''}.`,
    );
  }
  console.log(
    `- The token rate: D1 runs each database's queries one at a time, about 1,000 a second at 1 ms each (D1's documentation), so the fleet's tokens per second are at most 1000 ÷ (primary statements per token, critical path and background together). Replica reads are spread over one replica per region and not counted against it.`,
  );
} finally {
  disarm();
  await cleanup();
}
