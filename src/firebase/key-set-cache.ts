import type { KeySetCache, StoredKeySet } from './google-keys';

/**
 * The data centre's copy of a JWKS, in the Cache API (`caches.default`),
 * keyed by the JWKS URL: a new isolate reads it before going to Google. The
 * entry expires with the key set's usable time (Cache-Control max-age); its
 * fresh time rides along in a header. Cloudflare's Cache API does nothing on
 * `*.workers.dev`, only on a custom domain: there every isolate simply
 * fetches from Google once, as before.
 */
const FRESH_UNTIL = 'X-Key-Set-Fresh-Until';
const USABLE_UNTIL = 'X-Key-Set-Usable-Until';

export class CacheApiKeySetCache implements KeySetCache {
  readonly #cache: Cache;
  readonly #now: () => number;

  constructor(cache: Cache, now: () => number = Date.now) {
    this.#cache = cache;
    this.#now = now;
  }

  async get(url: string): Promise<StoredKeySet | undefined> {
    const response = await this.#cache.match(cacheKey(url));
    if (!response) return undefined;
    const freshUntil = Number(response.headers.get(FRESH_UNTIL));
    const usableUntil = Number(response.headers.get(USABLE_UNTIL));
    if (!Number.isFinite(freshUntil) || !Number.isFinite(usableUntil) || usableUntil <= this.#now()) {
      await response.body?.cancel();
      return undefined;
    }
    return { keys: await response.json(), freshUntil, usableUntil };
  }

  async put(url: string, keySet: StoredKeySet): Promise<void> {
    const seconds = Math.max(1, Math.floor((keySet.usableUntil - this.#now()) / 1000));
    await this.#cache.put(
      cacheKey(url),
      new Response(JSON.stringify(keySet.keys), {
        headers: {
          'Content-Type': 'application/json',
          'Cache-Control': `public, max-age=${seconds}`,
          [FRESH_UNTIL]: String(keySet.freshUntil),
          [USABLE_UNTIL]: String(keySet.usableUntil),
        },
      }),
    );
  }
}

/** A GET request for the JWKS URL itself: entries are ours, in this zone's cache. */
function cacheKey(url: string): Request {
  return new Request(url, { method: 'GET' });
}
