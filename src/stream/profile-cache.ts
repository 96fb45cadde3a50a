import type { StreamAccess } from './access';
import type { StreamProfile } from './profile';

/**
 * What this isolate last wrote to Stream for each uid, so a returning user
 * whose Firebase profile has not changed costs no Stream call on the create
 * route. Entries expire (so edits made in Stream by others are overwritten
 * again eventually, as the original would) and the map is bounded.
 */
export class ProfileCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { profile: string; until: number }>();

  constructor(options: { ttlSeconds: number; maxEntries?: number; now?: () => number }) {
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** True when exactly this profile was written for `uid` within the TTL. */
  isCurrent(uid: string, profile: StreamProfile, access: StreamAccess = {}): boolean {
    const entry = this.#entries.get(uid);
    if (!entry) return false;
    if (this.#now() >= entry.until) {
      this.#entries.delete(uid);
      return false;
    }
    return entry.profile === profileKey(profile, access);
  }

  remember(uid: string, profile: StreamProfile, access: StreamAccess = {}): void {
    if (this.#ttlMs <= 0) return;
    this.#entries.delete(uid); // re-insert: Map order is then oldest-written first
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(uid, { profile: profileKey(profile, access), until: this.#now() + this.#ttlMs });
  }
}

/** Stable for equal profiles whatever the insertion order of fields. */
export function profileKey(profile: StreamProfile, access: StreamAccess): string {
  return JSON.stringify([profile.name ?? null, profile.image ?? null, profile.email ?? null, access.role ?? null, access.teams ?? null]);
}
