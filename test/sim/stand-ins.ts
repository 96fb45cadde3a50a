/**
 * The simulation's world outside the Worker, in memory: Firebase (accounts
 * per tenant, the admin API, the service account's token endpoint), Google's
 * key endpoint, and Stream (users, deactivation, tombstones, batch delete
 * tasks, the client connection's token check), each with faults a command
 * can switch on and off. `route` answers the Worker's outbound fetches.
 *
 * Stream here enforces what Stream does and what this service promises about
 * it: it refuses, on connect, a token whose `iat` is before the user's
 * `revoke_tokens_issued_before`, and it records every write that would lose
 * a field the service does not own (an upsert over an existing user, a
 * partial update of someone else's field). Firebase answers lookups only for
 * the right project, scoped to the tenant asked.
 */
import { StreamTokenSigner } from '../../src/stream/tokens';

export const RIGHT_PROJECT = 'demo-sim';
export const WRONG_PROJECT = 'demo-sim-other';
export const STREAM_SECRET = 'sim-stream-secret-do-not-leak';
export const STREAM_API_KEY = 'simkey';
export const SERVICE_ACCOUNT_KID = 'sim-sa-key';
export const EMULATOR_HOST = '127.0.0.1:9099';

export type Account = {
  uid: string;
  tenant: string;
  disabled: boolean;
  name?: string;
  picture?: string;
  role?: string;
  teams?: string[];
  version: number;
};
export const accountKey = (tenant: string, uid: string) => `${tenant}/${uid}`;

export type LookupFault = 'none' | 'error500' | 'hang' | 'garbage';
export type GoogleFault = 'none' | 'down' | 'hang';
export type StreamFault = 'none' | 'error500' | 'rate-limited' | 'timeout';
export type TaskMode = 'complete' | 'pending' | 'fail-some' | 'failed';

export class SimFirebase {
  readonly accounts = new Map<string, Account>();
  lookupFault: LookupFault = 'none';
  lookups = 0;

  get(tenant: string, uid: string): Account | undefined {
    return this.accounts.get(accountKey(tenant, uid));
  }

  /** accounts:lookup, as Identity Toolkit (or the emulator) answers it. */
  lookup(project: string, body: { localId?: string[]; tenantId?: string }, authorization: string | null, expected: string): Response {
    this.lookups++;
    if (authorization !== expected) return jsonResponse(401, { error: { code: 401, message: 'UNAUTHENTICATED' } });
    if (this.lookupFault === 'error500') return jsonResponse(500, { error: { code: 500, message: 'internal' } });
    if (this.lookupFault === 'hang') throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    if (this.lookupFault === 'garbage') return new Response('<html>gateway</html>', { status: 200 });
    const tenant = body.tenantId ?? '';
    const users =
      project === RIGHT_PROJECT
        ? (body.localId ?? []).flatMap((uid) => {
            const account = this.get(tenant, uid);
            return account ? [{ localId: uid, disabled: account.disabled, ...(tenant ? { tenantId: tenant } : {}) }] : [];
          })
        : []; // another project: nobody there
    return jsonResponse(200, { kind: 'identitytoolkit#GetAccountInfoResponse', ...(users.length > 0 ? { users } : {}) });
  }
}

export class SimGoogle {
  /** Published keys, oldest first; tokens are signed with `signing`. */
  published: { kid: string; privateKey: CryptoKey; publicJwk: Record<string, unknown> & { kid: string } }[] = [];
  signing = 0;
  fault: GoogleFault = 'none';

  jwks(): Response {
    if (this.fault === 'down') return jsonResponse(503, { error: 'unavailable' });
    if (this.fault === 'hang') throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    return new Response(JSON.stringify({ keys: this.published.map((key) => key.publicJwk) }), {
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=3600' },
    });
  }
}

interface StreamTask {
  status: string;
  runningPolls: number;
  result: Record<string, unknown>;
}

/** A Stream user as stored; `deactivated_at` marks a deactivated one. */
export type StreamUser = Record<string, unknown> & { id: string };

export class SimStream {
  readonly users = new Map<string, StreamUser>();
  /** Ids Stream deleted: they can never be created again. */
  readonly tombstones = new Set<string>();
  readonly tasks = new Map<string, StreamTask>();
  fault: StreamFault = 'none';
  /** Refuse a whole batch delete (404, code 16) when one of its ids does not exist, instead of a per-user result. */
  deleteRefusesUnknown = false;
  /** A partial update of a user Stream does not have: 404 code 16, or a 200 that leaves it out. */
  partialUnknown: '404' | 'silent' = '404';
  taskMode: TaskMode = 'complete';
  /** Fields the Worker may write (its configuration's), besides `revoke_tokens_issued_before`. */
  owned = new Set<string>(['name', 'image']);
  /** Promises broken, as Stream saw them. */
  readonly violations: string[] = [];
  /** Every id sent to `POST /users/delete`, in order, not yet checked by the simulation. */
  deletesToCheck: string[] = [];
  /** Who the Worker is writing for right now (the caller of the request being served), for the tenant check. */
  onUserWrite: (uid: string) => void = () => {};
  #tasks = 0;
  readonly #serverToken: Promise<string>;
  readonly #hmac: Promise<CryptoKey>;

