/**
 * The cache of Google's public keys.
 *
 * Through the Worker where real time will do (each Scenario has its own JWKS
 * URL, and the isolate keeps one store per URL, so tests never share a
 * cache), and directly on GoogleKeyStore with an injected clock where time
 * matters. Fetches are counted by the Google stand-in itself.
 */
import { compactVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { AppError } from '../../src/errors';
import { freshnessFromCacheControl, GoogleKeyStore, KEY_CACHE_LIMITS } from '../../src/firebase/google-keys';
import { CacheApiKeySetCache, KEY_SET_PURPOSE } from '../../src/firebase/key-set-cache';
import { SignedCache } from '../../src/platform/signed-cache';
import { captureConsole, expectLogged } from '../support/console';
import { callable, callWorker, makeSigningKey, mintIdToken, Scenario, type SigningKey } from '../support/fixtures';

const UID = 'key-cache-user';
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const UNKNOWN_KID_WINDOW = 30 * SECOND;
const DEFAULT_GRACE = 6 * HOUR;

async function scenarioWith(keys: SigningKey[], options: { maxAge?: number; delayMs?: number } = {}): Promise<Scenario> {
  const scenario = await Scenario.create();
  await scenario.setGoogle({ keys, ...options });
  return scenario;
}

async function issueToken(env: Env, idToken: string): Promise<Response> {
  return callWorker(env, '/v1/token', { idToken });
}

function statuses(responses: Response[]): number[] {
  return responses.map((r) => r.status);
}

/** A clock the test moves by hand. */
class ManualClock {
  #now = Date.UTC(2026, 0, 1);
  readonly now = (): number => this.#now;
  advance(ms: number): void {
    this.#now += ms;
  }
}

function storeFor(scenario: Scenario, clock: ManualClock): GoogleKeyStore {
  return new GoogleKeyStore({ url: scenario.jwksUrl, now: clock.now });
}

/** Proves `cryptoKey` is the public half of `key` by verifying something `key` signed. */
async function expectKeyOf(cryptoKey: CryptoKey, key: SigningKey): Promise<void> {
  await expect(compactVerify(await mintIdToken(key, UID), cryptoKey)).resolves.toBeDefined();
}

async function expectRejection(promise: Promise<unknown>, code: AppError['code']): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  return error as AppError;
}

describe('Google key cache through the Worker', () => {
  it('shares one slow fetch between 20 concurrent cold requests, then serves 50 more from cache', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { delayMs: 200 });
    const env = scenario.env();
    const idToken = await mintIdToken(key, UID);

    const cold = await Promise.all(Array.from({ length: 20 }, () => issueToken(env, idToken)));
    expect(statuses(cold)).toEqual(Array(20).fill(200));
    expect(await scenario.keyFetches()).toBe(1);

    const warm = await Promise.all(Array.from({ length: 50 }, () => issueToken(env, idToken)));
    expect(statuses(warm)).toEqual(Array(50).fill(200));
    expect(await scenario.keyFetches()).toBe(1);
  });

  it('does not refetch for unknown kids right after a fetch', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key]);
    const env = scenario.env();
    expect((await issueToken(env, await mintIdToken(key, UID))).status).toBe(200);

    const bogus = await mintIdToken(key, UID, { header: { kid: 'made-up-kid' } });
    const responses = await Promise.all(Array.from({ length: 20 }, () => issueToken(env, bogus)));
    expect(statuses(responses)).toEqual(Array(20).fill(401));
    expect(await scenario.keyFetches()).toBe(1);
  });

  it('answers 503 / UNAVAILABLE when Google is down and nothing is cached, without calling Stream', async () => {
    const key = await makeSigningKey();
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [key], down: true });
    const env = scenario.env();
    const idToken = await mintIdToken(key, UID);

    for (const path of ['/v1/token', '/v1/users/me']) {
      const response = await callWorker(env, path, { idToken });
      expect(response.status).toBe(503);
      expect(response.headers.get('Content-Type')).toMatch(/^application\/problem\+json\b/);
      expect(response.headers.get('Retry-After')).toMatch(/^\d+$/);
      expect(await response.json()).toMatchObject({ status: 503, code: 'keys_unavailable' });
    }
    for (const name of ['getStreamUserToken', 'createStreamUserAndGetToken']) {
      const response = await callable(env, name, idToken);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: { status: string } }).error.status).toBe('UNAVAILABLE');
    }

    expect(await scenario.keyFetches()).toBeGreaterThanOrEqual(1);
    expect(await scenario.streamRequests()).toEqual([]);
    expectLogged('google_keys_fetch_failed', 'request_failed');
  });
});

