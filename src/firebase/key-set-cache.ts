/**
 * The data centre's copy of a JWKS, in the Cache API (`caches.default`),
 * keyed by the JWKS URL: a new isolate reads it before going to Google. The
 * entry expires with the key set's usable time; its fresh and usable times
 * are stored with the keys. Every Worker of the zone shares that cache, so
 * entries are signed (src/platform/signed-cache.ts): keys another Worker
 * planted under Google's URL are ignored, and the isolate goes to Google.
 * Cloudflare's Cache API does nothing on `*.workers.dev`, only on a custom
 * domain: there every isolate simply fetches from Google once, as before.
 *
 * @module
 */
import type { SignedCache } from '../platform/signed-cache';
import type { KeySetCache, StoredKeySet } from './google-keys';

/** The purpose label of these entries' MAC (src/platform/signed-cache.ts). */
export const KEY_SET_PURPOSE = 'google-key-set v1';

export class CacheApiKeySetCache implements KeySetCache {
  readonly #cache: SignedCache;
  readonly #now: () => number;

  constructor(cache: SignedCache, now: () => number = Date.now) {
    this.#cache = cache;
    this.#now = now;
  }

  async get(url: string): Promise<StoredKeySet | undefined> {
    const body = await this.#cache.get(url);
    if (body === undefined) return undefined;
    let stored: Partial<StoredKeySet>;
    try {
      stored = JSON.parse(body) as Partial<StoredKeySet>;
    } catch {
      return undefined;
    }
    const { keys, freshUntil, usableUntil } = stored;
    if (typeof freshUntil !== 'number' || typeof usableUntil !== 'number' || !Number.isFinite(freshUntil) || usableUntil <= this.#now())
      return undefined;
    return { keys, freshUntil, usableUntil };
  }

  async put(url: string, keySet: StoredKeySet): Promise<void> {
    await this.#cache.put(url, JSON.stringify(keySet), (keySet.usableUntil - this.#now()) / 1000);
  }
}
