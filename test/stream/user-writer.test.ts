/**
 * Batched Stream user writes (src/stream/user-writer.ts), against the Stream
 * stand-in: the properties of the one-user sync it replaced (an existing
 * user is never replaced), and what batching adds.
 */
import { describe, expect, it } from 'vitest';
import { StreamApiError } from '../../src/stream/errors';
import { StreamRestClient } from '../../src/stream/rest-client';
import { StreamTokenSigner } from '../../src/stream/tokens';
import { StreamBusyError, UserWriter } from '../../src/stream/user-writer';
import { Scenario, STREAM_API_KEY } from '../support/fixtures';

async function setup(options: { windowMs?: number; maxWaitMs?: number; sleep?: (ms: number) => Promise<void> } = {}) {
  const scenario = await Scenario.create();
  const stream = new StreamRestClient({
    now: Date.now,
    baseUrl: scenario.streamBaseUrl,
    apiKey: STREAM_API_KEY,
    signer: new StreamTokenSigner(scenario.streamSecret),
    maxAttempts: 1,
  });
  const writer = new UserWriter({
    now: Date.now,
    stream,
    batching: true,
    windowMs: options.windowMs ?? 10,
    maxWaitMs: options.maxWaitMs,
    sleep: options.sleep,
  });
  return { scenario, writer };
}

const userIn = async (scenario: Scenario, id: string) => (await scenario.streamUsers()).users.find((user) => user.id === id);
const calls = async (scenario: Scenario) => (await scenario.streamRequests()).map((r) => `${r.method} ${r.path}`);

describe('UserWriter', () => {
  it('updates an existing user with a partial update, keeping role, teams and custom data, and clears removed fields', async () => {
    const { scenario, writer } = await setup();
    await scenario.seedStreamUsers([{ id: 'ada', name: 'Old', image: 'https://old', role: 'moderator', teams: ['red'], favourite: 'tea' }]);
    expect(await writer.write({ id: 'ada', set: { name: 'Ada' }, unset: ['image'] })).toBe('updated');
    expect(await userIn(scenario, 'ada')).toMatchObject({ name: 'Ada', role: 'moderator', teams: ['red'], favourite: 'tea' });
    expect((await userIn(scenario, 'ada'))?.image).toBeUndefined();
    expect(await calls(scenario)).toEqual(['GET /users', 'PATCH /users']);
  });

  it('creates a user the query does not find', async () => {
    const { scenario, writer } = await setup();
    expect(await writer.write({ id: 'newbie', set: { name: 'New' }, unset: ['image'] })).toBe('created');
    expect(await userIn(scenario, 'newbie')).toMatchObject({ id: 'newbie', name: 'New' });
    expect(await calls(scenario)).toEqual(['GET /users', 'POST /users']);
  });

  it('never replaces a deactivated user: the query includes deactivated users', async () => {
    const { scenario, writer } = await setup();
    await scenario.seedStreamUsers([{ id: 'sleeper', name: 'Old', role: 'moderator', deactivated_at: '2026-01-01T00:00:00Z' }]);
    await writer.write({ id: 'sleeper', set: { name: 'New' }, unset: [] });
    const query = (await scenario.streamRequests()).find((r) => r.method === 'GET');
    expect(JSON.parse(query!.query.payload!)).toMatchObject({
      include_deactivated_users: true,
      filter_conditions: { id: { $in: ['sleeper'] } },
    });
    expect(await userIn(scenario, 'sleeper')).toMatchObject({ name: 'New', role: 'moderator' });
    expect((await scenario.streamRequests()).some((r) => r.method === 'POST')).toBe(false);
  });

  it('coalesces concurrent writes: 60 sign-ups, existing users with custom fields among them, in three requests', async () => {
    const { scenario, writer } = await setup({ windowMs: 30 });
    await scenario.seedStreamUsers([
      { id: 'old-1', name: 'Old', role: 'admin', custom: 'keep' },
      { id: 'old-2', teams: ['x'] },
    ]);
    const ids = [...Array.from({ length: 58 }, (_, i) => `new-${i}`), 'old-1', 'old-2'];
    const outcomes = await Promise.all(ids.map((id) => writer.write({ id, set: { name: `Name ${id}` }, unset: [] })));
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(58);
    expect(outcomes.slice(-2)).toEqual(['updated', 'updated']);
    expect((await calls(scenario)).sort()).toEqual(['GET /users', 'PATCH /users', 'POST /users']);
    expect(await userIn(scenario, 'old-1')).toMatchObject({ name: 'Name old-1', role: 'admin', custom: 'keep' });
    expect(await userIn(scenario, 'old-2')).toMatchObject({ teams: ['x'] });
    const upsert = (await scenario.streamRequests()).find((r) => r.method === 'POST')!;
    expect(Object.keys((upsert.body as { users: Record<string, unknown> }).users)).toHaveLength(58);
  });

  it('more than 100 writes go out in batches of at most 100', async () => {
    const { scenario, writer } = await setup({ windowMs: 30 });
    await Promise.all(Array.from({ length: 150 }, (_, i) => writer.write({ id: `u${i}`, set: {}, unset: [] })));
    const upserts = (await scenario.streamRequests()).filter((r) => r.method === 'POST');
    expect(upserts.map((r) => Object.keys((r.body as { users: object }).users).length).sort((a, b) => a - b)).toEqual([50, 100]);
  });

  it('a failed request fails its own users only; the others in the batch get their outcome', async () => {
    const { scenario, writer } = await setup({ windowMs: 30 });
    await scenario.seedStreamUsers([{ id: 'existing' }]);
    await scenario.scriptStream([{ method: 'POST', status: 400, body: { code: 4, message: 'bad user' } }]);
    const results = await Promise.allSettled([
      writer.write({ id: 'existing', set: { name: 'E' }, unset: [] }),
      writer.write({ id: 'fresh', set: { name: 'F' }, unset: [] }),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'updated' });
    expect(results[1].status).toBe('rejected');
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StreamApiError);
    expect(await userIn(scenario, 'fresh')).toBeUndefined();
  });

  it("a user missing from Stream's answer is a failure for that caller, not a success", async () => {
    const { scenario, writer } = await setup();
    await scenario.scriptStream([{ method: 'POST', status: 201, body: { users: {}, duration: '1ms' } }]);
    await expect(writer.write({ id: 'ghost', set: {}, unset: [] })).rejects.toBeInstanceOf(StreamApiError);
  });

  it("when Stream's window is spent: waits for the reset within the bound, else StreamBusyError (never a partial user)", async () => {
    const waits: number[] = [];
    const { scenario, writer } = await setup({ maxWaitMs: 2_000, sleep: async (ms) => void waits.push(ms) });
    const soon = String(Math.floor(Date.now() / 1000) + 1);
    await scenario.scriptStream([
      {
        method: 'GET',
        status: 200,
        body: { users: [], duration: '1ms' },
        headers: { 'X-RateLimit-Remaining': '5', 'X-RateLimit-Reset': soon },
      },
    ]);
    // The query left budget: the upsert goes at once.
    expect(await writer.write({ id: 'a', set: {}, unset: [] })).toBe('created');
    const later = String(Math.floor(Date.now() / 1000) + 120);
    await scenario.scriptStream([
      {
        method: 'GET',
        status: 200,
        body: { users: [], duration: '1ms' },
        headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': later },
      },
    ]);
    await writer.write({ id: 'b', set: {}, unset: [] }).catch(() => undefined); // learns the query budget is spent
    const error = await writer.write({ id: 'c', set: {}, unset: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamBusyError);
    expect((error as StreamBusyError).retryAfterSeconds).toBeGreaterThan(60);
    expect(await userIn(scenario, 'c')).toBeUndefined();
    expect(waits).toEqual([]);
  });
});

