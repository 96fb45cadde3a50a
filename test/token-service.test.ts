import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors';
import type { FirebaseClaims } from '../src/firebase/verify-id-token';
import { StreamRestClient } from '../src/stream/rest-client';
import { StreamTokenSigner } from '../src/stream/tokens';
import { UserWriter } from '../src/stream/user-writer';
import { TokenService } from '../src/token-service';
import { decodePayload, Scenario, STREAM_API_KEY } from './support/fixtures';
import { brokenDb, clearRegistry, DB, registryRows, tokenRegistry } from './support/reconcile';
import { expectLogged } from './support/console';

beforeEach(clearRegistry);

const claims = (sub: string, extra: Record<string, unknown> = {}): FirebaseClaims => ({
  sub,
  aud: 'p',
  iss: 'i',
  exp: 2e9,
  iat: 1,
  ...extra,
});

async function setup(
  options: { now?: () => number; sleep?: (ms: number) => Promise<void>; registry?: boolean | D1Database; tenants?: string[] } = {},
) {
  const scenario = await Scenario.create();
  const signer = new StreamTokenSigner(scenario.streamSecret);
  const stream = new StreamRestClient({ now: Date.now, baseUrl: scenario.streamBaseUrl, apiKey: STREAM_API_KEY, signer, maxAttempts: 1 });
  const service = new TokenService({
    settings: {
      ttlSeconds: 3600,
      userFields: new Set(['name']),
      profileCacheSeconds: 3600,
      tenants: new Set(options.tenants ?? []),
      access: { allowedRoles: new Set(['user']) },
      writeLimitPeriodSeconds: 60,
      anonymous: 'allow',
    },
    signer,
    stream,
    writer: new UserWriter({ stream, now: options.now ?? Date.now }),
    registry:
      options.registry === false
        ? undefined
        : tokenRegistry(options.registry === undefined || options.registry === true ? DB : options.registry, options.now),
    now: options.now ?? Date.now,
    sleep: options.sleep,
  });
  const pending: Promise<unknown>[] = [];
  const background = (promise: Promise<unknown>) => void pending.push(promise);
  return { scenario, service, background, settle: () => Promise.all(pending) };
}

