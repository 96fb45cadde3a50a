/**
 * Google's public keys for Firebase ID tokens, cached as imported CryptoKeys,
 * so that no request that could be served ever waits for Google.
 *
 * - Fresh for the response's `Cache-Control: max-age`; within that time a
 *   request costs no fetch and no key import.
 * - Past max-age (within the grace period) keys are served at once and
 *   refreshed in the background (`ctx.waitUntil`), one refresh at a time:
 *   stale-while-revalidate. A Google that hangs costs the refresh, never a request.
 * - A second tier shared by the isolates of a data centre (the Cache API,
 *   `KeySetCache`): a new isolate reads the raw key set there before going
 *   to Google. It does nothing on `*.workers.dev` (Cloudflare's Cache API
 *   only works on custom domains); the first tier still does.
 * - Concurrent cold requests share one fetch, each waiting for it a bounded
 *   time: Workers ties I/O to the request that began it, and that promise
 *   may never settle once its request ends (panva/jose#355, #509).
 * - An unknown `kid` triggers at most one refetch per `unknownKidRefetchMs`,
 *   so made-up key ids cannot make us hammer Google. When Google cannot be
 *   reached to look for it, the answer is `keys_unavailable` (503): the token
 *   may well be valid, signed with a key rotated in during the outage.
 * - With no usable keys at all the answer is `keys_unavailable` (503), never
 *   "unauthenticated".
 *
 * @module
 */
import { AppError, retrySoon } from '../errors';
import { globalFetch, type Background } from '../platform/io';
import { log } from '../platform/log';

interface GoogleKeyStoreOptions {
  url: string;
  fetch?: typeof fetch;
  now: () => number;
  /** Per-fetch timeout. */
  timeoutMs?: number;
  graceMs?: number;
  unknownKidRefetchMs?: number;
  /** After a failed fetch, wait this long before trying Google again. */
  failureBackoffMs?: number;
  /** The data centre's copy of the key set (src/firebase/key-set-cache.ts); none by default. */
  shared?: KeySetCache;
}

/** A raw key set with the times it is fresh and usable until (Unix ms). */
export interface StoredKeySet {
  keys: unknown;
  freshUntil: number;
  usableUntil: number;
}

/** Where isolates share the raw key set: `caches.default` in production. */
export interface KeySetCache {
  get(url: string): Promise<StoredKeySet | undefined>;
  put(url: string, keySet: StoredKeySet): Promise<void>;
}

/** A key this isolate imported, kept by `kid`. */
interface CachedKey {
  /** The RSA modulus, to recognise a key we already imported. */
  n: string;
  key: CryptoKey;
}

/** A published JSON Web Key, as far as this store reads it. */
interface JWK {
  kid?: unknown;
  kty?: unknown;
  n?: unknown;
  e?: unknown;
  alg?: unknown;
  use?: unknown;
}

const RS256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

export const KEY_CACHE_LIMITS = {
  minFreshMs: 60_000,
  maxFreshMs: 24 * 3600_000,
  defaultFreshMs: 3600_000,
};

export class GoogleKeyStore {
  readonly #url: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #unknownKidRefetchMs: number;
  readonly #failureBackoffMs: number;
  readonly #shared: KeySetCache | undefined;

  #keys: Map<string, CachedKey> | undefined;
  #freshUntil = 0;
  #usableUntil = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastFailureAt = Number.NEGATIVE_INFINITY;
  #lastFetchFailed = false;
  #inflight: Promise<void> | undefined;
  #sharedChecked = false;
  /** The data centre's copy being read (started by prefetch or a cold getKey), shared by concurrent callers. */
  #sharedRead: Promise<void> | undefined;

