#!/usr/bin/env node
// @ts-check
// Cost per deletion event (POST /v1/events/user-deleted) as the registry grows: Firebase lookups,
// witness lookups, Stream deletes, D1 statements and rows read/written, per event, at each size.
// The promise: it grows with deletions, not with users (ratio between the largest and smallest size ≤ 1.5).
//
// The Worker is the bundle `wrangler deploy --dry-run` builds, served by workerd through Miniflare's
// API with a D1 registry (migrations applied) in a fresh temporary directory per size. N uids
// (Firebase-shaped: 28 random alphanumerics) are inserted straight into D1; a few are marked alive (the
// brake's witnesses). A Firebase stand-in (FIREBASE_AUTH_EMULATOR_HOST) answers accounts:lookup with
// every uid present except the ones deleted; a Stream stand-in (scripts/lib/stream-standin.mjs) holds
// the users to delete. Each event is a Pub/Sub push signed by a test key whose JWKS a local server
// publishes (GOOGLE_OIDC_JWKS_URL). D1 costs are the Worker's own meter, logged with each event.
//
//   node bench/deletion-events.mjs [--sizes 1000,100000] [--events 50] [--markdown FILE]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { SignJWT } from 'jose';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { parseCli } from '../scripts/lib/cli.mjs';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { listenOnLoopback } from '../scripts/lib/process.mjs';
import { serveStreamStandIn } from '../scripts/lib/stream-standin.mjs';
import { applyMigrations, COMPATIBILITY_DATE, quantile, testSigningKey } from './lib/harness.mjs';

const { values: opts } = parseCli(import.meta.url, {
  sizes: { type: 'string', default: '1000,100000' },
  events: { type: 'string', default: '50' },
  markdown: { type: 'string' },
});
const SIZES = (opts.sizes ?? '').split(',').map((s) => Number(s.trim().replace(/_/g, '')));
const EVENTS = Number(opts.events);
if (SIZES.some((n) => !Number.isInteger(n) || n < EVENTS + 10) || !Number.isInteger(EVENTS) || EVENTS < 1)
  throw new Error('--sizes must be whole numbers larger than --events + 10');
const PROJECT_ID = 'demo-bench';
const STREAM_API_KEY = 'benchkey';
const STREAM_API_SECRET = randomBytes(32).toString('hex');
const AUDIENCE = 'https://bench.example/v1/events/user-deleted';
const PUSH_ACCOUNT = 'pubsub-push@demo-bench.iam.gserviceaccount.com';
const WITNESSES = 5;
const tmp = mkdtempSync(join(tmpdir(), 'bench-events-'));

// ---- stand-ins: Firebase (every uid present but the deleted ones), Google's OIDC keys, Stream ----
const gone = new Set();
const lookups = { calls: 0 };
const firebaseServer = createServer(async (req, res) => {
  let text = '';
  for await (const chunk of req) text += chunk;
  const body = JSON.parse(text || '{}');
  lookups.calls++;
  const users = (Array.isArray(body.localId) ? body.localId : [])
    .filter((/** @type {string} */ id) => !gone.has(id))
    .map((/** @type {string} */ localId) => ({ localId }));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify(
      users.length > 0 ? { kind: 'identitytoolkit#GetAccountInfoResponse', users } : { kind: 'identitytoolkit#GetAccountInfoResponse' },
    ),
  );
});
const firebase = await listenOnLoopback(firebaseServer);
const key = testSigningKey();
const keysServer = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' });
  res.end(JSON.stringify(key.jwks));
});
const keys = await listenOnLoopback(keysServer);
const stream = await serveStreamStandIn({ apiKey: STREAM_API_KEY, secret: STREAM_API_SECRET });

/** @type {Record<string, number>[]} the Worker's `deletion_event` log lines */
let logged = [];
/** @param {string} line */
function onWorkerLine(line) {
  const at = line.indexOf('{"event":"deletion_event"');
  if (at >= 0) logged.push(JSON.parse(line.slice(at)));
}

const uid = () => randomBytes(21).toString('base64url').replace(/[-_]/g, 'x').slice(0, 28);

/** @type {string | undefined} */
let scriptPath;

