/**
 * The registry of provisioned users, in D1 (binding `DB`): reconciliation
 * only ever deletes users listed here.
 *
 * Each uid carries its tenant ('' = project-level), its state (active →
 * pending_delete → deleted) and when it was last known to exist. Every query
 * the cron path runs reads O(batch) rows through a partial index that matches
 * it exactly (migrations/0002; plans checked in test/registry/query-plans.test.ts):
 * no scan or sort grows with the registry.
 *
 * The token routes read a uid's row near (a read replica) and write on the
 * primary only for a uid no copy knows (src/registry/near-registry.ts);
 * evidence of life is written behind the answer, many uids per statement
 * (src/registry/write-behind.ts).
 */
type RegistryState = 'active' | 'pending_delete' | 'deleted';

export interface RegisteredUser {
  uid: string;
  tenant: string;
  state: RegistryState;
}

/** What this service last wrote to Stream for a uid, if anything. */
export interface WrittenProfile {
  hash: string;
  at: number;
}

/** A uid and the tenant its lookups are scoped to. */
export interface ScopedUid {
  uid: string;
  tenant: string;
}

interface PendingDeletion extends ScopedUid {
  failures: number;
}

export interface SweepState {
  cursor: string;
  sweepStartedAt: number | null;
  sweepTotal: number | null;
  sweepDone: number;
  sweepsCompleted: number;
  lastSweepCompletedAt: number | null;
  lastSweepDurationMs: number | null;
  lastRun: unknown;
}

/**
 * The queries the cron path runs, each answered through a partial index that
 * matches it exactly (test/registry/query-plans.test.ts checks their plans).
 */
export const CRON_QUERIES = {
  page: `SELECT uid, tenant FROM stream_users WHERE state = 'active' AND uid > ?1 ORDER BY uid LIMIT ?2`,
  rechecks: `SELECT uid, tenant FROM stream_users WHERE recheck = 1 AND state = 'active' ORDER BY uid LIMIT ?1`,
  claimDueDeletions: `UPDATE stream_users SET task_id = ?3 WHERE uid IN (SELECT uid FROM stream_users WHERE state = 'pending_delete' AND task_id IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2) RETURNING uid, tenant, failures`,
  countDue: `SELECT count(*) AS n FROM (SELECT 1 FROM stream_users WHERE state = 'pending_delete' AND task_id IS NULL AND next_attempt_at <= ?1 LIMIT ?2)`,
  openTasks: `SELECT task_id, uid FROM stream_users WHERE task_id IS NOT NULL ORDER BY task_id LIMIT ?1`,
  witnesses: `SELECT uid FROM stream_users WHERE state = 'active' AND alive_at IS NOT NULL AND tenant = ?1 ORDER BY alive_at DESC LIMIT ?2`,
} as const;

const ids = (uids: readonly string[]) => JSON.stringify(uids);

/** What the token routes need of a uid's row: its tenant, its state, its last evidence of life and profile write. */
export interface RegistryEntry {
  tenant: string;
  state: RegistryState;
  /** When the account was last known to exist (ms), or null. */
  aliveAt: number | null;
  written: WrittenProfile | undefined;
}

/** A uid seen alive at `at` (ms), to be recorded or refreshed in the background. */
export interface SeenUid extends ScopedUid {
  at: number;
}

type EntryRow = {
  tenant: string;
  state: RegistryState;
  alive_at: number | null;
  profile_hash: string | null;
  profile_written_at: number | null;
};

/**
 * The near read: the uid's row (if any) and whether any row at all is bound to
 * a tenant (through the partial index stream_users_tenant_bound: 0 or 1 row
 * read). Always one row back, so the second answer comes with a miss too.
 */
const NEAR_READ = `SELECT s.tenant, s.state, s.alive_at, s.profile_hash, s.profile_written_at,
         EXISTS (SELECT 1 FROM stream_users WHERE tenant != '') AS tenant_rows
       FROM (SELECT ?1 AS uid) AS q LEFT JOIN stream_users AS s ON s.uid = q.uid`;

/**
 * Records a uid no copy knew, on the primary, and reads its row back in the
 * same statement. A row that exists already (a replica that lagged) keeps its
 * tenant and state; an active one of the same tenant gets its evidence of life.
 */
