import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors';
import type { FirebaseClaims } from '../src/firebase/verify-id-token';
import { UserRegistry } from '../src/registry/registry';
import { StreamRestClient } from '../src/stream/rest-client';
import { StreamTokenSigner } from '../src/stream/tokens';
import { TokenService } from '../src/token-service';
import { decodePayload, Scenario, STREAM_API_KEY } from './support/fixtures';
import { clearRegistry, DB, registryRows } from './support/reconcile';

beforeEach(clearRegistry);

const claims = (sub: string, extra: Record<string, unknown> = {}): FirebaseClaims => ({ sub, aud: 'p', iss: 'i', exp: 2e9, iat: 1, ...extra });

async function setup(options: { now?: () => number; sleep?: (ms: number) => Promise<void>; registry?: boolean } = {}) {
  const scenario = await Scenario.create();
  const signer = new StreamTokenSigner(scenario.streamSecret);
  const stream = new StreamRestClient({ baseUrl: scenario.streamBaseUrl, apiKey: STREAM_API_KEY, signer, maxAttempts: 1 });
  const service = new TokenService({
    settings: { ttlSeconds: 3600, userFields: new Set(['name']), profileCacheSeconds: 3600, tenants: new Set<string>() },
    signer,
    stream,
    registry: options.registry === false ? undefined : new UserRegistry(DB),
    now: options.now,
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
    expect(decodePayload(issued.token)).toEqual({ user_id: 'ada', exp: 1_700_003_600, iat: 1_700_000_000 });
    expect(issued.expiresAt?.toISOString()).toBe(new Date(1_700_003_600_000).toISOString());
    await settle();
    expect((await registryRows()).has('ada')).toBe(true);
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('createUserAndIssueToken registers the uid before Stream has the user, then skips Stream for an unchanged profile', async () => {
    const { scenario, service } = await setup();
    await service.createUserAndIssueToken(claims('ada', { name: 'Ada' }));
    expect((await registryRows()).has('ada')).toBe(true);
    expect((await scenario.streamUsers()).users).toMatchObject([{ id: 'ada', name: 'Ada' }]);
    const calls = (await scenario.streamRequests()).length;
    await service.createUserAndIssueToken(claims('ada', { name: 'Ada' }));
    expect(await scenario.streamRequests()).toHaveLength(calls);
    await service.createUserAndIssueToken(claims('ada', { name: 'Ada L' }));
    expect((await scenario.streamRequests()).length).toBeGreaterThan(calls);
  });

  it('answers a Stream failure as stream_failed and issues no token', async () => {
    const { scenario, service } = await setup({ registry: false });
    await scenario.scriptStream([{ method: 'PATCH', status: 500, body: { code: -1, message: 'boom' } }]);
    const failure = await service.createUserAndIssueToken(claims('ada')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('stream_failed');
  });

  it('refuses a uid Stream cannot use before any call', async () => {
    const { scenario, service, background } = await setup();
    for (const call of [() => service.issueToken(claims('a.b'), background), () => service.createUserAndIssueToken(claims('a b'))]) {
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
    expect(waits).toEqual([750]);
    const next = await service.issueToken(claims('ada'), background);
    expect(decodePayload(next.token).iat).toBe(1_700_000_001);
    await settle();
    expect((await registryRows()).has('ada')).toBe(true);
  });
});