  constructor(readonly now: () => number) {
    this.#serverToken = new StreamTokenSigner(STREAM_SECRET).serverToken();
    this.#hmac = crypto.subtle.importKey('raw', new TextEncoder().encode(STREAM_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ]);
  }

  async handle(method: string, url: URL, headers: Headers, bodyText: string): Promise<Response> {
    if (url.searchParams.get('api_key') !== STREAM_API_KEY) return this.#error(401, 2, 'api_key not valid');
    if (headers.get('authorization') !== (await this.#serverToken) || headers.get('stream-auth-type') !== 'jwt') {
      return this.#error(401, 5, 'invalid server token');
    }
    if (this.fault === 'error500') return this.#error(500, -1, 'internal server error');
    if (this.fault === 'timeout') throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    if (this.fault === 'rate-limited') {
      return this.#json(429, { code: 9, message: 'Too many requests' }, { remaining: 0, resetInSeconds: 30 });
    }
    const body = bodyText ? (JSON.parse(bodyText) as Record<string, unknown>) : {};
    const path = url.pathname;
    if (method === 'GET' && path === '/users') return this.#query(JSON.parse(url.searchParams.get('payload') ?? '{}'));
    if (method === 'POST' && path === '/users') return this.#upsert(body.users as Record<string, StreamUser>);
    if (method === 'PATCH' && path === '/users')
      return this.#partial(body.users as { id: string; set?: Record<string, unknown>; unset?: string[] }[]);
    if (method === 'POST' && path === '/users/delete') return this.#delete(body.user_ids as string[]);
    const task = /^\/tasks\/([^/]+)$/.exec(path);
    if (method === 'GET' && task) return this.#task(decodeURIComponent(task[1]!));
    return this.#error(404, 4, `the simulation does not implement ${method} ${path}`);
  }

  #query(payload: { filter_conditions?: { id?: { $in?: string[] } }; include_deactivated_users?: boolean; limit?: number }): Response {
    const ids = payload.filter_conditions?.id?.$in ?? [];
    const found = ids.flatMap((id) => {
      const user = this.users.get(id);
      return user && (payload.include_deactivated_users === true || user.deactivated_at === undefined) ? [user] : [];
    });
    return this.#json(200, { users: found.slice(0, payload.limit ?? 100) });
  }

