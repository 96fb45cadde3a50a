// The Worker bench/d1-distance.mjs serves: this module in front of the project's real bundle (imported as
// ./worker.js), which hands the real Worker a D1 binding `DB` that models distance. D1 has one primary,
// possibly a continent away, and read replicas near the caller, reached through the Sessions API:
//   - a statement through `DB.prepare(...)`, `DB.batch` or `DB.exec` goes to the primary: it waits
//     PRIMARY_MS before it runs;
//   - in a session (`DB.withSession(constraint)`), reads before the session's first write go to a replica
//     (REPLICA_MS); a write, and everything after it in that session, goes to the primary (D1's sequential
//     consistency). 'first-primary' starts the session on the primary and keeps it there (D1 may serve
//     its later reads from a replica that has caught up: this model is the pessimistic one);
//   - a statement is a write unless its SQL starts with SELECT, EXPLAIN, PRAGMA, VALUES, or WITH without
//     INSERT/UPDATE/DELETE/REPLACE; a batch is a write when any statement in it is.
// Replica lag (LAG_MS > 0): the string values bound to writes on the primary (and the items of JSON arrays
// bound to them, as json_each statements take them) are remembered with their time; a replica read within
// LAG_MS of such a write does not see it: rows carrying the value are dropped, and a read bound to the
// value answers no rows. A stale replica can only say "not found", as in D1.
// Outage: every statement, batch and exec fails as D1 fails (an Error whose message starts `D1_ERROR:`),
// after the round trip to where it was sent.
//
// Counting, per request (AsyncLocalStorage: the request whose code issued the statement, also for work it
// handed to ctx.waitUntil): a statement is on the critical path when it was answered before the Worker's
// fetch handler resolved its Response (the answer waited for it), in the background otherwise. The wrapper
// wraps ctx.waitUntil to know when background work is over. Each batch statement counts as a statement, and
// each call as one round trip.
//
// Control (answered here, never by the real Worker): POST /__bench/reset, POST /__bench/outage with
// {"down": true|false}, GET /__bench/stats (counts, and `pending`: background work and statements still
// running). Every answer of the real Worker gets `x-bench-worker-ms`: the time inside the Worker, from the
// wrapper's fetch to the Response, and `x-bench-d1-ms`: how much of it D1 round trips on the critical path took
// (summed: trips the Worker ran at the same time count each), and `x-bench-d1-local-ms`: the part of that the
// local D1 itself took to run the statements, after the modelled distance; `x-bench-d1-model-ms`: the
// modelled distance of those trips alone.
import { AsyncLocalStorage } from 'node:async_hooks';
import worker from './worker.js';

export * from './worker.js';

const requestScope = new AsyncLocalStorage();
const sleep = (ms) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