describe('TokenService', () => {
  it('issueToken signs without calling Stream and registers the uid in the background', async () => {
    const { scenario, service, background, settle } = await setup({ now: () => 1_700_000_000_500 });
    const issued = await service.issueToken(claims('ada'), background);
    expect(decodePayload(issued.token)).toEqual({ user_id: 'ada', exp: 1_700_003_599, iat: 1_699_999_999 });
    expect(issued.expiresAt?.toISOString()).toBe(new Date(1_700_003_599_000).toISOString());
    await settle();
    expect((await registryRows()).has('ada')).toBe(true);
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('createUserAndIssueToken registers the uid before Stream has the user, then skips Stream for an unchanged profile', async () => {
    const { scenario, service, background } = await setup();
    await service.createUserAndIssueToken(claims('ada', { name: 'Ada' }), background);
    expect((await registryRows()).has('ada')).toBe(true);
    expect((await scenario.streamUsers()).users).toMatchObject([{ id: 'ada', name: 'Ada' }]);
    const calls = (await scenario.streamRequests()).length;
    await service.createUserAndIssueToken(claims('ada', { name: 'Ada' }), background);
    expect(await scenario.streamRequests()).toHaveLength(calls);
    await service.createUserAndIssueToken(claims('ada', { name: 'Ada L' }), background);
    expect((await scenario.streamRequests()).length).toBeGreaterThan(calls);
  });

  it('answers a Stream failure as stream_failed and issues no token', async () => {
    const { scenario, service, background } = await setup({ registry: false });
    await scenario.scriptStream([
      { method: 'GET', status: 500, body: { code: -1, message: 'boom' } },
      { method: 'GET', status: 500, body: { code: -1, message: 'boom' } },
      { method: 'GET', status: 500, body: { code: -1, message: 'boom' } },
    ]);
    const failure = await service.createUserAndIssueToken(claims('ada'), background).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('stream_failed');
    expectLogged('stream_call_failed');
  });

  it('refuses a uid Stream cannot use before any call', async () => {
    const { scenario, service, background } = await setup();
    for (const call of [
      () => service.issueToken(claims('a.b'), background),
      () => service.createUserAndIssueToken(claims('a b'), background),
    ]) {
      const failure = await call().catch((error: unknown) => error);
      expect((failure as AppError).code).toBe('unsupported_uid');
    }
    expect(await scenario.streamRequests()).toEqual([]);
    expect((await registryRows()).size).toBe(0);
  });

  it('revokeTokens holds the answer until the revocation second has passed, and registers the uid', async () => {
    let now = 1_700_000_000_250;
    const waits: number[] = [];
    const { scenario, service, background, settle } = await setup({
      now: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
    });
    await scenario.seedStreamUsers([{ id: 'ada' }]);
    const { revokedBefore } = await service.revokeTokens(claims('ada'), background);
    expect(revokedBefore.getTime()).toBe(1_700_000_000_250);
    expect(waits).toEqual([1_750]); // until 1_700_000_002 s: then iat (one second back) is 1_700_000_001
    const next = await service.issueToken(claims('ada'), background);
    expect(decodePayload(next.token).iat).toBe(1_700_000_001);
    expect(decodePayload(next.token).iat as number).toBeGreaterThan(Math.floor(revokedBefore.getTime() / 1000));
    await settle();
    expect((await registryRows()).has('ada')).toBe(true);
  });

  it('creates no Stream user when the registry cannot record the uid: 503, nothing sent to Stream', async () => {
    const { scenario, service, background } = await setup({ registry: brokenDb });
    const failure = await service.createUserAndIssueToken(claims('ada'), background).catch((error: unknown) => error);
    expect((failure as AppError).code).toBe('registry_unavailable');
    expect((failure as AppError).httpStatus).toBe(503);
    expect((failure as AppError).callableStatus).toBe('UNAVAILABLE');
    expect(await scenario.streamRequests()).toEqual([]);
    expectLogged('registry_read_failed', 'registry_write_failed');
  });

  it('refuses to bring back a deleted uid, with a clear error and a log line', async () => {
    const { scenario, service, background } = await setup();
    await DB.prepare(`INSERT INTO stream_users (uid, first_seen_at, state) VALUES ('gone', 0, 'deleted')`).run();
    const failure = await service.createUserAndIssueToken(claims('gone'), background).catch((error: unknown) => error);
    expect((failure as AppError).code).toBe('user_deleted');
    expect((failure as AppError).httpStatus).toBe(410);
    expect((failure as AppError).message).toMatch(/cannot create the same user id again/);
    expect(await scenario.streamRequests()).toEqual([]);
    expectLogged('deleted_user_returned');
  });

  it('serves listed tenants only, and a uid only to the tenant it is registered under', async () => {
    const { service, background, settle } = await setup({ tenants: ['blue'] });
    const blue = claims('u1', { firebase: { tenant: 'blue' } });
    await service.issueToken(blue, background);
    await settle();
    expect((await registryRows()).get('u1')?.tenant).toBe('blue');
    const red = await service.issueToken(claims('u2', { firebase: { tenant: 'red' } }), background).catch((error: unknown) => error);
    expect((red as AppError).code).toBe('tenant_not_allowed');
    const crossing = await service.issueToken(claims('u1'), background).catch((error: unknown) => error); // project-level token, same uid
    expect((crossing as AppError).code).toBe('tenant_mismatch');
    const malformed = await service.issueToken(claims('u3', { firebase: { tenant: 42 } }), background).catch((error: unknown) => error);
    expect((malformed as AppError).code).toBe('invalid_token');
  });

  it('binds a uid to the tenant its registry row names, with or without FIREBASE_TENANT_IDS', async () => {
    // No tenant list: rows can still carry a tenant (an import with "tenant", or an earlier configuration).
    const { scenario, service, background } = await setup();
    await DB.prepare(`INSERT INTO stream_users (uid, tenant, first_seen_at) VALUES ('shared', 'blue', 0)`).run();
    await scenario.seedStreamUsers([{ id: 'shared', name: 'Blue user' }]);
    const projectLevel = claims('shared');
    for (const call of [
      () => service.issueToken(projectLevel, background),
      () => service.createUserAndIssueToken(projectLevel, background),
      () => service.revokeTokens(projectLevel, background),
    ]) {
      const failure = await call().catch((error: unknown) => error);
      expect((failure as AppError).code).toBe('tenant_mismatch');
    }
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('records an unknown uid before issuing, so two tenants racing for it cannot both be served', async () => {
    const { service, background, settle } = await setup({ tenants: ['blue', 'green'] });
    const outcomes = await Promise.allSettled([
      service.issueToken(claims('fresh', { firebase: { tenant: 'blue' } }), background),
      service.issueToken(claims('fresh', { firebase: { tenant: 'green' } }), background),
      service.issueToken(claims('fresh'), background),
    ]);
    await settle();
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const owner = (await registryRows()).get('fresh')?.tenant;
    const served = outcomes.findIndex((outcome) => outcome.status === 'fulfilled');
    expect(owner).toBe(['blue', 'green', ''][served]);
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect((outcome.reason as AppError).code).toBe('tenant_mismatch');
  });

  it('the token route answers 503 rather than issue when the registry cannot say who owns an unknown uid', async () => {
    const { scenario, service, background } = await setup({ registry: brokenDb });
    const failure = await service.issueToken(claims('ada'), background).catch((error: unknown) => error);
    expect((failure as AppError).code).toBe('registry_unavailable');
    expect((failure as AppError).headers['Retry-After']).toBe('5');
    expect(await scenario.streamRequests()).toEqual([]);
    expectLogged('registry_read_failed', 'registry_write_failed');
  });

  it('revokes for a uid that only ever fetched tokens: creates the user, then sets the revocation', async () => {
    const { scenario, service, background } = await setup({ sleep: async () => {} });
    await service.issueToken(claims('token-only', { name: 'Tess' }), background);
    const { revokedBefore } = await service.revokeTokens(claims('token-only', { name: 'Tess' }), background);
    const [user] = (await scenario.streamUsers()).users;
    expect(user).toMatchObject({ id: 'token-only', name: 'Tess', revoke_tokens_issued_before: revokedBefore.toISOString() });
    expect((await registryRows()).get('token-only')).toMatchObject({ state: 'active', tenant: '' });
    // What went to Stream: the revocation (refused: no user), the create (query, upsert), the revocation again.
    const requests = (await scenario.streamRequests()).map((request) => `${request.method} ${request.path}`);
    expect(requests).toEqual(['PATCH /users', 'GET /users', 'POST /users', 'PATCH /users']);
  });

  it('revokes when Stream answers the partial update without the user instead of 404', async () => {
    const { scenario, service, background } = await setup({ sleep: async () => {} });
    await scenario.scriptStream([{ method: 'PATCH', status: 200, body: { users: {}, duration: '1ms' } }]);
    const { revokedBefore } = await service.revokeTokens(claims('quiet'), background);
    expect((await scenario.streamUsers()).users).toMatchObject([{ id: 'quiet', revoke_tokens_issued_before: revokedBefore.toISOString() }]);
  });

  it('revoke of an existing user touches nothing but the revocation', async () => {
    const { scenario, service, background } = await setup({ sleep: async () => {} });
    await scenario.seedStreamUsers([{ id: 'ada', name: 'Ada', role: 'moderator', favourite: 'tea' }]);
    await service.revokeTokens(claims('ada', { name: 'Someone else' }), background);
    const [user] = (await scenario.streamUsers()).users;
    expect(user).toMatchObject({ id: 'ada', name: 'Ada', role: 'moderator', favourite: 'tea' });
    expect((await scenario.streamRequests()).map((request) => request.method)).toEqual(['PATCH']);
  });
});
