/**
 * FIREBASE_CHECK_REVOKED against its oracle: firebase-admin's
 * `verifyIdToken(token, true)` and our AccountStatusCheck
 * (src/firebase/account-status.ts, the module the Worker runs) judge the same
 * emulator tokens, for accounts in good standing, disabled, with revoked
 * tokens, and deleted. Both ask the real Firebase Auth emulator.
 */
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/process.mjs';
import { startAuthEmulator } from '../../scripts/lib/auth-emulator.mjs';
import { AppError } from '../../src/errors';
import { AccountStatusCheck } from '../../src/firebase/account-status';
import { FirebaseAdminClient } from '../../src/firebase/admin-api';
import type { FirebaseClaims } from '../../src/firebase/verify-id-token';

const PROJECT_ID = 'demo-oracle';
let emulator: Awaited<ReturnType<typeof startAuthEmulator>>;
let app: App;

beforeAll(async () => {
  emulator = await startAuthEmulator(PROJECT_ID, { port: await freePort() });
  process.env.FIREBASE_AUTH_EMULATOR_HOST = emulator.host; // firebase-admin then accepts the emulator's unsigned tokens
  app = initializeApp({ projectId: PROJECT_ID }, `oracle-${Date.now()}`);
}, 60_000);

afterAll(async () => {
  await deleteApp(app);
  delete process.env.FIREBASE_AUTH_EMULATOR_HOST;
  await emulator?.stop();
});

const api = () => `http://${emulator.host}/identitytoolkit.googleapis.com/v1`;

async function post(path: string, body: unknown, admin = false): Promise<Record<string, unknown>> {
  const response = await fetch(`${api()}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(admin ? { Authorization: 'Bearer owner' } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

async function signUp(name: string) {
  const body = await post('/accounts:signUp?key=k', {
    email: `${name}-${Date.now()}@example.com`,
    password: 'password-123',
    returnSecureToken: true,
  });
  return { uid: body.localId as string, idToken: body.idToken as string };
}

const claimsOf = (idToken: string) => JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString('utf8')) as FirebaseClaims;

async function oracle(idToken: string): Promise<string> {
  try {
    await getAuth(app).verifyIdToken(idToken, true);
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? 'error';
  }
}

async function ours(idToken: string): Promise<string> {
  const check = new AccountStatusCheck({
    now: Date.now,
    client: new FirebaseAdminClient({
      projectId: PROJECT_ID,
      baseUrl: `http://${emulator.host}/identitytoolkit.googleapis.com`,
      authorization: async () => 'Bearer owner',
    }),
    cacheSeconds: 0,
  });
  try {
    await check.check(claimsOf(idToken), '');
    return 'ok';
  } catch (error) {
    return error instanceof AppError ? error.code : 'error';
  }
}

/** firebase-admin's error codes for what we refuse. */
const SAME: Record<string, string> = {
  ok: 'ok',
  'auth/user-disabled': 'user_disabled',
  'auth/id-token-revoked': 'token_revoked',
  'auth/user-not-found': 'user_not_found',
};

describe('FIREBASE_CHECK_REVOKED agrees with firebase-admin verifyIdToken(token, true)', () => {
  it('on accounts in good standing, disabled, revoked, re-enabled and deleted', async () => {
    const cases: { label: string; idToken: string }[] = [];
    const fine = await signUp('fine');
    cases.push({ label: 'in good standing', idToken: fine.idToken });

    const disabled = await signUp('disabled');
    await post(`/projects/${PROJECT_ID}/accounts:update`, { localId: disabled.uid, disableUser: true }, true);
    cases.push({ label: 'disabled', idToken: disabled.idToken });

    const revoked = await signUp('revoked');
    const authTime = claimsOf(revoked.idToken).auth_time as number;
    await post(`/projects/${PROJECT_ID}/accounts:update`, { localId: revoked.uid, validSince: String(authTime + 1) }, true);
    cases.push({ label: 'revoked after sign-in', idToken: revoked.idToken });

    const revokedBefore = await signUp('revoked-before');
    await post(
      `/projects/${PROJECT_ID}/accounts:update`,
      { localId: revokedBefore.uid, validSince: String(claimsOf(revokedBefore.idToken).auth_time as number) },
      true,
    );
    cases.push({ label: 'revoked in the same second as sign-in', idToken: revokedBefore.idToken });

    const reenabled = await signUp('reenabled');
    await post(`/projects/${PROJECT_ID}/accounts:update`, { localId: reenabled.uid, disableUser: true }, true);
    await post(`/projects/${PROJECT_ID}/accounts:update`, { localId: reenabled.uid, disableUser: false }, true);
    cases.push({ label: 're-enabled', idToken: reenabled.idToken });

    const deleted = await signUp('deleted');
    await post(`/projects/${PROJECT_ID}/accounts:delete`, { localId: deleted.uid }, true);
    cases.push({ label: 'deleted', idToken: deleted.idToken });

    const results = [];
    for (const { label, idToken } of cases) results.push({ label, admin: await oracle(idToken), ours: await ours(idToken) });
    console.log(results.map((r) => `${r.label}: firebase-admin ${r.admin}, ours ${r.ours}`).join('\n'));
    for (const result of results)
      expect(result.ours, result.label).toBe(SAME[result.admin] ?? `unexpected firebase-admin answer ${result.admin}`);
    // The cases really cover each outcome.
    expect(new Set(results.map((r) => r.ours))).toEqual(new Set(['ok', 'user_disabled', 'token_revoked', 'user_not_found']));
  }, 60_000);
});
