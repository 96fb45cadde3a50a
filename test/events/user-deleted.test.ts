/**
 * POST /v1/events/user-deleted: Pub/Sub pushes of account deletions. What
 * attackers send (every bad token, envelope and payload), and what Google,
 * Stream and D1 do to it (failures, redelivery, order).
 */
import { SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { captureConsole, expectLogged } from '../support/console';
import { makeSigningKey, Scenario, type SigningKey } from '../support/fixtures';
import { brokenDb, clearRegistry, productionEnv, register, registryRows, streamDeletes, WITNESS, withWitness } from '../support/reconcile';
import { activityLogEntry, AUDIENCE, auditLogEntry, envelope, oidcKeys, push, pushToken, PUSH_ACCOUNT } from './pubsub';

beforeEach(clearRegistry);

interface Setup {
  scenario: Scenario;
  env: Env;
  key: SigningKey;
  google: Scenario;
}

/** A production-shaped Worker with the route on, a registered user `gone` deleted from Firebase, and a witness. */
async function setup(overrides: Partial<Env> = {}): Promise<Setup> {
  const scenario = await Scenario.create();
  const { google, key } = await oidcKeys();
  const env = await productionEnv(scenario, {
    DELETION_EVENTS_AUDIENCE: AUDIENCE,
    DELETION_EVENTS_SERVICE_ACCOUNT: PUSH_ACCOUNT,
    GOOGLE_OIDC_JWKS_URL: google.jwksUrl,
    RECONCILE_TASK_WAIT_MS: '2000',
    ...overrides,
  });
  await register(['gone']);
  await scenario.seedStreamUsers([{ id: 'gone' }]);
  await withWitness(scenario);
  return { scenario, env, key, google };
}

async function pushed(s: Setup, data: unknown, claims: Record<string, unknown> = {}): Promise<Response> {
  return push(s.env, envelope(data), await pushToken(s.key, claims));
}

describe('the route is off without DELETION_EVENTS_AUDIENCE', () => {
  it('answers 404, like any unknown path', async () => {
    const s = await setup({ DELETION_EVENTS_AUDIENCE: undefined, DELETION_EVENTS_SERVICE_ACCOUNT: undefined });
    const response = await pushed(s, { uid: 'gone' });
    expect(response.status).toBe(404);
    expect(await streamDeletes(s.scenario)).toEqual([]);
  });
});

describe('a deletion event', () => {
  it('deletes the Stream user of a registered uid Firebase confirms gone, in the request; a redelivery sends no second delete', async () => {
    const s = await setup();
    const response = await pushed(s, { uid: 'gone' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ acknowledged: true, results: { gone: 'deleted' } });
    expect(await streamDeletes(s.scenario)).toEqual(['gone']);
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'deleted', deleted_how: 'event:soft' });

    const again = await pushed(s, { uid: 'gone' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ acknowledged: true, results: { gone: 'deleted' } });
    expect(await streamDeletes(s.scenario)).toEqual(['gone']);
    expectLogged('deletion_event');
  });

  it('never deletes on the event alone: an account that still exists is kept and checked first by the next run', async () => {
    const s = await setup();
    await s.scenario.setGoogleAdmin({ existing: [WITNESS, 'gone'] });
    const response = await pushed(s, { uid: 'gone' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ acknowledged: true, results: { gone: 'firebase_account_exists' } });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'active', recheck: 1 });
    expectLogged('deletion_event');
  });

  it('an unknown uid is acknowledged with nothing done, without asking Firebase', async () => {
    const s = await setup();
    const response = await pushed(s, { uid: 'never-registered' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ acknowledged: true, results: { 'never-registered': 'not_registered' } });
    expect((await s.scenario.googleAdminStats()).lookups).toBe(0);
    expectLogged('deletion_event');
  });

  it('a uid registered under another tenant is another account: nothing done', async () => {
    const s = await setup();
    const response = await pushed(s, { uid: 'gone', tenant: 'tenant-b' });
    expect(await response.json()).toEqual({ acknowledged: true, results: { gone: 'other_tenant' } });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expectLogged('deletion_event');
  });

  it('the brake holds without witnesses: acknowledged, nothing deleted, the uid checked first by the next run', async () => {
    const s = await setup();
    await s.scenario.setGoogleAdmin({ existing: [] }); // Firebase sees nobody: a wrong project, say
    const response = await pushed(s, { uid: 'gone' });
    expect(await response.json()).toEqual({ acknowledged: true, results: { gone: 'unconfirmed' } });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'active', recheck: 1 });
    expectLogged('reconcile_brake', 'deletion_event');
  });

  it('Firebase unreachable: 502 so Pub/Sub redelivers, nothing deleted; the redelivery deletes', async () => {
    const s = await setup();
    await s.scenario.setGoogleAdmin({ lookupMode: 'error500' });
    const failed = await pushed(s, { uid: 'gone' });
    expect(failed.status).toBe(502);
    expect(failed.headers.get('Content-Type')).toBe('application/problem+json');
    expect(await failed.json()).toMatchObject({ code: 'firebase_failed' });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'active' });

    await s.scenario.setGoogleAdmin({ lookupMode: 'ok' });
    expect((await pushed(s, { uid: 'gone' })).status).toBe(200);
    expect(await streamDeletes(s.scenario)).toEqual(['gone']);
    expectLogged('request_failed', 'deletion_event');
  });

  it('Stream failing then recovering: 502 (redelivered), then deleted once, then acknowledged with no further delete', async () => {
    const s = await setup();
    // The client tries a 5xx three times before giving up.
    await s.scenario.scriptStream(
      Array.from({ length: 3 }, () => ({ method: 'POST', status: 500, body: { code: -1, message: 'internal' } })),
    );
    const failed = await pushed(s, { uid: 'gone' });
    expect(failed.status).toBe(502);
    expect(await failed.json()).toMatchObject({ code: 'stream_failed' });
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'pending_delete', failures: 1, task_id: null });

    const retried = await pushed(s, { uid: 'gone' });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual({ acknowledged: true, results: { gone: 'deleted' } });
    expect(await pushed(s, { uid: 'gone' }).then((r) => r.status)).toBe(200);
    // Three failed tries of the first push, the one that worked: none for the third push.
    expect(await streamDeletes(s.scenario)).toEqual(['gone', 'gone', 'gone', 'gone']);
    expectLogged('stream_call_retry', 'stream_call_failed', 'request_failed', 'deletion_event');
  });

  it('D1 unavailable: 503 with Retry-After, so Pub/Sub redelivers', async () => {
    const s = await setup();
    const env = { ...s.env, DB: brokenDb };
    const response = await push(env, envelope({ uid: 'gone' }), await pushToken(s.key));
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'registry_unavailable' });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expectLogged('request_failed');
  });

  it('a recreated account (the event arriving after the uid signed up again) is not deleted', async () => {
    const s = await setup();
    await s.scenario.setGoogleAdmin({ lookupMode: 'error500' });
    expect((await pushed(s, { uid: 'gone' })).status).toBe(502);
    // Meanwhile the account came back with the same uid; the redelivered event is now out of date.
    await s.scenario.setGoogleAdmin({ lookupMode: 'ok', existing: [WITNESS, 'gone'] });
    expect(await (await pushed(s, { uid: 'gone' })).json()).toEqual({ acknowledged: true, results: { gone: 'firebase_account_exists' } });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expectLogged('request_failed', 'deletion_event');
  });
});

