/**
 * Stream user writes, batched. Stream limits user writes per app, per
 * endpoint, per minute, and counts requests, not users: one request may
 * carry 100 users. Writes that arrive within a short window share requests:
 * the batch's ids are queried once (deactivated users included), the
 * missing ones are created with one upsert, and the existing ones are
 * updated with one partial update, so an existing user's role, teams and
 * custom data are never replaced. At most three requests per 100 users,
 * instead of up to three per user.
 *
 * Each caller learns its own user's outcome: created or updated, or the
 * error of the request that carried it. When Stream's budget for the
 * minute is spent (X-RateLimit-Remaining 0) the batch waits for the reset
 * if that is within `maxWaitMs`, else fails with `StreamBusyError`, so the
 * caller can answer 503 with Retry-After rather than wait without bound.
 *
 * @module
 */
import { StreamApiError } from './errors';
import type { StreamRestClient } from './rest-client';
import { sleep, type Sleep } from '../platform/io';

export interface UserWrite {
  id: string;
  set: Record<string, unknown>;
  /** Fields to remove from an existing user. */
  unset: string[];
}

export class StreamBusyError extends Error {
  override readonly name = 'StreamBusyError';
  /** Seconds until Stream's window resets. */
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(`Stream's user write budget is spent for ${retryAfterSeconds} s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

interface UserWriterOptions {
  stream: StreamRestClient;
  /**
   * Share requests between concurrent writes. Only where every caller lives
   * in one I/O context, as in a Durable Object: in a stateless Worker, a
   * request may not wait on I/O another request started (workerd cancels it:
   * "a promise was resolved … from a different request context"), so the
   * default is `false`: each write makes its own requests.
   */
  batching?: boolean;
  /** How long the first write of a batch waits for company. */
  windowMs?: number;
  /** Users per request (Stream's maximum is 100). */
  maxBatch?: number;
  /** Longest a batch waits for Stream's rate-limit window to reset. */
  maxWaitMs?: number;
  now: () => number;
  sleep?: Sleep;
}

interface Pending {
  write: UserWrite;
  resolve: (outcome: 'created' | 'updated') => void;
  reject: (error: unknown) => void;
}

/** What writes Stream users: the UserWriter itself, or the client of the sign-up batcher in front of one. */
export interface WritesUsers {
  write(write: UserWrite): Promise<'created' | 'updated'>;
}

export class UserWriter implements WritesUsers {
  readonly #stream: StreamRestClient;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  readonly #batching: boolean;
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: UserWriterOptions) {
    this.#stream = options.stream;
    this.#windowMs = options.windowMs ?? 25;
    this.#maxBatch = Math.min(100, options.maxBatch ?? 100);
    this.#maxWaitMs = options.maxWaitMs ?? 4_000;
    this.#now = options.now;
    this.#sleep = options.sleep ?? sleep;
    this.#batching = options.batching ?? false;
  }

  /** Creates the user or updates the fields it sets/unsets, in a shared batch. */
  write(write: UserWrite): Promise<'created' | 'updated'> {
    return new Promise((resolve, reject) => {
      if (!this.#batching) {
        void this.#flush([{ write, resolve, reject }]); // in the caller's own context, alone
        return;
      }
      this.#queue.push({ write, resolve, reject });
      if (this.#queue.length >= this.#maxBatch) this.#flushNow();
      else this.#timer ??= setTimeout(() => this.#flushNow(), this.#window());
    });
  }

  /**
   * How long a batch gathers writes: at least `windowMs`, and long enough
   * that Stream's remaining create budget lasts until its window resets
   * (time to reset ÷ requests left, up to 2 s). A fixed short window spends
   * a minute's 300 requests in the first seconds of a burst and turns
   * everyone after away; pacing by the budget fills each request instead.
   */
  #window(): number {
    const limit = this.#stream.rateLimit('upsertUsers', this.#now());
    if (limit === undefined || limit.remaining <= 0) return this.#windowMs;
    return Math.max(this.#windowMs, Math.min(2_000, (limit.resetAt - this.#now()) / limit.remaining));
  }

  #flushNow(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      void this.#flush(batch);
    }
  }

  async #flush(batch: Pending[]): Promise<void> {
    // The same uid twice in one window: the latest write wins, every caller gets its outcome.
    const latest = new Map<string, UserWrite>();
    for (const { write } of batch) latest.set(write.id, write);
    const outcomes = new Map<string, { ok: 'created' | 'updated' } | { error: unknown }>();
    try {
      await this.#waitForBudget('queryUsers');
      const ids = [...latest.keys()];
      const { users } = await this.#stream.queryUsers({ id: { $in: ids } }, { limit: ids.length, include_deactivated_users: true });
      const existing = new Set(users.map((user) => user.id));
      const updates = [...latest.values()].filter((write) => existing.has(write.id));
      const creates = [...latest.values()].filter((write) => !existing.has(write.id));
      await Promise.all([
        this.#settle(updates, outcomes, async () => {
          await this.#waitForBudget('partialUpdateUsers');
          const answer = await this.#stream.partialUpdateUsers(
            updates.map(({ id, set, unset }) => ({ id, set, ...(unset.length > 0 ? { unset } : {}) })),
          );
          return (id) => (answer.users?.[id] ? 'updated' : undefined);
        }),
        this.#settle(creates, outcomes, async () => {
          await this.#waitForBudget('upsertUsers');
          const answer = await this.#stream.upsertUsers(creates.map(({ id, set }) => ({ id, ...set })));
          return (id) => (answer.users?.[id] ? 'created' : undefined);
        }),
      ]);
    } catch (error) {
      for (const id of latest.keys()) if (!outcomes.has(id)) outcomes.set(id, { error });
    }
    for (const { write, resolve, reject } of batch) {
      const outcome = outcomes.get(write.id);
      if (outcome && 'ok' in outcome) resolve(outcome.ok);
      else reject(outcome?.error ?? new StreamApiError('writeUsers', 200, { message: "the user was not in Stream's answer" }));
    }
  }

  /** Runs one request for `writes` and records each user's outcome (a user missing from the answer is a failure). */
  async #settle(
    writes: UserWrite[],
    outcomes: Map<string, { ok: 'created' | 'updated' } | { error: unknown }>,
    request: () => Promise<(id: string) => 'created' | 'updated' | undefined>,
  ): Promise<void> {
    if (writes.length === 0) return;
    try {
      const outcomeOf = await request();
      for (const { id } of writes) {
        const ok = outcomeOf(id);
        outcomes.set(
          id,
          ok ? { ok } : { error: new StreamApiError('writeUsers', 200, { message: "the user was not in Stream's answer" }) },
        );
      }
    } catch (error) {
      for (const { id } of writes) outcomes.set(id, { error });
    }
  }

  /** Waits for Stream's window to reset when its budget for `operation` is spent, within `maxWaitMs`. */
  async #waitForBudget(operation: string): Promise<void> {
    const limit = this.#stream.rateLimit(operation, this.#now());
    if (limit === undefined || limit.remaining > 0) return;
    const waitMs = limit.resetAt - this.#now();
    if (waitMs > this.#maxWaitMs) throw new StreamBusyError(Math.ceil(waitMs / 1000));
    if (waitMs > 0) await this.#sleep(waitMs);
  }
}