describe('GoogleKeyStore with an injected clock', () => {
  it('picks up a rotated key with exactly one refetch', async () => {
    const oldKey = await makeSigningKey();
    const newKey = await makeSigningKey();
    const scenario = await scenarioWith([oldKey]);
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);

    await expectKeyOf(await store.getKey(oldKey.kid), oldKey);
    expect(await scenario.keyFetches()).toBe(1);

    clock.advance(10 * MINUTE); // still within max-age
    await scenario.setGoogle({ keys: [oldKey, newKey] });
    await expectKeyOf(await store.getKey(newKey.kid), newKey);
    expect(await scenario.keyFetches()).toBe(2);

    await expectKeyOf(await store.getKey(oldKey.kid), oldKey);
    await expectKeyOf(await store.getKey(newKey.kid), newKey);
    expect(await scenario.keyFetches()).toBe(2);
  });

  // Concurrent requests with the same new kid join the one refetch instead of being refused.
  it('accepts concurrent requests carrying a rotated key while its refetch is in flight', async () => {
    const oldKey = await makeSigningKey();
    const newKey = await makeSigningKey();
    const scenario = await scenarioWith([oldKey]);
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(oldKey.kid);

    clock.advance(10 * MINUTE);
    await scenario.setGoogle({ keys: [oldKey, newKey], delayMs: 200 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.getKey(newKey.kid)));
    const outcomes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as AppError).code));
    expect(outcomes).toEqual(Array(20).fill('ok'));
    expect(await scenario.keyFetches()).toBe(2);
  });

  it('refetches for unknown kids at most once per 30 s', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key]);
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(1);

    const tryBogusKids = async (times: number) => {
      for (let i = 0; i < times; i++) await expectRejection(store.getKey(`bogus-${i}`), 'invalid_token');
    };

    clock.advance(UNKNOWN_KID_WINDOW + SECOND);
    await tryBogusKids(25);
    expect(await scenario.keyFetches()).toBe(2);

    clock.advance(UNKNOWN_KID_WINDOW - 2 * SECOND); // 29 s after that refetch
    await tryBogusKids(25);
    expect(await scenario.keyFetches()).toBe(2);

    clock.advance(2 * SECOND); // 31 s after it
    await tryBogusKids(25);
    expect(await scenario.keyFetches()).toBe(3);

    // The known key is still served throughout, from cache.
    await expectKeyOf(await store.getKey(key.kid), key);
    expect(await scenario.keyFetches()).toBe(3);
  });

  it('honours max-age from Cache-Control: no refetch before it, one after it', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 600 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);

    clock.advance(599 * SECOND);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(1);

    clock.advance(2 * SECOND);
    await expectKeyOf(await store.getKey(key.kid), key);
    expect(await scenario.keyFetches()).toBe(2);

    // Fresh again for another max-age from the refetch.
    clock.advance(599 * SECOND);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(2);
  });

  it('keeps keys longer than the default hour when max-age says so', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 2 * 3600 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);

    clock.advance(HOUR + MINUTE);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(1);

    clock.advance(HOUR);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(2);
  });

  it('does not let max-age=0 turn the cache off', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 0 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);

    clock.advance(KEY_CACHE_LIMITS.minFreshMs - SECOND);
    for (let i = 0; i < 10; i++) await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(1);

    clock.advance(2 * SECOND);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(2);
  });

  it('serves keys past max-age while Google is down, within the grace period, and 503 after it', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 600 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);

    await scenario.setGoogle({ down: true });
    clock.advance(601 * SECOND);
    await expectKeyOf(await store.getKey(key.kid), key);
    expect(await scenario.keyFetches()).toBe(2); // it did try

    // Right after a failure it does not hammer Google.
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(2);

    clock.advance(DEFAULT_GRACE - 2 * SECOND); // max-age + grace - 1 s
    await expectKeyOf(await store.getKey(key.kid), key);
    expect(await scenario.keyFetches()).toBe(3);

    clock.advance(2 * SECOND); // max-age + grace + 1 s
    const error = await expectRejection(store.getKey(key.kid), 'keys_unavailable');
    expect(error.httpStatus).toBe(503);
    expect(error.callableStatus).toBe('UNAVAILABLE');
    expectLogged('google_keys_fetch_failed');
  });

  it('recovers when Google comes back during the grace period', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 600 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);

    await scenario.setGoogle({ down: true });
    clock.advance(HOUR);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(2);

    await scenario.setGoogle({ down: false });
    clock.advance(MINUTE);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(3);

    // Fresh again: the next 599 s need no fetch.
    clock.advance(599 * SECOND);
    await store.getKey(key.kid);
    expect(await scenario.keyFetches()).toBe(3);
    expectLogged('google_keys_fetch_failed');
  });

  it('is unavailable (not unauthenticated) when Google is down and nothing is cached', async () => {
    const key = await makeSigningKey();
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [key], down: true });
    const store = storeFor(scenario, new ManualClock());

    const error = await expectRejection(store.getKey(key.kid), 'keys_unavailable');
    expect(error.headers['Retry-After']).toMatch(/^\d+$/);
    expect(await scenario.keyFetches()).toBe(1);
    expectLogged('google_keys_fetch_failed');
  });
});