  constructor(options: GoogleKeyStoreOptions) {
    this.#url = options.url;
    this.#fetch = options.fetch ?? globalFetch;
    this.#now = options.now;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#graceMs = options.graceMs ?? 6 * 3600_000;
    this.#unknownKidRefetchMs = options.unknownKidRefetchMs ?? 30_000;
    this.#failureBackoffMs = options.failureBackoffMs ?? 5_000;
    this.#shared = options.shared;
  }

  /**
   * The key for `kid`; throws AppError `invalid_token` (a kid Google does not
   * have) or `keys_unavailable`. `background` carries a refresh past the
   * answer; without it the refresh runs unattached.
   */
  async getKey(kid: string, background?: Background): Promise<CryptoKey> {
    if (!this.#usable()) await this.#loadCold(background);
    if (!this.#keys || !this.#usable()) throw unavailable();

    const hit = this.#keys.get(kid);
    if (hit) {
      if (this.#now() >= this.#freshUntil) this.#refreshInBackground(background);
      return hit.key;
    }
    // Google may have rotated in a new key: look once, then stay quiet for a while.
    // Joining a refetch already under way costs no extra fetch, so concurrent requests wait for it.
    if (this.#inflight || this.#now() - this.#lastAttemptAt >= this.#unknownKidRefetchMs) {
      await this.#refresh(background).catch(() => undefined);
      const found = this.#keys.get(kid);
      if (found) return found.key;
    }
    // Not found: unknown for sure only if Google answered the last time we asked.
    if (this.#lastFetchFailed) throw unavailable();
    throw new AppError('invalid_token', 'ID token is signed with an unknown key');
  }

  /** The doctor's question: the ids of the usable keys, fetched if need be; throws AppError `keys_unavailable`. */
  async usableKeyIds(background?: Background): Promise<string[]> {
    if (!this.#usable()) await this.#loadCold(background);
    if (!this.#keys || !this.#usable()) throw unavailable();
    return [...this.#keys.keys()];
  }

  /**
   * Starts reading the data centre's copy of the keys when this isolate has
   * none, without waiting: the Worker calls it as a fresh isolate's first
   * request arrives, so the read overlaps building the app and parsing the
   * request instead of following them: a faster first request.
   * Never fetches Google.
   */
  prefetch(background: Background): void {
    if (!this.#shared || this.#sharedChecked || this.#usable() || this.#sharedRead) return;
    this.#sharedRead = this.#readShared(this.#shared);
    // Kept alive past this request's answer: another request may be waiting for it (bounded, below).
    background(this.#sharedRead);
  }

  async #readShared(shared: KeySetCache): Promise<void> {
    const stored = await shared.get(this.#url).catch(() => undefined);
    if (!stored || this.#now() >= stored.usableUntil) return;
    // A read that finished after its waiters gave up and asked Google must not put older keys back.
    if (this.#usable() && this.#freshUntil >= stored.freshUntil) return;
    await this.#install(stored).catch(() => undefined);
  }

  /** Whether keys are in this isolate's memory now (a request needs no I/O to verify). */
  get warm(): boolean {
    return this.#usable();
  }

  #usable(): boolean {
    return this.#keys !== undefined && this.#now() < this.#usableUntil;
  }

  /** No usable keys: the data centre's copy first, then Google (waited for, bounded). */
  async #loadCold(background: Background | undefined): Promise<void> {
    if (this.#shared && !this.#sharedChecked) {
      const read = (this.#sharedRead ??= this.#readShared(this.#shared));
      // Bounded: the read may have been started by another request, whose I/O ends with it (panva/jose#355).
      await withTimeout(read, this.#timeoutMs).catch(() => undefined);
      this.#sharedChecked = true; // once per isolate: after that this isolate keeps its own
      this.#sharedRead = undefined;
      if (this.#usable()) return;
    }
    if (this.#now() - this.#lastFailureAt >= this.#failureBackoffMs || this.#inflight) {
      await this.#refresh(background).catch(() => undefined);
    }
  }

  #refreshInBackground(background: Background | undefined): void {
    if (this.#inflight || this.#now() - this.#lastFailureAt < this.#failureBackoffMs) return;
    const refresh = this.#refresh(background).catch(() => undefined);
    if (background) background(refresh);
  }

  /** Shares one fetch between concurrent callers, each waiting at most a bounded time. */
  #refresh(background: Background | undefined): Promise<void> {
    if (this.#inflight) {
      const shared = this.#inflight;
      return withTimeout(shared, this.#timeoutMs + 1_000).catch((error: unknown) => {
        if (error instanceof WaitTimeout && this.#inflight === shared) {
          // The request that started it has probably ended: fetch on our own.
          this.#inflight = undefined;
          return this.#refresh(background);
        }
        throw error;
      });
    }
    const attempt = this.#fetchKeys(background).finally(() => {
      if (this.#inflight === attempt) this.#inflight = undefined;
    });
    this.#inflight = attempt;
    return attempt;
  }

  async #fetchKeys(background: Background | undefined): Promise<void> {
    this.#lastAttemptAt = this.#now();
    try {
      const response = await this.#fetch(this.#url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const body: unknown = await response.json();
      const fetchedAt = this.#now();
      const freshUntil = fetchedAt + freshnessFromCacheControl(response.headers.get('cache-control'));
      const keySet = { keys: body, freshUntil, usableUntil: freshUntil + this.#graceMs };
      await this.#install(keySet);
      this.#lastFetchFailed = false;
      if (this.#shared) {
        const put = this.#shared.put(this.#url, keySet).catch(() => undefined);
        if (background) background(put);
      }
    } catch (error) {
      this.#lastFailureAt = this.#now();
      this.#lastFetchFailed = true;
      // The message names the failure, never key material.
      log.error('google_keys_fetch_failed', {
        error: error instanceof Error ? error.message : 'unknown error',
        have_stale_keys: this.#usable(),
      });
      throw error;
    }
  }

  /** Imports a key set (reusing keys already imported) and makes it current. */
  async #install(keySet: StoredKeySet): Promise<void> {
    const list = (keySet.keys as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) throw new Error('key set is not {"keys": [...]}');
    const keys = new Map<string, CachedKey>();
    for (const jwk of list as JWK[]) {
      if (!jwk || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || jwk.kid === '') continue;
      if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue;
      // A key published for another algorithm or for encryption never verifies an ID token.
      if (jwk.alg !== undefined && jwk.alg !== 'RS256') continue;
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      const known = this.#keys?.get(jwk.kid);
      if (known && known.n === jwk.n) {
        keys.set(jwk.kid, known); // already imported: never import a key twice
        continue;
      }
      // WebCrypto directly (jose's importJWK did the same; dropping it took 16 KiB off the bundle, which has a size budget).
      const key = await crypto.subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e, ext: true }, RS256, false, ['verify']);
      keys.set(jwk.kid, { n: jwk.n, key });
    }
    if (keys.size === 0) throw new Error('key set has no usable RS256 keys');
    this.#keys = keys;
    this.#freshUntil = keySet.freshUntil;
    this.#usableUntil = keySet.usableUntil;
  }
}

function unavailable(): AppError {
  return new AppError('keys_unavailable', 'Firebase public keys are unavailable; try again shortly', {
    headers: retrySoon(),
  });
}

/** `max-age` from Cache-Control, clamped so a bad header can neither disable caching nor pin keys for days. */
export function freshnessFromCacheControl(header: string | null): number {
  const match = header ? /(?:^|[,\s])max-age=(\d+)/i.exec(header) : null;
  if (!match) return KEY_CACHE_LIMITS.defaultFreshMs;
  const ms = Number(match[1]) * 1000;
  return Math.min(Math.max(ms, KEY_CACHE_LIMITS.minFreshMs), KEY_CACHE_LIMITS.maxFreshMs);
}

class WaitTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeout('timed out waiting for a shared fetch')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}
