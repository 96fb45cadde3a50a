#!/usr/bin/env node
// @ts-check
// Sign-up bursts against Stream's rate limits: new users call POST /v1/users/me at a fixed rate,
// spread over several isolates, with a Stream stand-in that enforces Stream's per-endpoint limits.
//
// The Worker is the bundle `wrangler deploy --dry-run` builds, served by workerd through Miniflare's
// API: one Miniflare instance (one workerd process) running --isolates copies of the Worker, each a
// Worker of its own, so a V8 isolate of its own (its own UserWriter, Stream client and profile cache),
// each on its own socket (Miniflare's unsafeDirectSockets). They share one D1 registry (the same
// database id: what a deployment has) and, with --batcher on, one SIGNUP_BATCHER Durable Object
// namespace (the class defined by the first copy, bound by the others through scriptName), and
// STREAM_WRITE_LIMITER as wrangler.toml sets it (Miniflare's is per isolate). One workerd process
// rather than several Miniflare instances, because several workerd processes cannot share a D1
// database or a Durable Object.
//
// The Stream stand-in (scripts/lib/stream-standin.mjs, option `limits`) counts requests per endpoint
// in fixed calendar minutes (--window rolling: the last 60 s) and answers 429 code 9 over the limit,
// with X-RateLimit-Limit/-Remaining/-Reset on every answer of a limited endpoint. Default limits:
// Stream's published self-serve defaults (POST /users "Update Users" 300, PATCH /users "Update Users
// (Partial)" 300, GET /users "Query Users" 1,000 a minute). --per-second on adds 1/30 of those per
// second (Stream's docs mention it; off by default).
//
// Clients: user i (a distinct uid, name and picture; RS256 ID tokens from a local JWKS stand-in)
// sends its first request at i / rate s, round robin over the isolates; on 503 (stream_unavailable)
// or 429 (rate_limited) it waits Retry-After plus up to --jitter-ms and retries on the next isolate,
// as long as the retry starts within --retry-budget s of its first request (a real app's backoff).
// Each token is checked (HS256 with the Stream secret, user_id) and, the moment it arrives, the user
// must be in the stand-in's users with the name sent (the stand-in runs in this process, so this is
// the state of "Stream" when the token was returned).
//
// Then the returning phase: every user that got a token calls again with the same profile, on an
// isolate other than the one that answered its token, at the same rate; target 0 Stream calls.
//
//   node bench/signup-burst.mjs [--rate 20] [--seconds 60] [--batcher auto|on|off] [--isolates 4]
//        [--retry-budget 60] [--jitter-ms 1000] [--window fixed|rolling] [--per-second off|on]
//        [--limit-post 300] [--limit-patch 300] [--limit-get 1000] [--no-write-limiter]
//        [--no-returning] [--markdown FILE]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { jwtVerify } from 'jose';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { listenOnLoopback, onStop, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import { StreamStandIn, endpointKey, readNodeRequest, writeNodeResponse } from '../scripts/lib/stream-standin.mjs';
import { COMPATIBILITY_DATE, ROOT, applyMigrations, mintIdToken, quantile, sleep, testSigningKey, watchdog } from './lib/harness.mjs';
import { answerHelp } from '../scripts/lib/cli.mjs';

answerHelp(import.meta.url);
// Ctrl-C or SIGTERM: stop what was started and remove the temp folder.
stopAllOnSignals();

