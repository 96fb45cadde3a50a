#!/usr/bin/env node
// @ts-check
// Deleted-user reconciliation at scale: what one sweep of the registry costs, per uid, as the
// registry grows (D1 statements and rows, subrequests, runs per sweep, wall time), inline and
// in queue mode.
//
// The Worker is the bundle `wrangler deploy --dry-run` builds, served by workerd through
// Miniflare's API (not wrangler dev), with a D1 registry (both migrations applied) in a fresh
// temporary persistence directory per size: N uids (Firebase-shaped: 28 random alphanumerics) are
// imported once through POST /v1/admin/registry/import, and each mode sweeps its own copy of that
// directory. The cron is triggered (Miniflare's scheduled()) until a full sweep is done, --sweeps times.
// Inline runs longer than --inline-max-minutes are sampled (the first runs timed, the rest extrapolated,
// and the table says so). Queue mode binds RECONCILE_QUEUE with a consumer (max_batch_size 10).
// A Firebase stand-in on 127.0.0.1 (FIREBASE_AUTH_EMULATOR_HOST) answers every accounts:lookup
// with every uid present, so nothing is deleted; a Stream stand-in (scripts/lib/stream-standin.mjs)
// checks that no call reaches Stream. Costs are the Worker's own per-run meter (src/platform/meter.ts:
// D1 `meta.rows_read` / `meta.rows_written`, statements, outbound fetches), read from the status
// route (inline) and from the consumer's logged summaries (queue mode).
//
//   node bench/reconcile.mjs [--sizes 5000,100000,1000000] [--modes inline,queue]
//        [--max-batches 1000] [--batch-size 100] [--queue-batches-per-run N] [--consumer-batch 10]
//        [--consumer separate|same] [--inline-max-minutes 15] [--sample-runs 2]
//        [--paid-max-batches 400] [--assume-concurrency 20] [--assume-firebase-ms 150]
//        [--uid-length 28] [--tenant ID] [--sweeps 2] [--import-concurrency 8] [--timeout-minutes 30]
//        [--ordered-uids] [--markdown FILE]
//
// Sweep 1 is the first after the import (alive_at still unset); sweep 2 on is the steady state.
import { randomBytes } from 'node:crypto';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { serialize } from 'node:v8';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { listenOnLoopback, onStop, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import { serveStreamStandIn } from '../scripts/lib/stream-standin.mjs';
import { answerHelp } from '../scripts/lib/cli.mjs';
import { applyMigrations, COMPATIBILITY_DATE } from './lib/harness.mjs';

answerHelp(import.meta.url);
// Ctrl-C or SIGTERM: stop what was started and remove the temp folder.
stopAllOnSignals();

const { values: opts } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5000,100000,1000000' },
    modes: { type: 'string', default: 'inline,queue' },
    'max-batches': { type: 'string', default: '1000' },
    'batch-size': { type: 'string', default: '100' },
    'queue-batches-per-run': { type: 'string' },
    'consumer-batch': { type: 'string', default: '10' },
    consumer: { type: 'string', default: 'separate' },
    'inline-max-minutes': { type: 'string', default: '15' },
    'sample-runs': { type: 'string', default: '2' },
    'paid-max-batches': { type: 'string', default: '400' },
    'assume-concurrency': { type: 'string', default: '20' },
    'assume-firebase-ms': { type: 'string', default: '150' },
    'uid-length': { type: 'string', default: '28' },
    'import-concurrency': { type: 'string', default: '8' },
    'timeout-minutes': { type: 'string', default: '30' },
    sweeps: { type: 'string', default: '2' },
    tenant: { type: 'string', default: '' },
    'ordered-uids': { type: 'boolean', default: false },
    markdown: { type: 'string' },
  },
});
/** @param {string} name @param {string | undefined} value @param {number} min @param {number} max */
function whole(name, value, min, max) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
  return n;
}
const SIZES = (opts.sizes ?? '').split(',').map((s) => whole('sizes', s.trim().replace(/_/g, ''), 1, 10_000_000));
const MODES = /** @type {('inline' | 'queue')[]} */ ((opts.modes ?? '').split(',').map((m) => m.trim()));
for (const mode of MODES) if (mode !== 'inline' && mode !== 'queue') throw new Error(`--modes: unknown mode ${mode}`);
const MAX_BATCHES = whole('max-batches', opts['max-batches'], 1, 1000);
const BATCH_SIZE = whole('batch-size', opts['batch-size'], 1, 100);
const QUEUE_BATCHES_PER_RUN =
  opts['queue-batches-per-run'] === undefined ? undefined : whole('queue-batches-per-run', opts['queue-batches-per-run'], 1, 100_000);
const CONSUMER_BATCH = whole('consumer-batch', opts['consumer-batch'], 1, 100);
const CONSUMER = opts.consumer;
if (CONSUMER !== 'separate' && CONSUMER !== 'same') throw new Error('--consumer must be separate or same');
const INLINE_MAX_MS = Number(opts['inline-max-minutes']) * 60_000;
const SAMPLE_RUNS = whole('sample-runs', opts['sample-runs'], 2, 1000); // ≥ 2: the first run of a sweep also counts the registry
const PAID_MAX_BATCHES = whole('paid-max-batches', opts['paid-max-batches'], 1, 1000);
const ASSUME_CONCURRENCY = whole('assume-concurrency', opts['assume-concurrency'], 1, 250);
const ASSUME_FIREBASE_MS = Number(opts['assume-firebase-ms']);
const UID_LENGTH = whole('uid-length', opts['uid-length'], 4, 128);
const IMPORT_CONCURRENCY = whole('import-concurrency', opts['import-concurrency'], 1, 64);
const TIMEOUT_MS = Number(opts['timeout-minutes']) * 60_000;
const SWEEPS = whole('sweeps', opts.sweeps, 1, 10);
/** The tenant the uids are imported under ('' = project-level users; their lookups then carry tenantId). */
const TENANT = opts.tenant ?? '';
/** Diagnostic: uids that sort in import order, so the table's rows (rowid order) lie in uid (sweep) order. */
const ORDERED_UIDS = opts['ordered-uids'] ?? false;

/** The Worker's defaults and the platform limits the projections use (sources in the output). */
const WORKER_DEFAULTS = { maxBatches: 10, queueBatchesPerRun: 2500, cronMinutes: 15 };
/** D1 quotas and prices (developers.cloudflare.com/d1/platform/pricing/): Free per day, Paid included per month and $ per million over it. */
const D1_PRICING = {
  freeReadsPerDay: 5e6,
  freeWritesPerDay: 1e5,
  paidReadsPerMonth: 25e9,
  paidWritesPerMonth: 50e6,
  paidReadPerMillion: 0.001,
  paidWritePerMillion: 1,
};
/** Cloudflare Queues: at most 256 KB (1 KB = 1,000 bytes) per sendBatch, ~100 bytes of metadata per message counting towards it. */
const SEND_BATCH_LIMIT_BYTES = 256_000;
const MESSAGE_METADATA_BYTES = 100;
/** The cron pages ≤ 5,000 uids at a time and sends each page's messages in sendBatch calls of ≤ 100 (src/reconcile/reconcile.ts). */
const QUEUE_PAGE_UIDS = 5000;
const IMPORT_MAX_UIDS = 1000; // src/http/admin.ts MAX_IMPORT_UIDS
const CRON = '*/15 * * * *';
const PROJECT_ID = 'demo-bench';
const STREAM_API_KEY = 'benchkey';
const STREAM_API_SECRET = randomBytes(32).toString('hex');
const ADMIN_TOKEN = randomBytes(32).toString('hex');
const QUEUE_NAME = 'stream-token-edge-reconcile';

