#!/usr/bin/env node
// @ts-check
// CPU profile of the Worker's hot path inside workerd, under the V8 inspector; prints
// the functions with the most self time.
//   node bench/profile.mjs [N] [request|verify|sign]   N iterations in one request (ops-worker.ts)
//   node bench/profile.mjs [seconds] http              the deployable bundle under autocannon load
//   node bench/profile.mjs 1 first                     the deployable bundle's first request (a fresh isolate's POST /v1/token)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { SignJWT } from 'jose';
import { Miniflare } from 'miniflare';
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { freePort, listenOnLoopback, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import { applyMigrations } from './lib/harness.mjs';
import { answerHelp } from '../scripts/lib/cli.mjs';

answerHelp(import.meta.url);
// Ctrl-C or SIGTERM: stop what was started and remove the temp folder.
stopAllOnSignals();

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 20000);
const OP = process.argv[3] ?? 'request';
const tmp = tempDir('profile-');
const kid = 'profile-key';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keys = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=3600' });
  res.end(JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] }));
});
const { url: keysOrigin } = await listenOnLoopback(keys);
const iat = Math.floor(Date.now() / 1000);
/** @param {string} uid */
const mint = (uid) =>
  new SignJWT({ name: 'P' })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setIssuer('https://securetoken.google.com/profile-project')
    .setAudience('profile-project')
    .setSubject(uid)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 3600)
    .sign(privateKey);
const idToken = await mint('profile-user');
const keysUrl = `${keysOrigin}/`;

const inspectorPort = await freePort();
// http: the Worker's entry point bundled like wrangler does, but not minified, so the profile names functions.
// Otherwise: the per-operation worker (bench/contenders/ops-worker.ts).
const http = OP === 'http' || OP === 'first';
const outfile = join(tmp, 'profiled.js');
await build({
  entryPoints: [join(ROOT, ...(http ? ['src', 'index.ts'] : ['bench', 'contenders', 'ops-worker.ts']))],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  conditions: ['workerd', 'worker', 'browser'],
  outfile,
  logLevel: 'error',
  external: ['cloudflare:*', 'node:async_hooks'], // workerd's own modules
});
const mf = new Miniflare({
  modules: true,
  modulesRoot: tmp,
  scriptPath: outfile,
  compatibilityDate: '2026-04-20',
  compatibilityFlags: ['nodejs_als'], // as wrangler.toml
  inspectorPort,
  ...(http
    ? {
        d1Databases: { DB: 'profile-db' },
        bindings: { FIREBASE_PROJECT_ID: 'profile-project', STREAM_API_KEY: 'k', STREAM_API_SECRET: 's', FIREBASE_JWKS_URL: keysUrl },
      }
    : { bindings: { KEYS_URL: keysUrl, PROJECT_ID: 'profile-project' } }),
});
const url = await mf.ready;
if (http) {
  await applyMigrations(mf);
}
const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve) => ws.once('open', resolve));
let id = 0;
/** @type {Map<number, (result: any) => void>} */
const pending = new Map();
ws.on('message', (data) => {
  const message = JSON.parse(String(data));
  pending.get(message.id)?.(message.result);
});
/**
 * One DevTools protocol call; resolves to its result.
 * @param {string} method
 * @param {Record<string, unknown>} [params]
 * @returns {Promise<any>}
 */
const send = (method, params = {}) =>
  new Promise((resolve) => {
    pending.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
let statuses = /** @type {{ '2xx': number; non2xx: number; errors: number; timeouts: number; rps: number }} */ ({});
const tokens = http ? await Promise.all(Array.from({ length: 200 }, (_, i) => mint(`user-${i}`))) : [];
/** @param {number} seconds */
const load = async (seconds) => {
  let next = 0;
  const result = await autocannon({
    url: `${url}getStreamUserToken`,
    method: 'POST',
    connections: 50,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body: '{"data":null}',
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          headers: { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` },
        }),
      },
    ],
  });
  statuses = {
    '2xx': result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: result.requests.average,
  };
};
/** @param {number} n */
const run = (n) => fetch(`${url}?op=${OP}&n=${n}`, { headers: { Authorization: `Bearer ${idToken}` } }).then((r) => r.text());
if (OP === 'http') await load(2);
else if (OP !== 'first') await run(200); // warm
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 100 });
await send('Profiler.start');
/** @type {number | undefined} */
let wallMs;
if (OP === 'http') await load(N);
else if (OP === 'first') {
  const t0 = performance.now();
  const answer = await fetch(`${url}v1/token`, { method: 'POST', headers: { Authorization: `Bearer ${idToken}` } });
  await answer.text();
  wallMs = performance.now() - t0;
  console.log(`first POST /v1/token: ${answer.status}, ${wallMs.toFixed(1)} ms wall (under the profiler)`);
} else await run(N);
/** @type {{ profile: { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] } }} */
const { profile } = await send('Profiler.stop');
if (OP === 'http') console.log(JSON.stringify(statuses));
writeFileSync(join(ROOT, '.bench-profile.cpuprofile'), JSON.stringify(profile));

/** @type {Map<string, number>} */
const byFunction = new Map();
const interval = new Map(profile.samples.map((s, i) => [i, profile.timeDeltas[i]]));
/** @type {Map<number, number>} */
const self = new Map();
profile.samples.forEach((nodeId, i) => self.set(nodeId, (self.get(nodeId) ?? 0) + (interval.get(i) ?? 0)));
let total = 0;
for (const node of profile.nodes) {
  const t = self.get(node.id) ?? 0;
  total += t;
  const { functionName, url: file, lineNumber } = node.callFrame;
  const name = `${functionName || '(anonymous)'} ${file.split('/').pop()}:${lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + t);
}
const per = OP === 'http' ? N * statuses.rps : OP === 'first' ? 1 : N;
console.log(
  `${OP} × ${Math.round(per)}: ${(total / 1000).toFixed(0)} ms sampled, ${(total / per).toFixed(1)} µs per request/iteration; top self time:`,
);
for (const [name, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${(t / per).toFixed(1).padStart(6)} µs  ${name}`);
}
ws.close();
await mf.dispose();
keys.close();
rmSync(tmp, { recursive: true, force: true });