const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '60' },
    batcher: { type: 'string', default: 'auto' },
    isolates: { type: 'string', default: '4' },
    'retry-budget': { type: 'string', default: '60' },
    'jitter-ms': { type: 'string', default: '1000' },
    window: { type: 'string', default: 'fixed' },
    'per-second': { type: 'string', default: 'off' },
    'limit-post': { type: 'string', default: '300' },
    'limit-patch': { type: 'string', default: '300' },
    'limit-get': { type: 'string', default: '1000' },
    'no-write-limiter': { type: 'boolean', default: false },
    'no-returning': { type: 'boolean', default: false },
    markdown: { type: 'string' },
  },
});
/** @param {string} name @param {string | undefined} value @param {number} min @param {number} max */
function number(name, value, min, max) {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}, got ${value}`);
  return n;
}
const RATE = number('rate', opts.rate, 0.1, 2000);
const SECONDS = number('seconds', opts.seconds, 1, 3600);
const ISOLATES = Math.round(number('isolates', opts.isolates, 1, 16));
const RETRY_BUDGET_MS = number('retry-budget', opts['retry-budget'], 0, 600) * 1000;
const JITTER_MS = number('jitter-ms', opts['jitter-ms'], 0, 60_000);
const WINDOW = /** @type {'fixed' | 'rolling'} */ (opts.window);
if (WINDOW !== 'fixed' && WINDOW !== 'rolling') throw new Error('--window must be fixed or rolling');
if (opts['per-second'] !== 'on' && opts['per-second'] !== 'off') throw new Error('--per-second must be on or off');
const PER_SECOND = opts['per-second'] === 'on';
/** @type {Record<string, number>} Stream's self-serve defaults (getstream.io/chat/docs/node/rate_limits_table) */
const LIMITS = {
  'POST /users': number('limit-post', opts['limit-post'], 1, 1e6),
  'PATCH /users': number('limit-patch', opts['limit-patch'], 1, 1e6),
  'GET /users': number('limit-get', opts['limit-get'], 1, 1e6),
};
const WRITE_LIMITER = !opts['no-write-limiter'];
const RETURNING = !opts['no-returning'];
const USERS = Math.round(RATE * SECONDS);
const ATTEMPT_TIMEOUT_MS = 60_000;
const PROJECT_ID = 'bench-project';
const STREAM_API_KEY = 'benchkey';
const STREAM_API_SECRET = randomBytes(32).toString('hex');
const SECRET_KEY = new TextEncoder().encode(STREAM_API_SECRET);

// ---- the SIGNUP_BATCHER binding, if the Worker has one (wrangler.toml is the source of bindings) ----
const wranglerToml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
const indexTs = readFileSync(join(ROOT, 'src', 'index.ts'), 'utf8');
const batcherBlock = /\[\[durable_objects\.bindings\]\][^[]*?name\s*=\s*"SIGNUP_BATCHER"[^[]*/.exec(wranglerToml)?.[0];
const BATCHER_CLASS = batcherBlock ? /class_name\s*=\s*"([^"]+)"/.exec(batcherBlock)?.[1] : undefined;
const batcherExported =
  BATCHER_CLASS !== undefined &&
  new RegExp(`export\\s+(?:class\\s+${BATCHER_CLASS}\\b|\\{[^}]*\\b${BATCHER_CLASS}\\b[^}]*\\})`).test(indexTs);
const BATCHER_SQLITE =
  BATCHER_CLASS !== undefined && new RegExp(`new_sqlite_classes\\s*=\\s*\\[[^\\]]*"${BATCHER_CLASS}"`).test(wranglerToml);
const BATCHER_AVAILABLE = batcherExported;
if (!['auto', 'on', 'off'].includes(opts.batcher ?? '')) throw new Error('--batcher must be auto, on or off');
if (opts.batcher === 'on' && !BATCHER_AVAILABLE)
  throw new Error('--batcher on: no SIGNUP_BATCHER binding with a class exported by src/index.ts');
const BATCHER = opts.batcher === 'on' || (opts.batcher === 'auto' && BATCHER_AVAILABLE);
/** The source the bundle is built from (read before the build): HEAD, and whether src/ or wrangler.toml had uncommitted changes. */
const source = (() => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src', 'wrangler.toml'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `${head}${dirty ? ' + uncommitted changes in src/ or wrangler.toml' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
})();

/** @type {string[]} */
const out = [];
/** @param {string} [line] */
const say = (line = '') => {
  console.log(line);
  out.push(line);
};
/** @param {string} text */
function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
/** @param {string} line */
const progress = (line) => process.stderr.write(`${line}\n`);
/** @param {number} n @param {number} [digits] */
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '–');
/** @param {number} part @param {number} whole */
const pct = (part, whole) => (whole === 0 ? '–' : `${((100 * part) / whole).toFixed(part === whole ? 0 : 2)}%`);
/** @param {number[]} values @param {number} at a quantile, 0..1 */
const q = (values, at) => (values.length === 0 ? NaN : quantile(values, at));

