/**
 * The registry of provisioned users, in D1 (binding `DB`).
 *
 * Recording is off the hot path: `remember` hands the write to
 * `ctx.waitUntil` and skips uids this isolate already recorded, so a token
 * request never waits for storage.
 */
import { isValidStreamUserId } from '../user-id';

export type RegistryState = 'active' | 'pending_delete' | 'deleted';

export interface RegistryEntry {
  uid: string;
  state: RegistryState;
}

/** Enough for a busy isolate; past it the set starts over (a repeat INSERT is harmless, only wasted). */
const MAX_REMEMBERED_PER_ISOLATE = 50_000;

export class UserRegistry {
  readonly #db: D1Database;
  readonly #now: () => number;
  readonly #recorded = new Set<string>();

  constructor(db: D1Database, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** Records `uid` in the background; never throws, never blocks the caller. */
  remember(uid: string, waitUntil: (promise: Promise<unknown>) => void): void {
    if (this.#recorded.has(uid)) return;
    this.#remember(uid);
    const write = this.#insert(uid).catch((error: unknown) => {
      this.#recorded.delete(uid); // try again on the uid's next request
      console.error(JSON.stringify({ event: 'registry_write_failed', error: errorText(error) }));
    });
    waitUntil(write);
  }

  #remember(uid: string): void {
    if (this.#recorded.size >= MAX_REMEMBERED_PER_ISOLATE) this.#recorded.clear();
    this.#recorded.add(uid);
  }

  #insert(uid: string): Promise<unknown> {
    return this.#db
      .prepare('INSERT INTO stream_users (uid, first_seen_at) VALUES (?1, ?2) ON CONFLICT (uid) DO NOTHING')
      .bind(uid, this.#now())
      .run();
  }

  /**
   * Records `uid` and waits for it (the create routes, before Stream has the
   * user). A storage failure is logged and not thrown: the user still gets
   * served, and the next token request records the uid again.
   */
  async recordNow(uid: string): Promise<void> {
    if (this.#recorded.has(uid) || !isValidStreamUserId(uid)) return;
    try {
      await this.#insert(uid);
      this.#remember(uid);
    } catch (error) {
      console.error(JSON.stringify({ event: 'registry_write_failed', error: errorText(error) }));
    }
  }

  /** Adds uids (operator import); answers how many were new. */
  async importUids(uids: string[]): Promise<number> {
    const result = await this.#db
      .prepare(
        `INSERT INTO stream_users (uid, first_seen_at)
         SELECT value, ?2 FROM json_each(?1) WHERE true
         ON CONFLICT (uid) DO NOTHING`,
      )
      .bind(JSON.stringify(uids), this.#now())
      .run();
    return result.meta.changes ?? 0;
  }

  /**
   * The next uids to check: pending deletions first, then never checked, then
   * checked longest ago. Uids already handled in this run (checked at or
   * after `runStartedAt`) are skipped, so one run never loops on the same uid.
   */
  async due(limit: number, runStartedAt: number): Promise<string[]> {
    const { results } = await this.#db
      .prepare(
        `SELECT uid FROM stream_users
         WHERE state != 'deleted' AND (last_checked_at IS NULL OR last_checked_at < ?1)
         ORDER BY state = 'pending_delete' DESC, last_checked_at ASC, uid ASC
         LIMIT ?2`,
      )
      .bind(runStartedAt, limit)
      .all<{ uid: string }>();
    return results.map((row) => row.uid);
  }

  async lookup(uids: string[]): Promise<Map<string, RegistryState>> {
    const { results } = await this.#db
      .prepare('SELECT uid, state FROM stream_users WHERE uid IN (SELECT value FROM json_each(?1))')
      .bind(JSON.stringify(uids))
      .all<RegistryEntry>();
    return new Map(results.map((row) => [row.uid, row.state]));
  }

  /** Firebase still has these users. */
  async markPresent(uids: string[]): Promise<void> {
    if (uids.length === 0) return;
    await this.#db
      .prepare(
        `UPDATE stream_users SET last_checked_at = ?2, state = 'active'
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state != 'deleted'`,
      )
      .bind(JSON.stringify(uids), this.#now())
      .run();
  }

  /** Checked, nothing done (dry run): moves the uid to the back of the queue. */
  async markChecked(uid: string): Promise<void> {
    await this.#db.prepare('UPDATE stream_users SET last_checked_at = ?2 WHERE uid = ?1').bind(uid, this.#now()).run();
  }

  async markDeleted(uid: string, how: string): Promise<void> {
    const now = this.#now();
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'deleted', deleted_at = ?2, last_checked_at = ?2, deleted_how = ?3, last_error = NULL
         WHERE uid = ?1`,
      )
      .bind(uid, now, how)
      .run();
  }

  /** Gone from Firebase but the Stream delete failed: retried first on the next run. */
  async markDeleteFailed(uid: string, error: string): Promise<void> {
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'pending_delete', last_checked_at = ?2, failures = failures + 1, last_error = ?3
         WHERE uid = ?1`,
      )
      .bind(uid, this.#now(), error.slice(0, 500))
      .run();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