describe('keys never block a request that could be served', () => {
  /** Collects background work as ctx.waitUntil would. */
  function background() {
    const pending: Promise<unknown>[] = [];
    return { waitUntil: (promise: Promise<unknown>) => void pending.push(promise), settle: () => Promise.all(pending), pending };
  }

  it('past max-age with Google hanging: answers at once from stale keys and refreshes in the background, one at a time', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 600 });
    const clock = new ManualClock();
    const store = new GoogleKeyStore({ url: scenario.jwksUrl, now: clock.now, timeoutMs: 1_500 });
    await store.getKey(key.kid);

    await scenario.setGoogle({ delayMs: 3_000 }); // hangs past the fetch timeout
    clock.advance(601 * SECOND);
    const bg = background();
    const started = Date.now();
    for (let i = 0; i < 20; i++) await expectKeyOf(await store.getKey(key.kid, bg.waitUntil), key);
    expect(Date.now() - started).toBeLessThan(1_000); // nobody waited for Google
    expect(bg.pending).toHaveLength(1); // one refresh, handed to waitUntil
    const log = captureConsole();
    try {
      await bg.settle();
    } finally {
      log.restore();
    }
    expect(log.lines.some((line) => line.includes('google_keys_fetch_failed'))).toBe(true);
    expect(await scenario.keyFetches()).toBe(2);
  });

  it('a refresh in the background picks up the new key set for later requests', async () => {
    const oldKey = await makeSigningKey();
    const newKey = await makeSigningKey();
    const scenario = await scenarioWith([oldKey], { maxAge: 600 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(oldKey.kid);
    await scenario.setGoogle({ keys: [oldKey, newKey] });
    clock.advance(601 * SECOND);
    const bg = background();
    await store.getKey(oldKey.kid, bg.waitUntil);
    await bg.settle();
    clock.advance(UNKNOWN_KID_WINDOW / 2); // inside the unknown-kid window: no refetch needed, the key is known
    await expectKeyOf(await store.getKey(newKey.kid), newKey);
    expect(await scenario.keyFetches()).toBe(2);
  });

  it('an unknown kid while Google is unreachable is 503 keys_unavailable, not 401', async () => {
    const key = await makeSigningKey();
    const rotated = await makeSigningKey();
    const scenario = await scenarioWith([key]);
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);
    await scenario.setGoogle({ down: true });
    clock.advance(UNKNOWN_KID_WINDOW + SECOND);
    const log = captureConsole();
    try {
      const error = await expectRejection(store.getKey(rotated.kid), 'keys_unavailable');
      expect(error.httpStatus).toBe(503);
      // Within the window after that failed attempt, still 503: the last word from Google was no word.
      await expectRejection(store.getKey(rotated.kid), 'keys_unavailable');
    } finally {
      log.restore();
    }
    // Google back: the rotated key is found.
    await scenario.setGoogle({ down: false, keys: [key, rotated] });
    clock.advance(UNKNOWN_KID_WINDOW + SECOND);
    await expectKeyOf(await store.getKey(rotated.kid), rotated);
  });

  it('a garbage key set keeps the keys it had', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 600 });
    const clock = new ManualClock();
    const store = storeFor(scenario, clock);
    await store.getKey(key.kid);
    await scenario.setGoogle({ jwks: { keys: 'nope' } });
    clock.advance(601 * SECOND);
    const bg = background();
    const log = captureConsole();
    try {
      await expectKeyOf(await store.getKey(key.kid, bg.waitUntil), key);
      await bg.settle();
      await expectKeyOf(await store.getKey(key.kid, bg.waitUntil), key);
    } finally {
      log.restore();
    }
    expect(log.lines.some((line) => line.includes('key set is not'))).toBe(true);
  });

  it('never uses a key published for another algorithm or for encryption, even under the right kid', async () => {
    const key = await makeSigningKey();
    for (const odd of [{ alg: 'RS512' }, { use: 'enc' }]) {
      const scenario = await Scenario.create();
      const good = await makeSigningKey();
      await scenario.setGoogle({ jwks: { keys: [{ ...key.publicJwk, ...odd }, good.publicJwk] } });
      const store = storeFor(scenario, new ManualClock());
      await expectRejection(store.getKey(key.kid), 'invalid_token');
      await expectKeyOf(await store.getKey(good.kid), good);
    }
  });
});

