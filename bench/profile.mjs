#!/usr/bin/env node
// CPU profile of the Worker's hot path inside workerd: runs POST /getStreamUserToken
// N times in one request (bench/contenders/ops-worker.ts) under the V8 inspector and
// prints the functions with the most self time. `node bench/profile.mjs [N]`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { SignJWT } from 'jose';
import { Miniflare } from 'miniflare';
import WebSocket from 'ws';
import { freePort } from '../scripts/lib/auth-emulator.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 20000);
const OP = process.argv[3] ?? 'request';
const tmp = mkdtempSync(join(tmpdir(), 'profile-'));
const kid = 'profile-key';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keys = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=3600' });
  res.end(JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] }));
});
await new Promise((resolve) => keys.listen(0, '127.0.0.1', resolve));
const iat = Math.floor(Date.now() / 1000);
const idToken = await new SignJWT({ name: 'P' })
  .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
  .setIssuer('https://securetoken.google.com/profile-project')
  .setAudience('profile-project')
  .setSubject('profile-user')
  .setIssuedAt(iat)
  .setExpirationTime(iat + 3600)
  .sign(privateKey);

const outfile = join(tmp, 'ops.js');
await build({ entryPoints: [join(ROOT, 'bench', 'contenders', 'ops-worker.ts')], bundle: true, format: 'esm', platform: 'browser', minify: false, outfile, logLevel: 'error' });
const inspectorPort = await freePort();
const mf = new Miniflare({
  modules: true,
  modulesRoot: tmp,
  scriptPath: outfile,
  compatibilityDate: '2026-04-20',
  inspectorPort,
  bindings: { KEYS_URL: `http://127.0.0.1:${keys.address().port}/`, PROJECT_ID: 'profile-project' },
});
const url = await mf.ready;
const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve) => ws.once('open', resolve));
let id = 0;
const pending = new Map();
ws.on('message', (data) => {
  const message = JSON.parse(String(data));
  pending.get(message.id)?.(message.result);
});
const send = (method, params = {}) => new Promise((resolve) => {
  pending.set(++id, resolve);
  ws.send(JSON.stringify({ id, method, params }));
});
const run = (n) => fetch(`${url}?op=${OP}&n=${n}`, { headers: { Authorization: `Bearer ${idToken}` } }).then((r) => r.text());
await run(200); // warm
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 50 });
await send('Profiler.start');
await run(N);
const { profile } = await send('Profiler.stop');
writeFileSync(join(ROOT, '.bench-profile.cpuprofile'), JSON.stringify(profile));

const byFunction = new Map();
const interval = new Map(profile.samples.map((s, i) => [i, profile.timeDeltas[i]]));
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
console.log(`${OP} × ${N}: ${(total / 1000).toFixed(0)} ms sampled, ${(total / N).toFixed(1)} µs per iteration; top self time:`);
for (const [name, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${(t / N).toFixed(1).padStart(6)} µs  ${name}`);
}
ws.close();
await mf.dispose();
keys.close();
rmSync(tmp, { recursive: true, force: true });
