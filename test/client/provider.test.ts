/**
 * The client provider (client/index.ts) in Node, against a fake Worker
 * (test/client/fake-worker.ts) with a fake clock: every retry branch, the
 * one ID-token refresh, sign-out races, redirects, timeouts, the user_id
 * check and the URLs the ID token may go to. The end-to-end tests with the
 * real `stream-chat` SDK (test/e2e/stream-client.test.ts) stay alongside.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createStreamTokenProvider,
  deleteStreamUser,
  revokeStreamTokens,
  StreamTokenError,
  type StreamTokenProviderOptions,
} from '../../client/index';
import { callableError, fakeWorker, idTokenOf, payloadOf, problem, settle, streamToken } from './fake-worker';

const URL_ = 'https://worker.example';

/** A signed-in user whose ID token the fake Worker reads: switch `current.uid` to sign in as someone else. */
function session(uid: string) {
  const current = { uid, asked: [] as boolean[] };
  return {
    current,
    getIdToken: async (force: boolean) => (current.asked.push(force), idTokenOf(current.uid, force)),
    getUid: () => current.uid,
  };
}

function setup(worker: ReturnType<typeof fakeWorker>, options: Partial<StreamTokenProviderOptions> = {}) {
  const user = session('alice');
  const waits: number[] = [];
  const provider = createStreamTokenProvider({
    url: URL_,
    getIdToken: user.getIdToken,
    fetch: worker.fetch,
    sleep: async (ms) => void waits.push(ms),
    random: () => 0.5,
    ...options,
  });
  return { provider, user, waits };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('429 and 503: retried after Retry-After plus jitter, bounded', () => {
  it('429 with Retry-After: waits that long plus the jitter, then the token', async () => {
    const worker = fakeWorker([problem(429, 'rate_limited', { 'Retry-After': '2' })]);
    const { provider, waits } = setup(worker);
    expect(payloadOf(await provider()).user_id).toBe('alice');
    expect(waits).toEqual([2000 + 500]);
    expect(worker.paths()).toEqual(['/v1/users/me', '/v1/users/me']);
  });

  it('503 without Retry-After (a proxy): 1 s plus jitter; Retry-After 0: never less than 1 s', async () => {
    const worker = fakeWorker([new Response('busy', { status: 503 }), problem(503, 'stream_unavailable', { 'Retry-After': '0' })]);
    const { provider, waits } = setup(worker, { random: () => 0.25 });
    await provider();
    expect(waits).toEqual([1250, 1250]);
  });

  it('jitter: two providers refused together do not come back in the same millisecond, and never before Retry-After', async () => {
    const waitsOf = async (random: () => number) => {
      const worker = fakeWorker([problem(503, 'stream_unavailable', { 'Retry-After': '5' })]);
      const { provider, waits } = setup(worker, { random });
      await provider();
      return waits[0]!;
    };
    const [a, b, low, high] = [await waitsOf(() => 0.1), await waitsOf(() => 0.7), await waitsOf(() => 0), await waitsOf(() => 0.9999)];
    expect(a).not.toBe(b);
    expect(low).toBe(5000);
    expect(high).toBeLessThan(6000);
    // With the default random source too.
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) seen.add(await waitsOf(Math.random));
    expect(seen.size).toBeGreaterThan(1);
  });

  it("bounded: after maxRetries it fails with the Worker's code and status", async () => {
    const busy = () => problem(503, 'stream_unavailable', { 'Retry-After': '1' });
    const worker = fakeWorker([busy(), busy(), busy(), busy()]);
    const { provider, waits } = setup(worker, { maxRetries: 2 });
    await expect(provider()).rejects.toMatchObject({ name: 'StreamTokenError', code: 'stream_unavailable', status: 503 });
    expect(waits).toHaveLength(2);
    expect(worker.seen).toHaveLength(3);
  });

  it('a Retry-After beyond maxRetryAfterSeconds, or not a number of seconds, fails at once', async () => {
    for (const retryAfter of ['31', 'Wed, 21 Oct 2026 07:28:00 GMT', '-1']) {
      const worker = fakeWorker([problem(429, 'rate_limited', { 'Retry-After': retryAfter })]);
      const { provider, waits } = setup(worker);
      await expect(provider(), retryAfter).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
      expect(waits).toEqual([]);
      expect(worker.seen).toHaveLength(1);
    }
  });

  it('other failures are not retried: 500, 502, 403; the callable protocol names its status', async () => {
    for (const answer of [problem(500, 'internal'), problem(502, 'stream_failed'), problem(403, 'forbidden')]) {
      const worker = fakeWorker([answer]);
      const { provider, waits } = setup(worker);
      await expect(provider()).rejects.toBeInstanceOf(StreamTokenError);
      expect(waits).toEqual([]);
      expect(worker.seen).toHaveLength(1);
    }
    const worker = fakeWorker([callableError(429, 'RESOURCE_EXHAUSTED', { 'Retry-After': '1' }), callableError(409, 'ABORTED')]);
    const { provider, waits } = setup(worker, { protocol: 'callable' });
    await expect(provider()).rejects.toMatchObject({ code: 'ABORTED', status: 409 });
    expect(waits).toHaveLength(1);
    expect(worker.paths()).toEqual(['/createStreamUserAndGetToken', '/createStreamUserAndGetToken']);
  });
});