describe("the data centre's copy (Cache API)", () => {
  it('a new isolate reads the key set there instead of going to Google', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 3600 });
    const cache = new CacheApiKeySetCache(
      new SignedCache(await caches.open(`keys-${crypto.randomUUID()}`), 'test-secret', KEY_SET_PURPOSE),
    );
    const first = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: cache });
    const bg = { pending: [] as Promise<unknown>[] };
    await expectKeyOf(await first.getKey(key.kid, (p) => void bg.pending.push(p)), key);
    await Promise.all(bg.pending);
    expect(await scenario.keyFetches()).toBe(1);

    const second = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: cache }); // another isolate
    await expectKeyOf(await second.getKey(key.kid), key);
    expect(await scenario.keyFetches()).toBe(1);
  });

  it('prefetch starts reading the copy at once and hands it to the background; getKey then uses it, never Google', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key], { maxAge: 3600 });
    const cache = new CacheApiKeySetCache(
      new SignedCache(await caches.open(`keys-${crypto.randomUUID()}`), 'test-secret', KEY_SET_PURPOSE),
    );
    await cache.put(scenario.jwksUrl, {
      keys: { keys: [key.publicJwk] },
      freshUntil: Date.now() + 60_000,
      usableUntil: Date.now() + 120_000,
    });
    let reads = 0;
    const counting = { get: (url: string) => (reads++, cache.get(url)), put: cache.put.bind(cache) };
    const store = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: counting });
    const background: Promise<unknown>[] = [];
    store.prefetch((promise) => void background.push(promise));
    store.prefetch((promise) => void background.push(promise)); // a second request while it is under way: no second read
    expect([reads, background.length]).toEqual([1, 1]);
    await Promise.all(background);
    await expectKeyOf(await store.getKey(key.kid), key);
    expect([reads, await scenario.keyFetches()]).toEqual([1, 0]);
    store.prefetch((promise) => void background.push(promise)); // keys in hand: nothing to do
    expect([reads, background.length]).toEqual([1, 1]);
  });

  it('a read that finishes after getKey gave up on it never puts older keys back over what Google answered', async () => {
    const old = await makeSigningKey();
    const rotated = await makeSigningKey();
    const scenario = await scenarioWith([rotated]);
    let release: (value: undefined) => void = () => undefined;
    const stale = { keys: { keys: [old.publicJwk] }, freshUntil: Date.now() + 60_000, usableUntil: Date.now() + 120_000 };
    const late = {
      get: () => new Promise<typeof stale | undefined>((resolve) => (release = () => resolve(stale))),
      put: async () => undefined,
    };
    const store = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: late, timeoutMs: 100 });
    const background: Promise<unknown>[] = [];
    store.prefetch((promise) => void background.push(promise));
    await expectKeyOf(await store.getKey(rotated.kid), rotated); // waited 100 ms, then Google
    release(undefined);
    await Promise.all(background);
    await expectKeyOf(await store.getKey(rotated.kid), rotated);
    await expectRejection(store.getKey(old.kid), 'invalid_token');
    expect(await scenario.keyFetches()).toBe(1);
  });

  it('a late read still serves when Google failed meanwhile and the isolate has no keys', async () => {
    const key = await makeSigningKey();
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [key], down: true });
    let release: () => void = () => undefined;
    const copy = { keys: { keys: [key.publicJwk] }, freshUntil: Date.now() + 60_000, usableUntil: Date.now() + 120_000 };
    const late = { get: () => new Promise<typeof copy>((resolve) => (release = () => resolve(copy))), put: async () => undefined };
    const store = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: late, timeoutMs: 100 });
    const background: Promise<unknown>[] = [];
    store.prefetch((promise) => void background.push(promise));
    await expectRejection(store.getKey(key.kid), 'keys_unavailable');
    release();
    await Promise.all(background);
    await expectKeyOf(await store.getKey(key.kid), key);
    expectLogged('google_keys_fetch_failed');
  });

  it('a prefetched read that never finishes holds getKey back only for the fetch timeout, then Google answers', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key]);
    const hanging = { get: () => new Promise<undefined>(() => undefined), put: async () => undefined };
    const store = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: hanging, timeoutMs: 200 });
    store.prefetch(() => undefined);
    const started = Date.now();
    await expectKeyOf(await store.getKey(key.kid), key);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await scenario.keyFetches()).toBe(1);
  });

  it('an expired or unreadable copy sends the isolate to Google', async () => {
    const key = await makeSigningKey();
    const scenario = await scenarioWith([key]);
    const raw = await caches.open(`keys-${crypto.randomUUID()}`);
    const cache = new CacheApiKeySetCache(new SignedCache(raw, 'test-secret', KEY_SET_PURPOSE));
    await cache.put(scenario.jwksUrl, { keys: { keys: [key.publicJwk] }, freshUntil: Date.now() - 2000, usableUntil: Date.now() - 1000 });
    const store = new GoogleKeyStore({ now: Date.now, url: scenario.jwksUrl, shared: cache });
    await expectKeyOf(await store.getKey(key.kid), key);
    expect(await scenario.keyFetches()).toBe(1);
  });
});