const tmp = tempDir('signup-burst-');
/** @type {Miniflare | undefined} */
let mf;
let cleanedUp = false;
const cleanup = async () => {
  if (cleanedUp) return;
  cleanedUp = true;
  await mf?.dispose().catch(() => undefined);
  server.closeAllConnections();
  server.close();
  rmSync(tmp, { recursive: true, force: true });
};

// ---- stand-ins: Google's JWKS and Stream (with Stream's rate limits) ----
const { kid, privateKey, jwks } = testSigningKey();
const stream = new StreamStandIn({
  apiKey: STREAM_API_KEY,
  secret: STREAM_API_SECRET,
  limits: { perMinute: LIMITS, perSecond: PER_SECOND, window: WINDOW },
});
/**
 * Every Stream request: when it was answered (Unix ms), its endpoint, the answer's status, the users it carried,
 * and for a 429 whether the per-second limit refused it.
 * @typedef {{ at: number; key: string; status: number; users: number; perSecond: boolean }} StreamCall
 */
/** @type {StreamCall[]} */
const streamCalls = [];
/** @param {string} key @param {unknown} body @param {Record<string, string>} query */
function usersIn(key, body, query) {
  try {
    const b = /** @type {any} */ (body);
    if (key === 'POST /users') return Object.keys(b.users).length;
    if (key === 'PATCH /users') return b.users.length;
    if (key === 'GET /users') return JSON.parse(query.payload ?? '{}').filter_conditions?.id?.$in?.length ?? 0;
  } catch {
    // not a shape we count
  }
  return 0;
}
const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/jwk') {
    return res
      .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=21600, must-revalidate, no-transform' })
      .end(JSON.stringify(jwks));
  }
  if (!path.startsWith('/stream/')) return res.writeHead(404).end();
  try {
    const request = await readNodeRequest(req, path.slice('/stream'.length));
    const response = await stream.handle(request);
    const key = endpointKey(request.method, request.path);
    stream.requests.length = 0; // the stand-in's own log would hold every body: keep only what is counted here
    const minuteLimit = LIMITS[key];
    streamCalls.push({
      at: Date.now(),
      key,
      status: response.status,
      users: usersIn(key, safeJson(request.bodyText), request.query),
      perSecond: response.status === 429 && minuteLimit !== undefined && response.headers['x-ratelimit-limit'] !== String(minuteLimit),
    });
    writeNodeResponse(res, response);
  } catch {
    res.destroy();
  }
});
const { url: standInUrl } = await listenOnLoopback(server);
const disarm = watchdog((SECONDS * (RETURNING ? 2 : 1) + (RETRY_BUDGET_MS / 1000) * 2 + 300) * 1000, cleanup);
// Ctrl-C or SIGTERM: stopAllOnSignals (above) runs it, then exits.
onStop(cleanup);

// ---- the Worker's log lines: Stream retries and failures, batcher fallbacks ----
/** @type {Map<string, number>} */
const workerEvents = new Map();
/** @type {Map<string, number>} runtime error lines (cut to 160 characters), counted */
const workerErrors = new Map();
/** @param {string} line */
const noteError = (line) => {
  const key = line
    .replace(/workerd\/[\w/.+-]+:\d+: /g, '')
    .replace(/reference = \w+/, 'reference = …')
    .slice(0, 160);
  if (workerErrors.size < 50 || workerErrors.has(key)) workerErrors.set(key, (workerErrors.get(key) ?? 0) + 1);
};
/** @param {string} line */
function onWorkerLine(line) {
  const at = line.indexOf('{"event":');
  if (at < 0) {
    if (/error|exception|uncaught|warning/i.test(line)) noteError(line);
    return;
  }
  try {
    const event = JSON.parse(line.slice(at));
    const name = [event.event, event.operation, event.status].filter((x) => x !== undefined).join(' ');
    workerEvents.set(name, (workerEvents.get(name) ?? 0) + 1);
  } catch {
    // a line cut short
  }
}
class QuietLog extends Log {
  constructor() {
    super(LogLevel.WARN);
  }
  /** @param {string} message */
  log(message) {
    noteError(`miniflare: ${message}`);
  }
}

