/**
 * The token path at the edge, through the Worker's entry point: a returning
 * user waits on no primary statement, a deleted uid gets 410 on every token
 * route, a D1 outage refuses no valid token in a project-level deployment
 * (and refuses, as always, where tenants could share a Stream user), and
 * tenants without a registry are a configuration error.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import worker from '../../src/index';
import {
  callable,
  callWorker,
  decodePayload,
  makeSigningKey,
  mintIdToken,
  PROJECT_ID,
  Scenario,
  STREAM_API_KEY,
  type SigningKey,
} from '../support/fixtures';
import { captureConsole, expectLogged } from '../support/console';
import { clearRegistry, register, registryRows, switchableDb } from '../support/reconcile';
import { UserRegistry } from '../../src/registry/registry';
import { DB } from '../support/reconcile';

let scenario: Scenario;
let key: SigningKey;

beforeEach(async () => {
  await clearRegistry();
  scenario = await Scenario.create();
  key = await makeSigningKey();
  await scenario.setGoogle({ keys: [key] });
});

async function rest(
  env: ReturnType<Scenario['env']>,
  path: string,
  uid: string,
  claims: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  return callWorker(env, path, { idToken: await mintIdToken(key, uid, { claims }), headers });
}

/** Runs `body` with the console captured; answers the lines. */
async function quietly(body: () => Promise<void>): Promise<string[]> {
  const log = captureConsole();
  try {
    await body();
  } finally {
    log.restore();
  }
  return log.lines;
}

describe('a returning user', () => {
  it("costs no primary statement: its row is read from a replica once, then from the isolate's memory", async () => {
    await register(['ada'], '');
    await new UserRegistry(DB).recordSeen([{ uid: 'ada', tenant: '', at: Date.now() }]);
    const { db, state } = switchableDb();
    const env = scenario.env({ DB: db });
    for (let i = 0; i < 3; i++) expect((await rest(env, '/v1/token', 'ada')).status).toBe(200);
    expect(state).toMatchObject({ primary: 0, replica: 1 });
  });

  it('whose evidence of life is old gets it refreshed behind the answer, not before', async () => {
    await register(['ada'], ''); // alive_at NULL: never seen alive
    const { db, state } = switchableDb();
    const response = await rest(scenario.env({ DB: db }), '/v1/token', 'ada');
    expect(response.status).toBe(200);
    expect(state.primary).toBe(1); // the refresh, in waitUntil (callWorker waits for it)
    expect((await registryRows()).get('ada')?.alive_at).not.toBeNull();
  });

  it('a new uid is recorded on the primary before it is served (one statement)', async () => {
    const { db, state } = switchableDb();
    expect((await rest(scenario.env({ DB: db }), '/v1/token', 'newbie')).status).toBe(200);
    expect(state).toMatchObject({ primary: 1, replica: 1 });
    expect((await registryRows()).get('newbie')?.state).toBe('active');
  });
});

describe('a deleted uid', () => {
  const routes: [string, 'rest' | 'callable'][] = [
    ['/v1/token', 'rest'],
    ['/v1/users/me', 'rest'],
    ['/v1/token/revoke', 'rest'],
    ['getStreamUserToken', 'callable'],
    ['createStreamUserAndGetToken', 'callable'],
    ['revokeStreamUserToken', 'callable'],
    ['ext-auth-chat-getStreamUserToken', 'callable'],
    ['ext-auth-chat-revokeStreamUserToken', 'callable'],
  ];

  for (const state of ['pending_delete', 'deleted'] as const) {
    it(`gets 410 user_deleted / FAILED_PRECONDITION on every token route (${state}), and nothing reaches Stream`, async () => {
      await register(['gone'], '');
      const registry = new UserRegistry(DB);
      await registry.markMissing(['gone']);
      if (state === 'deleted') await registry.markDeleted(['gone'], 'cron:soft');
      const env = scenario.env({ DB });
      await quietly(async () => {
        for (const [route, protocol] of routes) {
          const idToken = await mintIdToken(key, 'gone');
          if (protocol === 'rest') {
            const response = await callWorker(env, route, { idToken });
            expect([route, response.status]).toEqual([route, 410]);
            expect(await response.json()).toMatchObject({ code: 'user_deleted' });
          } else {
            const response = await callable(env, route, idToken);
            expect([route, response.status]).toEqual([route, 400]);
            expect(await response.json()).toMatchObject({ error: { status: 'FAILED_PRECONDITION' } });
          }
        }
      });
      expect(await scenario.streamRequests()).toEqual([]);
    });
  }
});