describe("the data centre's copy is signed: another Worker of the zone cannot plant keys", () => {
  /** What another Worker on the zone can do: put any response under Google's URL in caches.default. */
  async function plant(url: string, keys: SigningKey[], headers: Record<string, string> = {}) {
    const now = Date.now();
    const body = JSON.stringify({
      keys: { keys: keys.map((k) => k.publicJwk) },
      freshUntil: now + 3_600_000,
      usableUntil: now + 7_200_000,
    });
    await caches.default.put(new Request(url), new Response(body, { headers: { 'Cache-Control': 'public, max-age=3600', ...headers } }));
  }

  it('through the Worker: a planted key set is ignored and counted, the real keys are fetched, and a token signed with the planted key is refused', async () => {
    const real = await makeSigningKey();
    const planted = await makeSigningKey();
    const scenario = await Scenario.create();
    await scenario.setGoogle({ keys: [real], maxAge: 3600 });
    // With a MAC made under another secret, and with none at all.
    const other = new SignedCache(await caches.open(`plant-${crypto.randomUUID()}`), 'not-this-workers-secret', KEY_SET_PURPOSE);
    await other.put(scenario.jwksUrl, 'x', 60);
    await plant(scenario.jwksUrl, [planted], { 'X-Entry-Mac': 'ab'.repeat(32) });
    const log = captureConsole();
    try {
      const forged = await callWorker(scenario.env(), '/v1/token', { idToken: await mintIdToken(planted, 'intruder') });
      expect(forged.status).toBe(401);
      expect(await scenario.keyFetches()).toBe(1);
      const genuine = await callWorker(scenario.env(), '/v1/token', { idToken: await mintIdToken(real, 'ada') });
      expect(genuine.status).toBe(200);
    } finally {
      log.restore();
    }
    expect(log.lines.filter((line) => line.includes('"event":"cache_entry_refused"'))).toEqual([
      expect.stringContaining('"purpose":"google-key-set v1"'),
    ]);
  });

  it('SignedCache: its own entries verify; another secret, another purpose, another URL, a changed body or MAC do not', async () => {
    const raw = await caches.open(`signed-${crypto.randomUUID()}`);
    const url = 'https://keys.example/jwks';
    const mine = new SignedCache(raw, 'secret-a', 'purpose-1');
    const log = captureConsole();
    try {
      expect(await mine.get(url)).toBeUndefined(); // nothing stored: a miss, not a refusal
      await mine.put(url, '{"keys":[]}', 60);
      expect(await mine.get(url)).toBe('{"keys":[]}');
      expect(await new SignedCache(raw, 'secret-b', 'purpose-1').get(url)).toBeUndefined();
      expect(await new SignedCache(raw, 'secret-a', 'purpose-2').get(url)).toBeUndefined();
      // The entry copied, MAC and all, under another URL.
      const stored = (await raw.match(new Request(url)))!;
      const mac = stored.headers.get('X-Entry-Mac')!;
      await raw.put(
        new Request('https://keys.example/other'),
        new Response('{"keys":[]}', { headers: { 'X-Entry-Mac': mac, 'Cache-Control': 'max-age=60' } }),
      );
      expect(await mine.get('https://keys.example/other')).toBeUndefined();
      // The body changed under its MAC; a MAC that is not one.
      await raw.put(new Request(url), new Response('{"keys":[1]}', { headers: { 'X-Entry-Mac': mac, 'Cache-Control': 'max-age=60' } }));
      expect(await mine.get(url)).toBeUndefined();
      await raw.put(
        new Request(url),
        new Response('{"keys":[]}', { headers: { 'X-Entry-Mac': mac.toUpperCase(), 'Cache-Control': 'max-age=60' } }),
      );
      expect(await mine.get(url)).toBeUndefined();
      expect(mine.refused).toBe(3);
    } finally {
      log.restore();
    }
    expect(log.lines.every((line) => !line.includes('secret-a'))).toBe(true);
  });
});

