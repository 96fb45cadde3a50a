#!/usr/bin/env node
// @ts-check
// `npm run demo`: the seed's whole flow, scripted, against what `npm start` runs
// (or a fresh stack of its own when none is running, or with --fresh):
// sign up → createStreamUserAndGetToken → sign in → getStreamUserToken →
// POST /v1/token → revokeStreamUserToken → delete the Firebase account →
// cron → the Stream user is gone. Every step prints what it did and what came
// back (tokens shortened) and is checked; any wrong result exits non-zero.
// Ctrl-C stops what it started and removes its temporary folders.
//
//   npm run demo [-- --fresh]   --fresh: always a stack of its own, on free ports
import { randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import { parseCli } from './lib/cli.mjs';
import { freePort, removeTempDir, stopAllOnSignals, tempDir } from './lib/process.mjs';
import { readLocalRun } from './lib/run-file.mjs';
import { queryUsers, streamAccessFrom } from './lib/stream-api.mjs';
import { readDevVars, startLocal } from './start.mjs';

const fresh = parseCli(import.meta.url, { fresh: { type: 'boolean', default: false } }).values.fresh;
stopAllOnSignals({ beforeStop: () => console.log("\nStopping the demo's stack…") });
/** @param {unknown} token */
const short = (token) => (typeof token === 'string' && token.length > 24 ? `${token.slice(0, 12)}…${token.slice(-8)}` : String(token));
let failures = 0;

/**
 * @template T
 * @param {T} condition
 * @param {string} what
 */
function check(condition, what) {
  if (condition) {
    console.log(`   ✓ ${what}`);
  } else {
    console.log(`   ✗ ${what}`);
    failures++;
  }
  return condition;
}

/**
 * @typedef {{ workerUrl: string; emulatorHost: string; projectId: string; adminToken: string; streamAccess: import('./lib/stream-api.mjs').StreamAccess; pubsub?: unknown; stop: () => Promise<void> }} Stack
 */

/**
 * What a running `npm start` serves (from RUN_FILE), if it answers.
 * @returns {Promise<Stack | null>}
 */
async function running() {
  const run = fresh ? null : readLocalRun();
  if (!run) return null;
  try {
    if (!(await fetch(`${run.workerUrl}/healthz`)).ok) return null;
  } catch {
    return null;
  }
  const stream = run.stream ?? streamAccessFrom(readDevVars());
  return { ...run, streamAccess: stream, stop: async () => {} };
}

/**
 * @param {import('./lib/stream-api.mjs').StreamAccess} access
 * @param {string} uid
 */
async function streamUser(access, uid) {
  const users = await queryUsers(access, { filter_conditions: { id: { $eq: uid } }, sort: [], presence: false, limit: 1 });
  return users.find((user) => user.id === uid) ?? null;
}

/**
 * @param {string} url
 * @param {{ idToken?: string; body?: string; headers?: Record<string, string> }} [options]
 * @returns {Promise<{ status: number; json: any; text: string }>} json: the parsed body, null if it is not JSON
 */
async function post(url, { idToken, body, headers = {} } = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...(idToken ? { Authorization: `Bearer ${idToken}` } : {}), ...headers },
    body,
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // left null; the check below reports it
  }
  return { status: response.status, json, text };
}

/**
 * Milliseconds from `since` until Stream no longer has `uid`, or null after `timeoutMs`.
 * @param {import('./lib/stream-api.mjs').StreamAccess} access @param {string} uid @param {number} since @param {number} timeoutMs
 */
async function goneWithin(access, uid, since, timeoutMs) {
  while (performance.now() - since < timeoutMs) {
    if ((await streamUser(access, uid)) === null) return Math.round(performance.now() - since);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return null;
}

/** @param {Stack} stack @param {string} name @param {string} idToken */
const callable = (stack, name, idToken) =>
  post(`${stack.workerUrl}/${name}`, { idToken, body: JSON.stringify({ data: null }), headers: { 'Content-Type': 'application/json' } });

/** @param {string} token @param {string} secret @param {string} uid */
async function verifiesAs(token, secret, uid) {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'] });
    return payload.user_id === uid && typeof payload.iat === 'number';
  } catch {
    return false;
  }
}