/** Drops the data centre's copy of "tenant-bound rows?" (the Cache API outlives each test's Worker). */
async function forgetSharedTenantRows(): Promise<void> {
  await caches.default.delete(new Request(`https://stream-token-edge.internal/registry/tenant-rows/${PROJECT_ID}/${STREAM_API_KEY}`));
}

describe('a D1 outage', () => {
  it('refuses no valid token in a project-level deployment, returning or new user, and records the new ones when D1 answers again', async () => {
    await register(['ada'], '');
    const { db, state } = switchableDb();
    const env = scenario.env({ DB: db });
    expect((await rest(env, '/v1/token', 'warmup')).status).toBe(200); // the isolate learns: no tenant-bound rows
    state.down = true;
    const lines = await quietly(async () => {
      for (const uid of ['ada', 'new-1', 'new-2']) {
        const response = await rest(env, '/v1/token', uid);
        expect([uid, response.status]).toEqual([uid, 200]);
        expect(decodePayload(((await response.json()) as { token: string }).token)).toMatchObject({ user_id: uid });
      }
    });
    expect(lines.filter((line) => line.includes('"registry_deferred"'))).toHaveLength(3);
    expect(lines.join('\n')).not.toMatch(/new-1|new-2/); // never the uid
    state.down = false;
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the first retry's backoff
    expect((await rest(env, '/v1/token', 'ada')).status).toBe(200); // any request starts the retry
    expectLogged('registry_deferred'); // still within the outage hold: ada is served from what the isolate knows
    const rows = await registryRows();
    expect(rows.get('new-1')?.state).toBe('active');
    expect(rows.get('new-2')?.state).toBe('active');
  });

  it('stops asking D1 for a few seconds once it failed a read and a write: an outage costs the next requests no time', async () => {
    const { db, state } = switchableDb();
    const env = scenario.env({ DB: db });
    await rest(env, '/v1/token', 'warmup');
    state.down = true;
    await quietly(async () => {
      expect((await rest(env, '/v1/token', 'new-1')).status).toBe(200);
      const asked = state.primary + state.replica;
      for (const uid of ['new-2', 'new-3']) expect((await rest(env, '/v1/token', uid)).status).toBe(200);
      expect(state.primary + state.replica).toBe(asked);
    });
  });

  it('sends what it could not record to the queue when one is bound', async () => {
    const sent: unknown[] = [];
    const queue = { send: async (body: unknown) => void sent.push(body), sendBatch: async () => undefined } as unknown as Queue;
    const { db, state } = switchableDb();
    const env = scenario.env({ DB: db, RECONCILE_QUEUE: queue });
    await rest(env, '/v1/token', 'warmup');
    state.down = true;
    await quietly(async () => {
      expect((await rest(env, '/v1/token', 'new-1')).status).toBe(200);
      // The create route writes to Stream: with the registration durable in the queue, it may.
      expect((await rest(env, '/v1/users/me', 'new-2')).status).toBe(200);
    });
    expect(sent).toEqual([
      { kind: 'register', uids: [{ uid: 'new-1', tenant: '', at: expect.any(Number) }] },
      { kind: 'register', uids: [{ uid: 'new-2', tenant: '', at: expect.any(Number) }] },
    ]);
  });

  it('creates no Stream user for an unknown uid when its registration cannot be made durable (no queue)', async () => {
    const { db, state } = switchableDb();
    const env = scenario.env({ DB: db });
    await rest(env, '/v1/token', 'warmup');
    state.down = true;
    await quietly(async () => {
      const response = await rest(env, '/v1/users/me', 'new-1');
      expect(response.status).toBe(503);
      expect(response.headers.get('Retry-After')).toBe('5');
    });
    expect(await scenario.streamRequests()).toEqual([]);
  });

  it('serves an isolate that starts during the outage, from what another isolate of the data centre learnt (the signed cache)', async () => {
    await forgetSharedTenantRows();
    const { db, state } = switchableDb();
    await rest(scenario.env({ DB: db }), '/v1/token', 'warmup'); // one isolate learns, and tells the data centre's cache
    state.down = true;
    await quietly(async () => {
      const fresh = scenario.env({ DB: db }); // a new env object: everything built anew, as in a new isolate
      const response = await rest(fresh, '/v1/token', 'new-1');
      expect(response.status).toBe(200);
      // The copy is the Firebase project's and the Stream app's: a Worker of another app on the zone does not take it.
      const otherApp = await rest(scenario.env({ DB: db, STREAM_API_KEY: 'otherappkey' }), '/v1/token', 'new-2');
      expect(otherApp.status).toBe(503);
    });
  });

  it('refuses (503) where tenants could share a Stream user: tenants configured, a tenant-bound row, or nothing learnt yet', async () => {
    await forgetSharedTenantRows();
    await register(['bound'], 'tenant-a');
    const cases: [string, Record<string, string>, boolean][] = [
      ['tenants configured', { FIREBASE_TENANT_IDS: 'tenant-a' }, true],
      ['a tenant-bound row exists', {}, true],
      ['the isolate never read the registry', {}, false],
    ];
    for (const [name, vars, warm] of cases) {
      const { db, state } = switchableDb();
      const env = scenario.env({ DB: db, ...vars });
      if (warm) await rest(env, '/v1/token', 'warmup');
      state.down = true;
      await quietly(async () => {
        const response = await rest(env, '/v1/token', 'someone');
        expect([name, response.status]).toEqual([name, 503]);
        expect(await response.json()).toMatchObject({ code: 'registry_unavailable' });
      });
    }
  });
});

