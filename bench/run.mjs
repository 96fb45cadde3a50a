#!/usr/bin/env node
// @ts-check
// `npm run bench`: this Worker against the alternatives, same machine, same run.
//
// Every contender answers POST /getStreamUserToken (callable protocol) with
// keys from the same local Google stand-in, under the same load: a pool of
// distinct users' ID tokens (rotated, so no contender can win by caching one
// token), fixed connections and duration, autocannon as the load generator.
// Each contender's answer is checked first; a wrong one is reported, not timed.
//
//   node bench/run.mjs [--duration 10] [--connections 50] [--rounds 3] [--users 500]
//                      [--only worker,floor,original,fawc] [--no-extras] [--markdown FILE]
import { execFile, execFileSync, fork } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import { build } from 'esbuild';
import { jwtVerify, SignJWT } from 'jose';
import { Miniflare } from 'miniflare';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { freePort, listenOnLoopback, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import { StreamStandIn, readNodeRequest, writeNodeResponse } from '../scripts/lib/stream-standin.mjs';
import { applyMigrations, COMPATIBILITY_DATE, FLOOR_SCRIPT } from './lib/harness.mjs';
import { answerHelp } from '../scripts/lib/cli.mjs';

answerHelp(import.meta.url);
// Ctrl-C or SIGTERM: stop what was started and remove the temp folder.
stopAllOnSignals();

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    users: { type: 'string', default: '500' },
    only: { type: 'string', default: 'worker,floor,original,fawc' },
    'no-extras': { type: 'boolean', default: false },
    markdown: { type: 'string' },
    generator: { type: 'string' },
  },
});
const DURATION = Number(opts.duration);
const CONNECTIONS = Number(opts.connections);
const ROUNDS = Number(opts.rounds);
const USERS = Number(opts.users);
const ONLY = new Set(opts.only.split(','));
/**
 * autocannon by default; `--generator wrk` (Debian's package) takes less CPU but, with one thread
 * and 50 connections, reported erratic tails here (floor p99 from 70 to 250 ms between rounds).
 */
const hasWrk = (() => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    return /** @type {{ status?: number }} */ (error).status === 1; // wrk --version exits 1 after printing its version
  }
})();
const GENERATOR = opts.generator ?? 'autocannon';
if (GENERATOR === 'wrk' && !hasWrk) throw new Error('--generator wrk: wrk is not installed (apt-get install wrk)');
const PROJECT_ID = 'bench-project';
const STREAM_API_KEY = 'benchkey';
const STREAM_API_SECRET = randomBytes(32).toString('hex');
const tmp = tempDir('bench-');
/** @type {string[]} */
const out = [];
const say = (line = '') => {
  console.log(line);
  out.push(line);
};
/** @param {number[]} values */
const median = (values) => /** @type {number} */ ([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]);

