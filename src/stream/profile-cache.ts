import { base64UrlFromBytes } from '../base64url';
import type { StreamAccess } from './access';
import type { StreamProfile } from './profile';
import { TtlCache } from '../platform/ttl-cache';

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
  /** The hash of what was last written for each uid. */
  readonly #hashes: TtlCache<string>;

  constructor(options: { ttlSeconds: number; maxEntries?: number; now: () => number }) {
    this.#hashes = new TtlCache({ ttlMs: options.ttlSeconds * 1000, maxEntries: options.maxEntries ?? 10_000, now: options.now });
  }

  /** True when the profile with this hash was written for `uid` within the TTL. */
  isCurrent(uid: string, hash: string): boolean {
    return this.#hashes.get(uid) === hash;
  }

  remember(uid: string, hash: string): void {
    this.#hashes.set(uid, hash);
  }
}

/** A stable digest of the fields this service owns, as written to Stream: equal for equal profiles whatever the order of fields. */
export async function profileHash(profile: StreamProfile, access: StreamAccess = {}): Promise<string> {
  const key = JSON.stringify([
    profile.name ?? null,
    profile.image ?? null,
    profile.email ?? null,
    access.role ?? null,
    access.teams ?? null,
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return base64UrlFromBytes(digest).slice(0, 22);
}