const READ = /^(SELECT|EXPLAIN|PRAGMA|VALUES)\b/i;
/** @param {string} sql */
function isWrite(sql) {
  const text = sql
    .replace(/--[^\n]*\n?/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/^[\s(]+/, '');
  if (READ.test(text)) return false;
  if (/^WITH\b/i.test(text)) return /\b(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(text);
  return true;
}

function emptyCounts() {
  return {
    requests: 0,
    primary: { critical: 0, background: 0 },
    primaryTrips: { critical: 0, background: 0 },
    replica: { critical: 0, background: 0 },
    replicaTrips: { critical: 0, background: 0 },
    failed: 0,
    staleReads: 0,
    writes: 0,
  };
}

const state = {
  settings: { primaryMs: 80, replicaMs: 5, lagMs: 0 },
  down: false,
  counts: emptyCounts(),
  pendingBackground: 0,
  inflight: 0,
  /** @type {Map<string, number>} value bound to a write → when the primary wrote it */
  written: new Map(),
};

/** Values a statement binds, with the items of bound JSON arrays (json_each). */
function keysOf(values) {
  const keys = [];
  for (const value of values) {
    if (typeof value !== 'string') continue;
    keys.push(value);
    if (value.startsWith('[')) {
      try {
        const items = JSON.parse(value);
        if (Array.isArray(items)) for (const item of items) if (typeof item === 'string') keys.push(item);
      } catch {
        // not JSON: the string itself is the key
      }
    }
  }
  return keys;
}

function remember(values) {
  if (state.settings.lagMs <= 0) return;
  const now = Date.now();
  for (const key of keysOf(values)) state.written.set(key, now);
}

function lagging(key) {
  const at = state.written.get(key);
  return at !== undefined && Date.now() - at < state.settings.lagMs;
}

/**
 * Sends one round trip (`count` statements) to `where`, then runs `run`; counts it for the request in scope.
 * @param {'primary' | 'replica'} where
 * @param {number} count
 * @param {() => Promise<unknown>} run
 */
async function roundTrip(where, count, run) {
  const request = requestScope.getStore();
  const started = Date.now();
  let arrived = started;
  state.inflight++;
  try {
    await sleep(where === 'primary' ? state.settings.primaryMs : state.settings.replicaMs);
    arrived = Date.now();
    if (state.down) {
      state.counts.failed += count;
      throw new Error('D1_ERROR: Network connection lost.');
    }
    return await run();
  } finally {
    state.inflight--;
    const when = request && !request.responded ? 'critical' : 'background';
    if (when === 'critical') {
      request.d1Ms += Date.now() - started;
      request.localMs += Date.now() - arrived;
      request.modelMs += where === 'primary' ? state.settings.primaryMs : state.settings.replicaMs;
    }
    state.counts[where][when] += count;
    state.counts[where === 'primary' ? 'primaryTrips' : 'replicaTrips'][when]++;
  }
}

/** Where a statement (or batch) in `session` goes; undefined session = the database itself: the primary. */
function route(session, write) {
  if (!session) return 'primary';
  if (session.onPrimary) return 'primary';
  if (write || (session.constraint === 'first-primary' && !session.started)) {
    session.onPrimary = true;
    return 'primary';
  }
  session.started = true;
  return 'replica';
}

/** Rows a lagging replica does not have yet. */
function staleFilter(rows, values) {
  if (state.settings.lagMs <= 0) return rows;
  const asked = keysOf(values).filter(lagging);
  const kept = rows.filter((row) => !Object.values(row ?? {}).some((v) => typeof v === 'string' && lagging(v)));
  const answer = kept.length === rows.length && asked.length > 0 ? [] : kept;
  if (answer.length !== rows.length) state.counts.staleReads++;
  return answer;
}

const REAL = Symbol('real statement');

class Statement {
  constructor(real, sql, values, session) {
    this[REAL] = real;
    this.sql = sql;
    this.values = values;
    this.session = session;
  }

  bind(...values) {
    return new Statement(this[REAL].bind(...values), this.sql, values, this.session);
  }

  /** Runs the statement where it goes; `stale` is what a lagging replica answers instead of `result`. */
  async #execute(run, stale) {
    const write = isWrite(this.sql);
    const where = route(this.session, write);
    return roundTrip(where, 1, async () => {
      const result = await run();
      if (write) {
        state.counts.writes++;
        remember(this.values);
      }
      return where === 'replica' ? stale(result) : result;
    });
  }

  async first(column) {
    const rows = await this.#execute(
      async () => (await this[REAL].all()).results ?? [],
      (all) => staleFilter(all, this.values),
    );
    const row = rows[0];
    if (row === undefined) return null;
    return column === undefined ? row : row[column];
  }

  all() {
    return this.#execute(
      () => this[REAL].all(),
      (result) => ({ ...result, results: staleFilter(result.results ?? [], this.values) }),
    );
  }

  run() {
    return this.#execute(
      () => this[REAL].run(),
      (result) => ({ ...result, results: staleFilter(result.results ?? [], this.values) }),
    );
  }

  raw(options) {
    return this.#execute(
      () => this[REAL].raw(options),
      (rows) => (options?.columnNames ? [rows[0], ...staleFilter(rows.slice(1), this.values)] : staleFilter(rows, this.values)),
    );
  }
}

const unwrap = (statement) => (statement && statement[REAL] ? statement[REAL] : statement);

