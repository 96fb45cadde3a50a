/**
 * FIREBASE_CHECK_REVOKED: what firebase-admin's verifyIdToken(token, true)
 * adds, against the real Auth emulator (and the Google stand-in for faults
 * and caching). test/fuzz/account-status.oracle.test.ts runs firebase-admin
 * itself on the same cases.
 */
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { callable, callWorker, makeSigningKey, mintIdToken, Scenario } from '../support/fixtures';
import { captureConsole } from '../support/console';
import {
  DB,
  emulatorDeleteUser,
  emulatorHost,
  emulatorSignIn,
  emulatorSignUp,
  emulatorUpdateUser,
  productionEnv,
} from '../support/reconcile';

const email = (name: string) => `${name}-${crypto.randomUUID()}@example.com`;

async function emulatorEnv(overrides: Partial<Env> = {}) {
  const scenario = await Scenario.create();
  await scenario.setGoogle({ keys: [] });
  return {
    scenario,
    env: scenario.env({
      FIREBASE_AUTH_EMULATOR_HOST: emulatorHost(),
      FIREBASE_CHECK_REVOKED: 'true',
      FIREBASE_CHECK_REVOKED_CACHE_SECONDS: '0',
      ...overrides,
    }),
  };
}

describe('FIREBASE_CHECK_REVOKED on the Auth emulator', () => {
  it('serves an account in good standing', async () => {
    const { env } = await emulatorEnv();
    const person = await emulatorSignUp(email('fine'));
    expect((await callWorker(env, '/v1/token', { idToken: person.idToken })).status).toBe(200);
  });

  it('refuses a disabled account on every route that issues a token, on both protocols, before Stream', async () => {
    const { scenario, env } = await emulatorEnv();
    const person = await emulatorSignUp(email('disabled'));
    await emulatorUpdateUser(person.uid, { disableUser: true });
    for (const path of ['/v1/token', '/v1/users/me', '/v1/token/revoke']) {
      const response = await callWorker(env, path, { idToken: person.idToken });
      expect(response.status, path).toBe(401);
      expect(await response.json()).toMatchObject({ code: 'user_disabled' });
    }
    const viaCallable = await callable(env, 'getStreamUserToken', person.idToken);
    expect(viaCallable.status).toBe(401);
    expect(await viaCallable.json()).toMatchObject({ error: { status: 'UNAUTHENTICATED', message: expect.stringContaining('disabled') } });
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it("refuses a token authenticated before the account's tokens were revoked; a new sign-in works", async () => {
    const { env } = await emulatorEnv();
    const address = email('revoked');
    const person = await emulatorSignUp(address);
    const authTime = JSON.parse(atob(person.idToken.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).auth_time as number;
    await emulatorUpdateUser(person.uid, { validSince: authTime + 1 });
    const response = await callWorker(env, '/v1/token', { idToken: person.idToken });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: 'token_revoked' });

    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the new auth_time must reach validSince
    const again = await emulatorSignIn(address);
    expect((await callWorker(env, '/v1/token', { idToken: again.idToken })).status).toBe(200);
  });

  it('refuses a token of a deleted account, but the self-service delete still works with it', async () => {
    const { env } = await emulatorEnv({ DB });
    const person = await emulatorSignUp(email('gone'));
    await emulatorDeleteUser(person.uid);
    const response = await callWorker(env, '/v1/token', { idToken: person.idToken });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: 'user_not_found' });
    expect((await callWorker(env, '/v1/users/me/delete', { idToken: person.idToken })).status).toBe(200); // not registered: nothing to do
  });

  it('is off by default: a disabled account is served as before', async () => {
    const { env } = await emulatorEnv({ FIREBASE_CHECK_REVOKED: 'false' });
    const person = await emulatorSignUp(email('off'));
    await emulatorUpdateUser(person.uid, { disableUser: true });
    expect((await callWorker(env, '/v1/token', { idToken: person.idToken })).status).toBe(200);
  });
});

describe('FIREBASE_CHECK_REVOKED: faults and caching (Google stand-in)', () => {
  it('Firebase unreachable: 503 and never a token', async () => {
    const scenario = await Scenario.create();
    const key = await makeSigningKey();
    await scenario.setGoogle({ keys: [key] });
    const env = await productionEnv(scenario, { FIREBASE_CHECK_REVOKED: 'true' });
    await scenario.setGoogleAdmin({ existing: ['u1'], lookupMode: 'error500' });
    const log = captureConsole();
    let response: Response;
    try {
      response = await callWorker(env, '/v1/token', { idToken: await mintIdToken(key, 'u1') });
    } finally {
      log.restore();
    }
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ code: 'firebase_unavailable' });
    expect(text).not.toMatch(/eyJ/);
  });

  it('caches each answer for FIREBASE_CHECK_REVOKED_CACHE_SECONDS: one lookup for many requests', async () => {
    const scenario = await Scenario.create();
    const key = await makeSigningKey();
    await scenario.setGoogle({ keys: [key] });
    const env = await productionEnv(scenario, { FIREBASE_CHECK_REVOKED: 'true' });
    await scenario.setGoogleAdmin({ existing: ['u1'] });
    const idToken = await mintIdToken(key, 'u1');
    for (let i = 0; i < 5; i++) expect((await callWorker(env, '/v1/token', { idToken })).status).toBe(200);
    expect((await scenario.googleAdminStats()).lookups).toBe(1);
  });

  it('needs a way to look accounts up: without one the setting is named as misconfigured', async () => {
    const scenario = await Scenario.create();
    const log = captureConsole();
    let health: Response;
    try {
      health = await callWorker(scenario.env({ FIREBASE_CHECK_REVOKED: 'true' }), '/healthz', { method: 'GET' });
    } finally {
      log.restore();
    }
    expect(await health.json()).toEqual({ status: 'misconfigured', settings: ['FIREBASE_CHECK_REVOKED'] });
  });
});
