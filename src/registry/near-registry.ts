/**
 * A uid's registry entry, read as near to the request as it can be: this
 * isolate's memory, then a D1 read replica, and only for a uid that no copy
 * knows, the primary, where it is recorded.
 *
 * A uid's tenant never changes once its row exists, so any copy that has the
 * row gives the right binding; a lagging replica can only miss it, and a miss
 * goes to the primary. State does change (active → pending_delete → deleted),
 * so memory keeps an entry for a few minutes only: a deletion reaches every
 * isolate within that time (and a deleted account's ID tokens are the only
 * ones that could ask, for at most an hour).
 *
 * It also learns, from every near read, whether any row is bound to a tenant:
 * during a D1 outage, a project-level deployment may serve a uid it cannot
 * look up only when none is (src/admission.ts). What it learns is also kept
 * in the data centre's cache (signed: src/platform/signed-cache.ts), so an
 * isolate that starts during an outage knows it too.
 *
 * @module
 */
import { answerWithin, type Background } from '../platform/io';
import type { RegistryEntry, UserRegistry } from './registry';

/** Where "does the registry hold tenant-bound rows?" is kept beyond this isolate (the data centre's cache). */
export interface TenantRowsCopy {
  get(): Promise<boolean | undefined>;
  put(tenantRows: boolean): Promise<void>;
}

/** How long this isolate trusts what it read of a uid's row. */
export const MEMORY_TTL_MS = 5 * 60_000;
/** Enough for a busy isolate; past it the memory starts over (a miss costs a replica read). */
const MAX_REMEMBERED = 50_000;
/** A read started ahead of verification (a cold isolate) is kept this long for the request that started it. */
const PREFETCH_TTL_MS = 10_000;
const MAX_PREFETCHED = 100;
/** After D1 failed both a read and a write, this isolate stops asking it for this long (it answers from what it knows). */
const OUTAGE_HOLD_MS = 5_000;
/** What was learnt is written to the shared copy at most this often per isolate (unless it changed). */
const SHARE_EVERY_MS = 10 * 60_000;
/** An outage waits at most this long for the shared copy. */
const RECALL_WAIT_MS = 1_000;
/** How long a request waits for a prefetched read before reading for itself. */
const PREFETCH_WAIT_MS = 2_000;

interface Remembered {
  entry: RegistryEntry;
  until: number;
}

type NearRead = Awaited<ReturnType<UserRegistry['readNear']>>;

export class NearRegistry {
  readonly #registry: UserRegistry;
  readonly #now: () => number;
  readonly #memory = new Map<string, Remembered>();
  readonly #prefetched = new Map<string, { read: Promise<NearRead>; until: number }>();
  #tenantRows: boolean | undefined;
  #downUntil = 0;
  readonly #shared: TenantRowsCopy | undefined;
  #sharedAt = 0;
  #sharedValue: boolean | undefined;

  constructor(registry: UserRegistry, now: () => number, shared?: TenantRowsCopy) {
    this.#registry = registry;
    this.#now = now;
    this.#shared = shared;
    // This isolate's own reconciliation changed a uid's state: its copy here is stale at once.
    registry.onStateChange((uids) => {
      for (const uid of uids) this.#memory.delete(uid);
    });
    registry.onTenantBound(() => {
      this.#tenantRows = true;
      // Told at once to the data centre's copy too; other data centres learn with their next read.
      this.#sharedValue = undefined;
      return this.#shared?.put(true).catch(() => undefined);
    });
  }

  /**
   * Whether the registry had any tenant-bound row when it was last read;
   * undefined until a read succeeds in this isolate.
   */
  get tenantRows(): boolean | undefined {
    return this.#tenantRows;
  }

  /**
   * D1 failed a read and a write moments ago: callers skip it for a few
   * seconds instead of waiting on two failures per request (an outage then
   * costs no time; the first request after the hold asks again).
   */
  get down(): boolean {
    return this.#now() < this.#downUntil;
  }

  markDown(): void {
    this.#downUntil = this.#now() + OUTAGE_HOLD_MS;
  }

