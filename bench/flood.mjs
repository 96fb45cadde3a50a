#!/usr/bin/env node
// @ts-check
// A flood of sign-ups from one address, each a new anonymous uid (anonymous sign-in makes accounts
// free), while real users from other addresses sign up at a normal pace, against a Stream stand-in
// that enforces Stream's per-minute write limits (POST /users 300, PATCH /users 300, GET /users 1,000).
// Measured per case: how many of the real users got a token, how many of the attacker's requests
// reached Stream, and Stream's write requests spent. Cases:
//   no address limiter   STREAM_WRITE_LIMITER only (per uid: useless against new uids)
//   address limiter      STREAM_WRITE_IP_LIMITER as wrangler.toml sets it (120 / 60 s per address)
//   token-only           the address limiter and FIREBASE_ANONYMOUS=token-only
// The Worker is the bundle `wrangler deploy --dry-run` builds, served by Miniflare's API; the
// addresses are CF-Connecting-IP, as Cloudflare's edge sets it.
//
//   node bench/flood.mjs [--seconds 60] [--attack-rate 50] [--user-rate 2]
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBundle } from '../scripts/check-bundle.mjs';
import { listenOnLoopback, stopAllOnSignals, tempDir } from '../scripts/lib/process.mjs';
import { readNodeRequest, StreamStandIn, writeNodeResponse } from '../scripts/lib/stream-standin.mjs';
import { applyMigrations, deployedBindings, mintIdToken, sleep, startMiniflare, testSigningKey } from './lib/harness.mjs';
import { answerHelp } from '../scripts/lib/cli.mjs';

answerHelp(import.meta.url);
// Ctrl-C or SIGTERM: stop what was started and remove the temp folder.
stopAllOnSignals();

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    'attack-rate': { type: 'string', default: '50' },
    'user-rate': { type: 'string', default: '2' },
  },
});
const SECONDS = Number(opts.seconds);
const ATTACK_RATE = Number(opts['attack-rate']);
const USER_RATE = Number(opts['user-rate']);
const PROJECT_ID = 'bench-project';
const STREAM_API_KEY = 'benchkey';
const SECRET = randomBytes(24).toString('hex');
const { kid, privateKey, jwks } = testSigningKey();

const outdir = tempDir('flood-');
console.error('building the bundle (wrangler deploy --dry-run)…');
const bundle = buildBundle(outdir).path;
const deployed = await deployedBindings();
const google = createServer((_req, res) =>
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=3600' }).end(JSON.stringify(jwks)),
);
const { url: googleUrl, close: closeGoogle } = await listenOnLoopback(google, 0);