async function main() {
  let stack = await running();
  /** @type {string | undefined} */
  let stateDir;
  if (stack) {
    console.log(`Using the services npm start runs: ${stack.workerUrl}`);
  } else {
    stateDir = tempDir('demo-state-');
    console.log('Starting a local stack for the demo (Auth emulator, Stream stand-in, wrangler dev)…');
    stack = await startLocal({ workerPort: await freePort(), emulatorPort: await freePort(), persistTo: stateDir, log: () => {} });
  }
  const { workerUrl, emulatorHost, projectId, streamAccess } = stack;
  const identity = `http://${emulatorHost}/identitytoolkit.googleapis.com/v1`;
  const email = `demo-${randomBytes(4).toString('hex')}@example.com`;
  const password = 'demo-password-1';

  try {
    console.log(`\n1. Sign up ${email} on the Firebase Auth emulator`);
    const signUp = await post(`${identity}/accounts:signUp?key=local`, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: 'Demo User', returnSecureToken: true }),
    });
    if (
      !check(
        signUp.status === 200 && signUp.json?.idToken,
        `signed up: uid ${signUp.json?.localId}, ID token ${short(signUp.json?.idToken)}`,
      )
    )
      return;
    const uid = signUp.json.localId;

    console.log('\n2. createStreamUserAndGetToken (callable)');
    const created = await callable(stack, 'createStreamUserAndGetToken', signUp.json.idToken);
    console.log(`   → HTTP ${created.status} ${created.json?.result ? `{"result": "${short(created.json.result)}"}` : created.text}`);
    check(
      created.status === 200 && (await verifiesAs(created.json?.result, streamAccess.secret, uid)),
      'token verifies with the Stream secret and carries user_id = uid',
    );
    const user = await streamUser(streamAccess, uid);
    check(user?.name === 'Demo User', `Stream user exists: ${JSON.stringify(user && { id: user.id, name: user.name })}`);

    console.log('\n3. Sign in with the password');
    const signIn = await post(`${identity}/accounts:signInWithPassword?key=local`, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password, returnSecureToken: true }),
    });
    check(signIn.status === 200 && signIn.json?.localId === uid, `signed in: ID token ${short(signIn.json?.idToken)}`);
    const idToken = signIn.json?.idToken;

    console.log('\n4. getStreamUserToken (callable)');
    const got = await callable(stack, 'getStreamUserToken', idToken);
    console.log(`   → HTTP ${got.status} {"result": "${short(got.json?.result)}"}`);
    check(got.status === 200 && (await verifiesAs(got.json?.result, streamAccess.secret, uid)), 'token verifies and carries user_id = uid');

    console.log('\n5. POST /v1/token (REST)');
    const rest = await post(`${workerUrl}/v1/token`, { idToken });
    console.log(`   → HTTP ${rest.status} ${JSON.stringify({ ...rest.json, token: short(rest.json?.token) })}`);
    check(
      rest.status === 200 &&
        rest.json?.user_id === uid &&
        rest.json?.api_key === streamAccess.apiKey &&
        (await verifiesAs(rest.json?.token, streamAccess.secret, uid)),
      'token, user_id, api_key and expires_at are right',
    );

    console.log('\n6. revokeStreamUserToken (callable)');
    const revoked = await callable(stack, 'revokeStreamUserToken', idToken);
    console.log(`   → HTTP ${revoked.status} ${revoked.text}`);
    const revokedBefore = revoked.json?.result?.revoked_before;
    check(revoked.status === 200 && !Number.isNaN(Date.parse(revokedBefore)), 'revoked_before is an ISO time');
    const afterRevoke = await streamUser(streamAccess, uid);
    check(
      afterRevoke?.revoke_tokens_issued_before === revokedBefore,
      `Stream user has revoke_tokens_issued_before = ${afterRevoke?.revoke_tokens_issued_before}`,
    );

    // Someone else uses the app too: before deleting anything, the cron asks Firebase about users known to
    // exist (the brake's witnesses), so a deployment pointed at the wrong project never deletes its users.
    const friend = await post(`${identity}/accounts:signUp?key=local`, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: `friend-${email}`, password, returnSecureToken: true }),
    });
    const friendToken = await callable(stack, 'getStreamUserToken', friend.json?.idToken);
    check(friendToken.status === 200, "another user of the app got a token (Firebase has them: the brake's witness)");

    console.log('\n7. Delete the Firebase account');
    const deletedAt = performance.now();
    const deleted = await post(`${identity}/projects/${projectId}/accounts:delete`, {
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer owner' },
      body: JSON.stringify({ localId: uid }),
    });
    check(deleted.status === 200, `accounts:delete → HTTP ${deleted.status}`);
    if (stack.pubsub) {
      // npm start's Pub/Sub push stand-in saw the account go and pushed the event, as Google would.
      const ms = await goneWithin(streamAccess, uid, deletedAt, 5_000);
      check(
        ms !== null,
        ms !== null
          ? `deleted in Firebase → gone from Stream in ${ms} ms (deletion event: Pub/Sub push → POST /v1/events/user-deleted)`
          : 'the deletion event did not remove the Stream user within 5 s',
      );
    }

    console.log("\n8. Run the cron now (POST /v1/admin/reconcile/run with the run's ADMIN_TOKEN)");
    const cron = await fetch(`${workerUrl}/v1/admin/reconcile/run`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${stack.adminToken}` },
    });
    const summary = /** @type {{ deleted?: number; error?: string }} */ (await cron.json().catch(() => ({})));
    check(
      cron.ok && !summary.error,
      `POST /v1/admin/reconcile/run → HTTP ${cron.status}, deleted ${summary.deleted}${summary.error ? `, error: ${summary.error}` : ''}`,
    );

    console.log('\n9. The Stream user is gone');
    const gone = await streamUser(streamAccess, uid);
    check(gone === null, gone === null ? `queryUsers finds no user ${uid}` : `still there: ${JSON.stringify(gone)}`);
  } finally {
    await stack.stop();
    if (stateDir) removeTempDir(stateDir);
  }
}

try {
  await main();
} catch (error) {
  console.log(`\n✗ demo failed: ${error instanceof Error ? error.message : error}`);
  failures++;
}
console.log(failures === 0 ? '\nDemo passed: every step returned what it should.' : `\nDemo FAILED: ${failures} check(s) went wrong.`);
process.exit(failures === 0 ? 0 : 1);