describe('an ID token the Worker refuses is refreshed once', () => {
  it.each([
    ['REST invalid_token', 'rest', () => problem(401, 'invalid_token')],
    ['REST token_revoked', 'rest', () => problem(401, 'token_revoked')],
    ['callable UNAUTHENTICATED', 'callable', () => callableError(401, 'UNAUTHENTICATED')],
  ] as const)('%s: one getIdToken(true), then the token', async (_label, protocol, refusal) => {
    const worker = fakeWorker([refusal()]);
    const { provider, user } = setup(worker, { protocol });
    await provider();
    expect(user.current.asked).toEqual([false, true]);
    expect(worker.seen.map((r) => r.authorization)).toEqual([`Bearer ${idTokenOf('alice')}`, `Bearer ${idTokenOf('alice', true)}`]);
  });

  it('refused again: fails with the code, no third try', async () => {
    const worker = fakeWorker([problem(401, 'invalid_token'), problem(401, 'invalid_token')]);
    const { provider, user } = setup(worker);
    await expect(provider()).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
    expect(user.current.asked).toEqual([false, true]);
  });

  it('a refusal a fresh ID token cannot fix (App Check, a disabled account…) is not refreshed', async () => {
    const worker = fakeWorker([problem(401, 'app_check_failed')]);
    const { provider, user } = setup(worker);
    await expect(provider()).rejects.toMatchObject({ code: 'app_check_failed' });
    expect(user.current.asked).toEqual([false]);
  });
});

describe('one signed-in user per generation: reset() (sign-out) forgets everything', () => {
  it("a prefetch for alice that lands after reset and bob's sign-in is dropped: bob gets his own token, user is not alice", async () => {
    const worker = fakeWorker();
    const { provider, user } = setup(worker, { getUid: undefined });
    worker.hold();
    const prefetch = provider.prefetch();
    await settle();
    provider.reset();
    user.current.uid = 'bob';
    worker.release();
    await prefetch;
    expect(provider.user).toBeUndefined();
    const token = await provider();
    expect(payloadOf(token).user_id).toBe('bob');
    expect(provider.user).toEqual({ id: 'bob', name: 'name of bob' });
  });

  it("a call in flight for alice is not shared with bob's first call; alice's caller gets an error, not a token", async () => {
    const worker = fakeWorker();
    const { provider, user } = setup(worker);
    worker.hold();
    const alices = provider();
    await settle();
    provider.reset();
    user.current.uid = 'bob';
    const bobs = provider();
    await settle();
    expect(worker.waiting()).toBe(2); // two requests: bob did not join alice's
    worker.release();
    await expect(alices).rejects.toMatchObject({ code: 'reset' });
    expect(payloadOf(await bobs).user_id).toBe('bob');
  });

  it("bob goes through the create route after alice's reset, so his Stream profile is written", async () => {
    const worker = fakeWorker();
    const { provider, user } = setup(worker);
    await provider();
    await provider();
    provider.reset();
    user.current.uid = 'bob';
    await provider();
    expect(worker.paths()).toEqual(['/v1/users/me', '/v1/token', '/v1/users/me']);
  });

  it("a token kept (prefetched) before alice's revoke and sign-out is never handed to the next caller", async () => {
    const worker = fakeWorker();
    const { provider, user } = setup(worker);
    await provider.prefetch();
    await revokeStreamTokens({ url: URL_, getIdToken: user.getIdToken, fetch: worker.fetch });
    provider.reset();
    user.current.uid = 'bob';
    const token = await provider();
    expect(payloadOf(token).user_id).toBe('bob');
    expect(worker.paths()).toEqual(['/v1/users/me', '/v1/token/revoke', '/v1/users/me']);
  });

  it('a prefetch in flight when alice revokes and signs out is dropped, even with no new user yet', async () => {
    const worker = fakeWorker();
    const { provider, user } = setup(worker);
    worker.hold();
    const prefetch = provider.prefetch();
    await settle();
    provider.reset();
    worker.release();
    await prefetch;
    user.current.uid = 'alice'; // signs in again: still a new fetch, through the create route
    await provider();
    expect(worker.paths()).toEqual(['/v1/users/me', '/v1/users/me']);
  });

  it('prefetch() shares the request in flight: one request, the token handed out once', async () => {
    const worker = fakeWorker();
    const { provider } = setup(worker);
    worker.hold();
    const prefetch = provider.prefetch();
    const first = provider();
    await settle();
    expect(worker.waiting()).toBe(1);
    worker.release();
    await prefetch;
    const token = await first;
    const second = await provider(); // the SDK asks again only when Stream refused the first: a new one
    expect(second).not.toBe(token);
    expect(worker.seen).toHaveLength(2);
  });

  it('a prefetched token is handed out once, and not within refreshMarginSeconds of its exp (fake clock)', async () => {
    let now = 1_000_000_000_000;
    const expiring = streamToken('alice', now / 1000 + 120);
    const worker = fakeWorker([new Response(JSON.stringify({ token: expiring, user: { id: 'alice' } }), { status: 200 })]);
    const { provider } = setup(worker, { now: () => now });
    await provider.prefetch();
    now += 61_000; // 59 s left, margin 60 s
    const token = await provider();
    expect(token).not.toBe(expiring);
    expect(worker.seen).toHaveLength(2);
  });
});

