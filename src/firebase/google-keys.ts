import { importJWK, type JWK } from 'jose';
import { AppError } from '../errors';

/**
 * Google's public keys for Firebase ID tokens, cached per isolate as imported
 * CryptoKeys.
 *
 * - Fresh for the response's `Cache-Control: max-age`; within that time a
 *   request costs no fetch and no key import.
 * - Concurrent cold requests share one fetch. A request never waits without
 *   bound on a fetch another request started: Workers ties I/O to the request
 *   that began it, and that promise may never settle once its request ends.
 * - An unknown `kid` triggers at most one refetch per `unknownKidRefetchMs`,
 *   so made-up key ids cannot make us hammer Google.
 * - When Google cannot be reached, keys past max-age stay usable for
 *   `graceMs`; with no usable keys at all the answer is `keys_unavailable`
 *   (503), never "unauthenticated".
 */
export interface GoogleKeyStoreOptions {
  url: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** Per-fetch timeout. */
  timeoutMs?: number;
  graceMs?: number;
  unknownKidRefetchMs?: number;
  /** After a failed fetch, serve stale keys (or 503) for this long before trying Google again. */
  failureBackoffMs?: number;
}

interface CachedKey {
  /** The RSA modulus, to recognise a key we already imported. */
  n: string;
  key: CryptoKey;
}

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

  #keys: Map<string, CachedKey> | undefined;
  #freshUntil = 0;
  #usableUntil = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastFailureAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;

  constructor(options: GoogleKeyStoreOptions) {
    this.#url = options.url;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#graceMs = options.graceMs ?? 6 * 3600_000;
    this.#unknownKidRefetchMs = options.unknownKidRefetchMs ?? 30_000;
    this.#failureBackoffMs = options.failureBackoffMs ?? 5_000;
  }

  /** The key for `kid`; throws AppError `invalid_token` (unknown kid) or `keys_unavailable`. */
  async getKey(kid: string): Promise<CryptoKey> {
    const now = this.#now();
    if (this.#keys && now < this.#freshUntil) {
      const hit = this.#keys.get(kid);
      if (hit) return hit.key;
      // Google may have rotated in a new key: look once, then stay quiet for a while.
      // Joining a refetch already under way costs no extra fetch, so concurrent requests wait for it.
      if (this.#inflight || now - this.#lastAttemptAt >= this.#unknownKidRefetchMs) {
        await this.#refresh().catch(() => undefined);
        const found = this.#keys.get(kid);
        if (found) return found.key;
      }
      throw unknownKid();
    }

    // Cold, or past max-age.
    if (now - this.#lastFailureAt >= this.#failureBackoffMs) {
      await this.#refresh().catch(() => undefined);
    }
    if (!this.#keys || this.#now() >= this.#usableUntil) {
      throw new AppError('keys_unavailable', 'Firebase public keys are unavailable; try again shortly', {
        headers: { 'Retry-After': '5' },
      });
    }
    const found = this.#keys.get(kid);
    if (found) return found.key;
    throw unknownKid();
  }

  /** Shares one fetch between concurrent callers, each waiting at most a bounded time. */
  #refresh(): Promise<void> {
    if (this.#inflight) {
      const shared = this.#inflight;
      return withTimeout(shared, this.#timeoutMs + 1_000).catch((error: unknown) => {
        if (error instanceof WaitTimeout && this.#inflight === shared) {
          // The request that started it has probably ended: fetch on our own.
          this.#inflight = undefined;
          return this.#refresh();
        }
        throw error;
      });
    }
    const attempt = this.#fetchKeys().finally(() => {
      if (this.#inflight === attempt) this.#inflight = undefined;
    });
    this.#inflight = attempt;
    return attempt;
  }

  async #fetchKeys(): Promise<void> {
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
      const keys = await this.#importKeys(body);
      const freshMs = freshnessFromCacheControl(response.headers.get('cache-control'));
      const fetchedAt = this.#now();
      this.#keys = keys;
      this.#freshUntil = fetchedAt + freshMs;
      this.#usableUntil = this.#freshUntil + this.#graceMs;
    } catch (error) {
      this.#lastFailureAt = this.#now();
      // The message names the failure, never key material.
      console.error(
        JSON.stringify({
          event: 'google_keys_fetch_failed',
          error: error instanceof Error ? error.message : 'unknown error',
          have_stale_keys: Boolean(this.#keys) && this.#now() < this.#usableUntil,
        }),
      );
      throw error;
    }
  }

  async #importKeys(body: unknown): Promise<Map<string, CachedKey>> {
    const list = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) throw new Error('key set is not {"keys": [...]}');
    const keys = new Map<string, CachedKey>();
    for (const jwk of list as JWK[]) {
      if (!jwk || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || jwk.kid === '') continue;
      if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue;
      if (jwk.alg !== undefined && jwk.alg !== 'RS256') continue;
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      const known = this.#keys?.get(jwk.kid);
      if (known && known.n === jwk.n) {
        keys.set(jwk.kid, known); // already imported: never import a key twice
        continue;
      }
      const key = await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'RS256');
      keys.set(jwk.kid, { n: jwk.n, key: key as CryptoKey });
    }
    if (keys.size === 0) throw new Error('key set has no usable RS256 keys');
    return keys;
  }
}

function unknownKid(): AppError {
  return new AppError('invalid_token', 'ID token is signed with an unknown key');
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