/** @type {string[]} */
const out = [];
/** @param {string} [line] */
const say = (line = '') => {
  console.log(line);
  out.push(line);
};
/** @param {string} line */
const progress = (line) => process.stderr.write(`${line}\n`);
/** @param {number[]} values */
const median = (values) =>
  values.length === 0 ? NaN : /** @type {number} */ ([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]);
/** @param {number[]} values */
const sum = (values) => values.reduce((a, b) => a + b, 0);
/** @param {number} n @param {number} [digits] */
const fmt = (n, digits = 2) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : '–';
/** @param {number} ms */
const duration = (ms) => {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 2 * 3600_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 3 * 86400_000) return `${(ms / 3600_000).toFixed(1)} h`;
  return `${(ms / 86400_000).toFixed(1)} days`;
};
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const tmp = tempDir('bench-reconcile-');

// ---- stand-ins: Firebase accounts:lookup (every uid present) and Stream ----
const lookups = { calls: 0, uids: 0, maxUids: 0, tenantCalls: 0, refused: 0 };
const LOOKUP_PATH = new RegExp(`^/identitytoolkit\\.googleapis\\.com/v1/projects/${PROJECT_ID}/accounts:lookup$`);
const firebaseServer = createServer(async (req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  try {
    for await (const chunk of req) chunks.push(chunk);
  } catch {
    return res.destroy();
  }
  const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  if (req.method !== 'POST' || !LOOKUP_PATH.test(path) || req.headers.authorization !== 'Bearer owner') {
    lookups.refused++;
    return res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 404, message: `not a lookup: ${req.method} ${path}` } }));
  }
  /** @type {{ localId?: unknown; tenantId?: unknown }} */
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    lookups.refused++;
    return res.writeHead(400).end();
  }
  const localIds = Array.isArray(body.localId) ? body.localId.filter((id) => typeof id === 'string') : [];
  lookups.calls++;
  lookups.uids += localIds.length;
  lookups.maxUids = Math.max(lookups.maxUids, localIds.length);
  if (body.tenantId !== undefined) lookups.tenantCalls++;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'identitytoolkit#GetAccountInfoResponse', users: localIds.map((localId) => ({ localId })) }));
});
const firebase = await listenOnLoopback(firebaseServer);
const stream = await serveStreamStandIn({ apiKey: STREAM_API_KEY, secret: STREAM_API_SECRET });

// ---- the Worker's logs: reconcile summaries (inline runs and queue consumers) ----
/**
 * @typedef {{ mode: 'inline' | 'queue' | 'consumer'; started_at: number; checked: number; present: number; missing: number; braked: number;
 *   unknown: number; sent: number; enqueued: number; batches: number; sweep_completed: boolean; duration_ms: number; d1_queries: number;
 *   d1_rows_read: number; d1_rows_written: number; fetches: number; queue_sends: number; error?: string }} Summary
 * @typedef {Summary & { arrivedAt: number }} LoggedSummary
 */
/** @type {LoggedSummary[]} */
let logged = [];
/** @type {string[]} other structured events the Worker logged (errors, brake…) */
let otherEvents = [];
/** @param {string} line */
function onWorkerLine(line) {
  const at = line.indexOf('{"event":');
  if (at < 0) return;
  /** @type {Record<string, unknown>} */
  let event;
  try {
    event = JSON.parse(line.slice(at));
  } catch {
    return;
  }
  if (event.event === 'reconcile_summary')
    logged.push({ .../** @type {Summary} */ (/** @type {unknown} */ (event)), arrivedAt: performance.now() });
  else if (event.event !== 'reconcile_would_delete') {
    if (otherEvents.length < 50) otherEvents.push(line.slice(at, at + 300));
  }
}
/** Miniflare's own log (queue broker lines, workerd errors): kept for the report when something fails. */
class CaptureLog extends Log {
  constructor() {
    super(LogLevel.WARN);
    /** @type {string[]} */
    this.lines = [];
  }
  /** @param {string} message */
  log(message) {
    if (this.lines.length < 50) this.lines.push(message);
  }
}

/** @type {string | undefined} */
let bundlePath;
function workerBundle() {
  bundlePath ??= buildBundle(join(tmp, 'bundle')).path;
  return bundlePath;
}

/**
 * @param {{ persist: string; queue: boolean }} options
 * @returns {Promise<{ mf: Miniflare; url: string; log: CaptureLog }>}
 */
async function startWorker({ persist, queue }) {
  const scriptPath = workerBundle();
  /** @type {Record<string, string>} */
  const bindings = {
    FIREBASE_PROJECT_ID: PROJECT_ID,
    STREAM_API_KEY,
    STREAM_API_SECRET,
    STREAM_BASE_URL: stream.url,
    FIREBASE_AUTH_EMULATOR_HOST: new URL(firebase.url).host,
    ALLOW_AUTH_EMULATOR: 'true',
    ADMIN_TOKEN,
    RECONCILE_BATCH_SIZE: String(BATCH_SIZE),
    RECONCILE_MAX_BATCHES: String(MAX_BATCHES),
    ...(QUEUE_BATCHES_PER_RUN === undefined ? {} : { RECONCILE_QUEUE_BATCHES_PER_RUN: String(QUEUE_BATCHES_PER_RUN) }),
  };
  const common = {
    modules: true,
    modulesRoot: dirname(scriptPath),
    scriptPath,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ['nodejs_als'], // as wrangler.toml
    bindings,
    d1Databases: { DB: 'bench-registry' },
  };
  const producer = queue ? { queueProducers: { RECONCILE_QUEUE: { queueName: QUEUE_NAME } } } : {};
  const consumer = { queueConsumers: { [QUEUE_NAME]: { maxBatchSize: CONSUMER_BATCH, maxBatchTimeout: 0.1, maxRetries: 5 } } };
  /** @type {import('miniflare').WorkerOptions[]} */
  const workers = !queue
    ? [{ name: 'stream-token-edge', ...common }]
    : CONSUMER === 'same'
      ? [{ name: 'stream-token-edge', ...common, ...producer, ...consumer }]
      : // The consumer in an isolate of its own (same bundle, bindings and database): the Worker's meter is
        // per isolate, so cron runs and consumer invocations sharing one would count each other's D1 work.
        [
          { name: 'stream-token-edge', ...common, ...producer },
          { name: 'stream-token-edge-consumer', ...common, ...producer, ...consumer },
        ];
  const log = new CaptureLog();
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0, // workerd picks a free one and Miniflare reports it: no window for another process to take it
    cf: false, // no fetch of the request.cf object from workers.cloudflare.com: everything stays on 127.0.0.1
    d1Persist: persist,
    log,
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) createInterface({ input: s }).on('line', onWorkerLine);
    },
    workers,
  });
  const url = (await mf.ready).href.replace(/\/$/, '');
  return { mf, url, log };
}