describe('the token is checked against the signed-in uid (getUid)', () => {
  it('a kept token of alice is not handed out once bob is signed in (no reset called)', async () => {
    const worker = fakeWorker();
    const user = session('alice');
    const provider = createStreamTokenProvider({ url: URL_, getIdToken: user.getIdToken, getUid: user.getUid, fetch: worker.fetch });
    await provider.prefetch();
    user.current.uid = 'bob';
    expect(payloadOf(await provider()).user_id).toBe('bob');
    expect(worker.seen).toHaveLength(2);
  });

  it('an answer for another uid is asked again once, then refused with user_mismatch; never returned', async () => {
    const worker = fakeWorker();
    const user = session('alice');
    const wrong = createStreamTokenProvider({ url: URL_, getIdToken: user.getIdToken, getUid: () => 'mallory', fetch: worker.fetch });
    await expect(wrong()).rejects.toMatchObject({ code: 'user_mismatch' });
    expect(worker.seen).toHaveLength(2);

    // A token with no readable payload is nobody's.
    const garbled = fakeWorker([new Response(JSON.stringify({ token: 'a.b.c' })), new Response(JSON.stringify({ token: 'a.b.c' }))]);
    const strict = createStreamTokenProvider({ url: URL_, getIdToken: user.getIdToken, getUid: user.getUid, fetch: garbled.fetch });
    await expect(strict()).rejects.toMatchObject({ code: 'user_mismatch' });
  });

  it("signed in again during the request (no reset): the second ask, with the new ID token, is the right user's", async () => {
    const user = session('alice');
    const worker = fakeWorker([
      (request) => {
        user.current.uid = 'bob'; // bob signs in while alice's request is answered
        return new Response(JSON.stringify({ token: streamToken('alice'), user: { id: 'alice' } }));
      },
    ]);
    const provider = createStreamTokenProvider({ url: URL_, getIdToken: user.getIdToken, getUid: user.getUid, fetch: worker.fetch });
    expect(payloadOf(await provider()).user_id).toBe('bob');
  });
});