  /** The entry this isolate read recently, if any: no I/O. */
  remembered(uid: string): RegistryEntry | undefined {
    const kept = this.#memory.get(uid);
    if (kept === undefined) return undefined;
    if (kept.until > this.#now()) return kept.entry;
    this.#memory.delete(uid);
    return undefined;
  }

  /**
   * The entry from memory or a read replica; undefined when neither knows the
   * uid. Throws when D1 cannot be read.
   */
  async find(uid: string, background?: Background): Promise<RegistryEntry | undefined> {
    const kept = this.remembered(uid);
    if (kept) return kept;
    const { entry, tenantRows } = (await this.#takePrefetched(uid)) ?? (await this.#registry.readNear(uid));
    this.#learn(tenantRows, background);
    if (entry) this.remember(uid, entry);
    return entry;
  }

  /**
   * During an outage, an isolate that never read the registry asks the data
   * centre's copy (bounded): undefined when there is none.
   */
  async recallTenantRows(): Promise<boolean | undefined> {
    if (this.#tenantRows !== undefined || !this.#shared) return this.#tenantRows;
    const recalled = await answerWithin(this.#shared.get(), RECALL_WAIT_MS);
    if (this.#tenantRows === undefined && recalled !== undefined) this.#tenantRows = recalled;
    return this.#tenantRows;
  }

  #learn(read: boolean, background: Background | undefined): void {
    // Rows are never deleted, so once tenant-bound rows exist they always will: a replica that lags behind an
    // import (or the primary's answer) must not turn a known "yes" back into "no".
    const tenantRows = this.#tenantRows === true || read;
    this.#tenantRows = tenantRows;
    if (!this.#shared || !background) return;
    const now = this.#now();
    if (this.#sharedValue === tenantRows && now - this.#sharedAt < SHARE_EVERY_MS) return;
    this.#sharedValue = tenantRows;
    this.#sharedAt = now;
    background(this.#shared.put(tenantRows).catch(() => undefined));
  }

  /** Records a uid no copy knew, on the primary; its entry as the primary has it. Throws when D1 fails. */
  async register(uid: string, tenant: string): Promise<RegistryEntry> {
    const entry = await this.#registry.register(uid, tenant);
    if (entry.tenant !== '') this.#tenantRows = true; // the next near read tells the shared copy
    this.remember(uid, entry);
    return entry;
  }

  remember(uid: string, entry: RegistryEntry): void {
    if (this.#memory.size >= MAX_REMEMBERED) this.#memory.clear();
    this.#memory.set(uid, { entry, until: this.#now() + MEMORY_TTL_MS });
  }

  /**
   * What this isolate itself just wrote for a remembered uid (evidence of life,
   * a profile hash), kept until the entry's own expiry: only a read may extend
   * how long an entry is trusted, or a deletion could take longer than
   * MEMORY_TTL_MS to reach a busy isolate.
   */
  amend(uid: string, change: (entry: RegistryEntry) => RegistryEntry): void {
    const kept = this.#memory.get(uid);
    if (kept !== undefined && kept.until > this.#now()) kept.entry = change(kept.entry);
  }

  /**
   * Starts the near read of a uid taken from a token not yet verified, so a
   * cold isolate waits for D1 and Google's keys at once instead of one after
   * the other. Its answer is used only by a later `find` of the same uid,
   * which comes after verification; an unverified uid learns nothing and
   * changes nothing (a read, no write). Callers start it only while the keys
   * are not in memory, which bounds what a stranger can make it read.
   */
  prefetch(uid: string): void {
    if (this.remembered(uid) || this.#prefetched.has(uid)) return;
    const now = this.#now();
    for (const [key, kept] of this.#prefetched) if (kept.until <= now) this.#prefetched.delete(key);
    if (this.#prefetched.size >= MAX_PREFETCHED) return;
    const read = this.#registry.readNear(uid);
    read.catch(() => undefined); // a failure is the later find's to see, or nobody's
    this.#prefetched.set(uid, { read, until: now + PREFETCH_TTL_MS });
  }

  async #takePrefetched(uid: string): Promise<NearRead | undefined> {
    const kept = this.#prefetched.get(uid);
    if (kept === undefined) return undefined;
    this.#prefetched.delete(uid);
    if (kept.until <= this.#now()) return undefined;
    // Bounded: the read may belong to another request, whose I/O this one must never wait on without end.
    return answerWithin(kept.read, PREFETCH_WAIT_MS);
  }
}
