import { base64UrlFromBytes } from '../base64url';
import type { StreamAccess } from './access';
import type { StreamProfile } from './profile';

/**
 * What this isolate last wrote to Stream for each uid, so a returning user
 * whose Firebase profile has not changed costs no Stream call on the create
 * route. Entries expire (so edits made in Stream by others are overwritten
 * again eventually, as the original would) and the map is bounded. Each
 * entry holds the profile's hash (`profileHash`, the one the registry keeps
 * too), not the profile: 22 characters instead of up to three 1,024-character
 * fields and the teams, times 10,000 entries per isolate.
 */
export class ProfileCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { hash: string; until: number }>();

  constructor(options: { ttlSeconds: number; maxEntries?: number; now?: () => number }) {
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** True when the profile with this hash was written for `uid` within the TTL. */
  isCurrent(uid: string, hash: string): boolean {
    const entry = this.#entries.get(uid);
    if (!entry) return false;
    if (this.#now() >= entry.until) {
      this.#entries.delete(uid);
      return false;
    }
    return entry.hash === hash;
  }

  remember(uid: string, hash: string): void {
    if (this.#ttlMs <= 0) return;
    this.#entries.delete(uid); // re-insert: Map order is then oldest-written first
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(uid, { hash, until: this.#now() + this.#ttlMs });
  }
}

/** A stable digest of the fields this service owns, as written to Stream: equal for equal profiles whatever the order of fields. */
export async function profileHash(profile: StreamProfile, access: StreamAccess = {}): Promise<string> {
  const key = JSON.stringify([profile.name ?? null, profile.image ?? null, profile.email ?? null, access.role ?? null, access.teams ?? null]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return base64UrlFromBytes(digest).slice(0, 22);
}