/** @param {string} url @param {string} path @param {unknown} [body] */
async function admin(url, path, body) {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/**
 * @typedef {{ position: string; done: number; total: number | null; sweeps_completed: number; last_duration_ms: number | null }} SweepStatus
 * @typedef {{ registry: Record<string, number>; last_run: Summary | null; sweep: SweepStatus }} Status
 * @param {string} url
 * @returns {Promise<Status>}
 */
const status = (url) => admin(url, '/v1/admin/reconcile/status');

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/**
 * Firebase-shaped uids: random alphanumerics, as many as Firebase's (28) by default; with
 * --ordered-uids, a 10-digit sequence number from `first` on, then random characters.
 * @param {number} count
 * @param {number} first
 */
function makeUids(count, first) {
  const bytes = randomBytes(count * UID_LENGTH);
  /** @type {string[]} */
  const uids = new Array(count);
  for (let i = 0; i < count; i++) {
    let uid = ORDERED_UIDS ? String(first + i).padStart(10, '0') : '';
    for (let j = uid.length; j < UID_LENGTH; j++) uid += ALPHABET[/** @type {number} */ (bytes[i * UID_LENGTH + j]) % ALPHABET.length];
    uids[i] = uid;
  }
  return uids;
}

/**
 * Imports `count` uids through the admin route, IMPORT_CONCURRENCY calls at a time.
 * @param {string} url
 * @param {number} count
 * @returns {Promise<{ ms: number; calls: number; added: number }>}
 */
async function importUids(url, count) {
  const t0 = performance.now();
  let next = 0;
  let added = 0;
  let calls = 0;
  const chunks = Math.ceil(count / IMPORT_MAX_UIDS);
  let lastReport = t0;
  const worker = async () => {
    for (;;) {
      const chunk = next++;
      if (chunk >= chunks) return;
      const size = Math.min(IMPORT_MAX_UIDS, count - chunk * IMPORT_MAX_UIDS);
      const result = await admin(url, '/v1/admin/registry/import', {
        uids: makeUids(size, chunk * IMPORT_MAX_UIDS),
        ...(TENANT ? { tenant: TENANT } : {}),
      });
      added += result.added;
      calls++;
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        progress(`  import: ${calls}/${chunks} calls, ${added.toLocaleString('en-US')} uids, ${duration(lastReport - t0)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: IMPORT_CONCURRENCY }, worker));
  return { ms: performance.now() - t0, calls, added };
}

/**
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 * @template T
 */
async function within(promise, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${duration(ms)}`)), ms);
  });
  try {
    return /** @type {T} */ (await Promise.race([promise, timeout]));
  } finally {
    clearTimeout(timer);
  }
}

/** @param {Miniflare} mf */
async function triggerCron(mf) {
  const worker = await mf.getWorker('stream-token-edge');
  const t0 = performance.now();
  const result = await within(worker.scheduled({ cron: CRON, scheduledTime: new Date() }), TIMEOUT_MS, 'scheduled()');
  return { ms: performance.now() - t0, outcome: result.outcome };
}

// ---- the cron's queries (copied from src/registry/registry.ts) and their plans ----
/** @type {{ name: string; when: string; sql: string; params: (cursor: string) => unknown[]; readOnly: boolean }[]} */
const CRON_QUERIES = [
  {
    name: 'page',
    when: 'every lookup batch (inline) / every ≤5,000 uids (queue cron)',
    sql: `SELECT uid, tenant FROM stream_users WHERE state = 'active' AND uid > ?1 ORDER BY uid LIMIT ?2`,
    params: (cursor) => [cursor, 100],
    readOnly: true,
  },
  {
    name: 'rechecks',
    when: 'every run',
    sql: `SELECT uid, tenant FROM stream_users WHERE recheck = 1 AND state = 'active' ORDER BY uid LIMIT ?1`,
    params: () => [100],
    readOnly: true,
  },
  {
    name: 'claimDueDeletions',
    when: 'every run and consumer invocation',
    sql: `UPDATE stream_users SET task_id = ?3
         WHERE uid IN (SELECT uid FROM stream_users
                       WHERE state = 'pending_delete' AND task_id IS NULL AND next_attempt_at <= ?1
                       ORDER BY next_attempt_at LIMIT ?2)
         RETURNING uid, tenant, failures`,
    params: () => [Date.now(), 100, 'claim:bench'],
    readOnly: false,
  },
  {
    name: 'countDue',
    when: 'every run (after deletes)',
    sql: `SELECT count(*) AS n FROM (SELECT 1 FROM stream_users
         WHERE state = 'pending_delete' AND task_id IS NULL AND next_attempt_at <= ?1 LIMIT ?2)`,
    params: () => [Date.now(), 100],
    readOnly: true,
  },
  {
    name: 'witnesses',
    when: 'when the brake trips',
    sql: `SELECT uid FROM stream_users WHERE state = 'active' AND alive_at IS NOT NULL AND tenant = ?1
         ORDER BY alive_at DESC LIMIT ?2`,
    params: () => ['', 110],
    readOnly: true,
  },
  {
    name: 'openTasks',
    when: 'every run',
    sql: `SELECT task_id, uid FROM stream_users WHERE task_id IS NOT NULL ORDER BY task_id LIMIT ?1`,
    params: () => [500],
    readOnly: true,
  },
  {
    name: 'markPresent',
    when: 'every lookup batch',
    sql: `UPDATE stream_users SET last_checked_at = ?2, alive_at = ?2, recheck = 0
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state = 'active'`,
    params: () => ['[]', Date.now()],
    readOnly: false,
  },
  {
    name: 'countActive',
    when: 'once per sweep (its start)',
    sql: `SELECT count(*) AS n FROM stream_users WHERE state = 'active'`,
    params: () => [],
    readOnly: true,
  },
];

/**
 * EXPLAIN QUERY PLAN of each cron query against the bench's D1, with the rows the read-only ones
 * actually read there (D1's meta.rows_read), flagging full scans and temporary B-trees.
 * @param {Miniflare} mf
 * @param {number} size
 */
async function queryPlans(mf, size) {
  const db = await mf.getD1Database('DB');
  // A cursor in the middle of the registry, as most page queries have.
  const middle = /** @type {{ uid: string } | null} */ (
    await db
      .prepare('SELECT uid FROM stream_users ORDER BY uid LIMIT 1 OFFSET ?1')
      .bind(Math.floor(size / 2))
      .first()
  );
  const cursor = middle?.uid ?? '';
  const stats = /** @type {{ n: number } | null} */ (
    await db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1'`).first()
  );
  /** @type {{ name: string; when: string; plan: string[]; flags: string[]; rowsRead: number | undefined; rowsReturned: number | undefined }[]} */
  const rows = [];
  for (const query of CRON_QUERIES) {
    const params = query.params(cursor);
    const plan = /** @type {{ detail: string }[]} */ (
      (
        await db
          .prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
          .bind(...params)
          .all()
      ).results
    ).map((row) => row.detail);
    /** @type {string[]} */
    const flags = [];
    for (const detail of plan) {
      if (/^SCAN stream_users\b(?!.*USING)/.test(detail)) flags.push('FULL TABLE SCAN');
      else if (/^SCAN stream_users\b.*USING/.test(detail))
        flags.push(`index scan (${/USING (?:COVERING )?INDEX (\S+)/.exec(detail)?.[1] ?? '?'})`);
      if (/USE TEMP B-TREE/.test(detail)) flags.push('TEMP B-TREE');
    }
    let rowsRead;
    let rowsReturned;
    if (query.readOnly) {
      const result = await db
        .prepare(query.sql)
        .bind(...params)
        .all();
      rowsRead = result.meta.rows_read;
      rowsReturned = result.results.length;
    }
    rows.push({ name: query.name, when: query.when, plan, flags, rowsRead, rowsReturned });
  }
  return { size, stats: Boolean(stats?.n), rows };
}