// ---- Google keys stand-in (JWK for the Workers, X.509 for firebase-admin) and Stream stand-in ----
const kid = `bench-${randomBytes(4).toString('hex')}`;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
writeFileSync(join(tmp, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
execFileSync('openssl', [
  'req',
  '-x509',
  '-new',
  '-key',
  join(tmp, 'key.pem'),
  '-subj',
  '/CN=securetoken.system.gserviceaccount.com',
  '-days',
  '2',
  '-sha256',
  '-out',
  join(tmp, 'cert.pem'),
]);
const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] };
const x509 = { [kid]: readFileSync(join(tmp, 'cert.pem'), 'utf8') };
const keyFetches = { jwk: 0, x509: 0 };
const stream = new StreamStandIn({ apiKey: STREAM_API_KEY, secret: STREAM_API_SECRET });
const standIn = createServer(async (req, res) => {
  const path = new URL(/** @type {string} */ (req.url), 'http://x').pathname;
  const keysHeaders = { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=21600, must-revalidate, no-transform' };
  if (path === '/jwk') {
    keyFetches.jwk++;
    return res.writeHead(200, keysHeaders).end(JSON.stringify(jwks));
  }
  if (path === '/x509') {
    keyFetches.x509++;
    return res.writeHead(200, keysHeaders).end(JSON.stringify(x509));
  }
  if (path.startsWith('/stream/')) {
    try {
      return writeNodeResponse(res, await stream.handle(await readNodeRequest(req, path.slice('/stream'.length))));
    } catch {
      // A request aborted mid-body (the load generator stopping while workerd had calls in flight).
      return res.destroy();
    }
  }
  res.writeHead(404).end();
});
const { url: standInUrl } = await listenOnLoopback(standIn);

// ---- ID tokens: distinct users, Firebase-shaped ----
/** @typedef {{ uid: string; idToken: string }} Token */
const iat = Math.floor(Date.now() / 1000);
const tokens = await Promise.all(
  Array.from({ length: USERS }, (_, i) => {
    const uid = `user${String(i).padStart(4, '0')}x${randomBytes(6).toString('hex')}`;
    return new SignJWT({ name: `User ${i}`, user_id: uid, auth_time: iat, firebase: { identities: {}, sign_in_provider: 'password' } })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(`https://securetoken.google.com/${PROJECT_ID}`)
      .setAudience(PROJECT_ID)
      .setSubject(uid)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(privateKey)
      .then((idToken) => ({ uid, idToken }));
  }),
);

// ---- contenders ----
/**
 * @typedef {{ url: string; stop: () => Promise<void> }} Started
 * @typedef {{ label: string; floor?: boolean; start: () => Promise<Started> }} Contender
 * @typedef {{ rps: number; p50: number; p99: number; errors: number }} Run one timed load: req/s, latency in ms, failed requests
 * @typedef {{ label: string; runs: (Run & { keyFetches: number })[]; wrong?: string }} ContenderResult
 * @typedef {{ label: string; wrong?: undefined; rps: number; p50: number; p99: number; errors: number }} TimedRow a contender's medians
 * @typedef {{ label: string; wrong: string; rps?: undefined; p50?: undefined; p99?: undefined; errors?: undefined }} WrongRow a contender not timed: why
 * @typedef {TimedRow | WrongRow} Row
 */
/** @param {Record<string, string>} [extra] */
const workerBindings = (extra = {}) => ({
  FIREBASE_PROJECT_ID: PROJECT_ID,
  STREAM_API_KEY,
  STREAM_API_SECRET,
  FIREBASE_JWKS_URL: `${standInUrl}/jwk`,
  STREAM_BASE_URL: `${standInUrl}/stream`,
  ...extra,
});

/** @type {string | undefined} */
let bundlePath;
function workerBundle() {
  bundlePath ??= buildBundle(join(tmp, 'worker')).path;
  return bundlePath;
}

/** @param {{ scriptPath: string; bindings?: Record<string, string>; d1Databases?: Record<string, string>; kvNamespaces?: string[] }} options */
async function miniflare(options) {
  // modulesRoot: the script's own folder (bundles live in a temp dir outside the working directory).
  const mf = new Miniflare({
    modules: true,
    modulesRoot: dirname(options.scriptPath),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ['nodejs_als'],
    host: '127.0.0.1',
    port: 0, // workerd picks a free one and Miniflare reports it: no window for another process to take it
    ...options,
  });
  const url = (await mf.ready).href.replace(/\/$/, '');
  return { url, stop: () => mf.dispose(), mf };
}

/** @param {Record<string, string>} [extraBindings] */
async function startWorker(extraBindings) {
  const started = await miniflare({
    scriptPath: workerBundle(),
    bindings: workerBindings(extraBindings),
    d1Databases: { DB: 'bench-registry' },
  });
  await applyMigrations(started.mf);
  return started;
}

/** @typedef {'worker' | 'floor' | 'original' | 'fawc'} ContenderName */
/** @type {Record<ContenderName, Contender>} */
const CONTENDERS = {
  worker: { label: 'this Worker (bundle as deployed, workerd)', start: () => startWorker() },
  floor: {
    label: 'floor (constant answer, workerd)',
    floor: true,
    start: () => miniflare({ scriptPath: FLOOR_SCRIPT }),
  },
  original: {
    label: 'original stack (firebase-admin + stream-chat, Node)',
    start: async () => {
      const port = await freePort();
      const child = fork(join(ROOT, 'bench', 'contenders', 'original.mjs'), {
        env: { ...process.env, PORT: String(port), PROJECT_ID, KEYS_URL: `${standInUrl}/x509`, STREAM_API_KEY, STREAM_API_SECRET },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      await new Promise((resolve, reject) => {
        child.once('message', resolve);
        child.once('exit', (code) => reject(new Error(`original stack exited with ${code}`)));
      });
      return { url: `http://127.0.0.1:${port}`, stop: async () => void child.kill() };
    },
  },
  fawc: {
    label: 'firebase-auth-cloudflare-workers + jose (workerd)',
    start: async () => {
      const outfile = join(tmp, 'fawc.js');
      await build({
        entryPoints: [join(ROOT, 'bench', 'contenders', 'fawc-worker.js')],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        conditions: ['worker', 'browser'],
        minify: true,
        outfile,
        logLevel: 'error',
      });
      return miniflare({
        scriptPath: outfile,
        bindings: { PROJECT_ID, KEYS_URL: `${standInUrl}/jwk`, STREAM_API_SECRET },
        kvNamespaces: ['KEYS'],
      });
    },
  },
};

/**
 * @param {string} url
 * @param {string} path
 * @param {string} idToken
 */
async function callable(url, path, idToken) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${idToken}`, 'Content-Type': 'application/json' },
    body: '{"data":null}',
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** A contender is timed only if it answers right: a Stream token for the caller, valid with the secret. */
/**
 * @param {string} url
 * @param {string} path
 * @returns {Promise<string | null>} what is wrong, null if nothing
 */
async function checkAnswers(url, path) {
  for (const { uid, idToken } of /** @type {typeof tokens} */ ([tokens[0], tokens[1]])) {
    const { status, body } = await callable(url, path, idToken);
    if (status !== 200 || typeof body?.result !== 'string') return `HTTP ${status} ${JSON.stringify(body)}`;
    try {
      const { payload } = await jwtVerify(body.result, new TextEncoder().encode(STREAM_API_SECRET), { algorithms: ['HS256'] });
      if (payload.user_id !== uid) return `token for ${payload.user_id}, expected ${uid}`;
    } catch (error) {
      return `token does not verify: ${/** @type {Error} */ (error).message}`;
    }
  }
  const forged = await callable(url, path, /** @type {Token} */ (tokens[0]).idToken.replace(/\.[^.]+$/, '.AAAA'));
  if (forged.status === 200) return 'accepted a token with a forged signature';
  return null;
}

/**
 * Warm-up (JIT, caches, connections) for a fixed time, then the timed run.
 * @param {string} url
 * @param {string} path
 * @returns {Promise<Run>}
 */
async function load(url, path) {
  await hammer(url, path, Math.min(2, DURATION));
  return hammer(url, path, DURATION);
}

/**
 * @param {string} url
 * @param {string} path
 * @param {number} duration seconds
 * @returns {Promise<Run>}
 */
async function hammer(url, path, duration) {
  return GENERATOR === 'wrk' ? hammerWithWrk(url, path, duration) : hammerWithAutocannon(url, path, duration);
}

/** @param {string} url @param {string} path @param {number} duration seconds @returns {Promise<Run>} */
async function hammerWithWrk(url, path, duration) {
  const tokensFile = join(tmp, 'tokens.txt');
  writeFileSync(tokensFile, tokens.map((t) => t.idToken).join('\n'));
  /** @type {string} */
  const output = await new Promise((resolve, reject) => {
    execFile(
      'wrk',
      [
        '-t',
        '1',
        '-c',
        String(CONNECTIONS),
        '-d',
        `${duration}s`,
        '--timeout',
        '10s',
        '-s',
        join(ROOT, 'bench', 'wrk-rotate.lua'),
        `${url}${path}`,
      ],
      { env: { ...process.env, TOKENS_FILE: tokensFile }, maxBuffer: 1 << 20 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
  });
  const line = /WRK_JSON(\{.*\})/.exec(output);
  if (!line) throw new Error(`wrk printed no figures:\n${output}`);
  const figures = JSON.parse(/** @type {string} */ (line[1]));
  const errors = figures.socket_errors + figures.non2xx;
  if (errors > 0) process.stderr.write(`  ${path}: ${figures.socket_errors} socket errors, ${figures.non2xx} non-2xx\n`);
  return {
    rps: figures.requests / (figures.duration_us / 1e6),
    p50: Math.round(figures.p50_us / 100) / 10,
    p99: Math.round(figures.p99_us / 100) / 10,
    errors,
  };
}

/** @param {string} url @param {string} path @param {number} duration seconds @returns {Promise<Run>} */
async function hammerWithAutocannon(url, path, duration) {
  let next = 0;
  const result = await autocannon({
    url: `${url}${path}`,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { 'content-type': 'application/json' },
    body: '{"data":null}',
    requests: [
      {
        setupRequest: (request) => {
          request.headers = {
            ...request.headers,
            authorization: `Bearer ${/** @type {Token} */ (tokens[next++ % tokens.length]).idToken}`,
          };
          return request;
        },
      },
    ],
  });
  const errors = result.errors + result.timeouts + result.non2xx;
  if (errors > 0) {
    const statuses = Object.entries(result.statusCodeStats ?? {})
      .map(([code, { count }]) => `${code}×${count}`)
      .join(' ');
    process.stderr.write(
      `  ${path}: ${result.errors} connection errors, ${result.timeouts} timeouts, non-2xx: ${result.non2xx} (${statuses})\n`,
    );
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors };
}

/**
 * @param {Row[]} rows
 * @param {number | undefined} floorRps
 * @param {number | undefined} floorP99
 */
function table(rows, floorRps, floorP99) {
  const lines = ['| contender | req/s | p50 ms | p99 ms | errors | × floor req/s |', '|---|---:|---:|---:|---:|---:|'];
  for (const row of rows) {
    if (row.wrong !== undefined) {
      lines.push(`| ${row.label} | – | – | – | answered wrongly: ${row.wrong} | – |`);
      continue;
    }
    const ratio = floorRps ? (row.rps / floorRps).toFixed(2) : '–';
    lines.push(`| ${row.label} | ${Math.round(row.rps)} | ${row.p50} | ${row.p99} | ${row.errors} | ${ratio} |`);
  }
  return lines;
}

// ---- main ----
const names = /** @type {ContenderName[]} */ (Object.keys(CONTENDERS)).filter((name) => ONLY.has(name));
const results = /** @type {Record<ContenderName, ContenderResult>} */ (
  Object.fromEntries(names.map((name) => [name, /** @type {ContenderResult} */ ({ label: CONTENDERS[name].label, runs: [] })]))
);
say(
  `# Benchmark: ${USERS} users' ID tokens rotated, ${CONNECTIONS} connections, ${DURATION} s per contender, ${ROUNDS} round(s), load by ${GENERATOR}; medians`,
);
say(`(node ${process.version}, ${new Date().toISOString()})`);
say();

try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of names) {
      const contender = CONTENDERS[name];
      const started = await contender.start();
      try {
        if (!contender.floor) {
          const wrong = await checkAnswers(started.url, '/getStreamUserToken');
          if (wrong) {
            results[name].wrong = wrong;
            continue;
          }
        }
        const before = { ...keyFetches };
        const run = /** @type {Run & { keyFetches: number }} */ (await load(started.url, '/getStreamUserToken'));
        run.keyFetches = keyFetches.jwk - before.jwk + (keyFetches.x509 - before.x509);
        results[name].runs.push(run);
        process.stderr.write(
          `round ${round} ${name}: ${Math.round(run.rps)} req/s, p99 ${run.p99} ms, key fetches during load ${run.keyFetches}\n`,
        );
      } finally {
        await started.stop();
      }
    }
  }

  /** @type {Row[]} */
  const rows = names.map((name) => {
    const { label, runs, wrong } = results[name];
    if (wrong || runs.length === 0) return { label, wrong: wrong ?? 'no runs' };
    return {
      label,
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      errors: runs.reduce((a, r) => a + r.errors, 0),
    };
  });
  const floorRow = rows[names.indexOf('floor')];
  say('## POST /getStreamUserToken');
  for (const line of table(rows, floorRow?.rps, floorRow?.p99)) say(line);
  say();
  const worker = rows[names.indexOf('worker')];
  if (worker && !worker.wrong) {
    // Median of the per-round ratios: contenders in one round share the machine's state of the moment,
    // which on a shared machine drifts far more between rounds than between neighbours.
    /** @param {ContenderName} name @param {'rps' | 'p99'} [field] */
    const ratio = (name, field = 'rps') => {
      const other = results[name];
      if (!other || other.wrong || other.runs.length === 0) return undefined;
      const rounds = Math.min(other.runs.length, results.worker.runs.length);
      return median(
        Array.from(
          { length: rounds },
          (_, i) => /** @type {Run} */ (results.worker.runs[i])[field] / Math.max(/** @type {Run} */ (other.runs[i])[field], 0.1),
        ),
      );
    };
    /** @param {string} text @param {number | undefined} value @param {number} goal */
    const target = (text, value, goal) =>
      say(`- ${text}: ${value === undefined ? 'not measured' : `${value.toFixed(2)} (target ${goal}) ${value >= goal ? '✓' : '✗'}`}`);
    say('Targets (median of per-round ratios):');
    target('this Worker ÷ floor, throughput', ratio('floor'), 0.7);
    target('this Worker ÷ firebase-auth-cloudflare-workers', ratio('fawc'), 2);
    target('this Worker ÷ original stack', ratio('original'), 3);
    const p99Ratio = ratio('floor', 'p99');
    if (p99Ratio !== undefined) say(`- this Worker p99 ÷ floor p99: ${p99Ratio.toFixed(2)} (target ≤ 2) ${p99Ratio <= 2 ? '✓' : '✗'}`);
    for (const name of names) {
      const runs = results[name].runs;
      if (runs.length > 1) say(`- ${name} req/s by round: ${runs.map((r) => Math.round(r.rps)).join(', ')}`);
    }
    const fetchesDuringLoad = results.worker.runs.map((r) => r.keyFetches);
    say(`- key fetches by this Worker during each timed run (steady state, after the check warmed it): ${fetchesDuringLoad.join(', ')}`);
    say();
  }

  if (!opts['no-extras'] && ONLY.has('worker')) await extras();
} finally {
  standIn.closeAllConnections();
  standIn.close();
  if (opts.markdown) writeFileSync(opts.markdown, `${out.join('\n')}\n`);
  rmSync(tmp, { recursive: true, force: true });
}