describe('freshnessFromCacheControl', () => {
  const cases: [header: string | null, expectedMs: number][] = [
    ['public, max-age=19845, must-revalidate, no-transform', 19_845_000],
    ['max-age=600', 600_000],
    ['public,max-age=7200', 7_200_000],
    ['MAX-AGE=120', 120_000],
    // Clamped: a tiny max-age must not disable the cache, a huge one must not pin keys for days.
    ['max-age=0', KEY_CACHE_LIMITS.minFreshMs],
    ['max-age=5', KEY_CACHE_LIMITS.minFreshMs],
    ['max-age=31536000', KEY_CACHE_LIMITS.maxFreshMs],
    ['max-age=99999999999999999999999', KEY_CACHE_LIMITS.maxFreshMs],
    // No usable max-age: the default.
    [null, KEY_CACHE_LIMITS.defaultFreshMs],
    ['', KEY_CACHE_LIMITS.defaultFreshMs],
    ['no-cache', KEY_CACHE_LIMITS.defaultFreshMs],
    ['s-maxage=100', KEY_CACHE_LIMITS.defaultFreshMs],
    ['s-maxage=100, max-age=300', 300_000],
    ['max-age=abc', KEY_CACHE_LIMITS.defaultFreshMs],
    ['max-age=-5', KEY_CACHE_LIMITS.defaultFreshMs],
  ];

  for (const [header, expectedMs] of cases) {
    it(`${JSON.stringify(header)} → ${expectedMs} ms`, () => {
      expect(freshnessFromCacheControl(header)).toBe(expectedMs);
    });
  }

  it('has limits that make sense: at least a minute, at most a day', () => {
    expect(KEY_CACHE_LIMITS.minFreshMs).toBeGreaterThanOrEqual(MINUTE);
    expect(KEY_CACHE_LIMITS.maxFreshMs).toBeLessThanOrEqual(24 * HOUR);
    expect(KEY_CACHE_LIMITS.minFreshMs).toBeLessThanOrEqual(KEY_CACHE_LIMITS.defaultFreshMs);
    expect(KEY_CACHE_LIMITS.defaultFreshMs).toBeLessThanOrEqual(KEY_CACHE_LIMITS.maxFreshMs);
  });
});