describe('transport: https only, no redirects, a timeout', () => {
  it('refuses http:// URLs other than loopback, before any request', async () => {
    const worker = fakeWorker();
    const getIdToken = async () => 'id-x';
    for (const url of ['http://worker.example', 'http://10.0.0.1:8787', 'ftp://worker.example', 'not a url']) {
      expect(() => createStreamTokenProvider({ url, getIdToken, fetch: worker.fetch }), url).toThrow(StreamTokenError);
      await expect(revokeStreamTokens({ url, getIdToken, fetch: worker.fetch })).rejects.toBeInstanceOf(StreamTokenError);
      await expect(deleteStreamUser({ url, getIdToken, fetch: worker.fetch })).rejects.toBeInstanceOf(StreamTokenError);
    }
    expect(worker.seen).toEqual([]);
    for (const url of [
      'https://worker.example/',
      'http://localhost:8787',
      'http://127.0.0.1:8787',
      'http://127.8.9.10',
      'http://[::1]:8787',
    ]) {
      await createStreamTokenProvider({ url, getIdToken, fetch: worker.fetch })();
    }
    expect(worker.seen).toHaveLength(5);
  });

  it('every request says redirect: "error"; a 3xx answer is refused', async () => {
    const worker = fakeWorker();
    const user = session('alice');
    const options = { url: URL_, getIdToken: user.getIdToken, fetch: worker.fetch };
    await createStreamTokenProvider(options)();
    await revokeStreamTokens(options);
    await deleteStreamUser(options);
    await deleteStreamUser({ ...options, protocol: 'callable' });
    expect(worker.seen.map((r) => r.redirect)).toEqual(['error', 'error', 'error', 'error']);

    const redirecting = fakeWorker([new Response(null, { status: 307, headers: { Location: 'https://elsewhere.example/' } })]);
    await expect(createStreamTokenProvider({ ...options, fetch: redirecting.fetch })()).rejects.toMatchObject({
      code: 'redirected',
      status: 307,
    });
  });

  it('with the real fetch: a redirect to another origin is not followed, and the ID token never reaches it', async () => {
    const reached: (string | undefined)[] = [];
    const elsewhere = createServer((req, res) => (reached.push(req.headers.authorization), res.end('{}')));
    const worker = createServer((_req, res) => {
      res.writeHead(307, { Location: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/v1/token` });
      res.end();
    });
    await Promise.all([elsewhere, worker].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    try {
      const provider = createStreamTokenProvider({
        url: `http://127.0.0.1:${(worker.address() as AddressInfo).port}`,
        getIdToken: async () => 'id-secret',
      });
      await expect(provider()).rejects.toMatchObject({ name: 'StreamTokenError', code: 'network_error' });
      expect(reached).toEqual([]);
    } finally {
      for (const server of [elsewhere, worker]) server.close();
    }
  });

  it('a Worker that never answers: fails with timeout after timeoutMs (fake clock)', async () => {
    vi.useFakeTimers();
    const worker = fakeWorker();
    worker.hold();
    const user = session('alice');
    const provider = createStreamTokenProvider({ url: URL_, getIdToken: user.getIdToken, fetch: worker.fetch, timeoutMs: 5000 });
    const call = provider();
    call.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(4999);
    expect(worker.seen[0]!.signal!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(call).rejects.toMatchObject({ code: 'timeout', message: expect.stringContaining('5000 ms') });
    expect(worker.seen[0]!.signal!.aborted).toBe(true);
  });
});

describe('revoke and delete', () => {
  it("take getIdToken like the provider and answer the Worker's own shapes, on both protocols", async () => {
    const worker = fakeWorker([problem(401, 'invalid_token')]);
    const user = session('alice');
    const options = { url: URL_, getIdToken: user.getIdToken, fetch: worker.fetch };
    expect(await revokeStreamTokens(options)).toEqual({ revoked_before: '2026-01-01T00:00:00.000Z' });
    expect(user.current.asked).toEqual([false, true]); // refreshed once there too
    expect(await revokeStreamTokens({ ...options, protocol: 'callable' })).toEqual({ revoked_before: '2026-01-01T00:00:00.000Z' });
    const rest = await deleteStreamUser(options);
    expect(rest).toEqual({ deleted: true, completed: false }); // 202: under way
    const viaCallable = await deleteStreamUser({ ...options, protocol: 'callable' });
    expect(viaCallable.deleted ? 'deleted' : viaCallable.reason).toBe('firebase_account_exists');
    expect(worker.paths()).toEqual([
      '/v1/token/revoke',
      '/v1/token/revoke',
      '/revokeStreamUserToken',
      '/v1/users/me/delete',
      '/deleteStreamUser',
    ]);
  });

  it('an answer without a token is bad_answer', async () => {
    const worker = fakeWorker([new Response(JSON.stringify({ user_id: 'alice' }))]);
    const { provider } = setup(worker);
    await expect(provider()).rejects.toMatchObject({ code: 'bad_answer' });
  });
});