  #upsert(users: Record<string, StreamUser>): Response {
    const out: Record<string, StreamUser> = {};
    for (const [id, user] of Object.entries(users)) {
      if (this.tombstones.has(id)) return this.#error(404, 16, `user "${id}" was deleted`);
      this.onUserWrite(id);
      if (this.users.has(id)) this.violations.push(`upsert replaced the existing Stream user ${id} (its other fields are lost)`);
      this.#checkOwned(
        id,
        Object.keys(user).filter((field) => field !== 'id'),
      );
      const stored = { ...user, id, role: user.role ?? 'user' } as StreamUser;
      this.users.set(id, stored);
      out[id] = stored;
    }
    return this.#json(201, { users: out });
  }

  #partial(updates: { id: string; set?: Record<string, unknown>; unset?: string[] }[]): Response {
    const out: Record<string, StreamUser> = {};
    for (const update of updates) {
      if (this.tombstones.has(update.id)) return this.#error(404, 16, `user "${update.id}" was deleted`);
      const existing = this.users.get(update.id);
      if (!existing) {
        if (this.partialUnknown === '404') return this.#error(404, 16, `user "${update.id}" does not exist`);
        continue; // answered without it
      }
      this.onUserWrite(update.id);
      this.#checkOwned(update.id, [...Object.keys(update.set ?? {}), ...(update.unset ?? [])], ['revoke_tokens_issued_before']);
      const next = { ...existing, ...(update.set ?? {}) } as StreamUser;
      for (const field of update.unset ?? []) delete next[field];
      this.users.set(update.id, next);
      out[update.id] = next;
    }
    return this.#json(200, { users: out });
  }

  #checkOwned(id: string, fields: string[], also: string[] = []): void {
    for (const field of fields) {
      if (!this.owned.has(field) && !also.includes(field))
        this.violations.push(`wrote ${field} of Stream user ${id}, a field this service does not own`);
    }
  }

  #delete(ids: string[]): Response {
    this.deletesToCheck.push(...ids);
    if (this.deleteRefusesUnknown && ids.some((id) => !this.users.has(id))) return this.#error(404, 16, 'user does not exist');
    const result: Record<string, unknown> = {};
    for (const [index, id] of ids.entries()) {
      if (!this.users.has(id)) result[id] = { status: 'error', error: `user ${id} not found` };
      else if (this.taskMode === 'failed' || (this.taskMode === 'fail-some' && index % 2 === 0))
        result[id] = { status: 'error', error: 'internal error' };
      else {
        this.users.delete(id);
        this.tombstones.add(id);
        result[id] = { status: 'ok' };
      }
    }
    const taskId = `task-${++this.#tasks}`;
    this.tasks.set(taskId, {
      status: this.taskMode === 'failed' ? 'failed' : 'completed',
      runningPolls: this.taskMode === 'pending' ? 3 : 0,
      result,
    });
    return this.#json(201, { task_id: taskId });
  }

  #task(id: string): Response {
    const task = this.tasks.get(id);
    if (!task) return this.#error(404, 16, `task ${id} does not exist`);
    if (task.runningPolls > 0) {
      task.runningPolls--;
      return this.#json(200, { task_id: id, status: 'running' });
    }
    return this.#json(200, {
      task_id: id,
      status: task.status,
      result: task.result,
      ...(task.status === 'failed' ? { error: { type: 'internal', description: 'failed' } } : {}),
    });
  }

  /**
   * What Stream answers a client connecting with `token` (`connectUser`):
   * the signature, expiry, a deleted or deactivated user, and the user's
   * revocation against the token's `iat`. Does not change anything.
   */
  async check(token: string): Promise<'ok' | 'bad_signature' | 'expired' | 'deleted' | 'deactivated' | 'revoked'> {
    const [header, payload, signature] = token.split('.');
    const valid = await crypto.subtle.verify(
      'HMAC',
      await this.#hmac,
      bytesOf(signature!),
      new TextEncoder().encode(`${header}.${payload}`),
    );
    if (!valid) return 'bad_signature';
    const claims = JSON.parse(atob(payload!.replace(/-/g, '+').replace(/_/g, '/'))) as { user_id: string; iat: number; exp?: number };
    if (claims.exp !== undefined && claims.exp * 1000 <= this.now()) return 'expired';
    if (this.tombstones.has(claims.user_id)) return 'deleted';
    const user = this.users.get(claims.user_id);
    if (user?.deactivated_at !== undefined) return 'deactivated';
    const revokedBefore = typeof user?.revoke_tokens_issued_before === 'string' ? Date.parse(user.revoke_tokens_issued_before) : undefined;
    if (revokedBefore !== undefined && claims.iat * 1000 < revokedBefore) return 'revoked';
    return 'ok';
  }

  /** A client connects: as Stream does, a user that does not exist yet is created from the connection. */
  async connect(token: string, userId: string): Promise<string> {
    const verdict = await this.check(token);
    if (verdict === 'ok' && !this.users.has(userId)) this.users.set(userId, { id: userId, role: 'user' });
    return verdict;
  }

  #json(
    status: number,
    body: unknown,
    limit: { remaining: number; resetInSeconds: number } = { remaining: 299, resetInSeconds: 60 },
  ): Response {
    return new Response(JSON.stringify({ ...(body as object), duration: '0.1ms' }), {
      status,
      headers: {
        'Content-Type': 'application/json',
        'X-RateLimit-Limit': '300',
        'X-RateLimit-Remaining': String(limit.remaining),
        'X-RateLimit-Reset': String(Math.floor(this.now() / 1000) + limit.resetInSeconds),
      },
    });
  }

  #error(status: number, code: number, message: string): Response {
    return this.#json(status, { code, message, StatusCode: status });
  }
}

function bytesOf(base64url: string): Uint8Array {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (char) => char.charCodeAt(0));
}

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** Every outbound fetch of the Worker, answered by the world; anything else is a bug in the simulation. */
export async function route(
  world: { firebase: SimFirebase; google: SimGoogle; stream: SimStream },
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const request = new Request(input, init);
  const url = new URL(request.url);
  const bodyText = request.method === 'GET' ? '' : new TextDecoder().decode(await request.arrayBuffer());
  if (url.host === 'stream.sim') return world.stream.handle(request.method, url, request.headers, bodyText);
  if (url.host === 'google.sim') return world.google.jwks();
  if (url.host === 'oauth.sim') {
    const assertion = new URLSearchParams(bodyText).get('assertion') ?? '';
    const header = JSON.parse(atob(assertion.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/'))) as { kid?: string };
    if (header.kid !== SERVICE_ACCOUNT_KID)
      return jsonResponse(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    return jsonResponse(200, { access_token: 'sim-access-token', expires_in: 3600, token_type: 'Bearer' });
  }
  const lookup = /^\/(?:identitytoolkit\.googleapis\.com\/)?v1\/projects\/([^/]+)\/accounts:lookup$/.exec(url.pathname);
  if (lookup && (url.host === 'identitytoolkit.sim' || url.host === EMULATOR_HOST)) {
    const expected = url.host === EMULATOR_HOST ? 'Bearer owner' : 'Bearer sim-access-token';
    return world.firebase.lookup(
      decodeURIComponent(lookup[1]!),
      JSON.parse(bodyText) as { localId?: string[]; tenantId?: string },
      request.headers.get('authorization'),
      expected,
    );
  }
  throw new Error(`the simulation has no stand-in for ${request.method} ${url.origin}${url.pathname}`);
}