/** @param {{ label: string; ipLimiter: boolean; anonymous: string }} scenario */
async function run(scenario) {
  const stream = new StreamStandIn({
    apiKey: STREAM_API_KEY,
    secret: SECRET,
    limits: { perMinute: { 'POST /users': 300, 'PATCH /users': 300, 'GET /users': 1000 }, window: 'rolling' },
  });
  const streamServer = createServer(async (req, res) => writeNodeResponse(res, await stream.handle(await readNodeRequest(req))));
  const { url: streamUrl, close: closeStream } = await listenOnLoopback(streamServer, 0);
  const ratelimits = { ...deployed.ratelimits };
  if (!scenario.ipLimiter) delete ratelimits.STREAM_WRITE_IP_LIMITER;
  const { mf, url } = await startMiniflare({
    scriptPath: bundle,
    bindings: {
      FIREBASE_PROJECT_ID: PROJECT_ID,
      STREAM_API_KEY,
      STREAM_API_SECRET: SECRET,
      STREAM_BASE_URL: streamUrl,
      FIREBASE_JWKS_URL: googleUrl,
      FIREBASE_ANONYMOUS: scenario.anonymous,
    },
    durableObjects: deployed.durableObjects,
    ratelimits,
    d1Databases: { DB: `flood-${randomBytes(3).toString('hex')}` },
  });
  await applyMigrations(mf);
  const counts = { attack: { sent: 0, ok: 0, limited: 0, other: 0 }, users: { sent: 0, ok: 0, failed: 0, retries: 0 } };
  /** @type {number[]} */
  const userLatency = [];
  /** @param {string} ip @param {boolean} anonymous @param {string} uid */
  const signUp = async (ip, anonymous, uid) => {
    const idToken = await mintIdToken({
      privateKey,
      kid,
      projectId: PROJECT_ID,
      uid,
      name: anonymous ? '' : `User ${uid}`,
      provider: anonymous ? 'anonymous' : 'password',
    });
    return fetch(`${url}/v1/users/me`, { method: 'POST', headers: { Authorization: `Bearer ${idToken}`, 'CF-Connecting-IP': ip } });
  };
  const inflight = [];
  const started = Date.now();
  let attackers = 0;
  let users = 0;
  while (Date.now() - started < SECONDS * 1000) {
    const elapsed = (Date.now() - started) / 1000;
    while (attackers < elapsed * ATTACK_RATE) {
      const uid = `anon${attackers++}x${randomBytes(4).toString('hex')}`;
      counts.attack.sent++;
      inflight.push(
        signUp('203.0.113.66', true, uid).then(async (response) => {
          await response.arrayBuffer();
          if (response.status === 200) counts.attack.ok++;
          else if (response.status === 429 || response.status === 503) counts.attack.limited++;
          else counts.attack.other++;
        }),
      );
    }
    while (users < elapsed * USER_RATE) {
      const n = users++;
      const ip = `198.51.100.${(n % 200) + 1}`;
      const uid = `user${n}x${randomBytes(4).toString('hex')}`;
      counts.users.sent++;
      inflight.push(
        (async () => {
          const t0 = Date.now();
          // A real app retries after Retry-After, within 30 s.
          for (;;) {
            const response = await signUp(ip, false, uid);
            await response.arrayBuffer();
            if (response.status === 200) {
              counts.users.ok++;
              userLatency.push(Date.now() - t0);
              return;
            }
            const wait = Number(response.headers.get('Retry-After') ?? '1') * 1000;
            if (Date.now() - t0 + wait > 30_000) {
              counts.users.failed++;
              return;
            }
            counts.users.retries++;
            await sleep(wait);
          }
        })(),
      );
    }
    await sleep(20);
  }
  await Promise.all(inflight);
  const writes = stream.requests.filter((r) => r.method === 'POST' || r.method === 'PATCH').length;
  await mf.dispose();
  await closeStream();
  userLatency.sort((a, b) => a - b);
  const p = (/** @type {number} */ q) => userLatency[Math.min(userLatency.length - 1, Math.floor(q * userLatency.length))] ?? NaN;
  return { ...scenario, counts, writes, p50: p(0.5), p99: p(0.99) };
}

const results = [];
for (const scenario of [
  { label: 'no address limiter', ipLimiter: false, anonymous: 'allow' },
  { label: 'address limiter (wrangler.toml)', ipLimiter: true, anonymous: 'allow' },
  { label: 'address limiter + FIREBASE_ANONYMOUS=token-only', ipLimiter: true, anonymous: 'token-only' },
]) {
  console.error(`running: ${scenario.label} (${SECONDS} s)…`);
  results.push(await run(scenario));
}
await closeGoogle();
rmSync(outdir, { recursive: true, force: true });

console.log(
  `# A flood of anonymous sign-ups from one address (${ATTACK_RATE}/s) while real users sign up from others (${USER_RATE}/s), ${SECONDS} s`,
);
console.log(
  `(node ${process.version}, ${new Date().toISOString()}; Stream stand-in with Stream's per-minute write limits, rolling window)\n`,
);
console.log(
  '| case | real users with a token | their p50 / p99 ms (retries included) | attacker requests answered 200 | attacker refused (429/503) | Stream write requests |',
);
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.label} | ${r.counts.users.ok} of ${r.counts.users.sent} | ${r.p50} / ${r.p99} | ${r.counts.attack.ok} of ${r.counts.attack.sent} | ${r.counts.attack.limited} | ${r.writes} |`,
  );
}