describe('the queue handler', () => {
  it('records the registrations an outage sent to the queue, and hands lookup batches on to reconciliation', async () => {
    const env = scenario.env({ DB });
    const batch = createMessageBatch('stream-token-edge-reconcile', [
      { id: 'r1', timestamp: new Date(), attempts: 1, body: { kind: 'register', uids: [{ uid: 'late', tenant: '', at: 1234 }] } },
      { id: 'c1', timestamp: new Date(), attempts: 1, body: { kind: 'check', uids: [{ uid: 'late', tenant: '' }] } },
    ]);
    const ctx = createExecutionContext();
    await quietly(async () => {
      await worker.queue!(batch as MessageBatch<never>, env, ctx);
    });
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toContain('r1');
    expect((await registryRows()).get('late')).toMatchObject({ state: 'active', first_seen_at: 1234 });
    // Reconciliation is off here (no Firebase access): the lookup batch comes back later, never acknowledged unread.
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(['c1']);
  });
});

describe('tenants without a registry', () => {
  it('is a configuration error: /healthz names FIREBASE_TENANT_IDS and the token routes refuse', async () => {
    const env = scenario.env({ FIREBASE_TENANT_IDS: 'tenant-a' }); // no DB
    await quietly(async () => {
      const health = await callWorker(env, '/healthz', { method: 'GET' });
      expect(health.status).toBe(503);
      expect(JSON.stringify(await health.json())).toContain('FIREBASE_TENANT_IDS');
      const response = await rest(env, '/v1/token', 'ada', { firebase: { tenant: 'tenant-a', sign_in_provider: 'password' } });
      expect(response.status).toBe(500);
    });
  });
});

describe('first registrations spend the per-address budget', () => {
  it('refuses new uids from one address past the budget, while known uids from it are still served', async () => {
    await register(['known'], '');
    const counts = new Map<string, number>();
    const limiter = {
      limit: async ({ key }: { key: string }) => ({ success: (counts.set(key, (counts.get(key) ?? 0) + 1).get(key) ?? 0) <= 3 }),
    };
    const env = scenario.env({ DB, STREAM_WRITE_IP_LIMITER: limiter as unknown as RateLimit });
    const from = { 'CF-Connecting-IP': '203.0.113.7' };
    const statuses: number[] = [];
    await quietly(async () => {
      for (let i = 0; i < 5; i++) statuses.push((await rest(env, '/v1/token', `new-${i}`, {}, from)).status);
    });
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect((await rest(env, '/v1/token', 'known', {}, from)).status).toBe(200);
    expect((await rest(env, '/v1/token', 'new-9', {}, { 'CF-Connecting-IP': '198.51.100.1' })).status).toBe(200);
    const rows = await registryRows();
    expect(rows.has('new-3')).toBe(false);
  });
});