try {
  // ---- the Worker: ISOLATES copies in one workerd process, sharing D1 (and the batcher) ----
  progress('building the bundle (wrangler deploy --dry-run)…');
  const bundle = buildBundle(join(tmp, 'bundle')).path;
  const bindings = {
    FIREBASE_PROJECT_ID: PROJECT_ID,
    STREAM_API_KEY,
    STREAM_API_SECRET,
    FIREBASE_JWKS_URL: `${standInUrl}/jwk`,
    STREAM_BASE_URL: `${standInUrl}/stream`,
  };
  const names = Array.from({ length: ISOLATES }, (_, i) => `signup-${i}`);
  mf = new Miniflare({
    host: '127.0.0.1',
    port: 0, // workerd picks a free one and Miniflare reports it: no window for another process to take it
    cf: false,
    log: new QuietLog(),
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) createInterface({ input: s }).on('line', onWorkerLine);
    },
    workers: names.map((name, i) => ({
      name,
      modules: true,
      modulesRoot: dirname(bundle),
      scriptPath: bundle,
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: ['nodejs_als'], // as wrangler.toml
      bindings,
      d1Databases: { DB: 'signup-burst-registry' },
      ...(WRITE_LIMITER ? { ratelimits: { STREAM_WRITE_LIMITER: { simple: { limit: 10, period: 60 } } } } : {}),
      ...(BATCHER && BATCHER_CLASS
        ? {
            durableObjects: {
              SIGNUP_BATCHER: { className: BATCHER_CLASS, useSQLite: BATCHER_SQLITE, ...(i === 0 ? {} : { scriptName: names[0] }) },
            },
          }
        : {}),
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    })),
  });
  await mf.ready;
  const urls = await Promise.all(
    names.map(async (name) => (await /** @type {Miniflare} */ (mf).unsafeGetDirectURL(name)).href.replace(/\/$/, '')),
  );
  await applyMigrations(mf);
  for (const url of urls) {
    const health = await fetch(`${url}/healthz`);
    if (!health.ok) throw new Error(`${url}/healthz answered ${health.status}: ${await health.text()}`);
    await health.arrayBuffer().catch(() => undefined);
  }

  // ---- users and their ID tokens, minted before anything is timed ----
  progress(`minting ${USERS} ID tokens…`);
  const runId = randomBytes(3).toString('hex');
  /** @typedef {{ i: number; uid: string; name: string; picture: string; idToken: string }} User */
  /** @type {User[]} */
  const users = [];
  for (let i = 0; i < USERS; i++) {
    const uid = `su${runId}x${String(i).padStart(5, '0')}${randomBytes(5).toString('hex')}`;
    const name = `Signup User ${i}`;
    const picture = `https://example.com/avatars/${i}.png`;
    users.push({
      i,
      uid,
      name,
      picture,
      idToken: await mintIdToken({ privateKey, kid, projectId: PROJECT_ID, uid, name, picture, ttlSeconds: 3600 }),
    });
  }
  // Warm each isolate's keys with a token route (no Stream call), so the first sign-ups do not time the key fetch.
  {
    const warm = await mintIdToken({ privateKey, kid, projectId: PROJECT_ID, uid: `warm${runId}`, name: 'Warm' });
    for (const url of urls)
      await (await fetch(`${url}/v1/token`, { method: 'POST', headers: { Authorization: `Bearer ${warm}` } })).arrayBuffer();
  }

  // ---- the clients ----
  /**
   * @typedef {{ phase: 'new' | 'returning'; at: number; status: number; code: string; ms: number; isolate: number }} Attempt
   * @typedef {{ user: User; ok: boolean; attempts: number; firstOk: boolean; timeToTokenMs: number; isolate: number; inStream: boolean; tokenOk: boolean;
   *   finalStatus: number; finalCode: string; gaveUp: boolean }} Outcome
   */
  /** @type {Attempt[]} */
  const attempts = [];
  let nextIsolate = 0;

  /**
   * One user's sign-up (or return): POST /v1/users/me until a token, retrying 503 and 429 after Retry-After within the budget.
   * @param {User} user
   * @param {'new' | 'returning'} phase
   * @param {number | undefined} avoidIsolate the returning phase asks another isolate than the one that answered the token
   * @returns {Promise<Outcome>}
   */
  async function signUp(user, phase, avoidIsolate) {
    const first = performance.now();
    for (let attempt = 1; ; attempt++) {
      let isolate = nextIsolate++ % ISOLATES;
      if (isolate === avoidIsolate && ISOLATES > 1) isolate = (isolate + 1) % ISOLATES;
      const t0 = performance.now();
      let status = 0;
      let code = 'network';
      let text = '';
      /** @type {string | null} */
      let retryAfter = null;
      try {
        const response = await fetch(`${urls[isolate]}/v1/users/me`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${user.idToken}` },
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        text = await response.text();
        status = response.status;
        retryAfter = response.headers.get('retry-after');
        code =
          status === 200
            ? 'ok'
            : text.includes("detected that your Worker's code had hung")
              ? 'runtime: request canceled as hung'
              : (safeJson(text)?.code ?? String(status));
      } catch (error) {
        code = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network';
      }
      const now = performance.now();
      // Checked in the same tick as the answer arrives: the stand-in answers in this process, so this is Stream's state then.
      const stored = status === 200 ? stream.users.get(user.uid) : undefined;
      attempts.push({ phase, at: Date.now(), status, code, ms: now - t0, isolate });
      if (status === 200) {
        const inStream = stored !== undefined && stored.name === user.name && stored.image === user.picture;
        let tokenOk = false;
        try {
          const body = JSON.parse(text);
          const { payload } = await jwtVerify(body.token, SECRET_KEY, { algorithms: ['HS256'] });
          tokenOk = payload.user_id === user.uid && body.user_id === user.uid && body.user?.name === user.name;
        } catch {
          tokenOk = false;
        }
        return {
          user,
          ok: true,
          attempts: attempt,
          firstOk: attempt === 1,
          timeToTokenMs: now - first,
          isolate,
          inStream,
          tokenOk,
          finalStatus: status,
          finalCode: code,
          gaveUp: false,
        };
      }
      const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
      const retriable = (status === 503 || status === 429) && seconds !== undefined;
      const waitMs = (seconds ?? 0) * 1000 + Math.random() * JITTER_MS;
      if (!retriable || now + waitMs - first > RETRY_BUDGET_MS) {
        return {
          user,
          ok: false,
          attempts: attempt,
          firstOk: false,
          timeToTokenMs: NaN,
          isolate,
          inStream: false,
          tokenOk: false,
          finalStatus: status,
          finalCode: code,
          gaveUp: retriable,
        };
      }
      await sleep(waitMs);
    }
  }

  /**
   * Starts `list[k]` at k / RATE s from now (open loop: arrivals do not wait for answers); resolves when every one has settled.
   * @param {User[]} list
   * @param {'new' | 'returning'} phase
   * @param {(user: User) => number | undefined} [avoid]
   */
  async function drive(list, phase, avoid = () => undefined) {
    /** @type {Promise<Outcome>[]} */
    const running = [];
    const start = performance.now();
    let k = 0;
    while (k < list.length) {
      const due = Math.min(list.length, Math.floor(((performance.now() - start) / 1000) * RATE) + 1);
      for (; k < due; k++) {
        const user = /** @type {User} */ (list[k]);
        running.push(signUp(user, phase, avoid(user)));
      }
      if (k < list.length) await sleep(Math.max(1, Math.min(20, (k / RATE) * 1000 - (performance.now() - start))));
    }
    const arrivalsMs = performance.now() - start;
    const outcomes = await Promise.all(running);
    return { outcomes, arrivalsMs, settledMs: performance.now() - start };
  }

  say(
    `## Sign-up burst: ${fmt(RATE)} new users/s for ${SECONDS} s (${USERS} users), ${ISOLATES} isolates, SIGNUP_BATCHER ${BATCHER ? `on (${BATCHER_CLASS})` : BATCHER_AVAILABLE ? 'off (exists, not bound)' : 'off (not in the Worker)'}`,
  );
  say();
  say(
    `Stream stand-in limits (requests/min): ${Object.entries(LIMITS)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; ${WINDOW} one-minute windows` +
      `${
        PER_SECOND
          ? `; per second ${Object.entries(stream.limiter?.perSecond ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`
          : '; no per-second limit'
      }. ` +
      `Clients retry 503/429 after Retry-After + 0–${JITTER_MS} ms jitter within ${RETRY_BUDGET_MS / 1000} s. STREAM_WRITE_LIMITER ${WRITE_LIMITER ? '10/60 s per uid (per isolate, as Miniflare has it)' : 'off'}. ` +
      `Worker bundle from ${source}. node ${process.version}, ${cpus().length} cores, load ${loadavg()[0]?.toFixed(2)} at start.`,
  );
  say();

  // ---- phase 1: new users ----
  const t0 = Date.now();
  progress(`phase 1: ${USERS} new users at ${RATE}/s…`);
  const phase1 = await drive(users, 'new');
  const t1 = Date.now();
  const callsNew = streamCalls.filter((c) => c.at >= t0 && c.at <= t1);
  const outcomes = phase1.outcomes;
  const got = outcomes.filter((o) => o.ok);
  const firstOk = outcomes.filter((o) => o.firstOk);
  const notInStream = got.filter((o) => !o.inStream);
  const badTokens = got.filter((o) => !o.tokenOk);
  const attemptsNew = attempts.filter((a) => a.phase === 'new');
  const ok200 = attemptsNew.filter((a) => a.status === 200).map((a) => a.ms);
  /** @type {Map<string, number>} */
  const failures = new Map();
  for (const o of outcomes.filter((x) => !x.ok))
    failures.set(
      `${o.finalStatus} ${o.finalCode}${o.gaveUp ? ' (retry budget spent)' : ''}`,
      (failures.get(`${o.finalStatus} ${o.finalCode}${o.gaveUp ? ' (retry budget spent)' : ''}`) ?? 0) + 1,
    );
  /** @type {Map<string, number>} */
  const answerCodes = new Map();
  for (const a of attemptsNew) answerCodes.set(`${a.status} ${a.code}`, (answerCodes.get(`${a.status} ${a.code}`) ?? 0) + 1);
  const lastTokenAt = Math.max(...got.map((o) => o.timeToTokenMs + (o.user.i / RATE) * 1000));

  say('### New users');
  say();
  say('| | value |');
  say('|---|---:|');
  say(`| users | ${USERS} |`);
  say(`| got a token, first attempt | ${firstOk.length} (${pct(firstOk.length, USERS)}) |`);
  say(`| got a token, eventually (retries within ${RETRY_BUDGET_MS / 1000} s) | **${got.length} (${pct(got.length, USERS)})** |`);
  say(`| no token | ${USERS - got.length}${failures.size ? ` (${[...failures].map(([k, v]) => `${v} × ${k}`).join(', ')})` : ''} |`);
  say(`| token holders not in Stream (with their profile) when the token arrived | ${notInStream.length} |`);
  const orphans = users.filter((u) => stream.users.has(u.uid)).length - got.length;
  say(`| users created in Stream who got no token | ${orphans} |`);
  say(`| tokens that fail to verify or name another user | ${badTokens.length} |`);
  say(
    `| attempts (requests) | ${attemptsNew.length} (${[...answerCodes]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${v} × ${k}`)
      .join(', ')}) |`,
  );
  say(
    `| attempts per user that got a token: mean / max | ${fmt(got.reduce((s, o) => s + o.attempts, 0) / Math.max(1, got.length), 2)} / ${Math.max(0, ...got.map((o) => o.attempts))} |`,
  );
  say(
    `| latency of a 200 answer p50 / p99 / max (ms) | ${fmt(q(ok200, 0.5), 0)} / ${fmt(q(ok200, 0.99), 0)} / ${fmt(Math.max(...ok200), 0)} |`,
  );
  const non200 = attemptsNew.filter((a) => a.status !== 200);
  for (const code of [...new Set(non200.map((a) => `${a.status} ${a.code}`))]) {
    const ms = non200.filter((a) => `${a.status} ${a.code}` === code).map((a) => a.ms);
    say(`| latency of ${code} answers p50 / p99 (ms) | ${fmt(q(ms, 0.5), 0)} / ${fmt(q(ms, 0.99), 0)} |`);
  }
  say(
    `| latency of any answer p50 / p99 (ms) | ${fmt(
      q(
        attemptsNew.map((a) => a.ms),
        0.5,
      ),
      0,
    )} / ${fmt(
      q(
        attemptsNew.map((a) => a.ms),
        0.99,
      ),
      0,
    )} |`,
  );
  say(
    `| time to token, retries included, p50 / p99 / max (s) | ${fmt(
      q(
        got.map((o) => o.timeToTokenMs / 1000),
        0.5,
      ),
      2,
    )} / ${fmt(
      q(
        got.map((o) => o.timeToTokenMs / 1000),
        0.99,
      ),
      2,
    )} / ${fmt(Math.max(...got.map((o) => o.timeToTokenMs / 1000)), 2)} |`,
  );
  say(
    `| tokens issued per second (first arrival → last token) | ${fmt(got.length / (lastTokenAt / 1000), 1)} (last token ${fmt(lastTokenAt / 1000, 1)} s after the first arrival) |`,
  );
  say();

  /**
   * Per endpoint: requests, accepted, 429s (minute / second), users per accepted request, and the worst minute.
   * @param {StreamCall[]} calls
   */
  function streamTable(calls) {
    say(
      '| endpoint | limit/min | requests | accepted | 429 (minute / second) | users per accepted request | accepted, worst calendar minute | accepted, worst rolling 60 s | requests, worst calendar minute |',
    );
    say('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const keys = [...new Set([...Object.keys(LIMITS), ...calls.map((c) => c.key)])];
    for (const key of keys) {
      const mine = calls.filter((c) => c.key === key);
      const accepted = mine.filter((c) => c.status >= 200 && c.status < 300);
      const limited = mine.filter((c) => c.status === 429);
      /** @param {StreamCall[]} list */
      const worstCalendar = (list) => {
        /** @type {Map<number, number>} */
        const perMinute = new Map();
        for (const c of list) perMinute.set(Math.floor(c.at / 60_000), (perMinute.get(Math.floor(c.at / 60_000)) ?? 0) + 1);
        return Math.max(0, ...perMinute.values());
      };
      let worstRolling = 0;
      for (let a = 0, b = 0; b < accepted.length; b++) {
        while (/** @type {StreamCall} */ (accepted[b]).at - /** @type {StreamCall} */ (accepted[a]).at >= 60_000) a++;
        worstRolling = Math.max(worstRolling, b - a + 1);
      }
      const limit = LIMITS[key];
      const over = limit !== undefined && worstCalendar(accepted) > limit ? ' ✗' : '';
      say(
        `| ${key} | ${limit ?? '–'} | ${mine.length} | ${accepted.length} | ${limited.length} (${limited.filter((c) => !c.perSecond).length} / ${limited.filter((c) => c.perSecond).length}) | ` +
          `${accepted.length ? fmt(accepted.reduce((s, c) => s + c.users, 0) / accepted.length, 1) : '–'} | ${worstCalendar(accepted)}${over} | ${worstRolling} | ${worstCalendar(mine)} |`,
      );
    }
  }
  say(`### Stream requests during the new-user phase (${fmt((t1 - t0) / 1000, 0)} s, arrivals over ${fmt(phase1.arrivalsMs / 1000, 0)} s)`);
  say();
  streamTable(callsNew);
  say();

  // ---- timeline, 10 s buckets ----
  say('### Timeline (10 s buckets from the first arrival)');
  say();
  say(
    '| s | arrivals | 200 | 503 | other non-200 | 200 latency p50 / p99 ms | POST /users ok / 429 | PATCH /users ok / 429 | GET /users ok / 429 |',
  );
  say('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const bucketCount = Math.ceil((t1 - t0) / 10_000);
  for (let b = 0; b < bucketCount; b++) {
    const from = t0 + b * 10_000;
    const to = from + 10_000;
    const inBucket = attemptsNew.filter((a) => a.at >= from && a.at < to);
    const oks = inBucket.filter((a) => a.status === 200).map((a) => a.ms);
    const arrivals = users.filter((u) => (u.i / RATE) * 1000 >= b * 10_000 && (u.i / RATE) * 1000 < (b + 1) * 10_000).length;
    const calls = callsNew.filter((c) => c.at >= from && c.at < to);
    /** @param {string} key */
    const cell = (key) =>
      `${calls.filter((c) => c.key === key && c.status < 300).length} / ${calls.filter((c) => c.key === key && c.status === 429).length}`;
    say(
      `| ${b * 10}–${(b + 1) * 10} | ${arrivals} | ${inBucket.filter((a) => a.status === 200).length} | ${inBucket.filter((a) => a.status === 503).length} | ` +
        `${inBucket.filter((a) => a.status !== 200 && a.status !== 503).length} | ${fmt(q(oks, 0.5), 0)} / ${fmt(q(oks, 0.99), 0)} | ` +
        `${cell('POST /users')} | ${cell('PATCH /users')} | ${cell('GET /users')} |`,
    );
  }
  say();

  // ---- phase 2: the same users again, unchanged profiles, on another isolate ----
  if (RETURNING && got.length > 0) {
    await sleep(3000); // the registry's background writes (waitUntil) land
    const before = streamCalls.length;
    const t2 = Date.now();
    progress(`phase 2: ${got.length} returning users at ${RATE}/s…`);
    const isolateOf = new Map(got.map((o) => [o.user.uid, o.isolate]));
    const phase2 = await drive(
      got.map((o) => o.user),
      'returning',
      (user) => isolateOf.get(user.uid),
    );
    const calls2 = streamCalls.slice(before);
    const back = phase2.outcomes;
    const attempts2 = attempts.filter((a) => a.phase === 'returning');
    const ok2 = attempts2.filter((a) => a.status === 200).map((a) => a.ms);
    /** @type {Map<string, number>} */
    const codes2 = new Map();
    for (const a of attempts2) codes2.set(`${a.status} ${a.code}`, (codes2.get(`${a.status} ${a.code}`) ?? 0) + 1);
    say(`### Returning users (same profiles, each on another isolate than its sign-up's; ${fmt((Date.now() - t2) / 1000, 0)} s)`);
    say();
    say('| | value |');
    say('|---|---:|');
    say(`| users | ${back.length} |`);
    say(
      `| got a token | ${back.filter((o) => o.ok).length} (${pct(back.filter((o) => o.ok).length, back.length)}); first attempt ${back.filter((o) => o.firstOk).length} |`,
    );
    say(`| answers | ${[...codes2].map(([k, v]) => `${v} × ${k}`).join(', ')} |`);
    say(
      `| **Stream calls** | **${calls2.length}**${calls2.length ? ` (${[...new Set(calls2.map((c) => c.key))].map((k) => `${calls2.filter((c) => c.key === k).length} × ${k}`).join(', ')})` : ''} |`,
    );
    say(`| latency of a 200 answer p50 / p99 (ms) | ${fmt(q(ok2, 0.5), 0)} / ${fmt(q(ok2, 0.99), 0)} |`);
    say();
  }

  // ---- what the Worker logged ----
  if (workerEvents.size > 0 || workerErrors.size > 0) {
    say('### Worker log events');
    say();
    for (const [name, count] of [...workerEvents].sort((a, b) => b[1] - a[1])) say(`- ${count} × \`${name}\``);
    for (const [line, count] of [...workerErrors].sort((a, b) => b[1] - a[1]).slice(0, 8)) say(`- ${count} × \`${line}\``);
    say();
  }
} catch (error) {
  for (const [line, count] of workerErrors) console.error(`${count} × ${line}`);
  disarm();
  await cleanup();
  throw error;
}
disarm();
await cleanup();
if (opts.markdown) writeFileSync(opts.markdown, `${out.join('\n')}\n`);
