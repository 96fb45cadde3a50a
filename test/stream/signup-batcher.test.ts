/**
 * The SIGNUP_BATCHER Durable Object: one place where every isolate's
 * sign-ups share Stream requests. The object's own STREAM_API_SECRET is the
 * test pool's ('test-only-secret'), so the scenario's Stream stand-in is
 * created with that secret.
 */
import { env as baseEnv } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureConsole, expectLogged } from '../support/console';
import { callable, callWorker, makeSigningKey, mintIdToken, Scenario } from '../support/fixtures';

const POOL_SECRET = 'test-only-secret';

async function setUp() {
  const scenario = await Scenario.create(POOL_SECRET);
  const key = await makeSigningKey();
  await scenario.setGoogle({ keys: [key] });
  return { scenario, key };
}

describe('SIGNUP_BATCHER', () => {
  it('sign-ups from several isolates share requests: 40 new users, existing ones among them, in three Stream calls', async () => {
    const { scenario, key } = await setUp();
    await scenario.seedStreamUsers([{ id: 'old-1', role: 'moderator', custom: 'keep' }]);
    const uids = [...Array.from({ length: 39 }, (_, i) => `burst-${i}`), 'old-1'];
    // Four "isolates" (env objects: each builds its own services) sending at the same time.
    const isolates = Array.from({ length: 4 }, () => scenario.env({ SIGNUP_BATCHER: baseEnv.SIGNUP_BATCHER }));
    const responses = await Promise.all(
      uids.map(async (uid, i) =>
        callWorker(isolates[i % 4]!, '/v1/users/me', { idToken: await mintIdToken(key, uid, { claims: { name: `N ${uid}` } }) }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(uids.map(() => 200));
    const requests = (await scenario.streamRequests()).map((r) => `${r.method} ${r.path}`);
    expect(requests.length).toBeLessThanOrEqual(6); // one window or two: ≤ 3 requests each
    expect(new Set(requests)).toEqual(new Set(['GET /users', 'POST /users', 'PATCH /users']));
    const users = (await scenario.streamUsers()).users;
    expect(users).toHaveLength(40);
    expect(users.find((u) => u.id === 'old-1')).toMatchObject({ name: 'N old-1', role: 'moderator', custom: 'keep' });
  });

  it("Stream's spent minute comes back through the object as 503 with Retry-After", async () => {
    const { scenario, key } = await setUp();
    const reset = String(Math.floor(Date.now() / 1000) + 50);
    await scenario.scriptStream([
      {
        method: 'GET',
        status: 429,
        body: { code: 9, message: 'Too many requests' },
        headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset },
      },
    ]);
    const response = await callWorker(scenario.env({ SIGNUP_BATCHER: baseEnv.SIGNUP_BATCHER }), '/v1/users/me', {
      idToken: await mintIdToken(key, 'limited'),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('Retry-After')).toMatch(/^\d+$/);
    expect((await scenario.streamUsers()).users).toEqual([]);
    expectLogged('request_failed', 'stream_call_failed');
  });

  it('a Stream failure comes back as the same answer as without the object', async () => {
    const { scenario, key } = await setUp();
    const failure = { method: 'GET', status: 500, body: { code: -1, message: 'boom' } };
    await scenario.scriptStream([failure, failure, failure]);
    const response = await callable(
      scenario.env({ SIGNUP_BATCHER: baseEnv.SIGNUP_BATCHER }),
      'createStreamUserAndGetToken',
      await mintIdToken(key, 'unlucky'),
    );
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { status: 'ABORTED' } });
    expectLogged('stream_call_retry', 'request_failed', 'stream_call_failed');
  });

  it('the object unavailable: the isolate batches by itself and the user is still served', async () => {
    const { scenario, key } = await setUp();
    const broken = {
      get: () => ({ write: () => Promise.reject(new Error('Durable Object is overloaded')) }),
      idFromName: () => ({}),
    } as unknown as DurableObjectNamespace;
    const log = captureConsole();
    let response: Response;
    try {
      response = await callWorker(scenario.env({ SIGNUP_BATCHER: broken as never }), '/v1/users/me', {
        idToken: await mintIdToken(key, 'fallback'),
      });
    } finally {
      log.restore();
    }
    expect(response.status).toBe(200);
    expect((await scenario.streamUsers()).users.map((u) => u.id)).toEqual(['fallback']);
    expect(log.lines.some((line) => line.includes('signup_batcher_unavailable'))).toBe(true);
  });
});