async function batch(real, session, statements) {
  const write = statements.some((s) => isWrite(s.sql ?? ''));
  const where = route(session, write);
  return roundTrip(where, statements.length, async () => {
    const results = await real.batch(statements.map(unwrap));
    if (write) {
      state.counts.writes += statements.length;
      for (const s of statements) if (s.values) remember(s.values);
    }
    if (where === 'primary') return results;
    return results.map((result, i) => ({ ...result, results: staleFilter(result.results ?? [], statements[i].values ?? []) }));
  });
}

class Session {
  constructor(real, constraint) {
    this.real = real;
    this.constraint = constraint ?? 'first-unconstrained';
    this.started = false;
    this.onPrimary = false;
  }

  prepare(sql) {
    return new Statement(this.real.prepare(sql), sql, [], this);
  }

  batch(statements) {
    return batch(this.real, this, statements);
  }

  getBookmark() {
    return typeof this.real.getBookmark === 'function' ? this.real.getBookmark() : null;
  }
}

class DistantD1 {
  constructor(real) {
    this.real = real;
  }

  prepare(sql) {
    return new Statement(this.real.prepare(sql), sql, [], undefined);
  }

  batch(statements) {
    return batch(this.real, undefined, statements);
  }

  exec(sql) {
    const count = sql.split(';').filter((s) => s.trim() !== '').length || 1;
    return roundTrip('primary', count, () => this.real.exec(sql));
  }

  withSession(constraint) {
    // Local D1 has sessions too; where it has not, the database itself runs the statements.
    const real = typeof this.real.withSession === 'function' ? this.real.withSession(constraint) : this.real;
    return new Session(real, constraint);
  }

  dump() {
    return this.real.dump();
  }
}

/** One env per isolate, as the platform hands the Worker one: the real Worker caches what it builds per env object. */
const envs = new WeakMap();
function distantEnv(env) {
  let wrapped = envs.get(env);
  if (!wrapped) {
    const { BENCH_D1, BENCH_SETTINGS, ...rest } = env;
    if (BENCH_SETTINGS) Object.assign(state.settings, JSON.parse(BENCH_SETTINGS));
    wrapped = { ...rest, DB: new DistantD1(BENCH_D1) };
    envs.set(env, wrapped);
  }
  return wrapped;
}

function trackedContext(ctx) {
  const waitUntil = (promise) => {
    state.pendingBackground++;
    const done = Promise.resolve(promise).finally(() => state.pendingBackground--);
    ctx.waitUntil(done.catch(() => undefined));
  };
  return new Proxy(ctx, {
    get(target, key) {
      if (key === 'waitUntil') return waitUntil;
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function control(request, env) {
  distantEnv(env);
  const path = new URL(request.url).pathname;
  if (path === '/__bench/reset' && request.method === 'POST') {
    state.counts = emptyCounts();
    return Response.json({ ok: true });
  }
  if (path === '/__bench/outage' && request.method === 'POST') {
    state.down = Boolean((await request.json()).down);
    return Response.json({ down: state.down });
  }
  if (path === '/__bench/stats') {
    return Response.json({
      counts: state.counts,
      pending: state.pendingBackground + state.inflight,
      down: state.down,
      settings: state.settings,
    });
  }
  return new Response('unknown bench control path', { status: 404 });
}

export default {
  ...worker,
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname.startsWith('/__bench/')) return control(request, env);
    const record = { responded: false, d1Ms: 0, localMs: 0, modelMs: 0 };
    state.counts.requests++;
    const started = Date.now();
    const response = await requestScope.run(record, () => worker.fetch(request, distantEnv(env), trackedContext(ctx)));
    record.responded = true;
    const answer = new Response(response.body, response);
    answer.headers.set('x-bench-worker-ms', String(Date.now() - started));
    answer.headers.set('x-bench-d1-ms', String(record.d1Ms));
    answer.headers.set('x-bench-d1-local-ms', String(record.localMs));
    answer.headers.set('x-bench-d1-model-ms', String(record.modelMs));
    return answer;
  },
};
