/**
 * The Stream Chat REST calls this service makes, with the official
 * `stream-chat` server SDK's wire format (checked by test/stream/rest-client.test.ts):
 * `api_key` query parameter, `Authorization: <server JWT>` (no "Bearer"),
 * `stream-auth-type: jwt`, JSON bodies.
 *
 * Unlike the SDK (no retries at all), each call retries a bounded number of
 * times on 429, 5xx, network errors and timeouts, honouring Stream's
 * rate-limit reset headers; a failure ends as a StreamApiError.
 *
 * @module
 */
import { StreamApiError, streamErrorFrom } from './errors';
import type { StreamTokenSigner } from './tokens';
import { globalFetch, sleep, type Sleep } from '../platform/io';
import { log } from '../platform/log';

/** A Stream user object as sent: `id` plus the fields this service sets. */
export interface StreamUser {
  id: string;
  [field: string]: unknown;
}

export interface PartialUserUpdate {
  id: string;
  set?: Record<string, unknown>;
  unset?: string[];
}

export interface DeleteUsersOptions {
  user: 'soft' | 'hard' | 'pruning';
  messages?: 'soft' | 'hard' | 'pruning';
  conversations?: 'soft' | 'hard';
}

/** `GET /tasks/{id}`: `status` is waiting, pending, running, completed or failed. */
export interface StreamTask {
  task_id?: string;
  status: string;
  /** For user deletion, per user id (shape not documented by Stream: read defensively). */
  result?: Record<string, unknown>;
  error?: { type?: string; description?: string };
}

export interface StreamClientOptions {
  baseUrl: string;
  apiKey: string;
  signer: StreamTokenSigner;
  fetch?: typeof fetch;
  /** Per attempt. */
  timeoutMs?: number;
  /** Including the first. */
  maxAttempts?: number;
  /** Longest we wait for a rate-limit reset before giving up. */
  maxRetryWaitMs?: number;
  sleep?: Sleep;
  now: () => number;
  /** Backoff before retry `n` (1-based) when no header says otherwise. */
  backoffMs?: (retry: number) => number;
  /** Told of every attempt's outcome (metrics): operation, HTTP status (0: no answer), X-RateLimit-Remaining. */
  onCall?: (operation: string, status: number, remaining: number | undefined) => void;
}

export class StreamRestClient {
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #signer: StreamTokenSigner;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #maxRetryWaitMs: number;
  readonly #sleep: Sleep;
  readonly #now: () => number;
  readonly #backoffMs: (retry: number) => number;
  readonly #onCall: StreamClientOptions['onCall'];
  /** Stream's X-RateLimit-* from the last answer of each operation. */
  readonly #limits = new Map<string, { remaining: number; resetAt: number }>();

  constructor(options: StreamClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#signer = options.signer;
    this.#fetch = options.fetch ?? globalFetch;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#maxRetryWaitMs = options.maxRetryWaitMs ?? 5_000;
    this.#sleep = options.sleep ?? sleep;
    this.#now = options.now;
    this.#backoffMs = options.backoffMs ?? ((retry) => Math.min(2_000, 200 * 2 ** (retry - 1)) * (0.5 + Math.random() / 2));
    this.#onCall = options.onCall;
  }

  /** Full replace of each user (Stream's upsert): use only for users that do not exist yet. */
  upsertUsers(users: StreamUser[]): Promise<{ users: Record<string, StreamUser> }> {
    const byId: Record<string, StreamUser> = {};
    for (const user of users) byId[user.id] = user;
    return this.#call('upsertUsers', 'POST', '/users', {}, { users: byId });
  }

  /** Sets and unsets fields, keeping every other field of the user. */
  partialUpdateUsers(updates: PartialUserUpdate[]): Promise<{ users?: Record<string, StreamUser> }> {
    return this.#call('partialUpdateUsers', 'PATCH', '/users', {}, { users: updates });
  }

  /** Every token of `userId` issued before `before` stops working. */
  revokeUserTokens(userId: string, before: Date): Promise<{ users?: Record<string, StreamUser> }> {
    return this.partialUpdateUsers([{ id: userId, set: { revoke_tokens_issued_before: before.toISOString() } }]);
  }

  /** Stream's current delete (up to 100 ids): an asynchronous task, polled with `getTask`. */
  deleteUsers(userIds: string[], options: DeleteUsersOptions): Promise<{ task_id: string }> {
    return this.#call('deleteUsers', 'POST', '/users/delete', {}, { user_ids: userIds, ...options });
  }

  getTask(taskId: string): Promise<StreamTask> {
    return this.#call('getTask', 'GET', `/tasks/${encodeURIComponent(taskId)}`, {});
  }

  queryUsers(
    filter: Record<string, unknown>,
    options: { limit?: number; offset?: number; sort?: { field: string; direction: 1 | -1 }[]; include_deactivated_users?: boolean } = {},
  ): Promise<{ users: StreamUser[] }> {
    const payload = {
      filter_conditions: filter,
      sort: options.sort ?? [],
      presence: false,
      ...pick(options, ['limit', 'offset', 'include_deactivated_users']),
    };
    return this.#call('queryUsers', 'GET', '/users', { payload: JSON.stringify(payload) });
  }