describe('Cloud Logging entries (fields as Google documents them)', () => {
  it('an activity log entry of DeleteAccount on a tenant resource: the uid, asked in that tenant', async () => {
    const s = await setup();
    await register(['t-user'], 'tenant-a');
    await s.scenario.seedStreamUsers([{ id: 't-user' }]);
    await register(['t-witness'], 'tenant-a');
    await s.env.DB!.prepare(`UPDATE stream_users SET alive_at = 1 WHERE uid = 't-witness'`).run();
    await s.scenario.setGoogleAdmin({ existing: [WITNESS, 'tenant-a/t-witness'] });
    const response = await pushed(
      s,
      activityLogEntry('DeleteAccount', { localId: 't-user', targetProjectId: 'demo-test-project' }, 'tenant-a'),
    );
    expect(await response.json()).toEqual({ acknowledged: true, results: { 't-user': 'deleted' } });
    expect(await streamDeletes(s.scenario)).toEqual(['t-user']);
    expectLogged('deletion_event');
  });

  it('a batch delete (audit log entry): every registered uid confirmed gone is deleted in one Stream request', async () => {
    const s = await setup();
    await register(['b1', 'b2', 'b3']);
    await s.scenario.seedStreamUsers([{ id: 'b1' }, { id: 'b2' }, { id: 'b3' }]);
    await s.scenario.setGoogleAdmin({ existing: [WITNESS, 'b3'] }); // b3 was not deleted (force: false, not disabled)
    const response = await pushed(s, auditLogEntry('BatchDeleteAccounts', { localIds: ['b1', 'b2', 'b3', 'unknown'], force: false }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      acknowledged: true,
      results: { b1: 'deleted', b2: 'deleted', b3: 'firebase_account_exists', unknown: 'not_registered' },
    });
    expect(await streamDeletes(s.scenario)).toEqual(['b1', 'b2']);
    expect((await s.scenario.streamRequests()).filter((r) => r.path === '/users/delete')).toHaveLength(1);
    expectLogged('deletion_event');
  });

  it("an entry that names no uid (a deletion by the user's own ID token) is logged without its personal data and acknowledged", async () => {
    const s = await setup();
    const { lines, restore } = captureConsole();
    let response: Response;
    try {
      response = await pushed(s, activityLogEntry('DeleteAccount', { idToken: 'eyJ-the-users-token' }));
    } finally {
      restore();
    }
    expect(response.status).toBe(200);
    const line = lines.find((l) => l.includes('deletion_event_unparsed'));
    expect(line).toBeDefined();
    expect(lines.join('\n')).not.toMatch(/eyJ-the-users-token|admin@example\.com|203\.0\.113\.7/);
    expect(await streamDeletes(s.scenario)).toEqual([]);
  });

  it.each([
    [
      'another method',
      activityLogEntry('DeleteAccount', { localId: 'gone' }),
      (entry: Record<string, unknown>) =>
        ((entry.protoPayload as Record<string, unknown>).methodName =
          'google.cloud.identitytoolkit.v1.AccountManagementService.SetAccountInfo'),
    ],
    [
      'no protoPayload',
      activityLogEntry('DeleteAccount', { localId: 'gone' }),
      (entry: Record<string, unknown>) => delete entry.protoPayload,
    ],
    ['a uid Stream could not hold', activityLogEntry('DeleteAccount', { localId: 'has space' }), () => undefined],
    ['a tenant that is not a tenant id', activityLogEntry('DeleteAccount', { localId: 'gone', tenantId: 'bad/tenant' }), () => undefined],
  ])('a log entry with %s is acknowledged with nothing done', async (_name, entry, change) => {
    const s = await setup();
    change(entry);
    const response = await pushed(s, entry);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ acknowledged: true, results: {} });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expect((await s.scenario.googleAdminStats()).lookups).toBe(0);
    expectLogged('deletion_event_unparsed');
  });
});

