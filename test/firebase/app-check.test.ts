/**
 * Firebase App Check (APP_CHECK): through the Worker, with App Check keys
 * served by a Google stand-in. test/fuzz/app-check.oracle.test.ts holds the
 * same verifier against firebase-admin's appCheck().verifyToken.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { captureConsole } from '../support/console';
import { callable, callWorker, makeSigningKey, mintIdToken, PROJECT_ID, Scenario, type SigningKey } from '../support/fixtures';

const PROJECT_NUMBER = '123456789012';
const APP_ID = '1:123456789012:web:0a1b2c3d4e5f';

async function appCheckToken(key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: `https://firebaseappcheck.googleapis.com/${PROJECT_NUMBER}`,
    aud: [`projects/${PROJECT_NUMBER}`, `projects/${PROJECT_ID}`],
    sub: APP_ID,
    iat: now,
    exp: now + 3600,
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header } as { alg: string })
    .sign(key.privateKey);
}

async function setUp(mode: 'monitor' | 'enforce', extra: Partial<Env> = {}) {
  const scenario = await Scenario.create();
  const idKey = await makeSigningKey();
  await scenario.setGoogle({ keys: [idKey] });
  const appCheckKeys = await Scenario.create(); // App Check's own key endpoint
  const appKey = await makeSigningKey();
  await appCheckKeys.setGoogle({ keys: [appKey] });
  const env = scenario.env({
    APP_CHECK: mode,
    FIREBASE_PROJECT_NUMBER: PROJECT_NUMBER,
    APP_CHECK_JWKS_URL: appCheckKeys.jwksUrl,
    ...extra,
  });
  const idToken = await mintIdToken(idKey, 'app-user');
  return { scenario, appCheckKeys, appKey, env, idToken };
}

const withAppCheck = (env: Env, idToken: string, appCheck?: string, path = '/v1/users/me') =>
  callWorker(env, path, { idToken, headers: appCheck === undefined ? {} : { 'X-Firebase-AppCheck': appCheck } });

describe('APP_CHECK=enforce', () => {
  it('serves a request with a valid App Check token', async () => {
    const { env, idToken, appKey } = await setUp('enforce');
    expect((await withAppCheck(env, idToken, await appCheckToken(appKey))).status).toBe(200);
    const viaCallable = await callWorker(env, '/getStreamUserToken', {
      idToken,
      headers: { 'X-Firebase-AppCheck': await appCheckToken(appKey), 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: null }),
    });
    expect(viaCallable.status).toBe(200);
  });

  it('refuses a missing or bad App Check token with 401 before any Stream call, on both protocols', async () => {
    const { scenario, env, idToken, appKey } = await setUp('enforce', { APP_CHECK_APP_IDS: APP_ID });
    const otherKey = await makeSigningKey();
    const now = Math.floor(Date.now() / 1000);
    const bad: [string, string | undefined][] = [
      ['missing', undefined],
      ['empty', ''],
      ['garbage', 'not.a.token'],
      ['unknown key', await appCheckToken(otherKey)],
      ['wrong issuer', await appCheckToken(appKey, { iss: `https://firebaseappcheck.googleapis.com/999` })],
      ['issuer with a suffix', await appCheckToken(appKey, { iss: `https://firebaseappcheck.googleapis.com/${PROJECT_NUMBER}/x` })],
      ['audience a string', await appCheckToken(appKey, { aud: `projects/${PROJECT_NUMBER}` })],
      ['wrong audience', await appCheckToken(appKey, { aud: ['projects/999'] })],
      ['no subject', await appCheckToken(appKey, { sub: '' })],
      ['app not allowed', await appCheckToken(appKey, { sub: '1:123456789012:android:ffff' })],
      ['expired', await appCheckToken(appKey, { exp: now - 1 })],
      ['an ID token instead', idToken],
    ];
    const log = captureConsole();
    try {
      for (const [label, token] of bad) {
        const rest = await withAppCheck(env, idToken, token);
        expect(rest.status, label).toBe(401);
        const text = await rest.text();
        expect(JSON.parse(text), label).toMatchObject({ code: 'app_check_failed' });
        if (token) expect(text).not.toContain(token.slice(-20));
      }
      const viaCallable = await callable(env, 'createStreamUserAndGetToken', idToken);
      expect(viaCallable.status).toBe(401);
      expect(await viaCallable.json()).toMatchObject({ error: { status: 'UNAUTHENTICATED' } });
    } finally {
      log.restore();
    }
    expect(await scenario.streamRequests()).toEqual([]);
    expect(log.lines.filter((line) => line.includes('"app_check_failed"')).length).toBeGreaterThanOrEqual(bad.length);
  });

  it('App Check keys unavailable: 503, never a token', async () => {
    const { env, idToken, appKey, appCheckKeys } = await setUp('enforce');
    await appCheckKeys.setGoogle({ down: true });
    const log = captureConsole();
    try {
      expect((await withAppCheck(env, idToken, await appCheckToken(appKey), '/v1/token')).status).toBe(503);
    } finally {
      log.restore();
    }
  });
});

describe('APP_CHECK=monitor and off', () => {
  it('monitor serves the request and logs the failure kind', async () => {
    const { env, idToken } = await setUp('monitor');
    const log = captureConsole();
    let response: Response;
    try {
      response = await withAppCheck(env, idToken, undefined, '/v1/token');
    } finally {
      log.restore();
    }
    expect(response.status).toBe(200);
    expect(log.lines.filter((line) => line.includes('"app_check_failed"') && line.includes('"missing"'))).toHaveLength(1);
  });

  it('off (the default) ignores the header entirely, and FIREBASE_PROJECT_NUMBER is required otherwise', async () => {
    const scenario = await Scenario.create();
    const key = await makeSigningKey();
    await scenario.setGoogle({ keys: [key] });
    expect(
      (await callWorker(scenario.env(), '/v1/token', { idToken: await mintIdToken(key, 'u'), headers: { 'X-Firebase-AppCheck': 'junk' } }))
        .status,
    ).toBe(200);
    const log = captureConsole();
    let health: Response;
    try {
      health = await callWorker(scenario.env({ APP_CHECK: 'enforce' }), '/healthz', { method: 'GET' });
    } finally {
      log.restore();
    }
    expect(await health.json()).toEqual({ status: 'misconfigured', settings: ['FIREBASE_PROJECT_NUMBER'] });
  });
});