  /**
   * `GET /app` once, without retries: whether Stream takes this key and
   * secret (the doctor), with the answer's `Date` for the clock check.
   * `status` 0: no answer.
   */
  async probeApp(): Promise<{ status: number; code?: number; date: string | null; failure?: string }> {
    const { url, headers } = await this.#target('/app', {});
    try {
      const response = await this.#fetch(url.href, { headers, signal: AbortSignal.timeout(this.#timeoutMs) });
      const date = response.headers.get('date');
      if (response.ok) {
        await response.body?.cancel();
        return { status: response.status, date };
      }
      const error = await streamErrorFrom('getApp', response);
      return { status: response.status, ...(error.code === undefined ? {} : { code: error.code }), date };
    } catch (error) {
      return { status: 0, date: null, failure: error instanceof Error ? `${error.name}: ${error.message}` : 'no answer' };
    }
  }

  /**
   * What Stream last said about an operation's rate limit (X-RateLimit-Remaining
   * and -Reset), while its window lasts; undefined when unknown or over.
   */
  rateLimit(operation: string, nowMs: number = this.#now()): { remaining: number; resetAt: number } | undefined {
    const limit = this.#limits.get(operation);
    return limit && limit.resetAt > nowMs ? limit : undefined;
  }

  /** One attempt: Stream's answer, or a failure with status 0 when nothing came back (network error, timeout). */
  async #send(
    operation: string,
    url: URL,
    init: RequestInit,
  ): Promise<{ response: Response; failure?: undefined } | { response?: undefined; failure: StreamApiError }> {
    try {
      return { response: await this.#fetch(url.href, init) };
    } catch (error) {
      return { failure: new StreamApiError(operation, 0, { cause: error }) };
    }
  }

  /** The `onCall` listener (metrics), which must never change a call's outcome: whatever it throws is dropped. */
  #tell(operation: string, status: number, headers: Headers | undefined): void {
    if (!this.#onCall) return;
    try {
      const remaining = headers?.get('x-ratelimit-remaining') ?? null;
      this.#onCall(operation, status, remaining !== null && /^\d+$/.test(remaining.trim()) ? Number(remaining) : undefined);
    } catch {
      // Metrics are not the call's business.
    }
  }

  #noteRateLimit(operation: string, headers: Headers): void {
    const remaining = headers.get('x-ratelimit-remaining');
    const reset = headers.get('x-ratelimit-reset');
    if (remaining === null || reset === null || !/^\d+$/.test(remaining.trim()) || !/^\d+$/.test(reset.trim())) return;
    this.#limits.set(operation, { remaining: Number(remaining), resetAt: Number(reset) * 1000 });
  }

  /** A request's URL (with `api_key`) and the SDK's server-side headers. */
  async #target(path: string, query: Record<string, string>): Promise<{ url: URL; headers: Record<string, string> }> {
    const url = new URL(this.#baseUrl + path);
    url.searchParams.set('api_key', this.#apiKey);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return { url, headers: { Authorization: await this.#signer.serverToken(), 'stream-auth-type': 'jwt', Accept: 'application/json' } };
  }

  async #call<T>(operation: string, method: string, path: string, query: Record<string, string>, body?: unknown): Promise<T> {
    const { url, headers } = await this.#target(path, query);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['Content-Type'] = 'application/json';

    for (let attempt = 1; ; attempt++) {
      const sent = await this.#send(operation, url, { method, headers, body: payload, signal: AbortSignal.timeout(this.#timeoutMs) });
      // Told outside the call's error handling: whatever the listener does cannot turn an answer into a failure.
      this.#tell(operation, sent.response?.status ?? 0, sent.response?.headers);
      let failure: StreamApiError;
      let waitMs: number | undefined;
      if (sent.failure) failure = sent.failure;
      else {
        const { response } = sent;
        this.#noteRateLimit(operation, response.headers);
        try {
          if (response.ok) return (await response.json()) as T;
          failure = await streamErrorFrom(operation, response);
        } catch (error) {
          failure = new StreamApiError(operation, 0, { cause: error }); // the body broke off: as good as no answer
        }
        if (failure.status !== 0 && failure.status !== 429 && failure.status < 500) throw failure; // the request itself is wrong: retrying will not help
        // Stream sends X-RateLimit-Reset on every answer; it says when to come back only on a 429.
        // A 5xx gets the ordinary backoff.
        if (failure.status === 429) waitMs = retryDelayFromHeaders(response.headers, this.#now());
      }
      if (attempt >= this.#maxAttempts) throw logged(failure);
      const delay = waitMs ?? this.#backoffMs(attempt);
      if (delay > this.#maxRetryWaitMs) throw logged(failure); // Stream asks us to wait longer than a caller should
      log.warn('stream_call_retry', { operation, status: failure.status, code: failure.code, attempt, delay_ms: Math.round(delay) });
      await this.#sleep(delay);
    }
  }
}

function logged(error: StreamApiError): StreamApiError {
  log.error('stream_call_failed', { operation: error.operation, status: error.status, code: error.code });
  return error;
}

/** How long Stream asks us to wait: `Retry-After` (seconds) or `X-RateLimit-Reset` (Unix seconds). */
export function retryDelayFromHeaders(headers: Headers, nowMs: number): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter && /^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
  const reset = headers.get('x-ratelimit-reset');
  if (reset && /^\d+$/.test(reset.trim())) return Math.max(0, Number(reset) * 1000 - nowMs);
  return undefined;
}

function pick<T extends object, K extends keyof T>(object: T, keys: K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key];
  return picked;
}
