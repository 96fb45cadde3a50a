/**
 * Entries of the Cache API that only this Worker can have written.
 *
 * `caches.default` is shared by every Worker of the zone, so any of them
 * could put a response under a URL this Worker reads (Google's key set, say).
 * Each entry is stored with an HMAC-SHA-256 of its URL and body, under a key
 * derived (HKDF-SHA-256) from a secret the Worker already has and a purpose
 * label, so one secret serves many uses and no use can be mistaken for
 * another. An entry without a valid MAC is ignored (a miss), counted
 * (`refused`) and logged as `cache_entry_refused`, naming the purpose only.
 */
import { log } from './log';

const MAC_HEADER = 'X-Entry-Mac';

export class SignedCache {
  readonly #cache: Cache;
  readonly #purpose: string;
  readonly #key: Promise<CryptoKey>;
  #refused = 0;

  /** `secret`: any secret the Worker has (never stored); `purpose`: a label of this use, e.g. "google-keys v1". */
  constructor(cache: Cache, secret: string, purpose: string) {
    this.#cache = cache;
    this.#purpose = purpose;
    this.#key = entryKey(secret, purpose);
  }

  /** Entries ignored because their MAC was missing or wrong, since this object was made. */
  get refused(): number {
    return this.#refused;
  }

  /** The body stored under `url`, or undefined when there is none, it expired, or this Worker did not write it. */
  async get(url: string): Promise<string | undefined> {
    const response = await this.#cache.match(cacheKey(url));
    if (!response) return undefined;
    const body = await response.text();
    const mac = response.headers.get(MAC_HEADER);
    if (mac === null || !(await this.#verify(url, body, mac))) {
      this.#refused++;
      log.warn('cache_entry_refused', { purpose: this.#purpose, reason: mac === null ? 'no MAC' : 'wrong MAC' });
      return undefined;
    }
    return body;
  }

  /** Stores `body` under `url` for `maxAgeSeconds` (the Cache API's own expiry). */
  async put(url: string, body: string, maxAgeSeconds: number): Promise<void> {
    const mac = await crypto.subtle.sign('HMAC', await this.#key, signedBytes(url, body));
    await this.#cache.put(
      cacheKey(url),
      new Response(body, {
        headers: {
          'Content-Type': 'text/plain; charset=utf-8', // read back with .text(): workerd warns on every read of an octet-stream body
          'Cache-Control': `public, max-age=${Math.max(1, Math.floor(maxAgeSeconds))}`,
          [MAC_HEADER]: toHex(new Uint8Array(mac)),
        },
      }),
    );
  }

  async #verify(url: string, body: string, mac: string): Promise<boolean> {
    const bytes = fromHex(mac);
    if (!bytes) return false;
    // crypto.subtle.verify compares in constant time.
    return crypto.subtle.verify('HMAC', await this.#key, bytes, signedBytes(url, body));
  }
}

/** HKDF-SHA-256 of the secret, with the purpose as `info`: a key for this purpose alone. */
async function entryKey(secret: string, purpose: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: new Uint8Array(0),
      info: new TextEncoder().encode(`stream-token-edge signed-cache: ${purpose}`),
    },
    material,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign', 'verify'],
  );
}

/** The URL is signed with the body: an entry copied under another URL does not verify. */
function signedBytes(url: string, body: string): Uint8Array {
  return new TextEncoder().encode(`${url.length}:${url}\n${body}`);
}

/** A GET request for the URL itself: the entry's key in the cache. */
function cacheKey(url: string): Request {
  return new Request(url, { method: 'GET' });
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

function fromHex(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{64}$/.test(text)) return undefined;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