async function extras() {
  // Bundle size, as `wrangler deploy` would upload it.
  const code = readFileSync(workerBundle());
  say('## The Worker itself');
  say(
    `- bundle: ${(code.length / 1024).toFixed(1)} KiB raw, ${(gzipSync(code, { level: 9 }).length / 1024).toFixed(1)} KiB gzip (target ≤ 40 KiB gzip)`,
  );

  // Startup: wrangler's own startup profile, and cold starts measured against the floor.
  try {
    const profilePath = join(tmp, 'startup.cpuprofile');
    execFileSync(
      join(ROOT, 'node_modules', '.bin', 'wrangler'),
      ['check', 'startup', '--outfile', profilePath, '--config', join(ROOT, 'wrangler.toml')],
      { cwd: ROOT, stdio: 'ignore', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
    );
    /** @type {{ startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }} */
    const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
    const sampled = profile.timeDeltas.reduce((a, b) => a + b, 0) / 1000;
    say(
      `- startup CPU profile (wrangler check startup): ${((profile.endTime - profile.startTime) / 1000).toFixed(1)} ms profiled span, ${sampled.toFixed(1)} ms in ${profile.samples.length} samples (target ≤ 5 ms; see BENCHMARKS.md on what this span includes)`,
    );
  } catch (error) {
    say(`- startup CPU profile: wrangler check startup failed (${/** @type {Error} */ (error).message.split('\n')[0]})`);
  }
  /** @param {() => Promise<Started>} start */
  const coldStart = async (start) => {
    /** @type {number[]} */
    const times = [];
    for (let i = 0; i < 5; i++) {
      const started = await start();
      const t0 = performance.now();
      await callable(started.url, '/healthz-or-anything', 'x'); // first request: module evaluation + a 404/401
      times.push(performance.now() - t0);
      await started.stop();
    }
    return median(times);
  };
  const workerCold = await coldStart(() => startWorker());
  const floorCold = await coldStart(CONTENDERS.floor.start);
  say(
    `- first request after start (median of 5): this Worker ${workerCold.toFixed(1)} ms, floor ${floorCold.toFixed(1)} ms → module evaluation and first-request setup ≈ ${(workerCold - floorCold).toFixed(1)} ms`,
  );

  // Key fetches for a burst of cold concurrent requests.
  {
    const started = await startWorker();
    const before = keyFetches.jwk;
    const burst = await Promise.all(tokens.slice(0, 50).map(({ idToken }) => callable(started.url, '/getStreamUserToken', idToken)));
    say(
      `- 50 concurrent cold requests: ${burst.filter((r) => r.status === 200).length} answered 200, ${keyFetches.jwk - before} key fetch(es)`,
    );
    await started.stop();
  }

  // Per-operation costs inside workerd.
  {
    const outfile = join(tmp, 'ops.js');
    await build({
      entryPoints: [join(ROOT, 'bench', 'contenders', 'ops-worker.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      minify: true,
      outfile,
      logLevel: 'error',
      external: ['cloudflare:*'],
    });
    const started = await miniflare({ scriptPath: outfile, bindings: { KEYS_URL: `${standInUrl}/jwk`, PROJECT_ID } });
    // An App Check token signed with the same stand-in key (the ops Worker reads both kinds from one key set).
    const now = Math.floor(Date.now() / 1000);
    const appCheckToken = await new SignJWT({
      iss: 'https://firebaseappcheck.googleapis.com/123456789012',
      aud: ['projects/123456789012'],
      sub: '1:123456789012:web:abc',
    })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    /** @param {string} op @param {number} n */
    const timeRequest = async (op, n) => {
      const t0 = performance.now();
      const response = await fetch(`${started.url}/?op=${op}&n=${n}`, {
        headers: { Authorization: `Bearer ${/** @type {Token} */ (tokens[0]).idToken}`, 'X-Firebase-AppCheck': appCheckToken },
      });
      await response.text();
      return performance.now() - t0;
    };
    for (const [op, what] of /** @type {[string, string][]} */ ([
      ['verify', 'verify a Firebase ID token (RS256, cached key, all claim checks)'],
      ['sign', 'sign a Stream user token (HS256)'],
      ['appcheck', 'APP_CHECK=enforce: verify an App Check token (RS256, cached key, all claim checks)'],
      ['revoked-hit', 'FIREBASE_CHECK_REVOKED=true: the account check on a cache hit'],
      ['request', "a whole POST /getStreamUserToken through the Worker's fetch handler, without the network"],
    ])) {
      const n = 2000;
      /** @type {number[]} */
      const base = [];
      /** @type {number[]} */
      const full = [];
      for (let i = 0; i < 5; i++) {
        base.push(await timeRequest(op, 0));
        full.push(await timeRequest(op, n));
      }
      say(`- ${what}: ${(((median(full) - median(base)) / n) * 1000).toFixed(1)} µs per operation`);
    }
    await started.stop();
  }
  say();

  // The create route, with and without the per-isolate profile cache.
  say('## POST /createStreamUserAndGetToken (Stream stand-in on 127.0.0.1)');
  /** @type {(Run & { label: string; streamCalls: number })[]} */
  const createRows = [];
  for (const [label, seconds] of /** @type {[string, string][]} */ ([
    ['profile cache on (default)', '3600'],
    ['profile cache off (STREAM_PROFILE_CACHE_SECONDS=0)', '0'],
  ])) {
    /** @type {(Run & { streamCalls: number; warmCalls: number })[]} */
    const runs = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = await startWorker({ STREAM_PROFILE_CACHE_SECONDS: seconds });
      const streamCallsBefore = stream.requests.length;
      // Every user exists already (created once): what a returning user costs.
      for (const { idToken } of tokens) await callable(started.url, '/createStreamUserAndGetToken', idToken);
      const afterWarm = stream.requests.length;
      const run = /** @type {Run & { streamCalls: number; warmCalls: number }} */ (await load(started.url, '/createStreamUserAndGetToken'));
      run.streamCalls = stream.requests.length - afterWarm;
      run.warmCalls = afterWarm - streamCallsBefore;
      runs.push(run);
      await started.stop();
    }
    createRows.push({
      label,
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      errors: runs.reduce((a, r) => a + r.errors, 0),
      streamCalls: median(runs.map((r) => r.streamCalls)),
    });
  }
  say('| create route | req/s | p50 ms | p99 ms | errors | Stream calls during the timed run |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const row of createRows)
    say(`| ${row.label} | ${Math.round(row.rps)} | ${row.p50} | ${row.p99} | ${row.errors} | ${row.streamCalls} |`);
  say();
}