describe('UserWriter paces batches by the create budget left', () => {
  it('with few creates left in the window, a batch gathers longer, so later writes share it', async () => {
    const { scenario, writer } = await setup({ windowMs: 10 });
    const reset = String(Math.floor(Date.now() / 1000) + 2);
    await scenario.scriptStream([
      { method: 'GET', status: 200, body: { users: [], duration: '1ms' } },
      {
        method: 'POST',
        status: 201,
        body: { users: { first: { id: 'first' } }, duration: '1ms' },
        headers: { 'X-RateLimit-Remaining': '4', 'X-RateLimit-Reset': reset },
      },
    ]);
    await writer.write({ id: 'first', set: {}, unset: [] });
    // ~1–2 s to the reset for 4 requests: the next batch waits a few hundred ms, so writes 150 ms apart share it.
    const a = writer.write({ id: 'a', set: {}, unset: [] });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const b = writer.write({ id: 'b', set: {}, unset: [] });
    expect(await Promise.all([a, b])).toEqual(['created', 'created']);
    const upserts = (await scenario.streamRequests()).filter((r) => r.method === 'POST');
    expect(upserts.map((r) => Object.keys((r.body as { users: object }).users).sort())).toEqual([['first'], ['a', 'b']]);
  });
});

describe('UserWriter without batching (a stateless Worker)', () => {
  it.each([
    ['batching: false', { batching: false }],
    ['by default (the choice a stateless Worker must make)', {}],
  ])("%s: each write makes its own requests, in its caller's context, never waiting on another's", async (_, options) => {
    const scenario = await Scenario.create();
    const stream = new StreamRestClient({
      now: Date.now,
      baseUrl: scenario.streamBaseUrl,
      apiKey: STREAM_API_KEY,
      signer: new StreamTokenSigner(scenario.streamSecret),
      maxAttempts: 1,
    });
    const writer = new UserWriter({ now: Date.now, stream, ...options });
    const outcomes = await Promise.all(['a', 'b', 'c'].map((id) => writer.write({ id, set: {}, unset: [] })));
    expect(outcomes).toEqual(['created', 'created', 'created']);
    const queries = (await scenario.streamRequests()).filter((r) => r.method === 'GET');
    expect(queries.map((r) => JSON.parse(r.query.payload!).filter_conditions.id.$in)).toEqual([['a'], ['b'], ['c']]);
  });
});