/** @param {Awaited<ReturnType<typeof queryPlans>>} plans */
function printPlans({ size, stats, rows }) {
  say(
    `### Query plans at ${size.toLocaleString('en-US')} uids (EXPLAIN QUERY PLAN against the bench's D1 after the sweep; page cursor at the middle; sqlite_stat1 ${stats ? 'present' : 'absent (no ANALYZE)'})`,
  );
  say();
  say('| query | runs | plan | rows read (returned) | flags |');
  say('|---|---|---|---:|---|');
  for (const row of rows) {
    const read = row.rowsRead === undefined ? 'not run (write)' : `${fmt(row.rowsRead, 0)} (${fmt(row.rowsReturned ?? 0, 0)})`;
    say(`| ${row.name} | ${row.when} | ${row.plan.map((p) => `\`${p}\``).join('<br>')} | ${read} | ${row.flags.join(', ') || 'ok'} |`);
  }
  say();
}

// ---- one sweep, inline ----
/**
 * @typedef {{ ms: number; summary: Summary }} Run
 * @typedef {{ mode: 'inline'; size: number; sweep: number; runs: Run[]; sweepRuns: number; extrapolated: boolean; sweepMs: number; checked: number;
 *   d1Queries: number; rowsRead: number; rowsWritten: number; fetches: number; queueSends: number; batches: number; overheadQueries: number }} InlineResult
 */
/**
 * @param {{ mf: Miniflare; url: string }} worker
 * @param {number} size
 * @param {number} sweepNo
 * @returns {Promise<InlineResult>}
 */
async function sweepInline({ mf, url }, size, sweepNo) {
  const completedBefore = (await status(url)).sweep.sweeps_completed;
  const perRun = MAX_BATCHES * BATCH_SIZE;
  const expectedRuns = Math.floor(size / perRun) + 1; // the run that finds the end of the registry ends the sweep
  const maxRuns = expectedRuns + 3;
  /** @type {Run[]} */
  const runs = [];
  const t0 = performance.now();
  let extrapolated = false;
  for (let i = 0; i < maxRuns; i++) {
    const { ms, outcome } = await triggerCron(mf);
    const { last_run: summary, sweep } = await status(url);
    if (!summary) throw new Error('the status route reports no last run');
    if (outcome !== 'ok' || summary.error) throw new Error(`cron run ${i + 1}: ${outcome} ${summary.error ?? ''}`);
    runs.push({ ms, summary });
    progress(
      `  inline run ${i + 1}: ${summary.checked} checked, ${summary.d1_queries} D1 queries, ${summary.fetches} fetches, ${duration(ms)}`,
    );
    if (sweep.sweeps_completed > completedBefore) break;
    const elapsed = performance.now() - t0;
    if (i + 1 >= SAMPLE_RUNS && (elapsed / (i + 1)) * expectedRuns > INLINE_MAX_MS) {
      extrapolated = true;
      progress(
        `  inline: ${expectedRuns} runs would take about ${duration((elapsed / (i + 1)) * expectedRuns)}: extrapolating from ${i + 1} runs`,
      );
      break;
    }
    if (i === maxRuns - 1) throw new Error(`inline: no full sweep after ${maxRuns} runs`);
  }
  const measured = {
    checked: sum(runs.map((r) => r.summary.checked)),
    d1Queries: sum(runs.map((r) => r.summary.d1_queries)),
    rowsRead: sum(runs.map((r) => r.summary.d1_rows_read)),
    rowsWritten: sum(runs.map((r) => r.summary.d1_rows_written)),
    fetches: sum(runs.map((r) => r.summary.fetches)),
    queueSends: sum(runs.map((r) => r.summary.queue_sends)),
    batches: sum(runs.map((r) => r.summary.batches)),
    ms: sum(runs.map((r) => r.ms)),
  };
  // Per batch: a page query and a markPresent; the rest of a run is fixed overhead (state, tasks,
  // rechecks, claim, save; countActive at a sweep's start; the empty page that ends a sweep).
  const overheadQueries = median(runs.map((r) => r.summary.d1_queries - 2 * r.summary.batches));
  if (!extrapolated)
    return {
      mode: 'inline',
      size,
      sweep: sweepNo,
      runs,
      sweepRuns: runs.length,
      extrapolated,
      sweepMs: measured.ms,
      ...measured,
      overheadQueries,
    };
  // Extrapolated: the sampled runs, then as many more runs like the later sampled ones (the first carries the
  // sweep's one-time countActive) as the registry needs; the run that finds the end (a few queries) is left out.
  const later = runs.slice(1);
  const more = Math.max(0, (size - measured.checked) / median(later.map((r) => r.summary.checked))); // runs' worth, fractional
  const like = (/** @type {(run: Run) => number} */ pick) => sum(runs.map(pick)) + median(later.map(pick)) * more;
  return {
    mode: 'inline',
    size,
    sweep: sweepNo,
    runs,
    sweepRuns: expectedRuns,
    extrapolated,
    sweepMs: like((r) => r.ms),
    checked: like((r) => r.summary.checked),
    d1Queries: like((r) => r.summary.d1_queries),
    rowsRead: like((r) => r.summary.d1_rows_read),
    rowsWritten: like((r) => r.summary.d1_rows_written),
    fetches: like((r) => r.summary.fetches),
    queueSends: like((r) => r.summary.queue_sends),
    batches: like((r) => r.summary.batches),
    overheadQueries,
  };
}

// ---- one sweep, queue mode ----
/**
 * @typedef {{ mode: 'queue'; size: number; sweep: number; cronRuns: Run[]; consumers: LoggedSummary[]; wallMs: number; cronMs: number; drainAfterCronMs: number;
 *   checked: number; d1Queries: number; rowsRead: number; rowsWritten: number; fetches: number; invocationMs: number; invocationDurationMs: number;
 *   messages: number; cron: { d1Queries: number; rowsRead: number; rowsWritten: number; queueSends: number; enqueued: number; maxRunQueries: number } }} QueueResult
 */
/**
 * @param {{ mf: Miniflare; url: string }} worker
 * @param {number} size
 * @param {number} sweepNo
 * @returns {Promise<QueueResult>}
 */
async function sweepQueue({ mf, url }, size, sweepNo) {
  const completedBefore = (await status(url)).sweep.sweeps_completed;
  const perRun = (QUEUE_BATCHES_PER_RUN ?? WORKER_DEFAULTS.queueBatchesPerRun) * BATCH_SIZE;
  const maxRuns = Math.floor(size / perRun) + 4;
  logged = [];
  const consumerSummaries = () => logged.filter((s) => s.mode === 'consumer');
  const checkedSoFar = () => sum(consumerSummaries().map((s) => s.checked));
  /** @type {Run[]} */
  const cronRuns = [];
  const t0 = performance.now();
  for (let i = 0; ; i++) {
    if (i >= maxRuns) throw new Error(`queue: the cron did not finish enqueuing after ${maxRuns} runs`);
    const { ms, outcome } = await triggerCron(mf);
    const { last_run: summary, sweep } = await status(url);
    if (!summary) throw new Error('the status route reports no last run');
    if (outcome !== 'ok' || summary.error) throw new Error(`queue cron run ${i + 1}: ${outcome} ${summary.error ?? ''}`);
    cronRuns.push({ ms, summary });
    progress(
      `  queue cron run ${i + 1}: ${summary.enqueued} enqueued in ${summary.queue_sends} sends, ${summary.d1_queries} D1 queries, ${duration(ms)}; consumers so far ${checkedSoFar()}`,
    );
    if (sweep.sweeps_completed > completedBefore) break;
  }
  const cronDoneAt = performance.now();
  const deadline = cronDoneAt + TIMEOUT_MS;
  let lastReport = cronDoneAt;
  while (checkedSoFar() < size) {
    const failed = consumerSummaries().find((s) => s.error);
    if (failed) throw new Error(`a consumer invocation failed: ${failed.error}`);
    if (performance.now() > deadline)
      throw new Error(`queue: consumers checked ${checkedSoFar()} of ${size} uids within ${duration(TIMEOUT_MS)}`);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      progress(`  queue: consumers checked ${checkedSoFar().toLocaleString('en-US')} of ${size.toLocaleString('en-US')}`);
    }
    await sleep(20);
  }
  const consumers = consumerSummaries();
  const last = /** @type {LoggedSummary} */ (consumers.reduce((a, b) => (b.arrivedAt > a.arrivedAt ? b : a)));
  const wallMs = last.arrivedAt - t0;
  const first = /** @type {LoggedSummary} */ (consumers.reduce((a, b) => (b.arrivedAt < a.arrivedAt ? b : a)));
  const consumerSpan = last.arrivedAt - (first.arrivedAt - first.duration_ms);
  const messages = sum(consumers.map((s) => s.batches));
  const cronSum = (/** @type {keyof Summary} */ key) => sum(cronRuns.map((r) => Number(r.summary[key])));
  return {
    mode: 'queue',
    size,
    sweep: sweepNo,
    cronRuns,
    consumers,
    wallMs,
    cronMs: cronDoneAt - t0,
    drainAfterCronMs: last.arrivedAt - cronDoneAt,
    checked: checkedSoFar(),
    d1Queries: sum(consumers.map((s) => s.d1_queries)),
    rowsRead: sum(consumers.map((s) => s.d1_rows_read)),
    rowsWritten: sum(consumers.map((s) => s.d1_rows_written)),
    fetches: sum(consumers.map((s) => s.fetches)),
    // One consumer at a time locally (Miniflare's broker dispatches a queue's batches serially): its wall time per invocation.
    invocationMs: consumerSpan / consumers.length,
    invocationDurationMs: median(consumers.map((s) => s.duration_ms)),
    messages,
    cron: {
      d1Queries: cronSum('d1_queries'),
      rowsRead: cronSum('d1_rows_read'),
      rowsWritten: cronSum('d1_rows_written'),
      queueSends: cronSum('queue_sends'),
      enqueued: cronSum('enqueued'),
      maxRunQueries: Math.max(...cronRuns.map((r) => r.summary.d1_queries)),
    },
  };
}

// ---- main ----
/** @type {Map<number, { import?: { ms: number; calls: number }; inline: InlineResult[]; queue: QueueResult[]; plans?: Awaited<ReturnType<typeof queryPlans>> }>} */
const results = new Map();
/** @type {{ mf: Miniflare } | undefined} */
let running;
let interrupted = false;
// Ctrl-C or SIGTERM: stopAllOnSignals (above) says so, runs it, then exits.
onStop(async () => {
  interrupted = true;
  progress('interrupted: cleaning up');
  await cleanup();
});
async function cleanup() {
  try {
    await running?.mf.dispose();
  } catch {
    // already gone
  }
  running = undefined;
  await firebase.close();
  await stream.close();
  rmSync(tmp, { recursive: true, force: true });
}

say(`# Reconciliation sweep benchmark`);
say(
  `(node ${process.version}, ${new Date().toISOString()}; sizes ${SIZES.map((s) => s.toLocaleString('en-US')).join(', ')}; modes ${MODES.join(', ')}; ` +
    `RECONCILE_BATCH_SIZE=${BATCH_SIZE}, bench RECONCILE_MAX_BATCHES=${MAX_BATCHES}, RECONCILE_QUEUE_BATCHES_PER_RUN=${QUEUE_BATCHES_PER_RUN ?? `${WORKER_DEFAULTS.queueBatchesPerRun} (default)`}, ` +
    `consumer max_batch_size=${CONSUMER_BATCH}, consumer ${CONSUMER === 'separate' ? 'in an isolate of its own' : "in the cron's Worker"}; ` +
    `uids ${UID_LENGTH} chars${ORDERED_UIDS ? ', in import order' : ', random'}${TENANT ? `, tenant ${TENANT}` : ', project-level'}; ${SWEEPS} sweep(s) per size and mode; ` +
    `${cpus().length} cores, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} at the start)`,
);
say();

let failed = false;
try {
  progress('building the bundle (wrangler deploy --dry-run)…');
  workerBundle();
  for (const size of SIZES) {
    if (interrupted) break;
    /** @type {NonNullable<ReturnType<typeof results.get>>} */
    const entry = { inline: [], queue: [] };
    results.set(size, entry);
    // The registry, imported once per size into a seed directory; each mode sweeps a fresh copy of it.
    const seed = join(tmp, `seed-${size}`);
    progress(`\n== ${size.toLocaleString('en-US')} uids: importing…`);
    {
      const worker = await startWorker({ persist: seed, queue: false });
      running = worker;
      await applyMigrations(worker.mf);
      const imported = await importUids(worker.url, size);
      const { registry } = await status(worker.url);
      if (imported.added !== size || registry.active !== size)
        throw new Error(`import: ${imported.added} added, ${registry.active} active, expected ${size}`);
      entry.import = imported;
      progress(`  imported ${size.toLocaleString('en-US')} uids in ${imported.calls} calls, ${duration(imported.ms)}`);
      await worker.mf.dispose();
      running = undefined;
    }
    for (const mode of MODES) {
      if (interrupted) break;
      const persist = join(tmp, `${mode}-${size}`);
      cpSync(seed, persist, { recursive: true });
      const worker = await startWorker({ persist, queue: mode === 'queue' });
      running = worker;
      otherEvents = [];
      logged = [];
      try {
        for (let sweepNo = 1; sweepNo <= SWEEPS; sweepNo++) {
          const before = {
            lookups: lookups.calls,
            lookedUp: lookups.uids,
            tenantCalls: lookups.tenantCalls,
            stream: stream.standIn.requests.length,
          };
          progress(`  ${mode}: sweep ${sweepNo}…`);
          const result = mode === 'inline' ? await sweepInline(worker, size, sweepNo) : await sweepQueue(worker, size, sweepNo);
          if (result.mode === 'inline') entry.inline.push(result);
          else entry.queue.push(result);
          const lookupCalls = lookups.calls - before.lookups;
          const lookedUp = lookups.uids - before.lookedUp;
          const streamCalls = stream.standIn.requests.length - before.stream;
          progress(
            `  ${mode} sweep ${sweepNo}: ${lookupCalls} lookups (${lookedUp} uids, at most ${lookups.maxUids} per call, ${lookups.tenantCalls - before.tenantCalls} with a tenantId), ${streamCalls} Stream calls`,
          );
          if (streamCalls !== 0) throw new Error(`${mode}: ${streamCalls} calls reached Stream; none expected (every uid is present)`);
          if (lookups.refused > 0) throw new Error(`the Firebase stand-in refused ${lookups.refused} requests`);
          if (TENANT && lookups.tenantCalls - before.tenantCalls !== lookupCalls)
            throw new Error('tenant uids were looked up without their tenantId');
          if (result.mode === 'inline' && result.extrapolated) break; // the sweep was sampled, not finished
          if (lookedUp !== size) throw new Error(`${mode} sweep ${sweepNo}: Firebase was asked about ${lookedUp} uids, expected ${size}`);
        }
        if (!entry.plans) entry.plans = await queryPlans(worker.mf, size);
      } catch (error) {
        progress(`  ${mode} failed: ${/** @type {Error} */ (error).message}`);
        for (const line of [...otherEvents, ...worker.log.lines].slice(0, 20)) progress(`    ${line}`);
        throw error;
      } finally {
        await worker.mf.dispose();
        running = undefined;
        rmSync(persist, { recursive: true, force: true });
      }
    }
    rmSync(seed, { recursive: true, force: true });
  }
} catch (error) {
  failed = true;
  say(`**The run stopped: ${/** @type {Error} */ (error).message}**`);
  say();
} finally {
  report();
  if (!interrupted) await cleanup();
  if (opts.markdown) writeFileSync(opts.markdown, `${out.join('\n')}\n`);
  if (failed) process.exitCode = 1;
}

/**
 * D1 rows per day at one sweep every `runsPerSweep` cron runs (96 runs a day), and what Paid bills over its included rows.
 * @param {number} size
 * @param {number} runsPerSweep
 * @param {number} readPerUid
 * @param {number} writtenPerUid
 */
function d1Usage(size, runsPerSweep, readPerUid, writtenPerUid) {
  const sweepsPerDay = (24 * 60) / WORKER_DEFAULTS.cronMinutes / runsPerSweep;
  const checkedPerDay = sweepsPerDay * size;
  const readsPerDay = checkedPerDay * readPerUid;
  const writesPerDay = checkedPerDay * writtenPerUid;
  const paidDollarsPerMonth =
    (Math.max(0, writesPerDay * 30 - D1_PRICING.paidWritesPerMonth) / 1e6) * D1_PRICING.paidWritePerMillion +
    (Math.max(0, readsPerDay * 30 - D1_PRICING.paidReadsPerMonth) / 1e6) * D1_PRICING.paidReadPerMillion;
  return { sweepsPerDay, checkedPerDay, readsPerDay, writesPerDay, paidDollarsPerMonth };
}

function report() {
  const sizes = [...results.keys()];
  /** @template {{ size: number; sweep: number }} R @param {R[]} list @param {R} r */
  const refOf = (list, r) => list.find((x) => x.sweep === r.sweep);
  const importRows = sizes.filter((s) => results.get(s)?.import);
  if (importRows.length > 0) {
    say('## Import (POST /v1/admin/registry/import, 1,000 uids per call, ' + `${IMPORT_CONCURRENCY} concurrent)`);
    say();
    say('| uids | calls | time | uids/s |');
    say('|---:|---:|---:|---:|');
    for (const size of importRows) {
      const imported = /** @type {{ ms: number; calls: number }} */ (results.get(size)?.import);
      say(`| ${fmt(size, 0)} | ${imported.calls} | ${duration(imported.ms)} | ${fmt(size / (imported.ms / 1000), 0)} |`);
    }
    say();
  }

  const inline = sizes.flatMap((s) => results.get(s)?.inline ?? []).sort((a, b) => a.sweep - b.sweep || a.size - b.size);
  /** @param {number} x a ratio to the smallest size; the target is ≤ 1.5× */
  const mark = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×${x <= 1.5 ? ' ✓' : ' ✗'}` : '–');
  /** @param {number} x */
  const times = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
  if (inline.length > 0) {
    say(
      `## Inline mode: one full sweep, bench setting RECONCILE_MAX_BATCHES=${MAX_BATCHES} (${fmt(MAX_BATCHES * BATCH_SIZE, 0)} uids per run)`,
    );
    say();
    say(
      "Sweep 1 follows the import (every alive_at still NULL); sweep 2 is the steady state. Ratios are per uid, against the smallest size's same sweep.",
    );
    say();
    say(
      '| uids | sweep | runs/sweep | D1 queries/run (full run) | fetches/run (full run) | D1 queries /100 uids | fetches /100 uids | D1 rows read /uid | D1 rows written /uid | sweep wall (local) | ms /100 uids (local) | full runs: wall min–max | rows read /uid × smallest | rows written /uid × smallest | queries /uid × smallest | ms /uid × smallest |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of inline) {
      const ref = refOf(inline, r);
      const full = r.runs.filter((run) => run.summary.batches >= MAX_BATCHES);
      const some = full.length > 0 ? full : r.runs;
      const per = (/** @type {number} */ value, /** @type {number | undefined} */ reference) =>
        ref && reference ? value / r.checked / (reference / ref.checked) : NaN;
      say(
        `| ${fmt(r.size, 0)}${r.extrapolated ? ` (extrapolated from ${r.runs.length} runs)` : ''} | ${r.sweep} | ${r.sweepRuns} | ${fmt(median(some.map((run) => run.summary.d1_queries)), 0)}${full.length === 0 ? ' (one partial run)' : ''} | ` +
          `${fmt(median(some.map((run) => run.summary.fetches)), 0)} | ${fmt((r.d1Queries / r.checked) * 100)} | ${fmt((r.fetches / r.checked) * 100)} | ${fmt(r.rowsRead / r.checked, 3)} | ${fmt(r.rowsWritten / r.checked, 3)} | ` +
          `${duration(r.sweepMs)} | ${fmt((r.sweepMs / r.checked) * 100)} | ${full.length > 0 ? `${duration(Math.min(...full.map((run) => run.ms)))}–${duration(Math.max(...full.map((run) => run.ms)))}` : '–'} | ${mark(per(r.rowsRead, ref?.rowsRead))} | ${times(per(r.rowsWritten, ref?.rowsWritten))} | ` +
          `${times(per(r.d1Queries, ref?.d1Queries))} | ${mark(per(r.sweepMs, ref?.sweepMs))} |`,
      );
    }
    say();
    const fullRunMs = inline.flatMap((r) => r.runs.filter((run) => run.summary.batches >= MAX_BATCHES).map((run) => run.ms));
    if (fullRunMs.length > 1) {
      say(
        `Wall times are local (in-process SQLite, a Firebase stand-in on 127.0.0.1, ${cpus().length} cores, load average ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')} at the end): ` +
          `identical ${fmt(MAX_BATCHES * BATCH_SIZE, 0)}-uid runs took ${duration(Math.min(...fullRunMs))} to ${duration(Math.max(...fullRunMs))} in this run, so read the ms ratios with that spread in mind; the D1 and fetch counts are exact.`,
      );
      say();
    }
    say('Per run (status route `last_run`; wall = the scheduled() call):');
    say();
    say(
      '| uids | sweep | run | checked | batches | D1 queries | D1 rows read | D1 rows written | fetches | wall (local) | sweep completed |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const r of inline) {
      for (const [i, run] of r.runs.entries()) {
        const s = run.summary;
        say(
          `| ${fmt(r.size, 0)} | ${r.sweep} | ${i + 1} | ${fmt(s.checked, 0)} | ${s.batches} | ${s.d1_queries} | ${fmt(s.d1_rows_read, 0)} | ${fmt(s.d1_rows_written, 0)} | ${s.fetches} | ${duration(run.ms)} | ${s.sweep_completed ? 'yes' : ''} |`,
        );
      }
    }
    say();

    // Projections: runs per sweep at the Worker's default (Free) and a Paid setting, one run per cron period.
    const overhead = Math.round(median(inline.map((r) => r.overheadQueries)));
    const perBatchQueries = 2;
    const budget = (/** @type {number} */ batches) => overhead + perBatchQueries * batches;
    say(
      `Projected on Cloudflare, one run per cron period (${WORKER_DEFAULTS.cronMinutes} min). A run is ${perBatchQueries} D1 queries and 1 fetch per lookup batch ` +
        `+ ${overhead} fixed queries (measured: state, open tasks, rechecks, countActive at a sweep's start, claim, save, the empty page that ends a sweep):`,
    );
    say();
    say(
      `| uids | Free default RECONCILE_MAX_BATCHES=${WORKER_DEFAULTS.maxBatches} (${fmt(WORKER_DEFAULTS.maxBatches * BATCH_SIZE, 0)} uids/run): runs/sweep | sweep period = worst-case deletion latency | ` +
        `Paid RECONCILE_MAX_BATCHES=${PAID_MAX_BATCHES} (${fmt(PAID_MAX_BATCHES * BATCH_SIZE, 0)} uids/run): runs/sweep | sweep period | bench setting ${MAX_BATCHES}: runs/sweep (measured) | sweep period |`,
    );
    say('|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of inline.filter((x) => x.sweep === 1)) {
      const runsAt = (/** @type {number} */ batches) => Math.floor(r.size / (batches * BATCH_SIZE)) + 1;
      const period = (/** @type {number} */ runs) => duration(runs * WORKER_DEFAULTS.cronMinutes * 60_000);
      say(
        `| ${fmt(r.size, 0)} | ${fmt(runsAt(WORKER_DEFAULTS.maxBatches), 0)} | ${period(runsAt(WORKER_DEFAULTS.maxBatches))} | ${fmt(runsAt(PAID_MAX_BATCHES), 0)} | ${period(runsAt(PAID_MAX_BATCHES))} | ${r.sweepRuns} | ${period(r.sweepRuns)} |`,
      );
    }
    say();
    say(
      `Per-run budgets: Free default ≈ ${budget(WORKER_DEFAULTS.maxBatches)} D1 queries and ${WORKER_DEFAULTS.maxBatches} fetches (Workers Free limits: 50 D1 queries, 50 subrequests, 10 ms CPU per invocation); ` +
        `Paid ${PAID_MAX_BATCHES} batches ≈ ${budget(PAID_MAX_BATCHES)} D1 queries and ${PAID_MAX_BATCHES} fetches (Paid limits: 1,000 D1 queries, 10,000 subrequests). ` +
        `The D1 query limit caps RECONCILE_MAX_BATCHES at about ${Math.floor((1000 - overhead) / perBatchQueries)} on Paid and ${Math.floor((50 - overhead) / perBatchQueries)} on Free; ` +
        `the bench setting (${MAX_BATCHES} batches ≈ ${budget(MAX_BATCHES)} queries)${budget(MAX_BATCHES) > 1000 ? " is over Paid's limit and is for the bench only" : " is within Paid's limit"}. ` +
        `CPU time is not measured (workerd's clock does not advance during computation).`,
    );
    say();
    const steady = new Map(inline.filter((r) => !r.extrapolated || r.sweep === 1).map((r) => [r.size, r]));
    say("D1 usage at the cron's pace (96 runs a day; rows per uid from the last sweep measured), against the D1 quotas:");
    say();
    say(
      `| uids | Free default: uids checked/day | rows written/day (Free quota ${fmt(D1_PRICING.freeWritesPerDay, 0)}) | rows read/day (Free quota ${fmt(D1_PRICING.freeReadsPerDay, 0)}) | Paid ${PAID_MAX_BATCHES} batches: rows written/month (${fmt(D1_PRICING.paidWritesPerMonth / 1e6, 0)} M included) | rows read/month (${fmt(D1_PRICING.paidReadsPerMonth / 1e9, 0)} B included) | D1 $/month over the included |`,
    );
    say('|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of steady.values()) {
      const usage = d1Usage(
        r.size,
        Math.floor(r.size / (WORKER_DEFAULTS.maxBatches * BATCH_SIZE)) + 1,
        r.rowsRead / r.checked,
        r.rowsWritten / r.checked,
      );
      const paid = d1Usage(
        r.size,
        Math.floor(r.size / (PAID_MAX_BATCHES * BATCH_SIZE)) + 1,
        r.rowsRead / r.checked,
        r.rowsWritten / r.checked,
      );
      const over = (/** @type {number} */ value, /** @type {number} */ quota) => `${fmt(value, 0)}${value > quota ? ' ✗ over' : ''}`;
      say(
        `| ${fmt(r.size, 0)} | ${fmt(usage.checkedPerDay, 0)} | ${over(usage.writesPerDay, D1_PRICING.freeWritesPerDay)} | ${over(usage.readsPerDay, D1_PRICING.freeReadsPerDay)} | ` +
          `${fmt(paid.writesPerDay * 30, 0)} | ${fmt(paid.readsPerDay * 30, 0)} | $${fmt(paid.paidDollarsPerMonth, 0)} |`,
      );
    }
    say();
  }

  const queue = sizes.flatMap((s) => results.get(s)?.queue ?? []).sort((a, b) => a.sweep - b.sweep || a.size - b.size);
  if (queue.length > 0) {
    const perRunUids = (QUEUE_BATCHES_PER_RUN ?? WORKER_DEFAULTS.queueBatchesPerRun) * BATCH_SIZE;
    say(
      `## Queue mode: the cron enqueues, consumers check (consumer max_batch_size=${CONSUMER_BATCH}; RECONCILE_QUEUE_BATCHES_PER_RUN=${QUEUE_BATCHES_PER_RUN ?? WORKER_DEFAULTS.queueBatchesPerRun} → ${fmt(perRunUids, 0)} uids per cron run)`,
    );
    say();
    say(
      "Crons triggered back to back locally; Miniflare runs one consumer invocation at a time per queue. Consumer figures are the sums of the consumers' logged `reconcile_summary` lines " +
        `(${CONSUMER === 'separate' ? 'the consumer runs in an isolate of its own, so its meter counts only its own work' : "the consumer shares the cron's isolate and meter: counts overlap while both run"}).`,
    );
    say();
    say(
      '| uids | sweep | cron runs | cron D1 queries/run (max) | cron rows read /uid | queue sends | messages | consumer invocations | consumer D1 queries /100 uids | consumer fetches /100 uids | consumer rows read /uid | consumer rows written /uid | first cron → all checked (local) | uids/s (local, 1 consumer) | ms per invocation (local) | consumer rows read /uid × smallest | ms /uid × smallest |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of queue) {
      const ref = refOf(queue, r);
      const per = (/** @type {number} */ value, /** @type {number | undefined} */ reference) =>
        ref && reference ? value / r.checked / (reference / ref.checked) : NaN;
      say(
        `| ${fmt(r.size, 0)} | ${r.sweep} | ${r.cronRuns.length} | ${r.cron.maxRunQueries}${r.cron.maxRunQueries > 50 ? " (over Free's 50)" : ''} | ${fmt(r.cron.rowsRead / r.size, 3)} | ${r.cron.queueSends} | ${fmt(r.messages, 0)} | ${fmt(r.consumers.length, 0)} | ` +
          `${fmt((r.d1Queries / r.checked) * 100)} | ${fmt((r.fetches / r.checked) * 100)} | ${fmt(r.rowsRead / r.checked, 3)} | ${fmt(r.rowsWritten / r.checked, 3)} | ` +
          `${duration(r.wallMs)} (crons ${duration(r.cronMs)}, then ${duration(r.drainAfterCronMs)}) | ${fmt(r.checked / (r.wallMs / 1000), 0)} | ${fmt(r.invocationMs, 1)} (logged duration_ms median ${fmt(r.invocationDurationMs, 0)}) | ` +
          `${mark(per(r.rowsRead, ref?.rowsRead))} | ${mark(per(r.wallMs, ref?.wallMs))} |`,
      );
    }
    say();
    say('Cron runs (status route `last_run`; wall = the scheduled() call):');
    say();
    say(
      '| uids | sweep | run | enqueued | queue sends | D1 queries | D1 rows read | D1 rows written | fetches | wall (local) | sweep completed |',
    );
    say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const r of queue) {
      for (const [i, run] of r.cronRuns.entries()) {
        const s = run.summary;
        say(
          `| ${fmt(r.size, 0)} | ${r.sweep} | ${i + 1} | ${fmt(s.enqueued, 0)} | ${s.queue_sends} | ${s.d1_queries} | ${fmt(s.d1_rows_read, 0)} | ${fmt(s.d1_rows_written, 0)} | ${s.fetches} | ${duration(run.ms)} | ${s.sweep_completed ? 'yes' : ''} |`,
        );
      }
    }
    say();
    // Projection: a cron every 15 minutes; consumers scale out to max_concurrency; an invocation does its
    // messages' lookups one after another, so a real Firebase round trip adds to the local time per message.
    say(
      `Projected on Cloudflare (last sweep measured per size): a cron every ${WORKER_DEFAULTS.cronMinutes} min enqueues up to ${fmt(perRunUids, 0)} uids; consumers at max_concurrency ${ASSUME_CONCURRENCY}; ` +
        `an invocation takes the measured local time + ${CONSUMER_BATCH} × ${ASSUME_FIREBASE_MS} ms (assumed accounts:lookup round trip; an invocation's lookups run one after another). ` +
        'D1 latency on Cloudflare is not modelled (local D1 is in-process SQLite).',
    );
    say();
    say(
      "| uids | cron runs/sweep | last uids enqueued | drain of one run's messages | last uids checked (after the sweep's first run) | sweep period ≈ worst-case deletion latency (a new sweep starts on the run after the one that finds the end) | queue operations/sweep (≈3 per message) |",
    );
    say('|---:|---:|---:|---:|---:|---:|---:|');
    const lastSweep = new Map(queue.map((r) => [r.size, r]));
    for (const r of lastSweep.values()) {
      const enqueueRuns = Math.ceil(r.size / perRunUids);
      const sweepRuns = Math.floor(r.size / perRunUids) + 1;
      const perInvocation = r.invocationMs + CONSUMER_BATCH * ASSUME_FIREBASE_MS;
      const messagesPerRun = Math.min(r.size, perRunUids) / BATCH_SIZE;
      const drain = (Math.ceil(messagesPerRun / CONSUMER_BATCH) / ASSUME_CONCURRENCY) * perInvocation;
      const lastEnqueue = (enqueueRuns - 1) * WORKER_DEFAULTS.cronMinutes * 60_000;
      say(
        `| ${fmt(r.size, 0)} | ${sweepRuns} | ${duration(lastEnqueue)} after the sweep's first run | ${duration(drain)} | ${duration(lastEnqueue + drain)} | ${duration(sweepRuns * WORKER_DEFAULTS.cronMinutes * 60_000)} | ${fmt(r.messages * 3, 0)} |`,
      );
    }
    say();
    say('D1 usage with a sweep every cron period × cron runs/sweep (cron + consumers; rows per uid from the last sweep measured):');
    say();
    say(
      `| uids | sweeps/day | rows written/month (${fmt(D1_PRICING.paidWritesPerMonth / 1e6, 0)} M included on Paid) | rows read/month (${fmt(D1_PRICING.paidReadsPerMonth / 1e9, 0)} B included) | D1 $/month over the included | queue operations/month |`,
    );
    say('|---:|---:|---:|---:|---:|---:|');
    for (const r of lastSweep.values()) {
      const sweepRuns = Math.floor(r.size / perRunUids) + 1;
      const usage = d1Usage(r.size, sweepRuns, (r.rowsRead + r.cron.rowsRead) / r.size, (r.rowsWritten + r.cron.rowsWritten) / r.size);
      say(
        `| ${fmt(r.size, 0)} | ${fmt(usage.sweepsPerDay, 1)} | ${fmt(usage.writesPerDay * 30, 0)} | ${fmt(usage.readsPerDay * 30, 0)} | $${fmt(usage.paidDollarsPerMonth, 0)} | ${fmt(r.messages * 3 * usage.sweepsPerDay * 30, 0)} |`,
      );
    }
    say();
    // The cron's largest sendBatch: one page's messages (≤ 5,000 uids), serialized as workerd sends them (V8 serialization).
    const perEntry = (/** @type {string} */ tenant) =>
      (serialize({ kind: 'check', uids: Array.from({ length: BATCH_SIZE }, () => ({ uid: 'x'.repeat(UID_LENGTH), tenant })) }).length -
        serialize({ kind: 'check', uids: [] }).length) /
      BATCH_SIZE;
    const messagesPerSend = Math.min(100, Math.ceil(Math.min(QUEUE_PAGE_UIDS, perRunUids) / BATCH_SIZE));
    const sendBytes = (/** @type {string} */ tenant) =>
      Math.round(
        messagesPerSend * (serialize({ kind: 'check', uids: [] }).length + BATCH_SIZE * perEntry(tenant) + MESSAGE_METADATA_BYTES),
      );
    const maxUidLength = Math.floor(UID_LENGTH + (SEND_BATCH_LIMIT_BYTES - sendBytes('')) / (messagesPerSend * BATCH_SIZE));
    say(
      `Largest sendBatch the cron makes: ${messagesPerSend} messages × ${BATCH_SIZE} uids ≈ ${fmt(sendBytes(TENANT), 0)} bytes with ${UID_LENGTH}-character uids${TENANT ? ` of tenant "${TENANT}"` : ', project-level'} ` +
        `(V8-serialized bodies + ${MESSAGE_METADATA_BYTES} bytes metadata each; Cloudflare's limit ${fmt(SEND_BATCH_LIMIT_BYTES, 0)} bytes ${sendBytes(TENANT) > SEND_BATCH_LIMIT_BYTES ? '✗ OVER' : '✓'}). ` +
        `Project-level uids longer than ${maxUidLength} characters, or a tenant id of ${Math.floor((SEND_BATCH_LIMIT_BYTES - sendBytes('')) / (messagesPerSend * BATCH_SIZE)) + 1}+ characters with ${UID_LENGTH}-character uids, go over; with tenant "tenant-1-abcde" it is ≈ ${fmt(sendBytes('tenant-1-abcde'), 0)} bytes.`,
    );
    say();
  }
  for (const size of sizes) {
    const plans = results.get(size)?.plans;
    if (plans) printPlans(plans);
  }
  if (inline.length > 0 || queue.length > 0) {
    say(
      'Limits used above: Workers Free 50 subrequests / 10 ms CPU, Paid 10,000 subrequests / 5 min CPU (developers.cloudflare.com/workers/platform/limits/); ' +
        'D1 queries per Worker invocation 50 Free / 1,000 Paid (developers.cloudflare.com/d1/platform/limits/); ' +
        'Queues: 250 concurrent consumer invocations, 5,000 messages/s per queue, 100 messages or 256 KB per sendBatch, consumer wall time 15 min (developers.cloudflare.com/queues/platform/limits/).',
    );
    say();
  }
}