describe('bad push tokens: 401, nothing happens', () => {
  const cases: [string, (s: Setup) => Promise<string | undefined>][] = [
    ['no token', async () => undefined],
    ['a wrong audience', (s) => pushToken(s.key, { aud: 'https://attacker.example/v1/events/user-deleted' })],
    ['the audience inside an array', (s) => pushToken(s.key, { aud: [AUDIENCE] })],
    ['a wrong email', (s) => pushToken(s.key, { email: 'someone@attacker.iam.gserviceaccount.com' })],
    ['no email', (s) => pushToken(s.key, { email: null })],
    ['an unverified email', (s) => pushToken(s.key, { email_verified: false })],
    ['email_verified as the string "true"', (s) => pushToken(s.key, { email_verified: 'true' })],
    ['a wrong issuer', (s) => pushToken(s.key, { iss: 'https://securetoken.google.com/demo-test-project' })],
    ['expired', (s) => pushToken(s.key, { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['no exp', (s) => pushToken(s.key, { exp: null })],
    ['issued in the future', (s) => pushToken(s.key, { iat: Math.floor(Date.now() / 1000) + 600 })],
    ['alg none', async (s) => unsigned(s.key.kid)],
    ['HS256 keyed with the public key', async (s) => hs256(s.key)],
    ['another key (a kid Google does not publish)', async () => pushToken(await makeSigningKey())],
    ['another key under a published kid', async (s) => pushToken({ ...(await makeSigningKey()), kid: s.key.kid })],
    ['no kid', (s) => pushToken(s.key, {}, { kid: undefined })],
    // The signature is RS256 and would verify: only the header's own alg says otherwise.
    ['alg RS384 claimed over an RS256 signature', (s) => signedByHand(s.key, { alg: 'RS384', kid: s.key.kid })],
    ['a crit header', (s) => signedByHand(s.key, { alg: 'RS256', kid: s.key.kid, crit: ['exp'], exp: 1 })],
    ['garbage', async () => 'not.a.jwt'],
  ];
  it.each(cases)('%s', async (name, makeToken) => {
    const s = await setup();
    const token = await makeToken(s);
    const response = await push(s.env, envelope({ uid: 'gone' }), token, name === 'garbage' ? { Authorization: 'Basic Zm9vOmJhcg==' } : {});
    expect(response.status).toBe(401);
    expect(response.headers.get('Content-Type')).toBe('application/problem+json');
    const body = (await response.json()) as { code: string; detail: string };
    expect(body.code).toBe(token === undefined ? 'missing_authorization' : 'invalid_token');
    const payload = token?.split('.')[1] ?? '';
    if (payload.length > 20) expect(body.detail).not.toContain(payload.slice(0, 20));
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expect((await s.scenario.googleAdminStats()).lookups).toBe(0);
    expect((await registryRows()).get('gone')).toMatchObject({ state: 'active', recheck: 0 });
  });

  it("Google's OIDC keys unreachable: 503 (redelivered), nothing happens", async () => {
    const s = await setup();
    await s.google.setGoogle({ down: true });
    const response = await pushed(s, { uid: 'gone' });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'keys_unavailable' });
    expect(await streamDeletes(s.scenario)).toEqual([]);
    expectLogged('google_keys_fetch_failed', 'request_failed');
  });

  it("the short issuer form accounts.google.com is Google's too", async () => {
    const s = await setup();
    expect((await pushed(s, { uid: 'gone' }, { iss: 'accounts.google.com' })).status).toBe(200);
    expectLogged('deletion_event');
  });
});

describe('malformed pushes', () => {
  it.each([
    ['not JSON', '{"message":'],
    ['no message', JSON.stringify({ subscription: 's' })],
    ['a message that is not an object', JSON.stringify({ message: 'hello' })],
    ['data that is not a string', JSON.stringify({ message: { data: 42 } })],
  ])('an envelope that is %s: 400, nothing done', async (_name, body) => {
    const s = await setup();
    const response = await push(s.env, body, await pushToken(s.key));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_request' });
    expect((await s.scenario.googleAdminStats()).lookups).toBe(0);
  });

  it.each([
    ['no data', JSON.stringify({ message: { messageId: '1' } })],
    ['data that is not base64', envelope('%%%not base64%%%')],
    ['data that is not JSON', envelope(btoa('hello'))],
    ['data that is a JSON array', envelope(['gone'])],
    ['data of neither shape', envelope({ user: 'gone' })],
    ['a uid that is not a string', envelope({ uid: 42 })],
    ['a uid too long for Firebase', envelope({ uid: 'x'.repeat(129) })],
  ])('data with %s: acknowledged (200), logged, nothing done', async (_name, body) => {
    const s = await setup();
    const { lines, restore } = captureConsole();
    let response: Response;
    try {
      response = await push(s.env, body, await pushToken(s.key));
    } finally {
      restore();
    }
    expect(response.status).toBe(200);
    expect(lines.some((line) => line.includes('"deletion_event_unparsed"'))).toBe(true);
    expect((await s.scenario.googleAdminStats()).lookups).toBe(0);
    expect(await streamDeletes(s.scenario)).toEqual([]);
  });

  it('a body over the limit: 413 before the token is even checked', async () => {
    const s = await setup();
    const response = await push(s.env, envelope({ uid: 'gone', padding: 'x'.repeat(70_000) }), await pushToken(s.key));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'payload_too_large' });
  });

  it('only POST: other methods get 405', async () => {
    const s = await setup();
    const { callWorker } = await import('../support/fixtures');
    const response = await callWorker(s.env, '/v1/events/user-deleted', { method: 'GET' });
    expect(response.status).toBe(405);
    expect(response.headers.get('Allow')).toBe('POST');
  });
});

/** A token signed with the right key whose header jose would refuse to write. */
async function signedByHand(key: SigningKey, header: Record<string, unknown>): Promise<string> {
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const now = Math.floor(Date.now() / 1000);
  const signingInput = `${encode(header)}.${encode({ iss: 'https://accounts.google.com', aud: AUDIENCE, email: PUSH_ACCOUNT, email_verified: true, iat: now, exp: now + 3600 })}`;
  const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, new TextEncoder().encode(signingInput)));
  return `${signingInput}.${btoa(String.fromCharCode(...signature))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')}`;
}

function unsigned(kid: string): string {
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const now = Math.floor(Date.now() / 1000);
  return `${encode({ alg: 'none', kid })}.${encode({ iss: 'https://accounts.google.com', aud: AUDIENCE, email: PUSH_ACCOUNT, email_verified: true, iat: now, exp: now + 3600 })}.`;
}

/** The classic confusion: an HMAC keyed with the RSA public key's bytes. */
async function hs256(key: SigningKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: 'https://accounts.google.com',
    aud: AUDIENCE,
    email: PUSH_ACCOUNT,
    email_verified: true,
    iat: now,
    exp: now + 3600,
  })
    .setProtectedHeader({ alg: 'HS256', kid: key.kid })
    .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
}
