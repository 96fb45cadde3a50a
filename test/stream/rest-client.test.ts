import { describe, expect, it, vi } from 'vitest';
import { StreamApiError } from '../../src/stream/errors';
import { StreamRestClient, retryDelayFromHeaders } from '../../src/stream/rest-client';
import { StreamTokenSigner } from '../../src/stream/tokens';
import { oracleRecord, Scenario, STREAM_API_KEY, type RecordedRequest } from '../support/fixtures';
import { expectLogged } from '../support/console';

function clientFor(scenario: Scenario, options: Partial<ConstructorParameters<typeof StreamRestClient>[0]> = {}) {
  return new StreamRestClient({
    now: Date.now,
    baseUrl: scenario.streamBaseUrl,
    apiKey: STREAM_API_KEY,
    signer: new StreamTokenSigner(scenario.streamSecret),
    sleep: async () => {},
    ...options,
  });
}

/** What must match the SDK byte for byte (its own client id headers aside). */
function wire(request: RecordedRequest) {
  return {
    method: request.method,
    path: request.path,
    query: request.query,
    body: request.body,
    authorization: request.headers.authorization,
    authType: request.headers['stream-auth-type'],
    contentType: request.body === undefined ? undefined : request.headers['content-type']?.split(';')[0],
  };
}

const genericSuccess = { status: 200, body: { users: {}, user: {}, task_id: 't', duration: '1ms' } };

describe('Stream REST client: same wire format as the stream-chat SDK', () => {
  const revokeAt = '2026-01-02T03:04:05.678Z';
  const contract: { name: string; ours: (c: StreamRestClient) => Promise<unknown>; sdk: [string, unknown[]] }[] = [
    {
      name: 'upsert users',
      ours: (c) => c.upsertUsers([{ id: 'u1', name: 'Ann', image: 'https://x/a.png' }, { id: 'u-2@x' }]),
      sdk: ['upsertUsers', [[{ id: 'u1', name: 'Ann', image: 'https://x/a.png' }, { id: 'u-2@x' }]]],
    },
    {
      name: 'partial update',
      ours: (c) => c.partialUpdateUsers([{ id: 'u1', set: { name: 'Ann' }, unset: ['image'] }]),
      sdk: ['partialUpdateUsers', [[{ id: 'u1', set: { name: 'Ann' }, unset: ['image'] }]]],
    },
    {
      name: 'revoke',
      ours: (c) => c.revokeUserTokens('u1', new Date(revokeAt)),
      sdk: ['revokeUserToken', ['u1', revokeAt]],
    },
    {
      name: 'delete many',
      ours: (c) => c.deleteUsers(['u1', 'u2'], { user: 'hard', messages: 'hard', conversations: 'hard' }),
      sdk: ['deleteUsers', [['u1', 'u2'], { user: 'hard', messages: 'hard', conversations: 'hard' }]],
    },
    {
      name: 'delete many, soft with messages (id needing encoding)',
      ours: (c) => c.deleteUsers(['a@b', 'u_2'], { user: 'soft', messages: 'soft' }),
      sdk: ['deleteUsers', [['a@b', 'u_2'], { user: 'soft', messages: 'soft' }]],
    },
    {
      name: 'get a task',
      ours: (c) => c.getTask('task-1/x'),
      sdk: ['getTask', ['task-1/x']],
    },
    {
      name: 'query users',
      ours: (c) => c.queryUsers({ id: { $in: ['u1', 'u2'] } }, { limit: 2 }),
      sdk: ['queryUsers', [{ id: { $in: ['u1', 'u2'] } }, [], { limit: 2 }]],
    },
    {
      name: 'query users, deactivated included',
      ours: (c) => c.queryUsers({ id: { $eq: 'u1' } }, { limit: 1, include_deactivated_users: true }),
      sdk: ['queryUsers', [{ id: { $eq: 'u1' } }, [], { limit: 1, include_deactivated_users: true }]],
    },
  ];

  for (const { name, ours, sdk } of contract) {
    it(name, async () => {
      const scenario = await Scenario.create();
      await scenario.scriptStream([genericSuccess]);
      await ours(clientFor(scenario));
      const [ourRequest] = await scenario.streamRequests();
      const sdkRequest = await oracleRecord(scenario.streamSecret, sdk[0], sdk[1]);
      expect(ourRequest).toBeDefined();
      expect(wire(ourRequest!)).toEqual(wire(sdkRequest));
    });
  }
});