/** @param {number} size */
async function measure(size) {
  const persist = join(tmp, `d1-${size}`);
  scriptPath ??= buildBundle(join(tmp, 'bundle')).path;
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0, // workerd picks a free one and Miniflare reports it: no window for another process to take it
    cf: false,
    d1Persist: persist,
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) createInterface({ input: s }).on('line', onWorkerLine);
    },
    workers: [
      {
        name: 'stream-token-edge',
        modules: true,
        modulesRoot: dirname(scriptPath),
        scriptPath,
        compatibilityDate: COMPATIBILITY_DATE,
        compatibilityFlags: ['nodejs_als'], // as wrangler.toml
        d1Databases: { DB: 'bench-registry' },
        bindings: {
          FIREBASE_PROJECT_ID: PROJECT_ID,
          STREAM_API_KEY,
          STREAM_API_SECRET,
          STREAM_BASE_URL: stream.url,
          FIREBASE_AUTH_EMULATOR_HOST: new URL(firebase.url).host,
          ALLOW_AUTH_EMULATOR: 'true',
          DELETION_EVENTS_AUDIENCE: AUDIENCE,
          DELETION_EVENTS_SERVICE_ACCOUNT: PUSH_ACCOUNT,
          GOOGLE_OIDC_JWKS_URL: `${keys.url}/certs`,
        },
      },
    ],
  });
  const url = (await mf.ready).href.replace(/\/$/, '');
  try {
    await applyMigrations(mf);
    const db = await mf.getD1Database('DB');
    const uids = Array.from({ length: size }, uid);
    for (let i = 0; i < uids.length; i += 5000) {
      await db
        .prepare(`INSERT INTO stream_users (uid, tenant, first_seen_at) SELECT value, '', ?2 FROM json_each(?1)`)
        .bind(JSON.stringify(uids.slice(i, i + 5000)), Date.now())
        .run();
    }
    // A few users known to exist (a token route saw them): the brake's witnesses.
    await db
      .prepare(`UPDATE stream_users SET alive_at = ?2 WHERE uid IN (SELECT value FROM json_each(?1))`)
      .bind(JSON.stringify(uids.slice(0, WITNESSES)), Date.now())
      .run();
    const doomed = uids.slice(size - EVENTS);
    for (const id of doomed) stream.standIn.users.set(id, { id, role: 'user', created_at: new Date().toISOString() });

    /** @type {{ lookups: number; deletes: number; ms: number; d1: number; read: number; written: number; fetches: number }[]} */
    const perEvent = [];
    logged = [];
    for (const id of doomed) {
      gone.add(id);
      const [lookupsBefore, deletesBefore] = [lookups.calls, stream.standIn.requests.filter((r) => r.path === '/users/delete').length];
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({
        iss: 'https://accounts.google.com',
        aud: AUDIENCE,
        email: PUSH_ACCOUNT,
        email_verified: true,
        iat: now,
        exp: now + 3600,
      })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
        .sign(key.privateKey);
      const started = performance.now();
      const response = await fetch(`${url}/v1/events/user-deleted`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({
          message: { data: Buffer.from(JSON.stringify({ uid: id })).toString('base64'), messageId: id },
          subscription: 'projects/demo-bench/subscriptions/s',
        }),
      });
      const answer = await response.json();
      const ms = performance.now() - started;
      if (response.status !== 200 || answer.results?.[id] !== 'deleted')
        throw new Error(`event for ${id}: HTTP ${response.status} ${JSON.stringify(answer)}`);
      for (let wait = 0; logged.length < perEvent.length + 1 && wait < 100; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
      const line = logged[perEvent.length];
      if (!line) throw new Error('the Worker logged no deletion_event line');
      perEvent.push({
        lookups: lookups.calls - lookupsBefore,
        deletes: stream.standIn.requests.filter((r) => r.path === '/users/delete').length - deletesBefore,
        ms,
        d1: line.d1_queries ?? NaN,
        read: line.d1_rows_read ?? NaN,
        written: line.d1_rows_written ?? NaN,
        fetches: line.fetches ?? NaN,
      });
    }
    return perEvent.slice(1); // the first event of an isolate also fetches Google's keys
  } finally {
    await mf.dispose();
    rmSync(persist, { recursive: true, force: true });
  }
}

/** @param {number[]} values */
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
const fmt = (/** @type {number} */ n) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });
/** @type {Map<number, Awaited<ReturnType<typeof measure>>>} */
const results = new Map();
try {
  for (const size of SIZES) {
    process.stderr.write(`${size.toLocaleString('en-US')} registered users: ${EVENTS} events…\n`);
    results.set(size, await measure(size));
  }
} finally {
  await Promise.all([firebase.close(), keys.close(), stream.close()]);
  rmSync(tmp, { recursive: true, force: true });
}

const columns = /** @type {const} */ ([
  ['Firebase lookups (incl. witnesses)', 'lookups'],
  ['Stream deletes', 'deletes'],
  ['D1 statements', 'd1'],
  ['D1 rows read', 'read'],
  ['D1 rows written', 'written'],
  ['subrequests', 'fetches'],
]);
const lines = [
  `Cost per deletion event (mean of ${EVENTS - 1} events after the isolate's first; each: registered, gone from Firebase, in Stream)`,
  '',
  `| registered users | ${columns.map(([label]) => label).join(' | ')} | p50 ms (local) |`,
  `|---:|${columns.map(() => '---:').join('|')}|---:|`,
];
for (const [size, events] of results) {
  lines.push(
    `| ${size.toLocaleString('en-US')} | ${columns.map(([, field]) => fmt(mean(events.map((e) => e[field])))).join(' | ')} | ${fmt(
      quantile(
        events.map((e) => e.ms),
        0.5,
      ),
    )} |`,
  );
}
const [small, large] = [results.get(SIZES[0] ?? 0), results.get(SIZES[SIZES.length - 1] ?? 0)];
if (small && large) {
  const ratios = columns.map(([label, field]) => {
    const [a, b] = [mean(small.map((e) => e[field])), mean(large.map((e) => e[field]))];
    return { label, ratio: a === 0 ? (b === 0 ? 1 : Infinity) : b / a };
  });
  const worst = Math.max(...ratios.map((r) => r.ratio));
  lines.push(
    '',
    `ratio ${SIZES[SIZES.length - 1]?.toLocaleString('en-US')} / ${SIZES[0]?.toLocaleString('en-US')} users, worst column: ${fmt(worst)} (${ratios.map((r) => `${r.label} ${fmt(r.ratio)}`).join(', ')}) — ${worst <= 1.5 ? 'within' : 'OVER'} the 1.5 bound`,
  );
  if (worst > 1.5) process.exitCode = 1;
}
console.log(lines.join('\n'));
if (opts.markdown) writeFileSync(opts.markdown, `${lines.join('\n')}\n`);