const REGISTER = `INSERT INTO stream_users (uid, tenant, first_seen_at, alive_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (uid) DO UPDATE SET alive_at = CASE WHEN state = 'active' AND tenant = excluded.tenant
           THEN max(coalesce(alive_at, 0), excluded.alive_at) ELSE alive_at END
         RETURNING tenant, state, alive_at, profile_hash, profile_written_at`;

/**
 * Many uids seen alive, in one statement: new ones are inserted (first seen at
 * their own time), active ones of the same tenant get the newer evidence of
 * life; a deleted or other-tenant row is never changed.
 */
const RECORD_SEEN = `INSERT INTO stream_users (uid, tenant, first_seen_at, alive_at)
         SELECT json_extract(value, '$.uid'), json_extract(value, '$.tenant'), json_extract(value, '$.at'), json_extract(value, '$.at')
         FROM json_each(?1) WHERE true
         ON CONFLICT (uid) DO UPDATE SET alive_at = excluded.alive_at
         WHERE state = 'active' AND tenant = excluded.tenant AND (alive_at IS NULL OR alive_at < excluded.alive_at)`;

export class UserRegistry {
  readonly #db: D1Database;
  readonly #now: () => number;
  readonly #stateListeners: ((uids: readonly string[]) => void)[] = [];
  readonly #tenantListeners: (() => Promise<void> | void)[] = [];
  constructor(db: D1Database, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** Called with the uids whose state this instance changes (so copies of their rows in this isolate can be dropped). */
  onStateChange(listener: (uids: readonly string[]) => void): void {
    this.#stateListeners.push(listener);
  }

  /**
   * Called when this instance binds a uid to a tenant (an import): a deployment's registry then holds tenant-bound rows.
   * The import waits for the listener's promise, so what it starts is finished within the request.
   */
  onTenantBound(listener: () => Promise<void> | void): void {
    this.#tenantListeners.push(listener);
  }

  #stateChanged(uids: readonly string[]): void {
    for (const listener of this.#stateListeners) listener(uids);
  }

  // --- the token routes: read near, write far, and write rarely ---

  /**
   * A uid's entry as a read replica has it (D1 Sessions API, any replica:
   * `first-unconstrained`; a database without replication answers from its
   * primary through the same call), and whether any row is bound to a tenant.
   * A replica that lags can only miss a row, never show a wrong one: a row's
   * tenant never changes once written.
   */
  async readNear(uid: string): Promise<{ entry: RegistryEntry | undefined; tenantRows: boolean }> {
    const row = await this.#db
      .withSession('first-unconstrained')
      .prepare(NEAR_READ)
      .bind(uid)
      .first<(EntryRow & { tenant_rows: number }) | { tenant: null; tenant_rows: number }>();
    if (!row) throw new Error('registry read returned no row');
    return { entry: row.tenant === null ? undefined : entryOf(row as EntryRow), tenantRows: row.tenant_rows === 1 };
  }

  /**
   * Records `uid` on the primary (one statement) and answers its entry, which
   * may be older than this call: a uid registered under another tenant keeps
   * that tenant, and a deleted uid stays deleted. Throws when storage fails.
   */
  async register(uid: string, tenant: string): Promise<RegistryEntry> {
    const row = await this.#db.prepare(REGISTER).bind(uid, tenant, this.#now()).first<EntryRow>();
    if (!row) throw new Error('registry upsert returned no row');
    return entryOf(row);
  }

  /** Uids seen alive (and uids served while D1 was down), in one statement. */
  async recordSeen(seen: readonly SeenUid[]): Promise<void> {
    if (seen.length === 0) return;
    await this.#db
      .prepare(RECORD_SEEN)
      .bind(JSON.stringify(seen.map(({ uid, tenant, at }) => ({ uid, tenant, at }))))
      .run();
  }

  /** Stream now has this profile for `uid` (written by this service). */
  async recordProfileWritten(uid: string, hash: string): Promise<void> {
    await this.#db
      .prepare(`UPDATE stream_users SET profile_hash = ?2, profile_written_at = ?3 WHERE uid = ?1 AND state = 'active'`)
      .bind(uid, hash, this.#now())
      .run();
  }

  /** The registry's entry for one uid (one indexed read). */
  async get(uid: string): Promise<RegisteredUser | undefined> {
    const row = await this.#db.prepare('SELECT uid, tenant, state FROM stream_users WHERE uid = ?1').bind(uid).first<RegisteredUser>();
    return row ?? undefined;
  }

  /** Adds uids (operator import) under one tenant; answers how many were new. */
  async importUids(uids: string[], tenant = ''): Promise<number> {
    const result = await this.#db
      .prepare(
        `INSERT INTO stream_users (uid, tenant, first_seen_at)
         SELECT value, ?2, ?3 FROM json_each(?1) WHERE true
         ON CONFLICT (uid) DO NOTHING`,
      )
      .bind(ids(uids), tenant, this.#now())
      .run();
    if (tenant !== '') await Promise.all(this.#tenantListeners.map((listener) => listener()));
    return result.meta.changes ?? 0;
  }

  async lookup(uids: string[]): Promise<Map<string, RegisteredUser>> {
    const { results } = await this.#db
      .prepare('SELECT uid, tenant, state FROM stream_users WHERE uid IN (SELECT value FROM json_each(?1))')
      .bind(ids(uids))
      .all<RegisteredUser>();
    return new Map(results.map((row) => [row.uid, row]));
  }

  // --- choosing what to check and delete: each O(limit) rows ---

  /** The next active uids after `cursor`, in uid order (the sweep's keyset cursor). */
  async page(cursor: string, limit: number): Promise<ScopedUid[]> {
    const { results } = await this.#db.prepare(CRON_QUERIES.page).bind(cursor, limit).all<ScopedUid>();
    return results;
  }

  /** Active uids to check before the sweep (the self-service path found the account still there). */
  async rechecks(limit: number): Promise<ScopedUid[]> {
    const { results } = await this.#db.prepare(CRON_QUERIES.rechecks).bind(limit).all<ScopedUid>();
    return results;
  }

  /**
   * Claims up to `limit` deletions that are due (soonest due first) for one
   * caller, atomically: concurrent queue consumers never send the same uid
   * twice. The claim is the uid's `task_id` until Stream's task id replaces
   * it; a claim left by an invocation that died is released by `openTasks`'
   * caller (see src/reconcile/deleter.ts).
   */
  async claimDueDeletions(limit: number, claim: string): Promise<PendingDeletion[]> {
    const { results } = await this.#db.prepare(CRON_QUERIES.claimDueDeletions).bind(this.#now(), limit, claim).all<PendingDeletion>();
    return results;
  }

  /** Deletions due now, counted up to `limit` (a bounded read). */
  async countDue(limit: number): Promise<number> {
    const row = await this.#db.prepare(CRON_QUERIES.countDue).bind(this.#now(), limit).first<{ n: number }>();
    return row?.n ?? 0;
  }

  /** Claims these pending uids (the admin and self-service paths), whatever their due time. */
  async claimNow(uids: string[], claim: string): Promise<string[]> {
    const { results } = await this.#db
      .prepare(
        `UPDATE stream_users SET task_id = ?2
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state = 'pending_delete' AND task_id IS NULL
         RETURNING uid`,
      )
      .bind(ids(uids), claim)
      .all<{ uid: string }>();
    return results.map((row) => row.uid);
  }

  /** Stream tasks still deleting registered uids, with their uids. */
  async openTasks(limit: number): Promise<Map<string, string[]>> {
    const { results } = await this.#db.prepare(CRON_QUERIES.openTasks).bind(limit).all<{ task_id: string; uid: string }>();
    const tasks = new Map<string, string[]>();
    for (const row of results) tasks.set(row.task_id, [...(tasks.get(row.task_id) ?? []), row.uid]);
    return tasks;
  }

  /** The uids of `tenant` most recently known to exist: the brake's witnesses. */
  async witnesses(tenant: string, limit: number): Promise<string[]> {
    const { results } = await this.#db.prepare(CRON_QUERIES.witnesses).bind(tenant, limit).all<{ uid: string }>();
    return results.map((row) => row.uid);
  }

  // --- recording outcomes ---

  /**
   * Firebase still has these users. Only rows that change are written: a uid
   * checked for the first time, one with no evidence of life yet, or one
   * flagged for a recheck. A steady-state sweep writes nothing for present
   * users (D1 bills rows written; at 2 rows per uid a sweep would spend the
   * Free plan's 100,000 daily writes on a registry of a few thousand).
   */
  async markPresent(uids: string[]): Promise<void> {
    if (uids.length === 0) return;
    const now = this.#now();
    await this.#db
      .prepare(
        `UPDATE stream_users SET last_checked_at = ?2, alive_at = ?2, recheck = 0
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state = 'active'
           AND (last_checked_at IS NULL OR alive_at IS NULL OR recheck = 1)`,
      )
      .bind(ids(uids), now)
      .run();
  }

  /** Firebase confirms these are gone: their Stream users are to be deleted, from now on. */
  async markMissing(uids: string[]): Promise<void> {
    if (uids.length === 0) return;
    const now = this.#now();
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'pending_delete', last_checked_at = ?2, next_attempt_at = ?2, recheck = 0
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state = 'active'`,
      )
      .bind(ids(uids), now)
      .run();
    this.#stateChanged(uids);
  }

  /** Check these first on the next run. */
  async markRecheck(uid: string): Promise<void> {
    await this.#db.prepare(`UPDATE stream_users SET recheck = 1 WHERE uid = ?1 AND state = 'active'`).bind(uid).run();
  }

  /** Checked, nothing done (dry run). */
  async markChecked(uids: string[]): Promise<void> {
    if (uids.length === 0) return;
    await this.#db
      .prepare(`UPDATE stream_users SET last_checked_at = ?2, recheck = 0 WHERE uid IN (SELECT value FROM json_each(?1))`)
      .bind(ids(uids), this.#now())
      .run();
  }

  /** Sent to Stream: the claim becomes Stream's task id. */
  async markInTask(claim: string, taskId: string): Promise<void> {
    await this.#db.prepare(`UPDATE stream_users SET task_id = ?2 WHERE task_id = ?1`).bind(claim, taskId).run();
  }

  async markDeleted(uids: string[], how: string): Promise<void> {
    if (uids.length === 0) return;
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'deleted', deleted_at = ?2, deleted_how = ?3, last_error = NULL, task_id = NULL, next_attempt_at = NULL
         WHERE uid IN (SELECT value FROM json_each(?1))`,
      )
      .bind(ids(uids), this.#now(), how)
      .run();
    this.#stateChanged(uids);
  }

  /**
   * The Stream delete failed: tried again after a backoff that doubles with
   * each failure (from `baseBackoffMs`, at most `maxBackoffMs`), so deletions
   * due sooner go first and a uid that always fails cannot starve the others.
   */
  async markDeleteFailed(uids: string[], error: string, backoff: { baseMs: number; maxMs: number }): Promise<void> {
    if (uids.length === 0) return;
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'pending_delete', task_id = NULL, failures = failures + 1, last_error = ?2,
           next_attempt_at = ?3 + min(?4 * (1 << min(failures, 30)), ?5)
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state != 'deleted'`,
      )
      .bind(ids(uids), error.slice(0, 500), this.#now(), backoff.baseMs, backoff.maxMs)
      .run();
    this.#stateChanged(uids);
  }

  /** A claim given back before anything was sent: its uids are due as they were. */
  async releaseClaim(claim: string): Promise<void> {
    await this.#db.prepare(`UPDATE stream_users SET task_id = NULL WHERE task_id = ?1`).bind(claim).run();
  }

  /** Pending deletions whose Firebase account exists again (recreated with the same uid): active, as if never missing. */
  async revive(uids: string[]): Promise<void> {
    if (uids.length === 0) return;
    const now = this.#now();
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'active', task_id = NULL, next_attempt_at = NULL, failures = 0, last_error = NULL,
           alive_at = ?2, last_checked_at = ?2, recheck = 0
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state = 'pending_delete'`,
      )
      .bind(ids(uids), now)
      .run();
    this.#stateChanged(uids);
  }

  /** Back to the deletion queue, due now (its Stream user was just created to be deleted: src/reconcile/deleter.ts). */
  async markDueAgain(uids: string[]): Promise<void> {
    if (uids.length === 0) return;
    await this.#db
      .prepare(
        `UPDATE stream_users SET state = 'pending_delete', task_id = NULL, next_attempt_at = ?2
         WHERE uid IN (SELECT value FROM json_each(?1)) AND state != 'deleted'`,
      )
      .bind(ids(uids), this.#now())
      .run();
    this.#stateChanged(uids);
  }

  // --- the sweep's position and the operator's view ---

  async sweepState(): Promise<SweepState> {
    const row = await this.#db.prepare('SELECT * FROM reconcile_state WHERE id = 1').first<Record<string, unknown>>();
    return {
      cursor: (row?.cursor as string | undefined) ?? '',
      sweepStartedAt: (row?.sweep_started_at as number | null | undefined) ?? null,
      sweepTotal: (row?.sweep_total as number | null | undefined) ?? null,
      sweepDone: (row?.sweep_done as number | undefined) ?? 0,
      sweepsCompleted: (row?.sweeps_completed as number | undefined) ?? 0,
      lastSweepCompletedAt: (row?.last_sweep_completed_at as number | null | undefined) ?? null,
      lastSweepDurationMs: (row?.last_sweep_duration_ms as number | null | undefined) ?? null,
      lastRun: typeof row?.last_run === 'string' ? (JSON.parse(row.last_run) as unknown) : null,
    };
  }

  async saveSweepState(state: SweepState): Promise<void> {
    await this.#db
      .prepare(
        `INSERT INTO reconcile_state (id, cursor, sweep_started_at, sweep_total, sweep_done, sweeps_completed, last_sweep_completed_at, last_sweep_duration_ms, last_run)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET cursor = ?1, sweep_started_at = ?2, sweep_total = ?3, sweep_done = ?4, sweeps_completed = ?5,
           last_sweep_completed_at = ?6, last_sweep_duration_ms = ?7, last_run = ?8`,
      )
      .bind(
        state.cursor,
        state.sweepStartedAt,
        state.sweepTotal,
        state.sweepDone,
        state.sweepsCompleted,
        state.lastSweepCompletedAt,
        state.lastSweepDurationMs,
        state.lastRun === null ? null : JSON.stringify(state.lastRun),
      )
      .run();
  }

  /** Active uids: read once per sweep, through the sweep index (O(registry) rows, once, not per batch). */
  async countActive(): Promise<number> {
    const row = await this.#db.prepare(`SELECT count(*) AS n FROM stream_users WHERE state = 'active'`).first<{ n: number }>();
    return row?.n ?? 0;
  }

  /** Operator view: uids by state (a full count: for the status route, never the cron path). */
  async countsByState(): Promise<Record<RegistryState, number>> {
    const { results } = await this.#db
      .prepare('SELECT state, count(*) AS n FROM stream_users GROUP BY state')
      .all<{ state: RegistryState; n: number }>();
    const counts: Record<RegistryState, number> = { active: 0, pending_delete: 0, deleted: 0 };
    for (const row of results) counts[row.state] = row.n;
    return counts;
  }

  /** Operator view: the oldest pending deletions with their last error. */
  async oldestPending(
    limit: number,
  ): Promise<{ uid: string; tenant: string; failures: number; last_error: string | null; since: number | null; task_id: string | null }[]> {
    const { results } = await this.#db
      .prepare(
        `SELECT uid, tenant, failures, last_error, last_checked_at AS since, task_id FROM stream_users
         WHERE state = 'pending_delete' ORDER BY last_checked_at LIMIT ?1`,
      )
      .bind(limit)
      .all<{ uid: string; tenant: string; failures: number; last_error: string | null; since: number | null; task_id: string | null }>();
    return results;
  }
}

function entryOf(row: EntryRow): RegistryEntry {
  const written =
    row.profile_hash !== null && row.profile_written_at !== null ? { hash: row.profile_hash, at: row.profile_written_at } : undefined;
  return { tenant: row.tenant, state: row.state, aliveAt: row.alive_at, written };
}