describe('Stream REST client: failures and retries', () => {
  it('retries a 500 and then succeeds', async () => {
    const scenario = await Scenario.create();
    await scenario.seedStreamUsers([{ id: 'u1', role: 'user' }]);
    await scenario.scriptStream([{ status: 500, body: { code: -1, message: 'boom', StatusCode: 500 } }]);
    const sleep = vi.fn(async () => {});
    const result = await clientFor(scenario, { sleep }).partialUpdateUsers([{ id: 'u1', set: { name: 'N' } }]);
    expect(result.users?.u1).toMatchObject({ name: 'N' });
    expect(await scenario.streamRequests()).toHaveLength(2);
    expect(sleep).toHaveBeenCalledTimes(1);
    expectLogged('stream_call_retry');
  });

  it('retries a 5xx with its own backoff even though Stream sends a far X-RateLimit-Reset on every answer', async () => {
    const scenario = await Scenario.create();
    await scenario.seedStreamUsers([{ id: 'u1' }]);
    const now = 1_800_000_000_000;
    await scenario.scriptStream([
      { status: 502, body: { code: -1, message: 'bad gateway' }, headers: { 'X-RateLimit-Reset': String(now / 1000 + 40) } },
    ]);
    const sleep = vi.fn(async (_ms: number) => {});
    await clientFor(scenario, { sleep, now: () => now, backoffMs: () => 123 }).partialUpdateUsers([{ id: 'u1', set: { name: 'N' } }]);
    expect(sleep).toHaveBeenCalledWith(123);
    expect(await scenario.streamRequests()).toHaveLength(2);
    expectLogged('stream_call_retry');
  });

  it('honours X-RateLimit-Reset on 429', async () => {
    const scenario = await Scenario.create();
    await scenario.seedStreamUsers([{ id: 'u1' }]);
    const now = 1_800_000_000_000;
    await scenario.scriptStream([
      {
        status: 429,
        body: { code: 9, message: 'Too many requests', StatusCode: 429 },
        headers: { 'X-RateLimit-Reset': String(now / 1000 + 2) },
      },
    ]);
    const sleep = vi.fn(async (_ms: number) => {});
    await clientFor(scenario, { sleep, now: () => now }).partialUpdateUsers([{ id: 'u1', set: { name: 'N' } }]);
    expect(sleep).toHaveBeenCalledWith(2000);
    expectLogged('stream_call_retry');
  });

  it('gives up at once when Stream asks for a wait longer than the cap', async () => {
    const scenario = await Scenario.create();
    const now = 1_800_000_000_000;
    await scenario.scriptStream([{ status: 429, rawBody: 'rate limited', headers: { 'X-RateLimit-Reset': String(now / 1000 + 60) } }]);
    const error = await clientFor(scenario, { now: () => now })
      .partialUpdateUsers([{ id: 'u1', set: {} }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamApiError);
    expect((error as StreamApiError).status).toBe(429);
    expect(await scenario.streamRequests()).toHaveLength(1);
    expectLogged('stream_call_failed');
  });

  it('stops after maxAttempts on persistent 5xx, with a typed error from the JSON body', async () => {
    const scenario = await Scenario.create();
    const failure = { status: 503, body: { code: 99, message: 'down', StatusCode: 503 } };
    await scenario.scriptStream([failure, failure, failure, failure]);
    const error = (await clientFor(scenario, { maxAttempts: 3 })
      .upsertUsers([{ id: 'u1' }])
      .catch((e: unknown) => e)) as StreamApiError;
    expect(error).toBeInstanceOf(StreamApiError);
    expect([error.status, error.code, error.streamMessage]).toEqual([503, 99, 'down']);
    expect(await scenario.streamRequests()).toHaveLength(3);
    expectLogged('stream_call_retry', 'stream_call_failed');
  });

  it('does not retry a 4xx other than 429', async () => {
    const scenario = await Scenario.create();
    await scenario.scriptStream([{ status: 400, body: { code: 4, message: 'bad', StatusCode: 400 } }]);
    const error = (await clientFor(scenario)
      .upsertUsers([{ id: 'u1' }])
      .catch((e: unknown) => e)) as StreamApiError;
    expect([error.status, error.code]).toEqual([400, 4]);
    expect(await scenario.streamRequests()).toHaveLength(1);
  });

  it('a listener (metrics) that throws changes nothing: one request, its answer returned, no retry', async () => {
    const scenario = await Scenario.create();
    await scenario.seedStreamUsers([{ id: 'u1', role: 'user' }]);
    const sleep = vi.fn(async () => {});
    const told: number[] = [];
    const onCall = (_operation: string, status: number) => {
      told.push(status);
      throw new Error('dataset full');
    };
    const result = await clientFor(scenario, { sleep, onCall }).partialUpdateUsers([{ id: 'u1', set: { name: 'N' } }]);
    expect(result.users?.u1).toMatchObject({ name: 'N' });
    expect(await scenario.streamRequests()).toHaveLength(1);
    expect([told, sleep.mock.calls.length]).toEqual([[200], 0]);
    // A refusal stays a refusal (not a "no answer" to retry), with its own status.
    await scenario.scriptStream([{ status: 403, body: { code: 17, message: 'no', StatusCode: 403 } }]);
    const error = (await clientFor(scenario, { sleep, onCall })
      .upsertUsers([{ id: 'u2' }])
      .catch((e: unknown) => e)) as StreamApiError;
    expect([error.status, error.code, sleep.mock.calls.length]).toEqual([403, 17, 0]);
  });

  it('parses a non-JSON error body defensively', async () => {
    const scenario = await Scenario.create();
    await scenario.scriptStream([{ status: 403, rawBody: '<html>forbidden</html>' }]);
    const error = (await clientFor(scenario)
      .upsertUsers([{ id: 'u1' }])
      .catch((e: unknown) => e)) as StreamApiError;
    expect([error.status, error.code]).toEqual([403, undefined]);
  });

  it('times out a hung call, retries it, and reports no response', async () => {
    const scenario = await Scenario.create();
    const hang = { status: 200, body: {}, delayMs: 1500 };
    await scenario.scriptStream([hang, hang]);
    const error = (await clientFor(scenario, { timeoutMs: 200, maxAttempts: 2 })
      .upsertUsers([{ id: 'u1' }])
      .catch((e: unknown) => e)) as StreamApiError;
    expect(error).toBeInstanceOf(StreamApiError);
    expect(error.status).toBe(0);
    expect(await scenario.streamRequests()).toHaveLength(2);
    expectLogged('stream_call_retry', 'stream_call_failed');
  });

  it('never puts the secret or the server token in an error or a log line', async () => {
    const scenario = await Scenario.create();
    const lines: string[] = [];
    const spies = (['log', 'warn', 'error'] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' '))),
    );
    await scenario.scriptStream([
      { status: 500, body: { code: 1, message: 'x' } },
      { status: 500, body: { code: 1, message: 'x' } },
    ]);
    const error = await clientFor(scenario, { maxAttempts: 2 })
      .upsertUsers([{ id: 'u1' }])
      .catch((e: unknown) => e);
    spies.forEach((spy) => spy.mockRestore());
    const serverToken = await new StreamTokenSigner(scenario.streamSecret).serverToken();
    const everything = [...lines, String(error), JSON.stringify(error)].join('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(everything).not.toContain(scenario.streamSecret);
    expect(everything).not.toContain(serverToken.split('.')[2]);
  });
});

describe('retryDelayFromHeaders', () => {
  it('reads Retry-After seconds, then X-RateLimit-Reset, else nothing', () => {
    expect(retryDelayFromHeaders(new Headers({ 'retry-after': '3' }), 0)).toBe(3000);
    expect(retryDelayFromHeaders(new Headers({ 'x-ratelimit-reset': '105' }), 100_000)).toBe(5000);
    expect(retryDelayFromHeaders(new Headers({ 'x-ratelimit-reset': '5' }), 100_000)).toBe(0);
    expect(retryDelayFromHeaders(new Headers({ 'retry-after': 'soon' }), 0)).toBeUndefined();
    expect(retryDelayFromHeaders(new Headers(), 0)).toBeUndefined();
  });
});
